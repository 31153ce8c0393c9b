"""The IMS log: change, checkpoint and open/close records in Arrow IPC log data sets.

Facts (S76, S29, S31; ``docs/sources.md``): every database update is logged with a before
and an after image at a known offset (full-function change records are log type X'50'
[unverified]); recovery applies them in order, after restoring an image copy, from a
starting point RECON gives; applying an after image twice gives the same bytes, so
apply is idempotent.

**Record types** (column ``type``): ``0x50`` change, ``0x40`` checkpoint (all dirty
buffers were written before it), ``0x20`` data set open, ``0x21`` data set close,
``0x37`` commit of a unit of work (``block``: the last change record it commits;
:mod:`dasdlab.engine.uow`).

**Schema** (one row per record)::

    seq uint64   time float64 (modeled s)   type uint8
    dbd dictionary<int16, string>   ddn dictionary<int16, string>
    block int64 (relative block / CI number in the DBDS, -1 if none)
    offset int32 (byte offset inside the block)   before binary   after binary

**Log data sets (OLDS-like)**: ``SITE/ims/logs/OLDS.NNNNNN.arrows``, data set name
``IMS.OLDS.LNNNNNN``.  Each is an Arrow IPC *stream*; the writer appends one record
batch per call (one per workload time slice) and flushes it to the file, and switches
to a new log data set when the file passes ``limit_bytes``.  A ``kill -9`` can tear at
most the batch being written: readers stop at the torn batch, ignore it and note it
(:attr:`LogReader.notes`).  The writer registers each log data set in RECON (LOG
record: start/stop time, first/last sequence number) and, when it starts after a crash,
closes the dead writer's LOG record from what the file holds (emergency restart).

Reading is vectorised: :meth:`LogReader.read` returns an Arrow table,
:meth:`LogReader.changes` a :class:`ChangeSet` of numpy arrays ready for
:func:`dasdlab.engine.kernels.apply_changes` (recovery's log apply)::

    log = LogReader(site_path)
    cs = log.changes(dbd="HDAMDB01", ddn="HDAMDD01", since_seq=purge_seq + 1, until_time=t)
    apply_changes(image, 0, cs.block, cs.offset, cs.after, cs.start, cs.length)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dasdlab.engine.errors import ImsError
from dasdlab.engine.recon import Recon, pid_alive

CHANGE, CHECKPOINT, OPEN, CLOSE, COMMIT = 0x50, 0x40, 0x20, 0x21, 0x37
TYPE_NAMES = {CHANGE: "CHANGE", CHECKPOINT: "CHECKPOINT", OPEN: "OPEN", CLOSE: "CLOSE", COMMIT: "COMMIT"}
DEFAULT_LIMIT = 64 * 1024 * 1024
_DICT = pa.dictionary(pa.int16(), pa.string())
SCHEMA = pa.schema([
    ("seq", pa.uint64()), ("time", pa.float64()), ("type", pa.uint8()),
    ("dbd", _DICT), ("ddn", _DICT), ("block", pa.int64()), ("offset", pa.int32()),
    ("before", pa.binary()), ("after", pa.binary()),
])
_NAME = re.compile(r"^OLDS\.(\d{6})\.arrows$")


def log_dir(site_path: str | os.PathLike) -> Path:
    return Path(site_path) / "ims" / "logs"


def _binary(rows: np.ndarray | None, n: int) -> pa.Array:
    """A binary array of ``n`` values from an (n, width) uint8 array (None: empty values)."""
    if rows is None or rows.size == 0:
        return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(np.zeros(n + 1, np.int32)),
                                                      pa.py_buffer(b"")])
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    w = rows.shape[1]
    offs = np.arange(n + 1, dtype=np.int32) * w
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offs), pa.py_buffer(rows)])


@dataclass
class ChangeSet:
    """Change records as arrays, in sequence order.  Images of record ``i`` are
    ``before[start[i]:start[i]+length[i]]`` and the same slice of ``after``.
    ``ddn_code`` indexes :attr:`ddn_names`, ``dbd_code`` :attr:`dbd_names`."""

    seq: np.ndarray
    time: np.ndarray
    dbd_code: np.ndarray
    ddn_code: np.ndarray
    block: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    start: np.ndarray
    before: np.ndarray
    after: np.ndarray
    dbd_names: list[str] = field(default_factory=list)
    ddn_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.seq.size)

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes + self.seq.size * 40)


class LogWriter:
    """Writes the log of one IMS subsystem (``ssid``); one writer per site at a time.

    ``open()`` performs the log part of an emergency restart: it closes LOG records of
    writers that died, reading their files to find the last complete record, and starts
    a new log data set; sequence numbers continue after the highest one on any log.
    """

    def __init__(self, site_path: str | os.PathLike, recon: Recon, ssid: str = "IMS1",
                 limit_bytes: int = DEFAULT_LIMIT) -> None:
        self.dir = log_dir(site_path)
        self.recon = recon
        self.ssid = ssid
        self.limit = int(limit_bytes)
        self.next_seq = 1
        self.last_time = 0.0
        self.dsn: str | None = None
        self.path: Path | None = None
        self._sink = None
        self._writer = None
        self._first_seq = 0
        self._dbd_names: list[str] = []
        self._ddn_names: list[str] = []
        self.bytes_written = 0
        self.records_written = 0
        self.restart_notes: list[str] = []

    # ------------------------------------------------------------------ open / restart
    def open(self, now: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        hi_seq = 0
        for lg in self.recon.logs():
            if lg["status"] == "OPEN":
                if pid_alive(lg["pid"]) and lg["pid"] != os.getpid():
                    raise ImsError("DLB541E", f"log {lg['dsn']} is being written by process {lg['pid']} "
                                   f"({lg['ssid']}); one IMS subsystem per site writes the log.")
                rd = LogReader(self.dir.parent.parent, recon=None)
                tbl = rd.read_file(Path(lg["path"]))
                last_seq = int(pc.max(tbl["seq"]).as_py()) if tbl.num_rows else lg["first_seq"] - 1
                stop = float(pc.max(tbl["time"]).as_py()) if tbl.num_rows else lg["start_time"]
                note = "closed at restart" + ("; torn last batch ignored" if rd.notes else "")
                self.recon.close_log(lg["dsn"], stop, last_seq, note)
                self.restart_notes.append(f"{lg['dsn']}: {note}, last seq {last_seq}")
                hi_seq = max(hi_seq, last_seq)
                self.last_time = max(self.last_time, stop)
            else:
                hi_seq = max(hi_seq, lg["last_seq"] or 0)
                self.last_time = max(self.last_time, lg["stop_time"] or 0.0)
        self.next_seq = hi_seq + 1
        self._switch(max(now, self.last_time))

    def _names(self) -> tuple[list[str], list[str]]:
        dbds = sorted(d["dbd"] for d in self.recon.databases())
        ddns = sorted({r["ddn"] for d in dbds for r in self.recon.dbds(d)})
        return dbds, ddns

    def _switch(self, now: float) -> None:
        self._close_current(now)
        nums = [int(m.group(1)) for p in self.dir.iterdir() if (m := _NAME.match(p.name))]
        n = max(nums, default=0) + 1
        self.path = self.dir / f"OLDS.{n:06d}.arrows"
        self.dsn = f"IMS.OLDS.L{n:06d}"
        self._dbd_names, self._ddn_names = self._names()
        if self.path.exists():
            raise ImsError("DLB543E", f"log data set {self.path} already exists.")
        # an OSFile writes through to the file at once (no user-space buffer), so a
        # kill -9 loses at most the batch being written
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, SCHEMA)
        self._dict_dbd = pa.array(self._dbd_names, pa.string())
        self._dict_ddn = pa.array(self._ddn_names, pa.string())
        self._first_seq = self.next_seq
        self.recon.open_log(self.dsn, str(self.path), self.ssid, now, self.next_seq)

    def _close_current(self, now: float) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        self.recon.close_log(self.dsn, max(now, self.last_time), self.next_seq - 1)
        self._writer = self._sink = None

    def close(self, now: float) -> None:
        self._close_current(now)

    def switch(self, now: float) -> str:
        """``/SWITCH OLDS``: close the current log data set and open the next one;
        returns the new one's name."""
        self._switch(max(now, self.last_time))
        return self.dsn

    # ------------------------------------------------------------------ writing
    def reserve(self, n: int) -> np.ndarray:
        """Sequence numbers for the next ``n`` records (not durable until written)."""
        seqs = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        return seqs

    def _codes(self, names: list[str], name: str) -> int:
        try:
            return names.index(name)
        except ValueError:
            raise ImsError("DLB542E", f"{name} is not registered in RECON; the log cannot name it.") from None

    def write(self, seq: np.ndarray, time: np.ndarray, type_: np.ndarray | int, dbd: str | None,
              ddn: np.ndarray | str | None, block: np.ndarray | None = None,
              offset: np.ndarray | None = None, before: np.ndarray | None = None,
              after: np.ndarray | None = None, ddn_names: list[str] | None = None) -> None:
        """Append one batch of records of one database and flush it to the file.

        ``ddn`` is one DDN for all records, or int codes into ``ddn_names``.
        ``seq`` must continue :attr:`next_seq` (from :meth:`reserve`)."""
        if self._writer is None:
            raise ImsError("DLB543E", "the log is not open.")
        seq = np.asarray(seq, dtype=np.int64)
        n = seq.size
        if n == 0:
            return
        if int(seq[0]) != self.next_seq:
            raise ImsError("DLB544E", f"log sequence {int(seq[0])} does not follow {self.next_seq - 1}.")
        wanted = ([dbd] if dbd else []), ([ddn] if isinstance(ddn, str) else list(ddn_names or []))
        if any(x not in self._dbd_names for x in wanted[0]) or any(x not in self._ddn_names for x in wanted[1]):
            self._switch(self.last_time)  # a database defined since this log data set began
        dcode = self._codes(self._dbd_names, dbd) if dbd is not None else 0
        if ddn is None:
            ddn_idx = np.zeros(n, np.int16)
            ddn_valid = np.zeros(n, bool)
        elif isinstance(ddn, str):
            ddn_idx = np.full(n, self._codes(self._ddn_names, ddn), np.int16)
            ddn_valid = None
        else:
            assert ddn_names is not None
            m = np.array([self._codes(self._ddn_names, x) for x in ddn_names], dtype=np.int16)
            ddn_idx = m[np.asarray(ddn)]
            ddn_valid = None
        types = np.broadcast_to(np.asarray(type_, dtype=np.uint8), (n,))
        blk = np.full(n, -1, np.int64) if block is None else np.asarray(block, np.int64)
        off = np.zeros(n, np.int32) if offset is None else np.asarray(offset, np.int32)
        ddn_arr = pa.DictionaryArray.from_arrays(
            pa.array(ddn_idx, mask=None if ddn_valid is None else ~ddn_valid), self._dict_ddn)
        batch = pa.record_batch([
            pa.array(seq.astype(np.uint64)), pa.array(np.asarray(time, np.float64)), pa.array(types),
            pa.DictionaryArray.from_arrays(pa.array(np.full(n, dcode, np.int16), mask=None if dbd else np.ones(n, bool)),
                                           self._dict_dbd),
            ddn_arr, pa.array(blk), pa.array(off), _binary(before, n), _binary(after, n),
        ], schema=SCHEMA)
        self._writer.write_batch(batch)
        self.next_seq = int(seq[-1]) + 1
        self.last_time = max(self.last_time, float(np.max(time)))
        self.records_written += n
        size = self._sink.tell()
        self.bytes_written += batch.nbytes
        if size >= self.limit:
            self._switch(self.last_time)

    def event(self, type_: int, time: float, dbd: str | None, ddn: str | None = None) -> int:
        """Log one checkpoint / open / close record; returns its sequence number."""
        seq = self.reserve(1)
        self.write(seq, np.array([time]), type_, dbd, ddn)
        return int(seq[0])


