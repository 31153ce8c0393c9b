"""The teaching animation: a copy's track states as a GIF (or MP4 where ``ffmpeg`` is
installed), with frames placed at and around the events that matter.

One concept: *an animation at events*.  Frames are not spread evenly over the run (a
fifth of it is warm-up, and the moments a class must see last a slice): there is one
just before and one at each event of the copy -- hold, release, logical and physical
completion, from the phases saved with the trace -- one at the copy start and one at
the end, and the rest spread over the copy itself; nothing before the copy start
except one frame of the state the copy starts from.  Each frame shows the database
(source) and the copy (target) side by side, cylinder by cylinder, under a banner
naming the phase (hold: updates wait, copy reading while the database is available,
logically complete with the physical copy running, physically complete; FAILED for a
failed copy, whose missing tracks are drawn lost).

The source panel is derived from the trace: a track written after the point in time
(saved first, or changed with nothing to save) is drawn "changed"; every other track
still holds its point-in-time image.  Errors: DLB773E (where the animation is written,
ffmpeg for MP4), DLB774E (the number of frames), from the teaching view's range.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Callable

import numpy as np

from dasdlab.bench.trace import CHANGED, LOST, NOT_COPIED, SAVED
from dasdlab.bench.trace_plot import (
    COLOURS, NCODES, PHASES, TRACKS_PER_CYLINDER, TraceError, _cmap, _labels, check_trace, cylinder_grid,
    failure_banner,
)

#: phase -> banner colour (the explorer's and the timeline's colours)
BANNER = {"before": "#dddddd", "hold": "#f5b7b1", "fuzzy": "#f9e79f", "logical": "#aed6f1",
          "physical": "#a9dfbf", "failed": "#222222"}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def phase_at(t: float, phases: dict, failed: bool = False) -> tuple[str, str]:
    """(key, banner text) of the copy's phase at modeled time ``t`` from the copy start."""
    p = phases or {}
    if failed and t >= 0:
        return "failed", "FAILED: the copy did not complete"
    if t < 0:
        return "before", "before the copy: the workload runs"
    hs, he, lg, ph = (p.get(k) for k in ("hold_start", "hold_end", "logical", "physical"))
    if _finite(hs) and _finite(he) and hs <= t < he:
        return "hold", "HOLD: the database is quiesced, updates wait"
    if not _finite(hs) and _finite(lg) and t < lg:
        return "fuzzy", "copy reading while the database is available (fuzzy)"
    if _finite(ph) and t >= ph:
        return "physical", "physically complete: every track is in the copy"
    if _finite(lg) and t >= lg:
        return "logical", "logically complete: the database is free, the physical copy runs"
    return "before", "the copy is starting"


def event_frames(times: np.ndarray, phases: dict, frames: int) -> list[tuple[float, str]]:
    """(instant, label) of the frames: the state the copy starts from, the copy start,
    just before and at each event, the end, and the rest spread over the copy."""
    times = np.asarray(times, float)
    t_end = float(times[-1])
    start = min(max(0.0, float(times[0])), t_end)
    before = times[times < start]
    keys: dict[float, str] = {}
    if before.size:
        keys[float(before[-1])] = "before the copy"
    keys.setdefault(start, "copy start")
    for key, label in PHASES.items():
        v = (phases or {}).get(key)
        if not _finite(v) or not start <= v <= t_end:
            continue
        prior = times[(times < v) & (times >= start)]
        if prior.size:
            keys.setdefault(float(prior[-1]), f"just before {label}")
        keys[float(v)] = f"{keys[float(v)]} = {label}" if float(v) in keys and "before" not in keys[float(v)] \
            else label
    keys.setdefault(t_end, "end of the run")
    left = frames - len(keys)
    if left > 0 and t_end > start:
        for t in np.linspace(start, t_end, left + 2)[1:-1]:
            keys.setdefault(float(t), "")
    return sorted(keys.items())


