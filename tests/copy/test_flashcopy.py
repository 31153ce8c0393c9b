"""FlashCopy semantics (docs/domain.md §2.2): copy-on-write, target read redirection, target
writes, COPY/NOCOPY, withdraw and DDSW, incremental refresh and reverse restore,
space-efficient targets, consistency groups, events and persistence."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.services.flashcopy import RelState, WritesHeld, dataset_runs
from dasdlab.errors import CopyServiceError
from tests.copy.conftest import own, pattern_track, records, view


def test_target_reads_as_source_at_establish(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    assert rel.state is RelState.NOCOPY
    assert np.array_equal(view(tgt), before)
    q = rel.query()
    assert q["tracks_total"] == src.ntracks and q["tracks_copied"] == 0 and q["cow_count"] == 0
    assert q["target_reads_redirected"] > 0


def test_copy_on_write_keeps_the_point_in_time(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    src.write_track(20, pattern_track(src, 20, 2))           # full overwrite
    src.write_bytes(21, 100, b"\xAB" * 50)                    # partial overwrite
    src.write_track(45, pattern_track(src, 45, 2))           # never-written track formatted
    src.write_track(20, pattern_track(src, 20, 3))           # a later write: no second copy
    assert rel.query()["cow_count"] == 3
    assert np.array_equal(view(tgt), before)
    # the copied tracks are on the target itself now, not redirected
    assert np.array_equal(tgt.own_track(20), before[20])
    assert np.array_equal(tgt.own_track(21), before[21])
    assert not tgt.written.test(45)
    assert records(src.read_track(20)) == records(pattern_track(src, 20, 3))


def test_batch_writes_copy_each_track_once(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    tracks = np.array([16, 16, 17, 30, 31])
    src.write_many(tracks, np.full(5, 30), np.full((5, 8), 7, np.uint8))
    assert rel.query()["cow_count"] == 4
    assert np.array_equal(view(tgt), before)
    assert (np.asarray(src.read_track(30))[30:38] == 7).all()


def test_background_copy_runs_at_the_modeled_rate(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    fc.sub.settings["fc_background_tracks_per_s"] = 10.0
    events = []
    fc.subscribe(lambda e: events.append(e.kind))
    seen = []
    rel = fc.establish("SRC001", "TGT001", mode="COPY", on_physical=seen.append)
    assert events == ["logical"]
    fcsite.tick(1.0)
    assert rel.query()["tracks_copied"] == 10
    fcsite.tick(2.5)
    assert rel.query()["tracks_copied"] == 25
    assert rel.query()["background_tracks"] == 25
    assert not rel.physical.is_set()
    fcsite.tick(10.0)
    assert rel.state is RelState.COMPLETED and rel.physical.is_set() and seen == [rel]
    assert rel.physical_at == 10.0  # modeled time of the tick that copied the last track
    assert events == ["logical", "physical"]
    # the relationship ended: the target stands alone and holds the point-in-time copy
    assert tgt.read_hook is None and fc.sub.intercepts("SRC001") == [] and fc.sub.intercepts("TGT001") == []
    assert np.array_equal(own(tgt), before)
    src.write_track(20, pattern_track(src, 20, 9))
    assert np.array_equal(own(tgt), before)


def test_drain_and_physical_event(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    rel = fc.establish("SRC001", "TGT001")
    calls = []
    n = fc.drain(progress=lambda d, t: calls.append((d, t)))
    assert n == src.ntracks and calls[-1] == (n, n)
    assert rel.state is RelState.COMPLETED and rel.physical.is_set()
    assert np.array_equal(own(tgt), before)
    assert fc.drain(rel.id) == 0  # nothing left


def test_target_write_leaves_the_relationship(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001", writable=True)
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    tgt.write_bytes(22, 200, b"\x55" * 10)                    # partial: source image first
    tgt.write_track(23, pattern_track(tgt, 23, 5))           # full
    assert rel.query()["target_write_tracks"] == 2
    img = np.array(tgt.read_track(22))
    expect = before[22].copy()
    expect[200:210] = 0x55
    assert np.array_equal(img, expect)
    src.write_track(22, pattern_track(src, 22, 6))           # no copy-on-write any more
    src.write_track(23, pattern_track(src, 23, 6))
    assert rel.query()["cow_count"] == 0
    assert np.array_equal(tgt.read_track(22), expect)
    assert records(tgt.read_track(23)) == records(pattern_track(tgt, 23, 5))
    fc.drain()  # NOCOPY: nothing to drain
    assert rel.state is RelState.NOCOPY


def test_withdraw_nocopy_leaves_copied_tracks_and_old_contents(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    old_target = own(tgt)
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    src.write_track(25, pattern_track(src, 25, 2))
    fc.withdraw(rel.id)
    assert rel.state is RelState.WITHDRAWN
    assert fc.relationships() == [] and not fc.store.keys()
    after = view(tgt)
    assert np.array_equal(after[25], before[25])              # copied by copy-on-write
    assert np.array_equal(after[26], old_target[26])          # never copied: old contents
    with pytest.raises(CopyServiceError) as e:
        fc.get(rel.id)
    assert e.value.msgid == "DLB333E"


def test_ddsw_converts_and_withdraws_after_copy(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001")
    before = view(src)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    fc.withdraw(rel.id, ddsw=True)
    assert rel.state is RelState.WITHDRAWING and rel.mode == "COPY"
    src.write_track(18, pattern_track(src, 18, 4))
    assert np.array_equal(view(tgt), before)
    fc.drain()
    assert rel.state is RelState.WITHDRAWN and rel.physical.is_set()
    assert np.array_equal(own(tgt), before)
    assert fc.relationships() == []


def test_incremental_refresh_copies_only_changes(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001", writable=True)
    rel = fc.establish("SRC001", "TGT001", incremental=True)
    fc.drain()
    assert rel.state is RelState.COPIED
    with pytest.raises(CopyServiceError) as e:
        tgt.write_track(20, pattern_track(tgt, 20, 3))
    assert e.value.msgid == "DLB334E"
    for t in (16, 30, 33, 50):
        src.write_track(t, pattern_track(src, t, 7))
    now = view(src)
    bg = rel.query()["background_tracks"]
    fc.refresh(rel.id)
    assert rel.state is RelState.COPYING and rel.remaining == 4
    assert np.array_equal(view(tgt), now)
    fc.drain(rel.id)
    assert rel.query()["background_tracks"] == bg + 4
    assert np.array_equal(own(tgt), now)


def test_incremental_ytw_target_changes_are_recopied(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001", writable=True)
    rel = fc.establish("SRC001", "TGT001", incremental="YTW")
    fc.drain()
    tgt.write_track(20, pattern_track(tgt, 20, 3))
    fc.refresh(rel.id)
    assert rel.remaining == 1
    assert np.array_equal(tgt.read_track(20), src.read_track(20))


def test_reverse_restore(fcsite, fc):
    src = fcsite.volume("SRC001", writable=True)
    backup = view(src)
    rel = fc.establish("SRC001", "TGT001", incremental=True)
    src.write_track(20, pattern_track(src, 20, 5))
    with pytest.raises(CopyServiceError) as e:
        fc.reverse(rel.id)
    assert e.value.msgid == "DLB336E"
    fc.drain()
    src.write_track(21, pattern_track(src, 21, 5))
    src.write_track(22, pattern_track(src, 22, 5))
    fc.reverse(rel.id)
    assert (rel.source, rel.target) == ("TGT001", "SRC001")
    assert rel.remaining == 3  # track 20 changed during the first copy counts too
    assert np.array_equal(view(src), backup)
    fc.drain()
    assert np.array_equal(own(src), backup)
    with pytest.raises(CopyServiceError) as e:   # the old source is now write-inhibited
        src.write_track(20, pattern_track(src, 20, 1))
    assert e.value.msgid == "DLB334E"


def test_dataset_level_relocates_count_fields(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001", writable=True)
    fcsite.allocate("A.SRC", "SRC001", lrecl=4000, blksize=4000, primary=6)
    fcsite.allocate("PAD.X", "TGT001", lrecl=80, blksize=800, primary=7)
    fcsite.allocate("A.TGT", "TGT001", lrecl=4000, blksize=4000, primary=8)
    sr, dr = dataset_runs(src, "A.SRC"), dataset_runs(tgt, "A.TGT")
    s_tracks = [t for a, b in sr for t in range(a, b)]
    d_tracks = [t for a, b in dr for t in range(a, b)]
    assert s_tracks[0] != d_tracks[0]
    for t in s_tracks:
        src.write_track(t, pattern_track(src, t, 3))
    before = {t: records(src.read_track(t)) for t in s_tracks}
    rel = fc.establish("SRC001", "TGT001", sr, dr, mode="COPY")
    assert rel.query()["tracks_total"] == len(s_tracks) and rel.level == "dataset"
    src.write_track(s_tracks[1], pattern_track(src, s_tracks[1], 9))   # copy-on-write
    for s, d in zip(s_tracks, d_tracks):
        img = tgt.read_track(d)                                        # redirected
        assert records(img) == before[s]
        assert all((r.cyl, r.head) == tgt.cchh(d) for r in trackfmt.parse_track(bytes(img)))
    fc.drain()
    for s, d in zip(s_tracks, d_tracks):
        assert records(tgt.own_track(d)) == before[s]
        assert tuple(np.asarray(tgt.own_track(d))[1:5]) == tuple(np.asarray(tgt.own_track(d))[5:9])
    # the target data set's extra tracks are untouched
    assert d_tracks[-1] not in d_tracks[: len(s_tracks)]


def test_space_efficient_counts_and_fails_when_full(fcsite, fc):
    src, tgt = fcsite.volume("SRC001", writable=True), fcsite.volume("TGT001", writable=True)
    fc.sub.settings["fc_repository_tracks"] = 3
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY", space_efficient=True)
    events = []
    fc.subscribe(lambda e: events.append(e.kind))
    before = view(src)
    for t in (20, 21, 22):
        src.write_track(t, pattern_track(src, t, 4))
    assert rel.query()["repository_tracks"] == 3
    assert np.array_equal(view(tgt), before)
    src.write_track(23, pattern_track(src, 23, 4))   # repository full: the write goes ahead
    assert records(src.read_track(23)) == records(pattern_track(src, 23, 4))
    assert rel.state is RelState.FAILED and rel.message.startswith("DLB337E")
    assert events == ["failed"]
    with pytest.raises(CopyServiceError) as e:
        tgt.read_track(30)
    assert e.value.msgid == "DLB339E"
    with pytest.raises(CopyServiceError) as e:
        fc.withdraw(rel.id, ddsw=True)
    assert e.value.msgid == "DLB320E"
    fc.withdraw(rel.id)
    tgt.read_track(30)


def test_space_efficient_rules(fcsite, fc):
    for kw in ({"mode": "COPY"}, {"mode": "NOCOPY", "incremental": True}):
        with pytest.raises(CopyServiceError) as e:
            fc.establish("SRC001", "TGT001", space_efficient=True, **kw)
        assert e.value.msgid == "DLB338E"
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY", space_efficient=True)
    with pytest.raises(CopyServiceError) as e:
        fc.withdraw(rel.id, ddsw=True)
    assert e.value.msgid == "DLB338E"


def test_freeze_holds_writes_until_thaw_or_timer(fcsite, fc):
    src = fcsite.volume("SRC001", writable=True)
    fcsite.volume("TGT002", writable=True)
    fc.establish("SRC001", "TGT001", mode="NOCOPY", freeze=True)
    img = pattern_track(src, 20, 8)
    before = np.array(src.read_track(20))
    with pytest.raises(WritesHeld) as e:
        src.write_track(20, img)
    assert e.value.msgid == "DLB340W" and e.value.until == 120.0
    assert np.array_equal(src.read_track(20), before)
    assert fc.thaw() == ["SRC001"]
    src.write_track(20, img)
    fc.establish("SRC001", "TGT002", mode="NOCOPY", freeze=True)
    with pytest.raises(WritesHeld):
        src.write_track(21, img)
    fcsite.tick(119.0)
    with pytest.raises(WritesHeld):
        src.write_track(21, img)
    fcsite.tick(120.0)                                  # the consistency-group timer
    assert fc.frozen() == {}
    src.write_track(21, img)


def test_state_survives_the_process(fcsite, fc, tmp_path):
    """A second process sees the relationship and its writes are copied-on-write."""
    src = fcsite.volume("SRC001", writable=True)
    before = view(src)
    np.save(tmp_path / "before.npy", before)
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    fcsite.close()
    code = textwrap.dedent(f"""
        import numpy as np
        from dasdlab.emulator.site import Site
        from tests.copy.conftest import pattern_track, view
        site = Site.open({str(fcsite.path)!r})
        src = site.volume("SRC001", writable=True)
        fc = site.subsystem("DS8K1").service("flashcopy")
        assert [r.id for r in fc.relationships()] == [{rel.id!r}]
        src.write_track(20, pattern_track(src, 20, 2))
        src.write_track(33, pattern_track(src, 33, 2))
        assert fc.get({rel.id!r}).query()["cow_count"] == 2
        assert np.array_equal(view(site.volume("TGT001")), np.load({str(tmp_path / "before.npy")!r}))
        site.close()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
    from dasdlab.emulator.site import Site

    site = Site.open(fcsite.path)
    fc2 = site.subsystem("DS8K1").service("flashcopy")
    q = fc2.get(rel.id).query()
    assert q["cow_count"] == 2 and q["state"] == "NOCOPY"
    assert np.array_equal(view(site.volume("TGT001")), before)
    site.close()


