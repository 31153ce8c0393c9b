"""numba kernels of the IMS database layer: the buffer pool's batch apply, change replay,
skewed sampling, block gathers and text generation.

Rules (docs/architecture.md, "Kernels"): pure functions over arrays and integers, no objects
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
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True)


@intrinsic
def _copy_bytes(typingctx, dst, dst_at, src, src_at, n):
    """``dst[dst_at : dst_at + n] = src[src_at : src_at + n]`` for 1-D C-contiguous
    uint8 arrays, as one ``memcpy``: numba's slice assignment is an element loop that
    runs at a third of memory speed or less, the largest cost of building image copy
    records.  The caller checks the bounds."""
    u8 = (dst.dtype == types.uint8 and src.dtype == types.uint8 and dst.ndim == 1 and src.ndim == 1)
    if not (u8 and dst.layout == "C" and src.layout == "C"):
        return None
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        d, d_at, s_, s_at, nbytes = args
        da = context.make_array(signature.args[0])(context, builder, d)
        sa = context.make_array(signature.args[2])(context, builder, s_)
        cgutils.raw_memcpy(builder, builder.gep(da.data, [d_at]), builder.gep(sa.data, [s_at]), nbytes, 1)
        return context.get_dummy_value()

    return sig, codegen


@njit(**_JIT)
def text_blocks(out, first_rbn, key, table):
    """Pseudo-random text for blocks (rows of ``out``) from block ``first_rbn`` on.

    Counter-based, so any block range gives the same bytes however it is cut: 8-byte
    word ``g`` of the data set (``g = rbn * words_per_block + k``) is
    ``splitmix64(key + g * 0x9E3779B97F4A7C15)``, and each of its bytes (little-endian
    order) becomes ``table[byte & 63]``."""
    wpb = out.shape[1] // 8
    golden = np.uint64(0x9E3779B97F4A7C15)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    m2 = np.uint64(0x94D049BB133111EB)
    for r in range(out.shape[0]):
        g0 = np.uint64((first_rbn + r) * wpb)
        for k in range(wpb):
            z = key + (g0 + np.uint64(k)) * golden
            z = (z ^ (z >> np.uint64(30))) * m1
            z = (z ^ (z >> np.uint64(27))) * m2
            z = z ^ (z >> np.uint64(31))
            base = k * 8
            for b in range(8):
                out[r, base + b] = table[(z >> np.uint64(8 * b)) & np.uint64(63)]


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
    ``steal_blocks``/``steal_data`` (the caller writes them to DASD, in order); the
    ``pre_data`` row of any stolen block is refreshed from the buffer.  Stops early when the steal area is full.

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
                    dirty[s] = 0
                    counters[2] += 1
                else:
                    counters[3] += 1
                # the block may be needed again in this batch: its DASD content (as of
                # the pending steal writes) is this buffer's
                r = _find(pre_blocks, old)
                if r >= 0:
                    pre_data[r, :] = buf[s, :]
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


@njit(**_JIT)
def stamp_blocks(out, first_rbn, block_size, fixed_pos, fixed_val, ptr_pos, ptr_add,
                 key_pos, key_len, key_base, key_mult):
    """Write the structural bytes of HD blocks into ``out`` (rows = blocks from
    ``first_rbn``): fixed bytes; 4-byte big-endian RBA pointers (``rbn*block_size +
    ptr_add``, or zero where ``ptr_add`` < 0); EBCDIC-digit keys of value
    ``rbn*key_mult + key_base``."""
    for r in range(out.shape[0]):
        rbn = first_rbn + r
        for j in range(fixed_pos.shape[0]):
            out[r, fixed_pos[j]] = fixed_val[j]
        for j in range(ptr_pos.shape[0]):
            p = ptr_pos[j]
            v = 0
            if ptr_add[j] >= 0:
                v = (rbn * block_size + ptr_add[j]) & 0xFFFFFFFF
            out[r, p] = (v >> 24) & 0xFF
            out[r, p + 1] = (v >> 16) & 0xFF
            out[r, p + 2] = (v >> 8) & 0xFF
            out[r, p + 3] = v & 0xFF
        for j in range(key_pos.shape[0]):
            v = rbn * key_mult[j] + key_base[j]
            p = key_pos[j]
            for k in range(key_len[j] - 1, -1, -1):
                out[r, p + k] = 0xF0 + (v % 10)
                v //= 10


@njit(**_JIT)
def ic_records(track, first, step, count, block_size, rba0, out, row0):
    """Standard image copy records of the ``count`` blocks of one track image, built in
    place: row ``row0 + i`` of ``out`` gets the block's RBA (``rba0 + i * block_size``,
    4 bytes big-endian), 4 zero bytes, then the block's data, read from
    ``track[first + i * step :]`` (the records of a fixed-block track are evenly spaced)."""
    for i in range(count):
        r = row0 + i
        rba = (rba0 + i * block_size) & 0xFFFFFFFF
        out[r, 0] = (rba >> 24) & 0xFF
        out[r, 1] = (rba >> 16) & 0xFF
        out[r, 2] = (rba >> 8) & 0xFF
        out[r, 3] = rba & 0xFF
        out[r, 4] = 0
        out[r, 5] = 0
        out[r, 6] = 0
        out[r, 7] = 0
        src = first + i * step
        out[r, 8 : 8 + block_size] = track[src : src + block_size]


@njit(**_JIT)
def ic_blocks(recs, rba0, block_size, out, row0):
    """The inverse of :func:`ic_records` over standard-format records: the block data of
    each record into row ``row0 + i`` of ``out``.  Returns the index of the first record
    whose RBA is not ``rba0 + i * block_size`` (records out of order), or -1."""
    bad = -1
    for i in range(recs.shape[0]):
        want = (rba0 + i * block_size) & 0xFFFFFFFF
        got = (np.int64(recs[i, 0]) << 24) | (np.int64(recs[i, 1]) << 16) | (np.int64(recs[i, 2]) << 8) \
            | np.int64(recs[i, 3])
        if got != want and bad < 0:
            bad = i
        out[row0 + i, :block_size] = recs[i, 8 : 8 + block_size]
    return bad


@njit(**_JIT)
def ic_track_records(track, first, step, count, block_size, rba0, out, rec0, recs_per_block, blocks_per_track,
                     blksize, head_len, count_len):
    """Standard image copy records of the ``count`` blocks of one source track image,
    built in place in output *track images*: record ``rec0 + i`` of the run goes into
    row ``(rec0 + i) // (recs_per_block * blocks_per_track)`` of ``out`` (a run of
    output track slots), in output block ``j // recs_per_block`` of that track (each
    block ``count_len + blksize`` bytes after the ``head_len`` bytes of HA and R0, its
    data after its count field), at record ``j % recs_per_block`` of the block.  The
    record is the block's RBA (``rba0 + i * block_size``, 4 bytes big-endian), 4 zero
    bytes, then the block's data from ``track[first + i * step :]``.  Count fields, HA,
    R0 and the end of track are left to :func:`track_frames`."""
    lrecl = block_size + 8
    rpt = recs_per_block * blocks_per_track
    for i in range(count):
        r = rec0 + i
        row = r // rpt
        j = r - row * rpt
        blk = j // recs_per_block
        off = head_len + blk * (count_len + blksize) + count_len + (j - blk * recs_per_block) * lrecl
        o = out[row]
        rba = (rba0 + i * block_size) & 0xFFFFFFFF
        o[off] = (rba >> 24) & 0xFF
        o[off + 1] = (rba >> 16) & 0xFF
        o[off + 2] = (rba >> 8) & 0xFF
        o[off + 3] = rba & 0xFF
        o[off + 4] = 0
        o[off + 5] = 0
        o[off + 6] = 0
        o[off + 7] = 0
        src = first + i * step
        if src < 0 or src + block_size > track.shape[0] or off < 0 or off + lrecl > o.shape[0]:
            raise IndexError("ic_track_records: a record or a block outside its track")
        _copy_bytes(o, off + 8, track, src, block_size)


@njit(**_JIT)
def track_frames(out, nrows, template, frame_start, frame_stop, cchh_pos, cchh):
    """Everything of rows ``0..nrows-1`` of ``out`` (track images) but the record data:
    the bytes ``frame_start[k]:frame_stop[k]`` of ``template`` (a track image of the
    same layout: HA, R0, count fields, end of track and the zeros after it), then
    each row's 4-byte CCHH ``cchh[row]`` at every offset of ``cchh_pos``."""
    for row in range(nrows):
        o = out[row]
        for k in range(frame_start.shape[0]):
            a = frame_start[k]
            o[a : frame_stop[k]] = template[a : frame_stop[k]]
        for k in range(cchh_pos.shape[0]):
            p = cchh_pos[k]
            o[p] = cchh[row, 0]
            o[p + 1] = cchh[row, 1]
            o[p + 2] = cchh[row, 2]
            o[p + 3] = cchh[row, 3]
