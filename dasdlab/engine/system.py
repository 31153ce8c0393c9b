"""The online IMS subsystem of this process: log, buffer pools, commit, checkpoints.

One :class:`ImsSystem` (SSID ``IMS1`` by default) per site at a time owns the log.
Starting it is an *emergency restart* when the previous one died (``kill -9``): the dead
writer's log data set is closed from what its file holds (a torn last batch ignored),
each database's truth drops units of work that never reached the log, ALLOC records
left open are closed, dead authorizations dropped, a quiesce held by the dead system
released (after a crash only) (``/DBR`` and ``/DBD`` states stay: they are RECON's), and a checkpoint is
taken.

**The commit path** (:meth:`ImsSystem.commit`), per batch of committed updates of one
database -- write-ahead logging, then deferred DASD writes::

    1. truth journal  <- (seq, time, group, block, offset, after)   intent
    2. buffer pools   <- updates; before images come back; steals become pending writes
    3. log            <- change records with before/after images    COMMIT POINT
    4. DASD           <- pending steal writes, sync-point policy, deferred-write threshold
    5. checkpoint when enough log records have been written since the last one

**System checkpoints are driven by log volume** (S80, S81): "the interval between
system checkpoints is measured by how many log records IMS writes, so the checkpoints
are a measure of activity rather than elapsed time"; the number is CPLOG=, default
500,000 log records, range 1K-16M (K = 1024).  ``checkpoint_log_records`` is CPLOG
(:data:`CPLOG_DEFAULT`; ``None`` turns the count off); ``log_record_weight`` says how
many log records of the modeled system one emulated record stands for (a scaled
benchmark: each emulated update stands for ``scale`` modeled ones).  A time-based
interval (``checkpoint_interval`` modeled seconds, ``None`` = off) is kept as an
option -- it is not an IMS parameter, it models an operator or automation issuing
``/CHECKPOINT`` at fixed times; with both, whichever comes first takes the checkpoint.
Every record written counts (change, open, close); the checkpoint record itself starts
the next count.  The purge time of a fuzzy image copy -- the checkpoint before it, S25
-- follows from wherever the checkpoints fall.

A checkpoint writes every dirty buffer of every open database and then logs a
checkpoint record (registered in RECON), so every change logged before a checkpoint is
on DASD: recovery from a fuzzy copy starts at the checkpoint before the copy (S25).

**Database states** are RECON's (:mod:`dasdlab.engine.commands`).  The outage driver
uses them in-process through :meth:`ImsSystem.hold` / :meth:`release` (``UPDATE DB
START(QUIESCE) OPTION(HOLD)`` / ``STOP(QUIESCE)``), :meth:`stop` (``/DBR``),
:meth:`readonly` (``/DBD``) and :meth:`start` (``/STA``); commands from other processes
arrive through RECON and are carried out by :meth:`poll` between time slices.
``on_state`` callbacks see every change: ``cb(name, old_state, new_state, time)``.

Times are the site clock's modeled seconds; the system starts at RECON's time
high-water mark so a timeline continues across processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dasdlab.engine import commands as cmds
from dasdlab.engine.bufferpool import BufferPool, SyncPolicy
from dasdlab.engine.database import ImsDatabase
from dasdlab.engine.errors import ImsError
from dasdlab.engine.log import CHANGE, CHECKPOINT, CLOSE, DEFAULT_LIMIT, OPEN, LogWriter
from dasdlab.engine.recon import Recon
from dasdlab.engine.truth import Truth

#: IMS's CPLOG= default: log records between system checkpoints (S80)
CPLOG_DEFAULT = 500_000
#: the range CPLOG= accepts: 1K to 16M, K = 1024 (S80)
CPLOG_RANGE = (1024, 16 * 1024 * 1024)


@dataclass
class OnlineDb:
    """A database opened by the online system."""

    db: ImsDatabase
    truth: Truth
    pools: list[BufferPool]
    state: str
    allocated: bool = False
    ddn_names: list[str] = field(default_factory=list)
    #: units of work (:mod:`dasdlab.engine.uow`): the one in flight (arrays), whether
    #: the database is in that mode, and whether a stop brought the one in flight to
    #: its sync point (the workload then starts a new one)
    inflight: dict | None = None
    uow: bool = False
    uow_closed: bool = False

    @property
    def name(self) -> str:
        return self.db.name

    @property
    def ndirty(self) -> int:
        return sum(p.ndirty for p in self.pools)


class ImsSystem:
    """The online IMS control region: one per site at a time (it owns the log)."""

    def __init__(self, site, ssid: str = "IMS1", buffers: int = 256,
                 policy: SyncPolicy | str = SyncPolicy.DEFERRED, dirty_limit: float = 0.5,
                 log_limit: int = DEFAULT_LIMIT, checkpoint_interval: float | None = None,
                 use_kernels: bool = True, checkpoint_log_records: int | None = CPLOG_DEFAULT,
                 log_record_weight: float = 1.0) -> None:
        if checkpoint_log_records is not None and (
                isinstance(checkpoint_log_records, bool) or not isinstance(checkpoint_log_records, int)
                or not CPLOG_RANGE[0] <= checkpoint_log_records <= CPLOG_RANGE[1]):
            raise ImsError("DLB560E", f"checkpoint_log_records (CPLOG) must be a whole number from "
                           f"{CPLOG_RANGE[0]:,} to {CPLOG_RANGE[1]:,} log records, not {checkpoint_log_records!r}.")
        if checkpoint_interval is not None and not float(checkpoint_interval) > 0:
            raise ImsError("DLB560E", f"the checkpoint interval must be more than 0 seconds, not {checkpoint_interval!r}.")
        if not float(log_record_weight) > 0:
            raise ImsError("DLB560E", f"log_record_weight must be more than 0, not {log_record_weight!r}.")
        self.site = site
        self.ssid = ssid
        self.buffers = buffers
        self.policy = SyncPolicy(policy)
        self.dirty_limit = dirty_limit
        self.checkpoint_interval = None if checkpoint_interval is None else float(checkpoint_interval)
        self.checkpoint_log_records = checkpoint_log_records
        self.log_record_weight = float(log_record_weight)
        #: modeled log records written since the last checkpoint
        self.records_since_checkpoint = 0.0
        self.use_kernels = use_kernels
        self.recon = Recon.of_site(site.path, create=False)
        self.log = LogWriter(site.path, self.recon, ssid, log_limit)
        self.dbs: dict[str, OnlineDb] = {}
        self.lock = threading.RLock()
        self.on_state: list[Callable[[str, str, str, float], None]] = []
        self.restart_notes: list[str] = []
        self.next_checkpoint = 0.0
        self.checkpoints = 0
        self.started = False

    # ------------------------------------------------------------------ time
    @property
    def last_seq(self) -> int:
        """Sequence number of the last record on the log: every change up to it is
        committed (an image copy's ``run_seq``)."""
        return self.log.next_seq - 1

    def now(self) -> float:
        return self.site.clock.now()

    def advance(self, t: float) -> None:
        """Move modeled time to ``t``; copy services progress (``site.tick``)."""
        if t > self.now():
            self.site.tick(t)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> list[str]:
        """Start (or emergency-restart) the subsystem; returns restart notes."""
        t0 = max(self.now(), self.recon.last_time())
        if t0 > self.now():
            self.site.tick(t0)
        self.log.open(self.now())
        if self.log.last_time > self.now():
            self.site.tick(self.log.last_time)
        notes = list(self.log.restart_notes)
        committed = self.log.next_seq - 1
        notes += self._redo(committed)
        from dasdlab.engine import uow

        notes += uow.backout_at_restart(self)
        for d in self.recon.databases():
            if not d["loaded"]:
                continue
            try:
                truth = Truth(self.site.path, d["dbd"])
            except ImsError:
                continue
            dropped = truth.reconcile(committed)
            if dropped:
                notes.append(f"{d['dbd']}: {dropped} updates not on the log at the failure backed out of the truth")
            n = self.recon.close_allocs(d["dbd"], self.now(), committed)
            if n:
                notes.append(f"{d['dbd']}: {n} ALLOC records closed at restart")
            for a in self.recon.authorizations(d["dbd"]):
                from dasdlab.engine.recon import pid_alive

                if not pid_alive(a["pid"]):
                    self.recon.unauthorize(d["dbd"], a["ssid"])
            if d["state"] == "QUIESCED" and self.log.restart_notes:
                # a quiesce belongs to the IMS that held it; it does not outlive that IMS
                self.recon.set_state(d["dbd"], "ONLINE", self.now())
                notes.append(f"{d['dbd']}: quiesce of the failed system released")
        self.started = True
        self.restart_notes = notes
        self.checkpoint()
        return notes

    def _redo(self, committed: int) -> list[str]:
        """Redo at restart: apply the change records logged after the last checkpoint
        to DASD.  After a clean shutdown there are none; after a crash they are the
        committed changes whose buffers were lost (with deferred writes DASD may lack
        them).  After images make this idempotent."""
        from dasdlab.engine.bufferpool import read_dasd
        from dasdlab.engine.kernels import apply_changes
        from dasdlab.engine.log import LogReader, changeset

        cks = [c["seq"] for c in self.recon.checkpoints() if c["seq"] <= committed]
        since = max(cks, default=0) + 1
        reader = LogReader(self.site.path, self.recon)
        tbl = reader.read(since_seq=since, until_seq=committed, types=(CHANGE,))
        if tbl.num_rows == 0:
            return []
        cs = changeset(tbl)
        notes = []
        for di, dbname in enumerate(cs.dbd_names):
            try:
                db = ImsDatabase.open(self.site, dbname, self.recon)
            except ImsError:
                continue
            for d in db.dbds:
                if d.ddn not in cs.ddn_names:
                    continue
                m = (cs.dbd_code == di) & (cs.ddn_code == cs.ddn_names.index(d.ddn))
                if not m.any():
                    continue
                blocks = cs.block[m]
                uniq = np.unique(blocks)
                ds = d.dataset(writable=True)
                img = read_dasd(ds, uniq)
                apply_changes(img, 0, np.searchsorted(uniq, blocks), cs.offset[m], cs.after, cs.start[m],
                              cs.length[m])
                trk, off = ds.locate_many(uniq)
                ds.vol.write_many(trk, off, img)
                ds.vol.flush()
                notes.append(f"{dbname} {d.ddn}: {int(m.sum())} change records since the last checkpoint "
                             f"redone on {uniq.size} blocks")
        return notes

    def open(self, name: str) -> OnlineDb:
        """Open a loaded database for this subsystem (authorization from RECON)."""
        with self.lock:
            name = name.upper()
            if name in self.dbs:
                return self.dbs[name]
            db = ImsDatabase.open(self.site, name, self.recon)
            db.require_loaded()
            state = db.info["state"]
            if state in ("ONLINE", "QUIESCED"):
                self.recon.authorize(name, self.ssid, "UPDATE", "ONLINE", self.now())
            elif state == "READONLY":
                self.recon.authorize(name, self.ssid, "READ", "ONLINE", self.now())
            pools = [BufferPool(d.dataset(writable=True), d.nblocks, self.buffers, self.policy,
                                self.dirty_limit, self.use_kernels) for d in db.dbds]
            from dasdlab.engine import uow

            odb = OnlineDb(db, Truth(self.site.path, name), pools, state, ddn_names=[d.ddn for d in db.dbds],
                           uow=uow.uow_mode(self.recon, name))
            self.dbs[name] = odb
            return odb

    def shutdown(self) -> None:
        """Clean end: checkpoint, close the databases' ALLOCs, close the log."""
        with self.lock:
            from dasdlab.engine import uow

            t = self.now()
            for odb in self.dbs.values():  # units of work in flight reach their sync point
                uow.finish_inflight(self, odb, t)
            self.checkpoint()
            for odb in self.dbs.values():
                self._deallocate(odb, t)
                self.recon.unauthorize(odb.name, self.ssid)
                odb.truth.close()
                for pool in odb.pools:
                    pool.vol.flush()
            self.log.close(t)
            self.recon.note_time(t)
            self.recon.close()
            self.started = False

    # ------------------------------------------------------------------ commit
    def commit(self, odb: OnlineDb, group: np.ndarray, block: np.ndarray, offset: np.ndarray,
               after: np.ndarray, times: np.ndarray, uow: np.ndarray | None = None,
               last_open: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Commit updates of one database (in order); returns (sequence numbers, before
        images).  The database must be ONLINE (the workload refuses or holds updates
        otherwise).  With ``uow`` (a unit-of-work id per update, non-decreasing) the
        updates are changes of units of work that commit when complete; the last one
        stays in flight with ``last_open`` (:mod:`dasdlab.engine.uow`)."""
        n = int(block.size)
        if n == 0:
            return np.empty(0, np.int64), np.empty((0, after.shape[1] if after.ndim == 2 else 0), np.uint8)
        with self.lock:
            if odb.state != "ONLINE":
                raise ImsError("DLB589E", f"database {odb.name} is {odb.state}; updates are not accepted.")
            if not odb.allocated:
                self._allocate(odb, float(times[0]))
            group = np.asarray(group, np.int16)
            if uow is None and odb.inflight is not None:
                from dasdlab.engine import uow as uowmod

                uowmod.finish_inflight(self, odb, float(times[0]))
            seqs = self.log.reserve(n)
            if uow is None:
                odb.truth.append(seqs, times, group, block, offset, after)
            before = np.empty_like(after)
            if len(odb.pools) == 1:
                before[:] = odb.pools[0].apply(block, offset, after, seqs)
            else:
                for gi, pool in enumerate(odb.pools):
                    m = group == gi
                    if m.any():
                        before[m] = pool.apply(block[m], offset[m], after[m], seqs[m])
            self.log.write(seqs, times, CHANGE, odb.name, group, block, offset, before, after,
                           ddn_names=odb.ddn_names)
            if uow is not None or odb.uow:
                from dasdlab.engine import uow as uowmod

                if uow is not None:
                    uowmod.commit(self, odb, seqs, np.asarray(times, np.float64), group, np.asarray(block, np.int64),
                                  np.asarray(offset, np.int64), after, np.asarray(uow, np.int64), last_open)
                else:  # a database in unit-of-work mode: each update its own unit
                    uowmod.log_commits(self.log, odb.name, np.array([float(times[-1])]), np.array([int(seqs[-1])]))
            for pool in odb.pools:
                pool.write_pending()
            self.records_since_checkpoint += n * self.log_record_weight
            if self._checkpoint_due(float(times[-1])):
                self.checkpoint(float(times[-1]))
            return seqs, before

    def _checkpoint_due(self, t: float) -> bool:
        by_volume = (self.checkpoint_log_records is not None
                     and self.records_since_checkpoint >= self.checkpoint_log_records)
        by_time = self.checkpoint_interval is not None and t >= self.next_checkpoint
        return by_volume or by_time

    def _allocate(self, odb: OnlineDb, t: float) -> None:
        """First update after a start: ALLOC records and data set open records."""
        for d in odb.db.dbds:
            seq = self.log.event(OPEN, t, odb.name, d.ddn)
            self.recon.open_alloc(odb.name, d.ddn, t, seq, self.log.dsn)
        self.records_since_checkpoint += len(odb.db.dbds) * self.log_record_weight
        odb.allocated = True

    def _deallocate(self, odb: OnlineDb, t: float) -> None:
        if not odb.allocated:
            return
        seq = 0
        for d in odb.db.dbds:
            seq = self.log.event(CLOSE, t, odb.name, d.ddn)
        self.recon.close_allocs(odb.name, t, seq)
        odb.allocated = False

    def checkpoint(self, t: float | None = None) -> int:
        """Write every dirty buffer, then log a checkpoint record; returns its sequence
        number."""
        with self.lock:
            t = self.now() if t is None else max(t, self.now())
            for odb in self.dbs.values():
                for pool in odb.pools:
                    pool.write_pending()
                    pool.flush()
            # no msync here: a killed process leaves its writes in the page cache; the
            # volumes are synced at shutdown (a machine crash is not modeled)
            seq = self.log.event(CHECKPOINT, t, None)
            self.recon.add_checkpoint(seq, t, self.log.dsn)
            self.recon.note_time(t)
            self.next_checkpoint = t + (self.checkpoint_interval if self.checkpoint_interval is not None
                                        else float("inf"))
            self.records_since_checkpoint = 0.0
            self.checkpoints += 1
            return seq

    # ------------------------------------------------------------------ states
    def apply_verb(self, cmd: cmds.Command | str, name: str) -> str:
        """Carry out a database command verb for ``name`` in this subsystem."""
        if isinstance(cmd, str):
            cmd = cmds.Command(cmd, (name,), cmd)
        with self.lock:
            name = name.upper()
            old, new = cmds.check(self.recon, cmd.verb, name)
            t = self.now()
            odb = self.dbs.get(name)
            verb = cmd.verb
            if odb is not None and verb in (cmds.DBR, cmds.DBD, cmds.QUIESCE, cmds.QUIESCE_HOLD):
                from dasdlab.engine import uow

                uow.finish_inflight(self, odb, t)  # the unit of work in flight reaches its sync point
                for pool in odb.pools:
                    pool.write_pending()
                    pool.flush()
                self._deallocate(odb, t)
                if verb == cmds.DBR:
                    for pool in odb.pools:
                        pool.discard()  # /DBR closes the data sets: nothing stays cached
            if verb in (cmds.DBR, cmds.DBD, cmds.QUIESCE, cmds.QUIESCE_HOLD) and odb is None:
                self.recon.close_allocs(name, t, 0)
            self.recon.set_state(name, new, t)
            if verb == cmds.DBR:
                self.recon.unauthorize(name, self.ssid)
            elif verb == cmds.DBD and odb is not None:
                self.recon.unauthorize(name, self.ssid)
                self.recon.authorize(name, self.ssid, "READ", "ONLINE", t)
            elif verb == cmds.STA and odb is not None:
                self.recon.authorize(name, self.ssid, "UPDATE", "ONLINE", t)
            self.recon.note_time(t)
            if odb is not None:
                odb.state = new
            for cb in list(self.on_state):
                cb(name, old, new, t)
            return cmds.completed(cmd, name)

    def command(self, text: str) -> list[str]:
        return cmds.execute(self.site, text, system=self)

    def hold(self, name: str) -> str:
        return self.apply_verb(cmds.QUIESCE_HOLD, name)

    def release(self, name: str) -> str:
        return self.apply_verb(cmds.RELEASE, name)

    def stop(self, name: str) -> str:
        return self.apply_verb(cmds.DBR, name)

    def readonly(self, name: str) -> str:
        return self.apply_verb(cmds.DBD, name)

    def start_db(self, name: str) -> str:
        return self.apply_verb(cmds.STA, name)

    def poll(self) -> list[str]:
        """Carry out commands other processes left in RECON for our databases."""
        out = []
        for name, verb in self.recon.pending(list(self.dbs)):
            try:
                msg = self.apply_verb(verb, name)
            except ImsError as e:
                msg = str(e)
            self.recon.set_reply(name, msg)
            out.append(msg)
        return out

    # ------------------------------------------------------------------ inspection
    def read(self, name: str, ddn: str, blocks: np.ndarray) -> np.ndarray:
        """Current committed content of blocks (buffers first, then DASD)."""
        odb = self.dbs[name.upper()]
        return odb.pools[odb.db.ddn(ddn).index].read(np.asarray(blocks, np.int64))

    def crash(self) -> None:
        """Lose every buffer without writing it (what ``kill -9`` does), for tests."""
        for odb in self.dbs.values():
            for pool in odb.pools:
                pool.discard()
