"""Compressed CKD images (``CKD_C370``) and their shadow-file stacks (``CKD_S370``); a base
without shadows also read-write (free space: :mod:`dasdlab.emulator.cckdspace`).

Layout from ``docs/ckd-format.md`` §3 and §3.1, checked against files made
by Hercules 3.13 ``dasdinit -z``, ``dasdload -z``/``-bz2`` and ``cckddiag``:

* a 512-byte device header as in a plain image, then a 512-byte compressed-device
  header (CDEVHDR, in the byte order of the writer: little-endian unless options bit
  0x02 is set -- except its cylinder count, which is always little-endian), then the L1 table (one 4-byte entry per 256 tracks), then L2 tables
  (256 entries of pos(4) len(2) size(2)) and track images;
* a stored track image is byte 0 = compression (0 none, 1 zlib, 2 bzip2), bytes 1-4 =
  CCHH, then the rest of the track (R0 through the end-of-track marker), compressed;
* ``pos = 0`` in an L2 entry is a *null track* whose format is the entry's ``len``;
  an L1 entry of 0 makes all 256 tracks null in the format the CDEVHDR names;
* in a shadow file, 0xFFFFFFFF in an L1 or L2 entry means "not here, look in the file
  below"; reads walk down from the highest shadow to the base.

What a null track expands to (Hercules 3.13 ``cckd_null_trk``; seen by converting
``dasdinit -z`` and ``dasdload -z`` images with ``dasdcopy``):

* format 0 (37 bytes): home address, R0, an end-of-file R1, end-of-track;
* format 1 (29 bytes): home address, R0, end-of-track (what plain ``dasdinit`` writes);
* format 2: twelve 4,096-byte zero records (a Linux-formatted track).

``dasdinit -z`` stores tracks 0 and 1 and leaves the rest as format-0 null entries, so
its tracks 2.. read back with an EOF record, unlike the 29-byte tracks of a plain
``dasdinit``.  ``dasdload -z`` stores its empty tracks as format-1 null entries.

Hercules utilities *create* the first shadow file when ``sf=`` names none that exists;
dasdlab never writes to its inputs, so a shadow name that matches no file is an error
(``DLB186E``), never a silent "no shadow".
Tracks are decompressed when first read and kept in a small cache.
"""

from __future__ import annotations

import bz2
import os
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.geometry import (
    COUNT_LEN,
    DEVHDR_LEN,
    EOT_LEN,
    TRACK_HEADER_LEN,
    decode_cchh,
    model_for_image,
)
from dasdlab.emulator.trackfmt import count_field, track_header
from dasdlab.emulator.volume import EYE_CCKD, EYE_CKD, EYE_SHADOW, Volume, first_file, read_header
from dasdlab.errors import ImageError

CDEVHDR_LEN = 512
L1_POS = DEVHDR_LEN + CDEVHDR_LEN
L2_ENTRIES = 256
L2_LEN = L2_ENTRIES * 8
#: Highest shadow-file number Hercules opens (``CCKD_MAX_SF``).
MAX_SHADOWS = 8
#: Entry value meaning "not in this file, look in the file below".
FALL_THROUGH = 0xFFFFFFFF
NULL_FORMATS = (0, 1, 2)
COMPRESSIONS = {"none": 0, "zlib": 1, "bzip2": 2}
COMPRESSION_NAMES = {v: k for k, v in COMPRESSIONS.items()}
#: Track images shorter than this are stored uncompressed (Hercules ``CCKD_COMPRESS_MIN``).
COMPRESS_MIN = 512
#: CDEVHDR option bits.
OPT_NOFUDGE = 0x01
OPT_BIGENDIAN = 0x02
#: Set while an image is open for writing (Hercules ``CCKD_OPENED``).
OPT_OPENED = 0x80
#: Version, release, modification level written into a CDEVHDR (Hercules 3.13: 0.3.1).
VRM = b"\x00\x03\x01"

