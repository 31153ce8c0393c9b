"""``dasdlab hpic`` (HP Image Copy: run ICEIN control statements) and ``dasdlab recover``
(restore a DBDS from its image copy, then apply the log).

Both run an IMS subsystem of their own for the site (one per site at a time), so they
refuse a database another live process holds online: DLB680E and DLB665E.

Both check what they made against the truth (:mod:`dasdlab.engine.truth`): ``hpic``
compares every copy with the database at its point in time
(:func:`dasdlab.engine.icverify.verify_report`), ``recover`` compares every DBDS it
restored with the committed content at the recovery point
(:func:`dasdlab.engine.verify.check_recovery`).  Return codes of ``hpic``: 0 when
every copy was made and verified, 4 when some failed or do not verify, 8 when none was;
of ``recover``: 0 when it verified, 4 when it ran but does not verify (DLB013E), 8 when
it could not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.cli import names
from dasdlab.cli.common import print_json, report_leftovers

SiteOpt = Annotated[Path, typer.Option("--site", help="The site folder.")]
ProfileOpt = Annotated[str, names.option("--profile", kind="profile", help="Device profile for the modeled time.")]

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
    logical and physical completion (modeled seconds), outputs and RECON type, and
    whether each copy equals the database at its point in time.

    Exit status: 0 every copy made and verified; 4 some failed or do not verify; 8 none made.

    Example: dasdlab hpic fixtures/icein/standard.icein --site site
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.hpic import batch_job, return_code
    from dasdlab.engine.icein import parse_file
    from dasdlab.engine.timemodel import get_profile

    from dasdlab.engine.icverify import verify_report

    icein = parse_file(icein_file)
    prof = get_profile(profile)
    s = Site.open(site)
    report_leftovers(s)
    try:
        from dasdlab.engine import interrupted

        before = interrupted.mark(s)
        try:
            with bar("image copy", "data set groups") as cb:
                reports = batch_job(s, icein, prof, progress=cb, on_phase=cb.phase)
        except KeyboardInterrupt:  # Ctrl-C: take back the half-made copy and the stopped database
            prefixes = {f"{st.options.ichlq}.{st.dbd}.".upper() for st in icein.statements}
            for line in interrupted.take_back(s, before, prefixes):
                typer.echo(line, err=True)
            raise
        # every copy made is compared with the truth at its point in time
        checks = [verify_report(s, r) for r in reports]
    finally:
        s.close()
    good = [r.status == "ok" and all(c.verified for c in ch) for r, ch in zip(reports, checks)]
    ok = sum(good)
    rc = 0 if ok == len(reports) else 4 if ok else 8
    if json_:
        docs = []
        for r, ch, g in zip(reports, checks, good):
            d = r.as_dict()
            d["verified"] = bool(g)
            d["checks"] = [{"dsn": c.dsn, "copy": c.copy, "clean": c.clean, "blocks": c.blocks,
                            "differing_blocks": c.differing, "point_seq": c.point_seq, "point_time": c.point_time,
                            "verified": c.verified} for c in ch]
            docs.append(d)
        print_json({"profile": prof.name, "rc": rc, "reports": docs})
        raise typer.Exit(rc)
    unverified = []
    for r, ch in zip(reports, checks):
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
        if not r.outputs:  # ICOUT=%NO
            typer.echo(f"  ICOUT=%NO: {r.tracks} tracks read (HASH check), no image copy written or registered")
        else:
            typer.echo(f"  RECON {r.recon_type}" + (f" image {r.image_id}" if r.image_id is not None else
                                                    " (not registered, DBRC=N)"))
        for c in ch:
            point = (f"its point in time (log seq {c.point_seq})" if c.clean else
                     f"the end of the copy ({c.point_time:.3f} s) with the log applied (fuzzy copy)")
            if c.verified:
                typer.echo(f"DLB010I {head}: IC{c.copy} {c.dsn} equals the database at {point}: "
                           f"{c.blocks} blocks verified")
            else:
                typer.echo(f"DLB011E {head}: IC{c.copy} {c.dsn} does NOT equal the database at {point}: "
                           f"{c.differing} of {c.blocks} blocks differ")
                unverified.append(f"IC{c.copy} {c.dsn}")
    typer.echo(f"DLB684I {ok} of {len(reports)} image copies made and verified; return code {rc}"
               + (f" (not verified: {', '.join(unverified)})" if unverified else ""))
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
    usedbds: Annotated[bool, typer.Option(
        help="No restore: apply the log to the DBDS as you restored it from a user image copy "
             "(after 'dasdlab recon notify-recov').")] = False,
) -> None:
    """Restore the newest usable image copy, then apply the log (to the end, or --to),
    and check the result against the committed content at that point.  A database
    recovered --to a point in time stays stopped until it is image-copied.

    Exit status: 0 recovered and verified; 4 recovered but does not verify (DLB013E);
    8 could not recover.

    Example: dasdlab recover HDAMDB01 --site site
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.site import Site
    from dasdlab.engine.recovery import recover as recover_db
    from dasdlab.engine.timemodel import get_profile
    from dasdlab.engine.verify import check_recovery

    when = _parse_time(to)
    prof = get_profile(profile)
    s = Site.open(site)
    report_leftovers(s)
    try:
        try:
            with bar(f"recovering {dbdname.upper()}", "steps (restore, apply)") as cb:
                rep = recover_db(s, dbdname, ddn, when, profile=prof, progress=cb, image_copy=image_copy,
                                 data_mover=data_mover.upper() if data_mover is not None else None,
                                 usedbds=usedbds)
        except KeyboardInterrupt:  # a data set may be restored in part: nothing to take back, but say so
            again = " ".join(["dasdlab recover --site", str(site), dbdname] + (["--ddn", ddn] if ddn else [])
                             + (["--to", str(to)] if to is not None else []))
            typer.echo(f"DLB040W the recovery of {dbdname.upper()} was interrupted: its data sets may be "
                       f"restored in part and it stays stopped; run the recovery again: {again}", err=True)
            raise
        checks = check_recovery(s, rep)
    finally:
        s.close()
    bad = [c for c in checks if not c.verified]
    if json_:
        doc = rep.as_dict()
        doc["verified"] = not bad
        doc["checks"] = [{"ddn": c.ddn, "blocks": c.blocks, "mismatched_blocks": c.mismatched_blocks,
                          "first_mismatch": c.first_mismatch, "verified": c.verified} for c in checks]
        print_json(doc)
        if bad:
            raise typer.Exit(4)
        return
    for note in rep.notes:
        typer.echo(f"DLB692W {note}")
    for r in rep.results:
        if r.ca:
            typer.echo(f"  {rep.dbd}.{r.ddn}: {r.ca_records} change records from change accumulation {r.ca}")
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
    for c in checks:
        if c.verified:
            typer.echo(f"DLB012I {rep.dbd}.{c.ddn} equals the committed content at {point}: {c.blocks} blocks "
                       "verified")
    if bad:
        c = bad[0]
        typer.echo(f"DLB013E recovery of {rep.dbd} does not verify: {', '.join(b.ddn for b in bad)} differ from the "
                   f"committed content at {point} ({c.ddn}: {c.mismatched_blocks} of {c.blocks} blocks, first at "
                   f"block {c.first_mismatch[0]} offset {c.first_mismatch[1]}).", err=True)
        raise typer.Exit(4)
