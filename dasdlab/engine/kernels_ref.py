"""Plain-numpy (and plain-Python) twins of :mod:`dasdlab.engine.kernels`.

Same names, arguments and results; the tests compare each kernel against its twin.
Where the kernel is a sequential algorithm (the LRU buffer pool, ordered replay) the
twin is written differently on purpose: a Python list for the LRU order instead of a
linked chain in arrays, numpy slices instead of byte loops, so that a shared mistake is
unlikely.
"""

from __future__ import annotations

import numpy as np


def text_blocks(out, first_rbn, key, table) -> None:
    n, bs = out.shape
    wpb = bs // 8
    g = (np.arange(first_rbn * wpb, (first_rbn + n) * wpb, dtype=np.uint64))
    with np.errstate(over="ignore"):
        z = np.uint64(key) + g * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    out[:, : wpb * 8] = table[z.astype("<u8").view(np.uint8) & 63].reshape(n, wpb * 8)


def zipf_sample(u: np.ndarray, cdf: np.ndarray, out: np.ndarray) -> None:
    out[:] = np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def apply_changes(image, base, blocks, offsets, data, starts, lengths) -> int:
    rows = image.shape[0]
    done = 0
    for b, o, s, ln in zip(blocks.tolist(), offsets.tolist(), starts.tolist(), lengths.tolist()):
        r = b - base
        if 0 <= r < rows:
            image[r, o : o + ln] = data[s : s + ln]
            done += 1
    return done


def gather_blocks(tracks, trk, off, width, out) -> None:
    cols = off[:, None] + np.arange(width)[None, :]
    out[:] = tracks[trk[:, None], cols]


def pool_apply(slot_block, block_slot, buf, dirty, rec_seq, prev, nxt, meta,
               blocks, offsets, after, seqs, start,
               pre_blocks, pre_data, before, steal_blocks, steal_data, counters) -> int:
    nbuf = slot_block.shape[0]
    width = after.shape[1]
    cap = steal_blocks.shape[0]
    # rebuild the LRU order (most recent first) from the chain
    order: list[int] = []
    s = int(meta[0])
    while s >= 0:
        order.append(s)
        s = int(nxt[s])
    used = int(meta[2])
    ns = int(counters[4])
    pre_index = {int(b): r for r, b in enumerate(pre_blocks.tolist())}
    i = start
    while i < blocks.shape[0]:
        b = int(blocks[i])
        s = int(block_slot[b])
        if s >= 0:
            counters[0] += 1
            order.remove(s)
            order.insert(0, s)
        else:
            if used < nbuf:
                s = used
                used += 1
            else:
                s = order[-1]
                old = int(slot_block[s])
                if dirty[s]:
                    if ns >= cap:
                        break
                    steal_blocks[ns] = old
                    steal_data[ns] = buf[s]
                    ns += 1
                    dirty[s] = 0
                    counters[2] += 1
                else:
                    counters[3] += 1
                if old in pre_index:
                    pre_data[pre_index[old]] = buf[s]
                block_slot[old] = -1
                order.pop()
            counters[1] += 1
            buf[s] = pre_data[pre_index[b]]
            slot_block[s] = b
            block_slot[b] = s
            order.insert(0, s)
        o = int(offsets[i])
        before[i] = buf[s, o : o + width]
        buf[s, o : o + width] = after[i]
        if not dirty[s]:
            dirty[s] = 1
            rec_seq[s] = seqs[i]
        i += 1
    counters[4] = ns
    prev[:] = -1
    nxt[:] = -1
    for k, s in enumerate(order):
        prev[s] = order[k - 1] if k else -1
        nxt[s] = order[k + 1] if k + 1 < len(order) else -1
    meta[0] = order[0] if order else -1
    meta[1] = order[-1] if order else -1
    meta[2] = used
    return i


def stamp_blocks(out, first_rbn, block_size, fixed_pos, fixed_val, ptr_pos, ptr_add,
                 key_pos, key_len, key_base, key_mult) -> None:
    n = out.shape[0]
    rbn = np.arange(first_rbn, first_rbn + n, dtype=np.int64)
    out[:, fixed_pos] = fixed_val[None, :]
    for p, a in zip(ptr_pos.tolist(), ptr_add.tolist()):
        v = (rbn * block_size + a) & 0xFFFFFFFF if a >= 0 else np.zeros(n, np.int64)
        out[:, p : p + 4] = v.astype(">u4").view(np.uint8).reshape(n, 4)
    for p, ln, b, m in zip(key_pos.tolist(), key_len.tolist(), key_base.tolist(), key_mult.tolist()):
        v = rbn * m + b
        for k in range(ln - 1, -1, -1):
            out[:, p + k] = 0xF0 + v % 10
            v = v // 10


def ic_records(track, first, step, count, block_size, rba0, out, row0) -> None:
    if count <= 0:
        return
    rows = out[row0 : row0 + count]
    rba = ((rba0 + np.arange(count, dtype=np.int64) * block_size) & 0xFFFFFFFF).astype(">u4")
    rows[:, 0:4] = rba.view(np.uint8).reshape(count, 4)
    rows[:, 4:8] = 0
    idx = first + np.arange(count)[:, None] * step + np.arange(block_size)[None, :]
    rows[:, 8 : 8 + block_size] = track[idx]


def ic_blocks(recs, rba0, block_size, out, row0) -> int:
    n = recs.shape[0]
    out[row0 : row0 + n] = recs[:, 8 : 8 + block_size]
    got = recs[:, 0:4].copy().view(">u4").reshape(-1).astype(np.int64)
    want = (rba0 + np.arange(n, dtype=np.int64) * block_size) & 0xFFFFFFFF
    bad = np.flatnonzero(got != want)
    return int(bad[0]) if bad.size else -1


def ic_track_records(track, first, step, count, block_size, rba0, out, rec0, recs_per_block, blocks_per_track,
                     blksize, head_len, count_len) -> None:
    if count <= 0:
        return
    lrecl = block_size + 8
    rpt = recs_per_block * blocks_per_track
    r = rec0 + np.arange(count, dtype=np.int64)
    row, j = np.divmod(r, rpt)
    blk, k = np.divmod(j, recs_per_block)
    off = head_len + blk * (count_len + blksize) + count_len + k * lrecl
    rba = ((rba0 + np.arange(count, dtype=np.int64) * block_size) & 0xFFFFFFFF).astype(">u4")
    prefix = np.zeros((count, 8), np.uint8)
    prefix[:, 0:4] = rba.view(np.uint8).reshape(count, 4)
    data = track[first + np.arange(count)[:, None] * step + np.arange(block_size)[None, :]]
    cols = off[:, None] + np.arange(lrecl)[None, :]
    out[row[:, None], cols] = np.concatenate((prefix, data), axis=1)


def track_frames(out, nrows, template, frame_start, frame_stop, cchh_pos, cchh) -> None:
    for a, b in zip(frame_start.tolist(), frame_stop.tolist()):
        out[:nrows, a:b] = template[None, a:b]
    for p in cchh_pos.tolist():
        out[:nrows, p : p + 4] = cchh[:nrows]
