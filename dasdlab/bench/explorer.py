"""The outage explorer: one self-contained HTML file of an outage comparison, to open
from disk in a browser (no server, no network).

One concept: *the results of a run, made explorable*.  :func:`explorer_data` reads a
results folder of ``dasdlab bench outage`` (``methods.parquet``, ``timeline.parquet``,
the ``trace-METHOD.npz`` track-state traces of :mod:`dasdlab.bench.trace`) into one
JSON document; :func:`write_explorer` puts it into the page template
(``dasdlab/data/explorer.html``: plain JavaScript and canvas, nothing fetched).

In the page a student picks a method (or all of them side by side), plays or scrubs
through modeled time and sees the track map (cylinders of 15 tracks, the trace's
states), the phase of the copy (before the copy, hold, logically complete with the
physical copy running, physically complete -- FAILED for a failed method), the events
as markers on the time line (hold, release, logical and physical completion, and the
IMS system checkpoints of the run from ``methods.parquet``'s ``checkpoints_s``), the
update latencies up to that instant and the method's figures exactly as
``methods.parquet`` holds them.

A trace is stored as its first sample plus the changes (sample, track, code): a track
changes state a few times in a run, so this is a few kilobytes where the full
``samples x tracks`` array would be megabytes.  Update latencies are thinned to
:data:`MAX_UPDATES` per method for the page (every delayed or refused one is kept).
Errors: DLB850E (where the page is to be written); a results folder without its files
gives the results module's DLB727E.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from dasdlab.errors import DasdlabError

MAX_UPDATES = 3000
EXPLORER_HTML = "explorer.html"
TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "explorer.html"
_MARK = "/*DASDLAB-EXPLORER-DATA*/"


class ExplorerError(DasdlabError):
    """An explorer page that cannot be written where asked."""


def _clean(v):
    """JSON-ready: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def encode_trace(times: np.ndarray, codes: np.ndarray) -> dict:
    """``{"times", "ntracks", "first", "at", "track", "code"}``: the first sample and
    every later change of a track's state (the page rebuilds each sample)."""
    codes = np.asarray(codes, np.uint8)
    diff = codes[1:] != codes[:-1]
    s, t = np.nonzero(diff)
    return {"times": [float(x) for x in times], "ntracks": int(codes.shape[1]),
            "first": codes[0].tolist(), "at": (s + 1).tolist(), "track": t.tolist(),
            "code": codes[s + 1, t].tolist()}


def decode_trace(enc: dict) -> np.ndarray:
    """The ``samples x tracks`` codes back from :func:`encode_trace` (the page's twin)."""
    n, k = len(enc["times"]), enc["ntracks"]
    out = np.empty((n, k), np.uint8)
    cur = np.array(enc["first"], np.uint8)
    at, track, code = (np.asarray(enc[x], np.int64) for x in ("at", "track", "code"))
    j = 0
    for i in range(n):
        while j < at.size and at[j] == i:
            cur[track[j]] = code[j]
            j += 1
        out[i] = cur
    return out


def _thin(arrival: np.ndarray, latency: np.ndarray, refused: np.ndarray, service: float) -> dict:
    keep = refused | (latency > service + 1e-6)
    calm = np.flatnonzero(~keep)
    if calm.size > MAX_UPDATES:  # deterministic, for the picture only
        calm = calm[:: int(math.ceil(calm.size / MAX_UPDATES))]
    idx = np.sort(np.concatenate([np.flatnonzero(keep), calm]))
    return {"arrival": arrival[idx].astype(float).tolist(),
            "latency": latency[idx].astype(float).tolist(), "refused": refused[idx].astype(int).tolist(),
            "total": int(arrival.size)}


def explorer_data(results: str | Path) -> dict:
    """Everything the page shows, read from the results folder ``results``."""
    import pyarrow.compute as pc

    from dasdlab.bench.results import read_methods, read_spec, read_timeline
    from dasdlab.bench.trace import LEGEND, load_trace, load_trace_meta, trace_path
    from dasdlab.bench.trace_plot import COLOURS

    results = Path(results)
    rows = read_methods(results).to_pylist()
    spec = read_spec(results)
    tl = read_timeline(results)
    try:
        from dasdlab.engine.timemodel import get_profile

        service = float(get_profile(spec.get("profile", "ds8000-ficon16")).update_service_s)
    except Exception:  # noqa: BLE001 - a user profile: delayed is then judged against no service time
        service = 0.0
    methods = []
    for r in rows:
        name = r["name"]
        sel = tl.filter(pc.equal(pc.cast(tl["method"], "string"), name))
        arr = sel["arrival_s"].to_numpy(zero_copy_only=False).astype(float)
        lat = sel["latency_s"].to_numpy(zero_copy_only=False).astype(float)
        ref = sel["refused"].to_numpy(zero_copy_only=False).astype(bool)
        trace, phases = None, {k[6:-2]: r[k] for k in r if k.startswith("phase_") and k.endswith("_s")}
        if trace_path(results, name).is_file():
            times, codes, _ = load_trace(results, name)
            trace = encode_trace(times, codes)
            phases = load_trace_meta(results, name).get("phases", phases)
        checkpoints = [float(x) for x in (r.pop("checkpoints_s", None) or [])]  # a list, not a figure
        methods.append({"name": name, "label": r.get("label", name), "status": r.get("status", "ok"),
                        "message": r.get("message", ""), "figures": r, "phases": phases, "trace": trace,
                        "checkpoints": checkpoints,
                        "updates": _thin(arr, lat, ref, service)})
    legend = {str(k): {"label": v, "colour": COLOURS[k]} for k, v in LEGEND.items()}
    return _clean({"title": "Outage comparison of the image copy methods", "spec": spec, "legend": legend,
                   "service_time_s": service, "methods": methods})


def write_explorer(results: str | Path, out: str | Path | None = None) -> Path:
    """Write the explorer of ``results`` to ``out`` (default ``RESULTS/explorer.html``):
    to a temporary name first, renamed when complete."""
    results = Path(results)
    out = Path(out) if out is not None else results / EXPLORER_HTML
    if out.suffix.lower() not in (".html", ".htm"):
        raise ExplorerError("DLB850E", f"the explorer is one HTML file; give a path ending in .html, not {out.name}.")
    data = explorer_data(results)  # first: a missing results folder is the message to give
    if not out.parent.is_dir():
        raise ExplorerError("DLB850E", f"folder {out.parent} for {out.name} does not exist; create it first.")
    page = TEMPLATE.read_text(encoding="utf-8")
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = page.replace(_MARK, blob, 1)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
