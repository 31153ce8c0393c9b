"""The dasdlab DFSMSdss dump format: what a DUMP writes and a RESTORE reads.

The real DFSMSdss dump format is not published; this is dasdlab's own, shaped like it
(a DSORG=PS output data set of half-track blocks, z/OS DFSMSdss Storage
Administration, DUMP command, ``docs/domain.md`` §2.2).

**Dump format** (:data:`DUMP_MAGIC`, version 1) — the DUMP output data set is DSORG=PS,
RECFM=FB, LRECL=BLKSIZE=27998 (half-track blocks) and holds a byte stream of segments,
each padded with zeros to a multiple of 27,998 bytes.  All integers are big-endian::

    header    "DLBDUMP1" u16 version=1  u16 0  f8 modeled time  8s subsystem  8s sysname
    data set  "DLBDSET1" u32 segment length (after this field)  44s dsn  6s volser
              u16 heads  u32 slot size  u32 tracks  140s Format-1 DSCB as on the volume
              then per track: u32 relative track  u32 image length (0 = never written)
                              the compacted image (home address to end-of-track marker)
    volume    "DLBVOLM1" u32 segment length  6s volser as dumped  6s volser of the volume read
              u16 heads  u32 slot size  u32 tracks of the volume  u32 runs
              then per run: u32 start  u32 stop; then per track as above, with the
              absolute track number (DUMP FULL and DUMP TRACKS)
    trailer   "DLBDEND1" u32 segments  u32 crc32 of every segment before the trailer

RESTORE reads it back: each selected data set is allocated like the original (or
reused with REPLACE), its tracks written with their new addresses, its end-of-data
pointers set, and it is catalogued.

A dump data set is written uncatalogued under a partial name
(:func:`dasdlab.emulator.newfile.partial_dsn`) and renamed and catalogued only when its
trailer is written, so a killed DUMP never leaves a partial dump under the asked name.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from dasdlab.emulator.geometry import half_track_block, model
from dasdlab.emulator.vtoc import Format1
from dasdlab.host.dss.report import DssError


DUMP_MAGIC = b"DLBDUMP1"
DSET_MAGIC = b"DLBDSET1"
END_MAGIC = b"DLBDEND1"
VOLM_MAGIC = b"DLBVOLM1"
_VOLM_HDR = struct.Struct(">6s6sHIII")
DUMP_BLK = half_track_block(model("3390"))  # 27,998
_DSET_HDR = struct.Struct(">44s6sHII140s")
_TRK = struct.Struct(">II")


def _pad(b: bytes) -> bytes:
    return b + bytes(-len(b) % DUMP_BLK)


def _header(now: float, subsystem: str, sysname: str) -> bytes:
    return DUMP_MAGIC + struct.pack(">HHd8s8s", 1, 0, now, subsystem.encode()[:8].ljust(8),
                                    sysname.encode()[:8].ljust(8))


def _compact(img: np.ndarray) -> bytes:
    from dasdlab.emulator.rva import compacted_bytes

    return bytes(img[: compacted_bytes(img)])


@dataclass
class DumpedDataset:
    dsn: str
    volser: str
    heads: int
    slot: int
    ntracks: int
    f1: Format1
    tracks: list[tuple[int, bytes]]  # (relative track, compacted image or b"")


@dataclass
class DumpedVolume:
    """The tracks of a DUMP FULL or DUMP TRACKS.  ``volser`` is the volume serial the
    dump says it is of (the source's, for a conditioned volume); ``read_from`` the
    volume it was read from."""

    volser: str
    read_from: str
    heads: int
    slot: int
    ntracks: int
    runs: list[tuple[int, int]]
    tracks: list[tuple[int, bytes]]  # (absolute track, compacted image or b"")

    @property
    def full(self) -> bool:
        return self.runs == [(0, self.ntracks)]


def volume_segment(volser: str, read_from: str, heads: int, slot: int, ntracks: int, runs,
                   tracks: list[tuple[int, bytes]]) -> bytes:
    body = _VOLM_HDR.pack(volser.encode().ljust(6), read_from.encode().ljust(6), heads, slot, ntracks, len(runs))
    body += b"".join(struct.pack(">II", a, b) for a, b in runs)
    body += b"".join(_TRK.pack(t, len(img)) + img for t, img in tracks)
    return VOLM_MAGIC + struct.pack(">I", len(body)) + body


def _volume(seg: bytes) -> DumpedVolume:
    vs, rf, heads, slot, ntr, nruns = _VOLM_HDR.unpack_from(seg)
    p = _VOLM_HDR.size
    runs = []
    for _ in range(nruns):
        runs.append(struct.unpack_from(">II", seg, p))
        p += 8
    tracks = []
    while p < len(seg):
        t, ln = _TRK.unpack_from(seg, p)
        p += _TRK.size
        tracks.append((t, seg[p:p + ln]))
        p += ln
    return DumpedVolume(vs.decode().strip(), rf.decode().strip(), heads, slot, ntr, runs, tracks)


def read_dump(raw: bytes, where: str) -> list[DumpedDataset | DumpedVolume]:
    """Parse a dump stream; raises DLB421E naming what is wrong.  A data set dump holds
    :class:`DumpedDataset` segments, a DUMP FULL or TRACKS one :class:`DumpedVolume`."""
    def bad(text: str) -> DssError:
        return DssError("DLB421E", f"{where} is not a usable dasdlab dump: {text}.")

    if raw[:8] != DUMP_MAGIC:
        raise bad("no DLBDUMP1 header")
    pos = len(_pad(raw[:8 + 28]))
    out = []
    crc = zlib.crc32(raw[:pos])
    while True:
        if pos + 12 > len(raw):
            raise bad("the trailer is missing (truncated)")
        magic = raw[pos:pos + 8]
        if magic == END_MAGIC:
            n, want = struct.unpack_from(">II", raw, pos + 8)
            if want != crc:
                raise bad(f"checksum {want:08x} does not match the data ({crc:08x})")
            if n != len(out):
                raise bad(f"the trailer counts {n} data sets, the dump holds {len(out)}")
            return out
        if magic not in (DSET_MAGIC, VOLM_MAGIC):
            raise bad(f"unknown segment {magic!r} at byte {pos}")
        (length,) = struct.unpack_from(">I", raw, pos + 8)
        seg = raw[pos + 12: pos + 12 + length]
        if len(seg) != length:
            raise bad("a data set segment is truncated")
        if magic == VOLM_MAGIC:
            out.append(_volume(seg))
            end = pos + len(_pad(raw[pos:pos + 12 + length]))
            crc = zlib.crc32(raw[pos:end], crc)
            pos = end
            continue
        dsn, vol, heads, slot, ntr, f1raw = _DSET_HDR.unpack_from(seg)
        tracks = []
        p = _DSET_HDR.size
        while p < length:
            rel, ln = _TRK.unpack_from(seg, p)
            p += _TRK.size
            tracks.append((rel, seg[p:p + ln]))
            p += ln
        out.append(DumpedDataset(dsn.decode().strip(), vol.decode().strip(), heads, slot, ntr,
                                 Format1.unpack(f1raw), tracks))
        end = pos + len(_pad(raw[pos:pos + 12 + length]))
        crc = zlib.crc32(raw[pos:end], crc)
        pos = end


class _DumpWriter:
    """Appends padded segments to the dump data set and keeps the running checksum."""

    def __init__(self, ds, subsystem: str, dss) -> None:
        self.ds = ds
        self.subsystem = subsystem
        self.crc = 0
        self.bytes = 0
        self._first = True
        self.vol = None  # the volume it is written on, and the name it takes when complete
        self.name: str | None = None
        self.complete = False

    def write(self, seg: bytes) -> None:
        self.ds.write(seg, append=not self._first)
        self._first = False
        if not seg.startswith(END_MAGIC):
            self.crc = zlib.crc32(seg, self.crc)
        self.bytes += len(seg)

    def append(self, job, seg: bytes) -> None:
        self.write(_pad(seg))
