"""The track-state trace: where the point-in-time image of each track of the copied data
set is, sampled every workload slice of an outage scenario (for the teaching view).

One concept: *per-track state codes over time*, followed through the copy-service
contract's events (``docs/domain.md`` §2, §4.1; ``docs/architecture.md``):

====  ===========================================================================
code  meaning
====  ===========================================================================
0     not yet copied: the copy does not hold this track's image yet, and nothing
      has been saved for it (before the point in time, every track is 0)
1     copied by the background copy or read by the dump / image copy
2     saved by copy-on-write (FlashCopy, TimeFinder/Clone, a FlashCopy shadow) or
      into a Concurrent Copy sidefile: the source was written before the copy had
      the track, so its before-image was saved first
3     redirected / shared: the copy's image is the source's own track, reached by a
      read redirected to the source (FlashCopy NOCOPY shadow) or a shared pointer
      (SnapShot clone, virtual Concurrent Copy working space)
4     changed after the point in time: the source was written after the copy had
      the image (already copied, or shared and redirected on write), so source and
      copy now differ at no copying cost
5     lost: the copy failed or was cancelled (or never started) before it had this
      track -- never drawn as copied
====  ===========================================================================

The trace follows a copy through the copy-service contract only
(:class:`~dasdlab.emulator.services.contract.TrackEvent` and completion events), never
a service's private bitmaps.  An observer on the subsystem's write path (registered
before the service's own intercept, so it sees the write first) marks a track written
after the point in time as changed (4); the one copy-before-write intercept then
reports the tracks whose image it saved first -- copy-on-write, a sidefile save, a copy
on access -- as "saved" events (2).  "copied" events of the track copier (background
copy) and "read" events of a session make a track copied (1); a track the copy does
not hold yet is 0, or 3 when the copy reads through to the source until it is written
(a NOCOPY shadow, a snap, virtual Concurrent Copy's working space).  A "failed" event
makes what the copy lacked lost (5); a "physical" one makes every track copied.  The
standard and concurrent image copies have no copy service; their reads are reported by
the copy itself (:attr:`dasdlab.engine.hpic.CopyRun.on_read`).  For the concurrent
(fuzzy) image copy a write to a track it has not read yet changes nothing: the copy
will read the new content (that is what makes it fuzzy).

Stored as ``trace-METHOD.npz`` (:func:`save_trace`); :func:`load_trace` gives
``(times, codes, legend)`` with ``times`` in modeled seconds from the copy start and
``codes`` of shape (samples x tracks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NOT_COPIED, COPIED, SAVED, SHARED, CHANGED, LOST = 0, 1, 2, 3, 4, 5
LEGEND: dict[int, str] = {
    NOT_COPIED: "not yet copied",
    COPIED: "copied (background copy or dump read)",
    SAVED: "saved by copy-on-write or into a sidefile",
    SHARED: "redirected / shared (read from the source, pointer shared)",
    CHANGED: "changed after the point in time",
    LOST: "lost: the copy failed or was cancelled before it had this track",
}
_STICKY = (SAVED, CHANGED)


class _Watch:
    """Write-path observer: decides codes 2 and 4 before the service acts."""

    redirects_reads = False

    def __init__(self, tracer: TrackTracer) -> None:
        self.tracer = tracer

    def before_write(self, vol, tracks: np.ndarray) -> None:
        self.tracer._written(np.asarray(tracks, dtype=np.int64))

    def before_write_one(self, vol, t: int) -> None:
        """The write path's one-track form: nothing to do before the point in time."""
        if self.tracer.pit:
            self.tracer._written(np.array([t], dtype=np.int64))

    def redirect_read(self, vol, t: int):  # pragma: no cover - never asked (redirects_reads False)
        return None


