"""The service under test: what the conformance kit needs of a copy service.

The kit speaks to every service through one small interface, :class:`Subject`: make a
point-in-time copy of some source tracks (``establish``), end it (``withdraw``), finish
its background copy (``drain``), ask its state, and read the point-in-time image of a
source track.  A service written on the copy-service contract
(:mod:`dasdlab.emulator.services.contract`) has those verbs under those names, and
:class:`ContractSubject` passes them through.  The kit never asks which service it
drives: what differs between services (a target volume or a session to read the point
in time from, the levels, the copy modes) comes from the declared capabilities.

A subject is named by a registered service name, or by ``module:Class`` for a class
that is not registered (the kit's own tests use that for deliberately broken
services); :func:`resolve` builds it.  The spec travels to the kit's child processes
as text, so a subject must be rebuilt from it in a fresh interpreter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from dasdlab.errors import CopyServiceError

#: subsystem kind -> the subsystem of that kind in a site made by ``Site.init``
SUBSYSTEM_OF_KIND = {"ds8000": "DS8K1", "rva": "RVA1", "symmetrix": "VMAX1"}


class KitError(CopyServiceError):
    """The kit cannot run: unknown service, or a service it cannot attach to a site."""


@dataclass(frozen=True)
class Traits:
    """What the kit needs to know of a service to choose its scenarios."""

    levels: frozenset[str]          # "volume", "dataset"
    background_copy: bool           # a relationship can copy every track after establish
    nocopy: bool                    # a relationship can stay logical only
    reader: str                     # "target" or "session"
    kinds: tuple[str, ...]          # subsystem kinds it runs on
    fast_replication: bool = False


@dataclass
class Tables:
    """A service's lifecycle tables, by state and verb *names* (strings)."""

    states: list[str]
    transitions: dict[str, frozenset[str]]
    verbs: dict[str, frozenset[str]]

    @property
    def gone(self) -> frozenset[str]:
        """End states: no transition leaves them (withdrawn, terminated, released)."""
        return frozenset(s for s, nxt in self.transitions.items() if not nxt)


def _takes_one(fn) -> bool:
    import inspect

    try:
        inspect.signature(fn).bind("X")
    except (TypeError, ValueError):
        return False
    return True


def _takes_none(fn) -> bool:
    import inspect

    try:
        inspect.signature(fn).bind()
    except (TypeError, ValueError):
        return False
    return True


def _names(x) -> str:
    return x.name if isinstance(x, Enum) else str(x)


def tables_from(transitions, verbs) -> Tables:
    tr = {_names(s): frozenset(_names(t) for t in ts) for s, ts in transitions.items()}
    vb = {v: frozenset(_names(s) for s in ss) for v, ss in verbs.items()}
    return Tables(list(tr), tr, vb)


class Subject:
    """One copy service as the kit drives it.  ``spec`` rebuilds it in a child process."""

    name: str
    spec: str
    origin: str = "built-in"
    traits: Traits
    tables: Tables | None = None
    withdraw_verb = "withdraw"
    drain_verb = "drain"

    # -- the site --------------------------------------------------------------------
    @property
    def kind(self) -> str:
        for k in self.traits.kinds:
            if k in SUBSYSTEM_OF_KIND:
                return k
        return "ds8000"  # "*": any subsystem

    @property
    def subsystem(self) -> str:
        return SUBSYSTEM_OF_KIND[self.kind]

    def prepare_site(self, site) -> None:
        """Settings the kit's small volumes need (a small RVA pool)."""
        if self.kind == "rva":
            from dasdlab.emulator.rva import configure_pool

            configure_pool(site, self.subsystem, pool_slots=3000)

    def service(self, site):
        raise NotImplementedError

    # -- the verbs ---------------------------------------------------------------------
    def establish(self, site, source: str, target: str | None, source_runs=None,
                  target_runs=None, background: bool | None = None) -> str:
        raise NotImplementedError

    def withdraw(self, site, rid: str) -> None:
        raise NotImplementedError

    def drain(self, site, rid: str) -> None:
        raise NotImplementedError

    def state(self, site, rid: str) -> str | None:
        """The relationship's state name, or None when the service has no such id."""
        raise NotImplementedError

    def message(self, site, rid: str) -> str | None:
        return None

    def complete(self, site, rid: str) -> bool:
        """Physically complete: the target's own tracks hold the point-in-time image."""
        raise NotImplementedError

    def read_pit(self, site, rid: str, track: int) -> np.ndarray:
        """The service's point-in-time image of source ``track``, at the source address
        (``read_point_in_time``: it does not copy on access, so reading every track
        does not disturb the mechanism under test)."""
        raise NotImplementedError

    def read_target(self, site, rid: str, target_track: int) -> np.ndarray:
        """What the host reads from ``target_track`` of the target volume."""
        return np.array(self._target_volume(site, rid).read_track(target_track))

    def _target_volume(self, site, rid):
        raise NotImplementedError

    def verb(self, site, rid: str, verb: str):
        """A callable doing ``verb`` to ``rid``, or None when the kit cannot call it."""
        if verb == self.withdraw_verb:
            return lambda: self.withdraw(site, rid)
        if verb == self.drain_verb:
            return lambda: self.drain(site, rid)
        fn = getattr(self.service(site), verb, None)
        if callable(fn) and _takes_one(fn):
            return lambda: fn(rid)
        obj = self.relationship(site, rid)
        fn = getattr(obj, verb, None) if obj is not None else None
        if callable(fn) and _takes_none(fn):
            return fn
        return None

    def relationship(self, site, rid: str):
        """The service's own object for ``rid`` (for verbs it carries), or None."""
        return None

    def tick(self, site, now: float) -> None:
        site.tick(now)


