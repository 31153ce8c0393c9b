"""``dasdlab recon list``: the RECON listing (in the spirit of DBRC LIST.RECON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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
        data = {"databases": [], "allocs": [], "logs": [], "images": [], "groups": [], "cas": []}
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
    if data["groups"]:
        typer.echo("GROUP")
        for g in data["groups"]:
            typer.echo(f"  {g['name']:<8} {g['kind']:<7} " + ", ".join(f"{d}.{x}" for d, x in g["members"]))
    if data["cas"]:
        typer.echo("CA")
        for c in data["cas"]:
            typer.echo(f"  {c['cagrp']:<8} {c['dsn']:<24} run {c['run_time']:.3f} stop {c['stop_time']:.3f} "
                       f"to record {c['stop_seq']}  " + ", ".join(f"{m['dbd']}.{m['ddn']} from {m['from_seq']}"
                                                                   for m in c["members"]))


def _time(text: str | None, option: str, msgid: str) -> float | None:
    from dasdlab.engine.errors import ImsError

    if text is None:
        return None
    t = text.strip().lower()
    try:
        v = float(t[:-1] if t.endswith("s") else t)
    except ValueError:
        v = float("nan")
    if not v >= 0 or v == float("inf"):
        raise ImsError(msgid, f"{option} {text!r} is not a modeled time: give seconds of the site's timeline, "
                       "e.g. 120.5")
    return v


def _members(texts: list[str]) -> list[tuple[str, str]]:
    from dasdlab.engine.errors import ImsError

    out = []
    for t in texts:
        parts = t.upper().split(".")
        if len(parts) != 2 or not all(parts):
            raise ImsError("DLB630E", f"member {t!r} is not DBD.DDN (e.g. HDAMDB01.HDAMDD01).")
        out.append((parts[0], parts[1]))
    return out


def _recon(site: Path):
    from dasdlab.emulator.site import Site
    from dasdlab.engine.recon import Recon

    s = Site.open(site)
    return s, Recon.of_site(site, create=False)


MemberArg = Annotated[list[str], typer.Argument(metavar="DBD.DDN...", help="Member DBDSs.")]


def _define(kind: str, name: str, member: list[str], site: Path) -> None:
    s, recon = _recon(site)
    try:
        g = recon.define_group(kind, name, _members(member))
    finally:
        recon.close()
        s.close()
    typer.echo(f"DLB637I {kind} {g['name']} defined: " + ", ".join(f"{d}.{x}" for d, x in g["members"]))


@app.command("init-cagrp")
def init_cagrp(
    name: Annotated[str, typer.Argument(help="Change accumulation group name (1-8 characters).")],
    member: MemberArg,
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
) -> None:
    """Define a change accumulation group (INIT.CAGRP); a DBDS belongs to one CA group."""
    _define("CAGRP", name, member, site)


@app.command("init-dbdsgrp")
def init_dbdsgrp(
    name: Annotated[str, typer.Argument(help="DBDS group name (1-8 characters).")],
    member: MemberArg,
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
) -> None:
    """Define a DBDS group (INIT.DBDSGRP), for GENJCL.RECOV and HP Image Copy's GROUP statement."""
    _define("DBDSGRP", name, member, site)


