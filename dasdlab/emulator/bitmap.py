"""Track bitmaps: one bit per track, packed into little-endian ``uint64`` words.

Bit ``t`` of a bitmap is bit ``t % 64`` of word ``t // 64``.  Every bitmap in dasdlab
is an instance of :class:`Bitmap` and every owner states, in one sentence, what a set
bit means (for example "tracks still to copy to the target").

Scans over the words are cheap (``docs/limits.md`` A3b: 0.33 ms for 1 M bits at 10 %
density, microseconds when nearly empty); the numba kernels in
:mod:`dasdlab.emulator.kernels` do the same scans inside the copy loops.  This module
stays numpy-only so that commands which do not copy never import numba.
"""

from __future__ import annotations

import numpy as np

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def words_for(nbits: int) -> int:
    return (nbits + 63) >> 6


class Bitmap:
    """A fixed-size set of track numbers ``0 <= t < nbits``.

    ``words`` may be a view into a memory-mapped state file, so that a set bit is
    persistent as soon as the page reaches the file.
    """

    __slots__ = ("nbits", "words")

    def __init__(self, nbits: int, words: np.ndarray | None = None) -> None:
        self.nbits = int(nbits)
        if words is None:
            words = np.zeros(words_for(nbits), dtype=np.uint64)
        if words.dtype != np.uint64 or words.shape != (words_for(nbits),):
            raise ValueError("bitmap words must be uint64 of length ceil(nbits/64)")
        self.words = words

    # -- construction ------------------------------------------------------------------
    @classmethod
    def full(cls, nbits: int) -> Bitmap:
        b = cls(nbits)
        b.set_range(0, nbits)
        return b

    @classmethod
    def from_indices(cls, nbits: int, idx: np.ndarray) -> Bitmap:
        b = cls(nbits)
        b.set_many(idx)
        return b

    def copy(self) -> Bitmap:
        return Bitmap(self.nbits, self.words.copy())

    # -- single bits -----------------------------------------------------------------
    def test(self, t: int) -> bool:
        return bool((int(self.words[t >> 6]) >> (t & 63)) & 1)

    __contains__ = test

    def set(self, t: int) -> None:
        w = t >> 6
        v = int(self.words[w])
        m = 1 << (t & 63)
        if not v & m:  # python ints: a numpy scalar |= costs several times more
            self.words[w] = v | m

    def clear(self, t: int) -> None:
        w = t >> 6
        v = int(self.words[w])
        m = 1 << (t & 63)
        if v & m:
            self.words[w] = v & ~m

    # -- many bits ---------------------------------------------------------------------
    def set_range(self, start: int, stop: int) -> None:
        """Set bits ``start <= t < stop``."""
        self._range(start, stop, True)

    def clear_range(self, start: int, stop: int) -> None:
        self._range(start, stop, False)

    def _range(self, start: int, stop: int, value: bool) -> None:
        start = max(start, 0)
        stop = min(stop, self.nbits)
        if start >= stop:
            return
        w0, b0 = divmod(start, 64)
        w1, b1 = divmod(stop, 64)
        if w0 == w1:
            mask = np.uint64(((1 << (b1 - b0)) - 1) << b0)
            self._apply(slice(w0, w0 + 1), mask, value)
            return
        self._apply(slice(w0, w0 + 1), np.uint64((_mask_from(b0))), value)
        if w1 > w0 + 1:
            self._apply(slice(w0 + 1, w1), _ALL, value)
        if b1:
            self._apply(slice(w1, w1 + 1), np.uint64((1 << b1) - 1), value)

    def _apply(self, sl: slice, mask: np.uint64, value: bool) -> None:
        if value:
            self.words[sl] |= mask
        else:
            self.words[sl] &= ~mask

    def set_many(self, idx: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        np.bitwise_or.at(self.words, idx >> 6, np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64)))

    def clear_many(self, idx: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        np.bitwise_and.at(
            self.words, idx >> 6, ~np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64))
        )

    def test_many(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        return ((self.words[idx >> 6] >> (idx & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)

    # -- whole-map queries ---------------------------------------------------------------
    def count(self) -> int:
        return int(np.bitwise_count(self.words).sum())

    def any(self) -> bool:
        return bool(self.words.any())

    def indices(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Set bits in ``start <= t < stop``, ascending, as int64 (numpy scan)."""
        stop = self.nbits if stop is None else min(stop, self.nbits)
        if start >= stop:
            return np.empty(0, dtype=np.int64)
        w0, w1 = start >> 6, (stop + 63) >> 6
        words = self.words[w0:w1]
        nz = np.flatnonzero(words)
        if nz.size == 0:
            return np.empty(0, dtype=np.int64)
        bits = np.unpackbits(words[nz].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        rows, cols = np.nonzero(bits)
        out = (nz[rows].astype(np.int64) + w0) * 64 + cols
        return out[(out >= start) & (out < stop)]

    def __len__(self) -> int:
        return self.nbits

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bitmap) and other.nbits == self.nbits and bool(
            np.array_equal(other.words, self.words)
        )

    def __or__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self.nbits, self.words | other.words)

    def __and__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self.nbits, self.words & other.words)

    def __sub__(self, other: Bitmap) -> Bitmap:
        return Bitmap(self.nbits, self.words & ~other.words)

    def __ior__(self, other: Bitmap) -> Bitmap:
        self.words |= other.words
        return self

    def __repr__(self) -> str:
        return f"Bitmap({self.count()}/{self.nbits} set)"


def _mask_from(b: int) -> int:
    """Bits b..63 set."""
    return (0xFFFFFFFFFFFFFFFF << b) & 0xFFFFFFFFFFFFFFFF
