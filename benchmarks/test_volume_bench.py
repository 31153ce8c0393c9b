"""Volume benchmarks: full-volume copy against Hercules dasdcopy and cp, and whole-track
read/write throughput against numpy memcpy.

Every figure is a ratio against a baseline timed in the same run, interleaved round by
round (``docs/limits.md``: the machine is noisy, compare ratios, not GB/s).  Targets from
docs/architecture.md: a full-volume copy of a 3390 image takes <= 0.5x the time of ``dasdcopy``
and <= 1.5x the time of ``cp``; track copying runs at >= 0.7x memcpy.  The ratios are
printed and stored in the benchmark JSON (``extra_info``); they do not fail the run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.volcopy import copy_volume
from dasdlab.emulator.volume import Volume
from report import show, timed  # noqa: E402  (benchmarks/report.py)

ROUNDS = 5
TRACKS = 3000  # 170 MB of track slots for the read/write benchmarks


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = "Hercules utilities not installed: sudo apt-get install hercules"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def dense_image(tmp_path_factory) -> Path:
    """A 3390-1 made by dasdinit: 948 MB, every byte written."""
    d = tmp_path_factory.mktemp("dense")
    img = d / "dense.ckd"
    subprocess.run([_tool("dasdinit"), str(img), "3390-1", "BEN001"], cwd=d, check=True,
                   capture_output=True)
    return img  # warm in the page cache: dasdinit just wrote it


@pytest.mark.benchmark(group="volume-copy")
def test_copy_volume_vs_dasdcopy_and_cp(benchmark, capsys, dense_image):
    dasdcopy, cp = _tool("dasdcopy"), shutil.which("cp")
    dst = dense_image.with_name("copy.ckd")

    def clean():
        dst.unlink(missing_ok=True)

    def ours():
        copy_volume(dense_image, dst)

    def hercules():
        subprocess.run([dasdcopy, "-q", str(dense_image), str(dst)], check=True, capture_output=True)

    def plain_cp():
        subprocess.run([cp, str(dense_image), str(dst)], check=True)

    ratios_dasdcopy, ratios_cp = [], []
    for _ in range(ROUNDS):  # interleaved: each round times all three on the same cache state
        times = {}
        for name, fn in (("ours", ours), ("dasdcopy", hercules), ("cp", plain_cp)):
            clean()
            times[name] = timed(fn)
        ratios_dasdcopy.append(times["ours"] / times["dasdcopy"])
        ratios_cp.append(times["ours"] / times["cp"])
    clean()
    benchmark.pedantic(ours, setup=clean, rounds=ROUNDS, iterations=1)
    with Volume.open(dense_image) as a, Volume.open(dst) as b:  # the copy is the volume
        assert a.written == b.written
        for t in (0, 1, a.ntracks // 2, a.ntracks - 1):
            assert np.array_equal(a.read_track(t), b.read_track(t))
    clean()
    show(capsys, benchmark, "volume copy", {
        "time / dasdcopy time": statistics.median(ratios_dasdcopy),
        "time / cp time": statistics.median(ratios_cp),
    }, {"time / dasdcopy time": "<= 0.5", "time / cp time": "<= 1.5"})


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A volume whose first TRACKS tracks hold full-track images, and those images."""
    d = tmp_path_factory.mktemp("tracks")
    vol = Volume.create(d / "t.ckd", "3390-1", "TRK001", cylinders=TRACKS // 15 + 2)
    rng = np.random.default_rng(7)
    images = np.zeros((TRACKS, vol.slot), dtype=np.uint8)
    base = 15  # past cylinder 0 (VOL1 and VTOC)
    for i in range(TRACKS):
        cyl, head = divmod(base + i, vol.heads)
        data = rng.integers(0, 256, 56664, np.uint8).tobytes()  # one full-track record
        images[i] = np.frombuffer(trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot), np.uint8)
        vol.write_track(base + i, images[i])
    vol.flush()
    yield vol, base, images
    vol.close()


def _memcpy_baseline(nbytes: int):
    src = np.ones(nbytes, dtype=np.uint8)
    dst = np.zeros(nbytes, dtype=np.uint8)
    np.copyto(dst, src)  # touch every page first: the baseline is a warm copy (docs/limits.md)
    return lambda: np.copyto(dst, src)


@pytest.mark.benchmark(group="track-io")
def test_write_track_throughput_vs_memcpy(benchmark, capsys, filled):
    vol, base, images = filled

    def write_all():
        for i in range(TRACKS):
            vol.write_track(base + i, images[i])

    memcpy = _memcpy_baseline(images.nbytes)
    ratios = [timed(memcpy) / timed(write_all) for _ in range(ROUNDS)]
    benchmark.pedantic(write_all, rounds=ROUNDS, iterations=1)
    show(capsys, benchmark, "write_track", {"throughput / memcpy": statistics.median(ratios)},
          {"throughput / memcpy": ">= 0.7"})


@pytest.mark.benchmark(group="track-io")
def test_read_track_throughput_vs_memcpy(benchmark, capsys, filled):
    vol, base, images = filled
    out = np.zeros_like(images)

    def read_all():
        for i in range(TRACKS):
            out[i] = vol.read_track(base + i)

    memcpy = _memcpy_baseline(images.nbytes)
    read_all()
    ratios = [timed(memcpy) / timed(read_all) for _ in range(ROUNDS)]
    benchmark.pedantic(read_all, rounds=ROUNDS, iterations=1)
    assert np.array_equal(out, images)
    show(capsys, benchmark, "read_track", {"throughput / memcpy": statistics.median(ratios)},
          {"throughput / memcpy": ">= 0.7"})
