"""Database recovery: restore a DBDS from an image copy, then apply the log.

Facts (``docs/sources.md``: S29, S31, S24, S25, S10, S14, S15, S76, and for Fast
Recovery copies our inference from S11, S22, S17, S32):

1. **Choose the image copy** from RECON: the newest usable IMAGE record of the DBDS;
   for a point-in-time recovery to ``T``, the newest whose point in time is at or before
   ``T``.  A clean copy's point in time is its run time; a fuzzy copy (CONCUR, SMSCIC,
   SMSONLC, UICCIC) represents an interval, so its *stop* time must be at or before ``T``
   too (S2: it may hold any of the updates made while it ran).
2. **Restore** it.  A standard (IMS format) or compressed copy is *reloaded*: decoded
   (:mod:`dasdlab.engine.icformat`) and every block written back through the data set's
   volume, i.e. the subsystem's write path (DFSURDB0's reload, S29).  A Fast Recovery
   copy (a clone data set) is *copied back through the copy services*, a data-set-level
   copy rather than a reload (S22): FlashCopy COPY clone -> data set on a DS8000-like
   box, SnapShot on an RVA-like box, TimeFinder/Clone create + activate on a
   Symmetrix-like box.  The clone is only read, so it stays a usable copy.
3. **Apply change records** in sequence order: after the copy's run point for a clean
   copy (RECON's ``purge_seq`` = the copy's ``run_seq``, S25/S10), from the *purge
   time* for a fuzzy copy -- the checkpoint at or before the copy's start, which RECON
   computes (S25) -- because an update committed before the copy started may still
   have been in a buffer when the copy read the block (S29, S31).  Change records are
   physical after images, so re-applying one the copy already holds is harmless: apply
   is idempotent (§3.3).  Apply is vectorised: one log read, one
   :func:`dasdlab.engine.kernels.apply_changes` call per DBDS, one write of the blocks
   it touched.

**Refusals** (checked before anything changes): no usable image copy (DLB662E), a
change record range no RECON LOG record covers (DLB663E), a log data set file that is
gone, unreadable or shorter than RECON says (DLB664E), a database another live process
holds online (DLB665E), a bad ``--to`` (DLB666E), an image copy data set that does not
decode or does not fit the DBDS (DLB667E), a clone in another subsystem or of another size (DLB668E, DLB667E),
a DATA_MOVER no copy service answers to (DLB623E), an image copy asked for without ``to`` (DLB029E).

**The database is stopped** (``/DBR``) while it is recovered: through the given
:class:`~dasdlab.engine.system.ImsSystem` (which flushes and discards the buffers, so
none keeps a stale block), or -- with no system, as the ``dasdlab recover`` command
runs -- after checking that no other live process holds it online, in an IMS
subsystem started for the purpose (an emergency restart if the last one died).  The
recovery holds a BATCH UPDATE authorization under SSID ``DFSURDB0`` so nobody starts the
database meanwhile, sets the DBDS's recovery-needed flag when it starts writing (a
recovery that dies leaves the flag set) and clears it at the end.  With ``restart``
the database is started again (``/STA``) when it was started before.

**Rules chosen where the sources are silent** (documented, tested):

* *Point-in-time recovery discards the updates after ``T``.*  IMS records a RECOV TO
  time and then ignores those log records and later image copies for the DBDS.  dasdlab
  instead *logs the discard*, as batch backout logs compensation records: for every
  block whose content at ``T`` differs from the content before the recovery, a change
  record with the whole block (before = the discarded content, after = the content at
  ``T``) is written to the log and to the truth.  The log, the truth and ``db verify``
  then agree, and a later recovery from any older copy passes through the point-in-time
  recovery on its own.
* *A database recovered to a point in time stays unavailable until it is image-copied*,
  as IMS Database Recovery Facility leaves it (its recovery of a database data set to a
  time stamp, with the image copy it can take in the same job, S84, S85): the DBDSs get
  DBRC's *image copy needed* flag, the database stays stopped, and ``/STA`` is refused
  (DLB562E) until an image copy is registered.  ``recover(to=T, image_copy=True)`` takes
  that copy in the same run -- a standard batch image copy of each recovered DBDS, as
  DRF's ``IC`` option does -- and then starts the database; its modeled time is part of
  the recovery's outage (``modeled["image_copy"]``).  Without it the outage lasts until
  somebody copies and starts the database (the report says so).
* *Which log position a fuzzy copy starts from*: ``purge_seq`` + 1; should RECON's purge
  checkpoint lie after the copy's ``run_seq`` (a checkpoint at the very same modeled
  instant), the newest checkpoint at or before ``run_seq`` is used instead.
* *A copy whose data sets are gone* (IC1 and IC2, or the clone) is skipped with a note,
  and the next older one is tried; one that exists but does not decode is an error.
* *Which data mover copies a clone back*: HP Image Copy's recovery of a Fast Recovery
  copy uses DATA_MOVER (S79); ``recover(data_mover=None)`` uses the one the copy was
  made with (EMCSNAP for a TimeFinder clone), as a job that names none would have to
  on that box.  A data mover the clone's subsystem cannot serve is refused (DLB623E).
* *Copying a clone back.*  FlashCopy: the clone -> data set relationship (COPY) is
  drained and withdrawn at once, so the data set can be a copy source again; its
  background copy is reported as modeled time overlapping the apply.  TimeFinder/Clone:
  the clone's own session (COPIED) still holds the data set's tracks as its source, so
  finished sessions on those tracks are terminated first (their clones are complete);
  a copy still in progress on them -- or on the clone: a Fast Recovery copy is usable
  from its logical completion, before its background copy ends -- makes DFSMSdss copy
  the clone back with standard I/O instead (FASTREPLICATION(PREFERRED), S46; method
  ``copy``, restore priced as a read plus a write of every track).  SnapShot: a snap,
  physically complete at once; its record is released.
* *A RECOV record* (when ``record``) goes to table ``recovs`` of the RECON database,
  which this module owns: DBDS, run and end time, ``to`` time, image copy, first and
  last change record applied, compensation records.

**API**::

    rep = recover(site, "HDAMDB01", ddn=None, to=None, system=None, profile=None)
    plans = plan(site, "HDAMDB01", "HDAMDD01", to=None, image_id=None)   # reads only
    rep = execute(site, system, plans, "HDAMDB01")                       # carries them out
    rep.results[i].method / .records / .modeled / .wall;  recovs(site, "HDAMDB01")

**Time.**  Each phase reports modeled seconds from the device profile
(:mod:`dasdlab.engine.timemodel`) and measured wall seconds: *stop* (``db_stop_s``),
*restore* (reload: the read of the copy plus the write of the data set; Fast Recovery:
DSS start-up and the establish / snap, or the clone activate -- the background copy
that follows is reported apart, it overlaps the apply), *apply*
(``profile.log_apply_s(n)``) and *start* (``db_start_s``).  The modeled clock moves on
by their sum.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dasdlab.engine.leftovers import Intent, adopt
from dasdlab.engine.recon import FUZZY_TYPES, Recon
from dasdlab.engine.timemodel import DEFAULT_PROFILE, TRACK_BYTES, DeviceProfile, get_profile, service_cost
from dasdlab.errors import DasdlabError
from dasdlab.host import replication

RECOVERY_SSID = "DFSURDB0"


class RecoveryError(DasdlabError):
    """A recovery that cannot be done (no copy, missing log, database in use, ...)."""


# ====================================================================== the plan
@dataclass
class DbdsPlan:
    """What recovering one DBDS will do; made before anything changes."""

    ddn: str
    dsn: str
    index: int
    nblocks: int
    block_size: int
    image: dict  # the RECON IMAGE record
    fmt: str  # IMS, COMPRESSED or FR
    sources: list[tuple[str, str]]  # (dsn, volser) to try in order: IC1, IC2 (or the clone)
    fuzzy: bool
    from_seq: int  # first change record to apply
    to_time: float | None
    logs: list[dict]  # RECON LOG records holding the records to apply
    notes: list[str] = field(default_factory=list)
    data_mover: str | None = None  # DATA_MOVER of the recovery job; None: the copy's own
    #: how a Fast Recovery clone is copied back: "fast" (flash, snap, clone) or
    #: "traditional" (DFSMSdss standard I/O, when fast replication cannot be used now)
    copy_back: str = "fast"
    #: a change accumulation data set read instead of the logs up to its stop (the RECON
    #: CA record), then the logs after it
    ca: dict | None = None
    #: USEDBDS: no restore -- the DBDS as it is (restored by the user from the user image
    #: copy ``image``, recorded with NOTIFY.RECOV) is where the apply starts
    usedbds: bool = False

    @property
    def point_in_time(self) -> float:
        im = self.image
        return float(im["stop_time"] if self.fuzzy and im["stop_time"] is not None else im["run_time"])


@dataclass
class DbdsResult:
    ddn: str
    image_id: int
    image_type: str
    fmt: str
    source: str  # the data set restored from
    method: str  # reload, flashcopy, snapshot, timefinder, copy (standard I/O copy of a clone)
    from_seq: int
    last_seq: int  # last change record applied (from_seq - 1 when none)
    records: int  # change records applied
    blocks_restored: int
    blocks_changed: int  # blocks the change records touched
    compensated: int = 0  # blocks whose discarded updates were logged (point in time)
    modeled: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ca: str | None = None  # the change accumulation data set read, if any
    ca_records: int = 0  # of the records applied, those from it

    @property
    def apply_rate(self) -> float:
        """Change records applied per measured second (0 when none)."""
        w = self.wall.get("apply", 0.0)
        return self.records / w if self.records and w > 0 else 0.0


@dataclass
class RecoveryReport:
    dbd: str
    to_time: float | None
    start_time: float
    end_time: float = 0.0
    results: list[DbdsResult] = field(default_factory=list)
    modeled: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    stopped: bool = False
    restarted: bool = False
    recov_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image_copies: list[int] = field(default_factory=list)  # taken after a point-in-time recovery

    @property
    def modeled_total(self) -> float:
        return sum(v for k, v in self.modeled.items() if k != "restore_background")

    @property
    def wall_total(self) -> float:
        return sum(self.wall.values())

    def as_dict(self) -> dict:
        d = asdict(self)
        d["modeled_total_s"] = self.modeled_total
        d["wall_total_s"] = self.wall_total
        for r, res in zip(d["results"], self.results):
            r["apply_records_per_s"] = res.apply_rate
        return d


def _is_fuzzy(image: dict) -> bool:
    return image["type"] in FUZZY_TYPES


def _exists(site, dsn: str) -> str | None:
    """The volume of catalogued data set ``dsn`` when its VTOC entry is there."""
    volser = site.catalog.find(dsn)
    if volser is None:
        return None
    try:
        vol = site.volume(volser)
    except DasdlabError:
        return None
    return volser if dsn in vol.vtoc else None


def _from_seq(recon: Recon, image: dict) -> int:
    purge = image["purge_seq"]
    run = (image.get("extra") or {}).get("pit_seq")
    if purge is None:
        raise RecoveryError("DLB667E", f"image copy {image['id']} of {image['dbd']}.{image['ddn']} has no log "
                            "position (purge sequence number) in RECON, so the log cannot be applied after it.")
    purge = int(purge)
    if _is_fuzzy(image) and run is not None and purge > int(run):
        cks = [c["seq"] for c in recon.checkpoints() if c["seq"] <= int(run)]
        purge = max(cks, default=0)
    return purge + 1


def _logs_for(recon: Recon, site, from_seq: int, to_time: float | None, what: str) -> list[dict]:
    """The RECON LOG records that hold change records ``from_seq``.. (to ``to_time``);
    refuses when they leave a gap or a file is gone."""
    from dasdlab.engine.log import log_dir

    logs = sorted(recon.logs(), key=lambda lg: (lg["first_seq"], lg["start_time"]))
    known = [lg["last_seq"] or 0 for lg in logs] + [c["seq"] for c in recon.checkpoints()]
    known_hi = max(known, default=0)
    need = from_seq
    out = []
    open_ended = cut = False
    for lg in logs:
        last = lg["last_seq"] if lg["status"] == "CLOSED" else None
        if last is not None and last < need:
            continue
        if lg["first_seq"] > need:
            raise RecoveryError("DLB663E", f"{what} needs change records {need}-{lg['first_seq'] - 1}, but no log "
                                "data set in RECON holds them (a LOG record is missing); the recovery cannot be "
                                "done from this image copy.")
        if to_time is not None and lg["start_time"] > to_time:
            cut = True
            break
        path = log_dir(site.path) / Path(lg["path"]).name
        if not path.is_file():
            raise RecoveryError("DLB664E", f"{what} needs log data set {lg['dsn']} (change records from {need}), "
                                f"but its file {path} is gone; restore it, or recover from a newer image copy.")
        out.append(lg)
        if last is None:
            open_ended = True
            break
        need = last + 1
    if not (open_ended or cut) and need <= known_hi:
        raise RecoveryError("DLB663E", f"{what} needs change records {need}-{known_hi}, but no log data set in "
                            "RECON holds them (a LOG record is missing).")
    return out


def plan(site, name: str, ddn: str | None = None, to: float | None = None, recon: Recon | None = None,
         now: float | None = None, image_id: int | None = None,
         data_mover: str | None = None, usedbds: bool = False, use_ca: bool = True) -> list[DbdsPlan]:
    """Choose the image copy and the log range of each DBDS to recover (``ddn`` or all
    of database ``name``), to the end of the log or to modeled time ``to``; with
    ``image_id``, restore that IMAGE record (as DFSURDB0 restores the copy it is given)
    instead of the newest.  A change accumulation data set that covers the range is
    read instead of those logs (``use_ca``, as GENJCL.RECOV selects it).  User image
    copies are never restored by DBRC; with ``usedbds`` the DBDS as it is -- restored
    from a user image copy and recorded with NOTIFY.RECOV (:mod:`dasdlab.engine.dbrc`)
    -- is the starting point.  Reads only."""
    from dasdlab.engine.database import ImsDatabase

    own = recon is None
    recon = Recon.of_site(site.path) if own else recon
    try:
        db = ImsDatabase.open(site, name, recon)
        db.require_loaded()
        if now is None:  # RECON's time mark, or later when a log or checkpoint says so
            now = max([recon.last_time()] + [lg["stop_time"] or lg["start_time"] for lg in recon.logs()]
                      + [c["time"] for c in recon.checkpoints()[-1:]])
        if to is not None:
            if not (isinstance(to, (int, float)) and math.isfinite(to)) or to < 0:
                raise RecoveryError("DLB666E", f"recovery time {to!r} is not a modeled time in seconds (0 or more).")
            if to > now + 1e-9:
                raise RecoveryError("DLB666E", f"recovery time {to:g} s is later than the site's modeled time "
                                    f"{now:g} s; give a time on the timeline so far, or leave --to out.")
        plans = []
        for d in ([db.ddn(ddn)] if ddn else db.dbds):
            what = f"recovery of {db.name}.{d.ddn}"
            images = [im for im in recon.images(db.name, d.ddn) if im["status"] == "IN USE"
                      and (image_id is None or im["id"] == image_id)]
            if usedbds:
                from dasdlab.engine.dbrc import restored_from

                uic = restored_from(site, recon, db.name, d.ddn)
                images = [im for im in images if im["id"] == uic["id"]]
            else:  # a user image copy is restored by its user (S15), not by DBRC
                images = [im for im in images if not im["type"].startswith("UIC")]
            if to is not None:
                images = [im for im in images if im["run_time"] <= to
                          and (not _is_fuzzy(im) or (im["stop_time"] if im["stop_time"] is not None
                                                     else im["run_time"]) <= to)]
            images.sort(key=lambda im: (im["run_time"], im["id"]), reverse=True)
            notes = []
            chosen = None
            for im in images:
                fmt = (im.get("extra") or {}).get("format", "IMS")
                if usedbds:
                    chosen = (im, "UIC", [(im["ic1_dsn"], im["ic1_volser"])])
                    break
                cands = [(im["ic1_dsn"], im["ic1_volser"])]
                if im["ic2_dsn"] and fmt != "FR":
                    cands.append((im["ic2_dsn"], im["ic2_volser"]))
                there = [(dsn, v) for dsn, _v in cands if (v := _exists(site, dsn)) is not None]
                if not there:
                    notes.append(f"image copy {im['id']} ({im['type']}, run {im['run_time']:.3f}) skipped: "
                                 f"{' and '.join(c[0] for c in cands)} no longer exist")
                    continue
                chosen = (im, fmt, there)
                break
            if chosen is None:
                when = (f" at or before {to:g} s" if to is not None else "") + \
                    (f" with id {image_id}" if image_id is not None else "")
                raise RecoveryError("DLB662E", f"{what}: RECON has no usable image copy{when}"
                                    + (f" ({'; '.join(notes)})" if notes else "")
                                    + "; take one with 'dasdlab hpic' first.")
            im, fmt, there = chosen
            from dasdlab.engine.uow import first_needed

            first = first_needed(site, recon, db.name, _from_seq(recon, im))
            ca = None
            if use_ca:
                from dasdlab.engine import changeaccum

                ca = changeaccum.usable(recon, site, db.name, d.ddn, first, to)
            logs = _logs_for(recon, site, ca[0]["stop_seq"] + 1 if ca else first, to, what)
            pl = DbdsPlan(d.ddn, d.dsn, d.index, d.nblocks, d.block_size, im, fmt, there,
                          _is_fuzzy(im), first, to, logs, notes, data_mover,
                          ca=ca[0] if ca else None, usedbds=usedbds)
            if fmt == "FR":
                check_flash_back(site, pl, d.volser)
            plans.append(pl)
        return plans
    finally:
        if own:
            recon.close()


# ====================================================================== the log
def _read_changes(site, name: str, logs: list[dict], from_seq: int):
    """Change records of database ``name`` with sequence numbers from ``from_seq`` in the
    given log data sets, as a :class:`~dasdlab.engine.log.ChangeSet`.  A file that holds
    fewer records than its LOG record says is refused (DLB664E)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from dasdlab.engine.log import CHANGE, SCHEMA, LogReader, changeset, log_dir

    rd = LogReader(site.path)
    parts = []
    for lg in logs:
        path = log_dir(site.path) / Path(lg["path"]).name
        try:
            t = rd.read_file(path)
        except DasdlabError as e:
            raise RecoveryError("DLB664E", f"log data set {lg['dsn']} cannot be read ({e.text})") from None
        if t.num_rows == 0:
            if lg["status"] == "CLOSED" and lg["last_seq"] is not None and lg["last_seq"] >= lg["first_seq"]:
                raise RecoveryError("DLB664E", f"log data set {lg['dsn']} holds no records, but RECON says it "
                                    f"ends at {lg['last_seq']}; the file is damaged.")
            continue
        seq = t["seq"]
        if lg["status"] == "CLOSED" and lg["last_seq"] is not None:
            hi = int(pc.max(seq).as_py())
            if hi < lg["last_seq"]:
                raise RecoveryError("DLB664E", f"log data set {lg['dsn']} ends at record {hi}, but RECON says "
                                    f"it holds records up to {lg['last_seq']}; the file is damaged or truncated.")
        dbd = t["dbd"]
        if not any(name in ch.dictionary.to_pylist() for ch in dbd.chunks):
            continue  # a log data set with no record of this database
        mask = pc.and_(pc.greater_equal(seq, pa.scalar(from_seq, pa.uint64())),
                       pc.equal(t["type"], pa.scalar(CHANGE, pa.uint8())))
        mask = pc.and_(mask, pc.equal(pc.cast(dbd, pa.string()), name))
        parts.append(t.filter(mask))
    if not parts:
        return changeset(SCHEMA.empty_table())
    return changeset(pa.concat_tables(parts).combine_chunks())


