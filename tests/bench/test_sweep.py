"""Sweeps: every scenario of a grid runs once in its own work folder, results land as
one Parquet file per scenario readable as one dataset, failures are rows, a second run
resumes, and bad requests have message ids.  One test runs on a local Dask cluster."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cloudpickle
import pyarrow.dataset as ds
import pytest

from dasdlab.bench.grid import parse_grid
from dasdlab.bench.sweep import SweepError, load_results, result_fields, run_sweep
from dasdlab.errors import DasdlabError

# the fake scenario must reach worker processes, which cannot import a test module
cloudpickle.register_pickle_by_value(sys.modules[__name__])

GRID = """
[sweep]
name = "fake"

[grid]
db_sizes = ["1MiB", "4MiB"]
methods = ["standard", "copy-flashcopy"]

[fixed]
rate = 100.0
"""

MIB = {"1MiB": 1, "4MiB": 4}


def fake_scenario(spec, workdir, progress=None):
    """Stands in for the scenario runner: a standard outage that grows with the size,
    a flat one for FlashCopy; leaves a file in its work folder; fails on request."""
    import os

    assert not any(workdir.iterdir()), "the work folder must start empty"
    if spec.get("fail"):
        raise DasdlabError("DLB799E", f"asked to fail ({spec['method']})")
    if spec.get("crash") and spec["method"] == "copy-flashcopy":
        raise ZeroDivisionError("division by zero")
    if spec.get("refuse") and spec["method"] == "standard":  # a result that says it failed
        return {"method": spec["method"], "status": "failed", "message": "DLB722E the plan was refused"}
    (workdir / "trace.txt").write_text(spec["method"])
    size = MIB[spec["db_size"]]
    return {"method": spec["method"], "outage_s": 10.0 * size if spec["method"] == "standard" else 0.5,
            "counters": {"cow": size * 3, "redirects": 0}, "events": [1, 2], "pid": os.getpid()}


def test_in_process_sweep_writes_one_dataset(tmp_path):
    grid = parse_grid(GRID)
    seen = []
    rep = run_sweep(grid, tmp_path / "out", workers=0, scenario_fn=fake_scenario, make_spec=dict,
                    progress=lambda d, t: seen.append((d, t)))
    assert (rep.total, rep.ran, rep.skipped, rep.failed) == (4, 4, 0, [])
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    files = sorted((tmp_path / "out" / "results").glob("*.parquet"))
    assert len(files) == 4
    t = ds.dataset(tmp_path / "out" / "results", format="parquet").to_table().sort_by("index")
    rows = t.to_pylist()
    assert [(r["db_size"], r["method"]) for r in rows] == [
        ("1MiB", "standard"), ("1MiB", "copy-flashcopy"), ("4MiB", "standard"), ("4MiB", "copy-flashcopy")]
    std = {r["db_size"]: r["outage_s"] for r in rows if r["method"] == "standard"}
    assert std == {"1MiB": 10.0, "4MiB": 40.0}
    assert rows[2]["counters.cow"] == 12 and json.loads(rows[0]["events"]) == [1, 2]
    assert all(r["status"] == "ok" and r["error"] is None and r["grid"] == "fake" for r in rows)
    for r in rows:  # each scenario ran in its own folder
        assert (tmp_path / "out" / "work" / r["scenario"] / "trace.txt").read_text() == r["method"]
    assert (tmp_path / "out" / "grid.toml").read_text() == GRID
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert summary["ok"] == 4 and summary["where"] == "in this process"


def test_failures_are_rows_and_a_rerun_retries_only_them(tmp_path):
    text = GRID.replace("rate = 100.0", "rate = 100.0\ncrash = true")
    grid = parse_grid(text)
    rep = run_sweep(grid, tmp_path / "out", workers=0, scenario_fn=fake_scenario, make_spec=dict)
    assert rep.ok == 2 and len(rep.failed) == 2
    assert all("ZeroDivisionError" in msg and "test_sweep.py" in msg for _, msg in rep.failed)
    t = load_results(tmp_path / "out")
    st = dict(zip(t["method"].to_pylist(), t["status"].to_pylist()))
    assert st == {"standard": "ok", "copy-flashcopy": "failed"}
    assert t["outage_s"].to_pylist()[1] is None  # a failed row has no result columns
    calls = []

    def fixed(spec, workdir, progress=None):
        calls.append(spec["method"])
        return fake_scenario({**spec, "crash": False}, workdir)

    rep2 = run_sweep(parse_grid(text), tmp_path / "out", workers=0, scenario_fn=fixed, make_spec=dict)
    assert calls == ["copy-flashcopy", "copy-flashcopy"]
    assert (rep2.skipped, rep2.ran, rep2.failed) == (2, 2, [])
    assert load_results(tmp_path / "out")["status"].to_pylist() == ["ok"] * 4


def test_a_result_that_says_it_failed_is_a_failed_row(tmp_path):
    grid = parse_grid(GRID.replace("rate = 100.0", "refuse = true"))
    rep = run_sweep(grid, tmp_path / "o", workers=0, scenario_fn=fake_scenario, make_spec=dict)
    assert [m for _, m in rep.failed] == ["DLB722E the plan was refused"] * 2
    t = load_results(tmp_path / "o")
    assert t["status"].to_pylist() == ["failed", "ok", "failed", "ok"]
    assert t["message"].to_pylist()[0] == "DLB722E the plan was refused"


def test_dasdlab_errors_keep_their_message(tmp_path):
    grid = parse_grid(GRID.replace("rate = 100.0", "fail = true"))
    rep = run_sweep(grid, tmp_path / "o", workers=0, scenario_fn=fake_scenario, make_spec=dict)
    assert len(rep.failed) == 4 and rep.failed[0][1] == "DLB799E asked to fail (standard)"


def test_output_folder_of_another_grid_is_refused(tmp_path):
    out = tmp_path / "out"
    run_sweep(parse_grid(GRID), out, workers=0, scenario_fn=fake_scenario, make_spec=dict)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = parse_grid(GRID.replace('"4MiB"', '"2MiB"').replace("rate = 100.0", "rate = 50.0"))
    with pytest.raises(SweepError) as e:
        run_sweep(other, out, workers=0, scenario_fn=fake_scenario, make_spec=dict)
    assert e.value.msgid == "DLB757E"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(SweepError) as e:
        run_sweep(parse_grid(GRID), stranger, workers=0, scenario_fn=fake_scenario, make_spec=dict)
    assert e.value.msgid == "DLB757E" and sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]


def test_bad_workers_and_scheduler(tmp_path, monkeypatch):
    import dasdlab.bench.sweep as sweep_mod

    monkeypatch.setattr(sweep_mod, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(SweepError) as e:
        run_sweep(parse_grid(GRID), tmp_path / "a", workers=-1, scenario_fn=fake_scenario, make_spec=dict)
    assert e.value.msgid == "DLB759E" and not (tmp_path / "a").exists()
    with pytest.raises(SweepError) as e:
        run_sweep(parse_grid(GRID), tmp_path / "b", scheduler="tcp://127.0.0.1:9", scenario_fn=fake_scenario,
                  make_spec=dict)
    assert e.value.msgid == "DLB758E" and "127.0.0.1:9" in e.value.text
    assert not (tmp_path / "b").exists()  # refused before anything was written
    with pytest.raises(SweepError) as e:
        load_results(tmp_path / "nothing")
    assert e.value.msgid == "DLB761E"


def test_result_fields_accepts_the_usual_shapes():
    from dataclasses import dataclass

    import numpy as np
    import pyarrow as pa

    @dataclass
    class R:
        a: int
        b: dict

    assert result_fields(R(1, {"x": np.float64(2.5)})) == {"a": 1, "b.x": 2.5}
    assert result_fields(pa.table({"a": [3]})) == {"a": 3}
    assert result_fields({"arr": np.arange(3)}) == {"arr": "[0, 1, 2]"}
    with pytest.raises(TypeError):
        result_fields(3)


def test_local_cluster_runs_the_grid_in_worker_processes(tmp_path):
    import os

    rep = run_sweep(parse_grid(GRID), tmp_path / "out", workers=2, scenario_fn=fake_scenario, make_spec=dict)
    assert rep.ok == 4 and rep.where == "local Dask cluster of 2 worker processes"
    t = load_results(tmp_path / "out")
    pids = set(t["pid"].to_pylist())
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert t["outage_s"].to_pylist() == [10.0, 0.5, 40.0, 0.5]


def test_an_existing_scheduler_runs_the_grid(tmp_path):
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        rep = run_sweep(parse_grid(GRID), tmp_path / "out", scheduler=cluster.scheduler_address,
                        scenario_fn=fake_scenario, make_spec=dict)
    assert rep.ok == 4 and rep.where == f"Dask scheduler {cluster.scheduler_address}"
    assert len(set(load_results(tmp_path / "out")["pid"].to_pylist())) == 1


ROOT = Path(__file__).resolve().parents[2]


def test_ci_grid_on_a_local_cluster(tmp_path):
    """What CI runs: the shipped ci grid, the real scenario runner, a local Dask cluster;
    then the teaching view of one scenario's trace."""
    from dasdlab.bench.grid import load_grid
    from dasdlab.bench.trace_plot import teach

    rep = run_sweep(load_grid(ROOT / "fixtures" / "grids" / "ci.toml"), tmp_path / "out", workers=2)
    assert (rep.ok, rep.failed) == (3, []) and rep.where == "local Dask cluster of 2 worker processes"
    rows = {r["method"]: r for r in load_results(tmp_path / "out").to_pylist()}
    assert set(rows) == {"standard", "dump-cc", "copy-flashcopy"}
    assert all(r["copy_verified"] and r["recovery_verified"] for r in rows.values())
    # the standard process is released after its physical copy, the others before it
    assert rows["standard"]["phase_hold_end_s"] >= rows["standard"]["physical_s"]
    for m in ("dump-cc", "copy-flashcopy"):
        assert rows[m]["phase_hold_end_s"] < rows[m]["physical_s"]
    wd = tmp_path / "out" / "work" / rows["dump-cc"]["scenario"]
    files = teach(wd, "dump-cc")
    assert files == [wd / "teach-dump-cc.png"] and files[0].stat().st_size > 10_000


