"""The copy-service contract, rule by rule, for each of the four built-in services.

Truth is a copy of every source track taken at the instant of the establish; each
service's own counters (its native ``query`` record) are the numbers the descriptor
must repeat.
"""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator.services import registry
from dasdlab.emulator.services.contract import Capabilities, CompletionEvent, CopyService, Relationship
from dasdlab.errors import CopyServiceError

from .conftest import pattern_track, records

CYL = 4

#: service -> (subsystem, establish options)
SETUPS = {
    "flashcopy": ("DS8K1", {"background_copy": False}),
    "timefinder": ("VMAX1", {"background_copy": False}),
    "snapshot": ("RVA1", {"keep_volser": False}),  # the VOL1 relabel is not a point-in-time fact
    "concurrent_copy": ("DS8K1", {}),
}


def _site(tmp_path, subsystem):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume(subsystem, v, "3390-1", cylinders=CYL)
    src = site.volume("SRC001", writable=True)
    for t in range(10, 40):
        src.write_track(t, pattern_track(src, t, 1))
    return site, src


@pytest.fixture(params=sorted(SETUPS))
def each(request, tmp_path):
    """(name, site, service, source volume) for each built-in service."""
    name = request.param
    site, src = _site(tmp_path, SETUPS[name][0])
    yield name, site, site.subsystem(SETUPS[name][0]).service(name), src
    site.close()


def _truth(src) -> list:
    return [records(src.read_track(t)) for t in range(src.ntracks)]


def _establish(svc, name, runs=None):
    _, opts = SETUPS[name]
    target = None if svc.capabilities.point_in_time_reader == "session" else "TGT001"
    return svc.establish("SRC001", target, source_runs=runs, **opts)


def test_built_ins_declare_their_capabilities():
    caps = {n: registry.get(n).capabilities for n in SETUPS}
    assert all(isinstance(c, Capabilities) for c in caps.values())
    assert {n: sorted(c.subsystem_kinds) for n, c in caps.items()} == {
        "flashcopy": ["ds8000"], "timefinder": ["symmetrix"], "snapshot": ["rva"],
        "concurrent_copy": ["ds8000", "rva"]}
    assert {n for n, c in caps.items() if c.fast_replication} == {"flashcopy", "timefinder", "snapshot"}
    assert {n for n, c in caps.items() if c.background_copy} == {"flashcopy", "timefinder"}
    assert {n: c.virtual_cc for n, c in caps.items()} == {
        "flashcopy": "flash", "snapshot": "snap", "timefinder": None, "concurrent_copy": None}
    assert caps["concurrent_copy"].point_in_time_reader == "session"
    assert all(c.point_in_time_reader == "target" for n, c in caps.items() if n != "concurrent_copy")
    assert not any(c.cross_subsystem for c in caps.values())
    assert all(c.levels == {"volume", "dataset"} for c in caps.values())
    for n in SETUPS:
        assert issubclass(registry.get(n).cls, CopyService) and registry.get(n).origin == "built-in"


def test_capabilities_refuse_nonsense():
    with pytest.raises(ValueError):
        Capabilities(levels={"cylinder"}, background_copy=False, nocopy=True, fast_replication=False,
                     virtual_cc=None, point_in_time_reader="target", cross_subsystem=False,
                     subsystem_kinds={"*"})
    with pytest.raises(ValueError):
        Capabilities(levels={"volume"}, background_copy=False, nocopy=True, fast_replication=False,
                     virtual_cc=None, point_in_time_reader="somewhere", cross_subsystem=False,
                     subsystem_kinds={"*"})


def _native(svc, name, rid) -> dict:
    """The service's own record of the relationship, as it reported it before the contract."""
    if name == "flashcopy":
        return svc.get(rid).query()
    if name == "timefinder":
        return svc.session(rid).query()
    if name == "concurrent_copy":
        return svc.session(rid).query()
    return svc._record(svc.get(rid))


