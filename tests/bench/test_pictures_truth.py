"""The pictures tell the truth: a failed or cancelled copy is drawn as such -- its
missing tracks lost (never copied), FAILED in the title of every figure and frame,
hatched and labelled in the outage bars; an unverified copy is labelled too.  The
trace of a cancelled Concurrent Copy dump is checked against the session's bitmaps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dasdlab.bench import plots
from dasdlab.bench import trace_plot as tp
from dasdlab.bench.trace import COPIED, LOST, SAVED, TrackTracer, save_trace
from dasdlab.emulator import trackfmt

FIRST, N = 15, 30


def _site(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "SRC001", "3390-1", cylinders=4)
    src = site.volume("SRC001", writable=True)
    for t in range(FIRST, FIRST + N):
        cyl, head = src.cchh(t)
        src.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", bytes([t]) * 100)], src.slot))
    return site, src


def _run(process: str):
    return SimpleNamespace(done=False, report=SimpleNamespace(process=process, logical=0.0, started=0.0,
                                                              counters={}, status="running"))


def test_a_cancelled_dump_is_drawn_lost_not_copied(tmp_path):
    site, src = _site(tmp_path)
    sub = site.subsystem("DS8K1")
    tracer = TrackTracer(site, sub, "SRC001", np.arange(FIRST, FIRST + N), src.ntracks)
    tracer.attach()
    cc = sub.service("concurrent_copy")
    sess = cc.start("SRC001", runs=[(FIRST, FIRST + N)])
    run = _run("dump-cc")
    tracer.bind(run)
    for t in range(FIRST, FIRST + 5):
        sess.read_track(t)
    src.write_track(FIRST + 10, np.array(src.read_track(FIRST + 11)))  # a before-image to the sidefile
    tracer.sample(1.0)
    assert tracer.samples[-1][10] == SAVED
    cc._cancel(sess, "a test cancels it")
    tracer.sample(2.0)
    run.done, run.report.status = True, "failed"
    tracer.bind(run)
    tracer.sample(3.0)
    rel = np.arange(N)
    unread = sess.unread.test_many(rel)
    for row in tracer.samples[1:]:  # from the cancellation on
        assert np.all(row[unread] == LOST) and np.all(row[~unread] == COPIED)
    tracer.detach()
    site.close()


def test_a_copy_that_never_started_is_all_lost_and_a_good_one_all_copied(tmp_path):
    site, src = _site(tmp_path)
    sub = site.subsystem("DS8K1")
    failed = TrackTracer(site, sub, "SRC001", np.arange(FIRST, FIRST + N), src.ntracks)
    run = _run("dump-cc")
    run.done, run.report.status, run.report.logical = True, "failed", None
    failed.bind(run)
    failed.sample(1.0)
    assert np.all(failed.samples[-1] == LOST)
    good = TrackTracer(site, sub, "SRC001", np.arange(FIRST, FIRST + N), src.ntracks)
    cc = sub.service("concurrent_copy")
    sess = cc.start("SRC001", runs=[(FIRST, FIRST + N)])
    run = _run("dump-cc")
    good.bind(run)
    for _ in sess.read_tracks():
        pass
    run.done, run.report.status = True, "ok"
    good.bind(run)
    good.sample(1.0)
    assert np.all(good.samples[-1] == COPIED)
    site.close()


def test_trace_figure_and_frames_say_failed(tmp_path):
    times = np.array([0.0, 1.0, 2.0])
    codes = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, LOST, LOST]], np.uint8)
    fig = tp.trace_figure(times, codes, method="dump-cc")
    assert fig._suptitle.get_text().splitlines()[1].startswith("FAILED")
    fig = tp.trace_figure(times, codes, method="dump-cc", failure="DLB363E session cancelled")
    assert "DLB363E session cancelled" in fig._suptitle.get_text()
    ok = tp.trace_figure(times, np.minimum(codes, 1), method="dump-cc")
    assert "FAILED" not in ok._suptitle.get_text()
    frame = tp.frame_figure(2.0, codes[-1], method="dump-cc", failure="FAILED: cancelled")
    assert "FAILED" in frame.axes[0].get_title(loc="left")


def test_teach_takes_the_failure_from_the_results(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    res = tmp_path / "res"
    res.mkdir()
    pq.write_table(pa.table({"name": ["dump-cc", "standard"], "status": ["failed", "ok"],
                             "message": ["DLB363E cancelled: the cache sidefiles passed half of the cache", ""]}),
                   res / "methods.parquet")
    codes = np.array([[0, 0], [1, LOST]], np.uint8)
    save_trace(res, "dump-cc", np.array([0.0, 1.0]), codes, np.arange(2), {"method": "dump-cc"})
    assert tp.method_failure(res, "dump-cc").startswith("DLB363E")
    assert tp.method_failure(res, "standard") is None
    files = tp.teach(res, "dump-cc", frames=2)
    assert len(files) == 3 and all(f.read_bytes()[:4] == b"\x89PNG" for f in files)


def test_outage_bars_mark_failed_and_unverified(tmp_path, monkeypatch):
    real = plots._plt()
    figs = []
    monkeypatch.setattr(plots, "_plt", lambda: SimpleNamespace(subplots=real.subplots,
                                                               close=lambda f: figs.append(f)))
    rows = [dict(name="standard", outage_modeled_s=100.0, outage_measured_s=1.0, status="ok", copy_verified=True),
            dict(name="dump-cc", outage_modeled_s=4.0, outage_measured_s=0.1, status="failed", copy_verified=False),
            dict(name="copy-flashcopy", outage_modeled_s=0.8, outage_measured_s=0.01, status="ok",
                 copy_verified=False)]
    plots.plot_outage(rows, tmp_path / "outage.png")
    ax = figs[0].axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["standard", "dump-cc\n(FAILED)", "copy-flashcopy\n(unverified)"]
    hatched = [b.get_hatch() for b in ax.patches]
    assert hatched[0] is None and hatched[1] == "xxx" and hatched[2] == "xxx"  # modeled bars
    assert any("FAILED" in t.get_text() for t in ax.texts)
    assert ax.get_yscale() == "log" and figs[0].axes[1].get_yscale() == "linear"  # both scales
    assert [t.get_text() for t in figs[0].axes[1].get_xticklabels()] == labels
    real.close(figs[0])
    assert (tmp_path / "outage.png").read_bytes()[:4] == b"\x89PNG"


def test_timeline_names_failures_and_its_line_styles(tmp_path, monkeypatch):
    real = plots._plt()
    figs = []
    monkeypatch.setattr(plots, "_plt", lambda: SimpleNamespace(subplots=real.subplots,
                                                               close=lambda f: figs.append(f)))
    ph = {"hold_start": 0.0, "hold_end": 2.0, "logical": 2.0, "physical": 9.0, "end": 12.0}
    rows = [dict(name="dump-cc", outage_modeled_s=2.0, status="failed", message="DLB363E cancelled", phases=ph),
            dict(name="standard", outage_modeled_s=9.0, status="ok", copy_verified=True, phases=ph,
                 checkpoints_s=[-3.0, 4.5, 10.25])]
    tl = {r["name"]: {"arrival_s": np.array([-1.0, 1.0, 5.0]), "latency_s": np.array([0.001, 1.0, 0.001]),
                      "refused": np.zeros(3, bool)} for r in rows}
    plots.plot_timeline(rows, tl, tmp_path / "t.png", service_time=0.001)
    fig = figs[0]
    first, second = fig.axes[0], fig.axes[1]
    assert "FAILED: DLB363E cancelled" in first.get_title(loc="left") and "FAILED" not in second.get_title(loc="left")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "logical completion" in labels and "physical completion" in labels
    assert first.get_shared_x_axes().joined(first, second)  # one time axis
    assert "IMS system checkpoint" in labels

    def checkpoint_marks(ax):
        return [c for c in ax.collections if c.get_label() == "IMS system checkpoint"]

    assert checkpoint_marks(first) == []
    (marks,) = checkpoint_marks(second)
    assert marks.get_offsets()[:, 0].tolist() == [-3.0, 4.5, 10.25]
    real.close(fig)


def _hue_name(hex_colour: str) -> str:
    """A plain name of a colour from its hue, saturation and value (what a reader says)."""
    import colorsys

    from matplotlib.colors import to_rgb

    h, s, v = colorsys.rgb_to_hsv(*to_rgb(hex_colour))
    if v < 0.15:
        return "black"
    if s < 0.12:
        return "light grey" if v > 0.7 else "grey"
    deg = h * 360
    for top, name in ((10, "red"), (30, "red-orange"), (50, "orange"), (70, "yellow"), (175, "green"),
                      (255, "blue"), (330, "purple"), (361, "red")):
        if deg < top:
            return name
    raise AssertionError(deg)


def test_caption_colours_match_the_legend():
    """Each colour a trace figure's caption names is the colour of the state it means,
    and that state's patch is in the figure's legend, with the legend's label."""
    import re

    from matplotlib.colors import to_hex

    for code, colour in tp.COLOURS.items():
        assert tp.COLOUR_NAMES[code] == _hue_name(colour), (code, colour)
    words = r"\b(red-orange|light grey|red|orange|yellow|green|blue|purple|violet|grey|gray|black|white|brown)\b"
    for method, caption in tp.EXPLAIN.items():
        named = re.findall(words, caption)
        assert named == [tp.COLOUR_NAMES[c] for c in tp.EXPLAIN_STATES[method]], (method, named)
        states = tp.EXPLAIN_STATES[method]
        codes = np.zeros((3, 20), np.uint8)
        for i, c in enumerate(states):
            codes[1:, i] = c
        fig = tp.trace_figure(np.array([0.0, 1.0, 2.0]), codes, method=method)
        assert fig.axes[0].get_title(loc="left").replace("\n", " ") == caption
        legend = {t.get_text(): to_hex(p.get_facecolor()) for t, p in
                  zip(fig.legends[0].get_texts(), fig.legends[0].get_patches())}
        for c in states:
            assert legend.get(tp.LEGEND[c]) == to_hex(tp.COLOURS[c]), (method, c, legend)
