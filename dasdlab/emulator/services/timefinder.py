"""TimeFinder/Clone (EMC Mainframe SNAP facility) on a Symmetrix-like subsystem.

Facts from ``docs/domain.md`` §2.4 and §4.1 item 6 (sources S65, S66, S67,
S68): a clone session is *created* (a protection bitmap is set on the source and the
target is Not Ready), *activated* (the target is Ready and usable at once; the point in
time is the activation), *recreated* (incremental refresh), *restored* (target back to
the source) and *terminated*.  Session states CREATED, COPY-ON-ACCESS, COPY-IN-PROG and
COPIED are EMC's (S66).  Copy modes:

* ``NOCOPY`` -- EMC's default, *CopyOnAccess*: a track is copied only when the source
  track is written or the target track is read or written (S65, S67);
* ``COPY`` -- a full background copy after activation, at
  ``clone_background_tracks_per_s`` in modeled time (:meth:`TimeFinderService.tick`),
  or at once with :meth:`TimeFinderService.drain`;
* ``PRECOPY`` -- background copying starts at create, before activation, while source
  writes are tracked, so activation leaves only the changed tracks (S65 names the
  option; how it behaves is our reading, see below);
* ``differential=True`` (with COPY or PRECOPY only, S65) keeps SDDF-like changed-track
  bitmaps so that recreate and restore copy only changed tracks; restore needs it.

Up to ``clone_targets_per_source`` (16) sessions per source volume and at most
``clone_copying_sessions`` (8) copying in the background at once (S68, low authority).

Public API::

    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("SRC001", "TGT001", src_runs=None, dst_runs=None,
                  mode="COPY" | "NOCOPY" | "PRECOPY", differential=False)
    tf.activate(s.id)          # or a list of ids: one instant for all (consistent)
    tf.recreate(s.id); tf.activate(s.id)
    tf.restore(s.id)           # differential sessions only, from COPIED or RESTORED
    tf.drain(s.id, progress=None)   # -> tracks copied
    tf.terminate(s.id, force=False)
    s.query()  /  tf.query()   # dicts: id, source, target, mode, state, tracks_total,
                               # tracks_copied, cow_count, and the counters below
                               # (tf.query() gives contract Relationship descriptors)

A :class:`~dasdlab.emulator.services.contract.CopyService`: the contract's
``establish`` is create + activate, ``withdraw`` is a forced terminate.

``src_runs``/``dst_runs`` are ``[start, stop)`` absolute track runs (a data set's
extents); ``None`` means the whole volume (the target must be as large).  Data-set
level copies relocate each track's CCHH to its target address (the track copier).

**Choices where the reference is vague** (also in the report):

* PRECOPY: from create until activate, a background copy runs while the target stays
  Not Ready, and every source write re-marks its track, so at activation only tracks
  not yet copied or changed since remain; after activation it is a COPY session.
* Recreate is legal from COPY-ON-ACCESS, COPY-IN-PROG, COPIED and RESTORED; the target
  is Not Ready again until the next activate (as after create).  A non-differential
  recreate copies every track again.
* Restore is legal from COPIED or RESTORED, needs ``differential=True``, and runs like
  an activation in the other direction: the source is usable at once, a source track
  not yet restored is copied from the target when the source reads or writes it or the
  target writes it, and the rest follows in the background (RESTORE-IN-PROG, then
  RESTORED).  Only tracks changed on either side since the last activation or restore
  are copied.
* Terminate while tracks are still to copy (COPY-ON-ACCESS, COPY-IN-PROG,
  RESTORE-IN-PROG) needs ``force=True``; the receiving side's contents are then
  unpredictable, as after a FlashCopy NOCOPY withdraw (§2.2).
* :meth:`TimeFinderService.drain` finishes the copy at once; it takes no modeled time.

**Persistence and crashes.**  Each session is a record and up to three bitmaps in the
service's :class:`~dasdlab.emulator.services.store.StateStore`.  The copy discipline is
"copy the track, then clear its bit", so ``kill -9`` at any instant leaves every track
whose bit is clear correct on the receiving side and the rest still to copy.  Recreate
and restore first write their intent (``op``) into the record; their bitmap steps are
idempotent and are redone by the next process that loads the session.  A record whose
bitmaps are missing or of the wrong size is marked INVALID with a message; its target
is then refused until the session is terminated.  Counters are saved at every state
change and tick, so a crash may lose the counts since the last one (never data).  One
process at a time drives I/O to a subsystem's volumes; modeled time is per process, and
a background copy resumes at the loading process's clock.

**Threads.**  Host I/O, ticks and verbs may come from different threads (one lock per
service; the copier locks each track copy).  The write path has only a *before* hook,
so a track re-marked by a write (PRECOPY, or a changed-track bit) could be copied by a
background tick on another thread before that write lands; drive the background copy
from the writing thread, or quiesce writes around verbs, as a consistent activate does.
"""

