"""``dasdlab pds``: list, read, write, delete and rename members of a partitioned data set."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import SF_HELP, TO_HELP, output_file, print_json, take_sf, to_stdout

app = typer.Typer(help="Members of partitioned data sets (PDS), as Hercules dasdpdsu and dasdcat "
                  "see them.", no_args_is_help=True)

SfOpt = Annotated[Optional[str], typer.Option("--sf", help=SF_HELP)]


def _open(path: str, sf_args: list[str], sf: str | None, writable: bool, dsn: str):
    from dasdlab.cli.common import open_volume
    from dasdlab.emulator.pds import Pds

    rest, name = take_sf(sf_args, sf)
    if rest:
        raise typer.BadParameter(f"unexpected argument {rest[0]!r}")
    if name is not None and writable:
        from dasdlab.errors import ImageError

        raise ImageError("DLB189E", "dasdlab reads through shadow files but does not write into them.")
    vol = open_volume(path, None, writable=writable, sf=name)
    return vol, Pds(vol, dsn)


def _read_input(from_: str) -> bytes:
    if from_ == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(from_).read_bytes()
    except OSError as e:
        from dasdlab.errors import DasdlabError

        raise DasdlabError("DLB241E", f"cannot read {from_}: {e.strerror}.") from None


@app.command("list")
def list_(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The PDS.")],
    sf_args: Annotated[Optional[list[str]], typer.Argument(help="sf=NAME.", show_default=False)] = None,
    sf: SfOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON for programs: members with TTR and "
                                        "user data, and the space in use.")] = False,
) -> None:
    """List the members, one name a line in directory order (dasdcat 'PDS/?' prints them
    the same, in lower case)."""
    _vol, pds = _open(path, list(sf_args or []), sf, False, dsn)
    members = pds.members()
    if json_:
        print_json({"dsn": pds.dsn, **pds.space(), "members_list": [m.as_json() for m in members]})
        return
    for m in members:
        typer.echo(m.name)


@app.command()
def read(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The PDS.")],
    member: Annotated[str, typer.Argument(help="Member name.")],
    to: Annotated[Optional[Path], typer.Option(help=TO_HELP)] = None,
    ascii: Annotated[bool, typer.Option("--ascii", help="One text line per record (code page "
                                        "037, trailing blanks removed), as dasdpdsu ascii.")] = False,
    sf: SfOpt = None,
) -> None:
    """Read one member: F/FB records back to back, as dasdpdsu and dasdcat extract them;
    V/VB/U as a record file (each record a 4-byte RDW, then its data)."""
    _vol, pds = _open(path, [], sf, False, dsn)
    pds.member(member)  # a missing member fails before any output
    if to_stdout(to):
        pds.read_to(member, sys.stdout.buffer, ascii=ascii)
        sys.stdout.buffer.flush()
        return
    with output_file(to) as f:
        n = pds.read_to(member, f, ascii=ascii)
    typer.echo(f"DLB280I {n} bytes of {pds.dsn}({member.upper()}) written to {to}.", err=True)


@app.command()
def write(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The PDS.")],
    member: Annotated[str, typer.Argument(help="Member name (added, or replaced when it exists).")],
    from_: Annotated[str, typer.Option("--from", help="Input, '-' for stdin, in the form 'pds read' "
                                       "writes (with --ascii: text lines).")],
    ascii: Annotated[bool, typer.Option("--ascii", help="The input is UTF-8 text, one record per "
                                        "line, stored in EBCDIC code page 037.")] = False,
) -> None:
    """Add or replace a member; the directory stays sorted, the data goes after the last member."""
    data = _read_input(from_)
    vol, pds = _open(path, [], None, True, dsn)
    entry, replaced = pds.write(member, data, ascii=ascii)
    vol.flush()
    sp = pds.space()
    typer.echo(f"DLB281I {pds.dsn}({entry.name}) {'replaced' if replaced else 'added'} at TTR "
               f"{entry.ttr[0]:04X}{entry.ttr[1]:02X}; {sp['members']} members, "
               f"{sp['tracks_used']} of {sp['tracks']} tracks used.")


@app.command()
def delete(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The PDS.")],
    member: Annotated[str, typer.Argument(help="Member name.")],
) -> None:
    """Delete a member from the directory (its space is not reclaimed, as on z/OS)."""
    vol, pds = _open(path, [], None, True, dsn)
    m = pds.delete(member)
    vol.flush()
    typer.echo(f"DLB282I {pds.dsn}({m.name}) deleted; {pds.space()['members']} members left.")


@app.command()
def rename(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The PDS.")],
    member: Annotated[str, typer.Argument(help="Member name.")],
    new: Annotated[str, typer.Argument(help="New member name.")],
) -> None:
    """Rename a member (the directory is re-sorted)."""
    vol, pds = _open(path, [], None, True, dsn)
    m = pds.rename(member, new)
    vol.flush()
    typer.echo(f"DLB283I {pds.dsn}({member.upper()}) renamed to {m.name}.")


@app.command("load")
def load(
    path: Annotated[str, typer.Argument(help="Image path.")],
    dsn: Annotated[str, typer.Argument(help="The new PDS.")],
    file: Annotated[Path, typer.Argument(help="A TSO XMIT file of a PDS, or an IEBCOPY unload "
                                         "(raw, or with record descriptor words).")],
    tracks: Annotated[Optional[int], typer.Option("--tracks", help="Primary space in tracks "
                                                  "(default: what the members need).")] = None,
    cylinders: Annotated[Optional[int], typer.Option("--cylinders", help="Primary space in cylinders.")] = None,
    secondary: Annotated[int, typer.Option("--secondary", help="Secondary space, same unit.")] = 0,
) -> None:
    """Allocate a PDS and load it from an XMIT file or an IEBCOPY unload, as Hercules
    dasdload's XMIT and VS methods do (blocks, keys and directory as unloaded, TTRs mapped).

    Example: dasdlab pds load vol1.ckd SYS2.MACLIB maclib.xmi --tracks 30 --secondary 5
    """
    from dasdlab.cli.common import open_volume
    from dasdlab.emulator.unload import load_pds

    if tracks is not None and cylinders is not None:
        raise typer.BadParameter("give --tracks or --cylinders, not both")
    unit, primary = ("CYL", cylinders) if cylinders is not None else ("TRK", tracks)
    vol = open_volume(path, None, writable=True)
    res = load_pds(vol, dsn, file, unit=unit, primary=primary, secondary=secondary)
    vol.flush()
    typer.echo(f"DLB839I {res.dsn} loaded from the {res.form} file {file}: {res.members} "
               f"directory entries, {res.directory_blocks} directory blocks, {res.tracks} tracks.")
