"""The benchmark suite's summary: every docs/architecture.md target (and the docs/limits.md targets
the suite also measures) with the figure this run measured, in one table at the end of
``make bench``, also written to ``.benchmarks/summary.json``.

Each benchmark stores its figures in ``benchmark.extra_info`` (they also reach the
pytest-benchmark JSON) and prints them as it goes; every ratio is against a baseline
timed in the same run (``docs/limits.md``: the machines are shared and noisy, compare
ratios, not rates).  This file does not change how any benchmark measures: it picks the
figures out of ``extra_info`` by test name and key (:data:`TARGETS`) after each test.
A figure the run did not produce (the test was skipped or deselected, or renamed its
key) shows as "not measured", so a silently missing benchmark is visible.  Misses are
reported, never failed: timing does not gate the run (``docs/conventions.md`` item 12).
"""

from __future__ import annotations

import sys

import json
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

# the benchmark files share benchmarks/report.py (test files are imported by path, not
# as a package, so its folder goes on the import path here)
sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass(frozen=True)
class Target:
    what: str
    test: str  # benchmark test function name
    key: str  # regular expression matched against the test's extra_info keys
    op: str  # "<=" or ">=" (or "" for a figure shown without a target)
    bound: float
    baseline: str  # what the figure is compared with, in the same run
    source: str  # where the target comes from


_OPS = {"<=": operator.le, ">=": operator.ge}

#: docs/architecture.md first, then the finer docs/limits.md targets the suite measures
TARGETS: tuple[Target, ...] = (
    Target("full-volume copy time / dasdcopy", "test_copy_volume_vs_dasdcopy_and_cp", r"^time / dasdcopy time$",
           "<=", 0.5, "Hercules dasdcopy, same 3390-1 image", "§5"),
    Target("full-volume copy time / cp", "test_copy_volume_vs_dasdcopy_and_cp", r"^time / cp time$",
           "<=", 1.5, "cp, same image", "§5"),
    Target("CKD -> CCKD zlib time / dasdcopy -z", "test_convert_to_cckd_vs_dasdcopy_z",
           r"^time / dasdcopy -z time$", "<=", 0.5, "Hercules dasdcopy -z, same 3390-3 image", "issue 14"),
    Target("CCKD -> CKD time / dasdcopy -lfs", "test_convert_to_ckd_vs_dasdcopy_lfs",
           r"^time / dasdcopy -lfs time$", "<=", 0.5, "Hercules dasdcopy -lfs, same CCKD image", "issue 14"),
    Target("CCKD write in place speed / plain write", "test_write_in_place_vs_plain",
           r"^CCKD write speed / plain write speed$", ">=", 0.5, "the same tracks into a plain image",
           "issue 14"),
    Target("background copy throughput / memcpy", "test_background_copy_against_memcpy",
           r"^drain throughput / np\.copyto", ">=", 0.7, "np.copyto of the same bytes", "§5"),
    Target("image copy throughput (standard process) / file write", "test_standard_copy_read_write_vs_memcpy",
           r"^read \+ write / file write", ">=", 0.5, "sequential write of the same bytes to a new file", "issue 10"),
    Target("scale: peak RSS growth, GiB per GiB of database", "test_scale_three_sizes", r"^RSS slope GiB/GiB$",
           "<=", 0.1, "(slope over three sizes at scale 1)", "issue 10"),
    Target("scale: standard image copy / file write", "test_scale_three_sizes", r"^image copy / file write$",
           ">=", 0.5, "sequential write of the same bytes to a new file", "issue 10"),
    Target("image copy throughput (standard process) / memcpy", "test_standard_copy_read_write_vs_memcpy",
           r"^read \+ write / memcpy", ">=", 0.7, "np.copyto of the same bytes", "§5"),
    Target("FlashCopy establish 3390-54, ms", "test_establish_against_volume_size", r"^3390-54 establish, ms",
           "<=", 1.0, "(absolute)", "§5"),
    Target("FlashCopy establish 3390-54 / 3390-3", "test_establish_against_volume_size", r"^3390-54 / 3390-3",
           "<=", 2.0, "establish of a 3390-3", "§5"),
    Target("FlashCopy establish 3390-9 / 3390-3", "test_establish_against_volume_size", r"^3390-9 / 3390-3",
           "<=", 2.0, "establish of a 3390-3", "as 3390-54"),
    Target("first host write under copy-on-write / plain", "test_host_writes_under_copy_on_write",
           r"^batch \(write_many\) first write / plain", "<=", 2.0, "plain write, same tracks", "§5"),
    Target("later host write under copy-on-write / plain", "test_host_writes_under_copy_on_write",
           r"^batch \(write_many\) later write / plain", "<=", 1.05, "plain write, same tracks", "§5"),
    Target("per-track later host write (cross-process write path) / plain volume",
           "test_cross_process_check_per_host_write", r"^per-track later write / plain", "<=", 1.05,
           "write_track to a volume outside any site", "§5"),
    Target("per-track first host write (cross-process write path) / plain volume",
           "test_cross_process_check_per_host_write", r"^per-track first write / plain", "<=", 2.0,
           "write_track to a volume outside any site", "§5"),
    Target("cross-process generation check, ns per host write", "test_cross_process_check_per_host_write",
           r"^generation check alone, ns per write$", "", 0.0, "(absolute)", "issue 9"),
    Target("outage scenario: modeled updates / wall s", "test_outage_scenario_speed",
           r"^scenario modeled updates per wall second$", ">=", 200_000, "(absolute; workload alone below)", "§5"),
    Target("log apply in recovery: change records / s", "test_recovery_standard_vs_fast_recovery_and_log_apply",
           r"^apply phase records/s", ">=", 1_000_000, "(absolute)", "§5"),
    Target("dasdlab --help, s", "test_help_time", r"^dasdlab --help, s$", "<=", 0.3, "(absolute)", "§5"),
    # docs/limits.md targets measured by the suite
    Target("dasdlab --help / python -c 'import numpy'", "test_help_time", r"^--help / import numpy$", "<=", 3.0,
           "python -c 'import numpy'", "limits (d)"),
    Target("bitmap-driven copy, 10% of 1M tracks, serial / memcpy", "test_bitmap_copy_vs_memcpy",
           r"^serial / memcpy$", ">=", 0.6, "np.copyto of the same bytes", "limits (a)"),
    Target("bitmap-driven copy, 10% of 1M tracks, 2 threads / memcpy", "test_bitmap_copy_vs_memcpy",
           r"^2 threads / memcpy$", ">=", 0.9, "np.copyto of the same bytes", "limits (a)"),
    Target("bitmap scan, 1M bits at 10%: ns per track", "test_bitmap_scan", r"^ns per track scanned$",
           "<=", 1000.0, "(absolute: a skipped track <= 1 us)", "limits (a)"),
    Target("bitmap scan: numpy twin time / kernel time", "test_bitmap_scan", r"^numpy twin / kernel$",
           "", 0.0, "kernels_ref.bitmap_scan", ""),
    Target("write_track throughput / memcpy", "test_write_track_throughput_vs_memcpy", r"^throughput / memcpy$",
           ">=", 0.7, "np.copyto of the same bytes", "limits (a)"),
    Target("read_track throughput / memcpy", "test_read_track_throughput_vs_memcpy", r"^throughput / memcpy$",
           ">=", 0.7, "np.copyto of the same bytes", "limits (a)"),
    Target("log apply kernel on a log's changes: records / s", "test_log_write_read_apply", r"^apply records/s$",
           ">=", 1_000_000, "(absolute)", "§5 (kernel)"),
    Target("IMS workload alone: updates / wall s", "test_workload_throughput", r"^modeled updates per wall second$",
           ">=", 200_000, "(absolute)", "§5 (no copy)"),
    Target("outage scenario / workload alone (speed)", "test_outage_scenario_speed", r"^scenario / workload alone$",
           "", 0.0, "the same workload with no copy", ""),
    Target("SnapShot snap 3390-54 / 3390-3", "test_snap_time_against_volume_size", r"^snap time 3390-54 / 3390-3",
           "<=", 2.0, "snap of a 3390-3", "as establish"),
)

