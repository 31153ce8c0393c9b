"""Recovery: every kind of image copy, taken on an idle and on a busy database, then a
media failure, a full recovery and a point-in-time recovery -- each recovered data set
byte for byte against the truth at the recovery point; the purge-time rule for fuzzy
copies shown to be needed; refusals with message ids."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from dasdlab.engine import database
from dasdlab.engine.bufferpool import read_dasd
from dasdlab.engine.damage import damage
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse_file
from dasdlab.engine.icverify import check_copy, read_copy
from dasdlab.engine.recon import FUZZY_TYPES
from dasdlab.engine.recovery import RecoveryError, execute, plan, recover, recovs
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.truth import Truth
from dasdlab.engine.workload import Workload, WorkloadSpec

ROOT = Path(__file__).resolve().parents[2]
ICEIN = ROOT / "fixtures" / "icein"
#: a 1 MiB database standing for 1 GiB: copies last long enough (modeled) for the
#: workload to run many slices while they do
PROFILE = get_profile("ds8000-ficon16").scaled(1000)


class Ims:
    """A site with HDAMDB01 (DS8K1), HDAMDB02 (RVA1), HDAMDB03 (VMAX1), one online IMS
    with small buffer pools (so DASD lags the committed content) and a workload per
    database."""

    def __init__(self, path: Path) -> None:
        from dasdlab.emulator.site import Site

        self.site = site = Site.init(path)
        for sub, v in (("DS8K1", "DSA"), ("RVA1", "RVA"), ("VMAX1", "SYM")):
            site.add_volume(sub, v + "001", "3390-1")
            site.add_volume(sub, v + "002", "3390-1")
        for n, v in (("01", "DSA001"), ("02", "RVA001"), ("03", "SYM001")):
            database.define(site, ROOT / "fixtures" / "dbd" / f"hdamdb{n}.dbd")
            database.load(site, f"HDAMDB{n}", 2**20, seed=int(n), volser=v)
        self.system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
        self.system.start()
        self.engine = ImageCopyEngine(site, self.system, PROFILE)
        self.workloads: dict[str, Workload] = {}

    def workload(self, name: str) -> Workload:
        if name not in self.workloads:
            self.workloads[name] = Workload(self.system, name, WorkloadSpec(
                rate=2500, duration=1e9, seed=len(self.workloads) + 7, skew="zipf", zipf_s=0.8))
        return self.workloads[name]

    def run_workload(self, name: str, seconds: float) -> None:
        wl = self.workload(name)
        end = self.system.now() + seconds
        while self.system.now() < end - 1e-9:
            wl.step(min(wl.spec.slice, end - self.system.now()))

    def copy(self, kind: str, busy: bool, on_start=None, engine: ImageCopyEngine | None = None):
        """Run the fixture's statement; with ``busy`` the workload runs in the same
        loop, each slice ending where the copy has its next step.  Groups run one after
        the other, as one HP-IC task does."""
        st = parse_file(ICEIN / f"{kind}.icein").statements[0]
        wl = self.workload(st.dbd) if busy else None
        runs = (engine or self.engine).start(st)
        for r in runs:
            r.start_time = r.next_time = self.system.now()
            if on_start is not None:
                on_start(r)
            while not r.done:
                now = self.system.now()
                if r.next_time <= now + 1e-12:
                    r.advance(now)
                elif wl is not None:
                    wl.step(min(wl.spec.slice, r.next_time - now))
                else:
                    self.system.advance(r.next_time)
        assert all(r.report.status == "ok" for r in runs), [r.report.message for r in runs]
        return st, runs

    def content(self, name: str, ddn: str) -> np.ndarray:
        d = database.ImsDatabase.open(self.site, name).ddn(ddn)
        return read_dasd(d.dataset(), np.arange(d.nblocks))


@pytest.fixture(scope="module")
def ims(tmp_path_factory):
    ims = Ims(tmp_path_factory.mktemp("recovery") / "site")
    yield ims
    ims.system.shutdown()


KINDS = ["standard", "standard-quiesce", "cic", "compressed", "dump-cc", "dump-vcc", "fdump", "copy-flashcopy",
         "copy-snapshot", "copy-timefinder", "pref-fallback"]
METHOD = {"copy-flashcopy": "flashcopy", "copy-snapshot": "snapshot", "copy-timefinder": "timefinder"}


@pytest.mark.parametrize("load", ["idle", "busy"])
@pytest.mark.parametrize("kind", KINDS)
def test_copy_then_full_and_point_in_time_recovery(ims, kind, load):
    busy = load == "busy"
    site, system = ims.site, ims.system
    if busy:
        ims.run_workload(parse_file(ICEIN / f"{kind}.icein").statements[0].dbd, 1.0)  # dirty buffers
    st, runs = ims.copy(kind, busy)
    name = st.dbd
    truth = Truth(site.path, name)
    for r in runs:
        rep = r.report
        img = [i for i in system.recon.images(name, rep.ddn) if i["id"] == rep.image_id][0]
        clean = img["type"] not in FUZZY_TYPES
        assert clean == (kind != "cic")
        if clean:  # a clean copy equals the database at its point in time (logical completion)
            blocks = read_copy(site, rep.outputs[0]["dsn"], rep.outputs[0]["format"], rep.blocks)
            assert check_copy(site, truth, rep.ddn, blocks, rep.run_seq, clean=True).differing == 0
        # a recovery to a time while the copy ran: a clean copy serves from its run time,
        # a fuzzy one only once it has stopped
        mid = (img["run_time"] + img["stop_time"]) / 2
        try:
            chosen = plan(site, name, rep.ddn, to=mid, recon=system.recon, now=system.now())[0].image["id"]
        except RecoveryError as e:
            assert e.msgid == "DLB662E" and not clean
            chosen = None
        assert (chosen == img["id"]) == clean
    ims.run_workload(name, 0.6)
    t_mid = system.now()
    ims.run_workload(name, 0.6)
    ddns = [r.report.ddn for r in runs]
    hit = damage(site, name, ddns[0] if len(ddns) == 1 else None, blocks=5, seed=len(kind))
    assert hit.count == 5
    # full recovery: every copied DBDS equals the committed content now
    rep = recover(site, name, ddns[0] if len(ddns) == 1 else None, system=system, profile=PROFILE)
    assert [x.ddn for x in rep.results] == ddns
    for res, run in zip(rep.results, runs):
        assert res.image_id == run.report.image_id  # the newest copy
        assert res.method == METHOD.get(kind, "reload")
        assert res.records > 0 and res.compensated == 0
        assert res.modeled["restore"] > 0 and res.modeled["apply"] > 0
        assert np.array_equal(ims.content(name, res.ddn), truth.content_at(res.ddn))
    assert rep.stopped and rep.restarted and system.dbs[name].state == "ONLINE"
    assert not any(x["recov"] for x in system.recon.dbds(name))
    # point-in-time recovery to a moment after the copy: the content then; with the image
    # copy it needs taken in the same run, the database is started again
    rep = recover(site, name, ddns[0] if len(ddns) == 1 else None, to=t_mid, system=system, profile=PROFILE,
                  image_copy=True)
    assert rep.restarted and rep.modeled["image_copy"] > 0 and len(rep.image_copies) == len(ddns)
    for res, run in zip(rep.results, runs):
        assert res.image_id == run.report.image_id
        assert np.array_equal(ims.content(name, res.ddn), truth.content_at(res.ddn, t=t_mid))
        assert res.compensated > 0  # the updates after t_mid were discarded, and logged
    assert [r["to_time"] for r in recovs(site, name)[-len(ddns):]] == [t_mid] * len(ddns)
    # the log, the truth and DASD agree afterwards: updates go on, verify passes
    ims.run_workload(name, 0.3)
    system.checkpoint()
    for d in database.ImsDatabase.open(site, name).dbds:
        assert np.array_equal(ims.content(name, d.ddn), truth.content_at(d.ddn))


def test_fuzzy_copy_needs_the_purge_time(ims):
    """A concurrent copy of a busy database misses updates committed before it started
    that were still in buffers when it read their blocks: applying the log from the
    copy's start gives wrong data; from the purge time (an earlier checkpoint) it is right."""
    site, system = ims.site, ims.system
    name, ddn = "HDAMDB01", "HDAMDD01"
    ims.run_workload(name, 2.0)
    dirty_at_start = {}

    def note(run):
        pool = system.dbs[name].pools[run.dbds.index]
        blocks, seqs = pool.dirty_blocks()
        dirty_at_start.update(zip(blocks.tolist(), seqs.tolist()))

    # unscaled: the copy reads the blocks within a few milliseconds of its start, before
    # the buffer pool has written most of what was dirty then
    st, (run,) = ims.copy("cic", busy=True, on_start=note,
                          engine=ImageCopyEngine(site, system, get_profile("ds8000-ficon16")))
    assert run.report.recon_type == "CONCUR" and run.report.run_seq is not None
    assert dirty_at_start and min(dirty_at_start.values()) <= run.report.run_seq
    img = [i for i in system.recon.images(name, ddn) if i["id"] == run.report.image_id][0]
    assert img["purge_seq"] < run.report.run_seq  # the purge time steps back to a checkpoint
    truth = Truth(site.path, name)
    copy = read_copy(site, run.report.outputs[0]["dsn"], "IMS")
    at_start = truth.content_at(ddn, seq=run.report.run_seq)
    missed = np.flatnonzero((copy != at_start).any(axis=1))
    assert missed.size  # the copy is fuzzy
    ims.run_workload(name, 0.5)
    (p,) = plan(site, name, ddn, recon=system.recon)
    assert p.image["id"] == img["id"] and p.from_seq == img["purge_seq"] + 1
    wrong = dataclasses.replace(p, from_seq=run.report.run_seq + 1)
    execute(site, system, [wrong], name, profile=PROFILE, record=False)
    now = truth.content_at(ddn)
    bad = np.flatnonzero((ims.content(name, ddn) != now).any(axis=1))
    assert bad.size > 0
    # the wrong blocks are ones whose committed updates were only in a buffer at the start
    assert set(bad.tolist()) <= set(dirty_at_start)
    execute(site, system, [p], name, profile=PROFILE)
    assert np.array_equal(ims.content(name, ddn), now)