@dataclass
class _Changes:
    """The change records of one DBDS (views into a ChangeSet)."""

    seq: np.ndarray
    time: np.ndarray
    block: np.ndarray
    offset: np.ndarray
    start: np.ndarray
    length: np.ndarray
    after: np.ndarray

    def select(self, m: np.ndarray) -> _Changes:
        return _Changes(self.seq[m], self.time[m], self.block[m], self.offset[m], self.start[m],
                        self.length[m], self.after)

    def __len__(self) -> int:
        return int(self.seq.size)


def _changes_of(cs, ddn: str, from_seq: int) -> _Changes:
    if len(cs) == 0 or ddn not in cs.ddn_names:
        e = np.empty(0, np.int64)
        return _Changes(e, np.empty(0), e, e, e, e, np.empty(0, np.uint8))
    m = (cs.ddn_code == cs.ddn_names.index(ddn)) & (cs.seq >= from_seq)
    return _Changes(cs.seq[m], cs.time[m], cs.block[m], cs.offset[m], cs.start[m], cs.length[m], cs.after)


def apply_to(image: np.ndarray, rows: np.ndarray, ch: _Changes) -> int:
    """Apply change records ``ch`` in order to ``image``, whose row ``i`` is block
    ``rows[i]`` (sorted); returns how many applied (records for other blocks skip)."""
    from dasdlab.engine.kernels import apply_changes

    if len(ch) == 0 or rows.size == 0:
        return 0
    # block -> row through a lookup table over the rows' span: one gather instead of a
    # binary search each
    base = int(rows[0])
    lut = np.full(int(rows[-1]) - base + 2, -1, np.int64)  # the last entry: outside the rows
    lut[rows - base] = np.arange(rows.size, dtype=np.int64)
    rel = ch.block - base
    rel = np.where((rel < 0) | (rel >= lut.size - 1), lut.size - 1, rel)
    return int(apply_changes(image, 0, lut[rel], ch.offset, ch.after, ch.start, ch.length))


