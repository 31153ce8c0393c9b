"""The log-structured track pool of an RVA-like subsystem, and the volumes it holds.

Facts from ``docs/domain.md`` §2.3 (IBM Redbook SG24-5360 pp. 2 and 4, S63; McAdam 2004,
S64): every functional (host-visible) track is found through the **Functional Track
Directory** (FTD), whose entry points at back-end space that carries a **reference
count**; an update writes the new track image to a **new place** and moves the pointer
(no update in place); **free-space collection** reclaims space whose count has dropped
to zero; data is compacted (gaps and the unused end of the track removed) and
compressed, typically 3.6 : 1.

Our model, one pool per subsystem under ``SITE/state/SUBSYSTEM/pool/``:

``slots.img``
    a memory-mapped sparse file of fixed track slots (56,832 bytes, the 3390 slot).
    Slot 0 is never used, so that an FTD entry of 0 can mean "never written".  Images
    are stored uncompressed; compression is *modeled* (see :meth:`TrackPool.consumed`).
``refs.u32``
    per slot, the number of FTD entries that point at it (0 = free).
``used.u32``
    per slot, the compacted size of its image: bytes up to and including the
    end-of-track marker (meaningful while the slot's count is above 0).
``ftd/VOLSER.ftd``
    per functional volume, a 64-byte header then one little-endian ``uint32`` per
    track: the pool slot holding the track's current image, 0 for a never-written
    track.

**Allocation is a log.**  New images go to the slot at the log *head*, which moves
forward through the pool; slots whose count is not 0 are stepped over.  The slots
below the log's *high-water mark* (one past the highest slot ever used) are its
region.  When the head reaches the high-water mark, **free-space collection** runs if
at least ``fsc_threshold_slots`` slots of the region have been freed (their count
dropped to 0): the head goes back to the start of the region and the freed slots are
written again as it passes them.  Otherwise the log grows into fresh slots.  So freed
space is reclaimed in sweeps, as an LSA's collection frees whole segments, and the
file stays about as large as the live images plus the threshold.  A freed slot keeps
its old bytes until it is reused; :meth:`TrackPool.trim` (``dasdlab snap pool
--collect``) punches holes for the free slots of the region and gives the disk space
back.  (Reusing warm slots matters for speed: a first write to a never-touched page of
the pool file costs about ten times a write to a resident one, ``docs/limits.md`` A2.)

**Crash safety** is an ordering rule on every pointer move: write the new image into a
free slot, raise its count, point the FTD entry at it, and only then lower the count of
the slot it pointed at before.  A process killed anywhere in between leaves at worst a
count that is too high (space leaked, never data lost): no FTD entry ever points at a
slot whose count was dropped.  A pool that was not closed cleanly (``pool.dirty``
exists) and that no other process has open is recounted from all FTDs when next opened,
which reclaims the leaked slots.

**Several processes** may write one pool at once (two ``dataset write --site`` on
volumes of one subsystem, a workload and a write).  The log head, the high-water mark
and the live-slot and compacted-byte counters are kept in ``alloc.lock`` (a few
``uint64`` words, mapped shared); every pointer move -- write, drop, snap -- runs with
that file's ``flock`` held and the words re-read first, so no two processes take the
same free slot, and a partial update copies the track's current image (the
read-modify-write of a slot is inside the lock).  The counts and FTDs are shared maps
already.  The lock costs two system calls per host write (about 2.4 us), small next to
the copy of the track into its new slot.

**Space accounting**: a pool holds ``pool_slots`` slots and a modeled back-end capacity
of ``pool_capacity_bytes``; a slot's image consumes ``used / compression_ratio`` bytes
of it.  A write that needs a slot when none is free, or that would pass the capacity,
fails with :class:`PoolFullError` before anything changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.geometry import encode_cchh, model
from dasdlab.emulator.volume import Volume, unformatted
from dasdlab.errors import CopyServiceError, ImageError

POOL_FORMAT = "dasdlab-track-pool"
FTD_MAGIC = b"DLBFTD01"
FTD_HDR_LEN = 64
_FTD_HDR = struct.Struct("<8sIII")  # magic, tracks, heads, slot size
POOL_SLOT = model("3390").slot_size  # 56,832; a 3380 track fits in its first 47,616 bytes
_EOT = b"\xff" * 8
# the shared allocation words of alloc.lock
_ALLOC_WORDS = 8
_A_MAGIC, _A_HEAD, _A_HWM, _A_LIVE, _A_CONSUMED = range(5)
_ALLOC_MAGIC = 0x444C42414C4C4F43  # "DLBALLOC"
_SCAN_WINDOW = 65536
#: slots written between two give-backs of the slot map's pages (58 MB of 3390 slots)
DROP_SLOTS = 1024

#: settings an RVA-like subsystem reads for its pool (added to ``Rva.DEFAULT_SETTINGS``)
POOL_DEFAULTS = {
    # physical slots of the emulator's pool file (a sparse file: only written slots
    # take disk space); the emulator's own limit, fixed when the pool is created
    "pool_slots": 2_000_000,
    # modeled back-end capacity after compression; an RVA Turbo held up to 1.6 TB of
    # functional capacity (assumption for the default, not a sourced figure)
    "pool_capacity_bytes": 500 * 10**9,
    # free-space collection reuses the log's freed slots once this many are free; the
    # freed slots not yet reused take disk, so this is kept small (29 MB of 3390 slots):
    # a sweep of the region's counts costs far less than the disk it gives back
    "fsc_threshold_slots": 512,
}


class PoolError(CopyServiceError):
    """A track pool that is damaged or does not match its volumes."""


class PoolFullError(PoolError):
    """No free slot, or no modeled back-end capacity, for a new track image."""


def compacted_bytes(img: np.ndarray) -> int:
    """Bytes of a track image up to and including its end-of-track marker.

    What a log-structured array keeps of a track once gaps and the unused end are
    removed (S63).  Walks the count fields through a memoryview, which costs about as
    much as copying the track; an image without a marker counts as its whole slot.
    """
    buf = memoryview(img).cast("B") if isinstance(img, np.ndarray) else memoryview(img)
    if buf[trackfmt.HA_LEN + 7] != trackfmt.R0_DATA_LEN:
        return len(buf)
    pos = trackfmt.TRACK_HEADER_LEN
    n = len(buf)
    for _ in range(16):
        if pos + 8 > n:
            return n
        if buf[pos : pos + 8] == _EOT:
            return pos + 8
        pos += 8 + buf[pos + 5] + ((buf[pos + 6] << 8) | buf[pos + 7])
    if isinstance(img, np.ndarray) and n % 8 == 0 and img.flags.c_contiguous:
        # many small records: after the marker a slot holds only zeros, so its end is
        # the last nonzero byte (a word scan costs the same whatever the record count)
        w = img.view("<u8")  # little-endian: the last nonzero byte is the top one
        k = w.size - int(np.argmax(w[::-1] != 0))
        return (k - 1) * 8 + (int(w[k - 1]).bit_length() + 7) // 8
    while pos + 8 <= n:
        if buf[pos : pos + 8] == _EOT:
            return pos + 8
        pos += 8 + buf[pos + 5] + ((buf[pos + 6] << 8) | buf[pos + 7])
    return n


class TrackPool:
    """The back-end track store of one RVA-like subsystem.

    Fixed at open: :attr:`dir`, :attr:`slot_size`, :attr:`nslots`.  Settings read at
    open and changeable between runs: :attr:`capacity_bytes`,
    :attr:`compression_ratio`, :attr:`fsc_threshold`.  Mutable: the slot images,
    :attr:`refs`, :attr:`used`, the log head and high-water mark, :attr:`collections`
    (how many times free-space collection sent the head back).
    """

    def __init__(self, directory: Path, settings: dict, ftd_paths: Callable[[], list[Path]]) -> None:
        self.dir = Path(directory)
        self.lock = threading.RLock()
        self.capacity_bytes = int(settings.get("pool_capacity_bytes", POOL_DEFAULTS["pool_capacity_bytes"]))
        self.compression_ratio = float(settings.get("compression_ratio", 3.6))
        self.fsc_threshold = int(settings.get("fsc_threshold_slots", POOL_DEFAULTS["fsc_threshold_slots"]))
        if self.compression_ratio <= 0:
            raise PoolError("DLB392E", f"compression_ratio must be positive, got {self.compression_ratio}.")
        meta_path = self.dir / "pool.json"
        if not meta_path.exists():
            self._create(int(settings.get("pool_slots", POOL_DEFAULTS["pool_slots"])))
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise PoolError("DLB392E", f"{meta_path} is damaged: {e.msg} at line {e.lineno}.") from None
        if meta.get("format") != POOL_FORMAT:
            raise PoolError("DLB392E", f"{meta_path} is not a dasdlab track pool.")
        self.slot_size = int(meta["slot_size"])
        self.nslots = int(meta["slots"])
        head = int(meta.get("head", 1))
        for name, size in (("slots.img", self.nslots * self.slot_size), ("refs.u32", self.nslots * 4),
                           ("used.u32", self.nslots * 4)):
            p = self.dir / name
            if not p.exists() or p.stat().st_size != size:
                raise PoolError("DLB392E", f"track pool file {p} is missing or not {size} bytes; the pool is damaged.")
        # the maps, kept for flushing; the work goes through plain ndarray views of them,
        # which index several times faster than np.memmap objects
        self._maps = (
            np.memmap(self.dir / "slots.img", dtype=np.uint8, mode="r+", shape=(self.nslots, self.slot_size)),
            np.memmap(self.dir / "refs.u32", dtype=np.uint32, mode="r+", shape=(self.nslots,)),
            np.memmap(self.dir / "used.u32", dtype=np.uint32, mode="r+", shape=(self.nslots,)),
        )
        self.slots = self._maps[0].view(np.ndarray)
        #: per slot: the number of FTD entries pointing at it (0 = free)
        self.refs = self._maps[1].view(np.ndarray)
        #: per slot: compacted bytes of its image (meaningful while its count is above 0)
        self.used = self._maps[2].view(np.ndarray)
        self.collections = 0
        self._since_drop = 0
        self.recovered = False
        self._lockf = open(self.dir / "pool.lock", "a+")
        self._open_lock(ftd_paths)
        # the allocation state every writing process shares (see "Several processes")
        self._allocf = open(self.dir / "alloc.lock", "a+b")
        if os.fstat(self._allocf.fileno()).st_size < _ALLOC_WORDS * 8:
            os.ftruncate(self._allocf.fileno(), _ALLOC_WORDS * 8)
        self._alloc_map = np.memmap(self.dir / "alloc.lock", dtype=np.uint64, mode="r+", shape=(_ALLOC_WORDS,))
        self._shared = self._alloc_map.view(np.ndarray)
        self._alloc_depth = 0
        with self.lock:
            fcntl.flock(self._allocf, fcntl.LOCK_EX)
            try:
                # the counts are the truth; what the words held may be a killed writer's
                live = self.refs[:] > 0
                self._consumed = int(self.used[live].astype(np.int64).sum())
                self._live = int(np.count_nonzero(live))
                nz = np.flatnonzero(live)
                self._hwm = int(nz[-1]) + 1 if nz.size else 1
                shared_head = int(self._shared[_A_HEAD])
                if int(self._shared[_A_MAGIC]) == _ALLOC_MAGIC and 1 <= shared_head <= self._hwm:
                    head = shared_head
                self._head = head if 1 <= head <= self._hwm else self._hwm
                self._publish()
            finally:
                fcntl.flock(self._allocf, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ create / open
    def _create(self, nslots: int) -> None:
        if nslots < 2:
            raise PoolError("DLB392E", f"a track pool needs at least 2 slots, not {nslots}.")
        self.dir.mkdir(parents=True, exist_ok=True)
        for name, size in (("slots.img", nslots * POOL_SLOT), ("refs.u32", nslots * 4), ("used.u32", nslots * 4)):
            with open(self.dir / name, "wb") as f:
                f.truncate(size)
        (self.dir / "ftd").mkdir(exist_ok=True)
        meta = {"format": POOL_FORMAT, "version": 1, "slot_size": POOL_SLOT, "slots": nslots, "head": 1}
        tmp = self.dir / "pool.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, self.dir / "pool.json")

    def _open_lock(self, ftd_paths: Callable[[], list[Path]]) -> None:
        """Hold a shared lock while open; the first opener after a crash recounts."""
        try:
            fcntl.flock(self._lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(self._lockf, fcntl.LOCK_SH)
            return
        dirty = self.dir / "pool.dirty"
        if dirty.exists():
            self.recount(ftd_paths())
            self.recovered = True
        dirty.touch()
        fcntl.flock(self._lockf, fcntl.LOCK_SH)

    def recount(self, ftd_paths: list[Path]) -> int:
        """Set every count to the number of FTD entries that point at the slot.

        Repairs what a killed process leaves (counts too high); returns how many slots
        changed.  Entries pointing outside the pool mark the FTD as damaged.
        """
        with self.lock:
            counts = np.zeros(self.nslots, dtype=np.int64)
            for p in ftd_paths:
                if not Path(p).exists():
                    continue
                ftd = read_ftd(Path(p))[0]
                if ftd.size and int(ftd.max()) >= self.nslots:
                    raise PoolError("DLB392E", f"{p} points outside the track pool; the FTD is damaged.")
                counts += np.bincount(ftd, minlength=self.nslots)[: self.nslots]
            counts[0] = 0
            changed = np.flatnonzero(counts != self.refs.astype(np.int64))
            self.refs[changed] = counts[changed].astype(np.uint32)
            self._maps[1].flush()
            return int(changed.size)

    # ------------------------------------------------------------------ several processes
    def _publish(self) -> None:
        sh = self._shared
        sh[_A_HEAD], sh[_A_HWM], sh[_A_LIVE], sh[_A_CONSUMED] = self._head, self._hwm, self._live, self._consumed
        sh[_A_MAGIC] = _ALLOC_MAGIC

    @contextmanager
    def _alloc(self) -> Iterator[None]:
        """Allocation alone in the pool: the ``alloc.lock`` flock held (and the thread
        lock), the log head, high-water mark and counters re-read from the words every
        writing process shares, and written back after.  Re-entrant."""
        with self.lock:
            if self._alloc_depth:
                self._alloc_depth += 1
                try:
                    yield
                finally:
                    self._alloc_depth -= 1
                return
            fcntl.flock(self._allocf, fcntl.LOCK_EX)
            self._alloc_depth = 1
            try:
                sh = self._shared
                self._head, self._hwm = int(sh[_A_HEAD]), int(sh[_A_HWM])
                self._live, self._consumed = int(sh[_A_LIVE]), int(sh[_A_CONSUMED])
                try:
                    yield
                finally:
                    self._publish()
            finally:
                self._alloc_depth = 0
                fcntl.flock(self._allocf, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ allocation
    def _take1(self, avoid: set[int] | None = None) -> int:
        """The next free slot of the log (not yet claimed); see the module docstring."""
        refs = self.refs
        while True:
            h, end = self._head, self._hwm
            while h < end:
                if refs[h] == 0 and (not avoid or h not in avoid):
                    self._head = h + 1
                    return h
                h += 1
                if h + 8 < end and refs[h] != 0:  # a live stretch: find the next hole at once
                    z = np.flatnonzero(refs[h:min(end, h + 65536)] == 0)
                    h = h + int(z[0]) if z.size else min(end, h + 65536)
            self._head = end
            free_in_region = end - 1 - self._live - (len(avoid) if avoid else 0)
            if end < self.nslots and free_in_region < self.fsc_threshold:
                self._hwm = end + 1  # the log grows into a fresh slot
                self._head = end + 1
                return end
            if free_in_region <= 0:
                raise PoolFullError(
                    "DLB390E",
                    f"track pool {self.dir} is full: all {self.nslots - 1} slots hold live track "
                    "images; snap fewer copies, discard tracks, or enlarge pool_slots.",
                )
            self._head = 1  # free-space collection: sweep the region again
            self.collections += 1

    def _take(self, k: int) -> np.ndarray:
        """``k`` distinct free slots (not yet claimed)."""
        got: set[int] = set()
        out = []
        for _ in range(k):
            n = self._take1(got)
            got.add(n)
            out.append(n)
        return np.array(out, dtype=np.int64)

    def _check_capacity(self, new_bytes: int, freed_bytes: int) -> None:
        after = self._consumed + new_bytes - freed_bytes
        if new_bytes > freed_bytes and after / self.compression_ratio > self.capacity_bytes:
            raise PoolFullError(
                "DLB391E",
                f"track pool {self.dir} is out of back-end capacity: "
                f"{after / self.compression_ratio:,.0f} bytes would be consumed of "
                f"{self.capacity_bytes:,} (compression {self.compression_ratio}:1).",
            )

    def _freeing(self, old: np.ndarray) -> int:
        """Compacted bytes that lowering the counts of ``old`` (nonzero) would free."""
        if old.size == 0:
            return 0
        u, c = np.unique(old, return_counts=True)
        gone = u[self.refs[u] <= c]
        return int(self.used[gone].astype(np.int64).sum())

    def _claim(self, n: np.ndarray, used: np.ndarray) -> None:
        self.used[n] = used
        self.refs[n] = 1
        self._consumed += int(np.asarray(used, dtype=np.int64).sum())
        self._live += int(n.size)

    def _share(self, slots: np.ndarray) -> None:
        """Raise the counts of ``slots`` (nonzero, repeats allowed)."""
        if slots.size:
            np.add.at(self.refs, slots, np.uint32(1))

    def _release(self, slots: np.ndarray) -> None:
        """Lower the counts of ``slots`` (nonzero, repeats allowed); those at 0 are free."""
        if slots.size == 0:
            return
        np.subtract.at(self.refs, slots, np.uint32(1))
        dead = self.refs[slots] == 0
        if dead.any():
            gone = np.unique(slots[dead])  # a slot may appear more than once
            self._consumed -= int(self.used[gone].astype(np.int64).sum())
            self._live -= int(gone.size)

    def _write1(self, ftd: np.ndarray, t: int, fill: Callable[[int, np.ndarray], int]) -> None:
        """:meth:`write` of one track, without numpy set operations (the host-write path)."""
        n = self._take1()
        old = int(ftd[t])
        u = fill(0, self.slots[n])
        freeing = int(self.used[old]) if old and self.refs[old] == 1 else 0
        if u > freeing:
            self._check_capacity(u, freeing)
        self.used[n] = u
        self.refs[n] = 1
        self._consumed += u
        self._live += 1
        ftd[t] = n
        if old:
            r = int(self.refs[old]) - 1
            self.refs[old] = r
            if r == 0:
                self._consumed -= int(self.used[old])
                self._live -= 1

    # ------------------------------------------------------------------ the primitives
    def write(self, ftd: np.ndarray, tracks: np.ndarray, fill: Callable[[int, np.ndarray], int]) -> None:
        """Redirect-on-write of ``tracks`` (unique) of one FTD.

        ``fill(i, slot)`` writes the new image of ``tracks[i]`` into the fresh ``slot``
        view and returns its compacted size.  Order: images, then counts up, then the
        pointers, then the old counts down (see the module docstring).
        """
        tracks = np.asarray(tracks, dtype=np.int64)
        self._count_written(int(tracks.size))
        with self._alloc():
            if tracks.size == 1:
                self._write1(ftd, int(tracks[0]), fill)
                return
            new = self._take(int(tracks.size))
            old = ftd[tracks].astype(np.int64)
            used = np.empty(tracks.size, dtype=np.uint32)
            for i, n in enumerate(new.tolist()):
                used[i] = fill(i, self.slots[n])
            self._check_capacity(int(used.astype(np.int64).sum()), self._freeing(old[old != 0]))
            self._claim(new, used)
            ftd[tracks] = new.astype(np.uint32)
            self._release(old[old != 0])

    def _count_written(self, n: int) -> None:
        """Every write maps fresh slots (and reads old ones), so the slot map's resident
        pages would grow with the writes, whoever makes them: give them back every
        :data:`DROP_SLOTS` slots (``MADV_DONTNEED`` on a shared file map loses nothing)."""
        self._since_drop += n
        if self._since_drop >= DROP_SLOTS:
            self._since_drop = 0
            _dont_need(self._maps[0])

    def drop(self, ftd: np.ndarray, tracks: np.ndarray) -> None:
        """Make ``tracks`` never-written: pointer to 0 first, then the count down."""
        with self._alloc():
            tracks = np.asarray(tracks, dtype=np.int64)
            old = ftd[tracks].astype(np.int64)
            ftd[tracks] = 0
            self._release(old[old != 0])

    def copy_pointers(self, src_ftd: np.ndarray, src: tuple[int, int], dst_ftd: np.ndarray,
                      dst: tuple[int, int]) -> None:
        """The snap primitive: target entries ``dst`` take the source entries ``src``.

        Counts of the shared slots go up before the target pointers move, and the
        counts of the slots the target pointed at go down after.
        """
        (s0, s1), (d0, d1) = src, dst
        with self._alloc():
            new = np.array(src_ftd[s0:s1], dtype=np.int64)
            old = np.array(dst_ftd[d0:d1], dtype=np.int64)
            self._share(new[new != 0])
            dst_ftd[d0:d1] = new.astype(np.uint32)
            self._release(old[old != 0])

    def image(self, slot: int) -> np.ndarray:
        return self.slots[slot]

    # ------------------------------------------------------------------ space
    def trim(self) -> int:
        """Give back the disk space of the region's free slots (punch holes) and lower
        the high-water mark to the last live slot.  Returns the slots trimmed."""
        with self._alloc():
            free = np.flatnonzero(self.refs[1 : self._hwm] == 0) + 1
            live = np.flatnonzero(self.refs[1 : self._hwm]) + 1
            self._hwm = int(live[-1]) + 1 if live.size else 1
            self._head = min(self._head, self._hwm)
            if free.size == 0:
                return 0
            self.used[free] = 0
            breaks = np.flatnonzero(np.diff(free) != 1)
            starts = np.concatenate(([free[0]], free[breaks + 1]))
            stops = np.concatenate((free[breaks] + 1, [free[-1] + 1]))
            fd = os.open(self.dir / "slots.img", os.O_RDWR)
            try:
                for a, b in zip(starts.tolist(), stops.tolist()):
                    self.slots[a:b] = 0  # what a punched hole reads as, even without support
                    _punch(fd, a * self.slot_size, (b - a) * self.slot_size)
            finally:
                os.close(fd)
            return int(free.size)

    def consumed(self) -> float:
        """Modeled back-end bytes in use: compacted bytes of live slots / compression."""
        with self._alloc():
            return self._consumed / self.compression_ratio

    def stats(self) -> dict:
        with self._alloc():
            return {
                "slots": self.nslots - 1,
                "slots_in_use": self._live,
                "slots_free": self.nslots - 1 - self._live,
                "log_high_water_mark": self._hwm,
                "slots_free_in_log": self._hwm - 1 - self._live,
                "collections": self.collections,
                "compacted_bytes": self._consumed,
                "consumed_bytes": round(self.consumed()),
                "capacity_bytes": self.capacity_bytes,
                "compression_ratio": self.compression_ratio,
                "shared_slots": int(np.count_nonzero(self.refs[:] > 1)),
            }

    def flush(self) -> None:
        for a in self._maps:
            a.flush()

    def drop_resident(self) -> None:
        """Give back this process's pages of the pool's maps (``MADV_DONTNEED`` on shared
        file maps loses nothing; see :meth:`dasdlab.emulator.volume.Volume.drop_resident`)."""
        for m in self._maps:
            _dont_need(m)

    def close(self) -> None:
        """Persist the head and drop the dirty mark if this is the last opener."""
        if self._lockf is None:
            return
        with self._alloc():
            self.flush()
            meta_path = self.dir / "pool.json"
            meta = json.loads(meta_path.read_text())
            meta["head"] = self._head
            tmp = self.dir / "pool.json.tmp"
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, meta_path)
            try:
                fcntl.flock(self._lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
                (self.dir / "pool.dirty").unlink(missing_ok=True)
            except BlockingIOError:
                pass  # another process still has the pool open
            fcntl.flock(self._lockf, fcntl.LOCK_UN)
            self._lockf.close()
            self._lockf = None
        self._allocf.close()


def _dont_need(m: np.memmap) -> None:
    import mmap

    mm = getattr(m, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass  # an old kernel or a closed map: resident pages are only memory


def _punch(fd: int, offset: int, length: int) -> None:
    """FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE; silently skipped where unsupported."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.fallocate(fd, 0x02 | 0x01, ctypes.c_long(offset), ctypes.c_long(length))
    except OSError:
        pass


