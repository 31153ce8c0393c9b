"""The track copier: copies the tracks set in a bitmap from a source to a target.

The bottom layer of the copy stack (docs/architecture.md, as QEMU's ``block-copy.c``): it
knows a source volume, a target volume, a :class:`TrackMap` between them and a bitmap
whose set bits are *the relative tracks still to copy*.  It copies in chunks, clears
each bit only after its track is on the target, reports progress through a callback
and can be limited to a rate in modeled time (:class:`ModeledRate`).  It knows nothing
about FlashCopy, TimeFinder or sessions.

Concurrency: a copier has one lock.  A chunk is claimed (bits tested), copied and its
bits cleared while the lock is held; copy-before-write (:meth:`TrackCopier.copy_now`)
takes the same lock, so a host write never races the background copy of the same
track.  For a target volume of a site the lock is also an ``flock`` of a file per
target volume (:meth:`dasdlab.emulator.subsystem.Subsystem.copy_lock`), so that two
processes writing one source track never both find its bit set and copy it.  The copy itself runs in a ``nogil`` kernel, so host writers of *other* volumes
(and Python code of other threads) run while a chunk is copied.

Crash safety (``kill -9``): a bit is cleared only after its track image is complete
on the target, so at any instant a set bit means "the target slot may be stale or torn;
the point-in-time image is still the source's".  Never-written source tracks are not
read: the target track is made never-written too (a hole), before the bit is cleared.

Counting: a service's counters of copied tracks (copy-on-write, background, ...) may
live in a file every process maps.  The copying calls take a ``tally`` -- a pair
``(words, index)`` of such a ``uint64`` array -- and add the tracks they copied to
``words[index]`` while they still hold the lock, so increments of processes copying
onto one target at once are serial and none is lost (an increment after the release
is a read-modify-write that another process's can overwrite).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.geometry import encode_cchh_many


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

    def swapped(self) -> TrackMap:
        """The same pairs with source and target exchanged (a reverse restore)."""
        return TrackMap(self.rel_start, self.dst_start, self.src_start, self.length, self.n)

    @property
    def relocates(self) -> bool:
        """True when some track lands at another address (a data-set-level copy)."""
        return bool((self.src_start != self.dst_start).any())

    @cached_property
    def is_identity(self) -> bool:
        """One run from track 0 to track 0: relative = source = target track."""
        return len(self.length) == 1 and int(self.src_start[0]) == 0 and int(self.dst_start[0]) == 0

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

    # -- scalar lookups for the per-write hot path (plain Python, no numpy calls) --------
    @cached_property
    def _runs_py(self) -> tuple[list[int], list[int], list[int], list[int]]:
        return (self.rel_start.tolist(), self.src_start.tolist(), self.dst_start.tolist(),
                self.length.tolist())

    def rel_of_src1(self, t: int) -> int:
        """Relative track of absolute source track ``t``, or -1 when it is not mapped."""
        rel, src, _, ln = self._runs_py
        for k in range(len(src)):
            off = t - src[k]
            if 0 <= off < ln[k]:
                return rel[k] + off
        return -1

    def rel_of_dst1(self, t: int) -> int:
        rel, _, dst, ln = self._runs_py
        for k in range(len(dst)):
            off = t - dst[k]
            if 0 <= off < ln[k]:
                return rel[k] + off
        return -1

    def src1(self, r: int) -> int:
        rel, src, _, ln = self._runs_py
        for k in range(len(rel)):
            if 0 <= r - rel[k] < ln[k]:
                return src[k] + r - rel[k]
        raise IndexError(r)

    def dst1(self, r: int) -> int:
        rel, _, dst, ln = self._runs_py
        for k in range(len(rel)):
            if 0 <= r - rel[k] < ln[k]:
                return dst[k] + r - rel[k]
        raise IndexError(r)

    def src_runs(self) -> list[tuple[int, int]]:
        return [(int(a), int(a + n)) for a, n in zip(self.src_start, self.length)]

    def dst_runs(self) -> list[tuple[int, int]]:
        return [(int(a), int(a + n)) for a, n in zip(self.dst_start, self.length)]


def runs_overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    """True when some track lies in a run of ``a`` and in a run of ``b``."""
    if not a or not b:
        return False
    sa = sorted(a)
    sb = sorted(b)
    i = j = 0
    while i < len(sa) and j < len(sb):
        if sa[i][0] < sb[j][1] and sb[j][0] < sa[i][1]:
            return True
        if sa[i][1] <= sb[j][1]:
            i += 1
        else:
            j += 1
    return False


class ModeledRate:
    """A background-copy rate in tracks per modeled second.

    :meth:`allow` returns how many whole tracks the time since the last call permits,
    carrying the fraction, so that a rate of 2.5 tracks/s ticked every second copies
    5 tracks in 2 s.  A pure function of the modeled times it is given (no wall clock,
    ``docs/conventions.md`` item 10).
    """

    def __init__(self, tracks_per_s: float, now: float) -> None:
        self.rate = float(tracks_per_s)
        self.last = float(now)
        self.carry = 0.0

    def allow(self, now: float) -> int:
        dt = max(0.0, float(now) - self.last)
        self.last = max(self.last, float(now))
        budget = self.rate * dt + self.carry
        n = int(budget)
        self.carry = budget - n
        return n

    def seconds_for(self, tracks: int) -> float:
        """Modeled seconds the rate needs for ``tracks`` tracks."""
        return float("inf") if self.rate <= 0 else tracks / self.rate


def _single_array(vol) -> np.ndarray | None:
    """The (tracks, slot) array of a one-file volume, or None when tracks are elsewhere."""
    files = getattr(vol, "files", None)
    if files and len(files) == 1 and not getattr(vol, "pooled", False):
        return files[0].tracks
    return None


class TrackCopier:
    """Copy the tracks set in ``to_copy`` (relative numbering of ``tmap``).

    ``on_copied(rel)`` is called after each batch lands (a service counts it; ``rel`` is
    valid during the call only);
    ``kernels`` may be :mod:`dasdlab.emulator.kernels_ref` to run without numba;
    ``parallel`` uses the multi-threaded row copy for background chunks.
    """

    def __init__(self, source, target, tmap: TrackMap, to_copy: Bitmap,
                 on_copied: Callable[[np.ndarray], None] | None = None, kernels=None,
                 chunk: int = 256, parallel: bool = False) -> None:
        if kernels is None:
            from dasdlab.emulator import kernels as kernels  # noqa: PLW0127 - lazy numba import
        self.source = source
        self.target = target
        self.tmap = tmap
        self.to_copy = to_copy
        self.on_copied = on_copied
        self.k = kernels
        self.chunk = chunk
        self.parallel = parallel
        sub = getattr(target, "subsystem", None)
        # a target in a site: the lock also excludes other processes' copies onto it
        self.lock = sub.copy_lock(target) if hasattr(sub, "copy_lock") else threading.RLock()
        # a site's lock tells other processes, at its release, that tracks landed here
        self._tells = hasattr(self.lock, "dirty")
        self._cursor = 0
        self._buf = np.empty(chunk, dtype=np.int64)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # copy_one's plain row views, kept while both volumes keep their maps, and its
        # one-track array for on_copied (valid during the call only)
        self._rows: tuple | None = None
        self._one = np.zeros(1, dtype=np.int64)
        self.copied = 0

    def _plain(self, vol) -> np.ndarray | None:
        """:func:`_single_array` as a plain ndarray view, cached while the volume keeps
        its map (indexing a np.memmap runs Python code on every call)."""
        mm = _single_array(vol)
        if mm is None:
            return None
        c = self._views.get(id(vol))
        if c is None or c[0] is not mm:
            c = self._views[id(vol)] = (mm, mm.view(np.ndarray))
        return c[1]

    # ------------------------------------------------------------------ queries
    def remaining(self) -> int:
        return self.k.popcount(self.to_copy.words)

    def done(self) -> bool:
        return not self.to_copy.any()

    # ------------------------------------------------------------------ copying
    def copy_now(self, rel: np.ndarray, tally: tuple[np.ndarray, int] | None = None) -> np.ndarray:
        """Copy those of ``rel`` still to copy, at once (copy-before-write); returns the
        relative tracks that were copied (and adds their number to ``tally``)."""
        rel = np.asarray(rel, dtype=np.int64)
        if rel.size == 0:
            return rel
        with self.lock:
            fast = self._cow_batch(rel)
            if fast is not None:
                if tally is not None and fast.size:
                    tally[0][tally[1]] += fast.size
                return fast
            out = np.empty(rel.size, dtype=np.int64)
            n = self.k.select_set(self.to_copy.words, rel, out)
            if n == 0:
                return out[:0]
            todo = out[:n]
            self._copy(todo, parallel=False)
            self.k.clear_bits(self.to_copy.words, todo)
            self.copied += n
            if tally is not None:
                tally[0][tally[1]] += n
            if self.on_copied is not None:
                self.on_copied(todo)
            return todo

    def copy_one(self, r: int, tally: tuple[np.ndarray, int] | None = None) -> bool:
        """:meth:`copy_now` for one relative track, without numpy batch machinery (the
        per-write path of a host writing one track at a time); True if it was copied."""
        with self.lock:
            words = self.to_copy.words
            w = int(words[r >> 6])
            m = 1 << (r & 63)
            if not w & m:
                return False
            if self.tmap.is_identity:
                s = d = r
            else:
                s, d = self.tmap.src1(r), self.tmap.dst1(r)
            src, tgt = self.source, self.target
            sw = src.written.words
            if not (int(sw[s >> 6]) >> (s & 63)) & 1:
                _refresh(src, np.array([s], dtype=np.int64))
            rows = self._rows
            if rows is None or rows[0] is not src._single or rows[1] is not tgt._single:
                rows = self._rows = (src._single, tgt._single, self._plain(src), self._plain(tgt)) \
                    if hasattr(src, "_single") and hasattr(tgt, "_single") else (None, None, None, None)
            sa, da = rows[2], rows[3]
            if sa is None or da is None or s != d or not (int(sw[s >> 6]) >> (s & 63)) & 1:
                self._copy(np.array([r], dtype=np.int64))
            else:
                da[d] = sa[s]  # one contiguous row: numpy's memcpy
                tw = tgt.written.words
                k = int(tw[d >> 6])
                if not k >> (d & 63) & 1:
                    tw[d >> 6] = k | (1 << (d & 63))
                if self._tells:
                    self.lock.dirty = True
            words[r >> 6] = int(words[r >> 6]) & ~m  # re-read: the copy may have touched it
            self.copied += 1
            if tally is not None:
                tally[0][tally[1]] += 1
            if self.on_copied is not None:
                one = self._one
                one[0] = r
                self.on_copied(one)
            return True

    def _cow_batch(self, rel: np.ndarray) -> np.ndarray | None:
        """One-pass copy-before-write (test, copy, clear per track) for the common case:
        single-file volumes, no relocation, every source track written.  None when the
        general path is needed."""
        if not self.tmap.is_identity:
            return None
        sa, da = _single_array(self.source), _single_array(self.target)
        if sa is None or da is None:
            return None
        src_written = self.source.written.test_many(rel)
        if not src_written.all():
            return None
        sel = np.empty(rel.size, dtype=np.int64)
        n = self.k.select_set(self.to_copy.words, rel, sel)
        if n == 0:
            return rel[:0]
        todo = sel[:n]
        # mark the target tracks written *before* the kernel clears their bits: a reader
        # that finds a bit clear (without the lock) must find its track written
        self.target.written.set_many(todo)
        if self._tells:
            self.lock.dirty = True
        taken = np.empty(n, dtype=np.bool_)
        self.k.cow_batch(sa, da, self.to_copy.words, todo, todo, todo, src_written[:n], taken)
        self.copied += n
        if self.on_copied is not None:
            self.on_copied(todo)
        return todo

    def step(self, max_tracks: int | None = None, tally: tuple[np.ndarray, int] | None = None) -> int:
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
            self._copy(rel, parallel=self.parallel)
            self.k.clear_bits(self.to_copy.words, rel)
            self._cursor = int(rel[-1]) + 1
            self.copied += n
            if tally is not None:
                tally[0][tally[1]] += n
            if self.on_copied is not None:
                self.on_copied(rel)
            return n

    def run(self, max_tracks: int | None = None, progress: Callable[[int, int], None] | None = None,
            tally: tuple[np.ndarray, int] | None = None) -> int:
        """Copy until done (or ``max_tracks``); returns tracks copied."""
        total = self.remaining() if progress is not None else 0
        done = 0
        while max_tracks is None or done < max_tracks:
            n = self.step(None if max_tracks is None else max_tracks - done, tally)
            if n == 0:
                break
            done += n
            if progress is not None:
                progress(done, total)
        return done

    def read_pit(self, rel: int, tally: tuple[np.ndarray, int] | None = None) -> np.ndarray | None:
        """The point-in-time image of relative track ``rel`` while it is still to copy
        (a private copy taken under the lock, relocated to the target address), or None
        when the track is already on the target; a read served counts in ``tally``."""
        with self.lock:
            if not self.to_copy.test(rel):
                return None
            if tally is not None:
                tally[0][tally[1]] += 1
            s = self.tmap.src1(rel)
            if not self.source.written.test(s) and not _refresh(self.source, np.array([s], dtype=np.int64)):
                from dasdlab.emulator.volume import unformatted

                return unformatted(self.target.slot)
            img = np.array(self.source.own_track(s))
        d = self.tmap.dst1(rel)
        if d != s:
            from dasdlab.emulator.trackfmt import relocate_track

            relocate_track(img, *divmod(d, self.target.heads))
        return img

    def _copy(self, rel: np.ndarray, parallel: bool = False) -> None:
        """Put the source image of relative tracks ``rel`` onto the target."""
        if self.tmap.is_identity:
            src_t = rel
            dst_t = rel
        else:
            src_t = self.tmap.src(rel)
            dst_t = self.tmap.dst(rel)
        if self._tells:
            self.lock.dirty = True
        src_written = self.source.written.test_many(src_t)
        if not src_written.all() and _refresh(self.source, src_t[~src_written]):
            src_written = self.source.written.test_many(src_t)  # another process formatted some
        if not src_written.all():
            # never-written source tracks: make the target track never-written too
            for d in dst_t[~src_written].tolist():
                if self.target.written.test(d):
                    self.target.clear_track(d)
            src_t = src_t[src_written]
            dst_t = dst_t[src_written]
        if src_t.size == 0:
            return
        sa, da = _single_array(self.source), _single_array(self.target)
        relocate = not self.tmap.is_identity and self.tmap.relocates
        if sa is not None and da is not None:
            if relocate:
                self.k.copy_rows_relocate(sa, da, src_t, dst_t, encode_cchh_many(dst_t, self.target.heads))
            elif parallel and src_t.size > 1:
                self.k.copy_rows_parallel(sa, da, src_t, dst_t)
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


def _refresh(vol, tracks: np.ndarray) -> int:
    """How many of ``tracks`` (not in the volume's written map) another process
    formatted meanwhile (:meth:`Volume.refresh_written`); 0 for volumes without it."""
    fn = getattr(vol, "refresh_written", None)
    return int(fn(tracks).size) if fn is not None else 0
