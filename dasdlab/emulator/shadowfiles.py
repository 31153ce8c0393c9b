"""Shadow-file operations on a compressed volume: add a shadow, remove the top one
(merging it into the file below, or dropping it), compress the top file, list the stack --
what Hercules' console commands ``sf+``, ``sf-``, ``sfc`` and ``sfd`` do.

Facts from Hercules 3.13 ``cckddasd.c`` (``cckd_sf_new``, ``cckd_sf_remove``,
``cckd_sf_comp``; the 3.x sources at https://github.com/rbowler/spinhawk), checked
against the emulator itself running those commands on the same files (the interop tests):

* ``sf+`` makes shadow n+1 over the top file n: its device header is the top file's
  with the eye-catcher ``CKD_S370``; its compressed header is the top file's with the
  file size and bytes used set to the two headers plus the L1 table, and every free-space
  figure 0; every L1 entry is 0xFFFFFFFF ("look in the file below").  At most 8
  shadows (``CCKD_MAX_SF``).
* ``sf-`` with ``merge`` (Hercules' default) copies every track image and null entry the
  top file holds into the file below -- the stored bytes as they are, never
  recompressed -- each into space taken from that file's free-space chain (or its end),
  the space of the entry it replaces freed; an L2 table left holding only null tracks of
  the file's null format is freed too (its L1 entry becomes 0).  Then the top file is
  deleted.  ``nomerge`` deletes the top file and its changes with it.  The base itself
  is never removed.
* ``sfc`` compacts the top file (the base when there are no shadows), as ``cckdcomp``.

dasdlab merges into a copy of the lower file and puts it in place with one rename before
deleting the top file, so the volume the stack shows is the same at every instant: a
process killed half-way leaves the old stack or the merged one, never a half-merged
file.  Unlike the Hercules utilities, a shadow name that matches no file is an error
(``DLB186E``) and nothing is created by opening a stack.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dasdlab.emulator.cckd import (
    CDEVHDR_LEN,
    FALL_THROUGH,
    L1_POS,
    L2_ENTRIES,
    L2_LEN,
    MAX_SHADOWS,
    OPT_OPENED,
    CckdFile,
    _check_shadow_matches,
    shadow_names,
)
from dasdlab.emulator.cckdspace import FreeSpace
from dasdlab.emulator.geometry import DEVHDR_LEN
from dasdlab.emulator.newfile import fsync_path
from dasdlab.emulator.volume import EYE_CCKD, EYE_SHADOW
from dasdlab.errors import ImageError

#: CDEVHDR option bit: opened read-write since the last check (Hercules ``CCKD_ORDWR``).
OPT_ORDWR = 0x40
#: Largest L2 ``len`` that is a null-track format, not a stored image
#: (Hercules ``CKDDASD_NULLTRK_FMTMAX``).
NULL_FORMAT_MAX = 2


@dataclass(frozen=True, slots=True)
class StackFile:
    """One file of a stack as ``sfd`` shows it."""

    index: int
    path: Path
    size: int
    free_total: int
    tracks_held: int

    def as_json(self) -> dict:
        return {"index": self.index, "path": str(self.path), "size": self.size,
                "free_bytes": self.free_total, "tracks_held": self.tracks_held}


@dataclass(frozen=True, slots=True)
class RemoveResult:
    """What ``sf-`` did: the file removed, the file merged into (None with nomerge),
    and how many L2 entries were copied."""

    removed: Path
    merged_into: Path | None
    entries: int


def existing_shadows(sf: str | os.PathLike) -> list[Path]:
    """The shadow files of an ``sf=`` name that exist, lowest first (Hercules stops at
    the first missing number)."""
    found = []
    for name in shadow_names(sf):
        if not name.exists():
            break
        found.append(name)
    return found


def _open_stack(base: Path, sf: str | os.PathLike) -> list[CckdFile]:
    files = [CckdFile(Path(base), EYE_CCKD)]
    try:
        for name in existing_shadows(sf):
            f = CckdFile(name, EYE_SHADOW)
            files.append(f)
            _check_shadow_matches(files[0], f)
    except BaseException:
        for f in files:
            f.close()
        raise
    return files


def _close(files: list[CckdFile]) -> None:
    for f in files:
        f.close()


def _held(f: CckdFile) -> int:
    """L2 entries of ``f`` that serve a track (not 'look below')."""
    n = 0
    for l1x in range(len(f.l1)):
        off = int(f.l1[l1x])
        if off == FALL_THROUGH:
            continue
        tab = f.l2(l1x)
        tracks = min(L2_ENTRIES, f.cdev.cyls * f.devhdr.heads - l1x * L2_ENTRIES)
        n += tracks if tab is None else int((tab["pos"][:tracks] != FALL_THROUGH).sum())
    return n


def show_stack(base: str | os.PathLike, sf: str | os.PathLike) -> list[StackFile]:
    """The base and its shadow files, lowest first (``sfd``)."""
    files = _open_stack(Path(base), sf)
    try:
        return [StackFile(i, f.path, f.size, f.cdev.free_total, _held(f)) for i, f in enumerate(files)]
    finally:
        _close(files)


def add_shadow(base: str | os.PathLike, sf: str | os.PathLike) -> Path:
    """Create the next shadow file over the stack (``sf+``); returns its path."""
    base = Path(base)
    files = _open_stack(base, sf)
    try:
        names = shadow_names(sf)
        n = len(files) - 1
        if n >= MAX_SHADOWS:
            raise ImageError("DLB170E", f"{base} already has {MAX_SHADOWS} shadow files, as many "
                                        "as Hercules opens; merge one with 'volume sf remove' first.")
        top = files[-1]
        new = names[n]
        if not new.parent.is_dir():
            raise ImageError("DLB171E", f"directory {new.parent} for the shadow file does not exist.")
        devhdr = bytearray(os.pread(top.fd, DEVHDR_LEN, 0))
        devhdr[:8] = EYE_SHADOW
        nl1 = len(top.l1)
        size = DEVHDR_LEN + CDEVHDR_LEN + 4 * nl1
        cdev = replace(top.cdev, options=top.cdev.options & ~OPT_OPENED, size=size, used=size,
                       free=0, free_total=0, free_largest=0, free_number=0, free_imbed=0)
        data = bytes(devhdr) + cdev.pack() + b"\xff" * (4 * nl1)
    finally:
        _close(files)
    from dasdlab.emulator.newfile import new_file

    exists = ImageError("DLB172E", f"{new} exists but is not part of the stack (a lower shadow "
                                   "number is missing); remove or rename it first.")
    with new_file(new, exists) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)
    return new


def remove_shadow(base: str | os.PathLike, sf: str | os.PathLike, merge: bool = True) -> RemoveResult:
    """Remove the top shadow file (``sf-``): with ``merge``, its tracks go into the file
    below first; without, its changes are dropped."""
    base = Path(base)
    files = _open_stack(base, sf)
    try:
        if len(files) == 1:
            raise ImageError("DLB173E", f"{base} has no shadow file matching {str(sf)!r}; "
                                        "the base itself cannot be removed.")
        top, lower = files[-1], files[-2]
        if not merge:
            entries = 0
        else:
            entries = _merge_into_copy(top, lower)
    finally:
        _close(files)
    top.path.unlink()
    fsync_path(top.path.parent)
    return RemoveResult(top.path, lower.path if merge else None, entries)


def compress_top(base: str | os.PathLike, sf: str | os.PathLike | None) -> tuple[Path, int, int]:
    """Compact the top file of the stack (``sfc``): (path, bytes before, bytes after)."""
    from dasdlab.emulator.cckdtools import compact_image

    base = Path(base)
    if sf is None:
        top = base
    else:
        files = _open_stack(base, sf)
        top = files[-1].path
        _close(files)
    before, after = compact_image(top)
    return top, before, after


# ---------------------------------------------------------------------- merge
def _lower_space(f: CckdFile) -> FreeSpace:
    c = f.cdev
    if c.options & OPT_OPENED:
        raise ImageError("DLB174E", f"{f.path} was not closed after its last update (the "
                                    "'opened' flag is set); check it with 'dasdlab volume cckd "
                                    "check --repair' before merging into it.")
    try:
        space = FreeSpace.read_chain(f.fd, c.free, f.size, c.byteorder, f.l2_floor,
                                       number=c.free_number)
    except ValueError as e:
        raise ImageError("DLB174E", f"{f.path}: {e}; nothing was merged.") from None
    if (space.number, space.total) != (c.free_number, c.free_total - c.free_imbed) or \
            c.size != f.size:
        raise ImageError("DLB174E", f"{f.path}: the free-space figures of its header do not "
                                    "match the file; check it with 'dasdlab volume cckd check "
                                    "--repair' before merging into it.")
    return space


def _merge_into_copy(top: CckdFile, lower: CckdFile) -> int:
    """Merge ``top`` into a copy of ``lower`` and rename the copy over ``lower``."""
    space = _lower_space(lower)
    tmp = lower.path.with_name(f".{lower.path.name}.{os.getpid()}.partial")
    tmp.unlink(missing_ok=True)
    try:
        shutil.copyfile(lower.path, tmp)
        shutil.copymode(lower.path, tmp)
        out = CckdFile(tmp, lower.devhdr.eyecatcher, writable=True)
        try:
            entries = _merge(top, out, space)
            os.fsync(out.fd)
        finally:
            out.close()
        os.replace(tmp, lower.path)
    except OSError as e:
        raise ImageError("DLB175E", f"merging {top.path} into {lower.path} failed: "
                                    f"{e.strerror or e}; both files are as they were.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return entries


def _merge(src: CckdFile, dst: CckdFile, space: FreeSpace) -> int:
    """Hercules' backward merge (``cckd_sf_remove``) of ``src`` into ``dst``."""
    order = dst.cdev.byteorder
    fix = dst.cdev.nullfmt
    empty = np.zeros(L2_ENTRIES, dtype=dst._l2_dtype)
    empty["len"] = fix
    empty["size"] = fix
    copied = 0
    for l1x in range(len(src.l1)):
        s_off, d_off = int(src.l1[l1x]), int(dst.l1[l1x])
        if s_off == FALL_THROUGH or (s_off == 0 and d_off == 0):
            continue
        s_tab = np.zeros(L2_ENTRIES, dtype=dst._l2_dtype) if s_off == 0 else src.l2(l1x)
        if d_off == 0:
            d_tab = np.zeros(L2_ENTRIES, dtype=dst._l2_dtype)
        elif d_off == FALL_THROUGH:
            d_tab = np.full(L2_LEN, 0xFF, dtype=np.uint8).view(dst._l2_dtype).copy()
        else:
            d_tab = dst.l2(l1x).copy()
        updated = False
        for l2x in range(L2_ENTRIES):
            s_pos, n, s_size = (int(x) for x in s_tab[l2x])
            d_pos = int(d_tab[l2x]["pos"])
            if s_pos == FALL_THROUGH or (s_pos == 0 and d_pos == 0):
                continue
            if n > NULL_FORMAT_MAX:
                image = src.read(s_pos, n, l1x * L2_ENTRIES + l2x)
                pos, size = space.allocate(n, exact=True)
                os.pwrite(dst.fd, image, pos)
                new = (pos, n, size)
            else:
                new = (0, n, n)
            if d_pos not in (0, FALL_THROUGH):
                space.release(d_pos, int(d_tab[l2x]["size"]))
            d_tab[l2x] = new
            updated = True
            copied += 1
        if not updated:
            continue
        if np.array_equal(d_tab.view(np.uint8), empty.view(np.uint8)):
            if d_off not in (0, FALL_THROUGH):
                space.release(d_off, L2_LEN)
            d_off = 0
        else:
            if d_off in (0, FALL_THROUGH):
                d_off, _size = space.allocate(L2_LEN, exact=True)
            os.pwrite(dst.fd, d_tab.astype(dst._l2_dtype).tobytes(), d_off)
        dst.l1[l1x] = d_off
        dst._l2[l1x] = d_tab
    # the L1 table, the free-space chain and the header figures, as a close writes them
    os.pwrite(dst.fd, dst.l1.astype(order + "u4").tobytes(), L1_POS)
    os.ftruncate(dst.fd, space.file_end)
    first_free = space.write_array(dst.fd, order)
    dst.size = space.file_end
    imbed = 0
    for l1x in range(len(dst.l1)):
        if int(dst.l1[l1x]) in (0, FALL_THROUGH):
            continue
        tab = dst.l2(l1x)
        live = (tab["pos"] != 0) & (tab["pos"] != FALL_THROUGH)
        imbed += int((tab["size"][live].astype(np.int64) - tab["len"][live]).sum())
    c = dst.cdev
    dst.cdev = replace(c, options=(c.options | OPT_ORDWR) & ~OPT_OPENED, size=space.file_end,
                       used=space.file_end - space.total - imbed, free=first_free,
                       free_total=space.total + imbed, free_largest=space.largest,
                       free_number=space.number, free_imbed=imbed)
    os.pwrite(dst.fd, dst.cdev.pack(), DEVHDR_LEN)
    return copied


__all__ = ["RemoveResult", "StackFile", "add_shadow", "compress_top", "existing_shadows",
           "remove_shadow", "show_stack"]
