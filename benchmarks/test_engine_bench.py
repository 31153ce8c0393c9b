"""IMS database layer benchmarks: workload throughput, log write/read, log apply.

Figures (``docs/architecture.md``; ratios against baselines timed in the same run, as
``docs/limits.md`` asks, since the machines are noisy):

* **workload**: modeled updates committed per wall-clock second (target >= 200,000):
  generation, truth journal, buffer pool kernel, log batch, deferred DASD writes through
  the subsystem's write path and checkpoints, on HDAMDB01 with Zipf skew; also the share
  of the wall time spent in ``Volume.write_many`` (the emulator's write path), timed by
  writing the same number of blocks alone;
* **log write**: change records per second and MB/s through :class:`LogWriter` (one
  record batch per time slice, flushed) / pyarrow writing a plain table of the same
  columns and bytes in one go;
* **log read**: :meth:`LogReader.changes` (select + numpy arrays) / pyarrow reading the
  plain table back;
* **log apply**: change records applied per second by
  :func:`dasdlab.engine.kernels.apply_changes` (recovery's target is >= 1,000,000/s)
  against numpy memcpy of the same after-image bytes.

The figures are printed and stored in the benchmark JSON; they do not fail the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dasdlab.emulator.site import Site
from dasdlab.engine.database import ImsDatabase, define, load, parse_size
from dasdlab.engine.log import CHANGE, SCHEMA, LogReader, LogWriter
from dasdlab.engine.recon import Recon
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.workload import Workload, WorkloadSpec
from report import show  # noqa: E402  (benchmarks/report.py)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dbd"


@pytest.fixture(scope="module")
def ims_site(tmp_path_factory):
    d = tmp_path_factory.mktemp("imsbench")
    site = Site.init(d / "site")
    site.add_volume("DS8K1", "IMS001", "3390-3")
    define(site, FIX / "hdamdb01.dbd")
    res = load(site, "HDAMDB01", parse_size("32MiB"), 1)
    yield site, res
    site.close()


@pytest.mark.benchmark(group="ims-workload")
def test_workload_throughput(benchmark, capsys, ims_site):
    site, res = ims_site
    system = ImsSystem(site, buffers=4096, checkpoint_interval=10.0)
    system.start()
    warm = Workload(system, "HDAMDB01", WorkloadSpec(rate=20000, duration=0.5, seed=9, skew="zipf"))
    warm.run()  # kernels loaded, pages warm
    spec = WorkloadSpec(rate=100_000, duration=10.0, seed=1, skew="zipf", zipf_s=1.0, update_size=16)
    wl = Workload(system, "HDAMDB01", spec)
    stats = benchmark.pedantic(wl.run, rounds=1, iterations=1)
    pools = system.dbs["HDAMDB01"].pools
    written = sum(p.stats.steal_writes + p.stats.threshold_writes + p.stats.checkpoint_writes + p.stats.sync_writes
                  for p in pools)
    system.shutdown()
    # the emulator's write path alone: the same number of block writes through write_many
    d = ImsDatabase.open(site, "HDAMDB01").dbds[0]
    ds = d.dataset()
    rbn = np.random.default_rng(0).integers(0, d.nblocks, written)
    trk, off = ds.locate_many(rbn)
    from dasdlab.engine.bufferpool import read_dasd

    data = read_dasd(ds, rbn)  # the current contents: the writes change nothing
    t = time.perf_counter()
    for k in range(0, written, 4096):
        ds.vol.write_many(trk[k:k + 4096], off[k:k + 4096], data[k:k + 4096])
    t_write = time.perf_counter() - t
    ups = stats.committed / stats.wall_seconds
    show(capsys, benchmark, "workload", {
        "modeled updates per wall second": ups,
        "ratio to the 200,000/s target": ups / 200_000,
        "updates committed": stats.committed,
        "DASD block writes": written,
        "share of wall time in Volume.write_many (estimated)": t_write / stats.wall_seconds,
        "load MiB/s (32 MiB, in the fixture)": res.mib_per_s,
    })


def _records(n: int, w: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (np.arange(1, n + 1, dtype=np.int64), np.sort(rng.random(n)) * 100, rng.integers(0, 2, n).astype(np.int16),
            rng.integers(0, 10**6, n), rng.integers(0, 4000, n), rng.integers(0, 256, (n, w), dtype=np.uint8),
            rng.integers(0, 256, (n, w), dtype=np.uint8))


@pytest.mark.benchmark(group="ims-log")
def test_log_write_read_apply(benchmark, capsys, tmp_path):
    from dasdlab.engine.kernels import apply_changes

    n, batch = 1_000_000, 5000
    seq, tm, grp, blk, off, bef, aft = _records(n)
    recon = Recon.of_site(tmp_path)
    recon.register_db("DB1", "HDAM", "OSAM", "x", [("DD1", "IMS.DB1.DD1", "OSAM", 4096), ("DD2", "IMS.DB1.DD2", "OSAM", 4096)])
    w = LogWriter(tmp_path, recon, limit_bytes=1 << 40)
    w.open(0.0)
    w.write(w.reserve(1), np.array([0.0]), CHANGE, "DB1", np.zeros(1, np.int16), np.zeros(1), np.zeros(1),
            bef[:1], aft[:1], ddn_names=["DD1", "DD2"])

    def write_log():
        for a in range(0, n, batch):
            b = a + batch
            w.write(seq[a:b] + 1, tm[a:b], CHANGE, "DB1", grp[a:b], blk[a:b], off[a:b], bef[a:b], aft[a:b],
                    ddn_names=["DD1", "DD2"])

    t0 = time.perf_counter()
    benchmark.pedantic(write_log, rounds=1, iterations=1)
    t_ours = time.perf_counter() - t0
    w.close(100.0)
    nbytes = sum(p.stat().st_size for p in (tmp_path / "ims" / "logs").iterdir())
    # baseline: pyarrow writes the same columns (plain strings, no per-batch flushing)
    from dasdlab.engine.log import _binary

    plain = pa.table({"seq": seq.astype(np.uint64), "time": tm, "type": np.full(n, 0x50, np.uint8),
                      "dbd": pa.array(["DB1"] * 1).take(pa.array(np.zeros(n, np.int32))),
                      "ddn": pa.array(["DD1", "DD2"]).take(pa.array(grp.astype(np.int32))),
                      "block": blk, "offset": off.astype(np.int32), "before": _binary(bef, n), "after": _binary(aft, n)})
    t0 = time.perf_counter()
    with pa.OSFile(str(tmp_path / "plain.arrow"), "wb") as f, pa.ipc.new_file(f, plain.schema) as pw:
        pw.write_table(plain, max_chunksize=batch)
    t_base = time.perf_counter() - t0
    # read: ours (select one DDN's changes as arrays) vs pyarrow reading the plain file
    t0 = time.perf_counter()
    cs = LogReader(tmp_path, recon).changes(ddn="DD1")
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    with pa.memory_map(str(tmp_path / "plain.arrow")) as src:
        back = pa.ipc.open_file(src).read_all()
        sel = back.filter(pa.compute.equal(back["ddn"], "DD1"))
        _ = sel["after"].combine_chunks()
    t_read_base = time.perf_counter() - t0
    # apply: replay DD1's changes onto an image of 65,536 blocks (max block fits: 10**6 % rows)
    rows = 65536
    img = np.zeros((rows, 4096), np.uint8)
    blocks = cs.block % rows
    apply_changes(img[:1], 0, blocks[:10], cs.offset[:10], cs.after, cs.start[:10], cs.length[:10])
    t0 = time.perf_counter()
    apply_changes(img, 0, blocks, cs.offset, cs.after, cs.start, cs.length)
    t_apply = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.copyto(np.empty_like(cs.after), cs.after)
    t_memcpy = time.perf_counter() - t0
    recon.close()
    show(capsys, benchmark, "log", {
        "write records/s": n / t_ours,
        "write MB/s": nbytes / t_ours / 1e6,
        "write ratio (pyarrow plain table / ours)": t_base / t_ours,
        "read+select records/s": len(cs) / t_read,
        "read ratio (pyarrow plain read+filter / ours)": t_read_base / t_read,
        "apply records/s": len(cs) / t_apply,
        "apply ratio to the 1,000,000/s target": len(cs) / t_apply / 1e6,
        "apply vs memcpy of the after images (time ratio)": t_memcpy / t_apply,
    })
    assert len(cs) > 0.45 * n and SCHEMA.names[0] == "seq"


@pytest.mark.benchmark(group="ims-workload")
def test_workload_throughput_uniform_small_pool(benchmark, capsys, ims_site):
    """The CLI's defaults: uniform access, 256 buffers per subpool -- nearly every update
    misses, so nearly every update costs one DASD block write through the write path."""
    site, _ = ims_site
    system = ImsSystem(site, buffers=256, checkpoint_interval=60.0)
    system.start()
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=20_000, duration=10.0, seed=2, skew="uniform"))
    stats = benchmark.pedantic(wl.run, rounds=1, iterations=1)
    pools = system.dbs["HDAMDB01"].pools
    written = sum(p.stats.steal_writes + p.stats.threshold_writes for p in pools)
    system.shutdown()
    ups = stats.committed / stats.wall_seconds
    show(capsys, benchmark, "workload uniform/256", {
        "modeled updates per wall second": ups,
        "ratio to the 200,000/s target": ups / 200_000,
        "DASD block writes per update": written / stats.committed,
    })