_CDEV_FIELDS = "3sB10IBBh"  # vrm, options, numl1tab..cyls, nullfmt, compress, compress_parm
#: The cylinder count is little-endian whatever the image's byte order: Hercules reads
#: it byte by byte as little-endian and ``cckdswap`` leaves it alone (checked on
#: ``cckdswap`` output: offset 40 stays ``14 00 00 00`` for 20 cylinders).
_CYLS_AT = 40
_CYLS_FIELD = 11
CACHE_TRACKS = 64
#: Tracks a writable image holds before compressing them as one batch on all cores.
WRITE_BEHIND = 128
#: zlib level of in-place writes: what Hercules uses for its writes when its cache is
#: under pressure (``CCKD_STRESS_PARM2``); a bulk writer always is.  Conversion keeps
#: zlib's default level, which ``dasdcopy`` uses.
STRESS_LEVEL = 2


@dataclass(frozen=True, slots=True)
class CompressedHeader:
    """The CDEVHDR at offset 512 (docs/ckd-format.md §3)."""

    vrm: bytes
    options: int
    numl1tab: int
    numl2tab: int
    size: int
    used: int
    free: int
    free_total: int
    free_largest: int
    free_number: int
    free_imbed: int
    cyls: int
    nullfmt: int
    compress: int
    compress_parm: int

    @property
    def big_endian(self) -> bool:
        return bool(self.options & OPT_BIGENDIAN)

    @property
    def byteorder(self) -> str:
        return ">" if self.big_endian else "<"

    def pack(self) -> bytes:
        fmt = self.byteorder + _CDEV_FIELDS
        raw = bytearray(struct.pack(fmt, self.vrm, self.options, self.numl1tab, self.numl2tab,
                                    self.size, self.used, self.free, self.free_total,
                                    self.free_largest, self.free_number, self.free_imbed, 0,
                                    self.nullfmt, self.compress, self.compress_parm))
        raw[_CYLS_AT : _CYLS_AT + 4] = struct.pack("<I", self.cyls)
        return bytes(raw).ljust(CDEVHDR_LEN, b"\x00")

    @classmethod
    def unpack(cls, raw: bytes) -> CompressedHeader:
        order = ">" if raw[3] & OPT_BIGENDIAN else "<"
        fields = list(struct.unpack_from(order + _CDEV_FIELDS, raw))
        fields[_CYLS_FIELD] = struct.unpack_from("<I", raw, _CYLS_AT)[0]
        return cls(*fields)


def null_track_image(cyl: int, head: int, fmt: int) -> bytes:
    """The track image a null L2 entry of format ``fmt`` stands for (used bytes only)."""
    out = bytearray(track_header(cyl, head))
    if fmt == 0:
        out += count_field(cyl, head, 1, 0, 0)
    elif fmt == 2:
        for r in range(1, 13):
            out += count_field(cyl, head, r, 0, 4096) + bytes(4096)
    out += b"\xff" * EOT_LEN
    return bytes(out)


def null_format_of(image: bytes | memoryview, cyl: int, head: int) -> int | None:
    """0 or 1 when ``image`` (the used bytes of a track) is that null track, else None.

    Hercules decides by length alone (37 or 29 bytes); dasdlab also compares the bytes
    so that a 37-byte track with other contents is never lost.  Format 2 is never
    chosen: it is only a null track for volumes that Linux formatted.
    """
    n = len(image)
    if n == TRACK_HEADER_LEN + COUNT_LEN + EOT_LEN and bytes(image) == null_track_image(cyl, head, 0):
        return 0
    if n == TRACK_HEADER_LEN + EOT_LEN and bytes(image) == null_track_image(cyl, head, 1):
        return 1
    return None


_EOT = b"\xff" * EOT_LEN


def used_length(img: np.ndarray | bytes, slot: int) -> int:
    """Bytes from the home address through the end-of-track marker, by walking the
    count fields (the same walk as Hercules ``cckd_trklen``); the whole slot when the
    marker is missing."""
    buf = memoryview(img).cast("B") if not isinstance(img, (bytes, bytearray)) else img
    pos = TRACK_HEADER_LEN
    while pos + EOT_LEN <= slot:
        if buf[pos : pos + EOT_LEN] == _EOT:
            return pos + EOT_LEN
        pos += COUNT_LEN + buf[pos + 5] + ((buf[pos + 6] << 8) | buf[pos + 7])
    return slot


