"""FlashCopy: point-in-time copy relationships of a DS8000-like subsystem.

Facts from ``docs/domain.md`` §2.2 and §4.1 item 4: establish and the
bitmaps (S30, S48), the read/write rules while a relationship exists (S48, S49, S50),
COPY and NOCOPY (S51, S52, S53), withdraw and DDSW (S52, S55), data-set level and the
limits (S50, S53), incremental FlashCopy and reverse restore (S56, S57), space-efficient
targets (S58, S59), consistency groups (S60, S61, S62).

Public API (stable; used by the DFSMSdss front end and the image copy engine)::

    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish(source_volser, target_volser, src_runs=None, dst_runs=None,
                       mode="COPY" | "NOCOPY", incremental=False | True | "YTW",
                       space_efficient=False, freeze=False, on_physical=None)
    fc.withdraw(rel.id, ddsw=False)   fc.get(id)        fc.relationships()
    fc.drain(id=None, progress=None)  fc.refresh(id)    fc.reverse(id)
    fc.thaw(volsers=None)             fc.subscribe(fn)  fc.tick(now)
    fc.query(id=None) -> [Relationship]   fc.read_point_in_time(id, track)
    rel.query() -> dict               rel.physical (threading.Event)

The service is a :class:`~dasdlab.emulator.services.contract.CopyService`: the
contract's keywords ``source_runs``/``target_runs``/``background_copy`` are accepted by
:meth:`FlashCopyService.establish` beside its own ``src_runs``/``dst_runs``/``mode``.

``src_runs``/``dst_runs`` are lists of absolute ``[start, stop)`` track runs; both None
makes a volume-level relationship (identity map; the target may be larger), only
``src_runs`` copies those tracks to the same addresses.  A data-set-level target sits at
other addresses, so the copier gives each target track its own CCHH in the home address
and every count field (:func:`dataset_runs` turns a data set into runs).

**Semantics.**  *Logical completion* is the return of :meth:`FlashCopyService.establish`:
from then on the target reads as the source did at that instant.  *Physical completion*
is the end of the background copy; ``on_physical(rel)``, ``rel.physical`` (an Event)
and the ``"physical"`` :class:`~dasdlab.emulator.services.contract.CompletionEvent`
of :meth:`FlashCopyService.subscribe` report it.

* A source host write first copies the point-in-time track to the target if it is
  still to copy (copy-on-write; ``cow_count``).
* A target read of a track still to copy is served from the source (a private copy,
  relocated to the target address; ``target_reads_redirected``).
* A target host write takes its tracks out of the relationship; the write path does
  not say whether a write covers the whole track, so every target write first gets the
  source image (needed for a partial write; a full-track write then replaces it).
* COPY copies ``fc_background_tracks_per_s`` tracks per modeled second per
  relationship in :meth:`tick`; :meth:`drain` copies to completion at once.  A
  non-persistent relationship ends by itself when nothing is left to copy (state
  COMPLETED; the record stays for queries until withdrawn).
* **Withdraw of an unfinished relationship (NOCOPY targets are "unpredictable",
  S53):** we leave the target volume as it is: tracks copied so far hold the
  point-in-time image, the others whatever the target held before the establish.
  ``ddsw=True`` converts to COPY and withdraws when the background copy ends (not for
  space-efficient targets, S55).
* Incremental (``True`` = INCREMENTAL(YES): target write-inhibited, DLB334E;
  ``"YTW"``: target writes allowed) keeps the relationship after the copy (state
  COPIED) with change-recording bitmaps on both sides; :meth:`refresh` recopies only
  changed tracks; :meth:`reverse` (only in COPIED, S56) exchanges source and target and
  copies the changed tracks back; the relationship stays reversed.
* Space-efficient targets (NOCOPY only, not incremental) draw one repository track per
  target track the first time it is written (copy-on-write or host write).  The
  repository is ``fc_repository_tracks`` per subsystem (default below).  When it is
  full the relationship goes to FAILED with a message; the source write proceeds, and
  target reads and writes raise DLB339E until the relationship is withdrawn.
* Consistency groups: ``freeze=True`` holds host writes to the source volume
  (extended long busy) until :meth:`thaw` or until ``cg_timer_s`` modeled seconds
  passed.  The emulator is synchronous, so a held write is **not queued**: it raises
  :class:`WritesHeld` (DLB340W, ``.volser``, ``.until``) *before* anything changes,
  and the caller retries after a thaw or after advancing the clock past ``until``.

**Incremental is full-volume only** (DLB432E): ANTRQST rejects INCREMENTAL(YES) with
extents (S77) and DFSMSdss's FCINCREMENTAL establishes a full-volume relationship (S78).

**Limits** (DLB32x): 12 targets per source track (``fc_targets_per_source``), one
incremental relationship per source volume, one source per target track (target
extents never overlap), no cascading (a track is never source and target at once, as on
the DS6000, S57) unless the subsystem setting ``fc_cascading`` is on (DS8880 R8.3 and
later, S91), 65,534 relationships per volume.

**Persistence and crash safety.**  Under ``SITE/state/SUBSYSTEM/flashcopy/``:
``FCnnnn.json`` (the record) and ``FCnnnn.maps.bm``, one shared-mapped file of uint64
words: eight counters (so counts survive ``kill -9``; copies add to them under the
copier's lock, so counts of processes copying at once add up), then the four bitmaps
(``to_copy``, ``src_changed``, ``tgt_changed``, ``allocated``), each ``ceil(n/64)``
words; unused ones stay holes.  One file keeps establish at a few system calls
(docs/limits.md A6).  ``FREEZE.json`` holds frozen volumes.  Bitmaps are written before the
record that makes them live; a track image lands before its bit is cleared (see
:mod:`dasdlab.emulator.copier`), so after a kill every set bit still redirects to an
unchanged source track and the target view stays the point-in-time image.  Refresh
and reverse mark the record ``pending`` first and are redone on load; a record whose
bitmaps are missing or damaged is loaded as FAILED with a DLB343E message.
Relationships are loaded when the subsystem first opens a volume, and reloaded
(:meth:`FlashCopyService.reload`) whenever another process changed them, before this
process's next host write (:mod:`dasdlab.emulator.subsystem`), so a relationship
established by any process intercepts the writes of every process.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Callable

import numpy as np

from dasdlab.emulator.bitmap import Bitmap, words_for
from dasdlab.emulator.copier import ModeledRate, TrackCopier, TrackMap, runs_overlap
from dasdlab.emulator.geometry import model
from dasdlab.emulator.services.contract import Capabilities, CopyService, Protection, Relationship
from dasdlab.emulator.services.lifecycle import Lifecycle
from dasdlab.errors import CopyServiceError

#: Repository size for space-efficient targets when the subsystem settings have none:
#: the tracks of one 3390-9 (an assumption; real repositories are sized by the user).
DEFAULT_REPOSITORY_TRACKS = model("3390-9").tracks()  # 150,255
#: Data-set-level relationships per volume (DS8880, S53).
RELATIONSHIPS_PER_VOLUME = 65_534

# counter words at the start of FCnnnn.maps.bm; the bitmaps follow in this order
_MAPS = ("tocopy", "srcchg", "tgtchg", "alloc")
_FILLED: dict[int, bytes] = {}  # relationship size -> counters + a full to_copy, ready to write
CTR_COW, CTR_REDIRECT, CTR_BACKGROUND, CTR_REPOSITORY, CTR_TARGET_WRITES = range(5)
_NCTR = 8


class WritesHeld(CopyServiceError):
    """A host write to a frozen (consistency-group) source volume: retry after
    :meth:`FlashCopyService.thaw` or once the modeled clock passed :attr:`until`."""

    exit_code = 4

    def __init__(self, volser: str, until: float) -> None:
        super().__init__(
            "DLB340W",
            f"writes to volume {volser} are held by a FlashCopy consistency-group freeze until "
            f"thaw or modeled time {until:.3f} s; retry then.",
        )
        self.volser = volser
        self.until = until


class RelState(Enum):
    NOCOPY = "NOCOPY"            # active, tracks reach the target only by copy-on-write
    COPYING = "COPYING"          # active, background copy running
    COPIED = "COPIED"            # persistent (incremental): copy finished, changes recorded
    WITHDRAWING = "WITHDRAWING"  # DDSW: converted to COPY, withdrawn when the copy ends
    FAILED = "FAILED"            # invalid (repository full, damaged state); only withdraw
    COMPLETED = "COMPLETED"      # ended by itself after the last track was copied
    WITHDRAWN = "WITHDRAWN"      # gone

    # members are singletons compared by identity, so the identity hash agrees with
    # equality; Enum's own hashes the name in Python code, and state membership tests
    # (``in _ACTIVE``) run on every copy-on-write
    __hash__ = object.__hash__


S = RelState
_ACTIVE = frozenset({S.NOCOPY, S.COPYING, S.COPIED, S.WITHDRAWING})
_LIVE = _ACTIVE | {S.FAILED}

TRANSITIONS: dict[RelState, frozenset[RelState]] = {
    S.NOCOPY: frozenset({S.NOCOPY, S.COPIED, S.WITHDRAWING, S.FAILED, S.COMPLETED, S.WITHDRAWN}),
    S.COPYING: frozenset({S.COPYING, S.COPIED, S.WITHDRAWING, S.FAILED, S.COMPLETED, S.WITHDRAWN}),
    S.COPIED: frozenset({S.COPYING, S.NOCOPY, S.FAILED, S.WITHDRAWN}),
    S.WITHDRAWING: frozenset({S.FAILED, S.WITHDRAWN}),
    S.FAILED: frozenset({S.WITHDRAWN}),
    S.COMPLETED: frozenset({S.WITHDRAWN}),
    S.WITHDRAWN: frozenset(),
}

VERBS: dict[str, frozenset[RelState]] = {
    "withdraw": frozenset({S.NOCOPY, S.COPYING, S.COPIED, S.WITHDRAWING, S.FAILED, S.COMPLETED}),
    "ddsw": frozenset({S.NOCOPY, S.COPYING, S.COPIED}),
    # COPIED and COMPLETED: nothing left, drain returns at once
    "drain": frozenset({S.COPYING, S.WITHDRAWING, S.COPIED, S.COMPLETED}),
    "refresh": frozenset({S.NOCOPY, S.COPYING, S.COPIED}),
    "reverse": frozenset({S.COPIED}),
}


def dataset_runs(vol, dsn: str) -> list[tuple[int, int]]:
    """Absolute ``[start, stop)`` track runs of data set ``dsn`` on ``vol``, in order."""
    return vol.vtoc.get(dsn).track_list(vol.heads)


def _norm_incremental(v) -> str | None:
    if v in (False, None, "NO", "no"):
        return None
    if v in (True, "YES", "yes"):
        return "YES"
    if v in ("YTW", "ytw"):
        return "YTW"
    raise CopyServiceError("DLB341E", f"incremental must be False, True (YES) or 'YTW', not {v!r}.")


class FlashCopyRelationship(Lifecycle):
    """One FlashCopy relationship: source runs -> target runs on one subsystem.

    Fixed at establish: :attr:`id`, :attr:`incremental`, :attr:`space_efficient`,
    :attr:`level`.  Mutable: :attr:`state`, :attr:`mode` (NOCOPY becomes COPY under
    DDSW), :attr:`source`/:attr:`target`/:attr:`tmap` (exchanged by a reverse restore),
    :attr:`message`, the times, the bitmaps and counters.

    Bitmaps, indexed by relative track of :attr:`tmap`:

    * ``to_copy``: the tracks whose point-in-time image is not on the target yet (a
      target read of one is served from the source; a source write copies it first).
    * ``src_changed`` (incremental): the tracks written on the source since the last
      establish, refresh or reverse.
    * ``tgt_changed`` (incremental): the tracks written on the target since then.
    * ``allocated`` (space efficient): the tracks whose target holds a repository track.

    Failure modes: a full repository or damaged persisted state puts it in FAILED with
    :attr:`message`; its target then refuses reads and writes until withdrawn.
    """

    TRANSITIONS = TRANSITIONS
    VERBS = VERBS

    def __init__(self, svc: FlashCopyService, rid: str, record: dict) -> None:
        self.svc = svc
        self.id = rid
        self.source: str = record["source"]
        self.target: str = record["target"]
        self.tmap = TrackMap.from_json(record["map"])
        self.mode: str = record["mode"]
        self.incremental: str | None = record.get("incremental")
        self.space_efficient: bool = bool(record.get("space_efficient"))
        self.level: str = record.get("level", "volume")
        self.state = RelState(record["state"])
        self.message: str | None = record.get("message")
        self.established_at: float = record.get("established_at", 0.0)
        self.physical_at: float | None = record.get("physical_at")
        self.pending: str | None = record.get("pending")
        self.to_copy: Bitmap | None = None
        self.src_changed: Bitmap | None = None
        self.tgt_changed: Bitmap | None = None
        self.allocated: Bitmap | None = None
        self.ctr = np.zeros(_NCTR, dtype=np.uint64)
        self.remaining = 0
        self.physical = threading.Event()
        self.on_physical: list[Callable[[FlashCopyRelationship], None]] = []
        self._copier: TrackCopier | None = None
        self._protections: tuple | None = None
        self.rate = ModeledRate(svc.sub.settings.get("fc_background_tracks_per_s", 2000.0),
                                svc.sub.clock.now())

    @property
    def what(self) -> str:
        return f"FlashCopy relationship {self.id}"

    # ------------------------------------------------------------------ record
    def record(self) -> dict:
        return {
            "id": self.id, "source": self.source, "target": self.target,
            "map": self.tmap.to_json(), "mode": self.mode, "incremental": self.incremental,
            "space_efficient": self.space_efficient, "level": self.level,
            "state": self.state.value, "message": self.message,
            "established_at": self.established_at, "physical_at": self.physical_at,
            "pending": self.pending,
        }

    def query(self) -> dict:
        """Everything a caller may want to know, JSON-ready."""
        total = self.tmap.n
        pending = self.remaining if self.to_copy is not None else 0
        return {
            "id": self.id, "source": self.source, "target": self.target, "mode": self.mode,
            "state": self.state.value, "tracks_total": total,
            "tracks_copied": total - pending,
            "cow_count": int(self.ctr[CTR_COW]),
            "target_reads_redirected": int(self.ctr[CTR_REDIRECT]),
            "background_tracks": int(self.ctr[CTR_BACKGROUND]),
            "repository_tracks": int(self.ctr[CTR_REPOSITORY]),
            "target_write_tracks": int(self.ctr[CTR_TARGET_WRITES]),
            "incremental": self.incremental, "space_efficient": self.space_efficient,
            "level": self.level, "src_runs": self.tmap.src_runs(), "dst_runs": self.tmap.dst_runs(),
            "established_at": self.established_at, "physical_at": self.physical_at,
            "message": self.message,
        }

    # ------------------------------------------------------------------ copier
    def copier(self, source_vol=None) -> TrackCopier:
        """The track copier (created on first need: it imports the numba kernels)."""
        c = self._copier
        if c is None:
            sub = self.svc.sub
            src = source_vol if source_vol is not None else sub.open_volume(self.source)
            tgt = sub.open_volume(self.target, writable=True)
            c = TrackCopier(src, tgt, self.tmap, self.to_copy,
                            on_copied=self.svc._landing(self.id, self.tmap, self._landed), chunk=128)
            self._copier = c
        elif source_vol is not None and c.source is not source_vol:
            c.source = source_vol  # the writer's instance knows its own written tracks
        return c

    def _landed(self, rel: np.ndarray) -> None:
        # called by the copier under its lock, after the tracks are on the target
        self.remaining -= int(rel.size)
        if self.allocated is not None:
            self._allocate(rel)

    def _allocate(self, rel: np.ndarray) -> None:
        new = rel[~self.allocated.test_many(rel)]
        if new.size:
            self.allocated.set_many(new)
            self.ctr[CTR_REPOSITORY] += np.uint64(new.size)

    @property
    def active(self) -> bool:
        return self.state in _ACTIVE


def _protections(svc: FlashCopyService, rel: FlashCopyRelationship) -> tuple[Protection, Protection]:
    """The write-path protections of ``rel``: copy-on-write on its source, and on its
    target the write rule (take the tracks out, first copying the source image) and
    the read redirection of tracks still to copy."""
    words = rel.to_copy.words if rel.to_copy is not None else None  # None: damaged, FAILED
    src_sticky = rel.src_changed is not None  # change recording sees every source write
    tgt_sticky = rel.incremental is not None or rel.allocated is not None

    def src_needs(r: int) -> bool:
        return rel.state in _ACTIVE and (src_sticky or bool((int(words[r >> 6]) >> (r & 63)) & 1))

    def tgt_needs(r: int) -> bool:
        return tgt_sticky or rel.state is S.FAILED or bool((int(words[r >> 6]) >> (r & 63)) & 1)

    source = Protection(
        rel, rel.tmap, "source", src_needs,
        act_one=lambda vol, r, t: svc._cow_one(rel, vol, r),
        act=lambda vol, rels, tracks: svc._cow(rel, vol, rels))
    target = Protection(
        rel, rel.tmap, "target", tgt_needs,
        act_one=lambda vol, r, t: svc._target_write(rel, np.array([r], dtype=np.int64)),
        act=lambda vol, rels, tracks: svc._target_write(rel, rels),
        reads=lambda r, t: svc._target_read(rel, r))
    return source, target


class FlashCopyService(CopyService):
    """The FlashCopy function of one DS8000-like subsystem (one instance per process)."""

    name = "flashcopy"
    capabilities = Capabilities(
        levels={"volume", "dataset"}, background_copy=True, nocopy=True, fast_replication=True,
        virtual_cc="flash", point_in_time_reader="target", cross_subsystem=False,
        subsystem_kinds={"ds8000"}, consistency_groups=True, space_efficient_targets=True)
    lifecycle = (RelState, TRANSITIONS, VERBS)
    kit_models = ("dasdlab.testing.models.flashcopy:machine",)
    rate_setting = "fc_background_tracks_per_s"
    control_verbs = CopyService.control_verbs | {"refresh", "reverse", "thaw"}

    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self.lock = threading.RLock()
        self._rels: dict[str, FlashCopyRelationship] = {}
        self._frozen: dict[str, float] = {}

    # ================================================================== loading
    def load(self) -> None:
        """Load persisted relationships and freezes; register their intercepts."""
        for key, rec in self.store.records().items():
            if key == "FREEZE":
                self._frozen = {k: float(v) for k, v in rec.get("volumes", {}).items()}
                for v in self._frozen:  # intercepts loaded before this record hold writes too
                    self._set_guard(v)
                continue
            if key.startswith("FC"):
                self._load_one(key, rec)

    def _load_one(self, key: str, rec: dict) -> None:
        try:
            rel = FlashCopyRelationship(self, key, rec)
            if rel.mode not in ("COPY", "NOCOPY"):
                raise ValueError(f"unknown mode {rel.mode!r}")
            if not (isinstance(rel.source, str) and isinstance(rel.target, str)):
                raise TypeError("source and target must be volume serials")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            from dasdlab.emulator.services.store import damaged_record

            raise damaged_record(self.store._rec(key), f"{type(e).__name__}: {e}") from None
        self._rels[key] = rel
        if rel.physical_at is not None:  # a waiter in this process must not wait for ever
            rel.physical.set()
        try:
            self._open_bitmaps(rel)
            self._redo_pending(rel)
        except (OSError, ValueError, KeyError) as e:
            self._fail(rel, "DLB343E", f"the saved state of {key} is damaged ({e}); "
                       "its target is not a valid copy; withdraw the relationship.")
            return
        if rel.state in _LIVE:
            self._register(rel)
        if rel.active and rel.remaining == 0:
            self._settle(rel)

    def reload(self) -> None:
        """Take over what other processes changed (the subsystem's write path calls
        this when the persisted generation moved): new relationships are registered,
        withdrawn ones unregistered, changed records update the objects in place (so
        holders of a relationship and its subscribers keep it)."""
        with self.lock:
            recs = self.store.records()
            was_frozen = self._frozen
            self._frozen = {k: float(v) for k, v in recs.get("FREEZE", {}).get("volumes", {}).items()}
            for v in set(was_frozen) | set(self._frozen):  # freezes and thaws of other processes
                self._set_guard(v)
            for rid, rel in list(self._rels.items()):
                rec = recs.get(rid)
                if rec is None:  # withdrawn by another process
                    self._unregister(rel)
                    rel.state = S.WITHDRAWN
                    self._rels.pop(rid, None)
                    continue
                if rec == rel.record():
                    continue
                swapped = (rec["source"], rec["target"]) != (rel.source, rel.target)
                self._unregister(rel)
                fresh = FlashCopyRelationship(self, rid, rec)
                for attr in ("source", "target", "tmap", "mode", "state", "message", "established_at",
                             "physical_at", "pending"):
                    setattr(rel, attr, getattr(fresh, attr))
                if swapped:
                    rel._copier = None
                if rel.state in (S.COMPLETED, S.WITHDRAWN):
                    rel.remaining = 0
                elif rel.to_copy is not None:
                    rel.remaining = rel.to_copy.count()
                if rel.state in _LIVE:
                    self._register(rel)
                if rel.physical_at is not None and not rel.physical.is_set():
                    rel.physical.set()
                elif rel.physical_at is None and rel.physical.is_set():
                    rel.physical.clear()  # a new point in time (another process's refresh)
            for rid, rec in recs.items():
                if rid.startswith("FC") and rid not in self._rels:
                    self._load_one(rid, rec)
            for rel in self._rels.values():
                if rel.active and rel.to_copy is not None:
                    rel.remaining = rel.to_copy.count()  # other processes' copies count too
            self._rearm_all()  # another process's refresh may have set bits again

    def _maps_words(self, n: int) -> int:
        return _NCTR + len(_MAPS) * words_for(n)

    def _attach(self, rel: FlashCopyRelationship, words: np.ndarray) -> None:
        """Point the relationship's counters and bitmaps at the mapped words."""
        n, nw = rel.tmap.n, words_for(rel.tmap.n)
        # a plain ndarray view of the same mapped pages: np.memmap's Python-level
        # __getitem__ would cost a microsecond on every bit test of the write path
        words = words.view(np.ndarray)
        rel.ctr = words[:_NCTR]
        maps = {name: Bitmap(n, words[_NCTR + i * nw:_NCTR + (i + 1) * nw]) for i, name in enumerate(_MAPS)}
        rel.to_copy = maps["tocopy"]
        rel.src_changed = maps["srcchg"] if rel.incremental else None
        rel.tgt_changed = maps["tgtchg"] if rel.incremental else None
        rel.allocated = maps["alloc"] if rel.space_efficient else None

    def _create_maps(self, rid: str, n: int) -> np.ndarray:
        """The maps file with zero counters and every bit of ``to_copy`` set; written
        with one write() rather than faulted in through the map (cheaper per page)."""
        path = self.store.bitmap_path(rid, "maps")
        self.store.ensure()
        size = self._maps_words(n)
        head = _FILLED.get(n)
        if head is None:
            b = Bitmap.full(n)
            head = _FILLED[n] = np.zeros(_NCTR, np.uint64).tobytes() + b.words.tobytes()
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(size * 8)
        return np.memmap(path, dtype=np.uint64, mode="r+", shape=(size,))

    def _open_bitmaps(self, rel: FlashCopyRelationship) -> None:
        path = self.store.bitmap_path(rel.id, "maps")
        size = self._maps_words(rel.tmap.n)
        if not path.exists():
            raise KeyError(f"{path.name} is missing")
        if path.stat().st_size != size * 8:
            raise ValueError(f"{path.name} is {path.stat().st_size} bytes, expected {size * 8}")
        self._attach(rel, np.memmap(path, dtype=np.uint64, mode="r+", shape=(size,)))
        if rel.state in (S.COMPLETED, S.WITHDRAWN):
            rel.remaining = 0
        else:
            rel.remaining = rel.to_copy.count()

    def _redo_pending(self, rel: FlashCopyRelationship) -> None:
        """Finish a refresh or reverse that a killed process left half done."""
        if self._redo_intent(rel, "pending", {"refresh": lambda: self._refresh_steps(rel),
                                              "reverse": lambda: self._reverse_steps(rel)}):
            self._save(rel)

    def _refresh_steps(self, rel: FlashCopyRelationship) -> None:
        self._apply_increment(rel)
        rel.to(S.COPYING if rel.mode == "COPY" else S.NOCOPY)

    def _reverse_steps(self, rel: FlashCopyRelationship) -> None:
        self._apply_increment(rel)
        self._swap(rel)
        rel.to(S.COPYING)
        rel.mode = "COPY"

    def _new_point_in_time(self, rel: FlashCopyRelationship) -> None:
        rel.established_at = self.sub.clock.now()
        rel.physical_at = None
        rel.physical.clear()

    # ================================================================== queries
    def relationships(self) -> list[FlashCopyRelationship]:
        return sorted(self._rels.values(), key=lambda r: r.id)

    def get(self, rid: str) -> FlashCopyRelationship:
        rel = self._rels.get(str(rid).upper())
        if rel is None:
            have = ", ".join(self._rels) or "none"
            raise CopyServiceError(
                "DLB333E", f"subsystem {self.sub.name} has no FlashCopy relationship {rid} (it has: {have}).")
        return rel

    def query(self, rid: str | None = None) -> list[Relationship]:
        """Descriptors of every relationship (or of ``rid``)."""
        rels = [self.get(rid)] if rid is not None else self.relationships()
        return [self._descriptor(r) for r in rels]

    def describe(self, rid: str) -> Relationship:
        return self._descriptor(self.get(rid))

    def _descriptor(self, rel: FlashCopyRelationship) -> Relationship:
        q = rel.query()
        return Relationship.make(
            id=rel.id, service=self.name, state=rel.state.value, source=rel.source,
            source_runs=q["src_runs"], target=rel.target, target_runs=q["dst_runs"],
            tracks_total=q["tracks_total"], tracks_copied=q["tracks_copied"], cow_count=q["cow_count"],
            logical_at=rel.established_at, physical_at=rel.physical_at, details=q)

    def read_point_in_time(self, rid: str, track: int) -> np.ndarray:
        """Source track ``track`` as of the establish (or the last refresh/reverse)."""
        rel = self.get(rid)
        if rel.state is S.FAILED:
            raise self._failed_error(rel)
        r = self._rel_of_source_track(rel.tmap, track, rel.id)
        sub = self.sub
        pending = rel.active and rel.to_copy is not None and rel.to_copy.test(r)
        return self._pit_image(sub.open_volume(rel.source), sub.open_volume(rel.target), rel.tmap, r, pending)

    def repository_used(self) -> int:
        return sum(int(r.ctr[CTR_REPOSITORY]) for r in self._rels.values()
                   if r.space_efficient and r.state in _LIVE)

    def repository_tracks(self) -> int:
        return int(self.sub.settings.get("fc_repository_tracks", DEFAULT_REPOSITORY_TRACKS))

    def frozen(self) -> dict[str, float]:
        """Frozen volumes and the modeled time their consistency-group timer expires."""
        return dict(self._frozen)

    # ================================================================== establish
    def establish(self, source_volser: str, target_volser: str, src_runs=None, dst_runs=None,
                  mode: str = "COPY", incremental=False, space_efficient: bool = False,
                  freeze: bool = False,
                  on_physical: Callable[[FlashCopyRelationship], None] | None = None,
                  *, source_runs=None, target_runs=None, background_copy: bool | None = None,
                  ) -> FlashCopyRelationship:
        """Establish a relationship; it is logically complete when this returns.

        Everything is checked before any file changes; a refused establish leaves the
        site as it was.  ``source_runs``/``target_runs``/``background_copy`` are the
        contract's names for ``src_runs``/``dst_runs``/``mode``.
        """
        if source_runs is not None:
            src_runs = source_runs
        if target_runs is not None:
            dst_runs = target_runs
        if background_copy is not None:
            mode = "COPY" if background_copy else "NOCOPY"
        m = str(mode).upper()
        if m not in ("COPY", "NOCOPY"):
            raise CopyServiceError("DLB341E", f"FlashCopy mode must be COPY or NOCOPY, not {mode!r}.")
        inc = _norm_incremental(incremental)
        sv, tv = (self._own_volume(v, "DLB322E", "volume {volser} is in subsystem {owner}, not "
                                   "{subsystem}; FlashCopy copies only between volumes of one subsystem.")
                  for v in (source_volser, target_volser))
        if space_efficient and (m != "NOCOPY" or inc):
            raise CopyServiceError(
                "DLB338E", "a space-efficient target needs NOCOPY and no incremental recording "
                "(a background copy would fill the repository, S58/S59).")
        src = self.sub.open_volume(sv)
        tgt = self.sub.open_volume(tv, writable=True)
        self._like_devices(src, tgt, sv, tv, "DLB324E", "{sv} ({sg}) and {tv} ({tg}) are not of one device "
                           "family; FlashCopy needs like devices.")
        if src_runs is None and dst_runs is None:
            if sv == tv:
                raise CopyServiceError("DLB323E", f"source and target are both {sv}; a volume-level "
                                       "copy needs two volumes.")
            if tgt.ntracks < src.ntracks:
                raise CopyServiceError(
                    "DLB324E", f"target {tv} has {tgt.ntracks} tracks, fewer than the {src.ntracks} "
                    f"of source {sv}.")
            tmap = TrackMap.identity(src.ntracks)
            level = "volume"
        else:
            srun = self._check_runs(src_runs, src, sv, "source")
            drun = self._check_runs(dst_runs if dst_runs is not None else src_runs, tgt, tv, "target")
            ns, nd = sum(b - a for a, b in srun), sum(b - a for a, b in drun)
            if nd < ns:
                raise CopyServiceError(
                    "DLB324E", f"the target extents on {tv} hold {nd} tracks, fewer than the {ns} "
                    f"source tracks on {sv}.")
            if sv == tv and runs_overlap(srun, drun):
                raise CopyServiceError("DLB323E", f"source and target extents overlap on volume {sv}.")
            tmap = TrackMap.from_runs(srun, drun)
            level = "dataset"
            if inc:
                # ANTRQST FCESTABLISH: INCREMENTAL(YES) applies to the entire volume; extent
                # lists with it are rejected (IEA message for ANTRQST, S77; DFSMSdss
                # FCINCREMENTAL is a full-volume relationship, S78)
                raise CopyServiceError(
                    "DLB432E", f"incremental FlashCopy is full-volume only: an incremental relationship "
                    f"from {sv} to {tv} cannot be established on extents (S77, S78).")
        self._check_limits(sv, tv, tmap, inc)
        # ---- checks done: from here on files change --------------------------------
        if self.cascading:
            self._complete_cascade(sv, tv, tmap)
        with self.lock:
            rid = self._new_id("FC")
            n = tmap.n
            words = self._create_maps(rid, n)
            now = self.sub.clock.now()
            rec = {"source": sv, "target": tv, "map": tmap.to_json(), "mode": m, "incremental": inc,
                   "space_efficient": bool(space_efficient), "level": level,
                   "state": (S.COPYING if m == "COPY" else S.NOCOPY).value,
                   "established_at": now}
            rel = FlashCopyRelationship(self, rid, rec)
            self._attach(rel, words)
            rel.remaining = n
            if on_physical is not None:
                rel.on_physical.append(on_physical)
            self._save(rel)  # the record makes the bitmaps live
            self._rels[rid] = rel
            if freeze:
                self._freeze(sv)
            self._register(rel)  # the point-in-time instant
            self._announce("logical", rel.id)
            if rel.remaining == 0:
                self._settle(rel)
            return rel

    def _check_runs(self, runs, vol, volser: str, what: str) -> list[tuple[int, int]]:
        if runs is None:
            raise CopyServiceError("DLB325E", f"no {what} extents given for {volser}.")
        return self._runs(runs, vol, f"{what} extents on {volser}", "DLB325E")

    @property
    def cascading(self) -> bool:
        """Setting ``fc_cascading`` (default False, the DS6000 rule, S57): a track may be
        the target of one relationship and the source of another (DS8880 R8.3, S91)."""
        return bool(self.sub.settings.get("fc_cascading", False))

    def _complete_cascade(self, sv: str, tv: str, tmap: TrackMap) -> None:
        """Before a cascaded establish, copy what a neighbour in the cascade still owes
        on the shared tracks, so that every relationship can copy physical tracks:
        upstream (the new source tracks are still to come from their own source) and
        downstream (the new target tracks are a source whose copy must keep their
        content before it changes).  Our way to keep each copy exact; IBM does not say
        how the microcode does it."""
        srun, drun = tmap.src_runs(), tmap.dst_runs()
        for r in [r for r in self._rels.values() if r.state in _LIVE and r.remaining]:
            if r.target == sv and runs_overlap(r.tmap.dst_runs(), srun):
                rels, _ = r.tmap.rel_of_dst(np.concatenate([np.arange(a, b) for a, b in srun]))
            elif r.source == tv and runs_overlap(r.tmap.src_runs(), drun):
                rels, _ = r.tmap.rel_of_src(np.concatenate([np.arange(a, b) for a, b in drun]))
            else:
                continue
            if rels.size:
                r.copier().copy_now(rels)
                if r.remaining == 0:
                    self._settle(r)

    def _check_limits(self, sv: str, tv: str, tmap: TrackMap, inc: str | None) -> None:
        srun, drun = tmap.src_runs(), tmap.dst_runs()
        live = [r for r in self._rels.values() if r.state in _LIVE]
        for r in live:
            if r.target == tv and runs_overlap(r.tmap.dst_runs(), drun):
                raise CopyServiceError(
                    "DLB328E", f"tracks of {tv} are already the target of {r.id} (from {r.source}); a "
                    "target track has exactly one source.")
        for r in live:
            if self.cascading:
                break  # DS8880 R8.3 and later: cascading allowed (_complete_cascade)
            if (r.source == tv and runs_overlap(r.tmap.src_runs(), drun)) or (
                    r.target == sv and runs_overlap(r.tmap.dst_runs(), srun)):
                raise CopyServiceError(
                    "DLB329E", f"{r.id} ({r.source} -> {r.target}) uses these tracks in the other "
                    "role; a track cannot be source and target at once (no cascading).")
        limit = int(self.sub.settings.get("fc_targets_per_source", 12))
        same_src = [r for r in live if r.source == sv and runs_overlap(r.tmap.src_runs(), srun)]
        if len(same_src) >= limit:
            raise CopyServiceError(
                "DLB326E", f"source {sv} already has {len(same_src)} targets for these tracks; the limit "
                f"is {limit} per source. Withdraw one first.")
        if inc:
            for r in live:
                if r.source == sv and r.incremental:
                    raise CopyServiceError(
                        "DLB327E", f"source {sv} already has an incremental relationship ({r.id}); only "
                        "one of its targets may be incremental.")
        for v in {sv, tv}:
            k = sum(1 for r in live if v in (r.source, r.target))
            if k >= RELATIONSHIPS_PER_VOLUME:
                raise CopyServiceError(
                    "DLB342E", f"volume {v} has {k} FlashCopy relationships, the most one volume may have.")

    # ================================================================== write path
    def _cow_one(self, rel: FlashCopyRelationship, vol, r: int) -> None:
        """Copy-on-write of relative track ``r`` (the per-track host write path)."""
        if rel.state not in _ACTIVE:  # rel.active, without the property's call
            return
        if rel.src_changed is not None:
            with self.lock:
                rel.src_changed.set(r)
        words = rel.to_copy.words
        if not (int(words[r >> 6]) >> (r & 63)) & 1:
            return  # already on the target
        copier = rel._copier
        if copier is None or copier.source is not vol:
            copier = rel.copier(source_vol=vol)
        if rel.space_efficient and not self._reserve(rel, np.array([r], dtype=np.int64), copier):
            return
        if copier.copy_one(r, (rel.ctr, CTR_COW)):
            if rel.remaining == 0:
                self._settle(rel)

    def _cow(self, rel: FlashCopyRelationship, vol, rels: np.ndarray) -> None:
        """Copy-on-write: the point-in-time image of the tracks goes to the target first."""
        if not rel.active:
            return
        if rels.size == 1:
            self._cow_one(rel, vol, int(rels[0]))
            return
        if rel.src_changed is not None:
            with self.lock:
                rel.src_changed.set_many(rels)
        copier = rel.copier(source_vol=vol)
        if rel.space_efficient and not self._reserve(rel, rels, copier):
            return  # the relationship failed; the host write goes ahead
        done = copier.copy_now(rels, (rel.ctr, CTR_COW))
        if done.size:
            if rel.remaining == 0:
                self._settle(rel)

    def _reserve(self, rel: FlashCopyRelationship, rels: np.ndarray, copier: TrackCopier) -> bool:
        """Space-efficient target: is there room in the repository for the tracks this
        copy will draw?  If not, fail the relationship (repository full, S58)."""
        with copier.lock:
            need_rel = rels[rel.to_copy.test_many(rels) & ~rel.allocated.test_many(rels)]
            if need_rel.size == 0:
                return True
            need = int(copier.source.written.test_many(rel.tmap.src(need_rel)).sum())
            cap, used = self.repository_tracks(), self.repository_used()
            if used + need <= cap:
                return True
        self._fail(rel, "DLB337E", f"the space-efficient repository of {self.sub.name} is full "
                   f"({used} of {cap} tracks used); relationship {rel.id} failed and its target "
                   f"{rel.target} is not a valid copy. Withdraw it.")
        return False

    def _target_write(self, rel: FlashCopyRelationship, rels: np.ndarray) -> None:
        """A host write to the target takes its tracks (relative ``rels``) out of the
        relationship."""
        if rel.state in (S.COMPLETED, S.WITHDRAWN):
            return
        if rel.state is S.FAILED:
            raise self._failed_error(rel)
        if rel.incremental == "YES":
            raise CopyServiceError(
                "DLB334E", f"volume {rel.target} is the write-inhibited target of incremental "
                f"FlashCopy {rel.id}; withdraw it or establish with incremental='YTW'.")
        copier = rel.copier()
        if rel.space_efficient:
            with copier.lock:
                new = int((~rel.allocated.test_many(rels)).sum())
                cap, used = self.repository_tracks(), self.repository_used()
            if used + new > cap:
                self._fail(rel, "DLB337E", f"the space-efficient repository of {self.sub.name} is "
                           f"full ({used} of {cap} tracks used); relationship {rel.id} failed.")
                raise self._failed_error(rel)
        # the source image first: a partial write must land on the point-in-time track
        done = copier.copy_now(rels, (rel.ctr, CTR_TARGET_WRITES))
        with copier.lock:
            if rel.tgt_changed is not None:
                rel.tgt_changed.set_many(rels)
            if rel.allocated is not None:
                rel._allocate(rels)
        if done.size:
            if rel.remaining == 0:
                self._settle(rel)

    def _target_read(self, rel: FlashCopyRelationship, r: int) -> np.ndarray | None:
        st = rel.state
        if st is S.FAILED:
            raise self._failed_error(rel)
        if st not in _ACTIVE:
            return None
        if not rel.to_copy.test(r):
            return None
        return rel.copier().read_pit(r, (rel.ctr, CTR_REDIRECT))

    def _failed_error(self, rel: FlashCopyRelationship) -> CopyServiceError:
        return CopyServiceError(
            "DLB339E", f"volume {rel.target} is the target of failed FlashCopy relationship {rel.id} "
            f"({rel.message or 'no reason saved'}); withdraw the relationship before using it.")

    # ================================================================== freeze
    def _check_frozen(self, volser: str) -> None:
        until = self._frozen.get(volser)
        if until is None:
            return
        if self.sub.clock.now() >= until:
            self._release([volser])
            return
        raise WritesHeld(volser, until)

    def _freeze(self, volser: str) -> None:
        self._frozen[volser] = self.sub.clock.now() + float(self.sub.settings.get("cg_timer_s", 120.0))
        self.store.put("FREEZE", {"volumes": self._frozen})
        self._set_guard(volser)

    def _release(self, volsers) -> list[str]:
        gone = [v for v in volsers if self._frozen.pop(v, None) is not None]
        if gone:
            self.store.put("FREEZE", {"volumes": self._frozen})
        for v in gone:
            self._set_guard(v)
        return gone

    def _write_guard(self, volser: str):
        """A frozen volume holds every host write (checked before anything changes)."""
        if volser not in self._frozen:
            return None
        return lambda: self._check_frozen(volser)

    def thaw(self, volsers=None) -> list[str]:
        """Release frozen volumes (CGCREATED): all, or those named.  Returns the thawed."""
        with self.lock:
            names = list(self._frozen) if volsers is None else [v.upper() for v in volsers]
            return self._release(names)

    # ================================================================== background copy
    def tick(self, now: float) -> None:
        """Background copy for the modeled time up to ``now``; expire freezes."""
        expired = [v for v, until in self._frozen.items() if now >= until]
        if expired:
            self._release(expired)
        for rel in self.relationships():
            rel.rate.rate = self._background_rate()
            if rel.state in (S.COPYING, S.WITHDRAWING):
                n = rel.rate.allow(now)
                if n > 0:
                    self._background(rel, n, None)
            else:
                rel.rate.allow(now)  # NOCOPY time does not accumulate a budget

    def drain(self, rid: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Copy every remaining track now (of ``rid``, or of every copying relationship);
        returns the number copied.  ``progress(done, total)`` after each chunk."""
        if rid is not None:
            rel = self.get(rid)
            rel.require("drain")
            rels = [rel] if rel.state in (S.COPYING, S.WITHDRAWING) else []
        else:
            rels = [r for r in self.relationships() if r.state in (S.COPYING, S.WITHDRAWING)]
        total = sum(r.remaining for r in rels)
        done = 0
        for rel in rels:
            base = done

            def report(d: int, _t: int, base=base) -> None:
                progress(base + d, total)

            done += self._background(rel, None, report if progress is not None else None)
        if progress is not None:
            progress(done, max(total, done))
        return done

    def _background(self, rel: FlashCopyRelationship, max_tracks, progress) -> int:
        n = rel.copier().run(max_tracks=max_tracks, progress=progress, tally=(rel.ctr, CTR_BACKGROUND))
        if rel.remaining == 0 and rel.active:
            self._settle(rel)
        return n

    # ================================================================== state changes
    def _settle(self, rel: FlashCopyRelationship) -> None:
        """Nothing left to copy: persistent relationships stay (COPIED), others end."""
        with self.lock:
            if not rel.active or rel.remaining != 0:
                return
            if rel.state is S.WITHDRAWING:
                self._physical(rel)
                self._withdraw_now(rel)
                return
            if rel.state is S.COPIED:
                return
            if rel.incremental:
                rel.to(S.COPIED)
                self._physical(rel)
                self._save(rel)
                return
            rel.to(S.COMPLETED)
            self._physical(rel)
            self._unregister(rel)
            self._save(rel)

    def _physical(self, rel: FlashCopyRelationship) -> None:
        rel.physical_at = self.sub.clock.now()
        rel.physical.set()
        for fn in rel.on_physical:
            fn(rel)
        self._announce("physical", rel.id)

    def _fail(self, rel: FlashCopyRelationship, msgid: str, text: str) -> None:
        """Mark the relationship invalid with a message; its target refuses I/O."""
        with self.lock:
            if rel.state is S.WITHDRAWN:
                return
            rel.message = f"{msgid} {text}"
            if rel.state in _ACTIVE:
                rel.to(S.FAILED)
            else:
                rel.state = S.FAILED  # loaded state that cannot be trusted
            rel.pending = None
            self._save(rel)
            self._register(rel)
            self._announce("failed", rel.id, rel.message)

    def withdraw(self, rid: str, ddsw: bool = False) -> FlashCopyRelationship:
        """End a relationship now, or with ``ddsw`` after converting it to COPY."""
        rel = self.get(rid)
        with self.lock:
            if ddsw:
                rel.require("ddsw")
                if rel.space_efficient:
                    raise CopyServiceError(
                        "DLB338E", f"{rel.id} has a space-efficient target; withdraw with DDSW is not "
                        "allowed for it (S55).")
                if rel.remaining == 0:
                    self._withdraw_now(rel)
                    return rel
                rel.mode = "COPY"
                rel.to(S.WITHDRAWING)
                self._save(rel)
                return rel
            rel.require("withdraw")
            self._withdraw_now(rel)
            return rel

    def _withdraw_now(self, rel: FlashCopyRelationship) -> None:
        self._unregister(rel)
        rel.to(S.WITHDRAWN)
        self.store.delete(rel.id)
        self._rels.pop(rel.id, None)

    def refresh(self, rid: str) -> FlashCopyRelationship:
        """Incremental establish: a new point in time, copying only changed tracks."""
        rel = self.get(rid)
        rel.require("refresh")
        if not rel.incremental:
            raise CopyServiceError("DLB335E", f"{rel.id} is not incremental; establish a new relationship instead.")
        copier = rel.copier()
        with self.lock, copier.lock:
            self._with_intent(rel, "pending", "refresh", self._save,
                              lambda: (self._refresh_steps(rel), self._new_point_in_time(rel)))
        self._announce("logical", rel.id)
        if rel.remaining == 0:
            self._settle(rel)
        return rel

    def reverse(self, rid: str) -> FlashCopyRelationship:
        """Reverse restore: the target's image goes back to the source (changed tracks
        only); afterwards the relationship runs the other way."""
        rel = self.get(rid)
        if rel.incremental and rel.state in (S.COPYING, S.NOCOPY):
            raise CopyServiceError(
                "DLB336E", f"reverse restore of {rel.id} is possible only after its background copy "
                f"finished; {rel.remaining} tracks remain (drain it first).")
        rel.require("reverse")
        if not rel.incremental:
            raise CopyServiceError("DLB335E", f"{rel.id} is not incremental; reverse restore needs change recording.")
        for r in self._rels.values():
            if r is not rel and r.state in _LIVE and r.source == rel.source and runs_overlap(
                    r.tmap.src_runs(), rel.tmap.src_runs()):
                raise CopyServiceError(
                    "DLB329E", f"{rel.source} is also the source of {r.id}; after a reverse it would be "
                    "source and target at once (no cascading).")
        copier = rel.copier()
        with self.lock, copier.lock:
            self._unregister(rel)
            self._with_intent(rel, "pending", "reverse", self._save,
                              lambda: (self._reverse_steps(rel), self._new_point_in_time(rel)))
            self._register(rel)
        self._announce("logical", rel.id)
        if rel.remaining == 0:
            self._settle(rel)
        return rel

    def _apply_increment(self, rel: FlashCopyRelationship) -> None:
        """to_copy |= changed on either side; clear the change bitmaps (idempotent)."""
        rel.to_copy.words |= rel.src_changed.words | rel.tgt_changed.words
        rel.src_changed.words[:] = 0
        rel.tgt_changed.words[:] = 0
        rel.remaining = rel.to_copy.count()

    def _swap(self, rel: FlashCopyRelationship) -> None:
        rel.source, rel.target = rel.target, rel.source
        rel.tmap = rel.tmap.swapped()
        rel._copier = None

    # ================================================================== plumbing
    def _save(self, rel: FlashCopyRelationship) -> None:
        self.store.put(rel.id, rel.record())

    def _register(self, rel: FlashCopyRelationship) -> None:
        if rel._protections is None:
            rel._protections = _protections(self, rel)
        src, tgt = rel._protections
        self._protect(rel.source, src)
        self._protect(rel.target, tgt)

    def _unregister(self, rel: FlashCopyRelationship) -> None:
        if rel._protections is None:
            return
        src, tgt = rel._protections
        self._unprotect(rel.source, src)
        self._unprotect(rel.target, tgt)
        rel._protections = None  # a reverse builds new ones over the swapped map

    def close(self) -> None:
        for rel in self._rels.values():
            if rel.state is not S.WITHDRAWN:
                self._save(rel)
        super().close()
