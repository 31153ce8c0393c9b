"""What a plug-in copy service gets from the contract on the cross-process write path:
a relationship another process (here: another site instance) established or withdrew
is seen at the next host write without the service writing a ``reload()`` of its own,
and the verbs it names in ``control_verbs`` run under the subsystem's exclusive lock.

The truth is the list of host writes the service intercepted: exactly the writes to
its protected tracks while its relationship existed in *any* instance.  Two site
instances in one process stand in for two processes (each has its own services and
sees the shared generation move); real processes are in ``tests/test_writepath_procs.py``."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.copier import TrackMap
from dasdlab.emulator.services import registry
from dasdlab.emulator.services.contract import Capabilities, CopyService, Protection, Relationship
from dasdlab.emulator.site import Site


#: the writes each subsystem instance's journal intercepted (outside the service: a
#: reload constructs the service afresh)
SEEN: dict[int, list[int]] = {}


class Journal(CopyService):
    """Records every host write to the tracks of its relationships (no copy)."""

    name = "journal"
    capabilities = Capabilities(levels={"volume"}, background_copy=False, nocopy=True,
                                fast_replication=False, virtual_cc=None, point_in_time_reader="target",
                                cross_subsystem=False, subsystem_kinds={"*"})
    control_verbs = CopyService.control_verbs | {"mark"}

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.seen = SEEN.setdefault(id(subsystem), [])
        self._held: dict[str, tuple[str, Protection]] = {}

    def load(self) -> None:
        for rec in self.store.records().values():
            self._watch(rec)

    def _watch(self, rec: dict) -> None:
        tmap = TrackMap.from_runs(rec["runs"], rec["runs"])
        p = Protection(rec, tmap, "source", needs=lambda r: True,
                       act_one=lambda vol, r, t: self.seen.append(t),
                       act=lambda vol, rels, tracks: self.seen.extend(tracks.tolist()))
        self._held[rec["id"]] = (rec["volser"], p)
        self._protect(rec["volser"], p)

    def establish(self, source, target=None, *, source_runs=None, target_runs=None,
                  background_copy=None, **options):
        vol = self.sub.open_volume(source)
        rec = {"id": self._new_id("JN"), "volser": source.upper(),
               "runs": self._runs(source_runs, vol, "source", "DLB806E")}
        self.store.put(rec["id"], rec)
        self._watch(rec)
        self._announce("logical", rec["id"])
        return self.describe(rec["id"])

    def withdraw(self, rid):
        self.store.delete(rid)
        self._unprotect(*self._held.pop(rid))

    def query(self, rid=None):
        recs = self.store.records()
        return [Relationship.make(id=k, service=self.name, state="ACTIVE", source=r["volser"],
                                  source_runs=r["runs"], target=None, target_runs=None,
                                  tracks_total=sum(b - a for a, b in r["runs"]), tracks_copied=0,
                                  cow_count=0, logical_at=None, physical_at=None)
                for k, r in recs.items() if rid is None or k == rid]

    def mark(self) -> int:
        return self.sub.locks.depth  # > 0: inside the subsystem's exclusive frame

    def peek(self) -> int:
        return self.sub.locks.depth


@pytest.fixture
def journal():
    registry.register(Journal)
    yield
    registry.unregister("journal")


def _track(vol, t: int, seed: int) -> bytes:
    cyl, head = vol.cchh(t)
    data = np.random.default_rng([t, seed]).integers(0, 256, 4000, np.uint8).tobytes()
    return trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot)


def test_a_plugin_without_reload_sees_another_instances_relationships(tmp_path, journal):
    site = Site.init(tmp_path / "s")
    site.add_volume("DS8K1", "VOL001", "3390-1")
    site.add_service("DS8K1", "journal")
    site.close()

    a, b = Site.open(tmp_path / "s"), Site.open(tmp_path / "s")
    try:
        ja, jb = a.subsystem("DS8K1").service("journal"), b.subsystem("DS8K1").service("journal")
        events = []
        jb.subscribe(events.append)
        vol = b.volume("VOL001", writable=True)
        vol.write_track(5, _track(vol, 5, 1))
        assert jb.seen == []

        rid = ja.establish("VOL001", source_runs=[(0, 10)]).id
        vol.write_track(5, _track(vol, 5, 2))  # the generation moved: jb reloads first
        vol.write_track(12, _track(vol, 12, 2))  # outside the relationship
        assert jb.seen == [5]
        assert b.subsystem("DS8K1").service("journal") is jb  # reloaded in place

        other = jb.establish("VOL001", source_runs=[(20, 30)]).id  # subscribers stayed
        assert [(e.kind, e.rel.id) for e in events] == [("logical", other)]

        ja.withdraw(rid)
        vol.write_track(5, _track(vol, 5, 3))
        vol.write_track(25, _track(vol, 25, 3))
        assert jb.seen == [5, 25]
        assert [r.id for r in jb.query()] == [other]
    finally:
        a.close()
        b.close()


def test_a_plugins_own_control_verbs_run_under_the_exclusive_lock(tmp_path, journal):
    site = Site.init(tmp_path / "s")
    site.add_service("DS8K1", "journal")
    svc = site.subsystem("DS8K1").service("journal")
    assert svc.mark() > 0 and svc.peek() == 0
    assert {"establish", "withdraw", "mark"} <= type(svc).control_verbs
    site.close()


def test_a_freeze_by_another_instance_holds_writes_to_an_intercepted_volume(tmp_path):
    """FlashCopy's reload sets the write guard of a volume this instance already
    intercepts when another instance freezes it, and a thaw there releases it."""
    from dasdlab.emulator.services.flashcopy import WritesHeld

    site = Site.init(tmp_path / "s")
    for v in ("SRC001", "TGT001", "TGT002"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=4)
    site.close()
    a, b = Site.open(tmp_path / "s"), Site.open(tmp_path / "s")
    try:
        fa = a.subsystem("DS8K1").service("flashcopy")
        fa.establish("SRC001", "TGT001", mode="NOCOPY")
        vol = b.volume("SRC001", writable=True)
        vol.write_track(12, _track(vol, 12, 1))  # b intercepts SRC001 now
        assert b.subsystem("DS8K1").service("flashcopy").frozen() == {}
        before = np.array(vol.read_track(12))

        fa.establish("SRC001", "TGT002", mode="NOCOPY", freeze=True)
        with pytest.raises(WritesHeld) as e:
            vol.write_track(12, _track(vol, 12, 2))
        assert e.value.msgid == "DLB340W" and np.array_equal(vol.read_track(12), before)

        assert fa.thaw() == ["SRC001"]
        vol.write_track(12, _track(vol, 12, 2))
        assert not np.array_equal(vol.read_track(12), before)
    finally:
        a.close()
        b.close()


def test_a_concurrent_copy_session_started_by_another_instance_guards_its_domain(tmp_path):
    """Concurrent Copy's reload guards the domain of a session another live owner
    started after this instance loaded (DLB367E, the write refused before anything
    changes) and drops the guard once that session ended."""
    from dasdlab.errors import CopyServiceError

    site = Site.init(tmp_path / "s")
    for v in ("SRC001", "WRK001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=4)
    site.close()
    a, b = Site.open(tmp_path / "s"), Site.open(tmp_path / "s")
    try:
        b.subsystem("DS8K1").service("concurrent_copy")  # loaded before the session exists
        vol = b.volume("SRC001", writable=True)
        vol.write_track(20, _track(vol, 20, 1))
        before = np.array(vol.read_track(20))

        s = a.subsystem("DS8K1").service("concurrent_copy").start("SRC001", [(15, 40)])
        with pytest.raises(CopyServiceError) as e:
            vol.write_track(20, _track(vol, 20, 2))
        assert e.value.msgid == "DLB367E" and s.id in str(e.value)
        assert np.array_equal(vol.read_track(20), before)
        vol.write_track(45, _track(vol, 45, 2))  # outside its domain

        s.end()
        vol.write_track(20, _track(vol, 20, 2))
        assert not np.array_equal(vol.read_track(20), before)
    finally:
        a.close()
        b.close()


def test_a_clone_restored_by_another_instance_copies_back_here(tmp_path):
    """TimeFinder's reload of a session another instance restored copies target to
    source from then on, even when this instance had copied it forward before."""
    site = Site.init(tmp_path / "s")
    for v in ("SRC001", "TGT001", "OTH001"):
        site.add_volume("VMAX1", v, "3390-1", cylinders=4)
    src = site.volume("SRC001", writable=True)
    for t in range(10, 20):
        src.write_track(t, _track(src, t, 1))
    site.close()
    a, b = Site.open(tmp_path / "s"), Site.open(tmp_path / "s")
    try:
        ta, tb = a.subsystem("VMAX1").service("timefinder"), b.subsystem("VMAX1").service("timefinder")
        sid = ta.create("SRC001", "TGT001", differential=True).id
        ta.activate(sid)
        oth = b.volume("OTH001", writable=True)
        oth.write_track(1, _track(oth, 1, 1))  # b reloads: it has the session
        assert tb.drain(sid) > 0  # b copied it forward
        tgt = a.volume("TGT001", writable=True)
        tgt.write_track(12, _track(tgt, 12, 9))
        truth = np.array(tgt.read_track(12))
        ta.restore(sid)

        oth.write_track(1, _track(oth, 1, 2))  # b reloads: restore in progress
        assert tb.query(sid)[0]["direction"] == "reverse"
        assert tb.drain(sid) >= 1
        b_src, b_tgt = b.volume("SRC001"), b.volume("TGT001")
        assert np.array_equal(b_src.read_track(12), truth)
        assert np.array_equal(b_tgt.read_track(12), truth)
    finally:
        a.close()
        b.close()


def test_a_flashcopy_refresh_by_another_instance_is_a_new_point_in_time_here(tmp_path):
    """FlashCopy's reload of a relationship another instance refreshed: the live
    object this instance's callers hold is no longer physically complete, and this
    instance's background copy brings the target to the new point in time."""
    site = Site.init(tmp_path / "s")
    for v in ("SRC001", "TGT001", "OTH001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=4)
    src = site.volume("SRC001", writable=True)
    for t in range(10, 20):
        src.write_track(t, _track(src, t, 1))
    site.close()
    a, b = Site.open(tmp_path / "s"), Site.open(tmp_path / "s")
    try:
        fa, fb = a.subsystem("DS8K1").service("flashcopy"), b.subsystem("DS8K1").service("flashcopy")
        rid = fa.establish("SRC001", "TGT001", incremental=True).id
        fa.drain(rid)
        oth = b.volume("OTH001", writable=True)
        oth.write_track(1, _track(oth, 1, 1))  # b reloads: it has the relationship
        held = fb.get(rid)
        assert held.physical.is_set() and fb.query(rid)[0]["state"] == "COPIED"

        sa = a.volume("SRC001", writable=True)
        sa.write_track(12, _track(sa, 12, 7))
        truth = np.array(sa.read_track(12))
        fa.refresh(rid)
        oth.write_track(1, _track(oth, 1, 2))  # b reloads: a new point in time
        assert fb.get(rid) is held and not held.physical.is_set()
        assert fb.query(rid)[0]["tracks_copied"] == fb.query(rid)[0]["tracks_total"] - 1
        assert fb.drain(rid) == 1 and held.physical.is_set()
        assert np.array_equal(b.volume("TGT001").read_track(12), truth)
    finally:
        a.close()
        b.close()
