"""Shadow-file operations (``volume sf add|remove|compress|show``) against the Hercules
emulator running ``sf+``, ``sf-`` and ``sfc`` on copies of the same files, and against
dasdcopy and cckdcdsk."""

from __future__ import annotations

import filecmp
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.cckd import open_cckd
from dasdlab.emulator.convert import convert_volume, write_shadow
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop

DEVICE = "0120 3390 base.cckd sf=base_*.shd"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _clean(herc, folder: Path, name: str) -> None:
    proc = herc.run("cckdcdsk", "-3", "-ro", name, cwd=folder, check=False)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0 and "HHCCU" not in text, text


def _used(image: Path) -> int:
    """The bytes-used figure of a compressed header (little-endian here)."""
    return int.from_bytes(image.read_bytes()[528:532], "little")


def _merged(herc, folder: Path, out: str) -> Path:
    """The volume the stack in ``folder`` shows, as dasdcopy writes it."""
    herc.run("dasdcopy", "-q", "-o", "CKD", "base.cckd", "sf=base_*.shd", out, cwd=folder)
    return folder / out


def _stack(tmp_path: Path, shadows: int) -> Path:
    """A compressed base that holds free space (data sets written in place, one deleted),
    and ``shadows`` shadow files over it, each changing other tracks."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(5)
    Volume.create(src / "p.ckd", "3390-1", "SFT001", cylinders=30).close()  # two L2 groups
    base = src / "base.cckd"
    convert_volume(src / "p.ckd", base, cckd=True)
    with Volume.open(base, writable=True) as vol:
        for i, n in enumerate((40, 90, 25)):
            vol.vtoc.allocate(f"BASE.DS{i}", lrecl=80, blksize=6160, primary=3, secondary=1)
            Dataset(vol, f"BASE.DS{i}").write(rng.integers(0, 256, 80 * 10 * n, dtype=np.uint8).tobytes())
        Dataset(vol, "BASE.DS1").write(rng.integers(0, 256, 80 * 50, dtype=np.uint8).tobytes())
    work = src / "work.ckd"
    convert_volume(base, work, cckd=False)
    vol = Volume.open(work, writable=True)
    changed: set[int] = set()
    vol.write_hook = lambda v, tracks: changed.update(int(t) for t in tracks)
    for k in range(1, shadows + 1):
        changed.clear()
        vol.vtoc.allocate(f"SHADOW.DS{k}", lrecl=80, blksize=27920, primary=4 + k, secondary=1)
        Dataset(vol, f"SHADOW.DS{k}").write(rng.integers(0, 256, 80 * 700 * k, dtype=np.uint8).tobytes())
        Dataset(vol, "BASE.DS0").write(rng.integers(0, 256, 80 * 30 * k, dtype=np.uint8).tobytes())
        if k == 2:  # a track of the second L2 group, which only the top shadow holds
            vol.format_track(400, [(1, b"", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())])
        vol.flush()
        with open_cckd(base, sf=src / "base_*.shd" if k > 1 else None) as b:
            write_shadow(vol, b, src / f"base_{k}.shd", sorted(changed))
    vol.close()
    work.unlink()
    (src / "p.ckd").unlink()
    return src


def _copies(src: Path, tmp_path: Path, *names: str) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for d in (ours, theirs):
        d.mkdir()
        for p in src.iterdir():
            shutil.copy2(p, d / p.name)
    return ours, theirs


def test_sf_add_writes_the_shadow_file_the_emulator_writes(herc, emulator, cli, tmp_path):
    src = _stack(tmp_path, 0)
    ours, theirs = _copies(src, tmp_path)
    out = emulator.run(theirs, [DEVICE], ["sf+0120", "sf+0120"])
    assert "HHCCD162I 0120 file[2] base_2.shd added" in out, out
    for _ in range(2):
        code, text, err = cli("volume", "sf", "add", ours / "base.cckd", "--sf", ours / "base_*.shd")
        assert code == 0 and text.startswith("DLB176I"), err
    assert _digests(ours) == _digests(theirs)
    code, text, err = cli("volume", "sf", "show", ours / "base.cckd", f"sf={ours / 'base_*.shd'}")
    assert code == 0, err
    rows = text.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["[0]", "[1]", "[2]"]
    assert [int(r.split()[3]) for r in rows] == [450, 0, 0]


def test_sf_remove_merges_as_the_emulator(herc, emulator, cli, tmp_path):
    src = _stack(tmp_path, 2)
    ours, theirs = _copies(src, tmp_path)
    want = _merged(herc, src, "want.ckd")
    for step, (into, gone) in enumerate((("base_1.shd", "base_2.shd"), ("base.cckd", "base_1.shd"))):
        out = emulator.run(theirs, [DEVICE], ["sf-0120 merge"])
        assert f"HHCCD181I 0120 shadow file [{2 - step}] successfully merged" in out, out
        code, text, err = cli("volume", "sf", "remove", ours / "base.cckd", "--sf", ours / "base_*.shd")
        assert code == 0 and text.startswith("DLB177I") and into in text, err
        assert not (ours / gone).exists() and not (theirs / gone).exists()
        _clean(herc, ours, into)
        # the same tracks as before the merge, and as the emulator's merge
        got = _merged(herc, ours, f"got{step}.ckd")
        assert filecmp.cmp(got, want, shallow=False)
        got.unlink()
        assert _used(ours / into) == _used(theirs / into)
        # the emulator's free space is its own in-memory chain: the file layout may differ
        # where space freed during the merge is reused (its free-pending cycles), not else
        code, _, err = cli("volume", "cckd", "check", "--level", "3", ours / into) \
            if into == "base.cckd" else (0, "", "")
        assert code == 0, err


def test_sf_remove_into_a_base_is_byte_for_byte_the_emulators(herc, emulator, cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Volume.create(src / "p.ckd", "3390-1", "SFT002", cylinders=10).close()
    convert_volume(src / "p.ckd", src / "base.cckd", cckd=True)
    convert_volume(src / "base.cckd", src / "w.ckd", cckd=False)
    rng = np.random.default_rng(9)
    with Volume.open(src / "w.ckd", writable=True) as vol:
        changed: set[int] = set()
        vol.write_hook = lambda v, tracks: changed.update(int(t) for t in tracks)
        vol.vtoc.allocate("NEW.ONE", lrecl=80, blksize=27920, primary=20, secondary=1)
        Dataset(vol, "NEW.ONE").write(rng.integers(0, 256, 80 * 9000, dtype=np.uint8).tobytes())
        vol.flush()
        with open_cckd(src / "base.cckd") as b:
            write_shadow(vol, b, src / "base_1.shd", sorted(changed))
    for name in ("p.ckd", "w.ckd"):
        (src / name).unlink()
    ours, theirs = _copies(src, tmp_path)
    emulator.run(theirs, [DEVICE], ["sf-0120 merge"])
    assert cli("volume", "sf", "remove", ours / "base.cckd", "--sf", ours / "base_*.shd")[0] == 0
    assert _digests(ours) == _digests(theirs) and list(_digests(ours)) == ["base.cckd"]
    # the emulator writes its free space as a FREE_BLK array, which dasdlab reads
    code, _, err = cli("volume", "cckd", "check", "--level", "3", theirs / "base.cckd")
    assert code == 0, err


def test_sf_remove_nomerge_drops_the_top_shadow_as_the_emulator(herc, emulator, cli, tmp_path):
    src = _stack(tmp_path, 2)
    ours, theirs = _copies(src, tmp_path)
    before = _digests(ours)
    emulator.run(theirs, [DEVICE], ["sf-0120 nomerge"])
    code, text, err = cli("volume", "sf", "remove", ours / "base.cckd", "--sf", ours / "base_*.shd",
                          "--no-merge")
    assert code == 0 and "dropped" in text, err
    del before["base_2.shd"]
    assert _digests(ours) == before == _digests(theirs)


def test_sf_compress_compacts_the_top_shadow_like_the_emulator(herc, emulator, cli, tmp_path):
    src = _stack(tmp_path, 2)
    ours, theirs = _copies(src, tmp_path)
    # merging shadow 2 leaves free space in shadow 1
    emulator.run(theirs, [DEVICE], ["sf-0120 merge", "sfc0120"])
    cli("volume", "sf", "remove", ours / "base.cckd", "--sf", ours / "base_*.shd")
    size = (ours / "base_1.shd").stat().st_size
    code, text, err = cli("volume", "sf", "compress", ours / "base.cckd", "--sf", ours / "base_*.shd")
    assert code == 0 and text.startswith("DLB178I"), err
    after = (ours / "base_1.shd").stat().st_size
    assert after < size
    # the layout inside differs (cckdcomp orders the pieces otherwise), size and tracks do not
    assert after == (theirs / "base_1.shd").stat().st_size
    _clean(herc, ours, "base_1.shd")
    assert filecmp.cmp(_merged(herc, ours, "a.ckd"), _merged(herc, theirs, "a.ckd"), shallow=False)


def test_sf_errors_leave_the_files_alone(cli, tmp_path, monkeypatch):
    src = _stack(tmp_path, 1)
    before = _digests(src)
    base, pattern = src / "base.cckd", str(src / "base_*.shd")
    code, _, err = cli("volume", "sf", "remove", base, "--sf", str(src / "other_*.shd"))
    assert code != 0 and "DLB173E" in err
    code, _, err = cli("volume", "sf", "add", base)
    assert code != 0 and "--sf" in err
    for _ in range(7):
        assert cli("volume", "sf", "add", base, "--sf", pattern)[0] == 0
    code, _, err = cli("volume", "sf", "add", base, "--sf", pattern)
    assert code != 0 and "DLB170E" in err
    for _ in range(7):
        assert cli("volume", "sf", "remove", base, "--sf", pattern, "--no-merge")[0] == 0
    assert _digests(src) == before

    # a merge that fails half-way leaves both files as they were and no partial file
    import os

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    code, _, err = cli("volume", "sf", "remove", base, "--sf", pattern)
    assert code != 0 and "DLB175E" in err
    monkeypatch.undo()
    assert _digests(src) == before

    # a lower file that says it was not closed is not merged into
    raw = bytearray(base.read_bytes())
    raw[515] |= 0x80
    base.write_bytes(bytes(raw))
    before = _digests(src)
    code, _, err = cli("volume", "sf", "remove", base, "--sf", pattern)
    assert code != 0 and "DLB174E" in err
    assert _digests(src) == before