def test_damaged_state_loads_as_failed(fcsite, fc):
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    fcsite.close()
    with open(fc.store.bitmap_path(rel.id, "maps"), "r+b") as f:
        f.truncate(100)  # a torn file
    from dasdlab.emulator.site import Site

    site = Site.open(fcsite.path)
    fc2 = site.subsystem("DS8K1").service("flashcopy")
    r2 = fc2.get(rel.id)
    assert r2.state is RelState.FAILED and r2.message.startswith("DLB343E")
    with pytest.raises(CopyServiceError) as e:
        site.volume("TGT001").read_track(20)
    assert e.value.msgid == "DLB339E"
    fc2.withdraw(rel.id)
    site.close()


def test_completed_relationship_is_kept_for_query_until_withdrawn(fcsite, fc):
    rel = fc.establish("SRC001", "TGT001")
    fc.drain()
    assert [r.query()["state"] for r in fc.relationships()] == ["COMPLETED"]
    q = rel.query()
    assert q["tracks_copied"] == q["tracks_total"]
    fc.establish("SRC001", "TGT001")  # a completed relationship holds no tracks
    fc.withdraw(rel.id)
    assert len(fc.relationships()) == 1


def _reopen(site):
    """A fresh process view: a new Site object reading the files (the old one is left
    as a killed process would leave it, without saving anything)."""
    from dasdlab.emulator.site import Site

    return Site.open(site.path)


