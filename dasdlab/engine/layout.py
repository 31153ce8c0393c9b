"""Physical layout of IMS HD database blocks and control intervals, and the deterministic
initial content a load puts into them.

One concept: *what the bytes of a database block look like*, for both data set
organisations of an HD data set group (``docs/domain.md`` §3.2: OSAM blocks of fixed length,
VSAM ESDS control intervals with at least 7 bytes of control information, S73).

**OSAM block** (``block_size`` bytes) and **ESDS CI data area** (``CI size - 7`` bytes)
hold the same HD block structure [unverified; modelled on the IMS HD block format]::

    0    FSEAP   2-byte offset of the first free space element (FSE), 2 bytes flags
    4    RAPs    root anchor points, 4 bytes each (HDAM, first data set group only)
    ..   segments, each: segment code (1), delete byte (1), twin-forward pointer (4),
         child pointer (4), then the segment data (BYTES= of the SEGM statement), whose
         sequence field holds EBCDIC digits
    ..   free space: one FSE (2-byte next-FSE offset, 2-byte length, 4-byte task id)
         followed by zeros

The ESDS CI ends with one RDF (3 bytes: flags, record length = CI - 7) and the CIDF
(4 bytes: offset 2 bytes and length 2 bytes of the CI's free space, here none), as VSAM
writes a CI holding one record of LRECL = CI size - 7.

Pointers are RBAs (relative byte addresses: block number x block size + offset), so a
block's bytes depend on its block number, as on a real database.  For HDAM every block
of the first data set group carries RAPs (``RMNAME=`` RAPs per block): the whole data
set is treated as root addressable area; the overflow area and the randomizer are not
modelled -- updates choose blocks by the workload's access skew, not by key.

**Deterministic content.**  :func:`generate` produces the initial image of any block
range of a data set group for a seed, independent of how the range is cut into calls:
text comes from a counter-based generator (splitmix64 of a key derived from
``(seed, group)`` and the position in the data set), then the HD structure (pointers,
keys, free space, RDF/CIDF) is stamped over it.  The loader uses it to fill DASD and the truth
store (:mod:`dasdlab.engine.truth`) uses it as the base of the committed content; neither
reads the other.

:class:`BlockLayout` also lists the *updatable regions* of a block: segment data bytes
outside the sequence field, where the workload's REPL-like updates land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dasdlab.engine.dbd import Dbd, DatasetGroup, Segment

PREFIX_LEN = 10  # segment code, delete byte, two 4-byte pointers
FSE_LEN = 8
RDF_LEN = 3
CIDF_LEN = 4
#: EBCDIC letters, digits and blanks: the alphabet of generated segment data
_EBCDIC_TEXT = np.array(
    [0xC1 + i for i in range(9)] + [0xD1 + i for i in range(9)] + [0xE2 + i for i in range(8)]
    + [0xF0 + i for i in range(10)] + [0x40] * 28,
    dtype=np.uint8,
)
assert _EBCDIC_TEXT.size == 64


@dataclass(frozen=True)
class BlockLayout:
    """Where things sit in every block of one data set group (the same in each block).

    ``seg_offsets``: offset of each segment's prefix; ``seg_codes``; ``key_offsets`` and
    ``key_lens`` of each segment's sequence field (length 0 when none);
    ``region_start``/``region_len``: the updatable data runs (segment data outside keys).
    """

    group: DatasetGroup
    block_size: int  # physical record: OSAM block or CI
    data_len: int  # bytes of the HD block structure (CI size - 7 for ESDS)
    raps: int
    seg_offsets: np.ndarray
    seg_lens: np.ndarray
    seg_codes: np.ndarray
    seg_is_root: np.ndarray
    key_offsets: np.ndarray
    key_lens: np.ndarray
    free_offset: int
    region_start: np.ndarray
    region_len: np.ndarray

    @property
    def roots_per_block(self) -> int:
        return int(self.seg_is_root.sum())

    def regions_for(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Updatable regions at least ``width`` bytes long: (start, length)."""
        ok = self.region_len >= width
        return self.region_start[ok], self.region_len[ok]


def block_layout(dbd: Dbd, group: DatasetGroup) -> BlockLayout:
    """Lay segments of ``group`` into a block: cycle through its segment types in
    hierarchic order until the block (less FRSPC free space percent, default 10) is full."""
    esds = group.method == "VSAM"
    data_len = group.block_size - (RDF_LEN + CIDF_LEN if esds else 0)
    raps = dbd.raps if (dbd.access == "HDAM" and group.index == 0) else 0
    pos = 4 + 4 * raps
    free_pct = group.frspc[1] or 10
    limit = data_len - FSE_LEN - (data_len * free_pct) // 100
    segs: list[Segment] = dbd.segments_of(group.index)
    codes = {s.name: i + 1 for i, s in enumerate(dbd.segments)}
    offs, lens, cds, roots, koffs, klens = [], [], [], [], [], []
    k = 0
    while True:
        s = segs[k % len(segs)]
        need = PREFIX_LEN + s.bytes
        if pos + need > limit:
            if not offs and pos + need <= data_len - FSE_LEN:
                pass  # at least one segment per block
            else:
                break
        offs.append(pos)
        lens.append(need)
        cds.append(codes[s.name])
        roots.append(s.parent is None)
        key = s.key
        koffs.append(pos + PREFIX_LEN + (key.start - 1) if key else pos + PREFIX_LEN)
        klens.append(key.bytes if key else 0)
        pos += need
        k += 1
    rs, rl = [], []
    for o, ln, ko, kl in zip(offs, lens, koffs, klens):
        d0, d1 = o + PREFIX_LEN, o + ln
        if kl:
            if ko > d0:
                rs.append(d0)
                rl.append(ko - d0)
            if ko + kl < d1:
                rs.append(ko + kl)
                rl.append(d1 - ko - kl)
        else:
            rs.append(d0)
            rl.append(d1 - d0)
    i64 = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return BlockLayout(group, group.block_size, data_len, raps, i64(offs), i64(lens), i64(cds),
                       np.array(roots, dtype=bool), i64(koffs), i64(klens), pos, i64(rs), i64(rl))


