"""Free space inside a compressed CKD image (CCKD), kept as Hercules keeps it.

Facts from the Hercules sources -- Hercules 3.x, ``cckddasd.c`` (``cckd_get_space``,
``cckd_rel_space``) and ``cckdutil.c`` (``cckd_chkdsk``), https://github.com/rbowler/spinhawk,
and the same checks in SDL Hyperion, https://github.com/SDL-Hercules-390/hyperion --
checked with Hercules 3.13 ``cckdcdsk -3`` on images dasdlab writes in place:

* the compressed-device header holds the offset of the first free block, the free
  bytes, the largest free block, the number of free blocks and the *imbedded* free space
  (bytes allotted to track images beyond their length: ``size - len`` summed over the L2
  entries); as ``cckd_chkdsk`` counts them, the free bytes include the imbedded ones and
  the bytes used are the file size less all free bytes;
* each free block starts with ``pos(4) len(4)`` in the image's byte order: ``pos`` is the
  offset of the next free block (0 ends the chain), ``len`` this block's length; the
  chain runs in file order;
* new track images and L2 tables go to the first free block that fits or, when none
  does, to the end of the file; the space an image leaves is freed, and free space that
  reaches the end of the file is cut off instead of chained.

The emulator (``cckd_write_fsp``/``cckd_read_fsp`` in ``cckddasd.c``) writes the chain in
a second, "new" format when it closes an image it changed: ``FREE_BLK`` (8 bytes) then
``pos(4) len(4)`` for every free block in file order -- here ``pos`` is the block's own
offset -- stored inside the first free block big enough to hold it (the header's
first-free offset then points at that block); the other free blocks keep stale bytes.
Both formats are read; dasdlab writes the old one, except where it does what the
emulator does (:mod:`dasdlab.emulator.shadowfiles`).

A free block must hold its 8-byte chain entry, so a block is split only when at least
that much remains; otherwise a track image takes the whole block and the rest is
imbedded free space.
"""

from __future__ import annotations

import bisect
import os
import struct

#: A free block's chain entry: next block's offset, this block's length.
FREEBLK_LEN = 8
#: Eye-catcher of the emulator's free-space array.
FREE_BLK = b"FREE_BLK"


