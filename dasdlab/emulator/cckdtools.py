"""Maintenance of compressed CKD images: check (and repair), compact, byte-order swap --
what Hercules 3.13 ``cckdcdsk``, ``cckdcomp`` and ``cckdswap`` do.

Facts from the Hercules utilities' source (``cckdutil.c``: Hercules 3.x,
https://github.com/rbowler/spinhawk; SDL Hyperion, https://github.com/SDL-Hercules-390/hyperion),
their behaviour (Hercules 3.13, run on the same images by the interop tests) and the
format of :mod:`dasdlab.emulator.cckd`:

* ``cckdcdsk`` levels: 0 checks the headers and the free-space figures, 1 also the L2
  tables and that no two pieces of the file (L2 tables, track images, free blocks)
  overlap, 2 also each stored track's 5-byte header (compression code and CCHH), 3 also
  decompresses every track image; dasdlab's levels check the same.  Repair rebuilds the
  free-space chain from the gaps between the used pieces and recomputes the header
  figures (bytes used, free, largest, number, imbedded), clearing the 'opened' flag;
  a damaged track or L2 table is reported and never guessed at.
* ``cckdcomp`` removes all free space and imbedded free space.  dasdlab writes the L2
  tables right after the L1 table, then the track images in track order, each allotted
  exactly its length; ``cckdcomp`` orders the pieces otherwise, but the file has the
  same size and the same tracks (checked by the interop tests).
* ``cckdcdsk`` reports free-space faults as warnings with exit 0 (it rebuilds free
  space when it may write); dasdlab's check exits non-zero for them, as for every fault.
* ``cckdswap`` rewrites the compressed header's numbers, the L1 and L2 tables and the
  free-space chain in the other byte order and flips options bit 0x02; the cylinder
  count stays little-endian (see :mod:`dasdlab.emulator.cckd`).

Every change is made to a copy that replaces the image only when complete (compact,
swap) or, for repair, only after the whole image has been checked; without ``repair``
the image is never written.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dasdlab.emulator.cckd import (
    FALL_THROUGH,
    L1_POS,
    L2_ENTRIES,
    L2_LEN,
    OPT_BIGENDIAN,
    OPT_OPENED,
    CckdFile,
    CckdVolume,
)
from dasdlab.emulator.cckdspace import FREEBLK_LEN, FreeSpace
from dasdlab.emulator.geometry import DEVHDR_LEN
from dasdlab.emulator.volume import EYE_CCKD, EYE_SHADOW
from dasdlab.errors import ImageError

LEVELS = (0, 1, 2, 3)


@dataclass
class CheckReport:
    """What :func:`check_image` found; ``repairable`` problems are free-space and header
    figures, the others damaged tables or tracks."""

    path: Path
    level: int
    problems: list[str] = field(default_factory=list)
    repairable: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def sound(self) -> bool:
        return not self.problems and (not self.repairable or self.repaired)


def _open(path: Path, writable: bool = False) -> CckdFile:
    """A compressed base or one shadow file of a stack (both have the same layout)."""
    from dasdlab.emulator.volume import read_header

    eye = EYE_SHADOW if read_header(Path(path)).eyecatcher == EYE_SHADOW else EYE_CCKD
    return CckdFile(Path(path), eye, writable=writable)


def _used_pieces(f: CckdFile, report: CheckReport | None, level: int) -> list[tuple[int, int, str]]:
    """(pos, length, what) of every L2 table and track image, as the tables say."""
    pieces = []
    heads = f.devhdr.heads
    for l1x in range(len(f.l1)):
        off = int(f.l1[l1x])
        if off in (0, FALL_THROUGH):
            continue
        pieces.append((off, L2_LEN, f"L2 table {l1x}"))
        if level < 1:
            continue
        tab = f.l2(l1x)
        for l2x in np.flatnonzero(tab["pos"] != 0).tolist():
            t = l1x * L2_ENTRIES + l2x
            pos, n, size = int(tab[l2x]["pos"]), int(tab[l2x]["len"]), int(tab[l2x]["size"])
            if pos == FALL_THROUGH:
                continue
            if n < 5 or size < n or pos < f.l2_floor or pos + size > f.size:
                if report is not None:
                    report.problems.append(
                        f"track {t}: L2 entry pos {pos} len {n} size {size} is outside the file "
                        f"({f.size} bytes) or inconsistent")
                continue
            pieces.append((pos, size, f"track {t}"))
            if level >= 2 and report is not None:
                hdr = os.pread(f.fd, 5, pos)
                cyl, head = divmod(t, heads)
                if hdr[0] > 2 or struct.unpack(">HH", hdr[1:5]) != (cyl, head):
                    report.problems.append(
                        f"track {t}: stored header {hdr.hex()} is not compression 0-2 with CCHH "
                        f"{cyl},{head}")
    return sorted(pieces)


def check_image(path: str | os.PathLike, level: int = 1, repair: bool = False) -> CheckReport:
    """Check a compressed image as ``cckdcdsk -LEVEL`` does; with ``repair``, rebuild its
    free space and header figures when nothing else is wrong."""
    path = Path(path)
    if level not in LEVELS:
        raise ImageError("DLB893E", f"check level {level} is not one of 0-3.")
    report = CheckReport(path, level)
    f = _open(path)
    try:
        c = f.cdev
        if c.options & OPT_OPENED:
            report.repairable.append("the 'opened' flag is set: the image was not closed after an update")
        if c.size != f.size:
            report.repairable.append(f"the header says the file is {c.size} bytes; it is {f.size}")
        try:
            space = FreeSpace.read_chain(f.fd, c.free, f.size, c.byteorder, f.l2_floor,
                                         number=c.free_number)
        except ValueError as e:
            space = None
            report.repairable.append(f"free-space chain: {e}")
        if space is not None and (space.number, space.total, space.largest) != \
                (c.free_number, c.free_total - c.free_imbed, c.free_largest):
            report.repairable.append(
                f"the header counts {c.free_number} free blocks, {c.free_total - c.free_imbed} "
                f"bytes, largest {c.free_largest}; the chain holds {space.number}, {space.total}, "
                f"{space.largest}")
        pieces = _used_pieces(f, report, level)
        free = [(p, n, "free block") for p, n in (space.blocks if space else [])]
        everything = sorted(pieces + free)
        for (p0, n0, w0), (p1, _n1, w1) in zip(everything, everything[1:]):
            if p0 + n0 > p1:
                (report.problems if "free" not in w0 + w1 else report.repairable).append(
                    f"{w0} (bytes {p0}..{p0 + n0}) overlaps {w1} at byte {p1}")
        if level >= 1:
            vol_gaps = _gaps(pieces, f.l2_floor, f.size)
            if space is not None and vol_gaps != [tuple(b) for b in space.blocks]:
                lost = sum(n for _p, n in vol_gaps) - space.total
                if lost:
                    report.repairable.append(f"{lost} bytes are neither used nor in the free-space chain")
            imbed = _imbedded(f)
            if imbed != c.free_imbed:
                report.repairable.append(f"the header counts {c.free_imbed} imbedded free bytes; "
                                         f"the L2 tables {imbed}")
            if space is not None and c.used != f.size - space.total - imbed:
                report.repairable.append(f"the header counts {c.used} bytes used; the tables "
                                         f"{f.size - space.total - imbed}")
        if level >= 3 and not report.problems:
            vol = CckdVolume([f])
            for t in range(vol.ntracks):
                try:
                    vol.track_image(t)
                except ImageError as e:
                    report.problems.append(e.text)
                    if len(report.problems) > 100:
                        break
    finally:
        f.close()
    if repair and report.repairable and not report.problems:
        _repair(path)
        report.repaired = True
    return report


def _gaps(pieces, floor: int, end: int) -> list[tuple[int, int]]:
    gaps, at = [], floor
    for p, n, _w in pieces:
        if p > at:
            gaps.append((at, p - at))
        at = max(at, p + n)
    if at < end:
        gaps.append((at, end - at))
    return gaps


def _imbedded(f: CckdFile) -> int:
    total = 0
    for l1x in range(len(f.l1)):
        if int(f.l1[l1x]) in (0, FALL_THROUGH):
            continue
        tab = f.l2(l1x)
        live = (tab["pos"] != 0) & (tab["pos"] != FALL_THROUGH)
        total += int((tab["size"][live].astype(np.int64) - tab["len"][live]).sum())
    return total


def _repair(path: Path) -> None:
    """Rebuild the free-space chain from the gaps, then the header figures."""
    f = _open(path, writable=True)
    try:
        pieces = _used_pieces(f, None, 1)
        gaps = _gaps(pieces, f.l2_floor, f.size)
        end = f.size
        if gaps and gaps[-1][0] + gaps[-1][1] == end:
            end = gaps.pop()[0]
        # a gap too small for its chain entry becomes imbedded in the piece before it
        # only when that piece is a track; else it stays as free space of its own size
        space = FreeSpace(end, [g for g in gaps if g[1] >= FREEBLK_LEN])
        c = f.cdev
        space.write_chain(f.fd, c.byteorder)
        os.ftruncate(f.fd, end)
        imbed = _imbedded(f)
        cdev = replace(c, options=c.options & ~OPT_OPENED, size=end,
                       used=end - space.total - imbed, free=space.first,
                       free_total=space.total + imbed, free_largest=space.largest,
                       free_number=space.number, free_imbed=imbed)
        os.pwrite(f.fd, cdev.pack(), DEVHDR_LEN)
        os.fsync(f.fd)
    finally:
        f.close()


def _replace_with(path: Path, data_writer) -> None:
    tmp = path.with_name(path.name + ".dasdlab-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        try:
            data_writer(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _refuse_damaged(path: Path, what: str) -> None:
    rep = check_image(path, level=1)
    if rep.problems:
        raise ImageError("DLB894E", f"{path} is damaged ({rep.problems[0]}); {what} refused. "
                                    "Check it with 'dasdlab volume cckd check'.")


def compact_image(path: str | os.PathLike) -> tuple[int, int]:
    """Remove all free space (as ``cckdcomp``); returns (bytes before, bytes after)."""
    path = Path(path)
    _refuse_damaged(path, "compacting")
    f = _open(path)
    try:
        before = f.size
        c = f.cdev
        order = c.byteorder
        # a shadow's 'look below' entries stay as they are: they hold nothing
        groups = [l1x for l1x in range(len(f.l1)) if int(f.l1[l1x]) not in (0, FALL_THROUGH)]
        l1 = np.where(f.l1 == FALL_THROUGH, FALL_THROUGH, 0).astype(order + "u4")
        tables = {}
        at = f.l2_floor
        for l1x in groups:
            l1[l1x] = at
            at += L2_LEN
        moves = []
        for l1x in groups:
            tab = f.l2(l1x).copy()
            for l2x in np.flatnonzero((tab["pos"] != 0) & (tab["pos"] != FALL_THROUGH)).tolist():
                n = int(tab[l2x]["len"])
                moves.append((at, int(tab[l2x]["pos"]), n))
                tab[l2x] = (at, n, n)
                at += n
            tables[l1x] = tab

        def write(fd: int) -> None:
            os.pwrite(fd, os.pread(f.fd, DEVHDR_LEN, 0), 0)
            cdev = replace(c, options=c.options & ~OPT_OPENED, size=at, used=at, free=0,
                           free_total=0, free_largest=0, free_number=0, free_imbed=0)
            os.pwrite(fd, cdev.pack() + l1.tobytes() + b"".join(tables[g].tobytes() for g in groups),
                      DEVHDR_LEN)
            buf, start = [], None
            for new, old, n in moves:
                if start is None:
                    start = new
                buf.append(os.pread(f.fd, n, old))
                if len(buf) >= 256:
                    os.pwrite(fd, b"".join(buf), start)
                    buf, start = [], None
            if buf:
                os.pwrite(fd, b"".join(buf), start)

        _replace_with(path, write)
    finally:
        f.close()
    return before, at


def swap_image(path: str | os.PathLike) -> str:
    """Rewrite the image in the other byte order (as ``cckdswap``); returns the new
    order, 'big' or 'little'."""
    path = Path(path)
    _refuse_damaged(path, "swapping")
    f = _open(path)
    try:
        c = f.cdev
        old, new = c.byteorder, ("<" if c.big_endian else ">")
        space = FreeSpace.read_chain(f.fd, c.free, f.size, old, f.l2_floor,
                                     number=c.free_number)
        data = bytearray(os.pread(f.fd, f.size, 0))
        cdev = replace(c, options=c.options ^ OPT_BIGENDIAN)
        data[DEVHDR_LEN : DEVHDR_LEN + len(cdev.pack())] = cdev.pack()
        data[L1_POS : L1_POS + 4 * len(f.l1)] = f.l1.astype(new + "u4").tobytes()
        dt = np.dtype([("pos", new + "u4"), ("len", new + "u2"), ("size", new + "u2")])
        for l1x in range(len(f.l1)):
            off = int(f.l1[l1x])
            if off in (0, FALL_THROUGH):
                continue
            data[off : off + L2_LEN] = f.l2(l1x).astype(dt).tobytes()
        for i, (pos, n) in enumerate(space.blocks):
            nxt = space.blocks[i + 1][0] if i + 1 < len(space.blocks) else 0
            data[pos : pos + FREEBLK_LEN] = struct.pack(new + "II", nxt, n)
    finally:
        f.close()
    _replace_with(path, lambda fd: os.pwrite(fd, bytes(data), 0))
    return "big" if new == ">" else "little"


__all__ = ["CheckReport", "LEVELS", "check_image", "compact_image", "swap_image"]
