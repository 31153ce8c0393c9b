"""Units of work: updates grouped into units of several DL/I calls, committed at their
sync point, and backed out when they never get there.

Facts (``docs/sources.md``): IMS logs every database change with its before and after
image as it is made (S76), before the changed buffer may be written (write-ahead);
changed buffers reach DASD at steal, past the deferred-write threshold and at
checkpoint, whether their unit of work has committed or not (S106); a unit of work
commits at its sync point, and one that fails -- or is in flight when IMS fails -- is
backed out from the before images, dynamically or at emergency restart (S106, S107).
A concurrent image copy therefore can hold uncommitted data; recovery applies the log,
in which every change is followed either by its unit of work's commit or by its
backout, so the result is the committed database (S29, S31).

**The model** (off by default: ``WorkloadSpec(uow_calls=1)``, each update its own unit
of work committed at once, as before):

* A workload with ``uow_calls = k`` makes units of work of ``k`` consecutive updates of
  its database (one serial stream, so units of work never overlap and no locking is
  needed).  The unit that is not complete at the end of a time slice stays *in flight*:
  its changes are logged and in the buffers -- a steal or checkpoint can write them to
  DASD -- but not committed.
* A **COMMIT record** (type ``0x37``) is logged at each sync point: its ``block`` is the
  last change record the unit of work commits, its time the commit time.  The truth
  records a unit of work's updates when it commits, with the commit time, so the truth
  at ``t`` is the database as committed by ``t``.
* ``/DBR``, ``/DBD``, a quiesce and a clean shutdown bring the unit in flight to its
  sync point first (IMS lets it finish before the database is stopped; our choice: it
  commits there with the calls it has made).
* At **emergency restart** the change records after the database's last COMMIT are
  those of the unit of work in flight at the failure: their before images are written
  back (after the redo of everything since the checkpoint), logged as change records --
  compensation, so forward recovery passes through the backout -- and closed with a
  COMMIT record; the truth drops what the log never committed.
* **Where the log range of a copy starts**: a unit of work in flight at the copy's log
  position (the purge checkpoint of a fuzzy copy) may have changes in the copy, so the
  range starts at its first change (:func:`first_needed`).  Our choice: IBM's purge
  rule steps back to a checkpoint (S25); backing out needs the log back to the start of
  the unit of work, as emergency restart scans it (S107).
* **Which change records are committed at ``T``** (:func:`committed_through`): those up
  to the ``block`` of the last COMMIT record at or before ``T``.  A point-in-time
  recovery and the check of a fuzzy copy apply only those; a full recovery stops the
  database first, which commits the unit in flight.

**Choices where the sources are silent**: one COMMIT record per unit of work, none per
call; a database once updated with units of work stays in that mode (RECON meta key
``uow:DBD``): every later writer of its change records -- a plain commit, the restart
backout, a point-in-time recovery's compensation -- logs a COMMIT record after them,
and the first one marks everything logged before it committed.
"""

from __future__ import annotations

import numpy as np

from dasdlab.engine.errors import ImsError

from dasdlab.engine.log import COMMIT


def uow_mode(recon, dbd: str) -> bool:
    row = recon._db.execute("SELECT value FROM meta WHERE key=?", (f"uow:{dbd.upper()}",)).fetchone()
    return row is not None


def set_uow_mode(recon, dbd: str) -> None:
    recon._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, '1')", (f"uow:{dbd.upper()}",))


def log_commits(log, dbd: str, times: np.ndarray, last_seqs: np.ndarray) -> None:
    """COMMIT records of ``dbd``: the change records up to ``last_seqs[i]`` are committed
    at ``times[i]``."""
    n = int(np.asarray(last_seqs).size)
    if n == 0:
        return
    seqs = log.reserve(n)
    log.write(seqs, np.asarray(times, np.float64), COMMIT, dbd, None, block=np.asarray(last_seqs, np.int64))


def committed_through(site, recon, dbd: str, until_time: float | None = None) -> int | None:
    """The last change record of ``dbd`` committed at ``until_time`` (default: by now),
    or None when the database never used units of work (every record is committed)."""
    import pyarrow.compute as pc

    from dasdlab.engine.log import LogReader

    if not uow_mode(recon, dbd):
        return None
    t = LogReader(site.path, recon).read(until_time=until_time, dbd=dbd.upper(), types=(COMMIT,))
    return int(pc.max(t["block"]).as_py()) if t.num_rows else 0


def first_needed(site, recon, dbd: str, from_seq: int) -> int:
    """Where applying the log must start for a copy whose log position is ``from_seq``:
    earlier when a unit of work was in flight there (its changes may be in the copy and
    must be backed out or committed by records the range then holds) -- the first
    change after the last COMMIT before ``from_seq``."""
    import pyarrow.compute as pc

    from dasdlab.engine.log import LogReader

    if not uow_mode(recon, dbd) or from_seq <= 1:
        return from_seq
    t = LogReader(site.path, recon).read(until_seq=from_seq - 1, dbd=dbd.upper(), types=(COMMIT,))
    if not t.num_rows:
        return from_seq
    return min(from_seq, int(pc.max(t["block"]).as_py()) + 1)


