"""Helpers shared by the CLI modules: resolving a volume or data set argument that is
either an image path or, with ``--site DIR``, a volume serial or catalogued name."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import typer

SITE_HELP = "Work inside this site folder instead of on an image path."


SF_HELP = ("Shadow files over a compressed base, named as Hercules' sf= "
           "(e.g. 'shadows/base_*.shd'); 'sf=NAME' after the image works too.")


def take_sf(args: list[str], sf: str | None) -> tuple[list[str], str | None]:
    """Split Hercules' ``sf=NAME`` arguments off ``args``; at most one shadow name in all."""
    rest = [a for a in args if not a.startswith("sf=")]
    names = [a[3:] for a in args if a.startswith("sf=")] + ([sf] if sf is not None else [])
    if len(names) > 1:
        from dasdlab.errors import ImageError

        raise ImageError("DLB188E", "give one shadow file name: either --sf or sf=, once.")
    if names and not names[0]:
        from dasdlab.errors import ImageError

        raise ImageError("DLB188E", "sf= needs a shadow file name, e.g. sf=shadows/base_*.shd.")
    return rest, (names[0] if names else None)


#: Volumes a command opened for writing; :func:`close_opened` closes them when it ends.
_OPENED: list = []


def close_opened() -> None:
    """Close every volume opened writable by this command (a compressed image writes
    its free-space chain and header then), even after an error."""
    while _OPENED:
        _OPENED.pop().close()


def open_volume(target: str, site: Path | None, writable: bool = False, sf: str | None = None):
    """The volume named by ``target``: an image path (with shadow files ``sf`` over a
    compressed base), or a VOLSER when ``site`` is given."""
    if site is None:
        if sf is not None:
            from dasdlab.emulator.cckd import open_image

            return open_image(target, sf)
        from dasdlab.emulator.volume import Volume

        vol = Volume.open(target, writable=writable)
        if writable:
            _refuse_base_under_shadows(vol)
            _OPENED.append(vol)
        else:
            _warn_unnamed_shadows(vol)
        return vol
    if sf is not None:
        from dasdlab.errors import ImageError

        raise ImageError("DLB188E", "shadow files (--sf) apply to an image path, not to --site.")
    from dasdlab.emulator.site import Site

    return Site.open(site).volume(target, writable=writable)


def _refuse_base_under_shadows(vol) -> None:
    """Shadow files overlay the base as it was when they were made: writing the base
    under them would change what they show, so Hercules opens such a base read-only."""
    from dasdlab.emulator.cckd import CckdVolume, shadows_near
    from dasdlab.errors import ImageError

    if not isinstance(vol, CckdVolume):
        return
    found = shadows_near(vol.path)
    if found:
        vol.close()
        names = ", ".join(str(p) for p in found[:4]) + (" ..." if len(found) > 4 else "")
        raise ImageError(
            "DLB890E",
            f"{vol.path} is the base of shadow files ({names}); writing it would change what "
            "they overlay. Merge them with 'dasdlab volume convert --sf' first.",
        )


def _warn_unnamed_shadows(vol) -> None:
    """A compressed base opened without sf= while shadow files of its geometry lie next
    to it: say that they are left out instead of ignoring them silently."""
    from dasdlab.emulator.cckd import CckdVolume, shadows_near

    if not isinstance(vol, CckdVolume):
        return
    found = shadows_near(vol.path)
    if found:
        names = ", ".join(str(p) for p in found[:4]) + (" ..." if len(found) > 4 else "")
        typer.echo(f"DLB187W {vol.path} is read without shadow files, but shadow files of its "
                   f"geometry exist ({names}); name them with --sf or sf= to read through them.",
                   err=True)


def dataset_volume(args: list[str], site: Path | None, volser: str | None, writable: bool,
                   new: bool = False, sf: str | None = None) -> tuple[object, str]:
    """(volume, DSN) for a data set command.

    Without a site, ``args`` is ``PATH [sf=NAME] DSN``.  With ``--site``, ``args`` is
    ``DSN`` and the volume comes from ``--volser`` (for a new data set) or from the site
    catalog.
    """
    args, sf = take_sf(args, sf)
    if sf is not None and writable:
        from dasdlab.errors import ImageError

        raise ImageError("DLB189E", "dasdlab reads through shadow files but does not write into them.")
    if site is None:
        if len(args) != 2:
            raise typer.BadParameter("give PATH and DSN (or --site DIR and DSN)")
        return open_volume(args[0], None, writable=writable, sf=sf), args[1]
    if sf is not None:
        from dasdlab.errors import ImageError

        raise ImageError("DLB188E", "shadow files (--sf) apply to an image path, not to --site.")
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


#: the access skew of every command with a workload ('workload run', 'bench outage', and
#: 'demo' through ScenarioSpec's own default, the same): an online database's updates
#: concentrate on a few hot records, which a Zipf law models
DEFAULT_SKEW = "zipf"

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


TO_HELP = "Output file; '-' (the default) is standard output."


def to_stdout(to: Path | None) -> bool:
    """``--to -`` (or no ``--to``) means standard output, as ``--from -`` means stdin."""
    return to is None or str(to) == "-"


def report_leftovers(site) -> None:
    """Clean up after image copies and recoveries at ``site`` that were killed, and say
    on stderr what they left (:func:`dasdlab.engine.leftovers.settle`)."""
    from dasdlab.engine.leftovers import settle
    from dasdlab.errors import DasdlabError

    try:
        msgs = settle(site)
    except DasdlabError:  # no RECON, or a damaged one: the command itself says so
        return
    for m in msgs:
        typer.echo(m, err=True)


def print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2))


@contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    """A file opened for writing that appears under ``path`` only when complete: it is
    written as ``.NAME.PID.partial`` and renamed at the end (removed on any error; a
    killed run's is removed by the next export to that name)."""
    from dasdlab.emulator.newfile import clean_leftovers, partial_name
    from dasdlab.errors import DasdlabError

    path = Path(path)
    part = partial_name(path)
    if path.is_dir():  # found before anything is written, and named as the user gave it
        raise DasdlabError("DLB261E", f"cannot write {path}: it is a folder; give a file name.")
    try:
        clean_leftovers(path)
        f = open(part, "wb")
    except OSError as e:
        raise DasdlabError("DLB261E", f"cannot write {path}: {e.strerror}.") from None
    try:
        with f:
            yield f
        try:
            os.replace(part, path)
        except OSError as e:
            raise DasdlabError("DLB261E", f"cannot write {path}: {e.strerror}.") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
