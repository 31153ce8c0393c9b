"""HP Image Copy rules of issue 11 item 11, each test named after its rule: GROUP
statements over RECON's CA and DBDS groups, REGTIMESTMP and DBALL (one time stamp
across databases), ICOUT with up to seven copies and %NO, and FASTIC's third operand --
copies checked against the truth at their registered point in time."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasdlab.engine import database
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse
from dasdlab.engine.icverify import verify_report
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.workload import Workload, WorkloadSpec
from dasdlab.errors import DasdlabError, ParseError

ROOT = Path(__file__).resolve().parents[2]
PROFILE = get_profile("ds8000-ficon16").scaled(1000)


def _dbd(tmp: Path, name: str, lchild: str | None = None) -> Path:
    """A copy of HDAMDB01's DBD named ``name`` (with an LCHILD statement)."""
    text = (ROOT / "fixtures" / "dbd" / "hdamdb01.dbd").read_text().replace("HDAMDB01", name)
    if lchild:
        text = text.replace("         SEGM  NAME=ORDER", f"         LCHILD {lchild}\n         SEGM  NAME=ORDER", 1)
    p = tmp / f"{name.lower()}.dbd"
    p.write_text(text)
    return p


@pytest.fixture()
def lab(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    for v in ("DSA001", "DSA002", "DSA003"):
        site.add_volume("DS8K1", v, "3390-1")
    defs = {"HDAMDB01": None, "RELDB001": "NAME=(CUSTOMER,HDAMDB01),PTR=DBLE",
            "HDAMIX01": None, "MAINDB01": "NAME=(CUSTOMER,HDAMIX01),PTR=INDX"}
    for i, (name, lchild) in enumerate(defs.items()):
        database.define(site, ROOT / "fixtures" / "dbd" / "hdamdb01.dbd" if name == "HDAMDB01"
                        else _dbd(tmp_path, name, lchild))
        database.load(site, name, 2**19, seed=i + 1, volser="DSA001")
    system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    system.start()
    for i, name in enumerate(defs):  # updates, so DASD lags and the truth moves
        wl = Workload(system, name, WorkloadSpec(rate=2000, duration=1e9, seed=i + 3))
        for _ in range(3):
            wl.step(wl.spec.slice)
    yield site, system, ImageCopyEngine(site, system, PROFILE)
    system.shutdown()


def _run(engine, text: str):
    reports = engine.run(parse(text, "test"))
    assert all(r.status == "ok" for r in reports), [r.message for r in reports]
    for r in reports:  # every copy equals the database at its registered point in time
        assert all(c.differing == 0 for c in verify_report(engine.site, r)), r
    return reports


def test_group_statement_copies_every_member_of_a_ca_group_or_a_dbds_group(lab):
    site, system, engine = lab
    recon = system.recon
    recon.define_group("CAGRP", "CAG1", [("HDAMDB01", "HDAMDD02"), ("RELDB001", "HDAMDD01")])
    recon.define_group("DBDSGRP", "DG1", [("HDAMIX01", "HDAMDD01"), ("HDAMIX01", "HDAMDD02")])
    reps = _run(engine, "  GROUP    FUNC=AIC,CAGRP=CAG1,ICOUT=*\n  GROUP    FUNC=IC,DBDSGRP=DG1,ICOUT=*,FASTIC=N\n")
    assert [(r.dbd, r.ddn, r.kind) for r in reps] == [("HDAMDB01", "HDAMDD02", "AIC"), ("RELDB001", "HDAMDD01", "AIC"),
                                                      ("HDAMIX01", "HDAMDD01", "IC"), ("HDAMIX01", "HDAMDD02", "IC")]
    assert all(r.image_id is not None for r in reps)
    # AIC: the group's members run in parallel, so both start at the job's start
    assert reps[0].started == reps[1].started
    with pytest.raises(DasdlabError) as e:
        engine.run(parse("  GROUP    FUNC=IC,CAGRP=DG1,ICOUT=*\n", "test"))  # DG1 is no CA group
    assert e.value.msgid == "DLB630E"


@pytest.mark.parametrize("mode", ["SAME", "DIFFER"])
def test_regtimestmp_same_registers_one_time_stamp_for_all_fdump_copies(lab, mode):
    site, system, engine = lab
    text = (f"  GLOBAL   REGTIMESTMP={mode},FASTIC=(REQ,FDUMP)\n"
            "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*\n"
            "  IC       DBD=RELDB001,DDN=HDAMDD01,ICOUT=*\n"
            "  IC       DBD=HDAMIX01,DDN=HDAMDD01,ICOUT=*,FASTIC=N\n")  # not FDUMP: its own time
    a, b, c = _run(engine, text)
    img = {r.dbd: next(i for i in system.recon.images(r.dbd, r.ddn) if i["id"] == r.image_id) for r in (a, b, c)}
    if mode == "SAME":
        assert img["HDAMDB01"]["run_time"] == img["RELDB001"]["run_time"] < b.logical
        assert a.run_seq == b.run_seq
        # RELDB001 was held from the job's start, not only from its own copy's start
        assert b.hold_start < a.logical and b.hold_start <= a.hold_start + PROFILE.db_stop_s + 1e-9
    else:
        assert img["HDAMDB01"]["run_time"] < img["RELDB001"]["run_time"]
        assert b.hold_start >= a.hold_end
    assert img["HDAMIX01"]["run_time"] > img["RELDB001"]["run_time"]
    assert all(system.dbs[n].state == "ONLINE" for n in ("HDAMDB01", "RELDB001", "HDAMIX01"))


def test_dball_copies_the_logical_group_and_xidx_leaves_index_databases_out(lab):
    site, system, engine = lab
    reps = _run(engine, "  GLOBAL   DBALL=Y\n  IC       DBD=RELDB001,ICOUT=*\n  IC       DBD=MAINDB01,ICOUT=*\n")
    assert sorted({r.dbd for r in reps}) == ["HDAMDB01", "HDAMIX01", "MAINDB01", "RELDB001"]
    reps = _run(engine, "  GLOBAL   DBALL=XIDX\n  IC       DBD=RELDB001,ICOUT=*\n  IC       DBD=MAINDB01,ICOUT=*\n")
    assert sorted({r.dbd for r in reps}) == ["HDAMDB01", "MAINDB01", "RELDB001"]  # PTR=INDX left out


def test_dball_second_operand_y_gives_the_logical_group_one_time_stamp(lab):
    site, system, engine = lab
    reps = _run(engine, "  GLOBAL   DBALL=(Y,Y),FASTIC=(REQ,FDUMP)\n  IC       DBD=RELDB001,ICOUT=*\n")
    assert sorted({r.dbd for r in reps}) == ["HDAMDB01", "RELDB001"] and len(reps) == 4
    times = {next(i for i in system.recon.images(r.dbd, r.ddn) if i["id"] == r.image_id)["run_time"] for r in reps}
    assert len(times) == 1
    reps = _run(engine, "  GLOBAL   DBALL=(Y,N),FASTIC=(REQ,FDUMP)\n  IC       DBD=RELDB001,ICOUT=*\n")
    times = {next(i for i in system.recon.images(r.dbd, r.ddn) if i["id"] == r.image_id)["run_time"] for r in reps}
    assert len(times) == 4


def test_icout_writes_up_to_seven_copies_and_registers_ic1_and_ic2(lab):
    site, system, engine = lab
    (r,) = _run(engine, "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=(*,*,*,*,*,*,*),FASTIC=N\n")
    assert [o["copy"] for o in r.outputs] == [1, 2, 3, 4, 5, 6, 7]
    assert len({o["dsn"] for o in r.outputs}) == 7 and all(site.catalog.find(o["dsn"]) for o in r.outputs)
    img = next(i for i in system.recon.images("HDAMDB01", "HDAMDD01") if i["id"] == r.image_id)
    assert (img["ic1_dsn"], img["ic2_dsn"]) == (r.outputs[0]["dsn"], r.outputs[1]["dsn"])
    with pytest.raises(ParseError) as e:
        parse("  IC       DBD=HDAMDB01,ICOUT=(*,*,*,*,*,*,*,*)\n")
    assert e.value.msgid == "DLB566E"


def test_icout_no_reads_the_data_set_and_writes_and_registers_nothing(lab):
    site, system, engine = lab
    before = len(system.recon.images())
    (r,) = _run(engine, "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=%NO,FASTIC=N\n")
    assert r.outputs == [] and r.image_id is None and r.tracks > 0
    assert r.hold_start is not None and r.hold_end is not None  # the HASH check reads it held
    assert len(system.recon.images()) == before
    with pytest.raises(ParseError) as e:
        parse("  IC       DBD=HDAMDB01,ICOUT=%NO,FASTIC=(REQ,COPY)\n")
    assert e.value.msgid == "DLB566E"


def test_fastic_third_operand_fctopprcp_is_checked_and_changes_no_copy(lab):
    site, system, engine = lab
    st = parse("  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,\n"
               "           FASTIC=(REQ,COPY,FCTOPPRCP(PRESMIRREQ))\n").statements[0]
    assert st.options.fastic == ("REQ", "COPY") and st.options.fctopprcp == "FCTOPPRCP(PRESMIRREQ)"
    (r,) = _run(engine, st.text + "\n")
    assert r.process == "copy-flashcopy" and r.recon_type == "SMSOFFLC"
    for bad in ("FASTIC=(REQ,COPY,FCWAIT)", "FASTIC=(REQ,COPY,FCTOPPRCP(MAYBE))"):
        with pytest.raises(ParseError) as e:
            parse(f"  IC       DBD=HDAMDB01,ICOUT=*,{bad}\n")
        assert e.value.msgid == "DLB567E"
    assert parse("  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=(PREF,FDUMP,FCTOPPRCP)\n").statements[0].options.fctopprcp
