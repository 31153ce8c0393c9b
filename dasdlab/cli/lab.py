"""``dasdlab lab``: the teaching lab -- an interactive, step-wise console over a small
site, or a script of lab commands run unattended.  Parses, calls
:mod:`dasdlab.teach.console` and returns its exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.errors import DasdlabError


def lab(
    script: Annotated[Optional[Path], typer.Option("--script", help="Run this lab script unattended "
                                                   "(stops with exit status 8 at the first failing step).")] = None,
    site: Annotated[Optional[Path], typer.Option("--site", help="Build the lab site in this new, empty "
                                                 "folder and keep it (default: a temporary one).")] = None,
    save_maps: Annotated[Optional[Path], typer.Option("--save-maps", metavar="DIR",
                                                      help="Save each step's track maps into DIR.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Picture format of --save-maps: png or svg.")] = "png",
) -> None:
    """A teaching lab: create volumes and data sets, write tracks, establish FlashCopy,
    run Concurrent Copy, snap, clone, take image copies and recover -- after every step
    the track map of the volumes involved, the counters that changed and why."""
    from dasdlab.teach.console import LabShell, StepPrinter, run_script
    from dasdlab.teach.lab import Lab

    if fmt not in ("png", "svg"):
        raise DasdlabError("DLB867E", f"--format is png or svg, not {fmt!r}.")
    if script is not None and not script.is_file():
        raise DasdlabError("DLB868E", f"lab script {script} is not a file.")
    if save_maps is not None:
        if save_maps.exists() and not save_maps.is_dir():
            raise DasdlabError("DLB869E", f"--save-maps {save_maps} exists and is not a folder.")
        save_maps.mkdir(parents=True, exist_ok=True)
    the_lab = Lab(site)
    try:
        printer = StepPrinter(the_lab, save_dir=save_maps, fmt=fmt)
        if script is not None:
            code = run_script(the_lab, script, printer)
        else:
            LabShell(printer).cmdloop()
            code = 0
        if printer.saved:
            typer.echo(f"DLB870I {len(printer.saved)} step maps saved in {save_maps}.")
    finally:
        the_lab.close()
    raise typer.Exit(code)
