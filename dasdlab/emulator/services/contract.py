"""The copy-service contract: what every copy service is, says and does.

A *copy service* (FlashCopy, Concurrent Copy, SnapShot, TimeFinder/Clone, or a
plug-in) is a class derived from :class:`CopyService`, registered by name in
:mod:`dasdlab.emulator.services.registry`, and constructed once per subsystem and
process as ``cls(subsystem)``.  Callers never branch on a service's name: they ask
its :class:`Capabilities`.  The design is described in ``docs/architecture.md``.

**The shared verbs** (the signatures a caller may rely on for any service)::

    rel = svc.establish(source, target=None, *, source_runs=None, target_runs=None,
                        background_copy=None, **options)   # logically complete on return
    svc.withdraw(rid)                  # end it (the target keeps what it holds)
    svc.drain(rid=None, progress=None) # background work to completion now -> tracks moved
    svc.query(rid=None)                # -> [Relationship], snapshots of the counters
    svc.read_point_in_time(rid, track) # image of source track ``track`` as of the point in time
    svc.subscribe(callback)            # CompletionEvent: "logical", "physical", "failed"
    svc.tick(now); svc.load(); svc.close()

``establish`` and ``withdraw`` return an object with the relationship's ``id``: the
:class:`Relationship` descriptor, or for services whose own verbs already returned a
live object (FlashCopy's ``establish``) that object; ``query(rid)[0]`` is always the
descriptor.  Runs are lists of absolute ``[start, stop)`` tracks; ``None`` for both
means the whole volume.  ``background_copy`` None takes the service's default.

**Events, not polling.**  :meth:`CopyService.subscribe` registers a callback that gets a
:class:`CompletionEvent` once when a relationship is logically complete (the point in
time exists), once when it is physically complete (every track is where it will
stay), and once when it fails.  A service that is logically and physically complete at
the same instant (SnapShot) sends both, logical first.

**What the base class owns**, so that a service writes only its own rules:

* the preamble checks, one message per fault: a volume of another subsystem
  (:meth:`CopyService._own_volume`), devices that are not alike
  (:meth:`CopyService._like_devices`);
* run validation and overlap (:meth:`CopyService._runs`, over :mod:`.runs`);
* IDs never reused in a site (:meth:`CopyService._new_id`, the store's counter file);
* the lifecycle tables, checked when the class is defined (``lifecycle``);
* the modeled-time rate limiter (:meth:`CopyService._background_rate`, a
  :class:`~dasdlab.emulator.copier.ModeledRate` per relationship reading the
  subsystem's *current* setting at every tick);
* persistence in a :class:`~dasdlab.emulator.services.store.StateStore` under
  ``SITE/state/SUBSYSTEM/NAME/`` (``self.store``), with an intent record around
  multi-step changes that the next load redoes (:meth:`CopyService._with_intent`,
  :meth:`CopyService._redo_intent`);
* the copy-before-write intercept (:class:`ProtectIntercept`): a service says which
  tracks of a volume it protects and what happens to a protected track before a host
  write changes it -- copy it now through the track copier, save it to a sidefile,
  refuse the write, or record a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping

import numpy as np

from dasdlab.emulator.services import runs as runs_mod
from dasdlab.emulator.services.lifecycle import check_tables
from dasdlab.emulator.services.store import StateStore
from dasdlab.errors import CopyServiceError

if TYPE_CHECKING:  # pragma: no cover
    from dasdlab.emulator.copier import TrackMap

Runs = list[tuple[int, int]]

#: the levels a service may copy at
LEVELS = frozenset({"volume", "dataset"})
#: how a point-in-time view is read: a target volume, or through the service (a session)
READERS = frozenset({"target", "session"})
EVENT_KINDS = ("logical", "physical", "failed")


# ====================================================================== capabilities
@dataclass(frozen=True)
class Capabilities:
    """What a service can do, declared by its class (never inferred from its name).

    ``levels``: {"volume", "dataset"}.  ``background_copy``: tracks go to the target
    after establish (COPY mode).  ``nocopy``: a relationship may stay logical only.
    ``fast_replication``: usable as a Fast Recovery image copy method.
    ``virtual_cc``: the mechanism it gives virtual Concurrent Copy ("flash", "snap") or
    None.  ``point_in_time_reader``: "target" when the point-in-time view is a target
    volume, "session" when it is read through the service.  ``cross_subsystem``:
    source and target may be on different subsystems.  ``subsystem_kinds``: the kinds
    it runs on ("ds8000", "rva", "symmetrix", or "*" for any).
    ``consistency_groups``: establish takes ``freeze=True`` (the source volume's writes
    are held until ``thaw``), as DFSMSdss FCCGFREEZE and CGCREATED need.
    ``space_efficient_targets``: establish takes ``space_efficient=True`` (target tracks
    come from a repository; the relationship fails when it is full), as DFSMSdss
    FCSETGTOK(FAILRELATION) needs.
    """

    levels: frozenset[str]
    background_copy: bool
    nocopy: bool
    fast_replication: bool
    virtual_cc: str | None
    point_in_time_reader: str
    cross_subsystem: bool
    subsystem_kinds: frozenset[str]
    consistency_groups: bool = False
    space_efficient_targets: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", frozenset(self.levels))
        object.__setattr__(self, "subsystem_kinds", frozenset(self.subsystem_kinds))
        if not self.levels or not self.levels <= LEVELS:
            raise ValueError(f"levels must be a non-empty subset of {sorted(LEVELS)}, not {sorted(self.levels)}")
        if self.point_in_time_reader not in READERS:
            raise ValueError(f"point_in_time_reader must be one of {sorted(READERS)}")
        if not self.subsystem_kinds:
            raise ValueError("subsystem_kinds must name at least one kind (or '*')")

    def runs_on(self, kind: str) -> bool:
        return "*" in self.subsystem_kinds or kind in self.subsystem_kinds

    def as_dict(self) -> dict:
        """JSON-ready, sets as sorted lists."""
        return {
            "levels": sorted(self.levels), "background_copy": self.background_copy,
            "nocopy": self.nocopy, "fast_replication": self.fast_replication,
            "virtual_cc": self.virtual_cc, "point_in_time_reader": self.point_in_time_reader,
            "cross_subsystem": self.cross_subsystem, "subsystem_kinds": sorted(self.subsystem_kinds),
            "consistency_groups": self.consistency_groups, "space_efficient_targets": self.space_efficient_targets,
        }


# ====================================================================== the descriptor
class Relationship(dict):
    """A relationship or session as a caller sees it: a snapshot, not live.

    The standard keys are always present and readable as attributes; the service's own
    fields (FlashCopy's ``target_reads_redirected``, Concurrent Copy's sidefile
    high-water marks, ...) are further keys.  It is a ``dict``, so it is JSON-ready and
    compares equal to the plain record a service returned before the contract.

    ``tracks_total``: tracks in the relationship; ``tracks_copied``: tracks whose
    point-in-time image is where it stays (on the target, or read by the session);
    ``cow_count``: tracks moved because a host I/O reached them first (copy-on-write,
    sidefile saves, copy on access); ``logical_at``/``physical_at``: modeled seconds of
    logical and physical completion, None until then.
    """

    __slots__ = ()

    STANDARD: ClassVar[tuple[str, ...]] = (
        "id", "service", "state", "source", "source_runs", "target", "target_runs",
        "tracks_total", "tracks_copied", "cow_count", "logical_at", "physical_at",
    )

    @classmethod
    def make(cls, *, id: str, service: str, state: str, source: str, source_runs: Iterable,
             target: str | None, target_runs: Iterable | None, tracks_total: int, tracks_copied: int,
             cow_count: int, logical_at: float | None, physical_at: float | None,
             details: Mapping[str, Any] | None = None) -> Relationship:
        rel = cls(details or {})
        rel.update(
            id=str(id), service=str(service), state=str(state), source=source,
            source_runs=[(int(a), int(b)) for a, b in source_runs], target=target,
            target_runs=None if target_runs is None else [(int(a), int(b)) for a, b in target_runs],
            tracks_total=int(tracks_total), tracks_copied=int(tracks_copied), cow_count=int(cow_count),
            logical_at=logical_at, physical_at=physical_at,
        )
        return rel

    def __getattr__(self, key: str):
        if key in Relationship.STANDARD:
            return self[key]
        raise AttributeError(key)

    @property
    def standard(self) -> dict:
        """Only the standard keys."""
        return {k: self[k] for k in self.STANDARD}


@dataclass(frozen=True)
class CompletionEvent:
    """``kind`` is "logical", "physical" or "failed"; ``rel`` the descriptor at that
    instant; ``at`` modeled seconds; ``reason`` the message of a failure."""

    kind: str
    rel: Relationship
    at: float
    reason: str | None = None


@dataclass(frozen=True)
class TrackEvent:
    """What happened to tracks of one relationship (for observers such as the teaching
    trace; :meth:`CopyService.subscribe_tracks`).

    ``kind``: "saved" -- the point-in-time images were moved out of a host write's way
    before it (copy-on-write, a sidefile save, a copy on access), reported by the one
    copy-before-write intercept; "copied" -- the tracks landed on the copy (background
    copy or copy-on-write), reported by the track copier; "read" -- a session handed
    out their point-in-time images.  ``rels`` are relative tracks of ``tmap``; ``role``
    the side of the relationship that was written ("source" or "target").
    """

    kind: str
    service: str
    rid: str
    rels: np.ndarray
    tmap: TrackMap
    role: str = "source"

    def source_tracks(self) -> np.ndarray:
        """The absolute source tracks of :attr:`rels`."""
        return self.tmap.src(self.rels)


# ====================================================================== the base class
class CopyService:
    """Base class of every copy service (see the module doc).

    Subclasses set ``name`` and ``capabilities``, may set ``lifecycle`` to their
    ``(State enum, TRANSITIONS, VERBS)`` tables (checked here when the class is made,
    and enumerated by the conformance kit), and implement the shared verbs.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    lifecycle: ClassVar[tuple[type[Enum], Mapping, Mapping] | None] = None
    #: the settings key of the background-copy rate in tracks per modeled second
    rate_setting: ClassVar[str | None] = None
    #: the verbs that change relationships: the subsystem runs each under its exclusive
    #: lock, after re-reading every process's persisted state
    #: (:mod:`dasdlab.emulator.subsystem`); a service adds its own verbs to these
    control_verbs: ClassVar[frozenset[str]] = frozenset({"establish", "withdraw"})
    #: Hypothesis state machines of the service's own verbs that the conformance kit
    #: runs besides its shared checks, as ``"module:function"``
    #: (:mod:`dasdlab.testing.models`); a subclass inherits them
    kit_models: ClassVar[tuple[str, ...]] = ()
    #: kill -9 harnesses of the service's own mechanism, run by the kit as
    #: ``kill-9[FUNCTION]`` (:mod:`dasdlab.testing.crashes`), as ``"module:function"``
    kit_kills: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        caps = cls.__dict__.get("capabilities")
        if caps is not None and not isinstance(caps, Capabilities):
            raise TypeError(f"{cls.__name__}.capabilities must be a Capabilities")
        tables = cls.__dict__.get("lifecycle")
        if tables is not None:
            check_tables(*tables)

    def __init__(self, subsystem) -> None:
        self.sub = subsystem
        self.store = StateStore(subsystem.state_dir(self.name))
        self._subscribers: list[Callable[[CompletionEvent], None]] = []
        self._track_listeners: list[Callable[[TrackEvent], None]] = []
        self._intercepts: dict[str, ProtectIntercept] = {}

    # ------------------------------------------------------------------ the verbs
    def establish(self, source: str, target: str | None = None, *, source_runs=None, target_runs=None,
                  background_copy: bool | None = None, **options):
        raise self._unsupported("establish")

    def withdraw(self, rid: str):
        raise self._unsupported("withdraw")

    def drain(self, rid: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        return 0

    def query(self, rid: str | None = None) -> list[Relationship]:
        return []

    def read_point_in_time(self, rid: str, track: int) -> np.ndarray:
        raise self._unsupported("read_point_in_time")

    def tick(self, now: float) -> None:
        """Background work up to modeled time ``now`` (none by default)."""

    def load(self) -> None:
        """Read persisted state and register intercepts (nothing by default)."""

    def reload(self) -> None:
        """Take over what other processes changed in the persisted state (the
        subsystem's write path calls this when the shared generation moved).

        By default the service starts afresh: its intercepts are dropped, it is
        constructed again in place (subscribers stay) and loads.  A service whose
        callers hold live objects (relationships, sessions) overrides this to update
        them in place, and calls :meth:`_rearm_all` since another process may have
        set bits of the shared bitmaps again."""
        subscribers, listeners = self._subscribers, self._track_listeners
        for volser, icpt in list(self._intercepts.items()):
            self.sub.unregister_intercept(volser, icpt)
        self._intercepts.clear()
        CopyService.close(self)  # not the service's own close: nothing ends here
        type(self).__init__(self, self.sub)
        self._subscribers, self._track_listeners = subscribers, listeners
        self.load()

    def close(self) -> None:
        """Release what the base class holds (subclasses call it last)."""
        self.store.close()

    def describe(self, rid: str) -> Relationship:
        """The descriptor of one relationship (``query(rid)[0]``)."""
        found = self.query(rid)
        if not found:
            raise CopyServiceError("DLB805E", f"copy service {self.name} of {self.sub.name} has no "
                                              f"relationship {rid}.")
        return found[0]

    def _unsupported(self, verb: str) -> CopyServiceError:
        return CopyServiceError("DLB806E", f"copy service {self.name} has no {verb} verb.")

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[CompletionEvent], None]) -> None:
        """Call ``callback(event)`` at each logical and physical completion and failure."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[CompletionEvent], None]) -> None:
        """Stop calling ``callback`` (a one-shot listener removes itself)."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def subscribe_tracks(self, callback: Callable[[TrackEvent], None]) -> None:
        """Call ``callback(event)`` with every :class:`TrackEvent` of this service."""
        self._track_listeners.append(callback)

    def unsubscribe_tracks(self, callback: Callable[[TrackEvent], None]) -> None:
        if callback in self._track_listeners:
            self._track_listeners.remove(callback)

    def _track_event(self, kind: str, rid, tmap: TrackMap, rels, role: str = "source") -> None:
        ev = TrackEvent(kind, self.name, str(rid), np.asarray(rels, dtype=np.int64), tmap, role)
        for cb in list(self._track_listeners):
            cb(ev)

    def _landing(self, rid: str, tmap: TrackMap, then: Callable[[np.ndarray], None] | None = None
                 ) -> Callable[[np.ndarray], None]:
        """An ``on_copied`` callback for the track copier of relationship ``rid``: runs
        ``then(rels)`` (the service's own bookkeeping), then reports the tracks "copied"."""
        def landed(rels: np.ndarray) -> None:
            if then is not None:
                then(rels)
            if self._track_listeners:
                self._track_event("copied", rid, tmap, rels)
        return landed

    def _announce(self, kind: str, rid: str, reason: str | None = None,
                  rel: Relationship | None = None) -> None:
        """Send one event to every subscriber; the descriptor is built only when
        someone listens (establish stays cheap)."""
        if not self._subscribers:
            return
        if kind not in EVENT_KINDS:  # pragma: no cover - a service bug
            raise ValueError(kind)
        if rel is None:
            rel = self.describe(rid)
        ev = CompletionEvent(kind, rel, self.sub.clock.now(), reason)
        for cb in list(self._subscribers):
            cb(ev)

    # ------------------------------------------------------------------ the write path
    def _protect(self, volser: str, p: Protection) -> None:
        """Add ``p`` to this service's intercept on ``volser`` (made and registered with
        the subsystem's write path on first use)."""
        icpt = self._intercepts.get(volser)
        if icpt is None:
            icpt = self._intercepts[volser] = ProtectIntercept(volser)
            icpt.guard = self._write_guard(volser)
        p.service = self  # whose track listeners hear what the intercept saves
        if p not in icpt.entries:
            icpt.entries.append(p)
            icpt.changed()
        self.sub.register_intercept(volser, icpt)  # again: whether it redirects reads may change

    def _unprotect(self, volser: str, p: Protection) -> None:
        icpt = self._intercepts.get(volser)
        if icpt is None or p not in icpt.entries:
            return
        icpt.entries.remove(p)
        icpt.changed()
        if icpt.entries:
            self.sub.register_intercept(volser, icpt)
        else:
            self.sub.unregister_intercept(volser, icpt)
            del self._intercepts[volser]

    def _rearm(self, volser: str) -> None:
        """Tracks of ``volser`` may need actions again (bits were set again)."""
        icpt = self._intercepts.get(volser)
        if icpt is not None:
            icpt.changed()

    def _rearm_all(self) -> None:
        """Every volume's tracks may need actions again (after a reload)."""
        for icpt in self._intercepts.values():
            icpt.changed()

    def _write_guard(self, volser: str) -> Callable[[], None] | None:
        """A check to run before every host write to ``volser`` (None: no check)."""
        return None

    def _set_guard(self, volser: str) -> None:
        icpt = self._intercepts.get(volser)
        if icpt is not None:
            icpt.guard = self._write_guard(volser)

    # ------------------------------------------------------------------ preamble checks
    def _own_volume(self, volser: str, msgid: str, text: str) -> str:
        """``volser`` upper-cased if it is a volume of this subsystem, else ``msgid``.
        ``text`` may use ``{volser}``, ``{owner}`` and ``{subsystem}``."""
        v = volser.upper()
        owner = self.sub.site.volume_spec(v)["subsystem"]
        if owner != self.sub.name:
            raise CopyServiceError(msgid, text.format(volser=v, owner=owner, subsystem=self.sub.name))
        return v

    @staticmethod
    def _like_devices(src, tgt, sv: str, tv: str, msgid: str, text: str) -> None:
        """Source and target must have one track layout (slot size and heads).  ``text``
        may use ``{sv}``, ``{tv}``, ``{sg}``, ``{tg}`` (serials and geometry names)."""
        if (src.slot, src.heads) != (tgt.slot, tgt.heads):
            raise CopyServiceError(msgid, text.format(sv=sv, tv=tv, sg=src.geometry.name, tg=tgt.geometry.name))

    @staticmethod
    def _runs(runs, vol, what: str, msgid: str) -> Runs:
        """``runs`` checked against ``vol`` (None: the whole volume)."""
        return runs_mod.normalize(runs, vol.ntracks, what, msgid)

    @staticmethod
    def _overlap(x: Runs, y: Runs) -> tuple[int, int] | None:
        return runs_mod.first_overlap(x, y)

    # ------------------------------------------------------------------ ids
    def _new_id(self, prefix: str) -> str:
        """``PREFIXnnnn``, never reused in this site's subsystem, whichever process
        asks (:meth:`StateStore.next_id`)."""
        return self.store.next_id(prefix)

    # ------------------------------------------------------------------ intents
    @staticmethod
    def _with_intent(obj, attr: str, op: str, save: Callable[[Any], None], change: Callable[[], None]) -> None:
        """Make a multi-step ``change`` to ``obj`` under an intent record: ``obj.<attr> =
        op`` is saved first, the change runs, and the intent is cleared and saved.  A
        process killed in between leaves the intent for :meth:`_redo_intent`, so the
        change's persistent steps must be idempotent."""
        setattr(obj, attr, op)
        save(obj)
        change()
        setattr(obj, attr, None)
        save(obj)

    @staticmethod
    def _redo_intent(obj, attr: str, redo: Mapping[str, Callable[[], None]]) -> bool:
        """On load: finish the change ``obj.<attr>`` names (``redo[op]()``) and clear the
        intent; False when there was none.  The caller saves."""
        op = getattr(obj, attr)
        if op is None:
            return False
        if op not in redo:
            raise ValueError(f"unknown pending operation {op!r}")
        redo[op]()
        setattr(obj, attr, None)
        return True

    # ------------------------------------------------------------------ modeled time
    def _background_rate(self, default: float = 2000.0) -> float:
        """Tracks per modeled second, read from the subsystem's settings *now* (a caller
        that changes the setting later changes the running copies too)."""
        if self.rate_setting is None:
            return 0.0
        return float(self.sub.settings.get(self.rate_setting, default))

    # ------------------------------------------------------------------ the point in time
    @staticmethod
    def _pit_image(src_vol, tgt_vol, tmap: TrackMap, r: int, pending: bool) -> np.ndarray:
        """The point-in-time image of relative track ``r`` at its *source* address:
        the source's own track while ``pending`` (not yet moved), else the target's
        copy relocated back.  A never-written track reads as an unformatted one."""
        from dasdlab.emulator.trackfmt import relocate_track
        from dasdlab.emulator.volume import unformatted

        s, d = tmap.src1(r), tmap.dst1(r)
        vol, t = (src_vol, s) if pending else (tgt_vol, d)
        if not vol.holds_image(t):  # the storage itself: no read redirection, no counters
            return unformatted(src_vol.slot)
        img = np.array(vol.own_track(t))
        if t != s:
            relocate_track(img, *divmod(s, src_vol.heads))
        return img

    def _rel_of_source_track(self, tmap: TrackMap, track: int, rid: str) -> int:
        r = tmap.rel_of_src1(int(track))
        if r < 0:
            raise CopyServiceError("DLB807E", f"track {track} is not a source track of {self.name} {rid}.")
        return r


