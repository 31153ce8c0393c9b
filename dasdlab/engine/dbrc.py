"""DBRC's recovery workflow: NOTIFY.UIC, NOTIFY.RECOV and GENJCL.RECOV.

Facts (``docs/sources.md``):

* **NOTIFY.UIC** records in RECON an image copy made by a user's own utility -- e.g.
  a FlashCopy, SnapShot or TimeFinder/Clone copy of the data set, made with
  ``dasdlab flashcopy``, ``snap`` or ``clone`` -- as a *nonstandard* (user) image copy.
  A batch one needs the DBDS unallocated for update when it was taken (no ALLOC range
  covers its run time); a concurrent one is given a run and a stop time, and is not
  allowed for a KSDS (S13, S14, S15).
* **Recovery from a user image copy** (S15): DBRC does not restore it.  The user
  restores the data set, records that with **NOTIFY.RECOV** (RUNTIME: when, RCVTIME:
  the time it was restored to, S99), then runs the recovery utility with **USEDBDS**:
  no image copy input, the DBDS as it is, and only the changes after the copy applied
  (:func:`dasdlab.engine.recovery.recover` with ``usedbds=True``).  For a concurrent
  user copy the changes start at its purge time, one checkpoint back (S25), as for
  any fuzzy copy.
* **GENJCL.RECOV** builds the recovery job from RECON: the image copy (DD
  ``DFSUDUMP``), the change accumulation data set (``DFSUCUM``, one at most) and the
  logs after it (``DFSULOG``, in order), for one DBDS, a database, or a DBDS or CA group
  (a CA group can be named where a DBDS group is asked for), to the end of the log or
  a time stamp (S24, S29, S75, S94, S100).  The recovery control statement has ``S`` in
  column 1, the DBD name in columns 4-11 and the DD name in 13-20 (S101).

**Choices where the sources are silent** (written here):

* NOTIFY.RECOV also sets the DBDS's *recovery needed* flag: its content is now older
  than the log says, so no subsystem may use it until the USEDBDS recovery has applied
  the log (that recovery clears the flag).  It needs the database not online in a live
  process (DLB634E).
* A USEDBDS recovery needs the DBDS's newest RECOV record to be a NOTIFY.RECOV
  (DLB635E): after any later recovery the data set is no longer the restored copy.
* A user image copy's data set must hold as many tracks as the DBDS (a clone of it);
  by default it is found through the catalog, or on ``volser`` -- a full-volume copy
  keeps the data set's name on the target volume.
* The generated JCL is a readable plan, not JCL to submit: ``DFSUDUMP DD DUMMY`` for
  USEDBDS, ``*`` comments name each input's sequence range.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from dasdlab.engine.errors import ImsError
from dasdlab.engine.recon import Recon


# ====================================================================== NOTIFY.UIC
def notify_uic(site, dbd: str, ddn: str, dsn: str, run_time: float | None = None,
               stop_time: float | None = None, concurrent: bool = False, volser: str | None = None,
               recon: Recon | None = None,
               now: float | None = None) -> dict:
    """Register data set ``dsn`` (on ``volser``, default: where the catalog says) as a
    user image copy of DBDS ``dbd.ddn`` taken at modeled time ``run_time`` (default:
    RECON's time now, or ``now``: a running subsystem's time); ``concurrent``: taken
    while the database was updated, from
    ``run_time`` to ``stop_time``.  Returns the IMAGE record; DLB633E for bad input."""
    from dasdlab.engine.recovery import _exists

    own = recon is None
    recon = Recon.of_site(site.path, create=False) if own else recon
    try:
        dbd, ddn, dsn = dbd.upper(), ddn.upper(), dsn.upper()
        recon.db(dbd)
        rows = [r for r in recon.dbds(dbd) if r["ddn"] == ddn]
        if not rows:
            raise ImsError("DLB633E", f"database {dbd} has no DBDS {ddn}.")
        row = rows[0]
        now = _now(recon) if now is None else float(now)
        run = now if run_time is None else float(run_time)
        if not (run >= 0) or run > now + 1e-9:
            raise ImsError("DLB633E", f"run time {run:g} s of the user image copy is not on the site's timeline "
                           f"(0 to {now:g} s).")
        stop = run if stop_time is None else float(stop_time)
        if stop < run or stop > now + 1e-9:
            raise ImsError("DLB633E", f"stop time {stop:g} s must lie between the run time {run:g} s and now "
                           f"({now:g} s).")
        if stop_time is not None and not concurrent:
            raise ImsError("DLB633E", "a stop time is given for a concurrent user image copy only (--concurrent).")
        if concurrent and row["dsorg"] == "KSDS":
            raise ImsError("DLB633E", f"{dbd}.{ddn} is a KSDS: a concurrent user image copy is not allowed "
                           "for a KSDS (S14).")
        if volser is None:
            volser = _exists(site, dsn)
            if volser is None:
                raise ImsError("DLB633E", f"data set {dsn} is not catalogued (or its volume has no such entry); "
                               "name its volume with --volume.")
        else:
            volser = volser.upper()
            try:
                vol = site.volume(volser)
            except Exception:
                raise ImsError("DLB633E", f"volume {volser} is not in the site.") from None
            if dsn not in vol.vtoc:
                raise ImsError("DLB633E", f"volume {volser} has no data set {dsn}.")
        if dsn == row["dsn"] and volser == row["volser"]:
            raise ImsError("DLB633E", f"{dsn} on {volser} is the DBDS itself, not a copy of it.")
        vol = site.volume(volser)
        tracks = sum(b - a for a, b in vol.vtoc.get(dsn).track_list(vol.heads))
        dvol = site.volume(row["volser"])
        dtracks = sum(b - a for a, b in dvol.vtoc.get(row["dsn"]).track_list(dvol.heads))
        if tracks != dtracks:
            raise ImsError("DLB633E", f"{dsn} on {volser} has {tracks} tracks and {row['dsn']} {dtracks}: it is not "
                           "a copy of the data set.")
        if not concurrent:
            live = [a for a in recon.allocs(dbd) if a["ddn"] == ddn and a["alloc_time"] <= run
                    and (a["dealloc_time"] is None or a["dealloc_time"] > run)]
            if live:
                raise ImsError("DLB633E", f"{dbd}.{ddn} was allocated for update at {run:g} s (ALLOC record from "
                               f"{live[0]['alloc_time']:g} s): a batch user image copy needs the database "
                               "stopped; register it as --concurrent with its stop time.")
        return recon.register_image(dbd, ddn, "UICCIC" if concurrent else "UICBATCH", run, stop,
                                    ic1=(dsn, volser), run_seq=_seq_at(site, recon, run), format="UIC")
    finally:
        if own:
            recon.close()


def _now(recon: Recon) -> float:
    """RECON's modeled time now: its mark, or later when a log or checkpoint says so."""
    return max([recon.last_time()] + [lg["stop_time"] or lg["start_time"] for lg in recon.logs()]
               + [c["time"] for c in recon.checkpoints()[-1:]])


