"""Online IMS: buffer pool lag, write path, log, truth, workload, replay and verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dasdlab.emulator.site import Site
from dasdlab.engine.bufferpool import BufferPool, SyncPolicy
from dasdlab.engine.database import ImsDatabase, define, load, parse_size
from dasdlab.engine.kernels import apply_changes
from dasdlab.engine.log import CHANGE, CHECKPOINT, LogReader, LogWriter
from dasdlab.engine.recon import Recon
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.truth import Truth
from dasdlab.engine.verify import check, read_blocks, verify
from dasdlab.engine.workload import Workload, WorkloadSpec

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "dbd"


def ims_site(tmp_path, size="2MiB", seed=1) -> Site:
    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "IMS001", "3390-1")
    define(site, FIX / "hdamdb01.dbd")
    define(site, FIX / "hidamdb1.dbd")
    load(site, "HDAMDB01", parse_size(size), seed)
    return site


class Recorder:
    """An intercept on the write path that records which tracks host writes touch."""

    redirects_reads = False

    def __init__(self):
        self.tracks: list[int] = []

    def before_write(self, vol, tracks):
        self.tracks += tracks.tolist()


def test_load_matches_layout_and_catalog(tmp_path):
    site = ims_site(tmp_path)
    db = ImsDatabase.open(site, "HDAMDB01")
    assert db.loaded and [d.dsn for d in db.dbds] == ["IMS.HDAMDB01.HDAMDD01", "IMS.HDAMDB01.HDAMDD02"]
    for d in db.dbds:
        assert site.catalog.lookup(d.dsn) == "IMS001"
        ds = d.dataset(writable=False)
        assert ds.blksize == d.block_size and d.nblocks % ds.blocks_per_track == 0
        truth = Truth(site.path, "HDAMDB01").content_at(d.ddn)
        assert np.array_equal(read_blocks(ds, 0, d.nblocks), truth)
    # the second group got about half of 2 MiB
    assert abs(sum(d.nblocks * d.block_size for d in db.dbds) - 2 * 2**20) < 2 * 49152 * 2


def test_load_errors_leave_site_unchanged(tmp_path):
    from dasdlab.engine.errors import ImsError

    site = ims_site(tmp_path)
    before = sorted(site.catalog.entries())
    with pytest.raises(ImsError) as ei:
        load(site, "HIDAMDB1", parse_size("5GiB"), 1)  # does not fit a 3390-1
    assert ei.value.msgid in ("DLB531E", "DLB532E")
    with pytest.raises(ImsError) as ei:
        load(site, "HDAMDB01", parse_size("1MiB"), 1)
    assert ei.value.msgid == "DLB523E"
    with pytest.raises(ImsError) as ei:
        load(site, "NOSUCHDB", parse_size("1MiB"), 1)
    assert ei.value.msgid == "DLB521E"
    assert sorted(site.catalog.entries()) == before


def test_buffer_pool_lag_until_flush_and_write_path(tmp_path):
    """Committed updates live in buffers: DASD lags until a steal or a flush writes them,
    and those writes pass the subsystem's write path."""
    site = ims_site(tmp_path)
    db = ImsDatabase.open(site, "HDAMDB01")
    d = db.dbds[0]
    ds = d.dataset()
    rec = Recorder()
    site.subsystem_of("IMS001").register_intercept("IMS001", rec)
    pool = BufferPool(ds, d.nblocks, nbuf=8, policy=SyncPolicy.DEFERRED, dirty_limit=1.0)
    orig = read_blocks(ds, 0, 8)
    blocks = np.arange(8, dtype=np.int64)
    offs = np.full(8, 100, np.int64)
    after = np.full((8, 4), 0xC1, np.uint8)
    before = pool.apply(blocks, offs, after, np.arange(8))
    assert np.array_equal(before, orig[:, 100:104])
    pool.write_pending()
    committed = pool.read(blocks)
    assert (committed[:, 100:104] == 0xC1).all()
    assert np.array_equal(read_blocks(ds, 0, 8), orig)  # DASD lags the committed content
    assert rec.tracks == [] and pool.ndirty == 8
    # touching 8 other blocks steals the LRU buffers: those writes reach DASD (after the log)
    pool.apply(blocks + 100, offs, after, np.arange(8, 16))
    assert np.array_equal(read_blocks(ds, 0, 8), orig)  # still pending: not yet logged
    pool.write_pending()
    assert np.array_equal(read_blocks(ds, 0, 8), committed)
    assert pool.stats.steal_writes == 8 and rec.tracks
    assert not (read_blocks(ds, 100, 8)[:, 100:104] == 0xC1).all()  # the newer ones still lag
    n = pool.flush()
    assert n == 8 and pool.ndirty == 0
    assert (read_blocks(ds, 100, 8)[:, 100:104] == 0xC1).all()
    # COMMIT policy: written at the sync point
    p2 = BufferPool(ds, d.nblocks, nbuf=8, policy="commit")
    p2.apply(np.array([200]), np.array([100]), np.full((1, 4), 0xC2, np.uint8), np.array([99]))
    assert read_blocks(ds, 200, 1)[0, 100] != 0xC2
    p2.write_pending()
    assert read_blocks(ds, 200, 1)[0, 100] == 0xC2 and p2.stats.sync_writes == 1


