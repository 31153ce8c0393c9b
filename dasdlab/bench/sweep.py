"""Sweeps: every scenario of a grid (:mod:`dasdlab.bench.grid`) run on Dask, each in
its own work folder, with one Parquet dataset of results (docs/architecture.md).

Where the scenarios run:

* ``workers=0``: in this process, one after the other (no Dask at all; the simplest
  thing to debug);
* default: a ``distributed.LocalCluster`` of ``workers`` processes (default: the
  number of cores, at most the number of scenarios), one thread each -- the scenario
  runner is numpy/numba code that holds the GIL for long stretches, so processes, not
  threads, give parallelism;
* ``scheduler="tcp://host:8786"``: an existing Dask scheduler and its workers.  The
  work folders are created on the workers under the same path as here, so with
  workers on other machines ``OUT`` should be on a shared file system; the results come
  back to this process as Arrow tables either way and are written here.

The output folder::

    OUT/grid.toml              the grid file as it was run (a resumed sweep must match it)
    OUT/sweep.json             summary: counts, failures, where and how long
    OUT/results/ID.parquet     one file per scenario, written when its result arrives
    OUT/work/ID/               the scenario's work folder (site, logs, trace, plots)

``pyarrow.dataset.dataset(OUT / "results")`` reads the results; :func:`load_results`
also unifies the schemas of ok and failed rows.  Each row holds the scenario id and
index, the grid name, the grid's values for the scenario (the spec fields the grid
sets), ``status`` (``ok`` or ``failed``), ``error`` (the message of a failed one),
``wall_s`` and the scalar fields of the scenario's result (nested ones flattened with a
dot, lists as JSON text).

Running a sweep again into the same folder resumes it: scenarios with an ok result are
skipped, failed ones run again.  A scenario that fails (a :class:`DasdlabError`, any
other exception, or a worker that died) is recorded as a failed row and the others go
on; :func:`run_sweep` reports the failures and the CLI ends with DLB760E.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from dasdlab.bench.grid import Grid, Scenario
from dasdlab.emulator.newfile import clean_folder, replaced_file
from dasdlab.errors import DasdlabError

ScenarioFn = Callable[..., Any]  # fn(spec, workdir, progress=None) -> result
#: how long to wait for an existing scheduler to answer before DLB758E
CONNECT_TIMEOUT = "10s"


class SweepError(DasdlabError):
    """A sweep that cannot start (output folder, scheduler) or whose scenarios failed."""


@dataclass
class SweepReport:
    """What a sweep did.  ``failed`` holds (scenario id, message) pairs."""

    out: Path
    grid: str
    total: int
    ran: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    where: str = ""
    wall_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.total - len(self.failed)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        d["ok"] = self.ok
        return d


# ====================================================================== one scenario
def run_one(fn: ScenarioFn, scenario: Scenario, workdir: str, grid: str) -> pa.Table:
    """Run one scenario in a fresh ``workdir`` and return its result row (a one-row
    table).  Runs on a Dask worker: every failure becomes a failed row, so that one
    scenario never stops the sweep."""
    wd = Path(workdir)
    if wd.exists():  # an earlier, failed or interrupted attempt: start clean
        shutil.rmtree(wd)
    wd.mkdir(parents=True)
    t0 = time.perf_counter()
    row = _base(scenario, grid)
    try:
        result = result_fields(fn(scenario.spec, wd))
    except DasdlabError as e:
        row.update(status="failed", error=str(e))
    except Exception as e:  # noqa: BLE001 - a bug in one scenario must not end the sweep
        tb = traceback.extract_tb(e.__traceback__)[-1]
        row.update(status="failed", error=f"{type(e).__name__}: {e} ({Path(tb.filename).name}:{tb.lineno})")
    except BaseException:  # Ctrl-C: the half-run scenario leaves nothing; a resumed sweep reruns it
        shutil.rmtree(wd, ignore_errors=True)
        raise
    else:
        # the grid's own values win over the result's echo of them (same meaning, and
        # one column type for ok and failed rows); a result may report its own status
        row.update({k: v for k, v in result.items() if k not in row})
        row.setdefault("status", "ok")
        row["error"] = None if row["status"] == "ok" else str(row.get("message") or "failed")
    row["sweep_wall_s"] = time.perf_counter() - t0
    return _table(row)


def _base(scenario: Scenario, grid: str) -> dict:
    row: dict[str, Any] = {"scenario": scenario.id, "index": scenario.index, "grid": grid}
    for k, v in scenario.params.items():
        # a size axis may mix "16MiB" and byte counts: one column type for all rows
        row[k] = str(v) if k == "db_size" else v
    return row


def result_fields(result: Any) -> dict[str, Any]:
    """The scalar fields of a scenario result: a dict, a dataclass, an object with
    ``as_dict()``/``as_row()``, or a one-row Arrow table.  Nested dicts are flattened
    (``counters.cow``); lists and other objects become JSON text."""
    if isinstance(result, pa.Table):
        rows = result.to_pylist()
        d = rows[0] if rows else {}
    elif hasattr(result, "as_row"):
        d = result.as_row()
    elif hasattr(result, "as_dict"):
        d = result.as_dict()
    elif is_dataclass(result) and not isinstance(result, type):
        d = asdict(result)
    elif isinstance(result, dict):
        d = result
    elif result is None:
        d = {}
    else:
        raise TypeError(f"a scenario returned {type(result).__name__}, not a result")
    out: dict[str, Any] = {}
    _flatten("", d, out)
    return out


def _flatten(prefix: str, d: dict, out: dict) -> None:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(key + ".", v, out)
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        elif hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # numpy scalar
            out[key] = v.item()
        else:
            out[key] = json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)


def _table(row: dict) -> pa.Table:
    cols = {}
    for k, v in row.items():
        # a column with no value yet is a string column: unify_schemas keeps it usable
        cols[k] = pa.array([v], type=pa.string() if v is None else None)
    return pa.table(cols)


# ====================================================================== the sweep
def run_sweep(grid: Grid, out: str | Path, *, scheduler: str | None = None, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None, scenario_fn: ScenarioFn | None = None,
              make_spec: Callable[..., Any] | None = None,
              on_phase: Callable[[str], None] | None = None) -> SweepReport:
    """Run every scenario of ``grid`` that has no ok result in ``out`` yet.

    ``scenario_fn(spec, workdir)`` defaults to
    :func:`dasdlab.bench.scenario.run_scenario`; ``make_spec`` to its ``ScenarioSpec``.
    ``progress(done, total)`` is called as results arrive, and ``on_phase(text)`` with
    the scenario that arrived and its status.  Grid and output folder
    are checked, and every spec built, before anything runs.
    """
    if workers is not None and workers < 0:
        raise SweepError("DLB759E", f"workers must be 0 (run in this process) or more, not {workers}.")
    if scenario_fn is None:
        from dasdlab.bench.scenario import run_scenario as scenario_fn
    scenarios = grid.scenarios(make_spec)
    out = Path(out)
    _check_out(out, grid)
    client = _connect(scheduler) if scheduler is not None else None  # before anything is written
    try:
        return _sweep(grid, scenarios, out, client, scheduler, workers, progress, scenario_fn, on_phase)
    finally:
        if client is not None:
            client.close()


def _sweep(grid: Grid, scenarios: list[Scenario], out: Path, client, scheduler: str | None, workers: int | None,
           progress: Callable[[int, int], None] | None, scenario_fn: ScenarioFn,
           on_phase: Callable[[str], None] | None = None) -> SweepReport:
    _prepare(out, grid)
    done_ok = _ok_results(out)
    todo = [s for s in scenarios if s.id not in done_ok]
    report = SweepReport(out=out, grid=grid.name, total=len(scenarios), skipped=len(scenarios) - len(todo))
    t0 = time.perf_counter()
    ndone = report.skipped
    if progress is not None:
        progress(ndone, report.total)

    def arrived(table: pa.Table) -> None:
        nonlocal ndone
        _write_result(out, table)
        row = table.to_pylist()[0]
        if row["status"] != "ok":
            report.failed.append((row["scenario"], row["error"]))
        report.ran += 1
        ndone += 1
        if progress is not None:
            progress(ndone, report.total)
        if on_phase is not None:
            on_phase(f"scenario {row['scenario']} {row['status']}")

    if not todo:
        report.where = "nothing to run"
    elif client is not None:
        report.where = f"Dask scheduler {scheduler}"
        _run_dask(client, scenario_fn, todo, out, grid.name, arrived)
    elif workers == 0:
        report.where = "in this process"
        for s in todo:
            arrived(run_one(scenario_fn, s, str(out / "work" / s.id), grid.name))
    else:
        from distributed import Client, LocalCluster

        n = workers if workers else min(os.cpu_count() or 1, len(todo))
        report.where = f"local Dask cluster of {n} worker process{'es' if n > 1 else ''}"
        with _sigint_ignored_by_children():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
        with cluster, Client(cluster) as local:
            _run_dask(local, scenario_fn, todo, out, grid.name, arrived)
    report.failed.sort()  # in scenario order, whatever order the workers finished in
    report.wall_s = time.perf_counter() - t0
    with replaced_file(out / "sweep.json") as tmp:
        tmp.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return report


@contextmanager
def _sigint_ignored_by_children():
    """Start the local cluster's processes with Ctrl-C ignored (a disposition a child
    inherits, and Python keeps): Ctrl-C at a terminal reaches the whole process group,
    and workers killed in the middle of their start print tracebacks over the sweep's
    own message.  This process still gets it afterwards, and closes the cluster on its
    way out; a Ctrl-C in the seconds the cluster takes to start is lost (press it again)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _connect(scheduler: str):
    from distributed import Client

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise SweepError("DLB758E", f"cannot reach the Dask scheduler at {scheduler} ({e}); start it with "
                                    "'dask scheduler' and its workers with 'dask worker ADDRESS', or leave "
                                    "out --scheduler to use a local cluster.") from None


