"""Database buffer pool with deferred writes (one subpool per DBDS).

Why it exists: an update changes a buffer first and reaches DASD later, so at any
moment DASD lags the committed content.  That lag is what makes a concurrent image copy
*fuzzy* -- a change committed before the copy started may still be in a buffer when the
copier reads the block, which is why recovery from a fuzzy copy starts at an earlier
checkpoint (``docs/domain.md`` §1.5, §3.3; S29, S31, S25).

**Model.**  A subpool holds ``nbuf`` buffers of the data set's block (OSAM) or CI (ESDS)
size, like IMS OSAM subpools and VSAM local shared resource pools, which are also
grouped by buffer size.  Replacement is LRU.  A dirty buffer reaches DASD:

* on **steal** -- it is the least recently used buffer and another block needs it;
* past the **deferred-write threshold** -- when more than ``dirty_limit`` of the
  buffers are dirty, the oldest dirty buffers (by recovery sequence number) are written
  until half that many remain (an asynchronous write-behind);
* at **sync point**, only under ``SyncPolicy.COMMIT`` -- every buffer a unit of work
  changed is written when it commits;
* at **checkpoint** (and ``/DBR``, ``/DBD``, quiesce, a clean shutdown) -- all dirty
  buffers are written; the checkpoint record that follows promises that every change
  logged before it is on DASD.

**Policy chosen** (configurable): ``SyncPolicy.DEFERRED`` is the default -- writes are
deferred past commit and forced at steal, threshold and checkpoint.  This is the
behaviour that makes online copies fuzzy and the one DBRC's purge-time rule is built
for.  ``SyncPolicy.COMMIT`` writes at every sync point (no lag beyond a slice), for
comparison.  [Which one IMS full-function uses at sync point is not settled in our
sources; both are kept so scenarios can show the difference.]

**Write-ahead rule.**  :meth:`BufferPool.apply` never writes DASD: stolen dirty
buffers are kept as *pending writes* until the caller has logged the batch, then
:meth:`BufferPool.write_pending` writes them, through ``Volume.write_many`` -- the
subsystem's write path, so copy-on-write intercepts of copy services see every write.

State (arrays, see :mod:`dasdlab.engine.kernels`): ``slot_block``/``block_slot``, the LRU
chain, ``dirty`` and ``rec_seq`` (oldest unwritten change per buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class SyncPolicy(str, Enum):
    DEFERRED = "deferred"
    COMMIT = "commit"


@dataclass
class PoolStats:
    hits: int = 0
    misses: int = 0
    steal_writes: int = 0
    clean_steals: int = 0
    threshold_writes: int = 0
    sync_writes: int = 0
    checkpoint_writes: int = 0
    dasd_reads: int = 0
    by_reason: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "by_reason"}


def max_batch(block_size: int) -> int:
    """Largest update batch :meth:`BufferPool.apply` takes: its steal area (one row per
    update at most) stays within 16 MiB."""
    return max(64, min(8192, (16 << 20) // block_size))


def read_dasd(ds, rbns: np.ndarray, k=None) -> np.ndarray:
    """Blocks ``rbns`` of formatted data set ``ds`` as DASD holds them now.  A copy
    target's read redirection is honoured (per-track reads then); otherwise one gather
    kernel call reads the volume's map directly."""
    if k is None:
        from dasdlab.engine import kernels as k
    rbns = np.asarray(rbns, np.int64)
    bs = ds.blksize
    out = np.empty((rbns.size, bs), np.uint8)
    if rbns.size == 0:
        return out
    vol = ds.vol
    trk, off = ds.locate_many(rbns)
    single = getattr(vol, "_single", None)
    if single is not None and vol.read_hook is None and bool(vol.written.test_many(np.unique(trk)).all()):
        k.gather_blocks(single, trk, off, bs, out)
    else:
        for i, (t, o) in enumerate(zip(trk.tolist(), off.tolist())):
            out[i] = vol.read_track(t)[o : o + bs]
    return out