def test_apply_is_idempotent(ims):
    """Recovering twice in a row (the log applied twice over the restored copy) and
    recovering from an older copy both give the committed content."""
    site, system = ims.site, ims.system
    name = "HDAMDB02"
    ims.copy("copy-snapshot", busy=True)
    ims.run_workload(name, 0.4)
    truth = Truth(site.path, name)
    for _ in range(2):
        recover(site, name, "HDAMDD01", system=system, profile=PROFILE)
        assert np.array_equal(ims.content(name, "HDAMDD01"), truth.content_at("HDAMDD01"))
    (p,) = plan(site, name, "HDAMDD01", recon=system.recon)
    images = system.recon.images(name, "HDAMDD01")
    older = [i for i in images if i["id"] != p.image["id"] and i["run_time"] < p.image["run_time"]]
    if older:
        q = plan(site, name, "HDAMDD01", to=older[-1]["stop_time"], recon=system.recon)[0]
        execute(site, system, [dataclasses.replace(q, to_time=None)], name, profile=PROFILE, record=False)
        assert np.array_equal(ims.content(name, "HDAMDD01"), truth.content_at("HDAMDD01"))


def test_refusals_change_nothing(ims, tmp_path):
    site, system = ims.site, ims.system
    with pytest.raises(RecoveryError) as e:
        recover(site, "HDAMDB03", to=system.now() + 100, system=system)
    assert e.value.msgid == "DLB666E"
    with pytest.raises(RecoveryError) as e:
        recover(site, "HDAMDB03", to=-1.0, system=system)
    assert e.value.msgid == "DLB666E"
    if not system.recon.images("HDAMDB03"):  # run alone: no copy yet
        with pytest.raises(RecoveryError) as e:
            recover(site, "HDAMDB03", system=system)
        assert e.value.msgid == "DLB662E"
    ims.run_workload("HDAMDB03", 0.2)
    ims.copy("pref-fallback", busy=False)
    ims.run_workload("HDAMDB03", 0.2)
    first = min(i["run_time"] for i in system.recon.images("HDAMDB03", "HDAMDD01"))
    with pytest.raises(RecoveryError) as e:
        recover(site, "HDAMDB03", "HDAMDD01", to=first / 2, system=system)
    assert e.value.msgid == "DLB662E"
    assert system.recon.db("HDAMDB03")["state"] == "ONLINE"
    # a log data set file that is gone
    p = plan(site, "HDAMDB03", "HDAMDD01", recon=system.recon)[0]
    from dasdlab.engine.log import log_dir

    f = log_dir(site.path) / Path(p.logs[0]["path"]).name
    f.rename(f.with_suffix(".gone"))
    try:
        with pytest.raises(RecoveryError) as e:
            recover(site, "HDAMDB03", "HDAMDD01", system=system)
        assert e.value.msgid == "DLB664E" and p.logs[0]["dsn"] in e.value.text
    finally:
        f.with_suffix(".gone").rename(f)
    assert system.recon.db("HDAMDB03")["state"] == "ONLINE"
    assert not any(x["recov"] for x in system.recon.dbds("HDAMDB03"))