from __future__ import annotations

import functools
import os
import threading
from enum import Enum
from typing import Callable, ClassVar

import numpy as np

from dasdlab.emulator.bitmap import Bitmap, words_for
from dasdlab.emulator.copier import TrackCopier, TrackMap
from dasdlab.emulator.services import runs as runs_mod
from dasdlab.emulator.services.contract import Capabilities, CopyService, Protection, Relationship
from dasdlab.emulator.services.lifecycle import Lifecycle
from dasdlab.errors import CopyServiceError


class CloneState(Enum):
    CREATED = "CREATED"
    PRECOPY = "PRECOPY"
    COPY_ON_ACCESS = "COPY-ON-ACCESS"
    COPY_IN_PROG = "COPY-IN-PROG"
    COPIED = "COPIED"
    RESTORE_IN_PROG = "RESTORE-IN-PROG"
    RESTORED = "RESTORED"
    TERMINATED = "TERMINATED"
    INVALID = "INVALID"


S = CloneState
MODES = ("COPY", "NOCOPY", "PRECOPY")

#: States in which the target is Not Ready: host reads and writes of it are refused.
NOT_READY = frozenset({S.CREATED, S.PRECOPY})
#: States in which a background copy runs (at the modeled rate, in :meth:`tick`).
BACKGROUND = frozenset({S.PRECOPY, S.COPY_IN_PROG, S.RESTORE_IN_PROG})
#: States in which the target holds (or is being given) the point-in-time image.
FORWARD_READY = frozenset({S.COPY_ON_ACCESS, S.COPY_IN_PROG, S.COPIED})
#: States in which the source holds (or is being given) the restored image.
REVERSE = frozenset({S.RESTORE_IN_PROG, S.RESTORED})

_ALL_LIVE = frozenset(S) - {S.TERMINATED}
#: States in which an access to a track no longer to copy needs nothing (but a write
#: may still have to be recorded in a changed-track bitmap).
_QUIET = FORWARD_READY | REVERSE


class SessionCounters:
    """A session's counters of copied tracks (:attr:`CloneSession.COUNTERS`).

    Once the session's files are mapped they are the words of ``SID.counters.bm``,
    shared by every process, and copies add to them under the copier's lock (the
    ``tally`` of :mod:`dasdlab.emulator.copier`): two processes copying for one session
    at once both count, where counters each process kept and saved in the record
    would keep only the last saver's.  Before that (and for a session whose files are
    damaged) they are a private array read from the record."""

    def __init__(self, names: tuple[str, ...], words: np.ndarray) -> None:
        self.index = {k: i for i, k in enumerate(names)}
        self.words = words

    def __getitem__(self, name: str) -> int:
        return int(self.words[self.index[name]])

    def tally(self, name: str) -> tuple[np.ndarray, int]:
        """The ``(words, index)`` a copier adds ``name``'s tracks to."""
        return self.words, self.index[name]

    def reset(self) -> None:
        self.words[:] = 0

    def as_dict(self) -> dict[str, int]:
        return {k: int(self.words[i]) for k, i in self.index.items()}


