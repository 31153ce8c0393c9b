"""A site: one folder holding storage subsystems, their volumes, a catalog and all
copy-service state.

Layout::

    SITE/site.json            configuration: subsystems (kind, settings) and volumes
    SITE/catalog.db           data set name -> volume serial (SQLite)
    SITE/volumes/VOLSER.ckd   volume images (RVA-like subsystems keep a track pool instead)
    SITE/state/SUBSYSTEM/...  copy-service state (relationships, sessions, bitmaps)
    SITE/ims/...              IMS databases, logs and RECON (written by dasdlab.engine)

``dasdlab site init`` creates one subsystem of each kind: ``DS8K1`` (DS8000-like:
FlashCopy and Concurrent Copy), ``RVA1`` (RVA-like: SnapShot on a log-structured track
pool, virtual Concurrent Copy) and ``VMAX1`` (Symmetrix-like: TimeFinder/Clone).

Every volume a site hands out is attached to its subsystem, so host writes go through
the subsystem's write path and its copy-before-write intercepts.
"""

from __future__ import annotations

import fcntl
import json
import os
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dasdlab.emulator.catalog import Catalog
from dasdlab.emulator.clock import ModeledClock
from dasdlab.emulator.services import registry
from dasdlab.emulator.subsystem import Subsystem
from dasdlab.emulator.vtoc import check_volser
from dasdlab.errors import DasdlabError

FORMAT = "dasdlab-site"
DEFAULT_SUBSYSTEMS = (("DS8K1", "ds8000"), ("RVA1", "rva"), ("VMAX1", "symmetrix"))


class SiteError(DasdlabError):
    """A site folder that is missing, damaged, or asked for something it does not have."""


#: sites opened and not yet closed (weakly: a dropped Site closes itself by being collected)
_OPEN: weakref.WeakSet = weakref.WeakSet()


def _check_config(cfg: Path, config: dict) -> None:
    """The shape every reader of site.json relies on, checked once at open."""
    subs, vols = config.get("subsystems"), config.get("volumes", {})
    ok = (isinstance(subs, dict) and all(isinstance(v, dict) and isinstance(v.get("kind"), str)
                                         and isinstance(v.get("settings", {}), dict) for v in subs.values())
          and isinstance(vols, dict) and all(isinstance(v, dict) and isinstance(v.get("file", v.get("ftd")), str)
                                             and v.get("subsystem") in subs for v in vols.values()))
    if not ok:
        raise SiteError("DLB006E", f"{cfg} is damaged: its subsystems or volumes are not what a site holds; "
                                   "nothing was changed. Restore it from a copy.")