# ---------------------------------------------------------------------- FTD files
def create_ftd(path: Path, ntracks: int, heads: int, slot: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".ftd.tmp")
    with open(tmp, "wb") as f:
        f.write(_FTD_HDR.pack(FTD_MAGIC, ntracks, heads, slot).ljust(FTD_HDR_LEN, b"\x00"))
        f.truncate(FTD_HDR_LEN + 4 * ntracks)
    os.replace(tmp, path)


def read_ftd(path: Path, writable: bool = False) -> tuple[np.ndarray, int, int, int]:
    """(entries, tracks, heads, slot size) of an FTD file; entries are memory-mapped."""
    try:
        with open(path, "rb") as f:
            raw = f.read(FTD_HDR_LEN)
    except FileNotFoundError:
        raise PoolError("DLB392E", f"functional track directory {path} does not exist.") from None
    if len(raw) < FTD_HDR_LEN or raw[:8] != FTD_MAGIC:
        raise PoolError("DLB392E", f"{path} is not a functional track directory (bad header).")
    _, ntracks, heads, slot = _FTD_HDR.unpack_from(raw)
    if path.stat().st_size != FTD_HDR_LEN + 4 * ntracks:
        raise PoolError("DLB392E", f"{path} is truncated: it should hold {ntracks} entries.")
    arr = np.memmap(path, dtype=np.uint32, mode="r+" if writable else "r", offset=FTD_HDR_LEN, shape=(ntracks,))
    return arr, ntracks, heads, slot


