"""The track-state trace follows a copy through the contract's track and completion
events alone, and agrees with the services' own bitmaps (the truth): FlashCopy and
TimeFinder clones with background copy and copy-on-write, a FlashCopy NOCOPY shadow,
a Concurrent Copy dump with sidefile saves, a SnapShot clone; a failed relationship
loses what it lacked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dasdlab.bench.trace import CHANGED, COPIED, LOST, NOT_COPIED, SAVED, SHARED, TrackTracer
from dasdlab.emulator import trackfmt
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site
from dasdlab.host import replication

FIRST, N = 15, 30
SUB = {"flashcopy": ("DS8K1", "DS"), "timefinder": ("VMAX1", "VM"), "snapshot": ("RVA1", "RV"),
       "concurrent_copy": ("DS8K1", "DS")}


def _track(vol, t, seed):
    cyl, head = vol.cchh(t)
    data = np.random.default_rng([t, seed]).integers(0, 256, 4000, np.uint8).tobytes()
    return trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot)


@pytest.fixture
def site(tmp_path):
    s = Site.init(tmp_path / "site")
    configure_pool(s, "RVA1", pool_slots=600)
    for sub, pfx in {v for v in SUB.values()}:
        for v in ("0001", "0002"):
            s.add_volume(sub, pfx + v, "3390-1", cylinders=4)
        src = s.volume(pfx + "0001", writable=True)
        for t in range(FIRST, FIRST + N):
            src.write_track(t, _track(src, t, 1))
    for sub in ("DS8K1", "VMAX1"):
        s.subsystem(sub).settings["fc_background_tracks_per_s"] = 3.0
        s.subsystem(sub).settings["clone_background_tracks_per_s"] = 3.0
    yield s
    s.close()


def _tracer(site, service):
    sub, pfx = SUB[service]
    src = site.volume(pfx + "0001", writable=True)
    tr = TrackTracer(site, site.subsystem(sub), pfx + "0001", np.arange(FIRST, FIRST + N), src.ntracks)
    tr.attach()
    return tr, src


def _run(process, counters):
    return SimpleNamespace(done=False, report=SimpleNamespace(process=process, logical=0.0, started=0.0,
                                                              counters=counters, status="running"))


@pytest.mark.parametrize("service", ["flashcopy", "timefinder"])
def test_a_clone_trace_agrees_with_the_bitmap(site, service):
    sub, pfx = SUB[service]
    tr, src = _tracer(site, service)
    rep = replication.establish(site.subsystem(sub), service, pfx + "0001", pfx + "0002",
                                [(FIRST, FIRST + N)], [(FIRST, FIRST + N)], background_copy=True)
    tr.bind(_run(f"copy-{service}", {rep.mover.id_label: rep.id}))
    obj = rep.svc.get(rep.id) if service == "flashcopy" else rep.svc.session(rep.id)
    pending = (lambda: obj.to_copy.test_many(np.arange(N))) if service == "flashcopy" else \
        (lambda: obj.pending.test_many(np.arange(N)))
    rng = np.random.default_rng(4)
    want = np.zeros(N, np.uint8)
    for k in range(1, 8):
        before = pending()
        hit = rng.choice(N, 3, replace=False)
        for r in hit:
            src.write_track(FIRST + int(r), _track(src, FIRST + int(r), k + 1))
        after = pending()
        want[before & ~after] = SAVED
        w = np.zeros(N, bool)
        w[hit] = True
        want[w & ~before & (want == COPIED)] = CHANGED
        site.tick(float(k))
        want[after & ~pending()] = COPIED
        tr.sample(float(k))
        assert np.array_equal(tr.samples[-1], want), (k, tr.samples[-1], want)
    assert (want == SAVED).any() and (want == COPIED).any() and (tr.samples[0] == NOT_COPIED).any()
    assert tr.cow == rep.describe().cow_count == (want == SAVED).sum()
    rep.drain()
    tr.sample(9.0)
    assert set(tr.samples[-1].tolist()) <= {COPIED, SAVED, CHANGED}
    tr.detach()


def test_a_shadow_trace_is_shared_until_saved_or_read(site):
    tr, src = _tracer(site, "flashcopy")
    rep = replication.establish(site.subsystem("DS8K1"), "flashcopy", "DS0001", "DS0002",
                                [(FIRST, FIRST + N)], [(FIRST, FIRST + N)], background_copy=False)
    tr.bind(_run("fdump-flashcopy", {"relationship": rep.id}))
    src.write_track(FIRST + 3, _track(src, FIRST + 3, 9))
    tr.on_read(np.arange(FIRST, FIRST + 5))
    tr.sample(1.0)
    row = tr.samples[-1]
    assert row[3] == SAVED and list(row[[0, 1, 2, 4]]) == [COPIED] * 4 and np.all(row[5:] == SHARED)
    # the relationship fails: what the shadow lacked is lost, what it had stays
    rep.svc._fail(rep.svc.get(rep.id), "DLB330E", "a test fails it")
    tr.sample(2.0)
    row = tr.samples[-1]
    assert row[3] == SAVED and np.all(row[5:] == LOST) and list(row[[0, 1, 2, 4]]) == [COPIED] * 4
    tr.detach()


def test_a_cc_dump_trace_agrees_with_the_session(site):
    tr, src = _tracer(site, "concurrent_copy")
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    sess = cc.start("DS0001", runs=[(FIRST, FIRST + N)])
    tr.bind(_run("dump-cc", {}))
    for t in range(FIRST, FIRST + 10):
        sess.read_track(t)
    for t in (FIRST + 2, FIRST + 12, FIRST + 20):
        src.write_track(t, _track(src, t, 5))
    tr.sample(1.0)
    row = tr.samples[-1]
    rel = np.arange(N)
    saved = sess.saved.test_many(rel)
    assert list(np.flatnonzero(saved)) == [12, 20] and np.all(row[saved] == SAVED)
    assert row[2] == CHANGED and np.all(row[[0, 1, 3, 4, 5, 6, 7, 8, 9]] == COPIED)
    assert np.all(row[~saved & sess.unread.test_many(rel)] == NOT_COPIED)
    assert tr.cc_counters["intercepted_writes"] == 2
    tr.detach()


def test_a_snapshot_clone_is_shared_until_written(site):
    tr, src = _tracer(site, "snapshot")
    rep = replication.establish(site.subsystem("RVA1"), "snapshot", "RV0001", "RV0002",
                                [(FIRST, FIRST + N)], [(FIRST, FIRST + N)], background_copy=True)
    tr.bind(_run("copy-snapshot", {"snap": rep.id}))
    src.write_track(FIRST + 7, _track(src, FIRST + 7, 6))
    tr.sample(1.0)
    row = tr.samples[-1]
    src_vol, tgt_vol = site.subsystem("RVA1").open_volume("RV0001"), site.subsystem("RVA1").open_volume("RV0002")
    dom = np.arange(FIRST, FIRST + N)
    same = np.asarray(src_vol.ftd[dom]) == np.asarray(tgt_vol.ftd[dom])
    assert np.array_equal(row, np.where(same, SHARED, CHANGED)) and row[7] == CHANGED
    tr.detach()
