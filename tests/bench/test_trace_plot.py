"""The teaching view: traces built here by driving a FlashCopy COPY relationship and a
Concurrent Copy session under host writes (sampling their bitmaps after every step) are
checked against the services' own counters, then drawn; the pictures must show the
colours of the states the trace holds and no others."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.bench import trace_plot as tp
from dasdlab.bench.trace_plot import CHANGED, COPIED, NOT_COPIED, SAVED, SHARED, TraceError
from dasdlab.emulator import trackfmt

FIRST, N = 15, 120  # the "data set": tracks 15..134 of a 10-cylinder volume


def _site(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=10)
    src = site.volume("SRC001", writable=True)
    for t in range(FIRST, FIRST + N):
        src.write_track(t, _track(src, t, 1))
    return site, src


def _track(vol, t, seed):
    cyl, head = vol.cchh(t)
    data = np.random.default_rng([t, seed]).integers(0, 256, 4000, np.uint8).tobytes()
    return trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot)


def flashcopy_trace(tmp_path, steps=40, writes_per_step=3, rate=4.0):
    """FlashCopy COPY of the data set with a background copy of ``rate`` tracks per
    modeled second and random host writes each second; codes from ``to_copy``."""
    site, src = _site(tmp_path)
    site.subsystem("DS8K1").settings["fc_background_tracks_per_s"] = rate
    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", src_runs=[(FIRST, FIRST + N)], dst_runs=[(FIRST, FIRST + N)],
                       mode="COPY")
    rng = np.random.default_rng(5)
    state = np.zeros(N, np.uint8)
    all_rel = np.arange(N, dtype=np.int64)
    times, rows = [0.0], [state.copy()]
    for k in range(1, steps + 1):
        before = rel.to_copy.test_many(all_rel)
        hit = rng.choice(N, writes_per_step, replace=False)
        for r in hit:
            src.write_track(FIRST + int(r), _track(src, FIRST + int(r), k + 1))
        after = rel.to_copy.test_many(all_rel)
        state[before & ~after] = SAVED  # copied by the write path: copy-on-write
        changed = np.zeros(N, bool)
        changed[hit] = True
        state[changed & ~before & (state == COPIED)] = CHANGED
        site.tick(float(k))  # the background copy of this second
        done = after & ~rel.to_copy.test_many(all_rel)
        state[done] = COPIED
        times.append(float(k))
        rows.append(state.copy())
    q = rel.query()
    site.close()
    return np.array(times), np.stack(rows), q


def cc_trace(tmp_path, steps=30, reads_per_step=5, writes_per_step=3):
    """A Concurrent Copy dump reading the data set in order while hosts write."""
    site, src = _site(tmp_path)
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    sess = cc.start("SRC001", runs=[(FIRST, FIRST + N)])
    rng = np.random.default_rng(9)
    state = np.zeros(N, np.uint8)
    all_rel = np.arange(N, dtype=np.int64)
    times, rows = [0.0], [state.copy()]
    nxt = 0
    for k in range(1, steps + 1):
        saved_before = sess.saved.test_many(all_rel)
        unread = sess.unread.test_many(all_rel)
        hit = rng.choice(N, writes_per_step, replace=False)
        for r in hit:
            src.write_track(FIRST + int(r), _track(src, FIRST + int(r), k + 1))
        if sess.state.value == "ACTIVE":
            newly = sess.saved.test_many(all_rel) & ~saved_before
            state[newly] = SAVED
        gone = np.zeros(N, bool)
        gone[hit] = True
        # written after the dump read it: nothing to save (a saved track stays "saved")
        state[gone & ~unread & (state == COPIED)] = CHANGED
        for _ in range(reads_per_step):
            if nxt < N:
                sess.read_track(FIRST + nxt)
                if state[nxt] == NOT_COPIED:
                    state[nxt] = COPIED
                nxt += 1
        times.append(float(k))
        rows.append(state.copy())
    q = sess.query()
    site.close()
    return np.array(times), np.stack(rows), q


def test_flashcopy_trace_agrees_with_the_relationship(tmp_path):
    times, codes, q = flashcopy_trace(tmp_path)
    last = codes[-1]
    assert (last == SAVED).sum() == q["cow_count"] > 0
    assert (last == COPIED).sum() + (last == CHANGED).sum() == q["background_tracks"]
    assert (last == NOT_COPIED).sum() == q["tracks_total"] - q["tracks_copied"]
    # a track once copied never goes back to "not copied"
    assert not np.any((codes[:-1] != NOT_COPIED) & (codes[1:] == NOT_COPIED))
    counts = tp.state_counts(codes)
    assert np.array_equal(counts[:, COPIED], (codes == COPIED).sum(axis=1))
    assert counts.sum(axis=1).tolist() == [N] * len(times)


def test_cc_trace_agrees_with_the_session(tmp_path):
    times, codes, q = cc_trace(tmp_path)
    assert (codes[-1] == SAVED).sum() == q["intercepted_writes"] == q["tracks_read_sidefile"] > 0
    assert (codes[-1] == NOT_COPIED).sum() == 0 and q["state"] == "COMPLETE"
    assert (codes[-1] == CHANGED).any() and (codes[-1] == COPIED).any()


def test_track_bands_takes_the_most_common_state():
    codes = np.array([[0, 0, 1, 2, 2, 2, 4, 4, 3, 3]], np.uint8)
    assert tp.track_bands(codes, 10) is codes
    assert tp.track_bands(codes, 2).tolist() == [[2, 4]]  # [0,0,1,2,2]: 0 and 2 tie, 2 is later; [2,4,4,3,3]
    assert tp.track_bands(np.array([[1, 1, 1, 4]], np.uint8), 1).tolist() == [[1]]
    assert tp.track_bands(np.array([[1, 4]], np.uint8), 1).tolist() == [[4]]  # a tie: the later state


def test_time_grid_takes_the_state_at_or_before():
    at, idx = tp.time_grid(np.array([0.0, 1.0, 5.0, 10.0]), 11)
    assert idx.tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]
    assert tp.time_grid(np.array([2.0, 2.0]), 5)[1].tolist() == [1]


def test_cylinder_grid_lays_out_whole_cylinders():
    g = tp.cylinder_grid(np.arange(100) % 5)
    assert g.shape[1] % 15 == 0 and g.size >= 100
    assert g.ravel()[:100].tolist() == (np.arange(100) % 5).tolist() and (g.ravel()[100:] == -1).all()
    big = tp.cylinder_grid(np.full(200_000, 2, np.uint8), max_cells=30_000)
    assert (big >= 0).sum() == 30_000


def _png_colours(path, box=None) -> set[tuple[int, int, int]]:
    """The colours of a PNG, or of the part inside ``box`` (a matplotlib bbox in pixels)."""
    from matplotlib.image import imread

    img = (imread(path)[:, :, :3] * 255).round().astype(np.int64)
    if box is not None:
        h = img.shape[0]
        img = img[int(h - box.y1) + 2:int(h - box.y0) - 2, int(box.x0) + 2:int(box.x1) - 2]
    return set(map(tuple, np.unique(img.reshape(-1, 3), axis=0).tolist()))


def _frame_colours(tmp_path, t, row, name):
    fig = tp.frame_figure(t, row, None, "dump-cc")
    p = tmp_path / name
    fig.savefig(p)  # at the figure's own dpi, so the axes box is in the PNG's pixels
    return _png_colours(p, fig.axes[0].get_window_extent())


def _rgb(code) -> tuple[int, int, int]:
    h = tp.COLOURS[code].lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def test_flashcopy_figure_shows_its_states(tmp_path):
    times, codes, _ = flashcopy_trace(tmp_path)
    fig = tp.trace_figure(times, codes, None, "copy-flashcopy", events={"establish": 0.0, "physical": 30.0})
    out = tmp_path / "fc.png"
    fig.savefig(out, dpi=60)
    colours = _png_colours(out)
    for c in (NOT_COPIED, COPIED, SAVED):
        assert _rgb(c) in colours
    assert _rgb(SHARED) not in colours  # not in this trace, so not in the legend either
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [tp.LEGEND[c] for c in sorted(set(codes.ravel().tolist()))]


def test_teach_writes_the_figure_and_frames(tmp_path):
    times, codes, _ = cc_trace(tmp_path)
    legend = {0: "not read yet", 1: "read by the dump", 2: "in the sidefile", 3: "x", 4: "updated after"}
    asked = []

    def loader(path, method):
        asked.append((path, method))
        return times, codes, legend

    res = tmp_path / "res"
    res.mkdir()
    seen = []
    files = tp.teach(res, "dump-cc", frames=3, loader=loader, progress=lambda d, t: seen.append((d, t)))
    assert asked == [(res, "dump-cc")]
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert files[0] == res / "teach-dump-cc.png"
    assert [f.name for f in files[1:]] == ["frame-0001.png", "frame-0002.png", "frame-0003.png"]
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    first = _frame_colours(tmp_path, times[0], codes[0], "a.png")
    last = _frame_colours(tmp_path, times[-1], codes[-1], "b.png")
    assert _rgb(NOT_COPIED) in first and _rgb(SAVED) not in first  # t=0: nothing has happened yet
    assert _rgb(NOT_COPIED) not in last and _rgb(SAVED) in last  # the end: every track read


@pytest.mark.parametrize("times, codes", [
    ([], np.zeros((0, 3))),
    ([0.0, 1.0], np.zeros((3, 4))),
    ([1.0, 0.0], np.zeros((2, 4))),
    ([0.0, np.nan], np.zeros((2, 4))),
    ([0.0, 1.0], np.full((2, 4), tp.NCODES)),  # one past the last code (5, lost)
    ([0.0, 1.0], np.full((2, 4), 0.5)),
])
def test_malformed_traces(times, codes):
    with pytest.raises(TraceError) as e:
        tp.check_trace(times, codes)
    assert e.value.msgid == "DLB772E"


def test_teach_refuses_before_writing(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / "keep.txt").write_text("x")

    def missing(path, method):
        raise KeyError(method)

    def fine(path, method):
        return [0.0, 1.0], np.zeros((2, 4), np.uint8), {}

    cases = [
        (dict(results=tmp_path / "nope", method="standard", loader=fine), "DLB770E"),
        (dict(results=res, method="standard", loader=missing), "DLB771E"),
        (dict(results=res, method="standard", out=res / "x.jpg", loader=fine), "DLB773E"),
        (dict(results=res, method="standard", out=tmp_path / "no" / "x.png", loader=fine), "DLB773E"),
        (dict(results=res, method="standard", frames=-1, loader=fine), "DLB774E"),
        (dict(results=res, method="standard", loader=lambda p, m: ([0.0], np.zeros((2, 4)), {})), "DLB772E"),
    ]
    for kwargs, msgid in cases:
        with pytest.raises(TraceError) as e:
            tp.teach(**kwargs)
        assert e.value.msgid == msgid, kwargs
        assert sorted(p.name for p in res.iterdir()) == ["keep.txt"]
