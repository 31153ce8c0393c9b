"""The VTOC: VOL1 label, Format-4/5/1/3 DSCBs, space allocation and release.

Layouts from ``docs/ckd-format.md`` §2.3-2.4 (checked against ``dasdload``
output at message level 5) and IBM *z/OS DFSMSdfp Advanced Services* (DSCB formats):

* VOL1 is record 3 of cylinder 0 head 0 (key ``VOL1``, 80 data bytes) and points at the
  Format-4 DSCB with a CCHHR.
* Every DSCB is a record with a 44-byte key and 96 data bytes; on a 3390, 50 per track.
  Record order: F4 (R1), F5 (R2), then F1/F3 in any free (Format-0, all-zero) slot.
* Format-4 describes the VTOC and the device; Format-5 lists free space as extents of
  (relative track, cylinders, tracks), 26 per DSCB, chained; Format-1 describes a data
  set and its first three extents; a Format-3 holds extents 4 to 16.

Free space is kept in the Format-5 chain while the volume has at most 65,535 tracks
(the relative track address is 16 bits).  On larger volumes, and whenever the Format-5
is empty or disagrees with the extents of the data sets (``dasdload`` leaves it empty
and sets the DOS bit), dasdlab rebuilds free space from the Format-1/3 extents, as
DADSM does when ``DS4DOSBT`` is on.

**Updates across processes.**  Each process reads the VTOC into memory; two processes
allocating on one volume from their own copies would hand out the same free extents
and DSCB slots.  So every update (allocate, extend, delete, rename, end of data)
holds the volume's VTOC lock -- an exclusive ``flock`` of the volume's image file (the
FTD file of a track-pool volume), with a thread lock around it, re-entrant, shared
by every instance of the volume in a process, as DADSM serialises on the VTOC with a
RESERVE -- and re-reads the VTOC under it before it decides anything, unless it is
known unchanged: a volume of a site has a word shared by every process that each
update bumps under the lock (``vtoc_word``), and a VTOC read at the value it still
has is current (a re-read costs milliseconds; the word one load).  An update that
cannot get the lock within :data:`VTOC_LOCK_WAIT_S` seconds is refused with DLB290E,
and nothing changes.

Reads take no lock, as before: an update formats its new tracks with host writes,
which may wait for a copy-service verb holding the subsystem, and such a verb may
read a VTOC; a read that waited for the update would close the circle.  (A verb
that *updates* a VTOC -- Concurrent Copy allocating its working data sets -- can
still meet an allocation on the same volume the other way round; one of the two
then gives up with DLB290E or DLB306E rather than waiting for ever.)  A read that
overlaps an update may see it half done (DS4DIRF set: free space is rebuilt from
the data sets' extents); the next update re-reads under the lock.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import functools
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import decode_cchh, encode_cchh
from dasdlab.errors import DatasetError, ImageError, VtocError

CODEC = "cp037"
DSCB_KEYLEN = 44
DSCB_DATALEN = 96
DSCB_LEN = DSCB_KEYLEN + DSCB_DATALEN
MAX_EXTENTS = 16
F5_EXTENTS_PER_DSCB = 26

# DS4VTOCI bits
DS4DOSBT = 0x80  # Format-5 free space is not valid; rebuild it from the F1/F3 extents
DS4DIRF = 0x20   # the VTOC was being updated when the last update ended abnormally

# DS1SCALO space units
SCALO_TRK = 0x80
SCALO_CYL = 0xC0

DSORGS = {"PS": 0x4000, "PO": 0x0200, "DA": 0x2000, "IS": 0x8000, "VS": 0x0008}
RECFM_BITS = {"F": 0x80, "V": 0x40, "U": 0xC0}


def ebcdic(text: str, length: int) -> bytes:
    return text.ljust(length)[:length].encode(CODEC)


def ascii_of(raw: bytes) -> str:
    return bytes(raw).decode(CODEC, errors="replace").rstrip(" \x00")


_DSN_RE = re.compile(r"^[A-Z@#$][A-Z0-9@#$-]{0,7}(\.[A-Z@#$][A-Z0-9@#$-]{0,7})*$")
_VOLSER_RE = re.compile(r"^[A-Z0-9@#$]{1,6}$")


def check_dsn(dsn: str) -> str:
    d = dsn.strip().upper()
    if len(d) > 44 or not _DSN_RE.match(d):
        raise DatasetError(
            "DLB200E",
            f"{dsn!r} is not a valid data set name (qualifiers of 1-8 characters A-Z, 0-9, "
            "@ # $ -, starting with a letter or @ # $, 44 characters at most).",
        )
    return d


def check_volser(volser: str) -> str:
    v = volser.strip().upper()
    if not _VOLSER_RE.match(v):
        raise VtocError("DLB201E", f"{volser!r} is not a valid volume serial (1-6 of A-Z 0-9 @ # $).")
    return v


@dataclass(frozen=True, slots=True, order=True)
class CCHHR:
    cyl: int
    head: int
    r: int

    def pack(self) -> bytes:
        return encode_cchh(self.cyl, self.head) + bytes((self.r,))

    @classmethod
    def unpack(cls, b: bytes) -> CCHHR:
        c, h = decode_cchh(b[:4])
        return cls(c, h, b[4])

    def is_zero(self) -> bool:
        return self.cyl == 0 and self.head == 0 and self.r == 0

    def __str__(self) -> str:
        return f"{self.cyl:04X}{self.head:04X}{self.r:02X}"


ZERO_CCHHR = CCHHR(0, 0, 0)


@dataclass(frozen=True, slots=True)
class Extent:
    """A run of tracks on one volume: begin and end CCHH, both inclusive."""

    type: int
    seq: int
    begin: tuple[int, int]
    end: tuple[int, int]

    def start(self, heads: int) -> int:
        return self.begin[0] * heads + self.begin[1]

    def stop(self, heads: int) -> int:
        return self.end[0] * heads + self.end[1] + 1

    def ntracks(self, heads: int) -> int:
        return self.stop(heads) - self.start(heads)

    def pack(self) -> bytes:
        return (bytes((self.type, self.seq)) + encode_cchh(*self.begin) + encode_cchh(*self.end))

    @classmethod
    def unpack(cls, b: bytes) -> Extent:
        return cls(b[0], b[1], decode_cchh(b[2:6]), decode_cchh(b[6:10]))

    @classmethod
    def of_tracks(cls, start: int, stop: int, heads: int, seq: int, cyl_aligned: bool) -> Extent:
        return cls(0x81 if cyl_aligned else 0x01, seq, divmod(start, heads), divmod(stop - 1, heads))

    def is_empty(self) -> bool:
        return self.type == 0


# ---------------------------------------------------------------------- VOL1
@dataclass(frozen=True, slots=True)
class Vol1:
    volser: str
    vtoc: CCHHR
    owner: str = "DASDLAB"

    def pack(self) -> bytes:
        return (ebcdic("VOL1", 4) + ebcdic(self.volser, 6) + b"\x40" + self.vtoc.pack()
                + b"\x40" * 21 + ebcdic(self.owner, 14) + b"\x40" * 29)

    @classmethod
    def unpack(cls, data: bytes) -> Vol1:
        return cls(ascii_of(data[4:10]), CCHHR.unpack(data[11:16]), ascii_of(data[37:51]))


def read_vol1(vol) -> Vol1:
    if not vol.is_written(0):
        raise VtocError("DLB202E", f"{vol.path.name}: cylinder 0 head 0 is not formatted; no VOL1 label.")
    try:
        rec = vol.read_record(0, 0, 3)
    except ImageError as e:
        raise VtocError("DLB202E", f"{vol.path.name}: cannot read the VOL1 label: {e.text}") from None
    if rec is None or rec[0] != ebcdic("VOL1", 4) or len(rec[1]) != 80:
        raise VtocError("DLB202E", f"{vol.path.name}: record 3 of track 0 is not a VOL1 label.")
    return Vol1.unpack(rec[1])


# IPL records exactly as dasdinit writes them (docs/ckd-format.md §2.3): IPL1 holds a PSW
# and two CCWs that read IPL2; IPL2 is 144 zero bytes.
IPL1_DATA = bytes.fromhex("000600000000000f" "0300000000000001" "0000000000000000")
IPL2_DATA = bytes(144)


def track0_records(vol1: Vol1):
    return [
        (1, ebcdic("IPL1", 4), IPL1_DATA),
        (2, ebcdic("IPL2", 4), IPL2_DATA),
        (3, ebcdic("VOL1", 4), vol1.pack()),
    ]


# ---------------------------------------------------------------------- DSCBs
def _u16(b: bytes, o: int) -> int:
    return (b[o] << 8) | b[o + 1]


def _u24(b: bytes, o: int) -> int:
    return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]


@dataclass
class Format4:
    """VTOC self-descriptor."""

    last_f1: CCHHR
    free_dscbs: int
    alt_track: tuple[int, int]
    alt_count: int
    vtoc_ind: int
    cylinders: int
    heads: int
    track_length: int
    dscbs_per_track: int
    dirblocks_per_track: int
    vtoc_extent: Extent

    def pack(self) -> bytes:
        b = bytearray(DSCB_LEN)
        b[0:44] = b"\x04" * 44
        b[44] = 0xF4
        b[45:50] = self.last_f1.pack()
        b[50:52] = self.free_dscbs.to_bytes(2, "big")
        b[52:56] = encode_cchh(*self.alt_track)
        b[56:58] = self.alt_count.to_bytes(2, "big")
        b[58] = self.vtoc_ind
        b[59] = 1
        cyls = min(self.cylinders, 0xFFFF)
        b[62:64] = cyls.to_bytes(2, "big")
        b[64:66] = self.heads.to_bytes(2, "big")
        b[66:68] = self.track_length.to_bytes(2, "big")
        b[71] = 0x30
        b[74] = self.dscbs_per_track
        b[75] = self.dirblocks_per_track
        b[105:115] = self.vtoc_extent.pack()
        return bytes(b)

    @classmethod
    def unpack(cls, b: bytes) -> Format4:
        return cls(
            last_f1=CCHHR.unpack(b[45:50]),
            free_dscbs=_u16(b, 50),
            alt_track=decode_cchh(b[52:56]),
            alt_count=_u16(b, 56),
            vtoc_ind=b[58],
            cylinders=_u16(b, 62),
            heads=_u16(b, 64),
            track_length=_u16(b, 66),
            dscbs_per_track=b[74],
            dirblocks_per_track=b[75],
            vtoc_extent=Extent.unpack(b[105:115]),
        )


@dataclass
class Format1:
    """Data set descriptor (the key is the data set name)."""

    dsn: str
    volser: str
    extents: list[Extent]
    dsorg: int = DSORGS["PS"]
    recfm: int = 0x90
    blksize: int = 0
    lrecl: int = 0
    keylen: int = 0
    created: tuple[int, int] = (0, 0)  # (year-1900, day of year)
    scalo_unit: int = SCALO_TRK
    secondary: int = 0
    lstar: tuple[int, int] = (0, 0)  # (TT, R) of the last used block, EOF included
    trbal: int = 0
    nobdb: int = 0
    dsind: int = 0x80
    optcd: int = 0
    rkp: int = 0
    ptr: CCHHR = ZERO_CCHHR
    syscode: str = "DASDLAB"
    noepv: int = 0  # number of extents on the volume (F1 + F3)

    def pack(self) -> bytes:
        b = bytearray(DSCB_LEN)
        b[0:44] = ebcdic(self.dsn, 44)
        b[44] = 0xF1
        b[45:51] = ebcdic(self.volser, 6)
        b[51:53] = (1).to_bytes(2, "big")
        b[53] = self.created[0]
        b[54:56] = self.created[1].to_bytes(2, "big")
        b[59] = self.noepv
        b[60] = self.nobdb
        b[62:75] = ebcdic(self.syscode, 13)
        b[82:84] = self.dsorg.to_bytes(2, "big")
        b[84] = self.recfm
        b[85] = self.optcd
        b[86:88] = self.blksize.to_bytes(2, "big")
        b[88:90] = self.lrecl.to_bytes(2, "big")
        b[90] = self.keylen
        b[91:93] = self.rkp.to_bytes(2, "big")
        b[93] = self.dsind
        b[94] = self.scalo_unit
        b[95:98] = self.secondary.to_bytes(3, "big")
        b[98:100] = self.lstar[0].to_bytes(2, "big")
        b[100] = self.lstar[1]
        b[101:103] = self.trbal.to_bytes(2, "big")
        for i, ext in enumerate(self.extents[:3]):
            b[105 + 10 * i : 115 + 10 * i] = ext.pack()
        b[135:140] = self.ptr.pack()
        return bytes(b)

    @classmethod
    def unpack(cls, b: bytes) -> Format1:
        exts = [Extent.unpack(b[105 + 10 * i : 115 + 10 * i]) for i in range(3)]
        return cls(
            dsn=ascii_of(b[0:44]),
            volser=ascii_of(b[45:51]),
            extents=[e for e in exts if not e.is_empty()],
            dsorg=_u16(b, 82),
            recfm=b[84],
            blksize=_u16(b, 86),
            lrecl=_u16(b, 88),
            keylen=b[90],
            created=(b[53], _u16(b, 54)),
            scalo_unit=b[94],
            secondary=_u24(b, 95),
            lstar=(_u16(b, 98), b[100]),
            trbal=_u16(b, 101),
            nobdb=b[60],
            dsind=b[93],
            optcd=b[85],
            rkp=_u16(b, 91),
            ptr=CCHHR.unpack(b[135:140]),
            syscode=ascii_of(b[62:75]),
            noepv=b[59],
        )

    # -- listing helpers -------------------------------------------------------------
    @property
    def dsorg_name(self) -> str:
        d = self.dsorg
        name = "??"
        for n, bit in (("IS", 0x8000), ("PS", 0x4000), ("DA", 0x2000), ("PO", 0x0200)):
            if d & bit:
                name = n
        if d & 0x0008:
            name = "VS"
        return name

    @property
    def recfm_name(self) -> str:
        r = self.recfm
        s = ""
        if r & 0x80:
            s = "F"
        if r & 0x40:
            s = "V"
        if (r & 0xC0) == 0xC0:
            s = "U"
        for ch, bit in (("B", 0x10), ("S", 0x08), ("A", 0x04), ("M", 0x02), ("T", 0x20)):
            if r & bit:
                s += ch
        return s or "?"


def format3_pack(extents: list[Extent], ptr: CCHHR = ZERO_CCHHR) -> bytes:
    """A Format-3 DSCB holding up to 13 extents (4 in the key area, 9 in the data)."""
    b = bytearray(DSCB_LEN)
    b[0:4] = b"\x03" * 4
    for i, ext in enumerate(extents[:4]):
        b[4 + 10 * i : 14 + 10 * i] = ext.pack()
    b[44] = 0xF3
    for i, ext in enumerate(extents[4:13]):
        b[45 + 10 * i : 55 + 10 * i] = ext.pack()
    b[135:140] = ptr.pack()
    return bytes(b)


def format3_unpack(b: bytes) -> tuple[list[Extent], CCHHR]:
    exts = [Extent.unpack(b[4 + 10 * i : 14 + 10 * i]) for i in range(4)]
    exts += [Extent.unpack(b[45 + 10 * i : 55 + 10 * i]) for i in range(9)]
    return [e for e in exts if not e.is_empty()], CCHHR.unpack(b[135:140])


def format5_pack(free: list[tuple[int, int, int]], ptr: CCHHR = ZERO_CCHHR) -> bytes:
    """A Format-5 DSCB with up to 26 free extents (RTA, cylinders, tracks)."""
    b = bytearray(DSCB_LEN)
    b[0:4] = b"\x05" * 4
    b[44] = 0xF5

    def put(o: int, e: tuple[int, int, int]) -> None:
        b[o : o + 2] = e[0].to_bytes(2, "big")
        b[o + 2 : o + 4] = e[1].to_bytes(2, "big")
        b[o + 4] = e[2]

    for i, e in enumerate(free[:8]):
        put(4 + 5 * i, e)
    for i, e in enumerate(free[8:26]):
        put(45 + 5 * i, e)
    b[135:140] = ptr.pack()
    return bytes(b)


def format5_unpack(b: bytes) -> tuple[list[tuple[int, int, int]], CCHHR]:
    out = []
    offs = [4 + 5 * i for i in range(8)] + [45 + 5 * i for i in range(18)]
    for o in offs:
        e = (_u16(b, o), _u16(b, o + 2), b[o + 4])
        if e != (0, 0, 0):
            out.append(e)
    return out, CCHHR.unpack(b[135:140])


# ---------------------------------------------------------------------- the VTOC
@dataclass
class DatasetEntry:
    """A data set as the VTOC describes it: its F1, its extents and where they live."""

    f1: Format1
    f1_addr: CCHHR
    extents: list[Extent]
    f3_addrs: list[CCHHR] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return self.f1.dsn

    def tracks(self, heads: int) -> int:
        return sum(e.ntracks(heads) for e in self.extents)

    def track_list(self, heads: int) -> list[tuple[int, int]]:
        """[start, stop) absolute track runs in data set order."""
        return [(e.start(heads), e.stop(heads)) for e in self.extents]


def _today() -> tuple[int, int]:
    d = _dt.date.today()
    return d.year - 1900, d.timetuple().tm_yday


def _merge(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(runs):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(total: tuple[int, int], used: list[tuple[int, int]]) -> list[tuple[int, int]]:
    free = []
    pos = total[0]
    for a, b in _merge(used):
        if a > pos:
            free.append((pos, min(a, total[1])))
        pos = max(pos, b)
    if pos < total[1]:
        free.append((pos, total[1]))
    return [f for f in free if f[1] > f[0]]


#: how long a VTOC update waits for another process's update of the same volume
VTOC_LOCK_WAIT_S = 30.0


class _VtocLock:
    """The VTOC lock of one image file in this process (see the module docstring):
    ``flock`` locks belong to an open file, so every instance of the volume in the
    process shares this one, and its thread lock orders the threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.tlock = threading.RLock()
        self.depth = 0

    @contextmanager
    def held(self, op: int, what: str) -> Iterator[None]:
        with self.tlock:
            if self.depth:  # this thread holds it already
                self.depth += 1
                try:
                    yield
                finally:
                    self.depth -= 1
                return
            deadline = time.monotonic() + VTOC_LOCK_WAIT_S
            pause = 0.0005
            while True:
                try:
                    fcntl.flock(self.fd, op | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise VtocError(
                            "DLB290E", f"the VTOC of {what} is being updated by another process; this "
                            f"update gave up after {VTOC_LOCK_WAIT_S:g} s and changed nothing. Retry "
                            "when the other process is done.") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.02)
            self.depth = 1
            try:
                yield
            finally:
                self.depth = 0
                fcntl.flock(self.fd, fcntl.LOCK_UN)


