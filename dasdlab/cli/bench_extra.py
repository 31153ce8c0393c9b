"""``dasdlab bench sweep`` and ``dasdlab bench teach``: a grid of outage scenarios on
Dask, and the teaching view of one method's track states.  Registered on the ``bench``
sub-app by :func:`register`; the work is in :mod:`dasdlab.bench.sweep` and
:mod:`dasdlab.bench.trace_plot`.  Nothing here imports numba, Dask or matplotlib
before a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli import names
from dasdlab.cli.common import print_json
from dasdlab.cli.verdict import AllowFailures, finish, row_problems

#: result columns shown in the sweep table when a result has them (first found wins)
OUTAGE_COLUMNS = ("outage_modeled_s", "outage_s")


def sweep(
    grid: Annotated[Path, typer.Option("--grid", help="Grid file (TOML), e.g. fixtures/grids/ci.toml.")],
    scheduler: Annotated[Optional[str], typer.Option(
        "--scheduler", help="Address of a running Dask scheduler (tcp://HOST:8786); default: a local "
                          "cluster. --workers is then ignored.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Worker processes of the local cluster (default: one per core); 0 runs the "
                          "scenarios one after the other in this process.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Output folder (default: sweeps/GRIDNAME); running again resumes it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep summary as JSON.")] = False,
    allow_failures: Annotated[bool, AllowFailures] = False,
) -> None:
    """Run every scenario of a grid on Dask; results in OUT/results/*.parquet.

    Each combination of the grid's lists is a scenario, run in OUT/work/ID; run again to resume.
    A scenario that failed or whose copy or recovery does not verify makes the exit status 4.

    Example: dasdlab bench sweep --grid fixtures/grids/ci.toml --workers 0"""
    from dasdlab.bench.grid import load_grid
    from dasdlab.bench.sweep import load_results, run_sweep
    from dasdlab.cli.progress import bar

    g = load_grid(grid)
    out = out if out is not None else Path("sweeps") / g.name
    with bar(f"sweep {g.name}", "scenarios") as progress:
        rep = run_sweep(g, out, scheduler=scheduler, workers=workers, progress=progress,
                        on_phase=progress.phase)
    results = load_results(out)
    if as_json:
        print_json(rep.as_dict())
    else:
        _table(results, g.varying, rep)
    if rep.failed:
        first_id, first_msg = rep.failed[0]
        typer.echo(f"DLB760E {len(rep.failed)} of {rep.total} scenarios failed (first: {first_id}: {first_msg}); "
                   f"their rows in {out / 'results'} say why. Run the command again to retry them.", err=True)
    finish(row_problems(results.to_pylist()), "scenarios", allow_failures, rep.total)


def _table(results, varying: list[str], rep) -> None:
    from rich.console import Console
    from rich.table import Table

    names = results.column_names
    outage = next((c for c in OUTAGE_COLUMNS if c in names), None)
    cols = ["scenario", *[v for v in varying if v in names], "status"] + ([outage] if outage else []) + ["sweep_wall_s"]
    t = Table(title=f"sweep {rep.grid}: {rep.ok} of {rep.total} ok, {rep.ran} run here "
                    f"({rep.where}, {rep.wall_s:,.1f} s), results in {rep.out / 'results'}")
    for c in cols:
        t.add_column(c, justify="right" if c in (outage, "sweep_wall_s") else "left", no_wrap=c == "scenario")
    for row in results.select(cols).to_pylist():
        t.add_row(*[_fmt(row[c]) for c in cols])
    Console().print(t)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}"
    return str(v)


def teach(
    results: Annotated[Path, typer.Option("--results", help="Results folder of 'dasdlab bench outage'.")],
    method: Annotated[str, names.option("--method", kind="method", help="Copy method whose trace to draw.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="PNG to write (default: RESULTS/teach-METHOD.png).")] = None,
    frames: Annotated[int, typer.Option(
        "--frames", help="Also write this many frames (OUT-STEM-frames/frame-NNNN.png).")] = 0,
    gif: Annotated[Optional[Path], typer.Option(
        "--gif", metavar="FILE", help="Also write an animation with frames at the copy's events "
                                      "(.gif, or .mp4 where ffmpeg is installed).")] = None,
    gif_frames: Annotated[int, typer.Option("--gif-frames", help="Frames of the animation.")] = 36,
) -> None:
    """Draw the track states of one method's copy over time (the teaching view).

    Not yet copied, copied, saved (copy-on-write, sidefile), shared, changed after the point in time."""
    from dasdlab.bench.trace_plot import teach as draw
    from dasdlab.cli.progress import bar

    with bar(f"teaching view of {method}", "pictures") as progress:
        files = draw(results, method, out, frames=frames, progress=progress)
    if gif is not None:
        from dasdlab.bench.animation import animate

        with bar(f"animation of {method}", "frames") as progress:
            files.append(animate(results, method, gif, frames=gif_frames, progress=progress))
    for p in files:
        typer.echo(str(p))


def explore(
    results: Annotated[Path, typer.Option("--results", help="Results folder of 'dasdlab bench outage'.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="HTML file to write (default: RESULTS/explorer.html).")] = None,
) -> None:
    """Write the outage explorer: one self-contained HTML file to open in a browser
    (pick a method or all side by side, play or scrub through modeled time)."""
    from dasdlab.bench.explorer import write_explorer

    path = write_explorer(results, out)
    typer.echo(f"DLB850I outage explorer written to {path}; open it in a browser (no server needed).")


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``teach`` and ``explore`` to the ``bench`` sub-app."""
    app.command("sweep")(sweep)
    app.command("teach")(teach)
    app.command("explore")(explore)