_figures: dict[tuple[str, str], float] = {}


@pytest.fixture(autouse=True)
def _collect_figures(request):
    """After each benchmark, keep the figures it put in ``extra_info``."""
    yield
    bench = request.node.funcargs.get("benchmark")
    if bench is None:
        return
    name = request.node.originalname
    for k, v in getattr(bench, "extra_info", {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            _figures[(name, k)] = float(v)


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3f}" if abs(v) >= 0.01 else f"{v:.2g}"


def summary_rows() -> list[dict]:
    rows = []
    for t in TARGETS:
        pat = re.compile(t.key)
        found = [v for (name, k), v in _figures.items() if name == t.test and pat.search(k)]
        v = found[0] if found else None
        ok = None if v is None or not t.op else _OPS[t.op](v, t.bound)
        rows.append({"what": t.what, "measured": v, "target": f"{t.op} {_fmt(t.bound)}" if t.op else "",
                     "met": ok, "baseline": t.baseline, "source": t.source, "test": t.test})
    return rows


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _figures:
        return
    rows = summary_rows()
    tr = terminalreporter
    tr.section("docs/architecture.md targets: this run's figures (ratios against baselines timed in the same run)")
    w = max(len(r["what"]) for r in rows)
    tr.write_line(f"{'what':<{w}}  {'measured':>12}  {'target':>12}  {'':4}  baseline [source]")
    for r in rows:
        m = "not measured" if r["measured"] is None else _fmt(r["measured"])
        verdict = {True: "ok", False: "MISS", None: ""}[r["met"]]
        src = f" [{r['source']}]" if r["source"] else ""
        tr.write_line(f"{r['what']:<{w}}  {m:>12}  {r['target']:>12}  {verdict:4}  {r['baseline']}{src}")
    met = sum(r["met"] is True for r in rows)
    missed = [r["what"] for r in rows if r["met"] is False]
    absent = [r["what"] for r in rows if r["measured"] is None]
    tr.write_line(f"{met} targets met, {len(missed)} missed, {len(absent)} not measured.")
    out = Path(config.rootpath) / ".benchmarks"
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
