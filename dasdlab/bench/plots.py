"""Plots of an outage comparison, for people: PNG files drawn with matplotlib (Agg).

One concept: *the two pictures of the outage comparison* (``docs/architecture.md``):

``outage.png``
    the unavailability window of every method on a log scale, modeled (what a
    mainframe would see) beside measured (the emulator's wall clock for the same
    window).  A method that never holds the database (the concurrent image copy) has
    no bar and is labelled "never held".  A method whose copy failed or was
    cancelled is hatched and labelled FAILED; a copy that did not equal the truth,
    "unverified": neither is drawn as a copy made.
``timeline.png``
    one panel per method against modeled time from the copy start: each update as a
    dot at its arrival time and latency (refused ones as crosses on the axis), the
    hold window shaded red (yellow: a copy that reads without holding), the physical
    copy after logical completion shaded blue, and lines at logical (dashed) and
    physical (dotted) completion, the IMS system checkpoints as purple triangles along
    the foot.  Updates held by the quiesce form the
    rising ramp of the hold; everything else lies at the service time.

Both read only a :class:`dasdlab.bench.scenario.ScenarioResult`, or the files
:mod:`dasdlab.bench.results` wrote (:func:`plot_folder`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

OUTAGE_PNG = "outage.png"
TIMELINE_PNG = "timeline.png"
#: at most this many undelayed updates are drawn per panel (the delayed ones always)
MAX_POINTS = 4000


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, **kw) -> None:
    """``fig.savefig`` that shows the picture under ``path`` only complete (the format
    from the name's suffix, since the temporary name has none)."""
    from dasdlab.emulator.newfile import replaced_file

    with replaced_file(path) as tmp:
        fig.savefig(tmp, format=kw.pop("format", None) or path.suffix.lstrip(".").lower() or "png", **kw)


def _verdict(r: dict) -> str:
    """"FAILED" for a method whose copy failed or was cancelled, "unverified" for one
    whose copy did not equal the truth, "" otherwise: every picture says it."""
    if r.get("status", "ok") != "ok":
        return "FAILED"
    if r.get("copy_verified") is False:
        return "unverified"
    return ""


def plot_outage(rows: list[dict], path: str | Path, caption: str = "") -> Path:
    """Bar chart of the outage per method, modeled and measured: a log scale (every
    method readable) beside a linear one (the real proportions).  A failed method's
    bars are hatched and labelled FAILED, an unverified copy's "unverified"."""
    plt = _plt()
    fig = outage_figure(rows, caption, plt)
    path = Path(path)
    save_figure(fig, path)
    plt.close(fig)
    return path


def outage_figure(rows: list[dict], caption: str = "", plt=None):
    """The figure of :func:`plot_outage` (a pyplot Figure; the caller closes it)."""
    plt = plt or _plt()
    names = [r["name"] + (f"\n({_verdict(r)})" if _verdict(r) else "") for r in rows]
    mod = np.array([r["outage_modeled_s"] for r in rows], dtype=float)
    mea = np.array([r["outage_measured_s"] for r in rows], dtype=float)
    pos = [v for v in np.concatenate((mod, mea)) if v > 0 and math.isfinite(v)]
    floor = min(pos) / 3 if pos else 1e-3
    # wide enough that every method's name stays readable at eight methods and more
    fig, (ax, lin) = plt.subplots(1, 2, figsize=(max(12.0, 1.5 * len(rows) + 4), 5.6), dpi=110,
                                  width_ratios=[1.5, 1])
    for axis, log in ((ax, True), (lin, False)):
        _outage_bars(axis, rows, names, mod, mea, floor, log)
    ax.set_ylabel("unavailability window (s, log scale)")
    lin.set_ylabel("unavailability window (s, linear scale)")
    ax.set_title("Outage per copy method: hold start to release")
    lin.set_title("the same, linear scale")
    ax.legend(loc="upper right", fontsize=8)
    if caption:
        fig.text(0.01, 0.01, caption, fontsize=7, va="bottom", wrap=True)
        fig.subplots_adjust(bottom=0.27, wspace=0.25, left=0.06, right=0.98)
    else:
        fig.tight_layout()
    return fig


def _outage_bars(ax, rows, names, mod, mea, floor, log: bool) -> None:
    x = np.arange(len(names))
    w = 0.38
    bars_m = ax.bar(x - w / 2, np.where(mod > 0, mod, np.nan), w, label="modeled (device profile)", color="#c0392b")
    bars_w = ax.bar(x + w / 2, np.where(mea > 0, mea, np.nan), w, label="measured (emulator wall clock)",
                    color="#7f8c8d")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
    else:
        ax.set_ylim(bottom=0)
    base = floor * 1.2 if log else 0.0
    for i, (a, b) in enumerate(zip(mod, mea)):
        verdict = _verdict(rows[i])
        if verdict:  # not a copy to compare: hatched, and said on the bar
            for bar in (bars_m[i], bars_w[i]):
                bar.set_hatch("xxx")
                bar.set_edgecolor("black")
                bar.set_alpha(0.45)
        colour = "#b00000" if verdict else "black"
        if a > 0:
            ax.annotate(_fmt(a) + (f" {verdict}" if verdict else ""), (i - w / 2, a), ha="center",
                        va="bottom", fontsize=7 if not log else 8, color=colour)
        else:
            ax.annotate("never held" + (f", {verdict}" if verdict else ""), (i, base), ha="center",
                        va="bottom", fontsize=8, rotation=90, color=colour)
    # upright: the boxes of slanted names reach over their neighbours at eight methods
    ax.set_xticks(x, names, rotation=90, ha="center", fontsize=8)
    for lab, r in zip(ax.get_xticklabels(), rows):
        if _verdict(r):
            lab.set_color("#b00000")
    ax.grid(axis="y", which="both", alpha=0.3)


def plot_timeline(rows: list[dict], timelines: dict[str, dict], path: str | Path, service_time: float = 0.0) -> Path:
    """One panel per method: update latency against arrival, with the copy's phases."""
    plt = _plt()
    n = len(rows)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.9 * n + 0.8), dpi=100, sharex=True, squeeze=False)
    end = max((r.get("phase_end_s", r.get("phases", {}).get("end", 0.0)) or 0.0) for r in rows)
    for ax, r in zip(axes[:, 0], rows):
        ph = r.get("phases") or {k[6:-2]: v for k, v in r.items() if k.startswith("phase_") and k.endswith("_s")}
        tl = timelines.get(r["name"], {})
        arr = np.asarray(tl.get("arrival_s", np.empty(0)), float)
        lat = np.asarray(tl.get("latency_s", np.empty(0)), float)
        ref = np.asarray(tl.get("refused", np.zeros(arr.size, bool)), bool)
        ok = ~ref
        delayed = ok & (lat > service_time + 1e-6)
        calm = np.flatnonzero(ok & ~delayed)
        if calm.size > MAX_POINTS:  # a deterministic thinning, for the picture only
            calm = calm[:: int(math.ceil(calm.size / MAX_POINTS))]
        if not _finite(ph.get("hold_start")):  # never held: the copy reads while updates go on
            _span(ax, 0.0, ph.get("logical"), "#f1c40f", 0.2, "copy reading, database available (fuzzy)")
        _span(ax, ph.get("hold_start"), ph.get("hold_end"), "#e74c3c", 0.25, "hold (updates wait)")
        _span(ax, ph.get("logical"), ph.get("physical"), "#3498db", 0.15, "physical copy after logical completion")
        for key, style in (("logical", "--"), ("physical", ":")):
            v = ph.get(key)
            if v is not None and math.isfinite(v):  # named, so the legend explains the line styles
                ax.axvline(v, color="#2c3e50", ls=style, lw=1, label=f"{key} completion")
        ax.scatter(arr[calm], lat[calm], s=3, color="#27ae60", label="update (not delayed)")
        ax.scatter(arr[delayed], lat[delayed], s=5, color="#c0392b", label="update held by the quiesce")
        if ref.any():
            ax.scatter(arr[ref], np.zeros(int(ref.sum())), marker="x", s=12, color="k", label="refused")
        ck = np.asarray(r.get("checkpoints_s") or [], float)
        if ck.size:  # along the foot of the panel, whatever the latency scale
            ax.scatter(ck, np.full(ck.size, 0.04), marker="^", s=22, color="#8e44ad", zorder=3,
                       transform=ax.get_xaxis_transform(), label="IMS system checkpoint")
        ax.set_ylabel("latency (s)", fontsize=8)
        top = float(np.nanmax(lat[ok])) if ok.any() else 1.0
        ax.set_ylim(bottom=0.0, top=max(top * 1.1, 10 * service_time, 1e-3))
        verdict = _verdict(r)
        status = f"  [{verdict}{': ' + r['message'][:90] if verdict == 'FAILED' and r.get('message') else ''}]" \
            if verdict else ""
        ax.set_title(f"{r['name']}: outage {_fmt(r['outage_modeled_s'])} modeled, logical "
                     f"{_fmt(ph.get('logical'))}, physical {_fmt(ph.get('physical'))}{status}", fontsize=9, loc="left",
                     color="#b00000" if verdict else "black")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("modeled time from the copy start (s)")
    firsts = [float(np.min(t["arrival_s"])) for t in timelines.values() if np.size(t.get("arrival_s", ())) > 0]
    if end and math.isfinite(end):
        axes[-1, 0].set_xlim(left=min([-1.0, *firsts]), right=end)
    h, lab = [], []
    for ax in axes[:, 0]:
        for hh, ll in zip(*ax.get_legend_handles_labels()):
            if ll not in lab:
                h.append(hh)
                lab.append(ll)
    fig.legend(h, lab, loc="upper center", ncol=min(4, len(lab)), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (1.9 * n + 0.8)))
    path = Path(path)
    save_figure(fig, path)
    plt.close(fig)
    return path


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _span(ax, a, b, color, alpha, label) -> None:
    if not (_finite(a) and _finite(b)) or b <= a:
        return
    ax.axvspan(a, b, color=color, alpha=alpha, lw=0, label=label)


def _fmt(v) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.3g} s" if v < 100 else f"{v:.0f} s"


def write_plots(result, out: str | Path, caption: str = "") -> list[Path]:
    """``outage.png`` and ``timeline.png`` of a scenario result, in ``out``."""
    out = Path(out)
    rows = [m.as_dict() for m in result.methods]
    service = result.spec.device_profile().update_service_s
    return [plot_outage(rows, out / OUTAGE_PNG, caption),
            plot_timeline(rows, result.timelines, out / TIMELINE_PNG, service_time=service)]


def plot_folder(folder: str | Path, caption: str = "") -> list[Path]:
    """The plots again from a results folder (Parquet files only)."""
    from dasdlab.bench.results import read_methods, read_spec, read_timeline, timeline_arrays
    from dasdlab.engine.timemodel import get_profile, load_profiles

    folder = Path(folder)
    rows = read_methods(folder).to_pylist()
    tl = read_timeline(folder)
    timelines = {}
    for r in rows:
        import pyarrow.compute as pc

        sel = tl.filter(pc.equal(pc.cast(tl["method"], "string"), r["name"]))
        timelines[r["name"]] = timeline_arrays(sel)
    spec = read_spec(folder)
    extra = load_profiles(spec["profile_file"]) if spec.get("profile_file") else None
    service = get_profile(spec.get("profile", "ds8000-ficon16"), extra).update_service_s
    return [plot_outage(rows, folder / OUTAGE_PNG, caption),
            plot_timeline(rows, timelines, folder / TIMELINE_PNG, service_time=service)]
