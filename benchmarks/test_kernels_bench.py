"""Kernel benchmarks: the bitmap scan and the bitmap-driven track copy of
:mod:`dasdlab.emulator.kernels`, against numpy baselines timed in the same run.

The set-up is ``docs/limits.md`` A3a/A3b: a 3390-54-sized bitmap (982,800 tracks) with 10 %
of its bits set, and track images of 56,832 bytes (a Hercules 3390 slot).  The tracks
copied map onto a backing store of ``BACKING`` rows (232 MB per side, well past the
caches), so the copy moves the 5.6 GB it would move on a real volume without needing
that much memory.  Targets (``docs/limits.md`` "Suggested performance goals" (a)):

* bitmap-driven copy of 10 % of 1 M tracks >= 0.60x memcpy serial, >= 0.90x with 2
  threads (memcpy: ``np.copyto`` of the same number of bytes between warm arrays);
* a skipped (clear) track costs <= 1 us in a scan; also printed: the scan's time per
  track and the numpy twin's time over the kernel's.

Figures go to ``extra_info`` and the suite's summary table; they never fail the run.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from report import show, timed  # noqa: E402  (benchmarks/report.py)

NTRACKS = 982_800  # 3390-54
DENSITY = 0.10
SLOT = 56_832
BACKING = 4096
ROUNDS = 5


@pytest.fixture(scope="module")
def bitmap():
    """Words of a 982,800-bit bitmap with 10 % of the bits set, and those bits."""
    from dasdlab.emulator.bitmap import Bitmap

    rng = np.random.default_rng(54)
    idx = np.sort(rng.choice(NTRACKS, int(NTRACKS * DENSITY), replace=False)).astype(np.int64)
    return Bitmap.from_indices(NTRACKS, idx).words, idx


@pytest.mark.benchmark(group="kernels")
def test_bitmap_scan(benchmark, capsys, bitmap):
    from dasdlab.emulator import kernels, kernels_ref

    words, idx = bitmap
    out = np.empty(idx.size, np.int64)
    assert kernels.bitmap_scan(words, 0, NTRACKS, out) == idx.size  # compiled (or loaded) before timing
    assert np.array_equal(out, idx)
    sparse = np.zeros_like(words)
    sparse[::1000] = 1  # 0.1 % of the words hold one bit: almost every track is skipped
    ratios, per_track, per_skipped = [], [], []
    for _ in range(ROUNDS):
        t_k = timed(lambda: kernels.bitmap_scan(words, 0, NTRACKS, out))
        t_ref = timed(lambda: kernels_ref.bitmap_scan(words, 0, NTRACKS, out))
        t_sparse = timed(lambda: kernels.bitmap_scan(sparse, 0, NTRACKS, out))
        ratios.append(t_ref / t_k)
        per_track.append(t_k / NTRACKS * 1e9)
        per_skipped.append(t_sparse / NTRACKS * 1e9)
    benchmark.pedantic(kernels.bitmap_scan, args=(words, 0, NTRACKS, out), rounds=ROUNDS, iterations=1)
    show(capsys, benchmark, "bitmap scan (982,800 bits)", {
        "ns per track scanned": statistics.median(per_track),
        "ns per track, 0.1% of the words set (skipped tracks)": statistics.median(per_skipped),
        "ms per scan at 10%": statistics.median(per_track) * NTRACKS / 1e6,
        "numpy twin / kernel": statistics.median(ratios),
    })


@pytest.mark.benchmark(group="kernels")
def test_bitmap_copy_vs_memcpy(benchmark, capsys, bitmap):
    from dasdlab.emulator import kernels

    words, idx = bitmap
    src = np.random.default_rng(1).integers(0, 256, (BACKING, SLOT), dtype=np.uint8)
    dst = np.zeros_like(src)
    np.copyto(dst, src)  # every page of both sides touched: warm, as docs/limits.md asks
    out = np.empty(idx.size, np.int64)

    def copy(kernel):
        def run():
            n = kernels.bitmap_scan(words, 0, NTRACKS, out)
            rows = out[:n] % BACKING  # the track -> backing row map (a volume would map 1:1)
            kernel(src, dst, rows, rows)
        return run

    serial, parallel = copy(kernels.copy_rows), copy(kernels.copy_rows_parallel)
    serial()  # compiled (or loaded from the cache) before timing
    parallel()
    nbytes = idx.size * SLOT

    def memcpy() -> float:
        # np.copyto of the same number of bytes: the backing copied whole, scaled
        return timed(lambda: np.copyto(dst, src)) * nbytes / src.nbytes

    r_serial, r_par = [], []
    for _ in range(ROUNDS):
        m = memcpy()
        r_serial.append(m / timed(serial))
        r_par.append(m / timed(parallel))
    benchmark.pedantic(serial, rounds=3, iterations=1)
    k = int(idx[idx.size // 2])
    assert np.array_equal(dst[k % BACKING], src[k % BACKING])
    show(capsys, benchmark, f"bitmap-driven copy ({idx.size:,} tracks, {nbytes / 1e9:.1f} GB)", {
        "serial / memcpy": statistics.median(r_serial),
        "2 threads / memcpy": statistics.median(r_par),
    })
