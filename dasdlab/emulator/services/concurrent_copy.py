"""Concurrent Copy: sessions, sidefiles and the System Data Mover, cache-based and virtual.

Facts from ``docs/domain.md`` §2.1 and §4.1 item 3 (sources S38-S45):

* each DSS DUMP or COPY with ``CONCURRENT`` opens one **session** over a **domain** of
  tracks; up to 16 sessions per volume and 64 per LSS (S40; here a subsystem is one
  LSS, settings ``cc_sessions_per_volume`` and ``cc_sessions_per_lss``);
* once the session is initialised the copy is **logically complete**: DSS calls the
  caller's UIM with event 24, RC 0 (serialisation released) or RC 4 (initialisation
  failed, copy without CONCURRENT) (S39) -- here ``on_init_complete(event)``;
* after that, the **first** host write to a domain track DSS has not yet read saves a
  before-image of the whole track in a **cache sidefile** before the write applies;
  later writes to that track, and writes to tracks already read, are not intercepted
  (S40, S41);
* the System Data Mover drains cache sidefiles into a **host sidefile** (S41), here at
  ``cc_drain_tracks_per_s`` in modeled time (:meth:`ConcurrentCopyService.tick`) or at
  once (:meth:`ConcurrentCopyService.drain`); the host sidefiles of all sessions share
  one SDM data space of ``host_sidefile_bytes`` (2 GB), and **further data spaces are
  added as needed** (S41, S42): the host sidefile grows (counter
  ``host_dataspaces_hwm``).  The real stop is the SDM's auxiliary storage, which backs
  the data spaces: when the host sidefiles would pass ``sdm_aux_storage_bytes`` the SDM
  terminates the session that needs the space (DLB434E; S43 says the SDM refuses or
  ends CC when auxiliary storage runs short; the limit's size is the installation's, so
  the default is an assumption);
* DSS gets each track from the sidefile when a before-image is there, else from the
  volume (S38);
* when the cache sidefiles of all sessions pass **half of the cache** the controller
  cancels sessions, **largest sidefile first**; a cancelled session's dump fails, the
  data on the volume is not affected (S42, S43);
* the session ends (**physical completion**) when the whole domain is read and both
  sidefiles are empty (S40);
* **virtual concurrent copy** flashes (FlashCopy NOCOPY, data-set level) or snaps
  (SnapShot) the domain to working space -- data sets named like
  ``SYS1.ANTMAIN.Ssysname.SNAPnnnn`` -- and reads it from there with ordinary I/O;
  logically complete after the flash or snap (S44, S45).

A sidefile image is counted at the device's track capacity (56,664 bytes for a 3390,
``geometry.r1_capacity``).

Public API::

    cc = site.subsystem("DS8K1").service("concurrent_copy")
    sess = cc.start(volser, runs=None, on_init_complete=None,
                    virtual=False | "prefer" | "require")
    img = sess.read_track(t)                 # the dump: each domain track once
    for t, img in sess.read_tracks(): ...    # every unread track in domain order
    sess.end()                               # the dump is done (or gives up)
    sess.query()  /  cc.query()              # state and counters (dicts; cc.query() gives
                                             # contract Relationship descriptors)
    cc.tick(now); cc.drain()                 # the SDM

``runs`` are ``[start, stop)`` absolute tracks (a data set's extents); ``None`` is the
whole volume.  ``on_init_complete`` receives an :class:`InitComplete`: ``rc`` 0 once
the session is initialised (before :meth:`start` returns; from then on writes are
intercepted), or ``rc`` 4 with the message when a limit or the virtual mechanism
refuses the session -- :meth:`start` then raises that error.  Bad arguments raise
without calling it.  With ``virtual="prefer"`` a virtual session is tried first and a
cache session made when no working space or mechanism is available (DSS
``VIRTUALPREFERRED``); ``"require"`` fails instead (``VIRTUALREQUIRED``).

**Where sessions live.**  The sidefiles belong to this process, as the real host
sidefile is the SDM's data space: a session lives in the process that started it.  Their
images are kept in an unnamed temporary file (:class:`_Slab`), not in the process's
memory, so a copy's memory does not grow with the updates it has to save.
Its record (state and counters) is kept in the service's state store for
``dasdlab cc query`` and for the limits of other processes.  A process that loads the
service and finds an ACTIVE session whose process is gone marks it FAILED (message
DLB368E) and releases its working space; one whose process still runs guards its
domain: a write from this process to it is refused (DLB367E), because only the owning
process could save the before-image.  Records of ended sessions stay until
:meth:`ConcurrentCopyService.purge`.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
import weakref
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable, ClassVar, Iterator

import numpy as np

from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.copier import TrackMap
from dasdlab.emulator.services import runs as runs_mod
from dasdlab.emulator.services.contract import Capabilities, CopyService, Protection, Relationship
from dasdlab.emulator.services.lifecycle import Lifecycle
from dasdlab.errors import CopyServiceError, DasdlabError


#: the SDM's auxiliary storage for host sidefile data spaces when a subsystem's settings
#: do not say (an assumption: the limit is an installation's paging capacity, S43)
SDM_AUX_STORAGE_BYTES = 64 * 1024**3

class CCState(Enum):
    ACTIVE = "ACTIVE"  # initialised (logically complete); the dump reads the domain
    COMPLETE = "COMPLETE"  # physically complete: every track read, sidefiles empty
    CANCELLED = "CANCELLED"  # ended by the controller or the SDM; the dump fails
    ENDED = "ENDED"  # ended by the dump before it read every track
    FAILED = "FAILED"  # its process ended, or closed the site, while it was active


C = CCState
_ENDED = frozenset({C.COMPLETE, C.CANCELLED, C.ENDED, C.FAILED})

#: Name qualifier of the working-space data sets (``SYS1.ANTMAIN.Ssysname.SNAPnnnn``,
#: S45); dasdlab has no system name, so "DLAB" stands in for it.
WORK_HLQ = "SYS1.ANTMAIN.SDLAB"
#: Tracks per working-space data set: the 65,535-track limit of a data set on one
#: volume, rounded down to whole cylinders of a 3390.
WORK_CHUNK = 65_535 // 15 * 15

def _locked(fn):
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)
    return run


_LIVE: weakref.WeakValueDictionary[str, ConcurrentCopyService] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class InitComplete:
    """The "initialisation complete" event (DFSMSdss UIM event 24, S39).

    ``rc`` 0: the session exists and the copy is logically complete; the caller may
    release serialisation.  ``rc`` 4: no session; ``message`` says why.
    """

    session_id: str | None
    volser: str
    rc: int
    time: float
    method: str | None  # "cache", "virtual-flashcopy", "virtual-snapshot"
    message: str = ""


class CCSession(Lifecycle):
    """One Concurrent Copy session over a domain of one volume.

    Life cycle: ACTIVE from initialisation; COMPLETE when every domain track has been
    read; CANCELLED when the controller or the SDM drops it (sidefile overflow);
    ENDED when the dump ends it early; FAILED when its process went away.

    Fixed at start: :attr:`id`, :attr:`volser`, :attr:`tmap` (relative track <->
    absolute track; source and target runs are the domain), :attr:`method`,
    :attr:`track_bytes`.  Mutable: :attr:`state`, the bitmaps, the sidefiles, the
    counters.

    Bitmaps, by relative track:

    * :attr:`unread` -- *domain tracks the dump has not read yet* (all set at start).
    * :attr:`saved` -- *tracks whose before-image is in a sidefile* (cache or host);
      always a subset of :attr:`unread`.

    Sidefiles: :attr:`cache` and :attr:`host` map a relative track to the slot of its
    before-image in the service's :class:`_Slab`; a track is in at most one of them
    (:meth:`sidefile_image` reads one).
    """

    TRANSITIONS: ClassVar = {
        C.ACTIVE: frozenset({C.COMPLETE, C.CANCELLED, C.ENDED, C.FAILED}),
        C.COMPLETE: frozenset(),
        C.CANCELLED: frozenset(),
        C.ENDED: frozenset(),
        C.FAILED: frozenset(),
    }
    VERBS: ClassVar = {
        "read": frozenset({C.ACTIVE}),
        "end": frozenset(C),
        "query": frozenset(C),
    }
    COUNTERS = ("intercepted_writes", "cache_hwm_tracks", "host_hwm_tracks", "host_dataspaces_hwm",
                "read_sidefile", "read_live", "read_work")

    def __init__(self, service: ConcurrentCopyService, sid: str, volser: str, tmap: TrackMap,
                 method: str, track_bytes: int, now: float, track_slot: int = 0) -> None:
        self.service = service
        self.track_slot = track_slot
        self.id = sid
        self.volser = volser
        self.tmap = tmap
        self.method = method
        self.track_bytes = track_bytes
        self.state = C.ACTIVE
        self.unread = Bitmap.full(tmap.n)
        self.saved = Bitmap(tmap.n)
        self.cache: dict[int, int] = {}
        self.host: dict[int, int] = {}
        self.left = tmap.n
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        self.times: dict[str, float | None] = {"started": now, "logical": now, "physical": None,
                                              "ended": None}
        self.message = ""
        self.error: CopyServiceError | None = None
        self.work: _WorkArea | None = None
        self.intercept: Protection | None = None
        self.dirty = False  # counters changed since the record was last saved

    @property
    def what(self) -> str:
        return f"Concurrent Copy session {self.id}"

    # ------------------------------------------------------------------ the dump
    def read_track(self, t: int) -> np.ndarray:
        """The point-in-time image of domain track ``t`` (a private array).  Each track
        can be read once; afterwards writes to it are no longer intercepted."""
        return self.service._read(self, int(t))

    def read_tracks(self, tracks=None, progress: Callable[[int, int], None] | None = None
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(track, image)`` for ``tracks`` (default: every unread domain track,
        in domain order).  A cancelled session raises its message at the next track."""
        if tracks is None:
            tracks = self.tmap.src(self.unread.indices())
        tracks = [int(t) for t in tracks]
        for i, t in enumerate(tracks):
            yield t, self.read_track(t)
            if progress is not None:
                progress(i + 1, len(tracks))

    def sidefile_image(self, r: int) -> np.ndarray | None:
        """The before-image of relative track ``r`` held in a sidefile (a copy), or None."""
        i = self.cache.get(r, self.host.get(r))
        return None if i is None else self.service._slab(self.track_slot).get(i)

    def end(self) -> None:
        """The dump is finished with the session (early, or after reading all)."""
        self.service._end(self)

    def query(self) -> dict:
        self.require("query")
        return self.service._describe(self)


