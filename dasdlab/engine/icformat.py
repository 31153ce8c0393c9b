"""Image copy data set formats: the IMS image copy format and the compressed format.

Facts: DFSUDMP0, DFSUICP0 and HP Image Copy's "IMS image copy" format are the same
(S12, S34); the copy starts with a 64-byte header and DFSUDMP0 pads short records to
the record length (S35); then, per the unverified practitioner description in
``docs/domain.md`` §1.6, one record per database block (OSAM) or control interval (ESDS) in
RBA order.  IBM does not publish the layout of the header or of the data records
(``docs/domain.md`` open question 2), so the fields below are dasdlab's own, documented here
field by field.  The compressed format is HP-IC specific (``COMP=Y``, S12) and also ours.

**Output data set.**  RECFM=FB, LRECL = block (or CI) size + 8, BLKSIZE a multiple of
LRECL that fits the track; written and read through :class:`~dasdlab.emulator.dataset.
Dataset`, so Hercules' ``dasdseq`` can unload it.

**Record 1: the header** (64 bytes, then zeros up to LRECL).  Character fields are
EBCDIC and blank-padded; numbers are big-endian.

======  ====  ==============================================================
offset  len   field
======  ====  ==============================================================
0       4     eye-catcher ``ICHD`` (EBCDIC)
4       1     format version (2; version 1 is still read, see offset 56)
5       1     format: ``S`` standard, ``C`` compressed
6       1     access method of the source: ``O`` OSAM, ``V`` VSAM ESDS
7       1     copy kind: ``B`` clean (batch), ``C`` concurrent (fuzzy)
8       8     DBD name
16      8     DDN
24      6     volume serial of the source data set
30      2     copy number: 1 (IC1) or 2 (IC2)
32      4     block / CI size
36      4     number of blocks / CIs
40      8     run time: modeled microseconds (signed) when the copy started
48      8     stop time: modeled microseconds at logical completion
56      4     CRC-32 of every record after this one, as written (version 1:
              of all block data in RBA order)
60      4     reserved, zero
======  ====  ==============================================================

**Standard format, records 2..n+1**: an 8-byte prefix — the RBA of the block (4 bytes,
block number x block size) and 4 reserved bytes — then the block.

**Compressed format, records 2..**: the byte stream of *frames*, cut into LRECL-sized
records (the last one padded with zeros).  A frame is: first block number (4), block
count (4), compressed length (4), then that many bytes of zlib data holding the blocks.
A frame with block count 0 ends the stream.

**Streaming.**  A copy is written by :class:`CopyWriter` and read by
:class:`CopyReader` piece by piece.  The writer of a standard-format copy builds the
records of each source track straight into output *track images* (one copy of the
bytes, :func:`dasdlab.engine.kernels.ic_track_records`; HA, R0, count fields and end of
track stamped around them by :func:`dasdlab.engine.kernels.track_frames`) and writes
runs of about :data:`PIECE_BYTES` of consecutive tracks in one write each; small and
compressed copies go through a buffer of records and ``Dataset.write``.  The header
record is patched with the CRC-32 once the last block is in.  The reader yields blocks
in RBA order in ranges of at most :data:`PIECE_BLOCKS` and checks the CRC-32 when the
last range has been read.  Neither ever holds the whole copy.  The CRC-32 is zlib's
(its C code runs at memory speed, faster than a table-driven or a Fletcher-style numba
loop fused with the copy, measured), over the records as written, so it is one call
per output block (version 1 summed the block data, one call per record).
:func:`encode` and :func:`decode` are the whole-array forms, kept for small copies and
as the twin the tests compare the streaming forms against.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from dasdlab.errors import DasdlabError

EYE = "ICHD".encode("cp037")
VERSION = 2
#: versions the reader takes: 1 had the CRC-32 over the block data alone
VERSIONS = (1, 2)
PREFIX = 8
HEADER_LEN = 64
FRAME = struct.Struct(">III")
_HDR = struct.Struct(">4sBccc8s8s6sHIIqqII")
FRAME_BLOCKS = 64  # blocks per compressed frame
#: a written piece: whole output blocks adding up to about this many bytes
PIECE_BYTES = 8 << 20
#: blocks per range handed out by :class:`CopyReader`
PIECE_BLOCKS = 2048


class ImageCopyFormatError(DasdlabError):
    """An image copy data set that is not in a format dasdlab wrote."""


@dataclass(frozen=True)
class IcHeader:
    dbd: str
    ddn: str
    volser: str
    access: str  # "O" or "V"
    kind: str  # "B" clean or "C" fuzzy
    compressed: bool
    copy_number: int
    block_size: int
    nblocks: int
    run_time: float  # modeled seconds
    stop_time: float
    crc32: int
    version: int = VERSION

    def pack(self) -> bytes:
        return _HDR.pack(
            EYE, self.version, b"C" if self.compressed else b"S", self.access.encode(), self.kind.encode(),
            self.dbd.ljust(8).encode("cp037"), self.ddn.ljust(8).encode("cp037"),
            self.volser.ljust(6).encode("cp037"), self.copy_number, self.block_size, self.nblocks,
            round(self.run_time * 1e6), round(self.stop_time * 1e6), self.crc32, 0,
        )

    @classmethod
    def unpack(cls, raw: bytes, where: str = "image copy") -> IcHeader:
        if len(raw) < HEADER_LEN or raw[:4] != EYE:
            raise ImageCopyFormatError("DLB640E", f"{where} does not start with an image copy header (ICHD).")
        (_, ver, fmt, acc, kind, dbd, ddn, vol, num, bs, n, run, stop, crc, _r) = _HDR.unpack_from(raw)
        if ver not in VERSIONS or fmt not in (b"S", b"C"):
            raise ImageCopyFormatError("DLB641E", f"{where}: image copy format version {ver}/{fmt!r} is not known.")
        return cls(dbd.decode("cp037").strip(), ddn.decode("cp037").strip(), vol.decode("cp037").strip(),
                   acc.decode(), kind.decode(), fmt == b"C", num, bs, n, run / 1e6, stop / 1e6, crc, ver)

    @property
    def lrecl(self) -> int:
        return self.block_size + PREFIX


def lrecl_for(block_size: int) -> int:
    return block_size + PREFIX


def encode(header: IcHeader, blocks: np.ndarray) -> np.ndarray:
    """The records of a copy (header first), as an (nrecords, lrecl) uint8 array.

    ``blocks`` is (nblocks, block_size) uint8 in RBA order; ``header.crc32`` and
    ``nblocks`` are filled in from it.
    """
    blocks = np.ascontiguousarray(blocks, dtype=np.uint8)
    n, bs = blocks.shape
    if bs != header.block_size:
        raise ValueError("block size does not match the header")
    hdr = IcHeader(**{**header.__dict__, "nblocks": n, "crc32": 0, "version": VERSION})
    lrecl = hdr.lrecl
    if not hdr.compressed:
        recs = np.zeros((n + 1, lrecl), dtype=np.uint8)  # one pass over the bytes, no concatenation
        body = recs[1:]
        rba = (np.arange(n, dtype=np.uint64) * np.uint64(bs)).astype(">u4")
        body[:, 0:4] = rba.view(np.uint8).reshape(n, 4)
        body[:, PREFIX:] = blocks
        return _with_header(recs, hdr)
    stream = bytearray()
    for first in range(0, n, FRAME_BLOCKS):
        chunk = blocks[first : first + FRAME_BLOCKS]
        data = zlib.compress(chunk.tobytes(), 1)
        stream += FRAME.pack(first, len(chunk), len(data)) + data
    stream += FRAME.pack(n, 0, 0)
    nrec = -(-len(stream) // lrecl)
    recs = np.zeros((nrec + 1, lrecl), dtype=np.uint8)
    recs[1:].reshape(-1)[: len(stream)] = np.frombuffer(bytes(stream), dtype=np.uint8)
    return _with_header(recs, hdr)


def _with_header(recs: np.ndarray, hdr: IcHeader) -> np.ndarray:
    """Record 1 of ``recs`` filled with ``hdr`` and the CRC-32 of every record after it."""
    crc = zlib.crc32(recs[1:])
    recs[0] = 0
    recs[0, :HEADER_LEN] = np.frombuffer(IcHeader(**{**hdr.__dict__, "crc32": crc}).pack(), dtype=np.uint8)
    return recs


def decode_whole(data: bytes | np.ndarray, where: str = "image copy") -> tuple[IcHeader, np.ndarray]:
    """(header, blocks) from the records of a copy in one array; checks structure and CRC
    (the numpy twin of :class:`CopyReader`)."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    hdr = IcHeader.unpack(raw[:HEADER_LEN].tobytes(), where)
    lrecl, bs, n = hdr.lrecl, hdr.block_size, hdr.nblocks
    if raw.size % lrecl:
        raise ImageCopyFormatError("DLB642E", f"{where} is {raw.size} bytes, not whole {lrecl}-byte records.")
    recs = raw.reshape(-1, lrecl)[1:]
    if not hdr.compressed:
        if recs.shape[0] != n:
            raise ImageCopyFormatError("DLB642E", f"{where} holds {recs.shape[0]} block records; the header says {n}.")
        rba = recs[:, 0:4].copy().view(">u4").reshape(-1)
        if n and not np.array_equal(rba.astype(np.int64), np.arange(n, dtype=np.int64) * bs):
            raise ImageCopyFormatError("DLB643E", f"{where}: block records are not in RBA order.")
        blocks = recs[:, PREFIX:]
    else:
        stream = recs.reshape(-1).tobytes()
        blocks = np.empty((n, bs), dtype=np.uint8)
        pos = 0
        seen = 0
        while True:
            if pos + FRAME.size > len(stream):
                raise ImageCopyFormatError("DLB644E", f"{where}: the compressed stream ends without its end frame.")
            first, count, clen = FRAME.unpack_from(stream, pos)
            pos += FRAME.size
            if count == 0:
                break
            if first != seen or first + count > n:
                raise ImageCopyFormatError("DLB644E", f"{where}: compressed frame for blocks {first}.. out of order.")
            try:
                chunk = zlib.decompress(stream[pos : pos + clen])
            except zlib.error as e:
                raise ImageCopyFormatError("DLB644E", f"{where}: compressed frame at block {first} is damaged ({e}).") from None
            blocks[first : first + count] = np.frombuffer(chunk, dtype=np.uint8).reshape(count, bs)
            seen += count
            pos += clen
        if seen != n:
            raise ImageCopyFormatError("DLB644E", f"{where}: {seen} blocks in the frames; the header says {n}.")
    crc = zlib.crc32(np.ascontiguousarray(blocks)) if hdr.version == 1 else zlib.crc32(raw[lrecl:])
    if crc != hdr.crc32:
        raise ImageCopyFormatError("DLB645E", f"{where}: the block data does not match the header's CRC-32.")
    return hdr, blocks


