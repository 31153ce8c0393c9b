"""Physical layout of IMS HD database blocks and control intervals, and the deterministic
initial content a load puts into them.

One concept: *what the bytes of a database block look like*, for both data set
organisations of an HD data set group (``domain.md`` §3.2: OSAM blocks of fixed length,
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
block's bytes depend on its block number, as on a real database.

**Deterministic content.**  :func:`generate` produces the initial image of any block
range of a data set group for a seed, independent of how the range is cut into calls:
bytes come from a numpy ``Generator`` seeded with ``(seed, group, chunk)`` for fixed
chunks of :data:`CHUNK_BLOCKS` blocks.  The loader uses it to fill DASD and the truth
store (:mod:`dasdlab.engine.truth`) uses it as the base of the committed content; neither
reads the other.

:class:`BlockLayout` also lists the *updatable regions* of a block: segment data bytes
outside the sequence field, where the workload's REPL-like updates land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dasdlab.engine.dbd import Dbd, DatasetGroup, Segment

CHUNK_BLOCKS = 1024
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


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """EBCDIC zoned digits of ``values`` (int64), ``width`` wide, most significant first."""
    out = np.empty((values.size, width), dtype=np.uint8)
    v = values.copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = 0xF0 + (v % 10)
        v //= 10
    return out


def _be32(values: np.ndarray) -> np.ndarray:
    return values.astype(">u4").view(np.uint8).reshape(-1, 4)


def _chunk(lay: BlockLayout, seed: int, chunk: int) -> np.ndarray:
    """The initial image of blocks ``chunk*CHUNK_BLOCKS ..`` (CHUNK_BLOCKS x block_size)."""
    n, bs = CHUNK_BLOCKS, lay.block_size
    from dasdlab.engine.kernels import ebcdic_text

    bitgen = np.random.PCG64(np.random.SeedSequence([seed, lay.group.index, chunk]))
    raw = bitgen.random_raw(n * bs // 8).view(np.uint8)
    out = np.empty((n, bs), dtype=np.uint8)
    ebcdic_text(raw, _EBCDIC_TEXT, out.reshape(-1))
    rbn = np.arange(chunk * n, (chunk + 1) * n, dtype=np.int64)
    rba = rbn * bs
    out[:, lay.free_offset : lay.data_len] = 0
    out[:, 0:2] = np.frombuffer(np.uint16(lay.free_offset).astype(">u2").tobytes(), np.uint8)
    out[:, 2:4] = 0
    nseg = lay.seg_offsets.size
    roots_before = np.cumsum(lay.seg_is_root) - lay.seg_is_root
    for j in range(lay.raps):
        # RAP j anchors the j-th root of the block when there is one
        ridx = np.flatnonzero(lay.seg_is_root)
        target = rba + lay.seg_offsets[ridx[j]] if j < ridx.size else np.zeros_like(rba)
        out[:, 4 + 4 * j : 8 + 4 * j] = _be32(target)
    for i in range(nseg):
        o = int(lay.seg_offsets[i])
        out[:, o] = lay.seg_codes[i]
        out[:, o + 1] = 0
        # twin forward: next segment of the same type in this block, else 0
        same = np.flatnonzero(lay.seg_codes[i + 1 :] == lay.seg_codes[i])
        tf = rba + lay.seg_offsets[i + 1 + same[0]] if same.size else np.zeros_like(rba)
        out[:, o + 2 : o + 6] = _be32(tf)
        child = rba + lay.seg_offsets[i + 1] if (i + 1 < nseg and not lay.seg_is_root[i + 1]) else np.zeros_like(rba)
        out[:, o + 6 : o + 10] = _be32(child)
        kl = int(lay.key_lens[i])
        if kl:
            ko = int(lay.key_offsets[i])
            if lay.seg_is_root[i]:
                keyval = rbn * lay.roots_per_block + int(roots_before[i])
            else:
                keyval = np.full(n, i, dtype=np.int64)  # unique under its parent
            out[:, ko : ko + kl] = _digits(keyval, kl)
    if lay.free_offset + FSE_LEN <= lay.data_len:
        fo = lay.free_offset
        out[:, fo : fo + 2] = 0
        out[:, fo + 2 : fo + 4] = np.frombuffer(np.uint16(lay.data_len - fo).astype(">u2").tobytes(), np.uint8)
    if lay.data_len != bs:  # ESDS: RDF + CIDF at the end of the CI
        d = lay.data_len
        out[:, d] = 0
        out[:, d + 1 : d + 3] = np.frombuffer(np.uint16(d).astype(">u2").tobytes(), np.uint8)
        out[:, d + 3 : d + 5] = np.frombuffer(np.uint16(d).astype(">u2").tobytes(), np.uint8)
        out[:, d + 5 : d + 7] = 0
    return out


def generate(lay: BlockLayout, seed: int, first: int, count: int) -> np.ndarray:
    """Initial image of blocks ``first .. first+count-1``: (count, block_size) uint8."""
    out = np.empty((count, lay.block_size), dtype=np.uint8)
    b = first
    end = first + count
    while b < end:
        c = b // CHUNK_BLOCKS
        img = _chunk(lay, seed, c)
        lo = b - c * CHUNK_BLOCKS
        hi = min(end - c * CHUNK_BLOCKS, CHUNK_BLOCKS)
        out[b - first : b - first + hi - lo] = img[lo:hi]
        b += hi - lo
    return out


class ChunkCache:
    """Serves :func:`generate` for consecutive small ranges (the loader fills one track
    at a time) while generating each chunk once."""

    def __init__(self, lay: BlockLayout, seed: int) -> None:
        self.lay = lay
        self.seed = seed
        self._c = -1
        self._img: np.ndarray | None = None

    def blocks(self, first: int, count: int) -> np.ndarray:
        c0 = first // CHUNK_BLOCKS
        c1 = (first + count - 1) // CHUNK_BLOCKS
        if c0 != c1:
            return generate(self.lay, self.seed, first, count)
        if c0 != self._c:
            self._img = _chunk(self.lay, self.seed, c0)
            self._c = c0
        lo = first - c0 * CHUNK_BLOCKS
        assert self._img is not None
        return self._img[lo : lo + count]
