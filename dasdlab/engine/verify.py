"""Verification: DASD plus the committed changes not yet on DASD must equal the truth.

After a clean end (a checkpoint wrote every buffer) DASD alone equals the committed
content.  After a crash the buffers are lost, and DASD lags: the changes logged after
the last checkpoint may or may not have reached it.  Applying those change records in
order (after images are idempotent, ``docs/domain.md`` §3.3) gives the committed content --
which is exactly what IMS's restart or a recovery relies on.  The check compares, per
DBDS and block range, DASD + log-since-last-checkpoint against
:meth:`dasdlab.engine.truth.Truth.content_at` at the last sequence number both the log
and the truth hold (units of work the truth saw but the log never got were not
committed).  Nothing is written: input files stay unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dasdlab.engine.database import ImsDatabase
from dasdlab.engine.errors import ImsError, VerifyError
from dasdlab.engine.log import CHECKPOINT, LogReader, changeset
from dasdlab.engine.recon import Recon
from dasdlab.engine.truth import Truth

CHUNK = 8192


@dataclass
class DbdsResult:
    ddn: str
    blocks: int
    applied: int
    mismatched_blocks: int
    first_mismatch: tuple[int, int] | None  # (block, offset)


@dataclass
class VerifyReport:
    dbd: str
    seq: int
    checkpoint_seq: int
    log_records_applied: int
    results: list[DbdsResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.mismatched_blocks == 0 for r in self.results)


def read_blocks(ds, first: int, count: int) -> np.ndarray:
    """Blocks ``first..first+count-1`` of a formatted data set as DASD holds them."""
    from dasdlab.engine.bufferpool import read_dasd

    return read_dasd(ds, np.arange(first, first + count, dtype=np.int64))


def verify(site, name: str, ddn: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Compare DASD + log with the truth for database ``name`` (one DDN or all)."""
    from dasdlab.engine.kernels import apply_changes

    recon = Recon.of_site(site.path, create=False)
    try:
        db = ImsDatabase.open(site, name, recon)
        db.require_loaded()
        owner = recon.live_owner(db.name)
        if owner is not None:
            raise ImsError("DLB590E", f"database {db.name} is open in {owner['ssid']} (process {owner['pid']}), "
                           "so DASD is changing; verify it after the workload ends.")
    finally:
        recon.close()
    dbds = [db.ddn(ddn)] if ddn else db.dbds
    recon = Recon.of_site(site.path)
    try:
        # every checkpoint RECON knows is on the log (registered after it was written);
        # starting at an older one than the log's last only re-applies after images
        cks = [c["seq"] for c in recon.checkpoints()]
        reader = LogReader(site.path, recon)
        log_tbl = reader.read(since_seq=max(cks, default=0))
        from dasdlab.engine.uow import committed_through

        # units of work: changes after the last COMMIT never committed; backed out below
        committed = committed_through(site, recon, db.name)
        inflight = (changeset(reader.read(since_seq=committed + 1, dbd=db.name, types=(0x50,)))
                    if committed is not None else None)
    finally:
        recon.close()
    truth = Truth(site.path, db.name)
    seqs = log_tbl["seq"].to_numpy().astype(np.int64) if log_tbl.num_rows else np.empty(0, np.int64)
    types = log_tbl["type"].to_numpy() if log_tbl.num_rows else np.empty(0, np.uint8)
    upto = int(seqs.max()) if seqs.size else max(cks, default=0)  # truth entries beyond never committed
    truth_upto = upto if committed is None else min(upto, committed)
    ck = seqs[types == CHECKPOINT]
    ck_seq = int(ck.max()) if ck.size else max(cks, default=0)
    report = VerifyReport(db.name, upto, ck_seq, 0, notes=list(reader.notes))
    import pyarrow.compute as pc

    total = sum(d.nblocks for d in dbds)
    done = 0
    for d in dbds:
        sel = log_tbl.filter(pc.and_(pc.and_(pc.greater(log_tbl["seq"], ck_seq), pc.less_equal(log_tbl["seq"], upto)),
                                     pc.and_(pc.equal(log_tbl["type"], 0x50),
                                             pc.and_(pc.equal(pc.cast(log_tbl["dbd"], "string"), db.name),
                                                     pc.equal(pc.cast(log_tbl["ddn"], "string"), d.ddn))))) \
            if log_tbl.num_rows else log_tbl
        cs = changeset(sel)
        jr = truth.journal(until_seq=truth_upto, ddn=d.ddn)
        ds = d.dataset(writable=False)
        mism = 0
        first = None
        applied = 0
        for a in range(0, d.nblocks, CHUNK):
            n = min(CHUNK, d.nblocks - a)
            img = read_blocks(ds, a, n)
            if len(cs):
                applied += apply_changes(img, a, cs.block, cs.offset, cs.after, cs.start, cs.length)
            if inflight is not None and len(inflight) and d.ddn in inflight.ddn_names:  # newest first
                r = np.flatnonzero(inflight.ddn_code == inflight.ddn_names.index(d.ddn))[::-1]
                apply_changes(img, a, inflight.block[r], inflight.offset[r], inflight.before, inflight.start[r],
                              inflight.length[r])
            want = truth.content_at(d.ddn, seq=truth_upto, first=a, count=n, journal=jr)
            diff = img != want
            if diff.any():
                rows = np.flatnonzero(diff.any(axis=1))
                mism += int(rows.size)
                if first is None:
                    r = int(rows[0])
                    first = (a + r, int(np.flatnonzero(diff[r])[0]))
            done += n
            if progress is not None:
                progress(done, total)
        report.log_records_applied += applied
        report.results.append(DbdsResult(d.ddn, d.nblocks, applied, mism, first))
    report.notes += [n for n in truth.notes if n not in report.notes]
    return report