# ====================================================================== the intercept
@dataclass(eq=False)
class Protection:
    """What one relationship protects on one volume of the write path.

    ``tmap`` and ``role`` ("source" or "target") say which absolute tracks of the
    volume are its relative tracks.  ``needs(r)`` is True when a host write to relative
    track ``r`` must be acted on first; it is a bit test (no numpy, no lock) and must
    stay False once it was False, until the owner re-arms the volume
    (:meth:`CopyService._rearm`) or replaces the protection -- the intercept remembers
    such tracks and skips them.  ``act_one(vol, r, t)`` and ``act(vol, rels, tracks)``
    are the service's action for one track and for a batch (absolute ``tracks`` on the
    volume): copy the tracks now through the track copier, save them to a sidefile,
    refuse the write (raise), or record a change.  ``needs_many(rels)`` filters a batch
    (a bool mask); without it ``act`` gets every mapped track and selects itself.
    ``reads(r, t)``, when given, may serve a host read of the track from elsewhere (an
    image) or return None to read the volume.
    """

    owner: Any
    tmap: TrackMap
    role: str
    needs: Callable[[int], bool]
    act_one: Callable[[Any, int, int], None]
    act: Callable[[Any, np.ndarray, np.ndarray], None]
    needs_many: Callable[[np.ndarray], np.ndarray] | None = None
    reads: Callable[[int, int], np.ndarray | None] | None = None
    service: Any = None  # set by CopyService._protect

    def __post_init__(self) -> None:
        if self.tmap.is_identity:  # a whole volume: relative = absolute track
            n = self.tmap.n
            self.rel_of = lambda t: t if 0 <= t < n else -1
        else:
            self.rel_of = self.tmap.rel_of_src1 if self.role == "source" else self.tmap.rel_of_dst1
        self.rels_of = self.tmap.rel_of_src if self.role == "source" else self.tmap.rel_of_dst
        self.abs_of = self.tmap.src if self.role == "source" else self.tmap.dst


