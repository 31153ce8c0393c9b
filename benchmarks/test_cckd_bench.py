"""Compressed-image benchmarks: conversion against Hercules dasdcopy, and writing tracks
into a compressed image in place against writing the plain image.

Figures are ratios against baselines timed in the same run, interleaved round by round
(the machine is shared: compare ratios, not seconds).  Targets (issue 14): CKD -> CCKD
zlib and CCKD -> CKD each take <= 0.5x the wall time of ``dasdcopy -z`` / ``dasdcopy
-lfs`` on a 3390-3 holding about 330 MB; writing tracks into a compressed image in place
runs at >= 0.5x the speed of writing the same tracks into the plain image.  The ratios
are printed and stored in the benchmark JSON; they do not fail the run.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.cckd import CckdVolume
from dasdlab.emulator.convert import convert_volume
from dasdlab.emulator.volume import Volume
from report import show, timed  # noqa: E402  (benchmarks/report.py)

ROUNDS = 3
DATA_BYTES = 330_000_000
WORDS = ("CUSTOMER ACCOUNT BALANCE DEBIT CREDIT SEGMENT ROOT CHILD IMS DBD PSB PCB "
         "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG 000123 004711 PAYROLL").split()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = "Hercules utilities not installed: sudo apt-get install hercules"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _tracks(vol: Volume, first: int, n: int, seed: int) -> list[np.ndarray]:
    """``n`` track images of twelve 4 KB records of EBCDIC words (compress about 6:1,
    like text data sets)."""
    rng = np.random.default_rng(seed)
    words = [w.encode("cp037") for w in WORDS]
    out = []
    for i in range(n):
        cyl, head = divmod(first + i, vol.heads)
        recs = []
        for r in range(1, 13):
            picked = rng.integers(0, len(words), 900)
            data = b"\x40".join(words[j] for j in picked)[:4096].ljust(4096, b"\x40")
            recs.append((r, b"", data))
        out.append(np.frombuffer(trackfmt.build_track(cyl, head, recs, vol.slot), np.uint8))
    return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A 3390-3 with about 330 MB of track images after cylinder 0, the rest never written."""
    d = tmp_path_factory.mktemp("cckd")
    img = d / "src.ckd"
    vol = Volume.create(img, "3390-3", "BEN003")
    n = DATA_BYTES // vol.slot
    first = vol.heads
    for i, image in enumerate(_tracks(vol, first, n, seed=3)):
        vol.write_track(first + i, image)
    vol.flush()
    vol.close()
    return img


def _cpu() -> float:
    """CPU seconds of this process (all its threads) plus its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _interleaved(pairs: dict[str, callable], clean) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of each callable, round by round.  The CPU figure is what
    a loaded machine cannot distort: with every core shared, wall time follows the
    share a process gets, CPU time only the work it does."""
    times: dict[str, list[float]] = {k: [] for k in pairs}
    cpu: dict[str, list[float]] = {k: [] for k in pairs}
    for _ in range(ROUNDS):
        for name, fn in pairs.items():
            clean()
            c0 = _cpu()
            times[name].append(timed(fn))
            cpu[name].append(_cpu() - c0)
    clean()
    return times, cpu


@pytest.mark.benchmark(group="cckd-convert")
def test_convert_to_cckd_vs_dasdcopy_z(benchmark, capsys, loaded):
    dasdcopy, cckdcdsk = _tool("dasdcopy"), _tool("cckdcdsk")
    dst = loaded.with_name("ours.cckd")
    ref = loaded.with_name("hercules.cckd")

    def clean():
        dst.unlink(missing_ok=True)
        ref.unlink(missing_ok=True)

    def ours():
        convert_volume(loaded, dst, cckd=True, compress="zlib")

    def hercules():
        subprocess.run([dasdcopy, "-q", "-z", str(loaded), str(ref)], check=True,
                       capture_output=True)

    times, cpu = _interleaved({"ours": ours, "dasdcopy": hercules}, clean)
    ratios = [a / b for a, b in zip(times["ours"], times["dasdcopy"])]
    cpu_ratios = [a / b for a, b in zip(cpu["ours"], cpu["dasdcopy"])]
    ours()
    assert subprocess.run([cckdcdsk, "-3", "-ro", str(dst)], capture_output=True).returncode == 0
    back = loaded.with_name("back.ckd")
    convert_volume(dst, back, cckd=False)
    with Volume.open(loaded) as a, Volume.open(back) as b:
        for t in a.written.indices()[:: 97].tolist():
            assert np.array_equal(a.read_track(t), b.read_track(t))
    back.unlink()
    clean()
    benchmark.pedantic(ours, setup=clean, rounds=1, iterations=1)
    clean()
    show(capsys, benchmark, "CKD -> CCKD zlib", {
        "time / dasdcopy -z time": statistics.median(ratios),
        "CPU time / dasdcopy -z CPU time": statistics.median(cpu_ratios)},
        {"time / dasdcopy -z time": "<= 0.5"})


