"""Image copy data set formats: the IMS image copy format and the compressed format.

Facts: DFSUDMP0, DFSUICP0 and HP Image Copy's "IMS image copy" format are the same
(S12, S34); the copy starts with a 64-byte header and DFSUDMP0 pads short records to
the record length (S35); then, per the unverified practitioner description in
``domain.md`` §1.6, one record per database block (OSAM) or control interval (ESDS) in
RBA order.  IBM does not publish the layout of the header or of the data records
(``domain.md`` open question 2), so the fields below are dasdlab's own, documented here
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
4       1     format version (1)
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
56      4     CRC-32 of all block data in RBA order
60      4     reserved, zero
======  ====  ==============================================================

**Standard format, records 2..n+1**: an 8-byte prefix — the RBA of the block (4 bytes,
block number x block size) and 4 reserved bytes — then the block.

**Compressed format, records 2..**: the byte stream of *frames*, cut into LRECL-sized
records (the last one padded with zeros).  A frame is: first block number (4), block
count (4), compressed length (4), then that many bytes of zlib data holding the blocks.
A frame with block count 0 ends the stream.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from dasdlab.errors import DasdlabError

EYE = "ICHD".encode("cp037")
VERSION = 1
PREFIX = 8
HEADER_LEN = 64
FRAME = struct.Struct(">III")
_HDR = struct.Struct(">4sBccc8s8s6sHIIqqII")
FRAME_BLOCKS = 64  # blocks per compressed frame


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

    def pack(self) -> bytes:
        return _HDR.pack(
            EYE, VERSION, b"C" if self.compressed else b"S", self.access.encode(), self.kind.encode(),
            self.dbd.ljust(8).encode("cp037"), self.ddn.ljust(8).encode("cp037"),
            self.volser.ljust(6).encode("cp037"), self.copy_number, self.block_size, self.nblocks,
            round(self.run_time * 1e6), round(self.stop_time * 1e6), self.crc32, 0,
        )

    @classmethod
    def unpack(cls, raw: bytes, where: str = "image copy") -> IcHeader:
        if len(raw) < HEADER_LEN or raw[:4] != EYE:
            raise ImageCopyFormatError("DLB640E", f"{where} does not start with an image copy header (ICHD).")
        (_, ver, fmt, acc, kind, dbd, ddn, vol, num, bs, n, run, stop, crc, _r) = _HDR.unpack_from(raw)
        if ver != VERSION or fmt not in (b"S", b"C"):
            raise ImageCopyFormatError("DLB641E", f"{where}: image copy format version {ver}/{fmt!r} is not known.")
        return cls(dbd.decode("cp037").strip(), ddn.decode("cp037").strip(), vol.decode("cp037").strip(),
                   acc.decode(), kind.decode(), fmt == b"C", num, bs, n, run / 1e6, stop / 1e6, crc)

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
    crc = zlib.crc32(blocks)
    hdr = IcHeader(**{**header.__dict__, "nblocks": n, "crc32": crc})
    lrecl = hdr.lrecl
    head = np.zeros((1, lrecl), dtype=np.uint8)
    head[0, :HEADER_LEN] = np.frombuffer(hdr.pack(), dtype=np.uint8)
    if not hdr.compressed:
        recs = np.empty((n + 1, lrecl), dtype=np.uint8)  # one pass over the bytes, no concatenation
        recs[0] = head[0]
        body = recs[1:]
        rba = (np.arange(n, dtype=np.uint64) * np.uint64(bs)).astype(">u4")
        body[:, 0:4] = rba.view(np.uint8).reshape(n, 4)
        body[:, 4:PREFIX] = 0
        body[:, PREFIX:] = blocks
        return recs
    stream = bytearray()
    for first in range(0, n, FRAME_BLOCKS):
        chunk = blocks[first : first + FRAME_BLOCKS]
        data = zlib.compress(chunk.tobytes(), 1)
        stream += FRAME.pack(first, len(chunk), len(data)) + data
    stream += FRAME.pack(n, 0, 0)
    nrec = -(-len(stream) // lrecl)
    body = np.zeros(nrec * lrecl, dtype=np.uint8)
    body[: len(stream)] = np.frombuffer(bytes(stream), dtype=np.uint8)
    return np.concatenate((head, body.reshape(nrec, lrecl)))


def decode(data: bytes | np.ndarray, where: str = "image copy") -> tuple[IcHeader, np.ndarray]:
    """(header, blocks) from the records of a copy; checks structure and CRC."""
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
    if zlib.crc32(np.ascontiguousarray(blocks)) != hdr.crc32:
        raise ImageCopyFormatError("DLB645E", f"{where}: the block data does not match the header's CRC-32.")
    return hdr, blocks


def blksize_for(lrecl: int, track_capacity_bytes: int = 27998) -> int:
    """A block size for the output data set: whole records, at most half a 3390 track."""
    return max(1, track_capacity_bytes // lrecl) * lrecl
