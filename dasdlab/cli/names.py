"""Options that take a name from a registry -- device profiles
(:data:`dasdlab.engine.timemodel.PROFILES`), outage methods
(:func:`dasdlab.bench.methods.available`, which adds ``copy-NAME`` for every plug-in with
fast replication) and copy services (:mod:`dasdlab.emulator.services.registry`): their
help lists the names, and shell completion offers them.

The names are looked up only when they are shown (``--help``, or completion): finding
the plug-ins reads every installed package's entry points, which a command that does
not need them should not pay for.  :func:`fill_help` is called by
:func:`dasdlab.cli.main.run` when the command line asks for help.
"""

from __future__ import annotations

import weakref
from typing import Callable

import typer

#: every live option made by :func:`option` or :func:`argument` (typer makes them again
#: each time it reads a signature: the old ones go with their commands)
_OPTIONS: "weakref.WeakSet" = weakref.WeakSet()


def profile_names() -> list[str]:
    from dasdlab.engine.timemodel import PROFILES

    return list(PROFILES)


def method_names() -> list[str]:
    from dasdlab.bench.methods import available

    return list(available())


def service_names() -> list[str]:
    from dasdlab.emulator.services import registry

    return sorted(registry.services())


NAMES: dict[str, Callable[[], list[str]]] = {
    "profile": profile_names,
    "method": method_names,
    "methods": method_names,  # a comma-separated list of them
    "service": service_names,
}


def _completer(kind: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        names = NAMES[kind]()
        if kind == "methods":  # complete the last name of a comma-separated list
            head, _, last = incomplete.rpartition(",")
            return [f"{head},{n}" if head else n for n in names + ["all"] if n.startswith(last)]
        return [n for n in names if n.startswith(incomplete)]

    return complete


#: the names of each kind, once help is being shown (None before)
_SHOWN: dict[str, list[str]] | None = None


def _help(kind: str, text: str) -> str:
    if _SHOWN is None:
        return text
    if kind not in _SHOWN:
        try:
            _SHOWN[kind] = NAMES[kind]()
        except Exception:  # a broken plug-in must not take the help away; 'services list' names it
            _SHOWN[kind] = []
    return f"{text} Known: {', '.join(_SHOWN[kind])}." if _SHOWN[kind] else text


def _made(info, kind: str, text: str):
    info.dasdlab_names = (kind, text)
    _OPTIONS.add(info)
    return info


def option(*decls: str, kind: str, help: str, **kw):
    """A ``typer.Option`` whose help ends with the names of ``kind`` (listed when help is
    shown) and whose values complete from them."""
    return _made(typer.Option(*decls, help=_help(kind, help), autocompletion=_completer(kind), **kw), kind, help)


def argument(*decls: str, kind: str, help: str, **kw):
    """A ``typer.Argument`` named from the registry of ``kind`` (see :func:`option`)."""
    return _made(typer.Argument(*decls, help=_help(kind, help), autocompletion=_completer(kind), **kw), kind, help)


def fill_help(show: bool = True) -> None:
    """From now on, list the registries' current names in the help of every such
    option (or, with ``show=False``, stop listing them): those made already, and those
    typer makes again when it reads a command's signature (it evaluates the
    annotations afresh each time)."""
    global _SHOWN
    _SHOWN = {} if show else None
    for info in list(_OPTIONS):
        info.help = _help(*info.dasdlab_names)


def wants_help(argv: list[str]) -> bool:
    """A command's help is asked for (``dasdlab --help`` lists commands only, and stays
    quick: it needs no names)."""
    return "--help" in argv and not argv[0].startswith("-")
