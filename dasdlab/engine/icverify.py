"""Checking an image copy against the truth.

"A clean copy equals the database at logical completion" (docs/architecture.md *Truth*): the
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


def copy_ranges(site, dsn: str, fmt: str, nblocks: int | None = None, max_blocks: int = icformat.PIECE_BLOCKS):
    """The blocks held by image copy data set ``dsn`` as ``(first block, blocks)``
    ranges in RBA order, at most ``max_blocks`` at a time (the arrays are reused: copy
    what you keep).  A standard or compressed copy is checked as it is read (its CRC-32
    after the last range, :class:`~dasdlab.engine.icformat.ImageCopyFormatError`)."""
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.engine.bufferpool import read_dasd

    vol = site.dataset_volume(dsn)
    ds = Dataset(vol, dsn)
    if fmt == "FR":
        n = nblocks if nblocks is not None else ds.capacity_blocks()
        for a in range(0, n, max_blocks):
            yield a, read_dasd(ds, np.arange(a, min(a + max_blocks, n), dtype=np.int64))
        return
    yield from icformat.CopyReader(ds, dsn).ranges(max_blocks)


def read_copy(site, dsn: str, fmt: str, nblocks: int | None = None) -> np.ndarray:
    """The blocks held by image copy data set ``dsn`` (nblocks x block size), in one
    array: for small copies and tests; :func:`copy_ranges` never holds the whole copy."""
    parts = [b.copy() for _, b in copy_ranges(site, dsn, fmt, nblocks)]
    if parts:
        return np.concatenate(parts)
    from dasdlab.emulator.dataset import Dataset

    return np.empty((0, Dataset(site.dataset_volume(dsn), dsn).blksize), np.uint8)


def differing_blocks(truth, ddn: str, ranges, seq: int | None, changes=None) -> tuple[int, int]:
    """(blocks seen, blocks that differ) of ``(first, blocks)`` ranges against the
    truth after sequence number ``seq``, range by range; ``changes`` (a change set of
    :func:`dasdlab.engine.log.changeset`) is applied to each range first.  Blocks
    missing from or beyond the data set group count as differing."""
    from dasdlab.engine.kernels import apply_changes

    nblocks = int(truth.meta["groups"][truth.group_index(ddn)]["nblocks"])
    journal = truth.journal(until_seq=seq, ddn=ddn)
    seen = differing = 0
    for first, blocks in ranges:
        k = blocks.shape[0]
        if changes is not None and len(changes):
            blocks = np.array(blocks)
            apply_changes(blocks, first, changes.block, changes.offset, changes.after, changes.start, changes.length)
        inside = max(0, min(k, nblocks - first))
        if inside:
            want = truth.content_at(ddn, first=first, count=inside, journal=journal)
            differing += int((want != blocks[:inside]).any(axis=1).sum())
        differing += k - inside
        seen += k
    differing += max(0, nblocks - seen)
    return seen, differing


def check_copy(site, truth, ddn: str, blocks, run_seq: int, clean: bool) -> CopyCheck:
    """Compare a copy with the truth at ``run_seq``: ``blocks`` is the whole copy as one
    array, or an iterable of ``(first, blocks)`` ranges (:func:`copy_ranges`)."""
    ranges = [(0, blocks)] if isinstance(blocks, np.ndarray) else blocks
    seen, differing = differing_blocks(truth, ddn, ranges, run_seq)
    return CopyCheck(clean, seen, differing)


@dataclass(frozen=True)
class OutputCheck:
    """One output data set of an image copy run checked against the truth."""

    dsn: str
    copy: int  # 1 = IC1, 2 = IC2
    clean: bool
    blocks: int
    differing: int
    point_seq: int | None  # the truth's sequence point the copy was compared with (clean)
    point_time: float | None  # ... or the modeled time (fuzzy: copy plus log to its end)

    @property
    def verified(self) -> bool:
        return self.differing == 0


def verify_report(site, rep) -> list[OutputCheck]:
    """Check every output of a finished copy (a :class:`dasdlab.engine.hpic.CopyReport`)
    against the truth: a clean copy must equal the committed content at its point in
    time; a fuzzy copy, with the change records from its purge point to its end applied
    (after images are idempotent), must equal the committed content at its end."""
    from dasdlab.engine.kernels import apply_changes
    from dasdlab.engine.log import CHANGE, LogReader, changeset
    from dasdlab.engine.recon import FUZZY_TYPES, Recon
    from dasdlab.engine.truth import Truth

    if rep.status != "ok" or not rep.outputs:
        return []
    clean = rep.recon_type not in FUZZY_TYPES
    truth = Truth(site.path, rep.dbd)
    out = []
    try:
        for o in rep.outputs:
            blocks = read_copy(site, o["dsn"], o["format"], rep.blocks)
            if clean:
                chk = check_copy(site, truth, rep.ddn, blocks, rep.run_seq, clean=True)
                out.append(OutputCheck(o["dsn"], int(o["copy"]), True, chk.blocks, chk.differing, rep.run_seq, None))
                continue
            recon = Recon.of_site(site.path)
            try:
                img = next((i for i in recon.images(rep.dbd, rep.ddn) if i["id"] == rep.image_id), None)
                since = int(img["purge_seq"] or 0) + 1 if img is not None else 1  # DBRC=N: the whole log
                from dasdlab.engine.uow import first_needed

                since = first_needed(site, recon, rep.dbd, since)
                end = float(img["stop_time"]) if img is not None and img["stop_time"] is not None else rep.physical
                cs = changeset(LogReader(site.path, recon).read(since_seq=since, until_time=end, types=(CHANGE,),
                                                                dbd=rep.dbd, ddn=rep.ddn))
                from dasdlab.engine.uow import committed_through

                upto = committed_through(site, recon, rep.dbd, end)  # the last change committed by then
            finally:
                recon.close()
            blocks = blocks.copy()
            if len(cs):
                apply_changes(blocks, 0, cs.block, cs.offset, cs.after, cs.start, cs.length)
                if upto is not None:  # a unit of work in flight then: backed out, newest first
                    r = np.flatnonzero(cs.seq > upto)[::-1]
                    apply_changes(blocks, 0, cs.block[r], cs.offset[r], cs.before, cs.start[r], cs.length[r])
            expect = truth.content_at(rep.ddn, t=end)
            differing = (int((expect != blocks).any(axis=1).sum()) if expect.shape == blocks.shape
                         else int(max(blocks.shape[0], expect.shape[0])))
            out.append(OutputCheck(o["dsn"], int(o["copy"]), False, int(blocks.shape[0]), differing, None, end))
    finally:
        truth.close()
    return out