def test_point_in_time_recovery_leaves_the_database_stopped_until_image_copied(ims):
    """As IMS Database Recovery Facility: a database recovered to a point in time stays
    unavailable -- stopped, image copy needed, /STA refused -- until an image copy is
    registered; the log, the truth and verify stay consistent throughout, and the
    outage runs from the recovery's stop to the start after the copy."""
    from dasdlab.engine import commands as cmds
    from dasdlab.engine.errors import ImsError
    from dasdlab.engine.icein import parse
    from dasdlab.engine.verify import verify

    site, system = ims.site, ims.system
    name = "HDAMDB01"
    ims.copy("standard", busy=False)
    ims.run_workload(name, 0.5)
    t = system.now()
    ims.run_workload(name, 0.5)
    truth = Truth(site.path, name)
    rep = recover(site, name, "HDAMDD01", to=t, system=system, profile=PROFILE)
    assert rep.stopped and not rep.restarted and "image_copy" not in rep.modeled
    assert system.recon.db(name)["state"] == "STOPPED" and system.dbs[name].state == "STOPPED"
    assert [r["ddn"] for r in system.recon.ic_needed(name)] == ["HDAMDD01"]
    assert any("need an image copy" in n for n in rep.notes)
    with pytest.raises(ImsError) as e:
        system.start_db(name)
    assert e.value.msgid == "DLB562E"
    with pytest.raises(ImsError):
        system.commit(system.dbs[name], np.zeros(1, np.int16), np.zeros(1, np.int64), np.zeros(1, np.int64),
                      np.zeros((1, 4), np.uint8), np.full(1, system.now()))
    # DASD = the content at t = the truth now (the discard is logged)
    assert np.array_equal(ims.content(name, "HDAMDD01"), truth.content_at("HDAMDD01", t=t))
    for d in database.ImsDatabase.open(site, name).dbds:
        assert np.array_equal(ims.content(name, d.ddn), truth.content_at(d.ddn))
    assert verify(site, name).ok
    # a batch image copy of the stopped database resets the flag; it stays stopped until /STA
    reports = ims.engine.run(parse(f"  IC DBD={name},DDN=HDAMDD01,ICOUT=*,FASTIC=N\n"))
    assert [(r.status, r.recon_type) for r in reports] == [("ok", "BATCH")]
    assert system.recon.ic_needed(name) == [] and system.recon.db(name)["state"] == "STOPPED"
    system.start_db(name)
    assert system.dbs[name].state == "ONLINE"
    ims.run_workload(name, 0.3)
    system.checkpoint()
    assert verify(site, name).ok
    # the same recovery with image_copy=True: one run, the copy priced into the outage
    t2 = system.now()
    ims.run_workload(name, 0.3)
    rep2 = recover(site, name, "HDAMDD01", to=t2, system=system, profile=PROFILE, image_copy=True)
    assert rep2.restarted and rep2.modeled["image_copy"] > 0 and len(rep2.image_copies) == 1
    assert rep2.modeled_total > rep2.modeled["image_copy"] + rep2.modeled["apply"]
    assert system.recon.ic_needed(name) == [] and system.dbs[name].state == "ONLINE"
    assert cmds.STA  # the verb the refusal guards
