"""HP Image Copy engine: every sample ICEIN file on an idle database, each copy checked
against the truth, each hold window and RECON registration as documented."""

from pathlib import Path

import pytest

from dasdlab.engine import database
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse_file
from dasdlab.engine.icverify import check_copy, read_copy
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.truth import Truth

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ims(tmp_path_factory):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path_factory.mktemp("hpic") / "site")
    for sub, v in (("DS8K1", "DSA"), ("RVA1", "RVA"), ("VMAX1", "SYM")):
        site.add_volume(sub, v + "001", "3390-3")
        site.add_volume(sub, v + "002", "3390-3")
    for n, v in (("01", "DSA001"), ("02", "RVA001"), ("03", "SYM001")):
        database.define(site, ROOT / "fixtures" / "dbd" / f"hdamdb{n}.dbd")
        database.load(site, f"HDAMDB{n}", 2 * 2**20, seed=int(n), volser=v)
    system = ImsSystem(site)
    system.start()
    for n in ("01", "02", "03"):
        system.open(f"HDAMDB{n}")
    yield site, system, ImageCopyEngine(site, system)
    system.shutdown()


EXPECT = {
    # fixture: (process, RECON type, held?)
    "standard": ("standard", "BATCH", True),
    "standard-quiesce": ("standard", "BATCH", True),
    "cic": ("cic", "CONCUR", False),
    "compressed": ("standard", "BATCH", True),
    "dump-cc": ("dump-cc", "BATCH", True),
    "dump-vcc": ("dump-vcc", "BATCH", True),
    "fdump": ("fdump-flashcopy", "BATCH", True),
    "fdump-timefinder": ("fdump-timefinder", "BATCH", True),
    "copy-flashcopy": ("copy-flashcopy", "SMSOFFLC", True),
    "copy-snapshot": ("copy-snapshot", "SMSOFFLC", True),
    "copy-timefinder": ("copy-timefinder", "SMSOFFLC", True),
    "pref-fallback": ("dump-plain", "BATCH", True),
}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_every_kind_of_copy_on_an_idle_database(ims, name):
    site, system, engine = ims
    process, rtype, held = EXPECT[name]
    reports = engine.run(parse_file(ROOT / "fixtures" / "icein" / f"{name}.icein"))
    assert reports and all(r.status == "ok" for r in reports), [r.message for r in reports]
    for r in reports:
        assert (r.process, r.recon_type) == (process, rtype)
        assert (r.outage > 0) == held
        assert r.logical is not None and r.physical is not None and r.physical >= r.logical
        if r.process in ("standard", "dump-plain"):
            assert r.hold_end >= r.physical  # released only after the physical copy
        elif held:
            assert r.hold_end <= r.physical or r.physical == r.logical
        img = [i for i in system.recon.images(r.dbd, r.ddn) if i["id"] == r.image_id][0]
        assert img["type"] == rtype and img["ic1_dsn"] == r.outputs[0]["dsn"]
        blocks = read_copy(site, r.outputs[0]["dsn"], r.outputs[0]["format"], r.blocks)
        truth = Truth(site.path, r.dbd)
        chk = check_copy(site, truth, r.ddn, blocks, r.run_seq, clean=held)
        assert chk.differing == 0  # idle database: even the fuzzy copy equals the content
        if r.outputs[0]["format"] == "IMS" and any(o["copy"] == 2 for o in r.outputs):
            ic2 = [o for o in r.outputs if o["copy"] == 2][0]
            assert (read_copy(site, ic2["dsn"], "IMS") == blocks).all()


def test_outage_ordering_under_one_profile(ims):
    """standard < FlashCopy here only because the emulated database is tiny; the fixed
    costs order as documented: CC ~ virtual CC > FlashCopy/SnapShot establish."""
    site, system, engine = ims
    out = {}
    for name in ("dump-cc", "dump-vcc", "copy-flashcopy", "copy-snapshot"):
        r = engine.run(parse_file(ROOT / "fixtures" / "icein" / f"{name}.icein"))[0]
        out[name] = r.outage
    assert out["dump-cc"] > out["copy-flashcopy"] and out["dump-vcc"] > out["copy-snapshot"]


