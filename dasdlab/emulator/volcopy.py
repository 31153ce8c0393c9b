"""Full-volume copy of an image to a new image file.

A track image is the bytes from the home address through the end-of-track marker
(``docs/ckd-format.md`` §2.2); the rest of its slot is zeros.  The copy therefore moves, for
every track that holds a track image, only those bytes, into a new sparse file.
Never-written tracks (holes of a sparse image) are never read, and the zero tails of
the slots stay holes in the new file.

Why not copy whole files as ``cp`` or ``copy_file_range`` do: a volume fresh from
``dasdinit`` is 948 MB for a 3390-1 but holds 29 bytes of track image per 56,832-byte
slot, and copying its zeros costs as much as copying data (``docs/limits.md`` A2: kernel
copy paths run at 0.33-0.51x of an in-memory copy on ext4, which has no reflink).
Where each track ends is found by one vectorised walk over the count fields of all
tracks at once, which reads only the pages that are copied anyway.  Short tracks are
written with one ``pwrite`` each, long ones moved by ``copy_file_range`` in merged runs.

The result reads byte for byte like the source as long as every slot is zero after its
end-of-track marker, which holds for images made by Hercules and by dasdlab.  Bytes
after the marker are not part of the track and are not copied; slots that hold no track
image (no R0) are not copied either.  A multi-file source becomes one large
(``-lfs``-style) target file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from dasdlab.emulator.geometry import COUNT_LEN, DEVHDR_LEN, EOT_LEN, TRACK_HEADER_LEN
from dasdlab.emulator.volume import EYE_CKD, DeviceHeader, Volume, read_header
from dasdlab.errors import ImageError

#: Tracks of at most this many used bytes are written with one pwrite each; longer
#: ones are copied by copy_file_range in merged runs.
SHORT = 16384
PAGE = 4096
CHUNK = 64 * 1024 * 1024


def used_lengths(tracks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Bytes from the home address through the end-of-track marker of each slot
    ``tracks[rows[i]]``, walking the count fields of all tracks together (one numpy
    pass per record position, not one Python step per record).  A slot whose walk runs
    off its end counts as full."""
    slot = tracks.shape[1]
    n = rows.size
    used = np.full(n, slot, dtype=np.int64)
    pos = np.full(n, TRACK_HEADER_LEN, dtype=np.int64)
    active = np.arange(n)
    step = np.arange(COUNT_LEN)
    while active.size:
        inside = pos[active] + EOT_LEN <= slot
        active = active[inside]
        if not active.size:
            break
        cf = tracks[rows[active][:, None], pos[active][:, None] + step]
        eot = (cf == 0xFF).all(axis=1)
        done = active[eot]
        used[done] = pos[done] + EOT_LEN
        active = active[~eot]
        cf = cf[~eot]
        pos[active] += COUNT_LEN + cf[:, 5].astype(np.int64) + (cf[:, 6].astype(np.int64) << 8) + cf[:, 7]
    return used


def _copy_tracks(src: np.ndarray, src_fd: int, rows: np.ndarray, used: np.ndarray, dst_fd: int,
                 shift: int, report: Callable[[int], None]) -> int:
    """Copy the used bytes of slots ``src[rows]`` to the target file, ``shift`` bytes
    further on; returns the track bytes copied (the used bytes of the tracks).

    A short track (a null track is 29 bytes) is one ``pwrite`` of its used bytes: 5 us,
    where a write fault through a shared map of a hole costs 30 us and a
    ``copy_file_range`` call 7 us.  Runs of long tracks are merged into ranges (the few
    bytes between them come along from the source) and moved by ``copy_file_range``
    inside the kernel.
    """
    slot = src.shape[1]
    src = src.view(np.ndarray)  # plain views: slicing a memmap costs 5 us per call
    done = 0
    long_runs: list[list[int]] = []
    for r, n in zip(rows.tolist(), used.tolist()):
        a = DEVHDR_LEN + r * slot
        if n <= SHORT:
            os.pwrite(dst_fd, src[r, :n], a + shift)
            done += n
            report(done)
        elif long_runs and a - long_runs[-1][1] <= PAGE:
            long_runs[-1][1] = a + n
            long_runs[-1][2] += n
        else:
            long_runs.append([a, a + n, n])
    for a, b, n in long_runs:
        pos = a
        while pos < b:
            k = os.copy_file_range(src_fd, dst_fd, min(CHUNK, b - pos), pos, pos + shift)
            if k <= 0:
                raise ImageError("DLB131E", f"copy stopped at byte {pos} of the source.")
            pos += k
        done += n
        report(done)
    return done


def copy_volume(src: str | os.PathLike, dst: str | os.PathLike,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Copy volume ``src`` to the new file ``dst``; returns the bytes of track images
    copied (home address through end-of-track of every track that holds one)."""
    src, dst = Path(src), Path(dst)
    vol = Volume.open(src)  # validates header, sizes and multi-file structure
    if read_header(src).eyecatcher != EYE_CKD:
        vol.close()
        raise ImageError("DLB130E", f"{src} is compressed; use 'dasdlab volume convert' to copy it.")
    if dst.exists():
        vol.close()
        raise ImageError("DLB117E", f"{dst} already exists; dasdlab will not overwrite it.")
    from dasdlab.emulator.newfile import new_file

    try:
        geo = vol.geometry
        size = DEVHDR_LEN + vol.ntracks * vol.slot
        hdr = DeviceHeader(EYE_CKD, geo.heads, geo.slot_size, geo.devtype_byte, 0, 0)
        written = vol.written.indices()
        work = []
        for f in vol.files:
            first = f.first_cyl * vol.heads
            sel = written[(written >= first) & (written < first + f.tracks.shape[0])] - first
            if sel.size:
                work.append((f.path, f.tracks, sel, used_lengths(f.tracks, sel), first))
        total = int(sum(int(u.sum()) for *_, u, _ in work))
        step = max(total // 200, 1)
        state = {"base": 0, "reported": 0}

        def report(done_here: int) -> None:
            done = state["base"] + done_here
            if progress is not None and (done - state["reported"] >= step or done == total):
                state["reported"] = done
                progress(done, total)

        done = 0
        exists = ImageError("DLB117E", f"{dst} already exists; dasdlab will not overwrite it.")
        # written under a temporary name: a killed copy never leaves a partial image as dst
        with new_file(dst, exists) as tmp, open(tmp, "xb") as out:
            out.write(hdr.pack())
            out.truncate(size)
            for path, tracks, sel, used, first in work:
                with open(path, "rb") as inp:
                    done += _copy_tracks(tracks, inp.fileno(), sel, used, out.fileno(),
                                         first * vol.slot, report)
                state["base"] = done
    finally:
        vol.close()
    return done
