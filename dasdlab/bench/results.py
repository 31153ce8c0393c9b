"""Outage scenario results on disk, for programs: Parquet tables and trace files.

One concept: *the result files of an outage scenario* (``docs/architecture.md``: "results go
to Parquet"), all in one folder::

    methods.parquet      one row per method: every figure of
                         :class:`dasdlab.bench.scenario.MethodResult` (``phases``
                         flattened to ``phase_EVENT_s``; ``checkpoints_s`` a list of
                         the IMS system checkpoints' modeled times from the copy
                         start) plus the scenario parameters;
                         the spec as JSON in the schema metadata key ``dasdlab.scenario``
    timeline.parquet     one row per update: method, arrival_s (modeled seconds from
                         the copy start), latency_s (NaN when refused), refused
    trace-METHOD.npz     the track-state trace (:mod:`dasdlab.bench.trace`)

Every file appears under its name only complete (:func:`dasdlab.emulator.newfile.replaced_file`),
and ``methods.parquet`` -- what makes the folder a result -- is removed first and written
last: a rewrite killed half-way leaves no methods table (reading says DLB727E, run it
again), never one beside another run's timeline or traces.

Reading: :func:`read_methods`, :func:`read_timeline`, and
:func:`dasdlab.bench.trace.load_trace` for a trace.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

METHODS_FILE = "methods.parquet"
TIMELINE_FILE = "timeline.parquet"
META_KEY = b"dasdlab.scenario"


def write_results(result, out: str | Path) -> list[Path]:
    """Write the Parquet tables and traces of ``result`` into ``out``; returns the paths."""
    from dasdlab.bench.trace import save_trace
    from dasdlab.emulator.newfile import clean_folder, replaced_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_folder(out)
    (out / METHODS_FILE).unlink(missing_ok=True)
    meta = {META_KEY: json.dumps(result.spec.as_dict(), default=str).encode()}
    rows = result.rows()
    table = pa.Table.from_pylist(rows)
    if "checkpoints_s" in table.column_names:  # a list of floats even when every list is empty
        i = table.column_names.index("checkpoints_s")
        table = table.set_column(i, "checkpoints_s", pa.array([r["checkpoints_s"] for r in rows],
                                                              pa.list_(pa.float64())))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    paths = [out / METHODS_FILE, out / TIMELINE_FILE]
    parts = []
    for name, tl in result.timelines.items():
        n = tl["arrival_s"].size
        parts.append(pa.table({
            "method": pa.array([name] * n, pa.string()).dictionary_encode(),
            "arrival_s": pa.array(tl["arrival_s"], pa.float64()),
            "latency_s": pa.array(tl["latency_s"], pa.float64()),
            "refused": pa.array(tl["refused"], pa.bool_()),
        }))
    tl_table = pa.concat_tables(parts) if parts else pa.table(
        {"method": pa.array([], pa.string()), "arrival_s": pa.array([], pa.float64()),
         "latency_s": pa.array([], pa.float64()), "refused": pa.array([], pa.bool_())})
    with replaced_file(paths[1]) as tmp:
        pq.write_table(tl_table.replace_schema_metadata(meta), tmp)
    for name, tr in result.traces.items():
        paths.append(save_trace(out, name, tr["times"], tr["codes"], tr["tracks"], tr["meta"]))
    with replaced_file(paths[0]) as tmp:
        pq.write_table(table, tmp)
    return paths


def _need(path: Path) -> Path:
    from dasdlab.bench.scenario import ScenarioError

    if not path.is_file():
        raise ScenarioError("DLB727E", f"{path} does not exist; run 'dasdlab bench outage --out {path.parent}' first.")
    return path


def read_methods(folder: str | Path) -> pa.Table:
    """The per-method table of a results folder."""
    return pq.read_table(_need(Path(folder) / METHODS_FILE))


def read_spec(folder: str | Path) -> dict:
    """The scenario spec stored with the results (as a dict)."""
    md = pq.read_schema(_need(Path(folder) / METHODS_FILE)).metadata or {}
    return json.loads(md.get(META_KEY, b"{}"))


def read_timeline(folder: str | Path, method: str | None = None) -> pa.Table:
    """The update timeline (every method, or one)."""
    t = pq.read_table(_need(Path(folder) / TIMELINE_FILE))
    if method is not None:
        import pyarrow.compute as pc

        t = t.filter(pc.equal(pc.cast(t["method"], pa.string()), method))
    return t


def timeline_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    return {k: table[k].to_numpy(zero_copy_only=False) for k in ("arrival_s", "latency_s", "refused")}
