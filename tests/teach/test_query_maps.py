"""``flashcopy/cc/snap/clone query --map`` and ``--map-png``: the terminal map and the
picture of each relationship, as the services' state says, from a separate open of
the site (as a user's second command sees it)."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.cli.main import run
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site


def fill(vol, tracks, seed=0):
    for t in tracks:
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", bytes([seed, t % 256]) * 50)], vol.slot))


@pytest.fixture
def sitedir(tmp_path):
    site = Site.init(tmp_path / "site")
    for sub, v in (("DS8K1", "SRC001"), ("DS8K1", "TGT001"), ("RVA1", "RSRC01"), ("RVA1", "RTGT01"),
                   ("VMAX1", "VSRC01"), ("VMAX1", "VTGT01")):
        site.add_volume(sub, v, "3390-1", cylinders=2)
        fill(site.volume(v, writable=True), range(15, 20))
    src = site.volume("SRC001", writable=True)
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY")
    fill(src, [16], seed=1)
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    done = cc.start("SRC001", runs=[(15, 20)])
    for _ in done.read_tracks():
        pass
    cc.start("SRC001", runs=[(15, 20)])  # left active: failed when the site closes
    site.subsystem("RVA1").service("snapshot").snap("RSRC01", "RTGT01")
    fill(site.volume("RSRC01", writable=True), [18], seed=2)
    tf = site.subsystem("VMAX1").service("timefinder")
    tf.create("VSRC01", "VTGT01", mode="NOCOPY")
    site.close()
    return tmp_path / "site"


def cli(capsys, *argv):
    code = run([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def cyl1(out: str, title: str) -> list[str]:
    """The cells of cylinder 1 of the map titled ``title`` (source, copy)."""
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(title))
    row = next(ln for ln in lines[i:] if ln.strip().startswith("1 |"))
    parts = row.split("|")
    return [parts[1], parts[3]]


def test_flashcopy_query_map(sitedir, capsys, tmp_path):
    code, out, _ = cli(capsys, "flashcopy", "query", "--site", sitedir, "--map", "--map-png", tmp_path / "fc.png")
    assert code == 0
    assert cyl1(out, "FC0001") == ["oxooo" + "." * 10, "oSooo" + "." * 10]
    assert "DLB854I" in out and (tmp_path / "fc.png").stat().st_size > 1000


def test_cc_query_map_shows_the_outcome(sitedir, capsys):
    code, out, _ = cli(capsys, "cc", "query", "--site", sitedir, "--map")
    assert code == 0
    assert cyl1(out, "CC0001")[1] == "#####" + " " * 10  # complete: every domain track read
    assert cyl1(out, "CC0002")[1] == "!!!!!" + " " * 10  # failed: drawn lost, not copied
    assert "FAILED: not a valid copy" in out


def test_snap_query_map(sitedir, capsys):
    code, out, _ = cli(capsys, "snap", "query", "--site", sitedir, "--map")
    assert code == 0
    src, tgt = cyl1(out, "SN0001")
    assert src[:5] == tgt[:5] == "oooRo"  # track 18 was rewritten after the snap


def test_clone_query_map_and_svg(sitedir, capsys, tmp_path):
    code, out, _ = cli(capsys, "clone", "query", "--site", sitedir, "--map", "--map-png", tmp_path / "tf.svg")
    assert code == 0
    assert cyl1(out, "TF0001")[1] == "u" * 15  # created, not activated: no point in time yet
    assert b"<svg" in (tmp_path / "tf.svg").read_bytes()[:400]


def test_map_png_bad_suffix_and_nothing_to_draw(sitedir, capsys, tmp_path):
    code, _, err = cli(capsys, "flashcopy", "query", "--site", sitedir, "--map-png", tmp_path / "fc.jpg")
    assert code == 8 and "DLB851E" in err and not (tmp_path / "fc.jpg").exists()
    code, _, err = cli(capsys, "clone", "query", "--site", sitedir, "--subsystem", "VMAX1", "TF0009",
                       "--map-png", tmp_path / "x.png")
    assert code == 8 and "DLB" in err and not (tmp_path / "x.png").exists()
