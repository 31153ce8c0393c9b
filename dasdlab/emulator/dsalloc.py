"""Target data sets of a data-set copy: allocate one like its source, or reuse one.

DFSMSdss ``COPY DATASET`` and ``RESTORE DATASET`` put each data set into a target data
set of the same organisation, record format, block size and size (z/OS DFSMSdss
Storage Administration, "Copying data sets"; ``docs/domain.md`` §2.1 and §2.2 for the
fast-replication case, where the target extents may sit elsewhere on the same
subsystem).  This module owns that step, so that every copy path (fast replication,
Concurrent Copy, standard I/O, restore from a dump) allocates the same way:

* :func:`allocate_like` allocates a new data set with the source's attributes and
  track count on the target volume (in tracks, or in cylinders when the source was
  allocated in cylinders and the count is whole cylinders), and does **not** catalog it;
* :func:`finish_like` copies the end-of-data pointers (DS1LSTAR, DS1TRBAL) of the source
  into the target's Format-1 DSCB once the tracks are there;
* :func:`scratch` deletes a target that a failed copy leaves behind.
"""

from __future__ import annotations

from dasdlab.emulator.vtoc import DSORGS, SCALO_CYL, Format1
from dasdlab.errors import DatasetError


def allocate_like(tgt_vol, new_dsn: str, f1: Format1, ntracks: int, heads: int):
    """Allocate ``new_dsn`` on ``tgt_vol`` like a source with Format-1 ``f1`` and
    ``ntracks`` tracks; returns the new entry.  Nothing changes on error."""
    dsorg = f1.dsorg_name if f1.dsorg_name in DSORGS else "PS"
    lrecl = f1.lrecl or f1.blksize
    cyl = f1.scalo_unit == SCALO_CYL and ntracks % heads == 0
    unit, primary = ("CYL", ntracks // heads) if cyl else ("TRK", ntracks)
    secondary = f1.secondary if cyl or f1.scalo_unit != SCALO_CYL else f1.secondary * heads
    try:
        return tgt_vol.vtoc.allocate(new_dsn, dsorg=dsorg, recfm=f1.recfm_name, lrecl=lrecl,
                                     blksize=f1.blksize, keylen=f1.keylen, unit=unit, primary=primary,
                                     secondary=secondary)
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - attributes our VTOC cannot express
        raise DatasetError("DLB425E", f"{new_dsn} cannot be allocated like its source: {e}") from None


def finish_like(tgt_vol, new_dsn: str, f1: Format1) -> None:
    """Give the target the source's end-of-data pointers."""
    tgt_vol.vtoc.update_end(new_dsn, f1.lstar, f1.trbal)


def scratch(vol, dsn: str) -> None:
    """Delete a data set a failed copy allocated (it was never catalogued)."""
    if dsn in vol.vtoc:
        vol.vtoc.delete(dsn)
