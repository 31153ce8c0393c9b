"""``dasdlab dss``: run DFSMSdss-like COPY, DUMP and RESTORE statements against a site.

Parses the command line, calls :mod:`dasdlab.host.dss` and prints its report
(``DLBnnnI`` lines, or ``--json``); the exit status is the statement return code
(0, 4 or 8), as a DFSMSdss step's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json

def _has_statement(text: str) -> bool:
    """Anything but blanks and /* comments */."""
    import re

    return bool(re.sub(r"/\*.*?\*/", " ", text, flags=re.S).strip())


def _is_error(line: str) -> bool:
    word = line.split(maxsplit=1)[0] if line.strip() else ""
    return len(word) == 7 and word.startswith("DLB") and word[-1] in "ES"


def dss(
    statement: Annotated[Optional[str], typer.Argument(help="The statement(s); or give --file.")] = None,
    site: Annotated[Path, typer.Option("--site", help="The site folder.")] = ...,
    file: Annotated[Optional[Path], typer.Option("--file", help="Read the statements from this file.")] = None,
    wait_physical: Annotated[bool, typer.Option(help="Finish background copies before returning.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Per-data-set results and events as JSON.")] = False,
) -> None:
    """Run DFSMSdss statements, e.g. 'COPY DATASET(INCLUDE(PROD.**)) RENAMEU(TEST) FR(PREF)'."""
    from dasdlab.cli.progress import bar
    from dasdlab.host.dss import Dss
    from dasdlab.emulator.site import Site

    if (statement is None) == (file is None):
        raise typer.BadParameter("give the statement text or --file, not both")
    text = statement if file is None else file.read_bytes().decode("utf-8")
    if not _has_statement(text):
        from dasdlab.errors import ParseError

        where = f"{file} holds" if file is not None else "the command line holds"
        raise ParseError("DLB022E", f"{where} no DFSMSdss statement (only blanks or comments); give one, e.g. "
                                    "'DUMP DATASET(INCLUDE(MY.DATA)) OUTDSN(MY.DUMP)'.")
    events = []
    s = Site.open(site)
    with bar("copying", "tracks") as progress:
        def seen(e) -> None:  # each data set's logical and physical completion is a phase
            events.append(e)
            progress.phase(f"{e.dsn} {e.phase} ({e.method})")

        report = Dss(s, on_logical=seen, on_physical=seen, progress=progress,
                     wait_physical=wait_physical).run(text)
    s.close()
    if json_:
        print_json({"rc": report.rc, "results": [r.as_json() for r in report.results],
                    "events": [{"phase": e.phase, "dsn": e.dsn, "target": e.target, "method": e.method,
                                "time": e.time, "tracks": e.tracks} for e in events]})
    else:
        for line in report.lines:
            # the lines that say what went wrong go where errors go
            typer.echo(line, err=_is_error(line))
    if report.rc:
        raise typer.Exit(report.rc)