def test_kernel_pool_equals_twin_pool_on_dasd(tmp_path):
    site = ims_site(tmp_path)
    d = ImsDatabase.open(site, "HDAMDB01").dbds[1]
    ds = d.dataset()
    rng = np.random.default_rng(3)
    n = 3000
    blocks = rng.integers(0, d.nblocks, n)
    offs = rng.integers(0, d.block_size - 8, n)
    after = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    p1 = BufferPool(ds, d.nblocks, nbuf=16, dirty_limit=0.6)
    b1 = p1.apply(blocks, offs, after, np.arange(n))
    p1.write_pending()
    p1.flush()
    img1 = read_blocks(ds, 0, d.nblocks)
    # undoing the updates with their before images gives back the loaded content
    base = Truth(site.path, "HDAMDB01").content_at(d.ddn)
    ref = img1.copy()
    for i in range(n - 1, -1, -1):
        ref[blocks[i], offs[i]:offs[i] + 8] = b1[i]
    assert np.array_equal(ref, base)
    # the numpy twin pool, from the same DASD content, reaches the same DASD image
    trk, off = ds.locate_many(np.arange(d.nblocks))
    ds.vol.write_many(trk, off, base)
    p2 = BufferPool(ds, d.nblocks, nbuf=16, dirty_limit=0.6, use_kernels=False)
    b2 = p2.apply(blocks, offs, after, np.arange(n))
    p2.write_pending()
    p2.flush()
    assert np.array_equal(b1, b2)
    assert np.array_equal(read_blocks(ds, 0, d.nblocks), img1)


def test_log_roundtrip_selection_switch_and_torn_tail(tmp_path):
    site = ims_site(tmp_path)
    recon = Recon.of_site(site.path)
    w = LogWriter(site.path, recon, limit_bytes=40_000)
    w.open(0.0)
    rng = np.random.default_rng(0)
    total = 0
    for k in range(30):
        n = 100
        seq = w.reserve(n)
        t = k + np.sort(rng.random(n))
        aft = rng.integers(0, 256, (n, 12), dtype=np.uint8)
        w.write(seq, t, CHANGE, "HDAMDB01", np.full(n, k % 2, np.int16), np.arange(n) + k, np.full(n, 7),
                aft ^ 0xFF, aft, ddn_names=["HDAMDD01", "HDAMDD02"])
        total += n
    w.event(CHECKPOINT, 30.0, None)
    w.close(30.0)
    logs = recon.logs()
    assert len(logs) > 2 and all(lg["status"] == "CLOSED" for lg in logs)
    assert [lg["first_seq"] for lg in logs[1:]] == [lg["last_seq"] + 1 for lg in logs[:-1]]
    rd = LogReader(site.path, recon)
    cs = rd.changes()
    assert len(cs) == total and np.array_equal(cs.seq, np.arange(1, total + 1))
    assert np.array_equal(cs.after ^ 0xFF, cs.before) and (cs.length == 12).all()
    sel = rd.changes(since_seq=501, until_seq=1000, ddn="HDAMDD02")
    assert len(sel) == 300 and {sel.ddn_names[c] for c in sel.ddn_code} == {"HDAMDD02"}  # k = 5, 7, 9
    by_time = rd.read(since_time=10.0, until_time=12.0, types=(CHANGE,))
    assert by_time.num_rows == 200 and isinstance(by_time, pa.Table)
    # tear the last batch of the last log data set that holds changes: it is ignored and noted
    last = Path([lg for lg in logs if lg["first_seq"] <= total][-1]["path"])
    raw = last.read_bytes()
    last.write_bytes(raw[: len(raw) - 300])
    rd2 = LogReader(site.path)
    assert len(rd2.changes()) < total and rd2.notes and "torn" in rd2.notes[0]
    recon.close()