# ---------------------------------------------------------------------- pool volumes
class PoolVolume(Volume):
    """A functional CKD volume whose tracks live in a :class:`TrackPool`.

    A drop-in for :class:`~dasdlab.emulator.volume.Volume`: the same track, record,
    VTOC and write-path interface, with storage by FTD and pool instead of a file of
    slots.  :attr:`written` has the same meaning (tracks that hold an image, i.e.
    whose FTD entry is not 0); ``files`` is empty and :attr:`pooled` is True, so the
    track copier uses the per-track path.

    A track shared by a data-set snap may sit in a slot whose image carries another
    track's address; reading it gives a relocated copy (its own CCHH in the home
    address and count fields), and writing it stores the relocated image.
    """

    pooled = True

    def __init__(self, pool: TrackPool, ftd_path: Path, geometry, cylinders: int, read_only: bool) -> None:
        self.pool = pool
        self.path = Path(ftd_path)
        self.files = []
        self.geometry = geometry
        self.cylinders = cylinders
        self.heads = geometry.heads
        self.ntracks = cylinders * self.heads
        self.slot = geometry.slot_size
        self.read_only = read_only
        if self.slot > pool.slot_size:
            raise PoolError("DLB397E", f"a {geometry.name} track ({self.slot} bytes) does not fit the pool's "
                                       f"{pool.slot_size}-byte slots.")
        self._ftd_map, n, heads, slot = read_ftd(self.path, writable=not read_only)
        #: per track: the pool slot of its image, 0 when never written (a view of the FTD file)
        self.ftd = self._ftd_map.view(np.ndarray)
        if (n, heads, slot) != (self.ntracks, self.heads, self.slot):
            raise PoolError("DLB392E", f"{self.path} describes {n} tracks of {slot} bytes, {heads} heads; "
                                       f"the site says {self.ntracks} x {self.slot}, {self.heads} heads.")
        self.written = Bitmap(self.ntracks)
        self.written.set_many(np.flatnonzero(self.ftd))
        self._single = None
        self._starts = np.zeros(1, dtype=np.int64)
        self._lock = threading.Lock()
        self._vtoc = None
        self.write_hook = None
        self.write_hook_one = None
        self.read_hook = None
        self.subsystem = None
        self.volser_hint = None

    @classmethod
    def create_on(cls, pool: TrackPool, ftd_path: Path, model_name: str, volser: str,
                  cylinders: int | None = None) -> PoolVolume:
        """A new functional volume with IPL records, VOL1 and an empty VTOC."""
        from dasdlab.emulator import vtoc as vtoc_mod

        geo = model(model_name)
        cylinders = geo.check_cylinders(cylinders if cylinders is not None else geo.cylinders)
        vol1 = vtoc_mod.check_volser(volser)
        create_ftd(Path(ftd_path), cylinders * geo.heads, geo.heads, geo.slot_size)
        try:
            vol = cls(pool, ftd_path, geo, cylinders, read_only=False)
            vtoc_mod.initialize(vol, vol1, vtoc_tracks=geo.heads - 1)
            vol.flush()
            return vol
        except BaseException:
            try:
                ftd = read_ftd(Path(ftd_path), writable=True)[0]
                pool.drop(ftd, np.flatnonzero(ftd))
            finally:
                Path(ftd_path).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ reading
    def _check_track(self, t: int) -> None:
        if not 0 <= t < self.ntracks:
            self._loc_error(t)

    def _loc_error(self, t: int):
        from dasdlab.errors import GeometryError

        raise GeometryError("DLB104E", f"track {t} is outside the volume (0..{self.ntracks - 1}).")

    def drop_resident(self) -> None:
        """The volume's tracks are the pool's slots: give back the pool's pages."""
        self.pool.drop_resident()

    def _loc(self, t: int):  # only Volume internals call this; a pool volume has no slot file
        self._check_track(t)
        raise ImageError("DLB392E", "a pool volume has no slot file.")  # pragma: no cover

    def own_track(self, t: int) -> np.ndarray:
        self._check_track(t)
        s = int(self.ftd[t])
        if s == 0:
            return unformatted(self.slot)
        img = self.pool.slots[s, : self.slot]
        want = encode_cchh(*divmod(t, self.heads))
        if bytes(img[1:5]) != want and trackfmt.is_formatted(img):
            img = np.array(img)
            trackfmt.relocate_track(img, *divmod(t, self.heads))
        return img

    def is_written(self, t: int) -> bool:
        # the FTD is shared with other processes writing the volume; the bitmap is not
        if self.read_hook is not None:
            return super().is_written(t)
        self._check_track(t)
        s = int(self.ftd[t])
        if s and not self.written.test(t):
            self.written.set(t)
        elif not s and self.written.test(t):
            self.written.clear(t)
        return s != 0

    def refresh_written(self, tracks) -> np.ndarray:
        tracks = np.asarray(tracks, dtype=np.int64)
        if tracks.size == 0:
            return tracks
        cand = tracks[~self.written.test_many(tracks)]
        found = cand[self.ftd[cand] != 0] if cand.size else cand
        if found.size:
            self.written.set_many(found)
        return found

    def slot_of(self, t: int) -> int:
        """The pool slot of track ``t`` (0 when never written)."""
        self._check_track(t)
        return int(self.ftd[t])

    # ------------------------------------------------------------------ writing
    def store_track(self, t: int, image) -> None:
        self._check_track(t)
        img = np.frombuffer(image, dtype=np.uint8) if isinstance(image, (bytes, bytearray)) else image
        if img.shape != (self.slot,):
            raise ImageError("DLB121E", f"a track image must be {self.slot} bytes, got {img.shape}.")
        self._check_writable_ftd()

        def fill(_i: int, slot: np.ndarray) -> int:
            slot[: self.slot] = img
            if self.slot < slot.shape[0]:
                slot[self.slot :] = 0
            return compacted_bytes(img)

        self.pool.write(self.ftd, np.array([t], dtype=np.int64), fill)
        self.written.set(t)

    def write_bytes(self, t: int, offset: int, data) -> None:
        self._check_writable()
        buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
        if not self.is_written(t):
            raise ImageError("DLB124E", f"track {t} is not formatted; format it before updating records.")
        if offset < 0 or offset + len(buf) > self.slot:
            raise ImageError("DLB121E", f"update at offset {offset} runs past the track slot.")
        self._host_write(t)
        self._rewrite(np.array([t], dtype=np.int64), [[(offset, buf)]])

    def write_many(self, tracks: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> None:
        self._check_writable()
        tracks = np.asarray(tracks, dtype=np.int64)
        if tracks.size == 0:
            return
        offsets = np.asarray(offsets, dtype=np.int64)
        uniq, inv = np.unique(tracks, return_inverse=True)
        for t in uniq[~self.written.test_many(uniq)].tolist():
            if not self.is_written(t):
                raise ImageError("DLB124E", f"track {t} is not formatted; format it before updating records.")
        if self.write_hook is not None:
            self.write_hook(self, uniq)
        per: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(uniq.size)]
        for k, off, row in zip(inv.tolist(), offsets.tolist(), data):
            per[k].append((off, row))
        self._rewrite(uniq, per)

    def _rewrite(self, tracks: np.ndarray, updates: list[list[tuple[int, np.ndarray]]]) -> None:
        """A partial update: copy each track into a fresh slot, then apply its updates."""
        self._check_writable_ftd()
        for t in tracks.tolist():
            if not self.written.test(t) and self.read_hook is not None:
                # a copy target whose track is served from elsewhere: materialise it first
                self.store_track(t, np.array(self.read_track(t)))

        def fill(i: int, slot: np.ndarray) -> int:
            t = int(tracks[i])
            slot[: self.slot] = self.own_track(t)
            for off, row in updates[i]:
                slot[off : off + len(row)] = row
            return int(self.pool.used[int(self.ftd[t])]) or compacted_bytes(slot[: self.slot])

        self.pool.write(self.ftd, tracks, fill)

    def clear_track(self, t: int) -> None:
        self._check_writable()
        self._check_track(t)
        self.pool.drop(self.ftd, np.array([t], dtype=np.int64))
        self.written.clear(t)

    def discard_tracks(self, tracks) -> None:
        self._check_writable()
        tracks = np.unique(np.asarray(tracks, dtype=np.int64))
        if tracks.size == 0:
            return
        for t in tracks.tolist():
            self._check_track(t)
        if self.write_hook is not None:
            self.write_hook(self, tracks)
        self.pool.drop(self.ftd, tracks)
        self.written.clear_many(tracks)

    def _check_writable_ftd(self) -> None:
        if self.read_only:
            raise ImageError("DLB116E", f"volume {self.path} is open read-only.")

    # ------------------------------------------------------------------ snap support
    def take_pointers(self, src: PoolVolume, src_run: tuple[int, int], dst_run: tuple[int, int]) -> None:
        """Make tracks ``dst_run`` of this volume share the images of ``src_run`` of
        ``src`` (a SnapShot pointer copy; no data moves)."""
        self._check_writable_ftd()
        if src.pool is not self.pool:
            raise PoolError("DLB393E", "source and target are in different track pools.")
        self.pool.copy_pointers(src.ftd, src_run, self.ftd, dst_run)
        a, b = dst_run
        self.written.clear_range(a, b)
        self.written.set_many(np.flatnonzero(self.ftd[a:b]) + a)
        self._vtoc = None

    # ------------------------------------------------------------------ lifecycle
    def written_count(self) -> int:
        return self.written.count()

    def flush(self) -> None:
        if not self.read_only and self.ftd is not None:
            self._ftd_map.flush()
            self.pool.flush()

    def close(self) -> None:
        if getattr(self, "ftd", None) is None:
            return
        self.flush()
        self.ftd = self._ftd_map = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"PoolVolume({self.path.stem}, {self.geometry.name}, {self.cylinders} cyl, "
                f"{self.written.count()}/{self.ntracks} tracks written)")


