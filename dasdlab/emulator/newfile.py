"""A new output file that appears under its final name only when it is complete.

``volume convert``, ``volume copy`` (and any writer of a new image) write to a hidden
temporary name in the destination's own folder, ``.NAME.PID.partial``, and, once
every byte is written and synced, link it to the final name -- ``link(2)`` fails when
the name exists, so an existing file is never overwritten, not even by a race -- and
remove the temporary name.  A process killed half-way leaves only the ``.partial``
file; the next writer of the same name removes those whose process is gone.

A new *data set* (a DFSMSdss DUMP output) follows the same protocol inside a volume:
it is allocated, uncatalogued, under :func:`partial_dsn` -- its high-level qualifier,
``DLBPART``, the writer's pid and a hash of the final name, a valid name whatever the
final name's length -- and renamed and catalogued when complete (a rename rewrites one
Format-1 DSCB, so the final name appears at once, as with ``link(2)``).  The next
writer of the same name scratches the partial data sets whose process is gone
(:func:`clean_partial_datasets`).

Result files that a rerun rewrites (Parquet tables, traces, plots, exports, sweep
reports) use :func:`replaced_file`: the same temporary name, then ``rename(2)`` over
the old file, so a reader sees the old file or the new one, never half of either.
:func:`clean_folder` removes every dead process's ``.partial`` file of a folder (what
an interrupted command calls for the folders it was writing into).
"""

from __future__ import annotations

import os
import re
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dasdlab.emulator.pids import pid_alive


def partial_name(dst: Path, pid: int | None = None) -> Path:
    return dst.parent / f".{dst.name}.{os.getpid() if pid is None else pid}.partial"


def clean_leftovers(dst: Path) -> list[Path]:
    """Remove the ``.partial`` files of ``dst`` that killed processes left; returns them."""
    gone = []
    for p in dst.parent.glob(f".{dst.name}.*.partial"):
        pid = p.name[len(dst.name) + 2:-len(".partial")]
        if pid.isdigit() and not pid_alive(int(pid)):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


@contextmanager
def new_file(dst: str | os.PathLike, exists_error: Exception) -> Iterator[Path]:
    """Yield the temporary path to write; on a clean exit the file is synced and takes
    the name ``dst`` (``exists_error`` is raised if that name exists by then); on any
    error, the temporary file is removed."""
    dst = Path(dst)
    if dst.exists() or dst.is_symlink():
        raise exists_error
    clean_leftovers(dst)
    tmp = partial_name(dst)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        fsync_path(tmp)
        try:
            os.link(tmp, dst)
        except FileExistsError:
            raise exists_error from None
    finally:
        tmp.unlink(missing_ok=True)


def partial_dsn(dsn: str, pid: int | None = None) -> str:
    """The uncatalogued name a new data set ``dsn`` is written under until it is complete."""
    dsn = dsn.upper()
    crc = zlib.crc32(dsn.encode()) & 0xFFFFFFF
    return f"{dsn.split('.', 1)[0]}.DLBPART.P{os.getpid() if pid is None else pid}.H{crc:07X}"


def clean_partial_datasets(vtoc, dsn: str) -> list[str]:
    """Scratch from ``vtoc`` the partial data sets of ``dsn`` that killed processes left."""
    rx = re.compile(re.escape(partial_dsn(dsn, 0)).replace(r"\.P0\.", r"\.P(\d+)\.") + "$")
    gone = []
    for name in list(vtoc.datasets):
        m = rx.match(name)
        if m and not pid_alive(int(m.group(1))):
            vtoc.delete(name)
            gone.append(name)
    return gone


def fsync_path(path: str | os.PathLike) -> None:
    """``fsync(2)`` a file or a folder by its name (a folder: so that a rename in it lasts)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replaced_file(dst: str | os.PathLike) -> Iterator[Path]:
    """Yield the temporary path to write; on a clean exit it is synced and renamed over
    ``dst`` (an older file of that name is replaced in one step); on any error, or
    when nothing was written, it is removed and ``dst`` is left as it was."""
    dst = Path(dst)
    clean_leftovers(dst)
    tmp = partial_name(dst)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        if tmp.exists():
            fsync_path(tmp)
            os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def clean_folder(folder: str | os.PathLike) -> list[Path]:
    """Remove the ``.NAME.PID.partial`` files of ``folder`` whose process is gone."""
    gone = []
    for p in Path(folder).glob(".*.partial"):
        pid = p.name[:-len(".partial")].rpartition(".")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone
