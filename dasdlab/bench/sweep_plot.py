"""The picture of a sweep (:mod:`dasdlab.bench.sweep`): one bar per scenario, named by
the grid values that set it apart from the others, for the modeled outage and, where
the scenarios recovered, the modeled recovery (restore + log apply).  Log scales, so
that an outage of a second and one of minutes are both readable; a failed scenario's
bar is an empty hatched box labelled FAILED, an unverified one says so.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

#: file name of the picture in a sweep's output folder
SWEEP_PNG = "sweep.png"


def scenario_name(row: dict, varying: list[str]) -> str:
    """What sets a scenario apart: its values of the grid's varying axes (the method
    plain, others as ``field=value``); the id when nothing varies."""
    parts = []
    for k in varying:
        if k in row:
            parts.append(str(row[k]) if k == "method" else f"{k}={row[k]}")
    return ", ".join(parts) or str(row.get("scenario", "?"))


def _value(row: dict, key: str) -> float:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def sweep_figure(rows: list[dict], varying: list[str], title: str):
    """The figure (a matplotlib Figure; the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [scenario_name(r, varying) for r in rows]
    panels = [("outage_modeled_s", "outage, modeled (s, log scale)")]
    if any(math.isfinite(_value(r, "recovery_modeled_s")) for r in rows):
        panels.append(("recovery_modeled_s", "recovery: restore + apply, modeled (s, log scale)"))
    height = max(2.5, 0.42 * len(rows) + 1.6)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels) + 2.0, height), dpi=100, squeeze=False)
    y = np.arange(len(rows))
    for ax, (key, label) in zip(axes[0], panels):
        vals = np.array([_value(r, key) for r in rows])
        good = vals[np.isfinite(vals) & (vals > 0)]
        floor = good.min() / 3 if good.size else 1e-3
        top = good.max() * 3 if good.size else 1.0
        for i, (r, v) in enumerate(zip(rows, vals)):
            failed = r.get("status") != "ok"
            unverified = not failed and (r.get("copy_verified") is False or r.get("recovery_verified") is False)
            if failed or not math.isfinite(v):
                ax.barh(i, top - floor, left=floor, color="none", edgecolor="#b22", hatch="//")
                ax.text(floor * 1.1, i, "FAILED" if failed else "-", va="center", fontsize=8, color="#b22")
                continue
            ax.barh(i, max(v, floor) - floor, left=floor, color="#c44" if unverified else "#4878a8")
            ax.text(max(v, floor) * 1.08, i, f"{v:.3g}" + (" unverified" if unverified else ""), va="center",
                    fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(floor, top * 3)
        ax.set_yticks(y, names if ax is axes[0][0] else [""] * len(rows), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sweep_png(out: str | Path) -> bytes:
    """The picture of the sweep whose output folder is ``out`` (its grid and results),
    as PNG bytes."""
    from dasdlab.bench.grid import load_grid
    from dasdlab.bench.sweep import load_results

    out = Path(out)
    rows = sorted(load_results(out).to_pylist(), key=lambda r: r.get("index", 0))
    grid = load_grid(out / "grid.toml")
    ok = sum(r.get("status") == "ok" for r in rows)
    title = f"sweep {grid.name}: {ok} of {len(rows)} scenarios ok" + (f" - {grid.description}" if grid.description else "")
    fig = sweep_figure(rows, grid.varying, title)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()
