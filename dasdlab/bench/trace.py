"""The track-state trace: where the point-in-time image of each track of the copied data
set is, sampled every workload slice of an outage scenario (for the teaching view).

One concept: *per-track state codes over time*, read from the copy services' own
bitmaps (``docs/domain.md`` §2, §4.1):

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

Codes 2 and 4 are decided *at the write*: an observer on the subsystem's write path
(registered before the copy service's own intercept, so it sees the write first) asks
the service whether the track's point-in-time image is still unprotected -- FlashCopy
``to_copy``, Concurrent Copy ``unread`` and not ``saved``, TimeFinder ``pending`` --
and then the service's intercept saves it (2), or the image is already elsewhere (4).
Codes 0, 1 and 3 are read from the bitmaps at each sample: FlashCopy ``to_copy``,
Concurrent Copy ``unread``, TimeFinder ``pending``, SnapShot sharing (source and clone
Functional Track Directory entries equal).  The standard and concurrent image copies
have no copy service; their reads are reported by the copy itself
(:attr:`dasdlab.engine.hpic.CopyRun.on_read`).  For the concurrent (fuzzy) image copy a
write to a track it has not read yet changes nothing: the copy will read the new
content (that is what makes it fuzzy).

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
        self._preserving = None  # idx -> bool: the service will save the image now
        self._state = None  # () -> codes 0/1/3 for every track
        self.times: list[float] = []
        self.samples: list[np.ndarray] = []
        #: tracks the service copied on write (FlashCopy copy-on-write, TimeFinder copy
        #: on access), read from its counters at each sample while it is followed
        self.cow = 0
        self._cow = None  # () -> the service's counter now
        #: a Concurrent Copy session's counters (intercepted writes, sidefile high-water
        #: marks), kept even when the session is cancelled and the copy fails
        self.cc_counters: dict[str, int] = {}
        self._cc = None
        self._watch = _Watch(self)

    # ------------------------------------------------------------------ life cycle
    def attach(self) -> None:
        self.sub.register_intercept(self.volser, self._watch)

    def detach(self) -> None:
        self.sub.unregister_intercept(self.volser, self._watch)

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
            self._bind_reads(p)
        elif rep.logical is not None:
            if p in ("copy-flashcopy", "fdump-flashcopy"):
                self._bind_flashcopy(p, rep.counters["relationship"])
            elif p in ("dump-cc", "dump-vcc"):
                self._bind_cc()
            elif p == "copy-timefinder":
                self._bind_timefinder(rep.counters["clone_session"])
            elif p in ("copy-snapshot", "fdump-snapshot"):
                self._bind_snapshot(p, rep.counters.get("snap"))
            elif p.startswith("copy-") and rep.physical is not None:
                # a copy service by name that is whole on the target at its point in
                # time (a split mirror): every track is copied from then on
                self._preserving = None
                self._state = lambda: np.full(self.domain.size, COPIED, np.uint8)
            else:  # dump-plain and anything new: reads only
                self._bind_reads(p)
        else:
            return
        self.process = p
        self.pit = True

    # ------------------------------------------------------------------ per service
    def _bind_reads(self, p: str) -> None:
        self._preserving = None

        def state() -> np.ndarray:
            return np.where(self.read, COPIED, NOT_COPIED).astype(np.uint8)

        self._state = state

    def _bind_flashcopy(self, p: str, rid: str) -> None:
        fc = self.sub.service("flashcopy")
        rel = fc.get(rid)
        rels = rel.tmap.rel_of_src(self.domain)[0]

        def pending(idx: np.ndarray) -> np.ndarray:
            if not rel.active:
                return np.zeros(idx.size, bool)
            return rel.to_copy.test_many(rels[idx])

        self._preserving = pending
        from dasdlab.emulator.services.flashcopy import CTR_COW

        self._cow = lambda: int(rel.ctr[CTR_COW])
        uncopied = NOT_COPIED if p == "copy-flashcopy" else SHARED

        def state() -> np.ndarray:
            if rel.state.name == "FAILED":  # its target is not a copy: what it lacked is lost
                return np.where(rel.to_copy.test_many(rels), LOST, COPIED).astype(np.uint8)
            out = np.where(pending(np.arange(rels.size)), uncopied, COPIED).astype(np.uint8)
            if p != "copy-flashcopy":  # the shadow: a dump read of an uncopied track is redirected
                out[self.read] = COPIED
            return out
        self._state = state

    def _bind_cc(self) -> None:
        cc = self.sub.service("concurrent_copy")
        live = [s for s in cc.sessions.values() if s.volser == self.volser and s.state.name == "ACTIVE"]
        sess = live[-1]
        rels = sess.tmap.rel_of_src(self.domain)[0]
        work = sess.work
        if work is not None and work.mechanism == "flashcopy" and work.relation:
            wrel = self.sub.service("flashcopy").get(work.relation)
            wrels = wrel.tmap.rel_of_src(self.domain)[0]

            def pending(idx: np.ndarray) -> np.ndarray:
                if not wrel.active:
                    return np.zeros(idx.size, bool)
                return wrel.to_copy.test_many(wrels[idx])
        elif work is not None:  # snapped: redirect-on-write keeps the image, nothing is saved
            def pending(idx: np.ndarray) -> np.ndarray:
                return np.zeros(idx.size, bool)
        else:
            def pending(idx: np.ndarray) -> np.ndarray:
                if sess.state.name != "ACTIVE":
                    return np.zeros(idx.size, bool)
                r = rels[idx]
                return sess.unread.test_many(r) & ~sess.saved.test_many(r)

        unread_code = SHARED if work is not None else NOT_COPIED

        def state() -> np.ndarray:
            if sess.state.name == "COMPLETE":
                return np.full(rels.size, COPIED, np.uint8)
            # a cancelled or failed session never gets its unread tracks (its bitmap stays)
            code = unread_code if sess.state.name == "ACTIVE" else LOST
            return np.where(sess.unread.test_many(rels), code, COPIED).astype(np.uint8)

        self._preserving = pending
        self._state = state
        self._cc = lambda: dict(sess.counters)

    def _bind_timefinder(self, sid: str) -> None:
        s = self.sub.service("timefinder").session(sid)
        rels = s.tmap.rel_of_src(self.domain)[0]

        def pending(idx: np.ndarray) -> np.ndarray:
            if s.pending is None or s.state.name not in ("COPY_IN_PROG", "COPY_ON_ACCESS"):
                return np.zeros(idx.size, bool)
            return s.pending.test_many(rels[idx])

        self._preserving = pending
        self._cow = lambda: sum(int(s.counters[k]) for k in s.ACCESS)
        self._state = lambda: np.where(pending(np.arange(rels.size)), NOT_COPIED, COPIED).astype(np.uint8)

    def _bind_snapshot(self, p: str, snap_id) -> None:
        svc = self.sub.service("snapshot")
        snap = svc.get(snap_id)
        rels = snap.tmap.rel_of_src(self.domain)[0]
        dst = snap.tmap.dst(rels)
        src_vol = self.sub.open_volume(snap.source)
        tgt_vol = self.sub.open_volume(snap.target)

        def state() -> np.ndarray:
            same = np.asarray(src_vol.ftd[self.domain]) == np.asarray(tgt_vol.ftd[dst])
            out = np.where(same, SHARED, CHANGED).astype(np.uint8)
            if p == "fdump-snapshot":
                out[self.read] = COPIED
            return out

        self._preserving = None  # redirect-on-write: nothing is ever saved
        self._state = state

    def _freeze(self, failed: bool = False) -> None:
        """The copy is done: the services may be gone.  A copy that succeeded has every
        image; one that failed keeps what it had, and the rest is lost."""
        if self._cow is not None:  # the last count (a withdrawn relationship keeps its arrays)
            self.cow = self._cow()
        if self._cc is not None:
            self.cc_counters = self._cc()
        self._cc = None
        if failed:
            # what the service still holds for the copy decides, not what was saved on
            # the way: a cancelled dump loses its sidefile with its unread tracks
            base = self._state() if self.pit and self._state is not None else \
                np.zeros(self.domain.size, np.uint8)
            now = self.current()
            now[(base == NOT_COPIED) | (base == SHARED) | (base == LOST)] = LOST
            self._state = lambda: now.copy()
        elif self.process != "copy-snapshot" or self._state is None:
            # (a snap's pool pointers stay valid, so its sharing is still read)
            self._state = lambda: np.full(self.domain.size, COPIED, np.uint8)
        self._preserving = None
        self._cow = None
        self.final = True
        self.pit = True

    # ------------------------------------------------------------------ observation
    def _written(self, tracks: np.ndarray) -> None:
        if not self.pit:
            return
        t = tracks[(tracks >= 0) & (tracks < self._index.size)]
        idx = self._index[t]
        idx = idx[idx >= 0]
        if idx.size == 0:
            return
        idx = idx[(self.codes[idx] != SAVED) & (self.codes[idx] != CHANGED)]
        if idx.size == 0:
            return
        saving = self._preserving(idx) if self._preserving is not None else np.zeros(idx.size, bool)
        self.codes[idx[saving]] = SAVED
        rest = idx[~saving]
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
        if self._cow is not None:
            self.cow = self._cow()
        if self._cc is not None:
            self.cc_counters = self._cc()
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