def stored_image(image: bytes, code: int, level: int = -1) -> bytes:
    """A track's used bytes as stored in a CCKD file: byte 0 the compression, then CCHH,
    then the rest compressed (at zlib's default level, as Hercules' ``dasdcopy`` writes:
    the same streams).  Images under 512 bytes, and those that do not shrink, are
    stored uncompressed."""
    body = image[5:]
    if code and len(image) >= COMPRESS_MIN:
        packed = zlib.compress(body, level) if code == 1 else bz2.compress(body)
        if len(packed) < len(body):
            return bytes((code,)) + image[1:5] + packed
    return b"\x00" + image[1:5] + body


def shadow_names(pattern: str | os.PathLike) -> list[Path]:
    """The paths of shadow files 1..8 for an ``sf=`` name, as Hercules derives them.

    The shadow number replaces the ``*`` of the file name, or, without one, the
    character just before the first '.' of the file name (the last character when it
    has no '.').
    """
    p = Path(pattern)
    name = p.name
    if not name:
        raise ImageError("DLB168E", f"shadow file name {str(pattern)!r} has no file name part.")
    if "*" in name:
        i = name.index("*")
    else:
        dot = name.find(".")
        i = (dot if dot > 0 else len(name)) - 1
    return [p.with_name(name[:i] + str(n) + name[i + 1 :]) for n in range(1, MAX_SHADOWS + 1)]


