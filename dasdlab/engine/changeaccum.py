"""Change accumulation: a DFSUCUM0-like utility that gathers the change records of a
change accumulation group from the logs into one data set recovery reads instead.

Facts (``docs/sources.md``):

* DFSUCUM0 collects the database change records of other log data sets into a single
  data set, to make recovery faster; recovery then takes the image copy, the change
  accumulation data set (DD ``DFSUCUM``, one data set, no concatenation) and the logs
  written after it (S29, S24, S75, S97).
* The DBDSs it accumulates are the members of a change accumulation group (CAGRP,
  INIT.CAGRP); a DBDS belongs to one CA group only (S95).
* Records older than a DBDS's *purge time* are dropped: they are already in its image
  copy; the purge time of a fuzzy copy steps back to a checkpoint (S25).  An older CA
  data set can be an input, with the logs that follow it (S98, DFS0963W).
* Each run leaves a CA record in RECON: the data set, the run time, and the stop time of
  the last log data set it processed, where the next run and recovery go on (S96).

**Choices where the sources are silent** (written here):

* *Which logs*: closed (switched or cleanly closed) log data sets only, as DFSUCUM0
  reads archived logs; the log still being written is left to recovery.  A run with no
  closed log beyond where the group stands is refused (DLB631E).
* *The record format*: for every block, the bytes any accumulated record wrote, as
  they are after the last one -- one record per contiguous run of written bytes, its
  sequence number and time those of the block's last change.  Applying a CA record is
  applying the net effect of all the records it replaces, so recovery from
  image copy + CA + later logs gives the same bytes as image copy + all logs.  A CA
  record carries no before image (the log's *before* column repeats the after image
  so the log format's checks hold).
* *Where it lives*: an Arrow IPC stream like a log data set,
  ``SITE/ims/ca/CA.GROUP.NNNNNN.arrows`` (data set name ``IMS.CA.GROUP.CNNNNNN``),
  appearing under its name only when complete.  GRPMAX/REUSE are not modeled: every
  run adds a CA record.
* *A previous CA data set that is gone* is not an input: the run starts again from the
  members' purge points (noted in the report).

**API**::

    rep = accumulate(site, "PAYCA")                          # DFSUCUM0 for CA group PAYCA
    ca, member = usable(recon, site, "HDAMDB01", "HDAMDD01", from_seq, to)  # for recovery
    ch = read_ca(site, ca, "HDAMDB01", "HDAMDD01")           # its records of one DBDS
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dasdlab.engine.errors import ImsError
from dasdlab.engine.recon import Recon

#: touched blocks consolidated per piece (memory stays flat with the data set size)
PIECE = 1024


def ca_dir(site_path) -> Path:
    return Path(site_path) / "ims" / "ca"


@dataclass
class CaReport:
    cagrp: str
    ca_id: int
    dsn: str
    stop_seq: int
    stop_time: float
    members: list[dict] = field(default_factory=list)  # dbd, ddn, from_seq, records_in, records_out
    notes: list[str] = field(default_factory=list)


def consolidate(ch, block_size: int):
    """The net effect of change records ``ch`` (a recovery ``_Changes``, sequence order)
    per block: (seq, time, block, offset, length, start, after) of one record per run
    of written bytes."""
    from dasdlab.engine.recovery import _BlockIndex, apply_to

    outs = []
    if len(ch) == 0:
        e = np.empty(0, np.int64)
        return e, np.empty(0), e, e, e, e, np.empty(0, np.uint8)
    blocks = np.unique(ch.block)
    order = np.lexsort((ch.seq, ch.block))
    last = order[np.r_[np.flatnonzero(np.diff(ch.block[order])), order.size - 1]]  # last record per block
    last_seq, last_time = ch.seq[last], ch.time[last]
    ones = type(ch)(ch.seq, ch.time, ch.block, ch.offset, ch.start, ch.length, np.ones_like(ch.after))
    by, by_ones = _BlockIndex(ch), _BlockIndex(ones)
    for a in range(0, blocks.size, PIECE):
        tp = blocks[a : a + PIECE]
        img = np.zeros((tp.size, block_size), np.uint8)
        mask = np.zeros((tp.size, block_size), np.uint8)
        apply_to(img, tp, by.of(tp))
        apply_to(mask, tp, by_ones.of(tp))
        pad = np.zeros((tp.size, block_size + 2), np.int8)
        pad[:, 1:-1] = mask
        d = np.diff(pad, axis=1)
        rs, cs = np.nonzero(d == 1)
        re_, ce = np.nonzero(d == -1)
        assert np.array_equal(rs, re_)
        length = ce - cs
        flat = np.repeat(rs * block_size + cs - np.r_[0, np.cumsum(length)[:-1]], length) + np.arange(length.sum())
        outs.append((last_seq[a + rs], last_time[a + rs], tp[rs], cs, length, img.reshape(-1)[flat]))
    seq, tim, blk, off, ln, data = (np.concatenate([o[i] for o in outs]) for i in range(6))
    start = np.r_[0, np.cumsum(ln)[:-1]].astype(np.int64)
    return (seq.astype(np.int64), tim, blk.astype(np.int64), off.astype(np.int64), ln.astype(np.int64), start,
            data.astype(np.uint8))


def _table(parts: list[tuple[str, str, tuple]]) -> pa.Table:
    """One Arrow table (log schema) of consolidated records of several DBDSs."""
    from dasdlab.engine.log import CHANGE, SCHEMA

    dbds = sorted({p[0] for p in parts})
    ddns = sorted({p[1] for p in parts})
    cols = {k: [] for k in ("seq", "time", "dbd", "ddn", "block", "offset", "offs", "data")}
    total = 0
    for dbd, ddn, (seq, tim, blk, off, ln, start, data) in parts:
        n = seq.size
        cols["seq"].append(seq.astype(np.uint64))
        cols["time"].append(tim)
        cols["dbd"].append(np.full(n, dbds.index(dbd), np.int16))
        cols["ddn"].append(np.full(n, ddns.index(ddn), np.int16))
        cols["block"].append(blk)
        cols["offset"].append(off.astype(np.int32))
        cols["offs"].append(start + total)
        cols["data"].append(data)
        total += data.size
    cat = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in cols.items()}
    n = int(cat["seq"].size)
    order = np.argsort(cat["seq"], kind="stable")
    offs = np.r_[cat["offs"].astype(np.int64), total]
    lens = np.diff(offs)
    # sequence order, the after images gathered to match
    lens_o = lens[order]
    new_offs = np.r_[0, np.cumsum(lens_o)].astype(np.int64)
    idx = (np.repeat(offs[:-1][order] - new_offs[:-1], lens_o) + np.arange(int(lens_o.sum()))).astype(np.int64)
    data = np.ascontiguousarray(cat["data"].astype(np.uint8)[idx]) if n else np.empty(0, np.uint8)
    binary = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(new_offs), pa.py_buffer(data)])
    binary = binary.cast(pa.binary())
    d_dbd, d_ddn = pa.array(dbds, pa.string()), pa.array(ddns, pa.string())
    return pa.table([
        pa.array(cat["seq"][order].astype(np.uint64)), pa.array(cat["time"][order].astype(np.float64)),
        pa.array(np.full(n, CHANGE, np.uint8)),
        pa.DictionaryArray.from_arrays(pa.array(cat["dbd"][order].astype(np.int16)), d_dbd),
        pa.DictionaryArray.from_arrays(pa.array(cat["ddn"][order].astype(np.int16)), d_ddn),
        pa.array(cat["block"][order].astype(np.int64)), pa.array(cat["offset"][order].astype(np.int32)),
        binary, binary], schema=SCHEMA)


def read_ca(site, ca: dict, dbd: str, ddn: str):
    """The records of DBDS ``dbd.ddn`` in CA data set ``ca`` (a RECON CA record), as a
    recovery ``_Changes``; DLB632E when its file is gone or unreadable."""
    from dasdlab.engine.log import changeset
    from dasdlab.engine.recovery import _changes_of

    path = ca_dir(site.path) / Path(ca["path"]).name
    try:
        with pa.OSFile(str(path), "rb") as f:
            t = pa.ipc.open_stream(f).read_all()
    except (OSError, pa.ArrowInvalid) as e:
        raise ImsError("DLB632E", f"change accumulation data set {ca['dsn']} ({path}) cannot be read: {e}") from None
    t = t.filter(pc.equal(pc.cast(t["dbd"], pa.string()), dbd.upper()))
    return _changes_of(changeset(t.combine_chunks()), ddn.upper(), 0)


def usable(recon: Recon, site, dbd: str, ddn: str, from_seq: int, to: float | None):
    """The newest CA record whose data set holds every change of ``dbd.ddn`` from
    ``from_seq`` on to its stop (so recovery may read it instead of those logs), with
    its member entry, or None; ``to``: only one that stops at or before it."""
    for ca in reversed(recon.cas()):
        if ca["status"] != "IN USE" or (to is not None and ca["stop_time"] > to):
            continue
        m = next((m for m in ca["members"] if (m["dbd"], m["ddn"]) == (dbd.upper(), ddn.upper())), None)
        if m is None or m["from_seq"] > from_seq or ca["stop_seq"] < from_seq:
            continue
        if not (ca_dir(site.path) / Path(ca["path"]).name).is_file():
            continue
        if to is not None:  # units of work in flight at the CA's stop must have committed by ``to``
            from dasdlab.engine.uow import committed_through

            upto = committed_through(site, recon, dbd, to)
            if upto is not None and upto < ca["stop_seq"]:
                continue
        return ca, m
    return None


def _purge_from(site, recon: Recon, dbd: str, ddn: str) -> int:
    """The first change record a member's recovery can need: from its newest image copy
    (the purge rule, S25); 1 when it has none."""
    from dasdlab.engine.recovery import _from_seq

    from dasdlab.engine.uow import first_needed

    ims = [im for im in recon.images(dbd, ddn) if im["status"] == "IN USE" and im["purge_seq"] is not None]
    return first_needed(site, recon, dbd, _from_seq(recon, ims[-1])) if ims else 1


def accumulate(site, cagrp: str, recon: Recon | None = None, now: float | None = None) -> CaReport:
    """Run change accumulation for CA group ``cagrp``: its members' change records
    from their purge points (or where the group's last CA data set stops, that data set
    being an input) to the end of the last closed log data set, consolidated into a new
    CA data set registered in RECON."""
    from dasdlab.emulator.newfile import new_file
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.recovery import RecoveryError, _changes_of, _logs_for, _read_changes

    own = recon is None
    recon = Recon.of_site(site.path, create=False) if own else recon
    try:
        grp = recon.group(cagrp, "CAGRP")
        name = grp["name"]
        closed = [lg for lg in recon.logs() if lg["status"] == "CLOSED" and lg["last_seq"] is not None]
        stop_seq = max((lg["last_seq"] for lg in closed), default=0)
        stop_time = max((lg["stop_time"] or lg["start_time"] for lg in closed), default=0.0)
        prev = next((c for c in reversed(recon.cas(name)) if c["status"] == "IN USE"), None)
        notes = []
        if prev is not None and not (ca_dir(site.path) / Path(prev["path"]).name).is_file():
            notes.append(f"the previous CA data set {prev['dsn']} is gone; accumulating from the purge points")
            prev = None
        parts, members = [], []
        for dbd, ddn in grp["members"]:
            purge = _purge_from(site, recon, dbd, ddn)
            pm = None if prev is None else next((m for m in prev["members"] if (m["dbd"], m["ddn"]) == (dbd, ddn)),
                                                None)
            start = purge
            old = None
            if pm is not None and pm["from_seq"] <= purge and prev["stop_seq"] >= purge - 1:
                old = read_ca(site, prev, dbd, ddn)
                old = old.select(old.seq >= purge)
                start = prev["stop_seq"] + 1
            what = f"change accumulation of {dbd}.{ddn}"
            ch = None
            if start <= stop_seq:
                try:
                    logs = [lg for lg in _logs_for(recon, site, start, None, what) if lg["status"] == "CLOSED"]
                except RecoveryError as e:
                    raise ImsError("DLB631E", e.text) from None
                ch = _changes_of(_read_changes(site, dbd, logs, start), ddn, start)
                ch = ch.select(ch.seq <= stop_seq)
            if old is not None and len(old):
                ch = old if ch is None else _concat(old, ch)
            if ch is None:
                ch = _changes_of(_read_changes(site, dbd, [], start), ddn, start)
            bs = ImsDatabase.open(site, dbd, recon).ddn(ddn).block_size
            out = consolidate(ch, bs)
            parts.append((dbd, ddn, out))
            members.append({"dbd": dbd, "ddn": ddn, "from_seq": purge, "records_in": len(ch),
                            "records_out": int(out[0].size)})
        since = prev["stop_seq"] if prev is not None else min(m["from_seq"] for m in members) - 1
        if stop_seq <= since:
            raise ImsError("DLB631E", f"CA group {name}: no closed log data set holds change records after "
                           f"{since}; switch the log (or close IMS) before accumulating.")
        table = _table(parts)
        n = len(recon.cas()) + 1
        d = ca_dir(site.path)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"CA.{name}.{n:06d}.arrows"
        with new_file(path, ImsError("DLB632E", f"change accumulation data set {path} already exists.")) as tmp:
            with pa.OSFile(str(tmp), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
                w.write_table(table)
        run_time = max(recon.last_time(), stop_time) if now is None else now
        ca = recon.register_ca(name, f"IMS.CA.{name}.C{n:06d}", path.name, run_time, stop_time, stop_seq, members)
        return CaReport(name, int(ca["id"]), ca["dsn"], stop_seq, stop_time, members, notes)
    finally:
        if own:
            recon.close()


def _compact(ch) -> np.ndarray:
    """The after images of ``ch`` packed in record order."""
    ln = ch.length.astype(np.int64)
    if not ln.size:
        return np.empty(0, np.uint8)
    base = np.r_[0, np.cumsum(ln)[:-1]]
    return ch.after[np.repeat(ch.start.astype(np.int64) - base, ln) + np.arange(int(ln.sum()))]


def _concat(a, b):
    """Records ``a`` then ``b`` (recovery ``_Changes``) in one set."""
    ln = np.r_[a.length, b.length].astype(np.int64)
    start = np.r_[0, np.cumsum(ln)[:-1]].astype(np.int64)
    return type(a)(np.r_[a.seq, b.seq], np.r_[a.time, b.time], np.r_[a.block, b.block], np.r_[a.offset, b.offset],
                   start, ln, np.r_[_compact(a), _compact(b)].astype(np.uint8))
