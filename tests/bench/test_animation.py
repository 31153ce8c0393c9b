"""The teaching animation: frames at and around the copy's events (none wasted on the
warm-up), a phase banner on each, source and copy side by side; GIF written whole;
MP4 only with ffmpeg; a failed copy says FAILED on every frame after the copy start."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.bench import animation as an
from dasdlab.bench.trace import CHANGED, COPIED, LOST, NOT_COPIED, SAVED, save_trace
from dasdlab.bench.trace_plot import TraceError
from dasdlab.cli.main import run

PHASES = {"hold_start": 0.0, "hold_end": 6.2, "logical": 6.0, "physical": 42.5, "end": 60.0}


def trace(lost: bool = False):
    times = np.round(np.arange(-30.0, 60.05, 0.1), 6)
    codes = np.zeros((times.size, 45), np.uint8)
    for i, t in enumerate(times):
        if t >= 6.0:
            done = min(45, int((t - 6.0) / (42.5 - 6.0) * 45) + 1)
            codes[i, :done] = COPIED
        if t >= 10.0:
            codes[i, 30] = SAVED
        if t >= 20.0:
            codes[i, 2] = CHANGED
    if lost:
        codes[times >= 20.0, 25:] = np.where(codes[times >= 20.0, 25:] == COPIED, COPIED, LOST)
    return times, codes


def test_frames_sit_at_the_events_and_skip_the_warmup():
    times, _ = trace()
    plan = an.event_frames(times, PHASES, 20)
    at = [t for t, _ in plan]
    assert len(plan) == 20 and at == sorted(at)
    assert sum(1 for t in at if t < 0) == 1  # one frame of the state before the copy, no warm-up
    for key in ("hold_start", "hold_end", "logical", "physical"):
        assert PHASES[key] in at
    assert any(lab == "just before physical completion" for _, lab in plan)
    labels = dict(plan)
    assert labels[0.0] == "copy start = hold" and labels[6.0] == "logical completion"
    assert at[-1] == times[-1]


def test_phase_banner():
    assert an.phase_at(-1, PHASES)[0] == "before"
    assert an.phase_at(3.0, PHASES)[0] == "hold"
    assert an.phase_at(6.1, PHASES)[0] == "hold"  # logical before release: still held
    assert an.phase_at(7.0, PHASES)[0] == "logical"
    assert an.phase_at(50.0, PHASES)[0] == "physical"
    assert an.phase_at(3.0, {"logical": 30.0, "physical": 40.0})[0] == "fuzzy"  # never held
    assert an.phase_at(3.0, PHASES, failed=True)[0] == "failed"


def _near(img, rgb, tol=12) -> int:
    a = np.asarray(img.convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= tol).sum())


def test_gif_has_a_banner_per_phase(tmp_path):
    from PIL import Image

    times, codes = trace()
    out = an.write_animation(times, codes, tmp_path / "a.gif", PHASES, "dump-cc", frames=12)
    plan = an.event_frames(times, PHASES, 12)
    with Image.open(out) as im:
        assert im.n_frames == len(plan)
        for k, (t, _) in enumerate(plan):
            im.seek(k)
            colour = an.BANNER[an.phase_at(t, PHASES)[0]]
            rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
            assert _near(im, rgb) > 200, (t, colour)
    assert not list(tmp_path.glob(".a.gif*"))


def test_failed_copy_says_so_on_every_frame_after_the_start(tmp_path):
    from PIL import Image

    times, codes = trace(lost=True)
    out = an.write_animation(times, codes, tmp_path / "f.gif", PHASES, "dump-cc", frames=8,
                             failure="DLB363E session cancelled")
    plan = an.event_frames(times, PHASES, 8)
    with Image.open(out) as im:
        for k, (t, _) in enumerate(plan):
            im.seek(k)
            dark = _near(im, (0x22, 0x22, 0x22), tol=6)
            assert (dark > 500) == (t >= 0), (t, dark)


def test_bad_output_and_mp4_without_ffmpeg(tmp_path, monkeypatch):
    times, codes = trace()
    with pytest.raises(TraceError, match="DLB773E"):
        an.write_animation(times, codes, tmp_path / "a.png", PHASES)
    monkeypatch.setattr(an.shutil, "which", lambda name: None)
    with pytest.raises(TraceError, match="ffmpeg"):
        an.write_animation(times, codes, tmp_path / "a.mp4", PHASES)
    with pytest.raises(TraceError, match="DLB774E"):
        an.write_animation(times, codes, tmp_path / "a.gif", PHASES, frames=1)
    assert not list(tmp_path.iterdir())


def test_cli_teach_gif(tmp_path, capsys):
    times, codes = trace()
    res = tmp_path / "res"
    res.mkdir()
    save_trace(res, "dump-cc", times, codes, np.arange(45), {"method": "dump-cc", "phases": PHASES})
    code = run(["bench", "teach", "--results", str(res), "--method", "dump-cc", "--gif", str(tmp_path / "cc.gif"),
                "--gif-frames", "10"])
    assert code == 0, capsys.readouterr()
    from PIL import Image

    with Image.open(tmp_path / "cc.gif") as im:
        assert im.n_frames == 10
    assert (res / "teach-dump-cc.png").is_file()