def check(report: VerifyReport) -> None:
    """Raise :class:`VerifyError` (DLB591E) when the report shows a difference."""
    bad = [r for r in report.results if r.mismatched_blocks]
    if bad:
        r = bad[0]
        raise VerifyError("DLB591E", f"database {report.dbd}: {r.ddn} differs from the committed content in "
                          f"{r.mismatched_blocks} blocks (first at block {r.first_mismatch[0]} offset "
                          f"{r.first_mismatch[1]}) after applying the log since checkpoint seq "
                          f"{report.checkpoint_seq}.")


@dataclass(frozen=True)
class RecoveryCheck:
    """One recovered DBDS as DASD holds it, compared with the committed content at the
    recovery point (the truth; it shares no code with the copy, the log or the restore)."""

    ddn: str
    blocks: int
    mismatched_blocks: int
    first_mismatch: tuple[int, int] | None  # (block, offset)

    @property
    def verified(self) -> bool:
        return self.mismatched_blocks == 0


def check_recovery(site, report) -> list[RecoveryCheck]:
    """Compare every DBDS a :class:`dasdlab.engine.recovery.RecoveryReport` restored with
    the truth: at ``report.to_time`` for a point-in-time recovery, else after the last
    committed update.  Nothing is written."""
    db = ImsDatabase.open(site, report.dbd)
    truth = Truth(site.path, db.name)
    out = []
    try:
        for r in report.results:
            d = db.ddn(r.ddn)
            ds = d.dataset(writable=False)
            jr = truth.journal(until_time=report.to_time, ddn=d.ddn)
            mism, first = 0, None
            for a in range(0, d.nblocks, CHUNK):
                n = min(CHUNK, d.nblocks - a)
                diff = read_blocks(ds, a, n) != truth.content_at(d.ddn, t=report.to_time, first=a, count=n,
                                                                  journal=jr)
                if diff.any():
                    rows = np.flatnonzero(diff.any(axis=1))
                    mism += int(rows.size)
                    if first is None:
                        first = (a + int(rows[0]), int(np.flatnonzero(diff[int(rows[0])])[0]))
            out.append(RecoveryCheck(d.ddn, d.nblocks, mism, first))
    finally:
        truth.close()
    return out