_VTOC_LOCKS: dict[str, _VtocLock] = {}
_VTOC_LOCKS_LOCK = threading.Lock()


def _vtoc_lock(vol) -> _VtocLock | None:
    """This process's VTOC lock of ``vol``'s image; None for a volume without a file."""
    path = getattr(vol, "path", None)
    if path is None or not os.path.exists(path):
        return None
    # keyed by process too: a forked child must not share its parent's open file
    key = f"{os.getpid()}:{os.path.realpath(path)}"
    with _VTOC_LOCKS_LOCK:
        lk = _VTOC_LOCKS.get(key)
        if lk is None:
            lk = _VTOC_LOCKS[key] = _VtocLock(Path(os.path.realpath(path)))
        return lk


def _updating(fn):
    """A VTOC update: under the volume's exclusive VTOC lock, on a VTOC re-read under
    it (another process may have changed it since this one read it)."""
    @functools.wraps(fn)
    def update(self, *args, **kwargs):
        lk = _vtoc_lock(self.vol)
        if lk is None:
            return fn(self, *args, **kwargs)
        with lk.held(fcntl.LOCK_EX, self._what()):
            if lk.depth > 1:
                return fn(self, *args, **kwargs)
            w = getattr(self.vol, "vtoc_word", None)
            if w is None or w[0] != self._generation:
                self._reread()
            try:
                return fn(self, *args, **kwargs)
            finally:
                if w is not None:  # what this instance holds is the VTOC as it now is
                    w[0] = self._generation = w[0] + 1
    return update


