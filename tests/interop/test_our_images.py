"""Volumes dasdlab creates and fills, read by Hercules dasdls and dasdseq.

Every data set dasdlab writes must list the same in ``dasdls -info`` as in ``dasdlab
volume ls``, read back from ``dasdseq`` with exactly the bytes that went in (and that
``dasdlab dataset read`` gives), and the volume must pass ``dasdlab volume check``.
"""

from __future__ import annotations

import pytest

from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop


def _agree(herc, cli, img, tmp_path, expected: dict[str, bytes]) -> None:
    """dasdls == volume ls, dasdseq == dataset read == expected, and check is sound."""
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert code == 0, err
    assert out == herc.dasdls_info(img, tmp_path)
    listed = {line.split()[0] for line in out.splitlines()[1:]}
    assert set(expected) <= listed
    for dsn, data in expected.items():
        assert herc.dasdseq(img, dsn, tmp_path) == data, dsn
        got = tmp_path / f"ours.{dsn}"
        code, _, err = cli("dataset", "read", img, dsn, "--to", got)
        assert code == 0, err
        assert got.read_bytes() == data, dsn
    code, out, err = cli("volume", "check", img)
    assert code == 0, err + out


def test_filled_volume_reads_the_same_in_hercules(herc, cli, inputs, tmp_path):
    img = tmp_path / "ours.ckd"
    assert cli("volume", "init", img, "--model", "3390-1", "--volser", "OUR001", "--cylinders", "50")[0] == 0

    def alloc(dsn, *opts):
        code, out, err = cli("dataset", "alloc", img, dsn, *opts)
        assert code == 0, err
        return out

    def write(dsn, data: bytes, append=False):
        src = tmp_path / f"in.{dsn}.{len(data)}"
        src.write_bytes(data)
        code, out, err = cli("dataset", "write", img, dsn, "--from", src, *(["--append"] if append else []))
        assert code == 0, err
        return out

    r80 = inputs.binary(tmp_path / "r80", 80 * 1000, seed=1).read_bytes()
    r80b = inputs.binary(tmp_path / "r80b", 80 * 777, seed=2).read_bytes()
    r4096 = inputs.binary(tmp_path / "r4096", 4096 * 300, seed=3).read_bytes()
    r133 = inputs.binary(tmp_path / "r133", 133 * 5000, seed=4).read_bytes()
    r1000 = inputs.binary(tmp_path / "r1000", 1000 * 55, seed=5).read_bytes()
    r80u = inputs.binary(tmp_path / "r80u", 80 * 123, seed=6).read_bytes()

    alloc("A.FB80", "--lrecl", "80", "--blksize", "27920", "--tracks", "2", "--secondary", "1")
    write("A.FB80", r80)
    alloc("FILL1", "--lrecl", "80", "--blksize", "800", "--tracks", "3")
    # 300 unblocked 4 KB records fill 25 tracks and the EOF record a 26th: 1 primary
    # track + 13 secondaries of 2 = 14 extents, so the data set gets a Format-3 DSCB.
    alloc("B.F4096", "--recfm", "F", "--lrecl", "4096", "--blksize", "4096", "--tracks", "1",
          "--secondary", "2")
    write("B.F4096", r4096)
    alloc("C.FB133", "--lrecl", "133", "--blksize", "6118", "--cylinders", "1", "--secondary", "1")
    write("C.FB133", r133)
    write("A.FB80", r80b, append=True)  # DISP=MOD: grows into a secondary extent
    alloc("F.EMPTY", "--lrecl", "80", "--blksize", "3120", "--tracks", "1")
    alloc("G.FB1000", "--lrecl", "1000", "--blksize", "27000", "--tracks", "3", "--secondary", "1")
    write("G.FB1000", r1000)  # 55 records: the last block holds 1 record
    alloc("H.F80", "--recfm", "F", "--lrecl", "80", "--blksize", "80", "--tracks", "1", "--secondary", "1")
    write("H.F80", r80u)

    with Volume.open(img) as vol:
        vt = vol.vtoc
        assert len(vt.get("B.F4096").extents) == 14 and vt.get("B.F4096").f3_addrs
        assert len(vt.get("A.FB80").extents) == 2
        fill_start = vt.get("FILL1").extents[0].start(vol.heads)
        free_before = vt.free_tracks()
    code, out, err = cli("dataset", "delete", img, "FILL1")
    assert code == 0, err
    with Volume.open(img) as vol:
        assert vol.vtoc.free_tracks() == free_before + 3
    alloc("D.REUSE", "--lrecl", "80", "--blksize", "800", "--tracks", "3")
    write("D.REUSE", r80[: 80 * 50])
    with Volume.open(img) as vol:
        assert vol.vtoc.get("D.REUSE").extents[0].start(vol.heads) == fill_start

    _agree(herc, cli, img, tmp_path, {
        "A.FB80": r80 + r80b,
        "B.F4096": r4096,
        "C.FB133": r133,
        "D.REUSE": r80[: 80 * 50],
        "F.EMPTY": b"",
        "G.FB1000": r1000,
        "H.F80": r80u,
    })


@pytest.mark.parametrize("split", [False, True], ids=["one-sparse-file", "split"])
def test_volume_over_2519_cylinders_with_data_past_the_first_file(herc, cli, inputs, tmp_path, split):
    img = tmp_path / "big.ckd"
    code, out, err = cli("volume", "init", img, "--model", "3390-3", "--volser", "BIG001",
                         "--cylinders", "2600", *(["--split"] if split else []))
    assert code == 0, err
    first = tmp_path / "big_1.ckd" if split else img
    assert first.exists() and (tmp_path / "big_2.ckd").exists() == split
    assert cli("dataset", "alloc", first, "FILLER", "--lrecl", "80", "--blksize", "27920",
               "--cylinders", "2520")[0] == 0
    assert cli("dataset", "alloc", first, "FAR.DATA", "--lrecl", "4000", "--blksize", "24000",
               "--tracks", "2", "--secondary", "3")[0] == 0
    data = inputs.binary(tmp_path / "far", 4000 * 150, seed=9)
    code, out, err = cli("dataset", "write", first, "FAR.DATA", "--from", data)
    assert code == 0, err
    with Volume.open(first) as vol:
        ext = vol.vtoc.get("FAR.DATA").extents
        assert ext[0].begin[0] >= 2520  # past cylinder 2,518, the last of file 1
        assert len(ext) > 1
        assert len(vol.files) == (2 if split else 1)
    _agree(herc, cli, first, tmp_path, {"FAR.DATA": data.read_bytes(), "FILLER": b""})
