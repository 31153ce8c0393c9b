"""``dasdlab clone``: TimeFinder/Clone sessions on a Symmetrix-like subsystem of a site.

Parses, calls :mod:`dasdlab.emulator.services.timefinder` and prints; nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json

app = typer.Typer(help="TimeFinder/Clone sessions: create, activate, recreate, restore, terminate, "
                       "drain, query.", no_args_is_help=True)

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]
SubOpt = Annotated[Optional[str], typer.Option("--subsystem", help="The subsystem, when ids repeat.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for programs.")]


def _services(site_dir: Path, subsystem: str | None = None):
    from dasdlab.emulator.site import Site

    site = Site.open(site_dir)
    subs = [site.subsystem(subsystem)] if subsystem else [s for s in site.subsystems() if s.has("timefinder")]
    return site, [s.service("timefinder") for s in subs]


def _owner(services, sid: str):
    """The service holding session ``sid`` (the first one raises "no such session")."""
    from dasdlab.errors import CopyServiceError

    have = [svc for svc in services if sid.upper() in svc.sessions]
    if len(have) > 1:
        raise CopyServiceError("DLB388E", f"session {sid} exists on {', '.join(s.sub.name for s in have)}; "
                                          "name one with --subsystem.")
    if not services:
        raise CopyServiceError("DLB376E", "this site has no subsystem with TimeFinder/Clone.")
    return have[0] if have else services[0]


def parse_runs(text: str | None) -> list[tuple[int, int]] | None:
    """``"15:30,45:50"`` -> [(15, 30), (45, 50)]: half-open [start, stop) track runs."""
    from dasdlab.errors import CopyServiceError

    if text is None:
        return None
    out = []
    for part in text.split(","):
        a, sep, b = part.strip().partition(":")
        if not sep or not a.strip().isdigit() or not b.strip().isdigit():
            raise CopyServiceError("DLB389E", f"track run {part.strip()!r} is not START:STOP "
                                              "(half-open, e.g. 15:30).")
        out.append((int(a), int(b)))
    return out


def _line(q: dict) -> str:
    return (f"{q['id']:<7} {q['source']:>6} -> {q['target']:<6} {q['mode']:<7} {q['state']:<15} "
            f"{q['tracks_copied']:>8}/{q['tracks_total']:<8} cow {q['cow_count']:<6} "
            f"bg {q['copied_background']:<6}{' DIFFERENTIAL' if q['differential'] else ''}")


@app.command()
def create(
    source: Annotated[str, typer.Argument(help="Source volume serial.")],
    target: Annotated[str, typer.Argument(help="Target volume serial.")],
    site: SiteOpt,
    mode: Annotated[str, typer.Option(help="COPY, NOCOPY (CopyOnAccess) or PRECOPY.")] = "COPY",
    differential: Annotated[bool, typer.Option(help="Keep changed-track bitmaps (COPY/PRECOPY).")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Clone this data set of SOURCE ...")] = None,
    target_dataset: Annotated[Optional[str], typer.Option(help="... onto this data set of TARGET.")] = None,
    runs: Annotated[Optional[str], typer.Option(help="Source track runs START:STOP,...")] = None,
    target_runs: Annotated[Optional[str], typer.Option(help="Target track runs START:STOP,...")] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a session: the source is protected, the target Not Ready until activate."""
    from dasdlab.emulator.site import Site

    if dataset is not None and runs is not None:
        raise typer.BadParameter("give --dataset or --runs, not both")
    if target_dataset is not None and target_runs is not None:
        raise typer.BadParameter("give --target-dataset or --target-runs, not both")
    s = Site.open(site)
    src_runs, dst_runs = parse_runs(runs), parse_runs(target_runs)
    if dataset is not None:
        vol = s.volume(source)
        src_runs = vol.vtoc.get(dataset).track_list(vol.heads)
    if target_dataset is not None:
        vol = s.volume(target)
        dst_runs = vol.vtoc.get(target_dataset).track_list(vol.heads)
    tf = s.subsystem_of(source).service("timefinder")
    q = tf.create(source, target, src_runs, dst_runs, mode=mode, differential=differential).query()
    s.close()
    if json_:
        print_json(q)
        return
    typer.echo(f"DLB381I clone session {q['id']} created: {q['source']} -> {q['target']}, {q['mode']}"
               f"{', DIFFERENTIAL' if q['differential'] else ''}, {q['tracks_total']} tracks, "
               f"state {q['state']}; the target is Not Ready until activate.")


