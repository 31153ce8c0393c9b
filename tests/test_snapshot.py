"""SnapShot: pointer copies, redirect-on-write on either side, counters, life cycle,
bad input, persistence and the CLI.  The state machine against a numpy model is the
conformance kit's ``model[snapshot]`` (dasdlab/testing/models/snapshot.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dasdlab.cli.main import run
from dasdlab.emulator import trackfmt
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.services.lifecycle import check_tables
from dasdlab.emulator.services.snapshot import TRANSITIONS, VERBS, Snap, SnapState
from dasdlab.emulator.site import Site
from dasdlab.errors import DasdlabError

CYL = 4  # 60 tracks per test volume


def image(vol, t, fill, nrec=3):
    cyl, head = vol.cchh(t)
    return trackfmt.fixed_track(cyl, head, 0, 4096, nrec, np.full(nrec * 4096, fill, np.uint8), vol.slot, eof=True)


def new_site(path, vols=("RV0001", "RV0002"), slots=2000):
    s = Site.init(path)
    configure_pool(s, "RVA1", pool_slots=slots)
    for v in vols:
        s.add_volume("RVA1", v, "3390-3", cylinders=CYL)
    return s


@pytest.fixture
def site(tmp_path):
    s = new_site(tmp_path / "site")
    yield s
    s.close()


def data(vol, t) -> bytes:
    """Record data of a track (count fields differ between addresses, data must not)."""
    img = vol.read_track(t)
    return b"".join(bytes(img[r.data_offset:r.end]) for r in vol.records(t))


def test_volume_snap_copies_pointers_and_keeps_the_target_volser(site):
    a, b = site.volume("RV0001", writable=True), site.volume("RV0002", writable=True)
    for t in range(20, 30):
        a.write_track(t, image(a, t, t))
    pool = a.pool
    used = pool.stats()["slots_in_use"]
    svc = site.subsystem("RVA1").service("snapshot")
    rec = svc.snap("RV0001", "RV0002")
    assert rec["state"] == "COMPLETE" and rec["logical_complete"] == rec["physical_complete"]
    # pointers only: the target's own 15 label and VTOC tracks are freed, one new slot
    # holds its relabelled VOL1 track, everything else is shared
    assert pool.stats()["slots_in_use"] == used - 15 + 1
    assert all(a.slot_of(t) == b.slot_of(t) for t in range(1, a.ntracks))
    assert b.volser == "RV0002" and a.volser == "RV0001"
    assert rec["tracks_shared"] == a.written.count() - 1 and rec["tracks_unshared"] == 1


def test_updates_to_either_side_move_only_that_sides_pointer(site):
    a, b = site.volume("RV0001", writable=True), site.volume("RV0002", writable=True)
    a.write_track(20, image(a, 20, 1))
    a.write_track(21, image(a, 21, 2))
    svc = site.subsystem("RVA1").service("snapshot")
    sid = svc.snap("RV0001", "RV0002")["id"]
    shared20, shared21 = a.slot_of(20), a.slot_of(21)
    a.write_track(20, image(a, 20, 9))
    b.write_bytes(21, trackfmt.fixed_data_offset(0, 4096, 0), b"\x07")
    assert b.slot_of(20) == shared20 and a.slot_of(20) != shared20
    assert a.slot_of(21) == shared21 and b.slot_of(21) != shared21
    assert data(b, 20)[0] == 1 and data(a, 20)[0] == 9
    assert data(a, 21)[0] == 2 and data(b, 21)[0] == 7
    q = svc.query(sid)[0]
    assert q["tracks_unshared"] == 3  # track 0 (relabel), 20 and 21
    assert q["space_consumed_bytes"] > 0


def test_dataset_snap_lands_at_another_address_with_its_own_count_fields(site):
    a = site.volume("RV0001", writable=True)
    site.allocate("SRC.DATA", "RV0001", lrecl=4096, blksize=4096, primary=6)
    # a data set on the target first, so the snap cannot land at the source's address
    site.allocate("FILLER.DATA", "RV0002", lrecl=4096, blksize=4096, primary=5)
    d = Dataset(a, "SRC.DATA")
    d.format_blocks(40, fill=lambda f, n: np.full(n * 4096, f + 1, np.uint8))
    svc = site.subsystem("RVA1").service("snapshot")
    rec = svc.snap_dataset("SRC.DATA", "RV0002", "SNAP.DATA")
    b = site.volume("RV0002")
    src_t = d.entry.track_list(a.heads)[0][0]
    tgt_e = b.vtoc.get("SNAP.DATA")
    tgt_t = tgt_e.track_list(b.heads)[0][0]
    assert src_t != tgt_t
    assert a.slot_of(src_t) == b.slot_of(tgt_t)
    assert {(r.cyl, r.head) for r in b.records(tgt_t)} == {b.cchh(tgt_t)}
    assert Dataset(b, "SNAP.DATA").read() == d.read()
    assert tgt_e.f1.lstar == d.entry.f1.lstar
    assert site.catalog.lookup("SNAP.DATA") == "RV0002"
    assert rec["tracks_shared"] == 4 and rec["tracks_empty"] == 2  # 40 blocks: 4 of 6 tracks written


def test_snap_size_independence_is_pointer_work_only(tmp_path):
    s = new_site(tmp_path / "s", vols=("RV0001", "RV0002"), slots=400)
    svc = s.subsystem("RVA1").service("snapshot")
    before = s.subsystem("RVA1").pool.stats()["compacted_bytes"]
    svc.snap("RV0001", "RV0002")
    # a snap never copies images: only the relabelled track 0 takes space
    grown = s.subsystem("RVA1").pool.stats()["compacted_bytes"] - before
    assert grown <= s.volume("RV0001").slot
    s.close()


@pytest.mark.parametrize("args, msgid", [
    (("RV0001", "DSK001"), "DLB393E"),  # other subsystem
    (("RV0001", "RV0003"), "DLB393E"),  # not a like device (3380)
    (("RV0001", "RV0002", [(0, 5)], [(0, 6)]), "DLB394E"),
    (("RV0001", "RV0002", [(50, 70)], [(0, 20)]), "DLB394E"),
    (("RV0001", "RV0001", [(10, 15)], [(12, 17)]), "DLB394E"),
    (("RV0001", "RV0002", [(0, 5), (3, 8)], [(0, 10)]), "DLB394E"),
    (("RV0001", "RV0002", [(0, 5)], None), "DLB394E"),
])
def test_bad_snaps_are_refused_and_change_nothing(tmp_path, args, msgid):
    s = new_site(tmp_path / "s")
    s.add_volume("DS8K1", "DSK001", "3390-3", cylinders=CYL)
    s.add_volume("RVA1", "RV0003", "3380-K", cylinders=CYL)
    pool_dir = s.path / "state" / "RVA1" / "pool"
    s.volume("RV0001").flush()
    s.subsystem("RVA1").pool.flush()
    before = {p.name: p.read_bytes() for p in (pool_dir / "ftd").iterdir()}
    refs = (pool_dir / "refs.u32").read_bytes()
    svc = s.subsystem("RVA1").service("snapshot")
    with pytest.raises(DasdlabError) as e:
        svc.snap(*args)
    assert e.value.msgid == msgid
    assert {p.name: p.read_bytes() for p in (pool_dir / "ftd").iterdir()} == before
    assert (pool_dir / "refs.u32").read_bytes() == refs
    assert svc.query() == []
    s.close()


def test_lifecycle_tables_and_verbs():
    check_tables(SnapState, TRANSITIONS, VERBS)
    for state in SnapState:
        for verb, allowed in VERBS.items():
            snap = Snap("SN0001", "A", "B", None, "volume", None, 0.0, state)
            if state in allowed:
                snap.require(verb)
            else:
                with pytest.raises(DasdlabError) as e:
                    snap.require(verb)
                assert e.value.msgid == "DLB320E"


def test_release_and_unknown_snap(site):
    a = site.volume("RV0001", writable=True)
    a.write_track(20, image(a, 20, 1))
    svc = site.subsystem("RVA1").service("snapshot")
    sid = svc.snap("RV0001", "RV0002", [(20, 21)], [(30, 31)])["id"]
    svc.release(sid)
    assert svc.query() == []
    assert data(site.volume("RV0002"), 30) == data(a, 20)  # the target keeps its data
    with pytest.raises(DasdlabError) as e:
        svc.release(sid)
    assert e.value.msgid == "DLB395E"


def test_snaps_persist_and_a_pending_one_is_finished_on_restart(tmp_path):
    s = new_site(tmp_path / "s")
    a = s.volume("RV0001", writable=True)
    for t in range(20, 25):
        a.write_track(t, image(a, t, t))
    svc = s.subsystem("RVA1").service("snapshot")
    svc.snap("RV0001", "RV0002", [(20, 22)], [(40, 42)])
    # a snap whose process died after the record and one pointer: PENDING on disk
    from dasdlab.emulator.copier import TrackMap

    tm = TrackMap.from_runs([(22, 25)], [(50, 53)])
    rec = Snap("SN0002", "RV0001", "RV0002", tm, "tracks", None, 0.0, keep_volser=False).to_json()
    svc.store.put("SN0002", rec)
    b = s.volume("RV0002", writable=True)
    b.take_pointers(a, (22, 23), (50, 51))
    s.close()
    s2 = Site.open(tmp_path / "s")
    svc2 = s2.subsystem("RVA1").service("snapshot")
    recs = {r["id"]: r for r in svc2.query()}
    assert recs["SN0001"]["state"] == "COMPLETE" and recs["SN0001"]["tracks_shared"] == 2
    assert recs["SN0002"]["state"] == "COMPLETE" and "DLB396I" in recs["SN0002"]["message"]
    a2, b2 = s2.volume("RV0001"), s2.volume("RV0002")
    assert [data(b2, 50 + k) for k in range(3)] == [data(a2, 22 + k) for k in range(3)]
    s2.close()


def test_cli_snap_volume_dataset_query_pool(tmp_path):
    d = tmp_path / "site"
    s = new_site(d)
    s.allocate("CLI.DATA", "RV0001", lrecl=4096, blksize=4096, primary=3)
    s.close()
    assert run(["snap", "volume", "RV0001", "RV0002", "--site", str(d)]) == 0
    assert run(["snap", "dataset", "CLI.DATA", "--site", str(d), "--to-volser", "RV0002",
                "--new-name", "CLI.COPY"]) == 0
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(["snap", "query", "--site", str(d), "--json"]) == 0
    recs = json.loads(buf.getvalue())
    assert [r["id"] for r in recs] == ["SN0001", "SN0002"]
    for key in ("id", "source", "target", "state", "tracks_total", "tracks_shared", "tracks_unshared"):
        assert key in recs[0]
    assert recs[1]["kind"] == "tracks" and recs[1]["dsn"] == "CLI.DATA"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(["snap", "pool", "--site", str(d), "--json"]) == 0
    assert json.loads(buf.getvalue())["shared_slots"] > 0
    assert run(["snap", "query", "--site", str(d), "SN0099"]) == 8
    assert run(["snap", "export", "RV0002", str(tmp_path / "x.ckd"), "--site", str(d)]) == 0
    assert run(["volume", "ls", str(tmp_path / "x.ckd")]) == 0
