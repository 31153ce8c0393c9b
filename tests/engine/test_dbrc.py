"""DBRC recovery workflow: change accumulation (DFSUCUM0-like), GENJCL.RECOV plans,
NOTIFY.UIC / NOTIFY.RECOV / USEDBDS with copies made by the copy services -- each
recovery checked byte for byte against the committed truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import dsalloc
from dasdlab.engine import changeaccum, database, dbrc
from dasdlab.engine.bufferpool import read_dasd
from dasdlab.engine.damage import damage
from dasdlab.engine.errors import ImsError
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse
from dasdlab.engine.recovery import RecoveryError, execute, plan, recover, recovs
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.truth import Truth
from dasdlab.engine.workload import Workload, WorkloadSpec

ROOT = Path(__file__).resolve().parents[2]
PROFILE = get_profile("ds8000-ficon16").scaled(1000)


#: the copy service of each subsystem, and its volumes' prefix
SERVICES = {"flashcopy": ("DS8K1", "DSA"), "snapshot": ("RVA1", "RVA"), "timefinder": ("VMAX1", "SYM")}


class Lab:
    def __init__(self, path: Path, service: str = "flashcopy") -> None:
        from dasdlab.emulator.site import Site

        self.site = site = Site.init(path)
        sub, v = SERVICES[service]
        self.service, self.vol1, self.vol2 = service, v + "001", v + "002"
        site.add_volume(sub, self.vol1, "3390-1")
        site.add_volume(sub, self.vol2, "3390-1")
        database.define(site, ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")
        database.load(site, "HDAMDB01", 2**20, seed=1, volser=self.vol1)
        self.system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
        self.system.start()
        self.engine = ImageCopyEngine(site, self.system, PROFILE)
        self.wl = Workload(self.system, "HDAMDB01", WorkloadSpec(rate=2500, duration=1e9, seed=7, skew="zipf",
                                                                 zipf_s=0.8))
        self.truth = Truth(site.path, "HDAMDB01")

    def run(self, seconds: float) -> None:
        end = self.system.now() + seconds
        while self.system.now() < end - 1e-9:
            self.wl.step(min(self.wl.spec.slice, end - self.system.now()))

    def copy(self, text: str) -> list:
        reports = self.engine.run(parse(text, "test"))
        assert all(r.status == "ok" for r in reports), [r.message for r in reports]
        return reports

    def content(self, ddn: str) -> np.ndarray:
        d = database.ImsDatabase.open(self.site, "HDAMDB01").ddn(ddn)
        return read_dasd(d.dataset(), np.arange(d.nblocks))

    def switch(self) -> None:
        self.system.log.switch(self.system.now())


@pytest.fixture()
def lab(tmp_path):
    lab = Lab(tmp_path / "site")
    yield lab
    lab.system.shutdown()


def test_change_accumulation_then_recovery_equals_the_committed_truth(lab):
    """Image copy, then two change accumulation runs (the second reads the first as
    input), then more logs: recovery reads image copy + the newest CA + the logs after
    it, and gives the same bytes as the committed truth and as a recovery from the logs."""
    site, recon = lab.site, lab.system.recon
    recon.define_group("CAGRP", "CAG1", [("HDAMDB01", "HDAMDD01"), ("HDAMDB01", "HDAMDD02")])
    lab.run(0.5)
    lab.copy("  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=N\n")
    lab.run(0.6)
    lab.switch()
    with pytest.raises(ImsError) as e:
        changeaccum.accumulate(site, "NOSUCH", recon)
    assert e.value.msgid == "DLB630E"
    first = changeaccum.accumulate(site, "CAG1", recon)
    assert [m["records_in"] > m["records_out"] > 0 for m in first.members] == [True, True]
    with pytest.raises(ImsError) as e:  # no closed log since the first run
        changeaccum.accumulate(site, "CAG1", recon)
    assert e.value.msgid == "DLB631E"
    lab.run(0.6)
    lab.switch()
    second = changeaccum.accumulate(site, "CAG1", recon)
    assert second.stop_seq > first.stop_seq
    lab.run(0.4)  # changes after the CA, still in the open log
    assert damage(site, "HDAMDB01", None, blocks=6, seed=3).count == 6
    plans = plan(site, "HDAMDB01", recon=recon)
    assert all(p.ca is not None and p.ca["id"] == second.ca_id for p in plans)
    assert all(p.logs[0]["first_seq"] <= second.stop_seq + 1 for p in plans)
    rep = recover(site, "HDAMDB01", system=lab.system, profile=PROFILE)
    for res in rep.results:
        assert res.ca == second.dsn and res.ca_records > 0
        assert np.array_equal(lab.content(res.ddn), lab.truth.content_at(res.ddn))
    # the same recovery from the logs only
    rep2 = recover(site, "HDAMDB01", system=lab.system, profile=PROFILE, use_ca=False)
    assert all(r.ca is None and r.records > res.records for r, res in zip(rep2.results, rep.results))
    for d in ("HDAMDD01", "HDAMDD02"):
        assert np.array_equal(lab.content(d), lab.truth.content_at(d))


def test_change_accumulation_from_a_fuzzy_copy_keeps_the_purge_point(lab):
    """A concurrent copy of a busy database: the CA starts at the copy's purge point (a
    checkpoint back), so recovery from the fuzzy copy + CA is exact."""
    site, recon, sysm = lab.site, lab.system.recon, lab.system
    recon.define_group("CAGRP", "CAG1", [("HDAMDB01", "HDAMDD01")])
    lab.run(0.5)
    sysm.checkpoint()
    lab.run(0.3)  # dirty buffers when the copy reads
    (r,) = lab.copy("  CIC      DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=N\n")
    img = [i for i in recon.images("HDAMDB01", "HDAMDD01") if i["id"] == r.image_id][0]
    assert img["type"] in ("CONCUR", "SMSCIC") and img["purge_seq"] < r.run_seq
    lab.run(0.5)
    lab.switch()
    ca = changeaccum.accumulate(site, "CAG1", recon)
    assert ca.members[0]["from_seq"] == img["purge_seq"] + 1
    lab.run(0.2)
    assert damage(site, "HDAMDB01", "HDAMDD01", blocks=4, seed=5).count == 4
    rep = recover(site, "HDAMDB01", "HDAMDD01", system=sysm, profile=PROFILE)
    assert rep.results[0].ca == ca.dsn
    assert np.array_equal(lab.content("HDAMDD01"), lab.truth.content_at("HDAMDD01"))


def test_genjcl_recov_lists_the_image_copy_the_ca_and_the_logs_in_order(lab):
    site, recon, sysm = lab.site, lab.system.recon, lab.system
    recon.define_group("CAGRP", "CAG1", [("HDAMDB01", "HDAMDD01")])
    recon.define_group("DBDSGRP", "ALL1", [("HDAMDB01", "HDAMDD01"), ("HDAMDB01", "HDAMDD02")])
    lab.run(0.3)
    (r1, r2) = lab.copy("  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=N\n")
    lab.run(0.4)
    lab.switch()
    ca = changeaccum.accumulate(site, "CAG1", recon)
    lab.run(0.3)
    lab.switch()
    lab.run(0.2)
    job = dbrc.genjcl_recov(site, group="ALL1", recon=recon)
    s1, s2 = job.steps
    assert (s1.ddn, s2.ddn) == ("HDAMDD01", "HDAMDD02")
    assert s1.image["id"] == r1.image_id and s2.image["id"] == r2.image_id
    assert s1.ca["dsn"] == ca.dsn and s2.ca is None  # HDAMDD02 is not in the CA group
    assert s1.logs[0]["first_seq"] <= ca.stop_seq + 1 <= (s1.logs[0]["last_seq"] or 1 << 62)
    assert s2.logs[0]["first_seq"] <= s2.from_seq
    seqs = [lg["first_seq"] for lg in s2.logs]
    assert seqs == sorted(seqs) and s2.logs[-1]["last_seq"] is None  # the open log last
    lines = job.jcl.splitlines()
    i_dump, i_cum, i_log = (next(i for i, x in enumerate(lines) if x.startswith(dd)) for dd in
                            ("//DFSUDUMP", "//DFSUCUM", "//DFSULOG"))
    assert i_dump < i_cum < i_log
    assert f"DSN={ca.dsn}" in lines[i_cum]
    stmt = next(x for x in lines if x.startswith("S  "))
    assert stmt[3:11].strip() == "HDAMDB01" and stmt[12:20].strip() == "HDAMDD01"
    # a time stamp recovery of the whole database plans both DBDSs to the same time
    t = sysm.now() - 0.1
    job = dbrc.genjcl_recov(site, "HDAMDB01", to=t, recon=recon, now=sysm.now())
    assert [s.to_time for s in job.steps] == [t, t] and all(s.ca is None for s in job.steps) == (ca.stop_time > t)
    for bad in ({"dbd": "HDAMDB01", "group": "ALL1"}, {"group": "ALL1", "ddn": "HDAMDD01"}, {}):
        with pytest.raises(ImsError) as e:
            dbrc.genjcl_recov(site, recon=recon, **bad)
        assert e.value.msgid == "DLB636E"
    with pytest.raises(RecoveryError) as e:
        dbrc.genjcl_recov(site, "HDAMDB01", to=sysm.now() + 50, recon=recon, now=sysm.now())
    assert e.value.msgid == "DLB666E"


def test_groups_in_recon_refuse_bad_definitions(lab):
    recon = lab.system.recon
    recon.define_group("CAGRP", "CAG1", [("HDAMDB01", "HDAMDD01")])
    for kind, name, members in (("CAGRP", "CAG2", [("HDAMDB01", "HDAMDD01")]),  # already in CAG1
                                ("DBDSGRP", "CAG1", [("HDAMDB01", "HDAMDD02")]),  # name taken
                                ("DBDSGRP", "G1", [("HDAMDB01", "NOSUCH")]),
                                ("DBDSGRP", "TOOLONGNAME", [("HDAMDB01", "HDAMDD01")]),
                                ("DBDSGRP", "G2", []),
                                ("DBDSGRP", "G3", [("HDAMDB01", "HDAMDD01")] * 2)):
        with pytest.raises(ImsError) as e:
            recon.define_group(kind, name, members)
        assert e.value.msgid == "DLB630E"
    recon.define_group("DBDSGRP", "G4", [("HDAMDB01", "HDAMDD01")])  # a DBDS may be in many DBDS groups
    assert [g["name"] for g in recon.groups()] == ["CAG1", "G4"]
    assert recon.group("CAG1")["members"] == [("HDAMDB01", "HDAMDD01")]


def _user_copy(lab, ddn: str, dsn: str):
    """A data-set-level copy of the DBDS onto a new data set on the second volume by
    the subsystem's copy service (as 'dasdlab flashcopy establish --dataset', 'snap
    dataset' or 'clone create' make), run to its end."""
    site = lab.site
    d = database.ImsDatabase.open(site, "HDAMDB01").ddn(ddn)
    src = site.volume(lab.vol1)
    entry = src.vtoc.get(d.dsn)
    tgt = site.volume(lab.vol2)
    dsalloc.allocate_like(tgt, dsn, entry.f1, entry.tracks(src.heads), tgt.heads)
    _copy(site, lab.service, lab.vol1, d.dsn, lab.vol2, dsn)