class FreeSpace:
    """The free blocks of one image and its end-of-file offset, in memory.

    ``blocks`` is a sorted list of ``[pos, len]``; :meth:`write_chain` stores it into
    the blocks themselves.
    """

    def __init__(self, file_end: int, blocks: list[tuple[int, int]] | None = None) -> None:
        self.file_end = file_end
        self.blocks: list[list[int]] = sorted([p, n] for p, n in (blocks or []))

    @classmethod
    def read_chain(cls, fd: int, first: int, file_end: int, order: str, floor: int,
                   limit: int = 1 << 24, number: int | None = None) -> FreeSpace:
        """Walk the chain from ``first`` (either format; ``number``, the header's block
        count, is needed for the emulator's); ValueError when it leaves the file or loops."""
        blocks = []
        pos = first
        if pos and os.pread(fd, FREEBLK_LEN, pos) == FREE_BLK:
            return cls._read_array(fd, pos, file_end, order, floor, number)
        while pos:
            if pos < floor or pos + FREEBLK_LEN > file_end or len(blocks) >= limit or \
                    (blocks and pos <= blocks[-1][0]):
                raise ValueError(f"free-space chain entry at byte {pos} is outside the file or out of order")
            nxt, n = struct.unpack(order + "II", os.pread(fd, FREEBLK_LEN, pos))
            if n < FREEBLK_LEN or pos + n > file_end:
                raise ValueError(f"free block at byte {pos} has length {n}")
            blocks.append((pos, n))
            pos = nxt
        return cls(file_end, blocks)

    @classmethod
    def _read_array(cls, fd: int, at: int, file_end: int, order: str, floor: int,
                    number: int | None) -> FreeSpace:
        """The emulator's format: ``FREE_BLK`` at ``at``, then ``number`` pairs of
        (own offset, length), the count taken from the header as the emulator does."""
        if number is None or number <= 0:
            raise ValueError(f"free-space array at byte {at} without a block count")
        raw = os.pread(fd, FREEBLK_LEN * number, at + FREEBLK_LEN)
        if len(raw) < FREEBLK_LEN * number:
            raise ValueError(f"free-space array at byte {at} runs past the end of the file")
        blocks: list[tuple[int, int]] = []
        for pos, n in struct.iter_unpack(order + "II", raw):
            if pos < floor or n < FREEBLK_LEN or pos + n > file_end or \
                    (blocks and pos < blocks[-1][0] + blocks[-1][1]):
                raise ValueError(f"free block at byte {pos} of length {n} (free-space array at "
                                 f"byte {at}) is outside the file or out of order")
            blocks.append((pos, n))
        return cls(file_end, blocks)

    # ------------------------------------------------------------------ figures
    @property
    def total(self) -> int:
        return sum(n for _p, n in self.blocks)

    @property
    def largest(self) -> int:
        return max((n for _p, n in self.blocks), default=0)

    @property
    def number(self) -> int:
        return len(self.blocks)

    @property
    def first(self) -> int:
        return self.blocks[0][0] if self.blocks else 0

    # ------------------------------------------------------------------ allocation
    def allocate(self, length: int, exact: bool = False) -> tuple[int, int]:
        """(offset, allotted size) of space for ``length`` bytes: the first free block
        that fits, else the end of the file.  ``exact`` (L2 tables) never allots more.
        Nothing smaller than a chain entry is allotted, so that freed space can always
        be chained."""
        if not exact:
            length = max(length, FREEBLK_LEN)
        for i, (pos, n) in enumerate(self.blocks):
            if n == length:
                del self.blocks[i]
                return pos, length
            if n - length >= FREEBLK_LEN:
                self.blocks[i] = [pos + length, n - length]
                return pos, length
            if not exact and n > length and n <= 0xFFFF:
                del self.blocks[i]
                return pos, n
        pos = self.file_end
        self.file_end += length
        return pos, length

    def release(self, pos: int, size: int) -> None:
        """Free ``size`` bytes at ``pos``, merged with free neighbours; cut at the end."""
        if size <= 0:
            return
        i = bisect.bisect_left(self.blocks, [pos, 0])
        if i > 0 and self.blocks[i - 1][0] + self.blocks[i - 1][1] == pos:
            i -= 1
            self.blocks[i][1] += size
        else:
            self.blocks.insert(i, [pos, size])
        if i + 1 < len(self.blocks) and self.blocks[i][0] + self.blocks[i][1] == self.blocks[i + 1][0]:
            self.blocks[i][1] += self.blocks[i + 1][1]
            del self.blocks[i + 1]
        last = self.blocks[-1]
        if last[0] + last[1] == self.file_end:
            self.file_end = last[0]
            self.blocks.pop()

    def write_array(self, fd: int, order: str) -> int:
        """Store the free space as the emulator does when it closes an image (the
        ``FREE_BLK`` array inside the first block that holds it); returns the offset
        for the header's first-free field.  When no block is big enough the old chain
        is written instead (the emulator would append the array past the file's end)."""
        if not self.blocks:
            return 0
        need = (len(self.blocks) + 1) * FREEBLK_LEN
        host = next((p for p, n in self.blocks if n >= need), None)
        if host is None:
            self.write_chain(fd, order)
            return self.first
        os.pwrite(fd, FREE_BLK + b"".join(struct.pack(order + "II", p, n) for p, n in self.blocks), host)
        return host

    def write_chain(self, fd: int, order: str) -> None:
        for i, (pos, n) in enumerate(self.blocks):
            nxt = self.blocks[i + 1][0] if i + 1 < len(self.blocks) else 0
            os.pwrite(fd, struct.pack(order + "II", nxt, n), pos)


__all__ = ["FREEBLK_LEN", "FREE_BLK", "FreeSpace"]