def _sidefile_protection(svc: ConcurrentCopyService, s: CCSession) -> Protection:
    """The write-path protection of a cache session: the first write to an unread,
    unsaved domain track saves its before-image (answered without numpy or the lock
    for every other track)."""
    unread, saved = s.unread, s.saved
    return Protection(
        s, s.tmap, "source",
        needs=lambda r: s.state is C.ACTIVE and unread.test(r) and not saved.test(r),
        act_one=lambda vol, r, t: svc._intercept(s, vol, np.array([t], dtype=np.int64)),
        act=lambda vol, rels, tracks: svc._intercept(s, vol, tracks))


def _foreign_guard(svc: ConcurrentCopyService, rec: dict) -> Protection:
    """A session of another live process: its before-images cannot be saved from here,
    so writes to its domain are refused while it is active."""
    tmap = TrackMap.from_runs(rec["runs"], rec["runs"])
    holder: list[Protection] = []

    def refuse(t: int) -> None:
        now = svc.store.get(rec["id"])
        if now is None or now["state"] != C.ACTIVE.value or not _owner_alive(now["owner"]):
            svc._unguard(rec["id"])
            return
        raise CopyServiceError(
            "DLB367E", f"track {t} of volume {rec['volser']} is in the domain of "
            f"Concurrent Copy session {rec['id']}, active in process {now['owner']['pid']}; "
            "only that process can save the before-images. Write from that process, or end "
            "the session first."
        )

    holder.append(Protection(rec, tmap, "source", needs=lambda r: True,
                             act_one=lambda vol, r, t: refuse(t),
                             act=lambda vol, rels, tracks: refuse(int(tracks[0]))))
    return holder[0]