@app.command("change-accum")
def change_accum(
    group: Annotated[str, typer.Argument(help="The change accumulation group.")],
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run change accumulation (DFSUCUM0-like) for a CA group: the change records of its
    members in the closed logs, consolidated into one CA data set that recovery reads."""
    from dataclasses import asdict

    from dasdlab.engine.changeaccum import accumulate

    s, recon = _recon(site)
    try:
        rep = accumulate(s, group, recon)
    finally:
        recon.close()
        s.close()
    if json_:
        print_json(asdict(rep))
        return
    for n in rep.notes:
        typer.echo(f"DLB638W {n}")
    for m in rep.members:
        typer.echo(f"  {m['dbd']}.{m['ddn']}: {m['records_in']} change records from {m['from_seq']} -> "
                   f"{m['records_out']} accumulated")
    typer.echo(f"DLB639I change accumulation {rep.dsn} of {rep.cagrp}: to record {rep.stop_seq} "
               f"({rep.stop_time:.3f} s).")


@app.command("notify-uic")
def notify_uic(
    dbd: Annotated[str, typer.Argument(help="Database name.")],
    ddn: Annotated[str, typer.Argument(help="DD name of the DBDS.")],
    dsn: Annotated[str, typer.Argument(help="The user copy's data set (from flashcopy, snap or clone).")],
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    volume: Annotated[Optional[str], typer.Option(help="Its volume (default: the catalog's).")] = None,
    time: Annotated[Optional[str], typer.Option(help="Run time, modeled seconds (default: now).")] = None,
    stop_time: Annotated[Optional[str], typer.Option(help="Stop time of a concurrent copy.")] = None,
    concurrent: Annotated[bool, typer.Option(help="Taken while the database was updated (CIC).")] = False,
) -> None:
    """Register a user (nonstandard) image copy (NOTIFY.UIC)."""
    from dasdlab.engine.dbrc import notify_uic as notify

    s, recon = _recon(site)
    try:
        im = notify(s, dbd, ddn, dsn, _time(time, "--time", "DLB633E"), _time(stop_time, "--stop-time", "DLB633E"),
                    concurrent, volume, recon)
    finally:
        recon.close()
        s.close()
    typer.echo(f"DLB637I user image copy {im['id']} of {im['dbd']}.{im['ddn']} registered: {im['type']} "
               f"{im['ic1_dsn']} on {im['ic1_volser']}, run {im['run_time']:.3f} s, purge {im['purge_time']:.3f} s.")


@app.command("notify-recov")
def notify_recov(
    dbd: Annotated[str, typer.Argument(help="Database name.")],
    ddn: Annotated[str, typer.Argument(help="DD name of the DBDS.")],
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    image: Annotated[Optional[int], typer.Option(help="The user image copy's IMAGE id (default: newest).")] = None,
) -> None:
    """Record that you restored a DBDS from a user image copy (NOTIFY.RECOV); then
    'dasdlab recover DBD --ddn DDN --usedbds' applies the log after it."""
    from dasdlab.engine.dbrc import notify_recov as notify

    s, recon = _recon(site)
    try:
        row = notify(s, dbd, ddn, image, recon=recon)
    finally:
        recon.close()
        s.close()
    typer.echo(f"DLB637I {row['dbd']}.{row['ddn']} restored from user image copy {row['image_id']} "
               f"(to {row['to_time']:.3f} s); it needs recovery with --usedbds before use.")


@app.command("genjcl-recov")
def genjcl_recov(
    site: Annotated[Path, typer.Option("--site", help="The site folder.")],
    dbd: Annotated[Optional[str], typer.Argument(help="Database name (or --group).")] = None,
    ddn: Annotated[Optional[str], typer.Option(help="Only this DBDS.")] = None,
    group: Annotated[Optional[str], typer.Option(help="A DBDS group or CA group.")] = None,
    to: Annotated[Optional[str], typer.Option(help="Time stamp recovery to this modeled time.")] = None,
    usedbds: Annotated[bool, typer.Option(help="No image copy: the DBDS as restored from a user copy.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="The plan as JSON (steps and jcl).")] = False,
) -> None:
    """Print the recovery job (GENJCL.RECOV): per DBDS, which image copy, which change
    accumulation data set and which logs, in order.  Changes nothing."""
    from dasdlab.cli.hpic import _parse_time
    from dasdlab.engine.dbrc import genjcl_recov as gen

    s, recon = _recon(site)
    try:
        job = gen(s, dbd, ddn, group, _parse_time(to), usedbds, recon)
    finally:
        recon.close()
        s.close()
    if json_:
        print_json(job.as_dict())
        return
    for st in job.steps:
        for n in st.notes:
            typer.echo(f"//* note: {st.ddn}: {n}")
    typer.echo(job.jcl, nl=False)