def test_half_done_refresh_is_redone_on_load(fcsite, fc):
    src = fcsite.volume("SRC001", writable=True)
    rel = fc.establish("SRC001", "TGT001", incremental=True)
    fc.drain()
    for t in (17, 31):
        src.write_track(t, pattern_track(src, t, 4))
    now = view(src)
    # the first steps of refresh, then a "kill": pending saved, only part of the bits moved
    rel.pending = "refresh"
    fc._save(rel)
    rel.to_copy.set(17)
    site2 = _reopen(fcsite)
    r2 = site2.subsystem("DS8K1").service("flashcopy").get(rel.id)
    assert r2.pending is None and r2.state is RelState.COPYING and r2.remaining == 2
    assert np.array_equal(view(site2.volume("TGT001")), now)
    site2.close()


def test_half_done_reverse_is_redone_on_load(fcsite, fc):
    src = fcsite.volume("SRC001", writable=True)
    backup = view(src)
    rel = fc.establish("SRC001", "TGT001", incremental=True)
    fc.drain()
    src.write_track(17, pattern_track(src, 17, 4))
    rel.pending = "reverse"
    fc._save(rel)
    site2 = _reopen(fcsite)
    r2 = site2.subsystem("DS8K1").service("flashcopy").get(rel.id)
    assert (r2.source, r2.target, r2.pending) == ("TGT001", "SRC001", None)
    assert np.array_equal(view(site2.volume("SRC001")), backup)
    site2.close()
