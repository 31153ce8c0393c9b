"""The scale benchmark: the whole 8-method outage comparison at three emulated sizes at
scale 1 (default 256 MiB, 1 GiB, 4 GiB; ``DASDLAB_SCALE_SIZES=128MiB,512MiB,...`` to
choose), each in its own process, with its wall time, peak RSS (the child's
``ru_maxrss``) and peak disk (the largest method's site, as ``bench outage`` reports
it); then the slope of each against the database size (least squares, per GiB), and the
standard image copy's throughput against a plain sequential write of the same bytes
into a new file, both timed in this run.

Targets (issue 10): peak RSS growing by less than 0.1 GiB per GiB of database, and
at most 1.5 GiB at 4 GiB; the image copy at least 0.5x the file write; all 8 methods on
4 GiB in at most 5 minutes; peak disk at most 3x the database.  Not run in CI: it takes
minutes and gigabytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from report import file_write_seconds, show  # noqa: E402  (benchmarks/report.py)

GiB = 2**30
SIZES = os.environ.get("DASDLAB_SCALE_SIZES", "256MiB,1GiB,4GiB").split(",")
ROOT = Path(__file__).resolve().parents[1]


def _run_size(size: str, out: Path) -> dict:
    """One comparison in a child process: (wall s, peak RSS bytes, peak disk bytes)."""
    code = "import sys; from dasdlab.cli.main import run; sys.exit(run(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "bench", "outage", "--db-size", size, "--methods", "all", "--no-plots",
            "--json", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout = child.stdout.read()
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    assert os.waitstatus_to_exitcode(status) == 0, stderr.decode()[-2000:]
    doc = json.loads(stdout)
    assert all(m["status"] == "ok" or m["name"] == "dump-cc" for m in doc["methods"]), doc["methods"]
    return {"bytes": doc["scenario"]["db_size_bytes"], "wall": wall, "rss": usage.ru_maxrss * 1024,
            "disk": doc["scenario"]["disk_peak_bytes"]}


def _standard_copy_seconds(folder: Path, size: int) -> tuple[float, int]:
    """Best wall seconds of the standard process copying a ``size`` database."""
    from dasdlab.emulator.site import Site
    from dasdlab.engine.database import define, load
    from dasdlab.engine.hpic import ImageCopyEngine
    from dasdlab.engine.icein import parse
    from dasdlab.engine.system import ImsSystem
    from dasdlab.engine.timemodel import get_profile

    site = Site.init(folder / "site")
    site.add_volume("DS8K1", "DSA001", "3390-9")
    site.add_volume("DS8K1", "DSA002", "3390-9")
    define(site, ROOT / "dasdlab" / "data" / "outagedb.dbd")
    load(site, "OUTAGEDB", size, seed=1, volser="DSA001")
    system = ImsSystem(site, buffers=256, checkpoint_interval=3600.0)
    system.start()
    system.open("OUTAGEDB")
    try:
        engine = ImageCopyEngine(site, system, get_profile("ds8000-ficon16"))
        icein = parse("  IC       DBD=OUTAGEDB,ICOUT=*,FASTIC=N\n", "scale.icein")
        best, nbytes = float("inf"), 0
        for _ in range(3):
            t = time.perf_counter()
            reps = engine.run(icein)
            best = min(best, time.perf_counter() - t)
            assert all(r.status == "ok" for r in reps)
            nbytes = sum(r.bytes_copied for r in reps)
            for r in reps:  # scratch the copy: the next round writes a new one
                for o in r.outputs:
                    site.volume(o["volser"], writable=True).vtoc.delete(o["dsn"])
                    site.catalog.remove(o["dsn"])
    finally:
        system.shutdown()
        site.close()
    return best, nbytes


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(x, y, 1)[0]) if x.size >= 2 else float("nan")


@pytest.mark.benchmark(group="scale")
def test_scale_three_sizes(benchmark, capsys, tmp_path):
    rows = []

    def all_sizes():
        for size in SIZES:
            rows.append(_run_size(size, tmp_path / f"out-{size}"))

    benchmark.pedantic(all_sizes, rounds=1, iterations=1)
    copy_s, nbytes = _standard_copy_seconds(tmp_path / "copy", 256 * 2**20)
    file_s = file_write_seconds(nbytes, tmp_path)
    x = np.array([r["bytes"] / GiB for r in rows])
    figures = {}
    for r in rows:
        g = r["bytes"] / GiB
        figures[f"{g:g} GiB: wall s"] = r["wall"]
        figures[f"{g:g} GiB: peak RSS GiB"] = r["rss"] / GiB
        figures[f"{g:g} GiB: peak disk GiB"] = r["disk"] / GiB
        figures[f"{g:g} GiB: disk / database"] = r["disk"] / r["bytes"]
    figures["wall slope s/GiB"] = _slope(x, np.array([r["wall"] for r in rows]))
    figures["RSS slope GiB/GiB"] = _slope(x, np.array([r["rss"] / GiB for r in rows]))
    figures["disk slope GiB/GiB"] = _slope(x, np.array([r["disk"] / GiB for r in rows]))
    figures["image copy MB/s"] = nbytes / copy_s / 1e6
    figures["image copy / file write"] = file_s / copy_s
    show(capsys, benchmark, "scale", figures)