def test_point_in_time_read_through_the_contract(each):
    name, site, svc, src = each
    before = _truth(src)
    rel = _establish(svc, name)
    rid = rel.id
    # host writes after the point in time, across copied and never-written tracks
    for t in (12, 13, 25, 45, 50):
        src.write_track(t, pattern_track(src, t, 7))
    for t in range(src.ntracks):
        assert records(svc.read_point_in_time(rid, t)) == before[t], f"track {t}"


def test_descriptor_counters_are_the_services_own(each):
    name, site, svc, src = each
    rid = _establish(svc, name).id
    for t in (12, 13, 13, 30):
        src.write_track(t, pattern_track(src, t, 9))
    if name == "concurrent_copy":
        for t in (12, 20):
            svc.read_point_in_time(rid, t)
    (d,) = svc.query(rid)
    assert isinstance(d, Relationship) and svc.query() == [d]
    own = _native(svc, name, rid)
    assert d.id == rid and d.service == name
    assert d.tracks_total == own["tracks_total"] == src.ntracks
    assert d.source == "SRC001" and d.source_runs == [(0, src.ntracks)]
    expect = {
        "flashcopy": ("tracks_copied", "cow_count"),
        "timefinder": ("tracks_copied", "cow_count"),
        "snapshot": ("tracks_total", None),
        "concurrent_copy": ("tracks_read", "intercepted_writes"),
    }[name]
    expect = tuple(0 if k is None else own[k] for k in expect)
    assert (d.tracks_copied, d.cow_count) == expect
    if name in ("flashcopy", "timefinder"):
        assert d.cow_count == 3  # three tracks first written after the point in time
    if name == "concurrent_copy":
        assert d.cow_count == 3 and d.tracks_copied == 2 and d.target is None
    assert d.logical_at == 0.0
    for k, v in own.items():  # every native field is still there, unchanged
        assert d[k] == v


def test_events_fire_once_at_logical_and_physical_completion(each):
    name, site, svc, src = each
    events: list[CompletionEvent] = []
    svc.subscribe(events.append)
    if svc.capabilities.background_copy:
        rid = svc.establish("SRC001", "TGT001", background_copy=True).id
    else:
        rid = _establish(svc, name).id
    assert [e.kind for e in events][:1] == ["logical"]
    assert events[0].rel.id == rid and events[0].at == site.clock.now()
    if name == "snapshot":
        assert [e.kind for e in events] == ["logical", "physical"]
        return
    assert [e.kind for e in events] == ["logical"]
    src.write_track(14, pattern_track(src, 14, 3))
    assert [e.kind for e in events] == ["logical"]  # no physical completion yet
    if name == "concurrent_copy":
        for t in range(src.ntracks):
            svc.read_point_in_time(rid, t)
    else:
        assert svc.drain(rid) > 0
    assert [e.kind for e in events] == ["logical", "physical"]
    assert events[1].rel.tracks_copied == src.ntracks
    site.tick(100.0)
    assert [e.kind for e in events] == ["logical", "physical"]


def test_flashcopy_failure_event(tmp_path):
    site, src = _site(tmp_path, "DS8K1")
    try:
        fc = site.subsystem("DS8K1").service("flashcopy")
        fc.sub.settings["fc_repository_tracks"] = 1
        events = []
        fc.subscribe(events.append)
        rid = fc.establish("SRC001", "TGT001", mode="NOCOPY", space_efficient=True).id
        for t in (20, 21):
            src.write_track(t, pattern_track(src, t, 4))
        assert [e.kind for e in events] == ["logical", "failed"]
        assert events[1].reason.startswith("DLB337E") and events[1].rel.state == "FAILED"
        assert events[1].rel.id == rid
    finally:
        site.close()


