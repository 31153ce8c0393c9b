"""Plain-numpy twins of :mod:`dasdlab.emulator.kernels`.

Each function here has the same name, arguments and result as its numba kernel and is
the reference the tests compare the kernel against.  They are also the fallback when
numba is disabled (``NUMBA_DISABLE_JIT=1`` runs the kernels as Python; these are faster
than that).
"""

from __future__ import annotations

import numpy as np


def bitmap_scan(words: np.ndarray, start: int, stop: int, out: np.ndarray) -> int:
    """Write the set bits ``start <= t < stop`` into ``out`` (ascending) until it is
    full; return how many were written."""
    if start >= stop:
        return 0
    w0, w1 = start >> 6, (stop + 63) >> 6
    sub = words[w0:w1]
    nz = np.flatnonzero(sub)
    if nz.size == 0:
        return 0
    bits = np.unpackbits(sub[nz].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    rows, cols = np.nonzero(bits)
    idx = (nz[rows].astype(np.int64) + w0) * 64 + cols
    idx = idx[(idx >= start) & (idx < stop)][: out.size]
    out[: idx.size] = idx
    return int(idx.size)


def popcount(words: np.ndarray) -> int:
    return int(np.bitwise_count(words).sum())


def test_and_clear(words: np.ndarray, idx: np.ndarray, taken: np.ndarray) -> int:
    """For each bit ``idx[i]``: ``taken[i]`` = whether it was set; clear it.  Returns the
    number that were set (the tracks a copy-before-write batch must still copy)."""
    w = idx >> 6
    m = np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64))
    was = (words[w] & m) != 0
    taken[:] = was
    np.bitwise_and.at(words, w, ~m)
    return int(was.sum())


def select_set(words: np.ndarray, idx: np.ndarray, out: np.ndarray) -> int:
    """Write those ``idx[i]`` whose bit is set into ``out`` (in order, bits unchanged);
    return how many (the tracks a copy-before-write batch must still copy)."""
    sel = idx[((words[idx >> 6] >> (idx & 63).astype(np.uint64)) & np.uint64(1)) != 0]
    out[: sel.size] = sel
    return int(sel.size)


def clear_bits(words: np.ndarray, idx: np.ndarray) -> int:
    """Clear bit ``idx[i]`` for every i (after their tracks landed)."""
    np.bitwise_and.at(words, idx >> 6, ~np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64)))
    return int(idx.size)


def set_bits(words: np.ndarray, idx: np.ndarray) -> int:
    """Set bit ``idx[i]`` for every i (change recording)."""
    np.bitwise_or.at(words, idx >> 6, np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64)))
    return int(idx.size)


def cow_batch(src: np.ndarray, dst: np.ndarray, words: np.ndarray, rel: np.ndarray,
              src_rows: np.ndarray, dst_rows: np.ndarray, src_written: np.ndarray,
              taken: np.ndarray) -> int:
    """Copy-before-write of a batch in one pass: for each i whose bit ``rel[i]`` is set,
    copy row ``src_rows[i]`` to ``dst_rows[i]`` (only when ``src_written[i]``), *then*
    clear the bit; ``taken[i]`` says whether it was set.  Returns the number taken.
    ``rel`` must not repeat a track."""
    was = ((words[rel >> 6] >> (rel & 63).astype(np.uint64)) & np.uint64(1)) != 0
    for i in np.flatnonzero(was & src_written.astype(bool)).tolist():
        dst[dst_rows[i], :] = src[src_rows[i], :]
    np.bitwise_and.at(words, rel[was] >> 6, ~np.left_shift(np.uint64(1), (rel[was] & 63).astype(np.uint64)))
    taken[:] = was
    return int(was.sum())


def copy_rows_parallel(src: np.ndarray, dst: np.ndarray, src_rows: np.ndarray,
                       dst_rows: np.ndarray) -> int:
    """Same result as :func:`copy_rows` (the kernel spreads the rows over threads)."""
    return copy_rows(src, dst, src_rows, dst_rows)


def copy_rows(src: np.ndarray, dst: np.ndarray, src_rows: np.ndarray, dst_rows: np.ndarray) -> int:
    """``dst[dst_rows[i]] = src[src_rows[i]]`` for every i (whole track slots)."""
    for s, d in zip(src_rows.tolist(), dst_rows.tolist()):
        dst[d, :] = src[s, :]
    return int(src_rows.size)


def _patch(img: np.ndarray, cchh: np.ndarray) -> None:
    img[1:5] = cchh
    img[5:9] = cchh
    pos = 21
    slot = img.shape[0]
    while pos + 8 <= slot and not (img[pos : pos + 8] == 0xFF).all():
        img[pos : pos + 4] = cchh
        pos += 8 + int(img[pos + 5]) + ((int(img[pos + 6]) << 8) | int(img[pos + 7]))


def copy_rows_relocate(src: np.ndarray, dst: np.ndarray, src_rows: np.ndarray, dst_rows: np.ndarray,
                       dst_cchh: np.ndarray) -> int:
    """:func:`copy_rows`, then give each target track its own address: the HA, the R0
    count and every record's count field get ``dst_cchh[i]`` (4 bytes)."""
    for i, (s, d) in enumerate(zip(src_rows.tolist(), dst_rows.tolist())):
        dst[d, :] = src[s, :]
        _patch(dst[d], dst_cchh[i])
    return int(src_rows.size)


def scatter_bytes(dst: np.ndarray, rows: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> None:
    """``dst[rows[i], offsets[i]:offsets[i]+w] = data[i]`` (in-place record updates)."""
    w = data.shape[1]
    for i in range(rows.size):
        dst[rows[i], offsets[i] : offsets[i] + w] = data[i]