class CloneSession(Lifecycle):
    """One TimeFinder/Clone session: a source and a target domain of equal length.

    Life cycle: CREATED (or PRECOPY) --activate--> COPY-ON-ACCESS (NOCOPY) or
    COPY-IN-PROG (COPY, PRECOPY) --all copied--> COPIED; recreate goes back to CREATED
    (PRECOPY); restore goes to RESTORE-IN-PROG --all copied--> RESTORED; terminate ends
    it from any state.  A session whose persisted state is damaged is INVALID and can
    only be terminated.

    Fixed at create: :attr:`id`, :attr:`source`, :attr:`target`, :attr:`tmap`
    (relative track ``i`` <-> source and target tracks), :attr:`mode`,
    :attr:`differential`.  Mutable: :attr:`state`, :attr:`direction`, the bitmaps,
    counters and times.

    Bitmaps, indexed by relative track:

    * :attr:`pending` -- *tracks whose image has not yet reached the receiving side*
      (the target; the source during a restore).  Seen from the source at create, it is
      EMC's protection bitmap.
    * :attr:`changed_src` -- *tracks written on the source since the last activation or
      restore* (differential sessions only, else None).
    * :attr:`changed_tgt` -- *tracks written on the target since the last activation or
      restore* (differential sessions only, else None).
    """

    TRANSITIONS: ClassVar = {
        S.CREATED: frozenset({S.COPY_ON_ACCESS, S.COPY_IN_PROG, S.TERMINATED, S.INVALID}),
        S.PRECOPY: frozenset({S.COPY_IN_PROG, S.TERMINATED, S.INVALID}),
        S.COPY_ON_ACCESS: frozenset({S.COPIED, S.CREATED, S.TERMINATED, S.INVALID}),
        S.COPY_IN_PROG: frozenset({S.COPIED, S.CREATED, S.PRECOPY, S.TERMINATED, S.INVALID}),
        S.COPIED: frozenset({S.CREATED, S.PRECOPY, S.RESTORE_IN_PROG, S.RESTORED, S.TERMINATED,
                             S.INVALID}),
        S.RESTORE_IN_PROG: frozenset({S.RESTORED, S.TERMINATED, S.INVALID}),
        S.RESTORED: frozenset({S.CREATED, S.PRECOPY, S.RESTORE_IN_PROG, S.TERMINATED, S.INVALID}),
        S.TERMINATED: frozenset(),
        S.INVALID: frozenset({S.TERMINATED}),
    }
    VERBS: ClassVar = {
        "activate": frozenset({S.CREATED, S.PRECOPY}),
        "recreate": frozenset({S.COPY_ON_ACCESS, S.COPY_IN_PROG, S.COPIED, S.RESTORED}),
        "restore": frozenset({S.COPIED, S.RESTORED}),
        "drain": frozenset({S.PRECOPY, S.COPY_ON_ACCESS, S.COPY_IN_PROG, S.COPIED,
                            S.RESTORE_IN_PROG, S.RESTORED}),
        "terminate": _ALL_LIVE,
        "query": frozenset(S),
    }

    #: tracks copied in the background, and on access by kind of host I/O (since the
    #: last create, recreate or restore)
    COUNTERS = ("background", "source_write", "source_read", "target_read", "target_write")
    ACCESS = COUNTERS[1:]

    def __init__(self, service: TimeFinderService, rec: dict) -> None:
        self.service = service
        self.id: str = rec["id"]
        self.source: str = rec["source"]
        self.target: str = rec["target"]
        self.tmap = TrackMap.from_json(rec["map"])
        self.mode: str = rec["mode"]
        self.differential: bool = rec["differential"]
        self.state = S(rec["state"])
        self.direction: str = rec.get("direction", "forward")
        self.op: str | None = rec.get("op")
        self.message: str | None = rec.get("message")
        self.times: dict[str, float | None] = dict(rec.get("times", {}))
        saved = rec.get("counters", {})
        self.counters = SessionCounters(
            self.COUNTERS, np.array([int(saved.get(k, 0)) for k in self.COUNTERS], dtype=np.uint64))
        self.bg_time: float = float(rec.get("bg_time", 0.0))
        self.carry: float = float(rec.get("carry", 0.0))
        self.pending: Bitmap | None = None
        self.changed_src: Bitmap | None = None
        self.changed_tgt: Bitmap | None = None
        self.sides: list[Protection] = []
        self._copier: TrackCopier | None = None

    @property
    def what(self) -> str:
        return f"TimeFinder/Clone session {self.id}"

    @property
    def ntracks(self) -> int:
        return self.tmap.n

    def record(self) -> dict:
        return {
            "id": self.id, "source": self.source, "target": self.target,
            "map": self.tmap.to_json(), "mode": self.mode, "differential": self.differential,
            "state": self.state.value, "direction": self.direction, "op": self.op,
            "message": self.message, "times": self.times, "counters": self.counters.as_dict(),
            "bg_time": self.bg_time, "carry": self.carry,
        }

    def query(self) -> dict:
        """The session as the CLI's ``clone query --json`` shows it."""
        self.require("query")
        left = self.pending.count() if self.pending is not None else self.ntracks
        coa = sum(self.counters[k] for k in self.ACCESS)
        t = self.times
        to_copied = (t["copied"] - t["activated"]
                     if t.get("copied") is not None and t.get("activated") is not None else None)
        return {
            "id": self.id, "subsystem": self.service.sub.name,
            "source": self.source, "target": self.target, "mode": self.mode,
            "state": self.state.value, "tracks_total": self.ntracks,
            "tracks_copied": self.ntracks - left, "cow_count": coa,
            "differential": self.differential, "direction": self.direction,
            "tracks_pending": left,
            "changed_src": self.changed_src.count() if self.changed_src is not None else None,
            "changed_tgt": self.changed_tgt.count() if self.changed_tgt is not None else None,
            "copied_background": self.counters["background"],
            "copied_on_access": {k: self.counters[k] for k in self.ACCESS},
            "src_runs": self.tmap.src_runs(), "dst_runs": self.tmap.dst_runs(),
            "created_at": t.get("created"), "activated_at": t.get("activated"),
            "copied_at": t.get("copied"), "time_to_copied": to_copied,
            "restore_started_at": t.get("restore_started"), "restored_at": t.get("restored"),
            "message": self.message,
        }


