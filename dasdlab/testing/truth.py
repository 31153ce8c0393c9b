"""The kit's truth: small sites, track patterns and copies taken at the instant.

Every check of :mod:`dasdlab.testing` compares what a service shows with a plain numpy
copy of the source taken at the instant of the point in time, updated by the same host
operations the check makes (the "full-copy model").  This module builds the sites and
patterns those checks use, and compares images.

Patterns run **across track boundaries**: the data of consecutive tracks is one byte
stream (a record's data continues where the previous track's last record ended), so a
track copied to the wrong place, or half of one, shows.  Domains cross cylinder
boundaries and include tracks that were **never written** (they must read as
unformatted in the point-in-time view).  A data-set-level copy relocates each track to
its target address, so relocated images are compared by their records (key and data),
which do not depend on the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt

#: cylinders per kit volume: 4 (60 tracks of a 3390): the label and VTOC on cylinder 0,
#: patterns on cylinders 1 and 2, cylinder 3 never written
CYLINDERS = 4
RECORDS = 3
DATA_LEN = 4000
VOLUMES = ("KSRC01", "KTGT01", "KTGT02")


@dataclass(frozen=True)
class Layout:
    """Where the kit writes, in tracks of one kit volume (derived from its geometry)."""

    heads: int
    ntracks: int

    @property
    def first_data(self) -> int:      # the first track after cylinder 0 (label, VTOC)
        return self.heads

    @property
    def written(self) -> range:       # tracks with a pattern before the point in time
        return range(self.heads, 3 * self.heads)

    @property
    def never_written(self) -> range:
        return range(3 * self.heads, self.ntracks)

    def source_runs(self) -> list[tuple[int, int]]:
        """A data set of two extents: across the boundary of cylinders 1 and 2, and from
        the last patterned tracks into never-written ones."""
        h = self.heads
        return [(h + 5, 2 * h + 4), (3 * h - 5, 3 * h + 5)]

    def target_runs(self) -> list[tuple[int, int]]:
        """One extent on the target at other addresses (the copy is relocated)."""
        n = sum(b - a for a, b in self.source_runs())
        return [(self.heads + 1, self.heads + 1 + n)]


def layout(vol) -> Layout:
    return Layout(vol.heads, vol.ntracks)


def stream_track(vol, t: int, seed: int) -> bytearray:
    """A formatted track whose records continue one byte stream across tracks."""
    cyl, head = vol.cchh(t)
    per_track = RECORDS * DATA_LEN
    rng = np.random.default_rng(seed)
    # one stream per seed; track t takes bytes [t*per_track, (t+1)*per_track) of it
    base = rng.integers(0, 256, 256, dtype=np.uint8)
    idx = (np.arange(per_track, dtype=np.int64) + t * per_track) % 251
    data = base[idx] ^ np.uint8(seed & 0xFF)
    recs = [(r + 1, b"", data[r * DATA_LEN:(r + 1) * DATA_LEN].tobytes()) for r in range(RECORDS)]
    return trackfmt.build_track(cyl, head, recs, vol.slot)


def record_span(img, r: int) -> tuple[int, int]:
    """[start, stop) of the data of record ``r`` (1-based) in a formatted image."""
    for rec in trackfmt.parse_track(bytes(np.asarray(img))):
        if rec.r == r:
            return rec.data_offset, rec.end
    raise ValueError(f"no record {r}")


def view(vol, tracks=None) -> np.ndarray:
    """What the host reads from ``tracks`` of ``vol`` (redirection included), copied."""
    tracks = range(vol.ntracks) if tracks is None else tracks
    return np.stack([np.array(vol.read_track(t)) for t in tracks])


def own(vol, tracks=None) -> np.ndarray:
    """What the volume's own storage holds (never-written tracks as zeros)."""
    tracks = range(vol.ntracks) if tracks is None else tracks
    return np.stack([np.array(vol.own_track(t)) for t in tracks])


def records(img) -> list[tuple[int, bytes, bytes]] | None:
    """(R, key, data) of the user records of a track image; None when unformatted."""
    img = np.asarray(img)
    if not trackfmt.is_formatted(img):
        return None
    b = bytes(img)
    return [(r.r, b[r.key_offset:r.data_offset], b[r.data_offset:r.end])
            for r in trackfmt.parse_track(b)]


def same(got, want, relocated: bool) -> bool:
    """Whether two images are the same track (by records when relocated)."""
    got, want = np.asarray(got), np.asarray(want)
    if not relocated:
        return bool(np.array_equal(got, want))
    return records(got) == records(want)


def new_site(path: Path, subject):
    """A site with the kit's three volumes on the subject's subsystem; the source has
    stream patterns on cylinders 1 and 2."""
    from dasdlab.emulator.geometry import model
    from dasdlab.emulator.site import Site

    site = Site.init(path)
    subject.prepare_site(site)
    family = model("3390-1").name
    for v in VOLUMES:
        site.add_volume(subject.subsystem, v, family, cylinders=CYLINDERS)
    src = site.volume(VOLUMES[0], writable=True)
    for t in layout(src).written:
        src.write_track(t, stream_track(src, t, 1))
    return site
