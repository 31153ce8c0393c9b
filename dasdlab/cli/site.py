"""``dasdlab site``: create a site, add volumes, show what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli import names
from dasdlab.cli.common import print_json

app = typer.Typer(help="Create and inspect sites: storage subsystems, volumes, catalog.",
                  no_args_is_help=True)


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="New (empty) site folder.")]) -> None:
    """Create a site with one subsystem of each kind: DS8K1, RVA1, VMAX1."""
    from dasdlab.emulator.site import Site

    site = Site.init(directory)
    for sub in site.subsystems():
        typer.echo(f"DLB330I subsystem {sub.name}: {sub.kind} ({', '.join(sorted(sub.capabilities))})")
    typer.echo(f"DLB331I site created in {directory}")


@app.command("add-volume")
def add_volume(
    directory: Path,
    subsystem: str,
    volser: str,
    model: Annotated[str, typer.Option(help="Device model.")] = "3390-3",
    cylinders: Annotated[Optional[int], typer.Option(help="Cylinders (default: the model's).")] = None,
) -> None:
    """Add a new volume to a subsystem of the site."""
    from dasdlab.emulator.site import Site

    vol = Site.open(directory).add_volume(subsystem, volser, model, cylinders)
    typer.echo(f"DLB332I volume {volser.upper()} added to {subsystem.upper()}: {vol.geometry.name}, "
               f"{vol.cylinders} cylinders.")


@app.command("add-service")
def add_service(
    directory: Path,
    subsystem: str,
    name: Annotated[str, names.argument(kind="service", help="A registered copy service (see 'dasdlab services "
                                                             "list').")],
) -> None:
    """Give a subsystem a registered copy service (a plug-in, or a built-in of another kind)."""
    from dasdlab.emulator.site import Site

    info = Site.open(directory).add_service(subsystem, name)
    typer.echo(f"DLB804I copy service {info.name} ({info.origin}) added to subsystem {subsystem.upper()}.")


@app.command("ls")
def ls(directory: Path, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List subsystems (with their copy services and volumes) and catalogued data sets,
    under column headers."""
    from dasdlab.emulator.site import Site

    site = Site.open(directory)
    data = {
        "subsystems": [{"name": s.name, "kind": s.kind, "capabilities": sorted(s.capabilities),
                        "volumes": s.volsers()} for s in site.subsystems()],
        "volumes": [{"volser": v, **site.volume_spec(v)} for v in site.volsers()],
        "datasets": [{"dsn": d, "volser": v} for d, v in site.catalog.entries()],
    }
    if json_:
        print_json(data)
        return
    typer.echo(f"{'SUBSYS':<8} {'KIND':<10} {'COPY SERVICES':<34} VOLUMES")
    for s in data["subsystems"]:
        typer.echo(f"{s['name']:<8} {s['kind']:<10} {','.join(s['capabilities']):<34} {' '.join(s['volumes'])}")
    if data["datasets"]:
        typer.echo(f"\n  {'CATALOGUED DATA SET':<44} VOLSER")
    for d in data["datasets"]:
        typer.echo(f"  {d['dsn']:<44} {d['volser']}")
