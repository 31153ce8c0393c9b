"""Volumes made by Hercules dasdinit and dasdload, read by dasdlab.

``dasdlab volume ls`` must print exactly what ``dasdls -info`` prints, ``dasdlab dataset
read`` must give exactly the bytes ``dasdseq`` writes, and ``dasdlab volume check`` must
find the volume sound.
"""

from __future__ import annotations

import json

import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.volume import Volume, read_header

pytestmark = pytest.mark.interop


def _null_track(vol: Volume, t: int) -> bytes:
    cyl, head = divmod(t, vol.heads)
    return bytes(trackfmt.null_track(cyl, head, vol.slot))


def test_dasdinit_volume_has_no_vtoc_for_either_tool(herc, cli, tmp_path):
    img = tmp_path / "init.ckd"
    herc.run("dasdinit", img, "3390", "INI001", "10", cwd=tmp_path)
    vol = Volume.open(img)
    assert (vol.cylinders, vol.geometry.name, len(vol.files)) == (10, "3390-1", 1)
    assert vol.written.count() == vol.ntracks  # dasdinit writes every track
    assert vol.volser == "INI001"
    assert [r.r for r in vol.records(0)] == [1, 2, 3]
    for t in (1, 75, vol.ntracks - 1):
        assert vol.read_track(t).tobytes() == _null_track(vol, t)
    vol.close()

    ls = herc.run("dasdls", "-info", img, cwd=tmp_path)
    assert ls.stdout == b"" and b"F4DSCB record not found" in ls.stderr
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert code == 8 and out == "" and err.startswith("DLB205E")
    # info shows the geometry and says what is missing; check fails on the missing VTOC
    code, out, err = cli("volume", "info", img, "--json")
    assert code == 0 and err.startswith("DLB190W") and "no VTOC" in err
    d = json.loads(out)
    assert (d["volser"], d["model"], d["cylinders"], d["tracks"], d["vtoc"]) == ("INI001", "3390-1", 10, 150, None)
    assert d["missing"].startswith("DLB205E")
    code, out, err = cli("volume", "check", img)
    assert code == 8 and err.startswith("DLB191E") and "150 written tracks are sound" in err


def test_dasdinit_lfs_is_one_file_with_sequence_zero(herc, tmp_path):
    img = tmp_path / "lfs.ckd"
    herc.run("dasdinit", "-lfs", img, "3390-1", "LFS001", "30", cwd=tmp_path)
    hdr = read_header(img)
    assert (hdr.fileseq, hdr.highcyl, hdr.heads, hdr.slot_size) == (0, 0, 15, 56832)
    with Volume.open(img) as vol:
        assert vol.cylinders == 30 and vol.written.count() == 450
        assert vol.read_track(449).tobytes() == _null_track(vol, 449)


def test_dasdinit_multifile_volume_over_2519_cylinders(herc, cli, tmp_path):
    """The one dense large volume of the suite (2.2 GB, written by dasdinit)."""
    herc.run("dasdinit", tmp_path / "big.ckd", "3390-3", "BIG001", "2600", cwd=tmp_path)
    first, second = tmp_path / "big_1.ckd", tmp_path / "big_2.ckd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big_1.ckd", "big_2.ckd"]
    h1, h2 = read_header(first), read_header(second)
    assert (h1.fileseq, h1.highcyl, h2.fileseq, h2.highcyl) == (1, 2518, 2, 0)
    with Volume.open(first) as vol:
        assert vol.cylinders == 2600 and len(vol.files) == 2
        assert vol.geometry.name == "3390-3"
        assert vol.written.count() == 2600 * 15
        assert vol.volser == "BIG001"
        boundary = 2519 * 15
        for t in (boundary - 1, boundary, vol.ntracks - 1):
            assert vol.read_track(t).tobytes() == _null_track(vol, t)
    code, out, err = cli("volume", "ls", "--dasdls", second)
    assert code == 8 and err.startswith("DLB115E")


