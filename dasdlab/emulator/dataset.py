"""Data sets on a volume: sequential records and fixed blocks by relative block number.

A data set is the list of tracks its extents give, in order.  Blocks are CKD records
R1, R2, ... on each track; a relative track address TTR counts tracks across extents
(``docs/ckd-format.md`` §2.4).  DS1LSTAR holds the TTR of the last used block *including* the
EOF record, and DS1TRBAL the bytes left on that track by the 3390 capacity formula.

Sequential reading follows Hercules ``dasdseq``: from TT=0 R=1, record by record, to
the next track when a track ends, stopping at the EOF record or past DS1LSTAR.  It
writes every block in LRECL pieces, so its output for a fixed-length data set is the
concatenation of the block data.

Record formats on read (``records``): F/FB blocks are cut in LRECL pieces, as dasdseq
does; V/VB blocks start with a block descriptor word (BDW: length of the block, 2 bytes,
or 4 with the high bit set for a large block) and hold records that each start with a
record descriptor word (RDW: length including the RDW, 2 bytes, then a segment code
and a zero byte).  In a spanned data set (VBS) a record may be split into segments:
code 0 a whole record, 1 the first, 3 a middle and 2 the last segment (written as QSAM
writes them: :func:`spanned_blocks`).  A U block is one record; with keys, blocks can
also be read key and data together (:meth:`Dataset.read_keyed_to`).  Only DSORG=PS data sets are read sequentially (dasdseq's rule); a PDS is read
member by member (:mod:`dasdlab.emulator.pds`).

The *record file* is how records of varying length leave and enter dasdlab (``dataset
read`` and ``dataset write`` of V, VB, VBS and U data sets): every record as an RDW
(2-byte big-endian length including the 4 RDW bytes, then two zero bytes) followed by
its data -- the form z/OS FTP writes in RDW mode.  F and FB data sets use plain
concatenated records, byte-identical to dasdseq.  With ``ascii`` every record is one
line instead: EBCDIC code page 037 decoded, trailing blanks removed and cut at the first
X'00' (as ``dasdseq -ascii`` prints it), written as UTF-8; on write every line is one
record, encoded in code page 037 (F records padded with blanks to LRECL).

Fixed-block data sets (IMS OSAM blocks and VSAM ESDS control intervals) are formatted
completely at load time, every track holding ``blocks_per_track`` equal records; block
``b`` then lives on relative track ``b // bpt`` as record ``b % bpt + 1`` and can be
found without reading the track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import COUNT_LEN
from dasdlab.emulator.vtoc import DatasetEntry, check_dsn
from dasdlab.errors import DatasetError

#: The code page of ``ascii`` reads and writes.
CODEPAGE = "cp037"
RDW_LEN = 4
DSORG_PS = 0x4000
DSORG_PO = 0x0200


def record_kind(recfm: int) -> str:
    """'F', 'V' or 'U' from DS1RECFM's two high bits (0 counts as U, as dasdls shows it)."""
    return {0x80: "F", 0x40: "V"}.get(recfm & 0xC0, "U")


def ascii_line(record: bytes) -> bytes:
    """One record as ``dasdseq -ascii`` prints it: code page 037, trailing blanks
    removed, cut at the first X'00', then a newline (UTF-8)."""
    text = record.decode(CODEPAGE).rstrip(" ").split("\x00", 1)[0]
    return (text + "\n").encode("utf-8")


def rdw_record(record: bytes) -> bytes:
    """A record of a record file: its RDW, then its data."""
    return (len(record) + RDW_LEN).to_bytes(2, "big") + b"\x00\x00" + record


def parse_record_file(data: bytes) -> list[bytes]:
    """The records of a record file (RDW + data each); raises DLB255E on a bad RDW."""
    out = []
    pos, n = 0, len(data)
    while pos < n:
        if pos + RDW_LEN > n:
            raise DatasetError("DLB255E", f"the record file ends inside an RDW at byte {pos}.")
        ln = (data[pos] << 8) | data[pos + 1]
        if ln < RDW_LEN or data[pos + 2] or data[pos + 3] or pos + ln > n:
            raise DatasetError(
                "DLB255E",
                f"byte {pos} of the record file is not an RDW (length {ln}, bytes "
                f"{data[pos + 2]:02X}{data[pos + 3]:02X}): each record must start with its "
                "2-byte length including the RDW, then two zero bytes.",
            )
        out.append(bytes(data[pos + RDW_LEN : pos + ln]))
        pos += ln
    return out


