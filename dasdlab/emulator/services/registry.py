"""The registry: copy services and subsystem kinds by name.

Built-in services are named here; third-party services come from the Python
entry-point group ``dasdlab.copy_services`` (entry name -> ``module:Class``, the class a
:class:`~dasdlab.emulator.services.contract.CopyService`), read with
:mod:`importlib.metadata` the first time the registry is asked.  A plug-in that cannot
be imported, is not a ``CopyService``, declares no ``Capabilities`` or takes a built-in's
name is left out and reported (:func:`problems`, message ids DLB801E and DLB809E) so
that one broken package does not stop the others.

A subsystem's services are its kind's built-ins plus those added to it in the site
(``dasdlab site add-service``, :func:`check_addable`).  See ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from dasdlab.errors import CopyServiceError

if TYPE_CHECKING:  # pragma: no cover
    from dasdlab.emulator.services.contract import Capabilities, CopyService

ENTRY_POINT_GROUP = "dasdlab.copy_services"

#: name -> "module:Class" of the services that ship with dasdlab
BUILT_INS: dict[str, str] = {
    "flashcopy": "dasdlab.emulator.services.flashcopy:FlashCopyService",
    "concurrent_copy": "dasdlab.emulator.services.concurrent_copy:ConcurrentCopyService",
    "snapshot": "dasdlab.emulator.services.snapshot:SnapShotService",
    "timefinder": "dasdlab.emulator.services.timefinder:TimeFinderService",
}


@dataclass(frozen=True)
class ServiceInfo:
    """A registered service: ``origin`` is "built-in" or "plug-in:<distribution>"."""

    name: str
    cls: type
    origin: str
    capabilities: Capabilities

    def as_dict(self) -> dict:
        return {"name": self.name, "origin": self.origin, "class": f"{self.cls.__module__}:{self.cls.__qualname__}",
                "capabilities": self.capabilities.as_dict(),
                "subsystem_kinds": sorted(self.capabilities.subsystem_kinds)}


_services: dict[str, ServiceInfo] | None = None
_problems: list[str] = []
_extra: dict[str, ServiceInfo] = {}


def _load(target: str) -> type:
    mod, _, cls = target.partition(":")
    obj = importlib.import_module(mod)
    for part in cls.split("."):
        obj = getattr(obj, part)
    return obj


def _info(name: str, cls, origin: str) -> ServiceInfo:
    from dasdlab.emulator.services.contract import Capabilities, CopyService

    if not (isinstance(cls, type) and issubclass(cls, CopyService)):
        raise CopyServiceError("DLB801E", f"copy service {name} ({origin}): {cls!r} is not a CopyService class.")
    caps = getattr(cls, "capabilities", None)
    if not isinstance(caps, Capabilities):
        raise CopyServiceError("DLB801E", f"copy service {name} ({origin}): {cls.__qualname__} declares no "
                                          "Capabilities.")
    if getattr(cls, "name", None) != name:
        raise CopyServiceError("DLB801E", f"copy service {name} ({origin}): its class is named "
                                          f"{getattr(cls, 'name', None)!r}; the entry point and the class "
                                          "must give one name.")
    return ServiceInfo(name, cls, origin, caps)


def _discover() -> dict[str, ServiceInfo]:
    out: dict[str, ServiceInfo] = {}
    for name, target in BUILT_INS.items():
        out[name] = _info(name, _load(target), "built-in")
    _problems.clear()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
        origin = f"plug-in:{dist}"
        if ep.name in BUILT_INS:
            _problems.append(f"DLB809E plug-in {dist} registers copy service {ep.name}, the name of a "
                             "built-in; it is ignored. Give it another name.")
            continue
        try:
            out[ep.name] = _info(ep.name, ep.load(), origin)
        except CopyServiceError as e:
            _problems.append(str(e))
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not stop the others
            _problems.append(f"DLB801E copy service {ep.name} ({origin}) cannot be loaded from "
                             f"{ep.value}: {type(e).__name__}: {e}")
    out.update(_extra)
    return out


def services() -> dict[str, ServiceInfo]:
    """Every registered service by name (built-ins first, then plug-ins by name)."""
    global _services
    if _services is None:
        _services = _discover()
    return dict(_services)


def problems() -> list[str]:
    """Messages about plug-ins that were left out."""
    services()
    return list(_problems)


def get(name: str) -> ServiceInfo:
    info = services().get(name)
    if info is None:
        raise CopyServiceError("DLB800E", f"no copy service is registered as {name!r}; registered: "
                                          f"{', '.join(sorted(services()))}.")
    return info


def register(cls: type[CopyService], origin: str = "registered") -> ServiceInfo:
    """Register a class in this process (tests, notebooks); plug-ins use the entry point."""
    info = _info(cls.name, cls, origin)
    if cls.name in BUILT_INS:
        raise CopyServiceError("DLB809E", f"{cls.name} is the name of a built-in copy service.")
    _extra[cls.name] = info
    if _services is not None:
        _services[cls.name] = info
    return info


def unregister(name: str) -> None:
    _extra.pop(name, None)
    if _services is not None and name not in BUILT_INS:
        _services.pop(name, None)


def refresh() -> None:
    """Read the entry points again (after installing a plug-in in this process)."""
    global _services
    _services = None


# ---------------------------------------------------------------------- capability questions
def capable(names, test) -> list[str]:
    """Those of the service ``names`` (e.g. a subsystem's) whose capabilities pass
    ``test``, by name; names not registered are left out."""
    reg = services()
    return sorted(n for n in names if n in reg and test(reg[n].capabilities))


def virtual_cc_mechanisms(names) -> list[str]:
    """The services among ``names`` that can make virtual Concurrent Copy's working copy,
    pointer-based ("snap") first: a snap is complete at once and copies nothing."""
    reg = services()
    return sorted(capable(names, lambda c: c.virtual_cc is not None),
                  key=lambda n: (reg[n].capabilities.virtual_cc != "snap", n))


def cache_cc_possible(names) -> bool:
    """Whether cache-based (sidefile) Concurrent Copy is possible among ``names``: the
    box must have Concurrent Copy, and a box whose working copies are snaps has no
    cache sidefiles (an RVA snaps for Concurrent Copy, S44)."""
    return "concurrent_copy" in set(names) and not capable(names, lambda c: c.virtual_cc == "snap")


# ---------------------------------------------------------------------- subsystem kinds
_extra_kinds: dict[str, type] = {}


def kinds() -> dict[str, type]:
    """Subsystem kind name -> class: the built-in kinds and those registered."""
    from dasdlab.emulator.subsystem import KINDS

    return {**KINDS, **_extra_kinds}


def register_kind(cls: type) -> None:
    """Register a subsystem kind (a :class:`~dasdlab.emulator.subsystem.Subsystem`
    subclass with its own ``kind``, built-in ``capabilities`` and ``DEFAULT_SETTINGS``)."""
    from dasdlab.emulator.subsystem import KINDS, Subsystem

    if not (isinstance(cls, type) and issubclass(cls, Subsystem)) or cls.kind in KINDS:
        raise CopyServiceError("DLB808E", f"{cls!r} is not a new Subsystem kind.")
    _extra_kinds[cls.kind] = cls


def kind(name: str) -> type:
    k = kinds().get(name)
    if k is None:
        raise CopyServiceError("DLB808E", f"no subsystem kind {name!r}; the kinds are {', '.join(sorted(kinds()))}.")
    return k


def builtin_services_of(kind_name: str) -> frozenset[str]:
    """The services a subsystem of ``kind_name`` has without any added."""
    return frozenset(kind(kind_name).capabilities)


def check_addable(kind_name: str, subsystem: str, present, name: str) -> ServiceInfo:
    """The service ``name`` if it may be added to ``subsystem`` (of ``kind_name``, which
    has the services ``present``); else the error that refuses it."""
    info = get(name)
    if not info.capabilities.runs_on(kind_name):
        raise CopyServiceError(
            "DLB802E", f"copy service {name} runs on subsystems of kind "
            f"{', '.join(sorted(info.capabilities.subsystem_kinds))}; {subsystem} is a {kind_name}.")
    if name in present:
        raise CopyServiceError("DLB803E", f"subsystem {subsystem} already has copy service {name}.")
    return info


__all__ = ["ServiceInfo", "services", "get", "register", "unregister", "refresh", "problems", "kinds",
           "kind", "register_kind", "builtin_services_of", "check_addable", "capable", "virtual_cc_mechanisms",
           "cache_cc_possible", "ENTRY_POINT_GROUP", "BUILT_INS"]
