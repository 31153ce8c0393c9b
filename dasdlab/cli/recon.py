"""``dasdlab recon list``: the RECON listing (in the spirit of DBRC LIST.RECON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dasdlab.cli.common import print_json

app = typer.Typer(help="DBRC RECON: databases, ALLOC, LOG and IMAGE records.", no_args_is_help=True)


@app.command("list")
def list_(
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    json_: Annotated[bool, typer.Option("--json", help="JSON with keys databases, allocs, logs, images.")] = False,
) -> None:
    """List RECON."""
    from dasdlab.emulator.site import Site
    from dasdlab.engine.recon import Recon

    from dasdlab.cli.common import report_leftovers

    report_leftovers(Site.open(site))  # and a clear error when DIR is not a site
    if (site / "ims" / "recon.db").is_file():
        recon = Recon.of_site(site)
        data = recon.listing()
        recon.close()
    else:  # no IMS database defined yet: an empty listing, and no RECON is created
        data = {"databases": [], "allocs": [], "logs": [], "images": []}
    if json_:
        print_json(data)
        return
    typer.echo("DB")
    for d in data["databases"]:
        auth = ", ".join(f"{a['ssid']}:{a['level']}" for a in d["authorized"]) or "none"
        typer.echo(f"  {d['dbd']:<8} {d['access']}/{d['method']:<5} {d['state']:<9} "
                   f"{'loaded' if d['loaded'] else 'not loaded'}  authorized: {auth}")
        for x in d["dbds"]:
            typer.echo(f"    DBDS {x['ddn']:<8} {x['dsn']:<26} {x['volser'] or '-':<6} {x['dsorg']:<5} "
                       f"{x['block_size']:>5} x {x['nblocks']}{'  RECOV NEEDED' if x['recov'] else ''}")
    typer.echo("ALLOC")
    for a in data["allocs"]:
        dealloc = "open" if a["dealloc_time"] is None else f"{a['dealloc_time']:.3f}"
        typer.echo(f"  {a['dbd']:<8} {a['ddn']:<8} alloc {a['alloc_time']:.3f} seq {a['alloc_seq']} "
                   f"log {a['log_dsn']}  dealloc {dealloc}")
    typer.echo("LOG")
    for lg in data["logs"]:
        stop = "open" if lg["stop_time"] is None else f"{lg['stop_time']:.3f}"
        typer.echo(f"  {lg['dsn']:<18} {lg['status']:<6} start {lg['start_time']:.3f} stop {stop} "
                   f"seq {lg['first_seq']}-{lg['last_seq'] if lg['last_seq'] is not None else '?'} "
                   f"checkpoints {len(lg['checkpoints'])}" + (f"  ({lg['note']})" if lg["note"] else ""))
    typer.echo("IMAGE")
    for im in data["images"]:
        typer.echo(f"  {im['dbd']:<8} {im['ddn']:<8} {im['type']:<8} run {im['run_time']:.3f} "
                   f"stop {im['stop_time'] if im['stop_time'] is not None else '-'} purge {im['purge_time']:.3f} "
                   f"IC1 {im['ic1_dsn']} {im['ic1_volser'] or ''}"
                   + (f" IC2 {im['ic2_dsn']} {im['ic2_volser'] or ''}" if im["ic2_dsn"] else ""))
