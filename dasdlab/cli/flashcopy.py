"""``dasdlab flashcopy``: establish, query, withdraw, drain, refresh and reverse FlashCopy
relationships.

Parses, calls :mod:`dasdlab.emulator.services.flashcopy` and prints; nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json
from dasdlab.cli.trackmaps import MapOpt, MapPngOpt
from dasdlab.cli.trackmaps import show as show_maps

app = typer.Typer(help="FlashCopy relationships on a DS8000-like subsystem of a site.",
                  no_args_is_help=True)

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]


def _service(site_dir: Path, volser: str | None = None):
    """(site, FlashCopy service): of the subsystem holding ``volser``, else of every
    subsystem that has FlashCopy (the first one for verbs that name an id)."""
    from dasdlab.emulator.site import Site

    site = Site.open(site_dir)
    if volser is not None:
        return site, [site.subsystem_of(volser).service("flashcopy")]
    return site, [s.service("flashcopy") for s in site.subsystems() if s.has("flashcopy")]


def _owner(services, rid: str):
    for svc in services:
        if rid.upper() in {r.id for r in svc.relationships()}:
            return svc
    return services[0]  # its get() raises the "no such relationship" error


@app.command()
def establish(
    srcvol: Annotated[str, typer.Argument(help="Source volume serial.")],
    tgtvol: Annotated[str, typer.Argument(help="Target volume serial.")],
    site: SiteOpt,
    mode: Annotated[str, typer.Option(help="COPY (background copy) or NOCOPY.")] = "COPY",
    incremental: Annotated[bool, typer.Option(help="Persistent, with change recording; target write-inhibited.")] = False,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Copy this data set of SRCVOL ...")] = None,
    target_dataset: Annotated[Optional[str], typer.Option("--target-dataset", help="... onto this data set of TGTVOL.")] = None,
    space_efficient: Annotated[bool, typer.Option(help="Target tracks come from the repository (NOCOPY only).")] = False,
    freeze: Annotated[bool, typer.Option(help="Hold writes to the source until thaw (consistency group).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the relationship as JSON.")] = False,
) -> None:
    """Establish a relationship (volume level, or data set level with --dataset)."""
    from dasdlab.emulator.services.flashcopy import dataset_runs

    if (dataset is None) != (target_dataset is None):
        raise typer.BadParameter("--dataset and --target-dataset go together")
    s, (svc,) = _service(site, srcvol)
    src_runs = dst_runs = None
    if dataset is not None:
        src_runs = dataset_runs(s.volume(srcvol), dataset)
        dst_runs = dataset_runs(s.volume(tgtvol), target_dataset)
    rel = svc.establish(srcvol, tgtvol, src_runs, dst_runs, mode=mode, incremental=incremental,
                        space_efficient=space_efficient, freeze=freeze)
    q = rel.query()
    s.close()
    if json_:
        print_json(q)
        return
    typer.echo(f"DLB348I FlashCopy {q['id']} established: {q['source']} -> {q['target']}, {q['mode']}, "
               f"{q['tracks_total']} tracks, state {q['state']}.")


@app.command()
def query(
    site: SiteOpt,
    json_: Annotated[bool, typer.Option("--json", help="A JSON list for programs.")] = False,
    map_: MapOpt = False,
    map_png: MapPngOpt = None,
) -> None:
    """List the relationships with their state and counters (and track maps)."""
    s, services = _service(site)
    rows = [r.query() for svc in services for r in svc.relationships()]
    show_maps(s, "flashcopy", map_, map_png)
    s.close()
    if json_:
        print_json(rows)
        return
    if not rows:
        typer.echo("DLB349I no FlashCopy relationships.")
        return
    typer.echo(f"{'ID':<7} {'SOURCE':<7} {'TARGET':<7} {'MODE':<6} {'STATE':<11} {'COPIED':>17} {'COW':>8}")
    for q in rows:
        typer.echo(f"{q['id']:<7} {q['source']:<7} {q['target']:<7} {q['mode']:<6} {q['state']:<11} "
                   f"{q['tracks_copied']:>8}/{q['tracks_total']:<8} {q['cow_count']:>8}"
                   + (f"  {q['message']}" if q["message"] else ""))


@app.command()
def withdraw(
    rid: Annotated[str, typer.Argument(metavar="ID", help="Relationship id, e.g. FC0001.")],
    site: SiteOpt,
    ddsw: Annotated[bool, typer.Option("--ddsw", help="Convert to COPY; withdraw when the copy ends.")] = False,
) -> None:
    """Withdraw a relationship (at once, or after its background copy with --ddsw)."""
    s, services = _service(site)
    rel = _owner(services, rid).withdraw(rid, ddsw=ddsw)
    state = rel.state.value
    s.close()
    if state == "WITHDRAWN":
        typer.echo(f"DLB350I FlashCopy {rel.id} withdrawn.")
    else:
        typer.echo(f"DLB351I FlashCopy {rel.id} converted to COPY; it is withdrawn when its "
                   f"background copy ends (state {state}).")


@app.command()
def refresh(
    rid: Annotated[str, typer.Argument(metavar="ID", help="Incremental relationship id, e.g. FC0001.")],
    site: SiteOpt,
    drain_: Annotated[bool, typer.Option("--drain", help="Then copy the changed tracks to completion.")] = False,
) -> None:
    """Incremental refresh: a new point in time, only the tracks changed since copied.

    Example: dasdlab flashcopy refresh FC0001 --site site --drain
    """
    _increment(site, rid, "refresh", drain_)


@app.command()
def reverse(
    rid: Annotated[str, typer.Argument(metavar="ID", help="Incremental relationship id, e.g. FC0001.")],
    site: SiteOpt,
    drain_: Annotated[bool, typer.Option("--drain", help="Then copy the changed tracks to completion.")] = False,
) -> None:
    """Reverse restore: the target's image goes back to the source (after the background
    copy finished); afterwards the relationship runs the other way.

    Example: dasdlab flashcopy reverse FC0001 --site site
    """
    _increment(site, rid, "reverse", drain_)


def _increment(site: Path, rid: str, verb: str, drain_: bool) -> None:
    from dasdlab.cli.progress import bar

    s, services = _service(site)
    svc = _owner(services, rid)
    rel = getattr(svc, verb)(rid)
    copied = 0
    if drain_:
        with bar("background copy", "tracks") as progress:
            copied = svc.drain(rel.id, progress=progress)
    q = rel.query()
    s.close()
    what = "refreshed" if verb == "refresh" else "reversed"
    typer.echo(f"DLB064I FlashCopy {q['id']} {what}: {q['source']} -> {q['target']}, state {q['state']}"
               + (f", {copied} tracks copied." if drain_ else "."))


@app.command()
def drain(
    site: SiteOpt,
    rid: Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Only this relationship.")] = None,
) -> None:
    """Run the background copy to completion, with a progress bar."""
    from dasdlab.cli.progress import bar

    s, services = _service(site)
    done = 0
    with bar("background copy", "tracks") as progress:
        if rid is not None:
            done = _owner(services, rid).drain(rid, progress=progress)
        else:
            for svc in services:
                done += svc.drain(progress=progress)
    s.close()
    typer.echo(f"DLB352I background copy done: {done} tracks copied.")
