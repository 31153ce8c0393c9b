"""The recovery phase of an outage scenario: a simulated media failure of the copied
data set, then its recovery from the image copy the method made plus the log.

One concept: *the adapter between the scenario and the recovery engine*.  The failure
is :func:`dasdlab.engine.damage.damage` (garbage over every block, through the write
path); recovery is :func:`dasdlab.engine.recovery.recover` -- restore (a reload of a
standard-format copy, or a copy back of a Fast Recovery clone through the copy
services), then the change records from the copy's run point (clean copy) or purge time
(fuzzy copy; ``docs/domain.md`` §1.5, §3.3, S25, S29, S31).  This module turns its report
into the figures the comparison shows (``docs/domain.md`` §4.2 "Recovery time"): modeled
restore and log-apply seconds, the modeled total (with the database's stop and start),
and the measured wall clock.

**Verification is ours, not the engine's**: after the recovery the data set as DASD
holds it is compared block by block with :meth:`dasdlab.engine.truth.Truth.content_at`
after the last committed update -- the truth shares no code with the log or the copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dasdlab.engine.timemodel import DeviceProfile

@dataclass
class RecoveryOutcome:
    """What recovering the data set took and whether it came back right."""

    method: str  # reload, flashcopy, snapshot, timefinder
    image_id: int | None
    records: int  # change records applied (emulated)
    restore_modeled_s: float
    apply_modeled_s: float
    modeled_s: float  # stop + restore + apply + start
    restore_measured_s: float
    apply_measured_s: float
    measured_s: float  # every phase
    damaged_blocks: int
    mismatched_blocks: int
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.mismatched_blocks == 0


def fail_and_recover(site, dbd: str, ddn: str, profile: DeviceProfile, seed: int,
                     wall=time.perf_counter) -> RecoveryOutcome:
    """Damage every block of DBDS ``ddn`` of ``dbd`` (no IMS may have it open), recover
    it to the end of the log, and check it against the truth."""
    from dasdlab.engine.damage import damage
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.recovery import recover

    n = ImsDatabase.open(site, dbd).ddn(ddn).nblocks
    dmg = damage(site, dbd, ddn, blocks=n, seed=seed)
    rep = recover(site, dbd, ddn, profile=profile, restart=True, wall=wall)
    res = rep.results[0]
    return RecoveryOutcome(
        method=res.method, image_id=res.image_id, records=res.records,
        restore_modeled_s=float(res.modeled["restore"]), apply_modeled_s=float(res.modeled["apply"]),
        modeled_s=float(rep.modeled_total), restore_measured_s=float(res.wall["restore"]),
        apply_measured_s=float(res.wall["apply"]), measured_s=float(rep.wall_total),
        damaged_blocks=dmg.count, mismatched_blocks=mismatched_blocks(site, dbd, ddn),
        notes=list(rep.notes) + list(res.notes))


def mismatched_blocks(site, dbd: str, ddn: str, step: int = 2048) -> int:
    """Blocks of the DBDS on DASD that differ from the truth after the last committed
    update, compared range by range."""
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.icverify import differing_blocks
    from dasdlab.engine.truth import Truth
    from dasdlab.engine.verify import read_blocks

    d = ImsDatabase.open(site, dbd).ddn(ddn)
    ds = d.dataset(writable=False)
    from dasdlab.bench.scenario import dropping

    ranges = ((a, read_blocks(ds, a, min(step, d.nblocks - a))) for a in range(0, d.nblocks, step))
    return differing_blocks(Truth(site.path, dbd), ddn, dropping(site, ranges), None)[1]
