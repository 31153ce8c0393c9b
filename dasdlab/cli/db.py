"""``dasdlab db``: define, load and verify IMS databases of a site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import report_leftovers

app = typer.Typer(help="IMS databases: define a DBD, load its data sets, verify them.", no_args_is_help=True)

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]


@app.command()
def define(
    dbd_source: Annotated[Path, typer.Argument(help="DBD source in DBDGEN macro syntax.")],
    site: SiteOpt,
) -> None:
    """Register a database from its DBD source (DBD library + RECON)."""
    from dasdlab.emulator.site import Site
    from dasdlab.engine.database import define as define_db, dsn_of

    dbd = define_db(Site.open(site), dbd_source)
    typer.echo(f"DLB534I database {dbd.name} defined: {dbd.access}/{dbd.method}, "
               f"{len(dbd.segments)} segment types, {len(dbd.groups)} data set group(s)")
    for g in dbd.groups:
        typer.echo(f"  {g.ddn:<8} {dsn_of(dbd.name, g.ddn):<26} {g.dsorg:<5} "
                   f"{'CI' if g.method == 'VSAM' else 'block'} {g.block_size}"
                   + (f" (SIZE={g.requested} rounded up)" if g.requested != g.block_size else ""))


@app.command()
def load(
    dbdname: Annotated[str, typer.Argument(help="Database name (DBD NAME=).")],
    site: SiteOpt,
    size: Annotated[str, typer.Option(help="Total size, split across the data set groups: 64MiB, 2GiB, ...")] = "64MiB",
    seed: Annotated[int, typer.Option(help="Seed of the generated segment data.")] = 1,
    volser: Annotated[Optional[str], typer.Option(help="Put every data set on this volume.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print what was loaded as JSON.")] = False,
) -> None:
    """Allocate, format and fill the database's data sets.

    Example: dasdlab db load --site mysite HDAMDB01 --size 4MiB
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.database import load as load_db, parse_size

    nbytes = parse_size(size)
    s = Site.open(site)
    with bar(f"loading {dbdname.upper()}", "tracks") as cb:
        res = load_db(s, dbdname, nbytes, seed, volser=volser, progress=cb)
    s.close()
    if json_:
        from dasdlab.cli.common import print_json

        print_json({"dbd": res.dbd, "bytes": res.bytes, "seconds": res.seconds, "mib_per_s": res.mib_per_s,
                    "seed": seed, "groups": res.groups})
        return
    for g in res.groups:
        typer.echo(f"  {g['ddn']:<8} {g['dsn']:<26} {g['volser']:<6} {g['dsorg']:<5} {g['nblocks']:>9} x "
                   f"{g['block_size']} in {g['tracks']} tracks")
    typer.echo(f"DLB535I database {res.dbd} loaded: {res.bytes / 2**20:.1f} MiB in {res.seconds:.2f} s "
               f"({res.mib_per_s:.0f} MiB/s), seed {seed}")


@app.command()
def verify(
    dbdname: Annotated[str, typer.Argument(help="Database name.")],
    site: SiteOpt,
    ddn: Annotated[Optional[str], typer.Option(help="Check only this DBDS.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="The report as JSON (exit status as without).")] = False,
) -> None:
    """Check that DASD plus the logged changes not yet on DASD equal the committed content.

    Example: dasdlab db verify --site mysite HDAMDB01
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.verify import check, verify as verify_db

    s = Site.open(site)
    report_leftovers(s)
    with bar(f"verifying {dbdname.upper()}", "blocks") as cb:
        rep = verify_db(s, dbdname, ddn, progress=cb)
    if json_:
        from dataclasses import asdict

        from dasdlab.cli.common import print_json

        print_json({**asdict(rep), "ok": rep.ok})
        if not rep.ok:
            raise typer.Exit(8)
        return
    for note in rep.notes:
        typer.echo(f"DLB594W {note}")
    for r in rep.results:
        typer.echo(f"  {r.ddn:<8} {r.blocks:>9} blocks  {r.applied:>9} log records applied  "
                   f"{'OK' if not r.mismatched_blocks else f'{r.mismatched_blocks} blocks differ'}")
    check(rep)
    typer.echo(f"DLB595I database {rep.dbd} matches its committed content at log sequence {rep.seq} "
               f"(DASD + {rep.log_records_applied} change records since checkpoint {rep.checkpoint_seq}).")


@app.command()
def damage(
    dbdname: Annotated[str, typer.Argument(help="Database name.")],
    site: SiteOpt,
    ddn: Annotated[Optional[str], typer.Option(help="Damage only this DBDS.")] = None,
    blocks: Annotated[int, typer.Option(help="How many blocks get garbage.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed choosing the blocks and the garbage.")] = 1,
) -> None:
    """Simulate a media failure: garbage over N blocks on DASD, nothing noted in RECON."""
    from dasdlab.emulator.site import Site
    from dasdlab.engine.damage import damage as damage_db

    rep = damage_db(Site.open(site), dbdname, ddn, blocks, seed)
    for name, rbns in rep.blocks.items():
        shown = ", ".join(map(str, rbns[:12])) + (", ..." if len(rbns) > 12 else "")
        typer.echo(f"  {name:<8} {len(rbns)} blocks: {shown}")
    typer.echo(f"DLB672W database {rep.dbd}: {rep.count} blocks damaged on DASD (seed {rep.seed}); "
               f"'dasdlab db verify' fails until 'dasdlab recover' restores them.")