class CckdFile:
    """One file of a stack (the base or a shadow): headers, L1 table, L2 tables on demand.

    Fixed at open: :attr:`devhdr`, :attr:`cdev`, :attr:`l1`, :attr:`size`.  The L2
    tables read so far are kept in :attr:`_l2` (2 KB each).
    """

    def __init__(self, path: Path, expect_eye: bytes, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        self.devhdr = read_header(path)
        if self.devhdr.eyecatcher != expect_eye:
            what = ("a compressed CKD base (CKD_C370)" if expect_eye == EYE_CCKD
                    else "a CKD shadow file (CKD_S370)")
            hint = ""
            if self.devhdr.eyecatcher == EYE_SHADOW and expect_eye == EYE_CCKD:
                hint = "; it is a shadow file: open its base image with a shadow name (sf=)"
            raise ImageError(
                "DLB161E",
                f"{path} is not {what}: eye-catcher {self.devhdr.eyecatcher!r}{hint}.",
            )
        self.size = path.stat().st_size
        try:
            self.fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        except PermissionError:
            raise ImageError("DLB890E", f"{path} is not writable.") from None
        try:
            raw = os.pread(self.fd, CDEVHDR_LEN, DEVHDR_LEN)
            if len(raw) < CDEVHDR_LEN:
                raise ImageError(
                    "DLB160E",
                    f"{path} is truncated: {self.size} bytes, shorter than the two 512-byte headers.",
                )
            self.cdev = CompressedHeader.unpack(raw)
            c = self.cdev
            if c.numl2tab != L2_ENTRIES or c.numl1tab <= 0 or c.cyls <= 0:
                raise ImageError(
                    "DLB162E",
                    f"{path}: compressed header holds {c.numl1tab} L1 entries, {c.numl2tab} "
                    f"L2 entries per table and {c.cyls} cylinders; not a valid CCKD header.",
                )
            ntracks = c.cyls * self.devhdr.heads
            if c.numl1tab != -(-ntracks // L2_ENTRIES):
                raise ImageError(
                    "DLB162E",
                    f"{path}: {c.numl1tab} L1 entries do not match {c.cyls} cylinders of "
                    f"{self.devhdr.heads} tracks ({-(-ntracks // L2_ENTRIES)} expected).",
                )
            if c.compress not in COMPRESSION_NAMES or c.nullfmt > 2:
                raise ImageError(
                    "DLB162E",
                    f"{path}: compressed header names compression {c.compress} and null "
                    f"track format {c.nullfmt}; known are 0-2 each.",
                )
            l1_end = L1_POS + 4 * c.numl1tab
            if self.size < l1_end:
                raise ImageError(
                    "DLB160E",
                    f"{path} is truncated: {self.size} bytes, but its L1 table ends at byte {l1_end}.",
                )
            self.l2_floor = l1_end
            dt = np.dtype(c.byteorder + "u4")
            self.l1 = np.frombuffer(os.pread(self.fd, 4 * c.numl1tab, L1_POS), dtype=dt).astype(np.uint32)
            live = self.l1[(self.l1 != 0) & (self.l1 != FALL_THROUGH)]
            bad = live[(live < l1_end) | (live.astype(np.int64) + L2_LEN > self.size)]
            if bad.size:
                raise ImageError(
                    "DLB164E",
                    f"{path}: an L1 entry points at byte {int(bad[0])}, outside the file "
                    f"({self.size} bytes); the image is truncated or damaged.",
                )
            if expect_eye == EYE_CCKD and (self.l1 == FALL_THROUGH).any():
                raise ImageError(
                    "DLB164E", f"{path}: a base image has 'look below' L1 entries; it is damaged."
                )
        except BaseException:
            os.close(self.fd)
            raise
        self._l2: dict[int, np.ndarray] = {}
        self._l2_dtype = np.dtype([("pos", c.byteorder + "u4"), ("len", c.byteorder + "u2"),
                                   ("size", c.byteorder + "u2")])

    def l2(self, l1x: int) -> np.ndarray | None:
        """The L2 table of group ``l1x`` (None when its L1 entry is 0 or 'look below')."""
        off = int(self.l1[l1x])
        if off == 0 or off == FALL_THROUGH:
            return None
        tab = self._l2.get(l1x)
        if tab is None:
            raw = os.pread(self.fd, L2_LEN, off)
            tab = np.frombuffer(raw, dtype=self._l2_dtype)
            if self.writable:
                tab = tab.copy()
            self._l2[l1x] = tab
        return tab

    def read(self, pos: int, length: int, track: int) -> bytes:
        if pos < self.l2_floor or pos + length > self.size:
            raise ImageError(
                "DLB164E",
                f"{self.path}: the L2 entry of track {track} points at bytes {pos}..{pos + length}, "
                f"outside the file ({self.size} bytes); the image is truncated or damaged.",
            )
        return os.pread(self.fd, length, pos)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _check_shadow_matches(base: CckdFile, sf: CckdFile) -> None:
    b, s = base.devhdr, sf.devhdr
    if (b.heads, b.slot_size, b.devtype_byte) != (s.heads, s.slot_size, s.devtype_byte) or \
            base.cdev.cyls != sf.cdev.cyls:
        raise ImageError(
            "DLB167E",
            f"shadow file {sf.path} ({s.heads} heads, {s.slot_size}-byte tracks, {sf.cdev.cyls} "
            f"cylinders, type X'{s.devtype_byte:02X}') does not match its base {base.path} "
            f"({b.heads} heads, {b.slot_size}-byte tracks, {base.cdev.cyls} cylinders, "
            f"type X'{b.devtype_byte:02X}').",
        )


class CckdVolume(Volume):
    """A CCKD base image with its shadow files, seen as one volume.

    Offers the read side of :class:`~dasdlab.emulator.volume.Volume` (track images,
    records, VTOC); a base image without shadows opened ``writable`` also takes host
    writes in place (track images compressed as the image's header says, space managed
    by :class:`~dasdlab.emulator.cckdspace.FreeSpace`, L2 tables added as needed);
    otherwise every write raises ``DLB116E``.  :attr:`written` has every track
    set: a compressed image holds a track image (perhaps a null one) for every track.
    :attr:`files` is empty (nothing is memory-mapped); :attr:`stack` lists the base
    and its shadows, lowest first.
    """

    def __init__(self, stack: list[CckdFile], writable: bool = False) -> None:
        base = stack[0]
        top = stack[-1]
        hdr = base.devhdr
        geo = model_for_image(hdr.devtype_byte, hdr.heads, hdr.slot_size, base.cdev.cyls)
        self.path = base.path
        self.files = []
        self.stack = stack
        self.geometry = geo
        self.cylinders = base.cdev.cyls
        self.heads = hdr.heads
        self.ntracks = self.cylinders * self.heads
        self.slot = hdr.slot_size
        self.read_only = not writable
        self.write_hook_one = None
        self._space = None
        self._dirty = False
        #: Tracks written but not yet compressed into the file (write-behind).
        self._pending: dict[int, np.ndarray] = {}
        if writable:
            from dasdlab.emulator.cckdspace import FreeSpace

            c = base.cdev
            if c.options & OPT_OPENED:
                raise ImageError(
                    "DLB891E",
                    f"{base.path} was not closed after its last update (the 'opened' flag is "
                    "set); check it with 'dasdlab volume cckd check --repair' before writing.",
                )
            try:
                self._space = FreeSpace.read_chain(base.fd, c.free, base.size, c.byteorder,
                                                   base.l2_floor, number=c.free_number)
            except ValueError as e:
                raise ImageError(
                    "DLB892E",
                    f"{base.path}: {e}; repair it with 'dasdlab volume cckd check --repair'.",
                ) from None
            if self._space.number != c.free_number or \
                    self._space.total != c.free_total - c.free_imbed:
                raise ImageError(
                    "DLB892E",
                    f"{base.path}: the header counts {c.free_number} free blocks of "
                    f"{c.free_total - c.free_imbed} bytes, the chain {self._space.number} of "
                    f"{self._space.total}; repair it with "
                    "'dasdlab volume cckd check --repair'.",
                )
        #: Set bits: tracks that hold a track image; in a compressed image, all of them.
        self.written = Bitmap.full(self.ntracks)
        self._single = None
        self._starts = np.zeros(1, dtype=np.int64)
        self._vtoc = None
        self.write_hook = None
        self.write_hook_one = None
        self.read_hook = None
        self.subsystem = None
        self.volser_hint = None
        #: Null format for whole null L2 tables, from the top file (as Hercules does).
        self._top_nullfmt = top.cdev.nullfmt
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    # ------------------------------------------------------------------ open
    @classmethod
    def open(  # type: ignore[override]
        cls, path: str | os.PathLike, sf: str | os.PathLike | None = None, writable: bool = False
    ) -> CckdVolume:
        """Open a compressed base image and, with ``sf``, the shadow files that exist;
        ``writable`` (a base without shadows only) takes writes in place."""
        path = Path(path)
        if writable and sf is not None:
            raise ImageError(
                "DLB890E",
                f"{path}: writing through shadow files is not supported; merge them with "
                "'dasdlab volume convert --sf' first, or write the base alone.",
            )
        base = CckdFile(path, EYE_CCKD, writable=writable)
        stack = [base]
        try:
            if sf is not None:
                names = shadow_names(sf)
                if not names[0].exists():
                    raise ImageError(
                        "DLB186E",
                        f"no shadow file matches {str(sf)!r}: {names[0]} does not exist "
                        "(dasdlab does not create shadow files on open, as the Hercules "
                        "utilities do).",
                    )
                for name in names:
                    if not name.exists():
                        break  # Hercules stops at the first missing number too
                    f = CckdFile(name, EYE_SHADOW)
                    stack.append(f)
                    _check_shadow_matches(base, f)
            return cls(stack, writable=writable)
        except BaseException:
            for f in stack:
                f.close()
            raise

    # ------------------------------------------------------------------ lookup
    def track_entry(self, t: int) -> tuple[int, int, int, int]:
        """(file index in :attr:`stack`, pos, len, size) of the L2 entry that serves
        track ``t``; pos 0 is a null track of format ``len``."""
        l1x, l2x = divmod(t, L2_ENTRIES)
        for sfx in range(len(self.stack) - 1, -1, -1):
            f = self.stack[sfx]
            off = int(f.l1[l1x])
            if off == FALL_THROUGH:
                continue
            if off == 0:
                n = self._top_nullfmt
                return sfx, 0, n, n
            e = f.l2(l1x)[l2x]
            if int(e["pos"]) != FALL_THROUGH:
                return sfx, int(e["pos"]), int(e["len"]), int(e["size"])
        return -1, 0, 0, 0

    def _null_format(self, length: int) -> int:
        if length not in NULL_FORMATS:
            return self._top_nullfmt
        if length == 0 and self._top_nullfmt == 2:
            return 2  # Hercules' compatibility rule for Linux volumes
        return length

    def track_image(self, t: int) -> bytes:
        """The used bytes of track ``t`` (home address through end-of-track), decompressed."""
        if not 0 <= t < self.ntracks:
            self._loc(t)
        cyl, head = divmod(t, self.heads)
        sfx, pos, length, _size = self.track_entry(t)
        if pos == 0:
            return null_track_image(cyl, head, self._null_format(length))
        f = self.stack[sfx]
        if length < 5:
            raise ImageError("DLB166E", f"{f.path}: track {t} has a stored length of {length} bytes.")
        raw = f.read(pos, length, t)
        comp = raw[0]
        body = raw[5:]
        where = f"{f.path.name} track {t} (CCHH {cyl},{head})"
        try:
            if comp == 0:
                pass
            elif comp == 1:
                body = zlib.decompress(body)
            elif comp == 2:
                body = bz2.decompress(body)
            else:
                raise ImageError(
                    "DLB163E", f"{where}: compression code {comp} is not none (0), zlib (1) or bzip2 (2)."
                )
        except (zlib.error, OSError, ValueError, EOFError) as e:
            raise ImageError("DLB163E", f"{where}: the compressed track does not decompress ({e}).") from None
        if decode_cchh(raw[1:5]) != (cyl, head):
            hc, hh = decode_cchh(raw[1:5])
            raise ImageError("DLB165E", f"{where}: the stored track header says CCHH {hc},{hh}.")
        image = b"\x00" + raw[1:5] + body
        if len(image) > self.slot:
            raise ImageError(
                "DLB166E", f"{where}: the track image is {len(image)} bytes, longer than the slot."
            )
        if image[-EOT_LEN:] != b"\xff" * EOT_LEN:
            raise ImageError(
                "DLB166E", f"{where}: the track image does not end with the end-of-track marker."
            )
        return image

    # ------------------------------------------------------------------ Volume read side
    def own_track(self, t: int) -> np.ndarray:
        img = self._pending.get(t)
        if img is not None:
            return img
        img = self._cache.get(t)
        if img is not None:
            self._cache.move_to_end(t)
            return img
        used = self.track_image(t)
        img = np.zeros(self.slot, dtype=np.uint8)
        img[: len(used)] = np.frombuffer(used, dtype=np.uint8)
        img.setflags(write=False)
        self._cache[t] = img
        if len(self._cache) > CACHE_TRACKS:
            self._cache.popitem(last=False)
        return img

    def is_written(self, t: int) -> bool:
        return 0 <= t < self.ntracks

    def _loc(self, t: int):
        if not 0 <= t < self.ntracks:
            from dasdlab.errors import GeometryError

            raise GeometryError("DLB104E", f"track {t} is outside the volume (0..{self.ntracks - 1}).")
        raise ImageError("DLB116E", f"volume {self.path} is a compressed image, open read-only.")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ImageError(
                "DLB116E",
                f"volume {self.path} is a compressed (CCKD) image opened read-only; open it "
                "writable (a base without shadow files) or convert it with 'dasdlab volume convert'.",
            )

    # ------------------------------------------------------------------ write side
    def store_track(self, t: int, image) -> None:
        """Put a whole slot image into track ``t``.  Written behind, as Hercules' cache
        does: the image is kept (reads see it at once) and a batch of
        :data:`WRITE_BEHIND` pending tracks is compressed on all cores, then each goes
        to space from the free-space chain (or the end of the file) and the space of
        its old image is freed; :meth:`flush` writes what is left."""
        self._check_writable()
        if not 0 <= t < self.ntracks:
            self._loc(t)
        img = np.frombuffer(image, dtype=np.uint8) if isinstance(image, (bytes, bytearray)) \
            else np.asarray(image, dtype=np.uint8)
        if img.shape != (self.slot,):
            raise ImageError("DLB121E", f"a track image must be {self.slot} bytes, got {img.shape}.")
        self._mark_open()
        keep = img.copy()
        keep.setflags(write=False)
        self._cache.pop(t, None)
        self._pending[t] = keep
        if len(self._pending) >= WRITE_BEHIND:
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        from dasdlab.emulator.convert import in_order_threads

        code = self.stack[0].cdev.compress
        heads, slot = self.heads, self.slot

        def compress(_vol, batch):
            out = []
            for t, img in batch:
                used = bytes(memoryview(img)[: used_length(img, slot)])
                fmt = null_format_of(used, *divmod(t, heads))
                out.append((fmt, None if fmt is not None else stored_image(used, code, STRESS_LEVEL)))
            return out

        items = sorted(self._pending.items())
        chunks = [items[i : i + 32] for i in range(0, len(items), 32)]
        for batch, results in in_order_threads(compress, self, chunks):
            for (t, _img), (fmt, raw) in zip(batch, results):
                self._put(t, raw, fmt)
        self._pending.clear()

    def _put(self, t: int, raw: bytes | None, fmt: int | None) -> None:
        f = self.stack[0]
        space = self._space
        self._mark_open()
        l1x, l2x = divmod(t, L2_ENTRIES)
        if int(f.l1[l1x]) == 0:
            if raw is None and fmt == self._null_format(0):
                return  # already that null track: the whole group is null
            self._new_l2(l1x)
        tab = f.l2(l1x)
        old_pos, old_size = int(tab[l2x]["pos"]), int(tab[l2x]["size"])
        if raw is None:
            tab[l2x] = (0, fmt, fmt)
        else:
            pos, size = space.allocate(len(raw))
            os.pwrite(f.fd, raw, pos)
            tab[l2x] = (pos, len(raw), size)
            f.size = max(f.size, space.file_end)
        os.pwrite(f.fd, tab[l2x : l2x + 1].tobytes(), int(f.l1[l1x]) + 8 * l2x)
        if old_pos:
            space.release(old_pos, old_size)

    def _new_l2(self, l1x: int) -> None:
        f = self.stack[0]
        pos, _size = self._space.allocate(L2_LEN, exact=True)
        n = f.cdev.nullfmt
        tab = np.zeros(L2_ENTRIES, dtype=f._l2_dtype)
        tab["len"] = n
        tab["size"] = n
        os.pwrite(f.fd, tab.tobytes(), pos)
        f.size = max(f.size, self._space.file_end)
        f.l1[l1x] = pos
        f._l2[l1x] = tab
        os.pwrite(f.fd, struct.pack(f.cdev.byteorder + "I", pos), L1_POS + 4 * l1x)

    def _mark_open(self) -> None:
        """Set the 'opened' flag before the first change, as Hercules does: a process
        killed before :meth:`flush` leaves an image that says it needs checking."""
        if self._dirty:
            return
        f = self.stack[0]
        f.cdev = replace(f.cdev, options=f.cdev.options | OPT_OPENED)
        os.pwrite(f.fd, f.cdev.pack(), DEVHDR_LEN)
        self._dirty = True

    def reopen_writable(self) -> None:
        if self.read_only:
            raise ImageError(
                "DLB890E",
                f"{self.path} is open read-only; open the compressed image writable from the start.",
            )

    def write_bytes(self, t: int, offset: int, data) -> None:
        """Overwrite bytes inside a track (a record update): the track is rewritten."""
        self._check_writable()
        buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
        if offset < 0 or offset + len(buf) > self.slot:
            raise ImageError("DLB121E", f"update at offset {offset} runs past the track slot.")
        img = self.own_track(t).copy()
        img[offset : offset + len(buf)] = buf
        self._host_write(t)
        self.store_track(t, img)

    def write_many(self, tracks, offsets, data) -> None:
        self._check_writable()
        tracks = np.asarray(tracks, dtype=np.int64)
        if tracks.size == 0:
            return
        width = data.shape[1]
        offsets = np.asarray(offsets, dtype=np.int64)
        if (offsets < 0).any() or (offsets + width > self.slot).any():
            raise ImageError("DLB121E", "a batched update runs outside its track slot.")
        uniq = np.unique(tracks)
        if self.write_hook is not None:
            self.write_hook(self, uniq)
        images = {t: self.own_track(t).copy() for t in uniq.tolist()}
        for t, off, row in zip(tracks.tolist(), offsets.tolist(), data):
            images[t][off : off + width] = row
        for t, img in images.items():
            self.store_track(t, img)

    def discard_track(self, t: int) -> None:
        """Make track ``t`` a null track of the image's null format (its space is freed)."""
        self._check_writable()
        if not 0 <= t < self.ntracks:
            self._loc(t)
        self._pending.pop(t, None)
        self._put(t, None, self._null_format(0))
        self._cache.pop(t, None)

    def imbedded_free(self) -> int:
        """Bytes allotted to track images beyond their length (``size - len``)."""
        f = self.stack[0]
        total = 0
        for l1x in range(len(f.l1)):
            tab = f.l2(l1x)
            if tab is not None:
                live = tab["pos"] != 0
                total += int((tab["size"][live].astype(np.int64) - tab["len"][live]).sum())
        return total

    def discard_tracks(self, tracks) -> None:
        self._check_writable()

    def clear_track(self, t: int) -> None:
        self._check_writable()

    def refresh_written(self, tracks) -> np.ndarray:  # read-only: nobody else writes it
        return np.zeros(0, dtype=np.int64)

    def flush(self) -> None:
        """Store the free-space chain and the header figures, clear the 'opened' flag."""
        if self.read_only:
            return
        self._write_pending()
        if not self._dirty:
            return
        f = self.stack[0]
        space = self._space
        space.write_chain(f.fd, f.cdev.byteorder)
        os.ftruncate(f.fd, space.file_end)
        f.size = space.file_end
        imbed = self.imbedded_free()
        # as cckdcdsk counts them: 'free' includes the imbedded bytes, 'used' is the
        # sum of the lengths of everything stored
        f.cdev = replace(
            f.cdev, options=f.cdev.options & ~OPT_OPENED, size=space.file_end,
            used=space.file_end - space.total - imbed, free=space.first,
            free_total=space.total + imbed, free_largest=space.largest,
            free_number=space.number, free_imbed=imbed,
        )
        os.pwrite(f.fd, f.cdev.pack(), DEVHDR_LEN)
        os.fsync(f.fd)
        self._dirty = False

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for f in self.stack:
                f.close()
            self._cache.clear()

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES[self.stack[0].cdev.compress]

    def __repr__(self) -> str:
        sf = f" + {len(self.stack) - 1} shadow(s)" if len(self.stack) > 1 else ""
        return f"CckdVolume({self.path.name}{sf}, {self.geometry.name}, {self.cylinders} cyl)"


def shadows_near(base: str | os.PathLike, limit: int = 256) -> list[Path]:
    """Shadow files (``CKD_S370``) in the base image's folder or one folder below it
    whose geometry matches the base: what ``volume ls base.cckd`` without ``sf=`` would
    leave out.  Only the 512-byte headers of at most ``limit`` files are read."""
    base = Path(base)
    try:
        b = CckdFile(base, EYE_CCKD)
    except ImageError:
        return []
    try:
        want = (b.devhdr.heads, b.devhdr.slot_size, b.devhdr.devtype_byte, b.cdev.cyls)
    finally:
        b.close()
    folder = base.parent
    candidates: list[Path] = []
    try:
        for p in sorted(folder.iterdir()):
            if p.is_dir():
                candidates += sorted(q for q in p.iterdir() if q.is_file())
            elif p.is_file() and p != base:
                candidates.append(p)
            if len(candidates) >= limit:
                break
    except OSError:
        return []
    found = []
    for p in candidates[:limit]:
        try:
            with open(p, "rb") as fh:
                raw = fh.read(DEVHDR_LEN + CDEVHDR_LEN)
        except OSError:
            continue
        if len(raw) < DEVHDR_LEN + CDEVHDR_LEN or raw[:8] != EYE_SHADOW:
            continue
        hdr = read_header(p)
        cdev = CompressedHeader.unpack(raw[DEVHDR_LEN:])
        if (hdr.heads, hdr.slot_size, hdr.devtype_byte, cdev.cyls) == want:
            found.append(p)
    return found


def open_cckd(base: str | os.PathLike, sf: str | os.PathLike | None = None) -> CckdVolume:
    """Open a compressed image with its shadow files (``sf`` as Hercules' ``sf=``)."""
    return CckdVolume.open(base, sf=sf)


def open_image(path: str | os.PathLike, sf: str | os.PathLike | None = None) -> Volume:
    """Open any CKD image read-only: plain (``CKD_P370``) or compressed with shadows."""
    path = first_file(Path(path))
    hdr = read_header(path)
    if hdr.eyecatcher == EYE_CKD:
        if sf is not None:
            raise ImageError(
                "DLB169E",
                f"{path} is an uncompressed image; shadow files (sf=) stack only on a compressed "
                "(CCKD) base, as with the Hercules utilities.",
            )
        return Volume.open(path)
    if hdr.eyecatcher == EYE_SHADOW:
        raise ImageError(
            "DLB161E",
            f"{path} is a shadow file (CKD_S370); open its base image with a shadow name (sf=).",
        )
    if hdr.eyecatcher == EYE_CCKD:
        return CckdVolume.open(path, sf=sf)
    return Volume.open(path)  # raises the right error for foreign files


__all__ = [
    "CckdFile",
    "CckdVolume",
    "CompressedHeader",
    "null_track_image",
    "open_cckd",
    "open_image",
    "shadow_names",
    "shadows_near",
]