class ProtectIntercept:
    """The one copy-before-write intercept: a write-path hook of one service on one
    volume, holding the :class:`Protection` of each of its relationships there.

    Before a host write changes a track it asks every protection whether the track
    needs an action and runs it.  The per-track form (:meth:`before_write_one`) costs
    one set lookup for a track no protection will need again (copied, saved, outside
    every relationship), so later writes cost about what a plain write does.
    ``guard``, when set, runs before every write to the volume (a FlashCopy
    consistency-group freeze holds writes there).
    """

    def __init__(self, volser: str) -> None:
        self.volser = volser
        self.entries: list[Protection] = []
        self.guard: Callable[[], None] | None = None
        self.redirects_reads = False
        #: tracks no protection needs to see written again (see Protection.needs)
        self.cleared: set[int] = set()

    def changed(self) -> None:
        """The protections changed or were re-armed: forget what was cleared (O(1))."""
        self.cleared = set()
        self.redirects_reads = any(e.reads is not None for e in self.entries)

    def before_write_one(self, vol, t: int) -> None:
        # the set this decision is based on: if the protections change meanwhile (another
        # thread establishes), the track lands in the discarded set, never in the new one
        cleared = self.cleared
        if self.guard is not None:
            self.guard()
        elif t in cleared:
            return
        entries = self.entries
        for p in entries[:] if len(entries) > 1 else entries:
            r = p.rel_of(t)
            if r >= 0 and p.needs(r):
                p.act_one(vol, r, t)
                svc = p.service
                if svc is not None and svc._track_listeners:
                    svc._track_event("saved", getattr(p.owner, "id", ""), p.tmap, [r], p.role)
        for p in self.entries:
            r = p.rel_of(t)
            if r >= 0 and p.needs(r):
                return
        cleared.add(t)

    def before_write(self, vol, tracks: np.ndarray) -> None:
        if tracks.size == 1:
            self.before_write_one(vol, int(tracks[0]))
            return
        if self.guard is not None:
            self.guard()
        for p in list(self.entries):
            rels, inside = p.rels_of(tracks)
            if rels.size == 0:
                continue
            svc = p.service
            heard = svc is not None and svc._track_listeners
            if p.needs_many is not None:
                keep = p.needs_many(rels)
                rels = rels[keep]
                if rels.size == 0:
                    continue
                p.act(vol, rels, p.abs_of(rels))
                needed = rels
            else:
                needed = rels[np.fromiter((p.needs(int(r)) for r in rels), bool, rels.size)] if heard else None
                p.act(vol, rels, tracks[inside])
            if heard and needed.size:
                svc._track_event("saved", getattr(p.owner, "id", ""), p.tmap, needed, p.role)

    def redirect_read(self, vol, t: int) -> np.ndarray | None:
        for p in self.entries:
            if p.reads is None:
                continue
            r = p.rel_of(t)
            if r >= 0:
                img = p.reads(r, t)
                if img is not None:
                    return img
        return None


__all__ = ["Capabilities", "Relationship", "CompletionEvent", "CopyService", "Protection",
           "ProtectIntercept", "TrackEvent", "EVENT_KINDS"]
