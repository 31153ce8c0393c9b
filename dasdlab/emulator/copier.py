"""The track copier: copies the tracks set in a bitmap from a source to a target.

The bottom layer of the copy stack (DESIGN.md §2, as QEMU's ``block-copy.c``): it
knows a source volume, a target volume, a :class:`TrackMap` between them and a bitmap
whose set bits are *the relative tracks still to copy*.  It copies in chunks, clears
each bit only after its track is on the target, reports progress through a callback
and can be limited to a rate in modeled time.  It knows nothing about FlashCopy,
TimeFinder or sessions.

Concurrency: a copier has one lock.  A chunk is claimed (bits tested and cleared)
and copied while the lock is held; copy-before-write (:meth:`TrackCopier.copy_now`)
takes the same lock, so a host write never races the background copy of the same
track.  The copy itself runs in a ``nogil`` kernel.

Never-written source tracks are not read: the target track is made never-written too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.geometry import encode_cchh


@dataclass(frozen=True)
class TrackMap:
    """Relative track ``i`` of a relationship <-> absolute source and target tracks.

    Built from runs: ``src_runs[k]`` and ``dst_runs[k]`` are [start, stop) of the same
    length.  Kept as run arrays, never expanded per track, so that establishing a
    relationship over a 3390-54 costs the same as over a 3390-3.
    """

    rel_start: np.ndarray  # int64, first relative track of each run
    src_start: np.ndarray
    dst_start: np.ndarray
    length: np.ndarray
    n: int

    @classmethod
    def from_runs(cls, src_runs: list[tuple[int, int]], dst_runs: list[tuple[int, int]]) -> TrackMap:
        """Pair source and target runs of equal total length (split where they differ)."""
        pairs = []
        si = di = 0
        s_pos = src_runs[0][0] if src_runs else 0
        d_pos = dst_runs[0][0] if dst_runs else 0
        rel = 0
        while si < len(src_runs) and di < len(dst_runs):
            s_left = src_runs[si][1] - s_pos
            d_left = dst_runs[di][1] - d_pos
            take = min(s_left, d_left)
            if take > 0:
                pairs.append((rel, s_pos, d_pos, take))
                rel += take
            s_pos += take
            d_pos += take
            if s_pos >= src_runs[si][1]:
                si += 1
                if si < len(src_runs):
                    s_pos = src_runs[si][0]
            if d_pos >= dst_runs[di][1]:
                di += 1
                if di < len(dst_runs):
                    d_pos = dst_runs[di][0]
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 4)
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy(), int(rel))

    @classmethod
    def identity(cls, ntracks: int) -> TrackMap:
        z = np.zeros(1, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), np.array([ntracks], dtype=np.int64), ntracks)

    def to_json(self) -> list[list[int]]:
        return [[int(a), int(b), int(c), int(d)] for a, b, c, d in
                zip(self.rel_start, self.src_start, self.dst_start, self.length)]

    @classmethod
    def from_json(cls, rows: list[list[int]]) -> TrackMap:
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy(),
                   int((arr[:, 0] + arr[:, 3]).max()) if len(arr) else 0)

    @property
    def relocates(self) -> bool:
        """True when some track lands at another address (a data-set-level copy)."""
        return bool((self.src_start != self.dst_start).any())

    def src(self, rel: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.rel_start, rel, side="right") - 1
        return self.src_start[k] + (rel - self.rel_start[k])

    def dst(self, rel: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.rel_start, rel, side="right") - 1
        return self.dst_start[k] + (rel - self.rel_start[k])

    def _rel_of(self, starts: np.ndarray, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tracks = np.asarray(tracks, dtype=np.int64)
        order = np.argsort(starts)
        s = starts[order]
        k = np.searchsorted(s, tracks, side="right") - 1
        valid = k >= 0
        kk = order[np.clip(k, 0, None)]
        off = tracks - starts[kk]
        valid &= (off >= 0) & (off < self.length[kk])
        return (self.rel_start[kk] + off)[valid], valid

    def rel_of_src(self, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(relative tracks, mask of the given source tracks that are in the map)."""
        return self._rel_of(self.src_start, tracks)

    def rel_of_dst(self, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._rel_of(self.dst_start, tracks)

    def src_runs(self) -> list[tuple[int, int]]:
        return [(int(a), int(a + n)) for a, n in zip(self.src_start, self.length)]

    def dst_runs(self) -> list[tuple[int, int]]:
        return [(int(a), int(a + n)) for a, n in zip(self.dst_start, self.length)]


def _single_array(vol) -> np.ndarray | None:
    files = getattr(vol, "files", None)
    if files and len(files) == 1 and not getattr(vol, "pooled", False):
        return files[0].tracks
    return None


class TrackCopier:
    """Copy the tracks set in ``to_copy`` (relative numbering of ``tmap``).

    ``on_copied(rel)`` is called after each batch lands (a service counts it);
    ``kernels`` may be :mod:`dasdlab.emulator.kernels_ref` to run without numba.
    """

    def __init__(self, source, target, tmap: TrackMap, to_copy: Bitmap,
                 on_copied: Callable[[np.ndarray], None] | None = None, kernels=None,
                 chunk: int = 256) -> None:
        if kernels is None:
            from dasdlab.emulator import kernels as kernels  # noqa: PLW0127 - lazy numba import
        self.source = source
        self.target = target
        self.tmap = tmap
        self.to_copy = to_copy
        self.on_copied = on_copied
        self.k = kernels
        self.chunk = chunk
        self.lock = threading.RLock()
        self._cursor = 0
        self._buf = np.empty(chunk, dtype=np.int64)
        self.copied = 0

    # ------------------------------------------------------------------ queries
    def remaining(self) -> int:
        return self.k.popcount(self.to_copy.words)

    def done(self) -> bool:
        return not self.to_copy.any()

    # ------------------------------------------------------------------ copying
    def copy_now(self, rel: np.ndarray) -> np.ndarray:
        """Copy those of ``rel`` still to copy, at once (copy-before-write); returns the
        relative tracks that were copied."""
        rel = np.asarray(rel, dtype=np.int64)
        if rel.size == 0:
            return rel
        with self.lock:
            taken = np.empty(rel.size, dtype=np.bool_)
            # copy first, clear after: test without clearing, copy, then clear
            pending = self.to_copy.test_many(rel)
            todo = rel[pending]
            if todo.size:
                self._copy(todo)
                self.k.test_and_clear(self.to_copy.words, todo, taken[: todo.size])
                self.copied += int(todo.size)
                if self.on_copied is not None:
                    self.on_copied(todo)
            return todo

    def step(self, max_tracks: int | None = None) -> int:
        """Copy the next chunk of set bits after the cursor; returns tracks copied."""
        limit = self.chunk if max_tracks is None else min(max_tracks, self.chunk)
        if limit <= 0:
            return 0
        with self.lock:
            out = self._buf[:limit]
            n = self.k.bitmap_scan(self.to_copy.words, self._cursor, self.tmap.n, out)
            if n == 0 and self._cursor:
                self._cursor = 0
                n = self.k.bitmap_scan(self.to_copy.words, 0, self.tmap.n, out)
            if n == 0:
                return 0
            rel = out[:n].copy()
            self._copy(rel)
            taken = np.empty(n, dtype=np.bool_)
            self.k.test_and_clear(self.to_copy.words, rel, taken)
            self._cursor = int(rel[-1]) + 1
            self.copied += n
            if self.on_copied is not None:
                self.on_copied(rel)
            return n

    def run(self, max_tracks: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Copy until done (or ``max_tracks``); returns tracks copied."""
        total = self.remaining() if progress is not None else 0
        done = 0
        while max_tracks is None or done < max_tracks:
            n = self.step(None if max_tracks is None else max_tracks - done)
            if n == 0:
                break
            done += n
            if progress is not None:
                progress(done, total)
        return done

    def _copy(self, rel: np.ndarray) -> None:
        """Put the source image of relative tracks ``rel`` onto the target."""
        src_t = self.tmap.src(rel)
        dst_t = self.tmap.dst(rel)
        src_written = self.source.written.test_many(src_t)
        # never-written source tracks: make the target track never-written too
        for d in dst_t[~src_written].tolist():
            if self.target.written.test(d):
                self.target.discard_track(d)
        src_t = src_t[src_written]
        dst_t = dst_t[src_written]
        if src_t.size == 0:
            return
        sa, da = _single_array(self.source), _single_array(self.target)
        relocate = self.tmap.relocates
        if sa is not None and da is not None:
            if relocate:
                cchh = np.array([list(encode_cchh(*divmod(int(d), self.target.heads))) for d in dst_t],
                                dtype=np.uint8)
                self.k.copy_rows_relocate(sa, da, src_t, dst_t, cchh)
            else:
                self.k.copy_rows(sa, da, src_t, dst_t)
            self.target.written.set_many(dst_t)
            return
        from dasdlab.emulator.trackfmt import relocate_track

        for s, d in zip(src_t.tolist(), dst_t.tolist()):
            img = np.array(self.source.own_track(s))
            if relocate and s != d:
                relocate_track(img, *divmod(d, self.target.heads))
            self.target.store_track(d, img)
