"""The recovery phase of an outage scenario: a simulated media failure of the copied
data set, then its recovery from the image copy the method made plus the log.

One concept: *the adapter between the scenario and the recovery engine*.  Recovery
itself (restore, then apply change records from the right log position: after the run
point of a clean copy, from the purge time of a fuzzy one; ``domain.md`` §1.5, §3.3,
S25, S29, S31) belongs to :mod:`dasdlab.engine.recovery`, and the failure to
:mod:`dasdlab.engine.damage`.  This module calls them when they are importable and
otherwise runs a minimal recovery of its own with the same rules (the reload or
flash-back priced by the profile, change records applied with
:func:`dasdlab.engine.kernels.apply_changes`), so the scenario runs either way;
:data:`ENGINE` says which one ran.

Modeled time (``domain.md`` §4.2 "Recovery time"): *restore* -- a reload of a
standard-format copy reads the copy and writes the data set sequentially; a Fast
Recovery clone is copied back by fast replication, so its restore costs DFSMSdss
start-up plus an establish (snap, clone activate) whatever the size -- and *apply*,
``profile.log_apply_s(records)``; the stop and start of the database are added.
Measured time is the wall clock of the same steps.

**Verification is ours, not the engine's**: after the recovery the data set as DASD
holds it is compared block by block with :meth:`dasdlab.engine.truth.Truth.content_at`
at the last committed update -- the truth shares no code with the log or the copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dasdlab.engine.timemodel import DeviceProfile

try:  # the recovery engine, when present
    from dasdlab.engine.damage import damage as _engine_damage
    from dasdlab.engine.recovery import recover as _engine_recover
    ENGINE = "dasdlab.engine.recovery"
except ImportError:  # pragma: no cover - exercised only without the recovery engine
    _engine_damage = _engine_recover = None
    ENGINE = "dasdlab.bench.recover (built-in)"


@dataclass
class RecoveryOutcome:
    """What recovering the data set took and whether it came back right."""

    method: str  # reload, flashcopy, snapshot, timefinder
    image_id: int | None
    records: int  # change records applied (emulated)
    restore_modeled_s: float
    apply_modeled_s: float
    modeled_s: float  # stop + restore + apply + start
    measured_s: float
    damaged_blocks: int
    mismatched_blocks: int
    engine: str = ENGINE
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.mismatched_blocks == 0


def fail_and_recover(site, dbd: str, ddn: str, profile: DeviceProfile, seed: int,
                     wall=time.perf_counter) -> RecoveryOutcome:
    """Damage every block of DBDS ``ddn`` of ``dbd`` (no IMS may have it open), recover
    it to the end of the log, and check it against the truth."""
    from dasdlab.engine.database import ImsDatabase

    d = ImsDatabase.open(site, dbd).ddn(ddn)
    n = d.nblocks
    if _engine_recover is not None:
        dmg = _engine_damage(site, dbd, ddn, blocks=n, seed=seed)
        rep = _engine_recover(site, dbd, ddn, profile=profile, restart=True, wall=wall)
        res = rep.results[0]
        out = RecoveryOutcome(
            method=res.method, image_id=res.image_id, records=res.records,
            restore_modeled_s=float(res.modeled.get("restore", rep.modeled.get("restore", 0.0))),
            apply_modeled_s=float(res.modeled.get("apply", rep.modeled.get("apply", 0.0))),
            modeled_s=float(rep.modeled_total), measured_s=float(rep.wall_total),
            damaged_blocks=dmg.count, mismatched_blocks=-1, notes=list(rep.notes) + list(res.notes))
    else:  # pragma: no cover - exercised only without the recovery engine
        damaged = _damage_all(d, seed)
        out = _builtin_recover(site, dbd, d, profile, wall)
        out.damaged_blocks = damaged
    out.mismatched_blocks = mismatched_blocks(site, dbd, ddn)
    return out


def mismatched_blocks(site, dbd: str, ddn: str) -> int:
    """Blocks of the DBDS on DASD that differ from the truth at the last committed update."""
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.truth import Truth
    from dasdlab.engine.verify import read_blocks

    d = ImsDatabase.open(site, dbd).ddn(ddn)
    on_dasd = read_blocks(d.dataset(writable=False), 0, d.nblocks)
    expect = Truth(site.path, dbd).content_at(ddn)
    return int((on_dasd != expect).any(axis=1).sum())


# ---------------------------------------------------------------------- built-in fallback
def _damage_all(d, seed: int) -> int:  # pragma: no cover - see ENGINE
    ds = d.dataset(writable=True)
    rng = np.random.Generator(np.random.PCG64(seed))
    rbn = np.arange(d.nblocks, dtype=np.int64)
    trk, off = ds.locate_many(rbn)
    ds.vol.write_many(trk, off, rng.integers(0, 256, (d.nblocks, d.block_size), dtype=np.uint8))
    ds.vol.flush()
    return d.nblocks


def _builtin_recover(site, dbd: str, d, prof: DeviceProfile, wall) -> RecoveryOutcome:  # pragma: no cover
    from dasdlab.engine.icverify import read_copy
    from dasdlab.engine.kernels import apply_changes
    from dasdlab.engine.log import CHANGE, LogReader, changeset
    from dasdlab.engine.recon import Recon

    recon = Recon.of_site(site.path)
    try:
        images = [i for i in recon.images(dbd, d.ddn)]
        if not images:
            from dasdlab.bench.scenario import ScenarioError

            raise ScenarioError("DLB724E", f"no image copy of {dbd} {d.ddn} is registered; nothing to recover from.")
        img = images[-1]
        fmt = (img["extra"] or {}).get("format", "IMS")
        process = (img["extra"] or {}).get("process", "standard")
        w0 = wall()
        blocks = read_copy(site, img["ic1_dsn"], fmt, d.nblocks).copy()
        ntr = -(-d.nblocks // d.dataset(writable=False).blocks_per_track)
        if fmt == "FR":
            kind = process.split("-")[-1]
            restore = prof.dss_init_s + {"flashcopy": prof.flashcopy_establish_s, "snapshot": prof.snapshot_s,
                                         "timefinder": prof.clone_activate_s}.get(kind, prof.flashcopy_establish_s)
        else:
            kind = "reload"
            restore = max(prof.read_tracks_s(ntr), prof.write_tracks_s(ntr))
        cs = changeset(LogReader(site.path, recon).read(since_seq=int(img["purge_seq"] or 0) + 1, types=(CHANGE,),
                                                        dbd=dbd, ddn=d.ddn))
        if len(cs):
            apply_changes(blocks, 0, cs.block, cs.offset, cs.after, cs.start, cs.length)
        ds = d.dataset(writable=True)
        trk, off = ds.locate_many(np.arange(d.nblocks, dtype=np.int64))
        ds.vol.write_many(trk, off, blocks)
        ds.vol.flush()
        measured = wall() - w0
    finally:
        recon.close()
    apply = prof.log_apply_s(len(cs))
    return RecoveryOutcome(kind, img["id"], len(cs), restore, apply,
                           prof.db_stop_s + restore + apply + prof.db_start_s, measured, 0, -1)