def text_records(data: bytes) -> list[bytes]:
    """Lines of a UTF-8 text file as EBCDIC (code page 037) records."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError("DLB259E", f"the input is not UTF-8 text (byte {e.start}).") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for i, line in enumerate(lines):
        line = line.removesuffix("\r")
        try:
            out.append(line.encode(CODEPAGE))
        except UnicodeEncodeError as e:
            raise DatasetError(
                "DLB259E",
                f"line {i + 1} holds {line[e.start]!r}, which code page 037 cannot encode.",
            ) from None
    return out


@dataclass(frozen=True, slots=True)
class WriteResult:
    records: int
    blocks: int
    tracks_used: int
    extents_added: int
    lstar: tuple[int, int]
    #: (TT, R) of the first block written (of the EOF record when there was none).
    first: tuple[int, int] = (0, 1)


def deblock(blocks: Iterable[bytes], recfm: int, lrecl: int, blksize: int, where: str) -> Iterator[bytes]:
    """The logical records of a stream of blocks, by RECFM (see the module docstring)."""
    kind = record_kind(recfm)
    if kind == "F":
        size = lrecl or blksize
        for b in blocks:
            if len(b) % size:  # dasdseq writes whole LRECL pieces
                b = b + bytes(size - len(b) % size)
            for off in range(0, len(b), size):
                yield b[off : off + size]
    elif kind == "U":
        yield from blocks
    else:
        yield from _variable_records(blocks, bool(recfm & 0x08), where)


def _variable_records(blocks: Iterable[bytes], spanned: bool, name: str) -> Iterator[bytes]:
    pending: bytearray | None = None
    for n, b in enumerate(blocks):
        where = f"block {n + 1} of {name}"
        if len(b) < RDW_LEN:
            raise DatasetError("DLB257E", f"{where} is {len(b)} bytes, too short for a BDW.")
        bdw = (int.from_bytes(b[:4], "big") & 0x7FFFFFFF) if b[0] & 0x80 else (b[0] << 8) | b[1]
        if not RDW_LEN <= bdw <= len(b):
            raise DatasetError("DLB257E", f"{where}: its BDW says {bdw} bytes but the block is {len(b)}.")
        pos = RDW_LEN
        while pos < bdw:
            ln = (b[pos] << 8) | b[pos + 1] if pos + 2 <= bdw else 0
            if ln < RDW_LEN or pos + ln > bdw:
                raise DatasetError(
                    "DLB257E", f"{where}: the RDW at offset {pos} says {ln} bytes, outside the block's {bdw}.")
            seg = b[pos + 2] & 0x03
            data = b[pos + RDW_LEN : pos + ln]
            pos += ln
            if not spanned or seg == 0:
                if spanned and pending is not None:
                    raise DatasetError("DLB258E", f"{where}: a whole record follows an unfinished spanned record.")
                yield data
            elif seg == 1:
                if pending is not None:
                    raise DatasetError("DLB258E", f"{where}: a first segment follows an unfinished spanned record.")
                pending = bytearray(data)
            else:
                if pending is None:
                    raise DatasetError("DLB258E", f"{where}: a {'last' if seg == 2 else 'middle'} segment has no first segment.")
                pending += data
                if seg == 2:
                    yield bytes(pending)
                    pending = None
    if pending is not None:
        raise DatasetError("DLB258E", f"{name} ends inside a spanned record.")


#: LRECL=X: a spanned record of any length (DCB LRECL X'8000').
LRECL_X = 0x8000


def spanned_blocks(records: list[bytes], lrecl: int, blksize: int, blocked: bool, dsn: str) -> list[bytes]:
    """The blocks QSAM writes for ``records`` in a spanned (VS/VBS) data set: a record
    that does not fit in what is left of the block is cut into segments -- the first
    fills the block, middle ones fill whole blocks, the last starts a new one -- each
    with a segment descriptor word (length, then code 0 whole, 1 first, 3 middle, 2
    last); a segment is begun only when the block has room for its SDW and one byte
    (IBM *DFSMS Using Data Sets*, "Spanned variable-length records").  Unblocked (VS),
    every block holds one segment."""
    if blksize < RDW_LEN + RDW_LEN + 1:
        raise DatasetError("DLB256E", f"{dsn} has BLKSIZE {blksize}, too small for a spanned segment.")
    blocks: list[bytes] = []
    cur: list[bytes] = []
    size = RDW_LEN

    def flush() -> None:
        nonlocal cur, size
        if cur:
            blocks.append(size.to_bytes(2, "big") + b"\x00\x00" + b"".join(cur))
        cur, size = [], RDW_LEN

    for i, r in enumerate(records):
        if lrecl != LRECL_X and len(r) + RDW_LEN > lrecl:
            raise DatasetError("DLB256E", f"record {i + 1} is {len(r)} bytes, {len(r) + RDW_LEN} with its RDW; "
                                          f"{dsn} has LRECL {lrecl}.")
        pos, first = 0, True
        while True:
            room = blksize - size
            rest = len(r) - pos
            if rest + RDW_LEN <= room:
                code = 0 if first else 2
                take = rest
            elif room >= RDW_LEN + 1:
                code = 1 if first else 3
                take = room - RDW_LEN
            else:
                flush()
                continue
            cur.append((take + RDW_LEN).to_bytes(2, "big") + bytes((code, 0)) + r[pos : pos + take])
            size += take + RDW_LEN
            pos += take
            first = False
            if not blocked or code in (1, 3):
                flush()
            if code in (0, 2):
                break
    flush()
    return blocks


class Dataset:
    """One data set of one volume.

    ``vol`` is a :class:`~dasdlab.emulator.volume.Volume` (or a subsystem's view of one,
    whose writes pass through the copy-before-write intercepts).
    """

    def __init__(self, vol, dsn: str) -> None:
        self.vol = vol
        self.entry: DatasetEntry = vol.vtoc.get(check_dsn(dsn))
        self._refresh_tracks()

    def _refresh_tracks(self) -> None:
        runs = self.entry.track_list(self.vol.heads)
        self.tracks = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs]) if runs else np.empty(0, np.int64)

    # ------------------------------------------------------------------ attributes
    @property
    def dsn(self) -> str:
        return self.entry.dsn

    @property
    def f1(self):
        return self.entry.f1

    @property
    def blksize(self) -> int:
        return self.entry.f1.blksize

    @property
    def lrecl(self) -> int:
        return self.entry.f1.lrecl

    @property
    def keylen(self) -> int:
        return self.entry.f1.keylen

    @property
    def blocks_per_track(self) -> int:
        return self.vol.geometry.records_per_track(self.keylen, self.blksize)

    @property
    def ntracks(self) -> int:
        return int(self.tracks.size)

    def capacity_blocks(self) -> int:
        return self.ntracks * self.blocks_per_track

    def absolute_track(self, tt: int) -> int:
        if not 0 <= tt < self.ntracks:
            raise DatasetError("DLB231E", f"relative track {tt} is outside {self.dsn} ({self.ntracks} tracks).")
        return int(self.tracks[tt])

    def ttr_to_cchhr(self, tt: int, r: int) -> tuple[int, int, int]:
        t = self.absolute_track(tt)
        return (*divmod(t, self.vol.heads), r)

    # ------------------------------------------------------------------ sequential write
    def _layout(self, nblocks: int, last_len: int, kept: list[int]) -> list[tuple[int, int, bool, int]]:
        """Per track, from the first one written: (first block, block count, EOF here,
        bytes used).  ``kept`` lists data lengths of records already on the first track
        (an append keeps them).  The EOF goes where it fits, else on a track of its own."""
        geo = self.vol.geometry
        tl = geo.track_length
        rb = geo.record_bytes(0, self.blksize)
        rb_last = geo.record_bytes(0, last_len) if nblocks else rb
        eof_bytes = geo.record_bytes(0, 0)
        bpt = self.blocks_per_track
        out: list[tuple[int, int, bool, int]] = []
        b = 0
        used = sum(geo.record_bytes(0, n) for n in kept)
        while True:
            start = b
            if used == 0 and nblocks - b > bpt:
                b += bpt  # a full track of equal blocks
                used = bpt * rb
            else:
                while b < nblocks:
                    size = rb_last if b == nblocks - 1 else rb
                    if used + size > tl:
                        break
                    used += size
                    b += 1
            eof = b == nblocks and used + eof_bytes <= tl
            out.append((start, b - start, eof, used + (eof_bytes if eof else 0)))
            if eof:
                return out
            if b == nblocks:
                out.append((b, 0, True, eof_bytes))
                return out
            used = 0

    def write(self, data: bytes | bytearray | memoryview | np.ndarray, append: bool = False,
              ascii: bool = False) -> WriteResult:
        """Write records, then an EOF record; grow into secondary extents as needed.

        F/FB: ``data`` is concatenated LRECL-byte records, written as blocks of BLKSIZE
        (the last one may be short).  V/VB/U: ``data`` is a record file (see the module
        docstring).  With ``ascii``, ``data`` is UTF-8 text, one record per line.

        Everything is checked before the first byte is written, so a write that cannot
        succeed leaves the volume unchanged.
        """
        f1 = self.entry.f1
        if f1.dsorg & DSORG_PO:
            raise DatasetError(
                "DLB254E",
                f"{self.dsn} is a partitioned data set (PDS); writing it sequentially would "
                "destroy its directory.  Write members with 'dasdlab pds write'.",
            )
        kind = record_kind(f1.recfm)
        if kind != "F":
            raw = bytes(data) if not isinstance(data, np.ndarray) else data.tobytes()
            records = text_records(raw) if ascii else parse_record_file(raw)
            return self.write_records(records, append=append)
        if ascii:
            recs = text_records(bytes(data))
            for i, r in enumerate(recs):
                if len(r) > self.lrecl:
                    raise DatasetError(
                        "DLB256E", f"line {i + 1} is {len(r)} characters, longer than LRECL {self.lrecl} of {self.dsn}.")
            data = b"".join(r.ljust(self.lrecl, b"\x40") for r in recs)
        buf = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
        lrecl, blksize = self.lrecl, self.blksize
        if buf.size % lrecl:
            raise DatasetError(
                "DLB230E",
                f"the input is {buf.size} bytes, not a whole number of {lrecl}-byte records for {self.dsn}.",
            )
        if self.keylen:
            raise DatasetError("DLB232E", f"{self.dsn} has keys (KL={self.keylen}); sequential writes need KL=0.")
        start_tt, start_r, prefix = 0, 1, np.empty(0, np.uint8)
        if append:
            start_tt, start_r, prefix = self._append_point()
        payload = np.concatenate((prefix, buf)) if prefix.size else buf
        nblocks = -(-payload.size // blksize)
        last_len = payload.size - (nblocks - 1) * blksize if nblocks else 0
        kept = self._kept_records(start_tt, start_r)
        layout = self._layout(nblocks, last_len, [len(k) for k in kept])
        tracks_needed = start_tt + len(layout)
        vt = self.vol.vtoc
        grow = vt.plan_growth(self.dsn, tracks_needed - self.ntracks)
        for _ in range(grow):
            vt.extend(self.dsn)
        self.entry = vt.get(self.dsn)
        self._refresh_tracks()
        tt_eof, r_eof, used_last = self._write_layout(payload, layout, start_tt, kept)
        vt.update_end(self.dsn, (tt_eof, r_eof), self.vol.geometry.track_balance(used_last))
        self.entry = vt.get(self.dsn)
        return WriteResult(buf.size // lrecl, nblocks, tt_eof + 1, grow, (tt_eof, r_eof))

    def ensure_tracks(self, ntracks: int) -> None:
        """Grow into secondary extents until the data set has at least ``ntracks``
        tracks (for a writer that builds its tracks itself); raises, changing nothing,
        when it cannot grow that far."""
        vt = self.vol.vtoc
        grow = vt.plan_growth(self.dsn, ntracks - self.ntracks)
        if not grow:
            return
        for _ in range(grow):
            vt.extend(self.dsn)
        self.entry = vt.get(self.dsn)
        self._refresh_tracks()

    def _append_point(self) -> tuple[int, int, np.ndarray]:
        """Where DISP=MOD continues: the track of the EOF, and a short last block to refill."""
        tt, r = self.entry.f1.lstar
        if (tt, r) == (0, 0):
            return 0, 1, np.empty(0, np.uint8)
        t = self.absolute_track(tt)
        recs = [x for x in self.vol.records(t) if x.r < r]
        img = self.vol.read_track(t)
        if recs and recs[-1].datalen < self.blksize:
            last = recs[-1]
            return tt, last.r, np.array(img[last.data_offset : last.end])
        return tt, r, np.empty(0, np.uint8)

    def _kept_records(self, tt: int, r: int) -> list[bytes]:
        """Data of the records before R on relative track ``tt`` (kept by an append)."""
        if r <= 1:
            return []
        t = self.absolute_track(tt)
        img = self.vol.read_track(t)
        return [bytes(img[x.data_offset : x.end]) for x in self.vol.records(t) if x.r < r]

    def _write_layout(self, payload: np.ndarray, layout, tt: int, kept: list[bytes]) -> tuple[int, int, int]:
        """Write the tracks of :meth:`_layout`; returns (TT, R, bytes used) of the EOF."""
        blksize = self.blksize
        slot = self.vol.slot
        run = _TrackRun(self.vol)  # consecutive full tracks go out in one write
        for i, (first, count, eof, used) in enumerate(layout):
            t = int(self.tracks[tt + i])
            cyl, head = divmod(t, self.vol.heads)
            chunk = payload[first * blksize : (first + count) * blksize]
            lead = kept if i == 0 else []
            if not lead and chunk.size == count * blksize:
                trackfmt.fixed_track(cyl, head, 0, blksize, count, chunk, slot, eof=eof, out=run.slot_for(t))
            else:
                run.flush()
                recs = [(r + 1, b"", d) for r, d in enumerate(lead)]
                for j in range(count):
                    recs.append((len(recs) + 1, b"", chunk[j * blksize : (j + 1) * blksize].tobytes()))
                if eof:
                    recs.append((len(recs) + 1, b"", b""))
                self.vol.format_track(t, recs)
            if eof:
                run.flush()
                return tt + i, len(lead) + count + 1, used
        raise AssertionError("layout without an EOF record")  # pragma: no cover

    def write_records(self, records: Iterable[bytes], append: bool = False) -> WriteResult:
        """Write V, VB or U records (data only, without RDWs), blocked as the data set's
        RECFM and BLKSIZE say, then an EOF record."""
        records = [bytes(r) for r in records]
        return self._write_blocks(self.blocks_for(records), len(records), append)

    def blocks_for(self, records: list[bytes]) -> list[bytes]:
        """The blocks that hold ``records`` (data only) under this data set's RECFM,
        LRECL and BLKSIZE; raises DLB256E for a record that does not fit."""
        f1 = self.entry.f1
        kind = record_kind(f1.recfm)
        if self.keylen:
            raise DatasetError("DLB232E", f"{self.dsn} has keys (KL={self.keylen}); sequential writes need KL=0.")
        blksize, lrecl = self.blksize, self.lrecl
        blocks: list[bytes] = []
        if kind == "F":
            for i, r in enumerate(records):
                if len(r) != lrecl:
                    raise DatasetError("DLB256E", f"record {i + 1} is {len(r)} bytes; {self.dsn} has LRECL={lrecl}.")
            per = max(blksize // lrecl, 1) if f1.recfm & 0x10 else 1
            return [b"".join(records[i : i + per]) for i in range(0, len(records), per)]
        if kind == "U":
            for i, r in enumerate(records):
                if not 0 < len(r) <= blksize:
                    raise DatasetError(
                        "DLB256E",
                        f"record {i + 1} is {len(r)} bytes; a RECFM=U block of {self.dsn} holds "
                        f"1 to {blksize} (BLKSIZE) bytes.",
                    )
            blocks = records
        elif kind == "V" and f1.recfm & 0x08:
            return spanned_blocks(records, lrecl, blksize, bool(f1.recfm & 0x10), self.dsn)
        elif kind == "V":
            limit = min(lrecl or blksize - RDW_LEN, blksize - RDW_LEN)
            cur: list[bytes] = []
            size = RDW_LEN
            for i, r in enumerate(records):
                rec = rdw_record(r)
                if len(rec) > limit:
                    raise DatasetError(
                        "DLB256E",
                        f"record {i + 1} is {len(r)} bytes, {len(rec)} with its RDW; {self.dsn} "
                        f"holds records of at most {limit} bytes with the RDW (LRECL {lrecl}, BLKSIZE {blksize} "
                        "less the BDW).",
                    )
                if cur and (not f1.recfm & 0x10 or size + len(rec) > blksize):
                    blocks.append(size.to_bytes(2, "big") + b"\x00\x00" + b"".join(cur))
                    cur, size = [], RDW_LEN
                cur.append(rec)
                size += len(rec)
            if cur:
                blocks.append(size.to_bytes(2, "big") + b"\x00\x00" + b"".join(cur))
        return blocks

    def _write_blocks(self, blocks: list[bytes], nrecords: int, append: bool = False,
                      start: tuple[int, int] | None = None) -> WriteResult:
        """Write blocks of any lengths, then an EOF record: from the start, over the EOF
        record (``append``), or from (TT, R) ``start`` keeping the records before it."""
        geo = self.vol.geometry
        tl = geo.track_length
        start_tt, start_r, kept = 0, 1, []
        if start is not None:
            start_tt, start_r = start
        elif append and self.entry.f1.lstar != (0, 0):
            start_tt, start_r = self.entry.f1.lstar
        if start_r > 1:
            t0 = self.absolute_track(start_tt)
            img0 = self.vol.read_track(t0)
            kept = [(bytes(img0[x.key_offset : x.data_offset]), bytes(img0[x.data_offset : x.end]))
                    for x in self.vol.records(t0) if x.r < start_r]
        used = sum(geo.record_bytes(len(k), len(d)) for k, d in kept)
        per_track: list[list[int]] = []
        cur: list[int] = []
        for i, b in enumerate(blocks):
            need = geo.record_bytes(0, len(b))
            if used + need > tl:
                per_track.append(cur)
                cur, used = [], 0
            cur.append(i)
            used += need
        eof_bytes = geo.record_bytes(0, 0)
        if used + eof_bytes > tl:
            per_track.append(cur)
            cur, used = [], 0
        per_track.append(cur)
        used += eof_bytes
        vt = self.vol.vtoc
        grow = vt.plan_growth(self.dsn, start_tt + len(per_track) - self.ntracks)
        for _ in range(grow):
            vt.extend(self.dsn)
        self.entry = vt.get(self.dsn)
        self._refresh_tracks()
        r_eof = 1
        for i, idx in enumerate(per_track):
            t = int(self.tracks[start_tt + i])
            lead = kept if i == 0 else []
            recs = [(r + 1, k, d) for r, (k, d) in enumerate(lead)]
            recs += [(len(recs) + j + 1, b"", blocks[k]) for j, k in enumerate(idx)]
            if i == len(per_track) - 1:
                r_eof = len(recs) + 1
                recs.append((r_eof, b"", b""))
            self.vol.format_track(t, recs)
        tt_eof = start_tt + len(per_track) - 1
        vt.update_end(self.dsn, (tt_eof, r_eof), geo.track_balance(used))
        self.entry = vt.get(self.dsn)
        first = next(((start_tt + i, (len(kept) if i == 0 else 0) + 1) for i, idx in enumerate(per_track) if idx),
                     (tt_eof, r_eof))
        return WriteResult(nrecords, len(blocks), tt_eof + 1, grow, (tt_eof, r_eof), first)

    # ------------------------------------------------------------------ sequential read
    def _records(self) -> Iterator[tuple[np.ndarray, object]]:
        """(track image, record) of every block in data set order, with dasdseq's end
        rules (EOF record, DS1LSTAR, end of the extents)."""
        lstar = self.entry.f1.lstar
        lstar_valid = lstar != (0, 0)
        for tt in range(self.ntracks):
            t = int(self.tracks[tt])
            if not self.vol.is_written(t):
                return
            img = self.vol.read_track(t)
            for rec in trackfmt.parse_track(img, where=f"{self.dsn} TT={tt}"):
                if lstar_valid and tt == lstar[0] and rec.r > lstar[1]:
                    return
                if rec.datalen == 0:
                    return
                yield img, rec
            if lstar_valid and tt >= lstar[0]:
                return

    def blocks(self) -> Iterator[np.ndarray]:
        """Block data in data set order, with dasdseq's end rules (:meth:`_records`)."""
        for img, rec in self._records():
            yield img[rec.data_offset : rec.end]

    def keyed_blocks(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, data) of every block, with :meth:`blocks`' end rules."""
        for img, rec in self._records():
            yield bytes(img[rec.key_offset : rec.data_offset]), bytes(img[rec.data_offset : rec.end])

    def check_keyed(self) -> None:
        """Raise unless :meth:`read_keyed_to` can read this data set."""
        self.check_sequential()
        if record_kind(self.entry.f1.recfm) == "V":
            raise DatasetError("DLB838E", f"{self.dsn} is RECFM={self.entry.f1.recfm_name}: its records share "
                                          "their block's key, so --keys applies to F, FB and U only.")

    def read_keyed_to(self, out: BinaryIO) -> int:
        """Write every block with its key: F and FB as key then data, block after block
        (the input form of dasdload's SEQ method for a keyed data set), U as a record file
        of key+data records.  V records share a block's key, so they are refused."""
        self.check_keyed()
        kind = record_kind(self.entry.f1.recfm)
        n = 0
        for key, data in self.keyed_blocks():
            piece = key + data if kind == "F" else rdw_record(key + data)
            out.write(piece)
            n += len(piece)
        return n

    def check_sequential(self) -> None:
        """Raise unless the data set can be read sequentially (DSORG=PS, as dasdseq)."""
        d = self.entry.f1.dsorg
        if d & DSORG_PS:
            return
        if d & DSORG_PO:
            raise DatasetError(
                "DLB253E",
                f"{self.dsn} is a partitioned data set (PDS); list and read its members with "
                "'dasdlab pds list' and 'dasdlab pds read'.",
            )
        from dasdlab.emulator.listing import dasdls_dsorg

        name = dasdls_dsorg(d).strip() or f"X'{d:04X}'"
        raise DatasetError(
            "DLB252E",
            f"{self.dsn} is DSORG={name}, which cannot be read sequentially; only DSORG=PS "
            "data sets can (as with dasdseq).",
        )

    def records(self) -> Iterator[bytes]:
        """The logical records in order, deblocked by RECFM (see the module docstring)."""
        self.check_sequential()
        f1 = self.entry.f1
        return deblock((b.tobytes() for b in self.blocks()), f1.recfm, self.lrecl, self.blksize, self.dsn)

    def read(self) -> bytes:
        """All records as :meth:`read_to` writes them (for F/FB, what ``dasdseq`` writes)."""
        return b"".join(self._pieces(False))

    def _pieces(self, ascii: bool) -> Iterator[bytes]:
        fixed = record_kind(self.entry.f1.recfm) == "F"
        for rec in self.records():
            yield ascii_line(rec) if ascii else rec if fixed else rdw_record(rec)

    def read_to(self, out: BinaryIO, ascii: bool = False) -> int:
        """Write the records to ``out``: F/FB concatenated, V/VB/VBS/U as a record file,
        or one text line per record with ``ascii``.  Returns the bytes written."""
        n = 0
        for piece in self._pieces(ascii):
            out.write(piece)
            n += len(piece)
        return n

    # ------------------------------------------------------------------ fixed blocks
    def format_blocks(
        self,
        nblocks: int | None = None,
        fill: Callable[[int, int], np.ndarray] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Format the data set as ``nblocks`` equal blocks (default: all that fit).

        ``fill(first_block, count)`` returns ``count x blksize`` bytes for the blocks of
        one track; zeros when None.  Writes an EOF record after the last block and sets
        DS1LSTAR.  Returns the number of blocks.
        """
        bpt = self.blocks_per_track
        cap = self.capacity_blocks()
        nblocks = cap if nblocks is None else nblocks
        geo = self.vol.geometry
        if nblocks > cap:
            raise DatasetError("DLB233E", f"{self.dsn} holds {cap} blocks of {self.blksize}; {nblocks} do not fit.")
        eof_bytes = geo.record_bytes(0, 0)
        rb = geo.record_bytes(self.keylen, self.blksize)
        ntr = -(-nblocks // bpt) if nblocks else 0
        lstar = (0, 1)
        used_last = eof_bytes
        for tt in range(ntr):
            t = int(self.tracks[tt])
            cyl, head = divmod(t, self.vol.heads)
            first = tt * bpt
            n = min(bpt, nblocks - first)
            data = fill(first, n) if fill is not None else None
            last = tt == ntr - 1
            eof_here = last and n * rb + eof_bytes <= geo.track_length
            keys = None
            img = trackfmt.fixed_track(cyl, head, self.keylen, self.blksize, n, data, self.vol.slot,
                                       eof=eof_here, keys=keys)
            self.vol.write_track(t, img)
            if last:
                lstar, used_last = ((tt, n + 1), n * rb + eof_bytes) if eof_here else ((tt + 1, 1), eof_bytes)
            if progress is not None:
                progress(tt + 1, ntr)
        if nblocks == 0 or lstar[0] == ntr:
            if lstar[0] >= self.ntracks:
                raise DatasetError("DLB233E", f"no room for the EOF record after block {nblocks} of {self.dsn}.")
            t = int(self.tracks[lstar[0]])
            self.vol.format_track(t, [(1, b"", b"")])
        self.vol.vtoc.update_end(self.dsn, lstar, geo.track_balance(used_last))
        self.entry = self.vol.vtoc.get(self.dsn)
        self._nblocks = nblocks
        return nblocks

    def locate(self, rbn: int) -> tuple[int, int]:
        """(absolute track, data offset) of relative block ``rbn`` in a formatted data set."""
        bpt = self.blocks_per_track
        tt, i = divmod(rbn, bpt)
        if not 0 <= rbn < self.capacity_blocks():
            raise DatasetError("DLB234E", f"block {rbn} is outside {self.dsn} ({self.capacity_blocks()} blocks).")
        return int(self.tracks[tt]), trackfmt.fixed_data_offset(self.keylen, self.blksize, i)

    def locate_many(self, rbns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`locate`."""
        rbns = np.asarray(rbns, dtype=np.int64)
        bpt = self.blocks_per_track
        tt, i = np.divmod(rbns, bpt)
        offs = 21 + i * (COUNT_LEN + self.keylen + self.blksize) + COUNT_LEN + self.keylen
        return self.tracks[tt], offs

    def read_block(self, rbn: int) -> bytes:
        t, off = self.locate(rbn)
        return self.vol.read_track(t)[off : off + self.blksize].tobytes()

    def write_block(self, rbn: int, data: bytes | np.ndarray) -> None:
        if len(data) != self.blksize:
            raise DatasetError("DLB235E", f"a block of {self.dsn} is {self.blksize} bytes, got {len(data)}.")
        t, off = self.locate(rbn)
        self.vol.write_bytes(t, off, data)


class _TrackRun:
    """Track images built in place in one buffer and written as one run of consecutive
    tracks (:meth:`~dasdlab.emulator.volume.Volume.write_tracks`): a sequential write
    goes out in pieces of up to :data:`RUN_TRACKS` tracks instead of one call per track."""

    RUN_TRACKS = 150  # about 8 MiB of 3390 slots

    def __init__(self, vol) -> None:
        self.vol = vol
        self.buf: np.ndarray | None = None
        self.t0 = -1
        self.n = 0

    def slot_for(self, t: int) -> np.ndarray:
        if self.n and (t != self.t0 + self.n or self.n == self.RUN_TRACKS):
            self.flush()
        if self.buf is None:
            self.buf = np.empty((self.RUN_TRACKS, self.vol.slot), dtype=np.uint8)
        if not self.n:
            self.t0 = t
        self.n += 1
        return self.buf[self.n - 1]

    def flush(self) -> None:
        if self.n:
            self.vol.write_tracks(self.t0, self.buf[: self.n])
            self.n = 0
