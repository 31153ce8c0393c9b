"""Units of work of several DL/I calls (issue 11 item 9): uncommitted changes reach DASD
at checkpoint and steal, a concurrent image copy then holds them, and still every
recovery -- full, to a point in time inside a unit of work, after a crash that left
one in flight -- equals the committed truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dasdlab.engine import database
from dasdlab.engine.bufferpool import read_dasd
from dasdlab.engine.damage import damage
from dasdlab.engine.errors import ImsError
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse
from dasdlab.engine.icverify import read_copy, verify_report
from dasdlab.engine.recon import Recon
from dasdlab.engine.recovery import recover
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.truth import Truth
from dasdlab.engine.uow import committed_through
from dasdlab.engine.verify import verify
from dasdlab.engine.workload import Workload, WorkloadSpec

ROOT = Path(__file__).resolve().parents[2]
PROFILE = get_profile("ds8000-ficon16").scaled(1000)
NAME, DDN = "HDAMDB01", "HDAMDD01"


def _site(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "DSA001", "3390-1")
    site.add_volume("DS8K1", "DSA002", "3390-1")
    database.define(site, ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")
    database.load(site, NAME, 2**20, seed=1, volser="DSA001")
    return site


def _content(site, ddn=DDN):
    d = database.ImsDatabase.open(site, NAME).ddn(ddn)
    return read_dasd(d.dataset(), np.arange(d.nblocks))


def _step_until_in_flight(wl):
    for _ in range(50):
        wl.step()
        if wl.odb.inflight is not None and (wl.odb.inflight["group"] == 0).any():
            return
    raise AssertionError("no unit of work in flight")


def _uncommitted_blocks(odb, truth, t, content):
    """Blocks of DDN whose content shows an in-flight change the truth at ``t`` lacks."""
    fl = odb.inflight
    m = fl["group"] == 0
    committed = truth.content_at(DDN, t=t)
    out = []
    for b, o, a in zip(fl["block"][m], fl["offset"][m], fl["after"][m]):
        w = a.size
        if np.array_equal(content[b, o:o + w], a) and not np.array_equal(committed[b, o:o + w], a):
            out.append(int(b))
    return out


def test_units_of_work_fuzzy_copy_holds_uncommitted_data_and_recovery_is_exact(tmp_path):
    site = _site(tmp_path)
    system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    system.start()
    try:
        wl = Workload(system, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=7, skew="zipf", zipf_s=0.8,
                                                 uow_calls=8))
        for _ in range(5):
            wl.step()
        _step_until_in_flight(wl)
        truth = Truth(site.path, NAME)
        t_in = system.now()
        first_inflight = int(wl.odb.inflight["seq"][0])
        system.checkpoint()  # every dirty buffer is written: uncommitted changes reach DASD
        on_dasd = _uncommitted_blocks(wl.odb, truth, t_in, _content(site))
        assert on_dasd
        (rep,) = ImageCopyEngine(site, system, PROFILE).run(parse(f"  CIC      DBD={NAME},DDN={DDN},ICOUT=*\n"))
        copy = read_copy(site, rep.outputs[0]["dsn"], "IMS", rep.blocks)
        assert _uncommitted_blocks(wl.odb, truth, t_in, copy)  # the copy holds uncommitted data
        assert all(c.differing == 0 for c in verify_report(site, rep))  # and checks against the committed truth
        _step_until_in_flight(wl)
        t_pit = system.now()  # a point in time inside a unit of work
        pit_inflight = int(wl.odb.inflight["seq"][0])
        for _ in range(4):
            wl.step()
        # at either point the unit of work in flight is not committed
        assert committed_through(site, system.recon, NAME, t_in) < first_inflight
        assert committed_through(site, system.recon, NAME, t_pit) < pit_inflight
        assert damage(site, NAME, DDN, blocks=6, seed=4).count == 6
        rep = recover(site, NAME, DDN, system=system, profile=PROFILE)
        assert rep.results[0].image_id is not None
        assert np.array_equal(_content(site), truth.content_at(DDN))
        rep = recover(site, NAME, DDN, to=t_pit, system=system, profile=PROFILE, image_copy=True)
        assert np.array_equal(_content(site), truth.content_at(DDN, t=t_pit))
        assert rep.results[0].compensated > 0
        for _ in range(3):  # updates go on; log, truth and DASD still agree
            wl.step()
    finally:
        system.shutdown()
    assert verify(site, NAME).ok


def test_a_unit_of_work_in_flight_at_a_crash_is_backed_out_at_restart(tmp_path):
    site = _site(tmp_path)
    dead = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    dead.start()
    wl = Workload(dead, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=9, uow_calls=16))
    for _ in range(4):
        wl.step()
    _step_until_in_flight(wl)
    truth = Truth(site.path, NAME)
    t_in = dead.now()
    dead.checkpoint()
    assert _uncommitted_blocks(wl.odb, truth, t_in, _content(site))
    n_inflight = int(wl.odb.inflight["seq"].size)
    dead.crash()
    recon = Recon.of_site(site.path)
    recon._db.execute("UPDATE logs SET pid=? WHERE status='OPEN'", (2**22 + 4321,))  # a pid no process has
    recon._db.execute("UPDATE auth SET pid=?", (2**22 + 4321,))
    assert verify(site, NAME).ok  # before the restart: DASD + log, the unit in flight backed out, is the truth
    system = ImsSystem(site)
    notes = system.start()
    assert any(f"backed out ({n_inflight} change records" in n for n in notes), notes
    for d in (DDN, "HDAMDD02"):  # DASD is the committed database again
        assert np.array_equal(_content(site, d), Truth(site.path, NAME).content_at(d))
    (rep,) = ImageCopyEngine(site, system, PROFILE).run(parse(f"  IC       DBD={NAME},DDN={DDN},ICOUT=*\n"))
    wl = Workload(system, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=10, uow_calls=16))
    for _ in range(3):
        wl.step()
    system.shutdown()
    recon.close()
    assert verify(site, NAME).ok


def test_uow_calls_is_checked():
    for bad in (0, -1, 1.5, True, 10_001):
        with pytest.raises(ImsError) as e:
            WorkloadSpec(uow_calls=bad).check()
        assert e.value.msgid == "DLB581E"
    WorkloadSpec(uow_calls=1).check()


def test_workload_cli_with_units_of_work_leaves_the_committed_database(tmp_path, capsys):
    from dasdlab.cli.main import run

    s = tmp_path / "site"
    for argv in (["site", "init", str(s)],
                 ["site", "add-volume", str(s), "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "40"],
                 ["db", "define", "--site", str(s), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(s), NAME, "--size", "1MiB"],
                 ["workload", "run", "--site", str(s), NAME, "--duration", "1s", "--buffers", "32",
                  "--uow-calls", "8"],
                 ["db", "verify", "--site", str(s), NAME]):
        assert run(argv) == 0, argv
    capsys.readouterr()
    assert run(["workload", "run", "--site", str(s), NAME, "--duration", "1s", "--uow-calls", "0"]) != 0
    assert "DLB581E" in capsys.readouterr().err
