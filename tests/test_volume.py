"""Volumes: creation, sparse storage, the written-track map, multi-file images."""

import os

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.volume import Volume, sequence_name, split_name
from dasdlab.errors import ImageError


def test_create_is_sparse_and_knows_written_tracks(tmp_path):
    v = Volume.create(tmp_path / "a.ckd", "3390-3", "ABC123")
    size = os.path.getsize(tmp_path / "a.ckd")
    assert size == 512 + 3339 * 15 * 56832
    assert os.stat(tmp_path / "a.ckd").st_blocks * 512 < 2_000_000  # sparse: only cyl 0 allocated
    assert v.written.indices().tolist() == list(range(15))  # track 0 + 14 VTOC tracks
    assert v.volser == "ABC123"
    v.close()
    v2 = Volume.open(tmp_path / "a.ckd")  # rebuilt from SEEK_DATA + R0
    assert v2.written.indices().tolist() == list(range(15))


def test_unwritten_track_reads_as_zeros_without_touching_file(vol):
    t = 5000
    img = vol.read_track(t)
    assert not img.any() and not img.flags.writeable
    assert not vol.is_written(t)
    assert vol.records(t) == []


def test_write_and_read_records(vol):
    t = vol.track_of(100, 3)
    vol.format_track(t, [(1, b"", b"hello"), (2, b"KEY", b"world")])
    assert vol.read_record(100, 3, 2) == (b"KEY", b"world")
    vol.update_record(100, 3, 1, b"HELLO")
    assert vol.read_record(100, 3, 1) == (b"", b"HELLO")
    with pytest.raises(ImageError) as e:
        vol.update_record(100, 3, 1, b"too long")
    assert e.value.msgid == "DLB126E"
    assert vol.read_record(100, 3, 9) is None


def test_partial_write_to_unformatted_track_refused(vol):
    with pytest.raises(ImageError) as e:
        vol.write_bytes(9000, 100, b"x")
    assert e.value.msgid == "DLB124E"


def test_discard_track_returns_it_to_never_written(vol):
    t = 777
    vol.format_track(t, [(1, b"", b"abc")])
    assert vol.is_written(t)
    vol.discard_track(t)
    assert not vol.is_written(t)
    vol.flush()
    again = Volume.open(vol.path)
    assert not again.is_written(t) and again.is_written(0)


def test_write_many_and_hooks(vol):
    seen = []
    ts = np.array([200, 201, 200])
    for t in (200, 201):
        vol.format_track(t, [(1, b"", bytes(100))])
    vol.write_hook = lambda v, tracks: seen.append(tracks.tolist())
    data = np.arange(30, dtype=np.uint8).reshape(3, 10)
    vol.write_many(ts, np.array([29, 29, 39]), data)
    assert seen == [[200, 201]]
    img = vol.read_track(200)
    assert img[29:39].tolist() == list(range(10)) and img[39:49].tolist() == list(range(20, 30))


def test_read_only_volume_refuses_writes(tmp_path):
    Volume.create(tmp_path / "r.ckd", "3390-1", "RO0001", cylinders=10).close()
    v = Volume.open(tmp_path / "r.ckd")
    with pytest.raises(ImageError) as e:
        v.format_track(20, [])
    assert e.value.msgid == "DLB116E"


def test_split_volume_names_headers_and_io(tmp_path):
    v = Volume.create(tmp_path / "big.ckd", "3390-3", "BIG001", cylinders=2600, split=True)
    assert [f.path.name for f in v.files] == ["big_1.ckd", "big_2.ckd"]
    assert [f.cylinders for f in v.files] == [2519, 81]
    t = v.track_of(2599, 14)
    v.format_track(t, [(1, b"", b"last")])
    v.close()
    with open(tmp_path / "big_1.ckd", "rb") as f:
        raw = f.read(20)
    assert raw[17] == 1 and int.from_bytes(raw[18:20], "little") == 2518
    v = Volume.open(tmp_path / "big_1.ckd")
    assert v.cylinders == 2600 and v.read_record(2599, 14, 1) == (b"", b"last")


def test_sequence_name_rules(tmp_path):
    assert sequence_name(tmp_path / "vol_1.ckd", 3).name == "vol_3.ckd"
    assert sequence_name(tmp_path / "vol1", 2).name == "vol2"
    # files 10..27 are A..R, as Hercules numbers them
    assert sequence_name(tmp_path / "vol_1.ckd", 10).name == "vol_A.ckd"
    assert sequence_name(tmp_path / "vol_1.ckd", 27).name == "vol_R.ckd"
    assert split_name(tmp_path / "vol.ckd", 14).name == "vol_E.ckd"
    assert split_name(tmp_path / "vol", 9).name == "vol_9"


def test_create_refuses_existing_file(tmp_path):
    p = tmp_path / "e.ckd"
    p.write_bytes(b"keep")
    with pytest.raises(ImageError) as e:
        Volume.create(p, "3390-1", "E00001")
    assert e.value.msgid == "DLB117E" and p.read_bytes() == b"keep"


def test_track0_matches_dasdinit_layout(vol):
    recs = trackfmt.parse_track(vol.read_track(0))
    assert [(r.r, r.keylen, r.datalen) for r in recs] == [(1, 4, 24), (2, 4, 144), (3, 4, 80)]


def test_write_tracks_is_write_track_per_track_and_calls_the_hook_once(tmp_path):
    """A run of consecutive tracks, holes or already written, ends up exactly as the
    same images written one by one, and the write path sees every track of the run."""
    rng = np.random.default_rng(4)
    a = Volume.create(tmp_path / "a.ckd", "3390-1", "TST001")
    b = Volume.create(tmp_path / "b.ckd", "3390-1", "TST002")
    try:
        seen = []
        a.write_hook = lambda v, ts: seen.append(np.asarray(ts).tolist())
        imgs = np.stack([trackfmt.fixed_track(2, h, 0, 4096, 3, rng.integers(0, 256, 3 * 4096, dtype=np.uint8),
                                              a.slot, eof=h == 4) for h in range(5)])
        b.write_track(32, imgs[2])
        a.write_track(32, imgs[2])  # one track of the second run already written
        seen.clear()
        a.write_tracks(30, imgs)  # holes and one written track: track by track
        a.write_tracks(40, imgs)  # all holes: one write
        for i in range(5):
            b.write_track(30 + i, imgs[i])
            b.write_track(40 + i, imgs[i])
        for t in list(range(30, 35)) + list(range(40, 45)):
            assert a.is_written(t) and np.array_equal(a.read_track(t), b.read_track(t))
        assert sorted(t for ts in seen for t in ts) == list(range(30, 35)) + list(range(40, 45))
        from dasdlab.errors import DasdlabError

        with pytest.raises(DasdlabError) as e:
            a.write_tracks(a.ntracks - 2, imgs)
        assert e.value.msgid == "DLB104E"
    finally:
        a.close()
        b.close()
