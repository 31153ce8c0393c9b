"""The teaching view marks uncommitted tracks (issue 11 item 9): a track of an IMS
database that holds, on DASD or in a concurrent image copy, bytes of a unit of work
still in flight is drawn ``U`` -- checked against the live system's own unit of work
in flight (its buffers' changes, not the log the maps read) and the committed truth,
through commit, a further unit of work and a backout at emergency restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dasdlab.engine import database
from dasdlab.engine.bufferpool import read_dasd
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse
from dasdlab.engine.icverify import read_copy
from dasdlab.engine.recon import Recon
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.truth import Truth
from dasdlab.engine.workload import Workload, WorkloadSpec
from dasdlab.teach.trackmap import (
    LEGEND, TrackState as T, image_copy_map, maps_text, relationship_maps, uncommitted_tracks,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILE = get_profile("ds8000-ficon16").scaled(1000)
NAME, DDN = "HDAMDB01", "HDAMDD01"


def _site(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "DSA001", "3390-1")
    site.add_volume("DS8K1", "DSA002", "3390-1")
    site.add_volume("DS8K1", "FCT001", "3390-1")  # a FlashCopy target; copies go elsewhere
    database.define(site, ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")
    database.load(site, NAME, 2**20, seed=1, volser="DSA001")
    return site


def _dataset(site, ddn=DDN):
    return database.ImsDatabase.open(site, NAME).ddn(ddn).dataset(writable=False)


def _step_until_in_flight(wl):
    for _ in range(50):
        wl.step()
        if wl.odb.inflight is not None and (wl.odb.inflight["group"] == 0).any():
            return
    raise AssertionError("no unit of work in flight")


def _expected_tracks(site, odb, content, ddn=DDN) -> np.ndarray:
    """Tracks of ``ddn`` whose ``content`` shows a change of the unit in flight (as the
    live system holds it) that the committed truth lacks."""
    fl = odb.inflight
    if fl is None:
        return np.zeros(0, np.int64)
    truth = Truth(site.path, NAME)
    m = fl["group"] == truth.group_index(ddn)
    committed = truth.content_at(ddn)
    hit = set()
    for b, o, a in zip(fl["block"][m], fl["offset"][m], fl["after"][m]):
        w = a.size
        if np.array_equal(content[b, o:o + w], a) and not np.array_equal(committed[b, o:o + w], a):
            hit.add(int(b))
    if not hit:
        return np.zeros(0, np.int64)
    return np.unique(_dataset(site, ddn).locate_many(np.array(sorted(hit), np.int64))[0])


def _on_dasd(site, ddn=DDN):
    return read_dasd(_dataset(site, ddn), np.arange(database.ImsDatabase.open(site, NAME).ddn(ddn).nblocks))


def _expected_on_volume(site, odb) -> np.ndarray:
    """Every data set of the database (all on DSA001)."""
    ddns = [d.ddn for d in database.ImsDatabase.open(site, NAME).dbds]
    return np.unique(np.concatenate([_expected_tracks(site, odb, _on_dasd(site, d), d) for d in ddns]))


def _marked(states) -> np.ndarray:
    return np.flatnonzero(states == T.IN_FLIGHT)


def test_fuzzy_copy_with_a_unit_in_flight_shows_u_exactly_where_uncommitted_bytes_are(tmp_path):
    site = _site(tmp_path)
    system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    system.start()
    try:
        wl = Workload(system, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=7, skew="zipf", zipf_s=0.8,
                                                 uow_calls=8))
        for _ in range(5):
            wl.step()
        _step_until_in_flight(wl)
        before_ckpt = _expected_on_volume(site, wl.odb)
        assert np.array_equal(uncommitted_tracks(site).get("DSA001", np.zeros(0, np.int64)), before_ckpt)
        system.checkpoint()  # every dirty buffer is written: the unit's changes reach DASD uncommitted
        want = _expected_on_volume(site, wl.odb)
        assert want.size and set(before_ckpt.tolist()) <= set(want.tolist())
        assert np.array_equal(uncommitted_tracks(site)["DSA001"], want)

        (rep,) = ImageCopyEngine(site, system, PROFILE).run(parse(f"  CIC      DBD={NAME},DDN={DDN},ICOUT=*\n"))
        assert rep.outputs[0]["volser"] != "FCT001"
        m = image_copy_map(site, rep)
        copy = read_copy(site, rep.outputs[0]["dsn"], rep.outputs[0]["format"], rep.blocks)
        in_copy = _expected_tracks(site, wl.odb, copy)
        assert in_copy.size and np.array_equal(_marked(m.target.states), in_copy)
        assert np.array_equal(_marked(m.source.states), _expected_tracks(site, wl.odb, _on_dasd(site)))
        assert m.counters["uncommitted_tracks_in_copy"] == in_copy.size
        # the rest of the data set is drawn copied, nothing outside it
        trk = np.unique(_dataset(site).locate_many(np.arange(rep.blocks, dtype=np.int64))[0])
        assert set(np.flatnonzero(m.target.states != T.OUTSIDE)) == set(trk.tolist())
        text = maps_text([m], width=220)
        assert "U" in text and LEGEND[T.IN_FLIGHT][0] in text

        # a FlashCopy of the database volume: the source side is marked where DASD holds the unit's data
        fc = site.subsystem("DS8K1").service("flashcopy")
        fc.establish("DSA001", "FCT001", mode="NOCOPY")
        (fm,) = relationship_maps(site, "flashcopy")
        assert np.array_equal(_marked(fm.source.states), _expected_on_volume(site, wl.odb))
        assert not _marked(fm.target.states).size

        # the unit commits and the next one runs: the marks follow the unit in flight now
        first = int(wl.odb.inflight["seq"][0])
        for _ in range(50):
            wl.step()
            if wl.odb.inflight is None or int(wl.odb.inflight["seq"][0]) > first:
                break
        system.checkpoint()
        got = uncommitted_tracks(site).get("DSA001", np.zeros(0, np.int64))
        assert got.size and np.array_equal(got, _expected_on_volume(site, wl.odb))
        m2 = image_copy_map(site, rep)  # the old copy holds data of a unit now committed: no longer marked
        assert np.array_equal(_marked(m2.target.states), _expected_tracks(site, wl.odb, copy))
    finally:
        system.shutdown()  # the unit in flight reaches its sync point: nothing is uncommitted
    assert uncommitted_tracks(site) == {}
    assert not _marked(image_copy_map(site, rep).target.states).size


def test_a_unit_backed_out_at_restart_leaves_no_uncommitted_tracks(tmp_path):
    site = _site(tmp_path)
    dead = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    dead.start()
    wl = Workload(dead, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=9, uow_calls=16))
    for _ in range(4):
        wl.step()
    _step_until_in_flight(wl)
    dead.checkpoint()
    want = _expected_on_volume(site, wl.odb)
    assert want.size
    dead.crash()
    # after the failure the log still ends in the unit's changes: DASD holds them, uncommitted
    assert np.array_equal(uncommitted_tracks(site)["DSA001"], want)
    recon = Recon.of_site(site.path)
    recon._db.execute("UPDATE logs SET pid=? WHERE status='OPEN'", (2**22 + 4321,))  # a pid no process has
    recon._db.execute("UPDATE auth SET pid=?", (2**22 + 4321,))
    recon.close()
    system = ImsSystem(site)
    system.start()  # emergency restart backs the unit out
    try:
        assert uncommitted_tracks(site) == {}
    finally:
        system.shutdown()


def test_a_site_without_units_of_work_has_no_uncommitted_tracks(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "bare")
    assert uncommitted_tracks(site) == {}
    assert not (tmp_path / "bare" / "ims" / "recon.db").exists()  # asking made no RECON
    site = _site(tmp_path)
    system = ImsSystem(site, buffers=48, dirty_limit=0.7, checkpoint_interval=3600.0)
    system.start()
    try:
        wl = Workload(system, NAME, WorkloadSpec(rate=2500, duration=1e9, seed=3))  # one call a unit
        for _ in range(3):
            wl.step()
        system.checkpoint()
        assert uncommitted_tracks(site) == {}
    finally:
        system.shutdown()