class BufferPool:
    """The subpool of one DBDS.  ``dataset`` is a formatted
    :class:`dasdlab.emulator.dataset.Dataset` of ``nblocks`` blocks."""

    def __init__(self, dataset, nblocks: int, nbuf: int = 256,
                 policy: SyncPolicy | str = SyncPolicy.DEFERRED, dirty_limit: float = 0.5,
                 use_kernels: bool = True) -> None:
        if nbuf < 1:
            raise ValueError("a buffer pool needs at least one buffer")
        self.ds = dataset
        self.vol = dataset.vol
        self.bs = dataset.blksize
        self.nblocks = int(nblocks)
        self.nbuf = int(min(nbuf, max(nblocks, 1)))
        self.policy = SyncPolicy(policy)
        self.dirty_limit = float(dirty_limit)
        self.stats = PoolStats()
        if use_kernels:
            from dasdlab.engine import kernels as k
        else:
            from dasdlab.engine import kernels_ref as k
        self._k = k
        self.slot_block = np.full(self.nbuf, -1, np.int64)
        self.block_slot = np.full(self.nblocks, -1, np.int32)
        self.buf = np.zeros((self.nbuf, self.bs), np.uint8)
        self.dirty = np.zeros(self.nbuf, np.uint8)
        self.rec_seq = np.zeros(self.nbuf, np.int64)
        self.prev = np.full(self.nbuf, -1, np.int32)
        self.nxt = np.full(self.nbuf, -1, np.int32)
        self.meta = np.array([-1, -1, 0], np.int64)
        # Pending writes: stolen dirty buffers not yet on DASD, in steal order (a block
        # may appear twice; its later row is its content).  ``_pend_row[block]`` is the
        # latest row of a pending block, -1 for none.
        self._pend_blk = np.empty(0, np.int64)
        self._pend_buf = np.empty((0, self.bs), np.uint8)
        self._pend_n = 0
        self._pend_row = np.full(self.nblocks, -1, np.int64)

    # ------------------------------------------------------------------ DASD access
    def read_dasd(self, rbns: np.ndarray) -> np.ndarray:
        """Blocks as DASD holds them now (copy-target read redirection honoured)."""
        self.stats.dasd_reads += int(np.size(rbns))
        return read_dasd(self.ds, rbns, self._k)

    def _write_dasd(self, rbns: np.ndarray, data: np.ndarray) -> None:
        if rbns.size == 0:
            return
        trk, off = self.ds.locate_many(rbns)
        self.vol.write_many(trk, off, data)

    # ------------------------------------------------------------------ updates
    def apply(self, blocks: np.ndarray, offsets: np.ndarray, after: np.ndarray,
              seqs: np.ndarray) -> np.ndarray:
        """Apply committed updates in order; returns their before images (n, width).

        Stolen dirty buffers become pending writes (see :meth:`write_pending`)."""
        blocks = np.asarray(blocks, np.int64)
        n = blocks.size
        width = after.shape[1] if after.ndim == 2 else 0
        before = np.empty((n, width), np.uint8)
        if n == 0:
            return before
        if int(blocks.min()) < 0 or int(blocks.max()) >= self.nblocks:
            raise ValueError("block outside the data set")
        if int(offsets.min()) < 0 or int(offsets.max()) + width > self.bs:
            raise ValueError("update outside the block")
        cap = max_batch(self.bs)
        for a in range(0, n, cap):
            b = min(n, a + cap)
            self._apply_part(blocks[a:b], np.asarray(offsets[a:b], np.int64),
                             np.ascontiguousarray(after[a:b], np.uint8), np.asarray(seqs[a:b], np.int64),
                             before[a:b])
        return before

    def _apply_part(self, blocks, offsets, after, seqs, before) -> None:
        uniq = np.unique(blocks)
        pre = np.empty((uniq.size, self.bs), np.uint8)
        # only blocks not resident now need their DASD contents; rows of resident
        # blocks are filled by the kernel if it steals them
        absent = self.block_slot[uniq] < 0
        if absent.any():
            cand = uniq[absent]
            rows = self._pend_row[cand]
            hit = rows >= 0
            data = self.read_dasd(cand[~hit]) if not hit.all() else None
            fill = np.empty((cand.size, self.bs), np.uint8)
            if data is not None:
                fill[~hit] = data
            # a block stolen earlier in this batch is not on DASD yet: its pending write
            # (the latest one) is its DASD content
            fill[hit] = self._pend_buf[rows[hit]]
            pre[absent] = fill
        n = blocks.size
        steal_blocks = np.empty(n, np.int64)
        steal_data = np.empty((n, self.bs), np.uint8)
        counters = np.zeros(5, np.int64)
        done = self._k.pool_apply(self.slot_block, self.block_slot, self.buf, self.dirty, self.rec_seq,
                                  self.prev, self.nxt, self.meta, blocks, offsets, after, seqs, 0,
                                  uniq, pre, before, steal_blocks, steal_data, counters)
        assert done == n, (done, n)
        self.stats.hits += int(counters[0])
        self.stats.misses += int(counters[1])
        self.stats.steal_writes += int(counters[2])
        self.stats.clean_steals += int(counters[3])
        ns = int(counters[4])
        if ns:
            self._add_pending(steal_blocks[:ns], steal_data[:ns])

    def _add_pending(self, blocks: np.ndarray, data: np.ndarray) -> None:
        n0, n = self._pend_n, blocks.size
        if n0 + n > self._pend_blk.size:  # grow geometrically: appends stay amortised O(n)
            cap = max(2 * self._pend_blk.size, n0 + n, 64)
            blk = np.empty(cap, np.int64)
            buf = np.empty((cap, self.bs), np.uint8)
            blk[:n0] = self._pend_blk[:n0]
            buf[:n0] = self._pend_buf[:n0]
            self._pend_blk, self._pend_buf = blk, buf
        self._pend_blk[n0 : n0 + n] = blocks
        self._pend_buf[n0 : n0 + n] = data
        # the latest row of each block (a block stolen twice in one batch keeps its last)
        uniq, first_from_end = np.unique(blocks[::-1], return_index=True)
        self._pend_row[uniq] = n0 + (n - 1 - first_from_end)
        self._pend_n = n0 + n

    def _clear_pending(self) -> None:
        self._pend_row[self._pend_blk[: self._pend_n]] = -1
        self._pend_n = 0

    def write_pending(self) -> int:
        """After the log holds the applied updates: write stolen buffers, then apply the
        sync-point policy and the deferred-write threshold.  Returns blocks written."""
        written = 0
        if self._pend_n:
            n = self._pend_n
            self._write_dasd(self._pend_blk[:n], self._pend_buf[:n])  # in order: later rows win
            self._clear_pending()
            written += n
        if self.policy is SyncPolicy.COMMIT:
            k = self._write_slots(np.flatnonzero(self.dirty))
            self.stats.sync_writes += k
            written += k
        else:
            ndirty = int(self.dirty.sum())
            if ndirty > self.dirty_limit * self.nbuf:
                d = np.flatnonzero(self.dirty)
                keep = int(self.dirty_limit * self.nbuf) // 2
                oldest = d[np.argsort(self.rec_seq[d], kind="stable")][: d.size - keep]
                k = self._write_slots(np.sort(oldest))
                self.stats.threshold_writes += k
                written += k
        return written

    def _write_slots(self, slots: np.ndarray) -> int:
        if slots.size == 0:
            return 0
        self._write_dasd(self.slot_block[slots], self.buf[slots])
        self.dirty[slots] = 0
        return int(slots.size)

    def flush(self) -> int:
        """Write every dirty buffer (checkpoint, /DBR, /DBD, quiesce, shutdown)."""
        assert not self._pend_n, "write_pending() must run before flush()"
        k = self._write_slots(np.flatnonzero(self.dirty))
        self.stats.checkpoint_writes += k
        return k

    def discard(self) -> None:
        """Forget every buffer, dirty or not (what a crash does; also used after a
        flush when DASD is about to change underneath, e.g. a restore)."""
        self.slot_block[:] = -1
        self.block_slot[:] = -1
        self.dirty[:] = 0
        self.prev[:] = -1
        self.nxt[:] = -1
        self.meta[:] = (-1, -1, 0)
        self._clear_pending()

    # ------------------------------------------------------------------ inspection
    def read(self, rbns: np.ndarray) -> np.ndarray:
        """The current committed content of blocks: the buffer when resident, else DASD."""
        rbns = np.asarray(rbns, np.int64)
        out = self.read_dasd(rbns)
        rows = self._pend_row[rbns]
        pend = rows >= 0
        out[pend] = self._pend_buf[rows[pend]]
        slots = self.block_slot[rbns]
        res = slots >= 0
        out[res] = self.buf[slots[res]]
        return out

    @property
    def ndirty(self) -> int:
        return int(self.dirty.sum())

    def dirty_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """(blocks, recovery sequence numbers) of the buffers not yet written."""
        d = np.flatnonzero(self.dirty)
        return self.slot_block[d].copy(), self.rec_seq[d].copy()

    def oldest_unwritten_seq(self) -> int | None:
        d = np.flatnonzero(self.dirty)
        return int(self.rec_seq[d].min()) if d.size else None
