"""``dasdlab warmup``: compile and cache every numba kernel before timing anything.

numba compiles a kernel on its first call (about two seconds each, ``docs/limits.md`` A5)
and keeps the machine code in its cache (``cache=True``), keyed by the argument
types.  The surest way to meet every signature the programs use is to run them: a tiny
outage comparison of every copy method (image copies, copy services, workload,
recovery) on a 1 MiB database, in a temporary folder.  ``make bench`` runs this first,
so that no benchmark times a compilation.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dasdlab.cli.verdict import AllowFailures, finish, method_problems


def warmup(allow_failures: Annotated[bool, AllowFailures] = False) -> None:
    """Compile and cache the numba kernels (a tiny run of every copy method).

    A method that fails has not compiled its kernels: the run exits 4 and says which.

    Example: dasdlab warmup
    """
    import tempfile
    import time

    from dasdlab.bench.scenario import ScenarioSpec, run_scenario

    t0 = time.perf_counter()
    spec = ScenarioSpec(db_size="1MiB", rate=200.0, warmup=1.0, cooldown=1.0, seed=1)
    with tempfile.TemporaryDirectory(prefix="dasdlab-warmup-") as d:
        res = run_scenario(spec, d, write=False)
    problems = method_problems(res.methods)
    if problems:
        typer.echo(f"DLB903W warm-up methods did not complete: {', '.join(problems)}", err=True)
    typer.echo(f"DLB902I numba kernels compiled and cached ({time.perf_counter() - t0:.1f} s).")
    finish(problems, "warm-up methods", allow_failures, len(res.methods))
