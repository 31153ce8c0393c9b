"""Fixtures and helpers for the copy-service tests: a DS8000-like site with small
volumes, track patterns, and "what a volume reads as" snapshots to compare against."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator import trackfmt

CYL = 4  # 60 tracks per volume: small enough to compare every track after every step


def pattern_track(vol, t: int, seed: int, nrec: int = 3, dl: int = 4000) -> bytearray:
    """A formatted track whose records hold bytes derived from (track, seed)."""
    cyl, head = vol.cchh(t)
    rng = np.random.default_rng([t, seed])
    recs = [(r + 1, b"", rng.integers(0, 256, dl, dtype=np.uint8).tobytes()) for r in range(nrec)]
    return trackfmt.build_track(cyl, head, recs, vol.slot)


def view(vol, tracks=None) -> np.ndarray:
    """What the host reads from every track of ``vol`` (redirection included), copied."""
    tracks = range(vol.ntracks) if tracks is None else tracks
    return np.stack([np.array(vol.read_track(t)) for t in tracks])


def own(vol) -> np.ndarray:
    """What the volume's own storage holds (never-written tracks as zeros)."""
    return np.stack([np.array(vol.own_track(t)) for t in range(vol.ntracks)])


def records(img) -> list[tuple[int, bytes, bytes]]:
    """(R, key, data) of the user records of a track image; [] when unformatted.
    Independent of the track's address, so relocated copies compare equal."""
    img = np.asarray(img)
    if not trackfmt.is_formatted(img):
        return []
    b = bytes(img)
    return [(r.r, b[r.key_offset:r.data_offset], b[r.data_offset:r.end])
            for r in trackfmt.parse_track(b)]


def make_site(path, volumes=("SRC001", "TGT001", "TGT002"), cylinders: int = CYL):
    from dasdlab.emulator.site import Site

    site = Site.init(path)
    for v in volumes:
        site.add_volume("DS8K1", v, "3390-1", cylinders=cylinders)
    return site


@pytest.fixture
def fcsite(tmp_path):
    """A site whose DS8K1 has SRC001, TGT001 and TGT002 (60 tracks each); SRC001 has
    patterns on tracks 1..39 (track 0 holds the VOL1 label, 40.. are never written)."""
    site = make_site(tmp_path / "site")
    src = site.volume("SRC001", writable=True)
    for t in range(15, 40):
        src.write_track(t, pattern_track(src, t, 1))
    yield site
    site.close()


@pytest.fixture
def fc(fcsite):
    return fcsite.subsystem("DS8K1").service("flashcopy")