def _frame(t: float, row: np.ndarray, label: str, phase: tuple[str, str], method: str, tmax: float,
           legend: dict, failure: str | None):
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = _labels(legend)
    cmap, norm = _cmap()
    source = np.where((row == SAVED) | (row == CHANGED), CHANGED, NOT_COPIED).astype(np.int16)
    fig = Figure(figsize=(9.5, 5.4), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[0.09, 1])
    top = fig.add_subplot(gs[0, :])
    top.axis("off")
    axes = [fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])]
    for ax, data, title in ((axes[0], source, "database (source)"), (axes[1], row, "image copy (target)")):
        ax.imshow(np.ma.masked_less(cylinder_grid(np.asarray(data)), 0), aspect="auto", interpolation="nearest",
                  cmap=cmap, norm=norm)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)
    key, text = phase
    if failure:  # the outcome first, then where in the copy this frame is
        key, text = "failed", f"{textwrap.shorten(failure, 70)}  |  {text}"
    fig.suptitle(f"{method}   t = {t:,.2f} s of {tmax:,.2f} s" + (f"   [{label}]" if label else ""),
                 x=0.01, ha="left", fontsize=11)
    top.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, weight="bold", transform=top.transAxes,
             color="white" if key == "failed" else "black",
             bbox=dict(boxstyle="round,pad=0.35", fc=BANNER.get(key, "#dddddd"), ec="none"))
    counts = np.bincount(np.asarray(row, np.int64), minlength=NCODES)
    used = [c for c in range(NCODES) if counts[c] or c in (NOT_COPIED, CHANGED)]
    fig.legend(handles=[Patch(color=COLOURS[c], label=f"{labels[c]}: {counts[c]} (copy)") for c in used],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    axes[0].set_xlabel(f"{row.size} tracks, {TRACKS_PER_CYLINDER} to a cylinder; "
                       f"{int((source == CHANGED).sum())} written after the point in time", fontsize=8)
    return fig


def write_animation(times, codes, out: str | Path, phases: dict | None = None, method: str = "",
                    legend: dict | None = None, failure: str | None = None, frames: int = 36,
                    seconds_per_frame: float = 0.8,
                    progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the animation of a trace to ``out`` (``.gif``, or ``.mp4`` with ffmpeg);
    written under a temporary name and renamed when complete."""
    times, codes = check_trace(times, codes)
    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in (".gif", ".mp4"):
        raise TraceError("DLB773E", f"the animation is a .gif (or .mp4 with ffmpeg), not {out.name}.")
    if fmt == ".mp4" and shutil.which("ffmpeg") is None:
        raise TraceError("DLB773E", "an MP4 needs ffmpeg, which is not installed (apt-get install ffmpeg); "
                                    "write a .gif instead.")
    if not out.parent.is_dir():
        raise TraceError("DLB773E", f"folder {out.parent} for the animation does not exist; create it first.")
    if frames < 2:
        raise TraceError("DLB774E", f"an animation needs at least 2 frames, not {frames}.")
    banner = failure_banner(codes, failure)
    plan = event_frames(times, phases or {}, frames)
    pngs: list[bytes] = []
    for k, (t, label) in enumerate(plan, start=1):
        i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 1))
        fig = _frame(t, codes[i], label, phase_at(t, phases or {}), method,
                     float(times[-1]), legend or {}, banner if t >= 0 else None)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        pngs.append(buf.getvalue())
        if progress is not None:
            progress(k, len(plan))
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=fmt, dir=out.parent)
    os.close(fd)
    try:
        if fmt == ".gif":
            from PIL import Image

            imgs = [Image.open(io.BytesIO(b)).convert("RGB") for b in pngs]
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], loop=0,
                         duration=int(seconds_per_frame * 1000))
        else:
            r = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "image2pipe", "-framerate",
                                f"{1 / seconds_per_frame:.4f}", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", tmp], input=b"".join(pngs),
                               capture_output=True)
            if r.returncode != 0:
                raise TraceError("DLB773E", f"ffmpeg could not write {out.name}: "
                                            f"{r.stderr.decode(errors='replace').strip()[-300:]}")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def animate(results: str | Path, method: str, out: str | Path, frames: int = 36,
            progress: Callable[[int, int], None] | None = None) -> Path:
    """The animation of ``method``'s trace in a results folder of ``bench outage``."""
    from dasdlab.bench.trace import load_trace, load_trace_meta
    from dasdlab.bench.trace_plot import method_failure

    results = Path(results)
    if not results.is_dir():
        raise TraceError("DLB770E", f"results folder {results} does not exist; run 'dasdlab bench outage' first.")
    try:
        times, codes, legend = load_trace(results, method)
    except (FileNotFoundError, LookupError) as e:
        raise TraceError("DLB771E", f"{results} holds no trace of method {method!r} ({e}).") from None
    try:
        phases = load_trace_meta(results, method).get("phases", {})
    except (OSError, ValueError, KeyError):
        phases = {}
    return write_animation(times, codes, out, phases, method, legend, method_failure(results, method), frames,
                           progress=progress)
