"""``dasdlab ims --site DIR 'COMMAND'``: IMS database commands (/DBR, /DBD, /STA, UPDATE DB)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Issue an IMS command: '/DBR DB name', '/DBD DB name', '/STA DB name', "
                  "'UPDATE DB NAME(name) START(QUIESCE) OPTION(HOLD)', 'UPDATE DB NAME(name) STOP(QUIESCE)'.")


@app.callback(invoke_without_command=True)
def ims(
    command: Annotated[str, typer.Argument(help="The command, quoted.")],
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for a running IMS to carry it out.")] = 30.0,
) -> None:
    from dasdlab.emulator.site import Site
    from dasdlab.engine.commands import execute

    from dasdlab.cli.common import report_leftovers

    s = Site.open(site)
    report_leftovers(s)
    for msg in execute(s, command, wait=wait):
        typer.echo(msg)