def test_size_grid_shows_the_standard_outage_growing_and_aics_flat(tmp_path):
    """The shipped size grid, cut to its ends and two methods, in this process."""
    from dasdlab.bench.grid import load_grid

    full = load_grid(ROOT / "fixtures" / "grids" / "size.toml")
    assert full.size == 30 and full.varying == ["db_size", "method"]
    text = full.source.replace('["1MiB", "2MiB", "4MiB", "8MiB", "16MiB"]', '["1MiB", "16MiB"]')
    text = text.replace('["standard", "dump-cc", "dump-vcc", "copy-flashcopy", "copy-snapshot", "copy-timefinder"]',
                        '["standard", "copy-flashcopy"]')
    grid = parse_grid(text)
    assert grid.size == 4
    rep = run_sweep(grid, tmp_path / "out", workers=0)
    assert rep.ok == 4, rep.failed
    out = {(r["db_size"], r["method"]): r["outage_modeled_s"] for r in load_results(tmp_path / "out").to_pylist()}
    assert out[("16MiB", "standard")] > 8 * out[("1MiB", "standard")]
    assert out[("16MiB", "copy-flashcopy")] == pytest.approx(out[("1MiB", "copy-flashcopy")], rel=0.05)
    assert out[("16MiB", "copy-flashcopy")] < out[("16MiB", "standard")] / 10
