"""Persistent state of one copy service: JSON records and memory-mapped bitmaps.

Under ``SITE/state/SUBSYSTEM/SERVICE/``: ``KEY.json`` per relationship or session,
replaced atomically (write a temporary file, ``os.replace``), and ``KEY.NAME.bm`` per
bitmap: the raw little-endian ``uint64`` words, mapped shared, so that a bit set in
memory is in the page cache at once and survives ``kill -9`` of the process.  (A power
loss is outside the model: we do not ``fsync`` on every bit.)

Crash safety is the callers' ordering discipline: copy the track, then set the bit;
write bitmaps before the record that makes them live; mark a record ``pending`` before
a multi-step change that cannot be redone and clear the mark after.  On load, a record
still ``pending`` is found and the owner decides: redo, or mark the relationship invalid
with a message.

**Across processes.**  Every record written or deleted bumps the subsystem's
*generation* (:class:`Generation`, ``SITE/state/SUBSYSTEM/generation.lock``: one ``uint64``
in a shared map, changed under an ``fcntl`` lock), so that every process using the
subsystem sees at its next host write that the persisted state changed and reloads it
(see :mod:`dasdlab.emulator.subsystem`).  Two rules keep a process with an old view
from undoing another's work: a record this process last read or wrote unchanged is not
written again (a service that re-saves its records when it closes does not overwrite a
newer state), and a record this process knew but that is gone from disk was deleted by
another process and is never written back (a withdraw stays withdrawn).
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dasdlab.emulator.bitmap import Bitmap, words_for

def damaged_record(path: Path, why: str):
    """The error for a state record its service cannot use: nothing may act on it."""
    from dasdlab.errors import CopyServiceError

    return CopyServiceError("DLB007E", f"the copy-service state record {path} is damaged ({why}); nothing was "
                                       "changed. Restore it from a copy, or move it and its .bm files away to "
                                       "forget that relationship (its target then holds whatever it held).")


_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_DUMP = {"separators": (",", ":"), "sort_keys": True}


class Generation:
    """The change counter of one subsystem's persisted state, shared by every process.

    ``SITE/state/SUBSYSTEM/generation.lock`` holds two ``uint64`` words, mapped shared:
    ``word[0]`` the generation (bumped on every change of a record, and when a process
    asks for the subsystem's exclusive lock), ``word[1]`` the number of processes
    waiting for or holding that lock.  Reading ``word[0]`` is one load from the page
    cache (about 0.1 us), which is what lets every host write check it.  Bumps happen
    under an ``fcntl`` lock on the same file (and a thread lock: ``flock`` does not
    exclude threads of one process, which share the open file).  One instance per
    process and folder (:func:`generation`).
    """

    def __init__(self, subsystem_dir: Path) -> None:
        self.dir = Path(subsystem_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "generation.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size < 16:
            os.ftruncate(self._fd, 16)  # growing to the same size twice is harmless
        self._map = mmap.mmap(self._fd, 16)
        #: the shared words: [generation, exclusive lock wanted/held]
        self.word = memoryview(self._map).cast("Q")
        self._tlock = threading.RLock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._tlock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def bump(self, wanting: int = 0) -> tuple[int, int]:
        """Raise the generation by one (and ``word[1]`` by ``wanting``); (old, new)."""
        with self.locked():
            old = self.word[0]
            self.word[0] = old + 1
            if wanting:
                self.word[1] = max(0, self.word[1] + wanting)
            return old, old + 1

    def unwant(self) -> None:
        with self.locked():
            self.word[1] = max(0, self.word[1] - 1)


_GENERATIONS: dict[str, Generation] = {}
_GEN_LOCK = threading.Lock()


def generation(subsystem_dir: Path) -> Generation:
    """This process's :class:`Generation` of a subsystem's state folder."""
    key = f"{os.getpid()}:{os.path.abspath(subsystem_dir)}"  # a forked child opens its own
    with _GEN_LOCK:
        g = _GENERATIONS.get(key)
        if g is None:
            g = _GENERATIONS[key] = Generation(Path(os.path.abspath(subsystem_dir)))
        return g


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        #: what this process last read or wrote of each record (its JSON text)
        self._seen: dict[str, str] = {}
        #: called with (old, new) after this store bumped the generation; the subsystem
        #: sets it so that its own changes do not make it reload
        self.on_bump: Callable[[int, int], None] | None = None
        self._gen: Generation | None = None
        self._idfds: dict[str, int] = {}  # id prefix -> open counter file

    @property
    def generation(self) -> Generation:
        if self._gen is None:
            self._gen = generation(self.dir.parent)
        return self._gen

    def _bumped(self, old_new: tuple[int, int]) -> None:
        if self.on_bump is not None:
            self.on_bump(*old_new)

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ records
    def _rec(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise ValueError(f"bad state key {key!r}")
        return self.dir / f"{key}.json"

    def put(self, key: str, record: dict) -> bool:
        """Write a record; False when it was not written (see the module docstring:
        unchanged since this process last saw it, or deleted by another process)."""
        self.ensure()
        path = self._rec(key)
        text = json.dumps(record, **_DUMP)
        gen = self.generation
        with gen.locked():
            last = self._seen.get(key)
            if last is not None and (last == text or not path.exists()):
                return False
            tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
            self._seen[key] = text
            self._bumped(gen.bump())
        return True

    def get(self, key: str) -> dict | None:
        """The record, None when there is none; a record that is not a JSON object is
        refused (DLB007E) before anything acts on it."""
        path = self._rec(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise damaged_record(path, "empty" if not raw else f"not JSON: {e}") from None
        if not isinstance(rec, dict):
            raise damaged_record(path, f"a JSON {type(rec).__name__}, not a record")
        self._seen[key] = json.dumps(rec, **_DUMP)
        return rec

    def keys(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name[:-5] for p in self.dir.glob("*.json") if ".tmp" not in p.name)

    def records(self) -> dict[str, dict]:
        out = {}
        for k in self.keys():
            r = self.get(k)
            if r is not None:
                out[k] = r
        return out

    def delete(self, key: str) -> None:
        """Remove a record and its bitmaps (the record first: without it they are dead)."""
        gen = self.generation
        with gen.locked():
            self._rec(key).unlink(missing_ok=True)
            for p in self.dir.glob(f"{key}.*.bm"):
                p.unlink(missing_ok=True)
            self._seen.pop(key, None)
            self._bumped(gen.bump())

    def next_id(self, prefix: str) -> str:
        """A new key ``PREFIXnnnn`` not used before in this store.

        The counter file ``.PREFIX.next`` is kept open and read, advanced and rewritten
        in place under an exclusive ``flock`` of it: a few system calls, and two
        processes never get one number.  (Replacing the file by a new one would not do:
        a process holding the old one open would lock and advance a file nobody else
        sees.)  If a crash left it unreadable, it is rebuilt from the highest record
        number, so an id is never reused while its record exists."""
        fd = self._idfds.get(prefix)
        if fd is None:
            self.ensure()
            fd = self._idfds[prefix] = os.open(self.dir / f".{prefix}.next", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, 64, 0).strip()
            try:
                n = int(raw) if raw else 0
            except ValueError:
                n = 0
            if n <= 0:  # new or unreadable: never below an existing record
                used = [int(k[len(prefix):]) for k in self.keys() if k.startswith(prefix) and k[len(prefix):].isdigit()]
                n = max(used, default=0) + 1
            while self._rec(f"{prefix}{n:04d}").exists():
                n += 1
            # fixed width: a shorter number never leaves digits of a longer one behind
            os.pwrite(fd, f"{n + 1:<20d}".encode(), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return f"{prefix}{n:04d}"

    def close(self) -> None:
        """Close the counter files this store keeps open."""
        for fd in self._idfds.values():
            os.close(fd)
        self._idfds.clear()

    # ------------------------------------------------------------------ bitmaps
    def bitmap_path(self, key: str, name: str) -> Path:
        return self.dir / f"{key}.{name}.bm"

    def bitmap(self, key: str, name: str, nbits: int, create: bool = False, fill: bool = False) -> Bitmap:
        """A bitmap backed by a shared map of its file.  ``create`` makes a new one (all
        clear, or all set with ``fill``); otherwise the file must exist."""
        path = self.bitmap_path(key, name)
        nwords = words_for(nbits)
        if create:
            self.ensure()
            with open(path, "wb") as f:
                f.truncate(max(nwords, 1) * 8)
        words = np.memmap(path, dtype=np.uint64, mode="r+", shape=(max(nwords, 1),))[:nwords]
        bm = Bitmap(nbits, words)
        if create and fill:
            bm.set_range(0, nbits)
        return bm

    def has_bitmap(self, key: str, name: str) -> bool:
        return self.bitmap_path(key, name).exists()
