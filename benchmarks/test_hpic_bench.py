"""HP Image Copy and recovery benchmarks (``docs/architecture.md``; ratios against baselines
timed in the same run, as ``docs/limits.md`` asks, since the machines are noisy).

* **image copy throughput**: the standard process (``FASTIC=N``) copying a 32 MiB
  database -- read of every track of both data set groups, IMS-format output data sets
  written -- in measured wall time, against a plain sequential write of the same bytes
  into a new file (target >= 0.5x) and against numpy memcpy (target >= 0.7x); the read
  and the write phases are reported apart;
* **recovery from a standard copy vs a Fast Recovery copy** of the same database, with
  the same change records to apply: wall and modeled time of restore and apply (the
  reload reads the copy and writes every block; the flash-back is an establish plus a
  background copy the model overlaps with the apply);
* **log apply rate**: change records per second of the recovery's apply phase (log
  read, selection, the :func:`~dasdlab.engine.kernels.apply_changes` kernel, writing
  the touched blocks) against the 1,000,000/s target, and of the kernel alone.

The figures are printed and stored in the benchmark JSON; they do not fail the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.site import Site
from dasdlab.engine.database import define, load
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse
from dasdlab.engine.recovery import recover
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.workload import Workload, WorkloadSpec
from report import file_write_seconds, show  # noqa: E402  (benchmarks/report.py)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dbd"
PROFILE = get_profile("ds8000-ficon16")
STANDARD = "  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=N\n"
FAST_RECOVERY = "  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=(REQ,COPY)\n"


@pytest.fixture(scope="module")
def ims(tmp_path_factory):
    site = Site.init(tmp_path_factory.mktemp("hpicbench") / "site")
    site.add_volume("DS8K1", "DSA001", "3390-3")
    site.add_volume("DS8K1", "DSA002", "3390-3")
    define(site, FIX / "hdamdb01.dbd")
    load(site, "HDAMDB01", 32 * 2**20, seed=1, volser="DSA001")
    system = ImsSystem(site, buffers=4096, checkpoint_interval=3600.0)
    system.start()
    system.open("HDAMDB01")
    yield site, system, ImageCopyEngine(site, system, PROFILE)
    system.shutdown()
    site.close()


def _memcpy_seconds(nbytes: int, rounds: int = 5) -> float:
    src = np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # both warm
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.benchmark(group="hpic")
def test_standard_copy_read_write_vs_memcpy(benchmark, capsys, ims):
    site, system, engine = ims
    icein = parse(STANDARD, "bench.icein")
    engine.run(icein)  # warm: kernels, the database's pages, the output volume's metadata
    rounds = []

    def copy():
        t = time.perf_counter()
        reps = engine.run(icein)
        rounds.append((time.perf_counter() - t, reps))

    benchmark.pedantic(copy, rounds=3, iterations=1)
    wall, reps = min(rounds, key=lambda r: r[0])
    assert all(r.status == "ok" for r in reps)
    nbytes = sum(r.bytes_copied for r in reps)
    read = sum(r.wall["physical"] - r.wall["started"] for r in reps)
    write = sum(r.wall["hold_end"] - r.wall["physical"] for r in reps)
    t_mem = _memcpy_seconds(nbytes)
    t_file = file_write_seconds(nbytes, Path(site.path))
    show(capsys, benchmark, "image copy", {
        "read + write / file write (target 0.5)": t_file / wall,
        "MiB copied (both data set groups)": nbytes / 2**20,
        "wall s (read + IMS-format output, per copy)": wall,
        "MB/s": nbytes / wall / 1e6,
        "read + write / memcpy (target 0.7)": t_mem / wall,
        "read phase ratio to memcpy": t_mem / read,
        "write phase ratio to memcpy": t_mem / write,
        "modeled s (outage of the standard process)": sum(r.outage for r in reps),
    })


@pytest.mark.benchmark(group="hpic")
def test_recovery_standard_vs_fast_recovery_and_log_apply(benchmark, capsys, ims):
    site, system, engine = ims
    reps = engine.run(parse(FAST_RECOVERY, "fr.icein")) + engine.run(parse(STANDARD, "std.icein"))
    assert all(r.status == "ok" for r in reps)
    fr = {r.ddn: r.image_id for r in reps if r.process.startswith("copy-")}
    std = {r.ddn: r.image_id for r in reps if r.process == "standard"}
    # about a million change records after both copies (the same records for both recoveries)
    Workload(system, "HDAMDB01", WorkloadSpec(rate=250_000, duration=4.0, slice=0.5, seed=5)).run()
    out = {}

    def recover_both():
        for kind, ids in (("standard", std), ("fast recovery", fr)):
            res = [recover(site, "HDAMDB01", ddn, system=system, profile=PROFILE, image_id=i, record=False)
                   for ddn, i in ids.items()]
            out[kind] = res

    benchmark.pedantic(recover_both, rounds=1, iterations=1)
    figures = {}
    for kind, res in out.items():
        results = [x for r in res for x in r.results]
        restore_w = sum(x.wall["restore"] for x in results)
        apply_w = sum(x.wall["apply"] for x in results)
        figures[f"{kind}: restore wall s"] = restore_w
        figures[f"{kind}: apply wall s"] = apply_w
        figures[f"{kind}: restore modeled s"] = sum(x.modeled["restore"] for x in results)
        figures[f"{kind}: apply modeled s"] = sum(x.modeled["apply"] for x in results)
        figures[f"{kind}: total modeled s (stop, restore, apply, start)"] = sum(r.modeled_total for r in res)
        out[kind] = (results, restore_w, apply_w)
    (std_res, std_restore, std_apply), (fr_res, fr_restore, _) = out["standard"], out["fast recovery"]
    records = sum(x.records for x in std_res)
    assert records == sum(x.records for x in fr_res) and records > 500_000
    figures["restore wall ratio (standard / fast recovery)"] = std_restore / fr_restore
    figures["restore modeled ratio (standard / fast recovery)"] = (
        figures["standard: restore modeled s"] / figures["fast recovery: restore modeled s"])
    # the same restores priced for a database 1024 times larger (32 GiB): a reload grows
    # with the size, a flash-back does not
    big = PROFILE.scaled(1024)
    for kind, ids in (("standard", std), ("fast recovery", fr)):
        r = recover(site, "HDAMDB01", "HDAMDD01", system=system, profile=big, image_id=ids["HDAMDD01"], record=False)
        figures[f"{kind}: restore modeled s, HDAMDD01 as 16 GiB"] = r.results[0].modeled["restore"]
    figures["restore modeled ratio at 1024x size (standard / fast recovery)"] = (
        figures["standard: restore modeled s, HDAMDD01 as 16 GiB"]
        / figures["fast recovery: restore modeled s, HDAMDD01 as 16 GiB"])
    rate = records / std_apply
    figures["change records applied"] = records
    figures["apply phase records/s (log read + select + kernel + write)"] = rate
    figures["apply phase ratio to the 1,000,000/s target"] = rate / 1e6
    # the kernel alone, on the same records
    from dasdlab.engine.log import LogReader
    from dasdlab.engine.kernels import apply_changes

    cs = LogReader(site.path).changes(dbd="HDAMDB01", ddn="HDAMDD02")
    img = np.zeros((int(cs.block.max()) + 1, 2048), np.uint8)
    apply_changes(img, 0, cs.block[:8], cs.offset[:8], cs.after, cs.start[:8], cs.length[:8])
    t = time.perf_counter()
    apply_changes(img, 0, cs.block, cs.offset, cs.after, cs.start, cs.length)
    figures["kernel alone records/s"] = len(cs) / (time.perf_counter() - t)
    show(capsys, benchmark, "recovery", figures)
