"""Concurrent Copy semantics (docs/domain.md §2.1): the point in time at initialisation, the
init-complete event, cache sidefile interception, the SDM drain, overflow cancellation,
limits, virtual CC through FlashCopy and SnapShot, sessions of other processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dasdlab.emulator.services.concurrent_copy import CCSession, CCState
from dasdlab.emulator.services.lifecycle import check_tables
from dasdlab.errors import CopyServiceError
from tests.copy.conftest import pattern_track, view

CYL = 4  # 60 tracks
TB = 56_664  # bytes a 3390 track image counts in a sidefile


def make_cc_site(path, sub="DS8K1", volumes=("SRC001", "WRK001"), settings=None, cylinders=CYL):
    from dasdlab.emulator.site import Site

    site = Site.init(path)
    if settings:
        site.config["subsystems"][sub]["settings"].update(settings)
        site._write_config(site.config)
        site = Site.open(path)
    for v in volumes:
        site.add_volume(sub, v, "3390-1", cylinders=cylinders)
    src = site.volume(volumes[0], writable=True)
    for t in range(15, min(40, src.ntracks)):
        src.write_track(t, pattern_track(src, t, 1))
    return site


@pytest.fixture
def ccsite(tmp_path):
    site = make_cc_site(tmp_path / "site")
    yield site
    site.close()


@pytest.fixture
def cc(ccsite):
    return ccsite.subsystem("DS8K1").service("concurrent_copy")


def dump(sess) -> dict[int, np.ndarray]:
    return dict(sess.read_tracks())


# ---------------------------------------------------------------------- point in time
def test_dump_gets_the_domain_as_of_initialisation(ccsite, cc):
    src = ccsite.volume("SRC001", writable=True)
    pit = view(src)
    s = cc.start("SRC001", [(15, 45)])
    src.write_track(20, pattern_track(src, 20, 2))          # first write: saved
    src.write_track(20, pattern_track(src, 20, 3))          # later write: not intercepted
    src.write_bytes(21, 100, b"\xAB" * 40)                  # partial write
    src.write_many(np.array([22, 22, 23]), np.array([50, 60, 70]), np.full((3, 4), 9, np.uint8))
    src.write_track(44, pattern_track(src, 44, 2))          # a never-written track
    src.write_track(50, pattern_track(src, 50, 2))          # outside the domain
    got = dump(s)
    assert sorted(got) == list(range(15, 45))
    for t, img in got.items():
        assert np.array_equal(img, pit[t]), t
    q = s.query()
    assert q["intercepted_writes"] == 5 and q["tracks_read_sidefile"] == 5
    assert q["tracks_read_live"] == 25 and q["cache_hwm_tracks"] == 5
    assert q["cache_hwm_bytes"] == 5 * TB
    assert s.state is CCState.COMPLETE and q["physical_complete_at"] is not None
    assert ccsite.subsystem("DS8K1").intercepts("SRC001") == []


def test_tracks_already_read_are_not_intercepted(ccsite, cc):
    src = ccsite.volume("SRC001", writable=True)
    pit = view(src)
    s = cc.start("SRC001", [(15, 20)])
    assert np.array_equal(s.read_track(16), pit[16])
    src.write_track(16, pattern_track(src, 16, 4))
    src.write_track(17, pattern_track(src, 17, 4))
    assert s.query()["intercepted_writes"] == 1
    with pytest.raises(CopyServiceError) as e:
        s.read_track(16)
    assert e.value.msgid == "DLB364E" and "read already" in e.value.text
    with pytest.raises(CopyServiceError, match="DLB364E"):
        s.read_track(30)
    rest = dump(s)
    assert np.array_equal(rest[17], pit[17]) and s.state is CCState.COMPLETE


def test_init_complete_comes_after_the_session_exists(ccsite, cc):
    src = ccsite.volume("SRC001", writable=True)
    pit = view(src)
    events = []

    def released(ev):
        # the caller releases the data set here: its first update is already intercepted
        events.append(ev)
        src.write_track(25, pattern_track(src, 25, 8))

    s = cc.start("SRC001", [(15, 40)], on_init_complete=released)
    assert len(events) == 1
    ev = events[0]
    assert (ev.rc, ev.session_id, ev.volser, ev.method) == (0, s.id, "SRC001", "cache")
    assert ev.message.startswith("DLB369I")
    assert np.array_equal(s.read_track(25), pit[25])


def test_end_before_reading_everything(ccsite, cc):
    src = ccsite.volume("SRC001", writable=True)
    s = cc.start("SRC001", [(15, 40)])
    src.write_track(20, pattern_track(src, 20, 2))
    s.end()
    assert s.state is CCState.ENDED and s.query()["cache_sidefile_tracks"] == 0
    assert ccsite.subsystem("DS8K1").intercepts("SRC001") == []
    with pytest.raises(CopyServiceError, match="DLB364E"):
        s.read_track(21)
    s.end()  # ending twice is harmless


# ---------------------------------------------------------------------- SDM and overflow
def test_sdm_drains_cache_into_host_sidefile_at_its_rate(tmp_path):
    site = make_cc_site(tmp_path / "s", settings={"cc_drain_tracks_per_s": 4.0})
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    src = site.volume("SRC001", writable=True)
    pit = view(src)
    s = cc.start("SRC001", [(15, 40)])
    for t in range(15, 25):
        src.write_track(t, pattern_track(src, t, 2))
    site.tick(1.0)
    q = s.query()
    assert (q["cache_sidefile_tracks"], q["host_sidefile_tracks"]) == (6, 4)
    site.tick(1.5)
    assert s.query()["host_sidefile_tracks"] == 6
    assert np.array_equal(s.read_track(15), pit[15])  # from the host sidefile
    assert cc.drain() == 4
    q = s.query()
    assert (q["cache_sidefile_tracks"], q["host_sidefile_tracks"]) == (0, 9)
    assert (q["cache_hwm_tracks"], q["host_hwm_tracks"]) == (10, 9)
    got = dump(s)
    assert all(np.array_equal(img, pit[t]) for t, img in got.items())
    assert s.query()["tracks_read_sidefile"] == 10
    rec = cc.store.get(s.id)  # the record carries the counters for other processes
    assert rec["counters"]["host_hwm_tracks"] == 9 and rec["state"] == "COMPLETE"
    site.close()


def test_cache_overflow_cancels_the_largest_sidefile_first(tmp_path):
    # half the cache holds 5 track images
    site = make_cc_site(tmp_path / "s", settings={"cache_bytes": 10 * TB})
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    src = site.volume("SRC001", writable=True)
    a = cc.start("SRC001", [(15, 25)])
    b = cc.start("SRC001", [(25, 35)])
    for t in (15, 16, 17, 18, 25):
        src.write_track(t, pattern_track(src, t, 2))
    assert a.state is b.state is CCState.ACTIVE  # 5 images: at the limit, not past it
    src.write_track(26, pattern_track(src, 26, 2))  # b's write pushes past half
    assert a.state is CCState.CANCELLED and b.state is CCState.ACTIVE
    assert records_equal(src.read_track(26), pattern_track(src, 26, 2))  # the write applied
    with pytest.raises(CopyServiceError) as e:
        next(iter(a.read_tracks()))
    assert e.value.msgid == "DLB363E" and "half of the cache" in e.value.text
    assert a.query()["message"].startswith("DLB363E")
    assert len(dump(b)) == 10 and b.state is CCState.COMPLETE
    site.close()


def records_equal(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.frombuffer(bytes(b), np.uint8))


def test_draining_in_time_avoids_the_overflow(tmp_path):
    site = make_cc_site(tmp_path / "s", settings={"cache_bytes": 10 * TB, "cc_drain_tracks_per_s": 2.0})
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    src = site.volume("SRC001", writable=True)
    s = cc.start("SRC001", [(15, 40)])
    for i, t in enumerate(range(15, 27)):
        site.tick(i * 1.0)
        src.write_track(t, pattern_track(src, t, 2))
    assert s.state is CCState.ACTIVE
    assert s.query()["cache_hwm_tracks"] <= 5
    site.close()


def test_host_sidefile_grows_into_further_data_spaces_until_the_sdm_aux_storage_limit(tmp_path):
    """A full SDM data space does not cancel the session: the SDM adds data spaces
    (S41); only its auxiliary-storage limit does (DLB434E)."""
    site = make_cc_site(tmp_path / "s", settings={"host_sidefile_bytes": 3 * TB, "sdm_aux_storage_bytes": 8 * TB})
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    src = site.volume("SRC001", writable=True)
    s = cc.start("SRC001", [(15, 40)])
    for t in range(15, 22):  # 7 before-images: past two 3-track data spaces
        src.write_track(t, pattern_track(src, t, 2))
    cc.drain()
    assert s.state is CCState.ACTIVE
    q = s.query()
    assert q["host_hwm_tracks"] == 7 and q["host_dataspaces_hwm"] == 3
    for t in range(22, 24):  # the 9th would pass the 8-track auxiliary storage
        src.write_track(t, pattern_track(src, t, 2))
    cc.drain()
    assert s.state is CCState.CANCELLED
    with pytest.raises(CopyServiceError) as e:
        s.read_track(30)
    assert e.value.msgid == "DLB434E" and "auxiliary storage" in e.value.text
    assert s.query()["host_hwm_tracks"] == 8
    site.close()


# ---------------------------------------------------------------------- limits and bad input
def test_sixteen_sessions_per_volume(ccsite, cc):
    for _ in range(16):
        cc.start("SRC001", [(15, 20)])
    events = []
    with pytest.raises(CopyServiceError) as e:
        cc.start("SRC001", [(15, 20)], on_init_complete=events.append)
    assert e.value.msgid == "DLB360E"
    assert [(ev.rc, ev.session_id) for ev in events] == [(4, None)]
    assert events[0].message.startswith("DLB360E")
    cc.start("WRK001", [(15, 20)])  # another volume is fine


def test_sixty_four_sessions_per_lss(tmp_path):
    vols = tuple(f"VOL{i:03d}" for i in range(5))
    site = make_cc_site(tmp_path / "s", volumes=vols, cylinders=1)
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    for i in range(64):
        cc.start(vols[i // 16], [(1, 3)])
    with pytest.raises(CopyServiceError) as e:
        cc.start(vols[4], [(1, 3)])
    assert e.value.msgid == "DLB361E" and "64" in e.value.text
    first = cc.session("CC0001")
    first.end()
    cc.start(vols[4], [(1, 3)])  # an ended session frees its place
    site.close()


@pytest.mark.parametrize("args, kwargs, msgid", [
    (("SRC001", [(50, 70)]), {}, "DLB362E"),
    (("SRC001", [(20, 10)]), {}, "DLB362E"),
    (("SRC001", [(15, 25), (20, 30)]), {}, "DLB362E"),
    (("SRC001", []), {}, "DLB362E"),
    (("SRC001", [(15, 20)]), {"virtual": "always"}, "DLB362E"),
    (("TGT001", [(15, 20)]), {}, "DLB362E"),
    (("NOSUCH", [(15, 20)]), {}, "DLB304E"),
])
def test_bad_start_changes_nothing(ccsite, cc, args, kwargs, msgid):
    ccsite.add_volume("VMAX1", "TGT001", "3390-1", cylinders=CYL)
    before = view(ccsite.volume("SRC001"))
    events = []
    with pytest.raises(Exception) as e:
        cc.start(*args, on_init_complete=events.append, **kwargs)
    assert getattr(e.value, "msgid", None) == msgid
    assert events == [] and cc.query() == []
    assert np.array_equal(view(ccsite.volume("SRC001")), before)


def test_unknown_session(cc):
    with pytest.raises(CopyServiceError, match="DLB365E"):
        cc.session("CC0099")


def test_tables_are_well_formed():
    check_tables(CCState, CCSession.TRANSITIONS, CCSession.VERBS)


# ---------------------------------------------------------------------- virtual CC
@pytest.mark.parametrize("sub, mechanism", [("DS8K1", "flashcopy"), ("RVA1", "snapshot")])
def test_virtual_cc_reads_from_working_space(tmp_path, sub, mechanism):
    site = make_cc_site(tmp_path / "s", sub=sub)
    cc = site.subsystem(sub).service("concurrent_copy")
    src, wrk = site.volume("SRC001", writable=True), site.volume("WRK001")
    pit = view(src)
    events = []
    s = cc.start("SRC001", [(15, 45)], on_init_complete=events.append, virtual="prefer")
    assert events[0].rc == 0 and events[0].method == f"virtual-{mechanism}"
    work = s.query()["work_area"]
    prefix = "SNAP" if mechanism == "snapshot" else "FLSH"
    assert work["volser"] == "WRK001" and work["datasets"] == [f"SYS1.ANTMAIN.SDLAB.{prefix}0001"]
    assert f"SYS1.ANTMAIN.SDLAB.{prefix}0001" in wrk.vtoc
    assert s.intercept is None  # no cache sidefile: the flash or snap froze the domain
    for t in (20, 21, 44):
        src.write_track(t, pattern_track(src, t, 5))
    got = dump(s)
    assert all(np.array_equal(img, pit[t]) for t, img in got.items())
    q = s.query()
    assert q["tracks_read_work_area"] == 30 and q["intercepted_writes"] == 0
    assert s.state is CCState.COMPLETE
    site.volume("WRK001").invalidate_vtoc()
    assert f"SYS1.ANTMAIN.SDLAB.{prefix}0001" not in site.volume("WRK001").vtoc
    other = site.subsystem(sub).service(mechanism)
    assert other.query() == [] if mechanism == "snapshot" else other.relationships() == []
    site.close()


def test_virtual_without_working_space(tmp_path):
    site = make_cc_site(tmp_path / "s", volumes=("SRC001",))
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    events = []
    with pytest.raises(CopyServiceError) as e:
        cc.start("SRC001", None, on_init_complete=events.append, virtual="require")
    assert e.value.msgid == "DLB366E" and events[0].rc == 4
    s = cc.start("SRC001", None, virtual="prefer")  # falls back to cache CC
    assert s.method == "cache"
    site.close()


# ---------------------------------------------------------------------- other processes
CHILD = textwrap.dedent("""
    import os, sys
    from dasdlab.emulator.site import Site
    site = Site.open(sys.argv[1])
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    s = cc.start("SRC001", [(15, 40)])
    print(s.id, flush=True)
    if sys.argv[2] == "die":
        os._exit(0)
    sys.stdin.readline()
    s.end()
    print("ended", flush=True)
    sys.stdin.readline()
