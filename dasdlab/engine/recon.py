"""DBRC's RECON data set, as an SQLite database in WAL mode (``SITE/ims/recon.db``).

What RECON records and why (``docs/sources.md``: S13 IMAGE record, S25 purge
time, S26 ALLOC record, S10 log selection for SMSCIC/SMSNOCIC):

* **DB** records: database name, access method, state -- ``ONLINE``, ``READONLY``
  (``/DBD``), ``STOPPED`` (``/DBR``), ``QUIESCED`` (``UPDATE DB ... START(QUIESCE)``,
  updaters held) -- and the subsystems *authorized* to use it (``UPDATE`` or ``READ``,
  online or batch, with the owning process id so a command from another process can
  tell whether the owner is alive).
* **DBDS** records: one per data set group: DDN, data set name, volume, block or CI
  size, blocks, and the *recovery needed* flag; the *image copy needed* flag (table
  ``ic_needed``) is set by a point-in-time recovery and reset by the next image copy.
* **ALLOC** records: made at the first update after a start (or after ``/DBR``), with
  the allocation time, the log sequence number and the log data set open then; closed
  with the deallocation time at ``/DBR``, ``/DBD``, quiesce or a clean close.  They tell
  which logs hold changes of a data set.
* **LOG** records: one per log data set (OLDS): its name and file, start and stop
  time, first and last sequence number; ``OPEN`` while written.  After a crash the next
  log writer closes the record from what it finds in the file (emergency restart).
* **CHECKPOINT** records (kept with the logs): sequence number and time of each
  checkpoint, which the purge time of a fuzzy image copy steps back to.
* **IMAGE** records: per image copy of a DBDS: type, run time, stop time, IC1 and IC2
  (data set name, volume), purge time (where recovery starts applying the log) and its
  log sequence number.  Register with :meth:`Recon.register_image`.

Image copy types (S25, S10; ``CONCUR`` and ``SMSONLC`` are unverified names; which
type each HP Image Copy process registers is decided in :mod:`dasdlab.engine.hpic`):
``BATCH``, ``ONLINE``, ``SMSNOCIC``, ``SMSOFFLC`` and ``UICBATCH`` are clean -- purge time
= run time; ``CONCUR``, ``SMSCIC``, ``SMSONLC`` and ``UICCIC`` are fuzzy -- purge time =
the last checkpoint at or before the run time (one checkpoint back for full function),
since changes committed before the copy may still have been in buffers.

* **Group** records: a *DBDS group* (``DBDSGRP``, INIT.DBDSGRP) names DBDSs that commands
  such as GENJCL.RECOV and HP Image Copy's GROUP statement act on together; a *change
  accumulation group* (``CAGRP``, INIT.CAGRP) names the DBDSs whose changes one run of
  the change accumulation utility gathers.  A DBDS belongs to at most one CA group, to
  any number of DBDS groups (S94, S95).
* **CA** records: one per run of the change accumulation utility
  (:mod:`dasdlab.engine.changeaccum`): data set name and file, run time, the stop time
  and last sequence number of the last log it read, and per member DBDS the first
  change record it holds (S96).

Times are modeled seconds of the site clock.  RECON keeps the high-water mark of the
IMS modeled time (:meth:`Recon.last_time`) so that a later process continues the
timeline instead of starting again at zero.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from dasdlab.emulator.pids import pid_alive  # noqa: F401 - engine callers import it from here
from dasdlab.engine.errors import ImsError

STATES = ("ONLINE", "READONLY", "STOPPED", "QUIESCED")
CLEAN_TYPES = ("BATCH", "ONLINE", "SMSNOCIC", "SMSOFFLC", "UICBATCH")
FUZZY_TYPES = ("CONCUR", "SMSCIC", "SMSONLC", "UICCIC")
IMAGE_TYPES = CLEAN_TYPES + FUZZY_TYPES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ic_needed (
    dbd    TEXT NOT NULL,
    ddn    TEXT NOT NULL,
    since  REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (dbd, ddn)
);
CREATE TABLE IF NOT EXISTS databases (
    dbd        TEXT PRIMARY KEY,
    access     TEXT NOT NULL,
    method     TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'ONLINE',
    loaded     INTEGER NOT NULL DEFAULT 0,
    seed       INTEGER,
    pending    TEXT,
    state_time REAL NOT NULL DEFAULT 0,
    source     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dbds (
    dbd        TEXT NOT NULL,
    ddn        TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    dsn        TEXT NOT NULL,
    dsorg      TEXT NOT NULL,
    block_size INTEGER NOT NULL,
    volser     TEXT,
    nblocks    INTEGER NOT NULL DEFAULT 0,
    recov      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dbd, ddn)
);
CREATE TABLE IF NOT EXISTS auth (
    dbd   TEXT NOT NULL,
    ssid  TEXT NOT NULL,
    level TEXT NOT NULL,
    kind  TEXT NOT NULL,
    pid   INTEGER NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (dbd, ssid)
);
CREATE TABLE IF NOT EXISTS allocs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dbd          TEXT NOT NULL,
    ddn          TEXT NOT NULL,
    alloc_time   REAL NOT NULL,
    alloc_seq    INTEGER NOT NULL,
    log_dsn      TEXT,
    dealloc_time REAL,
    dealloc_seq  INTEGER
);
CREATE TABLE IF NOT EXISTS logs (
    dsn        TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    ssid       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    start_time REAL NOT NULL,
    stop_time  REAL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER,
    status     TEXT NOT NULL DEFAULT 'OPEN',
    note       TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq     INTEGER PRIMARY KEY,
    time    REAL NOT NULL,
    log_dsn TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dbd         TEXT NOT NULL,
    ddn         TEXT NOT NULL,
    type        TEXT NOT NULL,
    run_time    REAL NOT NULL,
    stop_time   REAL,
    purge_time  REAL NOT NULL,
    purge_seq   INTEGER,
    ic1_dsn     TEXT NOT NULL,
    ic1_volser  TEXT,
    ic2_dsn     TEXT,
    ic2_volser  TEXT,
    status      TEXT NOT NULL DEFAULT 'IN USE',
    extra       TEXT
);
CREATE TABLE IF NOT EXISTS groups (
    name    TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    members TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cas (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    cagrp      TEXT NOT NULL,
    dsn        TEXT NOT NULL,
    path       TEXT NOT NULL,
    run_time   REAL NOT NULL,
    stop_time  REAL NOT NULL,
    stop_seq   INTEGER NOT NULL,
    members    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'IN USE'
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


_TABLES = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA))


class Recon:
    """One connection to a site's RECON.  Cheap to make; every method is one
    transaction, so several processes (a workload, a command, an image copy) can share
    RECON at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from dasdlab.emulator.sqlfile import connect

        self._db = connect(self.path, "RECON", _TABLES, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def of_site(cls, site_path: str | os.PathLike, create: bool = True) -> Recon:
        """The site's RECON; with ``create=False`` a site without one is an error
        (DLB558E) and no file is made."""
        path = Path(site_path) / "ims" / "recon.db"
        if not create and not path.is_file():
            raise ImsError("DLB558E", f"site {site_path} has no IMS databases (no RECON); define one with "
                           "'dasdlab db define'.")
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def _tx(self):
        return _Tx(self._db)

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    # ------------------------------------------------------------------ clock
    def last_time(self) -> float:
        row = self._db.execute("SELECT value FROM meta WHERE key='time'").fetchone()
        return float(row[0]) if row else 0.0

    def note_time(self, t: float) -> None:
        """Raise the IMS modeled-time high-water mark to ``t``."""
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES ('time', ?) ON CONFLICT(key) DO UPDATE SET "
            "value = CAST(MAX(CAST(value AS REAL), CAST(excluded.value AS REAL)) AS TEXT)", (repr(float(t)),))

    # ------------------------------------------------------------------ DB and DBDS
    def register_db(self, name: str, access: str, method: str, source: str,
                    dbds: list[tuple[str, str, str, int]]) -> None:
        """Register a database and its DBDS (ddn, dsn, dsorg, block size)."""
        with self._tx():
            if self._db.execute("SELECT 1 FROM databases WHERE dbd=?", (name,)).fetchone():
                raise ImsError("DLB520E", f"database {name} is already defined in RECON; "
                               "a DBD is defined once per site.")
            self._db.execute("INSERT INTO databases(dbd, access, method, source) VALUES (?,?,?,?)",
                             (name, access, method, source))
            for i, (ddn, dsn, dsorg, bs) in enumerate(dbds):
                self._db.execute("INSERT INTO dbds(dbd, ddn, idx, dsn, dsorg, block_size) VALUES (?,?,?,?,?,?)",
                                 (name, ddn, i, dsn, dsorg, bs))

    def db(self, name: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM databases WHERE dbd=?", (name.upper(),))
        if not rows:
            known = [r["dbd"] for r in self._rows("SELECT dbd FROM databases ORDER BY dbd")]
            raise ImsError("DLB521E", f"database {name.upper()} is not registered in RECON"
                           + (f" (registered: {', '.join(known)})" if known else "")
                           + "; define it with 'dasdlab db define'.")
        return rows[0]

    def databases(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM databases ORDER BY dbd")

    def dbds(self, name: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM dbds WHERE dbd=? ORDER BY idx", (name.upper(),))

    def set_loaded(self, name: str, seed: int, placement: list[tuple[str, str, int]]) -> None:
        """Record a load: seed and, per DDN, (ddn, volser, blocks)."""
        with self._tx():
            self._db.execute("UPDATE databases SET loaded=1, seed=? WHERE dbd=?", (seed, name))
            for ddn, volser, n in placement:
                self._db.execute("UPDATE dbds SET volser=?, nblocks=?, recov=0 WHERE dbd=? AND ddn=?",
                                 (volser, n, name, ddn))

    def set_recovery_needed(self, name: str, ddn: str | None, flag: bool = True) -> None:
        """Set or reset the recovery-needed flag of one DBDS (or all when ddn is None)."""
        if ddn is None:
            self._db.execute("UPDATE dbds SET recov=? WHERE dbd=?", (int(flag), name.upper()))
        else:
            self._db.execute("UPDATE dbds SET recov=? WHERE dbd=? AND ddn=?", (int(flag), name.upper(), ddn.upper()))

    def set_ic_needed(self, name: str, ddn: str, flag: bool = True, since: float = 0.0, reason: str = "") -> None:
        """Set or reset DBRC's *image copy needed* flag of a DBDS (set by a point-in-time
        recovery, reset by the next image copy; ``/STA`` is refused meanwhile)."""
        if flag:
            self._db.execute("INSERT OR REPLACE INTO ic_needed VALUES (?,?,?,?)",
                             (name.upper(), ddn.upper(), since, reason))
        else:
            self._db.execute("DELETE FROM ic_needed WHERE dbd=? AND ddn=?", (name.upper(), ddn.upper()))

    def ic_needed(self, name: str) -> list[dict[str, Any]]:
        """The DBDSs of database ``name`` that need an image copy."""
        return self._rows("SELECT * FROM ic_needed WHERE dbd=? ORDER BY ddn", (name.upper(),))

    # ------------------------------------------------------------------ states
    def set_state(self, name: str, state: str, time: float, pending: str | None = None) -> None:
        assert state in STATES, state
        self._db.execute("UPDATE databases SET state=?, state_time=?, pending=? WHERE dbd=?",
                         (state, time, pending, name.upper()))

    def request(self, name: str, verb: str | None) -> None:
        """Leave a command for the process that owns the database (see commands)."""
        self._db.execute("UPDATE databases SET pending=? WHERE dbd=?", (verb, name.upper()))

    def reply(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (f"reply:{name.upper()}",)).fetchone()
        return row[0] if row else None

    def set_reply(self, name: str, text: str) -> None:
        """The owner's answer to a pending command (then the request is cleared)."""
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"reply:{name.upper()}", text))
            self._db.execute("UPDATE databases SET pending=NULL WHERE dbd=?", (name.upper(),))

    def clear_reply(self, name: str) -> None:
        self._db.execute("DELETE FROM meta WHERE key=?", (f"reply:{name.upper()}",))

    def pending(self, names: list[str]) -> list[tuple[str, str]]:
        if not names:
            return []
        q = ",".join("?" * len(names))
        return [(r["dbd"], r["pending"]) for r in
                self._rows(f"SELECT dbd, pending FROM databases WHERE pending IS NOT NULL AND dbd IN ({q})",
                           tuple(names))]

    def states(self, names: list[str]) -> dict[str, str]:
        q = ",".join("?" * len(names))
        return {r["dbd"]: r["state"] for r in self._rows(f"SELECT dbd, state FROM databases WHERE dbd IN ({q})",
                                                          tuple(names))}

    # ------------------------------------------------------------------ authorization
    def authorizations(self, name: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM auth WHERE dbd=? ORDER BY since", (name.upper(),))

    def authorize(self, name: str, ssid: str, level: str, kind: str, time: float,
                  pid: int | None = None) -> None:
        """Authorize subsystem ``ssid`` to use a database at ``level`` (``UPDATE`` or
        ``READ``); ``kind`` is ``ONLINE`` (an IMS control region) or ``BATCH`` (a
        utility such as image copy or recovery).  Raises DLB55x when the state or another
        live subsystem's authorization forbids it (share level 0: one updater)."""
        name = name.upper()
        pid = os.getpid() if pid is None else pid
        with self._tx():
            db = self.db(name)
            state = db["state"]
            if level not in ("UPDATE", "READ") or kind not in ("ONLINE", "BATCH"):
                raise ValueError((level, kind))
            if kind == "ONLINE":
                if state == "STOPPED":
                    raise ImsError("DLB550E", f"database {name} is stopped (/DBR); {ssid} may not use "
                                   "it until /STA DB.")
                if level == "UPDATE" and state == "READONLY":
                    raise ImsError("DLB551E", f"database {name} is read-only (/DBD); {ssid} may not update "
                                   "it until /STA DB.")
            recov = [r["ddn"] for r in self.dbds(name) if r["recov"]]
            if recov and not (kind == "BATCH" and level == "UPDATE"):
                raise ImsError("DLB552E", f"database {name} needs recovery ({', '.join(recov)}); only a "
                               "recovery utility may use it.")
            for a in self._rows("SELECT * FROM auth WHERE dbd=? AND ssid<>?", (name, ssid)):
                if not pid_alive(a["pid"]):
                    continue  # a dead holder's authorization is released at its restart
                if a["level"] == "UPDATE" or level == "UPDATE":
                    if kind == "BATCH" and level == "READ" and a["kind"] == "ONLINE" and state == "READONLY":
                        continue
                    raise ImsError("DLB553E", f"database {name} is authorized to {a['ssid']} for "
                                   f"{a['level'].lower()}; {ssid} cannot get {level.lower()} authorization "
                                   "(stop it with /DBR or /DBD first).")
            self._db.execute("INSERT OR REPLACE INTO auth VALUES (?,?,?,?,?,?)",
                             (name, ssid, level, kind, pid, time))

    def unauthorize(self, name: str, ssid: str) -> None:
        self._db.execute("DELETE FROM auth WHERE dbd=? AND ssid=?", (name.upper(), ssid))

    def live_owner(self, name: str) -> dict[str, Any] | None:
        """The live online subsystem (another process) authorized for ``name``, if any."""
        for a in self.authorizations(name):
            if a["kind"] == "ONLINE" and a["pid"] != os.getpid() and pid_alive(a["pid"]):
                return a
        return None

    # ------------------------------------------------------------------ ALLOC
    def open_alloc(self, name: str, ddn: str, time: float, seq: int, log_dsn: str | None) -> None:
        if self._db.execute("SELECT 1 FROM allocs WHERE dbd=? AND ddn=? AND dealloc_time IS NULL",
                            (name, ddn)).fetchone():
            return
        self._db.execute("INSERT INTO allocs(dbd, ddn, alloc_time, alloc_seq, log_dsn) VALUES (?,?,?,?,?)",
                         (name, ddn, time, seq, log_dsn))

    def close_allocs(self, name: str, time: float, seq: int) -> int:
        cur = self._db.execute("UPDATE allocs SET dealloc_time=?, dealloc_seq=? WHERE dbd=? AND dealloc_time IS NULL",
                               (time, seq, name.upper()))
        return cur.rowcount

    def allocs(self, name: str | None = None) -> list[dict[str, Any]]:
        if name is None:
            return self._rows("SELECT * FROM allocs ORDER BY id")
        return self._rows("SELECT * FROM allocs WHERE dbd=? ORDER BY id", (name.upper(),))

    # ------------------------------------------------------------------ LOG
    def open_log(self, dsn: str, path: str, ssid: str, start_time: float, first_seq: int) -> None:
        self._db.execute("INSERT INTO logs(dsn, path, ssid, pid, start_time, first_seq) VALUES (?,?,?,?,?,?)",
                         (dsn, path, ssid, os.getpid(), start_time, first_seq))

    def close_log(self, dsn: str, stop_time: float | None, last_seq: int | None, note: str | None = None) -> None:
        self._db.execute("UPDATE logs SET stop_time=?, last_seq=?, status='CLOSED', note=? WHERE dsn=?",
                         (stop_time, last_seq, note, dsn))

    def logs(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM logs ORDER BY first_seq, start_time")

    def add_checkpoint(self, seq: int, time: float, log_dsn: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?)", (seq, time, log_dsn))

    def checkpoints(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM checkpoints ORDER BY seq")

    def checkpoint_before(self, time: float) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM checkpoints WHERE time<=? ORDER BY seq DESC LIMIT 1", (time,))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ IMAGE
    def register_image(self, dbd: str, ddn: str, type: str, run_time: float,
                       stop_time: float | None = None, ic1: tuple[str, str | None] = ("", None),
                       ic2: tuple[str, str | None] | None = None, run_seq: int | None = None,
                       **extra: Any) -> dict[str, Any]:
        """Record an image copy of DBDS (dbd, ddn); returns the IMAGE record.

        ``type`` is one of :data:`IMAGE_TYPES`; ``run_time`` is when the copy's point in
        time begins (clean: the logical completion / time the data were consistent;
        fuzzy: the copy's start); ``stop_time`` when it ended; ``ic1``/``ic2`` the
        (data set name, volume) of the primary and duplicate copy; ``run_seq`` the last
        log sequence number committed at ``run_time`` when known.  Anything in ``extra``
        (e.g. ``format='FR'``, ``logical_time=``) is kept as JSON.  The purge time
        follows DBRC's rule (module docstring).
        """
        dbd, ddn, type = dbd.upper(), ddn.upper(), type.upper()
        if type not in IMAGE_TYPES:
            raise ImsError("DLB555E", f"image copy type {type} is not one of {', '.join(IMAGE_TYPES)}.")
        if not any(r["ddn"] == ddn for r in self.dbds(dbd)):
            raise ImsError("DLB556E", f"database {dbd} has no DBDS {ddn}.")
        if not ic1 or not ic1[0]:
            raise ImsError("DLB557E", "an image copy needs an IC1 data set name.")
        if stop_time is not None and stop_time < run_time:
            raise ImsError("DLB557E", f"stop time {stop_time} is before run time {run_time}.")
        purge_time, purge_seq = run_time, run_seq
        if type in FUZZY_TYPES:
            ck = self.checkpoint_before(run_time)
            if ck is not None:
                purge_time, purge_seq = ck["time"], ck["seq"]
            else:
                purge_time, purge_seq = 0.0, 0
        cur = self._db.execute(
            "INSERT INTO images(dbd, ddn, type, run_time, stop_time, purge_time, purge_seq, ic1_dsn, "
            "ic1_volser, ic2_dsn, ic2_volser, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (dbd, ddn, type, run_time, stop_time, purge_time, purge_seq, ic1[0].upper(), ic1[1],
             ic2[0].upper() if ic2 else None, ic2[1] if ic2 else None, json.dumps(extra) if extra else None))
        self.set_ic_needed(dbd, ddn, False)  # an image copy resets the flag
        return self._rows("SELECT * FROM images WHERE id=?", (cur.lastrowid,))[0]

    def update_image(self, image_id: int, status: str | None = None, **extra: Any) -> dict[str, Any]:
        """Add ``extra`` fields to IMAGE record ``image_id`` (e.g. the physical completion
        of a Fast Recovery copy registered at its logical completion), or set its status
        (``INVALID``: the copy's data set was dropped after registration)."""
        rows = self._rows("SELECT * FROM images WHERE id=?", (int(image_id),))
        if not rows:
            raise ImsError("DLB561E", f"RECON has no IMAGE record {image_id}.")
        old = json.loads(rows[0]["extra"]) if rows[0]["extra"] else {}
        old.update(extra)
        self._db.execute("UPDATE images SET extra=?, status=COALESCE(?, status) WHERE id=?",
                         (json.dumps(old) if old else None, status, int(image_id)))
        row = self._rows("SELECT * FROM images WHERE id=?", (int(image_id),))[0]
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        return row

    def images(self, dbd: str | None = None, ddn: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM images", []
        conds = []
        if dbd:
            conds.append("dbd=?")
            args.append(dbd.upper())
        if ddn:
            conds.append("ddn=?")
            args.append(ddn.upper())
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        rows = self._rows(sql + " ORDER BY run_time, id", tuple(args))
        for r in rows:
            r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
        return rows

    # ------------------------------------------------------------------ groups
    def define_group(self, kind: str, name: str, members: list[tuple[str, str]]) -> dict[str, Any]:
        """INIT.DBDSGRP / INIT.CAGRP: a group of registered DBDSs (dbd, ddn).  Refused
        (DLB630E) for a bad name, a DBDS RECON does not know, a repeated member, a
        name already used, or -- CA groups -- a DBDS already in another CA group."""
        kind, name = kind.upper(), name.upper()
        if kind not in ("DBDSGRP", "CAGRP"):
            raise ValueError(kind)
        if not re.fullmatch(r"[A-Z@#$][A-Z0-9@#$]{0,7}", name):
            raise ImsError("DLB630E", f"group name {name!r} is not 1-8 letters, digits or @#$ starting with a "
                           "letter.")
        if not members:
            raise ImsError("DLB630E", f"{kind} {name} needs at least one member DBDS (DBD.DDN).")
        mem = [(d.upper(), x.upper()) for d, x in members]
        if len(set(mem)) != len(mem):
            raise ImsError("DLB630E", f"{kind} {name} names a DBDS twice.")
        with self._tx():
            for d, x in mem:
                if not any(r["ddn"] == x for r in self.dbds(d)):
                    raise ImsError("DLB630E", f"{kind} {name}: {d}.{x} is not a DBDS registered in RECON.")
            if self._db.execute("SELECT 1 FROM groups WHERE name=?", (name,)).fetchone():
                raise ImsError("DLB630E", f"a group named {name} is already defined in RECON.")
            if kind == "CAGRP":
                for g in self.groups("CAGRP"):
                    both = set(mem) & {tuple(m) for m in g["members"]}
                    if both:
                        d, x = sorted(both)[0]
                        raise ImsError("DLB630E", f"{d}.{x} already belongs to change accumulation group "
                                       f"{g['name']}; a DBDS belongs to one CA group only.")
            self._db.execute("INSERT INTO groups VALUES (?,?,?)", (name, kind, json.dumps(mem)))
        return self.group(name)

    def group(self, name: str, kind: str | None = None) -> dict[str, Any]:
        """Group ``name`` (of ``kind`` when given; a CA group also serves where a DBDS
        group is asked for, as DBRC allows); DLB630E when there is none."""
        rows = self._rows("SELECT * FROM groups WHERE name=?", (name.upper(),))
        if not rows or (kind is not None and kind.upper() == "CAGRP" and rows[0]["kind"] != "CAGRP"):
            known = [g["name"] for g in self.groups(kind)]
            raise ImsError("DLB630E", f"RECON has no {(kind or 'group').upper()} named {name.upper()}"
                           + (f" (defined: {', '.join(known)})" if known else "") + ".")
        g = rows[0]
        g["members"] = [tuple(m) for m in json.loads(g["members"])]
        return g

    def groups(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM groups" + (" WHERE kind=?" if kind else "") + " ORDER BY name",
                          (kind.upper(),) if kind else ())
        for g in rows:
            g["members"] = [tuple(m) for m in json.loads(g["members"])]
        return rows

    # ------------------------------------------------------------------ CA
    def register_ca(self, cagrp: str, dsn: str, path: str, run_time: float, stop_time: float,
                    stop_seq: int, members: list[dict[str, Any]]) -> dict[str, Any]:
        cur = self._db.execute("INSERT INTO cas(cagrp, dsn, path, run_time, stop_time, stop_seq, members) "
                               "VALUES (?,?,?,?,?,?,?)", (cagrp.upper(), dsn, path, run_time, stop_time,
                                                          stop_seq, json.dumps(members)))
        return self.cas(ca_id=int(cur.lastrowid))[0]

    def cas(self, cagrp: str | None = None, ca_id: int | None = None) -> list[dict[str, Any]]:
        """CA records, oldest first."""
        sql, args = "SELECT * FROM cas", ()
        if ca_id is not None:
            sql, args = sql + " WHERE id=?", (ca_id,)
        elif cagrp:
            sql, args = sql + " WHERE cagrp=?", (cagrp.upper(),)
        rows = self._rows(sql + " ORDER BY id", args)
        for r in rows:
            r["members"] = json.loads(r["members"])
        return rows

    # ------------------------------------------------------------------ listing
    def listing(self) -> dict[str, list[dict[str, Any]]]:
        """Everything, in the spirit of LIST.RECON: databases (with their DBDS and
        authorizations), allocs, logs (with their checkpoints), images."""
        dbs = []
        for d in self.databases():
            d = dict(d)
            d["dbds"] = self.dbds(d["dbd"])
            d["authorized"] = self.authorizations(d["dbd"])
            dbs.append(d)
        logs = self.logs()
        cks = self.checkpoints()
        for lg in logs:
            lg["checkpoints"] = [c for c in cks if c["log_dsn"] == lg["dsn"]]
        return {"databases": dbs, "allocs": self.allocs(), "logs": logs, "images": self.images(),
                "groups": self.groups(), "cas": self.cas()}


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.depth = 0

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.depth = 1
        return self

    def __exit__(self, exc_type, *rest) -> None:
        if self.depth:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
