"""``dasdlab workload run``: an online update workload against an IMS database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dasdlab.cli.common import DEFAULT_SKEW, DURATION_HELP, parse_duration, report_leftovers

app = typer.Typer(help="Online update workloads against IMS databases.", no_args_is_help=True)


@app.command()
def run(
    dbdname: Annotated[str, typer.Argument(help="Database name.")],
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    rate: Annotated[float, typer.Option(help="Updates per (modeled) second.")] = 2000.0,
    duration: Annotated[str, typer.Option(help=f"Modeled duration: {DURATION_HELP}.")] = "30s",
    seed: Annotated[int, typer.Option(help="Seed of the generated updates.")] = 1,
    skew: Annotated[str, typer.Option(help="Access skew: uniform or zipf (the default of "
                                          "'bench outage' too).")] = DEFAULT_SKEW,
    zipf: Annotated[float, typer.Option(help="Zipf exponent s (with --skew zipf).")] = 1.0,
    update_size: Annotated[int, typer.Option(help="Bytes changed per update.")] = 16,
    slice_: Annotated[str, typer.Option("--slice", help=f"Time slice: {DURATION_HELP}.")] = "100ms",
    buffers: Annotated[int, typer.Option(help="Buffers per DBDS subpool.")] = 256,
    policy: Annotated[str, typer.Option(help="Buffer write policy: deferred or commit.")] = "deferred",
    checkpoint_log_records: Annotated[int, typer.Option(
        help="Log records between system checkpoints (IMS CPLOG=, 1024 to 16M).")] = 500_000,
    checkpoint: Annotated[str | None, typer.Option(
        help=f"Also a checkpoint every this much modeled time ({DURATION_HELP}); default: by log records only.")] = None,
    realtime: Annotated[bool, typer.Option(help="Pace slices to the wall clock.")] = False,
    uow_calls: Annotated[int, typer.Option(
        help="DL/I calls per unit of work; with more than 1, uncommitted changes can reach DASD.")] = 1,
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Run committed updates in time slices; a clean end takes a checkpoint.

    Durations are plain seconds or carry a unit: 30s, 100ms, 2m, 1h.

    Example: dasdlab workload run --site mysite HDAMDB01 --rate 2000 --duration 30s
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.system import ImsSystem
    from dasdlab.engine.workload import Workload, WorkloadSpec, preflight

    spec = WorkloadSpec(rate=rate, duration=parse_duration(duration, "--duration"), skew=skew.lower(), zipf_s=zipf,
                        update_size=update_size, seed=seed, slice=parse_duration(slice_, "--slice"),
                        uow_calls=uow_calls)
    s = Site.open(site)
    report_leftovers(s)
    interval = parse_duration(checkpoint, "--checkpoint") if checkpoint else None
    preflight(s, dbdname, spec, buffers, policy.lower(), interval)
    system = ImsSystem(s, buffers=buffers, policy=policy.lower(), checkpoint_log_records=checkpoint_log_records,
                       checkpoint_interval=interval)
    for note in system.start():
        typer.echo(f"DLB596W emergency restart: {note}")
    wl = Workload(system, dbdname, spec)
    t0 = system.now()
    with bar(f"workload {wl.name}", "slices") as cb:
        st = wl.run(realtime=realtime, progress=cb)
    odb = system.dbs[wl.name]
    pools = [p.stats.as_dict() for p in odb.pools]
    t1 = system.now()
    log = system.log
    system.shutdown()
    s.close()
    sm = st.summary()
    if json_:
        from dasdlab.cli.common import print_json

        print_json({"dbd": wl.name, "modeled_s": t1 - t0, **sm, "log_records": log.records_written,
                    "log_bytes": log.bytes_written, "last_seq": log.next_seq - 1, "checkpoints": system.checkpoints,
                    "pools": {d.ddn: p for d, p in zip(odb.db.dbds, pools)}})
        return
    typer.echo(f"DLB597I workload {wl.name}: {st.committed} updates committed, {st.refused} refused, "
               f"{sm['delayed']} delayed (max {st.held_max} held) in {t1 - t0:.1f} modeled s, "
               f"{st.wall_seconds:.2f} wall s ({sm['updates_per_wall_second']:,.0f} updates per wall second)")
    typer.echo(f"  log: {log.records_written} records, {log.bytes_written / 2**20:.1f} MiB, last seq "
               f"{log.next_seq - 1}; checkpoints: {system.checkpoints}")
    for d, p in zip(odb.db.dbds, pools):
        typer.echo(f"  {d.ddn:<8} hits {p['hits']}, misses {p['misses']}, steal writes {p['steal_writes']}, "
                   f"threshold writes {p['threshold_writes']}, checkpoint writes {p['checkpoint_writes']}")
