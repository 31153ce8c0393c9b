"""Cold-start benchmark: ``dasdlab --help`` as a new process, against Python starting
and importing numpy in the same run.

Targets: docs/architecture.md ``dasdlab --help`` <= 0.3 s; ``docs/limits.md`` (d) commands that move
no data <= 3x ``python -c "import numpy"``.  numba must not be imported on the way
(docs/architecture.md "Kernels"): that is checked, not timed.  Each command runs as the console
script ``dasdlab`` would (``python -m`` of the entry point would add runpy's work), in
interleaved rounds, and the median is taken.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest

ROUNDS = 7
HELP = [sys.executable, "-c", "import sys; sys.argv = ['dasdlab', '--help']; from dasdlab.cli.main import run; run()"]
NUMPY = [sys.executable, "-c", "import numpy"]
BARE = [sys.executable, "-c", "pass"]


def _run(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


@pytest.mark.benchmark(group="cli")
def test_help_time(benchmark, capsys):
    probe = subprocess.run([sys.executable, "-c",
                            "import sys; sys.argv = ['dasdlab', '--help']\n"
                            "from dasdlab.cli.main import run\n"
                            "try:\n    run()\nexcept SystemExit:\n    pass\n"
                            "print('NUMBA' if 'numba' in sys.modules else 'CLEAN', file=sys.stderr)"],
                           capture_output=True, text=True, check=True)
    assert probe.stderr.strip().endswith("CLEAN"), "dasdlab --help imported numba"
    assert "Usage" in probe.stdout
    for cmd in (HELP, NUMPY, BARE):  # warm the page cache and __pycache__
        _run(cmd)
    t_help, t_np, t_bare = [], [], []
    for _ in range(ROUNDS):
        t_help.append(_run(HELP))
        t_np.append(_run(NUMPY))
        t_bare.append(_run(BARE))
    benchmark.pedantic(_run, args=(HELP,), rounds=3, iterations=1)
    h, n, b = statistics.median(t_help), statistics.median(t_np), statistics.median(t_bare)
    figures = {"dasdlab --help, s": h, "--help / import numpy": h / n, "python -c 'import numpy', s": n,
               "python -c pass, s": b}
    benchmark.extra_info.update({k: round(v, 4) for k, v in figures.items()})
    with capsys.disabled():
        for k, v in figures.items():
            print(f"\n  help: {k} = {v:.4f}", end="")
        print()