def _run_dask(client, fn: ScenarioFn, todo: list[Scenario], out: Path, grid: str,
              arrived: Callable[[pa.Table], None]) -> None:
    from distributed import as_completed

    futures = {}
    for s in todo:
        f = client.submit(run_one, fn, s, str((out / "work" / s.id).resolve()), grid,
                          key=f"dasdlab-scenario-{s.id}-{time.time_ns()}", pure=False)
        futures[f] = s
    for f in as_completed(list(futures)):
        s = futures.pop(f)
        try:
            table = f.result()
        except Exception as e:  # noqa: BLE001 - a worker that died, a cancelled task
            table = _table({**_base(s, grid), "status": "failed",
                            "error": f"the Dask task failed: {type(e).__name__}: {e}", "sweep_wall_s": None})
        arrived(table)


# ====================================================================== the folder
def _check_out(out: Path, grid: Grid) -> None:
    """``out`` must be new, empty, or a sweep folder of this very grid."""
    saved = out / "grid.toml"
    if saved.is_file():
        if saved.read_text(encoding="utf-8") != grid.source:
            raise SweepError("DLB757E", f"{out} holds a sweep of another grid ({saved} differs from "
                                        f"{grid.path or grid.name}); give a new --out folder, or delete {out} "
                                        "to start again.")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweepError("DLB757E", f"{out} exists and is not a sweep folder (no grid.toml); give a new or "
                                    "empty --out folder.")