def _seq_at(site, recon: Recon, t: float) -> int:
    """The last log sequence number written at or before modeled time ``t``."""
    import pyarrow.compute as pc

    from dasdlab.engine.log import LogReader

    tab = LogReader(site.path, recon).read(until_time=t)
    return int(pc.max(tab["seq"]).as_py()) if tab.num_rows else 0


# ====================================================================== NOTIFY.RECOV
def notify_recov(site, dbd: str, ddn: str, image_id: int | None = None, run_time: float | None = None,
                 recon: Recon | None = None, now: float | None = None) -> dict:
    """Record that DBDS ``dbd.ddn`` was restored by its user from user image copy
    ``image_id`` (default: its newest), at modeled time ``run_time`` (default now);
    sets the recovery-needed flag.  Returns the RECOV record; DLB634E for bad input."""
    from dasdlab.engine.recovery import _recov_db

    own = recon is None
    recon = Recon.of_site(site.path, create=False) if own else recon
    try:
        dbd, ddn = dbd.upper(), ddn.upper()
        recon.db(dbd)
        if not any(r["ddn"] == ddn for r in recon.dbds(dbd)):
            raise ImsError("DLB634E", f"database {dbd} has no DBDS {ddn}.")
        uics = [im for im in recon.images(dbd, ddn) if im["type"].startswith("UIC") and im["status"] == "IN USE"
                and (image_id is None or im["id"] == image_id)]
        if not uics:
            raise ImsError("DLB634E", f"{dbd}.{ddn} has no user image copy"
                           + (f" with IMAGE id {image_id}" if image_id is not None else "")
                           + " in RECON; register it with 'dasdlab recon notify-uic' first.")
        owner = recon.live_owner(dbd)
        if owner is not None:
            raise ImsError("DLB634E", f"database {dbd} is online in {owner['ssid']} (process {owner['pid']}); "
                           "stop it (/DBR) before restoring and recording the restore.")
        uic = uics[-1]
        now = _now(recon) if now is None else float(now)
        run = now if run_time is None else float(run_time)
        if run < uic["run_time"] or run > now + 1e-9:
            raise ImsError("DLB634E", f"restore time {run:g} s is before the copy ({uic['run_time']:g} s) or after "
                           f"now ({now:g} s).")
        rcv = float(uic["stop_time"] if uic["stop_time"] is not None else uic["run_time"])
        db = _recov_db(site)
        try:
            cur = db.execute(
                "INSERT INTO recovs(dbd, ddn, run_time, end_time, to_time, image_id, from_seq, last_seq, records, "
                "compensated, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (dbd, ddn, run, run, rcv, int(uic["id"]), 0, -1, 0, 0,
                 json.dumps({"kind": "NOTIFY.RECOV", "uic": int(uic["id"]), "rcvtime": rcv})))
            rid = int(cur.lastrowid)
            row = dict(db.execute("SELECT * FROM recovs WHERE id=?", (rid,)).fetchone())
        finally:
            db.close()
        recon.set_recovery_needed(dbd, ddn, True)
        row["extra"] = json.loads(row["extra"])
        return row
    finally:
        if own:
            recon.close()


