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
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write OUT/sweep.png: outage and recovery "
                                       "per scenario.")] = True,
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
    if plot:
        from dasdlab.bench.sweep_plot import SWEEP_PNG

        _write_png(out, out / SWEEP_PNG)
    if as_json:
        from dasdlab.bench.sweep_plot import scenario_name

        doc = rep.as_dict()
        doc["scenarios"] = [{"id": r["scenario"], "name": scenario_name(r, g.varying), "status": r["status"],
                             **{c: r.get(c) for c in OUTAGE_COLUMNS + ("recovery_modeled_s",) if c in r}}
                            for r in results.to_pylist()]
        print_json(doc)
    else:
        _table(results, g, rep)
        if plot:
            typer.echo(f"DLB032I picture of the sweep in {out / 'sweep.png'}.")
    if rep.failed:
        first_id, first_msg = rep.failed[0]
        typer.echo(f"DLB760E {len(rep.failed)} of {rep.total} scenarios failed (first: {first_id}: {first_msg}); "
                   f"their rows in {out / 'results'} say why. Run the command again to retry them.", err=True)
    finish(row_problems(results.to_pylist()), "scenarios", allow_failures, rep.total)


def _table(results, grid, rep) -> None:
    """The summary: one row per scenario, named by what sets it apart (the grid's
    varying values: ``name``), with its status, outage and recovery."""
    from rich.console import Console
    from rich.table import Table

    from dasdlab.bench.sweep_plot import scenario_name

    names = results.column_names
    outage = next((c for c in OUTAGE_COLUMNS if c in names), None)
    figures = ([outage] if outage else []) + [c for c in ("recovery_modeled_s",) if c in names]
    cols = ["scenario", "name", "status", *figures, "sweep_wall_s"]
    what = f" ({grid.description})" if grid.description else ""
    t = Table(title=f"sweep {rep.grid}{what}: {rep.ok} of {rep.total} ok, {rep.ran} run here "
                    f"({rep.where}, {rep.wall_s:,.1f} s), results in {rep.out / 'results'}")
    for c in cols:
        t.add_column(c, justify="right" if c in (*figures, "sweep_wall_s") else "left", no_wrap=c == "scenario")
    for row in results.to_pylist():
        row["name"] = scenario_name(row, grid.varying)
        t.add_row(*[_fmt(row.get(c)) for c in cols])
    con = Console()
    if not con.is_terminal:  # a log or a pipe: wide enough for every column
        con = Console(width=max(con.width, 132))
    con.print(t)


def _write_png(results: Path, to: Path) -> None:
    """The sweep's picture to ``to`` ('-': standard output), complete or not at all."""
    import sys

    from dasdlab.bench.sweep_plot import sweep_png
    from dasdlab.cli.common import output_file, to_stdout

    png = sweep_png(results)
    if to_stdout(to):
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
        return
    with output_file(to) as f:
        f.write(png)


def plot_sweep(
    results: Annotated[Path, typer.Option("--results", help="Output folder of 'dasdlab bench sweep'.")],
    to: Annotated[Optional[Path], typer.Option("--to", help="PNG file to write (default: RESULTS/sweep.png); "
                                               "'-' is standard output.")] = None,
) -> None:
    """Draw a sweep: the modeled outage and recovery of every scenario, each named by
    the grid values that set it apart; failed scenarios marked."""
    from dasdlab.bench.sweep_plot import SWEEP_PNG
    from dasdlab.cli.common import to_stdout

    dest = results / SWEEP_PNG if to is None else to
    _write_png(results, dest)
    if not to_stdout(dest):
        typer.echo(f"DLB032I picture of the sweep in {dest}.")


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
    app.command("plot-sweep")(plot_sweep)
    app.command("teach")(teach)
    app.command("explore")(explore)
