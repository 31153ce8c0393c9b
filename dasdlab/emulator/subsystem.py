"""Storage subsystems: control units that own volumes and run copy services.

A subsystem owns a set of volumes and declares which copy services it has
(``docs/domain.md`` §2, §4.1):

========== ============================================ ===========================
kind       copy services                                 track storage
========== ============================================ ===========================
ds8000     FlashCopy, Concurrent Copy, virtual CC        in place (CKD image file)
rva        SnapShot, virtual CC                          log-structured track pool
symmetrix  TimeFinder/Clone                              in place (CKD image file)
========== ============================================ ===========================

**The one write path.**  Every host write to a volume of the subsystem reaches its
track through :meth:`Subsystem._write_path`, which first calls ``before_write`` on each
*intercept* registered for that volume (FlashCopy copy-on-write, the Concurrent Copy
sidefile, TimeFinder protection, ...).  Reads of a copy target go through
:meth:`Subsystem._read_path`, where an intercept may serve the track from elsewhere
(FlashCopy target reads of uncopied tracks come from the source).  Every volume of a
subsystem has the write path (another process may have made a relationship on it);
a volume without intercepts in this process pays the generation check below and
nothing else.  Reads are redirected only for volumes with a reading intercept.

**Host and storage operations.**  Every host operation of a volume -- write, update,
format, discard (see :mod:`dasdlab.emulator.volume`) -- calls the write path; only the
track copier and the services use the storage operations that do not.

**The write path holds across processes.**  Any number of processes may use one site;
what one process establishes intercepts the writes of every other from the moment the
establish returns.  The mechanism, chosen for its cost on the host write:

* ``SITE/state/SUBSYSTEM/generation.lock`` (:class:`~dasdlab.emulator.services.store.Generation`)
  is a counter in a shared memory map, bumped under an ``fcntl`` lock by every change
  of a service's persisted state.  Before each host write (one call per batch or per
  track) the write path compares it with the generation this process last loaded: one
  load from the page cache, 35-50 ns per host write against 13-23 us of a plain
  full-track write, 0.2-0.3 % (``benchmarks/test_writepath_bench.py``, inlined in
  :meth:`Volume._host_write <dasdlab.emulator.volume.Volume>` because a call frame
  alone costs as much again).  When it differs, the subsystem reloads its services
  from their persisted state first.
* The check alone would let an establish slip in between a writer's check and its
  write.  So a process that writes holds a *shared* ``flock`` on
  ``SITE/state/SUBSYSTEM/writers.lock`` from its first host write on (taking it costs
  two system calls, about 2.4 us, too much to pay on every track, so it is kept), and
  every verb that changes relationships (establish, withdraw, ... each service's
  :attr:`~dasdlab.emulator.services.contract.CopyService.control_verbs`)
  runs under the *exclusive* lock, after re-reading the persisted state, so its limit
  checks (one source per target, 12 targets per source, one incremental) see every
  process's relationships.  To get it, the verb first takes ``gate.lock`` (one verb at
  a time), then announces itself in the generation file (a bump and ``word[1]``);
  writers see the bump at their next write, drop their shared lock, wait at the gate
  and take the shared lock again once the verb is done -- and reload.  A writer that
  does not write for ``lock_wait_s`` seconds (setting; default 10) while a verb waits
  keeps its lock: the verb is refused with DLB306E, which names the processes that hold
  the subsystem (they register in ``SITE/state/SUBSYSTEM/writers/PID.lock``).  A
  process that ticks its site between writes (a workload, an image copy waiting for
  physical completion) lets go at the tick, so only a writer that neither writes nor
  ticks makes a verb wait that long.
* Copy-on-write itself must be atomic across processes (two processes' first writes
  of one track must not both find its bit set, nor race a background copy in a third):
  a track copier's lock for a target of a site also holds an ``flock`` per target
  volume (:class:`CopyLock`).  That is two system calls per copy-on-write, about
  2.4 us; later writes (the bit already clear) never take it.
* Each process has its own map of which tracks of a volume are written (the file is
  shared).  A copier that put tracks onto a volume bumps, at the release of its
  ``flock``, a word shared by every process (:meth:`_ProcessLocks.volume_words`); a read of a track this process's map calls
  never written compares the word first (one load, about 0.15 us on a never-written
  track, nothing on a written one) and, when it moved, looks for the track in the file
  once (:meth:`Volume.holds_image <dasdlab.emulator.volume.Volume.holds_image>`).  A
  host write by another process that formats a new track is not announced this way.
* One owner process per site would have cost an inter-process round trip on every host
  write, a hundred times the check; it was not chosen.  A ``flock`` per write batch
  (without the kept shared lock) would cost 2.4 us per per-track write, 10-20 % of a
  full-track write, against the 5 % budget; it was not chosen either.
* A relationship or session another process withdrew is gone at the next reload; the
  state store never writes back a record another process deleted, nor re-saves one
  this process did not change, so a process that exits cannot undo a withdraw.

Concurrent Copy sessions are the exception the product has too: their sidefiles are
the memory of the process that started them, so other processes' writes to their
domain are refused (DLB367E) rather than intercepted.

**Services** are loaded per subsystem on first use, and always before a volume is
handed out when persisted state exists, so that a relationship made by an earlier
process intercepts this process's writes.  A subsystem's services are its kind's
built-ins (:attr:`Subsystem.capabilities` of the class) plus those added to it in the
site (``services`` in its site.json entry); each is looked up by name in
:mod:`dasdlab.emulator.services.registry` and constructed as ``cls(subsystem)``, a
:class:`~dasdlab.emulator.services.contract.CopyService`.
When the generation moved, the subsystem calls each service's ``reload()``: by
default (:meth:`CopyService.reload <dasdlab.emulator.services.contract.CopyService.reload>`)
the service drops its intercepts, is constructed afresh in place and loads; a service
that keeps live relationships updates them in place instead.
"""