def _side(svc: TimeFinderService, s: CloneSession, role: str, reads: bool) -> Protection:
    """The write-path protection of session ``s`` on its ``role`` volume ("source" or
    "target").  Whether it redirects reads is fixed per registration: the service
    replaces the protections whenever the state changes what they must see."""

    def quiet(r: int, kind: str) -> bool:
        # the target is Ready, the track is copied and no changed-track bitmap records
        # it: checked without numpy or the lock, so later writes cost about a plain write
        return (s.state in _QUIET and not s.pending.test(r)
                and (kind == "read" or s.changed_src is None))

    def read(r: int, t: int):
        if quiet(r, "read"):
            return None
        return svc._on_access(s, role, "read", np.array([r], dtype=np.int64), t)

    return Protection(
        s, s.tmap, role, needs=lambda r: not quiet(r, "write"),
        act_one=lambda vol, r, t: svc._on_access(s, role, "write", np.array([r], dtype=np.int64), t),
        act=lambda vol, rels, tracks: svc._on_access(s, role, "write", rels, int(tracks[0])),
        reads=read if reads else None)


def _locked(fn):
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)
    return run


def _rw_volume(sub, volser: str):
    """This process's writable instance of ``volser``.

    A read-only instance opened earlier is made to share the writable one's map of
    written tracks, so that it sees the tracks this service copies into the volume.
    """
    old = sub.opened(volser)
    vol = sub.open_volume(volser, writable=True)
    if old is not None and old is not vol:
        old.written = vol.written
    return vol


