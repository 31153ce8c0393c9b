"""``--map`` and ``--map-png FILE`` of the copy services' ``query`` commands: the track
map of each relationship (see :mod:`dasdlab.teach.trackmap`).  Parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

MapOpt = Annotated[bool, typer.Option("--map", help="Also draw each one's track map (one cell per track).")]
MapPngOpt = Annotated[Optional[Path], typer.Option(
    "--map-png", metavar="FILE", help="Draw the track maps into this picture (.png or .svg).")]


def show(site, capability: str, terminal: bool, picture: Path | None, ids=None) -> None:
    """Print and/or draw the maps of ``capability``'s relationships (only ``ids`` if
    given); call it while the site is open (the maps read the services' bitmaps)."""
    if not terminal and picture is None:
        return
    from dasdlab.teach.trackmap import print_maps, relationship_maps, save_picture

    maps = relationship_maps(site, capability)
    if ids is not None:
        want = {i.upper() for i in ids}
        maps = [m for m in maps if m.id in want]
    if terminal:
        print_maps(maps)
    if picture is not None:
        save_picture(maps, picture, title=f"{capability.replace('_', ' ')} track maps")
        typer.echo(f"DLB854I track map of {len(maps)} relationship(s) written to {picture}.")