# Control files: several LRECL/BLKSIZE, TEXT and SEQ, EMPTY PS and PO, TRK and CYL,
# the VTOC first, in the middle, or (no VTOC line) after the last data set.
LOADS = {
    "vtoc_last": (
        "LOAD01 3390 10",
        [
            ("TEST.TEXT.FB80", "TEXT", "t1", "TRK 2 1 0 PS FB 80 800"),
            ("TEST.SEQ.FB100", "SEQ", "b1", "TRK 1 0 0 PS FB 100 1000"),
            ("TEST.PDS.EMPTY", "EMPTY", None, "TRK 3 0 5 PO FB 80 3120"),
            ("TEST.SEQ.EMPTY", "EMPTY", None, "CYL 1 0 0 PS FB 80 6160"),
        ],
    ),
    "vtoc_first": (
        "LOAD02 3390-3 20",
        [
            ("SYS1.VTOC", "VTOC", None, "TRK 3"),
            ("A.TEXT.FB80", "TEXT", "t2", "CYL 1 1 0 PS FB 80 3120"),
            ("B.SEQ.F100", "SEQ", "b1", "TRK 5 2 0 PS F 100 100"),
            ("C.PO", "EMPTY", None, "TRK 2 0 10 PO FB 80 6160"),
            ("D.PS.FB133", "EMPTY", None, "CYL 2 1 0 PS FB 133 6118"),
            ("E.DA", "SEQ", "b1", "TRK 3 0 0 DA FB 500 2000"),
        ],
    ),
    "vtoc_middle": (
        "LOAD03 3390-2 15",
        [
            ("BIG.TEXT.FB133", "TEXT", "t3", "TRK 6 2 0 PS FB 133 27930"),
            ("BIG.SEQ.FB1000", "SEQ", "b2", "TRK 20 5 0 PS FB 1000 27000"),
            ("SYS1.VTOC", "VTOC", None, "TRK 10"),
            ("SHORT.LAST.BLOCK", "SEQ", "b3", "TRK 1 0 0 PS FB 80 800"),
            ("HALF.TRACK", "SEQ", "b4", "CYL 1 0 0 PS FB 4096 24576"),
            ("EMPTY.TRK", "EMPTY", None, "TRK 4 4 0 PS FB 80 27920"),
        ],
    ),
}


def _make_inputs(inputs, d):
    return {
        "t1": inputs.text(d / "t1.txt", 200, 80, seed=1),
        "t2": inputs.text(d / "t2.txt", 777, 80, seed=2),
        "t3": inputs.text(d / "t3.txt", 2000, 133, seed=3),
        "b1": inputs.binary(d / "b1.bin", 13000, seed=4),
        "b2": inputs.binary(d / "b2.bin", 1000 * 327, seed=5),
        "b3": inputs.binary(d / "b3.bin", 80 * 37, seed=6),
        "b4": inputs.binary(d / "b4.bin", 4096 * 75, seed=7),
    }


# dasdload -z / -bz2 always writes a full 3390-1 (1,113 cylinders), so only two control
# files are also loaded compressed.
@pytest.mark.parametrize("case,compress", [(c, "") for c in sorted(LOADS)]
                         + [("vtoc_first", "-z"), ("vtoc_middle", "-bz2")])
def test_dasdload_volume_lists_and_reads_like_dasdls_and_dasdseq(herc, cli, inputs, tmp_path, case, compress):
    first, lines = LOADS[case]
    files = _make_inputs(inputs, tmp_path)
    ctl = [first] + [" ".join(x for x in (dsn, method, files[f].name if f else None, rest) if x)
                     for dsn, method, f, rest in lines]
    (tmp_path / "load.ctl").write_text("\n".join(ctl) + "\n")
    img = tmp_path / ("load.cckd" if compress else "load.ckd")
    herc.run("dasdload", *([compress] if compress else []), "load.ctl", img.name, "0", cwd=tmp_path)
    before = img.read_bytes()

    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert code == 0, err
    assert out == herc.dasdls_info(img, tmp_path)
    assert out.count("\n") == 1 + sum(1 for _, m, _, _ in lines if m != "VTOC")

    for dsn, method, f, rest in lines:
        if method == "VTOC" or " PS " not in f" {rest} ":
            continue
        expect = herc.dasdseq(img, dsn, tmp_path)
        got = tmp_path / f"ours.{dsn}"
        code, _, err = cli("dataset", "read", img, dsn, "--to", got)
        assert code == 0, err
        assert got.read_bytes() == expect, dsn
        if method == "SEQ":
            assert expect == files[f].read_bytes()
        if method == "EMPTY":
            assert expect == b""

    code, out, err = cli("volume", "check", img)
    assert code == 0, err
    assert "sound" in out
    assert img.read_bytes() == before  # reading never changes the image
