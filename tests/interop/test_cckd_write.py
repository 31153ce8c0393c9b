"""Compressed images read-write, and the cckd maintenance commands, against Hercules
cckdcdsk, cckdcomp, cckdswap, dasdcopy and dasdseq on the same images."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.cckd import CckdFile, CckdVolume
from dasdlab.emulator.cckdtools import check_image
from dasdlab.emulator.convert import convert_volume
from dasdlab.emulator.volume import EYE_CCKD, Volume

pytestmark = pytest.mark.interop


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _cdsk_clean(herc, image: Path, cwd: Path) -> None:
    """cckdcdsk -3 -ro exits 0 and reports nothing: no errors, no free-space warnings."""
    proc = herc.run("cckdcdsk", "-3", "-ro", image, cwd=cwd, check=False)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0 and "HHCCU" not in text, text


def _image(vol: Volume, t: int, rng, kind: str) -> np.ndarray:
    cyl, head = divmod(t, vol.heads)
    if kind == "null0":
        return np.frombuffer(trackfmt.build_track(cyl, head, [(1, b"", b"")], vol.slot), np.uint8)
    n = int(rng.integers(1, 12))
    recs = []
    for r in range(1, n + 1):
        size = int(rng.integers(1, 4000))
        if kind == "random":
            data = rng.integers(0, 256, size, np.uint8).tobytes()
        else:
            data = (b"RECORD %05d " % r * 400)[:size]
        recs.append((r, b"", data))
    return np.frombuffer(trackfmt.build_track(cyl, head, recs, vol.slot), np.uint8)


@pytest.fixture
def pair(tmp_path):
    """A plain 3390 volume (the truth) and the same volume as a compressed image."""
    plain = tmp_path / "plain.ckd"
    Volume.create(plain, "3390-1", "RWC001", cylinders=120).close()  # 1800 tracks, 8 L2 groups
    comp = tmp_path / "comp.cckd"
    convert_volume(plain, comp, cckd=True)
    return plain, comp


def test_tracks_written_in_place_pass_cckdcdsk_and_read_back_as_dasdcopy_writes(herc, tmp_path, pair):
    plain, comp = pair
    rng = np.random.default_rng(14)
    truth = Volume.open(plain, writable=True)
    for rnd in range(4):
        vol = Volume.open(comp, writable=True)
        assert isinstance(vol, CckdVolume)
        # rewrites of the same tracks with other sizes exercise the free-space chain;
        # tracks far apart need new L2 tables
        tracks = rng.choice(np.arange(15, truth.ntracks), 150, replace=False)
        for t in tracks.tolist():
            img = _image(vol, t, rng, ("random", "text", "text", "null0")[int(rng.integers(0, 4))])
            vol.write_track(t, img)
            truth.write_track(t, img)
        vol.close()
        _cdsk_clean(herc, comp, tmp_path)
        cdev = CckdFile(comp, EYE_CCKD).cdev
        if rnd:
            assert cdev.free_number > 0  # rewritten tracks left space that is chained
        with CckdVolume.open(comp) as back:
            for t in range(truth.ntracks):
                if truth.is_written(t):
                    assert np.array_equal(back.read_track(t), truth.read_track(t)), t
    truth.close()
    ours, ref = tmp_path / "ours.ckd", tmp_path / "ref.ckd"
    convert_volume(comp, ours, cckd=False)
    herc.run("dasdcopy", "-q", "-lfs", comp, ref, cwd=tmp_path)
    assert _digest(ours) == _digest(ref)


def test_free_space_is_reused(herc, tmp_path, pair):
    _plain, comp = pair
    rng = np.random.default_rng(5)
    sizes = []
    for _ in range(6):
        with Volume.open(comp, writable=True) as vol:
            for t in range(30, 130):
                vol.write_track(t, _image(vol, t, rng, "random"))
        sizes.append(comp.stat().st_size)
    _cdsk_clean(herc, comp, tmp_path)
    # 100 tracks of ~20 KB each: without reuse the file would grow by ~2 MB a round
    assert sizes[-1] < sizes[0] * 1.6


def test_dataset_write_into_compressed_image_reads_back_with_dasdseq(herc, cli, inputs, tmp_path, pair):
    _plain, comp = pair
    data = inputs.binary(tmp_path / "d.bin", 80 * 3000, seed=3)
    assert cli("dataset", "alloc", comp, "RW.SEQ.DATA", "--tracks", "20", "--lrecl", "80",
               "--blksize", "3120")[0] == 0
    code, out, err = cli("dataset", "write", comp, "RW.SEQ.DATA", "--from", data)
    assert code == 0, err
    _cdsk_clean(herc, comp, tmp_path)
    assert herc.dasdseq(comp, "RW.SEQ.DATA", tmp_path) == data.read_bytes()


def _damage_header(comp: Path) -> None:
    raw = bytearray(comp.read_bytes())
    raw[512 + 24 : 512 + 28] = (12345).to_bytes(4, "little")  # total free: wrong
    comp.write_bytes(bytes(raw))


def test_check_matches_cckdcdsk_and_repair_fixes_the_image(herc, cli, tmp_path, pair):
    _plain, comp = pair
    for level in range(4):
        code, out, _err = cli("volume", "cckd", "check", comp, "--level", str(level))
        assert code == 0 and "DLB898I" in out
    _damage_header(comp)
    before = _digest(comp)
    copy = tmp_path / "copy.cckd"
    shutil.copy(comp, copy)
    # Hercules finds the same fault (it warns, with exit 0: free space is rebuilt on open)
    proc = herc.run("cckdcdsk", "-1", "-ro", copy, cwd=tmp_path, check=False)
    assert b"free space errors detected" in proc.stdout + proc.stderr
    code, _out, err = cli("volume", "cckd", "check", comp, "--level", "1")
    assert code != 0 and "DLB896E" in err and "DLB897E" in err
    assert _digest(comp) == before  # no --repair: unchanged
    code, out, err = cli("volume", "cckd", "check", comp, "--level", "3", "--repair")
    assert code == 0, err
    _cdsk_clean(herc, comp, tmp_path)


def test_damaged_track_is_reported_and_never_repaired(herc, cli, tmp_path, pair):
    _plain, comp = pair
    with CckdVolume.open(comp) as vol:
        _sfx, pos, length, _size = vol.track_entry(0)
    raw = bytearray(comp.read_bytes())
    raw[pos + 5 : pos + length] = b"\x55" * (length - 5)  # garbage instead of deflate
    comp.write_bytes(bytes(raw))
    before = _digest(comp)
    proc = herc.run("cckdcdsk", "-3", "-ro", comp, cwd=tmp_path, check=False)
    assert b"validation error" in proc.stdout + proc.stderr  # Hercules finds it too
    code, _out, err = cli("volume", "cckd", "check", comp, "--level", "3", "--repair")
    assert code != 0 and "DLB895E" in err
    assert _digest(comp) == before
    assert not check_image(comp, 3).sound


def _with_free_space(comp: Path) -> None:
    rng = np.random.default_rng(9)
    for _ in range(2):
        with Volume.open(comp, writable=True) as vol:
            for t in range(20, 80):
                vol.write_track(t, _image(vol, t, rng, "random"))


def test_compact_removes_free_space_as_cckdcomp(herc, cli, tmp_path, pair):
    _plain, comp = pair
    _with_free_space(comp)
    assert CckdFile(comp, EYE_CCKD).cdev.free_total > 0
    theirs = tmp_path / "theirs.cckd"
    shutil.copy(comp, theirs)
    herc.run("cckdcomp", theirs, cwd=tmp_path)
    code, out, err = cli("volume", "cckd", "compact", comp)
    assert code == 0 and "DLB899I" in out, err
    _cdsk_clean(herc, comp, tmp_path)
    assert comp.stat().st_size == theirs.stat().st_size
    cdev = CckdFile(comp, EYE_CCKD).cdev
    assert (cdev.free_total, cdev.free_number, cdev.free_imbed) == (0, 0, 0)
    a, b = tmp_path / "a.ckd", tmp_path / "b.ckd"
    herc.run("dasdcopy", "-q", "-lfs", comp, a, cwd=tmp_path)
    herc.run("dasdcopy", "-q", "-lfs", theirs, b, cwd=tmp_path)
    assert _digest(a) == _digest(b)


def test_swap_writes_what_cckdswap_writes(herc, cli, tmp_path, pair):
    _plain, comp = pair
    _with_free_space(comp)
    theirs = tmp_path / "theirs.cckd"
    shutil.copy(comp, theirs)
    herc.run("cckdswap", theirs, cwd=tmp_path)
    code, out, err = cli("volume", "cckd", "swap", comp)
    assert code == 0 and "big-endian" in out, err
    a, b = bytearray(comp.read_bytes()), bytearray(theirs.read_bytes())
    assert len(a) == len(b)
    # cckdswap also sets status bits of its own in the options byte; the rest is equal
    assert a[515] & 0x03 == b[515] & 0x03 == 0x03
    a[515] = b[515] = 0
    assert a == b
    _cdsk_clean(herc, comp, tmp_path)
    _with_free_space(comp)  # a big-endian image is written in place in its own order
    _cdsk_clean(herc, comp, tmp_path)
    code, out, _err = cli("volume", "cckd", "swap", comp)  # and back
    assert code == 0 and "little-endian" in out
    _cdsk_clean(herc, comp, tmp_path)


def test_open_flag_left_by_a_killed_writer_is_refused_then_repaired(herc, cli, tmp_path, pair):
    _plain, comp = pair
    vol = Volume.open(comp, writable=True)
    vol.write_track(40, _image(vol, 40, np.random.default_rng(1), "text"))
    vol.stack[0].close()  # as if killed: no flush, the 'opened' flag stays set
    before = _digest(comp)
    code, _out, err = cli("dataset", "alloc", comp, "X.Y", "--tracks", "1")
    assert code != 0 and "DLB891E" in err
    assert _digest(comp) == before
    code, _out, err = cli("volume", "cckd", "check", comp)
    assert code != 0 and "DLB896E" in err
    code, _out, err = cli("volume", "cckd", "check", comp, "--repair")
    assert code == 0, err
    _cdsk_clean(herc, comp, tmp_path)
    assert cli("dataset", "alloc", comp, "X.Y", "--tracks", "1")[0] == 0