@pytest.fixture(scope="module")
def herc_cckd(loaded) -> Path:
    """The loaded volume as ``dasdcopy -z`` writes it: the CCKD -> CKD input."""
    out = loaded.with_name("input.cckd")
    if not out.exists():
        subprocess.run([_tool("dasdcopy"), "-q", "-z", str(loaded), str(out)], check=True,
                       capture_output=True)
    return out


@pytest.mark.benchmark(group="cckd-convert")
def test_convert_to_ckd_vs_dasdcopy_lfs(benchmark, capsys, herc_cckd):
    dasdcopy = _tool("dasdcopy")
    dst = herc_cckd.with_name("ours.ckd")
    ref = herc_cckd.with_name("hercules.ckd")

    def clean():
        dst.unlink(missing_ok=True)
        ref.unlink(missing_ok=True)

    def ours():
        convert_volume(herc_cckd, dst, cckd=False)

    def hercules():
        subprocess.run([dasdcopy, "-q", "-lfs", str(herc_cckd), str(ref)], check=True,
                       capture_output=True)

    times, cpu = _interleaved({"ours": ours, "dasdcopy": hercules}, clean)
    ratios = [a / b for a, b in zip(times["ours"], times["dasdcopy"])]
    cpu_ratios = [a / b for a, b in zip(cpu["ours"], cpu["dasdcopy"])]
    ours()
    hercules()
    assert _same_file(dst, ref)
    clean()
    benchmark.pedantic(ours, setup=clean, rounds=1, iterations=1)
    clean()
    show(capsys, benchmark, "CCKD -> CKD", {
        "time / dasdcopy -lfs time": statistics.median(ratios),
        "CPU time / dasdcopy -lfs CPU time": statistics.median(cpu_ratios)},
        {"time / dasdcopy -lfs time": "<= 0.5"})


def _same_file(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 22), fb.read(1 << 22)
            if x != y:
                return False
            if not x:
                return True


WRITE_TRACKS = 1500


@pytest.mark.benchmark(group="cckd-write")
def test_write_in_place_vs_plain(benchmark, capsys, tmp_path):
    plain = tmp_path / "plain.ckd"
    Volume.create(plain, "3390-3", "WRT003").close()
    comp = tmp_path / "comp.cckd"
    convert_volume(plain, comp, cckd=True)
    first = 15
    with Volume.open(plain) as v:
        images = _tracks(v, first, WRITE_TRACKS, seed=4)

    def write(path):
        def run():
            vol = Volume.open(path, writable=True)
            for i, image in enumerate(images):
                vol.write_track(first + i, image)
            vol.close()  # the compressed image stores its free chain and header here
        return run

    ratios = []
    for _ in range(ROUNDS):  # each round rewrites the same tracks: the free chain is used
        t_plain = timed(write(plain))
        t_comp = timed(write(comp))
        ratios.append(t_plain / t_comp)
    assert subprocess.run([_tool("cckdcdsk"), "-3", "-ro", str(comp)], capture_output=True).returncode == 0
    with CckdVolume.open(comp) as c:
        for i in range(0, WRITE_TRACKS, 101):
            assert np.array_equal(c.read_track(first + i), images[i])
    benchmark.pedantic(write(comp), rounds=1, iterations=1)
    show(capsys, benchmark, "write in place", {
        "CCKD write speed / plain write speed": statistics.median(ratios)},
        {"CCKD write speed / plain write speed": ">= 0.5"})
