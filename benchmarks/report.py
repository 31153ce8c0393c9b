"""What every benchmark file shares: timing one call, and showing a benchmark's figures
(kept in ``benchmark.extra_info``, where ``conftest.py`` collects them for the summary
table, and printed under the test)."""

from __future__ import annotations

import time


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
