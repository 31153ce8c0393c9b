"""The teaching view: what happens to each track of a database while a copy method
runs, drawn from the event trace the outage scenario saves with its results.

A trace is three things (:func:`dasdlab.bench.trace.load_trace` of a results folder):

* ``times`` -- the modeled instants of the samples, seconds, non-decreasing;
* ``codes`` -- a ``uint8`` array ``[samples x tracks]``, the state of every track of
  the copied data set at each sample;
* ``legend`` -- code -> label, as saved with the trace.

The codes (defined in :mod:`dasdlab.bench.trace`, which records them):

====  ==================================================================================
0     not yet copied: the copy still has to take this track from the live volume
1     copied by the background copy, or read by the dump (FlashCopy/Clone background
      copy, DSS dump reads, the standard process's read)
2     saved by copy-on-write or into the sidefile: a host write reached the track
      before the copy did, so its point-in-time image was saved first (FlashCopy COW,
      Concurrent Copy sidefile, TimeFinder copy on access)
3     redirected or shared: the copy *is* the source track for now (a SnapShot pointer,
      a virtual CC work area, a target read redirected to the source)
4     changed after the point in time, with nothing to save: the track had been copied
      (or unshared by redirect-on-write) before the host wrote it
5     lost: the copy failed or was cancelled before it had this track (black; the
      figure then says FAILED with the method's message)
====  ==================================================================================

What the pictures say about the mechanisms (``docs/domain.md`` §2 and §4.1): a standard
copy turns tracks from grey to blue one by one while the database is held; Concurrent
Copy shows orange where updates raced the dump (the sidefile) after a short hold;
FlashCopy COPY fills blue at the background-copy rate with orange copy-on-write
intercepts; SnapShot is green (shared) at once and turns red as updates are redirected.

:func:`trace_figure` draws one figure: a track x time raster (tracks resampled to at
most a few hundred rows by the most common state of each band, time resampled to a
uniform grid taking the state at or before each instant) above a stacked area of the
share of tracks in each state.  :func:`trace_frames` writes an image sequence: the
tracks as a grid of cylinders (15 tracks to a cylinder, cylinder after cylinder) at
evenly spaced instants.  :func:`teach` does both for a results folder.  Errors:
DLB770E-DLB774E (message ids of the benchmark range).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Callable

import numpy as np

# the codes and their labels have one definition: the trace module that records them
from dasdlab.bench.plots import save_figure
from dasdlab.bench.trace import CHANGED, COPIED, LEGEND, LOST, NOT_COPIED, SAVED, SHARED
from dasdlab.errors import DasdlabError

#: colours chosen to stay apart for the common colour-vision deficiencies (Okabe-Ito)
COLOURS: dict[int, str] = {
    NOT_COPIED: "#d9d9d9",
    COPIED: "#0072b2",
    SAVED: "#e69f00",
    SHARED: "#009e73",
    CHANGED: "#d55e00",
    LOST: "#000000",
}
NCODES = len(LEGEND)
#: the name a caption gives each colour of :data:`COLOURS` (a test checks each name
#: against the colour's hue): the captions say these words, so they match the legend
COLOUR_NAMES: dict[int, str] = {
    NOT_COPIED: "light grey",
    COPIED: "blue",
    SAVED: "orange",
    SHARED: "green",
    CHANGED: "red-orange",
    LOST: "black",
}
_CODE = dict(NOT_COPIED=NOT_COPIED, COPIED=COPIED, SAVED=SAVED, SHARED=SHARED, CHANGED=CHANGED, LOST=LOST)
#: one sentence per method (dasdlab.bench.methods names) for the figure's caption;
#: ``{STATE}`` is that state's colour name
_EXPLAIN: dict[str, str] = {
    "standard": "The database is held while every track is read: nothing can change during the copy.",
    "cic": "Nothing is held: tracks are read while updates go on, so the copy is fuzzy ({CHANGED} = changed "
           "after the read started).",
    "dump-cc": "Held only until the Concurrent Copy session is initialised; then the first update of an "
               "unread track saves its old image in the sidefile ({SAVED}) before the dump reads it.",
    "dump-vcc": "Virtual Concurrent Copy: the data set is flashed or snapped to a work area ({SHARED}), which "
                "the dump then reads with ordinary I/O.",
    "fdump": "FlashCopy NOCOPY into a shadow data set ({SHARED}: the shadow reads the source); updates copy "
             "the old track first ({SAVED}); the dump reads the shadow.",
    "copy-flashcopy": "FlashCopy COPY: after establish the clone is complete in logic; the background copy "
                      "fills it ({COPIED}) and an update of an uncopied track copies it first ({SAVED}).",
    "copy-snapshot": "SnapShot copies pointers: every track is shared at once ({SHARED}); an update is written "
                     "to a new place ({CHANGED}) and the snap keeps the old one.",
    "copy-timefinder": "TimeFinder/Clone COPY: background copy ({COPIED}), and an update of an uncopied track "
                       "copies it on access first ({SAVED}).",
}
EXPLAIN: dict[str, str] = {k: v.format(**{n: COLOUR_NAMES[c] for n, c in _CODE.items()})
                           for k, v in _EXPLAIN.items()}
#: the states each caption names by colour, in its order
EXPLAIN_STATES: dict[str, list[int]] = {k: [_CODE[n] for n in re.findall(r"\{(\w+)\}", v)]
                                        for k, v in _EXPLAIN.items()}
TRACKS_PER_CYLINDER = 15  # 3390


class TraceError(DasdlabError):
    """A trace that is missing, malformed, or cannot be drawn where asked."""


# ====================================================================== checks
def check_trace(times, codes) -> tuple[np.ndarray, np.ndarray]:
    """The trace as arrays, or DLB772E saying what is wrong with it."""
    times = np.asarray(times, dtype=np.float64)
    codes = np.asarray(codes)
    if times.ndim != 1 or times.size == 0:
        raise TraceError("DLB772E", f"a trace needs a non-empty list of sample times, got shape {times.shape}.")
    if codes.ndim != 2 or codes.shape[0] != times.size or codes.shape[1] == 0:
        raise TraceError("DLB772E", f"trace codes must be [samples x tracks] with {times.size} samples, "
                                    f"got shape {codes.shape}.")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise TraceError("DLB772E", "trace sample times must be finite and never decrease.")
    if not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() >= NCODES:
        raise TraceError("DLB772E", f"trace codes must be integers 0..{NCODES - 1} (see "
                                    "dasdlab.bench.trace.LEGEND).")
    return times, codes.astype(np.uint8, copy=False)


# ====================================================================== resampling
def state_counts(codes: np.ndarray) -> np.ndarray:
    """``[samples x NCODES]``: how many tracks are in each state at each sample."""
    s = codes.shape[0]
    flat = codes.astype(np.int64) + np.arange(s, dtype=np.int64)[:, None] * NCODES
    return np.bincount(flat.ravel(), minlength=s * NCODES).reshape(s, NCODES)


def track_bands(codes: np.ndarray, nbands: int) -> np.ndarray:
    """``[samples x bands]``: the most common state of each band of adjacent tracks
    (ties go to the higher code, the later state of a track's life).  With as many
    bands as tracks this is the trace itself."""
    s, n = codes.shape
    if nbands >= n:
        return codes
    band = (np.arange(n, dtype=np.int64) * nbands) // n
    idx = (np.arange(s, dtype=np.int64)[:, None] * nbands + band[None, :]) * NCODES + codes
    counts = np.bincount(idx.ravel(), minlength=s * nbands * NCODES).reshape(s, nbands, NCODES)
    # argmax of the reversed codes, so that a tie picks the higher code
    return (NCODES - 1 - np.argmax(counts[:, :, ::-1], axis=2)).astype(np.uint8)


def time_grid(times: np.ndarray, ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """(instants, sample index) for ``ncols`` evenly spaced instants from the first
    sample to the last: each takes the last sample at or before it (states are steps)."""
    t0, t1 = float(times[0]), float(times[-1])
    if t1 <= t0:
        return np.array([t0]), np.array([times.size - 1])
    at = np.linspace(t0, t1, ncols)
    idx = np.searchsorted(times, at, side="right") - 1
    return at, np.clip(idx, 0, times.size - 1)


def cylinder_grid(row: np.ndarray, max_cells: int = 60_000) -> np.ndarray:
    """One sample's states laid out as a picture of the data set: rows of whole
    cylinders (15 tracks each), left to right; unused cells are -1.  Large data sets are
    first reduced to ``max_cells`` bands (most common state)."""
    n = row.size
    if n > max_cells:
        row = track_bands(row[None, :], max_cells)[0]
        n = row.size
    # about twice as wide as tall, a whole number of cylinders across
    cyls_across = max(1, int(round(np.sqrt(2 * n) / TRACKS_PER_CYLINDER)))
    width = cyls_across * TRACKS_PER_CYLINDER
    rows = -(-n // width)
    grid = np.full(rows * width, -1, dtype=np.int16)
    grid[:n] = row
    return grid.reshape(rows, width)


# ====================================================================== drawing
def _cmap():
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cmap = ListedColormap([COLOURS[c] for c in range(NCODES)]).with_extremes(bad="white")
    return cmap, BoundaryNorm(np.arange(-0.5, NCODES), NCODES)


def _labels(legend: dict | None) -> dict[int, str]:
    out = dict(LEGEND)
    for k, v in (legend or {}).items():
        out[int(k)] = str(v)
    return out


def failure_banner(codes: np.ndarray, failure: str | None) -> str | None:
    """The banner of a failed copy: ``failure`` (the method's message), or a plain one
    when the trace has lost tracks; None for a copy that succeeded."""
    if failure:
        return f"FAILED: {failure}"
    if np.any(np.asarray(codes) == LOST):
        return "FAILED: the copy did not complete (black tracks are not in it)"
    return None


def trace_figure(times, codes, legend: dict | None = None, method: str = "", *,
                 events: dict[str, float] | None = None, max_rows: int = 400, max_cols: int = 800,
                 failure: str | None = None):
    """One figure of a trace: track x time raster above the share of tracks in each
    state.  ``events`` (name -> modeled time, e.g. hold start, release, physical
    completion) are drawn as labelled vertical lines.  A failed copy (``failure``, its
    message, or lost tracks in the trace) says so in red over the figure.  Returns the
    matplotlib Figure."""
    times, codes = check_trace(times, codes)
    banner = failure_banner(codes, failure)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = _labels(legend)
    ntracks = codes.shape[1]
    at, idx = time_grid(times, max_cols)
    raster = track_bands(codes[idx], max_rows).T  # [bands x columns]
    counts = state_counts(codes)
    cmap, norm = _cmap()

    fig = Figure(figsize=(10, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    t0, t1 = float(at[0]), float(at[-1]) if at[-1] > at[0] else float(at[0]) + 1.0
    top.imshow(raster, aspect="auto", interpolation="nearest", origin="lower", cmap=cmap, norm=norm,
               extent=(t0, t1, 0, ntracks))
    top.set_ylabel("track of the data set")
    title = f"Track states during the copy: {method}" if method else "Track states during the copy"
    if banner:
        title += "\n" + textwrap.shorten(banner, 140)
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, color="#b00000" if banner else "black")
    if method in EXPLAIN:
        top.set_title(textwrap.fill(EXPLAIN[method], 150), loc="left", fontsize=8)
    shares = counts.T / ntracks
    bottom.stackplot(times, shares, colors=[COLOURS[c] for c in range(NCODES)], step="post")
    bottom.set_ylim(0, 1)
    bottom.set_xlim(t0, t1)
    bottom.set_ylabel("share of tracks")
    bottom.set_xlabel("modeled time (s)")
    shown = [(name, t) for name, t in (events or {}).items() if t is not None]
    for k, (name, t) in enumerate(sorted(shown, key=lambda e: e[1])):
        for ax in (top, bottom):
            ax.axvline(t, color="black", lw=0.8, ls="--")
        # labels of close instants alternate between the top and the middle of the plot
        top.annotate(name, (t, 0.99 if k % 2 == 0 else 0.5), xycoords=top.get_xaxis_transform(), xytext=(2, 0),
                     textcoords="offset points", fontsize=8, rotation=90, va="top",
                     bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))
    used = [c for c in range(NCODES) if counts[:, c].any()]
    fig.legend(handles=[Patch(color=COLOURS[c], label=labels[c]) for c in used], loc="outside lower center",
               ncols=min(3, max(1, len(used))), fontsize=8, frameon=False)
    return fig


def frame_figure(t: float, row: np.ndarray, legend: dict | None = None, method: str = "",
                 tmax: float | None = None, failure: str | None = None):
    """One frame of the image sequence: the data set's tracks by cylinder at time ``t``;
    a failed copy's frames say FAILED (``failure``: the banner of the whole trace)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = _labels(legend)
    grid = np.ma.masked_less(cylinder_grid(row), 0)
    cmap, norm = _cmap()
    counts = np.bincount(row.astype(np.int64), minlength=NCODES)
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{row.size} tracks, {TRACKS_PER_CYLINDER} to a cylinder, left to right and top to bottom")
    clock = f"t = {t:,.2f} s" + (f" of {tmax:,.2f} s" if tmax is not None else "")
    ax.set_title((f"{method}   {clock}" if method else clock) + (f"\n{textwrap.shorten(failure, 100)}"
                                                                  if failure else ""),
                 loc="left", color="#b00000" if failure else "black")
    fig.legend(handles=[Patch(color=COLOURS[c], label=f"{labels[c]}: {counts[c]}") for c in range(NCODES)],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return fig


def trace_frames(times, codes, outdir: str | Path, legend: dict | None = None, method: str = "",
                 frames: int = 24, dpi: int = 80, progress: Callable[[int, int], None] | None = None,
                 failure: str | None = None) -> list[Path]:
    """Write ``frames`` PNG images (``frame-0001.png``...) at evenly spaced instants of
    the trace into ``outdir``; returns their paths.  ``progress(done, total)`` after each."""
    times, codes = check_trace(times, codes)
    if frames < 1:
        raise TraceError("DLB774E", f"the number of frames must be at least 1, not {frames}.")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    at, idx = time_grid(times, frames)
    banner = failure_banner(codes, failure)
    paths = []
    for k, (t, i) in enumerate(zip(at, idx), start=1):
        fig = frame_figure(float(t), codes[i], legend, method, tmax=float(times[-1]), failure=banner)
        p = outdir / f"frame-{k:04d}.png"
        save_figure(fig, p, dpi=dpi)
        paths.append(p)
        if progress is not None:
            progress(k, frames)
    return paths


# ====================================================================== from results
def _loader() -> Callable:
    """The scenario runner's ``load_trace(path, method)``."""
    from dasdlab.bench.trace import load_trace

    return load_trace


#: phase names of a trace's meta record -> the label drawn at that instant
PHASES = {"hold_start": "hold", "hold_end": "release", "logical": "logical completion",
          "physical": "physical completion"}


def trace_events(results: str | Path, method: str) -> dict[str, float]:
    """The copy's phases saved with the trace (label -> modeled time from the copy
    start); {} when the trace has none.  Phases that did not happen (NaN) are left out."""
    try:
        from dasdlab.bench.trace import load_trace_meta

        phases = load_trace_meta(results, method).get("phases", {})
    except (ImportError, OSError, ValueError, KeyError):
        return {}
    out: dict[str, float] = {}
    for key, label in PHASES.items():
        v = phases.get(key)
        if isinstance(v, (int, float)) and np.isfinite(v):
            # logical completion is often the release itself: one label for both
            same = [k for k, t in out.items() if abs(t - v) < 1e-9]
            if same:
                out[f"{same[0]} = {label}"] = out.pop(same[0])
            else:
                out[label] = float(v)
    return out


def method_failure(results: str | Path, method: str) -> str | None:
    """The message of ``method`` in the results' ``methods.parquet`` when its copy
    failed (or "the copy failed" without a message); None when it succeeded or the
    folder has no such table (a trace alone)."""
    try:
        from dasdlab.bench.results import read_methods

        rows = read_methods(results).to_pylist()
    except Exception:  # noqa: BLE001 - no table: the trace's own lost tracks still show a failure
        return None
    for r in rows:
        if r.get("name") == method and r.get("status", "ok") != "ok":
            return r.get("message") or "the copy failed"
    return None


def teach(results: str | Path, method: str, out: str | Path | None = None, frames: int = 0,
          loader: Callable | None = None, events: dict[str, float] | None = None,
          progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Draw the trace of ``method`` saved in the results folder ``results``: one PNG at
    ``out`` (default ``RESULTS/teach-METHOD.png``) and, with ``frames`` > 0, an image
    sequence in the folder ``OUT-STEM-frames`` beside it.  Returns the files written.
    Everything is checked before a file is written.  ``progress(done, total)`` counts
    the pictures written."""
    results = Path(results)
    if not results.is_dir():
        raise TraceError("DLB770E", f"results folder {results} does not exist; run 'dasdlab bench outage' "
                                    "(it saves the traces) and give its --out folder.")
    out = Path(out) if out is not None else results / f"teach-{method}.png"
    if out.suffix.lower() != ".png":
        raise TraceError("DLB773E", f"the teaching view is written as PNG; give an --out path ending in .png, "
                                    f"not {out.name}.")
    if not out.parent.is_dir():
        raise TraceError("DLB773E", f"folder {out.parent} for the picture does not exist; create it first.")
    if frames < 0:
        raise TraceError("DLB774E", f"the number of frames must be 0 (none) or more, not {frames}.")
    try:
        times, codes, legend = (loader or _loader())(results, method)
    except (FileNotFoundError, LookupError) as e:
        raise TraceError("DLB771E", f"{results} holds no trace of method {method!r} ({e}); run the outage "
                                    "scenario with that method first.") from None
    times, codes = check_trace(times, codes)
    if events is None and loader is None:
        events = trace_events(results, method)
    failure = method_failure(results, method)
    fig = trace_figure(times, codes, legend, method, events=events, failure=failure)
    save_figure(fig, Path(out), dpi=100)
    written = [out]
    if progress is not None:
        progress(1, 1 + frames)
    if frames:
        step = None if progress is None else (lambda k, n: progress(1 + k, 1 + n))
        written += trace_frames(times, codes, out.with_name(f"{out.stem}-frames"), legend, method, frames,
                                progress=step, failure=failure)
    return written
