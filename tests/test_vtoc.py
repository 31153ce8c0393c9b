"""VTOC: allocation, extents, Format-3/5 DSCBs, free space, delete and rename."""

import pytest

from dasdlab.emulator.volume import Volume
from dasdlab.emulator.vtoc import Vtoc
from dasdlab.errors import DatasetError, VtocError


def reread(vol) -> Vtoc:
    vol.flush()
    return Vtoc.read(Volume.open(vol.path))


def test_empty_vtoc(vol):
    vt = vol.vtoc
    assert vt.vtoc_tracks == (1, 15)
    assert vt.free == [(15, 16695)] and vt.free_source == "F5"
    assert len(vt.free_dscbs()) == 14 * 50 - 2
    assert vt.check() == []


def test_allocate_tracks_and_cylinders(vol):
    vt = vol.vtoc
    a = vt.allocate("A.TRK", lrecl=80, blksize=800, unit="TRK", primary=7)
    b = vt.allocate("A.CYL", lrecl=80, blksize=800, unit="CYL", primary=2)
    assert a.track_list(15) == [(15, 22)]
    assert b.track_list(15) == [(30, 60)]  # cylinder aligned
    assert b.extents[0].type == 0x81
    again = reread(vol)
    assert set(again.datasets) == {"A.TRK", "A.CYL"}
    assert again.free == [(22, 30), (60, 16695)] and again.free_source == "F5"
    assert again.check() == []


def test_secondary_extents_up_to_sixteen_with_format3(vol):
    vt = vol.vtoc
    vt.allocate("GROW.ME", lrecl=80, blksize=800, primary=1, secondary=1)
    blockers = []
    for i in range(16):  # interleave other data sets so every extent is separate
        vt.extend("GROW.ME") if i < 15 else None
        blockers.append(vt.allocate(f"BLOCK.B{i}", lrecl=80, blksize=800, primary=1))
    e = vt.get("GROW.ME")
    assert len(e.extents) == 16 and e.f3_addrs and e.f1.noepv == 16
    with pytest.raises(DatasetError) as err:
        vt.extend("GROW.ME")
    assert err.value.msgid == "DLB220E"
    again = reread(vol)
    assert len(again.get("GROW.ME").extents) == 16
    assert again.check() == []


def test_delete_returns_space_and_dscbs(vol):
    vt = vol.vtoc
    free0, dscbs0 = vt.free_tracks(), len(vt.free_dscbs())
    vt.allocate("X.ONE", lrecl=80, blksize=800, primary=40)
    vt.allocate("X.TWO", lrecl=80, blksize=800, primary=5)
    vt.delete("X.ONE")
    vt.delete("X.TWO")
    assert vt.free_tracks() == free0 and len(vt.free_dscbs()) == dscbs0
    again = reread(vol)
    assert again.datasets == {} and again.free == [(15, 16695)]


def test_errors(vol):
    vt = vol.vtoc
    vt.allocate("DUP.NAME", lrecl=80, blksize=800, primary=1)
    cases = [
        (dict(dsn="DUP.NAME", lrecl=80, blksize=800, primary=1), "DLB211E"),
        (dict(dsn="BAD..NAME", lrecl=80, blksize=800, primary=1), "DLB200E"),
        (dict(dsn="TOO.BIG", lrecl=80, blksize=800, unit="CYL", primary=1200), "DLB217E"),
        (dict(dsn="BAD.BLK", lrecl=80, blksize=810, primary=1), "DLB213E"),
        (dict(dsn="HUGE.BLK", lrecl=60000, blksize=60000, recfm="F", primary=1), "DLB214E"),
    ]
    for kw, msgid in cases:
        dsn = kw.pop("dsn")
        with pytest.raises((DatasetError, VtocError)) as e:
            vt.allocate(dsn, **kw)
        assert e.value.msgid == msgid, (dsn, e.value)


def test_full_vtoc(tmp_path):
    v = Volume.create(tmp_path / "v.ckd", "3390-1", "FULL01", vtoc_tracks=1)
    vt = v.vtoc
    n = len(vt.free_dscbs())
    for i in range(n):
        vt.allocate(f"F.D{i}", lrecl=80, blksize=800, primary=1)
    with pytest.raises(VtocError) as e:
        vt.allocate("F.ONEMORE", lrecl=80, blksize=800, primary=1)
    assert e.value.msgid == "DLB218E"


def test_rename(vol):
    vt = vol.vtoc
    vt.allocate("OLD.NAME", lrecl=80, blksize=800, primary=1)
    vt.rename("OLD.NAME", "NEW.NAME")
    assert "NEW.NAME" in reread(vol) and "OLD.NAME" not in reread(vol)


def test_interrupted_update_rebuilds_free_space(vol):
    vt = vol.vtoc
    vt.allocate("A.B", lrecl=80, blksize=800, primary=3)
    vt._begin_update()  # a crash after this leaves DS4DIRF set
    again = reread(vol)
    assert again.free_source == "rebuilt" and again.free == [(18, 16695)]


def test_large_volume_uses_rebuilt_free_space(tmp_path):
    v = Volume.create(tmp_path / "l.ckd", "3390-9", "LARGE1")
    vt = v.vtoc
    assert vt.free_source == "rebuilt"  # >65,535 tracks: F5 cannot hold relative track addresses
    vt.allocate("L.A", lrecl=80, blksize=800, unit="CYL", primary=10)
    again = reread(v)
    assert again.free_tracks() == v.ntracks - 15 - 150 and again.check() == []