class Vtoc:
    """The VTOC of one volume, read into memory and written back DSCB by DSCB.

    Fixed after :meth:`read`: :attr:`vol1`, :attr:`f4_addr`, :attr:`vtoc_tracks`.
    Mutable: :attr:`datasets` (name -> entry), :attr:`slots` (CCHHR -> DSCB format id
    of every DSCB slot, 0 for free), :attr:`free` (free track runs [start, stop)).
    """

    def __init__(self, vol) -> None:
        self.vol = vol
        self.heads = vol.heads
        self.vol1: Vol1
        self.f4: Format4
        self.f4_addr: CCHHR
        self.vtoc_tracks: tuple[int, int] = (0, 0)
        self.slots: dict[CCHHR, int] = {}
        self.datasets: dict[str, DatasetEntry] = {}
        self.f5_addrs: list[CCHHR] = []
        self.free: list[tuple[int, int]] = []
        self.free_source = "F5"
        #: the volume's ``vtoc_word`` when this was read (-1: not known)
        self._generation = -1

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, vol) -> Vtoc:
        v = cls(vol)
        w = getattr(vol, "vtoc_word", None)
        gen = w[0] if w is not None else -1  # before the read: an update meanwhile moves it
        v._read()
        v._generation = gen
        return v

    def _what(self) -> str:
        vol1 = getattr(self, "vol1", None)
        return f"volume {vol1.volser}" if vol1 is not None else str(getattr(self.vol, "path", "the volume"))

    def _reread(self) -> None:
        """Read the VTOC again, in place (holders of this object see the new state)."""
        fresh = Vtoc(self.vol)
        w = getattr(self.vol, "vtoc_word", None)
        gen = w[0] if w is not None else -1  # under the exclusive lock: it does not move
        fresh._read()
        fresh._generation = gen
        self.__dict__.update(fresh.__dict__)

    def _read_dscb(self, addr: CCHHR) -> bytes:
        vol = self.vol
        if not (0 <= addr.cyl < vol.cylinders and 0 <= addr.head < vol.heads):
            raise VtocError("DLB203E", f"{vol.path.name}: DSCB pointer {addr} is outside the volume.")
        rec = vol.read_record(addr.cyl, addr.head, addr.r)
        if rec is None:
            raise VtocError("DLB204E", f"{vol.path.name}: no DSCB at CCHHR {addr}.")
        key, data = rec
        if len(key) != DSCB_KEYLEN or len(data) != DSCB_DATALEN:
            raise VtocError("DLB204E", f"{vol.path.name}: record {addr} is not a DSCB.")
        return key + data

    def _read(self) -> None:
        vol = self.vol
        self.vol1 = read_vol1(vol)
        addr = self.vol1.vtoc
        if addr.is_zero() or not (0 <= addr.cyl < vol.cylinders and 0 <= addr.head < vol.heads):
            raise VtocError(
                "DLB203E",
                f"{vol.path.name}: the VOL1 VTOC pointer {addr} is outside the volume "
                f"({vol.cylinders} cylinders); the volume has no usable VTOC.",
            )
        if not vol.is_written(vol.track_of(addr.cyl, addr.head)) or vol.find_record(addr.cyl, addr.head, addr.r) is None:
            raise VtocError(
                "DLB205E",
                f"{vol.path.name}: the VOL1 VTOC pointer {addr} does not lead to a Format-4 DSCB "
                "(a volume made by dasdinit has no VTOC; allocate one with dasdload or "
                "'dasdlab volume init').",
            )
        raw = self._read_dscb(addr)
        if raw[44] != 0xF4 or raw[:44] != b"\x04" * 44:
            raise VtocError("DLB205E", f"{vol.path.name}: the record at {addr} is not a Format-4 DSCB.")
        self.f4 = Format4.unpack(raw)
        self.f4_addr = addr
        ext = self.f4.vtoc_extent
        start, stop = ext.start(self.heads), ext.stop(self.heads)
        if not (0 < stop <= vol.ntracks and start < stop):
            raise VtocError("DLB203E", f"{vol.path.name}: the VTOC extent {ext} is outside the volume.")
        self.vtoc_tracks = (start, stop)
        f1s: list[tuple[CCHHR, bytes]] = []
        f3s: dict[CCHHR, bytes] = {}
        f5s: dict[CCHHR, bytes] = {}
        for t in range(start, stop):
            cyl, head = divmod(t, self.heads)
            if not vol.is_written(t):
                raise VtocError("DLB206E", f"{vol.path.name}: VTOC track {t} is not formatted.")
            img = vol.read_track(t)
            for rec in trackfmt.parse_track(img, where=f"VTOC track {t}"):
                if rec.is_eof:
                    continue
                if rec.keylen != DSCB_KEYLEN or rec.datalen != DSCB_DATALEN:
                    raise VtocError(
                        "DLB204E",
                        f"{vol.path.name}: record R{rec.r} on VTOC track {t} is KL={rec.keylen} "
                        f"DL={rec.datalen}, not a 44+96-byte DSCB.",
                    )
                raw = bytes(img[rec.key_offset : rec.end])
                a = CCHHR(cyl, head, rec.r)
                fmt = raw[44]
                if fmt == 0 and not any(raw):
                    self.slots[a] = 0
                    continue
                self.slots[a] = fmt
                if fmt == 0xF1:
                    f1s.append((a, raw))
                elif fmt == 0xF3:
                    f3s[a] = raw
                elif fmt == 0xF5:
                    f5s[a] = raw
        for a, raw in f1s:
            f1 = Format1.unpack(raw)
            extents = list(f1.extents)
            f3_addrs = []
            ptr = f1.ptr
            while not ptr.is_zero():
                if ptr not in f3s:
                    raise VtocError("DLB207E", f"{vol.path.name}: {f1.dsn} points at {ptr}, not a Format-3 DSCB.")
                more, nxt = format3_unpack(f3s[ptr])
                extents += more
                f3_addrs.append(ptr)
                ptr = nxt
                if len(f3_addrs) > 4:
                    raise VtocError("DLB207E", f"{vol.path.name}: {f1.dsn} has a looping Format-3 chain.")
            self.datasets[f1.dsn] = DatasetEntry(f1, a, extents, f3_addrs)
        # the Format-5 chain starting at R2 of the first VTOC track
        free5: list[tuple[int, int, int]] = []
        first5 = CCHHR(*divmod(start, self.heads), 2)
        ptr = first5 if first5 in f5s else ZERO_CCHHR
        while not ptr.is_zero() and ptr in f5s and ptr not in self.f5_addrs:
            self.f5_addrs.append(ptr)
            ext5, ptr = format5_unpack(f5s[ptr])
            free5 += ext5
        rebuilt = self._compute_free()
        from_f5 = _merge([(rta, rta + c * self.heads + t) for rta, c, t in free5])
        if (self.f4.vtoc_ind & (DS4DOSBT | DS4DIRF)) or not free5 or from_f5 != rebuilt:
            self.free = rebuilt
            self.free_source = "rebuilt"
        else:
            self.free = from_f5
            self.free_source = "F5"

    def _compute_free(self) -> list[tuple[int, int]]:
        used = [(0, 1), self.vtoc_tracks]
        for ds in self.datasets.values():
            used += ds.track_list(self.heads)
        return _subtract((0, self.vol.ntracks), used)

    # ------------------------------------------------------------------ queries
    def __contains__(self, dsn: str) -> bool:
        return dsn.upper() in self.datasets

    def get(self, dsn: str) -> DatasetEntry:
        d = check_dsn(dsn)
        try:
            return self.datasets[d]
        except KeyError:
            raise DatasetError("DLB210E", f"data set {d} is not on volume {self.vol1.volser}.") from None

    def free_tracks(self) -> int:
        return sum(b - a for a, b in self.free)

    def free_dscbs(self) -> list[CCHHR]:
        return sorted(a for a, fmt in self.slots.items() if fmt == 0)

    def check(self) -> list[str]:
        """Structural problems: extents outside the volume, overlaps, bad counts."""
        problems = []
        n = self.vol.ntracks
        runs: list[tuple[int, int, str]] = [(0, 1, "VOL1 track"), (*self.vtoc_tracks, "VTOC")]
        for ds in self.datasets.values():
            if len(ds.extents) != ds.f1.noepv:
                problems.append(f"{ds.dsn}: DS1NOEPV says {ds.f1.noepv} extents, the DSCBs hold {len(ds.extents)}.")
            if len(ds.extents) > MAX_EXTENTS:
                problems.append(f"{ds.dsn}: {len(ds.extents)} extents, more than {MAX_EXTENTS}.")
            for e in ds.extents:
                a, b = e.start(self.heads), e.stop(self.heads)
                if not (0 <= a < b <= n) or e.begin[1] >= self.heads or e.end[1] >= self.heads:
                    problems.append(f"{ds.dsn}: extent {e.begin}-{e.end} is outside the volume.")
                    continue
                runs.append((a, b, ds.dsn))
        runs.sort()
        for (a1, b1, n1), (a2, b2, n2) in zip(runs, runs[1:]):
            if a2 < b1:
                problems.append(f"{n1} and {n2} overlap on tracks {a2}..{min(b1, b2) - 1}.")
        nfree = sum(1 for f in self.slots.values() if f == 0)
        if nfree != self.f4.free_dscbs:
            problems.append(f"Format-4 counts {self.f4.free_dscbs} free DSCBs, the VTOC has {nfree}.")
        if self.free_source == "F5" and self.free != self._compute_free():
            problems.append("Format-5 free space disagrees with the data set extents.")
        return problems

    # ------------------------------------------------------------------ writing DSCBs
    def _write_dscb(self, addr: CCHHR, raw: bytes) -> None:
        self.vol.update_record(addr.cyl, addr.head, addr.r, raw[44:], key=raw[:44])
        fmt = raw[44] if any(raw) else 0
        self.slots[addr] = fmt

    def _write_f4(self) -> None:
        nfree = sum(1 for f in self.slots.values() if f == 0)
        self.f4.free_dscbs = nfree
        f1s = [a for a, f in self.slots.items() if f == 0xF1]
        self.f4.last_f1 = max(f1s, key=lambda a: (a.cyl, a.head, a.r)) if f1s else ZERO_CCHHR
        self._write_dscb(self.f4_addr, self.f4.pack())

    def _begin_update(self) -> None:
        """Mark the VTOC as being updated (DS4DIRF), so a crash mid-update is detected."""
        self.f4.vtoc_ind |= DS4DIRF
        self._write_dscb(self.f4_addr, self.f4.pack())

    def _end_update(self) -> None:
        self.f4.vtoc_ind &= ~DS4DIRF
        self._write_f5()
        self._write_f4()
        # no msync: a killed process leaves its writes in the page cache, and DS4DIRF
        # covers an update cut short; power loss is outside the model

    def _write_f5(self) -> None:
        """Rewrite the Format-5 chain from :attr:`free` (or mark it invalid)."""
        if self.vol.ntracks > 0xFFFF:
            self.f4.vtoc_ind |= DS4DOSBT
            entries: list[tuple[int, int, int]] = []
        else:
            self.f4.vtoc_ind &= ~DS4DOSBT
            entries = []
            for a, b in self.free:
                n = b - a
                # a free extent's (cylinders, tracks) form; split runs longer than 16-bit cylinders
                entries.append((a, n // self.heads, n % self.heads))
        chunks = [entries[i : i + F5_EXTENTS_PER_DSCB] for i in range(0, len(entries), F5_EXTENTS_PER_DSCB)] or [[]]
        addrs = list(self.f5_addrs[: len(chunks)]) or [CCHHR(*divmod(self.vtoc_tracks[0], self.heads), 2)]
        # release Format-5 DSCBs no longer needed, take free slots for extra ones
        for a in self.f5_addrs[len(chunks):]:
            self._write_dscb(a, bytes(DSCB_LEN))
        while len(addrs) < len(chunks):
            spare = [a for a in self.free_dscbs() if a not in addrs]
            if not spare:
                # no room for another F5: fall back to "rebuild on open"
                self.f4.vtoc_ind |= DS4DOSBT
                chunks = [[]]
                addrs = addrs[:1]
                break
            addrs.append(spare[0])
        for i, (a, chunk) in enumerate(zip(addrs, chunks)):
            ptr = addrs[i + 1] if i + 1 < len(addrs) else ZERO_CCHHR
            self._write_dscb(a, format5_pack(chunk, ptr))
        self.f5_addrs = addrs
        self.free_source = "F5" if not (self.f4.vtoc_ind & DS4DOSBT) else "rebuilt"

    # ------------------------------------------------------------------ allocation
    def _take_space(self, ntracks: int, cyl_aligned: bool, max_pieces: int) -> list[tuple[int, int]]:
        """First-fit space of ``ntracks`` in at most ``max_pieces`` runs (not yet removed)."""
        free = self.free
        if cyl_aligned:
            free = []
            for a, b in self.free:
                a2 = -(-a // self.heads) * self.heads
                b2 = b // self.heads * self.heads
                if b2 > a2:
                    free.append((a2, b2))
        for a, b in free:  # one contiguous piece if possible
            if b - a >= ntracks:
                return [(a, a + ntracks)]
        pieces = []
        need = ntracks
        for a, b in sorted(free, key=lambda r: r[0] - r[1]):  # largest first
            if len(pieces) == max_pieces:
                break
            take = min(need, b - a)
            pieces.append((a, a + take))
            need -= take
            if need == 0:
                return sorted(pieces)
        return []

    def _remove_free(self, runs: list[tuple[int, int]]) -> None:
        self.free = [piece for run in self.free for piece in _subtract(run, runs)]

    @_updating
    def allocate(
        self,
        dsn: str,
        *,
        dsorg: str = "PS",
        recfm: str = "FB",
        lrecl: int,
        blksize: int,
        keylen: int = 0,
        unit: str = "TRK",
        primary: int,
        secondary: int = 0,
        dir_blocks: int = 0,
    ) -> DatasetEntry:
        """Allocate a new data set; on any error nothing on the volume changes."""
        dsn = check_dsn(dsn)
        geo = self.vol.geometry
        if dsn in self.datasets:
            raise DatasetError("DLB211E", f"data set {dsn} already exists on volume {self.vol1.volser}.")
        dsorg = dsorg.upper()
        if dsorg not in DSORGS:
            raise DatasetError("DLB212E", f"DSORG {dsorg} is not one of {', '.join(DSORGS)}.")
        rf = parse_recfm(recfm)
        if not 0 <= keylen <= 255:
            raise DatasetError("DLB213E", f"key length {keylen} is outside 0..255.")
        if blksize <= 0 or lrecl <= 0:
            raise DatasetError("DLB213E", f"LRECL {lrecl} and BLKSIZE {blksize} must be positive.")
        if rf & 0x80 and not rf & 0x40:  # fixed
            if rf & 0x10:
                if blksize % lrecl:
                    raise DatasetError("DLB213E", f"BLKSIZE {blksize} is not a multiple of LRECL {lrecl} for RECFM={recfm}.")
            elif blksize != lrecl:
                raise DatasetError("DLB213E", f"RECFM={recfm} needs BLKSIZE = LRECL, got {blksize} and {lrecl}.")
        if geo.records_per_track(keylen, blksize) < 1:
            raise DatasetError(
                "DLB214E",
                f"a block of {blksize} bytes (key {keylen}) does not fit on a {geo.name} track "
                f"(largest: {geo.max_block(keylen)}).",
            )
        unit = unit.upper()
        if unit not in ("TRK", "CYL"):
            raise DatasetError("DLB215E", f"space unit {unit} must be TRK or CYL.")
        if primary <= 0 or secondary < 0:
            raise DatasetError("DLB215E", "the primary quantity must be positive, the secondary not negative.")
        ntracks = primary * (self.heads if unit == "CYL" else 1)
        if ntracks > 0xFFFF:
            raise DatasetError("DLB216E", f"{ntracks} tracks exceed the 65,535 a data set may have on one volume.")
        pieces = self._take_space(ntracks, unit == "CYL", max_pieces=5)
        if not pieces:
            raise DatasetError(
                "DLB217E",
                f"{dsn} needs {ntracks} tracks but volume {self.vol1.volser} has "
                f"{self.free_tracks()} free tracks in {len(self.free)} extents; it does not fit.",
            )
        need_dscbs = 1 + (1 if len(pieces) > 3 else 0)
        free_slots = self.free_dscbs()
        if len(free_slots) < need_dscbs + self._f5_slots_needed(pieces):
            raise VtocError(
                "DLB218E", f"the VTOC of {self.vol1.volser} is full: no free DSCB for {dsn}."
            )
        extents = [Extent.of_tracks(a, b, self.heads, i, unit == "CYL") for i, (a, b) in enumerate(pieces)]
        f1 = Format1(
            dsn=dsn,
            volser=self.vol1.volser,
            extents=extents,
            dsorg=DSORGS[dsorg],
            recfm=rf,
            blksize=blksize,
            lrecl=lrecl,
            keylen=keylen,
            created=_today(),
            scalo_unit=SCALO_CYL if unit == "CYL" else SCALO_TRK,
            secondary=secondary,
            noepv=len(extents),
        )
        self._begin_update()
        f1_addr = free_slots[0]
        f3_addrs = []
        if len(extents) > 3:
            f3_addrs = [free_slots[1]]
            f1.ptr = f3_addrs[0]
            self._write_dscb(f3_addrs[0], format3_pack(extents[3:]))
        entry = DatasetEntry(f1, f1_addr, extents, f3_addrs)
        self._format_new_space(entry, pieces)
        self._write_dscb(f1_addr, f1.pack())
        self.datasets[dsn] = entry
        self._remove_free(pieces)
        self._end_update()
        return entry

    def _f5_slots_needed(self, pieces: list[tuple[int, int]]) -> int:
        """Extra DSCB slots the Format-5 chain may need after this allocation."""
        if self.vol.ntracks > 0xFFFF:
            return 0
        after = len(self.free) + len(pieces)  # an allocation splits at most one run per piece
        need = -(-after // F5_EXTENTS_PER_DSCB)
        return max(need - len(self.f5_addrs), 0)

    def _format_new_space(self, entry: DatasetEntry, pieces: list[tuple[int, int]]) -> None:
        """Write an EOF record on the first track of a new data set, so that a reader of
        the empty data set finds its end (as dasdload does for an EMPTY data set)."""
        t = pieces[0][0]
        cyl, head = divmod(t, self.heads)
        self.vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", b"")], self.vol.slot))
        entry.f1.lstar = (0, 1)
        entry.f1.trbal = self.vol.geometry.track_balance(self.vol.geometry.record_bytes(0, 0))

    @_updating
    def extend(self, dsn: str) -> Extent:
        """Add one secondary extent to a data set (DS1SCALO units), or raise."""
        entry = self.get(dsn)
        f1 = entry.f1
        if f1.secondary <= 0:
            raise DatasetError("DLB219E", f"{dsn} has no secondary space quantity; it cannot grow.")
        if len(entry.extents) >= MAX_EXTENTS:
            raise DatasetError("DLB220E", f"{dsn} already has {MAX_EXTENTS} extents on this volume; it cannot grow.")
        cyl = f1.scalo_unit == SCALO_CYL
        ntracks = f1.secondary * (self.heads if cyl else 1)
        if entry.tracks(self.heads) + ntracks > 0xFFFF:
            raise DatasetError("DLB216E", f"{dsn} would exceed 65,535 tracks on one volume.")
        pieces = self._take_space(ntracks, cyl, max_pieces=1)
        if not pieces:
            raise DatasetError(
                "DLB217E",
                f"{dsn} needs a secondary extent of {ntracks} tracks but volume "
                f"{self.vol1.volser} has no free extent that large.",
            )
        need_f3 = len(entry.extents) == 3
        if need_f3 and len(self.free_dscbs()) < 1 + self._f5_slots_needed(pieces):
            raise VtocError("DLB218E", f"the VTOC of {self.vol1.volser} is full: no free DSCB to extend {dsn}.")
        a, b = pieces[0]
        ext = Extent.of_tracks(a, b, self.heads, len(entry.extents), cyl)
        self._begin_update()
        entry.extents.append(ext)
        f1.noepv = len(entry.extents)
        if len(entry.extents) > 3:
            if not entry.f3_addrs:
                entry.f3_addrs = [self.free_dscbs()[0]]
                f1.ptr = entry.f3_addrs[0]
            self._write_dscb(entry.f3_addrs[0], format3_pack(entry.extents[3:]))
        else:
            f1.extents = list(entry.extents)
        self._write_dscb(entry.f1_addr, f1.pack())
        self._remove_free([(a, b)])
        self._end_update()
        return ext

    def plan_growth(self, dsn: str, extra_tracks: int) -> int:
        """How many secondary extents give ``extra_tracks`` more tracks; raises (and
        changes nothing) when the data set cannot grow that far."""
        if extra_tracks <= 0:
            return 0
        entry = self.get(dsn)
        f1 = entry.f1
        if f1.secondary <= 0:
            raise DatasetError(
                "DLB219E",
                f"{entry.dsn} needs {extra_tracks} more tracks but has no secondary space quantity.",
            )
        cyl = f1.scalo_unit == SCALO_CYL
        per = f1.secondary * (self.heads if cyl else 1)
        n = -(-extra_tracks // per)
        if len(entry.extents) + n > MAX_EXTENTS:
            raise DatasetError(
                "DLB220E",
                f"{entry.dsn} would need {len(entry.extents) + n} extents; a data set may have "
                f"{MAX_EXTENTS} on one volume.",
            )
        if entry.tracks(self.heads) + n * per > 0xFFFF:
            raise DatasetError("DLB216E", f"{entry.dsn} would exceed 65,535 tracks on one volume.")
        saved = list(self.free)
        try:
            for _ in range(n):
                pieces = self._take_space(per, cyl, max_pieces=1)
                if not pieces:
                    raise DatasetError(
                        "DLB217E",
                        f"{entry.dsn} needs {n} secondary extents of {per} tracks but volume "
                        f"{self.vol1.volser} has only {self.free_tracks()} free tracks; it does not fit.",
                    )
                self._remove_free(pieces)
        finally:
            self.free = saved
        if len(entry.extents) <= 3 < len(entry.extents) + n and not self.free_dscbs():
            raise VtocError("DLB218E", f"the VTOC of {self.vol1.volser} is full: no free DSCB to extend {entry.dsn}.")
        return n

    @_updating
    def update_end(self, dsn: str, lstar: tuple[int, int], trbal: int) -> None:
        """Record where the data set's last block (its EOF record) is."""
        entry = self.get(dsn)
        entry.f1.lstar = lstar
        entry.f1.trbal = trbal
        self._write_dscb(entry.f1_addr, entry.f1.pack())

    @_updating
    def delete(self, dsn: str) -> DatasetEntry:
        """Scratch a data set: free its DSCBs and return its tracks to free space."""
        entry = self.get(dsn)
        self._begin_update()
        for a in [entry.f1_addr, *entry.f3_addrs]:
            self._write_dscb(a, bytes(DSCB_LEN))
        del self.datasets[entry.dsn]
        self.free = self._compute_free()
        self._end_update()
        return entry

    @_updating
    def replace_with(self, dsn: str, partial: str) -> None:
        """Make ``dsn`` the data set ``partial`` holds, in one DSCB write: ``dsn``'s
        Format-1 takes ``partial``'s extents and attributes, then ``partial``'s Format-1
        and ``dsn``'s old Format-3s are freed.  A process killed after the first write
        leaves ``dsn`` whole and new and ``partial`` naming the same tracks (scratching
        it later frees only its DSCB: free space is computed from the data sets that
        remain); killed before it, ``dsn`` is whole and old.  ``partial`` must fit its
        Format-1 (at most three extents, no Format-3)."""
        old, part = self.get(dsn), self.get(partial)
        if part.f3_addrs or len(part.extents) > 3:
            raise DatasetError("DLB425E", f"{partial} has more than three extents; it cannot replace {dsn}.")
        self._begin_update()
        f1 = replace(part.f1, dsn=old.dsn)
        self._write_dscb(old.f1_addr, f1.pack())  # the switch
        for a in [part.f1_addr, *old.f3_addrs]:
            self._write_dscb(a, bytes(DSCB_LEN))
        del self.datasets[part.dsn]
        self.datasets[old.dsn] = DatasetEntry(f1, old.f1_addr, list(part.extents))
        self.free = self._compute_free()
        self._end_update()

    @_updating
    def rename(self, dsn: str, new: str) -> None:
        entry = self.get(dsn)
        new = check_dsn(new)
        if new in self.datasets:
            raise DatasetError("DLB211E", f"data set {new} already exists on volume {self.vol1.volser}.")
        del self.datasets[entry.dsn]
        entry.f1 = replace(entry.f1, dsn=new)
        self._write_dscb(entry.f1_addr, entry.f1.pack())
        self.datasets[new] = entry


def parse_recfm(recfm: str) -> int:
    r = recfm.strip().upper()
    if not r or r[0] not in RECFM_BITS:
        raise DatasetError("DLB213E", f"RECFM {recfm!r} must start with F, V or U.")
    bits = RECFM_BITS[r[0]]
    for ch in r[1:]:
        extra = {"B": 0x10, "S": 0x08, "A": 0x04, "M": 0x02, "T": 0x20}.get(ch)
        if extra is None or bits & extra:
            raise DatasetError("DLB213E", f"RECFM {recfm!r} is not valid.")
        bits |= extra
    return bits


def initialize(vol, volser: str, vtoc_tracks: int, owner: str = "DASDLAB", vtoc_start: int = 1) -> None:
    """Write track 0 (IPL1, IPL2, VOL1) and an empty VTOC of ``vtoc_tracks`` tracks."""
    vtoc_addr = CCHHR(*divmod(vtoc_start, vol.heads), 1)
    vol.format_track(0, track0_records(Vol1(volser, vtoc_addr, owner)))
    _write_empty_vtoc(vol, vtoc_start, vtoc_tracks)


def add_vtoc(vol, vtoc_tracks: int = 1, vtoc_start: int = 1) -> CCHHR:
    """Give a volume that has a VOL1 label but no VTOC (what ``dasdinit`` makes) an
    empty VTOC where ``dasdload`` puts one on a volume without data sets: from
    cylinder 0 head 1, one track unless told (``HHCDL057I VTOC starts at cyl 0 head 1
    and is 1 track``).  Track 0 keeps its records; only the VOL1 VTOC pointer is set.
    Returns the VTOC's address.  Refused when the volume has a VTOC or the tracks hold
    records.  The DSCBs are dasdlab's (:func:`initialize`): where dasdload's Format-4
    sets the DOS bit and its Format-5 is empty, dasdlab's Format-5 holds the free space."""
    from dasdlab.emulator.check import missing_vtoc

    vol1 = read_vol1(vol)
    if missing_vtoc(vol) is None:
        raise VtocError("DLB832E", f"{vol.path.name} already has a VTOC (at {vol1.vtoc}); "
                                   "nothing was changed.")
    stop = vtoc_start + vtoc_tracks
    if vtoc_tracks < 1 or vtoc_start < 1 or stop > min(vol.ntracks, 0xFFFF):
        raise VtocError("DLB833E", f"a VTOC of {vtoc_tracks} track(s) from track {vtoc_start} "
                                   f"does not fit {vol.path.name} ({vol.ntracks} tracks).")
    for t in range(vtoc_start, stop):
        used = [r for r in vol.records(t) if r.keylen or r.datalen]
        if used:
            raise VtocError("DLB835E", f"track {t} (CCHH {t // vol.heads},{t % vol.heads}) of "
                                       f"{vol.path.name} holds {len(used)} record(s); the VTOC "
                                       "would overwrite them. Nothing was changed.")
    addr = CCHHR(*divmod(vtoc_start, vol.heads), 1)
    track0 = vol.read_track(0)
    recs = [(r.r, bytes(track0[r.key_offset : r.data_offset]), bytes(track0[r.data_offset : r.end]))
            for r in vol.records(0)]
    recs = [(r, k, Vol1(vol1.volser, addr, vol1.owner).pack() if k == ebcdic("VOL1", 4) else d)
            for r, k, d in recs]
    _write_empty_vtoc(vol, vtoc_start, vtoc_tracks)
    vol.format_track(0, recs)
    vol.invalidate_vtoc()
    return addr


def _write_empty_vtoc(vol, start: int, vtoc_tracks: int) -> None:
    geo = vol.geometry
    heads = vol.heads
    stop = start + vtoc_tracks
    per_track = geo.records_per_track(DSCB_KEYLEN, DSCB_DATALEN)
    empty = bytes(DSCB_LEN)
    alt = (vol.cylinders, 0)
    f4 = Format4(
        last_f1=ZERO_CCHHR,
        free_dscbs=vtoc_tracks * per_track - 2,
        alt_track=alt,
        alt_count=0,
        vtoc_ind=DS4DOSBT if vol.ntracks > 0xFFFF else 0,
        cylinders=vol.cylinders,
        heads=heads,
        track_length=geo.track_length,
        dscbs_per_track=per_track,
        dirblocks_per_track=geo.records_per_track(8, 256),
        vtoc_extent=Extent.of_tracks(start, stop, heads, 0, False),
    )
    free = _subtract((0, vol.ntracks), [(0, 1), (start, stop)])
    f5_entries = [] if vol.ntracks > 0xFFFF else [(a, (b - a) // heads, (b - a) % heads) for a, b in free]
    for t in range(start, stop):
        recs = []
        for i in range(per_track):
            r = i + 1
            raw = empty
            if t == start and r == 1:
                raw = f4.pack()
            elif t == start and r == 2:
                raw = format5_pack(f5_entries)
            recs.append((r, raw[:44], raw[44:]))
        vol.format_track(t, recs)
    vol.invalidate_vtoc()
