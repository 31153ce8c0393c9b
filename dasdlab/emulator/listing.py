"""Data set listings in the form of Hercules ``dasdls -info``.

Column layout and the ``%Use`` figure follow what ``dasdls -info`` prints for the same
volume (checked by the interop tests): the used fraction counts DS1LSTAR's relative
track as full tracks and the last track as ``1 - DS1TRBAL / trksz``, where ``trksz`` is
the image's track *slot* size (56,832 for a 3390: dasdls divides by the CIFBLK track
size, not by the R1 capacity), over all allocated tracks, rounded to a whole percent (so
an empty data set whose EOF record leaves more than a slot's worth shows ``-0``, as
dasdls does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dasdlab.emulator.vtoc import SCALO_CYL, DatasetEntry


@dataclass(frozen=True, slots=True)
class ListEntry:
    dsn: str
    created: str
    dsorg: str
    recfm: str
    lrecl: int
    blksize: int
    keylen: int
    tracks: int
    used_pct: float
    extents: int
    secondary_unit: str
    secondary: int

    def as_json(self) -> dict:
        d = asdict(self)
        d["used_pct"] = round(self.used_pct, 1)
        return {k: d[k] for k in ("dsn", "dsorg", "recfm", "lrecl", "blksize", "keylen", "tracks",
                                  "extents", "created", "used_pct", "secondary_unit", "secondary")}


def entry_of(ds: DatasetEntry, heads: int, trksz: int) -> ListEntry:
    f1 = ds.f1
    tracks = ds.tracks(heads)
    tt, _ = f1.lstar
    used = (tt + 1.0 - f1.trbal / trksz) * 100 / tracks if tracks else 0.0
    return ListEntry(
        dsn=f1.dsn,
        created=f"{f1.created[0] % 100:02d}{f1.created[1]:03d}",
        dsorg=f1.dsorg_name,
        recfm=f1.recfm_name,
        lrecl=f1.lrecl,
        blksize=f1.blksize,
        keylen=f1.keylen,
        tracks=tracks,
        used_pct=used,  # unrounded: dasdls rounds once, with printf's %3.0f
        extents=len(ds.extents),
        secondary_unit="CYL" if f1.scalo_unit == SCALO_CYL else "TRK",
        secondary=f1.secondary,
    )


def list_volume(vol) -> list[ListEntry]:
    """One entry per Format-1 DSCB, in VTOC order (as dasdls walks the VTOC)."""
    vt = vol.vtoc
    order = sorted(vt.datasets.values(), key=lambda d: d.f1_addr)
    return [entry_of(d, vol.heads, vol.slot) for d in order]


def format_dasdls(e: ListEntry) -> str:
    """One line as ``dasdls -info`` prints it."""
    return (f"{e.dsn:<44} {e.created} {e.dsorg:<4}{e.recfm:<5}{e.lrecl:>6} {e.blksize:>5}"
            f" {e.keylen:>3} {e.tracks:>5} {e.used_pct:>3.0f} {e.extents:>3} {e.secondary_unit}"
            f" {e.secondary:>7}")