def restored_from(site, recon: Recon, dbd: str, ddn: str) -> dict:
    """The user image copy (IMAGE record) DBDS ``dbd.ddn`` was last restored from, as
    NOTIFY.RECOV recorded; DLB635E when its newest RECOV record is not one."""
    from dasdlab.engine.recovery import recovs

    # no RECOV record yet: the table is not made just to look (a refusal changes no file)
    made = recon._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='recovs'").fetchone()
    rows = [r for r in recovs(site, dbd) if r["ddn"] == ddn.upper()] if made else []
    if not rows or rows[-1]["extra"].get("kind") != "NOTIFY.RECOV":
        raise ImsError("DLB635E", f"USEDBDS recovery of {dbd.upper()}.{ddn.upper()}: RECON has no NOTIFY.RECOV "
                       "since its last recovery; restore the data set from a user image copy and record it with "
                       "'dasdlab recon notify-recov' first.")
    uic = [im for im in recon.images(dbd, ddn) if im["id"] == rows[-1]["image_id"]]
    if not uic or uic[0]["status"] != "IN USE":
        raise ImsError("DLB635E", f"the user image copy {rows[-1]['image_id']} NOTIFY.RECOV names is no longer in "
                       "RECON.")
    return uic[0]


# ====================================================================== GENJCL.RECOV
@dataclass
class RecoveryStep:
    """What the recovery of one DBDS reads, in order."""

    dbd: str
    ddn: str
    dsn: str
    image: dict | None  # None with USEDBDS
    image_type: str
    image_dsn: str | None
    image_volser: str | None
    fuzzy: bool
    from_seq: int
    ca: dict | None  # dsn, stop_seq, stop_time
    logs: list[dict]  # dsn, first_seq, last_seq (None: still written)
    to_time: float | None
    usedbds: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class RecoveryJob:
    steps: list[RecoveryStep]
    jcl: str

    def as_dict(self) -> dict:
        return {"steps": [asdict(s) for s in self.steps], "jcl": self.jcl}


def members(recon: Recon, dbd: str | None = None, ddn: str | None = None,
            group: str | None = None) -> list[tuple[str, str]]:
    """The DBDSs a command names: one (``dbd``, ``ddn``), a database (its DBDSs, an
    implied DBDS group, S94) or a DBDS or CA group; DLB636E when it names none or two."""
    if (group is None) == (dbd is None):
        raise ImsError("DLB636E", "name a database (with or without a DD name) or a group (--group), not both.")
    if group is not None:
        if ddn is not None:
            raise ImsError("DLB636E", "--ddn goes with a database, not with a group.")
        return list(recon.group(group)["members"])
    name = dbd.upper()
    rows = recon.dbds(name)
    if not rows:
        recon.db(name)
    if ddn is not None:
        if not any(r["ddn"] == ddn.upper() for r in rows):
            raise ImsError("DLB636E", f"database {name} has no DBDS {ddn.upper()}.")
        return [(name, ddn.upper())]
    return [(name, r["ddn"]) for r in rows]