""")


def test_sessions_of_other_processes(tmp_path):
    from dasdlab.emulator.site import Site

    site = make_cc_site(tmp_path / "s")
    site.close()
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "s"), "die"], check=True,
                   capture_output=True, text=True)
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "s"), "wait"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "CC0002"
        site = Site.open(tmp_path / "s")
        src = site.volume("SRC001", writable=True)  # loads the service
        cc = site.subsystem("DS8K1").service("concurrent_copy")
        q = {r["id"]: r for r in cc.query()}
        assert q["CC0001"]["state"] == "FAILED" and q["CC0001"]["message"].startswith("DLB368E")
        assert q["CC0002"]["state"] == "ACTIVE" and q["CC0002"]["owner_pid"] == p.pid
        before = view(src)
        with pytest.raises(CopyServiceError) as e:
            src.write_track(20, pattern_track(src, 20, 2))
        assert e.value.msgid == "DLB367E"
        assert np.array_equal(view(src), before)
        src.write_track(45, pattern_track(src, 45, 2))  # outside its domain
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ended"
        src.write_track(20, pattern_track(src, 20, 2))  # the guard sees the session ended
        assert cc.purge() == ["CC0001", "CC0002"] and cc.query() == []
        site.close()
    finally:
        p.stdin.close()
        p.wait(timeout=20)


def test_closing_the_site_fails_active_sessions(tmp_path):
    from dasdlab.emulator.site import Site

    site = make_cc_site(tmp_path / "s")
    s = site.subsystem("DS8K1").service("concurrent_copy").start("SRC001", [(15, 20)])
    site.close()
    assert s.state is CCState.FAILED
    again = Site.open(tmp_path / "s")
    q = again.subsystem("DS8K1").service("concurrent_copy").query()
    assert q[0]["state"] == "FAILED" and "closed" in q[0]["message"]
    again.close()


def test_writer_dump_and_sdm_in_threads(tmp_path):
    import threading

    site = make_cc_site(tmp_path / "s", settings={"cc_drain_tracks_per_s": 500.0})
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    src = site.volume("SRC001", writable=True)
    pit = view(src)
    s = cc.start("SRC001", [(1, 60)])
    stop = threading.Event()

    def writer():
        rng = np.random.default_rng(3)
        seed = 10
        while not stop.is_set():
            t = int(rng.integers(1, 60))
            src.write_track(t, pattern_track(src, t, seed))
            seed += 1

    def sdm():
        now = 0.0
        while not stop.is_set():
            now += 0.01
            site.tick(now)

    threads = [threading.Thread(target=writer), threading.Thread(target=sdm)]
    for th in threads:
        th.start()
    try:
        got = dump(s)
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert sorted(got) == list(range(1, 60)) and s.state is CCState.COMPLETE
    assert all(np.array_equal(img, pit[t]) for t, img in got.items())
    site.close()
