"""SnapShot: point-in-time copies by copying Functional Track Directory pointers.

Facts from ``docs/domain.md`` §2.3 (IBM Redbook SG24-5360, S63; McAdam 2004, S64; z/OS DFSMS
Introduction "Moving data with SnapShot", S44): a snap copies only FTD pointers, a few
I/Os whatever the size of the data; after an update to *either* copy only that copy's
pointer moves and the shared old image stays, protected by its reference count
(redirect-on-write, one write per update); the copy is **logically and physically
complete at the moment of the snap**; source and target are like devices in the same
RVA partition (here: the same subsystem's track pool), with no reblocking.

The pointer copy and the redirect-on-write live in :mod:`dasdlab.emulator.rva`; this
module owns the *snap record*: which tracks of which volume went where and when, its
life cycle, and the counters asked of it (``docs/domain.md`` §4.2: shared vs unshared
back-end tracks, space consumed).  A snap has no background work and no intercept.

Life cycle (:class:`SnapState`): a snap is written ``PENDING`` before the first pointer
moves and ``COMPLETE`` after the last.  A process killed in between leaves a
``PENDING`` record; the next process that loads the service redoes the pointer copy
(nothing can have written the source meanwhile, since the writer died with it, and
moving a pointer that already points right is a no-op), so the target is the source
as of the snap, never a mixture.  When the source or target is gone the snap becomes
``INVALID`` with a message.  ``release`` forgets a record (the target keeps its data).

Full-volume snaps keep the target's volume serial: the VOL1 label of the target is
rewritten after the pointer copy, as DFSMSdss ``COPY FULL`` does without ``COPYVOLID``.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from dasdlab.emulator.copier import TrackMap
from dasdlab.emulator.services.contract import Capabilities, CopyService, Relationship
from dasdlab.emulator.services.lifecycle import Lifecycle
from dasdlab.errors import CopyServiceError


class SnapState(Enum):
    PENDING = "pending"  # pointer copy under way
    COMPLETE = "complete"  # logically and physically complete
    INVALID = "invalid"  # could not be completed; see the record's message
    RELEASED = "released"  # forgotten; the record is deleted


_ALL = frozenset(SnapState)

TRANSITIONS = {
    SnapState.PENDING: frozenset({SnapState.COMPLETE, SnapState.INVALID}),
    SnapState.COMPLETE: frozenset({SnapState.RELEASED}),
    SnapState.INVALID: frozenset({SnapState.RELEASED}),
    SnapState.RELEASED: frozenset(),
}

VERBS = {
    "query": _ALL - {SnapState.RELEASED},
    "recover": frozenset({SnapState.PENDING}),
    "release": frozenset({SnapState.COMPLETE, SnapState.INVALID}),
}


class SnapError(CopyServiceError):
    """A snap that cannot be made: wrong subsystem, unlike devices, bad track runs."""


class Snap(Lifecycle):
    """One snap: source runs of one volume copied by pointer to target runs.

    Fixed at creation: :attr:`id`, :attr:`source`, :attr:`target`, :attr:`tmap`,
    :attr:`kind` (``volume`` or ``tracks``), :attr:`dsn`, :attr:`created`.  Mutable:
    :attr:`state`, :attr:`message`.
    """

    TRANSITIONS = TRANSITIONS
    VERBS = VERBS

    def __init__(self, sid: str, source: str, target: str, tmap: TrackMap, kind: str,
                 dsn: str | None, created: float, state: SnapState = SnapState.PENDING,
                 message: str = "", keep_volser: bool = True) -> None:
        self.id = sid
        self.source = source
        self.target = target
        self.tmap = tmap
        self.kind = kind
        self.dsn = dsn
        self.created = created
        self.state = state
        self.message = message
        self.keep_volser = keep_volser

    @property
    def what(self) -> str:
        return f"snap {self.id}"

    def to_json(self) -> dict:
        return {"id": self.id, "source": self.source, "target": self.target, "map": self.tmap.to_json(),
                "kind": self.kind, "dsn": self.dsn, "created": self.created, "state": self.state.value,
                "message": self.message, "keep_volser": self.keep_volser}

    @classmethod
    def from_json(cls, rec: dict) -> Snap:
        return cls(rec["id"], rec["source"], rec["target"], TrackMap.from_json(rec["map"]), rec["kind"],
                   rec.get("dsn"), float(rec["created"]), SnapState(rec["state"]), rec.get("message", ""),
                   bool(rec.get("keep_volser", True)))


class SnapShotService(CopyService):
    """The SnapShot function of one RVA-like subsystem."""

    name = "snapshot"
    capabilities = Capabilities(
        levels={"volume", "dataset"}, background_copy=False, nocopy=False, fast_replication=True,
        virtual_cc="snap", point_in_time_reader="target", cross_subsystem=False,
        subsystem_kinds={"rva"})
    lifecycle = (SnapState, TRANSITIONS, VERBS)
    kit_models = ("dasdlab.testing.models.snapshot:machine",)
    kit_kills = ("dasdlab.testing.crashes:track_pool",)
    control_verbs = CopyService.control_verbs | {"snap", "snap_dataset", "release"}

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.snaps: dict[str, Snap] = {}

    # ------------------------------------------------------------------ service protocol
    def load(self) -> None:
        """Read the snap records; finish the pointer copy of any left ``PENDING``."""
        for key, rec in self.store.records().items():
            snap = Snap.from_json(rec)
            self.snaps[key] = snap
            if snap.state is SnapState.PENDING:
                self._recover(snap)

    def tick(self, now: float) -> None:
        """Nothing to do: a snap is physically complete when it is made."""

    # ------------------------------------------------------------------ the contract
    def establish(self, source: str, target: str | None = None, *, source_runs=None, target_runs=None,
                  background_copy: bool | None = None, **options) -> Relationship:
        """:meth:`snap` under the contract's names (a snap has no background copy: it is
        physically complete at once, whatever ``background_copy`` asks)."""
        if target is None:
            raise SnapError("DLB394E", "a snap needs a target volume.")
        rec = self.snap(source, target, source_runs, target_runs if target_runs is not None else (
            source_runs if source_runs is not None else None), **options)
        return self.describe(rec["id"])

    def withdraw(self, rid: str) -> Relationship:
        """:meth:`release` (the target keeps its data); the descriptor before release."""
        rel = self.describe(rid)
        self.release(rid)
        return rel

    def read_point_in_time(self, rid: str, track: int):
        snap = self.get(rid)
        snap.require("release")  # a COMPLETE or INVALID snap: only a complete one is a copy
        if snap.state is not SnapState.COMPLETE:
            raise SnapError("DLB398E", f"snap {snap.id} is {snap.state.name}: {snap.message}")
        r = self._rel_of_source_track(snap.tmap, track, snap.id)
        return self._pit_image(self.sub.open_volume(snap.source), self.sub.open_volume(snap.target),
                               snap.tmap, r, pending=False)

    def describe(self, rid: str) -> Relationship:
        return self._descriptor(self._record(self.get(rid)))

    def _descriptor(self, rec: dict) -> Relationship:
        done = rec["state"] == SnapState.COMPLETE.name
        return Relationship.make(
            id=rec["id"], service=self.name, state=rec["state"], source=rec["source"],
            source_runs=rec["src_runs"], target=rec["target"], target_runs=rec["dst_runs"],
            tracks_total=rec["tracks_total"], tracks_copied=rec["tracks_total"] if done else 0,
            cow_count=0, logical_at=rec["logical_complete"] if done else None,
            physical_at=rec["physical_complete"] if done else None, details=rec)

    # ------------------------------------------------------------------ the verb
    def snap(self, src_volser: str, tgt_volser: str, src_runs: list[tuple[int, int]] | None = None,
             dst_runs: list[tuple[int, int]] | None = None, *, dsn: str | None = None,
             keep_volser: bool = True) -> dict:
        """Snap ``src_runs`` of ``src_volser`` to ``dst_runs`` of ``tgt_volser``.

        Runs are [start, stop) absolute tracks; both None means the whole volume.
        Returns the snap's record (:meth:`query` form).  Nothing changes on error.
        """
        src_volser, tgt_volser = (self._own_volume(v, "DLB393E", "volume {volser} is in subsystem {owner}, "
                                                   "not {subsystem}; SnapShot copies only inside one subsystem.")
                                  for v in (src_volser, tgt_volser))
        src = self.sub.open_volume(src_volser)
        tgt = self.sub.open_volume(tgt_volser, writable=True)
        if not (getattr(src, "pooled", False) and getattr(tgt, "pooled", False)):
            raise SnapError("DLB393E", f"{src_volser} or {tgt_volser} is not in the track pool of {self.sub.name}.")
        self._like_devices(src, tgt, src_volser, tgt_volser, "DLB393E", "{sv} ({sg}) and {tv} ({tg}) are not "
                           "like devices.")
        full = src_runs is None and dst_runs is None
        if full:
            if src.ntracks != tgt.ntracks:
                raise SnapError("DLB393E", f"a full-volume snap needs volumes of one size: {src_volser} has "
                                           f"{src.ntracks} tracks, {tgt_volser} {tgt.ntracks}.")
            src_runs = dst_runs = [(0, src.ntracks)]
        elif src_runs is None or dst_runs is None:
            raise SnapError("DLB394E", "give both source and target track runs, or neither for a whole volume.")
        src_runs = self._runs(src_runs, src, f"track runs of {src_volser}", "DLB394E")
        dst_runs = self._runs(dst_runs, tgt, f"track runs of {tgt_volser}", "DLB394E")
        ns, nd = sum(b - a for a, b in src_runs), sum(b - a for a, b in dst_runs)
        if ns != nd:
            raise SnapError("DLB394E", f"the source runs hold {ns} tracks and the target runs {nd}; they must match.")
        if src_volser == tgt_volser and self._overlap(src_runs, dst_runs):
            raise SnapError("DLB394E", f"source and target tracks overlap on {src_volser}.")
        tmap = TrackMap.from_runs(src_runs, dst_runs)
        if full and keep_volser:
            tgt.pool._take(1)  # the relabel needs one slot: fail now, before any pointer moves
        sid = self._new_id("SN")
        snap = Snap(sid, src_volser, tgt_volser, tmap, "volume" if full else "tracks", dsn,
                    self.sub.clock.now(), keep_volser=keep_volser and full)
        self.store.put(sid, snap.to_json())  # PENDING before the first pointer moves
        self.snaps[sid] = snap
        self._copy(snap, src, tgt)
        snap.to(SnapState.COMPLETE)
        self.store.put(sid, snap.to_json())
        self._announce("logical", sid)
        self._announce("physical", sid)
        return self._record(snap)

    def snap_dataset(self, dsn: str, tgt_volser: str, new_dsn: str) -> dict:
        """SNAP DATASET: allocate ``new_dsn`` like ``dsn`` on ``tgt_volser``, snap the
        data set's tracks into it (relocated), set its end of data and catalog it.
        Nothing stays allocated or catalogued on error."""
        from dasdlab.emulator import dsalloc
        from dasdlab.emulator.vtoc import check_dsn

        site = self.sub.site
        dsn, new_dsn = check_dsn(dsn), check_dsn(new_dsn)
        src_volser = site.catalog.lookup(dsn)
        if site.catalog.find(new_dsn) is not None:
            raise SnapError("DLB394E", f"{new_dsn} is already catalogued on {site.catalog.find(new_dsn)}.")
        if site.volume_spec(src_volser)["subsystem"] != self.sub.name:
            raise SnapError("DLB393E", f"{dsn} is on {src_volser}, which is not in subsystem {self.sub.name}.")
        site.volume_spec(tgt_volser)
        src = self.sub.open_volume(src_volser)
        entry = src.vtoc.get(dsn)
        n = entry.tracks(src.heads)
        tgt = self.sub.open_volume(tgt_volser.upper(), writable=True) \
            if site.volume_spec(tgt_volser)["subsystem"] == self.sub.name else None
        if tgt is None:
            raise SnapError("DLB393E", f"volume {tgt_volser.upper()} is not in subsystem {self.sub.name}; "
                                       "SnapShot copies only inside one subsystem.")
        new = dsalloc.allocate_like(tgt, new_dsn, entry.f1, n, src.heads)
        try:
            rec = self.snap(src_volser, tgt_volser, entry.track_list(src.heads), new.track_list(tgt.heads),
                            dsn=dsn)
        except BaseException:
            dsalloc.scratch(tgt, new_dsn)
            raise
        dsalloc.finish_like(tgt, new_dsn, entry.f1)
        site.catalog.add(new_dsn, tgt_volser.upper())
        rec["target_dsn"] = new_dsn
        return rec

    def _copy(self, snap: Snap, src, tgt) -> None:
        tm = snap.tmap
        if tgt.write_hook is not None:  # the target's tracks change: a write for intercepts
            tgt.write_hook(tgt, np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in tm.dst_runs()]))
        for (s0, s1), (d0, d1) in zip(tm.src_runs(), tm.dst_runs()):
            tgt.take_pointers(src, (s0, s1), (d0, d1))
        if snap.keep_volser:
            _relabel(tgt, snap.target)
        tgt.flush()

    def _recover(self, snap: Snap) -> None:
        snap.require("recover")
        try:
            src = self.sub.open_volume(snap.source)
            tgt = self.sub.open_volume(snap.target, writable=True)
            self._copy(snap, src, tgt)
        except Exception as e:  # a volume is gone or damaged: the snap cannot be finished
            snap.message = (f"DLB398E snap {snap.id} was interrupted and could not be finished: {e}; "
                            f"the target {snap.target} does not hold a point-in-time copy.")
            snap.to(SnapState.INVALID)
            self.store.put(snap.id, snap.to_json())
            self._announce("failed", snap.id, snap.message)
            return
        else:
            snap.message = f"DLB396I snap {snap.id} was interrupted and has been completed on restart."
            snap.to(SnapState.COMPLETE)
        self.store.put(snap.id, snap.to_json())

    # ------------------------------------------------------------------ queries
    def get(self, snap_id: str) -> Snap:
        snap = self.snaps.get(snap_id.upper())
        if snap is None:
            raise SnapError("DLB395E", f"subsystem {self.sub.name} has no snap {snap_id}.")
        return snap

    def query(self, snap_id: str | None = None) -> list[Relationship]:
        """Descriptors of all snaps (or one), with live counters."""
        snaps = [self.get(snap_id)] if snap_id else [self.snaps[k] for k in sorted(self.snaps)]
        return [self._descriptor(self._record(s)) for s in snaps]

    def _record(self, snap: Snap) -> dict:
        """The snap's record with its counters, as ``dasdlab snap query --json`` shows it.

        ``tracks_shared``: tracks whose source and target still point at one pool slot;
        ``tracks_unshared``: tracks where either side was rewritten since the snap;
        ``tracks_empty``: never-written on both sides.  ``space_consumed_bytes`` is the
        modeled back-end space of the target's unshared images.
        """
        snap.require("query")
        tm = snap.tmap
        out = {
            "id": snap.id, "subsystem": self.sub.name, "source": snap.source, "target": snap.target,
            "state": snap.state.name, "kind": snap.kind, "dsn": snap.dsn, "created": snap.created,
            "logical_complete": snap.created, "physical_complete": snap.created,
            "src_runs": tm.src_runs(), "dst_runs": tm.dst_runs(), "tracks_total": tm.n,
            "tracks_shared": None, "tracks_unshared": None, "tracks_empty": None,
            "space_consumed_bytes": None, "message": snap.message,
        }
        try:
            src = self.sub.open_volume(snap.source)
            tgt = self.sub.open_volume(snap.target)
        except Exception:  # noqa: BLE001 - counters are unknown, the record still shows
            return out
        shared = unshared = 0
        unshared_bytes = 0
        pool = tgt.pool
        for (s0, s1), (d0, d1) in zip(tm.src_runs(), tm.dst_runs()):
            a = np.asarray(src.ftd[s0:s1])
            b = np.asarray(tgt.ftd[d0:d1])
            same = (a == b) & (a != 0)
            diff = (a != b)
            shared += int(np.count_nonzero(same))
            unshared += int(np.count_nonzero(diff))
            mine = b[diff & (b != 0)].astype(np.int64)
            unshared_bytes += int(pool.used[mine].astype(np.int64).sum())
        out.update(tracks_shared=shared, tracks_unshared=unshared, tracks_empty=tm.n - shared - unshared,
                   space_consumed_bytes=round(unshared_bytes / pool.compression_ratio))
        return out

    def pool_stats(self) -> dict:
        return self.sub.pool.stats()

    def release(self, snap_id: str) -> None:
        snap = self.get(snap_id)
        snap.require("release")
        snap.to(SnapState.RELEASED)
        self.store.delete(snap.id)
        del self.snaps[snap.id]


def _relabel(vol, volser: str) -> None:
    """Give the target back its own serial in VOL1 (no COPYVOLID)."""
    from dasdlab.emulator.vtoc import Vol1, read_vol1

    try:
        old = read_vol1(vol)
    except Exception:  # noqa: BLE001 - a source without a label: nothing to keep
        return
    if old.volser != volser:
        vol.update_record(0, 0, 3, Vol1(volser, old.vtoc, old.owner).pack())
    vol.invalidate_vtoc()