def test_data_mover_emcsnap_fdump_and_recovery_of_fast_recovery_copies(ims):
    """DATA_MOVER=EMCSNAP makes the FDUMP shadow with TimeFinder (no session is left
    behind); the recovery of a Fast Recovery copy copies it back with the data mover
    asked for, and refuses one the clone's subsystem cannot serve."""
    from dasdlab.engine import recovery
    from dasdlab.engine.recovery import RecoveryError

    site, system, engine = ims
    tf = site.subsystem("VMAX1").service("timefinder")
    before = set(tf.sessions)
    (r,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / "fdump-timefinder.icein"))
    assert r.status == "ok" and r.process == "fdump-timefinder" and r.outputs[0]["format"] == "IMS"
    assert set(tf.sessions) <= before  # the shadow's session is terminated with it
    assert not any(".SHADOW." in d for v in site.volsers() for d in site.volume(v).vtoc.datasets)
    (c,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / "copy-timefinder.icein"))
    img = [i for i in system.recon.images("HDAMDB03", "HDAMDD01") if i["id"] == c.image_id][0]
    assert img["extra"]["data_mover"] == "EMCSNAP"
    with pytest.raises(RecoveryError) as e:
        recovery.recover(site, "HDAMDB03", "HDAMDD01", system=system, image_id=c.image_id, data_mover="ADRDSSU")
    assert e.value.msgid == "DLB623E" and "EMCSNAP" in e.value.text
    rep = recovery.recover(site, "HDAMDB03", "HDAMDD01", system=system, image_id=c.image_id,
                           data_mover="EMCSNAP")
    assert rep.results[0].method == "timefinder"


def test_cc_session_that_fails_to_initialise_under_pref_dump_holds_to_physical_completion(ims):
    """UIM event 24 with RC 4: DFSMSdss copies without CONCURRENT, so under
    FASTIC=(PREF,DUMP) the database stays held until the copy is physically complete
    (as with no Concurrent Copy at all); under REQ,DUMP the copy fails."""
    from dasdlab.engine.icein import parse

    site, system, engine = ims
    sub = site.subsystem("DS8K1")
    cc = sub.service("concurrent_copy")
    old = sub.settings["cc_sessions_per_volume"]
    sub.settings["cc_sessions_per_volume"] = 1
    other = cc.start("DSA001", [(0, 1)])  # the volume's only session slot is taken
    try:
        (r,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / "dump-cc.icein"))
        assert r.status == "ok", r.message
        assert r.process == "dump-plain" and r.counters["cc_init_failed"] == "DLB360E"
        assert "without CONCURRENT" in r.fallback
        assert r.hold_end >= r.physical == r.logical  # held to physical completion
        assert r.recon_type == "BATCH"
        img = [i for i in system.recon.images(r.dbd, r.ddn) if i["id"] == r.image_id][0]
        assert img["run_time"] == r.hold_start
        blocks = read_copy(site, r.outputs[0]["dsn"], r.outputs[0]["format"], r.blocks)
        assert check_copy(site, Truth(site.path, r.dbd), r.ddn, blocks, r.run_seq, clean=True).differing == 0
        (f,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=(REQ,DUMP),CC_TYPE=CACHE\n"))
        assert f.status == "failed" and "DLB360E" in f.message
        assert system.recon.db("HDAMDB01")["state"] == "ONLINE"  # released after the failure
    finally:
        other.end()
        sub.settings["cc_sessions_per_volume"] = old


def test_registration_times_and_types(ims):
    """DUMP and FDUMP write IMS-format copies: BATCH (IC) / CONCUR (CIC), as DFSUDMP0's.
    A Fast Recovery copy is registered at its logical completion -- usable for recovery
    before its background copy ends: a recovery then copies the clone back with standard
    I/O (no cascading FlashCopy) and is exact; the physical completion is added later."""
    from dasdlab.engine import recovery
    from dasdlab.engine.hpic import recon_type, run_to_end
    from dasdlab.engine.icein import parse
    from dasdlab.engine.verify import verify

    assert [recon_type(False, p) for p in ("dump-cc", "dump-vcc", "fdump-flashcopy", "fdump-snapshot")] == ["BATCH"] * 4
    assert [recon_type(True, p) for p in ("cic", "dump-cc", "fdump-flashcopy", "dump-plain")] == ["CONCUR"] * 4
    assert (recon_type(False, "copy-flashcopy"), recon_type(True, "copy-snapshot")) == ("SMSOFFLC", "SMSONLC")
    site, system, engine = ims
    for sub in site.subsystems():
        sub.settings["fc_background_tracks_per_s"] = 5.0  # a slow background copy
    (run,) = engine.start(parse_file(ROOT / "fixtures" / "icein" / "copy-flashcopy.icein").statements[0])
    run.start_time = run.next_time = engine.now()
    while run.report.image_id is None:
        t = run.next_time
        system.advance(t)
        run.advance(t)
    rep = run.report
    img = [i for i in system.recon.images(rep.dbd, rep.ddn) if i["id"] == rep.image_id][0]
    assert rep.physical is None and not run.done  # still copying in the background
    assert img["type"] == "SMSOFFLC" and img["stop_time"] == rep.logical and img["status"] == "IN USE"
    while rep.hold_end is None:  # released; recovered before the background copy ends
        t = run.next_time
        system.advance(t)
        run.advance(t)
    rel = site.subsystem("DS8K1").service("flashcopy").get(rep.counters["relationship"])
    assert rel.active
    res = recovery.recover(site, rep.dbd, rep.ddn, system=system, image_id=rep.image_id)
    assert res.results[0].method == "copy" and res.results[0].image_id == rep.image_id
    assert any("standard I/O" in n for n in res.results[0].notes)
    assert verify(site, rep.dbd).ok
    run_to_end(system, [run])
    assert rep.status == "ok" and rep.physical > rep.logical
    for sub in site.subsystems():
        sub.settings["fc_background_tracks_per_s"] = 2000.0
    (r2,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / "copy-flashcopy.icein"))
    img2 = [i for i in system.recon.images(r2.dbd, r2.ddn) if i["id"] == r2.image_id][0]
    assert img2["stop_time"] == r2.logical and img2["extra"]["physical_time"] == r2.physical > r2.logical