class TimeFinderService(CopyService):
    """The TimeFinder/Clone sessions of one Symmetrix-like subsystem (see module doc)."""

    PREFIX = "TF"
    name = "timefinder"
    capabilities = Capabilities(
        levels={"volume", "dataset"}, background_copy=True, nocopy=True, fast_replication=True,
        virtual_cc=None, point_in_time_reader="target", cross_subsystem=False,
        subsystem_kinds={"symmetrix"})
    lifecycle = (CloneState, CloneSession.TRANSITIONS, CloneSession.VERBS)
    kit_models = ("dasdlab.testing.models.timefinder:machine",)
    kit_kills = ("dasdlab.testing.crashes:clone_copies",)
    rate_setting = "clone_background_tracks_per_s"
    control_verbs = CopyService.control_verbs | {"create", "activate", "recreate", "restore", "terminate"}

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.sessions: dict[str, CloneSession] = {}
        #: one lock for the sessions: host I/O and the background copy may run in
        #: different threads (the copier's own lock covers each track copy)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ service protocol
    def load(self) -> None:
        """Load persisted sessions, finish interrupted verbs, register intercepts."""
        now = self.sub.clock.now()
        for key, rec in self.store.records().items():
            s = CloneSession(self, rec)
            self.sessions[key] = s
            problem = self._attach_bitmaps(s)
            if problem is not None and s.state is not S.INVALID:
                s.state = S.INVALID
                s.message = problem
                s.op = None
                self._announce("failed", s.id, problem)
            self._redo_intent(s, "op", {"recreate": lambda: self._recreate_steps(s),
                                        "restore": lambda: self._restore_steps(s, now)})
            s.bg_time = now  # modeled time is per process
            s.carry = 0.0
            self._save(s)
            self._rehook(s)

    @_locked
    def reload(self) -> None:
        """Take over what other processes changed since :meth:`load` (the subsystem's
        write path calls this when the persisted generation moved), in place and
        without saving: new sessions are hooked, terminated ones unhooked, changed
        records update their sessions.  (Saving here would make the processes reload
        each other in turn: the modeled background time is per process.)"""
        recs = self.store.records()
        for sid, s in list(self.sessions.items()):
            rec = recs.get(sid)
            if rec is None:  # terminated by another process
                s.state = S.TERMINATED
                self._rehook(s)
                del self.sessions[sid]
                continue
            fresh = CloneSession(self, rec)
            if fresh.direction != s.direction:  # restored or recreated by another process
                s._copier = None
            for attr in ("state", "direction", "op", "message", "times"):  # counters are shared
                setattr(s, attr, getattr(fresh, attr))
            self._rehook(s)
        now = self.sub.clock.now()
        for sid, rec in recs.items():
            if sid in self.sessions:
                continue
            s = CloneSession(self, rec)
            self.sessions[sid] = s
            problem = self._attach_bitmaps(s)
            if problem is not None and s.state is not S.INVALID:
                s.state, s.message = S.INVALID, problem
            s.bg_time, s.carry = now, 0.0
            self._rehook(s)

    @_locked
    def tick(self, now: float) -> None:
        """Background copies up to modeled time ``now``: each copying session moves
        ``clone_background_tracks_per_s`` tracks per second; only the first
        ``clone_copying_sessions`` (by id) copy at once, the others wait."""
        rate = self._background_rate()
        slots = int(self.sub.settings.get("clone_copying_sessions", 8))
        for s in sorted(self.sessions.values(), key=lambda x: x.id):
            if s.state not in BACKGROUND or not s.pending.any() or now <= s.bg_time:
                continue
            if slots == 0 or rate <= 0:
                s.bg_time, s.carry = now, 0.0  # a waiting session earns no credit
                continue
            slots -= 1
            budget = (now - s.bg_time) * rate + s.carry
            n = int(budget)
            got = self._copier(s).run(max_tracks=n, tally=s.counters.tally("background")) if n else 0
            # track k of this tick lands when the credit reaches k
            done_at = s.bg_time + max(got - s.carry, 0.0) / rate
            s.carry = budget - n
            s.bg_time = now
            self._after_copy(s, done_at)
            self._save(s)

    def close(self) -> None:
        for s in self.sessions.values():
            if s.state is not S.TERMINATED:
                self._save(s)
        self.sessions.clear()

    # ------------------------------------------------------------------ verbs
    def session(self, sid: str) -> CloneSession:
        s = self.sessions.get(str(sid).upper())
        if s is None:
            have = ", ".join(sorted(self.sessions)) or "none"
            raise CopyServiceError(
                "DLB376E", f"subsystem {self.sub.name} has no TimeFinder/Clone session {sid} (it has: {have})."
            )
        return s

    @_locked
    def create(self, src_volser: str, tgt_volser: str, src_runs=None, dst_runs=None,
               mode: str = "COPY", differential: bool = False) -> CloneSession:
        """Create a session: protect the source domain, make the target Not Ready.

        Checks everything before writing anything; on error nothing changes.
        """
        mode = str(mode).upper()
        if mode not in MODES:
            raise CopyServiceError("DLB380E", f"clone mode {mode} is not one of {', '.join(MODES)}.")
        if differential and mode == "NOCOPY":
            raise CopyServiceError(
                "DLB375E", "a DIFFERENTIAL clone needs mode COPY or PRECOPY, not NOCOPY (CopyOnAccess)."
            )
        src_v, tgt_v = (self._own_volume(v, "DLB379E", "volume {volser} belongs to {owner}; a clone on "
                                         "{subsystem} needs both volumes in {subsystem}.")
                        for v in (src_volser, tgt_volser))
        src = self.sub.open_volume(src_v)
        tgt = self.sub.open_volume(tgt_v)
        self._like_devices(src, tgt, src_v, tgt_v, "DLB379E", "{sv} ({sg}) and {tv} ({tg}) have different "
                           "track geometry; a clone needs like devices.")
        if src_runs is None and dst_runs is None and tgt.ntracks < src.ntracks:
            raise CopyServiceError(
                "DLB372E", f"a full-volume clone needs a target at least as large as the source: {src_v} "
                f"has {src.ntracks} tracks, {tgt_v} {tgt.ntracks}."
            )
        sr = self._runs(src_runs, src, f"source runs on {src_v}", "DLB372E")
        if dst_runs is None:
            dst_runs = sr
        dr = self._runs(dst_runs, tgt, f"target runs on {tgt_v}", "DLB372E")
        if runs_mod.total(sr) != runs_mod.total(dr):
            raise CopyServiceError(
                "DLB372E", f"the source runs hold {runs_mod.total(sr)} tracks but the target runs "
                f"{runs_mod.total(dr)}; they must be the same size."
            )
        if src_v == tgt_v and (ov := self._overlap(sr, dr)):
            raise CopyServiceError(
                "DLB372E", f"tracks [{ov[0]}, {ov[1]}) of {src_v} would be both source and target."
            )
        self._check_conflicts(src_v, sr, tgt_v, dr)
        limit = int(self.sub.settings["clone_targets_per_source"])
        fan = [s.id for s in self.sessions.values() if s.source == src_v]
        if len(fan) >= limit:
            raise CopyServiceError(
                "DLB371E", f"source volume {src_v} already has {len(fan)} clone targets "
                f"({', '.join(sorted(fan))}); the limit is {limit}. Terminate one first."
            )
        tmap = TrackMap.from_runs(sr, dr)
        sid = self._new_id(self.PREFIX)
        now = self.sub.clock.now()
        state = S.PRECOPY if mode == "PRECOPY" else S.CREATED
        # bitmaps before the record that makes them live (store.py discipline)
        self.store.bitmap(sid, "pending", tmap.n, create=True, fill=True)
        if differential:
            self.store.bitmap(sid, "changed_src", tmap.n, create=True)
            self.store.bitmap(sid, "changed_tgt", tmap.n, create=True)
        rec = {"id": sid, "source": src_v, "target": tgt_v, "map": tmap.to_json(), "mode": mode,
               "differential": bool(differential), "state": state.value, "direction": "forward",
               "times": {"created": now}, "bg_time": now}
        s = CloneSession(self, rec)
        self._attach_bitmaps(s)
        self.sessions[sid] = s
        self._save(s)
        self._rehook(s)
        return s

    @_locked
    def activate(self, ids: str | list[str]) -> list[CloneSession]:
        """Make targets Ready; the point in time is now, the same instant for every id
        given (a consistent activate: no write can fall between them)."""
        group = [self.session(i) for i in ([ids] if isinstance(ids, str) else ids)]
        for s in group:
            s.require("activate")
        now = self.sub.clock.now()
        for s in group:
            # changed tracks before this instant are already in pending (recreate and
            # the CREATED/PRECOPY write rule put them there)
            for bm in (s.changed_src, s.changed_tgt):
                if bm is not None:
                    bm.words[:] = 0
            s.times.update(activated=now, copied=None)
            s.to(S.COPY_ON_ACCESS if s.mode == "NOCOPY" else S.COPY_IN_PROG)
            s.bg_time, s.carry = now, 0.0
            self._save(s)
            self._rehook(s)
        # every target of the group is Ready before anyone hears of it
        for s in group:
            self._announce("logical", s.id)
            self._after_copy(s, now)
            self._save(s)
        return group

    @_locked
    def recreate(self, sid: str) -> CloneSession:
        """Refresh: the target becomes Not Ready and will receive, at the next activate,
        the tracks changed since the last one (all tracks without DIFFERENTIAL)."""
        s = self.session(sid)
        s.require("recreate")
        self._with_intent(s, "op", "recreate", self._save, lambda: self._recreate_steps(s))
        self._rehook(s)
        return s

    @_locked
    def restore(self, sid: str) -> CloneSession:
        """Copy the target back to the source (only tracks changed on either side)."""
        s = self.session(sid)
        s.require("restore")
        if not s.differential:
            raise CopyServiceError(
                "DLB374E", f"{s.what} was not created DIFFERENTIAL; restore needs the changed-track "
                "bitmaps. Create the session with differential=True (--differential)."
            )
        self._with_intent(s, "op", "restore", self._save, lambda: self._restore_steps(s, self.sub.clock.now()))
        self._rehook(s)
        return s

    @_locked
    def drain(self, sid: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Copy every track still to copy now (of ``sid``, or of every session that
        copies in the background); no modeled time passes.  Returns the tracks copied."""
        if sid is None:
            group = [s for s in self._sorted() if s.state in BACKGROUND]
        else:
            group = [self.session(sid)]
            group[0].require("drain")
        got = 0
        for s in group:
            if s.pending.any():
                n = self._copier(s).run(progress=progress, tally=s.counters.tally("background"))
                got += n
            self._after_copy(s, self.sub.clock.now())
            self._save(s)
        return got

    @_locked
    def terminate(self, sid: str, force: bool = False) -> None:
        """End the session and forget its state."""
        s = self.session(sid)
        s.require("terminate")
        if not force and s.state in (S.COPY_ON_ACCESS, S.COPY_IN_PROG, S.RESTORE_IN_PROG):
            left = s.pending.count()
            if left:
                side = "source" if s.state is S.RESTORE_IN_PROG else "target"
                raise CopyServiceError(
                    "DLB377E", f"{s.what} still has {left} tracks to copy to the {side}; drain it "
                    f"first, or terminate with force (the {side}'s contents are then unpredictable)."
                )
        s.to(S.TERMINATED)
        self._rehook(s)
        self.store.delete(s.id)
        del self.sessions[s.id]
        s._copier = None

    def _sorted(self) -> list[CloneSession]:
        return [self.sessions[k] for k in sorted(self.sessions)]

    def query(self, sid: str | None = None) -> list[Relationship]:
        """Descriptors of every session (or of ``sid``)."""
        return [self._descriptor(s) for s in ([self.session(sid)] if sid is not None else self._sorted())]

    def describe(self, sid: str) -> Relationship:
        return self._descriptor(self.session(sid))

    def _descriptor(self, s: CloneSession) -> Relationship:
        q = s.query()
        return Relationship.make(
            id=s.id, service=self.name, state=s.state.value, source=s.source, source_runs=q["src_runs"],
            target=s.target, target_runs=q["dst_runs"], tracks_total=q["tracks_total"],
            tracks_copied=q["tracks_copied"], cow_count=q["cow_count"],
            logical_at=q["activated_at"] if s.state not in NOT_READY else None,
            physical_at=q["copied_at"], details=q)

    # ------------------------------------------------------------------ the contract
    def establish(self, source: str, target: str | None = None, *, source_runs=None, target_runs=None,
                  background_copy: bool | None = None, **options) -> Relationship:
        """Create and activate a session (the point in time is the activation).
        ``background_copy`` False is mode NOCOPY, True COPY; ``mode`` and
        ``differential`` may also be given."""
        if target is None:
            raise CopyServiceError("DLB372E", "a clone needs a target volume.")
        mode = options.pop("mode", None)
        if mode is None:
            mode = "COPY" if background_copy or background_copy is None else "NOCOPY"
        s = self.create(source, target, source_runs, target_runs, mode=mode, **options)
        self.activate(s.id)
        return self.describe(s.id)

    def withdraw(self, sid: str) -> Relationship:
        """Terminate, with force: the target keeps what was copied (as a NOCOPY withdraw)."""
        rel = self.describe(sid)
        self.terminate(sid, force=True)
        return rel

    def read_point_in_time(self, sid: str, track: int) -> np.ndarray:
        s = self.session(sid)
        if s.state in NOT_READY or s.state is S.INVALID:
            raise self._refusal(s, track)
        if s.direction != "forward":
            raise CopyServiceError("DLB374E", f"{s.what} is restoring; its point in time is on the source.")
        r = self._rel_of_source_track(s.tmap, track, s.id)
        return self._pit_image(self.sub.open_volume(s.source), self.sub.open_volume(s.target), s.tmap, r,
                               pending=s.pending.test(r))

    # ------------------------------------------------------------------ the intercepts
    @_locked
    def _on_access(self, s: CloneSession, role: str, kind: str, rel: np.ndarray, t: int):
        """A host ``kind`` ("read"/"write") of ``rel`` on the ``role`` volume of ``s``."""
        st = s.state
        if st in NOT_READY or st is S.INVALID:
            if role == "target":
                raise self._refusal(s, t)
            if kind == "write" and st in NOT_READY:
                # not frozen yet: a changed source track must be (re)copied before or at
                # activation -- this is what makes PRECOPY and recreate correct
                s.pending.set_many(rel)
            return None
        receiving = "target" if s.direction == "forward" else "source"
        if kind == "read" and role != receiving:
            return None
        need = s.pending.test(int(rel[0])) if rel.size == 1 else bool(s.pending.test_many(rel).any())
        got = self._copier(s).copy_now(rel, s.counters.tally(f"{role}_{kind}")) if need else rel[:0]
        if got.size:
            if not s.pending.any():
                self._after_copy(s, self.sub.clock.now())
                self._save(s)
                self._rehook(s)
        if kind == "write":
            bm = s.changed_src if role == "source" else s.changed_tgt
            if bm is not None:
                bm.set_many(rel)
            return None
        if got.size:
            vol = self.sub.opened(s.target if role == "target" else s.source)
            return vol.own_track(t) if vol is not None else None
        return None

    def _refusal(self, s: CloneSession, t: int) -> CopyServiceError:
        if s.state is S.INVALID:
            return CopyServiceError(
                "DLB378E", f"track {t} of {s.target} belongs to {s.what}, which is INVALID: "
                f"{s.message} Terminate the session and create it again."
            )
        return CopyServiceError(
            "DLB370E", f"track {t} of volume {s.target} is Not Ready: it is the target of {s.what} "
            f"in state {s.state.value}; activate the session first."
        )

    def _rehook(self, s: CloneSession) -> None:
        for side in s.sides:
            self._unprotect(s.source if side.role == "source" else s.target, side)
        s.sides = []
        st = s.state
        if st is S.TERMINATED or (st in (S.COPIED, S.RESTORED) and not s.differential):
            return
        tgt_reads = st in NOT_READY or st is S.INVALID or st in (S.COPY_ON_ACCESS, S.COPY_IN_PROG)
        s.sides.append(_side(self, s, "target", reads=tgt_reads))
        if st is not S.INVALID:
            s.sides.append(_side(self, s, "source", reads=st is S.RESTORE_IN_PROG))
        for side in s.sides:
            self._protect(s.source if side.role == "source" else s.target, side)

    # ------------------------------------------------------------------ internals
    def _check_conflicts(self, src_v: str, sr, tgt_v: str, dr) -> None:
        """A track is the target of one session at most, and no track is both a source
        and a target (no cascading)."""
        for o in sorted(self.sessions.values(), key=lambda x: x.id):
            osr, odr = o.tmap.src_runs(), o.tmap.dst_runs()
            checks = [
                (o.target == tgt_v, dr, odr, tgt_v, "target", "the target"),
                (o.source == tgt_v, dr, osr, tgt_v, "target", "the source"),
                (o.target == src_v, sr, odr, src_v, "source", "the target"),
            ]
            for same, mine, theirs, v, role, their_role in checks:
                if same and (ov := runs_mod.first_overlap(mine, theirs)):
                    raise CopyServiceError(
                        "DLB373E", f"tracks [{ov[0]}, {ov[1]}) of {v}, asked for as {role}, are already "
                        f"{their_role} of session {o.id}; a track may be the target of one session and "
                        "cannot be source and target at once."
                    )

    def _attach_bitmaps(self, s: CloneSession) -> str | None:
        """Map the session's bitmaps; a description of the damage when they are missing."""
        names = ["pending"] + (["changed_src", "changed_tgt"] if s.differential else [])
        for name in names:
            path = self.store.bitmap_path(s.id, name)
            want = max(words_for(s.ntracks), 1) * 8
            if not path.exists() or path.stat().st_size != want:
                return (f"its {name} bitmap {path.name} is missing or not {want} bytes, so which "
                        "tracks are copied is unknown.")
        s.pending = self.store.bitmap(s.id, "pending", s.ntracks)
        s.counters.words = self._counter_words(s)
        if s.differential:
            s.changed_src = self.store.bitmap(s.id, "changed_src", s.ntracks)
            s.changed_tgt = self.store.bitmap(s.id, "changed_tgt", s.ntracks)
        return None

    def _counter_words(self, s: CloneSession) -> np.ndarray:
        """The shared words of the session's counters (``SID.counters.bm``); made from
        the record's counters for a session saved before they had a file."""
        n = len(s.COUNTERS)
        path = self.store.bitmap_path(s.id, "counters")
        if not path.exists() or path.stat().st_size != n * 8:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(s.counters.words.astype(np.uint64).tobytes())
            try:
                if path.exists():  # short: a process killed before the link cannot leave one
                    path.unlink()
                os.link(tmp, path)  # never a short file under the final name; a process
            except FileExistsError:  # that linked first made the same words
                pass
            finally:
                tmp.unlink(missing_ok=True)
        # a plain ndarray view of the mapped pages (np.memmap indexing runs Python code)
        return np.memmap(path, dtype=np.uint64, mode="r+", shape=(n,)).view(np.ndarray)

    def _recreate_steps(self, s: CloneSession) -> None:
        self._apply_recreate(s)
        self._finish_recreate(s)

    def _restore_steps(self, s: CloneSession, now: float) -> None:
        self._apply_restore(s)
        self._finish_restore(s, now)

    def _apply_recreate(self, s: CloneSession) -> None:
        """Idempotent: pending gains the changed tracks (or all), then they are cleared."""
        if s.differential:
            s.pending.words |= s.changed_src.words | s.changed_tgt.words
            s.changed_src.words[:] = 0
            s.changed_tgt.words[:] = 0
        else:
            s.pending.set_range(0, s.ntracks)

    def _finish_recreate(self, s: CloneSession) -> None:
        s.to(S.PRECOPY if s.mode == "PRECOPY" else S.CREATED)
        s.direction = "forward"
        s.counters.reset()
        s.times.update(copied=None)
        s.bg_time, s.carry = self.sub.clock.now(), 0.0
        s._copier = None

    def _apply_restore(self, s: CloneSession) -> None:
        s.pending.words |= s.changed_src.words | s.changed_tgt.words
        s.changed_src.words[:] = 0
        s.changed_tgt.words[:] = 0

    def _finish_restore(self, s: CloneSession, now: float) -> None:
        s.direction = "reverse"
        s._copier = None
        s.counters.reset()
        s.times.update(restore_started=now, restored=None)
        s.to(S.RESTORE_IN_PROG)
        s.bg_time, s.carry = now, 0.0
        self._after_copy(s, now)

    def _after_copy(self, s: CloneSession, when: float) -> None:
        """Move to COPIED / RESTORED once nothing is left to copy."""
        if s.pending.any():
            return
        if s.state in (S.COPY_ON_ACCESS, S.COPY_IN_PROG):
            s.to(S.COPIED)
            s.times["copied"] = when
            self._rehook(s)
            self._announce("physical", s.id)
        elif s.state is S.RESTORE_IN_PROG:
            s.to(S.RESTORED)
            s.times["restored"] = when
            self._rehook(s)

    def _copier(self, s: CloneSession) -> TrackCopier:
        if s._copier is None:
            src = _rw_volume(self.sub, s.source)
            tgt = _rw_volume(self.sub, s.target)
            if s.direction == "forward":
                s._copier = TrackCopier(src, tgt, s.tmap, s.pending, on_copied=self._landing(s.id, s.tmap))
            else:
                back = TrackMap.from_runs(s.tmap.dst_runs(), s.tmap.src_runs())
                s._copier = TrackCopier(tgt, src, back, s.pending)
        return s._copier

    def _save(self, s: CloneSession) -> None:
        if s.state is not S.TERMINATED:
            self.store.put(s.id, s.record())


__all__ = ["CloneSession", "CloneState", "TimeFinderService", "MODES"]
