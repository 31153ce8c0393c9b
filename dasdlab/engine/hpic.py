"""The HP Image Copy engine: image copies of IMS data set groups through every copy
method, as processes in modeled time.

Facts: S1-S37 and S79-S85 (``docs/sources.md``); the process for a statement comes from
:mod:`dasdlab.engine.hpicplan` (FASTIC rules), the output formats from
:mod:`dasdlab.engine.icformat`, costs from :mod:`dasdlab.engine.timemodel`.

**A copy is a process in modeled time.**  :meth:`ImageCopyEngine.start` returns one
:class:`CopyRun` per data set group; each is a generator that yields the modeled time at
which it wants to continue.  The driver — ``dasdlab hpic`` with no workload, or the
outage scenario interleaving an online workload slice by slice — calls
:meth:`CopyRun.advance` with the time reached, so database updates and the copy's
reads, copy-on-write intercepts and background copies happen in the order a mainframe
would see them.  The engine never advances the clock itself.

**What each process does** (``D`` is the data set group, ``t`` modeled time):

=================  =========================================================================
standard           hold D (``/DBR``, ``UPDATE DB QUIESCE`` with TOIAUTO_Q=Y, or TOIAUTO's
                   /DBR or /DBD with its OLDS switch and checkpoint; buffers are
                   written first), read every track at the profile's sequential rate, write
                   the image copy, release D.  Logical = physical = end of the read.
cic                no hold: read every track while updates continue (a fuzzy copy).
dump-plain         PREF,DUMP with no Concurrent Copy: DFSMSdss start-up, then as standard.
                   Also what a PREF,DUMP becomes when its CC session fails to initialise
                   at run time (UIM event 24, RC 4: DFSMSdss copies without CONCURRENT,
                   S39): the data set stays held until physical completion, as the
                   DFSMSdss front end does; REQ,DUMP fails instead (our reading of REQ).
dump-cc, dump-vcc  hold D; DFSMSdss start-up and the CC session (cache sidefile, or a
                   flash/snap to working space); at initialisation complete D is released
                   (logical completion); the dump then reads each track from the session
                   while updates go on (physical completion at the end).
fdump-*            hold D; flash (FlashCopy NOCOPY), snap, or clone (TimeFinder/Clone
                   CopyOnAccess, DATA_MOVER=EMCSNAP) D into a shadow data set;
                   release; dump the shadow in standard format; withdraw, delete it.
copy-flashcopy     hold D; FlashCopy COPY of D into a clone data set (the Fast Recovery
                   image copy); release; physical completion when the background copy ends.
copy-snapshot      hold D; SnapShot into the clone: physically complete at once.
copy-timefinder    hold D; TimeFinder/Clone create + activate (COPY); release; physical
                   completion when the clone session reaches COPIED.
=================  =========================================================================

A CIC statement uses the same processes without the hold: the point in time of the
DASD contents is taken while IMS keeps updating, so the copy is fuzzy.

**The data mover** (S79): with ``DATA_MOVER=ADRDSSU`` (the default) the FDUMP shadow and
the COPY clone are made by the project's own DFSMSdss (:mod:`dasdlab.host.dss`), a
``COPY DATASET ... FASTREPLICATION(REQUIRED)`` statement (``FCNOCOPY`` for a shadow), as
HP Image Copy calls ADRDSSU; ``EMCSNAP`` and a copy service by name use that service's
own establish.  Which service a data mover drives is the replication facade's
(:mod:`dasdlab.host.replication`); nothing here names a service.

**A job's tasks run in parallel** (:meth:`ImageCopyEngine.run`, :class:`Job`): each data
set group of an AIC/ACIC statement is a task of its own (S89), the IC/CIC statements
together one task that copies their groups one after the other; all start at the job's
start.  Choices where IBM is silent: no TASKCTL/GRPLIM limit on the number of parallel
tasks; the channel is shared by processor sharing per chunk; the DFSMSdss server start-up
(``dss_init_s``) is paid once per job (S90) and each further data set pays
``dss_dataset_s``.

**RECON registration: types and times** (evidence, then the choices it leads to):

* HP Image Copy registers its copies through DBRC's NOTIFY.IC; its Create Image Copy
  function supports NOTIFY.IC for BATCH copies only, and its re-registration commands
  "are available only for the batch image copy and the concurrent image copy" (S27,
  S82).  The SMS* types (SMSNOCIC, SMSCIC, SMSOFFLC, SMSONLC) are those of Database
  Image Copy 2, DFSUDMT0 (S10, S25), whose output is a DFSMSdss dump or a clone -- not
  the IMS format.
* FASTIC DUMP and FDUMP write a *standard* image copy (IMS or compressed format,
  S12), the format DFSUDMP0 writes.  **So DUMP and FDUMP outputs are registered as
  DFSUDMP0's are: BATCH for IC, CONCUR (the DBRC "CIC" type) for CIC** -- no longer
  SMSNOCIC / SMSCIC.  For IC their run time is the logical completion (the point in
  time the Concurrent Copy session or the shadow was made while the database was held);
  recovery applies the log after it.  The output is registered when it is written
  (after FABJ4233I "physical copy complete", S83), so a copy that dies half way is
  never registered.
* A Fast Recovery copy (COPY) is a clone of the data set (S11), the same kind of data
  set as DFSUDMT0's fast-replication output, so it keeps **SMSOFFLC (IC) / SMSONLC
  (CIC)** -- our choice; IBM does not say which type HP Image Copy writes.
* **When is a Fast Recovery copy usable?**  FABJ4237I "logical copy complete" (S83)
  comes when the relationship exists; from then on the clone reads as the data set did
  at that instant -- reads of tracks not yet copied are served from the source
  (FlashCopy, S48), SnapShot is complete at once (S63), a TimeFinder/Clone target is
  usable at activate (S66) -- and the relationship, kept by the controller, survives the
  job.  So **a Fast Recovery copy is registered at its logical completion** (stop time =
  logical completion; ``physical_time`` is added to the record when the background copy
  ends), not about a minute and a half later as before.  Recovering from it while its
  background copy still runs cannot flash it back (the clone is still a FlashCopy
  target: no cascading), so DFSMSdss copies it back with traditional data movement
  (FASTREPLICATION(PREFERRED), S46): :mod:`dasdlab.engine.recovery`.  Should the job
  fail after registration (the clone is dropped), the record is marked INVALID.

========================  ==========  =====================  ==============================
statement / process       type        run time               stop time
========================  ==========  =====================  ==============================
IC standard, dump-plain   BATCH       hold start             end of the copy
IC dump-*, fdump-*        BATCH       logical completion     physical completion
IC copy-* (Fast Recovery) SMSOFFLC    logical completion     logical completion (registered
                                                             then; physical_time added later)
CIC cic, dump-*, fdump-*  CONCUR      start of the read /    physical completion
                                      logical completion
CIC copy-*                SMSONLC     logical completion     logical completion (as IC)
========================  ==========  =====================  ==============================

Clean types start recovery at the run time; fuzzy ones (CONCUR, SMSONLC) at the purge
time, the checkpoint before the run time (RECON applies the rule).  Fast Recovery
copies carry ``format='FR'`` and the clone's data set name as IC1.

**One time stamp for several copies** (REGTIMESTMP=SAME on GLOBAL, or DBALL=(,Y) for a
statement's logical group; FDUMP only, S102, S103): the job first holds every database
of those batch FDUMP copies, then makes their shadows one by one, releasing each
database once its own shadow exists; every copy is registered with the instant the
last database was held (run time and log position), which is a point in time each of
them reflects because all were held from then until their shadows.  Choices where IBM is
silent: CIC FDUMP copies (never held) keep their own time stamps; the holds are counted
as one /DBR each, before the job's first copy starts.

**ICOUT**: up to seven standard copies (IC1..IC7) are written and reported; RECON
registers IC1 and IC2 (S13, S21).  ``ICOUT=%NO`` reads the data set as the HASH check
does and writes and registers nothing.

Output data sets are catalogued as ``ICHLQ.DBD.DDN.ICn.Cnnnnnnn`` (standard and
compressed, RECFM=FB, LRECL = block size + 8) and ``ICHLQ.DBD.DDN.FR.Cnnnnnnn``
(clones, like the source), with ``Cnnnnnnn`` a run counter; ``ICOUT=*`` places a
standard copy on ``VOLSER=`` or the site volume with the most free space (other than
the database's own when another has room), a clone on a volume of the database's own
subsystem (FlashCopy V2 needs source and target in one subsystem, S17).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Generator

import numpy as np

from dasdlab.engine import icformat
from dasdlab.engine.hpicplan import Plan, PlanError, method_of, plan
from dasdlab.engine.icein import Icein, Statement
from dasdlab.engine.leftovers import Intent
from dasdlab.engine.timemodel import DEFAULT_PROFILE, SCALED_LIMITS, TRACK_BYTES, DeviceProfile, get_profile
from dasdlab.errors import CopyServiceError, DasdlabError
from dasdlab.host import replication

READ_CHUNK_TRACKS = 15  # one cylinder per channel program (a profile may say otherwise)


class HpicError(DasdlabError):
    """An image copy that cannot be made (the data set, the output, a copy service)."""


#: (statement concurrent?, process family) -> RECON image type
def recon_type(concurrent: bool, process: str) -> str:
    """IMS-format output (standard, DUMP, FDUMP) is BATCH or CONCUR, as DFSUDMP0's; a
    Fast Recovery clone SMSOFFLC or SMSONLC (module docstring)."""
    if process.startswith("copy-"):
        return "SMSONLC" if concurrent else "SMSOFFLC"
    return "CONCUR" if concurrent else "BATCH"


@dataclass
class CopyReport:
    """What one image copy did: method, hold window, completion times, outputs."""

    kind: str
    line: int
    dbd: str
    ddn: str
    process: str = ""
    method: str = ""
    fallback: str | None = None
    status: str = "running"  # running, ok, failed
    message: str = ""
    recon_type: str = ""
    started: float | None = None
    hold_start: float | None = None
    hold_end: float | None = None
    logical: float | None = None
    physical: float | None = None
    wall: dict[str, float] = field(default_factory=dict)
    outputs: list[dict] = field(default_factory=list)
    blocks: int = 0
    tracks: int = 0
    bytes_copied: int = 0
    counters: dict = field(default_factory=dict)
    image_id: int | None = None
    run_seq: int | None = None

    @property
    def outage(self) -> float:
        """Modeled unavailability window: hold start to release (0 when never held)."""
        if self.hold_start is None or self.hold_end is None:
            return 0.0
        return self.hold_end - self.hold_start

    @property
    def outage_measured(self) -> float:
        if "hold_start" not in self.wall or "hold_end" not in self.wall:
            return 0.0
        return self.wall["hold_end"] - self.wall["hold_start"]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["outage_modeled_s"] = self.outage
        d["outage_measured_s"] = self.outage_measured
        return d


def apply_profile(site, profile: DeviceProfile) -> None:
    """Give the site's subsystems the profile's background rates and cache limits (in
    memory only)."""
    for sub in site.subsystems():
        geo_bytes = TRACK_BYTES
        if profile.background_copy_mb_s > 0:
            sub.settings["fc_background_tracks_per_s"] = profile.background_tracks_per_s(geo_bytes)
            sub.settings["clone_background_tracks_per_s"] = profile.background_tracks_per_s(geo_bytes)
        if profile.sidefile_drain_mb_s > 0:
            sub.settings["cc_drain_tracks_per_s"] = profile.drain_tracks_per_s(geo_bytes)
        # the limits too, in the profile's (scaled) bytes, so that they are met at the
        # same modeled point whatever the scale
        if profile.cache_bytes > 0:
            sub.settings["cache_bytes"] = profile.cache_bytes
        if profile.host_sidefile_bytes > 0:
            sub.settings["host_sidefile_bytes"] = profile.host_sidefile_bytes
        # the box's other size limits: the profile's (already scaled), else the
        # subsystem's own setting divided by the scale -- from its configuration, not
        # from its settings in memory, which an earlier profile may have scaled already
        own = {**type(sub).DEFAULT_SETTINGS, **site.config["subsystems"][sub.name].get("settings", {})}
        for setting, field_name in SCALED_LIMITS.items():
            value = getattr(profile, field_name)
            if value <= 0:
                if setting not in own:
                    continue
                value = max(1, int(round(int(own[setting]) / profile.size_scale)))
            sub.settings[setting] = value
            if setting == "pool_capacity_bytes" and getattr(sub, "_pool", None) is not None:
                sub._pool.capacity_bytes = value  # an open pool read its capacity when it opened


class ImageCopyEngine:
    """Runs ICEIN statements against the databases of a site.

    ``system`` is the in-process online IMS (:class:`dasdlab.engine.system.ImsSystem`)
    that owns the databases' buffers; the engine asks it to hold, stop and release
    databases.  ``profile`` gives the modeled costs.
    """

    def __init__(self, site, system, profile: DeviceProfile | str | None = None,
                 wall: Callable[[], float] = time.perf_counter) -> None:
        self.site = site
        self.system = system
        self.profile = get_profile(profile or DEFAULT_PROFILE) if not isinstance(profile, DeviceProfile) else profile
        self._wall = wall
        self.recon = system.recon
        #: what the copies are about to do, for the next command should this process be
        #: killed (:mod:`dasdlab.engine.leftovers`)
        self.intent = Intent(site, "hpic")
        apply_profile(site, self.profile)

    # ------------------------------------------------------------------ runs
    def start(self, st: Statement, at: float | None = None, job: Job | None = None) -> list[CopyRun]:
        """Start the copies of one statement (one per data set group) at modeled time
        ``at`` (default now), in ``job`` (default: a job of their own).  Planning errors
        are raised here, before anything moves."""
        from dasdlab.engine.database import ImsDatabase

        db = ImsDatabase.open(self.site, st.dbd, self.recon)
        db.require_loaded()
        groups = [db.ddn(st.ddn)] if st.ddn else list(db.dbds)
        job = job if job is not None else Job(self)
        runs = []
        for d in groups:
            sub = self.site.subsystem_of(d.volser)
            p = plan(st, sub.capabilities, sub.name)
            runs.append(CopyRun(self, st, db, d, p, self.now() if at is None else at, job))
        return runs

    def now(self) -> float:
        return self.site.clock.now()

    def wall(self) -> float:
        return self._wall()

    def run(self, icein: Icein, progress: Callable[[str], None] | None = None) -> list[CopyReport]:
        """Run the job to completion with no workload (``EXEC PGM=FABJMAIN``).

        Every data set group of an AIC/ACIC statement is a task of its own; the IC/CIC
        statements together are one more task that copies their groups one after the
        other.  All tasks start at the job's start and run as parallel processes in
        modeled time, sharing the channel and one DFSMSdss server (:class:`Job`).
        Reports come in statement order."""
        from dasdlab.engine.icein import expand

        icein = expand(icein, self.site, self.recon)  # GROUP statements, DBALL
        job = Job(self)
        job.toiauto_stops_left = self._toiauto_stops(icein)
        self._same_time_stamp(icein, job)
        by_stmt: dict[int, list[CopyReport]] = {}
        active: list[CopyRun] = []
        serial: list[CopyRun | Statement] = []

        def note(r: CopyReport) -> None:
            if progress:
                progress(r.message if r.status == "failed" and not r.process else
                         f"{r.dbd}.{r.ddn}: {r.status} {r.method}")

        def begin(st: Statement, i: int) -> list[CopyRun]:
            try:
                runs = self.start(st, job=job)
            except DasdlabError as e:
                r = CopyReport(st.kind, st.line, st.dbd, st.ddn or "*", status="failed", message=str(e))
                by_stmt.setdefault(i, []).append(r)
                note(r)
                return []
            for run in runs:
                run.stmt_index = i
            return runs

        for i, st in enumerate(icein.statements):
            if st.parallel:
                for run in begin(st, i):
                    run.start_time = run.next_time = self.now()
                    active.append(run)
            else:
                serial.append(st)
        current: CopyRun | None = None
        queue: list[CopyRun] = []
        steps = 0
        while True:
            if current is None or current.done:
                if current is not None:
                    by_stmt.setdefault(current.stmt_index, []).append(current.report)
                    note(current.report)
                    current = None
                while not queue and serial:
                    st = serial.pop(0)
                    queue = begin(st, icein.statements.index(st))
                if queue:
                    current = queue.pop(0)
                    current.start_time = current.next_time = self.now()
            for run in [r for r in active if r.done]:
                active.remove(run)
                by_stmt.setdefault(run.stmt_index, []).append(run.report)
                note(run.report)
            pending = active + ([current] if current is not None else [])
            if not pending:
                break
            t = min(r.next_time for r in pending)
            self.system.advance(t)
            for r in pending:
                r.advance(t)
            steps += 1
            if steps > 10_000_000:  # pragma: no cover - a process that never finishes
                raise HpicError("DLB699E", "image copy did not finish.")
        for name in list(job.same_db):  # a shared-time-stamp copy that never started
            del job.same_db[name]
            held = job.holds.pop(name, None)
            if held is not None:
                held[1](name)
        return [r for i in sorted(by_stmt) for r in by_stmt[i]]


    def _same_time_stamp(self, icein: Icein, job: Job) -> None:
        """REGTIMESTMP=SAME / DBALL=(,Y): hold every database of the batch FDUMP copies
        that share a time stamp before any copy starts (module docstring)."""
        from dasdlab.engine.database import ImsDatabase

        sets: dict[str, list[Statement]] = {}
        for st in icein.statements:
            o = st.options
            if st.concurrent or o.fastic is None or o.fastic[1] != "FDUMP":
                continue
            key = st.same_key or ("REGTIMESTMP" if o.regtimestmp == "SAME" else None)
            if key is not None and not (o.toiauto is not None and o.toiauto[0] == "N"):
                sets.setdefault(key, []).append(st)
        if not sets:
            return
        sysm, prof = self.system, self.profile
        t = self.now()
        for key, sts in sets.items():
            for st in sts:
                try:
                    n = 1 if st.ddn else len(ImsDatabase.open(self.site, st.dbd, self.recon).dbds)
                except DasdlabError:
                    continue  # the statement's own start reports it
                name = st.dbd
                job.same_of[(st.line, st.dbd, st.ddn)] = key
                if name in job.same_db:
                    job.same_db[name] += n
                    continue
                job.same_db[name] = n
                job.same_hold[name] = t
                ta = st.options.toiauto
                leave = lambda _name: None  # noqa: E731
                if self.recon.db(name)["state"] == "STOPPED":
                    job.holds[name] = [1, leave]
                elif st.options.quiesce:
                    sysm.hold(name)
                    job.holds[name] = [1, sysm.release]
                else:
                    (sysm.readonly if ta is not None and ta[2] == "DBD" else sysm.stop)(name)
                    job.holds[name] = [1, leave if ta is not None and ta[0] == "O" else sysm.start_db]
                t += prof.db_stop_s
            sysm.advance(t)
            job.same_time[key] = (self.now(), int(sysm.log.next_seq - 1))

    def _toiauto_stops(self, icein: Icein) -> int:
        """How many database stops TOIAUTO=Y|O issues in the job (data set groups of
        batch statements)."""
        from dasdlab.engine.database import ImsDatabase

        n = 0
        for st in icein.statements:
            ta = st.options.toiauto
            if st.concurrent or ta is None or ta[0] == "N":
                continue
            try:
                n += 1 if st.ddn else len(ImsDatabase.open(self.site, st.dbd, self.recon).dbds)
            except DasdlabError:
                continue
        return max(n, 1)


class Job:
    """What the tasks of one HP Image Copy job step share, in modeled time.

    * **One DFSMSdss server per job** (S90): the first copy that calls DFSMSdss pays its
      start-up (``dss_init_s``); copies that call it while it starts wait for it; later
      ones pay ``dss_dataset_s`` (catalog search and serialization of their data set).
    * **The channel** (S89: parallel tasks shorten the elapsed time; the profile's
      ``channel_mb_s``): copies reading sequentially at the same time each get their
      own stream rate, or an equal share of the channel when that is less -- decided per
      chunk (one cylinder), so a share changes as readers come and go.  Output writes
      are not shared (they go to other volumes, often other channels): our choice.
    * **Database holds** are counted per database: two tasks copying data set groups of
      one database stop it once and start it when the last releases it.  Each task's
      report gives its own hold window (what its method needs); the database's outage
      is their union, from the first hold to the last release.
    """

    def __init__(self, engine: ImageCopyEngine) -> None:
        self.engine = engine
        self.dss_ready: float | None = None
        #: runs transferring a chunk now -> [bytes left, bytes per second, as of time]
        self.transfers: dict[CopyRun, list[float]] = {}
        self.holds: dict[str, list] = {}  # database -> [count, release verb]
        #: database stops TOIAUTO still has to issue in this job (for TOIAUTO=(...,LAST))
        self.toiauto_stops_left = 1
        #: one time stamp for several FDUMP copies (REGTIMESTMP=SAME, DBALL=(,Y)):
        #: (line, dbd, ddn) of a statement -> its key; key -> (time, log position);
        #: database -> copies still to make under the job's own hold of it, and when
        #: that hold began
        self.same_of: dict[tuple, str] = {}
        self.same_time: dict[str, tuple[float, int]] = {}
        self.same_db: dict[str, int] = {}
        self.same_hold: dict[str, float] = {}

    # -- the channel: processor sharing among the job's sequential reads ----------------
    def transfer(self, run: CopyRun, now: float, nbytes: int) -> float:
        """``run`` starts reading ``nbytes`` at ``now``; returns when it will be done
        (and moves the others' finish times, since their share changes)."""
        self._settle(now)
        self.transfers[run] = [float(nbytes), 0.0, now]
        self._share(now, except_run=run)
        return self._finish_time(run, now)

    def transferred(self, run: CopyRun, now: float) -> None:
        """``run``'s chunk is done (or abandoned): the others get its share."""
        if run in self.transfers:
            self._settle(now)
            del self.transfers[run]
            self._share(now)

    def _settle(self, now: float) -> None:
        for t in self.transfers.values():
            t[0] = max(t[0] - (now - t[2]) * t[1], 0.0)
            t[2] = now

    def _share(self, now: float, except_run: CopyRun | None = None) -> None:
        prof = self.engine.profile
        chan = (prof.channel_mb_s or prof.seq_read_mb_s) * 1e6
        rate = min(prof.seq_read_mb_s * 1e6, chan / max(len(self.transfers), 1))
        for run, t in self.transfers.items():
            t[1] = rate
            if run is not except_run:
                run.next_time = self._finish_time(run, now)

    def _finish_time(self, run: CopyRun, now: float) -> float:
        left, rate, _ = self.transfers[run]
        return now + left / rate

    def dss_call(self, now: float) -> float:
        """When a DFSMSdss call made at ``now`` can proceed."""
        prof = self.engine.profile
        if self.dss_ready is None:
            self.dss_ready = now + prof.dss_init_s
            return self.dss_ready
        return max(now, self.dss_ready) + prof.dss_dataset_s


def image_copy_preflight(site, icein: Icein) -> int:
    """Before a batch job starts its own IMS subsystem: every database named must be
    defined and loaded, and none may be online in another live process (its log writer
    owns the site's log; HP-IC then runs inside that process).  Returns how many data
    set groups the statements copy.  Reads only."""
    from pathlib import Path

    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.recon import Recon

    if not (Path(site.path) / "ims" / "recon.db").is_file():
        raise HpicError("DLB680E", f"site {site.path} has no IMS databases (no RECON); define and load one first.")
    from dasdlab.engine.icein import expand

    recon = Recon.of_site(site.path)
    try:
        groups = 0
        icein = expand(icein, site, recon)
        for st in icein.statements:
            db = ImsDatabase.open(site, st.dbd, recon)
            db.require_loaded()
            if st.ddn:
                db.ddn(st.ddn)  # an unknown DDN is refused here, before IMS starts
            groups += 1 if st.ddn else len(db.dbds)
            if recon.db(db.name)["state"] == "STOPPED":
                # the copy processes stop and start the database themselves
                raise HpicError("DLB027E", f"database {db.name} is stopped (/DBR); '/STA DB {db.name}' starts it, "
                                           "then run the image copy again (it holds the database itself as long "
                                           "as its method needs).")
            owner = recon.live_owner(db.name)
            if owner is not None:
                raise HpicError("DLB680E", f"database {db.name} is online in {owner['ssid']} (process "
                                f"{owner['pid']}); run the image copy in that process, or stop the database "
                                "there first.")
        return groups
    finally:
        recon.close()


def batch_job(site, icein: Icein, profile: DeviceProfile | str | None = None,
              progress: Callable[[int, int], None] | None = None,
              on_phase: Callable[[str], None] | None = None) -> list[CopyReport]:
    """``EXEC PGM=FABJMAIN`` with no online IMS in this process: check the statements'
    databases (:func:`image_copy_preflight`), start an IMS subsystem for the site (an
    emergency restart if the last one died), run every statement to completion, shut it
    down.  ``progress(done, total)`` counts data set groups; ``on_phase(text)`` gets each
    finished group's one-line report."""
    from dasdlab.engine.system import ImsSystem

    from dasdlab.engine.leftovers import settle

    settle(site)  # data sets a killed copy left (the command line shows the messages)
    groups = image_copy_preflight(site, icein)
    system = ImsSystem(site)
    system.start()
    done = 0

    def step(msg: str) -> None:
        nonlocal done
        done += 1
        if on_phase is not None:
            on_phase(msg)
        if progress is not None:
            progress(done, max(groups, done))

    engine = ImageCopyEngine(site, system, profile)
    try:
        return engine.run(icein, progress=step)
    finally:
        system.shutdown()
        if not engine.intent.data["datasets"] and not engine.intent.data["holds"]:
            engine.intent.close()


def return_code(reports: list[CopyReport]) -> int:
    """HP-IC style: 0 when every copy was made, 4 when some failed, 8 when none was."""
    ok = sum(r.status == "ok" for r in reports)
    return 0 if ok == len(reports) else 4 if ok else 8


def run_to_end(system, runs: list[CopyRun], max_steps: int = 10_000_000) -> None:
    """Advance modeled time to each run's next step until all are done (no workload)."""
    steps = 0
    while True:
        pending = [r for r in runs if not r.done]
        if not pending:
            return
        t = min(r.next_time for r in pending)
        system.advance(t)
        for r in pending:
            r.advance(t)
        steps += 1
        if steps > max_steps:  # pragma: no cover - a process that never finishes
            raise HpicError("DLB699E", "image copy did not finish.")


class CopyRun:
    """One image copy of one data set group: a process in modeled time."""

    def __init__(self, engine: ImageCopyEngine, st: Statement, db, dbds, p: Plan, start: float,
                 job: Job | None = None) -> None:
        self.engine = engine
        self.job = job if job is not None else Job(engine)
        self.stmt_index = 0
        self.st = st
        self.db = db
        self.dbds = dbds
        self.plan = p
        self.start_time = start
        self.report = CopyReport(st.kind, st.line, db.name, dbds.ddn, process=p.process,
                                 method=method_of(p.process), fallback=p.fallback,
                                 recon_type=recon_type(st.concurrent, p.process))
        self.next_time = start
        self.done = False
        self._gen: Generator[float, None, None] | None = None
        self._cleanup: list[Callable[[], None]] = []
        self._out_cleanup: list[Callable[[], None]] = []  # image copy outputs being written
        self._intended: list[str] = []  # data sets entered in the engine's intent
        #: modeled seconds between looks at a background copy's progress (a driver of a
        #: very long run looks less often: its slices are longer too)
        self.poll_s = 0.05
        self._held = False
        #: observer called with the source tracks of each chunk the copy has just read
        #: (the outage scenario's track-state trace); None: nobody watches
        self.on_read: Callable[[np.ndarray], None] | None = None

    # ------------------------------------------------------------------ driving
    def advance(self, until: float) -> None:
        """Do every step due at or before modeled time ``until``."""
        if self._gen is None:
            if self.start_time > until:
                return
            self._gen = self._process()
            self.next_time = self.start_time
        while not self.done and self.next_time <= until + 1e-12:
            self._now = self.next_time
            try:
                nxt = next(self._gen)
            except StopIteration:
                self._finish_ok()
                return
            except DasdlabError as e:
                self._fail(e)
                return
            self.next_time = max(float(nxt), self._now)

    @property
    def now(self) -> float:
        return self._now

    def _mark(self, event: str) -> None:
        setattr(self.report, event, self._now)
        self.report.wall[event] = self.engine.wall()

    # ------------------------------------------------------------------ hold
    def _hold(self) -> None:
        sysm = self.engine.system
        name = self.db.name
        ta = self.st.options.toiauto
        held = self.job.holds.get(name)
        leave = lambda _name: None  # noqa: E731
        if held is not None:  # another task of the job holds this database already
            held[0] += 1
        elif self.engine.recon.db(name)["state"] == "STOPPED":
            # already stopped (/DBR, or recovered to a point in time): the batch copy
            # reads it and leaves it stopped -- the operator starts it (/STA)
            self.job.holds[name] = [1, leave]
        elif ta is not None and ta[0] == "N":
            raise HpicError("DLB627E", f"{self.st.kind} DBD={name}: TOIAUTO=N and the database is "
                            f"{self.engine.recon.db(name)['state']}; stop it (/DBR) before the batch image "
                            f"copy, or code TOIAUTO=Y (line {self.st.line}).")
        elif self.st.options.quiesce:
            self.engine.intent.hold(name, self.engine.recon.db(name)["state"])
            sysm.hold(name)
            self.job.holds[name] = [1, sysm.release]
        else:
            self.engine.intent.hold(name, self.engine.recon.db(name)["state"])
            (sysm.readonly if ta is not None and ta[2] == "DBD" else sysm.stop)(name)
            self.job.holds[name] = [1, leave if ta is not None and ta[0] == "O" else sysm.start_db]
            if ta is not None:
                self._toiauto_stopped(ta)
        self._held = True
        self._mark("hold_start")

    def _start_cost(self) -> float:
        """The /STA at the release; TOIAUTO=O issues none (the database stays stopped)."""
        ta = self.st.options.toiauto
        return 0.0 if ta is not None and ta[0] == "O" else self.engine.profile.db_start_s

    def _toiauto_stopped(self, ta: tuple[str, str, str, str]) -> None:
        """TOIAUTO's OLDS switch and checkpoint at a stop: EVERY stop, the job's LAST
        stop, or NO (S92)."""
        self.job.toiauto_stops_left -= 1
        if ta[1] == "EVERY" or (ta[1] == "LAST" and self.job.toiauto_stops_left <= 0):
            sysm = self.engine.system
            self.report.counters["olds_switched_to"] = sysm.log.switch(self._now)
            self.report.counters["checkpoint_seq"] = sysm.checkpoint(self._now)
            self._switch_cost = self.engine.profile.log_switch_s

    def _release(self) -> None:
        if self._held:
            held = self.job.holds[self.db.name]
            held[0] -= 1
            if self._same() is not None and self.db.name in self.job.same_db:
                # one time stamp: the job's own hold ends with the database's last copy
                self.job.same_db[self.db.name] -= 1
                if self.job.same_db[self.db.name] == 0:
                    del self.job.same_db[self.db.name]
                    held[0] -= 1
            if held[0] == 0:
                del self.job.holds[self.db.name]
                held[1](self.db.name)
                self.engine.intent.released(self.db.name)
            self._held = False
            self._mark("hold_end")

    def _same(self) -> tuple[float, int] | None:
        """(time stamp, log position) shared with other copies, or None."""
        key = self.job.same_of.get((self.st.line, self.st.dbd, self.st.ddn))
        if key is None or not self.plan.process.startswith("fdump-") or not self.plan.clean:
            return None
        return self.job.same_time.get(key)

    # ------------------------------------------------------------------ the process
    def _process(self) -> Generator[float, None, None]:
        prof = self.engine.profile
        self._mark("started")
        p = self.plan.process
        clean = self.plan.clean
        if clean:
            self._switch_cost = 0.0
            self._hold()
            yield self._now + prof.db_stop_s + self._switch_cost
        if p in ("standard", "cic", "dump-plain"):
            if p == "dump-plain":
                yield self.job.dss_call(self._now)
            yield from self._read_held_to_end(p)
            return
        if p.startswith("dump-"):
            yield self.job.dss_call(self._now) + (prof.vcc_flash_s if self.plan.virtual_cc else prof.cc_session_init_s)
            try:
                sess = self._start_cc()
            except CopyServiceError as e:
                if self.st.options.fastic[0] != "PREF":
                    raise
                # UIM event 24 with RC 4: DFSMSdss copies as if CONCURRENT had not been
                # given (S39) -- a plain DUMP, so the data set stays held to the end
                self._fall_back_to_plain_dump(e)
                yield from self._read_held_to_end("dump-plain")
                return
            yield from self._logically_complete(clean)
            outs = self._open_outputs()
            yield from self._read_tracks(self._session_reader(sess), outs)
            self.report.counters.update(_cc_counters(sess))
            sess.end()
            self._cleanup.clear()
            self._mark("physical")
            self._close_outputs(outs)
            return
        if p.startswith("fdump-"):
            yield self._data_mover_call(self.plan.service)
            shadow_vol, shadow_dsn, withdraw = self._fast_replicate("SHADOW", nocopy=True)
            yield from self._logically_complete(clean)
            outs = self._open_outputs()
            yield from self._read_tracks(self._dataset_reader(shadow_vol, shadow_dsn), outs)
            withdraw()
            self._cleanup.clear()
            self._mark("physical")
            self._close_outputs(outs)
            return
        # copy-*: a Fast Recovery image copy
        yield self._data_mover_call(self.plan.service)
        clone_vol, clone_dsn, physical_done = self._fast_replicate("FR", nocopy=False)
        if physical_done():  # a snap is physically complete at once (S63), not at the release
            self._mark("physical")
        self.report.outputs.append({"dsn": clone_dsn, "volser": clone_vol.volser, "copy": 1, "format": "FR"})
        # usable for recovery from here on (FABJ4237I): registered now, not at the end
        # of the background copy (module docstring)
        self._mark("logical")
        self.pit = self._now
        self._mark_seq()
        self._register(stop_time=self._now)
        if clean:
            yield self._now + self._start_cost()
            self._release()
        while not physical_done():
            yield self._now + self.poll_s  # the background copy progresses with the site's ticks
        self._cleanup.clear()
        self._settled()
        if self.report.physical is None:
            self._mark("physical")
        self.report.tracks = self.dbds.dataset(writable=False).ntracks
        self.report.blocks = self.dbds.nblocks
        # a snap moves pointers, no data; FlashCopy and clones copy every track
        self.report.bytes_copied = 0 if replication.mover(self.plan.service).pointer_copy else \
            self.report.tracks * TRACK_BYTES

    def _data_mover_call(self, service: str) -> float:
        """When the command that makes the point in time with ``service`` has returned:
        through DFSMSdss, one server per job (S90), or another data mover (EMCSNAP, a
        copy service by name), which has no DSS task."""
        from dasdlab.engine.timemodel import service_cost

        cost = service_cost(self.engine.profile, service).establish_s
        start = self.job.dss_call(self._now) if replication.mover(service).uses_dss else self._now
        return start + cost

    def _read_held_to_end(self, p: str) -> Generator[float, None, None]:
        """Read the live data set (standard process, or DFSMSdss without Concurrent
        Copy); a held database stays held until the copy is physically complete."""
        if p == "standard" or not self.plan.clean:
            self.pit = self._now
        else:  # dump-plain: DFSMSdss serialised the data set when the hold began
            self.pit = self.report.hold_start
        self._mark_seq()
        outs = self._open_outputs()
        yield from self._read_tracks(self._live_reader(), outs)
        self._mark("logical")
        self._mark("physical")
        self._close_outputs(outs)
        if self._held:
            yield self._now + self._start_cost()
            self._release()

    def _fall_back_to_plain_dump(self, err: DasdlabError) -> None:
        """The Concurrent Copy session did not initialise: from now on this is the
        PREF,DUMP process with no Concurrent Copy (release at physical completion)."""
        self._cleanup.clear()
        self.plan = replace(self.plan, process="dump-plain", service=None, virtual_cc=False,
                            release_at="physical" if self.plan.clean else "never-held",
                            fallback=f"Concurrent Copy did not initialise ({err.msgid}): DFSMSdss copied "
                                     "without CONCURRENT, held until physical completion")
        r = self.report
        r.process, r.method, r.fallback = "dump-plain", method_of("dump-plain"), self.plan.fallback
        r.recon_type = recon_type(self.st.concurrent, "dump-plain")
        r.counters["cc_init_failed"] = err.msgid

    def _logically_complete(self, clean: bool) -> Generator[float, None, None]:
        """The point-in-time copy exists: mark logical completion and the copy's log
        position, then release a held database once the restart cost has passed."""
        self._mark("logical")
        self.pit = self._now
        self._mark_seq()
        same = self._same()
        if same is not None:  # held since the shared time stamp: this copy reflects it
            self.pit, self.report.run_seq = same
            self.report.hold_start = self.job.same_hold.get(self.db.name, self.report.hold_start)
        if clean:
            yield self._now + self._start_cost()
            self._release()

    def _mark_seq(self) -> None:
        self.report.run_seq = int(self.engine.system.log.next_seq - 1)

    # ------------------------------------------------------------------ reading tracks
    def _read_tracks(self, reader, outs) -> Generator[float, None, None]:
        """Read the data set group's tracks in chunks at the profile's sequential rate,
        each track's blocks going straight into the output copies (``outs``: their
        :class:`~dasdlab.engine.icformat.CopyWriter`), so no copy of the data set is
        ever held in memory."""
        ds = self.dbds.dataset(writable=False)
        prof = self.engine.profile
        bs = self.dbds.block_size
        bpt = ds.blocks_per_track
        n = self.dbds.nblocks
        ntr = -(-n // bpt)
        first = ds_offset(bs, 0)
        step = ds_offset(bs, 1) - first if bpt > 1 else bs  # count field + data: records are evenly spaced
        chunk = max(prof.tracks_per_request, 1)
        job = self.job
        for tt0 in range(0, ntr, chunk):
            tt1 = min(tt0 + chunk, ntr)
            t_start = self._now
            yield self._now + prof.io_overhead_s  # the channel program starts (not shared)
            try:
                yield job.transfer(self, self._now, (tt1 - tt0) * TRACK_BYTES)
            finally:
                job.transferred(self, self._now)
            t_write = t_start + prof.write_tracks_s(tt1 - tt0)
            if t_write > self._now:  # the output write is the slower side
                yield t_write
            self._copy_chunk(reader, ds, outs, tt0, tt1, first, step, bpt, n)
        self.report.tracks = ntr
        self.report.blocks = n
        self.report.bytes_copied = n * bs

    def _copy_chunk(self, reader, ds, outs, tt0: int, tt1: int, first: int, step: int, bpt: int,
                    n: int) -> None:
        """Tracks ``tt0``..``tt1`` of the data set into the output copies (RBA order),
        each track's blocks straight into every :class:`~dasdlab.engine.icformat.CopyWriter`."""
        for tt in range(tt0, tt1):
            # a plain ndarray view of the track, not a memmap slice per block
            img = np.asarray(reader(int(ds.tracks[tt]))).view(np.ndarray)
            k = min(bpt, n - tt * bpt)
            for w in outs:
                w.add_track(img, first, step, k)
        if self.on_read is not None:
            self.on_read(ds.tracks[tt0:tt1])

    def _live_reader(self):
        vol = self.dbds.dataset(writable=False).vol
        return vol.read_track

    def _session_reader(self, sess):
        return sess.read_track

    def _dataset_reader(self, vol, dsn):
        from dasdlab.emulator.dataset import Dataset

        ds = Dataset(vol, dsn)
        src = self.dbds.dataset(writable=False)
        mapping = dict(zip(src.tracks.tolist(), ds.tracks.tolist()))
        return lambda t: vol.read_track(mapping[t])

    # ------------------------------------------------------------------ copy services
    def _src(self):
        ds = self.dbds.dataset(writable=False)
        return ds.vol, ds.entry

    def _start_cc(self):
        vol, entry = self._src()
        sub = self.engine.site.subsystem_of(self.dbds.volser)
        cc = sub.service(replication.CONCURRENT_COPY)
        sess = cc.start(self.dbds.volser, entry.track_list(vol.heads),
                        virtual="require" if self.plan.virtual_cc else False)
        self._cleanup.append(sess.end)
        return sess

    def _target_volume(self, sub, ntracks: int, avoid: str | None):
        """A volume of ``sub`` with room for ``ntracks`` (SHDWVOLSER/VOLSER honoured)."""
        want = self.st.options.shadow_volser if avoid == "SHADOW" else None
        cands = [want] if want else sorted(sub.volsers(), key=lambda v: v != self.dbds.volser)
        best = None
        for v in cands:
            vol = sub.open_volume(v, writable=True)
            free = max((b - a for a, b in vol.vtoc.free), default=0)
            if free >= ntracks and (best is None or free > best[1]):
                best = (vol, free)
        if best is None:
            raise HpicError("DLB660E", f"no volume of subsystem {sub.name} has {ntracks} free tracks in one "
                                       f"extent for a copy of {self.dbds.dsn}.")
        return best[0]

    def _name(self, kind: str) -> str:
        # the counter is per engine, and names are also used by copies RECON never
        # registered (shadows, dual copies, copies that died): skip any name in use
        site = self.engine.site
        n = len(self.engine.recon.images()) + 1 + getattr(self.engine, "_named", 0)
        while True:
            dsn = f"{self.st.options.ichlq}.{self.db.name}.{self.dbds.ddn}.{kind}.C{n:07d}"
            if site.catalog.find(dsn) is None and not any(dsn in site.volume(v).vtoc for v in site.volsers()):
                break
            n += 1
        self.engine._named = n - len(self.engine.recon.images())
        return dsn

    def _fast_replicate(self, kind: str, nocopy: bool):
        """Allocate a data set like D in D's subsystem and make it a point-in-time copy
        of D.  Returns (volume, dsn, finisher): for a shadow the finisher withdraws and
        deletes it; for a clone it tells whether the copy is physically complete."""
        from dasdlab.emulator import dsalloc

        src_vol, entry = self._src()
        sub = self.engine.site.subsystem_of(self.dbds.volser)
        ntr = entry.tracks(src_vol.heads)
        tgt = self._target_volume(sub, ntr, "SHADOW" if kind == "SHADOW" else None)
        dsn = self._name(kind)
        self._intend(tgt.volser, dsn)
        if replication.mover(self.plan.service).uses_dss:
            # DATA_MOVER=ADRDSSU: DFSMSdss makes the copy, as HP Image Copy calls it
            rep = self._dfsmsdss_copy(tgt, dsn, nocopy)
            self._cleanup.append(lambda: (_scratch_with_space(tgt, dsn), self.engine.site.catalog.remove(dsn)))
        else:
            # EMCSNAP or a copy service by name: its own establish (replication facade)
            new = dsalloc.allocate_like(tgt, dsn, entry.f1, ntr, tgt.heads)
            self._cleanup.append(lambda: _scratch_with_space(tgt, dsn))
            rep = replication.establish(sub, self.plan.service, self.dbds.volser, tgt.volser,
                                        entry.track_list(src_vol.heads), new.track_list(tgt.heads),
                                        background_copy=not nocopy)
            dsalloc.finish_like(tgt, dsn, entry.f1)
        if not rep.mover.pointer_copy:  # a snap stays with its target; the rest end first
            self._cleanup.insert(0, rep.withdraw)
        self.engine.intent.relationship(dsn, sub.name, rep.service, rep.id)
        self.report.counters[rep.mover.id_label] = rep.id
        self._replica = rep
        done = rep.settled
        if kind == "SHADOW":
            def withdraw() -> None:
                for fn in list(self._cleanup):
                    fn()
                self._settled(dsn)
            return tgt, dsn, withdraw
        if self.engine.site.catalog.find(dsn) is None:
            self.engine.site.catalog.add(dsn, tgt.volser)
        self._cleanup.clear()
        self._cleanup.append(lambda: self._drop_clone(tgt, dsn))
        return tgt, dsn, done

    def _intend(self, volser: str, dsn: str) -> None:
        """Enter ``dsn`` in the intent before it is allocated."""
        self._intended.append(dsn)
        self.engine.intent.dataset(volser, dsn)

    def _settled(self, dsn: str | None = None) -> None:
        """``dsn`` (default: every data set of this copy) is registered, complete or
        scratched, and its relationships withdrawn or no longer needed."""
        for d in [dsn] if dsn is not None else list(self._intended):
            self.engine.intent.dataset_done(d)
            self.engine.intent.relationships_done(d)
            if d in self._intended:
                self._intended.remove(d)

    def _dfsmsdss_copy(self, tgt, dsn: str, nocopy: bool):
        """``COPY DATASET ... FASTREPLICATION(REQUIRED)`` of D to ``dsn`` on ``tgt``
        through the project's DFSMSdss (:mod:`dasdlab.host.dss`); its modeled cost is
        the job's DFSMSdss call (:meth:`_data_mover_call`).  A copy DFSMSdss cannot make
        raises the error its fast replication gave."""
        from dasdlab.host.dss import Dss

        d = self.dbds.dsn
        stmt = (f"COPY DATASET(INCLUDE({d})) RENAMEU(({d},{dsn})) OUTDYNAM({tgt.volser}) "
                f"FASTREPLICATION(REQUIRED){' FCNOCOPY' if nocopy else ''}")
        report = Dss(self.engine.site).run(stmt)
        res = next((r for r in report.results if r.dsn == d), None)
        if res is None or res.rc or res.relationship is None:
            if res is not None and isinstance(res.cause, DasdlabError):
                raise res.cause
            raise HpicError("DLB840E", f"DFSMSdss did not copy {d} to {dsn}: "
                                       f"{res.message if res is not None else '; '.join(report.lines[-2:])}")
        from dasdlab.host.dss.planner import SERVICE_OF, Method

        sub = self.engine.site.subsystem_of(self.dbds.volser)
        return replication.Replica(sub.service(SERVICE_OF[Method(res.method)]), res.relationship)

    def _drop_clone(self, vol, dsn: str) -> None:
        rep = getattr(self, "_replica", None)
        if rep is not None and rep.active():  # its background copy still runs onto the clone
            rep.withdraw()
        _scratch_with_space(vol, dsn)
        self.engine.site.catalog.remove(dsn)

    # ------------------------------------------------------------------ output
    def _open_outputs(self) -> list:
        """Allocate IC1 (and IC2) in the standard or compressed format and return their
        writers; the blocks stream in as the tracks are read (:meth:`_read_tracks`).  A
        copy that does not complete is scratched (:meth:`_fail`); a copy is cataloged
        only once complete (:meth:`_close_outputs`)."""
        from dasdlab.emulator.dataset import Dataset

        o = self.st.options
        n_blocks = self.dbds.nblocks
        hdr = icformat.IcHeader(
            dbd=self.db.name, ddn=self.dbds.ddn, volser=self.dbds.volser or "",
            access="V" if self.dbds.dsorg.upper().startswith("V") or self.dbds.dsorg.upper() == "ESDS" else "O",
            kind="B" if self.plan.clean else "C", compressed=o.compress, copy_number=1,
            block_size=self.dbds.block_size, nblocks=n_blocks, run_time=self.pit,
            stop_time=self._now, crc32=0)
        lrecl = hdr.lrecl
        outs = []
        for n in range(1, o.copies + 1):
            ntr = _tracks_for(n_blocks + 1, lrecl)  # a compressed copy is smaller, or grows
            vol = self._output_volume(ntr)
            dsn = self._name(f"IC{n}")
            blk = icformat.blksize_for(lrecl)
            self._intend(vol.volser, dsn)
            vol.vtoc.allocate(dsn, lrecl=lrecl, blksize=blk, unit="TRK", primary=ntr + 1, secondary=max(ntr // 4, 15))
            self._out_cleanup.append(lambda vol=vol, dsn=dsn: vol.vtoc.delete(dsn))
            w = icformat.CopyWriter(Dataset(vol, dsn), icformat.IcHeader(**{**hdr.__dict__, "copy_number": n}),
                                    n_blocks)
            w.dsn, w.volser, w.copy = dsn, vol.volser, n
            outs.append(w)
        return outs

    def _close_outputs(self, outs: list) -> None:
        site = self.engine.site
        for w in outs:
            w.close(stop_time=self._now)
            site.catalog.add(w.dsn, w.volser)
            self.report.outputs.append({"dsn": w.dsn, "volser": w.volser, "copy": w.copy,
                                        "format": "COMPRESSED" if self.st.options.compress else "IMS",
                                        "bytes": int(w.bytes)})
        self._out_cleanup.clear()

    def _output_volume(self, ntracks: int):
        site = self.engine.site
        want = self.st.options.volser
        names = [want] if want else site.volsers()
        best = None
        for v in names:
            vol = site.volume(v, writable=True)
            free = max((b - a for a, b in vol.vtoc.free), default=0)
            score = (free >= ntracks + 1, v != self.dbds.volser, free)
            if best is None or score > best[0]:
                best = (score, vol)
        if best is None or not best[0][0]:
            raise HpicError("DLB661E", f"no volume has {ntracks} free tracks in one extent for the image copy "
                                       f"of {self.dbds.dsn}.")
        return best[1]

    # ------------------------------------------------------------------ completion
    def _finish_ok(self) -> None:
        rep = self.report
        if self._held:  # the standard process released at its end already
            self._release()
        if rep.hold_end is None and rep.hold_start is not None:
            rep.hold_end = self._now
        if rep.image_id is not None:  # a Fast Recovery copy, registered at logical completion
            self.engine.recon.update_image(rep.image_id, physical_time=rep.physical)
        else:
            self._register(stop_time=rep.physical)
        self._settled()
        rep.status = "ok"
        self.done = True

    def _register(self, stop_time: float | None) -> None:
        """The IMAGE record (when DBRC=Y and there is an output)."""
        rep = self.report
        if not (self.st.options.dbrc and rep.outputs):
            return
        extra = {"format": rep.outputs[0]["format"], "process": rep.process, "logical_time": rep.logical,
                 "physical_time": rep.physical, "pit_seq": rep.run_seq}
        if self.plan.fast_recovery:  # what the recovery copies the clone back with (S79)
            extra["data_mover"] = self.st.options.data_mover
        ic2 = next(((o["dsn"], o["volser"]) for o in rep.outputs if o["copy"] == 2), None)
        img = self.engine.recon.register_image(
            self.db.name, self.dbds.ddn, rep.recon_type, run_time=self._run_time(),
            stop_time=stop_time, ic1=(rep.outputs[0]["dsn"], rep.outputs[0]["volser"]), ic2=ic2,
            run_seq=rep.run_seq, **extra)
        rep.image_id = img["id"]
        for o in rep.outputs:  # registered: a later process keeps it whatever becomes of this one
            self.engine.intent.dataset_done(o["dsn"])

    def _run_time(self) -> float:
        r = self.report
        same = self._same()
        if same is not None:
            return same[0]
        if r.process in ("standard", "dump-plain"):
            return r.hold_start if r.hold_start is not None else r.started
        if r.process == "cic":
            return r.started
        return r.logical

    def _fail(self, err: DasdlabError) -> None:
        for fn in reversed(self._out_cleanup + self._cleanup):
            try:
                fn()
            except DasdlabError:
                pass
        self._cleanup.clear()
        self._out_cleanup.clear()
        self._settled()
        if self._held:  # no fallback after a failed logical copy; the database goes back online
            self._release()
        if self.report.image_id is not None:  # registered at logical completion, then dropped
            self.engine.recon.update_image(self.report.image_id, status="INVALID", failed=str(err))
        self.report.status = "failed"
        self.report.message = str(err)
        self.done = True


def _scratch_with_space(vol, dsn: str) -> None:
    """Scratch a shadow or clone data set and give its tracks' space back (a discard,
    after its relationship is gone): a scratched data set whose tracks stay written
    keeps their disk (or their pool slots) until something else is allocated there."""
    from dasdlab.emulator import dsalloc

    if dsn in vol.vtoc:
        runs = vol.vtoc.get(dsn).track_list(vol.heads)
        if runs:
            vol.discard_tracks(np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs]))
    dsalloc.scratch(vol, dsn)


def ds_offset(block_size: int, i: int) -> int:
    """Data offset of the i-th fixed block on a track (no keys)."""
    from dasdlab.emulator.trackfmt import fixed_data_offset

    return fixed_data_offset(0, block_size, i)


def _tracks_for(nrec: int, lrecl: int) -> int:
    from dasdlab.emulator.geometry import default_model

    geo = default_model()
    blk = icformat.blksize_for(lrecl)
    per_blk = blk // lrecl
    bpt = geo.records_per_track(0, blk)
    nblk = -(-nrec // per_blk)
    return -(-nblk // bpt) + 1


def _cc_counters(sess) -> dict:
    try:
        q = sess.query()
    except DasdlabError:
        return {}
    keys = ("intercepted_writes", "cache_hwm_tracks", "host_hwm_tracks", "cache_hwm_bytes", "host_hwm_bytes",
            "host_dataspaces_hwm",
            "read_sidefile", "read_live", "read_work", "method", "state")
    return {k: q[k] for k in keys if k in q}


__all__ = ["ImageCopyEngine", "CopyRun", "CopyReport", "HpicError", "PlanError", "recon_type", "run_to_end",
           "image_copy_preflight", "batch_job", "return_code"]
