"""numba kernels of the IMS database layer: the buffer pool's batch apply, change replay,
skewed sampling, block gathers and text generation.

Rules (DESIGN.md §2 "Kernels", §4): pure functions over arrays and integers, no objects
or globals, ``@njit(cache=True, nogil=True)`` so a real-time workload can run them on
threads; each has a twin of the same name and arguments in
:mod:`dasdlab.engine.kernels_ref` that the tests compare against.  This module imports
numba; nothing on the ``dasdlab --help`` path imports it.

The buffer pool state (:func:`pool_apply`) is a set of arrays owned by
:class:`dasdlab.engine.bufferpool.BufferPool`:

* ``slot_block[s]``: block held by buffer ``s`` (-1: free); ``block_slot[b]``: buffer
  holding block ``b`` (-1: not resident); the two always agree;
* ``prev``/``nxt``: the LRU chain (``meta[0]`` = most recently used, ``meta[1]`` = least,
  ``meta[2]`` = buffers ever used), every used buffer is on it exactly once;
* ``dirty[s]``: the buffer holds committed changes not yet on DASD; ``rec_seq[s]``: the
  log sequence number of the oldest such change (the buffer's recovery point).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def ebcdic_text(raw, table, out):
    """out[i] = table[raw[i] & 63]: random bytes to EBCDIC text."""
    for i in range(raw.shape[0]):
        out[i] = table[raw[i] & 63]


@njit(**_JIT)
def zipf_sample(u, cdf, out):
    """Inverse-CDF sampling: out[i] = the first k with cdf[k] > u[i] (a rank)."""
    n = cdf.shape[0]
    for i in range(u.shape[0]):
        x = u[i]
        lo = 0
        hi = n - 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if cdf[mid] > x:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo


@njit(**_JIT)
def apply_changes(image, base, blocks, offsets, data, starts, lengths):
    """Replay changes in order onto ``image`` (rows = blocks ``base..``): change ``i``
    writes ``data[starts[i]:starts[i]+lengths[i]]`` at ``offsets[i]`` of block
    ``blocks[i]``.  Changes outside the rows are skipped.  Returns how many applied.
    Re-applying is harmless (after images), which is what makes recovery idempotent."""
    rows = image.shape[0]
    done = 0
    for i in range(blocks.shape[0]):
        r = blocks[i] - base
        if r < 0 or r >= rows:
            continue
        o = offsets[i]
        s = starts[i]
        for k in range(lengths[i]):
            image[r, o + k] = data[s + k]
        done += 1
    return done


@njit(**_JIT)
def gather_blocks(tracks, trk, off, width, out):
    """out[i] = tracks[trk[i], off[i]:off[i]+width] (blocks read from a volume map)."""
    for i in range(trk.shape[0]):
        t = trk[i]
        o = off[i]
        for k in range(width):
            out[i, k] = tracks[t, o + k]


@njit(**_JIT)
def _lru_unlink(s, prev, nxt, meta):
    p = prev[s]
    n = nxt[s]
    if p >= 0:
        nxt[p] = n
    else:
        meta[0] = n
    if n >= 0:
        prev[n] = p
    else:
        meta[1] = p
    prev[s] = -1
    nxt[s] = -1


@njit(**_JIT)
def _lru_push_front(s, prev, nxt, meta):
    h = meta[0]
    prev[s] = -1
    nxt[s] = h
    if h >= 0:
        prev[h] = s
    meta[0] = s
    if meta[1] < 0:
        meta[1] = s


@njit(**_JIT)
def _find(sorted_keys, key):
    lo = 0
    hi = sorted_keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < sorted_keys.shape[0] and sorted_keys[lo] == key:
        return lo
    return -1


@njit(**_JIT)
def pool_apply(slot_block, block_slot, buf, dirty, rec_seq, prev, nxt, meta,
               blocks, offsets, after, seqs, start,
               pre_blocks, pre_data, before, steal_blocks, steal_data, counters):
    """Apply updates ``start..`` to the buffer pool in order, LRU replacement.

    Update ``i`` changes ``after.shape[1]`` bytes at ``offsets[i]`` of block
    ``blocks[i]``; its before image goes to ``before[i]``.  A block not resident is read
    from ``pre_data`` (row of ``pre_blocks``, sorted: the DASD contents as of the pending
    steals).  When a dirty buffer is stolen its block and contents go to the next row of
    ``steal_blocks``/``steal_data`` (the caller writes them to DASD, in order) and its
    ``pre_data`` row is refreshed.  Stops early when the steal area is full.

    Returns the index of the first update not applied.  ``counters`` accumulates
    [hits, misses, steals of dirty buffers, steals of clean buffers, steal rows used].
    """
    nbuf = slot_block.shape[0]
    width = after.shape[1]
    cap = steal_blocks.shape[0]
    ns = counters[4]
    n = blocks.shape[0]
    i = start
    while i < n:
        b = blocks[i]
        s = block_slot[b]
        if s >= 0:
            counters[0] += 1
            if meta[0] != s:
                _lru_unlink(s, prev, nxt, meta)
                _lru_push_front(s, prev, nxt, meta)
        else:
            counters[1] += 1
            if meta[2] < nbuf:
                s = meta[2]
                meta[2] += 1
            else:
                s = meta[1]
                old = slot_block[s]
                if dirty[s]:
                    if ns >= cap:
                        counters[1] -= 1
                        break
                    steal_blocks[ns] = old
                    steal_data[ns, :] = buf[s, :]
                    ns += 1
                    r = _find(pre_blocks, old)
                    if r >= 0:
                        pre_data[r, :] = buf[s, :]
                    dirty[s] = 0
                    counters[2] += 1
                else:
                    counters[3] += 1
                block_slot[old] = -1
                _lru_unlink(s, prev, nxt, meta)
            r = _find(pre_blocks, b)
            buf[s, :] = pre_data[r, :]
            slot_block[s] = b
            block_slot[b] = s
            _lru_push_front(s, prev, nxt, meta)
        o = offsets[i]
        for k in range(width):
            before[i, k] = buf[s, o + k]
            buf[s, o + k] = after[i, k]
        if dirty[s] == 0:
            dirty[s] = 1
            rec_seq[s] = seqs[i]
        i += 1
    counters[4] = ns
    return i
