"""TimeFinder/Clone semantics (docs/domain.md §2.4): create with a Not Ready target,
activate, CopyOnAccess, COPY in modeled time, PRECOPY, DIFFERENTIAL recreate and
restore, terminate, limits and bad input, the state x verb table, persistence."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dasdlab.emulator.services.lifecycle import check_tables
from dasdlab.emulator.services.timefinder import CloneSession, CloneState
from dasdlab.errors import CopyServiceError
from tests.copy.conftest import own, pattern_track, records, view

S = CloneState
CYL = 4  # 60 tracks per volume


def make_vmax(path, volumes=("SRC001", "TGT001", "TGT002"), cylinders=CYL, settings=None):
    from dasdlab.emulator.site import Site

    site = Site.init(path)
    if settings:
        site.config["subsystems"]["VMAX1"]["settings"].update(settings)
        site._write_config(site.config)
        site = Site.open(path)
    for v in volumes:
        site.add_volume("VMAX1", v, "3390-1", cylinders=cylinders)
    src = site.volume(volumes[0], writable=True)
    for t in range(15, 40):
        src.write_track(t, pattern_track(src, t, 1))
    return site


@pytest.fixture
def tfsite(tmp_path):
    site = make_vmax(tmp_path / "site")
    yield site
    site.close()


@pytest.fixture
def tf(tfsite):
    return tfsite.subsystem("VMAX1").service("timefinder")


def files_digest(site) -> str:
    """A digest of every volume image and every state file: "nothing changed"."""
    h = hashlib.sha256()
    for sub in site.subsystems():
        for v in sub.volsers():
            vol = sub.opened(v)
            if vol is not None:
                vol.flush()
    for p in sorted(site.path.rglob("*")):
        if p.is_file() and p.suffix not in (".lock",) and not p.name.startswith(".TF"):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------- create / Not Ready
def test_created_target_is_not_ready_and_unchanged(tfsite, tf):
    tgt = tfsite.volume("TGT001", writable=True)
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    assert s.state is S.CREATED
    before = files_digest(tfsite)
    with pytest.raises(CopyServiceError) as e:
        tgt.read_track(20)
    assert e.value.msgid == "DLB370E" and "Not Ready" in e.value.text
    with pytest.raises(CopyServiceError) as e:
        tgt.write_track(20, pattern_track(tgt, 20, 9))
    assert e.value.msgid == "DLB370E"
    with pytest.raises(CopyServiceError):
        tgt.write_bytes(0, 30, b"x")
    assert files_digest(tfsite) == before
    q = s.query()
    assert q["tracks_copied"] == 0 and q["cow_count"] == 0 and q["state"] == "CREATED"


def test_dataset_level_target_is_not_ready_only_on_its_runs(tfsite, tf):
    tgt = tfsite.volume("TGT001", writable=True)
    tf.create("SRC001", "TGT001", src_runs=[(15, 30)], dst_runs=[(40, 55)], mode="COPY")
    tgt.write_track(20, pattern_track(tgt, 20, 5))  # outside the target runs
    assert records(tgt.read_track(20)) == records(pattern_track(tgt, 20, 5))
    with pytest.raises(CopyServiceError, match="DLB370E"):
        tgt.read_track(40)


def test_source_writes_before_activation_are_not_frozen(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001")
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    src.write_track(20, pattern_track(src, 20, 2))
    at_activation = view(src)
    tf.activate(s.id)
    src.write_track(21, pattern_track(src, 21, 3))
    assert np.array_equal(view(tgt), at_activation)


# ---------------------------------------------------------------------- CopyOnAccess
def test_copy_on_access_counts_each_kind_and_keeps_the_point_in_time(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    pit = view(src)
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    tf.activate(s.id)
    assert s.state is S.COPY_ON_ACCESS
    src.write_track(20, pattern_track(src, 20, 2))  # source write: copied first
    src.write_track(20, pattern_track(src, 20, 3))  # later write: nothing to copy
    src.write_bytes(21, 100, b"\xAB" * 40)          # partial source write
    assert np.array_equal(np.asarray(tgt.own_track(20)), pit[20])   # on the target itself now
    assert np.array_equal(np.asarray(tgt.read_track(25)), pit[25])  # target read copies
    assert tgt.written.test(25)
    tgt.write_track(30, pattern_track(tgt, 30, 6))                  # target write: copy, then write
    q = s.query()
    assert q["copied_on_access"] == {"source_write": 2, "source_read": 0, "target_read": 1,
                                     "target_write": 1}
    assert q["cow_count"] == 4 and q["tracks_copied"] == 4 and q["copied_background"] == 0
    # a partial target write keeps the rest of the point-in-time track (the volume first
    # checks that the track is formatted, which reads it: counted as a target read)
    tgt.write_bytes(31, 100, b"\xCD" * 8)
    img = np.asarray(tgt.read_track(31))
    assert (img[100:108] == 0xCD).all() and np.array_equal(img[:100], pit[31][:100])
    assert np.array_equal(img[108:], pit[31][108:])
    expect = pit.copy()
    expect[30] = pattern_track(tgt, 30, 6)
    expect[31] = img
    assert np.array_equal(view(tgt), expect)  # reading everything copies the rest
    assert s.state is S.COPIED and s.query()["tracks_copied"] == src.ntracks
    assert tfsite.subsystem("VMAX1").intercepts("SRC001") == []  # nothing left to protect


def test_never_written_source_tracks_stay_unformatted_on_the_target(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    tgt.write_track(50, pattern_track(tgt, 50, 7))  # stale data where the source has none
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    tf.activate(s.id)
    assert not np.asarray(tgt.read_track(50)).any()  # the read copies the "no track"
    assert not tgt.is_written(50) and not tgt.written.test(50)
    src.write_track(51, pattern_track(src, 51, 2))
    assert not tgt.is_written(51)


# ---------------------------------------------------------------------- COPY in modeled time
def test_copy_mode_background_rate_and_time_to_copied(tmp_path):
    site = make_vmax(tmp_path / "s", settings={"clone_background_tracks_per_s": 10.0})
    tf = site.subsystem("VMAX1").service("timefinder")
    src, tgt = site.volume("SRC001", writable=True), site.volume("TGT001")
    pit = view(src)
    s = tf.create("SRC001", "TGT001", mode="COPY")
    site.tick(1.0)  # before activation nothing moves
    assert s.query()["tracks_copied"] == 0
    tf.activate(s.id)
    site.tick(3.0)
    assert s.query()["tracks_copied"] == 20 and s.state is S.COPY_IN_PROG
    src.write_track(55, pattern_track(src, 55, 4))  # copy-on-write still protects the rest
    site.tick(3.25)
    assert s.query()["copied_background"] == 22
    site.tick(10.0)
    q = s.query()
    assert s.state is S.COPIED and q["copied_background"] + q["cow_count"] == 60
    assert q["time_to_copied"] == pytest.approx(59 / 10.0)
    assert np.array_equal(own(tgt), pit)
    site.close()


def test_only_clone_copying_sessions_copy_at_once(tmp_path):
    site = make_vmax(tmp_path / "s", settings={"clone_background_tracks_per_s": 10.0,
                                               "clone_copying_sessions": 1})
    tf = site.subsystem("VMAX1").service("timefinder")
    a = tf.create("SRC001", "TGT001", mode="COPY")
    b = tf.create("SRC001", "TGT002", mode="COPY")
    tf.activate([a.id, b.id])
    site.tick(2.0)
    assert (a.query()["tracks_copied"], b.query()["tracks_copied"]) == (20, 0)
    site.tick(6.0)  # a finished at 5.9 s; b starts only at the next tick
    assert a.state is S.COPIED and b.query()["tracks_copied"] == 0
    site.tick(7.0)
    assert b.query()["tracks_copied"] == 10
    site.close()


def test_drain_finishes_and_reports_progress(tfsite, tf):
    src, tgt = tfsite.volume("SRC001"), tfsite.volume("TGT001")
    s = tf.create("SRC001", "TGT001", mode="COPY")
    tf.activate(s.id)
    calls = []
    tf.drain(s.id, progress=lambda d, t: calls.append((d, t)))
    assert s.state is S.COPIED and calls[-1] == (60, 60)
    assert np.array_equal(own(tgt), view(src))


def test_consistent_activate_is_one_instant(tfsite, tf):
    src = tfsite.volume("SRC001", writable=True)
    a = tf.create("SRC001", "TGT001", src_runs=[(15, 30)], mode="NOCOPY")
    b = tf.create("SRC001", "TGT002", src_runs=[(30, 45)], mode="NOCOPY")
    tfsite.clock.advance(2.5)
    tf.activate([a.id, b.id])
    assert a.query()["activated_at"] == b.query()["activated_at"] == 2.5
    src.write_track(20, pattern_track(src, 20, 3))
    assert a.query()["cow_count"] == 1 and b.query()["cow_count"] == 0


# ---------------------------------------------------------------------- PRECOPY
def test_precopy_copies_before_activation_and_tracks_changes(tmp_path):
    site = make_vmax(tmp_path / "s", settings={"clone_background_tracks_per_s": 10.0})
    tf = site.subsystem("VMAX1").service("timefinder")
    src, tgt = site.volume("SRC001", writable=True), site.volume("TGT001")
    s = tf.create("SRC001", "TGT001", mode="PRECOPY")
    assert s.state is S.PRECOPY
    site.tick(3.0)  # 30 tracks precopied, target still Not Ready
    assert s.query()["tracks_copied"] == 30
    with pytest.raises(CopyServiceError, match="DLB370E"):
        tgt.read_track(16)
    src.write_track(16, pattern_track(src, 16, 5))  # already precopied: marked again
    src.write_track(50, pattern_track(src, 50, 5))  # not yet copied: stays marked
    tf.drain(s.id)                                  # precopy everything now
    assert s.state is S.PRECOPY and s.query()["tracks_pending"] == 0
    src.write_track(17, pattern_track(src, 17, 6))
    src.write_track(18, pattern_track(src, 18, 6))
    pit = view(src)
    tf.activate(s.id)
    assert s.state is S.COPY_IN_PROG and s.query()["tracks_pending"] == 2  # only the changes
    site.tick(10.0)
    assert s.state is S.COPIED
    assert np.array_equal(view(tgt), pit)
    site.close()


# ---------------------------------------------------------------------- DIFFERENTIAL
def _copied_differential(tf, tfsite, mode="COPY"):
    s = tf.create("SRC001", "TGT001", mode=mode, differential=True)
    tf.activate(s.id)
    tf.drain(s.id)
    assert s.state is S.COPIED
    return s


def test_differential_recreate_copies_only_changed_tracks(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    s = _copied_differential(tf, tfsite)
    for t in (16, 17, 45):
        src.write_track(t, pattern_track(src, t, 7))
    tgt.write_track(17, pattern_track(tgt, 17, 8))
    tgt.write_track(33, pattern_track(tgt, 33, 8))
    assert s.query()["changed_src"] == 3 and s.query()["changed_tgt"] == 2
    tf.recreate(s.id)
    assert s.state is S.CREATED and s.query()["tracks_pending"] == 4
    with pytest.raises(CopyServiceError, match="DLB370E"):
        tgt.read_track(16)
    src.write_track(20, pattern_track(src, 20, 9))  # between recreate and activate
    pit = view(src)
    tf.activate(s.id)
    tf.drain(s.id)
    assert s.query()["copied_background"] == 5
    assert np.array_equal(own(tgt), pit)


def test_recreate_without_differential_copies_everything(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001")
    s = tf.create("SRC001", "TGT001", mode="COPY")
    tf.activate(s.id)
    tf.drain(s.id)
    src.write_track(16, pattern_track(src, 16, 7))
    tf.recreate(s.id)
    tf.activate(s.id)
    tf.drain(s.id)
    assert s.query()["copied_background"] == 60
    assert np.array_equal(own(tgt), view(src))


def test_restore_needs_differential(tfsite, tf):
    s = tf.create("SRC001", "TGT001", mode="COPY")
    tf.activate(s.id)
    tf.drain(s.id)
    before = files_digest(tfsite)
    with pytest.raises(CopyServiceError) as e:
        tf.restore(s.id)
    assert e.value.msgid == "DLB374E"
    assert files_digest(tfsite) == before and s.state is S.COPIED


def test_restore_copies_only_changed_tracks_back(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    s = _copied_differential(tf, tfsite)
    tgt.write_track(22, pattern_track(tgt, 22, 4))   # the target is the good copy to restore
    src.write_track(23, pattern_track(src, 23, 5))   # a bad source change to undo
    src.write_track(46, pattern_track(src, 46, 5))   # a never-written track to unformat again
    want = view(tgt)
    tf.restore(s.id)
    assert s.state is S.RESTORE_IN_PROG and s.query()["tracks_pending"] == 3
    assert np.array_equal(np.asarray(src.read_track(22)), want[22])   # source read copies back
    tgt.write_track(23, pattern_track(tgt, 23, 6))                    # target write: copy first
    assert s.query()["copied_on_access"]["source_read"] == 1
    assert s.query()["copied_on_access"]["target_write"] == 1
    tf.drain(s.id)
    assert s.state is S.RESTORED and s.query()["copied_background"] == 1
    assert np.array_equal(view(src), want)
    assert not src.written.test(46)
    # the target's change after the restore is the one difference a recreate sends
    tf.recreate(s.id)
    assert s.query()["tracks_pending"] == 1
    tf.activate(s.id)
    tf.drain(s.id)
    assert np.array_equal(view(tgt), view(src))


def test_restore_in_progress_protects_the_restored_image(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    s = _copied_differential(tf, tfsite)
    for t in (20, 21, 22):
        tgt.write_track(t, pattern_track(tgt, t, 4))
    want = view(tgt)
    tf.restore(s.id)
    src.write_bytes(21, 200, b"\x11" * 4)  # partial write on a not-yet-restored track
    img = np.asarray(src.read_track(21))
    assert np.array_equal(img[:200], want[21][:200]) and (img[200:204] == 0x11).all()
    with pytest.raises(CopyServiceError, match="DLB377E"):
        tf.terminate(s.id)
    tf.terminate(s.id, force=True)
    assert tf.query() == []


# ---------------------------------------------------------------------- data-set level
def test_dataset_level_clone_relocates_tracks(tfsite, tf):
    src, tgt = tfsite.volume("SRC001", writable=True), tfsite.volume("TGT001", writable=True)
    s = tf.create("SRC001", "TGT001", src_runs=[(15, 25), (30, 35)], dst_runs=[(40, 55)], mode="NOCOPY")
    tf.activate(s.id)
    want = [records(src.read_track(t)) for t in [*range(15, 25), *range(30, 35)]]
    src.write_track(16, pattern_track(src, 16, 9))
    got = [records(tgt.read_track(t)) for t in range(40, 55)]
    assert got == want
    img = np.asarray(tgt.read_track(41))
    assert bytes(img[1:5]) == bytes([0, 2, 0, 11])  # HA says cylinder 2 head 11
    assert s.state is S.COPIED


# ---------------------------------------------------------------------- terminate
def test_terminate_forgets_the_session_and_frees_the_target(tfsite, tf):
    tgt = tfsite.volume("TGT001", writable=True)
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    tf.activate(s.id)
    with pytest.raises(CopyServiceError, match="DLB377E"):
        tf.terminate(s.id)
    tf.drain(s.id)
    tf.terminate(s.id)
    assert s.state is S.TERMINATED and tf.query() == []
    assert list(tf.store.dir.glob("TF0001*")) == []
    tgt.write_track(20, pattern_track(tgt, 20, 3))
    assert tfsite.subsystem("VMAX1").intercepts("TGT001") == []
    with pytest.raises(CopyServiceError, match="DLB376E"):
        tf.activate(s.id)


# ---------------------------------------------------------------------- the tables
def _in_state(path, state: CloneState):
    """(site, service, session) with a real session brought to ``state`` by the verbs
    (INVALID: by damaging its state between two processes)."""
    from dasdlab.emulator.site import Site

    site = make_vmax(path)
    tf = site.subsystem("VMAX1").service("timefinder")
    src = site.volume("SRC001", writable=True)
    mode = {S.CREATED: "NOCOPY", S.PRECOPY: "PRECOPY", S.COPY_ON_ACCESS: "NOCOPY"}.get(state, "COPY")
    s = tf.create("SRC001", "TGT001", mode=mode, differential=mode != "NOCOPY")
    if state in (S.CREATED, S.PRECOPY):
        return site, tf, s
    tf.activate(s.id)
    if state in (S.COPY_ON_ACCESS, S.COPY_IN_PROG):
        return site, tf, s
    tf.drain(s.id)
    if state is S.COPIED:
        return site, tf, s
    if state is S.INVALID:
        site.close()
        (path / "state/VMAX1/timefinder" / f"{s.id}.pending.bm").unlink()
        site = Site.open(path)
        tf = site.subsystem("VMAX1").service("timefinder")
        return site, tf, tf.session(s.id)
    src.write_track(20, pattern_track(src, 20, 5))
    tf.restore(s.id)
    if state is S.RESTORE_IN_PROG:
        return site, tf, s
    tf.drain(s.id)
    assert state is S.RESTORED
    return site, tf, s


VERB_CALLS = {
    "activate": lambda tf, sid: tf.activate(sid),
    "recreate": lambda tf, sid: tf.recreate(sid),
    "restore": lambda tf, sid: tf.restore(sid),
    "drain": lambda tf, sid: tf.drain(sid),
    "terminate": lambda tf, sid: tf.terminate(sid, force=True),
    "query": lambda tf, sid: tf.session(sid).query(),
}


def test_tables_are_well_formed():
    check_tables(CloneState, CloneSession.TRANSITIONS, CloneSession.VERBS)
    assert set(VERB_CALLS) == set(CloneSession.VERBS)


@pytest.mark.parametrize("state", [s for s in CloneState if s is not S.TERMINATED], ids=lambda s: s.name)
def test_state_by_verb(tmp_path, state):
    """Every verb in every state: legal verbs run, the others are refused with DLB320E
    and change no file."""
    for verb, call in VERB_CALLS.items():
        site, tf, s = _in_state(tmp_path / f"{state.name}-{verb}", state)
        assert s.state is state
        if state in CloneSession.VERBS[verb]:
            call(tf, s.id)
        else:
            before = files_digest(site)
            with pytest.raises(CopyServiceError) as e:
                call(tf, s.id)
            assert e.value.msgid == "DLB320E", (verb, state, e.value)
            assert s.state is state and files_digest(site) == before
        site.close()


# ---------------------------------------------------------------------- limits, bad input
def test_sixteen_targets_per_source(tfsite, tf):
    for i in range(16):
        tf.create("SRC001", "TGT001", src_runs=[(15, 18)], dst_runs=[(i * 3 + 1, i * 3 + 4)], mode="NOCOPY")
    before = files_digest(tfsite)
    with pytest.raises(CopyServiceError) as e:
        tf.create("SRC001", "TGT002", src_runs=[(15, 18)], mode="NOCOPY")
    assert e.value.msgid == "DLB371E" and "16" in e.value.text
    assert files_digest(tfsite) == before


@pytest.mark.parametrize("kwargs, msgid", [
    (dict(mode="SNAP"), "DLB380E"),
    (dict(mode="NOCOPY", differential=True), "DLB375E"),
    (dict(src_runs=[(15, 20)], dst_runs=[(15, 21)]), "DLB372E"),
    (dict(src_runs=[(50, 70)]), "DLB372E"),
    (dict(src_runs=[(20, 15)]), "DLB372E"),
    (dict(src_runs=[(15, 20), (18, 25)]), "DLB372E"),
    (dict(src_runs=[]), "DLB372E"),
    (dict(src_runs=["ab"]), "DLB372E"),
    (dict(tgt="SRC001", src_runs=[(15, 20)], dst_runs=[(18, 23)]), "DLB372E"),
    (dict(tgt="DSK001"), "DLB379E"),
    (dict(tgt="BIG001"), "DLB379E"),
    (dict(tgt="NOSUCH"), "DLB304E"),
    (dict(tgt="SMALL1"), "DLB372E"),
])
def test_bad_create_changes_nothing(tfsite, tf, kwargs, msgid):
    tfsite.add_volume("DS8K1", "DSK001", "3390-1", cylinders=CYL)
    tfsite.add_volume("VMAX1", "BIG001", "3380-1", cylinders=CYL)
    tfsite.add_volume("VMAX1", "SMALL1", "3390-1", cylinders=CYL - 1)
    tgt = kwargs.pop("tgt", "TGT001")
    before = files_digest(tfsite)
    with pytest.raises(Exception) as e:
        tf.create("SRC001", tgt, **kwargs)
    assert getattr(e.value, "msgid", None) == msgid, e.value
    assert files_digest(tfsite) == before and tf.query() == []


def test_target_tracks_belong_to_one_session_and_no_cascading(tfsite, tf):
    tf.create("SRC001", "TGT001", src_runs=[(15, 25)], dst_runs=[(20, 30)], mode="NOCOPY")
    before = files_digest(tfsite)
    for args in [("SRC001", "TGT001", [(15, 20)], [(25, 30)]),   # target tracks taken
                 ("TGT001", "TGT002", [(22, 27)], None),         # a target as source
                 ("TGT002", "SRC001", [(15, 20)], [(18, 23)])]:  # a source as target
        with pytest.raises(CopyServiceError) as e:
            tf.create(*args[:2], src_runs=args[2], dst_runs=args[3], mode="NOCOPY")
        assert e.value.msgid == "DLB373E"
    assert files_digest(tfsite) == before
    tf.create("TGT001", "TGT002", src_runs=[(40, 45)], mode="NOCOPY")  # other tracks are free


def test_unknown_session(tf):
    with pytest.raises(CopyServiceError, match="DLB376E"):
        tf.drain("TF0042")


# ---------------------------------------------------------------------- persistence
def test_a_second_site_instance_sees_and_enforces_the_session(tmp_path):
    from dasdlab.emulator.site import Site

    site = make_vmax(tmp_path / "s")
    tf = site.subsystem("VMAX1").service("timefinder")
    pit = view(site.volume("SRC001"))
    s = tf.create("SRC001", "TGT001", mode="NOCOPY")
    tf.activate(s.id)
    site.volume("SRC001", writable=True).write_track(20, pattern_track(site.volume("SRC001"), 20, 2))
    site.close()

    again = Site.open(tmp_path / "s")
    src = again.volume("SRC001", writable=True)  # loads the service: intercepts first
    src.write_track(21, pattern_track(src, 21, 2))
    tf2 = again.subsystem("VMAX1").service("timefinder")
    q = tf2.session(s.id).query()
    assert q["state"] == "COPY-ON-ACCESS" and q["tracks_copied"] == 2
    assert np.array_equal(view(again.volume("TGT001")), pit)
    again.close()


def test_damaged_state_marks_the_session_invalid(tmp_path):
    from dasdlab.emulator.site import Site

    site = make_vmax(tmp_path / "s")
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("SRC001", "TGT001", mode="COPY")
    tf.activate(s.id)
    site.close()
    (tmp_path / "s/state/VMAX1/timefinder/TF0001.pending.bm").write_bytes(b"\0" * 3)
    again = Site.open(tmp_path / "s")
    tgt = again.volume("TGT001")
    tf2 = again.subsystem("VMAX1").service("timefinder")
    q = tf2.session("TF0001").query()
    assert q["state"] == "INVALID" and "pending bitmap" in q["message"]
    with pytest.raises(CopyServiceError, match="DLB378E"):
        tgt.read_track(20)
    tf2.terminate("TF0001")
    assert np.asarray(tgt.read_track(0)).any()
    again.close()


def test_interrupted_recreate_is_finished_by_the_next_process(tmp_path):
    """The intent is written first; a process killed after it redoes the bitmap steps."""
    from dasdlab.emulator.site import Site

    site = make_vmax(tmp_path / "s")
    tf = site.subsystem("VMAX1").service("timefinder")
    src = site.volume("SRC001", writable=True)
    s = tf.create("SRC001", "TGT001", mode="COPY", differential=True)
    tf.activate(s.id)
    tf.drain(s.id)
    src.write_track(16, pattern_track(src, 16, 3))
    s.op = "recreate"  # as if killed right after recreate saved its intent
    tf._save(s)
    site.close()
    again = Site.open(tmp_path / "s")
    tf2 = again.subsystem("VMAX1").service("timefinder")
    s2 = tf2.session(s.id)
    assert s2.state is S.CREATED and s2.op is None and s2.query()["tracks_pending"] == 1
    tf2.activate(s2.id)
    tf2.drain(s2.id)
    assert np.array_equal(own(again.volume("TGT001")), view(again.volume("SRC001")))
    again.close()


def test_host_writer_and_background_copy_in_threads(tmp_path):
    import threading

    site = make_vmax(tmp_path / "s", settings={"clone_background_tracks_per_s": 200.0})
    tf = site.subsystem("VMAX1").service("timefinder")
    src, tgt = site.volume("SRC001", writable=True), site.volume("TGT001", writable=True)
    pit = view(src)
    s = tf.create("SRC001", "TGT001", mode="COPY")
    tf.activate(s.id)
    stop = threading.Event()

    def writer():
        rng = np.random.default_rng(5)
        seed = 10
        while not stop.is_set():
            t = int(rng.integers(1, 60))
            src.write_track(t, pattern_track(src, t, seed))
            tgt.read_track(int(rng.integers(0, 60)))
            seed += 1

    th = threading.Thread(target=writer)
    th.start()
    try:
        for i in range(1, 40):
            site.tick(i * 0.01)
    finally:
        stop.set()
        th.join()
    tf.drain(s.id)
    assert s.state is S.COPIED and np.array_equal(own(tgt), pit)
    site.close()