def test_aic_groups_and_statements_run_in_parallel_sharing_channel_and_one_dss_server(ims):
    """AIC/ACIC run their data set groups as parallel processes (FUNC=AIC/ACIC "runs the
    processes in parallel"); the statements of a job run at once; concurrent sequential
    reads share the channel; the DFSMSdss server starts once per job."""
    from dataclasses import replace

    from dasdlab.engine.icein import parse

    site, system, engine = ims
    slow = replace(engine.profile, seq_read_mb_s=1.0, channel_mb_s=2.0, name="slow-wide")
    narrow = replace(slow, channel_mb_s=1.0, name="slow-narrow")

    def job(text, profile):
        t0 = system.now()
        reps = ImageCopyEngine(site, system, profile).run(parse(text))
        assert all(r.status == "ok" for r in reps), [r.message for r in reps]
        return t0, system.now() - t0, reps

    def read_s(r):  # the standard process: hold start + stop, read, then logical = physical
        return r.physical - r.hold_start - slow.db_stop_s

    _, serial, (a, b) = job("  IC DBD=HDAMDB01,ICOUT=*,FASTIC=N\n", slow)
    assert b.started >= a.physical  # one task: one group after the other
    t0, wide_t, (c, d) = job("  AIC DBD=HDAMDB01,ICOUT=*,FASTIC=N\n", slow)
    assert c.started == d.started == t0  # two tasks at once
    assert read_s(c) == pytest.approx(read_s(a)) and read_s(d) == pytest.approx(read_s(b))  # channel not full
    assert wide_t < serial - 0.5 * min(read_s(a), read_s(b))
    assert system.recon.db("HDAMDB01")["state"] == "ONLINE"  # stopped once, started by the last
    t0, narrow_t, (e, f) = job("  AIC DBD=HDAMDB01,ICOUT=*,FASTIC=N\n", narrow)
    assert read_s(e) > read_s(a) * 1.5 and read_s(f) > read_s(b) * 1.2  # they shared the channel
    assert narrow_t > wide_t
    # mixed: the IC task and the AIC tasks start together
    t0, _, reps = job("  IC DBD=HDAMDB02,DDN=HDAMDD01,ICOUT=*,FASTIC=N\n"
                      "  AIC DBD=HDAMDB01,ICOUT=*,FASTIC=N\n", slow)
    assert [r.dbd for r in reps] == ["HDAMDB02", "HDAMDB01", "HDAMDB01"]  # statement order
    assert all(r.started == t0 for r in reps)
    # one DFSMSdss server per job: the second DUMP waits for the first's start-up, then
    # pays only the per-data-set cost; two jobs pay the start-up twice
    prof = engine.profile
    _, _, (g, h) = job("  AIC DBD=HDAMDB01,ICOUT=*,FASTIC=(PREF,DUMP),CC_TYPE=CACHE\n", prof)
    assert g.process == h.process == "dump-cc"
    first, second = sorted((g.logical, h.logical))
    assert second - first == pytest.approx(prof.dss_dataset_s)
    assert first - g.started == pytest.approx(prof.db_stop_s + prof.dss_init_s + prof.cc_session_init_s)
    _, _, (k,) = job("  IC DBD=HDAMDB01,DDN=HDAMDD02,ICOUT=*,FASTIC=(PREF,DUMP),CC_TYPE=CACHE\n", prof)
    assert k.logical - k.started == pytest.approx(prof.db_stop_s + prof.dss_init_s + prof.cc_session_init_s)


