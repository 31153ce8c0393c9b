"""``dasdlab bench``: benchmarks and scenarios.

``dasdlab bench outage`` runs the outage comparison (:mod:`dasdlab.bench.scenario`):
every copy method against the same online database, and prints a table (or, with
``--json``, the figures for programs); the Parquet results, the track-state traces and
the plots go to ``--out``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from dasdlab.cli import names
from dasdlab.cli.common import DEFAULT_SKEW, DURATION_HELP, parse_duration
from dasdlab.cli.verdict import EXIT_CODES_HELP, AllowFailures, finish, method_problems

app = typer.Typer(help="Benchmarks and outage scenarios. " + EXIT_CODES_HELP, no_args_is_help=True)


def _num(v, unit: str = "") -> str:
    """A figure in three significant digits (no unit: the column header has it)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    return f"{v:.3g}{unit}"


def _count(v: int) -> str:
    if v >= 10**6:
        return f"{v / 1e6:.3g}M"
    if v >= 10**3:
        return f"{v / 1e3:.3g}k"
    return f"{v:,}"


def _bytes(v: float) -> str:
    for unit, k in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if v >= k:
            return f"{v / k:.3g} {unit}"
    return f"{v:.0f} B"


def outage_table(result, caption: str = ""):
    """The rich table of an outage comparison (one row per method), about 120 columns."""
    from rich import box
    from rich.table import Table

    t = Table(title="Outage comparison of the image copy methods", caption=caption or None,
              caption_justify="left", box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for col in ("method", "outage\nmodeled", "outage\nmeasured", "logical", "physical", "delayed",
                "extra\np50/p99", "sidefile\nHWM", "COW", "recovery\nrestore+apply", "verified\ncopy rec"):
        t.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for m in result.methods:
        if m.status != "ok":
            t.add_row(m.name, _num(m.outage_modeled_s), _num(m.outage_measured_s), "[red]failed[/red]",
                      "", _count(m.delayed), "", "", "", "", "[red]no[/red]")
            continue
        rec = (f"{_num(m.recovery_restore_modeled_s)}+{_num(m.recovery_apply_modeled_s)}"
               if math.isfinite(m.recovery_modeled_s) else "-")
        ok_rec = ("yes" if m.recovery_verified else "[red]NO[/red]") if math.isfinite(m.recovery_modeled_s) else "-"
        t.add_row(
            m.name, _num(m.outage_modeled_s), _num(m.outage_measured_s), _num(m.logical_s), _num(m.physical_s),
            _count(m.delayed),
            f"{_num(m.extra_latency_p50_s)}/{_num(m.extra_latency_p99_s)}" if m.delayed else "-",
            _bytes(m.sidefile_hwm_bytes) if m.sidefile_hwm_tracks else "-",
            _count(m.cow_count) if m.cow_count else "-", rec,
            f"{'yes' if m.copy_verified else '[red]NO[/red]'} {ok_rec}")
    return t


def default_caption(result) -> str:
    p = result.spec.params()
    return (f"{_bytes(p['db_size_bytes'])} emulated database standing for {_bytes(p['modeled_size_bytes'])} "
            f"(scale {p['scale']:g}), {p['rate']:g} updates/s ({p['skew']}), profile {p['profile']}, "
            f"seed {p['seed']}. Times in seconds: modeled from the device profile, measured on this machine's "
            "wall clock; logical and physical completion count from the copy start; extra = added latency "
            "of the delayed updates; recovery = restore + log apply after a media failure at the end. "
            "Updates, sidefile and copy-on-write (COW) tracks are modeled figures (emulated x scale).")


def print_result(result, caption: str = "") -> None:
    from rich.console import Console

    con = Console()
    if not con.is_terminal:
        con = Console(width=max(con.width, 132))
    for m in result.methods:
        if m.status != "ok":
            caption = (caption or default_caption(result)) + f"\n{m.name} failed: {m.message}"
    con.print(outage_table(result, caption or default_caption(result)))


@app.command()
def outage(
    db_size: Annotated[str, typer.Option(help="Emulated database size: 16MiB, 256KiB, ...")] = "16MiB",
    modeled_size: Annotated[str | None, typer.Option(
        help="Size the emulated database stands for (e.g. 16GiB); sets the scale.")] = None,
    scale: Annotated[float | None, typer.Option(help="Modeled tracks per emulated track (instead of "
                                                     "--modeled-size).")] = None,
    rate: Annotated[float, typer.Option(help="Updates per modeled second against the modeled database.")] = 2000.0,
    skew: Annotated[str, typer.Option(help="Access skew: uniform or zipf (the default of "
                                          "'workload run' too).")] = DEFAULT_SKEW,
    zipf: Annotated[float, typer.Option(help="Zipf exponent s (with --skew zipf).")] = 1.0,
    update_size: Annotated[int, typer.Option(help="Bytes changed per update.")] = 16,
    profile: Annotated[str, names.option("--profile", kind="profile", help="Device profile name "
                                         "(or one of --profile-file).")] = "ds8000-ficon16",
    profile_file: Annotated[Path | None, typer.Option(help="TOML file of user profiles (tables profiles.NAME).")] = None,
    methods: Annotated[str, names.option("--methods", kind="methods", help="Comma-separated methods, or all; "
                                         "copy-NAME for every copy service with fast replication "
                                         "('dasdlab services list').")] = "all",
    seed: Annotated[int, typer.Option(help="Seed of the database content and the workload.")] = 1,
    slice_: Annotated[str, typer.Option("--slice", help=f"Workload time slice (modeled): {DURATION_HELP}.")] = "100ms",
    warmup: Annotated[str, typer.Option(help=f"Workload before the copy starts (modeled): {DURATION_HELP}.")] = "30s",
    cooldown: Annotated[str, typer.Option(help="Workload after physical completion (modeled).")] = "10s",
    duration: Annotated[str | None, typer.Option(
        help="Modeled time from the copy start to the media failure (default: the slowest method's estimate).")
    ] = None,
    no_failure: Annotated[bool, typer.Option("--no-failure", help="Skip the media failure and recovery.")] = False,
    out: Annotated[Path, typer.Option(help="Results folder (Parquet, traces, plots).")] = Path("outage-out"),
    plots: Annotated[bool, typer.Option(help="Write outage.png and timeline.png.")] = True,
    keep_sites: Annotated[bool, typer.Option("--keep-sites/--no-keep-sites", "--keep",
                                             help="Keep each method's site under OUT/sites.")] = False,
    max_wall: Annotated[float | None, typer.Option(help="Refuse a run estimated to take longer than this many "
                                                        "wall seconds.")] = None,
    cache: Annotated[str | None, typer.Option(help="Subsystem cache size of the modeled box (e.g. 64GiB; "
                                                   "default: the profile's).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    html: Annotated[bool, typer.Option("--html", help="Also write OUT/explorer.html (open it in a browser).")] = False,
    allow_failures: Annotated[bool, AllowFailures] = False,
) -> None:
    """Compare the outage of every image copy method on one online database.

    Every copy is checked against the truth at its point in time, every recovery
    against the committed content.

    Example: dasdlab bench outage --db-size 1MiB --methods standard,dump-cc --out o
    """
    from dasdlab.bench.scenario import ScenarioSpec, run_scenario
    from dasdlab.cli.common import print_json
    from dasdlab.cli.progress import FRACTION, bar

    spec = ScenarioSpec(db_size=db_size, modeled_size=modeled_size, scale=scale, rate=rate, skew=skew.lower(),
                        zipf_s=zipf, update_size=update_size, methods=methods, profile=profile,
                        profile_file=str(profile_file) if profile_file else None, seed=seed, slice=parse_duration(slice_, "--slice"),
                        warmup=parse_duration(warmup, "--warmup"), cooldown=parse_duration(cooldown, "--cooldown"),
                        duration=None if duration is None else parse_duration(duration, "--duration"),
                        failure=not no_failure,
                        cache_size=cache)

    def shown(est) -> None:  # before anything is touched; stderr keeps --json parseable
        typer.echo(est.line(), err=json_)

    with bar("outage comparison", FRACTION) as cb:
        result = run_scenario(spec, out, progress=cb, on_phase=cb.phase, keep_sites=keep_sites, max_wall=max_wall, on_estimate=shown)
    if plots:
        from dasdlab.bench.plots import write_plots

        write_plots(result, out, default_caption(result))
    if html:
        from dasdlab.bench.explorer import write_explorer

        write_explorer(out)
    if json_:
        print_json(result.as_json())
    else:
        print_result(result)
        typer.echo(f"DLB740I results in {out}/: methods.parquet, timeline.parquet, trace-METHOD.npz"
                   + (", outage.png, timeline.png" if plots else "") + (", explorer.html" if html else "")
                   + f" ({result.wall_s:.1f} wall s, "
                   f"{result.disk_peak_bytes / 2**20:,.0f} MiB of disk at the largest method's end)")
    finish(method_problems(result.methods), "methods", allow_failures, len(result.methods))


from dasdlab.cli.bench_extra import register as _register_extra  # noqa: E402 - bench sweep, bench teach

_register_extra(app)