class ConcurrentCopyService(CopyService):
    """The Concurrent Copy sessions and the SDM of one subsystem (see module doc)."""

    PREFIX = "CC"
    name = "concurrent_copy"
    capabilities = Capabilities(
        levels={"volume", "dataset"}, background_copy=False, nocopy=True, fast_replication=False,
        virtual_cc=None, point_in_time_reader="session", cross_subsystem=False,
        subsystem_kinds={"ds8000", "rva"})
    lifecycle = (CCState, CCSession.TRANSITIONS, CCSession.VERBS)
    kit_models = ("dasdlab.testing.models.concurrent_copy:machine",)
    rate_setting = "cc_drain_tracks_per_s"
    control_verbs = CopyService.control_verbs | {"start"}

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.sessions: dict[str, CCSession] = {}
        self.token = uuid.uuid4().hex
        self.closed = False
        _LIVE[self.token] = self
        self._fifo: deque[tuple[str, int]] = deque()  # cache sidefile entries, oldest first
        self._drain_time = subsystem.clock.now()
        self._drain_carry = 0.0
        self._slabs: dict[int, _Slab] = {}
        #: the guards of other live processes' sessions, by session id
        self._guards: dict[str, tuple[str, Protection]] = {}
        #: one lock for sessions and sidefiles: host writers, the dump and the SDM may
        #: run in different threads
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ service protocol
    def load(self) -> None:
        """Fail sessions of processes that are gone; guard those of live ones."""
        for rec in self.store.records().values():
            if rec.get("state") != C.ACTIVE.value:
                continue
            if _owner_alive(rec["owner"]):
                self._guard(rec)
                continue
            rec["state"] = C.FAILED.value
            rec["message"] = (
                f"DLB368E Concurrent Copy session {rec['id']} was active in process "
                f"{rec['owner']['pid']}, which ended before the dump finished; its sidefiles are "
                "lost and the dump cannot complete (data on the volume is not affected)."
            )
            rec["times"]["ended"] = self.sub.clock.now()
            try:
                self._release_work_record(rec)
            except Exception as e:  # noqa: BLE001 - keep loading; say what is left behind
                rec["message"] += f" Its working space could not be released: {e}"
            self.store.put(rec["id"], rec)

    @_locked
    def reload(self) -> None:
        """Take over sessions other processes started or ended since :meth:`load`:
        guard the domains of new live ones, drop the guards of ended ones.  This
        process's own sessions stay as they are (their sidefiles are here)."""
        recs = self.store.records()
        for sid in list(self._guards):
            rec = recs.get(sid)
            if rec is None or rec.get("state") != C.ACTIVE.value:
                self._unguard(sid)
        for rec in recs.values():
            sid = rec.get("id")
            if rec.get("state") != C.ACTIVE.value or sid in self.sessions or sid in self._guards:
                continue
            if _owner_alive(rec["owner"]):
                self._guard(rec)

    def _guard(self, rec: dict) -> None:
        """Refuse writes to the domain of another live process's session (DLB367E)."""
        p = _foreign_guard(self, rec)
        self._guards[rec["id"]] = (rec["volser"], p)
        self._protect(rec["volser"], p)

    def _unguard(self, sid: str) -> None:
        found = self._guards.pop(sid, None)
        if found is not None:
            self._unprotect(*found)

    @_locked
    def tick(self, now: float) -> None:
        """The SDM drains cache sidefiles into the host sidefile at its modeled rate."""
        rate = self._background_rate(5000.0)
        dt = now - self._drain_time
        if dt <= 0:
            return
        budget = dt * rate + self._drain_carry
        n = int(budget)
        self._drain_time = now
        moved = self._drain(n)
        # an idle SDM does not bank drain capacity
        self._drain_carry = budget - n if moved == n else 0.0
        self._save_all()

    @_locked
    def close(self) -> None:
        for s in list(self.sessions.values()):
            if s.state is C.ACTIVE:
                self._finish(s, C.FAILED, "DLB368E", f"{s.what} was active when its site was closed; "
                             "the dump cannot complete (data on the volume is not affected).")
        self.closed = True
        _LIVE.pop(self.token, None)
        for slab in self._slabs.values():
            slab.close()
        self._slabs.clear()
        super().close()

    # ------------------------------------------------------------------ the contract
    def establish(self, source: str, target: str | None = None, *, source_runs=None, target_runs=None,
                  background_copy: bool | None = None, **options) -> Relationship:
        """:meth:`start` under the contract's names; a session has no target (the dump
        reads through :meth:`read_point_in_time`).  Options: ``virtual``,
        ``on_init_complete``."""
        if target is not None or target_runs is not None or background_copy:
            raise CopyServiceError("DLB362E", "a Concurrent Copy session has no target and no background "
                                              "copy; the dump reads the domain through the session.")
        s = self.start(source, source_runs, **options)
        return self.describe(s.id)

    def withdraw(self, sid: str) -> Relationship:
        """End the session (:meth:`CCSession.end`)."""
        s = self.session(sid)
        s.end()
        return self.describe(s.id)

    def read_point_in_time(self, sid: str, track: int) -> np.ndarray:
        """The dump's read of ``track`` (once per track: the session then stops protecting it)."""
        return self.session(sid).read_track(track)

    def describe(self, sid: str) -> Relationship:
        s = self.sessions.get(str(sid).upper())
        if s is not None:
            return self._descriptor(self._describe(s))
        rec = self.store.get(str(sid).upper())
        if rec is None:
            self.session(sid)  # raises the "no such session" message
        return self._descriptor(self._describe_record(rec))

    def _descriptor(self, d: dict) -> Relationship:
        return Relationship.make(
            id=d["id"], service=self.name, state=d["state"], source=d["volser"], source_runs=d["runs"],
            target=None, target_runs=None, tracks_total=d["tracks_total"],
            tracks_copied=d["tracks_read"] or 0, cow_count=d["intercepted_writes"],
            logical_at=d["logical_complete_at"], physical_at=d["physical_complete_at"], details=d)

    # ------------------------------------------------------------------ start
    def start(self, volser: str, runs=None, on_init_complete: Callable[[InitComplete], None] | None = None,
              virtual: bool | str = False) -> CCSession:
        """Initialise a session over ``runs`` of ``volser`` (see the module doc)."""
        volser = volser.upper()
        if virtual not in (False, None, "prefer", "require"):
            raise CopyServiceError("DLB362E", f"virtual={virtual!r} is not one of False, 'prefer', 'require'.")
        self._own_volume(volser, "DLB362E", "volume {volser} belongs to {owner}; start its Concurrent Copy "
                         "session there.")
        vol = self.sub.open_volume(volser)
        domain = self._runs(runs, vol, f"Concurrent Copy domain on {volser}", "DLB362E")
        now = self.sub.clock.now()
        # the event is sent outside the lock: the caller may hand work to other threads
        with self._lock:
            result = self._initialise(volser, vol, domain, virtual, now)
        if isinstance(result, CopyServiceError):
            if on_init_complete is not None:
                on_init_complete(InitComplete(None, volser, 4, now, None, str(result)))
            raise result
        s = result
        self._announce("logical", s.id)
        if on_init_complete is not None:
            on_init_complete(InitComplete(s.id, volser, 0, now, s.method, f"DLB369I {s.what} initialised on "
                                          f"{volser} ({s.tmap.n} tracks, {s.method}); serialisation may be "
                                          "released."))
        return s

    def _initialise(self, volser: str, vol, domain, virtual, now: float) -> CCSession | CopyServiceError:
        """The session, registered and recorded; or the error that refuses it."""
        err = self._check_limits(volser)
        if err is not None:
            return err
        mechanism = self._virtual_mechanism() if virtual else None
        if virtual == "require" and mechanism is None:
            return CopyServiceError(
                "DLB366E", f"virtual Concurrent Copy was required, but subsystem {self.sub.name} has "
                "neither FlashCopy nor SnapShot to make a working copy.")
        sid = self._new_id(self.PREFIX)
        method = "cache"
        work = None
        if mechanism is not None:
            try:
                work = _WorkArea.make(self, sid, volser, domain, mechanism)
                method = f"virtual-{mechanism}"
            except DasdlabError as e:
                if virtual == "require":
                    return CopyServiceError("DLB366E", f"virtual Concurrent Copy was required but failed: {e}")
        s = CCSession(self, sid, volser, TrackMap.from_runs(domain, domain), method,
                      vol.geometry.r1_capacity, now, vol.slot)
        s.work = work
        self.sessions[sid] = s
        if work is None:
            s.intercept = _sidefile_protection(self, s)
            self._protect(volser, s.intercept)
        self._save(s)
        return s

    # ------------------------------------------------------------------ the SDM
    @_locked
    def drain(self, rid: str | None = None, progress: Callable[[int, int], None] | None = None,
              max_tracks: int | None = None) -> int:
        """Move cache sidefile images to the host sidefile now, oldest first (the SDM
        serves every session; ``rid`` and ``progress`` are the contract's and unused)."""
        moved = self._drain(len(self._fifo) if max_tracks is None else max_tracks)
        self._save_all()
        return moved

    def _drain(self, n: int) -> int:
        aux = int(self.sub.settings.get("sdm_aux_storage_bytes", SDM_AUX_STORAGE_BYTES))
        space = int(self.sub.settings["host_sidefile_bytes"])
        moved = 0
        while moved < n and self._fifo:
            sid, r = self._fifo.popleft()
            s = self.sessions.get(sid)
            if s is None or s.state is not C.ACTIVE or r not in s.cache:
                continue  # read by the dump, or the session is gone
            used = self._used("host") + s.track_bytes
            if used > aux:
                self._cancel(s, f"the System Data Mover ran short of auxiliary storage (its limit of {aux} "
                                "bytes for the host sidefile data spaces of all sessions is reached), so it "
                                "could not take its before-images", msgid="DLB434E")
                continue
            s.host[r] = s.cache.pop(r)
            s.counters["host_hwm_tracks"] = max(s.counters["host_hwm_tracks"], len(s.host))
            s.counters["host_dataspaces_hwm"] = max(s.counters["host_dataspaces_hwm"], -(-used // space))
            s.dirty = True
            moved += 1
        return moved

    # ------------------------------------------------------------------ queries
    def session(self, sid: str) -> CCSession:
        s = self.sessions.get(str(sid).upper())
        if s is None:
            raise CopyServiceError("DLB365E", f"this process has no Concurrent Copy session {sid} on {self.sub.name}.")
        return s

    @_locked
    def query(self, sid: str | None = None) -> list[Relationship]:
        """Every session of the subsystem (or ``sid``): this process's live ones with their
        current sidefiles, the others as last recorded."""
        if sid is not None:
            return [self.describe(sid)]
        out = []
        for key, rec in self.store.records().items():
            s = self.sessions.get(key)
            out.append(self._descriptor(self._describe(s) if s is not None else self._describe_record(rec)))
        return out

    @_locked
    def purge(self) -> list[str]:
        """Forget the records of ended sessions; returns their ids."""
        gone = []
        for key, rec in self.store.records().items():
            if rec.get("state") != C.ACTIVE.value:
                self.store.delete(key)
                self.sessions.pop(key, None)
                gone.append(key)
        return gone

    # ------------------------------------------------------------------ internals
    def _slab(self, slot: int) -> _Slab:
        slab = self._slabs.get(slot)
        if slab is None:
            folder = getattr(getattr(self.sub, "site", None), "path", None)
            slab = self._slabs[slot] = _Slab(slot, folder)
        return slab

    def _check_limits(self, volser: str) -> CopyServiceError | None:
        active = [r for r in self.store.records().values() if r.get("state") == C.ACTIVE.value
                  and (r["id"] in self.sessions or _owner_alive(r["owner"]))]
        per_vol = int(self.sub.settings["cc_sessions_per_volume"])
        per_lss = int(self.sub.settings["cc_sessions_per_lss"])
        on_vol = [r["id"] for r in active if r["volser"] == volser]
        if len(on_vol) >= per_vol:
            return CopyServiceError(
                "DLB360E", f"volume {volser} already has {len(on_vol)} Concurrent Copy sessions, the "
                f"limit per volume is {per_vol}; wait for one to end."
            )
        if len(active) >= per_lss:
            return CopyServiceError(
                "DLB361E", f"subsystem {self.sub.name} already has {len(active)} Concurrent Copy sessions, "
                f"the limit per LSS is {per_lss}; wait for one to end."
            )
        return None

    def _virtual_mechanism(self) -> str | None:
        """The service that makes the working copy: one of the subsystem's that declares a
        virtual Concurrent Copy mechanism (a snap first)."""
        from dasdlab.emulator.services import registry

        found = registry.virtual_cc_mechanisms(self.sub.capabilities)
        return found[0] if found else None

    @_locked
    def _intercept(self, s: CCSession, vol, tracks: np.ndarray) -> None:
        """First write to an unread, unsaved domain track: save its before-image."""
        if s.state is not C.ACTIVE:
            return
        if tracks.size == 1:
            t = int(tracks[0])
            r = s.tmap.rel_of_src1(t)
            if r < 0 or not s.unread.test(r) or s.saved.test(r):
                return
            pairs = [(r, t)]
        else:
            rel = s.tmap.rel_of_src(tracks)[0]
            rel = rel[s.unread.test_many(rel) & ~s.saved.test_many(rel)]
            pairs = list(zip(rel.tolist(), s.tmap.src(rel).tolist()))
        if not pairs:
            return
        slab = self._slab(s.track_slot)
        for r, t in pairs:
            s.cache[r] = slab.put(vol.read_track(t))
            s.saved.set(r)
            self._fifo.append((s.id, r))
        s.counters["intercepted_writes"] += len(pairs)
        s.counters["cache_hwm_tracks"] = max(s.counters["cache_hwm_tracks"], len(s.cache))
        s.dirty = True
        self._enforce_cache()

    def _enforce_cache(self) -> None:
        """Cancel sessions, largest cache sidefile first, while all of them together
        hold more than half of the cache (S42)."""
        half = int(self.sub.settings["cache_bytes"]) / 2
        while (used := self._used("cache")) > half:
            victim = max((s for s in self.sessions.values() if s.state is C.ACTIVE and s.cache),
                         key=lambda s: (len(s.cache) * s.track_bytes, s.id))
            self._cancel(victim, f"the cache sidefiles of all sessions ({used} bytes) passed half of the "
                                 f"cache ({int(half)} bytes) and its sidefile "
                                 f"({len(victim.cache) * victim.track_bytes} bytes) was the largest")

    def _used(self, which: str) -> int:
        return sum(len(getattr(s, which)) * s.track_bytes for s in self.sessions.values()
                   if s.state is C.ACTIVE)

    def _cancel(self, s: CCSession, why: str, msgid: str = "DLB363E") -> None:
        self._finish(s, C.CANCELLED, msgid,
                     f"{s.what} on {s.volser} was cancelled: {why}. The dump cannot complete; the data "
                     "on the volume is not affected.")

    def _finish(self, s: CCSession, state: CCState, msgid: str | None = None, text: str = "") -> None:
        s.to(state)
        if msgid is not None:
            s.error = CopyServiceError(msgid, text)
            s.message = str(s.error)
        now = self.sub.clock.now()
        s.times["ended"] = now
        if state is C.COMPLETE:
            s.times["physical"] = now
        slab = self._slab(s.track_slot)
        for i in (*s.cache.values(), *s.host.values()):
            slab.release(i)
        s.cache.clear()
        s.host.clear()
        if s.intercept is not None:
            self._unprotect(s.volser, s.intercept)
            s.intercept = None
        if s.work is not None:
            s.work.release()
        self._save(s)
        if state is C.COMPLETE:
            self._announce("physical", s.id)
        elif state in (C.CANCELLED, C.FAILED):
            self._announce("failed", s.id, s.message)

    @_locked
    def _read(self, s: CCSession, t: int) -> np.ndarray:
        if s.error is not None and s.state is not C.ACTIVE:
            raise s.error
        if s.state is not C.ACTIVE:
            raise CopyServiceError(
                "DLB364E", f"{s.what} is {s.state.value}; the dump cannot read from it any more."
            )
        rel = s.tmap.rel_of_src(np.array([t], dtype=np.int64))[0]
        if rel.size == 0:
            raise CopyServiceError("DLB364E", f"track {t} of {s.volser} is not in the domain of {s.what}.")
        r = int(rel[0])
        if not s.unread.test(r):
            raise CopyServiceError(
                "DLB364E", f"track {t} of {s.volser} was read already by {s.what}; it is no longer "
                "protected, so a second read would not give the point-in-time image."
            )
        i = s.host.pop(r, None)
        if i is None:
            i = s.cache.pop(r, None)
        img = None
        if i is not None:
            slab = self._slab(s.track_slot)
            img = slab.get(i)
            slab.release(i)
            s.counters["read_sidefile"] += 1
        elif s.work is not None:
            img = s.work.read(r, t)
            s.counters["read_work"] += 1
        else:
            img = np.array(self.sub.open_volume(s.volser).read_track(t))
            s.counters["read_live"] += 1
        s.unread.clear(r)
        s.saved.clear(r)
        s.left -= 1
        s.dirty = True
        if self._track_listeners:
            self._track_event("read", s.id, s.tmap, [r])
        if s.left == 0:
            self._finish(s, C.COMPLETE)
        return img

    @_locked
    def _end(self, s: CCSession) -> None:
        s.require("end")
        if s.state is C.ACTIVE:
            self._finish(s, C.ENDED)

    def _describe(self, s: CCSession) -> dict:
        d = self._base(s.id, s.volser, s.tmap.src_runs(), s.method, s.state.value, s.times, s.counters,
                       s.track_bytes, s.message, os.getpid())
        d.update(tracks_read=s.tmap.n - s.left, cache_sidefile_tracks=len(s.cache),
                 host_sidefile_tracks=len(s.host), work_area=s.work.describe() if s.work else None)
        return d

    def _describe_record(self, rec: dict) -> dict:
        d = self._base(rec["id"], rec["volser"], [tuple(r) for r in rec["runs"]], rec["method"],
                       rec["state"], rec["times"], rec["counters"], rec["track_bytes"],
                       rec.get("message", ""), rec["owner"]["pid"])
        d.update(tracks_read=rec.get("tracks_read"), cache_sidefile_tracks=rec.get("cache_tracks"),
                 host_sidefile_tracks=rec.get("host_tracks"), work_area=rec.get("work"))
        return d

    def _base(self, sid, volser, runs, method, state, times, counters, tb, message, pid) -> dict:
        c = counters
        return {
            "id": sid, "subsystem": self.sub.name, "volser": volser, "method": method, "state": state,
            "runs": [list(r) for r in runs], "tracks_total": sum(b - a for a, b in runs),
            "intercepted_writes": c["intercepted_writes"],
            "cache_hwm_tracks": c["cache_hwm_tracks"], "cache_hwm_bytes": c["cache_hwm_tracks"] * tb,
            "host_hwm_tracks": c["host_hwm_tracks"], "host_hwm_bytes": c["host_hwm_tracks"] * tb,
            "host_dataspaces_hwm": c.get("host_dataspaces_hwm", 0),
            "tracks_read_sidefile": c["read_sidefile"], "tracks_read_live": c["read_live"],
            "tracks_read_work_area": c["read_work"], "track_bytes": tb,
            "started_at": times.get("started"), "logical_complete_at": times.get("logical"),
            "physical_complete_at": times.get("physical"), "ended_at": times.get("ended"),
            "owner_pid": pid, "message": message,
        }

    def _save(self, s: CCSession) -> None:
        self.store.put(s.id, {
            "id": s.id, "volser": s.volser, "runs": s.tmap.src_runs(), "method": s.method,
            "state": s.state.value, "owner": _owner(self.token), "times": s.times,
            "counters": s.counters, "track_bytes": s.track_bytes, "message": s.message,
            "tracks_read": s.tmap.n - s.left, "cache_tracks": len(s.cache), "host_tracks": len(s.host),
            "work": s.work.describe() if s.work is not None else None,
        })
        s.dirty = False

    def _save_all(self) -> None:
        for s in self.sessions.values():
            if s.dirty:
                self._save(s)

    def _release_work_record(self, rec: dict) -> None:
        """Free the working space of a session whose process is gone."""
        if rec.get("work"):
            _WorkArea.from_record(self, rec["work"]).release()


class _Slab:
    """The sidefiles' track images, one slot per image in an unnamed temporary file (in
    the site's folder when it has one): the sidefiles stand for the controller cache and
    the SDM's data spaces, not for this process's memory, so they live in the page cache
    the kernel can write back, and the process's resident memory does not grow with the
    updates a copy has to save.  The file has no name from the start (``O_TMPFILE`` or
    unlinked at once), so a killed process leaves nothing behind.  Freed slots are
    reused, so the file is as large as the sidefiles' high-water mark."""

    def __init__(self, slot: int, folder=None) -> None:
        import tempfile

        self.slot = slot
        self.file = tempfile.TemporaryFile(prefix="cc-sidefile-", dir=folder)
        self.fd = self.file.fileno()
        self.free: list[int] = []
        self.slots = 0  # slots ever used: the file's size in images

    def put(self, img: np.ndarray) -> int:
        if self.free:
            i = self.free.pop()
        else:
            i = self.slots
            self.slots += 1
        os.pwrite(self.fd, np.ascontiguousarray(img), i * self.slot)
        return i

    def get(self, i: int) -> np.ndarray:
        """A new array holding image ``i`` (the slot may be reused once released)."""
        out = np.empty(self.slot, dtype=np.uint8)
        if os.preadv(self.fd, [out], i * self.slot) != self.slot:  # pragma: no cover
            raise OSError(f"short read of sidefile slot {i}")
        return out

    def release(self, i: int) -> None:
        self.free.append(i)
        if len(self.free) == self.slots:  # empty: give the disk back
            self.free.clear()
            self.slots = 0
            os.ftruncate(self.fd, 0)

    def close(self) -> None:
        self.file.close()


class _WorkArea:
    """Virtual CC's intermediate copy: the domain flashed or snapped into working-space
    data sets on a volume of the same subsystem, read back with ordinary I/O.

    ``tmap`` pairs the domain (relative track) with the work tracks.
    """

    def __init__(self, svc: ConcurrentCopyService, mechanism: str, volser: str, dsns: list[str],
                 tmap: TrackMap, relation: str | None) -> None:
        self.svc = svc
        self.mechanism = mechanism
        self.volser = volser
        self.dsns = dsns
        self.tmap = tmap
        self.relation = relation
        self.released = False

    @classmethod
    def make(cls, svc: ConcurrentCopyService, sid: str, volser: str, domain, mechanism: str) -> _WorkArea:
        sub = svc.sub
        src = sub.open_volume(volser)
        n = runs_mod.total(domain)
        # working space on another volume first, the source volume last
        cands = sorted(sub.volsers(), key=lambda v: (v == volser, v))
        last_err = None
        for v in cands:
            wvol = sub.open_volume(v, writable=True)
            if (wvol.heads, wvol.slot) != (src.heads, src.slot):
                continue
            dsns, dst = [], []
            try:
                left, k = n, 1
                while left:
                    take = min(left, WORK_CHUNK)
                    dsn = f"{WORK_HLQ}.{'SNAP' if mechanism == 'snapshot' else 'FLSH'}{int(sid[2:]):04d}"
                    dsn = dsn if k == 1 else f"{dsn}.P{k}"
                    entry = wvol.vtoc.allocate(dsn, dsorg="PS", recfm="U", lrecl=wvol.geometry.r1_capacity,
                                               blksize=wvol.geometry.r1_capacity, primary=take, unit="TRK")
                    dsns.append(dsn)
                    dst.extend(entry.track_list(wvol.heads))
                    left -= take
                    k += 1
            except Exception as e:  # noqa: BLE001 - no room here; try the next volume
                last_err = e
                for d in dsns:
                    wvol.vtoc.delete(d)
                continue
            tmap = TrackMap.from_runs(domain, dst)
            work = cls(svc, mechanism, v, dsns, tmap, None)
            try:
                work.relation = work._establish(volser, domain, dst)
            except Exception:
                for d in dsns:
                    wvol.vtoc.delete(d)
                raise
            return work
        raise CopyServiceError(
            "DLB366E", f"no volume of {sub.name} has {n} free tracks of working space for virtual "
            f"Concurrent Copy{f' ({last_err})' if last_err else ''}."
        )

    def _establish(self, volser: str, domain, dst) -> str | None:
        """The working copy, through the mechanism's contract verb: logical only, no
        background copy (the work area is read once and released)."""
        svc = self.svc.sub.service(self.mechanism)
        opts = {"background_copy": False} if svc.capabilities.nocopy else {}
        return svc.establish(volser, self.volser, source_runs=domain, target_runs=dst, **opts).id

    def read(self, r: int, t: int) -> np.ndarray:
        """The domain track ``t`` (relative ``r``) as the work area holds it, at its own address."""
        from dasdlab.emulator.trackfmt import relocate_track

        wvol = self.svc.sub.open_volume(self.volser)
        wt = int(self.tmap.dst(np.array([r], dtype=np.int64))[0])
        if not wvol.is_written(wt):
            return np.zeros(wvol.slot, dtype=np.uint8)
        img = np.array(wvol.read_track(wt))
        if wt != t:
            relocate_track(img, *divmod(t, wvol.heads))
        return img

    def describe(self) -> dict:
        return {"mechanism": self.mechanism, "volser": self.volser, "datasets": self.dsns,
                "relation": self.relation, "map": self.tmap.to_json()}

    @classmethod
    def from_record(cls, svc: ConcurrentCopyService, rec: dict) -> _WorkArea:
        return cls(svc, rec["mechanism"], rec["volser"], rec["datasets"], TrackMap.from_json(rec["map"]),
                   rec.get("relation"))

    def release(self) -> None:
        """Drop the flash or snap and delete the working-space data sets."""
        if self.released:
            return
        self.released = True
        sub = self.svc.sub
        if self.relation is not None:
            svc = sub.service(self.mechanism)
            if any(r.id == self.relation for r in svc.query()):  # not already gone
                svc.withdraw(self.relation)
        wvol = sub.open_volume(self.volser, writable=True)
        for d in self.dsns:
            if d in wvol.vtoc:
                # the space goes back with the data set: a scratched work area whose tracks
                # stayed written would keep its slots (or its file's blocks) for ever
                runs = wvol.vtoc.get(d).track_list(wvol.heads)
                wvol.discard_tracks(np.concatenate([np.arange(x, y, dtype=np.int64) for x, y in runs])
                                    if runs else np.empty(0, np.int64))
                wvol.vtoc.delete(d)


def _proc_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), so that a
    reused pid is not mistaken for the owner."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _owner(token: str) -> dict:
    pid = os.getpid()
    return {"pid": pid, "start": _proc_start(pid), "token": token}


def _owner_alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if pid == os.getpid():
        svc = _LIVE.get(owner.get("token", ""))
        return svc is not None and not svc.closed
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    start = _proc_start(pid)
    return start is None or owner.get("start") is None or start == owner["start"]


__all__ = ["CCSession", "CCState", "ConcurrentCopyService", "InitComplete"]
