"""Image conversion: plain CKD <-> compressed CKD (CCKD), shadow files merged on the way.

Formats from ``docs/ckd-format.md`` §2 and §3; the behaviour to match is
Hercules 3.13 ``dasdcopy``:

* CCKD -> CKD writes every track's image (null tracks expanded as Hercules expands
  them, see :mod:`dasdlab.emulator.cckd`) into its slot of a new single-file image; the
  rest of each slot reads as zeros.  The result is byte-identical to what ``dasdcopy``
  writes for the same input (checked by the interop tests), except that dasdlab writes
  one file of any size, as ``dasdcopy -lfs`` does, and leaves the zero tails of the
  slots as holes (the bytes read the same; the file takes less space).
* CKD -> CCKD writes a compact file: device header, CDEVHDR, the L1 table, then all L2
  tables together (Hercules checks that L2 tables lie right after the L1 table), then
  the track images in track order, with no free space.  Never-written tracks of a
  sparse image become format-0 null tracks, and a group of 256 such tracks costs no L2
  table at all (L1 entry 0).  Tracks that *are* a format-0 or format-1 null track are
  stored as null entries too, as Hercules stores them.  Images shorter than 512 bytes,
  and those that do not shrink, are stored uncompressed.

:func:`write_shadow` writes a shadow file (``CKD_S370``) holding chosen tracks of a
volume over a compressed base; every other track falls through to the base.  Hercules
creates shadows only from inside the emulator, so this is how tests and tools make them.
"""

from __future__ import annotations

import bz2
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dasdlab.emulator.cckd import (
    COMPRESS_MIN,
    COMPRESSIONS,
    FALL_THROUGH,
    L1_POS,
    L2_ENTRIES,
    L2_LEN,
    OPT_NOFUDGE,
    VRM,
    CckdVolume,
    CompressedHeader,
    null_format_of,
    open_image,
    stored_image,
    used_length,
)
from dasdlab.emulator.geometry import DEVHDR_LEN
from dasdlab.emulator.volume import EYE_CCKD, EYE_CKD, EYE_SHADOW, DeviceHeader, Volume
from dasdlab.errors import ImageError

Progress = Callable[[int, int], None]
_L2_DTYPE = np.dtype([("pos", "<u4"), ("len", "<u2"), ("size", "<u2")])


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What a conversion wrote: tracks in the volume, tracks stored as track images
    (the rest are null tracks), and the size of the new file."""

    tracks: int
    stored: int
    file_bytes: int


def _check_target(dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        raise ImageError("DLB180E", f"{dst} already exists; dasdlab will not overwrite it.")
    if not dst.parent.is_dir():
        raise ImageError("DLB182E", f"directory {dst.parent} does not exist.")


def _compression(name: str) -> int:
    code = COMPRESSIONS.get(name.lower())
    if code is None:
        raise ImageError(
            "DLB181E", f"compression {name!r} is not one of {', '.join(COMPRESSIONS)}."
        )
    return code


def convert_volume(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    cckd: bool,
    compress: str = "zlib",
    sf: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Write ``src`` (plain or compressed, with shadow files ``sf``) as a new image ``dst``:
    compressed when ``cckd``, else plain.  ``dst`` must not exist; on any error it is
    removed again and ``src`` is never written to."""
    src, dst = Path(src), Path(dst)
    code = _compression(compress)
    _check_target(dst)
    vol = open_image(src, sf)
    try:
        if cckd:
            return _create(dst, lambda f: _write_cckd(vol, f, code, progress))
        if isinstance(vol, CckdVolume):
            return _create(dst, lambda f: _write_ckd(vol, f, progress))
    finally:
        vol.close()
    # plain to plain is a volume copy
    from dasdlab.emulator.volcopy import copy_volume

    copy_volume(src, dst, progress)
    with Volume.open(dst) as out:
        return ConvertResult(out.ntracks, out.written.count(), dst.stat().st_size)


