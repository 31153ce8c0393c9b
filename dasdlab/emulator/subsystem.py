"""Storage subsystems: control units that own volumes and run copy services.

A subsystem owns a set of volumes and declares which copy services it has
(``domain.md`` §2, §4.1):

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
(FlashCopy target reads of uncopied tracks come from the source).  Volumes without
intercepts get no hooks at all, so plain I/O pays nothing.

**Services** are loaded per subsystem on first use, and always before a volume is
handed out when persisted state exists, so that a relationship made by an earlier
process intercepts this process's writes.  A subsystem's services are its kind's
built-ins (:attr:`Subsystem.capabilities` of the class) plus those added to it in the
site (``services`` in its site.json entry); each is looked up by name in
:mod:`dasdlab.emulator.services.registry` and constructed as ``cls(subsystem)``, a
:class:`~dasdlab.emulator.services.contract.CopyService`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

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
            self._volumes[volser] = vol
            self._update_hooks(volser)
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
        vol.write_hook = self._write_path if icpts else None
        ones = self._one[volser]
        # one intercept (the usual case): the volume calls it directly
        vol.write_hook_one = (ones[0] if len(ones) == 1 else self._write_path_one) if ones else None
        readers = [i for i in icpts or () if getattr(i, "redirects_reads", False)]
        vol.read_hook = self._read_path if readers else None

    def _write_path(self, vol: Volume, tracks: np.ndarray) -> None:
        """Copy-before-write: every intercept of the volume sees the write first."""
        for icpt in list(self._intercepts.get(vol.volser_hint, ())):
            icpt.before_write(vol, tracks)

    def _write_path_one(self, vol: Volume, t: int) -> None:
        """:meth:`_write_path` for a single track."""
        for call in self._one.get(vol.volser_hint, ()):
            call(vol, t)

    def _read_path(self, vol: Volume, t: int) -> np.ndarray | None:
        for icpt in self._intercepts.get(vol.volser_hint, ()):
            if getattr(icpt, "redirects_reads", False):
                img = icpt.redirect_read(vol, t)
                if img is not None:
                    return img
        return None

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
            svc.load()
        return svc

    def load_services(self) -> None:
        """Load every service that has persisted state (before volumes are used)."""
        if self._services_loaded:
            return
        self._services_loaded = True
        for name in sorted(self.capabilities):
            if self.state_dir(name).is_dir() and any(self.state_dir(name).iterdir()):
                self.service(name)

    def loaded_services(self) -> list[Any]:
        return list(self._services.values())

    def tick(self, now: float) -> None:
        for svc in list(self._services.values()):
            svc.tick(now)

    def close(self) -> None:
        for svc in self._services.values():
            svc.close()
        for vol in self._volumes.values():
            vol.close()
        self._volumes.clear()


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
        # pass half of it (domain.md §2.1, S42)
        "cache_bytes": 256 * 1024 * 1024,
        "cc_sessions_per_volume": 16,  # DS6000 Redbook Appendix A (S40)
        "cc_sessions_per_lss": 64,
        "host_sidefile_bytes": 2 * 1024**3,  # one SDM data space (S41)
        "cc_drain_tracks_per_s": 5000.0,  # SDM cache->host sidefile drain; assumption
        "fc_targets_per_source": 12,  # DS8880 8.5.4 FlashCopy (S53)
        "fc_background_tracks_per_s": 2000.0,  # modeled; assumption, see profiles
        "cg_timer_s": 120.0,  # consistency-group timer for CKD (S62)
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
        "cc_drain_tracks_per_s": 5000.0,  # SDM cache->host sidefile drain; assumption
        "compression_ratio": 3.6,  # IBM's typical RVA figure (S63)
        "pool_slots": 2_000_000,  # track pool settings: see dasdlab.emulator.rva
        "pool_capacity_bytes": 500 * 10**9,
        "fsc_threshold_slots": 4096,
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