#: touched blocks read, replayed and written back per piece of a recovery's apply
APPLY_PIECE = 1024


class _BlockIndex:
    """The records of a change set grouped by block, to hand out those of a sorted run
    of blocks without scanning every record each time."""

    def __init__(self, ch: _Changes | None) -> None:
        self.ch = ch
        if ch is not None and len(ch):
            self.order = np.argsort(ch.block, kind="stable")
            self.sorted = ch.block[self.order]

    def of(self, blocks: np.ndarray) -> _Changes:
        if self.ch is None or not len(self.ch) or blocks.size == 0:
            return self.ch.select(np.empty(0, np.int64)) if self.ch is not None else self.ch
        lo, hi = np.searchsorted(self.sorted, [blocks[0], blocks[-1] + 1])
        return self.ch.select(self.order[lo:hi])


# ====================================================================== RECOV records
_RECOV_SCHEMA = """
CREATE TABLE IF NOT EXISTS recovs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dbd         TEXT NOT NULL,
    ddn         TEXT NOT NULL,
    run_time    REAL NOT NULL,
    end_time    REAL NOT NULL,
    to_time     REAL,
    image_id    INTEGER NOT NULL,
    from_seq    INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    compensated INTEGER NOT NULL,
    extra       TEXT
);
"""


