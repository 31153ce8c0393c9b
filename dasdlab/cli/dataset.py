"""``dasdlab dataset``: allocate, write, read and delete data sets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import SF_HELP, SITE_HELP, TO_HELP, dataset_volume, output_file, to_stdout

app = typer.Typer(help="Allocate, write, read and delete data sets on a volume.",
                  no_args_is_help=True)

Args = Annotated[list[str], typer.Argument(help="PATH DSN, or just DSN with --site.")]
SiteOpt = Annotated[Optional[Path], typer.Option("--site", help=SITE_HELP)]


#: what ``dataset alloc`` makes: sequential, direct and partitioned data sets
ALLOC_DSORGS = ("PS", "DA", "PO")


@app.command()
def alloc(
    args: Args,
    recfm: Annotated[str, typer.Option(help="Record format: F, FB, V, VB, U.")] = "FB",
    lrecl: Annotated[int, typer.Option(help="Logical record length.")] = 80,
    blksize: Annotated[int, typer.Option(help="Block size.")] = 800,
    tracks: Annotated[Optional[int], typer.Option(help="Primary space in tracks.")] = None,
    cylinders: Annotated[Optional[int], typer.Option(help="Primary space in cylinders.")] = None,
    secondary: Annotated[int, typer.Option(help="Secondary space, same unit.")] = 0,
    dsorg: Annotated[str, typer.Option(help="PS, DA or PO.")] = "PS",
    keylen: Annotated[int, typer.Option(help="Key length.")] = 0,
    dir_blocks: Annotated[Optional[int], typer.Option("--dir-blocks", help="Directory blocks of a "
                                                      "PDS (--dsorg PO).")] = None,
    site: SiteOpt = None,
    volser: Annotated[Optional[str], typer.Option(help="Volume for the new data set (with --site).")] = None,
) -> None:
    """Allocate a new data set (tracks or cylinders, up to 16 extents with secondaries); a PDS
    gets an empty directory of --dir-blocks blocks."""
    if (tracks is None) == (cylinders is None):
        raise typer.BadParameter("give exactly one of --tracks and --cylinders")
    from dasdlab.errors import DatasetError

    if dsorg.upper() not in ALLOC_DSORGS:
        raise DatasetError("DLB023E", f"--dsorg {dsorg} cannot be allocated here: give one of "
                                      f"{', '.join(ALLOC_DSORGS)} (VSAM data sets are made by 'dasdlab db load').")
    po = dsorg.upper() == "PO"
    if po and not dir_blocks:
        raise DatasetError("DLB274E", "a PDS (--dsorg PO) needs --dir-blocks N (N >= 1).")
    if dir_blocks is not None and not po:
        raise DatasetError("DLB274E", "--dir-blocks applies only to --dsorg PO.")
    unit, qty = ("TRK", tracks) if tracks is not None else ("CYL", cylinders)
    attrs = dict(dsorg=dsorg, recfm=recfm, lrecl=lrecl, blksize=blksize, keylen=keylen, unit=unit, primary=qty,
                 secondary=secondary)

    def directory_fits(vol) -> None:
        if po:
            from dasdlab.emulator.pds import check_directory_fits

            check_directory_fits(vol, dir_blocks, qty * (vol.heads if unit == "CYL" else 1))

    if site is not None:
        # through the site: the catalog is checked before the VTOC gets a DSCB
        from dasdlab.emulator.site import Site

        if len(args) != 1:
            raise typer.BadParameter("with --site, give only the DSN")
        if not volser:
            raise typer.BadParameter("--volser is needed to allocate a data set in a site")
        s = Site.open(site)
        vol = s.volume(volser, writable=True)
        directory_fits(vol)
        entry = s.allocate(args[0], volser, **attrs)
    else:
        vol, dsn = dataset_volume(args, site, volser, writable=True, new=True)
        directory_fits(vol)
        entry = vol.vtoc.allocate(dsn, **attrs)
    if po:
        from dasdlab.emulator.pds import initialize_directory

        initialize_directory(vol, entry.dsn, dir_blocks)
        entry = vol.vtoc.get(entry.dsn)
    typer.echo(f"DLB240I {entry.dsn} allocated on {vol.volser}: {entry.tracks(vol.heads)} tracks "
               f"in {len(entry.extents)} extent(s).")


@app.command()
def write(
    args: Args,
    from_: Annotated[str, typer.Option("--from", help="Input, '-' for stdin: F/FB records "
                                       "back to back; V/VB/U a record file (each record a "
                                       "4-byte RDW, then its data); with --ascii, text lines.")],
    append: Annotated[bool, typer.Option(help="Add to the end (DISP=MOD) instead of replacing.")] = False,
    ascii: Annotated[bool, typer.Option("--ascii", help="The input is UTF-8 text, one record per "
                                        "line, stored in EBCDIC code page 037.")] = False,
    site: SiteOpt = None,
) -> None:
    """Write records into a data set (it grows into secondary extents); a PDS is refused."""
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.errors import DasdlabError

    if from_ == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(from_).read_bytes()
        except OSError as e:
            raise DasdlabError("DLB241E", f"cannot read {from_}: {e.strerror}.") from None
    vol, dsn = dataset_volume(args, site, None, writable=True)
    res = Dataset(vol, dsn).write(data, append=append, ascii=ascii)
    typer.echo(f"DLB242I {res.records} records in {res.blocks} blocks written to {dsn.upper()} "
               f"({res.tracks_used} tracks used, {res.extents_added} extent(s) added).")


@app.command()
def read(
    args: Annotated[list[str], typer.Argument(help="PATH [sf=NAME] DSN, or just DSN with --site.")],
    to: Annotated[Optional[Path], typer.Option(help=TO_HELP)] = None,
    site: SiteOpt = None,
    sf: Annotated[Optional[str], typer.Option("--sf", help=SF_HELP)] = None,
    ascii: Annotated[bool, typer.Option("--ascii", help="One text line per record (EBCDIC code "
                                        "page 037, trailing blanks removed), as dasdseq -ascii.")] = False,
    keys: Annotated[bool, typer.Option("--keys", help="Keep each block's key: F/FB blocks as key "
                                       "then data (dasdload's SEQ input for a keyed data set), "
                                       "U blocks as key+data records.")] = False,
) -> None:
    """Read a DSORG=PS data set's records: F/FB byte-identical to Hercules dasdseq, V/VB/VBS/U
    deblocked into a record file (each record a 4-byte RDW, then its data)."""
    from dasdlab.emulator.dataset import Dataset

    vol, dsn = dataset_volume(args, site, None, writable=False, sf=sf)
    ds = Dataset(vol, dsn)
    ds.check_sequential()
    if keys and ascii:
        raise typer.BadParameter("--keys and --ascii do not go together")

    def emit(f) -> int:
        return ds.read_keyed_to(f) if keys else ds.read_to(f, ascii=ascii)

    if keys:
        ds.check_keyed()  # before an output file is made
    if to_stdout(to):
        emit(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with output_file(to) as f:
            n = emit(f)
        typer.echo(f"DLB243I {n} bytes read from {ds.dsn} to {to}.", err=True)


@app.command()
def delete(args: Args, site: SiteOpt = None) -> None:
    """Delete (scratch) a data set and return its space."""
    vol, dsn = dataset_volume(args, site, None, writable=True)
    entry = vol.vtoc.delete(dsn)
    if site is not None:
        from dasdlab.emulator.site import Site

        Site.open(site).catalog.remove(entry.dsn)
    typer.echo(f"DLB244I {entry.dsn} deleted from {vol.volser}; {entry.tracks(vol.heads)} tracks freed.")