def backout_view(cs, ddn: str, upto: int, until_time: float):
    """The change records of ``ddn`` in ChangeSet ``cs`` after ``upto`` and at or before
    ``until_time`` -- a unit of work in flight then -- newest first, with their before
    images as the bytes to write (a recovery ``_Changes``): applying them after the
    change records backs the unit of work out."""
    from dasdlab.engine.recovery import _Changes

    if len(cs) == 0 or ddn not in cs.ddn_names:
        e = np.empty(0, np.int64)
        return _Changes(e, np.empty(0), e, e, e, e, np.empty(0, np.uint8))
    m = np.flatnonzero((cs.ddn_code == cs.ddn_names.index(ddn)) & (cs.seq > upto) & (cs.time <= until_time))[::-1]
    return _Changes(cs.seq[m], cs.time[m], cs.block[m], cs.offset[m], cs.start[m], cs.length[m], cs.before)


def check_calls(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= 10_000:
        raise ImsError("DLB581E", f"a unit of work has 1 to 10,000 DL/I calls (uow_calls), not {k!r}.")
    return int(k)


def commit(system, odb, seqs: np.ndarray, times: np.ndarray, group: np.ndarray, block: np.ndarray,
           offset: np.ndarray, after: np.ndarray, uow: np.ndarray, last_open: bool) -> None:
    """After a batch's change records are logged: commit the units of work the batch
    completes (with the one in flight before it), keep the last one in flight when
    ``last_open``.  Truth first, then the COMMIT records (the commit point)."""
    fl = odb.inflight
    if fl is not None:
        seqs, times, group, block, offset, after, uow = (
            np.concatenate((fl[k], v)) for k, v in (("seq", seqs), ("time", times), ("group", group),
                                                     ("block", block), ("offset", offset), ("after", after),
                                                     ("uow", uow)))
    if not odb.uow:
        set_uow_mode(system.recon, odb.name)
        # everything logged before the first unit of work is committed
        log_commits(system.log, odb.name, np.array([float(times[0])]), np.array([int(seqs[0]) - 1]))
        odb.uow = True
    open_m = (uow == uow[-1]) if last_open else np.zeros(uow.size, bool)
    done = ~open_m
    if done.any():
        u = uow[done]
        starts = np.r_[0, np.flatnonzero(np.diff(u)) + 1]
        ends = np.r_[starts[1:], u.size] - 1
        ctime = np.maximum.reduceat(times[done], starts)
        per = np.repeat(ctime, np.diff(np.r_[starts, u.size]))
        odb.truth.append(seqs[done], per, group[done], block[done], offset[done], after[done])
        log_commits(system.log, odb.name, ctime, seqs[done][ends])
        system.records_since_checkpoint += starts.size * system.log_record_weight
    odb.inflight = None if not open_m.any() else {
        "seq": seqs[open_m], "time": times[open_m], "group": group[open_m], "block": block[open_m],
        "offset": offset[open_m], "after": after[open_m], "uow": uow[open_m]}


def finish_inflight(system, odb, t: float) -> None:
    """Bring the unit of work in flight to its sync point at ``t`` (before a stop)."""
    fl = odb.inflight
    if fl is None:
        return
    odb.inflight = None
    odb.truth.append(fl["seq"], np.full(fl["seq"].size, float(t)), fl["group"], fl["block"], fl["offset"],
                     fl["after"])
    log_commits(system.log, odb.name, np.array([float(t)]), np.array([int(fl["seq"][-1])]))
    odb.uow_closed = True


def backout_at_restart(system) -> list[str]:
    """Emergency restart: back out the unit of work each database had in flight when
    the failed system stopped (module docstring); returns notes."""
    import pyarrow.compute as pc

    from dasdlab.engine.bufferpool import read_dasd
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.kernels import apply_changes
    from dasdlab.engine.log import CHANGE, LogReader, changeset
    from dasdlab.engine.truth import Truth

    notes = []
    reader = LogReader(system.site.path, system.recon)
    t = system.now()
    for d in system.recon.databases():
        name = d["dbd"]
        if not d["loaded"] or not uow_mode(system.recon, name):
            continue
        cm = reader.read(dbd=name, types=(COMMIT,))
        last = int(pc.max(cm["block"]).as_py()) if cm.num_rows else 0
        tbl = reader.read(since_seq=last + 1, dbd=name, types=(CHANGE,))
        try:
            truth = Truth(system.site.path, name)
            dropped = truth.reconcile(last)
            truth.close()
        except ImsError:
            dropped = 0
        if tbl.num_rows == 0:
            continue
        cs = changeset(tbl)
        db = ImsDatabase.open(system.site, name, system.recon)
        order = np.argsort(cs.seq)[::-1]  # newest first: each before image in turn
        total = 0
        for dd in db.dbds:
            if dd.ddn not in cs.ddn_names:
                continue
            m = order[cs.ddn_code[order] == cs.ddn_names.index(dd.ddn)]
            if not m.size:
                continue
            blocks = cs.block[m]
            uniq = np.unique(blocks)
            ds = dd.dataset(writable=True)
            img = read_dasd(ds, uniq)
            apply_changes(img, 0, np.searchsorted(uniq, blocks), cs.offset[m], cs.before, cs.start[m], cs.length[m])
            trk, off = ds.locate_many(uniq)
            ds.vol.write_many(trk, off, img)
            ds.vol.flush()
            n = int(m.size)
            width = int(cs.length[m].max())
            bef = np.zeros((n, width), np.uint8)
            aft = np.zeros((n, width), np.uint8)
            for i, r in enumerate(m):  # compensation: after = the before image, per record
                s0, ln = int(cs.start[r]), int(cs.length[r])
                bef[i, :ln] = cs.after[s0 : s0 + ln]
                aft[i, :ln] = cs.before[s0 : s0 + ln]
            if (cs.length[m] != width).any():
                raise ImsError("DLB582E", f"{name} {dd.ddn}: change records of different lengths in the unit of "
                               "work to back out.")
            seqs = system.log.reserve(n)
            system.log.write(seqs, np.full(n, t), CHANGE, name, dd.ddn, blocks, cs.offset[m], bef, aft)
            log_commits(system.log, name, np.array([t]), np.array([int(seqs[-1])]))
            total += n
        notes.append(f"{name}: unit of work in flight at the failure backed out ({total} change records"
                     + (f", {dropped} truth entries dropped" if dropped else "") + ")")
    return notes


def inflight_changes(site, recon, dbd: str):
    """The change records of ``dbd`` after its last COMMIT record -- those of the unit
    of work in flight now, as the log holds them (restart backs out exactly these) --
    as a ChangeSet in sequence order, or None when the database never used units of
    work (every change is committed)."""
    import pyarrow.compute as pc

    from dasdlab.engine.log import CHANGE, LogReader, changeset

    if not uow_mode(recon, dbd):
        return None
    reader = LogReader(site.path, recon)
    cm = reader.read(dbd=dbd.upper(), types=(COMMIT,))
    last = int(pc.max(cm["block"]).as_py()) if cm.num_rows else 0
    return changeset(reader.read(since_seq=last + 1, dbd=dbd.upper(), types=(CHANGE,)))


def uncommitted_blocks(site, recon, dbd: str, content_of, ddns=None) -> dict[str, np.ndarray]:
    """Per DDN (of ``ddns``, default all), the blocks of ``dbd`` whose content -- ``content_of(ddn, blocks)``:
    DASD now, or an image copy -- holds bytes of the unit of work in flight.

    A block is written whole from its buffer, so its content is the committed block
    (the truth: the stream is serial, every change in flight comes after every
    committed one) with the first ``i`` changes in flight applied, or an older state.
    It holds uncommitted data when it equals that state for some ``i >= 1`` and that
    state differs from the committed block (a change in flight that rewrote the same
    bytes leaves nothing uncommitted)."""
    from dasdlab.engine.truth import Truth

    cs = inflight_changes(site, recon, dbd)
    out: dict[str, np.ndarray] = {}
    if cs is None or len(cs) == 0:
        return out
    truth = Truth(site.path, dbd)
    try:
        for code, ddn in enumerate(cs.ddn_names):
            if ddns is not None and ddn not in ddns:
                continue
            m = np.flatnonzero(cs.ddn_code == code)
            if not m.size:
                continue
            blocks = cs.block[m]
            uniq = np.unique(blocks)
            # block by block from one journal: the blocks of a unit may span a big data set
            j = truth.journal(ddn=ddn)
            committed = np.concatenate([truth.content_at(ddn, first=int(b), count=1, journal=j) for b in uniq])
            held = np.asarray(content_of(ddn, uniq))
            hit = np.zeros(uniq.size, bool)
            state = committed.copy()
            for r in m:  # sequence order
                i = int(np.searchsorted(uniq, cs.block[r]))
                o, s0, ln = int(cs.offset[r]), int(cs.start[r]), int(cs.length[r])
                state[i, o:o + ln] = cs.after[s0:s0 + ln]
                if not hit[i] and np.array_equal(held[i], state[i]) and not np.array_equal(state[i], committed[i]):
                    hit[i] = True
            out[ddn] = uniq[hit]
    finally:
        truth.close()
    return out