def _recov_db(site) -> sqlite3.Connection:
    db = sqlite3.connect(Path(site.path) / "ims" / "recon.db", timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(_RECOV_SCHEMA)
    return db


def record_recov(site, dbd: str, res: DbdsResult, run_time: float, end_time: float,
                 to_time: float | None) -> int:
    db = _recov_db(site)
    try:
        cur = db.execute(
            "INSERT INTO recovs(dbd, ddn, run_time, end_time, to_time, image_id, from_seq, last_seq, records, "
            "compensated, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (dbd, res.ddn, run_time, end_time, to_time, res.image_id, res.from_seq, res.last_seq, res.records,
             res.compensated, json.dumps({"method": res.method, "source": res.source, "format": res.fmt})))
        return int(cur.lastrowid)
    finally:
        db.close()


def recovs(site, dbd: str | None = None) -> list[dict]:
    """The RECOV records (oldest first), of one database or all."""
    db = _recov_db(site)
    try:
        sql, args = "SELECT * FROM recovs", ()
        if dbd:
            sql, args = sql + " WHERE dbd=?", (dbd.upper(),)
        rows = [dict(r) for r in db.execute(sql + " ORDER BY id", args).fetchall()]
    finally:
        db.close()
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    return rows


# ====================================================================== recovery
def recover(site, name: str, ddn: str | None = None, to: float | None = None, system=None,
            profile: DeviceProfile | str | None = None, restart: bool = True, record: bool = True,
            progress: Callable[[int, int], None] | None = None,
            wall: Callable[[], float] = time.perf_counter, image_id: int | None = None,
            data_mover: str | None = None, image_copy: bool = False, usedbds: bool = False,
            use_ca: bool = True) -> RecoveryReport:
    """Recover DBDS ``ddn`` (or every DBDS) of database ``name`` to the end of the log,
    or to modeled time ``to`` (from IMAGE record ``image_id`` when given; a Fast Recovery
    copy is copied back by ``data_mover``, default the one that made it).  ``system``
    is this process's running :class:`~dasdlab.engine.system.ImsSystem`; without one,
    the database must not be online in another live process, and a subsystem is
    started for the recovery."""
    from dasdlab.engine.system import ImsSystem

    prof = profile if isinstance(profile, DeviceProfile) else get_profile(profile or DEFAULT_PROFILE)
    if image_copy and to is None:
        raise RecoveryError("DLB029E", "--image-copy applies only to a point-in-time recovery (--to): a "
                                       "recovery to the end of the log needs no new image copy.")
    if data_mover is not None:
        _data_mover_services(data_mover)  # a name no copy service answers to is refused before anything runs
    if system is not None:
        plans = plan(site, name, ddn, to, system.recon, system.now(), image_id, data_mover, usedbds, use_ca)
        return execute(site, system, plans, name, prof, restart, record, progress, wall, image_copy)
    recon = Recon.of_site(site.path)
    try:
        if any(lg["status"] == "OPEN" and lg["pid"] == os.getpid() for lg in recon.logs()):
            raise RecoveryError("DLB665E", "this process runs the site's IMS subsystem; pass it to the recovery "
                                "(system=) instead of starting a second one.")
        owner = recon.live_owner(name)
        if owner is not None:
            raise RecoveryError("DLB665E", f"database {name.upper()} is online in {owner['ssid']} (process "
                                f"{owner['pid']}); stop it there with '/DBR DB {name.upper()}' before recovering it.")
        plans = plan(site, name, ddn, to, recon, image_id=image_id, data_mover=data_mover, usedbds=usedbds,
                     use_ca=use_ca)
    finally:
        recon.close()
    system = ImsSystem(site)
    notes = system.start()
    try:
        rep = execute(site, system, plans, name, prof, restart, record, progress, wall, image_copy)
        rep.notes[:0] = [f"emergency restart: {n}" for n in notes]
        return rep
    finally:
        system.shutdown()


