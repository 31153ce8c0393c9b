"""Helpers shared by the CLI modules: resolving a volume or data set argument that is
either an image path or, with ``--site DIR``, a volume serial or catalogued name."""

from __future__ import annotations

import json
from pathlib import Path

import typer

SITE_HELP = "Work inside this site folder instead of on an image path."


def open_volume(target: str, site: Path | None, writable: bool = False):
    """The volume named by ``target``: an image path, or a VOLSER when ``site`` is given."""
    if site is None:
        from dasdlab.emulator.volume import Volume

        return Volume.open(target, writable=writable)
    from dasdlab.emulator.site import Site

    return Site.open(site).volume(target, writable=writable)


def dataset_volume(args: list[str], site: Path | None, volser: str | None, writable: bool,
                   new: bool = False) -> tuple[object, str]:
    """(volume, DSN) for a data set command.

    Without a site, ``args`` is ``PATH DSN``.  With ``--site``, ``args`` is ``DSN`` and the
    volume comes from ``--volser`` (for a new data set) or from the site catalog.
    """
    if site is None:
        if len(args) != 2:
            raise typer.BadParameter("give PATH and DSN (or --site DIR and DSN)")
        from dasdlab.emulator.volume import Volume

        return Volume.open(args[0], writable=writable), args[1]
    if len(args) != 1:
        raise typer.BadParameter("with --site, give only the DSN")
    from dasdlab.emulator.site import Site

    s = Site.open(site)
    dsn = args[0]
    if new:
        if not volser:
            raise typer.BadParameter("--volser is needed to allocate a data set in a site")
        return s.volume(volser, writable=writable), dsn
    return s.dataset_volume(dsn, writable=writable), dsn


DURATION_HELP = "plain seconds or with a unit: 30s, 100ms, 2m, 1h"


def parse_duration(text: str, option: str = "duration") -> float:
    """Modeled seconds from ``30s``, ``100ms``, ``2m``, ``1h`` or ``12.5`` -- the one
    duration syntax of every command.  A sign is kept, so that a negative duration
    reaches the library's own check and its message id."""
    import re

    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(text).lower())
    if not m:
        raise typer.BadParameter(f"{option} {text!r} is not understood; write e.g. 30s, 100ms, 2m or 12.5 (seconds)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2))
