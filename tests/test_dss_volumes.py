"""DFSMSdss full-volume and track operations against truth: COPY FULL|TRACKS, DUMP FULL,
RESTORE FULL, FCCGFREEZE and CGCREATED, DUMPCONDITIONING, FCSETGTOK(FAILRELATION)."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.services.flashcopy import WritesHeld
from dasdlab.emulator.site import Site
from dasdlab.errors import ParseError
from dasdlab.host import replication
from dasdlab.host.dss import parse, run
from dasdlab.host.dss.volumes import index_volser, label_volser

BLOCKS = 60


@pytest.fixture
def site(tmp_path):
    s = Site.init(tmp_path / "site")
    for sub, vols in (("DS8K1", ("DS0001", "DS0002", "DS0003", "DS0004")), ("VMAX1", ("VM0001", "VM0002"))):
        for v in vols:
            s.add_volume(sub, v, "3390-3", cylinders=8)
    for dsn, vol in (("PROD.DSK.DATA", "DS0001"), ("PROD.VMX.DATA", "VM0001")):
        s.allocate(dsn, vol, lrecl=4096, blksize=4096, primary=8)
        Dataset(s.volume(vol, writable=True), dsn).format_blocks(
            BLOCKS, fill=lambda f, n: np.repeat(np.arange(f, f + n, dtype=np.uint8), 4096))
    yield s
    s.close()


def image(site, volser) -> dict[int, bytes]:
    """Every written track of the volume, as the host reads it."""
    vol = site.volume(volser)
    return {t: bytes(vol.read_track(t)) for t in range(vol.ntracks) if vol.is_written(t)}


def touch(site, dsn):
    d = Dataset(site.dataset_volume(dsn, writable=True), dsn)
    d.write_block(0, b"\xaa" * 4096)
    d.write_block(BLOCKS - 1, b"\xbb" * 4096)


def fc(site):
    return site.subsystem("DS8K1").service("flashcopy")


def test_copy_full_target_is_the_source_at_the_instant(site):
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL INDYNAM(DS0001) OUTDYNAM(DS0002)")
    assert rep.rc == 0, rep.lines
    res = rep.results[0]
    assert res.method == "FLASHCOPY" and res.relationship
    rel = fc(site).describe(res.relationship)
    assert (rel.source, rel.target) == ("DS0001", "DS0002")
    touch(site, "PROD.DSK.DATA")  # after logical completion: the copy must not see it
    assert image(site, "DS0002") == truth
    assert label_volser(site.volume("DS0002")) == "DS0001"  # a duplicate volume serial
    assert any("NOW CARRIES VOLUME SERIAL DS0001" in m for m in rep.lines)


def test_copy_full_on_a_symmetrix_uses_timefinder_through_the_facade(site):
    truth = image(site, "VM0001")
    rep = run(site, "COPY FULL IDY(VM0001) ODY(VM0002)")
    assert rep.rc == 0 and rep.results[0].method == "TIMEFINDER"
    touch(site, "PROD.VMX.DATA")
    assert image(site, "VM0002") == truth


def test_copy_full_standard_io_when_fastreplication_none(site):
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FR(NONE)")
    assert rep.rc == 0 and rep.results[0].method == "STANDARD"
    assert fc(site).query() == []
    assert image(site, "DS0002") == truth


def test_copy_tracks_copies_only_the_range(site):
    heads = site.volume("DS0001").heads
    before = image(site, "DS0002")
    truth = image(site, "DS0001")
    rep = run(site, "COPY TRACKS(1,0,2,3) IDY(DS0001) ODY(DS0002)")
    assert rep.rc == 0, rep.lines
    lo, hi = heads, 2 * heads + 4
    assert rep.results[0].tracks == hi - lo
    touch(site, "PROD.DSK.DATA")
    after = image(site, "DS0002")
    for t in set(after) | set(before) | set(truth):
        want = truth.get(t) if lo <= t < hi else before.get(t)
        assert after.get(t) == want, t


def test_fccgfreeze_holds_writes_until_cgcreated(site):
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FCCGFREEZE")
    assert rep.rc == 0, rep.lines
    sub = site.subsystem("DS8K1")
    assert "DS0001" in replication.frozen(sub)
    with pytest.raises(WritesHeld):
        touch(site, "PROD.DSK.DATA")
    assert image(site, "DS0001") == truth  # the held write changed nothing
    rep = run(site, "CGCREATED ACCVOL(DS0001) FCCGVFY(DS0001)")
    assert rep.rc == 0, rep.lines
    assert any("DLB448I" in m and "DS0001 THAWED" in m for m in rep.lines)
    assert replication.frozen(sub) == {}
    touch(site, "PROD.DSK.DATA")
    assert image(site, "DS0002") == truth


def test_cgcreated_verify_warns_when_the_volume_is_not_frozen(site):
    rep = run(site, "CGCREATED ACCESSVOLUME(DS0001) FCCGVERIFY(DS0001)")
    assert rep.rc == 4
    assert any(m.startswith("DLB449W") for m in rep.lines)
    assert any("NO VOLUME WAS FROZEN" in m for m in rep.lines)


def test_dump_full_then_restore_full_gives_the_volume_back(site):
    truth = image(site, "DS0001")
    rep = run(site, "DUMP FULL INDYNAM(DS0001) OUTDDNAME(BACK.FULL) OUTDYNAM(DS0003)")
    assert rep.rc == 0, rep.lines
    touch(site, "PROD.DSK.DATA")
    rep = run(site, "RESTORE FULL INDSN(BACK.FULL) OUTDYNAM(DS0004)")
    assert rep.rc == 0, rep.lines
    assert image(site, "DS0004") == truth


def test_dumpconditioning_keeps_the_target_volser_and_its_dump_looks_like_the_source(site):
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) DUMPCONDITIONING FCNOCOPY")
    assert rep.rc == 0, rep.lines
    tgt = site.volume("DS0002")
    assert label_volser(tgt) == "DS0002" and index_volser(tgt) == "DS0001"
    got = image(site, "DS0002")
    assert set(got) == set(truth)
    assert all(got[t] == truth[t] for t in truth if t != 0)  # only the VOL1 label differs
    assert tgt.vtoc.get("PROD.DSK.DATA") is not None
    touch(site, "PROD.DSK.DATA")
    rep = run(site, "DUMP FULL IDY(DS0002) OUTDD(BACK.COND) ODY(DS0003) FCWITHDRAW")
    assert rep.rc == 0, rep.lines
    assert any("AS VOLUME DS0001" in m for m in rep.lines)
    assert fc(site).query() == [] or all(str(r.state) == "WITHDRAWN" for r in fc(site).query())
    rep = run(site, "RESTORE FULL INDSN(BACK.COND) ODY(DS0004)")
    assert rep.rc == 0, rep.lines
    assert image(site, "DS0004") == truth  # byte for byte the source at the copy's instant


def test_dumpconditioning_copy_back_recovers_the_original(site):
    run(site, "COPY FULL IDY(DS0001) ODY(DS0002) DUMPCOND FR(NONE)")
    rep = run(site, "COPY FULL IDY(DS0002) ODY(DS0001) DUMPCOND FR(NONE)")
    assert rep.rc == 0, rep.lines
    src = site.volume("DS0001")
    assert label_volser(src) == "DS0001" and index_volser(src) == "DS0001"


def test_fcsetgtok_makes_a_space_efficient_nocopy_target(site):
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FCSETGTOK(FAILRELATION)")
    assert rep.rc == 0, rep.lines
    rel = fc(site).get(rep.results[0].relationship)
    assert rel.space_efficient and rel.query()["mode"] == "NOCOPY"
    touch(site, "PROD.DSK.DATA")
    assert image(site, "DS0002") == truth
    assert fc(site).repository_used() > 0  # the copy-on-write drew repository tracks


@pytest.mark.parametrize("extra", ["FCSETGTOK(FAILRELATION)", "FCCGFREEZE"])
def test_flashcopy_only_keywords_fail_where_no_service_can_and_change_nothing(site, extra):
    before = image(site, "VM0002")
    rep = run(site, f"COPY FULL IDY(VM0001) ODY(VM0002) {extra}")
    assert rep.rc == 8
    assert any(m.startswith("DLB413E") for m in rep.lines)
    assert image(site, "VM0002") == before
    assert site.subsystem("VMAX1").service("timefinder").query() == []


def test_fcsetgtok_needs_the_whole_volume(site):
    before = image(site, "DS0002")
    rep = run(site, "COPY TRACKS(1,0,2,3) IDY(DS0001) ODY(DS0002) FCSETGTOK(FAILRELATION)")
    assert rep.rc == 8 and any(m.startswith("DLB446E") for m in rep.lines)
    assert image(site, "DS0002") == before and fc(site).query() == []


def test_copy_full_fcincremental_refreshes_the_relationship(site):
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FCINCREMENTAL", wait_physical=True)
    assert rep.rc == 0, rep.lines
    rid = rep.results[0].relationship
    touch(site, "PROD.DSK.DATA")
    truth = image(site, "DS0001")
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FCINCREMENTAL", wait_physical=True)
    assert rep.rc == 0 and rep.results[0].relationship == rid
    assert image(site, "DS0002") == truth


def test_a_volume_outside_the_site_is_refused(site):
    before = image(site, "DS0002")
    rep = run(site, "COPY FULL IDY(NOSUCH) ODY(DS0002)")
    assert rep.rc == 8 and image(site, "DS0002") == before


@pytest.mark.parametrize("text, msgid", [
    ("COPY DS(INCL(PROD.**)) FCCGFREEZE", "DLB445E"),
    ("COPY DS(INCL(PROD.**)) RENAMEU(X) DUMPCONDITIONING", "DLB445E"),
    ("COPY TRACKS(1,0,2,3) IDY(DS0001) ODY(DS0002) DUMPCOND", "DLB445E"),
    ("COPY TRACKS(1,0,2,3) IDY(DS0001) ODY(DS0002) FCINCREMENTAL", "DLB432E"),
    ("COPY TRACKS(5,0,2,0) IDY(DS0001) ODY(DS0002)", "DLB445E"),
    ("COPY TRACKS(A,0) IDY(DS0001) ODY(DS0002)", "DLB445E"),
    ("COPY FULL IDY(DS0001) ODY(DS0001)", "DLB445E"),
    ("COPY FULL ODY(DS0002)", "DLB408E"),
    ("COPY FULL IDY(DS0001)", "DLB408E"),
    ("COPY FULL DS(INCL(A.**)) IDY(DS0001) ODY(DS0002)", "DLB407E"),
    ("COPY FULL IDY(DS0001) ODY(DS0002) FCSETGTOK(RESERVE)", "DLB406E"),
    ("COPY FULL IDY(DS0001) ODY(DS0002) FCSETGTOK(FAILRELATION) FCINCR", "DLB407E"),
    ("COPY FULL IDY(DS0001) ODY(DS0002) FCCGFREEZE FR(NONE)", "DLB407E"),
    ("COPY FULL IDY(DS0001) ODY(DS0002) CC", "DLB445E"),
    ("DUMP FULL IDY(DS0001) OUTDD(BACK.FULL)", "DLB408E"),
    ("DUMP FULL IDY(DS0001) OUTDD(BACK.FULL) ODY(DS0001)", "DLB445E"),
    ("DUMP FULL IDY(DS0001) OUTDD(BACK.FULL) ODY(DS0003) DUMPCOND", "DLB404E"),
    ("CGCREATED", "DLB408E"),
    ("CGCREATED ACCVOL(DS0001) DATASET(INCL(A.**))", "DLB404E"),
])
def test_bad_volume_statements_are_refused_before_anything_runs(site, text, msgid):
    before = {v: image(site, v) for v in ("DS0001", "DS0002")}
    with pytest.raises(ParseError) as e:
        parse(text)
    assert e.value.msgid == msgid
    with pytest.raises(ParseError):
        run(site, "COPY FULL IDY(DS0001) ODY(DS0002)\n" + text)  # the good statement does not run either
    assert {v: image(site, v) for v in ("DS0001", "DS0002")} == before
    assert fc(site).query() == []


def test_the_consistency_group_timer_releases_the_writes_and_cgcreated_verify_says_so(site):
    run(site, "COPY FULL IDY(DS0001) ODY(DS0002) FCCGFREEZE FCNOCOPY")
    sub = site.subsystem("DS8K1")
    until = replication.frozen(sub)["DS0001"]
    site.clock.advance(until - site.clock.now() + 1)
    touch(site, "PROD.DSK.DATA")  # the timer has released the volume (S62)
    rep = run(site, "CGCREATED ACCVOL(DS0001) FCCGVFY(DS0001)")
    assert rep.rc == 4 and any(m.startswith("DLB449W") for m in rep.lines)


def test_a_full_volume_copy_reports_logical_then_physical_completion(site):
    events = []
    rep = run(site, "COPY FULL IDY(DS0001) ODY(DS0002)", wait_physical=True,
              on_logical=lambda e: events.append(("logical", e.method)),
              on_physical=lambda e: events.append(("physical", e.method)))
    assert rep.rc == 0
    assert events == [("logical", "FLASHCOPY"), ("physical", "FLASHCOPY")]


def test_only_flashcopy_declares_consistency_groups_and_space_efficient_targets():
    from dasdlab.emulator.services import registry

    caps = {n: i.capabilities for n, i in registry.services().items()}
    assert {n for n, c in caps.items() if c.consistency_groups} == {"flashcopy"}
    assert {n for n, c in caps.items() if c.space_efficient_targets} == {"flashcopy"}
    assert caps["flashcopy"].as_dict()["consistency_groups"] is True


def test_the_facade_refuses_a_freeze_the_service_cannot_do(site):
    from dasdlab.errors import CopyServiceError

    sub = site.subsystem("VMAX1")
    before = image(site, "VM0002")
    with pytest.raises(CopyServiceError) as e:
        replication.establish(sub, "timefinder", "VM0001", "VM0002", None, None, background_copy=True, freeze=True)
    assert e.value.msgid == "DLB446E"
    assert sub.service("timefinder").query() == [] and image(site, "VM0002") == before
