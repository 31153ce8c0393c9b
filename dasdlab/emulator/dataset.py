"""Data sets on a volume: sequential records and fixed blocks by relative block number.

A data set is the list of tracks its extents give, in order.  Blocks are CKD records
R1, R2, ... on each track; a relative track address TTR counts tracks across extents
(``ckd-format.md`` §2.4).  DS1LSTAR holds the TTR of the last used block *including* the
EOF record, and DS1TRBAL the bytes left on that track by the 3390 capacity formula.

Sequential reading follows Hercules ``dasdseq``: from TT=0 R=1, record by record, to
the next track when a track ends, stopping at the EOF record or past DS1LSTAR.  It
writes every block in LRECL pieces, so its output for a fixed-length data set is the
concatenation of the block data.

Fixed-block data sets (IMS OSAM blocks and VSAM ESDS control intervals) are formatted
completely at load time, every track holding ``blocks_per_track`` equal records; block
``b`` then lives on relative track ``b // bpt`` as record ``b % bpt + 1`` and can be
found without reading the track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import COUNT_LEN
from dasdlab.emulator.vtoc import DatasetEntry, check_dsn
from dasdlab.errors import DatasetError


@dataclass(frozen=True, slots=True)
class WriteResult:
    records: int
    blocks: int
    tracks_used: int
    extents_added: int
    lstar: tuple[int, int]


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

    def write(self, data: bytes | bytearray | memoryview | np.ndarray, append: bool = False) -> WriteResult:
        """Write fixed-length records as blocks of BLKSIZE (the last one may be short),
        then an EOF record; grow into secondary extents as needed.

        Everything is checked before the first byte is written, so a write that cannot
        succeed leaves the volume unchanged.
        """
        buf = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
        lrecl, blksize = self.lrecl, self.blksize
        f1 = self.entry.f1
        if f1.recfm & 0x40 or (f1.recfm & 0xC0) == 0xC0:
            raise DatasetError("DLB232E", f"{self.dsn} is RECFM={f1.recfm_name}; dasdlab writes fixed-length records only.")
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

    # ------------------------------------------------------------------ sequential read
    def blocks(self) -> Iterator[np.ndarray]:
        """Block data in data set order, with dasdseq's end rules (EOF record, DS1LSTAR,
        end of the extents)."""
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
                yield img[rec.data_offset : rec.end]
            if lstar_valid and tt >= lstar[0]:
                return

    def read(self) -> bytes:
        """All records, concatenated (what ``dasdseq`` writes for an F/FB data set)."""
        return b"".join(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        lrecl = self.lrecl or self.blksize
        for blk in self.blocks():
            n = len(blk)
            whole = -(-n // lrecl) * lrecl
            if whole == n:
                yield blk.tobytes()
            else:  # dasdseq writes whole LRECL pieces; never seen for blocks we write
                yield blk.tobytes() + bytes(whole - n)

    def read_to(self, out: BinaryIO) -> int:
        n = 0
        for piece in self._pieces():
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