def test_toiauto_stops_and_starts_the_database_with_olds_switch_and_checkpoint(ims):
    """TOIAUTO: HP Image Copy stops the database itself (/DBR, or /DBD read-only),
    switches the OLDS and takes a checkpoint at every stop (EVERY) or at the job's last
    (LAST), and starts it again (Y) or leaves it stopped (O); with N the database must
    be stopped already.  The switch and checkpoint are part of the outage."""
    from dasdlab.engine.icein import parse

    site, system, engine = ims
    recon = system.recon
    states: list[tuple[str, str]] = []
    system.on_state.append(lambda name, old, new, t: states.append((name, new)))
    try:
        logs0, cks0 = len(recon.logs()), len(recon.checkpoints())
        (r,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,TOIAUTO=Y\n"))
        assert r.status == "ok" and states == [("HDAMDB01", "STOPPED"), ("HDAMDB01", "ONLINE")]
        assert len(recon.logs()) == logs0 + 1 and len(recon.checkpoints()) == cks0 + 1
        ck = recon.checkpoints()[-1]
        assert ck["seq"] == r.counters["checkpoint_seq"] and ck["time"] == r.hold_start
        assert recon.logs()[-1]["dsn"] == r.counters["olds_switched_to"]
        prof = engine.profile
        (plain,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*\n"))
        assert r.outage == pytest.approx(plain.outage + prof.log_switch_s)  # the switch is in the outage
        # /DBD variant, and LAST: one switch for the two stops of the job
        states.clear()
        logs0 = len(recon.logs())
        reps = engine.run(parse("  GLOBAL TOIAUTO=(Y,LAST,DBD)\n  IC DBD=HDAMDB01,ICOUT=*\n"))
        assert [x.status for x in reps] == ["ok", "ok"]
        assert states == [("HDAMDB01", "READONLY"), ("HDAMDB01", "ONLINE")] * 2
        assert len(recon.logs()) == logs0 + 1
        assert "olds_switched_to" not in reps[0].counters and "olds_switched_to" in reps[1].counters
        # O: stopped and left so; N: must be stopped already
        (o,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,TOIAUTO=O\n"))
        assert o.status == "ok" and recon.db("HDAMDB01")["state"] == "STOPPED"
        (n,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,TOIAUTO=N\n"))
        assert n.status == "ok" and recon.db("HDAMDB01")["state"] == "STOPPED"  # it was stopped: fine
        system.start_db("HDAMDB01")
        (f,) = engine.run(parse("  IC DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,TOIAUTO=N\n"))
        assert f.status == "failed" and "DLB627E" in f.message
        assert recon.db("HDAMDB01")["state"] == "ONLINE"
    finally:
        system.on_state.pop()
        if recon.db("HDAMDB01")["state"] != "ONLINE":
            system.start_db("HDAMDB01")


@pytest.mark.parametrize("fixture, fcnocopy", [("fdump", True), ("copy-snapshot", False)])
def test_adrdssu_copies_are_made_by_the_projects_dfsmsdss(ims, monkeypatch, fixture, fcnocopy):
    """DATA_MOVER=ADRDSSU (the default): the shadow and the clone are DFSMSdss COPY
    DATASET statements with FASTREPLICATION(REQUIRED) (FCNOCOPY for a shadow), as HP
    Image Copy calls ADRDSSU; the relationship DFSMSdss made is the one reported."""
    from dasdlab.host.dss import runner

    site, system, engine = ims
    ran, real = [], runner.Dss.run

    def spy(self, text):
        report = real(self, text)
        ran.append((text, report))
        return report

    monkeypatch.setattr(runner.Dss, "run", spy)
    (r,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / f"{fixture}.icein"))
    assert r.status == "ok", r.message
    (text, report), = ran
    assert text.startswith("COPY DATASET(INCLUDE(") and "FASTREPLICATION(REQUIRED)" in text
    assert ("FCNOCOPY" in text) == fcnocopy and report.rc == 0
    (res,) = report.results
    key = "snap" if fixture == "copy-snapshot" else "relationship"
    assert r.counters[key] == res.relationship and res.method in ("FLASHCOPY", "SNAPSHOT")
    if fixture == "fdump":  # the shadow is gone with its relationship and its catalog entry
        assert site.catalog.find(res.target) is None
    else:
        assert site.catalog.lookup(r.outputs[0]["dsn"]) == r.outputs[0]["volser"] == res.target_volser


def test_a_refused_dfsmsdss_copy_fails_the_image_copy_with_the_services_message(ims, monkeypatch):
    from dasdlab.emulator.services.flashcopy import FlashCopyService
    from dasdlab.errors import CopyServiceError

    site, system, engine = ims

    def refuse(*a, **k):
        raise CopyServiceError("DLB326E", "a test refuses the establish.")

    fc = site.subsystem("DS8K1").service("flashcopy")
    assert isinstance(fc, FlashCopyService)
    before = set(site.catalog.entries())
    monkeypatch.setattr(fc, "establish", refuse)
    (r,) = engine.run(parse_file(ROOT / "fixtures" / "icein" / "copy-flashcopy.icein"))
    # the message the service gave, as when HP Image Copy called it directly; no clone left
    assert r.status == "failed" and "DLB326E" in r.message and "a test refuses" in r.message
    assert set(site.catalog.entries()) == before
