"""numba kernels for the hot loops: bitmap scans, bitmap-driven track copy,
copy-before-write batches and in-place record updates.

Rules (docs/architecture.md "Kernels"): pure functions over arrays and integers, no objects or
globals; ``@njit(cache=True, nogil=True)`` so a background copy and host writers can
run in threads at once; each has a numpy twin of the same name in
:mod:`dasdlab.emulator.kernels_ref` that the tests compare against.  This module
imports numba, so nothing on the ``dasdlab --help`` path imports it.

Bitmaps are little-endian ``uint64`` words: bit ``t`` is bit ``t % 64`` of word
``t // 64`` (:mod:`dasdlab.emulator.bitmap`).  Scans skip zero words, which is what
makes an almost-empty million-bit scan take microseconds (``docs/limits.md`` A3b).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def bitmap_scan(words, start, stop, out):
    if start >= stop:
        return 0
    n = 0
    cap = out.shape[0]
    w = start >> 6
    wend = (stop + 63) >> 6
    while w < wend and n < cap:
        word = words[w]
        if word != 0:
            base = w << 6
            while word != 0 and n < cap:
                # lowest set bit
                low = word & (~word + np.uint64(1))
                t = base + _popcount64(low - np.uint64(1))
                if t >= stop:
                    return n
                if t >= start:
                    out[n] = t
                    n += 1
                word ^= low
        w += 1
    return n


@njit(**_JIT)
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(**_JIT)
def popcount(words):
    total = 0
    for i in range(words.shape[0]):
        total += _popcount64(words[i])
    return total


@njit(**_JIT)
def test_and_clear(words, idx, taken):
    n = 0
    for i in range(idx.shape[0]):
        t = idx[i]
        w = t >> 6
        m = np.uint64(1) << np.uint64(t & 63)
        if words[w] & m:
            taken[i] = True
            words[w] &= ~m
            n += 1
        else:
            taken[i] = False
    return n


@njit(**_JIT)
def _copy_row(src, s, dst, d):
    # an explicit loop: numba's slice assignment guards against overlap with a
    # temporary copy, which halves the speed (docs/limits.md A1: a plain loop runs at memcpy)
    a = src[s]
    b = dst[d]
    for j in range(a.shape[0]):
        b[j] = a[j]


@njit(**_JIT)
def select_set(words, idx, out):
    n = 0
    for i in range(idx.shape[0]):
        t = idx[i]
        if (words[t >> 6] >> np.uint64(t & 63)) & np.uint64(1):
            out[n] = t
            n += 1
    return n


@njit(**_JIT)
def clear_bits(words, idx):
    for i in range(idx.shape[0]):
        t = idx[i]
        words[t >> 6] &= ~(np.uint64(1) << np.uint64(t & 63))
    return idx.shape[0]


@njit(**_JIT)
def set_bits(words, idx):
    for i in range(idx.shape[0]):
        t = idx[i]
        words[t >> 6] |= np.uint64(1) << np.uint64(t & 63)
    return idx.shape[0]


@njit(**_JIT)
def cow_batch(src, dst, words, rel, src_rows, dst_rows, src_written, taken):
    n = 0
    for i in range(rel.shape[0]):
        t = rel[i]
        w = t >> 6
        m = np.uint64(1) << np.uint64(t & 63)
        if words[w] & m:
            if src_written[i]:
                _copy_row(src, src_rows[i], dst, dst_rows[i])
            words[w] &= ~m
            taken[i] = True
            n += 1
        else:
            taken[i] = False
    return n


@njit(**_JIT)
def copy_rows(src, dst, src_rows, dst_rows):
    for i in range(src_rows.shape[0]):
        _copy_row(src, src_rows[i], dst, dst_rows[i])
    return src_rows.shape[0]


@njit(cache=True, nogil=True, parallel=True)
def copy_rows_parallel(src, dst, src_rows, dst_rows):
    """:func:`copy_rows` on all cores (docs/limits.md A3a: 1.15x memcpy on 2 threads)."""
    for i in prange(src_rows.shape[0]):
        _copy_row(src, src_rows[i], dst, dst_rows[i])
    return src_rows.shape[0]


@njit(**_JIT)
def copy_rows_relocate(src, dst, src_rows, dst_rows, dst_cchh):
    width = src.shape[1]
    for i in range(src_rows.shape[0]):
        d = dst_rows[i]
        _copy_row(src, src_rows[i], dst, d)
        for k in range(4):
            dst[d, 1 + k] = dst_cchh[i, k]
            dst[d, 5 + k] = dst_cchh[i, k]
        pos = 21
        while pos + 8 <= width:
            eot = True
            for k in range(8):
                if dst[d, pos + k] != 0xFF:
                    eot = False
                    break
            if eot:
                break
            for k in range(4):
                dst[d, pos + k] = dst_cchh[i, k]
            kl = np.int64(dst[d, pos + 5])
            dl = (np.int64(dst[d, pos + 6]) << 8) | np.int64(dst[d, pos + 7])
            pos += 8 + kl + dl
    return src_rows.shape[0]


@njit(**_JIT)
def scatter_bytes(dst, rows, offsets, data):
    w = data.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        o = offsets[i]
        for j in range(w):
            dst[r, o + j] = data[i, j]
