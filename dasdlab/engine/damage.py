"""A simulated media failure: garbage over some blocks of a database's data sets.

Why: recovery (:mod:`dasdlab.engine.recovery`) exists for the day a data set is lost
(``docs/domain.md`` §1.5, S29).  :func:`damage` writes random bytes over the data part of
``N`` blocks (OSAM blocks or ESDS CIs) chosen with a seed, through the data set's
volume -- the subsystem's write path, so copy services see the writes as any host
write (a FlashCopy source copies the old track first, a Concurrent Copy session saves
it in its sidefile).  Track formats (count fields) are left intact: what is lost is
data, as after a failing head rewrote the records.  Nothing is noted in RECON: IMS
learns of a media failure only when it reads the block, so ``db verify`` fails until
the data set is recovered.

The database must not be online in a live process (that process's buffers would hide
the damage, and its writes race ours): DLB670E.  Bad arguments are refused before any
write: DLB671E.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dasdlab.errors import DasdlabError


class DamageError(DasdlabError):
    """A damage request that cannot be carried out."""


@dataclass
class DamageReport:
    dbd: str
    seed: int
    blocks: dict[str, list[int]] = field(default_factory=dict)  # DDN -> damaged block numbers

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.blocks.values())


#: blocks of garbage written per call
PIECE = 1024


def damage(site, name: str, ddn: str | None = None, blocks: int = 1, seed: int = 1) -> DamageReport:
    """Write garbage over ``blocks`` distinct blocks of DBDS ``ddn`` (or spread over
    every DBDS of database ``name``), chosen by ``seed``."""
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.recon import Recon

    recon = Recon.of_site(site.path)
    try:
        db = ImsDatabase.open(site, name, recon)
        db.require_loaded()
        owner = recon.live_owner(db.name)
        if owner is not None:
            raise DamageError("DLB670E", f"database {db.name} is online in {owner['ssid']} (process "
                              f"{owner['pid']}); damage it when no IMS has it open.")
    finally:
        recon.close()
    groups = [db.ddn(ddn)] if ddn else list(db.dbds)
    total = sum(d.nblocks for d in groups)
    if not 1 <= blocks <= total:
        where = groups[0].ddn if ddn else db.name
        raise DamageError("DLB671E", f"--blocks must be between 1 and {total} (the blocks of {where}), "
                          f"got {blocks}.")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=blocks, replace=False))
    first = np.cumsum([0] + [d.nblocks for d in groups])
    rep = DamageReport(db.name, seed)
    for i, d in enumerate(groups):
        mine = picks[(picks >= first[i]) & (picks < first[i + 1])] - first[i]
        if mine.size == 0:
            continue
        ds = d.dataset(writable=True)
        for a in range(0, mine.size, PIECE):  # in pieces: damaging a whole data set needs no copy of it
            part = mine[a : a + PIECE]
            garbage = rng.integers(0, 256, (part.size, d.block_size), dtype=np.uint8)
            trk, off = ds.locate_many(part)
            ds.vol.write_many(trk, off, garbage)
            ds.vol.drop_resident()  # nor pages of the map: they would follow the data set
        ds.vol.flush()
        rep.blocks[d.ddn] = mine.tolist()
    return rep
