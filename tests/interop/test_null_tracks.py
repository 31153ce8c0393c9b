"""Free space a Hercules guest can use: ``volume init --null-tracks`` writes every track
as the empty track dasdinit writes, so ``dasdcopy`` reads every track without an error
and copies the volume byte for byte; without it, never-written tracks are holes that
dasdcopy reports (HHCDC008E) and replaces with null tracks."""

from __future__ import annotations

import filecmp
import os

import pytest

from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("null_tracks", [True, False], ids=["null-tracks", "sparse"])
def test_dasdcopy_reads_every_track(herc, cli, inputs, tmp_path, null_tracks):
    img = tmp_path / "v.ckd"
    code, _, err = cli("volume", "init", img, "--model", "3390-1", "--volser", "NUL001", "--cylinders", "30",
                       *(["--null-tracks"] if null_tracks else []))
    assert code == 0, err
    assert cli("dataset", "alloc", img, "A.DATA", "--lrecl", "80", "--blksize", "3120", "--tracks", "4")[0] == 0
    data = inputs.binary(tmp_path / "d.bin", 80 * 500, seed=8)
    assert cli("dataset", "write", img, "A.DATA", "--from", data)[0] == 0
    with Volume.open(img) as vol:
        written = vol.written.count()
        ntracks = vol.ntracks
        a, b = vol.vtoc.vtoc_tracks
        holding_data = 1 + (b - a) + vol.vtoc.get("A.DATA").f1.lstar[0] + 1
    out = tmp_path / "h.ckd"
    proc = herc.run("dasdcopy", "-lfs", img, out, cwd=tmp_path)
    errors = proc.stderr.decode(errors="replace").count("HHCDC008E")
    if null_tracks:
        assert written == ntracks
        assert errors == 0
        assert filecmp.cmp(img, out, shallow=False)
        # one file-system block a track, not the 56,832-byte slot
        assert os.stat(img).st_blocks * 512 < ntracks * 2 * 4096
    else:
        assert errors == ntracks - written > 0
    assert herc.dasdseq(out, "A.DATA", tmp_path) == data.read_bytes()
    code, out_ls, err = cli("volume", "ls", "--dasdls", img)
    assert out_ls == herc.dasdls_info(img, tmp_path)
    assert cli("volume", "check", img)[0] == 0
    # compressed, a null track costs nothing
    cckd = tmp_path / "v.cckd"
    code, msg, err = cli("volume", "convert", img, cckd, "--cckd")
    assert code == 0, err
    assert f" {holding_data} stored as track images" in msg  # track 0, the VTOC, A.DATA
