"""CKD volumes: Hercules ``CKD_P370`` image files, memory-mapped as tracks x slot.

Facts from ``docs/ckd-format.md`` §2 (Hercules 3.13 ``ckddasd.c``,
``dasdutil.c``): a 512-byte device header (eye-catcher, heads and track slot size
little-endian, device type byte, file sequence, high cylinder), then one fixed slot
per track at ``512 + t * slot``.  Volumes over 2 GB are either one large file (``-lfs``,
file sequence 0) or up to 27 files of at most 2,519 cylinders (3390) each, named
``name_1.ext`` ... ``name_9.ext``, then ``name_A.ext`` ... ``name_R.ext`` for files 10 to
27 (Hercules 3.13 ``ckddasd.c`` and ``dasdutil.c``: the sequence character is ``'0' + n``
up to 9, else ``'A' - 10 + n``).  Like the Hercules utilities, a volume can be opened
by its name without the suffix (``name.ext`` opens ``name_1.ext``).

**Host and storage operations.**  What a host program does to a volume -- write a
track (:meth:`Volume.write_track`, :meth:`Volume.format_track`), update records in
place (:meth:`Volume.write_bytes`, :meth:`Volume.write_many`,
:meth:`Volume.update_record`), discard tracks (:meth:`Volume.discard_track`,
:meth:`Volume.discard_tracks`) -- reaches the subsystem's write path first
(:attr:`Volume.write_hook`), where copy services save point-in-time images and check
that no other process changed their state.  The *storage* operations
:meth:`Volume.store_track` and :meth:`Volume.clear_track` skip it: only the track
copier and the copy services use them, to fill or empty a copy target.

A :class:`Volume` maps each file with ``numpy.memmap``.  Large volumes are sparse:
dasdlab creates them with ``ftruncate`` and writes only the tracks it formats.  The
bitmap :attr:`Volume.written` knows which tracks hold a track image; a never-written
track is a hole in the file and is never read into memory (``docs/limits.md`` A2: reading a
hole through the map costs 10x a copy).  Hercules' own images are dense: every track is
written by ``dasdinit``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.emulator.bitmap import Bitmap
from dasdlab.emulator.geometry import (
    DEVHDR_LEN,
    HA_LEN,
    R0_DATA_LEN,
    DeviceModel,
    model,
    model_for_image,
)
from dasdlab.emulator.trackfmt import Record
from dasdlab.errors import GeometryError, ImageError

EYE_CKD = b"CKD_P370"
EYE_CCKD = b"CKD_C370"
EYE_SHADOW = b"CKD_S370"
EYE_FBA = (b"FBA_C370", b"FBA_S370")
MAX_FILES = 27
_HDR = struct.Struct("<8sIIBBH")  # eye-catcher, heads, trksz, devtype, fileseq, highcyl


@dataclass(frozen=True, slots=True)
class DeviceHeader:
    """The first 512 bytes of every image file (docs/ckd-format.md §2.1)."""

    eyecatcher: bytes
    heads: int
    slot_size: int
    devtype_byte: int
    fileseq: int
    highcyl: int

    def pack(self) -> bytes:
        return _HDR.pack(self.eyecatcher, self.heads, self.slot_size, self.devtype_byte,
                         self.fileseq, self.highcyl).ljust(DEVHDR_LEN, b"\x00")

    @classmethod
    def unpack(cls, raw: bytes, path: Path) -> DeviceHeader:
        if len(raw) < DEVHDR_LEN:
            raise ImageError(
                "DLB110E",
                f"{path} is truncated: {len(raw)} bytes, shorter than the 512-byte device header.",
            )
        eye, heads, trksz, devt, seq, high = _HDR.unpack_from(raw)
        return cls(eye, heads, trksz, devt, seq, high)


def read_header(path: Path) -> DeviceHeader:
    try:
        with open(path, "rb") as f:
            raw = f.read(DEVHDR_LEN)
    except FileNotFoundError:
        raise ImageError("DLB113E", f"volume image {path} does not exist.") from None
    except IsADirectoryError:
        raise ImageError("DLB113E", f"{path} is a directory, not a volume image.") from None
    return DeviceHeader.unpack(raw, path)


def sequence_char(seq: int) -> str:
    """The character that numbers file ``seq`` (1..27): 1-9, then A-R."""
    if not 1 <= seq <= MAX_FILES:
        raise GeometryError("DLB108E", f"file sequence {seq} is outside 1..{MAX_FILES}.")
    return str(seq) if seq <= 9 else chr(ord("A") - 10 + seq)


def sequence_name(first: Path, seq: int) -> Path:
    """Name of file ``seq`` of a multi-file volume, as Hercules derives it.

    The character just before the first '.' of the base name (or the last character
    when there is none) is the sequence character.
    """
    name = first.name
    dot = name.find(".")
    i = (dot if dot > 0 else len(name)) - 1
    return first.with_name(name[:i] + sequence_char(seq) + name[i + 1 :])


def split_name(path: Path, seq: int) -> Path:
    """The name ``dasdinit``/``dasdcopy`` give file ``seq`` of a split volume:
    ``name_1.ext`` ... ``name_9.ext``, ``name_A.ext`` ... ``name_R.ext``."""
    name = path.name
    dot = name.find(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return path.with_name(f"{stem}_{sequence_char(seq)}{ext}")


def first_file(path: Path) -> Path:
    """``path``, or the first file of a split volume named without its suffix
    (``name.ext`` for ``name_1.ext``), as the Hercules utilities look it up."""
    if path.exists() or path.is_symlink():
        return path
    candidate = split_name(path, 1)
    return candidate if candidate.exists() else path


def files_per_split(geo: DeviceModel) -> int:
    """Cylinders per file when a volume is split at 2 GB (2,519 for a 3390)."""
    return (2**31 - DEVHDR_LEN) // (geo.heads * geo.slot_size)


@dataclass
class ImageFile:
    """One file of a volume: which cylinders it holds and its map."""

    path: Path
    first_cyl: int
    cylinders: int
    tracks: np.ndarray  # memmap (cylinders*heads, slot)



_UNFORMATTED_CACHE: dict[int, np.ndarray] = {}


def unformatted(slot: int) -> np.ndarray:
    """A shared read-only all-zero slot: what a never-written track reads as."""
    z = _UNFORMATTED_CACHE.get(slot)
    if z is None:
        z = np.zeros(slot, dtype=np.uint8)
        z.setflags(write=False)
        _UNFORMATTED_CACHE[slot] = z
    return z


class Volume:
    """A CKD volume image, single- or multi-file, memory-mapped.

    Fixed at open: :attr:`geometry`, :attr:`cylinders`, :attr:`ntracks`, :attr:`slot`,
    :attr:`files`, :attr:`read_only`.  Mutable: the track contents and
    :attr:`written`, whose set bits are *the tracks whose slot holds a track image*.

    :attr:`written` is this process's map; the file is shared.  A copy service of
    another process may put tracks onto a volume this process has open (a FlashCopy or
    TimeFinder target).  Its track copier then bumps a word shared by every process,
    :attr:`copies_word`, that the subsystem attaches to the volume.  A read of a track
    that the map calls never written compares that word with the value this process
    last saw.  While it is unchanged, the track's absence is already known (one word
    load and one bit test).  When it moved, the track is looked up in the file once
    (:meth:`refresh_written`) before it is read as never written.
    """

    #: the shared "tracks were copied onto this volume" word (a one-element view of a
    #: shared map), or None outside a site: see :meth:`holds_image`
    copies_word = None
    #: the shared count of this volume's VTOC updates (None outside a site): see
    #: :mod:`dasdlab.emulator.vtoc`
    vtoc_word = None
    _copies_seen = -1
    _holes = b""  # per track, 1: found never written since ``_copies_seen``

    def __init__(self, path: Path, files: list[ImageFile], geometry: DeviceModel,
                 read_only: bool) -> None:
        self.path = path
        self.files = files
        self.geometry = geometry
        self.cylinders = sum(f.cylinders for f in files)
        self.heads = geometry.heads
        self.ntracks = self.cylinders * self.heads
        self.slot = geometry.slot_size
        self.read_only = read_only
        self.written = Bitmap(self.ntracks)
        self._single = files[0].tracks if len(files) == 1 else None
        self._starts = np.array([f.first_cyl * self.heads for f in files], dtype=np.int64)
        self._vtoc = None
        #: The storage subsystem's write path: called with the track numbers (an int64
        #: array) *before* a host write changes them, so copy-before-write intercepts can
        #: save the old contents.  None for a volume outside a subsystem.
        self.write_hook: Callable[[Volume, np.ndarray], None] | None = None
        #: The same write path for one track (an int): saves building an array on the
        #: per-track host write, whose overhead budget is 5 % of a plain write.
        self.write_hook_one: Callable[[Volume, int], None] | None = None
        #: Read redirection of a copy target: returns the image to read for a track, or
        #: None to read the volume's own slot.
        self.read_hook: Callable[[Volume, int], np.ndarray | None] | None = None
        #: The subsystem the volume is attached to, and its serial there (None outside a site).
        self.subsystem = None
        self.volser_hint: str | None = None
        self._scan_written()

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: str | os.PathLike, writable: bool = False) -> Volume:
        """Open an existing image.  CCKD images are opened read-only via :mod:`cckd`."""
        path = first_file(Path(path))
        hdr = read_header(path)
        if hdr.eyecatcher in (EYE_CCKD, EYE_SHADOW):
            from dasdlab.emulator.cckd import CckdVolume  # compressed images

            if writable and hdr.eyecatcher == EYE_SHADOW:
                raise ImageError(
                    "DLB114E",
                    f"{path} is a shadow file; open its base image with a shadow name (sf=).",
                )
            return CckdVolume.open(path, writable=writable)  # type: ignore[return-value]
        if hdr.eyecatcher in EYE_FBA:
            raise ImageError("DLB111E", f"{path} is an FBA image; dasdlab emulates CKD volumes only.")
        if hdr.eyecatcher != EYE_CKD:
            raise ImageError(
                "DLB111E",
                f"{path} is not a Hercules CKD image: eye-catcher {hdr.eyecatcher!r}, "
                f"expected {EYE_CKD.decode()}.",
            )
        geo_family_ok = hdr.heads > 0 and hdr.slot_size > 0
        if not geo_family_ok:
            raise ImageError("DLB112E", f"{path}: header holds {hdr.heads} heads and track size {hdr.slot_size}.")
        paths = [path]
        headers = [hdr]
        if hdr.fileseq not in (0, 1):
            raise ImageError(
                "DLB115E",
                f"{path} is file {hdr.fileseq} of a multi-file volume; open the first file instead.",
            )
        if hdr.fileseq == 1:
            seq = 2
            while True:
                nxt = sequence_name(path, seq)
                if not nxt.exists():
                    raise ImageError(
                        "DLB115E",
                        f"multi-file volume {path}: file {seq} ({nxt.name}) is missing.",
                    )
                h = read_header(nxt)
                if h.eyecatcher != EYE_CKD or h.heads != hdr.heads or h.slot_size != hdr.slot_size \
                        or h.fileseq != seq:
                    raise ImageError(
                        "DLB115E", f"multi-file volume {path}: {nxt.name} does not match the first file."
                    )
                paths.append(nxt)
                headers.append(h)
                if h.highcyl == 0:
                    break
                seq += 1
                if seq > MAX_FILES:
                    raise ImageError("DLB115E", f"multi-file volume {path} has more than 27 files.")
        per_cyl = hdr.heads * hdr.slot_size
        cyl_counts = []
        for p, h in zip(paths, headers):
            size = p.stat().st_size
            body = size - DEVHDR_LEN
            if body <= 0 or body % per_cyl:
                raise ImageError(
                    "DLB112E",
                    f"{p} is {size} bytes, which is not 512 + a whole number of cylinders of "
                    f"{hdr.heads} x {hdr.slot_size} bytes (truncated or not a CKD image).",
                )
            cyl_counts.append(body // per_cyl)
        start = 0
        for i, (h, n) in enumerate(zip(headers, cyl_counts)):
            last = i == len(headers) - 1
            if not last and h.highcyl != start + n - 1:
                raise ImageError(
                    "DLB115E",
                    f"multi-file volume {path}: {paths[i].name} says its last cylinder is "
                    f"{h.highcyl} but it holds cylinders {start}..{start + n - 1}.",
                )
            start += n
        geo = model_for_image(hdr.devtype_byte, hdr.heads, hdr.slot_size, start)
        mode = "r+" if writable else "r"
        if writable:
            for p in paths:
                if not os.access(p, os.W_OK):
                    raise ImageError("DLB116E", f"{p} is not writable.")
        files = []
        start = 0
        for p, n in zip(paths, cyl_counts):
            mm = np.memmap(p, dtype=np.uint8, mode=mode, offset=DEVHDR_LEN,
                           shape=(n * hdr.heads, hdr.slot_size))
            files.append(ImageFile(p, start, n, mm))
            start += n
        return cls(path, files, geo, read_only=not writable)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        model_name: str,
        volser: str,
        cylinders: int | None = None,
        vtoc_tracks: int | None = None,
        split: bool = False,
        owner: str = "DASDLAB",
        null_tracks: bool = False,
    ) -> Volume:
        """Create a new sparse volume with IPL records, VOL1 and an empty VTOC.

        ``split`` writes the multi-file form Hercules uses without ``-lfs``.
        The VTOC starts at cylinder 0 head 1; by default it fills the rest of cylinder 0
        (14 tracks, 700 DSCBs on a 3390).

        ``null_tracks`` writes every track as the empty track ``dasdinit`` writes (home
        address, R0, end of track: 29 bytes at the start of each slot, the rest a hole),
        so that a Hercules guest can format and use the free space.  It costs one file
        system block per track (measured on ext4: 4,108 bytes a track, 65 MiB for a
        3390-1, 196 MiB for a 3390-3, 1.9 GiB for a 3390-27), and every track then counts
        as written; without it a never-written track is a hole that costs nothing.
        """
        from dasdlab.emulator import vtoc as vtoc_mod

        path = Path(path)
        geo = model(model_name)
        cylinders = geo.check_cylinders(cylinders if cylinders is not None else geo.cylinders)
        vol1 = vtoc_mod.check_volser(volser)
        if vtoc_tracks is None:
            vtoc_tracks = geo.heads - 1
        if not 1 <= vtoc_tracks <= min(cylinders * geo.heads - 1, 65535):
            raise GeometryError("DLB107E", f"a VTOC of {vtoc_tracks} tracks does not fit the volume.")
        per_file = files_per_split(geo) if split else cylinders
        nfiles = -(-cylinders // per_file)
        if nfiles > MAX_FILES:
            raise GeometryError("DLB108E", f"{cylinders} cylinders need more than {MAX_FILES} files.")
        paths = [path] if nfiles == 1 else [split_name(path, i + 1) for i in range(nfiles)]
        for p in paths:
            if p.exists():
                raise ImageError("DLB117E", f"{p} already exists; dasdlab will not overwrite it.")
        if not path.parent.exists():
            raise ImageError("DLB113E", f"directory {path.parent} does not exist.")
        start = 0
        created: list[Path] = []
        try:
            for i, p in enumerate(paths):
                n = min(per_file, cylinders - start)
                last = i == nfiles - 1
                hdr = DeviceHeader(EYE_CKD, geo.heads, geo.slot_size, geo.devtype_byte,
                                   0 if nfiles == 1 else i + 1, 0 if last else start + n - 1)
                with open(p, "xb") as f:
                    created.append(p)
                    f.write(hdr.pack())
                    f.truncate(DEVHDR_LEN + n * geo.heads * geo.slot_size)
                    if null_tracks:
                        _write_null_tracks(f.fileno(), start * geo.heads, n * geo.heads, geo)
                start += n
            vol = cls.open(paths[0], writable=True)
            vtoc_mod.initialize(vol, vol1, vtoc_tracks=vtoc_tracks, owner=owner)
            vol.flush()
            return vol
        except BaseException:
            for p in created:
                p.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ written map
    def _scan_written(self) -> None:
        """Build :attr:`written` from the file's data extents and each track's R0.

        SEEK_DATA/SEEK_HOLE lists the allocated byte ranges (15 us for a sparse 4 GiB
        file, docs/limits.md A2); only tracks whose first byte lies in one are looked at, and
        only their R0 count is read.
        """
        for f in self.files:
            first = f.first_cyl * self.heads
            n = f.tracks.shape[0]
            for a, b in _data_ranges(f.path):
                lo = max(a - DEVHDR_LEN, 0)
                hi = b - DEVHDR_LEN
                if hi <= 0:
                    continue
                t0 = -(-lo // self.slot)
                t1 = min((hi - 1) // self.slot + 1, n)
                if t1 <= t0:
                    continue
                r0 = np.asarray(f.tracks[t0:t1, HA_LEN + 6 : HA_LEN + 8])
                fmt = (r0[:, 0] == 0) & (r0[:, 1] == R0_DATA_LEN)
                idx = np.flatnonzero(fmt)
                if idx.size == t1 - t0:
                    self.written.set_range(first + t0, first + t1)
                elif idx.size:
                    self.written.set_many(idx + first + t0)

    def refresh_written(self, tracks) -> np.ndarray:
        """Take into :attr:`written` those of ``tracks`` that another process formatted
        since this one built its map (the file is shared, the bitmap is not); returns
        the tracks found.  Copiers ask before they treat a source track as never
        written.  Holes are skipped with SEEK_DATA, one system call per run of them, so
        a sparse volume costs no page reads."""
        tracks = np.asarray(tracks, dtype=np.int64)
        cand = np.unique(tracks[~self.written.test_many(tracks)]) if tracks.size else tracks
        found = []
        fds = self.__dict__.setdefault("_rfds", {})
        i = 0
        while i < cand.size:
            t = int(cand[i])
            f = self._file_of(t)
            lt = t - f.first_cyl * self.heads
            off = DEVHDR_LEN + lt * self.slot
            fd = fds.get(f.path)
            if fd is None:
                fd = fds[f.path] = os.open(f.path, os.O_RDONLY)
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after off in this file
                data = None
            if data is None or data >= off + self.slot:
                # every candidate before the next data is a hole: skip them at once
                last = f.first_cyl * self.heads + f.tracks.shape[0]
                nxt = last if data is None else f.first_cyl * self.heads + (data - DEVHDR_LEN) // self.slot
                i = max(i + 1, int(np.searchsorted(cand, nxt, side="left")))
                continue
            r0 = f.tracks[lt, HA_LEN + 6:HA_LEN + 8]
            if r0[0] == 0 and r0[1] == R0_DATA_LEN:
                self.written.set(t)
                found.append(t)
            i += 1
        return np.array(found, dtype=np.int64)

    # ------------------------------------------------------------------ track access
    def _loc(self, t: int) -> tuple[np.ndarray, int]:
        if not 0 <= t < self.ntracks:
            raise GeometryError("DLB104E", f"track {t} is outside the volume (0..{self.ntracks - 1}).")
        if self._single is not None:
            return self._single, t
        i = int(np.searchsorted(self._starts, t, side="right")) - 1
        return self.files[i].tracks, t - int(self._starts[i])

    def read_track(self, t: int) -> np.ndarray:
        """Track ``t``'s slot (a view; do not modify).  Never-written tracks read as zeros
        without touching the file.  A copy target may redirect the read (see
        :attr:`read_hook`)."""
        if self.read_hook is not None:
            img = self.read_hook(self, t)
            if img is not None:
                return img
        return self.own_track(t)

    def own_track(self, t: int) -> np.ndarray:
        """Track ``t`` as this volume's storage holds it, without read redirection."""
        if not self.written.test(t):
            w = self.copies_word
            # known never written since the copies word last moved: one load, one index
            if w is None or (w[0] == self._copies_seen and 0 <= t < len(self._holes) and self._holes[t]) \
                    or not self._copied_here(t):
                if not 0 <= t < self.ntracks:
                    self._loc(t)
                return unformatted(self.slot)
        single = self._single
        if single is not None and 0 <= t < self.ntracks:
            # a row of a plain ndarray view: a row of the memmap object itself costs a
            # finalize call per track, more than a sequential pass's copy of the track
            nd = self.__dict__.get("_single_nd")
            if nd is None or nd.base is not single:
                nd = self._single_nd = single.view(np.ndarray)
            return nd[t]
        arr, lt = self._loc(t)
        return arr[lt]

    def holds_image(self, t: int) -> bool:
        """True when track ``t``'s own slot holds a track image (no read redirection),
        counting tracks another process's copier put there after this map was built."""
        if self.written.test(t):
            return True
        w = self.copies_word
        if w is None or (w[0] == self._copies_seen and 0 <= t < len(self._holes) and self._holes[t]):
            return False
        return self._copied_here(t)

    def _copied_here(self, t: int) -> bool:
        """Whether never-written (in this map) track ``t`` was copied onto the volume by
        another process; it is then taken into :attr:`written`."""
        if not 0 <= t < self.ntracks:
            return False
        g = self.copies_word[0]  # read before the file: a later copy moves it again
        holes = self._holes
        if g != self._copies_seen or len(holes) != self.ntracks:
            self._copies_seen = g
            holes = self._holes = bytearray(self.ntracks)  # a byte a track: indexing is cheapest
        elif holes[t]:
            return False
        if self.refresh_written(np.array([t], dtype=np.int64)).size:
            return True
        holes[t] = 1
        return False

    def copies_landed(self, old: int, new: int) -> None:
        """This process's copier moved :attr:`copies_word` from ``old`` to ``new``, with
        :attr:`written` kept up to date itself: what was known to be never written
        still is, unless another process copied in between (then ``old`` was not seen)."""
        if self._copies_seen == old:
            self._copies_seen = new

    def is_written(self, t: int) -> bool:
        """True when track ``t`` holds a track image (for a copy target: when reading it
        gives one, redirection included -- a redirected track is written exactly when its
        point-in-time source is, whatever the target's own slot held before)."""
        if self.read_hook is not None:
            img = self.read_hook(self, t)
            if img is not None:
                return img is not unformatted(self.slot)
        if self.written.test(t):
            return True
        w = self.copies_word  # as in holds_image, inlined: a call frame costs as much
        if w is None or (w[0] == self._copies_seen and 0 <= t < len(self._holes) and self._holes[t]):
            return False
        return self._copied_here(t)

    def reopen_writable(self) -> None:
        """Turn this read-only instance into a writable one in place, so everything that
        holds it (data sets, copy services) sees the same map and the same hooks."""
        if not self.read_only:
            return
        for f in self.files:
            if not os.access(f.path, os.W_OK):
                raise ImageError("DLB116E", f"{f.path} is not writable.")
        for f in self.files:
            f.tracks = np.memmap(f.path, dtype=np.uint8, mode="r+", offset=DEVHDR_LEN,
                                 shape=f.tracks.shape)
        self._single = self.files[0].tracks if len(self.files) == 1 else None
        self.read_only = False

    def _host_write(self, t: int) -> None:
        if self.write_hook is not None:
            sub = self.subsystem
            if sub is not None:
                # the subsystem's generation check, inlined: the per-track write path
                # may cost 5 % of a plain write, and a call frame is a third of that
                w = sub._gen_word
                if w is None or w[0] != sub._seen:
                    sub._sync()
                one = self.write_hook_one  # read after the check: a reload may change it
                if one is not None:
                    one(self, t)
                return
            one = self.write_hook_one
            if one is not None:
                one(self, t)
            else:
                self.write_hook(self, np.array([t], dtype=np.int64))

    def write_track(self, t: int, image: np.ndarray | bytes | bytearray) -> None:
        """Replace track ``t`` with a whole slot image (a host write)."""
        self._check_writable()
        self._host_write(t)
        self.store_track(t, image)

    def store_track(self, t: int, image: np.ndarray | bytes | bytearray) -> None:
        """Put an image into track ``t``'s slot *without* the write path: only copy
        services use this, to fill a target."""
        arr, lt = self._loc(t)
        img = np.frombuffer(image, dtype=np.uint8) if isinstance(image, (bytes, bytearray)) else image
        if img.shape != (self.slot,):
            raise ImageError("DLB121E", f"a track image must be {self.slot} bytes, got {img.shape}.")
        if not self.written.test(t) and len(self.files) == 1:
            # a never-written track is a hole: write() fills it without the page fault per
            # 4 KiB that storing through the map costs (docs/limits.md A2); the shared map sees it
            os.pwrite(self._fd(), np.ascontiguousarray(img), DEVHDR_LEN + lt * self.slot)
        else:
            arr[lt] = img
        self.written.set(t)

    def write_tracks(self, t0: int, images: np.ndarray) -> None:
        """Replace the consecutive tracks ``t0..t0+len(images)-1`` with whole slot images
        (host writes): one write of the whole run when its tracks are all new holes of
        a one-file volume -- a sequential output data set's tracks usually are -- else
        track by track."""
        self._check_writable()
        n = images.shape[0]
        if n == 0:
            return
        if images.shape[1] != self.slot:
            raise ImageError("DLB121E", f"a track image must be {self.slot} bytes, got {images.shape[1:]}.")
        if not 0 <= t0 or t0 + n > self.ntracks:
            self._loc(t0 if t0 < 0 else t0 + n - 1)
        if len(self.files) != 1 or self.written.test_many(np.arange(t0, t0 + n)).any():
            for i in range(n):
                self.write_track(t0 + i, images[i])
            return
        if self.write_hook is not None:
            self.write_hook(self, np.arange(t0, t0 + n, dtype=np.int64))
        os.pwrite(self._fd(), np.ascontiguousarray(images), DEVHDR_LEN + t0 * self.slot)
        self.written.set_range(t0, t0 + n)

    def drop_resident(self) -> None:
        """Give back this process's pages of the volume's map (``MADV_DONTNEED``): a
        shared file map loses nothing -- written pages stay in the page cache and reach
        the file -- and the next access maps them again.  A long sequential pass over a
        large volume calls this so that its resident memory does not grow with it."""
        import mmap

        for f in self.files:
            mm = getattr(f.tracks, "_mmap", None) if f.tracks is not None else None
            if mm is not None and hasattr(mm, "madvise"):
                try:
                    mm.madvise(mmap.MADV_DONTNEED)
                except (OSError, ValueError):
                    pass  # an old kernel or a closed map: resident pages are only memory

    def _fd(self) -> int:
        fd = getattr(self, "_wfd", None)
        if fd is None:
            fd = self._wfd = os.open(self.files[0].path, os.O_RDWR)
        return fd

    def write_bytes(self, t: int, offset: int, data: np.ndarray | bytes) -> None:
        """Overwrite bytes inside an already formatted track (a record update in place)."""
        self._check_writable()
        if not self.is_written(t):
            raise ImageError("DLB124E", f"track {t} is not formatted; format it before updating records.")
        self._host_write(t)
        arr, lt = self._loc(t)
        buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
        if offset < 0 or offset + len(buf) > self.slot:
            raise ImageError("DLB121E", f"update at offset {offset} runs past the track slot.")
        arr[lt, offset : offset + len(buf)] = buf

    def write_many(self, tracks: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> None:
        """A batch of in-place updates: ``data[i]`` goes to ``offsets[i]`` of track
        ``tracks[i]`` (all rows the same length).  One write-path call for the batch."""
        self._check_writable()
        tracks = np.asarray(tracks, dtype=np.int64)
        if tracks.size == 0:
            return
        uniq = np.unique(tracks)
        missing = uniq[~self.written.test_many(uniq)]
        for t in missing.tolist():
            if not self.is_written(t):
                raise ImageError("DLB124E", f"track {t} is not formatted; format it before updating records.")
        if self.write_hook is not None:
            self.write_hook(self, uniq)
        width = data.shape[1]
        if self._single is not None:
            from dasdlab.emulator.kernels import scatter_bytes  # numba, loaded on first batch

            offsets = np.asarray(offsets, dtype=np.int64)
            if (offsets < 0).any() or (offsets + width > self.slot).any() or tracks.min() < 0 \
                    or tracks.max() >= self.ntracks:
                raise ImageError("DLB121E", "a batched update runs outside its track slot.")
            scatter_bytes(self._single.view(np.ndarray), tracks, offsets, np.ascontiguousarray(data))
        else:
            for t, off, row in zip(tracks.tolist(), np.asarray(offsets).tolist(), data):
                arr, lt = self._loc(t)
                arr[lt, off : off + width] = row

    def discard_track(self, t: int) -> None:
        """Return track ``t`` to the never-written state (a host operation: the write path
        sees it first, so a copy-before-write intercept saves the point-in-time image)."""
        self._check_writable()
        self._host_write(t)
        self.clear_track(t)

    def discard_tracks(self, tracks) -> None:
        """:meth:`discard_track` of many tracks, with one write-path call."""
        self._check_writable()
        tracks = np.unique(np.asarray(tracks, dtype=np.int64))
        if tracks.size == 0:
            return
        if self.write_hook is not None:
            self.write_hook(self, tracks)
        for t in tracks.tolist():
            self.clear_track(t)

    def clear_track(self, t: int) -> None:
        """Punch track ``t`` back to a hole *without* the write path (a storage
        operation: only the track copier and copy services use it, on a target)."""
        self._check_writable()
        arr, lt = self._loc(t)
        f = self._file_of(t)
        start = DEVHDR_LEN + lt * self.slot
        _punch_hole(f.path, start, self.slot, arr, lt)
        self.written.clear(t)

    def _file_of(self, t: int) -> ImageFile:
        if self._single is not None:
            return self.files[0]
        i = int(np.searchsorted(self._starts, t, side="right")) - 1
        return self.files[i]

    def _check_writable(self) -> None:
        if self.read_only:
            raise ImageError("DLB116E", f"volume {self.path} is open read-only.")

    # ------------------------------------------------------------------ records
    def track_of(self, cyl: int, head: int) -> int:
        return self.geometry.track_of(cyl, head, self.cylinders)

    def cchh(self, t: int) -> tuple[int, int]:
        return divmod(t, self.heads)

    def records(self, t: int) -> list[Record]:
        """Parsed user records of track ``t`` (empty for a never-written track)."""
        if not self.is_written(t):
            return []
        return trackfmt.parse_track(self.read_track(t), where=f"{self.path.name} track {t}",
                                    expect=None)

    def find_record(self, cyl: int, head: int, r: int) -> Record | None:
        t = self.track_of(cyl, head)
        for rec in self.records(t):
            if rec.r == r:
                return rec
        return None

    def read_record(self, cyl: int, head: int, r: int) -> tuple[bytes, bytes] | None:
        """(key, data) of record R on track (cyl, head), or None when there is none."""
        rec = self.find_record(cyl, head, r)
        if rec is None:
            return None
        img = self.read_track(self.track_of(cyl, head))
        return bytes(img[rec.key_offset : rec.data_offset]), bytes(img[rec.data_offset : rec.end])

    def update_record(self, cyl: int, head: int, r: int, data: bytes, key: bytes | None = None) -> None:
        """Overwrite the data (and key) of an existing record; lengths must match."""
        rec = self.find_record(cyl, head, r)
        t = self.track_of(cyl, head)
        if rec is None:
            raise ImageError("DLB125E", f"no record R{r} on CCHH {cyl},{head} of {self.path.name}.")
        if len(data) != rec.datalen or (key is not None and len(key) != rec.keylen):
            raise ImageError(
                "DLB126E",
                f"record R{r} at CCHH {cyl},{head} is KL={rec.keylen} DL={rec.datalen}; "
                "an update must keep its lengths.",
            )
        if key is not None:
            self.write_bytes(t, rec.key_offset, key)
        self.write_bytes(t, rec.data_offset, data)

    def format_track(self, t: int, records) -> None:
        """Write track ``t`` fresh with ``records`` = iterable of (R, key, data)."""
        cyl, head = self.cchh(t)
        self.write_track(t, trackfmt.build_track(cyl, head, records, self.slot))

    # ------------------------------------------------------------------ VTOC access
    @property
    def vtoc(self):
        """The volume's VTOC (parsed on first use)."""
        if self._vtoc is None:
            from dasdlab.emulator.vtoc import Vtoc

            self._vtoc = Vtoc.read(self)
        return self._vtoc

    def invalidate_vtoc(self) -> None:
        self._vtoc = None

    @property
    def volser(self) -> str:
        from dasdlab.emulator.vtoc import read_vol1

        return read_vol1(self).volser

    # ------------------------------------------------------------------ lifecycle
    def flush(self) -> None:
        if not self.read_only:
            for f in self.files:
                f.tracks.flush()

    def close(self) -> None:
        self.flush()
        fd = getattr(self, "_wfd", None)
        if fd is not None:
            os.close(fd)
            self._wfd = None
        for fd in self.__dict__.pop("_rfds", {}).values():
            os.close(fd)
        for f in self.files:
            mm = getattr(f.tracks, "_mmap", None)
            f.tracks = None  # type: ignore[assignment]
            if mm is not None:
                try:
                    mm.close()
                except (BufferError, ValueError):
                    pass  # still referenced by a view; the GC closes it
        self._single = None

    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Volume({self.path.name}, {self.geometry.name}, {self.cylinders} cyl, "
                f"{self.written.count()}/{self.ntracks} tracks written)")


def _write_null_tracks(fd: int, first: int, count: int, geo: DeviceModel) -> None:
    """Write the used bytes of a null track (HA, R0, end of track) into each of
    ``count`` slots of one file, whose first slot is track ``first``."""
    for i in range(count):
        cyl, head = divmod(first + i, geo.heads)
        os.pwrite(fd, trackfmt.track_header(cyl, head) + trackfmt.EOT, DEVHDR_LEN + i * geo.slot_size)


def _data_ranges(path: Path) -> Iterator[tuple[int, int]]:
    """Allocated byte ranges of a file (SEEK_DATA/SEEK_HOLE), or the whole file."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while pos < size:
            try:
                a = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos
                return
            b = os.lseek(fd, a, os.SEEK_HOLE)
            yield a, b
            pos = b
    except (AttributeError, OSError):
        yield 0, size
    finally:
        os.close(fd)


def _punch_hole(path: Path, offset: int, length: int, arr: np.ndarray, lt: int) -> None:
    """Deallocate whole pages inside [offset, offset+length) and zero the rest."""
    arr[lt] = 0
    page = 4096
    a = -(-offset // page) * page
    b = (offset + length) // page * page
    if b <= a:
        return
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = os.open(path, os.O_RDWR)
        try:
            # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
            libc.fallocate(fd, 0x02 | 0x01, ctypes.c_long(a), ctypes.c_long(b - a))
        finally:
            os.close(fd)
    except OSError:
        pass  # zeros are written already; only the space is not returned