def write_shadow(
    vol: Volume,
    base: CckdVolume,
    dst: str | os.PathLike,
    tracks: Iterable[int],
    compress: str = "zlib",
) -> ConvertResult:
    """Write a shadow file over ``base`` that holds ``tracks`` as ``vol`` has them."""
    dst = Path(dst)
    code = _compression(compress)
    _check_target(dst)
    if (vol.ntracks, vol.heads, vol.slot) != (base.ntracks, base.heads, base.slot):
        raise ImageError("DLB167E", f"{vol.path} does not have the geometry of the base {base.path}.")
    chosen = np.unique(np.fromiter(tracks, dtype=np.int64))
    return _create(dst, lambda f: _write_cckd(vol, f, code, None, shadow=chosen))


def _create(dst: Path, body: Callable[[int], ConvertResult]) -> ConvertResult:
    """Write a new image through ``body(fd)``; it appears as ``dst`` only when complete
    (:mod:`dasdlab.emulator.newfile`)."""
    from dasdlab.emulator.newfile import new_file

    exists = ImageError("DLB180E", f"{dst} already exists; dasdlab will not overwrite it.")
    try:
        with new_file(dst, exists) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                result = body(fd)
            finally:
                os.close(fd)
    except OSError as e:
        raise ImageError("DLB183E", f"writing {dst} failed: {e.strerror or e}.") from None
    return result


# ---------------------------------------------------------------------- CCKD -> CKD
def _write_ckd(vol: CckdVolume, fd: int, progress: Progress | None) -> ConvertResult:
    hdr = DeviceHeader(EYE_CKD, vol.heads, vol.slot, vol.geometry.devtype_byte, 0, 0)
    size = DEVHDR_LEN + vol.ntracks * vol.slot
    os.pwrite(fd, hdr.pack(), 0)
    os.ftruncate(fd, size)
    stored = 0
    done = 0
    for batch, images in _in_order(_decompress_batch, vol, _batches(range(vol.ntracks))):
        for t, (image, was_stored) in zip(batch, images):
            stored += was_stored
            os.pwrite(fd, image, DEVHDR_LEN + t * vol.slot)
        done += len(batch)
        if progress is not None:
            progress(done, vol.ntracks)
    return ConvertResult(vol.ntracks, stored, size)


def _decompress_batch(vol: CckdVolume, batch: list[int]) -> list[tuple[bytes, bool]]:
    out = []
    for t in batch:
        _sfx, pos, _len, _size = vol.track_entry(t)
        out.append((vol.track_image(t), pos != 0))
    return out


# ---------------------------------------------------------------------- parallel tracks
#: Tracks per unit of work: large enough that a batch's compression (about 1 ms a
#: track) dwarfs the hand-over, small enough that both workers stay busy to the end.
BATCH_TRACKS = 64


