"""Data sets: sequential write/read, appends, secondary growth, fixed blocks."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.volume import Volume
from dasdlab.errors import DatasetError


def records(n, lrecl, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n * lrecl, dtype=np.uint8).tobytes()


@settings(max_examples=15)
@given(lrecl=st.sampled_from([1, 80, 100, 133, 4096]), mult=st.integers(1, 12), n=st.integers(0, 1500))
def test_write_read_round_trip(tmp_path_factory, lrecl, mult, n):
    blk = min(lrecl * mult, 27998 // lrecl * lrecl if lrecl <= 27998 else lrecl)
    v = Volume.create(tmp_path_factory.mktemp("d") / "v.ckd", "3390-1", "RT0001", cylinders=50)
    v.vtoc.allocate("R.T", lrecl=lrecl, blksize=blk, primary=1, secondary=10)
    data = records(n, lrecl, n)
    ds = Dataset(v, "R.T")
    res = ds.write(data)
    assert ds.read() == data
    again = Dataset(Volume.open(v.path), "R.T")
    assert again.read() == data
    tt, r = again.f1.lstar
    assert tt == res.lstar[0] and r == res.lstar[1]


def test_eof_and_lstar_like_dasdload(vol):
    vol.vtoc.allocate("T.FB80", lrecl=80, blksize=800, primary=2, secondary=1)
    ds = Dataset(vol, "T.FB80")
    ds.write(records(200, 80))
    # dasdload put 20 blocks + EOF on track 0: LSTAR (0, 21), TRBAL 28186 (docs/ckd-format.md)
    assert ds.f1.lstar == (0, 21) and ds.f1.trbal == 28186


def test_append_refills_short_last_block(vol):
    vol.vtoc.allocate("T.APP", lrecl=80, blksize=800, primary=1, secondary=1)
    ds = Dataset(vol, "T.APP")
    a, b = records(15, 80, 1), records(1000, 80, 2)
    ds.write(a)
    ds.write(b, append=True)
    assert ds.read() == a + b
    blocks = [len(x) for x in ds.blocks()]
    assert blocks[:-1] == [800] * (len(blocks) - 1)


def test_write_that_cannot_fit_changes_nothing(tmp_path):
    vol = Volume.create(tmp_path / "s.ckd", "3390-1", "SMALL1", cylinders=20)
    vol.vtoc.allocate("T.SMALL", lrecl=80, blksize=800, primary=1)
    ds = Dataset(vol, "T.SMALL")
    ds.write(records(10, 80))
    before = vol.path.read_bytes()
    with pytest.raises(DatasetError) as e:
        ds.write(records(5000, 80))
    assert e.value.msgid == "DLB219E"
    vol.flush()
    assert vol.path.read_bytes() == before
    with pytest.raises(DatasetError) as e:
        ds.write(b"x" * 81)
    assert e.value.msgid == "DLB230E"


def test_fixed_blocks_locate_read_write(vol):
    vol.vtoc.allocate("IMS.OSAM", dsorg="DA", recfm="F", lrecl=4096, blksize=4096, primary=10)
    ds = Dataset(vol, "IMS.OSAM")
    assert ds.blocks_per_track == 12
    n = ds.format_blocks(100, fill=lambda first, cnt: np.full((cnt, 4096), first % 251, np.uint8))
    assert n == 100 and ds.f1.lstar == (8, 5)
    assert ds.read_block(13)[:3] == bytes([12, 12, 12])
    ds.write_block(13, bytes(range(256)) * 16)
    assert ds.read_block(13) == bytes(range(256)) * 16
    t, off = ds.locate_many(np.array([0, 13, 99]))
    assert [ds.locate(b) for b in (0, 13, 99)] == list(zip(t.tolist(), off.tolist()))
    assert sum(len(b) for b in ds.blocks()) == 100 * 4096
    with pytest.raises(DatasetError) as e:  # DSORG=DA: not read sequentially, as dasdseq
        ds.read()
    assert e.value.msgid == "DLB252E"
    with pytest.raises(DatasetError):
        ds.read_block(120)


@settings(max_examples=150, deadline=None)
@given(lengths=st.lists(st.integers(0, 3000), min_size=1, max_size=40),
       blksize=st.integers(9, 1200), blocked=st.booleans())
def test_spanned_blocks_round_trip_and_obey_the_segment_rules(lengths, blksize, blocked):
    from dasdlab.emulator.dataset import LRECL_X, _variable_records, spanned_blocks

    recs = [bytes([i % 251]) * n for i, n in enumerate(lengths)]
    blocks = spanned_blocks(recs, LRECL_X, blksize, blocked, "T.VBS")
    assert list(_variable_records(blocks, True, "T.VBS")) == recs
    for b in blocks:
        assert len(b) <= blksize and int.from_bytes(b[:2], "big") == len(b)
        segs, pos = [], 4
        while pos < len(b):
            n = int.from_bytes(b[pos : pos + 2], "big")
            segs.append((b[pos + 2], n))
            pos += n
        assert pos == len(b)
        if not blocked:
            assert len(segs) == 1
        # a first or middle segment ends its block, filling it
        for i, (code, _n) in enumerate(segs):
            if code in (1, 3):
                assert i == len(segs) - 1 and len(b) == blksize


def test_spanned_records_longer_than_lrecl_are_refused(vol):
    vol.vtoc.allocate("T.VBS", recfm="VBS", lrecl=100, blksize=60, primary=1)
    ds = Dataset(vol, "T.VBS")
    with pytest.raises(DatasetError, match="DLB256E"):
        ds.write((100).to_bytes(2, "big") + bytes(2) + bytes(96) + (101).to_bytes(2, "big") + bytes(2) + bytes(97))
    assert ds.read() == b""
