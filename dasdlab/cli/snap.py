"""``dasdlab snap``: SnapShot on an RVA-like subsystem — snap volumes and data sets,
query snaps, release them, show or collect the track pool, export a pool volume.

Parses, calls :mod:`dasdlab.emulator.services.snapshot` and :mod:`dasdlab.emulator.rva`
and prints; nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json
from dasdlab.cli.trackmaps import MapOpt, MapPngOpt
from dasdlab.cli.trackmaps import show as show_maps

app = typer.Typer(help="SnapShot copies and the log-structured track pool of an RVA-like subsystem.",
                  no_args_is_help=True)

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for programs.")]


def _services(site_dir: Path, volser: str | None = None):
    from dasdlab.emulator.site import Site

    site = Site.open(site_dir)
    if volser is not None:
        return site, [site.subsystem_of(volser).service("snapshot")]
    return site, [s.service("snapshot") for s in site.subsystems() if s.has("snapshot")]


def _line(r: dict) -> str:
    return (f"{r['id']:<7} {r['state']:<9} {r['source']:>6} -> {r['target']:<6} {r['kind']:<7} "
            f"total={r['tracks_total']} shared={r['tracks_shared']} unshared={r['tracks_unshared']} "
            f"space={r['space_consumed_bytes']}")


@app.command()
def volume(src: Annotated[str, typer.Argument(help="Source volume serial.")],
           tgt: Annotated[str, typer.Argument(help="Target volume serial (same subsystem, like device).")],
           site: SiteOpt, json_: JsonOpt = False) -> None:
    """Snap a whole volume (the target keeps its own volume serial)."""
    s, (svc,) = _services(site, src)
    rec = svc.snap(src, tgt)
    s.close()
    if json_:
        print_json(rec)
        return
    typer.echo(f"DLB399I {_line(rec)}")


@app.command()
def dataset(dsn: Annotated[str, typer.Argument(help="Catalogued source data set.")],
            site: SiteOpt,
            to_volser: Annotated[str, typer.Option("--to-volser", help="Target volume.")] = ...,
            new_name: Annotated[str, typer.Option("--new-name", help="Name of the copy.")] = ...,
            json_: JsonOpt = False) -> None:
    """Snap a data set to a new data set on a volume of the same subsystem."""
    from dasdlab.emulator.site import Site

    s = Site.open(site)
    svc = s.subsystem_of(s.catalog.lookup(dsn)).service("snapshot")
    rec = svc.snap_dataset(dsn, to_volser, new_name)
    s.close()
    if json_:
        print_json(rec)
        return
    typer.echo(f"DLB399I {_line(rec)} {dsn} -> {new_name}")


@app.command()
def query(site: SiteOpt, snap_id: Annotated[Optional[str], typer.Argument(help="One snap id.")] = None,
          json_: JsonOpt = False, map_: MapOpt = False, map_png: MapPngOpt = None) -> None:
    """List snaps with their shared and unshared track counts (and track maps)."""
    s, svcs = _services(site)
    recs = []
    for svc in svcs:
        if snap_id is None:
            recs += svc.query()
        elif snap_id.upper() in svc.snaps:
            recs += svc.query(snap_id)
    if snap_id is not None and not recs:
        svcs[0].get(snap_id)  # raises the "no such snap" error
    show_maps(s, "snapshot", map_, map_png, [r["id"] for r in recs])
    s.close()
    if json_:
        print_json(recs)
        return
    for r in recs:
        typer.echo(_line(r))


@app.command()
def release(snap_id: str, site: SiteOpt) -> None:
    """Forget a snap record (the target keeps its data)."""
    s, svcs = _services(site)
    svc = next((v for v in svcs if snap_id.upper() in v.snaps), svcs[0])
    svc.release(snap_id)
    s.close()
    typer.echo(f"DLB399I snap {snap_id.upper()} released.")


@app.command()
def pool(site: SiteOpt,
         subsystem: Annotated[str, typer.Option(help="The RVA-like subsystem.")] = "RVA1",
         trim: Annotated[bool, typer.Option(help="First give back the disk space of free slots.")] = False,
         json_: JsonOpt = False) -> None:
    """Show the track pool: slots, sharing, modeled back-end space."""
    from dasdlab.emulator.site import Site

    s = Site.open(site)
    sub = s.subsystem(subsystem)
    p = getattr(sub, "pool", None)
    if p is None:
        from dasdlab.errors import CopyServiceError

        raise CopyServiceError("DLB024E", f"subsystem {subsystem} keeps its tracks in place: it has no track pool "
                                          "(only RVA-like subsystems have one).")
    trimmed = p.trim() if trim else 0
    st = p.stats()
    st["trimmed"] = trimmed
    s.close()
    if json_:
        print_json(st)
        return
    for k, v in st.items():
        typer.echo(f"{k:>26}: {v}")


@app.command()
def export(volser: str, dst: Path, site: SiteOpt) -> None:
    """Write a pool volume as a Hercules CKD image file."""
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.rva import export_volume
    from dasdlab.emulator.site import Site

    s = Site.open(site)
    vol = s.volume(volser)
    with bar("exporting", "tracks") as progress:
        n = export_volume(vol, dst, progress)
    s.close()
    typer.echo(f"DLB399I {n} tracks of {volser.upper()} written to {dst}.")