class LogReader:
    """Reads the log data sets of a site (all of them, in sequence order)."""

    def __init__(self, site_path: str | os.PathLike, recon: Recon | None = None) -> None:
        self.dir = log_dir(site_path)
        self.recon = recon
        self.notes: list[str] = []

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if _NAME.match(p.name))

    def read_file(self, path: Path) -> pa.Table:
        """All complete batches of one log data set; a torn last batch is noted."""
        batches = []
        try:
            f = pa.OSFile(str(path), "rb")
        except OSError as e:
            raise ImsError("DLB545E", f"log data set {path} cannot be read: {e}.") from None
        with f:
            try:
                reader = pa.ipc.open_stream(f)
            except (pa.ArrowInvalid, OSError):
                self.notes.append(f"{path.name}: no complete schema (torn at creation); ignored")
                return SCHEMA.empty_table()
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError, pa.ArrowException):
                    self.notes.append(f"{path.name}: torn batch after {sum(b.num_rows for b in batches)} "
                                      "records ignored")
                    break
        if not batches:
            return SCHEMA.empty_table()
        return pa.Table.from_batches(batches, schema=SCHEMA)

    def read(self, since_seq: int | None = None, until_seq: int | None = None,
             since_time: float | None = None, until_time: float | None = None,
             dbd: str | None = None, ddn: str | None = None,
             types: tuple[int, ...] | None = None) -> pa.Table:
        """Records selected by sequence range (inclusive), time range (``since_time <
        time <= until_time``), database, DDN and types; sequence order."""
        tables = []
        ranges = {}
        if self.recon is not None:
            ranges = {lg["path"]: (lg["first_seq"], lg["last_seq"]) for lg in self.recon.logs()}
        for p in self.files():
            lo, hi = ranges.get(str(p), (None, None))
            if hi is not None and since_seq is not None and hi < since_seq:
                continue  # a closed log data set wholly before the range
            if lo is not None and until_seq is not None and lo > until_seq:
                continue
            t = self.read_file(p)
            if t.num_rows == 0:
                continue
            seq = t["seq"]
            if since_seq is not None and pc.max(seq).as_py() < since_seq:
                continue
            if until_seq is not None and pc.min(seq).as_py() > until_seq:
                continue
            mask = None

            def both(m):
                nonlocal mask
                mask = m if mask is None else pc.and_(mask, m)

            if since_seq is not None:
                both(pc.greater_equal(seq, pa.scalar(since_seq, pa.uint64())))
            if until_seq is not None:
                both(pc.less_equal(seq, pa.scalar(until_seq, pa.uint64())))
            if since_time is not None:
                both(pc.greater(t["time"], since_time))
            if until_time is not None:
                both(pc.less_equal(t["time"], until_time))
            if types is not None:
                both(pc.is_in(t["type"], pa.array(types, pa.uint8())))
            if dbd is not None:
                both(pc.equal(pc.cast(t["dbd"], pa.string()), dbd.upper()))
            if ddn is not None:
                both(pc.equal(pc.cast(t["ddn"], pa.string()), ddn.upper()))
            tables.append(t if mask is None else t.filter(mask))
        if not tables:
            return SCHEMA.empty_table()
        return pa.concat_tables(tables, promote_options="default").combine_chunks()

    def changes(self, **select) -> ChangeSet:
        """Change records (type X'50') as a :class:`ChangeSet` of numpy arrays."""
        t = self.read(types=(CHANGE,), **select)
        return changeset(t)

    def last_seq(self) -> int:
        hi = 0
        for p in self.files():
            t = self.read_file(p)
            if t.num_rows:
                hi = max(hi, int(pc.max(t["seq"]).as_py()))
        return hi