def test_concurrent_copy_failure_event(tmp_path):
    site, src = _site(tmp_path, "DS8K1")
    try:
        cc = site.subsystem("DS8K1").service("concurrent_copy")
        cc.sub.settings["cache_bytes"] = 2 * src.geometry.r1_capacity  # half the cache: one track
        events = []
        cc.subscribe(events.append)
        cc.establish("SRC001")
        for t in (20, 21):
            src.write_track(t, pattern_track(src, t, 4))
        assert [e.kind for e in events] == ["logical", "failed"]
        assert events[1].reason.startswith("DLB363E") and events[1].rel.state == "CANCELLED"
    finally:
        site.close()


def test_withdraw_through_the_contract(tmp_path):
    site, src = _site(tmp_path, "VMAX1")
    try:
        tf = site.subsystem("VMAX1").service("timefinder")
        rid = tf.establish("SRC001", "TGT001", background_copy=False).id
        gone = tf.withdraw(rid)
        assert gone.id == rid and tf.query() == []
        with pytest.raises(CopyServiceError) as e:
            tf.read_point_in_time(rid, 3)
        assert e.value.msgid == "DLB376E"
    finally:
        site.close()


def test_read_point_in_time_outside_the_relationship(tmp_path):
    site, src = _site(tmp_path, "DS8K1")
    try:
        fc = site.subsystem("DS8K1").service("flashcopy")
        rid = fc.establish("SRC001", "TGT001", source_runs=[(10, 20)], background_copy=False).id
        assert fc.query(rid)[0].source_runs == [(10, 20)] and fc.query(rid)[0].target_runs == [(10, 20)]
        with pytest.raises(CopyServiceError) as e:
            fc.read_point_in_time(rid, 30)
        assert e.value.msgid == "DLB807E"
    finally:
        site.close()


def test_ids_are_never_reused_across_service_instances(tmp_path):
    from dasdlab.emulator.site import Site

    site, src = _site(tmp_path, "VMAX1")
    tf = site.subsystem("VMAX1").service("timefinder")
    a = tf.establish("SRC001", "TGT001", background_copy=False).id
    tf.withdraw(a)
    site.close()
    site2 = Site.open(tmp_path / "site")
    try:
        b = site2.subsystem("VMAX1").service("timefinder").establish("SRC001", "TGT001").id
        assert (a, b) == ("TF0001", "TF0002")
    finally:
        site2.close()


def test_background_rate_follows_the_setting_while_copying(fcsite, fc):
    """A rate changed after the establish (as HP Image Copy does) applies at the next tick."""
    fc.sub.settings["fc_background_tracks_per_s"] = 10.0
    rel = fc.establish("SRC001", "TGT001", background_copy=True)
    fcsite.tick(1.0)
    assert fc.query(rel.id)[0].tracks_copied == 10
    fc.sub.settings["fc_background_tracks_per_s"] = 20.0
    fcsite.tick(2.0)
    assert fc.query(rel.id)[0].tracks_copied == 30
    assert np.array_equal(fc.query(rel.id)[0]["background_tracks"], 30)


def test_a_freeze_holds_writes_in_the_next_process_too(tmp_path):
    """The consistency-group freeze is a write guard of the intercept; a process that
    loads the relationship and the freeze record (in either order) holds writes."""
    from dasdlab.emulator.services.flashcopy import WritesHeld
    from dasdlab.emulator.site import Site

    site, src = _site(tmp_path, "DS8K1")
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY", freeze=True)
    site.close()
    again = Site.open(tmp_path / "site")
    try:
        vol = again.volume("SRC001", writable=True)
        before = records(vol.read_track(12))
        with pytest.raises(WritesHeld) as e:
            vol.write_track(12, pattern_track(vol, 12, 5))
        assert e.value.msgid == "DLB340W" and records(vol.read_track(12)) == before
        assert again.subsystem("DS8K1").service("flashcopy").thaw() == ["SRC001"]
        vol.write_track(12, pattern_track(vol, 12, 5))
    finally:
        again.close()
