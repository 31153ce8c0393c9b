"""Full-volume copy of an image to a new image file.

Copies the device header and only the byte ranges the source file has data in
(SEEK_DATA/SEEK_HOLE), with ``os.copy_file_range`` so the kernel moves the bytes
without a trip through user space; holes stay holes, so a sparse volume stays sparse
and never-written tracks are never read.  This is what ``cp --sparse=auto`` does, which
is the baseline the benchmark compares against (``limits.md`` A2: kernel copy paths run
at 0.33-0.51x of an in-memory copy on ext4, which has no reflink).

A multi-file source becomes one large (``-lfs``-style) target file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from dasdlab.emulator.geometry import DEVHDR_LEN
from dasdlab.emulator.volume import DeviceHeader, EYE_CKD, Volume, _data_ranges, read_header
from dasdlab.errors import ImageError

CHUNK = 64 * 1024 * 1024


def copy_volume(src: str | os.PathLike, dst: str | os.PathLike,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Copy volume ``src`` to the new file ``dst``; returns bytes of data copied."""
    src, dst = Path(src), Path(dst)
    vol = Volume.open(src)  # validates header, sizes and multi-file structure
    if read_header(src).eyecatcher != EYE_CKD:
        raise ImageError("DLB130E", f"{src} is compressed; use 'dasdlab volume convert' to copy it.")
    if dst.exists():
        raise ImageError("DLB117E", f"{dst} already exists; dasdlab will not overwrite it.")
    files = [(f.path, f.first_cyl * vol.heads * vol.slot, f.cylinders * vol.heads * vol.slot) for f in vol.files]
    geo = vol.geometry
    body = vol.ntracks * vol.slot
    vol.close()
    plan = []
    total = 0
    for path, base, size in files:
        for a, b in _data_ranges(path):
            a = max(a, DEVHDR_LEN)
            b = min(b, DEVHDR_LEN + size)
            if b > a:
                plan.append((path, a, b, base))
                total += b - a
    hdr = DeviceHeader(EYE_CKD, geo.heads, geo.slot_size, geo.devtype_byte, 0, 0)
    done = 0
    try:
        with open(dst, "xb") as out:
            out.write(hdr.pack())
            out.truncate(DEVHDR_LEN + body)
            ofd = out.fileno()
            for path, a, b, base in plan:
                with open(path, "rb") as inp:
                    ifd = inp.fileno()
                    pos = a
                    while pos < b:
                        n = os.copy_file_range(ifd, ofd, min(CHUNK, b - pos), pos, pos + base)
                        if n <= 0:
                            raise ImageError("DLB131E", f"copy of {path} stopped at byte {pos}.")
                        pos += n
                        done += n
                        if progress is not None:
                            progress(done, total)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return done