@app.command()
def activate(
    ids: Annotated[list[str], typer.Argument(help="Session ids; several are activated at one instant.")],
    site: SiteOpt,
    subsystem: SubOpt = None,
) -> None:
    """Make the targets Ready: the point in time is now."""
    s, services = _services(site, subsystem)
    svc = _owner(services, ids[0])
    for sess in svc.activate(ids):
        typer.echo(f"DLB382I clone session {sess.id} activated: {sess.target} is Ready, state "
                   f"{sess.state.value}.")
    s.close()


@app.command()
def recreate(sid: Annotated[str, typer.Argument(help="Session id.")], site: SiteOpt,
             subsystem: SubOpt = None) -> None:
    """Refresh: copy the changes (all tracks without --differential) at the next activate."""
    s, services = _services(site, subsystem)
    q = _owner(services, sid).recreate(sid).query()
    s.close()
    typer.echo(f"DLB383I clone session {q['id']} recreated: {q['tracks_pending']} tracks to copy at "
               f"activation, state {q['state']}.")


@app.command()
def restore(sid: Annotated[str, typer.Argument(help="Session id.")], site: SiteOpt,
            subsystem: SubOpt = None) -> None:
    """Copy the target back to the source (differential sessions only)."""
    s, services = _services(site, subsystem)
    q = _owner(services, sid).restore(sid).query()
    s.close()
    typer.echo(f"DLB384I clone session {q['id']} restoring {q['target']} -> {q['source']}: "
               f"{q['tracks_pending']} changed tracks, state {q['state']}.")


@app.command()
def terminate(
    sid: Annotated[str, typer.Argument(help="Session id.")],
    site: SiteOpt,
    force: Annotated[bool, typer.Option(help="End it even with tracks still to copy.")] = False,
    subsystem: SubOpt = None,
) -> None:
    """End the session."""
    s, services = _services(site, subsystem)
    _owner(services, sid).terminate(sid, force=force)
    s.close()
    typer.echo(f"DLB385I clone session {sid.upper()} terminated.")


@app.command()
def drain(sid: Annotated[str, typer.Argument(help="Session id.")], site: SiteOpt,
          subsystem: SubOpt = None, json_: JsonOpt = False) -> None:
    """Copy every track still to copy, now."""
    from dasdlab.cli.progress import bar

    s, services = _services(site, subsystem)
    svc = _owner(services, sid)
    with bar(f"clone {sid.upper()}", "tracks") as progress:
        svc.drain(sid, progress=progress)
        q = svc.session(sid).query()
    s.close()
    if json_:
        print_json(q)
        return
    typer.echo(f"DLB386I clone session {q['id']} drained: {q['tracks_copied']}/{q['tracks_total']} "
               f"tracks, state {q['state']}.")


@app.command()
def query(
    site: SiteOpt,
    sid: Annotated[Optional[str], typer.Argument(help="One session id (default: all).")] = None,
    subsystem: SubOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List sessions: state, tracks copied, tracks copied on access (cow) and in background."""
    s, services = _services(site, subsystem)
    if sid is not None:
        svc = _owner(services, sid)
        rows = [svc.session(sid).query()]
    else:
        rows = [q for svc in services for q in svc.query()]
    s.close()
    if json_:
        print_json(rows)
        return
    if not rows:
        typer.echo("DLB387I no clone sessions.")
    for q in rows:
        typer.echo(_line(q))