def execute(site, system, plans: list[DbdsPlan], name: str, profile: DeviceProfile | str | None = None,
            restart: bool = True, record: bool = True, progress: Callable[[int, int], None] | None = None,
            wall: Callable[[], float] = time.perf_counter, image_copy: bool = False) -> RecoveryReport:
    """Carry out recovery plans (from :func:`plan`) of database ``name`` in ``system``.
    A caller may adjust a plan first, e.g. a test applying the log from another point."""
    prof = profile if isinstance(profile, DeviceProfile) else get_profile(profile or DEFAULT_PROFILE)
    to = plans[0].to_time if plans else None
    return _Recovery(site, system, prof, wall, progress).run(plans, name, to, restart, record, image_copy)


def copy_data_mover(image: dict) -> str:
    """The DATA_MOVER a Fast Recovery copy was made with (EMCSNAP for a TimeFinder clone)."""
    extra = image.get("extra") or {}
    proc = extra.get("process") or ""
    return extra.get("data_mover") or (replication.data_mover_of(proc[len("copy-"):])
                                       if proc.startswith("copy-") else "ADRDSSU")


def _data_mover_services(data_mover: str) -> tuple[str, ...]:
    """The copy services DATA_MOVER ``data_mover`` copies back with: ``EMCSNAP``
    TimeFinder/Clone, ``ADRDSSU`` FlashCopy or SnapShot, or (a dasdlab extension) a
    registered copy service with fast replication, which copies its own clone back;
    any other name is refused (DLB623E)."""
    dm = data_mover.upper()
    want = replication.services_of(dm)
    if want is None:
        raise RecoveryError("DLB623E", f"DATA_MOVER={dm or repr(data_mover)}: code ADRDSSU, EMCSNAP or a registered "
                                       "copy service with fast replication ('dasdlab services list').")
    return want


def _fr_method(site, p: DbdsPlan) -> str:
    """The copy service that copies the clone back: DATA_MOVER decides (S79) --
    ``EMCSNAP`` TimeFinder/Clone, ``ADRDSSU`` DFSMSdss fast replication (FlashCopy or
    SnapShot, whichever the subsystem has); refused (DLB623E) when the subsystem lacks it."""
    dm = (p.data_mover or copy_data_mover(p.image)).upper()
    caps = site.subsystem_of(p.sources[0][1]).capabilities
    want = _data_mover_services(dm)
    m = next((m for m in want if m in caps), None)
    if m is None:
        sub = site.subsystem_of(p.sources[0][1]).name
        raise RecoveryError("DLB623E", f"Fast Recovery copy {p.sources[0][0]}: DATA_MOVER={dm} needs "
                            f"{' or '.join(want)} in subsystem {sub}, which has "
                            f"{', '.join(sorted(caps)) or 'no copy services'}; code DATA_MOVER="
                            f"{'ADRDSSU' if dm == 'EMCSNAP' else 'EMCSNAP'} (S79).")
    return m


