"""What every benchmark file shares: timing one call, and showing a benchmark's figures
(kept in ``benchmark.extra_info``, where ``conftest.py`` collects them for the summary
table, and printed under the test)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def timed(fn) -> float:
    """Wall seconds of one call of ``fn``."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def show(capsys, benchmark, name: str, figures: dict[str, float], targets: dict[str, str] | None = None) -> None:
    benchmark.extra_info.update({k: round(v, 4) for k, v in figures.items()})
    with capsys.disabled():
        for k, v in figures.items():
            target = f"  (target {targets[k]})" if targets and k in targets else ""
            print(f"\n  {name}: {k} = {v:,.4f}{target}", end="")
        print()


def file_write_seconds(nbytes: int, folder: Path, rounds: int = 3) -> float:
    """Best wall seconds of a plain sequential write of ``nbytes`` into a new file (8 MiB
    pieces, no fsync: what the page cache takes, like the image copy's output)."""
    piece = np.random.default_rng(1).integers(0, 256, 8 << 20, dtype=np.uint8)
    best = float("inf")
    for i in range(rounds):
        p = folder / f"file-write-baseline-{i}"
        t = time.perf_counter()
        with open(p, "wb") as f:
            left = nbytes
            while left > 0:
                k = min(left, piece.size)
                f.write(piece[:k])
                left -= k
        best = min(best, time.perf_counter() - t)
        p.unlink()
    return best