def decode(data: bytes | np.ndarray, where: str = "image copy") -> tuple[IcHeader, np.ndarray]:
    """(header, blocks) from the records of a copy held in memory (small copies)."""
    return decode_whole(data, where)


class CopyWriter:
    """Writes one image copy data set piece by piece (module docstring, *Streaming*).

    ``ds`` is the freshly allocated, empty output :class:`~dasdlab.emulator.dataset.
    Dataset` (RECFM=FB, LRECL = block size + 8); feed blocks in RBA order with
    :meth:`add_track` (straight from a source track image) or :meth:`add_blocks`, then
    :meth:`close`.  ``nblocks`` is the count the header announces.

    A standard-format copy of at least two output tracks is built straight into output
    track images (:class:`_OutputTracks`); smaller ones, and compressed copies, go
    through records in a piece buffer and :meth:`Dataset.write
    <dasdlab.emulator.dataset.Dataset.write>`."""

    def __init__(self, ds, header: IcHeader, nblocks: int, kernels=None) -> None:
        if kernels is None:
            from dasdlab.engine import kernels
        self.k = kernels
        self.ds = ds
        self.hdr = IcHeader(**{**header.__dict__, "nblocks": int(nblocks), "crc32": 0, "version": VERSION})
        self.lrecl = lrecl = self.hdr.lrecl
        self.bs = self.hdr.block_size
        if ds.lrecl != lrecl or ds.blksize % lrecl:
            raise ValueError("output data set LRECL/BLKSIZE do not fit the copy's records")
        self.pieces = 0
        self.blocks = 0
        self.crc = 0
        self.bytes = 0
        head = np.zeros(lrecl, dtype=np.uint8)
        head[:HEADER_LEN] = np.frombuffer(self.hdr.pack(), dtype=np.uint8)
        self.tracks = None
        if not self.hdr.compressed and ds.keylen == 0 and ds.blocks_per_track > 0:
            rpt = ds.blksize // lrecl * ds.blocks_per_track
            if self.hdr.nblocks + 1 >= 2 * rpt:
                self.tracks = _OutputTracks(ds, lrecl, head, kernels)
                return
        per_piece = max(1, PIECE_BYTES // ds.blksize) * (ds.blksize // lrecl)
        self.buf = np.zeros((per_piece, lrecl), dtype=np.uint8)
        self.buf[0] = head
        self.fill = 1  # records in buf (the header first)
        self._stream = bytearray()  # compressed: bytes not yet cut into records
        self._stage = np.empty((FRAME_BLOCKS, self.bs), dtype=np.uint8) if self.hdr.compressed else None
        self._staged = 0
        self._stage_first = 0

    # ------------------------------------------------------------------ feeding
    def add_track(self, track: np.ndarray, first: int, step: int, count: int) -> None:
        """The ``count`` blocks of one fixed-block track image, the first one at byte
        ``first``, one every ``step`` bytes (the next blocks of the copy)."""
        if count <= 0:
            return
        if self.tracks is not None:
            self.tracks.add(track, first, step, count, self.blocks * self.bs, self.bs)
            self.blocks += count
            return
        if self.hdr.compressed:
            blocks = np.lib.stride_tricks.as_strided(track[first:], shape=(count, self.bs), strides=(step, 1),
                                                     writeable=False)
            self.add_blocks(blocks)
            return
        done = 0
        while done < count:
            k = min(count - done, self.buf.shape[0] - self.fill)
            self.k.ic_records(track, first + done * step, step, k, self.bs, (self.blocks + done) * self.bs,
                              self.buf, self.fill)
            self.fill += k
            done += k
            if self.fill == self.buf.shape[0]:
                self._flush()
        self.blocks += count

    def add_blocks(self, blocks: np.ndarray) -> None:
        """The next blocks of the copy, (n, block size) uint8 in RBA order."""
        blocks = np.asarray(blocks, dtype=np.uint8)
        n = blocks.shape[0]
        if n == 0:
            return
        if blocks.shape[1] != self.bs:
            raise ValueError("block size does not match the header")
        if not self.hdr.compressed:
            flat = np.ascontiguousarray(blocks).reshape(-1)
            self.add_track(flat, 0, self.bs, n)
            return
        done = 0
        while done < n:
            k = min(n - done, FRAME_BLOCKS - self._staged)
            self._stage[self._staged : self._staged + k] = blocks[done : done + k]
            self._staged += k
            done += k
            if self._staged == FRAME_BLOCKS:
                self._frame()
        self.blocks += n

    def _frame(self) -> None:
        if not self._staged:
            return
        chunk = self._stage[: self._staged]
        data = zlib.compress(chunk, 1)
        self._stream += FRAME.pack(self._stage_first, self._staged, len(data))
        self._stream += data
        self._stage_first += self._staged
        self._staged = 0
        self._cut_stream(final=False)

    def _cut_stream(self, final: bool) -> None:
        """Move whole records of the compressed stream into the piece buffer."""
        lrecl = self.lrecl
        while True:
            whole = len(self._stream) // lrecl
            if not whole and not (final and self._stream):
                return
            room = self.buf.shape[0] - self.fill
            k = min(whole, room) if whole else 1
            nbytes = min(k * lrecl, len(self._stream))
            rows = self.buf[self.fill : self.fill + k].reshape(-1)
            rows[:nbytes] = np.frombuffer(memoryview(self._stream)[:nbytes], dtype=np.uint8)
            rows[nbytes:] = 0
            del self._stream[:nbytes]
            self.fill += k
            if self.fill == self.buf.shape[0]:
                self._flush()

    # ------------------------------------------------------------------ writing
    def _flush(self) -> None:
        if not self.fill:
            return
        piece = self.buf[: self.fill]
        # the CRC covers every record after the header (contiguous rows here)
        self.crc = zlib.crc32(piece[1:] if self.pieces == 0 else piece, self.crc)
        self.ds.write(piece, append=self.pieces > 0)
        self.bytes += piece.size
        self.pieces += 1
        self.fill = 0

    def close(self, **fields) -> IcHeader:
        """Write what is left and patch the header's CRC-32 (and any header ``fields``
        known only at the end, such as the stop time); returns the final header."""
        if self.blocks != self.hdr.nblocks:
            raise ValueError(f"the copy was announced with {self.hdr.nblocks} blocks, got {self.blocks}")
        if self.tracks is not None:
            self.crc, self.bytes, self.pieces = self.tracks.close()
        else:
            if self.hdr.compressed:
                self._frame()
                self._stream += FRAME.pack(self.hdr.nblocks, 0, 0)
                self._cut_stream(final=True)
            self._flush()
            self.buf = None
        self.hdr = IcHeader(**{**self.hdr.__dict__, **fields, "crc32": self.crc})
        t, off = self.ds.locate(0)  # the header is the start of the first block
        self.ds.vol.write_bytes(t, off, self.hdr.pack())
        return self.hdr


class _OutputTracks:
    """A standard-format copy built in place in output track images: the records go
    straight from the source tracks into a run of output track slots
    (:func:`~dasdlab.engine.kernels.ic_track_records`), the HA, R0, count fields and
    end of track are stamped from a template track
    (:func:`~dasdlab.engine.kernels.track_frames`, the layout
    :func:`~dasdlab.emulator.trackfmt.fixed_track` gives every full track of the data
    set), and every full track of the run goes out in one write of consecutive tracks
    (:meth:`Volume.write_tracks <dasdlab.emulator.volume.Volume.write_tracks>`).  The
    records of the last, partial track -- short last block and EOF -- are appended with
    :meth:`Dataset.write <dasdlab.emulator.dataset.Dataset.write>`, so the end of the
    data set is laid out by the same code as any other."""

    def __init__(self, ds, lrecl: int, head: np.ndarray, kernels) -> None:
        from dasdlab.emulator import trackfmt
        from dasdlab.emulator.geometry import COUNT_LEN, TRACK_HEADER_LEN

        self.k = kernels
        self.ds, self.vol, self.lrecl = ds, ds.vol, lrecl
        self.blksize = ds.blksize
        self.rpb = ds.blksize // lrecl
        self.bpt = ds.blocks_per_track
        self.rpt = self.rpb * self.bpt
        self.head_len, self.count_len = TRACK_HEADER_LEN, COUNT_LEN
        slot = self.vol.slot
        self.buf = np.zeros((max(2, PIECE_BYTES // slot), slot), dtype=np.uint8)
        self.template = trackfmt.fixed_track(0, 0, 0, self.blksize, self.bpt, None, slot)
        rec = COUNT_LEN + self.blksize
        counts = TRACK_HEADER_LEN + np.arange(self.bpt, dtype=np.int64) * rec
        end = TRACK_HEADER_LEN + self.bpt * rec
        self.frame_start = np.concatenate(([0], counts, [end]))
        self.frame_stop = np.concatenate(([TRACK_HEADER_LEN], counts + COUNT_LEN, [slot]))
        self.cchh_pos = np.concatenate(([1, 5], counts))
        self.data_pos = counts + COUNT_LEN  # where each output block's data starts
        self.fill = 1  # records in the run (the header first)
        off = self.data_pos[0]
        self.buf[0, off : off + lrecl] = head
        self.done = 0  # output tracks written
        self.crc = 0
        self.records = 1

    def add(self, track, first: int, step: int, count: int, rba0: int, block_size: int) -> None:
        track = np.ascontiguousarray(track, dtype=np.uint8)  # the kernel copies whole bytes
        cap = self.buf.shape[0] * self.rpt
        done = 0
        while done < count:
            k = min(count - done, cap - self.fill)
            self.k.ic_track_records(track, first + done * step, step, k, block_size, rba0 + done * block_size,
                                    self.buf, self.fill, self.rpb, self.bpt, self.blksize, self.head_len,
                                    self.count_len)
            self.fill += k
            done += k
            if self.fill == cap:
                self._flush_full()
        self.records += count

    def _flush_full(self) -> None:
        """Write the full tracks of the run; a partial last track moves to row 0."""
        n = self.fill // self.rpt
        if not n:
            return
        ds = self.ds
        need = self.done + n + (1 if self.fill % self.rpt else 0)
        ds.ensure_tracks(need)
        from dasdlab.emulator.geometry import encode_cchh

        tracks = ds.tracks[self.done : self.done + n]
        heads = self.vol.heads
        cchh = np.frombuffer(b"".join(encode_cchh(*divmod(int(t), heads)) for t in tracks),
                             dtype=np.uint8).reshape(n, 4)
        self.k.track_frames(self.buf, n, self.template, self.frame_start, self.frame_stop, self.cchh_pos, cchh)
        lr = self.lrecl
        for row in range(n):  # the CRC over the records after the header, block by block
            o = self.buf[row]
            for b, p in enumerate(self.data_pos.tolist()):
                skip = lr if (self.done + row == 0 and b == 0) else 0
                self.crc = zlib.crc32(o[p + skip : p + self.blksize], self.crc)
        # runs of consecutive tracks that are all new (the allocation may have written
        # the first one) go out in one write each
        old = self.vol.written.test_many(tracks)
        a = 0
        while a < n:
            b = a + 1
            while b < n and tracks[b] == tracks[b - 1] + 1 and old[b] == old[a]:
                b += 1
            self.vol.write_tracks(int(tracks[a]), self.buf[a:b])
            a = b
        self.done += n
        left = self.fill - n * self.rpt
        if left:
            self.buf[0] = self.buf[n]
        self.fill = left

    def close(self) -> tuple[int, int, int]:
        """Write the rest; returns (CRC-32 of the records after the header, record
        bytes written, pieces)."""
        self._flush_full()
        ds, vt = self.ds, self.vol.vtoc
        if self.done == 0:  # pragma: no cover  (a copy of two tracks or more writes one)
            raise AssertionError("an in-place copy wrote no full track")
        # the end of the last full track, so that the rest is appended after it
        vt.update_end(ds.dsn, (self.done - 1, self.bpt + 1), 0)
        ds.entry = vt.get(ds.dsn)
        tail = np.empty((self.fill, self.lrecl), dtype=np.uint8)
        for j in range(self.fill):
            blk, k = divmod(j, self.rpb)
            off = int(self.data_pos[blk]) + k * self.lrecl
            tail[j] = self.buf[0, off : off + self.lrecl]
        self.crc = zlib.crc32(tail, self.crc)
        ds.write(tail, append=True)
        self.buf = None
        return self.crc, self.records * self.lrecl, self.done + 1


class CopyReader:
    """Reads an image copy data set range by range (module docstring, *Streaming*):
    :attr:`header`, then :meth:`ranges` yields ``(first block, blocks)`` in RBA order;
    the structure is checked as it goes, the CRC-32 after the last range
    (:class:`ImageCopyFormatError` DLB640E-DLB645E)."""

    def __init__(self, source, where: str = "image copy", kernels=None) -> None:
        if kernels is None:
            from dasdlab.engine import kernels
        self.k = kernels
        self.where = where
        if isinstance(source, (bytes, bytearray, memoryview, np.ndarray)):
            raw = np.frombuffer(source, dtype=np.uint8) if not isinstance(source, np.ndarray) else source.reshape(-1)
            self._phys = iter([raw])
        else:
            self._phys = source.blocks()
        self._pending = np.empty(0, np.uint8)
        first = self._take_bytes(HEADER_LEN, exact=False)
        self.header = IcHeader.unpack(first.tobytes(), where)
        self._carry = first  # the header record's bytes read so far

    def _take_bytes(self, n: int, exact: bool = True) -> np.ndarray:
        parts = [self._pending]
        have = self._pending.size
        while have < n:
            nxt = next(self._phys, None)
            if nxt is None:
                break
            parts.append(np.asarray(nxt, dtype=np.uint8).reshape(-1))
            have += parts[-1].size
        buf = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pending = buf[n:]
        return buf[:n]

    def _records(self):
        """Whole records after the header, a physical block or so at a time."""
        lrecl = self.header.lrecl
        head = np.concatenate((self._carry, self._take_bytes(lrecl - self._carry.size)))
        if head.size < lrecl:
            raise ImageCopyFormatError("DLB642E", f"{self.where} ends inside its header record.")
        rest = self._pending
        self._pending = np.empty(0, np.uint8)
        chunks = [rest] if rest.size else []
        carry = np.empty(0, np.uint8)
        self.bytes_read = lrecl
        self.records_crc = 0
        for c in itertools.chain(chunks, self._phys):  # lazily: never the whole copy at once
            c = np.asarray(c, dtype=np.uint8).reshape(-1)
            self.bytes_read += c.size
            if carry.size:
                c = np.concatenate((carry, c))
            whole = c.size // lrecl * lrecl
            carry = c[whole:]
            if whole:
                self.records_crc = zlib.crc32(c[:whole], self.records_crc)
                yield c[:whole].reshape(-1, lrecl)
        if carry.size:
            raise ImageCopyFormatError("DLB642E", f"{self.where} is not whole {lrecl}-byte records.")

    def ranges(self, max_blocks: int = PIECE_BLOCKS):
        hdr, n, bs = self.header, self.header.nblocks, self.header.block_size
        out = np.empty((min(max_blocks, max(n, 1)), bs), dtype=np.uint8)
        crc = 0
        v1 = hdr.version == 1  # version 1: the CRC-32 of the block data, not of the records
        seen = 0
        fill = 0
        if not hdr.compressed:
            for recs in self._records():
                pos = 0
                while pos < recs.shape[0]:
                    if seen + fill >= n:
                        raise ImageCopyFormatError("DLB642E", f"{self.where} holds more block records than the "
                                                              f"header's {n}.")
                    k = min(recs.shape[0] - pos, out.shape[0] - fill, n - seen - fill)
                    bad = self.k.ic_blocks(recs[pos : pos + k], (seen + fill) * bs, bs, out, fill)
                    if bad >= 0:
                        raise ImageCopyFormatError("DLB643E", f"{self.where}: block records are not in RBA order.")
                    fill += k
                    pos += k
                    if fill == out.shape[0]:
                        if v1:
                            crc = zlib.crc32(out[:fill], crc)
                        yield seen, out[:fill]
                        seen += fill
                        fill = 0
            if fill:
                if v1:
                    crc = zlib.crc32(out[:fill], crc)
                yield seen, out[:fill]
                seen += fill
            if seen != n:
                raise ImageCopyFormatError("DLB642E", f"{self.where} holds {seen} block records; the header says {n}.")
        else:
            stream = bytearray()
            records = self._records()
            ended = False
            while not ended:
                if len(stream) < FRAME.size:
                    nxt = next(records, None)
                    if nxt is None:
                        raise ImageCopyFormatError("DLB644E", f"{self.where}: the compressed stream ends without "
                                                              "its end frame.")
                    stream += nxt.tobytes()
                    continue
                first, count, clen = FRAME.unpack_from(stream, 0)
                if count == 0:
                    ended = True
                    break
                if first != seen or first + count > n:
                    raise ImageCopyFormatError("DLB644E", f"{self.where}: compressed frame for blocks {first}.. out "
                                                          "of order.")
                while len(stream) < FRAME.size + clen:
                    nxt = next(records, None)
                    if nxt is None:
                        raise ImageCopyFormatError("DLB644E", f"{self.where}: the compressed stream ends without "
                                                              "its end frame.")
                    stream += nxt.tobytes()
                try:
                    chunk = zlib.decompress(memoryview(stream)[FRAME.size : FRAME.size + clen])
                except zlib.error as e:
                    raise ImageCopyFormatError("DLB644E", f"{self.where}: compressed frame at block {first} is "
                                                          f"damaged ({e}).") from None
                if len(chunk) != count * bs:
                    raise ImageCopyFormatError("DLB644E", f"{self.where}: compressed frame at block {first} holds "
                                                          f"{len(chunk)} bytes, not {count} blocks.")
                del stream[: FRAME.size + clen]
                if v1:
                    crc = zlib.crc32(chunk, crc)
                got = np.frombuffer(chunk, dtype=np.uint8).reshape(count, bs)
                pos = 0
                while pos < count:  # frames are small: gather them into ranges
                    k = min(count - pos, out.shape[0] - fill)
                    out[fill : fill + k] = got[pos : pos + k]
                    fill += k
                    pos += k
                    if fill == out.shape[0]:
                        yield first + pos - fill, out[:fill]
                        fill = 0
                seen += count
            if fill:
                yield seen - fill, out[:fill]
            for _ in records:  # the padding records after the end frame
                pass
            if seen != n:
                raise ImageCopyFormatError("DLB644E", f"{self.where}: {seen} blocks in the frames; the header says {n}.")
        if (crc if hdr.version == 1 else self.records_crc) != hdr.crc32:
            raise ImageCopyFormatError("DLB645E", f"{self.where}: the block data does not match the header's CRC-32.")


def blksize_for(lrecl: int, track_capacity_bytes: int | None = None) -> int:
    """A block size for the output data set: whole records, at most half a 3390 track
    (``track_capacity_bytes``, by default the half-track block of the default model)."""
    if track_capacity_bytes is None:
        from dasdlab.emulator.geometry import default_model, half_track_block

        track_capacity_bytes = half_track_block(default_model())
    return max(1, track_capacity_bytes // lrecl) * lrecl
