"""``dasdlab hpic`` (HP Image Copy: run ICEIN control statements) and ``dasdlab recover``
(restore a DBDS from its image copy, then apply the log).

Both run an IMS subsystem of their own for the site (one per site at a time), so they
refuse a database another live process holds online: DLB680E and DLB665E.  Return
codes of ``hpic``: 0 when every copy was made, 4 when some failed, 8 when none was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli.common import print_json

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]
ProfileOpt = Annotated[str, typer.Option("--profile", help="Device profile for the modeled time "
                                         "(3390-3990, ds8000-ficon16, rva-escon, symmetrix-ficon8).")]

#: how each copy process reads, for people
METHOD_LABELS = {
    "standard": "standard process: HP-IC reads the data set itself",
    "cic": "standard process, concurrent (fuzzy): the database stays online",
    "dump-cc": "FASTIC DUMP: DFSMSdss DUMP with Concurrent Copy (cache sidefile)",
    "dump-vcc": "FASTIC DUMP: DFSMSdss DUMP with virtual Concurrent Copy",
    "dump-plain": "FASTIC DUMP: plain DFSMSdss DUMP (no Concurrent Copy)",
    "fdump-flashcopy": "FASTIC FDUMP: FlashCopy into a shadow data set, then DUMP",
    "fdump-snapshot": "FASTIC FDUMP: SnapShot into a shadow data set, then DUMP",
    "copy-flashcopy": "FASTIC COPY: FlashCopy clone (Fast Recovery image copy)",
    "copy-snapshot": "FASTIC COPY: SnapShot clone (Fast Recovery image copy)",
    "copy-timefinder": "FASTIC COPY: TimeFinder/Clone via EMCSNAP (Fast Recovery image copy)",
}


def _t(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def hpic(
    icein_file: Annotated[Path, typer.Argument(help="ICEIN control statements (GLOBAL, IC, CIC, ...).")],
    site: SiteOpt,
    profile: ProfileOpt = "ds8000-ficon16",
    json_: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Make image copies as the ICEIN statements say; report method, hold window,
    logical and physical completion (modeled seconds), outputs and RECON type."""
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.hpic import batch_job, return_code
    from dasdlab.engine.icein import parse_file
    from dasdlab.engine.timemodel import get_profile

    icein = parse_file(icein_file)
    prof = get_profile(profile)
    s = Site.open(site)
    try:
        with bar("image copy", "data set groups") as cb:
            reports = batch_job(s, icein, prof, progress=cb)
    finally:
        s.close()
    rc = return_code(reports)
    ok = sum(r.status == "ok" for r in reports)
    if json_:
        print_json({"profile": prof.name, "rc": rc, "reports": [r.as_dict() for r in reports]})
        raise typer.Exit(rc)
    for r in reports:
        head = f"{r.kind} line {r.line} {r.dbd}.{r.ddn}"
        if r.status != "ok":
            typer.echo(f"DLB683E {head}: copy FAILED: {r.message}")
            continue
        typer.echo(f"DLB682I {head}: {METHOD_LABELS.get(r.process, r.process)}")
        if r.fallback:
            typer.echo(f"  fallback: {r.fallback}")
        held = (f"held {_t(r.hold_start)} - {_t(r.hold_end)} ({r.outage:.3f} s)" if r.hold_start is not None
                else "never held")
        typer.echo(f"  {held}; logical completion {_t(r.logical)}, physical {_t(r.physical)} "
                   f"(modeled s, profile {prof.name})")
        for o in r.outputs:
            typer.echo(f"  IC{o['copy']} {o['dsn']} on {o['volser']}, format {o['format']}")
        typer.echo(f"  RECON {r.recon_type}" + (f" image {r.image_id}" if r.image_id is not None else
                                                " (not registered, DBRC=N)"))
    typer.echo(f"DLB684I {ok} of {len(reports)} image copies made; return code {rc}")
    raise typer.Exit(rc)


def _parse_time(text: str | None) -> float | None:
    from dasdlab.engine.recovery import RecoveryError

    if text is None:
        return None
    t = text.strip().lower()
    t = t[:-1] if t.endswith("s") else t
    try:
        v = float(t)
    except ValueError:
        v = float("nan")
    if not v >= 0 or v == float("inf"):
        raise RecoveryError("DLB666E", f"--to {text!r} is not a modeled time: give seconds of the site's "
                            "timeline, e.g. --to 120.5")
    return v


def recover(
    dbdname: Annotated[str, typer.Argument(help="Database name.")],
    site: SiteOpt,
    ddn: Annotated[Optional[str], typer.Option(help="Recover only this DBDS.")] = None,
    to: Annotated[Optional[str], typer.Option(help="Point-in-time recovery to this modeled time (seconds "
                                              "of the site's timeline); default: the end of the log.")] = None,
    profile: ProfileOpt = "ds8000-ficon16",
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    image_copy: Annotated[bool, typer.Option(
        help="With --to: take the image copy the recovered database needs, then start it.")] = False,
    data_mover: Annotated[Optional[str], typer.Option(
        help="DATA_MOVER that copies a Fast Recovery copy back: ADRDSSU or EMCSNAP (default: the "
             "one that made it).")] = None,
) -> None:
    """Restore the newest usable image copy, then apply the log (to the end, or --to).
    A database recovered --to a point in time stays stopped until it is image-copied."""
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.recovery import recover as recover_db
    from dasdlab.engine.timemodel import get_profile

    when = _parse_time(to)
    prof = get_profile(profile)
    s = Site.open(site)
    try:
        with bar(f"recovering {dbdname.upper()}", "steps") as cb:
            rep = recover_db(s, dbdname, ddn, when, profile=prof, progress=cb, image_copy=image_copy,
                             data_mover=data_mover.upper() if data_mover else None)
    finally:
        s.close()
    if json_:
        print_json(rep.as_dict())
        return
    for note in rep.notes:
        typer.echo(f"DLB692W {note}")
    for r in rep.results:
        typer.echo(f"DLB690I {rep.dbd}.{r.ddn} restored from image copy {r.image_id} ({r.image_type}, {r.fmt} "
                   f"{r.source}) by {r.method}; {r.records} change records "
                   + (f"{r.from_seq}-{r.last_seq} " if r.records else "")
                   + f"applied to {r.blocks_changed} blocks"
                   + (f"; {r.compensated} blocks' later updates discarded (logged)" if r.compensated else ""))
        bg = r.modeled.get("restore_background")
        typer.echo(f"  modeled: restore {r.modeled['restore']:.3f} s, apply {r.modeled['apply']:.3f} s"
                   + (f" (background copy {bg:.3f} s alongside)" if bg else "")
                   + f"; wall: restore {r.wall['restore']:.3f} s, apply {r.wall['apply']:.3f} s"
                   + (f" ({r.apply_rate:,.0f} records/s)" if r.records else ""))
    point = "the end of the log" if rep.to_time is None else f"{rep.to_time:.3f} s"
    phases = ", ".join(f"{k} {v:.3f}" for k, v in rep.modeled.items() if k != "restore_background")
    typer.echo(f"DLB691I database {rep.dbd} recovered to {point}: modeled {rep.modeled_total:.3f} s ({phases}), "
               f"wall {rep.wall_total:.3f} s; "
               + ("started again" if rep.restarted else f"left stopped (/STA DB {rep.dbd} starts it)"))
