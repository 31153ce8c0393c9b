"""The outage comparison reproduces the documented behaviour (docs/domain.md §1.3, §4.2):
standard outage >> Concurrent Copy ~ virtual Concurrent Copy > FlashCopy / SnapShot
establish; the concurrent image copy holds nothing but recovers from an earlier log
position; Fast Recovery copies restore far faster than a reload; AICS outages do not
grow with the database, the standard one does; modeled figures repeat for a seed; the
copies and the recoveries equal the truth.  Plus the result files, the traces and the
JSON contract of ``dasdlab bench outage``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dasdlab.bench.methods import METHODS, ORDER
from dasdlab.bench.results import read_methods, read_spec, read_timeline
from dasdlab.bench.scenario import ScenarioSpec, run_scenario
from dasdlab.bench.trace import (
    CHANGED, COPIED, LEGEND, LOST, NOT_COPIED, SAVED, SHARED, load_trace, load_trace_meta,
)

# 2 MiB emulated standing for 16 GiB; the modeled rate is high so that the emulated
# database (rate / scale updates per second) still sees a dozen updates a second; at
# that rate IMS's largest CPLOG (16M log records) leaves only the checkpoint at IMS
# start before the copies, as the default CPLOG does at the demo's 2,000 updates a
# second.  The Concurrent Copy before-images of a 16 GiB database at that rate pass one
# 2 GB SDM data space (limits are compared in modeled units), so the SDM gets more room
# here: this test is about every method completing, not about the sidefile limit
SPEC = dict(db_size="2MiB", modeled_size="16GiB", rate=100_000.0, warmup=30.0, cooldown=5.0, duration=110.0,
            seed=3, checkpoint_log_records=16 * 1024 * 1024, host_sidefile_size="64GiB")
#: figures that are wall-clock measurements, not modeled
MEASURED = {"outage_measured_s", "logical_measured_s", "physical_measured_s", "recovery_measured_s", "wall_s",
            "updates_per_wall_s", "recovery_restore_measured_s", "recovery_apply_measured_s"}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("outage")
    seen = []
    res = run_scenario(ScenarioSpec(**SPEC), out, progress=lambda d, n: seen.append((d, n)))
    return res, out, seen


def by_name(res):
    return {m.name: m for m in res.methods}


def test_every_method_runs_and_matches_the_truth(full):
    res, _, seen = full
    assert [m.name for m in res.methods] == list(ORDER)
    for m in res.methods:
        assert m.status == "ok", (m.name, m.message)
        assert m.process == METHODS[m.name].process
        assert m.copy_verified and m.copy_differing_blocks == 0, m.name
        assert m.recovery_verified, m.name
        assert 0 < m.recovery_restore_measured_s + m.recovery_apply_measured_s <= m.recovery_measured_s
        assert m.logical_s <= m.physical_s + 1e-9
        assert m.transactions_emulated > 500 and m.refused == 0  # quiesce holds, never refuses
    assert seen and seen[-1] == (1000, 1000) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))


def test_outage_ordering(full):
    m = by_name(full[0])
    out = {k: v.outage_modeled_s for k, v in m.items()}
    assert out["standard"] > 5 * out["dump-cc"]  # standard >> CC
    assert abs(out["dump-cc"] - out["dump-vcc"]) < 0.25 * out["dump-cc"]  # CC ~ virtual CC
    assert out["dump-cc"] > out["copy-flashcopy"] and out["dump-vcc"] > out["copy-snapshot"]
    for k in ("fdump", "copy-flashcopy", "copy-snapshot", "copy-timefinder"):
        assert 0 < out[k] < 5.0  # establish: seconds
    # the standard process is held until its physical copy ends; AICS release at logical
    assert m["standard"].logical_s == m["standard"].physical_s
    assert m["standard"].phases["hold_end"] >= m["standard"].physical_s
    for k in ("dump-cc", "dump-vcc", "fdump", "copy-flashcopy", "copy-timefinder"):
        assert m[k].phases["hold_end"] < m[k].physical_s
    assert m["copy-snapshot"].physical_s == m["copy-snapshot"].logical_s  # a snap is complete at once
    # every held update waits at most the hold; the standard's wait spans its whole read
    for k, v in m.items():
        if k != "cic":
            assert v.delayed_emulated > 0 and v.extra_latency_max_s <= v.outage_modeled_s + 1e-6
    assert m["standard"].extra_latency_p99_s > 10 * m["copy-flashcopy"].extra_latency_p99_s


def test_concurrent_copy_never_holds_but_recovers_from_the_purge_time(full):
    res, out, _ = full
    m = by_name(res)
    cic, std = m["cic"], m["standard"]
    assert cic.outage_modeled_s == 0 and cic.delayed == 0 and math.isnan(cic.hold_start_s)
    # the fuzzy copy's log starts at the checkpoint before it (the one at IMS start):
    # every update is replayed; the clean copy replays only those after its point in time
    assert cic.recovery_records_emulated == cic.transactions_emulated
    tl = read_timeline(out, "standard")
    after = int((tl["arrival_s"].to_numpy() > 0).sum())
    assert std.recovery_records_emulated == after < std.transactions_emulated
    assert cic.recovery_modeled_s > std.recovery_modeled_s
    assert cic.recovery_restore_modeled_s == std.recovery_restore_modeled_s  # both reload the same size
    assert cic.recovery_apply_modeled_s > std.recovery_apply_modeled_s


def test_fast_recovery_restores_much_faster_than_a_reload(full):
    m = by_name(full[0])
    reload = m["standard"].recovery_restore_modeled_s
    assert m["standard"].recovery_method == "reload"
    for k in ("copy-flashcopy", "copy-snapshot", "copy-timefinder"):
        assert m[k].recovery_method != "reload"
        assert m[k].recovery_restore_modeled_s < reload / 20, k
    for k in ("cic", "dump-cc", "dump-vcc", "fdump"):
        assert m[k].recovery_method == "reload"


def test_service_counters(full):
    m = by_name(full[0])
    assert m["dump-cc"].sidefile_hwm_tracks_emulated > 0 and m["dump-cc"].intercepted_writes_emulated > 0
    assert m["dump-cc"].sidefile_hwm_tracks == round(m["dump-cc"].sidefile_hwm_tracks_emulated * full[0].spec.size_scale)
    assert m["dump-vcc"].sidefile_hwm_tracks_emulated == 0  # snapped to working space: nothing saved
    for k in ("copy-flashcopy", "copy-timefinder", "fdump"):
        assert m[k].cow_count_emulated > 0, k
    for k in ("standard", "cic", "copy-snapshot", "dump-vcc"):
        assert m[k].cow_count_emulated == 0, k


def test_traces_show_each_mechanism(full):
    res, out, _ = full
    for name in ORDER:
        times, codes, legend = load_trace(out, name)
        assert codes.dtype == np.uint8 and codes.shape[0] == times.size and codes.shape[1] > 10
        assert set(legend) == set(LEGEND) == {0, 1, 2, 3, 4, 5}
        assert not (codes == LOST).any()  # every method succeeded: nothing is drawn lost
        assert (codes[times < 0] == NOT_COPIED).all()  # nothing happens before the copy starts
        assert np.all(np.diff(times) >= 0)
        meta = load_trace_meta(out, name)
        assert meta["method"] == name and meta["phases"]["logical"] == by_name(res)[name].logical_s
    t, c, _ = load_trace(out, "copy-snapshot")
    first = c[np.searchsorted(t, by_name(res)["copy-snapshot"].logical_s)]
    assert (first == SHARED).all()  # every track shared by pointer at the snap
    assert (c[-1] == CHANGED).any() and not (c == SAVED).any()  # redirect-on-write saves nothing
    t, c, _ = load_trace(out, "copy-flashcopy")
    assert (c == SAVED).any() and (c[-1] != NOT_COPIED).all()  # COW happened; all copied at the end
    t, c, _ = load_trace(out, "standard")
    during = c[(t > 0) & (t < by_name(res)["standard"].physical_s)]
    assert not (during == CHANGED).any() and not (during == SAVED).any()  # held: nothing changes
    assert (c[-1] != NOT_COPIED).all() and ((c[-1] == COPIED) | (c[-1] == CHANGED)).all()
    t, c, _ = load_trace(out, "dump-cc")
    assert (c == SAVED).any()


def test_result_files(full):
    res, out, _ = full
    tab = read_methods(out)
    rows = tab.to_pylist()
    assert [r["name"] for r in rows] == list(ORDER)
    assert {"outage_modeled_s", "recovery_modeled_s", "copy_verified", "scale", "profile", "phase_logical_s",
            "seed", "rate"} <= set(tab.column_names)
    assert all(r["scale"] == pytest.approx(8192) and r["seed"] == 3 for r in rows)
    assert read_spec(out)["db_size"] == 2 * 2**20
    tl = read_timeline(out)
    assert set(tl["method"].to_pylist()) == set(ORDER)
    std = read_timeline(out, "standard")
    assert std.num_rows == by_name(res)["standard"].transactions_emulated
    lat = std["latency_s"].to_numpy()
    assert lat.max() == pytest.approx(by_name(res)["standard"].extra_latency_max_s + 0.002, abs=1e-3)


def test_plots_are_written(full, tmp_path):
    from dasdlab.bench.plots import plot_folder, write_plots

    res, out, _ = full
    for p in write_plots(res, tmp_path, "caption") + plot_folder(out):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_modeled_figures_repeat_for_a_seed(full, tmp_path):
    res, _, _ = full
    again = run_scenario(ScenarioSpec(**{**SPEC, "methods": "cic,dump-cc,copy-flashcopy,copy-snapshot"}), tmp_path)
    first = by_name(res)
    for m in again.methods:
        a, b = first[m.name].as_dict(), m.as_dict()
        for k in a:
            if k in MEASURED:
                continue
            # (JSON text compares NaN equal to NaN, also inside the phases dict)
            assert json.dumps(a[k], sort_keys=True) == json.dumps(b[k], sort_keys=True), (m.name, k, a[k], b[k])
        assert np.array_equal(res.traces[m.name]["codes"], again.traces[m.name]["codes"])
        for k in ("arrival_s", "latency_s"):
            assert np.array_equal(res.timelines[m.name][k], again.timelines[m.name][k])


def test_aics_outage_is_independent_of_size_standard_grows(tmp_path):
    kw = dict(scale=4096.0, rate=40_000.0, warmup=2.0, cooldown=1.0, duration=0.0, failure=False,
              methods="standard,dump-cc,copy-flashcopy,copy-snapshot,copy-timefinder")
    small = by_name(run_scenario(ScenarioSpec(db_size="512KiB", **kw), tmp_path / "s"))
    large = by_name(run_scenario(ScenarioSpec(db_size="2MiB", **kw), tmp_path / "l"))
    for k in ("dump-cc", "copy-flashcopy", "copy-snapshot", "copy-timefinder"):
        assert small[k].outage_modeled_s == pytest.approx(large[k].outage_modeled_s), k
        assert large[k].physical_s >= small[k].physical_s
    assert large["standard"].outage_modeled_s > 3 * small["standard"].outage_modeled_s
    assert small["standard"].outage_modeled_s > small["dump-cc"].outage_modeled_s
    assert all(m.recovery_method == "" and not m.recovery_verified for m in small.values())  # no failure asked


def test_one_method_spec_as_a_sweep_builds_it():
    s = ScenarioSpec(method="dump-cc", db_size=2**20, scale=10.0)
    assert s.methods == ("dump-cc",) and s.size_scale == 10.0 and s.modeled_bytes == 10 * 2**20
    assert ScenarioSpec(methods="copy-snapshot,standard").methods == ("standard", "copy-snapshot")
    assert ScenarioSpec(methods="all").methods == ORDER
    json.dumps(s.as_dict())


def _label_boxes(fig):
    """(text, window extent) of every label ``fig`` draws: titles, axis labels, tick
    labels (of the ticks inside the axes' limits: matplotlib draws only those),
    annotations, legend entries, the caption."""
    from matplotlib.axis import Tick
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tick_texts, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_texts.update(id(t) for t in (tick.label1, tick.label2))
                if lo - 1e-12 * abs(hi) <= tick.get_loc() <= hi + 1e-12 * abs(hi):
                    drawn += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    drawn += [t for t in fig.findobj(Text) if id(t) not in tick_texts and t.get_visible()]
    assert not any(isinstance(t, Tick) for t in drawn)
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn if t.get_text().strip()]


def test_every_outage_label_is_visible_at_eight_methods(full):
    """At the eight methods of the comparison (with the command's own caption) no two
    labels of outage.png overlap and none reaches outside the figure."""
    import matplotlib.pyplot as plt

    from dasdlab.bench.plots import outage_figure
    from dasdlab.cli.bench import default_caption

    res, _, _ = full
    rows = [m.as_dict() for m in res.methods]
    assert len(rows) == 8
    # one failed, one unverified: their longer labels must fit as well
    rows[2] = {**rows[2], "status": "failed"}
    rows[5] = {**rows[5], "copy_verified": False}
    fig = outage_figure(rows, default_caption(res))
    try:
        boxes = _label_boxes(fig)
        texts = [t for t, _ in boxes]
        for name in (r["name"] for r in rows):  # every method's name is among them
            assert any(t.startswith(name) for t in texts), name
        assert any("never held" in t for t in texts) and any(t.startswith("FAILED") or "FAILED" in t for t in texts)
        W, H = fig.bbox.width, fig.bbox.height
        for t, b in boxes:
            assert b.x0 >= -0.5 and b.y0 >= -0.5 and b.x1 <= W + 0.5 and b.y1 <= H + 0.5, (t, b.bounds, W, H)
        overlaps = []
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                (ta, a), (tb, b) = boxes[i], boxes[j]
                ov_w = min(a.x1, b.x1) - max(a.x0, b.x0)
                ov_h = min(a.y1, b.y1) - max(a.y0, b.y0)
                if ov_w > 0.5 and ov_h > 0.5:
                    overlaps.append((ta, tb))
        assert overlaps == []
    finally:
        plt.close(fig)