def run_workload(site, spec, **kw):
    system = ImsSystem(site, **kw)
    system.start()
    wl = Workload(system, "HDAMDB01", spec)
    wl.run()
    return system, wl


def test_replaying_the_log_onto_the_load_reproduces_the_truth(tmp_path):
    site = ims_site(tmp_path)
    spec = WorkloadSpec(rate=3000, duration=4, skew="zipf", zipf_s=0.9, seed=11, update_size=24)
    system, wl = run_workload(site, spec, buffers=32, checkpoint_interval=1.5)
    mid = system.now() / 2
    system.shutdown()
    assert wl.stats.committed > 10000 and system.checkpoints >= 3
    db = ImsDatabase.open(site, "HDAMDB01")
    truth = Truth(site.path, "HDAMDB01")
    rd = LogReader(site.path)
    for d in db.dbds:
        from dasdlab.engine.layout import generate

        img = generate(d.layout, 1, 0, d.nblocks)  # the load image
        cs = rd.changes(dbd="HDAMDB01", ddn=d.ddn)
        assert len(cs) > 0
        apply_changes(img, 0, cs.block, cs.offset, cs.after, cs.start, cs.length)
        assert np.array_equal(img, truth.content_at(d.ddn))
        assert np.array_equal(img, read_blocks(d.dataset(False), 0, d.nblocks))  # clean end: on DASD
        # a point in time: replay up to t equals the truth at t, and differs from now
        img_t = generate(d.layout, 1, 0, d.nblocks)
        cs_t = rd.changes(dbd="HDAMDB01", ddn=d.ddn, until_time=mid)
        apply_changes(img_t, 0, cs_t.block, cs_t.offset, cs_t.after, cs_t.start, cs_t.length)
        assert np.array_equal(img_t, truth.content_at(d.ddn, t=mid))
        assert not np.array_equal(img_t, img)
    check(verify(site, "HDAMDB01"))


def test_dasd_lags_truth_until_checkpoint(tmp_path):
    site = ims_site(tmp_path)
    system = ImsSystem(site, buffers=64, dirty_limit=1.0, checkpoint_interval=1e9)
    system.start()
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=500, duration=1, seed=2))
    wl.run()
    odb = system.dbs["HDAMDB01"]
    assert odb.ndirty > 0
    truth = Truth(site.path, "HDAMDB01")
    d = odb.db.dbds[0]
    dasd = read_blocks(d.dataset(False), 0, d.nblocks)
    committed = system.read("HDAMDB01", d.ddn, np.arange(d.nblocks))
    assert np.array_equal(committed, truth.content_at(d.ddn))
    lagging = np.flatnonzero((dasd != committed).any(axis=1))
    dirty_blocks, rec_seq = odb.pools[0].dirty_blocks()
    assert lagging.size > 0 and set(lagging.tolist()) <= set(dirty_blocks.tolist())
    system.checkpoint()
    assert np.array_equal(read_blocks(d.dataset(False), 0, d.nblocks), committed)
    system.shutdown()


