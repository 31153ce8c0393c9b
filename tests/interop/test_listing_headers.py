"""``volume ls`` shows the columns of ``dasdls -info`` under headers; ``volume ls
--dasdls`` prints exactly what the real ``dasdls -info`` prints, byte for byte, through
the installed dasdlab command (a subprocess, as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image(tmp_path) -> Path:
    img = tmp_path / "v.ckd"
    with Volume.create(img, "3390-1", "HDR001", cylinders=10) as vol:
        vt = vol.vtoc
        vt.allocate("MY.CARDS", recfm="FB", lrecl=80, blksize=3120, primary=15, secondary=15)
        vt.allocate("MY.VB", recfm="VB", lrecl=255, blksize=6233, primary=5)
        vt.allocate("MY.LIB", dsorg="PO", lrecl=80, blksize=3120, primary=10, dir_blocks=5)
    return img


def _dasdlab(*argv, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dasdlab", *map(str, argv)], cwd=cwd, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_dasdls_form_is_byte_for_byte_dasdls_info(herc, image, tmp_path):
    real = herc.run("dasdls", "-info", image.name, cwd=tmp_path).stdout
    ours = _dasdlab("volume", "ls", image.name, "--dasdls", cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == real
    assert real.count(b"\n") == 4  # the volume line and three data sets


def test_default_form_has_headers_over_the_same_columns(herc, image, tmp_path):
    real = herc.run("dasdls", "-info", image.name, cwd=tmp_path).stdout.decode().splitlines()
    ours = _dasdlab("volume", "ls", image.name, cwd=tmp_path).stdout.decode().splitlines()
    assert ours[0] == real[0] and ours[2:] == real[1:]
    head = ours[1]
    assert head.split() == ["DSNAME", "YYDDD", "ORG", "RECFM", "LRECL", "BLKSZ", "KEY", "TRKS", "USE", "EXT",
                            "SECONDARY"]
    row = ours[2]
    # every header ends where its column's values end (numbers right-aligned under it)
    for name, value in (("LRECL", "80"), ("BLKSZ", "3120"), ("TRKS", "15")):
        end = head.index(name) + len(name)
        assert row[:end].rstrip().endswith(value) and row[end] == " ", (name, row)
    assert row.startswith("MY.CARDS ") and head.index("YYDDD") == 45


def test_site_ls_has_headers(tmp_path):
    site = tmp_path / "s"
    for argv in (("site", "init", site), ("site", "add-volume", site, "DS8K1", "IMS001", "--model", "3390-1",
                                          "--cylinders", "5"),
                 ("dataset", "alloc", "--site", site, "--volser", "IMS001", "MY.DATA", "--tracks", "3")):
        assert _dasdlab(*argv, cwd=tmp_path).returncode == 0
    out = _dasdlab("site", "ls", site, cwd=tmp_path).stdout.decode().splitlines()
    assert out[0].split() == ["SUBSYS", "KIND", "COPY", "SERVICES", "VOLUMES"]
    assert out[1].split()[:2] == ["DS8K1", "ds8000"] and out[1].split()[-1] == "IMS001"
    cat = out.index("  CATALOGUED DATA SET                          VOLSER")
    assert out[cat + 1].split() == ["MY.DATA", "IMS001"]
