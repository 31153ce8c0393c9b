"""Data set listings in the form of Hercules ``dasdls -info``.

Column layout and the ``%Use`` figure follow what ``dasdls -info`` prints for the same
volume (checked by the interop tests): the used fraction counts DS1LSTAR's relative
track as full tracks and the last track as ``1 - DS1TRBAL / trksz``, where ``trksz`` is
the image's track *slot* size (56,832 for a 3390: dasdls divides by the CIFBLK track
size, not by the R1 capacity), over all allocated tracks, rounded to a whole percent (so
an empty data set whose EOF record leaves more than a slot's worth shows ``-0``, as
dasdls does).

How ``dasdls -info`` names the DSCB fields (Hercules 3.13, found by listing Format-1
DSCBs that hold each value and comparing line by line; the interop tests keep it so):

* DSORG: when the low byte is 0, exactly one of PS (X'40'), DA (X'20'), PO (X'02') in
  the high byte gives its name, none gives two blanks and more than one ``??``; the IS
  (X'80'), CX (X'10') and X'0C' bits of the high byte are not shown.  A low byte of
  X'08' with nothing but the unmovable bit in the high byte is ``VS``; any other low
  byte is ``??``.  The unmovable bit (X'01' of the high byte) appends ``U``: ``PSU``,
  ``POU``, ``DAU``, ``VSU``, and ``  U`` for an IS data set.
* RECFM: F (X'80'), V (X'40'), else U -- RECFM 0 is ``U``; then B (X'10'), S (X'08'),
  T (X'20'); then A (X'04'), M (X'02'), or ``?`` for both.  dasdls aborts with a buffer
  overflow on a name of five characters or more (e.g. X'7E', ``VBST?``).
* LRECL 0 is printed blank.
* Secondary allocation unit from the two high bits of DS1SCALO: X'C0' CYL, X'80' TRK,
  X'40' BLK, 0 ABSTR (with no quantity); the quantity is right-aligned in 8 columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dasdlab.emulator.vtoc import DatasetEntry


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


def dasdls_dsorg(dsorg: int) -> str:
    """DS1DSORG as ``dasdls -info`` shows it (see the module docstring)."""
    high, low = dsorg >> 8, dsorg & 0xFF
    if low == 0:
        names = [n for n, bit in (("PS", 0x40), ("DA", 0x20), ("PO", 0x02)) if high & bit]
        name = "  " if not names else names[0] if len(names) == 1 else "??"
    elif low == 0x08 and high & 0xFE == 0:
        name = "VS"
    else:
        name = "??"
    return name + ("U" if high & 0x01 else "")


def dasdls_recfm(recfm: int) -> str:
    """DS1RECFM as ``dasdls -info`` shows it (see the module docstring)."""
    kind = recfm & 0xC0
    s = "F" if kind == 0x80 else "V" if kind == 0x40 else "U"
    for ch, bit in (("B", 0x10), ("S", 0x08), ("T", 0x20)):
        if recfm & bit:
            s += ch
    s += {0x04: "A", 0x02: "M", 0x06: "?"}.get(recfm & 0x06, "")
    return s


def dasdls_secondary_unit(scalo: int) -> str:
    return {0xC0: "CYL", 0x80: "TRK", 0x40: "BLK", 0x00: "ABSTR"}[scalo & 0xC0]


def entry_of(ds: DatasetEntry, heads: int, trksz: int) -> ListEntry:
    f1 = ds.f1
    tracks = ds.tracks(heads)
    tt, _ = f1.lstar
    used = (tt + 1.0 - f1.trbal / trksz) * 100 / tracks if tracks else 0.0
    return ListEntry(
        dsn=f1.dsn,
        created=f"{f1.created[0] % 100:02d}{f1.created[1]:03d}",
        dsorg=dasdls_dsorg(f1.dsorg),
        recfm=dasdls_recfm(f1.recfm),
        lrecl=f1.lrecl,
        blksize=f1.blksize,
        keylen=f1.keylen,
        tracks=tracks,
        used_pct=used,  # unrounded: dasdls rounds once, with printf's %3.0f
        extents=len(ds.extents),
        secondary_unit=dasdls_secondary_unit(f1.scalo_unit),
        secondary=f1.secondary,
    )


def list_volume(vol) -> list[ListEntry]:
    """One entry per Format-1 DSCB, in VTOC order (as dasdls walks the VTOC)."""
    vt = vol.vtoc
    order = sorted(vt.datasets.values(), key=lambda d: d.f1_addr)
    return [entry_of(d, vol.heads, vol.slot) for d in order]


def format_header() -> str:
    """Column headers over :func:`format_dasdls` lines (``dasdls -info`` prints none):
    creation date as yyddd, DSORG, RECFM, LRECL, BLKSIZE, key length, tracks allocated,
    percent of them used, extents, secondary allocation unit and quantity."""
    return (f"{'DSNAME':<44} {'YYDDD'} {'ORG':<4}{'RECFM':<5}{'LRECL':>6} {'BLKSZ':>5}"
            f" {'KEY':>3} {'TRKS':>5} {'USE':>3} {'EXT':>3} SECONDARY")


def format_dasdls(e: ListEntry) -> str:
    """One line as ``dasdls -info`` prints it."""
    lrecl = str(e.lrecl) if e.lrecl else ""
    secondary = "ABSTR      " if e.secondary_unit == "ABSTR" else f"{e.secondary_unit}{e.secondary:>8}"
    return (f"{e.dsn:<44} {e.created} {e.dsorg:<4}{e.recfm:<5}{lrecl:>6} {e.blksize:>5}"
            f" {e.keylen:>3} {e.tracks:>5} {e.used_pct:>3.0f} {e.extents:>3} {secondary}")