def check_flash_back(site, p: DbdsPlan, volser: str) -> list[str]:
    """Refuse (DLB668E) when the copy service cannot copy the clone of ``p`` back onto
    the DBDS on ``volser`` now; returns the finished TimeFinder sessions that will be
    terminated to free the tracks.  Changes nothing."""
    clone_dsn, clone_vol = p.sources[0]
    what = f"Fast Recovery copy {clone_dsn} of {p.image['dbd']}.{p.ddn}"
    if site.subsystem_of(clone_vol).name != site.subsystem_of(volser).name:
        raise RecoveryError("DLB668E", f"{what} is on {clone_vol}, outside the subsystem of {volser}; a "
                            "data-set-level copy back needs both in one subsystem.")
    sub = site.subsystem_of(volser)
    db_runs = site.volume(volser).vtoc.get(p.dsn).track_list(sub.open_volume(volser).heads)
    cvol = site.volume(clone_vol)
    clone_runs = cvol.vtoc.get(clone_dsn).track_list(cvol.heads)
    if sum(b - a for a, b in clone_runs) != sum(b - a for a, b in db_runs):
        raise RecoveryError("DLB667E", f"{what} has {sum(b - a for a, b in clone_runs)} tracks; {p.dsn} has "
                            f"{sum(b - a for a, b in db_runs)}, so it is not a clone of it.")
    method = _fr_method(site, p)
    # the copies of the service on these tracks (the replication facade asks the
    # contract); finished ones that still hold them are ended first (their clones are whole)
    busy, finished = replication.holders(sub, method, [(volser, db_runs, "target"), (volser, db_runs, "source"),
                                                       (clone_vol, clone_runs, "target")])
    if busy:
        # DFSMSdss FASTREPLICATION(PREFERRED): when fast replication cannot be used, the
        # data set is copied with traditional data movement (S46) -- e.g. a Fast
        # Recovery copy whose own background copy still runs (it is registered at its
        # logical completion, and a FlashCopy target cannot be a source: no cascading)
        p.copy_back = "traditional"
        note = (f"{what}: fast replication cannot be used while {', '.join(busy)} still uses these tracks; "
                "copied back with standard I/O")
        if note not in p.notes:
            p.notes.append(note)
        return []
    p.copy_back = "fast"
    return finished


