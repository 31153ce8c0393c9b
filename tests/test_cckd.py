"""Compressed images: reading, conversion both ways, shadow stacks, and damaged files.

These run without Hercules; tests/interop/ checks the same code against the Hercules
utilities.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from dasdlab.cli.main import run
from dasdlab.emulator import trackfmt
from dasdlab.emulator.cckd import (
    CACHE_TRACKS,
    L1_POS,
    CckdVolume,
    null_track_image,
    open_cckd,
    open_image,
    shadow_names,
)
from dasdlab.emulator.convert import convert_volume, write_shadow
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.listing import list_volume
from dasdlab.emulator.volume import Volume

DATA_A = (b"COMPRESSIBLE RECORD " * 4) * 2000  # 2,000 80-byte records
DATA_B = np.random.default_rng(5).integers(0, 256, 4096 * 40, dtype=np.uint8).tobytes()


@pytest.fixture
def plain(tmp_path) -> Path:
    p = tmp_path / "plain.ckd"
    vol = Volume.create(p, "3390-1", "CCK001", cylinders=30)
    vol.vtoc.allocate("A.FB80", lrecl=80, blksize=6160, primary=4, secondary=4)
    vol.vtoc.allocate("B.F4096", recfm="F", lrecl=4096, blksize=4096, primary=4)
    Dataset(vol, "A.FB80").write(DATA_A)
    Dataset(vol, "B.F4096").write(DATA_B)
    vol.close()
    return p


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def fails(capsys, tmp_path):
    def call(msgid: str, *argv) -> str:
        before = snapshot(tmp_path)
        capsys.readouterr()
        code = run([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert code != 0, out
        assert err.startswith(msgid), err
        assert snapshot(tmp_path) == before
        return err

    return call


def test_null_track_formats():
    assert len(null_track_image(3, 4, 0)) == 37
    assert null_track_image(3, 4, 1) == bytes(trackfmt.null_track(3, 4, 56832)[:29])
    fmt2 = null_track_image(0, 1, 2)
    recs = trackfmt.parse_track(fmt2 + bytes(56832 - len(fmt2)))
    assert [(r.r, r.datalen) for r in recs] == [(i, 4096) for i in range(1, 13)]
    recs0 = trackfmt.parse_track(null_track_image(3, 4, 0) + bytes(100))
    assert [(r.cyl, r.head, r.r, r.keylen, r.datalen) for r in recs0] == [(3, 4, 1, 0, 0)]


@pytest.mark.parametrize("pattern,first,last", [
    ("sh/base_*.shd", "sh/base_1.shd", "sh/base_8.shd"),
    ("shadow0.shd", "shadow1.shd", "shadow8.shd"),
    ("plain", "plai1", "plai8"),
])
def test_shadow_names_follow_hercules(pattern, first, last):
    names = shadow_names(pattern)
    assert (str(names[0]), str(names[-1]), len(names)) == (first, last, 8)


@pytest.mark.parametrize("compress", ["zlib", "bzip2", "none"])
def test_round_trip(plain, tmp_path, compress):
    cz = tmp_path / "c.cckd"
    res = convert_volume(plain, cz, cckd=True, compress=compress)
    with Volume.open(plain) as src, Volume.open(cz) as vol:
        assert isinstance(vol, CckdVolume) and vol.compression == compress
        assert (vol.cylinders, vol.geometry.name, vol.volser, vol.files) == (30, "3390-1", "CCK001", [])
        assert vol.written.count() == vol.ntracks and res.stored == src.written.count()
        for t in range(vol.ntracks):
            if src.is_written(t):
                assert np.array_equal(vol.read_track(t), src.read_track(t)), t
            else:
                c, h = divmod(t, 15)
                assert vol.read_track(t)[:37].tobytes() == null_track_image(c, h, 0)
        assert list_volume(vol) == list_volume(src)
        assert Dataset(vol, "A.FB80").read() == DATA_A
        assert Dataset(vol, "B.F4096").read() == DATA_B
    if compress == "zlib":
        assert cz.stat().st_size < 200_000  # 2,000 repeated records compress well
    back = tmp_path / "back.ckd"
    convert_volume(cz, back, cckd=False)
    with Volume.open(plain) as src, Volume.open(back) as b:
        assert b.written.count() == b.ntracks
        for t in src.written.indices().tolist():
            assert np.array_equal(b.read_track(t), src.read_track(t))


def test_tracks_are_decompressed_lazily_and_cached_within_bounds(plain, tmp_path):
    cz = tmp_path / "c.cckd"
    convert_volume(plain, cz, cckd=True)
    with open_cckd(cz) as vol:
        assert len(vol._cache) == 0
        first = vol.read_track(20)
        assert vol.read_track(20) is first  # the cache hands out the same image
        assert not first.flags.writeable
        for t in range(200):
            vol.read_track(t)
        assert len(vol._cache) == CACHE_TRACKS


def test_shadow_stack(plain, tmp_path):
    base = tmp_path / "base.cckd"
    convert_volume(plain, base, cckd=True)
    work = tmp_path / "work.ckd"
    convert_volume(base, work, cckd=False)
    changed: set[int] = set()
    with Volume.open(work, writable=True) as vol:
        vol.write_hook = lambda v, ts: changed.update(int(t) for t in ts)
        vol.vtoc.allocate("C.NEW", lrecl=80, blksize=800, primary=2)
        Dataset(vol, "C.NEW").write(b"N" * 8000)
        with open_cckd(base) as b:
            write_shadow(vol, b, tmp_path / "base_1.shd", sorted(changed), compress="bzip2")
    with open_cckd(base, sf=tmp_path / "base_*.shd") as stack, Volume.open(work) as w:
        assert len(stack.stack) == 2
        for t in range(stack.ntracks):
            assert np.array_equal(stack.read_track(t), w.read_track(t)), t
            sfx = stack.track_entry(t)[0]
            assert sfx == (1 if t in changed else 0)
        assert Dataset(stack, "C.NEW").read() == b"N" * 8000
    with open_cckd(base) as alone:
        assert "C.NEW" not in alone.vtoc.datasets
    merged = tmp_path / "merged.cckd"
    convert_volume(base, merged, cckd=True, sf=tmp_path / "base_*.shd")
    with open_cckd(merged) as m:
        assert Dataset(m, "C.NEW").read() == b"N" * 8000


def test_big_endian_header_and_tables_are_read(plain, tmp_path):
    le = tmp_path / "le.cckd"
    convert_volume(plain, le, cckd=True)
    raw = bytearray(le.read_bytes())
    fields = struct.unpack_from("<3sB10IBBh", raw, 512)
    struct.pack_into(">3sB10IBBh", raw, 512, fields[0], fields[1] | 0x02, *fields[2:])
    # as cckdswap does: the cylinder count (offset 40) stays little-endian
    struct.pack_into("<I", raw, 512 + 40, fields[11])
    numl1 = fields[2]
    l1 = np.frombuffer(raw, "<u4", numl1, L1_POS)
    for off in l1[l1 != 0].tolist():
        tab = np.frombuffer(raw, [("p", "<u4"), ("l", "<u2"), ("s", "<u2")], 256, off).copy()
        raw[off : off + 2048] = tab.astype([("p", ">u4"), ("l", ">u2"), ("s", ">u2")]).tobytes()
    raw[L1_POS : L1_POS + 4 * numl1] = l1.astype(">u4").tobytes()
    be = tmp_path / "be.cckd"
    be.write_bytes(bytes(raw))
    with open_cckd(be) as vol:
        assert vol.stack[0].cdev.big_endian
        assert Dataset(vol, "A.FB80").read() == DATA_A


# ---------------------------------------------------------------------- damaged input
@pytest.fixture
def cz(plain, tmp_path) -> Path:
    p = tmp_path / "c.cckd"
    convert_volume(plain, p, cckd=True)
    return p


def _l2_entry(path: Path, t: int) -> tuple[int, int, int]:
    with open_cckd(path) as v:
        return v.track_entry(t)[1:]


def _data_track(path: Path) -> int:
    with open_cckd(path) as v:
        return v.vtoc.get("A.FB80").extents[0].start(v.heads)


def test_cckd_truncated_before_the_l1_table(fails, cz):
    cz.write_bytes(cz.read_bytes()[:1026])
    fails("DLB160E", "volume", "ls", cz)


def test_cckd_truncated_cuts_off_tables(fails, cz):
    cz.write_bytes(cz.read_bytes()[:L1_POS + 4 * 2 + 100])
    fails("DLB164E", "volume", "ls", cz)


def test_cckd_header_not_matching_its_cylinders(fails, cz):
    raw = bytearray(cz.read_bytes())
    struct.pack_into("<I", raw, 512 + 40, 9999)  # cylinders
    cz.write_bytes(bytes(raw))
    fails("DLB162E", "volume", "ls", cz)


def test_track_with_unknown_compression_code(fails, cz, tmp_path):
    t = _data_track(cz)
    pos, _len, _size = _l2_entry(cz, t)
    raw = bytearray(cz.read_bytes())
    raw[pos] = 7
    cz.write_bytes(bytes(raw))
    fails("DLB163E", "dataset", "read", cz, "A.FB80")


def test_track_that_does_not_decompress(fails, cz):
    t = _data_track(cz)
    pos, length, _size = _l2_entry(cz, t)
    raw = bytearray(cz.read_bytes())
    raw[pos + 5 : pos + length] = bytes(length - 5)
    cz.write_bytes(bytes(raw))
    fails("DLB163E", "dataset", "read", cz, "A.FB80")


def test_track_header_with_the_wrong_address(fails, cz):
    t = _data_track(cz)
    pos, _len, _size = _l2_entry(cz, t)
    raw = bytearray(cz.read_bytes())
    raw[pos + 1 : pos + 5] = bytes((0, 7, 0, 7))
    cz.write_bytes(bytes(raw))
    fails("DLB165E", "dataset", "read", cz, "A.FB80")


def test_shadow_file_opened_alone(fails, plain, cz, tmp_path):
    with Volume.open(plain) as vol, open_cckd(cz) as base:
        write_shadow(vol, base, tmp_path / "c_1.shd", [0])
    fails("DLB161E", "volume", "ls", tmp_path / "c_1.shd")


def test_shadow_that_does_not_match_its_base(fails, cz, tmp_path):
    other = tmp_path / "other.ckd"
    Volume.create(other, "3390-1", "OTHER1", cylinders=31).close()
    oc = tmp_path / "other.cckd"
    convert_volume(other, oc, cckd=True)
    with Volume.open(other) as vol, open_cckd(oc) as base:
        write_shadow(vol, base, tmp_path / "c_1.shd", [0])
    fails("DLB167E", "volume", "convert", cz, tmp_path / "out.ckd", "--sf", tmp_path / "c_*.shd")


def test_shadow_name_with_a_plain_base(fails, plain, tmp_path):
    fails("DLB169E", "volume", "convert", plain, tmp_path / "out.cckd", "--cckd", "--sf", "x_*.shd")


def test_compress_option_without_cckd(fails, plain, tmp_path):
    fails("DLB185E", "volume", "convert", plain, tmp_path / "out.ckd", "--compress", "bzip2")


def test_open_image_refuses_a_shadow(cz, plain, tmp_path):
    from dasdlab.errors import ImageError

    with Volume.open(plain) as vol, open_cckd(cz) as base:
        write_shadow(vol, base, tmp_path / "c_1.shd", [0, 1])
    with pytest.raises(ImageError) as e:
        open_image(tmp_path / "c_1.shd")
    assert e.value.msgid == "DLB161E"


def test_cckd_progress_reaches_the_total(plain, tmp_path):
    seen = []
    convert_volume(plain, tmp_path / "p.cckd", cckd=True, progress=lambda d, n: seen.append((d, n)))
    # of the 450 tracks only the first L2 group (256 tracks) holds written ones; the
    # second group is all never-written and is skipped without being looked at
    with Volume.open(plain) as vol:
        assert vol.written.indices().max() < 256
    assert seen[-1] == (256, 256) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))


def test_writes_into_a_compressed_image_read_back_before_and_after_close(tmp_path):
    """Write-behind: a written track reads back at once, and after reopening, across
    more than one batch and with rewrites that free space."""
    from dasdlab.emulator import trackfmt
    from dasdlab.emulator.cckd import WRITE_BEHIND, CckdFile, CckdVolume
    from dasdlab.emulator.convert import convert_volume
    from dasdlab.emulator.volume import EYE_CCKD

    src = tmp_path / "s.ckd"
    Volume.create(src, "3390-1", "WBH001", cylinders=40).close()
    comp = tmp_path / "c.cckd"
    convert_volume(src, comp, cckd=True)
    rng = np.random.default_rng(2)
    truth = {}
    vol = Volume.open(comp, writable=True)
    assert isinstance(vol, CckdVolume) and not vol.read_only
    for rnd in range(2):
        for t in range(20, 20 + WRITE_BEHIND + 40):
            cyl, head = divmod(t, vol.heads)
            data = rng.integers(0, 256 if rnd else 4, int(rng.integers(100, 9000)), np.uint8).tobytes()
            img = np.frombuffer(trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot), np.uint8)
            vol.write_track(t, img)
            truth[t] = img
            assert np.array_equal(vol.read_track(t), img)
    vol.update_record(1, 5, 1, b"\x01" * len(vol.read_record(1, 5, 1)[1]))
    truth[20] = vol.read_track(20).copy()
    vol.close()
    cdev = CckdFile(comp, EYE_CCKD).cdev
    assert cdev.options & 0x80 == 0 and cdev.size == comp.stat().st_size
    assert cdev.free_total - cdev.free_imbed > 0 and cdev.free_number > 0
    with CckdVolume.open(comp) as back:
        for t, img in truth.items():
            assert np.array_equal(back.read_track(t), img), t