def test_distributions_uniform_and_zipf(tmp_path):
    site = ims_site(tmp_path)
    system = ImsSystem(site)
    system.start()
    n = 200_000
    u = Workload(system, "HDAMDB01", WorkloadSpec(seed=1, skew="uniform"))
    g = u.sample_blocks(n)
    counts = np.bincount(g, minlength=u.total_blocks)
    exp = n / u.total_blocks
    chi2 = ((counts - exp) ** 2 / exp).sum()
    assert abs(chi2 - u.total_blocks) < 6 * np.sqrt(2 * u.total_blocks)  # a chi-square within 6 sigma
    for s in (0.8, 1.2):
        z = Workload(system, "HDAMDB01", WorkloadSpec(seed=1, skew="zipf", zipf_s=s))
        counts = np.bincount(z.sample_blocks(n), minlength=z.total_blocks)
        ranked = np.sort(counts)[::-1][:50].astype(float)
        slope = np.polyfit(np.log(np.arange(1, 51)), np.log(ranked), 1)[0]
        assert abs(-slope - s) < 0.15, (s, slope)
        # hot blocks are scattered, not the first blocks of the data set
        assert np.argmax(counts) == z.perm[0]
    grp, blk, off, after = u.generate(1000)
    lay = [d.layout for d in system.dbs["HDAMDB01"].db.dbds]
    for gi, b, o in zip(grp, blk, off):
        ok = (lay[gi].region_start <= o) & (o + 16 <= lay[gi].region_start + lay[gi].region_len)
        assert ok.any()
    system.shutdown()


def test_hold_refuse_and_latency(tmp_path):
    site = ims_site(tmp_path)
    system = ImsSystem(site)
    system.start()
    seen = []
    system.on_state.append(lambda name, old, new, t: seen.append((old, new)))
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=1000, duration=3, seed=4, slice=0.1))
    while wl.now < 1.0 - 1e-9:
        wl.step()
    system.hold("HDAMDB01")
    while wl.now < 1.5 - 1e-9:
        r = wl.step()
        assert r.state == "QUIESCED" and r.committed == 0
    held = wl.held
    assert held > 300
    system.release("HDAMDB01")
    r = wl.step()
    assert r.committed >= held and wl.held == 0
    system.stop("HDAMDB01")
    r = wl.step()
    assert r.refused == r.arrived > 0 and r.committed == 0
    system.start_db("HDAMDB01")
    wl.run()
    s = wl.stats.summary()
    assert s["delayed"] == held and 0 < s["extra_latency_p50"] <= 0.5 + 1e-6
    assert s["extra_latency_p99"] <= 0.5 + 1e-6 and wl.stats.refused > 0
    assert seen == [("ONLINE", "QUIESCED"), ("QUIESCED", "ONLINE"), ("ONLINE", "STOPPED"), ("STOPPED", "ONLINE")]
    system.shutdown()
    check(verify(site, "HDAMDB01"))


def test_realtime_thread_with_hold_from_another_thread(tmp_path):
    import time

    site = ims_site(tmp_path)
    system = ImsSystem(site)
    system.start()
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=2000, duration=1.2, seed=8, slice=0.05))
    t0 = time.perf_counter()
    th = wl.start_thread(realtime=True)
    time.sleep(0.3)
    system.hold("HDAMDB01")
    time.sleep(0.3)
    system.release("HDAMDB01")
    th.join(10)
    wall = time.perf_counter() - t0
    assert not th.is_alive() and wall >= 1.1  # paced to the wall clock
    s = wl.stats.summary()
    assert s["delayed"] > 100 and 0.1 < s["extra_latency_p99"] < 0.6
    system.shutdown()
    check(verify(site, "HDAMDB01"))


def test_one_log_writer_per_site(tmp_path):
    import os

    from dasdlab.engine.errors import ImsError

    site = ims_site(tmp_path)
    recon = Recon.of_site(site.path)
    recon.open_log("IMS.OLDS.L999999", str(tmp_path / "x"), "IMS9", 0.0, 1)
    recon._db.execute("UPDATE logs SET pid=? WHERE dsn='IMS.OLDS.L999999'", (os.getppid(),))
    with pytest.raises(ImsError) as ei:
        ImsSystem(site).start()
    assert ei.value.msgid == "DLB541E"
    recon.close()


def test_truth_journal_torn_chunk_and_reconcile(tmp_path):
    site = ims_site(tmp_path)
    tr = Truth(site.path, "HDAMDB01")
    rng = np.random.default_rng(2)
    seq = 1
    for k in range(5):
        n = 50
        tr.append(np.arange(seq, seq + n), np.full(n, float(k)), np.zeros(n, np.int16), rng.integers(0, 100, n),
                  rng.integers(0, 4000, n), rng.integers(0, 256, (n, 8), dtype=np.uint8))
        seq += n
    tr.close()
    assert tr.last() == (250, 4.0) and len(tr.journal()) == 250
    assert len(tr.journal(until_time=2.0)) == 150 and len(tr.journal(until_seq=120)) == 120
    raw = tr.path.read_bytes()
    tr.path.write_bytes(raw[:-10])  # a kill -9 tore the last chunk
    j = tr.journal()
    assert len(j) == 200 and tr.notes and "torn" in tr.notes[0]
    assert tr.reconcile(175) == 25  # 176..200 never reached the log
    assert tr.last() == (175, 3.0) and len(tr.journal()) == 175 and not tr.notes
    before = tr.content_at("HDAMDD01", seq=100)
    after = tr.content_at("HDAMDD01")
    assert not np.array_equal(before, after)