def _dict_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes into one list of names for a (possibly multi-chunk) dictionary column."""
    names: list[str] = []
    parts = []
    for ch in col.chunks:
        d = ch.dictionary.to_pylist()
        remap = np.array([names.index(x) if x in names else (names.append(x) or len(names) - 1) for x in d]
                         + [-1], dtype=np.int16)
        idx = ch.indices.to_numpy(zero_copy_only=False)
        idx = np.where(np.isnan(idx) if idx.dtype.kind == "f" else False, -1, idx).astype(np.int64)
        parts.append(remap[idx])
    codes = np.concatenate(parts) if parts else np.empty(0, np.int16)
    return codes, names


def _flat_binary(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, start, length) of a binary column, without a Python object per value."""
    arr = pc.cast(col, pa.large_binary()).combine_chunks() if col.num_chunks != 1 else pc.cast(col.chunk(0), pa.large_binary())
    if len(arr) == 0:
        return np.empty(0, np.uint8), np.empty(0, np.int64), np.empty(0, np.int64)
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    return data, offs[:-1].copy(), np.diff(offs)


def changeset(t: pa.Table) -> ChangeSet:
    n = t.num_rows
    if n == 0:
        e = np.empty(0, np.int64)
        return ChangeSet(e, np.empty(0), e, e, e, e, e, e, np.empty(0, np.uint8), np.empty(0, np.uint8))
    dbd_code, dbd_names = _dict_codes(t["dbd"])
    ddn_code, ddn_names = _dict_codes(t["ddn"])
    bdata, bstart, blen = _flat_binary(t["before"])
    adata, astart, alen = _flat_binary(t["after"])
    if not (np.array_equal(bstart, astart) and np.array_equal(blen, alen)):
        raise ImsError("DLB546E", "log change records whose before and after images differ in length.")
    return ChangeSet(
        t["seq"].to_numpy().astype(np.int64), t["time"].to_numpy(), dbd_code, ddn_code,
        t["block"].to_numpy(), t["offset"].to_numpy().astype(np.int64), alen, astart, bdata, adata,
        dbd_names, ddn_names)