def _copy(site, service, svol, sdsn, tvol, tdsn):
    svc = site.subsystem_of(svol).service(service)
    s, t = site.volume(svol), site.volume(tvol)
    sr, tr = s.vtoc.get(sdsn).track_list(s.heads), t.vtoc.get(tdsn).track_list(t.heads)
    if service == "flashcopy":
        rel = svc.establish(svol, tvol, src_runs=sr, dst_runs=tr, mode="COPY")
        svc.drain(rel.id)
        svc.withdraw(rel.id)
    elif service == "snapshot":
        svc.release(svc.snap(svol, tvol, sr, tr)["id"])
    else:
        sess = svc.create(svol, tvol, src_runs=sr, dst_runs=tr, mode="COPY")
        svc.activate(sess.id)
        svc.drain(sess.id)
        svc.terminate(sess.id)


@pytest.mark.parametrize("kind, service", [("batch", "flashcopy"), ("batch", "snapshot"), ("batch", "timefinder"),
                                           ("concurrent", "flashcopy"), ("concurrent", "timefinder")])
def test_user_image_copy_notify_recov_and_usedbds_recovery_equals_the_truth(tmp_path, kind, service):
    """A FlashCopy of the data set registered with NOTIFY.UIC (batch: database stopped;
    concurrent: online with dirty buffers), more updates, a media failure, the user's
    own restore (FlashCopy back), NOTIFY.RECOV, then a USEDBDS recovery: equals the
    committed content."""
    lab = Lab(tmp_path / "site", service)
    try:
        _uic_round_trip(lab, kind)
    finally:
        lab.system.shutdown()


