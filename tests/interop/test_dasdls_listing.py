"""``volume ls`` against ``dasdls -info`` for DSCB field values dasdlab itself never
writes: every DSORG, RECFM and secondary-allocation form a real VTOC may hold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop

# (DSORG, RECFM, LRECL, BLKSIZE, DS1SCALO, secondary quantity)
VALUES = [
    (0x8000, 0x90, 80, 800, 0x80, 1),  # IS
    (0x0000, 0x90, 80, 800, 0x80, 1),  # DSORG 0
    (0x4100, 0x90, 80, 800, 0x80, 1),  # PSU
    (0x0300, 0x90, 80, 800, 0x80, 1),  # POU
    (0x2100, 0x90, 80, 800, 0x80, 1),  # DAU
    (0x8100, 0x90, 80, 800, 0x80, 1),  # ISU
    (0x0100, 0x90, 80, 800, 0x80, 1),  # U alone
    (0x4008, 0x90, 80, 800, 0x80, 1),  # PS and VSAM
    (0x0008, 0x90, 80, 800, 0x80, 1),  # VS
    (0x0108, 0x90, 80, 800, 0x80, 1),  # VSU
    (0x8008, 0x90, 80, 800, 0x80, 1),
    (0x0001, 0x90, 80, 800, 0x80, 1),
    (0x0080, 0x90, 80, 800, 0x80, 1),
    (0x1000, 0x90, 80, 800, 0x80, 1),  # CX
    (0xC000, 0x90, 80, 800, 0x80, 1),  # IS and PS
    (0x4200, 0x90, 80, 800, 0x80, 1),  # PS and PO
    (0x6000, 0x90, 80, 800, 0x80, 1),
    (0x0400, 0x90, 80, 800, 0x80, 1),
    (0x4000, 0x00, 80, 800, 0x80, 1),  # RECFM 0 = U
    (0x4000, 0xC0, 0, 6144, 0x80, 1),  # U, LRECL 0
    (0x4000, 0x96, 80, 800, 0x80, 1),  # FB with A and M
    (0x4000, 0x54, 137, 6144, 0x80, 1),  # VBA
    (0x4000, 0x58, 32756, 6144, 0x80, 1),  # VBS
    (0x4000, 0x98, 80, 800, 0x80, 1),  # FBS
    (0x4000, 0xC4, 0, 800, 0x80, 1),  # UA
    (0x4000, 0xA0, 80, 800, 0x80, 1),  # FT
    (0x4000, 0xB8, 80, 800, 0x80, 1),  # FBST
    (0x4000, 0x42, 80, 800, 0x80, 1),  # VM
    (0x4000, 0x01, 80, 800, 0x80, 1),
    (0x4000, 0x91, 80, 800, 0x80, 1),
    (0x4000, 0x10, 80, 800, 0x80, 1),
    (0x4000, 0x06, 80, 800, 0x80, 1),
    (0x4000, 0xD6, 80, 800, 0x80, 1),
    (0x4000, 0x90, 0, 800, 0x80, 1),  # LRECL 0
    (0x4000, 0x90, 65535, 65535, 0x80, 1),
    (0x4000, 0x90, 80, 800, 0x40, 5),  # BLK
    (0x4000, 0x90, 80, 800, 0x00, 7),  # ABSTR
    (0x4000, 0x90, 80, 800, 0xC0, 2),  # CYL
    (0x4000, 0x90, 80, 800, 0x41, 2),
    (0x4000, 0x90, 80, 800, 0x84, 2),
    (0x4000, 0x90, 80, 800, 0xC8, 2),
    (0x4000, 0x90, 80, 800, 0x08, 2),
    (0x4000, 0x90, 80, 800, 0x80, 12345678),  # an 8-digit quantity
    (0x4000, 0x90, 80, 800, 0x80, 0),
    (0x4000, 0x90, 80, 800, 0x40, 0),
]


def test_volume_ls_equals_dasdls_info_for_real_dscb_values(herc, cli, tmp_path):
    img = tmp_path / "v.ckd"
    with Volume.create(img, "3390-1", "LS0001", cylinders=20) as vol:
        vt = vol.vtoc
        names = [f"DS{i:02d}.X{d:04X}.R{r:02X}.S{s:02X}" for i, (d, r, _, _, s, _) in enumerate(VALUES)]
        for dsn in names:
            vt.allocate(dsn, lrecl=80, blksize=800, primary=1)
        for dsn, (dsorg, recfm, lrecl, blksize, scalo, sec) in zip(names, VALUES):
            e = vt.get(dsn)
            e.f1 = replace(e.f1, dsorg=dsorg, recfm=recfm, lrecl=lrecl, blksize=blksize,
                           scalo_unit=scalo, secondary=sec)
            vt._write_dscb(e.f1_addr, e.f1.pack())
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert code == 0, err
    herc_out = herc.dasdls_info(img, tmp_path)
    assert out.splitlines() == herc_out.splitlines()
    assert out == herc_out
    # a few of the forms, spelled out, so that a change in both is noticed too
    got = {line.split()[0]: line[51:] for line in out.splitlines()[1:]}
    assert got[names[0]].startswith("    FB ")
    assert got[names[2]].startswith("PSU FB ")
    assert got[names[5]].startswith("  U FB ")
    assert got[names[7]].startswith("??  FB ")
    assert got[names[18]].startswith("PS  U        80")
    assert got[names[19]].startswith("PS  U            6144")
    assert got[names[20]].startswith("PS  FB?")
    assert got[names[35]].endswith("BLK       5")
    assert got[names[36]].endswith("ABSTR      ")
    assert got[names[42]].endswith("TRK12345678")
