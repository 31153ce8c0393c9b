"""A split mirror: an example dasdlab copy service, installed as a plug-in.

The algorithm (none of the built-ins has it): the target is a *mirror* of the source,
**synchronised before the point in time** and **split at it**, as a business-continuance
volume (BCV) is established, synchronised and split.  FlashCopy, TimeFinder/Clone and
Concurrent Copy make the point in time first and move data after it (copy-on-write,
background copy, sidefiles); SnapShot moves no data at all.  A split mirror moves all of
it *before*: once the mirror is split, the source has no intercept that copies, so
writes after the point in time cost nothing extra, and the target is a whole,
independent copy at once.  The price is paid earlier -- a full synchronisation -- and
at the split itself, which copies the tracks written since the mirror was last in step.

Why this algorithm for the example: it is the opposite trade-off of every built-in, so
the outage comparison shows something the built-ins cannot (a Safeguarded-Copy-like
pool of generations would be copy-on-write again, close to several FlashCopy NOCOPY
targets), and it uses the write path differently (dirty marking before the split, a
Not Ready target while attached).

Sources: "Business continuance volume", Wikipedia,
https://en.wikipedia.org/wiki/Business_continuance_volume (a BCV is a splittable
mirror: detached at a point in time, later re-synchronised or used to recover the
production data); T. Moulder, "V2X2 vs. Shark (SnapShot v. FlashCopy)", IBM-MAIN, 2007,
https://www.mail-archive.com/ibm-main@bama.ua.edu/msg39835.html (TimeFinder/Mirror
establishes and splits the mirror of a standard volume and its BCV from the host; both
volumes have one size; a consistent split is one instant for many volumes).  How the
mirror behaves between those points (dirty tracks, Not Ready target, resync of changed
tracks only) is this example's reading.

Verbs (the contract's, plus the mirror's own)::

    svc = site.subsystem("DS8K1").service("splitmirror")
    rel = svc.attach(source, target, source_runs=None, target_runs=None)   # SYNCING
    svc.tick(now) / svc.drain(rel.id)      # synchronise (a rate in modeled time / at once)
    svc.split(rel.id)                      # the point in time: SPLIT
    svc.resync(rel.id)                     # attach again: only tracks changed since the split
    svc.withdraw(rel.id)                   # forget it; the target keeps what it holds
    rel = svc.establish(source, target, ...)  # attach + drain + split in one call

While a mirror is attached, every host write to a source track marks it *dirty* before
the write lands (the track is copied again before the split), and the target is Not
Ready: host reads and writes of its mirrored tracks are refused (DLB830E).  After the
split, source and target writes only mark their tracks changed, for a later resync.

Persistence: a JSON record and a bitmap of dirty tracks per mirror in the service's
state store.  A track's bit is set before a write changes it and cleared only after the
copier put the track on the target, so after ``kill -9`` every clear bit means "the
target holds this track as the source has it".  A split writes its intent
(``SPLITTING``) first and is finished by the next process that loads the service.

Costs for the outage benchmark: ``profile.json`` beside this file (see
``dasdlab.engine.timemodel``): a split costs a fixed command time plus the copy of the
tracks still dirty; with the mirror attached and synchronised ahead of the image copy,
that is a handful of tracks.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import numpy as np

from dasdlab.emulator.copier import TrackCopier, TrackMap
from dasdlab.emulator.services.contract import Capabilities, CopyService, Protection, Relationship
from dasdlab.emulator.services.lifecycle import Lifecycle
from dasdlab.errors import CopyServiceError

__all__ = ["SplitMirrorService", "MirrorState"]

PROFILE = Path(__file__).with_name("profile.json")


class MirrorState(Enum):
    SYNCING = "SYNCING"      # attached: the target follows the source, tracks may be dirty
    SPLITTING = "SPLITTING"  # the split is under way (the intent is saved)
    SPLIT = "SPLIT"          # the point in time: the target is an independent copy
    DETACHED = "DETACHED"    # withdrawn


M = MirrorState
TRANSITIONS = {
    M.SYNCING: frozenset({M.SPLITTING, M.DETACHED}),
    M.SPLITTING: frozenset({M.SPLIT}),
    M.SPLIT: frozenset({M.SYNCING, M.DETACHED}),
    M.DETACHED: frozenset(),
}
VERBS = {
    "split": frozenset({M.SYNCING}),
    "resync": frozenset({M.SPLIT}),
    "drain": frozenset({M.SYNCING}),
    "withdraw": frozenset({M.SYNCING, M.SPLIT}),
    "query": frozenset(M),
}


class Mirror(Lifecycle):
    """One mirror: source runs -> target runs of one subsystem."""

    TRANSITIONS = TRANSITIONS
    VERBS = VERBS

    def __init__(self, rec: dict) -> None:
        self.id: str = rec["id"]
        self.source: str = rec["source"]
        self.target: str = rec["target"]
        self.tmap = TrackMap.from_json(rec["map"])
        self.state = M(rec["state"])
        self.attached_at: float = rec["attached_at"]
        self.split_at: float | None = rec.get("split_at")
        self.split_tracks: int = rec.get("split_tracks", 0)
        self.dirty = None
        self.copier: TrackCopier | None = None
        self.protections: list[tuple[str, Protection]] = []
        self.budget = 0.0
        self.last_tick: float | None = None

    @property
    def what(self) -> str:
        return f"split mirror {self.id}"

    def record(self) -> dict:
        return {"id": self.id, "source": self.source, "target": self.target,
                "map": self.tmap.to_json(), "state": self.state.value,
                "attached_at": self.attached_at, "split_at": self.split_at,
                "split_tracks": self.split_tracks}


class SplitMirrorService(CopyService):
    """Split mirrors of one subsystem (any kind: it needs only the write path)."""

    name = "splitmirror"
    capabilities = Capabilities(
        levels={"volume", "dataset"}, background_copy=False, nocopy=False, fast_replication=True,
        virtual_cc=None, point_in_time_reader="target", cross_subsystem=False, subsystem_kinds={"*"})
    lifecycle = (MirrorState, TRANSITIONS, VERBS)
    rate_setting = "splitmirror_sync_tracks_per_s"
    label = "split mirror, synchronised before the copy and split at it"
    #: costs for the outage benchmark's time model, read from the profile file
    profile = json.loads(PROFILE.read_text()) if PROFILE.exists() else None

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.mirrors: dict[str, Mirror] = {}

    # ================================================================== load / close
    def load(self) -> None:
        for key, rec in self.store.records().items():
            m = Mirror(rec)
            self.mirrors[key] = m
            self._open(m)
            if m.state is M.SPLITTING:  # a split a killed process left half done
                self._finish_split(m)
            self._protect_mirror(m)

    # ================================================================== the verbs
    def establish(self, source, target=None, *, source_runs=None, target_runs=None,
                  background_copy=None, **options) -> Relationship:
        """Attach, synchronise and split: the point in time is the return."""
        rel = self.attach(source, target, source_runs=source_runs, target_runs=target_runs)
        self.drain(rel.id)
        return self.split(rel.id)

    def attach(self, source, target=None, *, source_runs=None, target_runs=None) -> Relationship:
        """Make ``target`` a mirror of ``source`` (Not Ready until split)."""
        if target is None:
            raise CopyServiceError("DLB831E", "a split mirror needs a target volume.")
        sv = self._own_volume(source, "DLB831E", "volume {volser} is in subsystem {owner}, not {subsystem}.")
        tv = self._own_volume(target, "DLB831E", "volume {volser} is in subsystem {owner}, not {subsystem}.")
        src = self.sub.open_volume(sv)
        tgt = self.sub.open_volume(tv, writable=True)
        self._like_devices(src, tgt, sv, tv, "DLB831E", "{sv} ({sg}) and {tv} ({tg}) are not like devices.")
        whole = source_runs is None and target_runs is None
        sr = self._runs(source_runs, src, f"source runs on {sv}", "DLB831E")
        dr = self._runs(target_runs if target_runs is not None else sr, tgt, f"target runs on {tv}", "DLB831E")
        if sum(b - a for a, b in sr) != sum(b - a for a, b in dr):
            raise CopyServiceError("DLB831E", "the source and target runs must hold the same number of tracks.")
        if whole and tgt.ntracks < src.ntracks:
            raise CopyServiceError("DLB831E", f"target {tv} is smaller than source {sv}.")
        if sv == tv and self._overlap(sr, dr):
            raise CopyServiceError("DLB831E", f"source and target tracks overlap on {sv}.")
        tmap = TrackMap.from_runs(sr, dr)
        # the limits hold across processes: checked against the records on disk, under
        # the site lock, and the new record is written before the lock is released
        with self.sub.site.locked():
            self._check_limits(sv, sr, tv, dr)
            rid = self._new_id("SM")
            self.store.bitmap(rid, "dirty", tmap.n, create=True, fill=True)
            m = Mirror({"id": rid, "source": sv, "target": tv, "map": tmap.to_json(),
                        "state": M.SYNCING.value, "attached_at": self.sub.clock.now()})
            self._open(m)
            self._save(m)
        self.mirrors[rid] = m
        self._protect_mirror(m)
        return self.describe(rid)

    def split(self, rid: str) -> Relationship:
        """The point in time: copy what is still dirty, then stop mirroring."""
        m = self._get(rid)
        m.require("split")
        m.to(M.SPLITTING)
        self._save(m)
        self._finish_split(m)
        self._protect_mirror(m)
        self._announce("logical", m.id)
        self._announce("physical", m.id)
        return self.describe(m.id)

    def resync(self, rid: str) -> Relationship:
        """Attach again: the tracks changed on either side since the split are copied."""
        m = self._get(rid)
        m.require("resync")
        m.to(M.SYNCING)
        m.split_at = None
        self._save(m)
        self._protect_mirror(m)
        return self.describe(m.id)

    def withdraw(self, rid: str) -> Relationship:
        m = self._get(rid)
        m.require("withdraw")
        rel = self.describe(m.id)
        self._unprotect_mirror(m)
        m.to(M.DETACHED)
        self.store.delete(m.id)
        del self.mirrors[m.id]
        return rel

    def drain(self, rid=None, progress=None) -> int:
        if rid is not None:
            m = self._get(rid)
            m.require("drain")
            todo = [m]
        else:
            todo = [m for m in self.mirrors.values() if m.state is M.SYNCING]
        n = 0
        for m in todo:
            n += m.copier.run(progress=progress)
            self._rearm(m.source)  # clean tracks must be seen written again
        return n

    def tick(self, now: float) -> None:
        rate = self._background_rate(default=2000.0)
        for m in list(self.mirrors.values()):
            if m.state is not M.SYNCING:
                m.last_tick = now
                continue
            last = m.attached_at if m.last_tick is None else m.last_tick
            m.budget += max(0.0, now - last) * rate
            m.last_tick = now
            n = int(m.budget)
            if n:
                m.budget -= m.copier.run(max_tracks=n)
                m.budget = min(m.budget, float(n))
                self._rearm(m.source)

    def query(self, rid=None) -> list[Relationship]:
        ms = [self._get(rid)] if rid is not None else [self.mirrors[k] for k in sorted(self.mirrors)]
        return [self._descriptor(m) for m in ms]

    def describe(self, rid: str) -> Relationship:
        return self._descriptor(self._get(rid))

    def read_point_in_time(self, rid: str, track: int) -> np.ndarray:
        m = self._get(rid)
        if m.state is not M.SPLIT:
            raise CopyServiceError("DLB832E", f"{m.what} is {m.state.name}; its point in time exists once it is split.")
        r = self._rel_of_source_track(m.tmap, track, m.id)
        return self._pit_image(self.sub.open_volume(m.source), self.sub.open_volume(m.target), m.tmap, r,
                               pending=False)

    # ================================================================== internals
    def _get(self, rid: str) -> Mirror:
        m = self.mirrors.get(str(rid).upper())
        if m is None:
            raise CopyServiceError("DLB833E", f"subsystem {self.sub.name} has no split mirror {rid} "
                                              f"(it has: {', '.join(sorted(self.mirrors)) or 'none'}).")
        return m

    def _save(self, m: Mirror) -> None:
        self.store.put(m.id, m.record())

    def _open(self, m: Mirror) -> None:
        m.dirty = self.store.bitmap(m.id, "dirty", m.tmap.n)
        src = self.sub.open_volume(m.source)
        tgt = self.sub.open_volume(m.target, writable=True)
        m.copier = TrackCopier(src, tgt, m.tmap, m.dirty)

    def _finish_split(self, m: Mirror) -> None:
        m.split_tracks = m.copier.run()
        self._rearm(m.source)
        m.to(M.SPLIT)
        m.split_at = self.sub.clock.now()
        self._save(m)

    def _check_limits(self, sv, sr, tv, dr) -> None:
        for rec in self.store.records().values():
            their_s = [tuple(x) for x in TrackMap.from_json(rec["map"]).src_runs()]
            their_d = [tuple(x) for x in TrackMap.from_json(rec["map"]).dst_runs()]
            if rec["target"] == tv and self._overlap(their_d, dr):
                raise CopyServiceError("DLB834E", f"tracks of {tv} are already the target of split mirror "
                                                  f"{rec['id']} (from {rec['source']}); a target has one source.")
            if (rec["source"] == tv and self._overlap(their_s, dr)) or (
                    rec["target"] == sv and self._overlap(their_d, sr)):
                raise CopyServiceError("DLB834E", f"split mirror {rec['id']} uses these tracks in the other "
                                                  "role; a track cannot be source and target at once.")

    def _descriptor(self, m: Mirror) -> Relationship:
        n = m.tmap.n
        dirty = m.dirty.count() if m.dirty is not None else n
        copied = n if m.state is M.SPLIT else n - dirty
        return Relationship.make(
            id=m.id, service=self.name, state=m.state.value, source=m.source,
            source_runs=m.tmap.src_runs(), target=m.target, target_runs=m.tmap.dst_runs(),
            tracks_total=n, tracks_copied=copied, cow_count=0,
            logical_at=m.split_at, physical_at=m.split_at,
            details={"attached_at": m.attached_at, "split_tracks": m.split_tracks,
                     "changed_since_split": dirty if m.state is M.SPLIT else None})

    # ------------------------------------------------------------------ the write path
    def _protect_mirror(self, m: Mirror) -> None:
        """(Re)place the mirror's protections for its current state: a source write marks
        its track dirty (to copy again before the split; after it, changed for a
        resync); while attached the target is Not Ready; once split a target write
        marks its track changed too."""
        self._unprotect_mirror(m)
        dirty = m.dirty

        def clean(r: int) -> bool:
            return not dirty.test(r)

        def mark(rels) -> None:
            dirty.set_many(rels)

        def marker(role: str) -> Protection:
            return Protection(m, m.tmap, role, clean, act_one=lambda vol, r, t: dirty.set(r),
                              act=lambda vol, rels, tracks: mark(rels),
                              needs_many=lambda rels: ~dirty.test_many(rels))

        entries = [(m.source, marker("source"))]
        if m.state is M.SYNCING:
            def refuse(t: int):
                raise CopyServiceError("DLB830E", f"track {int(t)} of {m.target} is mirrored by {m.what} "
                                                  "and Not Ready until the mirror is split.")

            entries.append((m.target, Protection(
                m, m.tmap, "target", lambda r: True, act_one=lambda vol, r, t: refuse(t),
                act=lambda vol, rels, tracks: refuse(tracks[0]), reads=lambda r, t: refuse(t))))
        elif m.state is M.SPLIT:
            entries.append((m.target, marker("target")))
        for volser, p in entries:
            self._protect(volser, p)
            m.protections.append((volser, p))

    def _unprotect_mirror(self, m: Mirror) -> None:
        for volser, p in m.protections:
            self._unprotect(volser, p)
        m.protections = []
