"""``dasdlab cc``: Concurrent Copy sessions of a site, as their records show them.

A session lives in the process whose dump started it (DFSMSdss, the image copy engine);
this command lists the sessions and counters recorded by every process, and forgets
the records of ended ones.  Parses, calls :mod:`dasdlab.emulator.services.
concurrent_copy` and prints; nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json
from dasdlab.cli.trackmaps import MapOpt, MapPngOpt
from dasdlab.cli.trackmaps import show as show_maps

app = typer.Typer(help="Concurrent Copy sessions: query their state and sidefile counters.",
                  no_args_is_help=True)

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]
SubOpt = Annotated[Optional[str], typer.Option("--subsystem", help="Only this subsystem.")]


def _services(site_dir: Path, subsystem: str | None):
    from dasdlab.emulator.site import Site

    site = Site.open(site_dir)
    subs = [site.subsystem(subsystem)] if subsystem else site.subsystems()
    return site, [s.service("concurrent_copy") for s in subs if s.has("concurrent_copy") or subsystem]


@app.command()
def query(site: SiteOpt, subsystem: SubOpt = None,
          json_: Annotated[bool, typer.Option("--json", help="JSON for programs.")] = False,
          map_: MapOpt = False, map_png: MapPngOpt = None) -> None:
    """List sessions: state, tracks read, intercepted writes, sidefile high-water marks."""
    s, services = _services(site, subsystem)
    rows = [q for svc in services for q in svc.query()]
    show_maps(s, "concurrent_copy", map_, map_png)
    s.close()
    if json_:
        print_json(rows)
        return
    if not rows:
        typer.echo("DLB387I no Concurrent Copy sessions.")
    for q in rows:
        typer.echo(
            f"{q['id']:<7} {q['subsystem']:<6} {q['volser']:<6} {q['method']:<17} {q['state']:<9} "
            f"read {q['tracks_read']}/{q['tracks_total']} (sidefile {q['tracks_read_sidefile']}) "
            f"intercepted {q['intercepted_writes']} cache hwm {q['cache_hwm_tracks']} trk "
            f"host hwm {q['host_hwm_tracks']} trk"
        )
        if q["message"]:
            typer.echo(f"        {q['message']}")


@app.command()
def purge(site: SiteOpt, subsystem: SubOpt = None) -> None:
    """Forget the records of sessions that have ended."""
    s, services = _services(site, subsystem)
    gone = [sid for svc in services for sid in svc.purge()]
    s.close()
    typer.echo(f"DLB387I {len(gone)} ended Concurrent Copy session records forgotten"
               f"{': ' + ', '.join(gone) if gone else '.'}")