def genjcl_recov(site, dbd: str | None = None, ddn: str | None = None, group: str | None = None,
                 to: float | None = None, usedbds: bool = False, recon: Recon | None = None,
                 now: float | None = None) -> RecoveryJob:
    """GENJCL.RECOV: the recovery job of the DBDSs named (see :func:`members`), to the
    end of the log or modeled time ``to`` (``now``: a running subsystem's time) -- which image copy, which change
    accumulation data set and which logs, in order.  Reads only; refuses with the
    recovery's own message ids (DLB662E no usable copy, DLB663E/DLB664E missing logs,
    DLB666E bad time, DLB635E USEDBDS without NOTIFY.RECOV)."""
    from dasdlab.engine.recovery import plan

    own = recon is None
    recon = Recon.of_site(site.path, create=False) if own else recon
    try:
        steps = []
        for d, x in members(recon, dbd, ddn, group):
            (p,) = plan(site, d, x, to, recon, now, usedbds=usedbds)
            im = p.image
            logs = [{"dsn": lg["dsn"], "first_seq": lg["first_seq"],
                     "last_seq": lg["last_seq"] if lg["status"] == "CLOSED" else None} for lg in p.logs]
            ca = None if p.ca is None else {"dsn": p.ca["dsn"], "stop_seq": p.ca["stop_seq"],
                                            "stop_time": p.ca["stop_time"]}
            steps.append(RecoveryStep(d, x, p.dsn, None if usedbds else im, im["type"],
                                      None if usedbds else p.sources[0][0], None if usedbds else p.sources[0][1],
                                      p.fuzzy, p.from_seq, ca, logs, to, usedbds, list(p.notes)))
        return RecoveryJob(steps, _jcl(steps))
    finally:
        if own:
            recon.close()


def _jcl(steps: list[RecoveryStep]) -> str:
    out = ["//RECOV    JOB  (DASDLAB),'GENJCL.RECOV'"]
    for k, s in enumerate(steps, 1):
        out.append(f"//* {s.dbd}.{s.ddn} ({s.dsn}) to "
                   + ("the end of the log" if s.to_time is None else f"{s.to_time:g} s"))
        out.append(f"//RCV{k:<5} EXEC PGM=DFSRRC00,PARM='UDR,DFSURDB0,{s.dbd}'")
        if s.usedbds:
            out.append("//DFSUDUMP DD DUMMY")
            out.append(f"//* USEDBDS: {s.dsn} as restored from user image copy {s.image_type}")
        else:
            out.append(f"//DFSUDUMP DD DSN={s.image_dsn},DISP=OLD,VOL=SER={s.image_volser}")
            out.append(f"//* image copy {s.image['id']} {s.image_type}, run {s.image['run_time']:g} s"
                       + (f", fuzzy: changes from purge point {s.from_seq}" if s.fuzzy else
                          f", changes from {s.from_seq}"))
        if s.ca is not None:
            out.append(f"//DFSUCUM  DD DSN={s.ca['dsn']},DISP=OLD")
            out.append(f"//* change accumulation to record {s.ca['stop_seq']} ({s.ca['stop_time']:g} s)")
        else:
            out.append("//DFSUCUM  DD DUMMY")
        if s.logs:
            for i, lg in enumerate(s.logs):
                out.append(f"//{'DFSULOG' if i == 0 else '':<8} DD DSN={lg['dsn']},DISP=OLD")
            out.append("//* logs: " + ", ".join(f"{lg['dsn']} {lg['first_seq']}-"
                                                 f"{lg['last_seq'] if lg['last_seq'] is not None else 'open'}"
                                                 for lg in s.logs))
        else:
            out.append("//DFSULOG  DD DUMMY")
        out.append("//DFSYSIN  DD *")
        out.append(f"S  {s.dbd:<8} {s.ddn:<8} {s.dsn}" + ("  USEDBDS" if s.usedbds else ""))
        out.append("/*")
    return "\n".join(out) + "\n"