def workers() -> int:
    """Threads that compress or decompress tracks: one per core this process may use.
    zlib and bz2 release the GIL while they work, so threads scale across cores."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _batches(tracks) -> list[list[int]]:
    tracks = list(tracks)
    return [tracks[i : i + BATCH_TRACKS] for i in range(0, len(tracks), BATCH_TRACKS)]


def _in_order(job, vol, batches: list):
    """(batch, job(vol, batch)) for every batch, in batch order, computed by
    :func:`workers` threads with at most two batches per thread in flight (so memory
    stays bounded however large the volume)."""
    n = workers()
    if n == 1 or len(batches) <= 1:
        for b in batches:
            yield b, job(vol, b)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n) as pool:
        pending: deque = deque()
        it = iter(batches)
        for b in it:
            pending.append((b, pool.submit(job, vol, b)))
            if len(pending) >= 2 * n:
                break
        while pending:
            b, fut = pending.popleft()
            result = fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(job, vol, nxt)))
            yield b, result


in_order_threads = _in_order


# ---------------------------------------------------------------------- -> CCKD
def _track_source(vol: Volume, t: int) -> tuple[int | None, bytes | None]:
    """(null format, None) for a null track, else (None, used bytes of the image)."""
    cyl, head = divmod(t, vol.heads)
    if isinstance(vol, CckdVolume):
        _sfx, pos, length, _size = vol.track_entry(t)
        if pos == 0:
            return vol._null_format(length), None
        image = vol.track_image(t)
    else:
        if not vol.is_written(t):
            return 0, None  # never written: the cheapest null track
        img = vol.read_track(t)
        image = bytes(memoryview(img)[: used_length(img, vol.slot)])
    fmt = null_format_of(image, cyl, head)
    return (fmt, None) if fmt is not None else (None, image)


def _groups_needing_l2(vol: Volume, ngroups: int, shadow: np.ndarray | None) -> np.ndarray:
    """Groups of 256 tracks whose L2 table must be written (cheap: no decompression)."""
    need = np.zeros(ngroups, dtype=bool)
    if shadow is not None:
        need[np.unique(shadow // L2_ENTRIES)] = True
        return need
    if isinstance(vol, CckdVolume):
        for g in range(ngroups):
            for t in range(g * L2_ENTRIES, min((g + 1) * L2_ENTRIES, vol.ntracks)):
                _sfx, pos, length, _size = vol.track_entry(t)
                if pos != 0 or vol._null_format(length) != 0:
                    need[g] = True
                    break
        return need
    idx = vol.written.indices()
    need[np.unique(idx // L2_ENTRIES)] = True
    return need


_stored_image = stored_image


def _compress_batch(vol: Volume, batch: list[int], code: int) -> list[tuple[int | None, bytes | None]]:
    """(null format, None) or (None, stored image) for each track of ``batch``."""
    out = []
    for t in batch:
        fmt, image = _track_source(vol, t)
        out.append((fmt, None) if image is None else (None, _stored_image(image, code)))
    return out


def _write_cckd(vol: Volume, fd: int, code: int, progress: Progress | None,
                shadow: np.ndarray | None = None) -> ConvertResult:
    ntracks = vol.ntracks
    ngroups = -(-ntracks // L2_ENTRIES)
    need = _groups_needing_l2(vol, ngroups, shadow)
    table_of = np.full(ngroups, -1, dtype=np.int64)
    table_of[need] = np.arange(int(need.sum()))
    l1_end = L1_POS + 4 * ngroups
    l2 = np.zeros((int(need.sum()), L2_ENTRIES), dtype=_L2_DTYPE)
    if shadow is not None:
        l2[:] = np.array((FALL_THROUGH, 0xFFFF, 0xFFFF), dtype=_L2_DTYPE)
    pos = l1_end + L2_LEN * l2.shape[0]
    if shadow is None:
        # groups without a table hold only format-0 null tracks: nothing to look at
        wanted = [t for g in np.flatnonzero(need).tolist()
                  for t in range(g * L2_ENTRIES, min((g + 1) * L2_ENTRIES, ntracks))]
    else:
        wanted = shadow.tolist()
    total = len(wanted)
    stored = 0
    done = 0
    for batch, results in _in_order(lambda v, b: _compress_batch(v, b, code), vol, _batches(wanted)):
        chunk = []
        at = pos
        for t, (fmt, raw) in zip(batch, results):
            g, x = divmod(t, L2_ENTRIES)
            if raw is None:
                l2[table_of[g], x] = (0, fmt, fmt)
            else:
                l2[table_of[g], x] = (at, len(raw), len(raw))
                chunk.append(raw)
                at += len(raw)
                stored += 1
        if chunk:
            data = b"".join(chunk)  # one large sequential write per batch
            os.pwrite(fd, data, pos)
            pos += len(data)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    l1 = np.zeros(ngroups, dtype="<u4")
    if shadow is not None:
        l1[:] = FALL_THROUGH
    l1[need] = l1_end + L2_LEN * np.arange(int(need.sum()), dtype=np.int64)
    eye = EYE_SHADOW if shadow is not None else EYE_CCKD
    hdr = DeviceHeader(eye, vol.heads, vol.slot, vol.geometry.devtype_byte, 0, 0)
    cdev = CompressedHeader(
        vrm=VRM, options=OPT_NOFUDGE, numl1tab=ngroups, numl2tab=L2_ENTRIES, size=pos, used=pos,
        free=0, free_total=0, free_largest=0, free_number=0, free_imbed=0, cyls=vol.cylinders,
        nullfmt=0, compress=code, compress_parm=-1,
    )
    os.pwrite(fd, hdr.pack() + cdev.pack() + l1.tobytes() + l2.tobytes(), 0)
    return ConvertResult(ntracks, stored, pos)