# ---------------------------------------------------------------------- subsystem glue
def pool_dir(sub) -> Path:
    return sub.site.path / "state" / sub.name / "pool"


def ftd_rel(sub, volser: str) -> Path:
    return Path("state") / sub.name / "pool" / "ftd" / f"{volser}.ftd"


def open_pool(sub) -> TrackPool:
    """The pool of an RVA-like subsystem, created on first use."""
    def ftds() -> list[Path]:
        out = []
        for v in sub.site.volsers(sub.name):
            spec = sub.site.volume_spec(v)
            if "ftd" in spec:
                out.append(sub.site.path / spec["ftd"])
        return out

    return TrackPool(pool_dir(sub), sub.settings, ftds)


def create_pool_volume(sub, volser: str, model_name: str, cylinders: int | None) -> dict:
    """Create a functional volume in the subsystem's pool; returns its site.json entry.

    An FTD left behind by a process killed while creating the same volume (it is in the
    pool folder but not in site.json) is replaced.
    """
    rel = ftd_rel(sub, volser)
    path = sub.site.path / rel
    if path.exists() and volser not in sub.site.config["volumes"]:
        ftd = read_ftd(path, writable=True)[0]
        sub.pool.drop(ftd, np.flatnonzero(ftd))
        del ftd
        path.unlink()
    vol = PoolVolume.create_on(sub.pool, path, model_name, volser, cylinders)
    spec = {"ftd": str(rel), "model": vol.geometry.name, "cylinders": vol.cylinders}
    vol.close()
    return spec


def open_pool_volume(sub, volser: str, spec: dict, writable: bool) -> Volume:
    if "ftd" not in spec:  # a volume made before RVA subsystems had a pool
        return Volume.open(sub.site.path / spec["file"], writable=writable)
    return PoolVolume(sub.pool, sub.site.path / spec["ftd"], model(spec["model"]), int(spec["cylinders"]),
                      read_only=not writable)


def configure_pool(site, subsystem: str, **settings) -> None:
    """Change pool settings of a subsystem before its pool exists (tests, scenarios).

    ``pool_slots`` is fixed once the pool is created; the other settings may change.
    """
    sub = site.subsystem(subsystem)
    if "pool_slots" in settings and (pool_dir(sub) / "pool.json").exists():
        raise PoolError("DLB392E", f"the pool of {sub.name} exists; its slot count can no longer change.")
    with site.locked():
        site.reload()
        site.config["subsystems"][sub.name].setdefault("settings", {}).update(settings)
        site._write_config(site.config)
    sub.settings.update(settings)


def export_volume(vol: Volume, dst: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Write a pool volume as a Hercules ``CKD_P370`` image; returns tracks written.

    Only written tracks are copied (the image stays sparse); each is written with its
    own address (shared data-set snap tracks are relocated).
    """
    from dasdlab.emulator.geometry import DEVHDR_LEN
    from dasdlab.emulator.volume import EYE_CKD, DeviceHeader

    dst = Path(dst)
    if dst.exists():
        raise ImageError("DLB117E", f"{dst} already exists; dasdlab will not overwrite it.")
    geo = vol.geometry
    idx = vol.written.indices()
    hdr = DeviceHeader(EYE_CKD, geo.heads, geo.slot_size, geo.devtype_byte, 0, 0)
    try:
        with open(dst, "xb") as f:
            f.write(hdr.pack())
            f.truncate(DEVHDR_LEN + vol.ntracks * vol.slot)
        out = np.memmap(dst, dtype=np.uint8, mode="r+", offset=DEVHDR_LEN, shape=(vol.ntracks, vol.slot))
        for i, t in enumerate(idx.tolist()):
            out[t] = vol.own_track(t)
            if progress is not None and (i % 256 == 0 or i == idx.size - 1):
                progress(i + 1, int(idx.size))
        out.flush()
        del out
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return int(idx.size)
