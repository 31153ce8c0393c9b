"""``dasdlab fixtures``: where the fixtures that came with dasdlab are, what they are,
and a copy of them into a folder (``fixtures/``, the name the README's commands use)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The DBDs, ICEIN samples, scenario grids and lab lessons that come with dasdlab.",
                  no_args_is_help=True)


@app.command("path")
def path() -> None:
    """Print the folder that holds the fixtures of this dasdlab."""
    from dasdlab.bundled import fixtures_dir

    typer.echo(str(fixtures_dir()))


@app.command("list")
def list_() -> None:
    """List the fixture files (relative to 'dasdlab fixtures path')."""
    from dasdlab.bundled import fixture_files

    for f in fixture_files():
        typer.echo(str(f))


@app.command("copy")
def copy(folder: Annotated[Path, typer.Argument(help="Folder to create fixtures/ in.")] = Path(".")) -> None:
    """Copy the fixtures to FOLDER/fixtures, where the README's commands find them
    (an identical copy already there is left as it is)."""
    from dasdlab.bundled import copy_fixtures

    dest, n = copy_fixtures(folder)
    if n:
        typer.echo(f"DLB034I {n} fixture files copied to {dest}.")
    else:
        typer.echo(f"DLB036I {dest} already holds the fixtures of this dasdlab; nothing copied.")
