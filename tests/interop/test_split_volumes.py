"""Split volumes of ten files or more, named as Hercules names them.

Hercules numbers the files of a volume split at 2 GB ``_1`` ... ``_9``, then ``_A`` ...
``_R`` (files 10 to 27): a 3390-27 is 14 files (``_1`` ... ``_E``), a 3390-54 is 27
(``_1`` ... ``_R``).  dasdlab writes those names and Hercules' utilities open them
(``dasdls``, ``dasdseq`` on data in the last file); Hercules' ``dasdcopy`` writes them and
dasdlab opens them.
"""

from __future__ import annotations

import shutil

import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.volume import Volume, read_header

pytestmark = pytest.mark.interop

NAMES = "123456789ABCDEFGHIJKLMNOPQR"


@pytest.mark.parametrize("model,nfiles", [("3390-27", 14), ("3390-54", 27)])
def test_our_split_volume_opens_in_hercules_with_data_in_the_last_file(
        herc, cli, inputs, tmp_path, model, nfiles):
    img = tmp_path / "big.ckd"
    code, out, err = cli("volume", "init", img, "--model", model, "--volser", "SPLIT1", "--split")
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"big_{c}.ckd" for c in NAMES[:nfiles])
    first = tmp_path / "big_1.ckd"
    with Volume.open(first) as vol:
        per_file = vol.files[0].cylinders
        last_start = vol.files[-1].first_cyl
        cylinders = vol.cylinders
    # fill the volume with empty data sets (only their first track is written) so that
    # the next one lands in the last file
    n = 0
    while True:
        with Volume.open(first) as vol:
            free_start = vol.vtoc.free[0][0] // vol.heads
        if free_start >= last_start:
            break
        qty = min(4000, last_start - free_start)
        code, _, err = cli("dataset", "alloc", first, f"FILL{n:02d}", "--lrecl", "80",
                           "--blksize", "27920", "--cylinders", str(qty))
        assert code == 0, err
        n += 1
    data = inputs.binary(tmp_path / "far.bin", 4000 * 40, seed=3)
    assert cli("dataset", "alloc", first, "FAR.DATA", "--lrecl", "4000", "--blksize", "24000",
               "--tracks", "10")[0] == 0
    code, _, err = cli("dataset", "write", first, "FAR.DATA", "--from", data)
    assert code == 0, err
    with Volume.open(first) as vol:
        ext = vol.vtoc.get("FAR.DATA").extents[0]
        assert ext.begin[0] >= last_start == (nfiles - 1) * per_file
        assert cylinders == vol.geometry.cylinders
    hdr = read_header(tmp_path / f"big_{NAMES[nfiles - 1]}.ckd")
    assert (hdr.fileseq, hdr.highcyl) == (nfiles, 0)

    # Hercules opens every file by its name: the listing, and data from the last file
    code, out, err = cli("volume", "ls", "--dasdls", first)
    assert code == 0, err
    assert out == herc.dasdls_info(first, tmp_path)
    assert "FAR.DATA" in out
    assert herc.dasdseq(first, "FAR.DATA", tmp_path) == data.read_bytes()
    # as with the Hercules utilities, the name without the suffix opens the volume too
    code, out2, err = cli("volume", "ls", "--dasdls", img)
    assert code == 0, err
    assert out2.splitlines()[1:] == out.splitlines()[1:]
    assert herc.dasdls_info(img, tmp_path).splitlines()[1:] == out.splitlines()[1:]


@pytest.mark.slow
@pytest.mark.huge
def test_hercules_split_3390_27_opens_in_dasdlab(herc, tmp_path):
    """dasdcopy writes a 3390-27 as 14 dense files (28 GB, over a minute)."""
    if shutil.disk_usage(tmp_path).free < 32 * 2**30:
        pytest.fail("this test needs 32 GiB of free disk for the 14 files dasdcopy writes")
    herc.run("dasdinit", "-z", tmp_path / "src.cckd", "3390-27", "HSP027", cwd=tmp_path)
    herc.run("dasdcopy", "src.cckd", "big.ckd", cwd=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("big"))
    assert names == sorted(f"big_{c}.ckd" for c in NAMES[:14])
    with Volume.open(tmp_path / "big_1.ckd") as vol:
        assert (vol.cylinders, len(vol.files), vol.geometry.name) == (32760, 14, "3390-27")
        assert vol.volser == "HSP027"
        assert vol.files[9].path.name == "big_A.ckd"
        for t in (vol.files[9].first_cyl * vol.heads, vol.ntracks - 1):
            cyl, head = divmod(t, vol.heads)
            img = vol.read_track(t)
            assert trackfmt.parse_track(img, expect=(cyl, head)) == []  # empty tracks
            f = next(f for f in vol.files if f.first_cyl <= cyl < f.first_cyl + f.cylinders)
            offset = 512 + (t - f.first_cyl * vol.heads) * vol.slot
            with open(f.path, "rb") as fh:
                fh.seek(offset)
                assert fh.read(vol.slot) == img.tobytes()
    for p in tmp_path.glob("big_*.ckd"):
        p.unlink()
