"""Track maps against the copy services' own state after real operations: every cell
is checked against the service's bitmaps, counters and what the copy reads as."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
from dasdlab.teach.trackmap import (
    LEGEND, TrackMapError, TrackState as T, WriteHistory, maps_text, relationship_maps, save_picture,
)

CYL = 3


def fill(vol, tracks, seed=0):
    for t in tracks:
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", bytes([seed, t % 256]) * 50)], vol.slot))


@pytest.fixture
def lab(tmp_path):
    site = Site.init(tmp_path / "site")
    hist = WriteHistory()
    for sub, v in (("DS8K1", "SRC001"), ("DS8K1", "TGT001"), ("RVA1", "RSRC01"), ("RVA1", "RTGT01"),
                   ("VMAX1", "VSRC01"), ("VMAX1", "VTGT01")):
        site.add_volume(sub, v, "3390-1", cylinders=CYL)
        hist.watch(site.subsystem(sub), v)
    yield site, hist
    site.close()


def one(site, hist, cap):
    (m,) = relationship_maps(site, cap, history=hist)
    return m


def test_flashcopy_nocopy_map_is_the_bitmap_and_the_cow(lab):
    site, hist = lab
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 30))
    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    pit = {t: bytes(src.read_track(t)) for t in range(src.ntracks)}
    fill(src, [20, 22, 20], seed=9)  # 20 twice: one copy-on-write, then a plain change
    m = one(site, hist, "flashcopy")
    r = np.arange(rel.tmap.n)
    pending = rel.to_copy.test_many(r)
    tgt = m.target.states
    assert set(np.flatnonzero(tgt == T.SAVED)) == {20, 22} == set(np.flatnonzero(~pending))
    assert int((tgt == T.SAVED).sum()) == rel.query()["cow_count"]
    assert set(np.flatnonzero(m.source.states == T.CHANGED)) == {20, 22}
    written = src.written.test_many(r)
    assert np.array_equal(tgt == T.SHARED, pending & written)
    assert np.array_equal(tgt == T.NEVER_WRITTEN, pending & ~written)
    # the saved tracks really hold the point-in-time image on the target's own storage
    tv = site.volume("TGT001")
    for t in (20, 22):
        assert bytes(tv.own_track(t)) == pit[t]


def test_flashcopy_copy_background_and_cow_are_told_apart(lab):
    site, hist = lab
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 30))
    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", mode="COPY")
    fill(src, [17], seed=3)
    fc.drain(rel.id)
    m = one(site, hist, "flashcopy")
    assert m.state == "COMPLETED"
    assert set(np.flatnonzero(m.target.states == T.SAVED)) == {17}
    assert int((m.target.states == T.COPIED).sum()) == rel.query()["background_tracks"]
    assert not (m.target.states == T.SHARED).any()


def test_flashcopy_without_history_nocopy_copies_are_saved(lab):
    site, _ = lab
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 20))
    fc = site.subsystem("DS8K1").service("flashcopy")
    fc.establish("SRC001", "TGT001", mode="NOCOPY")
    fill(src, [16, 18], seed=4)
    (m,) = relationship_maps(site, "flashcopy")  # no history: as another process sees it
    assert set(np.flatnonzero(m.target.states == T.SAVED)) == {16, 18}


def test_concurrent_copy_sidefile_read_and_cancel(lab):
    site, hist = lab
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 30))
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    s = cc.start("SRC001", runs=[(15, 30)])
    before = bytes(src.read_track(21))
    fill(src, [21], seed=5)  # the before-image goes to the sidefile
    s.read_track(15)
    fill(src, [15], seed=5)  # already read: a plain change
    m = one(site, hist, "concurrent_copy")
    dump, source = m.target.states, m.source.states
    rel = np.arange(s.tmap.n)
    assert set(np.flatnonzero(dump == T.SAVED)) == {21} == set(s.tmap.src(rel[s.saved.test_many(rel)]))
    assert set(np.flatnonzero(dump == T.COPIED)) == {15}
    assert set(np.flatnonzero(source == T.CHANGED)) == {15, 21}
    assert np.all(dump[:15] == T.OUTSIDE) and np.all(dump[30:] == T.OUTSIDE)
    assert m.counters["cache_sidefile_tracks"] == 1 and m.counters["intercepted_writes"] == 1
    assert bytes(s.read_track(21)) == before  # what the map says is in the sidefile is there
    cc._cancel(s, "a test cancels it")
    m = one(site, hist, "concurrent_copy")
    assert m.failed and m.state == "CANCELLED"
    unread = s.tmap.src(rel[s.unread.test_many(rel)])
    assert np.all(m.target.states[unread] == T.LOST)
    assert "FAILED" in maps_text([m])


def test_snapshot_shared_and_redirected_match_the_counters(lab):
    site, hist = lab
    src = site.volume("RSRC01", writable=True)
    fill(src, range(15, 25))
    sn = site.subsystem("RVA1").service("snapshot")
    sn.snap("RSRC01", "RTGT01")
    fill(src, [18, 19], seed=6)
    m = one(site, hist, "snapshot")
    q = sn.query()[0]
    assert int((m.source.states == T.SHARED).sum()) == q["tracks_shared"]
    assert int((m.source.states == T.REDIRECTED).sum()) == q["tracks_unshared"]
    assert {18, 19} <= set(np.flatnonzero(m.target.states == T.REDIRECTED))


def test_timefinder_uncommitted_until_activate_then_copy_on_access(lab):
    site, hist = lab
    src = site.volume("VSRC01", writable=True)
    fill(src, range(15, 25))
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("VSRC01", "VTGT01", mode="NOCOPY")
    m = one(site, hist, "timefinder")
    assert np.all(m.target.states == T.UNCOMMITTED)
    fill(src, [16], seed=1)  # before the point in time: nothing to save
    tf.activate(s.id)
    fill(src, [17], seed=2)
    m = one(site, hist, "timefinder")
    r = np.arange(s.tmap.n)
    assert set(np.flatnonzero(m.target.states == T.SAVED)) == {17} == set(np.flatnonzero(~s.pending.test_many(r)))
    assert set(np.flatnonzero(m.source.states == T.CHANGED)) == {17}


def test_text_and_pictures(lab, tmp_path):
    site, hist = lab
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 20))
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY")
    fill(src, [16], seed=1)
    maps = relationship_maps(site, history=hist)
    text = maps_text(maps)
    row = [ln for ln in text.splitlines() if ln.strip().startswith("1 |")][0]
    assert row.split("|")[3] == "oSooo" + "." * 10  # cylinder 1 of the target, one glyph a track
    assert LEGEND[T.SAVED][0] in text
    for suffix in ("png", "svg"):
        p = save_picture(maps, tmp_path / f"m.{suffix}")
        assert p.stat().st_size > 1000
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "m.svg").read_bytes()[:400]
    with pytest.raises(TrackMapError, match="DLB851E"):
        save_picture(maps, tmp_path / "m.gif")
    with pytest.raises(TrackMapError, match="DLB853E"):
        save_picture([], tmp_path / "e.png")
    assert not list(tmp_path.glob(".m.*"))  # no temporary file left behind