def _stamp(lay: BlockLayout) -> tuple[np.ndarray, ...]:
    """The arrays :func:`dasdlab.engine.kernels.stamp_blocks` needs for this layout."""
    fixed: dict[int, int] = {}

    def put(off: int, raw: bytes) -> None:
        for k, byte in enumerate(raw):
            fixed[off + k] = byte

    be16 = lambda v: int(v).to_bytes(2, "big")  # noqa: E731
    put(0, be16(lay.free_offset) + b"\0\0")
    for o in range(lay.free_offset, lay.data_len):
        fixed[o] = 0
    if lay.free_offset + FSE_LEN <= lay.data_len:
        put(lay.free_offset + 2, be16(lay.data_len - lay.free_offset))
    if lay.data_len != lay.block_size:  # ESDS: RDF (flags, length) + CIDF (offset, length)
        d = lay.data_len
        put(d, b"\0" + be16(d) + be16(d) + b"\0\0")
    ptr_pos, ptr_add = [], []
    roots = np.flatnonzero(lay.seg_is_root)
    for j in range(lay.raps):
        ptr_pos.append(4 + 4 * j)
        ptr_add.append(int(lay.seg_offsets[roots[j]]) if j < roots.size else -1)
    key_pos, key_len, key_base, key_mult = [], [], [], []
    nseg = lay.seg_offsets.size
    roots_before = np.cumsum(lay.seg_is_root) - lay.seg_is_root
    for i in range(nseg):
        o = int(lay.seg_offsets[i])
        put(o, bytes((int(lay.seg_codes[i]), 0)))
        same = np.flatnonzero(lay.seg_codes[i + 1 :] == lay.seg_codes[i])
        ptr_pos.append(o + 2)
        ptr_add.append(int(lay.seg_offsets[i + 1 + same[0]]) if same.size else -1)
        ptr_pos.append(o + 6)
        child = i + 1 < nseg and not lay.seg_is_root[i + 1]
        ptr_add.append(int(lay.seg_offsets[i + 1]) if child else -1)
        if lay.key_lens[i]:
            key_pos.append(int(lay.key_offsets[i]))
            key_len.append(int(lay.key_lens[i]))
            if lay.seg_is_root[i]:
                key_base.append(int(roots_before[i]))
                key_mult.append(lay.roots_per_block)
            else:  # unique under its parent
                key_base.append(i)
                key_mult.append(0)
    pos = np.array(sorted(fixed), dtype=np.int64)
    val = np.array([fixed[k] for k in sorted(fixed)], dtype=np.uint8)
    i64 = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return pos, val, i64(ptr_pos), i64(ptr_add), i64(key_pos), i64(key_len), i64(key_base), i64(key_mult)


_STAMPS: dict[int, tuple] = {}


def text_key(seed: int, group: int) -> np.uint64:
    """The key of a data set group's text stream for a seed."""
    ss = np.random.SeedSequence([int(seed), int(group)])
    return np.uint64(ss.generate_state(1, np.uint64)[0])


def generate(lay: BlockLayout, seed: int, first: int, count: int,
             out: np.ndarray | None = None) -> np.ndarray:
    """Initial image of blocks ``first .. first+count-1``: (count, block_size) uint8.

    Text from :func:`dasdlab.engine.kernels.text_blocks` (counter-based, so any range
    is generated alone), then the HD structure stamped over it."""
    from dasdlab.engine.kernels import stamp_blocks, text_blocks

    st = _STAMPS.get(id(lay))
    if st is None or st[0] is not lay:
        st = (lay, _stamp(lay))
        _STAMPS[id(lay)] = st
    if out is None:
        out = np.empty((count, lay.block_size), dtype=np.uint8)
    text_blocks(out, first, text_key(seed, lay.group.index), _EBCDIC_TEXT)
    if lay.block_size % 8:
        out[:, lay.block_size - lay.block_size % 8 :] = 0x40
    stamp_blocks(out, first, lay.block_size, *st[1])
    return out


class ChunkCache:
    """Fills consecutive small ranges (the loader asks one track at a time) in a reused
    buffer, so pages are not faulted in afresh for every track."""

    def __init__(self, lay: BlockLayout, seed: int) -> None:
        self.lay = lay
        self.seed = seed
        self._buf = np.empty((64, lay.block_size), dtype=np.uint8)

    def blocks(self, first: int, count: int) -> np.ndarray:
        if count > self._buf.shape[0]:
            return generate(self.lay, self.seed, first, count)
        return generate(self.lay, self.seed, first, count, out=self._buf[:count])
