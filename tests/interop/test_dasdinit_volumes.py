"""Volumes made by Hercules dasdinit -- alternate cylinders (-a), 3380 models, plain and
compressed -- opened by dasdlab and given a VTOC with 'volume init --vtoc', then used
by dasdlab and read back by dasdls and dasdseq."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import geometry
from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("options,model,cyls,name,want_cyls", [
    (["-lfs"], "3390", "10", "3390-1", 10),
    (["-lfs", "-a"], "3390-1", None, "3390-1", 1114),
    (["-z", "-a"], "3390-1", None, "3390-1", 1114),
    (["-lfs"], "3380-J", "20", "3380-J", 20),
    (["-z"], "3380-E", None, "3380-E", 1770),
    (["-z", "-a"], "3380-K", None, "3380-K", 2658),
])
def test_dasdinit_volume_opens_takes_a_vtoc_and_data(herc, cli, inputs, tmp_path, options, model, cyls,
                                                     name, want_cyls):
    img = tmp_path / ("v.cckd" if "-z" in options else "v.ckd")
    herc.run("dasdinit", *options, img, model, "INIT01", *([cyls] if cyls else []), cwd=tmp_path)
    with Volume.open(img) as vol:
        assert (vol.geometry.name, vol.cylinders) == (name, want_cyls)
        assert vol.geometry is geometry.model(name)
    code, out, err = cli("volume", "info", img)
    assert code == 0 and "DLB190W" in err and f"model: {name}" in out

    code, out, err = cli("volume", "init", img, "--vtoc", "--vtoc-tracks", "3")
    assert code == 0 and out.startswith("DLB836I"), err
    code, out, err = cli("volume", "info", img, "--json")
    assert code == 0 and err == "" and '"vtoc_tracks": [\n    1,\n    4\n  ]' in out, out
    assert cli("volume", "check", img)[0] == 0

    data = inputs.binary(tmp_path / "d.bin", 80 * 500, seed=3)
    assert cli("dataset", "alloc", img, "NEW.DATA", "--lrecl", "80", "--blksize", "3120",
               "--tracks", "2")[0] == 0
    code, _, err = cli("dataset", "write", img, "NEW.DATA", "--from", data)
    assert code == 0, err
    listing = herc.dasdls_info(img.name, tmp_path)
    assert listing.splitlines()[1].split()[0] == "NEW.DATA", listing
    code, out, _ = cli("volume", "ls", img, "--dasdls")
    assert out.splitlines()[1:] == listing.splitlines()[1:]
    assert herc.dasdseq(img.name, "NEW.DATA", tmp_path) == data.read_bytes()
    if "-z" in options:
        proc = herc.run("cckdcdsk", "-3", "-ro", img.name, cwd=tmp_path, check=False)
        assert proc.returncode == 0 and b"HHCCU" not in proc.stdout + proc.stderr


def test_vtoc_is_not_added_twice_nor_over_data(herc, cli, tmp_path):
    img = tmp_path / "v.ckd"
    herc.run("dasdinit", "-lfs", img, "3390", "INIT02", "5", cwd=tmp_path)
    assert cli("volume", "init", img, "--vtoc")[0] == 0
    before = _digest(img)
    code, _, err = cli("volume", "init", img, "--vtoc")
    assert code != 0 and "DLB832E" in err
    assert _digest(img) == before

    other = tmp_path / "w.ckd"
    herc.run("dasdinit", "-lfs", other, "3390", "INIT03", "5", cwd=tmp_path)
    with Volume.open(other, writable=True) as vol:
        vol.format_track(2, [(1, b"", bytes(np.arange(100, dtype=np.uint8)))])
    before = _digest(other)
    code, _, err = cli("volume", "init", other, "--vtoc", "--vtoc-tracks", "2")
    assert code != 0 and "DLB835E" in err and "CCHH 0,2" in err
    code, _, err = cli("volume", "init", other, "--vtoc", "--vtoc-tracks", "99")
    assert code != 0 and "DLB833E" in err
    assert _digest(other) == before