class TrackTracer:
    """Samples the state of every track of one data set during one copy.

    ``domain`` are the absolute tracks of the copied data set on ``volume`` (the
    database volume), in relative order.  Call :meth:`attach` before the copy starts,
    :meth:`bind` after each step of the copy (it binds to the copy service once the
    point in time exists), :meth:`sample` once per slice, :meth:`detach` at the end.
    """

    def __init__(self, site, subsystem, volser: str, domain: np.ndarray, ntracks_volume: int) -> None:
        self.site = site
        self.sub = subsystem
        self.volser = volser
        self.domain = np.asarray(domain, dtype=np.int64)
        self._index = np.full(ntracks_volume, -1, dtype=np.int64)
        self._index[self.domain] = np.arange(self.domain.size)
        self.codes = np.zeros(self.domain.size, dtype=np.uint8)
        self.read = np.zeros(self.domain.size, dtype=bool)
        self.pit = False
        self.final = False
        self.process: str | None = None
        self._state = None  # () -> codes 0/1/3 (5) for every track
        self._copied = np.zeros(self.domain.size, dtype=bool)  # the image is on the copy
        self._initial = NOT_COPIED  # the code of a track the copy does not hold yet
        self._failed = self._complete = self._keeps_sharing = False
        self._listeners: list = []
        self.times: list[float] = []
        self.samples: list[np.ndarray] = []
        #: tracks the service copied on write (FlashCopy copy-on-write, TimeFinder copy
        #: on access), read from its counters at each sample while it is followed
        self.cow = 0
        self._cow = None  # () -> the relationship's cow_count now
        #: a Concurrent Copy session's counters (intercepted writes, sidefile high-water
        #: marks), kept even when the session is cancelled and the copy fails
        self.cc_counters: dict[str, int] = {}
        self._counters = None
        self._watch = _Watch(self)

    # ------------------------------------------------------------------ life cycle
    def attach(self) -> None:
        self.sub.register_intercept(self.volser, self._watch)

    def detach(self) -> None:
        self.sub.unregister_intercept(self.volser, self._watch)
        self._unlisten()

    def on_read(self, tracks: np.ndarray) -> None:
        """The copy read these source tracks (CopyRun.on_read)."""
        idx = self._index[np.asarray(tracks, dtype=np.int64)]
        self.read[idx[idx >= 0]] = True

    def bind(self, run) -> None:
        """Follow the copy's service once its point in time exists; freeze at the end."""
        rep = run.report
        if run.done and not self.final:
            self._freeze(failed=getattr(rep, "status", "ok") != "ok")
            return
        if self.pit:
            return
        p = rep.process
        if p in ("standard", "cic"):
            if rep.started is None:
                return
            self._follow_reads()
        elif rep.logical is not None:
            self._follow(p, rep.counters or {})
        else:
            return
        self.process = p
        self.pit = True

    # ------------------------------------------------------------------ following a copy
    def _follow_reads(self) -> None:
        """No copy service: the copy's own reads are all there is (CopyRun.on_read)."""
        self._state = lambda: np.where(self.read, COPIED, NOT_COPIED).astype(np.uint8)

    def _follow(self, p: str, counters: dict) -> None:
        """Follow one relationship through the contract: its track events (saved before a
        host write, copied, read by a session) and completion events."""
        from dasdlab.host import replication

        kind, _, service = p.partition("-")
        if kind == "dump" and service in ("cc", "vcc"):
            svc = self.sub.service(replication.CONCURRENT_COPY)
            live = [d for d in svc.query() if d.source == self.volser and str(d.state) == "ACTIVE"]
            d = live[-1]
            rid = d.id
            work = d.get("work_area")
            initial = SHARED if work is not None else NOT_COPIED
            if work is not None and work.get("relation"):  # flashed NOCOPY: its copy-on-writes save
                self._listen(self.sub.service(work["mechanism"]), work["relation"], saves_only=True)
            self._counters = lambda: _cc_counters(svc.describe(rid))
        elif kind in ("copy", "fdump") and service:
            mv = replication.mover(service)
            svc = self.sub.service(service)
            rid = counters.get(mv.id_label)
            if rid is None:
                return self._follow_reads()
            d = svc.describe(rid)
            if kind == "fdump":  # a NOCOPY shadow: read through to the source until saved
                initial = SHARED
            elif d.physical_at is not None:  # whole at its point in time (a snap shares pointers)
                initial = SHARED if mv.pointer_copy else COPIED
            else:
                initial = SHARED if mv.pointer_copy else NOT_COPIED
            self._keeps_sharing = mv.pointer_copy and kind == "copy"
            self._cow = lambda: int(svc.describe(rid).cow_count)
        else:  # dump-plain and anything new: reads only
            return self._follow_reads()
        self._listen(svc, rid)
        self._initial = initial

        def state() -> np.ndarray:
            out = np.where(self._copied | self.read, COPIED, self._initial).astype(np.uint8)
            if self._failed:  # its target is not a copy: what it lacked is lost
                out[~(self._copied | self.read)] = LOST
            elif self._complete:
                out[:] = COPIED
            return out

        self._state = state

    def _listen(self, svc, rid: str, saves_only: bool = False) -> None:
        rid = str(rid)

        def on_tracks(ev) -> None:
            if ev.rid != rid or ev.role != "source" or (saves_only and ev.kind != "saved"):
                return
            t = ev.source_tracks()
            idx = self._index[t[(t >= 0) & (t < self._index.size)]]
            idx = idx[idx >= 0]
            if ev.kind == "saved":
                self.codes[idx] = SAVED
            else:
                self._copied[idx] = True

        def on_completion(ev) -> None:
            if ev.rel.id != rid or saves_only:
                return
            if ev.kind == "failed":
                self._failed = True
            elif ev.kind == "physical" and not self._keeps_sharing:
                self._complete = True

        svc.subscribe_tracks(on_tracks)
        svc.subscribe(on_completion)
        self._listeners.append((svc, on_tracks, on_completion))

    def _unlisten(self) -> None:
        for svc, on_tracks, on_completion in self._listeners:
            svc.unsubscribe_tracks(on_tracks)
            svc.unsubscribe(on_completion)
        self._listeners.clear()

    def _freeze(self, failed: bool = False) -> None:
        """The copy is done: the services may be gone.  A copy that succeeded has every
        image; one that failed keeps what it had, and the rest is lost."""
        self._read_counters()
        self._cow = self._counters = None
        self._unlisten()
        if failed:
            # what the service still holds for the copy decides, not what was saved on
            # the way: a cancelled dump loses its sidefile with its unread tracks
            base = self._state() if self.pit and self._state is not None else \
                np.zeros(self.domain.size, np.uint8)
            now = self.current()
            now[(base == NOT_COPIED) | (base == SHARED) | (base == LOST)] = LOST
            self._state = lambda: now.copy()
        elif not self._keeps_sharing or self._state is None:
            # (a snap's pool pointers stay valid, so its sharing is still drawn)
            self._state = lambda: np.full(self.domain.size, COPIED, np.uint8)
        self.final = True
        self.pit = True

    def _read_counters(self) -> None:
        """The services' counters now; the last ones stay once the copy is gone."""
        from dasdlab.errors import CopyServiceError

        try:
            if self._cow is not None:
                self.cow = self._cow()
            if self._counters is not None:
                self.cc_counters = self._counters()
        except CopyServiceError:
            pass

    # ------------------------------------------------------------------ observation
    def _written(self, tracks: np.ndarray) -> None:
        if not self.pit:
            return
        t = tracks[(tracks >= 0) & (tracks < self._index.size)]
        idx = self._index[t]
        idx = idx[idx >= 0]
        if idx.size == 0:
            return
        rest = idx[(self.codes[idx] != SAVED) & (self.codes[idx] != CHANGED)]
        if rest.size == 0:
            return
        # changed after the point in time -- unless the service saves the image first,
        # which its "saved" track event, right after this, says
        if self.process in ("standard", "cic") and not self.final:
            rest = rest[self.read[rest]]  # an unread track: the copy will read the new content
        self.codes[rest] = CHANGED

    def current(self) -> np.ndarray:
        """The codes now (a new array)."""
        if not self.pit or self._state is None:
            return np.zeros(self.domain.size, np.uint8)
        out = self._state()
        sticky = ((self.codes == SAVED) | (self.codes == CHANGED)) & (out != LOST)
        out[sticky] = self.codes[sticky]
        return out

    #: a trace keeps at most this many columns: every g-th track of a larger data set
    #: (a plot shows a few hundred bands of tracks; the trace must not grow with the
    #: database's size times the run's length)
    MAX_COLUMNS = 4096

    @property
    def columns(self) -> np.ndarray:
        """The absolute tracks the trace's columns are (every ``g``-th of the domain)."""
        return self.domain[:: self._stride()]

    def _stride(self) -> int:
        return max(1, -(-self.domain.size // self.MAX_COLUMNS))

    def sample(self, t: float, keep: bool = True) -> None:
        """Read the services' counters; with ``keep``, record the codes at ``t`` (a
        driver thins out the samples of a long run)."""
        self._read_counters()
        if not keep:
            return
        self.times.append(float(t))
        g = self._stride()
        cur = self.current()
        self.samples.append(cur if g == 1 else np.ascontiguousarray(cur[::g]))

    def array(self) -> tuple[np.ndarray, np.ndarray]:
        codes = np.stack(self.samples) if self.samples else np.zeros((0, self.columns.size), np.uint8)
        return np.asarray(self.times, dtype=np.float64), codes


# ---------------------------------------------------------------------- files
def trace_path(folder: str | Path, method: str) -> Path:
    return Path(folder) / f"trace-{method}.npz"


def save_trace(folder: str | Path, method: str, times: np.ndarray, codes: np.ndarray,
               tracks: np.ndarray, meta: dict) -> Path:
    """Write ``trace-METHOD.npz``: times (modeled s from the copy start), codes (uint8,
    samples x tracks), tracks (absolute track of each column), legend and meta (JSON)."""
    from dasdlab.emulator.newfile import replaced_file

    path = trace_path(folder, method)
    legend = json.dumps({str(k): v for k, v in LEGEND.items()})
    with replaced_file(path) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no .npz
        np.savez_compressed(f, times=np.asarray(times, np.float64), codes=np.asarray(codes, np.uint8),
                            tracks=np.asarray(tracks, np.int64), legend=np.array(legend),
                            meta=np.array(json.dumps(meta)))
    return path


def load_trace(path: str | Path, method: str | None = None) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """``(times, codes, legend)`` of one method's trace.

    ``path`` is a results folder (with ``method``) or a ``trace-METHOD.npz`` file.
    ``times``: modeled seconds from the copy start, one per sample; ``codes``: uint8
    array (samples x tracks of the copied data set); ``legend``: code -> meaning.
    """
    from dasdlab.bench.scenario import ScenarioError

    p = Path(path)
    if p.is_dir():
        if method is None:
            raise ScenarioError("DLB725E", f"{p} is a folder; name the method whose trace to load.")
        p = trace_path(p, method)
    if not p.is_file():
        raise ScenarioError("DLB725E", f"no track-state trace {p}; run 'dasdlab bench outage' first.")
    try:
        with np.load(p, allow_pickle=False) as z:
            times, codes = z["times"], z["codes"]
            legend = {int(k): v for k, v in json.loads(str(z["legend"])).items()}
    except (OSError, ValueError, KeyError) as e:
        raise ScenarioError("DLB726E", f"{p} is not a track-state trace ({e}).") from None
    return times, codes, legend


def load_trace_meta(path: str | Path, method: str) -> dict:
    """The meta record (method, process, phases) stored with a trace."""
    p = trace_path(path, method) if Path(path).is_dir() else Path(path)
    with np.load(p, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def _cc_counters(d) -> dict[str, int]:
    """A Concurrent Copy session's counters from its descriptor."""
    return {k: int(d.get(k) or 0) for k in ("intercepted_writes", "cache_hwm_tracks", "host_hwm_tracks",
                                             "host_dataspaces_hwm")}