def test_restart_after_a_failure_while_quiesced(tmp_path):
    site = ims_site(tmp_path)
    dead = ImsSystem(site)
    dead.start()
    wl = Workload(dead, "HDAMDB01", WorkloadSpec(rate=1000, duration=1, seed=3))
    wl.run()
    dead.hold("HDAMDB01")
    dead.crash()  # buffers lost; the log data set stays open
    recon = Recon.of_site(site.path)
    recon._db.execute("UPDATE logs SET pid=? WHERE status='OPEN'", (2**22 + 4321,))  # a pid no process has
    recon._db.execute("UPDATE auth SET pid=?", (2**22 + 4321,))
    system = ImsSystem(site)
    notes = system.start()
    assert any("closed at restart" in n for n in notes)
    assert any("quiesce of the failed system released" in n for n in notes)
    assert recon.db("HDAMDB01")["state"] == "ONLINE" and recon.authorizations("HDAMDB01") == []
    system.shutdown()
    check(verify(site, "HDAMDB01"))
    recon.close()


def test_system_checkpoints_are_driven_by_number_of_log_records(tmp_path):
    """IMS takes system checkpoints by log volume (CPLOG): one per ``checkpoint_log_records``
    records written, whatever the elapsed time; a time interval is an option on top; the
    purge time of a fuzzy copy is the checkpoint before it, wherever that falls."""
    from dasdlab.engine.errors import ImsError

    site = ims_site(tmp_path)
    system, wl = run_workload(site, WorkloadSpec(rate=2000, duration=3, seed=5), checkpoint_log_records=1024)
    cks = system.recon.checkpoints()
    times = [c["time"] for c in cks]
    seqs = [c["seq"] for c in cks]
    assert wl.stats.committed > 5000 and len(cks) >= 5
    # spaced by at least CPLOG records each (the first at IMS start), not by seconds
    assert all(b - a >= 1024 for a, b in zip(seqs[1:], seqs[2:]))
    assert all(b - a <= 1024 + 2000 * 0.1 + 4 for a, b in zip(seqs[1:], seqs[2:]))  # at most one slice late
    ck_before = system.recon.checkpoint_before(2.0)
    assert ck_before["time"] == max(t for t in times if t <= 2.0) and ck_before["time"] > times[0]
    system.shutdown()
    # the same workload at a tenth of the rate: a tenth of the checkpoints in the same time
    site2 = ims_site(tmp_path / "slow")
    slow, _ = run_workload(site2, WorkloadSpec(rate=200, duration=3, seed=5), checkpoint_log_records=1024)
    assert len(slow.recon.checkpoints()) == 1  # 600 records: only the one at IMS start
    slow.shutdown()
    # weighted: each emulated record stands for 8 modeled ones (a scaled benchmark)
    site3 = ims_site(tmp_path / "weighted")
    w, _ = run_workload(site3, WorkloadSpec(rate=200, duration=3, seed=5), checkpoint_log_records=1024,
                        log_record_weight=8.0)
    assert len(w.recon.checkpoints()) >= 4
    w.shutdown()
    # the time-based option: checkpoints every second with CPLOG off
    site4 = ims_site(tmp_path / "timed")
    timed, _ = run_workload(site4, WorkloadSpec(rate=200, duration=3, seed=5), checkpoint_log_records=None,
                            checkpoint_interval=1.0)
    assert len(timed.recon.checkpoints()) >= 3
    timed.shutdown()
    for bad in (dict(checkpoint_log_records=1000), dict(checkpoint_log_records=17 * 2**20),
                dict(checkpoint_interval=0.0), dict(log_record_weight=0)):
        with pytest.raises(ImsError) as e:
            ImsSystem(site, **bad)
        assert e.value.msgid == "DLB560E"