def _prepare(out: Path, grid: Grid) -> None:
    """Make ``out`` a sweep folder of ``grid`` (checked by :func:`_check_out`)."""
    saved = out / "grid.toml"
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "work").mkdir(exist_ok=True)
    clean_folder(out)  # what a killed sweep left half written
    clean_folder(out / "results")
    for old in (out / "results").glob("*.parquet.tmp"):  # the temporary name of earlier versions
        old.unlink(missing_ok=True)
    if not saved.is_file():
        saved.write_text(grid.source, encoding="utf-8")


def _ok_results(out: Path) -> set[str]:
    import pyarrow.parquet as pq

    ok = set()
    for f in (out / "results").glob("*.parquet"):
        try:
            t = pq.read_table(f, columns=["scenario", "status"])
        except (OSError, pa.ArrowInvalid):
            continue  # a torn file of an interrupted sweep: run the scenario again
        ok.update(r["scenario"] for r in t.to_pylist() if r["status"] == "ok")
    return ok


def _write_result(out: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    sid = table.column("scenario")[0].as_py()
    with replaced_file(out / "results" / f"{sid}.parquet") as tmp:  # a reader never sees half a file
        pq.write_table(table, tmp)


def load_results(out: str | Path) -> pa.Table:
    """Every scenario result of a sweep folder as one table (schemas of ok and failed
    rows unified; a column a row lacks is null there), in scenario order."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted(Path(out, "results").glob("*.parquet"))
    if not files:
        raise SweepError("DLB761E", f"{out} holds no sweep results (no {Path(out, 'results')}/*.parquet); "
                                    "run 'dasdlab bench sweep' first.")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    table = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table()
    return table.sort_by("index")