def _uic_round_trip(lab, kind):
    site, recon, sysm = lab.site, lab.system.recon, lab.system
    ddn, dsn = "HDAMDD01", "USER.HDAMDB01.UIC1"
    d = database.ImsDatabase.open(site, "HDAMDB01").ddn(ddn)
    lab.run(0.5)
    if kind == "batch":
        sysm.stop("HDAMDB01")  # /DBR: buffers written, ALLOC closed
        _user_copy(lab, ddn, dsn)
        with pytest.raises(ImsError) as e:  # the copy is not catalogued: its volume is named
            dbrc.notify_uic(site, "HDAMDB01", ddn, dsn, recon=recon)
        assert e.value.msgid == "DLB633E"
        uic = dbrc.notify_uic(site, "HDAMDB01", ddn, dsn, volser=lab.vol2, run_time=sysm.now(), recon=recon)
        assert uic["type"] == "UICBATCH" and uic["purge_time"] == uic["run_time"]
        sysm.start_db("HDAMDB01")
    else:
        sysm.checkpoint()
        lab.run(0.3)
        assert sysm.dbs["HDAMDB01"].pools[d.index].dirty_blocks()[0].size  # DASD lags the log
        t = sysm.now()
        _user_copy(lab, ddn, dsn)
        with pytest.raises(ImsError) as e:  # allocated for update: not a batch copy
            dbrc.notify_uic(site, "HDAMDB01", ddn, dsn, volser=lab.vol2, run_time=t, recon=recon, now=t)
        assert e.value.msgid == "DLB633E" and "concurrent" in e.value.text
        uic = dbrc.notify_uic(site, "HDAMDB01", ddn, dsn, volser=lab.vol2, run_time=t, stop_time=t,
                              concurrent=True, recon=recon, now=t)
        assert uic["type"] == "UICCIC" and uic["purge_time"] < t
    # DBRC never restores a user image copy itself
    with pytest.raises(RecoveryError) as e:
        plan(site, "HDAMDB01", ddn, recon=recon)
    assert e.value.msgid == "DLB662E"
    lab.run(0.6)
    with pytest.raises(ImsError) as e:  # USEDBDS before the restore is recorded
        recover(site, "HDAMDB01", ddn, system=sysm, profile=PROFILE, usedbds=True)
    assert e.value.msgid == "DLB635E"
    sysm.stop("HDAMDB01")
    damage(site, "HDAMDB01", ddn, blocks=5, seed=2)
    _copy(site, lab.service, lab.vol2, dsn, lab.vol1, d.dsn)  # the user's restore
    rec = dbrc.notify_recov(site, "HDAMDB01", ddn, recon=recon, now=sysm.now())
    assert rec["image_id"] == uic["id"] and any(x["recov"] for x in recon.dbds("HDAMDB01"))
    job = dbrc.genjcl_recov(site, "HDAMDB01", ddn, usedbds=True, recon=recon, now=sysm.now())
    assert "//DFSUDUMP DD DUMMY" in job.jcl and "USEDBDS" in job.jcl
    if kind == "concurrent":  # from the copy's own log position, updates still in buffers are lost
        (p,) = plan(site, "HDAMDB01", ddn, recon=recon, now=sysm.now(), usedbds=True)
        assert p.from_seq == uic["purge_seq"] + 1
        execute(site, sysm, [dataclasses.replace(p, from_seq=dbrc._seq_at(site, recon, uic["run_time"]) + 1)],
                "HDAMDB01", profile=PROFILE, record=False)
        assert not np.array_equal(lab.content(ddn), lab.truth.content_at(ddn))
        _copy(site, lab.service, lab.vol2, dsn, lab.vol1, d.dsn)  # restore again
    rep = recover(site, "HDAMDB01", ddn, system=sysm, profile=PROFILE, usedbds=True)
    (res,) = rep.results
    assert res.method == "usedbds" and res.image_id == uic["id"] and res.records > 0
    assert np.array_equal(lab.content(ddn), lab.truth.content_at(ddn))
    assert not any(x["recov"] for x in recon.dbds("HDAMDB01"))
    assert recovs(site, "HDAMDB01")[-1]["extra"].get("kind") != "NOTIFY.RECOV"
    with pytest.raises(ImsError) as e:  # a second USEDBDS needs a new NOTIFY.RECOV
        recover(site, "HDAMDB01", ddn, system=sysm, profile=PROFILE, usedbds=True)
    assert e.value.msgid == "DLB635E"


def test_notify_uic_refuses_bad_input(lab):
    site, recon, sysm = lab.site, lab.system.recon, lab.system
    ddn = "HDAMDD01"
    d = database.ImsDatabase.open(site, "HDAMDB01").ddn(ddn)
    cases = [dict(dsn="NO.SUCH.DS", volser=lab.vol2), dict(dsn=d.dsn, volser="DSA001"),
             dict(dsn=d.dsn, run_time=sysm.now() + 10), dict(dsn=d.dsn, volser="NOVOL"),
             dict(dsn=d.dsn, volser=lab.vol1, stop_time=1.0)]
    n = len(recon.images())
    for c in cases:
        with pytest.raises(ImsError) as e:
            dbrc.notify_uic(site, "HDAMDB01", ddn, recon=recon, **c)
        assert e.value.msgid == "DLB633E", c
    with pytest.raises(ImsError) as e:
        dbrc.notify_recov(site, "HDAMDB01", ddn, recon=recon)
    assert e.value.msgid == "DLB634E"
    assert len(recon.images()) == n