class Site:
    """An open site.  One instance per process; subsystems and volumes are cached."""

    def __init__(self, path: Path, config: dict, clock=None) -> None:
        self.path = path
        self.config = config
        self.clock = clock if clock is not None else ModeledClock()
        self._catalog: Catalog | None = None
        self._subsystems: dict[str, Subsystem] = {}
        _OPEN.add(self)

    # ------------------------------------------------------------------ create / open
    @classmethod
    def init(cls, path: str | os.PathLike, subsystems=DEFAULT_SUBSYSTEMS) -> Site:
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise SiteError("DLB300E", f"{path} exists and is not empty; a new site needs an empty folder.")
        path.mkdir(parents=True, exist_ok=True)
        (path / "volumes").mkdir()
        (path / "state").mkdir()
        config = {
            "format": FORMAT,
            "version": 1,
            "subsystems": {name: {"kind": kind, "settings": dict(registry.kind(kind).DEFAULT_SETTINGS)}
                           for name, kind in subsystems},
            "volumes": {},
        }
        site = cls(path, config)
        site._write_config(config)
        site.catalog  # creates catalog.db
        return site

    @classmethod
    def open(cls, path: str | os.PathLike, clock=None) -> Site:
        path = Path(path)
        cfg = path / "site.json"
        if not cfg.is_file():
            raise SiteError("DLB301E", f"{path} is not a dasdlab site (no site.json); create one with 'dasdlab site init'.")
        try:
            config = json.loads(cfg.read_bytes().decode("utf-8"))
        except json.JSONDecodeError as e:
            raise SiteError("DLB302E", f"{cfg} is damaged: {e.msg} at line {e.lineno}.") from None
        except UnicodeDecodeError:
            raise SiteError("DLB302E", f"{cfg} is damaged: it is not text.") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise SiteError("DLB302E", f"{cfg} is not a dasdlab site configuration.")
        _check_config(cfg, config)
        return cls(path, config, clock)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the site lock: configuration updates are read-modify-write."""
        with open(self.path / "site.lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _write_config(self, config: dict) -> None:
        tmp = self.path / "site.json.tmp"
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
        os.replace(tmp, self.path / "site.json")

    def reload(self) -> None:
        self.config = json.loads((self.path / "site.json").read_text())

    # ------------------------------------------------------------------ parts
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.path / "catalog.db")
        return self._catalog

    def subsystem_names(self) -> list[str]:
        return list(self.config["subsystems"])

    def subsystem(self, name: str) -> Subsystem:
        key = name.upper()
        if key not in self.config["subsystems"]:
            raise SiteError(
                "DLB303E", f"site {self.path} has no subsystem {name}; it has {', '.join(self.subsystem_names())}."
            )
        sub = self._subsystems.get(key)
        if sub is None:
            spec = self.config["subsystems"][key]
            sub = registry.kind(spec["kind"])(self, key, spec)
            self._subsystems[key] = sub
        return sub

    def subsystems(self) -> list[Subsystem]:
        return [self.subsystem(n) for n in self.subsystem_names()]

    def volsers(self, subsystem: str | None = None) -> list[str]:
        return [v for v, spec in self.config["volumes"].items()
                if subsystem is None or spec["subsystem"] == subsystem.upper()]

    def volume_spec(self, volser: str) -> dict:
        v = volser.upper()
        if v not in self.config["volumes"]:
            raise SiteError("DLB304E", f"site {self.path} has no volume {volser}.")
        return self.config["volumes"][v]

    def subsystem_of(self, volser: str) -> Subsystem:
        return self.subsystem(self.volume_spec(volser)["subsystem"])

    # ------------------------------------------------------------------ volumes
    def add_volume(self, subsystem: str, volser: str, model: str = "3390-3",
                   cylinders: int | None = None):
        volser = check_volser(volser)
        sub = self.subsystem(subsystem)
        with self.locked():
            self.reload()
            if volser in self.config["volumes"]:
                raise SiteError("DLB305E", f"volume {volser} already exists in site {self.path}.")
            spec = sub.create_volume(volser, model, cylinders)
            spec["subsystem"] = sub.name
            self.config["volumes"][volser] = spec
            self._write_config(self.config)
        return self.volume(volser, writable=True)

    def add_service(self, subsystem: str, name: str):
        """Give ``subsystem`` the registered copy service ``name`` (kept in site.json).

        Refused (nothing changes) when the service does not run on the subsystem's kind
        (DLB802E) or the subsystem has it already (DLB803E)."""
        from dasdlab.emulator.services import registry

        sub = self.subsystem(subsystem)
        with self.locked():
            self.reload()
            spec = self.config["subsystems"][sub.name]
            info = registry.check_addable(spec["kind"], sub.name, sub.capabilities, name)
            spec["services"] = sorted({*spec.get("services", ()), name})
            self._write_config(self.config)
        sub.capabilities = sub.capabilities | {name}
        return info

    def volume(self, volser: str, writable: bool = False):
        """The volume, attached to its subsystem (host writes pass its write path)."""
        spec = self.volume_spec(volser)
        return self.subsystem(spec["subsystem"]).open_volume(volser.upper(), writable=writable)

    def dataset_volume(self, dsn: str, writable: bool = False):
        """The volume a catalogued data set lives on."""
        return self.volume(self.catalog.lookup(dsn), writable=writable)

    # ------------------------------------------------------------------ data sets
    def allocate(self, dsn: str, volser: str, **attrs):
        """Allocate ``dsn`` on ``volser`` and catalog it; nothing changes on error."""
        from dasdlab.emulator.vtoc import check_dsn

        dsn = check_dsn(dsn)
        if self.catalog.find(dsn) is not None:
            raise SiteError("DLB250E", f"{dsn} is already catalogued on {self.catalog.find(dsn)}.")
        vol = self.volume(volser, writable=True)
        entry = vol.vtoc.allocate(dsn, **attrs)
        self.catalog.add(dsn, vol.volser)
        return entry

    def delete_dataset(self, dsn: str):
        vol = self.dataset_volume(dsn, writable=True)
        entry = vol.vtoc.delete(dsn)
        self.catalog.remove(entry.dsn)
        return entry

    # ------------------------------------------------------------------ time
    def tick(self, now: float | None = None) -> None:
        """Let every subsystem do the background work that time up to ``now`` allows."""
        if now is not None:
            self.clock.advance_to(now)
        for sub in self._subsystems.values():
            sub.tick(self.clock.now())

    def close(self) -> None:
        _OPEN.discard(self)
        subs, self._subsystems = self._subsystems, {}
        for sub in subs.values():
            sub.close()
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    @staticmethod
    def open_sites() -> list[Site]:
        return list(_OPEN)

    @staticmethod
    def close_all(keep=()) -> None:
        """Close every site this process still has open (except ``keep``): a command
        that ends with an error must not leave a pool marked in use (``pool.dirty``)."""
        keep = {id(k) for k in keep}
        for site in [x for x in _OPEN if id(x) not in keep]:
            try:
                site.close()
            except Exception:  # closing after an error: the first error is the one to report
                pass