class _Recovery:
    """One recovery run against a started ImsSystem (see :func:`recover`)."""

    def __init__(self, site, system, profile: DeviceProfile, wall, progress) -> None:
        self.site = site
        self.system = system
        self.recon = system.recon
        self.profile = profile
        self.wall = wall
        self.progress = progress

    def run(self, plans: list[DbdsPlan], name: str, to: float | None, restart: bool,
            record: bool, image_copy: bool = False) -> RecoveryReport:
        from dasdlab.engine.database import ImsDatabase

        sysm, prof, recon = self.system, self.profile, self.recon
        name = name.upper()
        db = ImsDatabase.open(self.site, name, recon)
        # Fast Recovery copies: the copy service must be free to copy back (no change yet)
        finished = {p.ddn: check_flash_back(self.site, p, db.ddn(p.ddn).volser) for p in plans if p.fmt == "FR"}
        t0 = sysm.now()
        rep = RecoveryReport(name, to, t0)
        for p in plans:
            rep.notes += [f"{p.ddn}: {n}" for n in p.notes]
        clock = t0
        state = recon.db(name)["state"]
        w = self.wall()
        # should this process be killed, the next command says the database was left
        # stopped by a recovery and what to do (dasdlab.engine.leftovers)
        intent = Intent(self.site, "recover")
        # a recovery killed after it stopped the database: this one finishes its work and
        # starts the database as that one would have
        found = adopt(self.site, name, "recover", state) or state
        intent.hold(name, found)
        if state != "STOPPED":
            sysm.stop(name)  # /DBR: the buffers are written, then discarded
            rep.stopped = True
            clock += prof.db_stop_s
        rep.modeled["stop"] = clock - t0
        rep.wall["stop"] = self.wall() - w
        recon.authorize(name, RECOVERY_SSID, "UPDATE", "BATCH", t0)
        try:
            discards = []
            for k, p in enumerate(plans):
                recon.set_recovery_needed(name, p.ddn, True)
                res, discard = self._dbds(db, p, finished.get(p.ddn, []), 2 * k, 2 * len(plans))
                rep.results.append(res)
                discards.append(discard)
                for key, v in res.modeled.items():
                    rep.modeled[key] = rep.modeled.get(key, 0.0) + v
                for key, v in res.wall.items():
                    rep.wall[key] = rep.wall.get(key, 0.0) + v
                clock += res.modeled["restore"] + res.modeled["apply"]
            odb = sysm.dbs.get(name)
            if odb is not None:
                for pool in odb.pools:
                    pool.discard()  # no buffer may hold a block from before the restore
            end = max(clock, sysm.now())
            sysm.advance(end)
            if any(x is not None for x in discards):
                w = self.wall()
                for p, res, disc in zip(plans, rep.results, discards):
                    if disc is not None:
                        res.compensated = self._compensate(name, p, disc, end)
                rep.wall["compensate"] = self.wall() - w
            for p in plans:
                recon.set_recovery_needed(name, p.ddn, False)
            if record:
                rep.recov_ids = [record_recov(self.site, name, res, t0, end, to) for res in rep.results]
        finally:
            recon.unauthorize(name, RECOVERY_SSID)
        if to is not None:  # point in time: unavailable until image-copied (module docstring)
            for p in plans:
                recon.set_ic_needed(name, p.ddn, True, sysm.now(), f"recovered to {to:g} s")
            if image_copy:
                self._image_copy(name, plans, rep)
        still = [r["ddn"] for r in recon.dbds(name) if r["recov"]]
        icn = [r["ddn"] for r in recon.ic_needed(name)]
        if icn:
            rep.notes.append(f"database {name} stays stopped: {', '.join(icn)} recovered to {to:g} s and "
                             "need an image copy before /STA (as IMS Database Recovery Facility); the outage "
                             "lasts until then")
        if restart and found != "STOPPED":
            if still or icn:
                if still:
                    rep.notes.append(f"not started: {', '.join(still)} still need recovery")
            else:
                w = self.wall()
                sysm.start_db(name)
                rep.restarted = True
                rep.modeled["start"] = prof.db_start_s
                rep.wall["start"] = self.wall() - w
                sysm.advance(sysm.now() + prof.db_start_s)
        rep.end_time = sysm.now()
        recon.note_time(rep.end_time)
        intent.close()
        return rep

    def _image_copy(self, name: str, plans: list[DbdsPlan], rep: RecoveryReport) -> None:
        """A standard batch image copy of each recovered DBDS (the database is stopped);
        registered, it resets the image-copy-needed flag."""
        from dasdlab.engine.hpic import ImageCopyEngine
        from dasdlab.engine.icein import parse

        text = "".join(f"  IC       DBD={name},DDN={p.ddn},ICOUT=*,FASTIC=N\n" for p in plans)
        w = self.wall()
        t = self.system.now()
        reports = ImageCopyEngine(self.site, self.system, self.profile).run(parse(text, "recovery-ic"))
        bad = [r for r in reports if r.status != "ok"]
        if bad:
            raise RecoveryError("DLB569E", f"the image copy after the point-in-time recovery of {name} failed: "
                                f"{bad[0].message}; the database stays stopped.")
        rep.modeled["image_copy"] = self.system.now() - t
        rep.wall["image_copy"] = self.wall() - w
        rep.image_copies = [r.image_id for r in reports]

    # ------------------------------------------------------------------ one DBDS
    def _dbds(self, db, p: DbdsPlan, finished: list[str], k: int, total: int):
        """Restore and apply one DBDS; returns (result, discarded updates or None)."""
        from dasdlab.engine.bufferpool import read_dasd

        d = db.ddn(p.ddn)
        ds = d.dataset(writable=True)
        res = DbdsResult(p.ddn, int(p.image["id"]), p.image["type"], p.fmt, p.sources[0][0], "", p.from_seq,
                         p.from_seq - 1, 0, d.nblocks, 0, notes=list(p.notes))
        w = self.wall()
        if p.usedbds:  # the user restored the data set from the user image copy
            res.method, res.blocks_restored = "usedbds", 0
            res.modeled["restore"] = 0.0
        elif p.fmt == "FR":
            self._flash_back(d, ds, p, res, finished)
        else:
            self._reload(d, ds, p, res)
        res.wall["restore"] = self.wall() - w
        if self.progress:
            self.progress(k + 1, total)
        w = self.wall()
        if p.ca is not None:  # the CA data set up to its stop, then the logs after it
            from dasdlab.engine import changeaccum

            after = p.ca["stop_seq"] + 1
            ch = _changes_of(_read_changes(self.site, db.name, p.logs, after), p.ddn, after)
            acc = changeaccum.read_ca(self.site, p.ca, db.name, p.ddn)
            res.ca, res.ca_records = p.ca["dsn"], len(acc)
            ch = changeaccum._concat(acc, ch)
        else:
            cs = _read_changes(self.site, db.name, p.logs, p.from_seq)
            ch = _changes_of(cs, p.ddn, p.from_seq)
        later = None
        if p.to_time is not None and len(ch):
            keep = ch.time <= p.to_time
            from dasdlab.engine.uow import backout_view, committed_through

            upto = committed_through(self.site, self.recon, db.name, p.to_time)
            # what the recovery discards: the records after the point, and those of a unit
            # of work still in flight then (it committed or was backed out later)
            later = ch.select(~keep | (ch.seq > upto)) if upto is not None else ch.select(~keep)
            ch = ch.select(keep)
            if upto is not None and (ch.seq > upto).any():
                # a unit of work in flight at the point: applied, then backed out from its
                # before images, newest first (the copy may hold some of its changes)
                from dasdlab.engine import changeaccum

                if p.ca is not None:
                    cs = _read_changes(self.site, db.name, p.logs, p.ca["stop_seq"] + 1)
                ch = changeaccum._concat(ch, backout_view(cs, p.ddn, upto, p.to_time))
        rows = np.unique(ch.block)
        touch = rows if later is None or not len(later) else np.union1d(rows, later.block)
        # the touched blocks piece by piece, so memory does not grow with the data set:
        # each piece gets the records of its blocks (blocks commute; a stable sort keeps
        # each block's records in log order)
        by_ch, by_later = _BlockIndex(ch), _BlockIndex(later)
        res.records = 0
        discards = []
        for a in range(0, touch.size, APPLY_PIECE):
            tp = touch[a : a + APPLY_PIECE]
            img = read_dasd(ds, tp)
            res.records += apply_to(img, tp, by_ch.of(tp))
            changed = np.isin(tp, rows, assume_unique=True)
            if changed.any():
                trk, off = ds.locate_many(tp[changed])
                ds.vol.write_many(trk, off, img[changed])
                # scattered blocks touch a track each (a new slot each on a log-structured
                # pool): give the pages back per piece, or resident memory follows the log
                ds.vol.drop_resident()
            if later is not None and len(later):
                before = img.copy()
                apply_to(before, tp, by_later.of(tp))
                diff = np.flatnonzero((before != img).any(axis=1))
                if diff.size:
                    discards.append((tp[diff], before[diff], img[diff]))
        res.last_seq = int(ch.seq[-1]) if len(ch) else p.from_seq - 1
        res.blocks_changed = int(rows.size)
        res.wall["apply"] = self.wall() - w
        res.modeled["apply"] = self.profile.log_apply_s(res.records)
        discard = None
        if discards:
            discard = tuple(np.concatenate([d[i] for d in discards]) for i in range(3))
        if self.progress:
            self.progress(k + 2, total)
        return res, discard

    def _reload(self, d, ds, p: DbdsPlan, res: DbdsResult) -> None:
        """Read the copy (IC1, else IC2) range by range and write every block back; the
        whole copy is never in memory.  A copy found damaged only at its end (its CRC-32)
        has been written over the data set by then: the next copy is tried, and when none
        is whole the recovery fails (the data set still needs recovering)."""
        from dasdlab.emulator.dataset import Dataset
        from dasdlab.engine import icformat

        errors = []
        for dsn, volser in p.sources:
            try:
                copy_ds = Dataset(self.site.volume(volser), dsn)
                reader = icformat.CopyReader(copy_ds, dsn)
                hdr = reader.header
                if (hdr.dbd, hdr.ddn, hdr.block_size, hdr.nblocks) != (p.image["dbd"], p.ddn, d.block_size,
                                                                        d.nblocks):
                    errors.append(f"{dsn} is a copy of {hdr.dbd}.{hdr.ddn} ({hdr.nblocks} x {hdr.block_size}), "
                                  f"not of {p.image['dbd']}.{p.ddn} ({d.nblocks} x {d.block_size})")
                    continue
                for i, (first, blocks) in enumerate(reader.ranges(), 1):
                    trk, off = ds.locate_many(np.arange(first, first + blocks.shape[0], dtype=np.int64))
                    ds.vol.write_many(trk, off, blocks)
                    if i % 4 == 0:  # resident memory must not grow with the data set
                        ds.vol.drop_resident()
                        copy_ds.vol.drop_resident()
            except DasdlabError as e:
                errors.append(str(e))
                continue
            break
        else:
            raise RecoveryError("DLB667E", f"image copy {p.image['id']} of {p.image['dbd']}.{p.ddn} cannot be "
                                f"restored: {'; '.join(errors)}.")
        res.source, res.method = dsn, "reload"
        # modeled: read the copy's records sequentially, write every track of the data set
        lrecl = hdr.lrecl
        nblk = -(-(reader.bytes_read // lrecl) // max(copy_ds.blksize // lrecl, 1))
        copy_tracks = -(-nblk // max(copy_ds.blocks_per_track, 1))
        ds_tracks = -(-d.nblocks // ds.blocks_per_track)
        res.modeled["restore"] = self.profile.read_tracks_s(copy_tracks) + self.profile.write_tracks_s(ds_tracks)

    def _flash_back(self, d, ds, p: DbdsPlan, res: DbdsResult, finished: list[str]) -> None:
        """Copy the clone back onto the data set through the subsystem's copy service."""
        from dasdlab.errors import CopyServiceError

        clone_dsn, clone_volser = p.sources[0]
        sub = self.site.subsystem_of(d.volser)
        cvol = sub.open_volume(clone_volser)
        clone_runs = cvol.vtoc.get(clone_dsn).track_list(cvol.heads)
        db_runs = ds.entry.track_list(ds.vol.heads)
        method = _fr_method(self.site, p)
        prof = self.profile
        ntracks = sum(b - a for a, b in db_runs)
        try:
            if p.copy_back == "traditional":
                from dasdlab.emulator.dataset import Dataset
                from dasdlab.engine.bufferpool import read_dasd

                # reads of the clone go through its relationship (tracks not yet copied
                # come from the source's point-in-time image); the writes to the data set
                # are host writes, so copy-on-write keeps the clone intact
                blocks = read_dasd(Dataset(cvol, clone_dsn), np.arange(d.nblocks, dtype=np.int64))
                trk, off = ds.locate_many(np.arange(d.nblocks, dtype=np.int64))
                ds.vol.write_many(trk, off, np.ascontiguousarray(blocks))
                res.modeled["restore"] = prof.dss_init_s + prof.read_tracks_s(ntracks) + prof.write_tracks_s(ntracks)
                res.method = "copy"
                res.source = clone_dsn
                res.notes.append(f"{clone_dsn} copied back to {d.dsn} with standard I/O ({ntracks} tracks)")
                return
            # the data mover that made the clone copies it back (S79): the service's own
            # establish, a background copy done at once, and the end of the copy
            mv = replication.mover(method)
            for rid in finished:  # the clone's own finished copy holds the tracks
                state = sub.service(method).describe(rid).state
                sub.service(method).withdraw(rid)
                res.notes.append(f"{mv.title} {rid} ({state}) {mv.ends} to free the tracks")
            rep = replication.copy_back(sub, method, clone_volser, d.volser, clone_runs, db_runs)
            cost = service_cost(prof, method)
            res.modeled["restore"] = (prof.dss_init_s if mv.uses_dss else 0.0) + cost.establish_s
            if cost.background_mb_s > 0:
                res.modeled["restore_background"] = ntracks * TRACK_BYTES / (cost.background_mb_s * 1e6)
            res.notes.append(f"{mv.title} {rep.id} {clone_volser} -> {d.volser}"
                             + ("" if mv.pointer_copy else f", {mv.ends} after its copy"))
        except CopyServiceError as e:
            raise RecoveryError("DLB668E", f"Fast Recovery copy {clone_dsn} could not be copied back onto "
                                f"{d.dsn}: {e}") from None
        res.method = method
        res.source = clone_dsn

    # ------------------------------------------------------------------ point in time
    def _compensate(self, name: str, p: DbdsPlan, discard, t: float) -> int:
        """Log the discard of the updates after the recovery point: one change record per
        block that differs (whole block), in the truth first, then on the log."""
        from dasdlab.engine.log import CHANGE
        from dasdlab.engine.truth import Truth

        blocks, before, after = discard
        n = int(blocks.size)
        sysm = self.system
        log = sysm.log
        t = max(t, log.last_time)
        seqs = log.reserve(n)
        times = np.full(n, t)
        offs = np.zeros(n, np.int64)
        odb = sysm.dbs.get(name)
        truth = odb.truth if odb is not None else Truth(self.site.path, name)
        try:
            truth.append(seqs, times, np.full(n, p.index, np.int16), blocks, offs, after)
        finally:
            if odb is None:
                truth.close()
        self.recon.open_alloc(name, p.ddn, t, int(seqs[0]), log.dsn)
        log.write(seqs, times, CHANGE, name, p.ddn, blocks, offs, before, after)
        from dasdlab.engine import uow

        if uow.uow_mode(self.recon, name):  # the compensation is committed work
            uow.log_commits(log, name, np.array([t]), np.array([int(seqs[-1])]))
        self.recon.close_allocs(name, t, int(seqs[-1]))
        return n