# ====================================================================== contract services


class ContractSubject(Subject):
    """A service written on the copy-service contract: its verbs are the kit's."""

    def __init__(self, cls, spec: str, origin: str = "built-in") -> None:
        self.cls = cls
        self.name = cls.name
        self.spec = spec
        self.origin = origin
        cap = cls.capabilities
        self.traits = Traits(frozenset(cap.levels), bool(cap.background_copy), bool(cap.nocopy),
                             cap.point_in_time_reader, tuple(sorted(cap.subsystem_kinds)),
                             bool(cap.fast_replication))
        self.states = None
        if cls.lifecycle is not None:
            states, tr, vb = cls.lifecycle
            self.states = states
            self.tables = tables_from(tr, vb)

    def prepare_site(self, site) -> None:
        super().prepare_site(site)
        sub = site.subsystem(self.subsystem)
        if self.name not in sub.capabilities and _registered(self.name) is not None:
            site.add_service(sub.name, self.name)

    def service(self, site):
        return attach(site.subsystem(self.subsystem), self.name, self.cls)

    def establish(self, site, source, target, source_runs=None, target_runs=None, background=None):
        if self.traits.reader == "session":
            target_runs = None  # a session has no target: the domain is the source runs
        rel = self.service(site).establish(source, target, source_runs=source_runs,
                                           target_runs=target_runs, background_copy=background)
        return rel.id if hasattr(rel, "id") else rel["id"]

    def withdraw(self, site, rid):
        self.service(site).withdraw(rid)

    def drain(self, site, rid):
        self.service(site).drain(rid)

    def _rel(self, site, rid):
        try:
            found = self.service(site).query(rid)
        except CopyServiceError:
            return None
        return found[0] if found else None

    def _state_name(self, raw) -> str:
        """A descriptor's state as the name in the tables (services report a value)."""
        if self.states is None:
            return str(raw)
        for m in self.states:
            if raw in (m.name, m.value):
                return m.name
        return str(raw)

    def state(self, site, rid):
        r = self._rel(site, rid)
        return None if r is None else self._state_name(r["state"])

    def message(self, site, rid):
        r = self._rel(site, rid)
        return None if r is None else r.get("message")

    def complete(self, site, rid):
        r = self._rel(site, rid)
        return r is not None and r["physical_at"] is not None

    def read_pit(self, site, rid, track):
        return np.array(self.service(site).read_point_in_time(rid, track))

    def _target_volume(self, site, rid):
        return site.volume(self._rel(site, rid)["target"])

    def relationship(self, site, rid):
        svc = self.service(site)
        for finder in ("get", "session"):
            fn = getattr(svc, finder, None)
            if callable(fn):
                try:
                    return fn(rid)
                except CopyServiceError:
                    continue
        return None


def attach(sub, name: str, cls):
    """The instance of service ``cls`` on subsystem ``sub``, created and loaded on first
    use *before* the subsystem loads anything else under that name, so that a class
    which is not the registered one (a broken variant under test) is the one whose
    intercepts guard the volumes."""
    if name in sub.capabilities and (_registered(name) or (None,))[0] is cls:
        return sub.service(name)  # the registered class on a subsystem that has it
    svcs = sub._services
    svc = svcs.get(name)
    if svc is None or type(svc) is not cls:
        svc = cls(sub)
        svcs[name] = svc
        svc.load()
    return svc


def _subject_for_class(cls, spec: str, origin: str) -> Subject:
    from dasdlab.emulator.services.contract import CopyService

    if not (isinstance(cls, type) and issubclass(cls, CopyService)):
        raise KitError("DLB820E", f"{spec} is not a copy service on the contract (a subclass of "
                       "dasdlab.emulator.services.contract.CopyService).")
    return ContractSubject(cls, spec, origin)


def resolve(spec: str) -> Subject:
    """The subject for a registered service name, or for ``module:Class``."""
    if ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise KitError("DLB821E", f"cannot load copy service class {spec}: {e}.") from None
        return _subject_for_class(cls, spec, f"class {spec}")
    info = _registered(spec)
    if info is not None:
        cls, origin = info
        return _subject_for_class(cls, spec, origin)
    raise KitError("DLB822E", f"no copy service is registered as {spec!r}; "
                   "'dasdlab services list' shows the registered ones.")


def _registered(name: str) -> tuple[Any, str] | None:
    try:
        from dasdlab.emulator.services import registry
    except ImportError:
        return None
    try:
        info = registry.get(name)
    except Exception:  # noqa: BLE001 - not registered: the caller says so
        return None
    return info.cls, info.origin