from __future__ import annotations

import fcntl
import functools
import mmap
import os
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Protocol

import numpy as np

from dasdlab.emulator.pids import pid_alive
from dasdlab.emulator.services.store import StateStore, generation
from dasdlab.errors import CopyServiceError

if TYPE_CHECKING:  # pragma: no cover
    from dasdlab.emulator.volume import Volume


class Intercept(Protocol):
    """A copy service's hook on one volume of the write path."""

    def before_write(self, vol: Volume, tracks: np.ndarray) -> None:
        """Called before a host write changes ``tracks`` (int64, unique) of ``vol``.
        An intercept may also define ``before_write_one(vol, t)`` for one track."""

    def redirect_read(self, vol: Volume, t: int) -> np.ndarray | None:
        """The image to read for track ``t`` of ``vol``, or None to read the volume."""


#: how long a control verb waits for writers of other processes by default
LOCK_WAIT_S = 10.0


class SiteHeld(CopyServiceError):
    """Another process holds the subsystem longer than ``lock_wait_s``."""


class _ProcessLocks:
    """The cross-process locks of one subsystem folder, shared by every
    :class:`Subsystem` instance of this process (``flock`` locks belong to the open
    file, so two instances must share it or they would wait for each other).

    ``mode`` is None, "sh" (this process writes) or "ex" (a control verb runs)."""

    def __init__(self, subdir: Path) -> None:
        self.dir = subdir
        self.gen = generation(subdir)
        self.gate = os.open(subdir / "gate.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.rw = os.open(subdir / "writers.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.mode: str | None = None
        self.depth = 0
        self.users = 0  # Subsystem instances of this process that write
        self.writers: weakref.WeakSet = weakref.WeakSet()  # those instances
        self.tlock = threading.RLock()
        self._words: dict[str, tuple] = {}

    def volume_words(self, volser: str):
        """The words every process shares about volume ``volser``, ``SITE/state/
        SUBSYSTEM/volume-VOLSER.lock`` mapped: ``[0]`` counts copies onto it (bumped
        by its copiers, :class:`CopyLock`), ``[1]`` counts updates of its VTOC (bumped
        under the VTOC lock, :mod:`dasdlab.emulator.vtoc`).  Each is returned as a
        one-word view, so ``w[0]`` reads it.  Named ``.lock`` like ``generation.lock``:
        coordination between processes, not data of the site."""
        got = self._words.get(volser)
        if got is None:
            fd = os.open(self.dir / f"volume-{volser}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < 16:
                    os.ftruncate(fd, 16)  # growing to the same size twice is harmless
                mm = mmap.mmap(fd, 16)
            finally:
                os.close(fd)  # the map keeps the pages
            words = memoryview(mm).cast("Q")
            got = self._words[volser] = (mm, words[0:1], words[1:2])
        return got[1], got[2]

    def writer_file(self) -> Path:
        return self.dir / "writers" / f"{os.getpid()}.lock"

    def take_shared(self, wait: float, what: str) -> None:
        """The writers' shared lock, taken behind the gate (a waiting verb goes first).
        Refused with DLB306E after ``wait`` seconds (two processes in verbs on two
        subsystems, each writing to the other's, would otherwise wait for ever)."""
        deadline = time.monotonic() + wait
        if not _flock_wait(self.gate, fcntl.LOCK_SH, deadline):
            raise SiteHeld("DLB306E", f"{what} is held by another process changing copy relationships; "
                           f"this write gave up after {wait:g} s (setting lock_wait_s).")
        try:
            if not _flock_wait(self.rw, fcntl.LOCK_SH, deadline):
                raise SiteHeld("DLB306E", f"{what} is held by another process changing copy "
                               f"relationships; this write gave up after {wait:g} s (setting lock_wait_s).")
        finally:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        if self.mode is None:
            try:
                self.writer_file().parent.mkdir(exist_ok=True)
                self.writer_file().write_text(_cmdline())
            except OSError:
                pass  # only the refusal message of another process misses this one
        self.mode = "sh"

    def drop(self) -> None:
        if self.mode is not None:
            fcntl.flock(self.rw, fcntl.LOCK_UN)
            self.mode = None
            self.writer_file().unlink(missing_ok=True)

    def holders(self) -> str:
        out = []
        for p in sorted((self.dir / "writers").glob("*.lock")):
            pid = int(p.stem) if p.stem.isdigit() else 0
            if pid and pid != os.getpid() and pid_alive(pid):
                try:
                    what = p.read_text().strip()
                except OSError:
                    what = ""
                out.append(f"process {pid}" + (f" ({what})" if what else ""))
        return ", ".join(out) or "another process"


class CopyLock:
    """A track copier's lock for a target volume of a site: a thread lock that, while
    held (outermost), also holds an exclusive ``flock`` of
    ``SITE/state/SUBSYSTEM/copy-VOLSER.lock`` through its own open file, so copies onto
    the volume by other processes (and by other copiers here) wait.  Re-entrant.

    A copier that changed tracks of the volume sets :attr:`dirty`; the outermost
    release then bumps the volume's shared copies word (still under the ``flock``, so
    bumps of all processes are serial) so that other processes' reads look again at
    tracks their written map calls never written (:meth:`Volume.holds_image`)."""

    def __init__(self, path: Path, word=None, volume=None) -> None:
        self._r = threading.RLock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._depth = 0
        self._word = word
        self._vol = volume
        self.dirty = False

    def acquire(self) -> bool:
        self._r.acquire()
        self._depth += 1
        if self._depth == 1:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            if self.dirty:
                self._tell()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._r.release()

    def _tell(self) -> None:
        self.dirty = False
        w = self._word
        if w is not None:
            old = w[0]
            w[0] = old + 1
            if self._vol is not None:
                self._vol.copies_landed(old, old + 1)

    # the bodies again rather than calls of acquire/release: the lock is taken once per
    # copy-on-write of the per-track host write, where each call frame counts
    def __enter__(self) -> CopyLock:
        self._r.acquire()
        self._depth += 1
        if self._depth == 1:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            if self.dirty:
                self._tell()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._r.release()

    def __del__(self) -> None:
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass


_LOCKS: dict[str, _ProcessLocks] = {}
_LOCKS_LOCK = threading.Lock()


def _process_locks(subdir: Path) -> _ProcessLocks:
    # keyed by process too: a forked child shares its parent's open files, and so its
    # flock locks; it needs files of its own
    key = f"{os.getpid()}:{os.path.abspath(subdir)}"
    with _LOCKS_LOCK:
        lk = _LOCKS.get(key)
        if lk is None:
            Path(subdir).mkdir(parents=True, exist_ok=True)
            lk = _LOCKS[key] = _ProcessLocks(Path(os.path.abspath(subdir)))
        return lk


def _cmdline() -> str:
    try:
        raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    text = " ".join(text.split())  # one line, whatever the arguments held
    return text if len(text) <= 120 else text[:117] + "..."


def _flock_wait(fd: int, op: int, deadline: float) -> bool:
    """``flock`` with a deadline (``flock`` itself has none): poll, backing off."""
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


class Subsystem:
    """A storage control unit of a site.

    Fixed at construction: :attr:`site`, :attr:`name`, :attr:`settings`.  Mutable:
    the cache of open volumes and the intercepts registered per volume serial.
    """

    kind: ClassVar[str] = "generic"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    DEFAULT_SETTINGS: ClassVar[dict[str, Any]] = {}

    def __init__(self, site, name: str, spec: dict) -> None:
        self.site = site
        self.name = name
        self.settings = {**self.DEFAULT_SETTINGS, **spec.get("settings", {})}
        #: the kind's built-in services and those added in the site
        self.capabilities = type(self).capabilities | frozenset(spec.get("services", ()))
        self._volumes: dict[str, Volume] = {}
        self._intercepts: dict[str, list[Intercept]] = {}
        self._one: dict[str, tuple] = {}
        self._services: dict[str, Any] = {}
        self._services_loaded = False
        self._locks: _ProcessLocks | None = None
        #: the shared generation words, once this instance writes (holds the writers'
        #: shared lock); None sends the next host write through :meth:`_sync`
        self._gen_word = None
        self._gen_read = None  # the same words, for reads and ticks (no lock needed)
        self._seen = -1  # the generation this instance's services reflect
        self._reloading = False

    # ------------------------------------------------------------------ identity
    @property
    def clock(self):
        return self.site.clock

    def state_dir(self, service: str) -> Path:
        return self.site.path / "state" / self.name / service

    def volsers(self) -> list[str]:
        return self.site.volsers(self.name)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    # ------------------------------------------------------------------ volume storage
    def create_volume(self, volser: str, model: str, cylinders: int | None) -> dict:
        """Create the storage of a new volume; returns its site.json entry."""
        from dasdlab.emulator.volume import Volume

        rel = Path("volumes") / f"{volser}.ckd"
        vol = Volume.create(self.site.path / rel, model, volser, cylinders=cylinders)
        spec = {"file": str(rel), "model": vol.geometry.name, "cylinders": vol.cylinders}
        vol.close()
        return spec

    def _open_storage(self, volser: str, spec: dict, writable: bool) -> Volume:
        from dasdlab.emulator.volume import Volume

        return Volume.open(self.site.path / spec["file"], writable=writable)

    def open_volume(self, volser: str, writable: bool = False) -> Volume:
        """The volume, with this subsystem's hooks; one instance per process.

        A read-only instance is reopened writable when a writable one is asked for.
        """
        volser = volser.upper()
        vol = self._volumes.get(volser)
        if vol is not None and writable and vol.read_only and not getattr(vol, "pooled", False):
            vol.reopen_writable()  # in place: holders of the instance keep one written map
        if vol is None or (writable and vol.read_only):
            spec = self.site.volume_spec(volser)
            if spec["subsystem"] != self.name:
                raise CopyServiceError("DLB310E", f"volume {volser} belongs to {spec['subsystem']}, not {self.name}.")
            vol = self._open_storage(volser, spec, writable)
            vol.subsystem = self
            vol.volser_hint = volser
            copies, vtoc = self.locks.volume_words(volser)
            if not getattr(vol, "pooled", False):  # pool volumes share their map otherwise
                vol.copies_word = copies
            vol.vtoc_word = vtoc
            self._volumes[volser] = vol
            self._update_hooks(volser)
        if self._seen == -1:
            self._seen = self.locks.gen.word[0]  # read before the state it stands for
        self.load_services()
        return vol

    def opened(self, volser: str) -> Volume | None:
        return self._volumes.get(volser.upper())

    # ------------------------------------------------------------------ intercepts
    def register_intercept(self, volser: str, icpt: Intercept) -> None:
        lst = self._intercepts.setdefault(volser.upper(), [])
        if icpt not in lst:
            lst.append(icpt)
        self._update_hooks(volser.upper())

    def unregister_intercept(self, volser: str, icpt: Intercept) -> None:
        lst = self._intercepts.get(volser.upper(), [])
        if icpt in lst:
            lst.remove(icpt)
        self._update_hooks(volser.upper())

    def intercepts(self, volser: str) -> list[Intercept]:
        return list(self._intercepts.get(volser.upper(), ()))

    def _update_hooks(self, volser: str) -> None:
        vol = self._volumes.get(volser)
        if vol is None:
            return
        icpts = self._intercepts.get(volser)
        # per-track callers, fixed now so a host write does no lookups
        self._one[volser] = tuple(_one_track_caller(i) for i in icpts or ())
        # every volume of a subsystem has the write path: even without an intercept in
        # this process, another process may have established a relationship on it
        vol.write_hook = self._write_path
        # per track the volume makes the generation check itself and then calls this;
        # one intercept (the usual case): the intercept directly
        ones = self._one[volser]
        vol.write_hook_one = (ones[0] if len(ones) == 1 else self._intercepts_one) if ones else None
        readers = [i for i in icpts or () if getattr(i, "redirects_reads", False)]
        vol.read_hook = self._read_path if readers else None

    def _write_path(self, vol: Volume, tracks: np.ndarray) -> None:
        """Copy-before-write: every intercept of the volume sees the write first."""
        w = self._gen_word
        if w is None or w[0] != self._seen:
            self._sync()
        for icpt in list(self._intercepts.get(vol.volser_hint, ())):
            icpt.before_write(vol, tracks)

    def _write_path_one(self, vol: Volume, t: int) -> None:
        """:meth:`_write_path` for a single track."""
        w = self._gen_word
        if w is None or w[0] != self._seen:
            self._sync()
        self._intercepts_one(vol, t)

    def _intercepts_one(self, vol: Volume, t: int) -> None:
        for call in self._one.get(vol.volser_hint, ()):
            call(vol, t)

    def _read_path(self, vol: Volume, t: int) -> np.ndarray | None:
        w = self._gen_read
        if w is not None and w[0] != self._seen and not self._reloading:
            self._refresh()
        for icpt in self._intercepts.get(vol.volser_hint, ()):
            if getattr(icpt, "redirects_reads", False):
                img = icpt.redirect_read(vol, t)
                if img is not None:
                    return img
        return None

    # ------------------------------------------------------------------ across processes
    @property
    def locks(self) -> _ProcessLocks:
        if self._locks is None:
            self._locks = _process_locks(self.site.path / "state" / self.name)
            self._gen_read = self._locks.gen.word
        return self._locks

    def copy_lock(self, vol: Volume) -> CopyLock:
        """A new lock for a track copier onto ``vol`` (see :class:`CopyLock`)."""
        volser = (vol.volser_hint or "VOLUME").upper()
        return CopyLock(self.locks.dir / f"copy-{volser}.lock", self.locks.volume_words(volser)[0], vol)

    def _note_bump(self, old: int, new: int) -> None:
        """A store of this subsystem changed the state: nothing to reload for it."""
        if self._seen == old:
            self._seen = new

    def _sync(self) -> None:
        """Before a host write: hold the writers' shared lock and reload what other
        processes changed (the slow path of the generation check)."""
        lk = self.locks
        with lk.tlock:
            if lk.depth:  # inside a control verb of this thread: it holds the state
                self._seen = lk.gen.word[0]
                return
            if self._gen_word is None and self not in lk.writers:
                lk.users += 1
                lk.writers.add(self)
            if lk.mode is None or lk.gen.word[1]:
                lk.drop()  # a verb waits: let it run, queue at the gate
                lk.take_shared(float(self.settings.get("lock_wait_s", LOCK_WAIT_S)),
                               f"subsystem {self.name} of site {self.site.path}")
            self._gen_word = lk.gen.word
            self._refresh()

    def _refresh(self) -> None:
        """Reload the services if the generation moved since they were loaded."""
        g = self.locks.gen.word[0]
        if g == self._seen or self._reloading:
            return
        # seen first: what the reload itself saves is this instance's own change
        self._seen = g
        self._reloading = True
        try:
            self._reload_services()
        finally:
            self._reloading = False

    def _reload_services(self) -> None:
        for name, svc in list(self._services.items()):
            svc.reload()
            self._adopt(name, svc)  # a service constructed afresh has new stores
        if self._services_loaded:  # a service that has state now and had none before
            for name in sorted(self.capabilities):
                if name not in self._services and self._has_state(name):
                    self.service(name)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the subsystem alone (every other process's writes wait) with the state
        re-read: the frame of a control verb.  Re-entrant in a process."""
        lk = self.locks
        with lk.tlock:
            if lk.depth:
                lk.depth += 1
                try:
                    yield
                finally:
                    lk.depth -= 1
                return
            wait = float(self.settings.get("lock_wait_s", LOCK_WAIT_S))
            deadline = time.monotonic() + wait
            prev = lk.mode
            if prev == "sh":
                # let go of this process's shared lock while waiting: another process's
                # verb may hold the gate and wait for it (a failed non-blocking upgrade
                # would drop it anyway)
                fcntl.flock(lk.rw, fcntl.LOCK_UN)
            gated = got = False
            try:
                gated = _flock_wait(lk.gate, fcntl.LOCK_EX, deadline)
                if not gated:
                    raise SiteHeld("DLB306E", f"subsystem {self.name} of site {self.site.path} is held by "
                                   "another process changing copy relationships; gave up after "
                                   f"{wait:g} s (setting lock_wait_s).")
                self._note_bump(*lk.gen.bump(wanting=1))
                try:
                    got = _flock_wait(lk.rw, fcntl.LOCK_EX, deadline)
                    if not got:
                        raise SiteHeld(
                            "DLB306E", f"subsystem {self.name} of site {self.site.path} is held by "
                            f"{lk.holders()}, which writes its volumes and did not let go within "
                            f"{wait:g} s (setting lock_wait_s); retry when it is done.")
                    lk.mode = "ex"
                    self._refresh()
                    lk.depth = 1
                    try:
                        yield
                    finally:
                        lk.depth = 0
                finally:
                    lk.gen.unwant()
            finally:
                if prev == "sh":
                    fcntl.flock(lk.rw, fcntl.LOCK_SH)  # converts an exclusive lock back
                    lk.mode = "sh"
                elif got:
                    fcntl.flock(lk.rw, fcntl.LOCK_UN)
                    lk.mode = None
                if gated:
                    fcntl.flock(lk.gate, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ services
    def service(self, name: str):
        """The copy service ``name`` of this subsystem, created on first use."""
        if name not in self.capabilities:
            raise CopyServiceError(
                "DLB311E",
                f"subsystem {self.name} ({self.kind}) has no {name.replace('_', ' ')}; it has "
                f"{', '.join(sorted(self.capabilities)) or 'no copy services'}.",
            )
        svc = self._services.get(name)
        if svc is None:
            from dasdlab.emulator.services import registry

            svc = registry.get(name).cls(self)
            self._services[name] = svc
            self._adopt(name, svc)
            if self._seen == -1:
                self._seen = self.locks.gen.word[0]  # what load() reads is this generation
            svc.load()
        return svc

    def _adopt(self, name: str, svc) -> None:
        """Tie a service to the write path: its stores report their bumps, its control
        verbs run under :meth:`exclusive`."""
        for store in vars(svc).values():
            if isinstance(store, StateStore):
                store.on_bump = self._note_bump
        for verb in sorted(type(svc).control_verbs):
            fn = getattr(type(svc), verb, None)
            if callable(fn) and verb not in vars(svc):
                setattr(svc, verb, self._exclusive_verb(getattr(svc, verb)))

    def _exclusive_verb(self, bound):
        @functools.wraps(bound)
        def run(*args, **kwargs):
            with self.exclusive():
                return bound(*args, **kwargs)
        return run

    def _has_state(self, name: str) -> bool:
        d = self.state_dir(name)
        return d.is_dir() and any(p.suffix == ".json" for p in d.iterdir())

    def load_services(self) -> None:
        """Load every service that has persisted state (before volumes are used)."""
        if self._services_loaded:
            return
        self._services_loaded = True
        for name in sorted(self.capabilities):
            if self._has_state(name):
                self.service(name)

    def loaded_services(self) -> list[Any]:
        return list(self._services.values())

    def _yield_to_verb(self) -> None:
        """Between writes (a tick): if a control verb of another process waits, let go
        of the writers' shared lock now rather than at the next write, which may be
        long in coming; every instance of this process retakes it at its next write."""
        lk = self._locks
        if lk is None or lk.mode != "sh" or not lk.gen.word[1]:
            return
        with lk.tlock:
            if lk.mode == "sh" and lk.depth == 0 and lk.gen.word[1]:
                for sub in list(lk.writers):
                    sub._gen_word = None  # their next write goes through _sync
                lk.drop()

    def tick(self, now: float) -> None:
        self._yield_to_verb()
        w = self._gen_read
        if w is not None and w[0] != self._seen and not self._reloading:
            self._refresh()  # background work on what other processes left, not a stale view
        for svc in list(self._services.values()):
            svc.tick(now)

    def close(self) -> None:
        for svc in self._services.values():
            svc.close()
        for vol in self._volumes.values():
            vol.close()
        self._volumes.clear()
        lk = self._locks
        if lk is not None and self in lk.writers:
            with lk.tlock:
                self._gen_word = None
                lk.writers.discard(self)
                lk.users -= 1
                if lk.users <= 0 and lk.depth == 0:
                    lk.users = 0
                    lk.drop()  # this process writes the subsystem no more


def _one_track_caller(icpt):
    """``icpt.before_write_one(vol, t)`` if the intercept has it, else its array form."""
    one = getattr(icpt, "before_write_one", None)
    if one is not None:
        return one
    many = icpt.before_write
    return lambda vol, t: many(vol, np.array([t], dtype=np.int64))


class Ds8000(Subsystem):
    """DS8000-like: FlashCopy and Concurrent Copy on in-place tracks."""

    kind = "ds8000"
    capabilities = frozenset({"flashcopy", "concurrent_copy"})
    DEFAULT_SETTINGS = {
        # controller cache; Concurrent Copy sessions are cancelled when cache sidefiles
        # pass half of it (docs/domain.md §2.1, S42)
        "cache_bytes": 256 * 1024 * 1024,
        "cc_sessions_per_volume": 16,  # DS6000 Redbook Appendix A (S40)
        "cc_sessions_per_lss": 64,
        "host_sidefile_bytes": 2 * 1024**3,  # one SDM data space; more are added (S41)
        "sdm_aux_storage_bytes": 64 * 1024**3,  # SDM auxiliary storage limit (S43); assumption
        "cc_drain_tracks_per_s": 5000.0,  # SDM cache->host sidefile drain; assumption
        "fc_targets_per_source": 12,  # DS8880 8.5.4 FlashCopy (S53)
        "fc_cascading": False,  # no cascading (DS6000, S57); True: DS8880 R8.3 and later (S91)
        "fc_background_tracks_per_s": 2000.0,  # modeled; assumption, see profiles
        "cg_timer_s": 120.0,  # consistency-group timer for CKD (S62)
        # space-efficient FlashCopy repository: flashcopy.DEFAULT_REPOSITORY_TRACKS
        "fc_repository_tracks": 150_255,
    }


class Rva(Subsystem):
    """RVA-like: SnapShot on a log-structured track pool; virtual Concurrent Copy."""

    kind = "rva"
    capabilities = frozenset({"snapshot", "concurrent_copy"})
    DEFAULT_SETTINGS = {
        "cache_bytes": 256 * 1024 * 1024,
        "cc_sessions_per_volume": 16,
        "cc_sessions_per_lss": 64,
        "host_sidefile_bytes": 2 * 1024**3,
        "sdm_aux_storage_bytes": 64 * 1024**3,
        "cc_drain_tracks_per_s": 5000.0,  # SDM cache->host sidefile drain; assumption
        "compression_ratio": 3.6,  # IBM's typical RVA figure (S63)
        "pool_slots": 2_000_000,  # track pool settings: see dasdlab.emulator.rva
        "pool_capacity_bytes": 500 * 10**9,
        "fsc_threshold_slots": 512,
    }

    # Volumes live in the log-structured track pool (dasdlab.emulator.rva).
    @property
    def pool(self):
        if getattr(self, "_pool", None) is None:
            from dasdlab.emulator.rva import open_pool

            self._pool = open_pool(self)
        return self._pool

    def create_volume(self, volser: str, model: str, cylinders: int | None) -> dict:
        from dasdlab.emulator.rva import create_pool_volume

        return create_pool_volume(self, volser, model, cylinders)

    def _open_storage(self, volser: str, spec: dict, writable: bool):
        from dasdlab.emulator.rva import open_pool_volume

        return open_pool_volume(self, volser, spec, writable)

    def close(self) -> None:
        super().close()
        if getattr(self, "_pool", None) is not None:
            self._pool.close()
            self._pool = None


class Symmetrix(Subsystem):
    """Symmetrix-like: TimeFinder/Clone (Mainframe SNAP)."""

    kind = "symmetrix"
    capabilities = frozenset({"timefinder"})
    DEFAULT_SETTINGS = {
        "clone_targets_per_source": 16,  # low-authority source S68
        "clone_background_tracks_per_s": 2000.0,  # modeled; assumption
        "clone_copying_sessions": 8,  # background copies at once; low-authority source S68
    }


KINDS: dict[str, type[Subsystem]] = {c.kind: c for c in (Ds8000, Rva, Symmetrix)}
