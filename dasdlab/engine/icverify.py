"""Checking an image copy against the truth.

"A clean copy equals the database at logical completion" (DESIGN.md §3 *Truth*): the
blocks of a clean copy must equal the committed content after the last change
committed before its point in time (the copy's ``run_seq``), which
:meth:`dasdlab.engine.truth.Truth.content_at` rebuilds independently of DASD and the
log.  A fuzzy copy equals nothing in particular -- it may hold some, all or none of the
in-flight changes (S2) -- so for it the check only reports how many blocks differ from
the content at its run time; it is verified through recovery instead.

Reading a copy: standard and compressed copies are decoded from their data set
(:mod:`dasdlab.engine.icformat`); a Fast Recovery clone is read block by block like the
database data set it clones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dasdlab.engine import icformat


@dataclass(frozen=True)
class CopyCheck:
    clean: bool
    blocks: int
    differing: int  # blocks that differ from the truth at the copy's point in time

    @property
    def verified(self) -> bool:
        """True when a clean copy matches exactly (a fuzzy copy is never 'verified' here)."""
        return self.clean and self.differing == 0


def read_copy(site, dsn: str, fmt: str, nblocks: int | None = None) -> np.ndarray:
    """The blocks held by image copy data set ``dsn`` (nblocks x block size)."""
    from dasdlab.emulator.dataset import Dataset

    vol = site.dataset_volume(dsn)
    ds = Dataset(vol, dsn)
    if fmt == "FR":
        n = nblocks if nblocks is not None else ds.capacity_blocks()
        tracks, offs = ds.locate_many(np.arange(n))
        out = np.empty((n, ds.blksize), dtype=np.uint8)
        for i, (t, o) in enumerate(zip(tracks.tolist(), offs.tolist())):
            out[i] = vol.read_track(t)[o : o + ds.blksize]
        return out
    _, blocks = icformat.decode(ds.read(), dsn)
    return blocks


def check_copy(site, truth, ddn: str, blocks: np.ndarray, run_seq: int, clean: bool) -> CopyCheck:
    expect = truth.content_at(ddn, seq=run_seq)
    if expect.shape != blocks.shape:
        return CopyCheck(clean, int(blocks.shape[0]), int(max(blocks.shape[0], expect.shape[0])))
    differing = int((expect != blocks).any(axis=1).sum())
    return CopyCheck(clean, int(blocks.shape[0]), differing)
