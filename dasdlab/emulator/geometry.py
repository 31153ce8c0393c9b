"""Device geometry: the one frozen table of CKD device models.

Every cylinder, head, track, record length and image size in dasdlab is validated
against :data:`MODELS`; nothing else hard-codes a track capacity or a head count.

Sources (see ``docs/domain.md`` §3.1 and ``docs/limits.md`` B1):

* cylinders, heads, R0/R1 capacities, raw track length and the capacity-formula
  factors per model: Hercules ``dasdtab.c`` (table ``ckdtab``), which credits SDI's
  device capacity page; IBM 3390 Reference Summary GX26-4577 for the 3390 formula
  (1,729 cells of 34 bytes, quoted in docs/domain.md S71);
* EAV (3390-A) limits: LasCon "3390 disks" (65,521 to 262,668 cylinders, S72) and IBM
  z/OS 2.3 "Direct access storage devices" (DS8000 up to 1,182,006 cylinders);
* the Hercules track *slot* size: ``docs/ckd-format.md`` §2.1 (HA + R0 + R1 of the maximum
  data length + end-of-track marker, rounded up to 512 bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from dasdlab.errors import GeometryError

#: Bytes in a track image before the first user record: home address (5), the R0
#: count (8) and the R0 data (8).  docs/ckd-format.md §2.2.
HA_LEN = 5
COUNT_LEN = 8
R0_DATA_LEN = 8
TRACK_HEADER_LEN = HA_LEN + COUNT_LEN + R0_DATA_LEN
#: The end-of-track marker: eight bytes of X'FF'.
EOT_LEN = 8
#: Every image file starts with a 512-byte device header.
DEVHDR_LEN = 512
#: Largest cylinder number that fits the 16-bit CC field; beyond it EAV addressing
#: puts the high 12 cylinder bits into the upper bits of HH (CCCCcccH).
MAX_BASE_CYLINDERS = 65520


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """One row of the device table, e.g. the 3390-3.

    ``cylinders`` is the model's standard primary cylinder count; ``max_cylinders``
    bounds what ``--cylinders`` may ask for (the same as ``cylinders`` for fixed
    models, larger for EAV).  ``formula`` and ``f1``..``f6`` are the capacity factors
    of Hercules' ``ckdtab`` (formula 1: 3380 family; formula 2: 3390 family).
    """

    name: str
    devtype: int
    model_byte: int
    cylinders: int
    alt_cylinders: int
    heads: int
    r0_capacity: int
    r1_capacity: int
    track_length: int
    formula: int
    f1: int
    f2: int
    f3: int
    f4: int
    f5: int
    f6: int
    max_cylinders: int
    control_unit: str
    source: str

    # -- derived sizes -----------------------------------------------------------
    @property
    def slot_size(self) -> int:
        """Bytes per track slot in a Hercules image (56,832 for a 3390)."""
        raw = HA_LEN + COUNT_LEN + R0_DATA_LEN + COUNT_LEN + self.r1_capacity + EOT_LEN
        return (raw + 511) // 512 * 512

    @property
    def devtype_byte(self) -> int:
        """The device-type byte of the image header (0x90 for a 3390)."""
        return self.devtype & 0xFF

    @property
    def family(self) -> str:
        return f"{self.devtype:04X}"

    def tracks(self, cylinders: int | None = None) -> int:
        return (self.cylinders if cylinders is None else cylinders) * self.heads

    def image_size(self, cylinders: int | None = None) -> int:
        """Size in bytes of a single-file CKD image of this model."""
        return DEVHDR_LEN + self.tracks(cylinders) * self.slot_size

    def capacity_bytes(self, cylinders: int | None = None) -> int:
        """Usable bytes at full-track blocking (cylinders x heads x R1 capacity)."""
        return self.tracks(cylinders) * self.r1_capacity

    # -- the capacity formula ----------------------------------------------------
    def record_bytes(self, keylen: int, datalen: int) -> int:
        """Track bytes one record occupies, gaps included (Hercules ``capacity_calc``).

        For the 3390 this is ``34 * cells`` with the GX26-4577 cell count: a record
        without a key takes ``10 + 9 + ceil((DL + 6*ceil((DL+6)/232) + 6)/34)`` cells, a
        key adds ``9 + ceil((KL + 6*ceil((KL+6)/232) + 6)/34)``.
        """
        if keylen < 0 or keylen > 255 or datalen < 0:
            raise GeometryError("DLB101E", f"record length KL={keylen} DL={datalen} is not valid.")
        if self.formula == 2:
            f1, f2, f3, f4, f5, f6 = self.f1, self.f2, self.f3, self.f4, self.f5, self.f6
            int1 = (datalen + f6 + f5 * 2 - 1) // (f5 * 2)
            int2 = (keylen + f6 + f5 * 2 - 1) // (f5 * 2)
            fl1 = f1 * f2 + datalen + f6 + f4 * int1
            fl2 = 0 if keylen == 0 else f1 * f3 + keylen + f6 + f4 * int2
        elif self.formula == 1:
            f1, f2, f3 = self.f1, self.f2, self.f3
            fl1 = datalen + f2
            fl2 = 0 if keylen == 0 else keylen + f3
        else:  # pragma: no cover - the table holds formulas 1 and 2 only
            raise GeometryError("DLB102E", f"model {self.name} has no capacity formula.")
        return -(-fl1 // f1) * f1 + -(-fl2 // f1) * f1

    def records_per_track(self, keylen: int, datalen: int) -> int:
        """How many records of this size fit on one track (0 if even one does not)."""
        if datalen > self.r1_capacity:
            return 0
        return self.track_length // self.record_bytes(keylen, datalen)

    def track_balance(self, used: int) -> int:
        """Bytes left on a track after ``used`` bytes of records (DS1TRBAL)."""
        return max(self.track_length - used, 0)

    def max_block(self, keylen: int = 0) -> int:
        """Largest data length that fits on one track with this key length."""
        lo, hi = 0, self.r1_capacity
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.records_per_track(keylen, mid) >= 1:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # -- addressing ----------------------------------------------------------------
    def check_cylinders(self, cylinders: int) -> int:
        if not 1 <= cylinders <= self.max_cylinders:
            raise GeometryError(
                "DLB103E",
                f"{cylinders} cylinders is outside 1..{self.max_cylinders} for a {self.name}.",
            )
        return cylinders

    def track_of(self, cyl: int, head: int, cylinders: int) -> int:
        """Absolute track number of (cyl, head), validated against the volume size."""
        if not (0 <= cyl < cylinders and 0 <= head < self.heads):
            raise GeometryError(
                "DLB104E",
                f"CCHH {cyl},{head} is outside the volume ({cylinders} cylinders x "
                f"{self.heads} heads).",
            )
        return cyl * self.heads + head

    def cchh_of(self, track: int) -> tuple[int, int]:
        return divmod(track, self.heads)


def encode_cchh(cyl: int, head: int) -> bytes:
    """The 4-byte CCHH of a count field or extent, EAV-aware.

    Cylinders above 65,535 use the 28-bit form CCCCcccH: CC holds the low 16 bits and
    the upper 12 bits of HH hold the high cylinder bits (z/OS DFSMS, EAV).
    """
    hh = ((cyl >> 16) << 4) | head if cyl > 0xFFFF else head
    return bytes(((cyl >> 8) & 0xFF, cyl & 0xFF, (hh >> 8) & 0xFF, hh & 0xFF))


def encode_cchh_many(tracks, heads: int):
    """:func:`encode_cchh` of each absolute track (on a device of ``heads`` heads), as
    rows of four uint8."""
    import numpy as np

    tracks = np.asarray(tracks, dtype=np.int64)
    cyl, head = np.divmod(tracks, heads)
    hh = np.where(cyl > 0xFFFF, ((cyl >> 16) << 4) | head, head)
    out = np.empty((tracks.size, 4), dtype=np.uint8)
    out[:, 0] = (cyl >> 8) & 0xFF
    out[:, 1] = cyl & 0xFF
    out[:, 2] = (hh >> 8) & 0xFF
    out[:, 3] = hh & 0xFF
    return out


def decode_cchh(b: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Inverse of :func:`encode_cchh`."""
    cc = (b[0] << 8) | b[1]
    hh = (b[2] << 8) | b[3]
    return cc | ((hh >> 4) << 16), hh & 0xF


def _row(name, devtype, model_byte, cyls, alt, heads, r0, r1, tl, formula, f, max_cyls, cu, src):
    return DeviceModel(name, devtype, model_byte, cyls, alt, heads, r0, r1, tl, formula, *f,
                       max_cylinders=max_cyls, control_unit=cu, source=src)


_F3390 = (34, 19, 9, 6, 116, 6)
_F3380 = (32, 492, 236, 0, 0, 0)
_DASDTAB = "Hercules dasdtab.c ckdtab"
_EAV = "LasCon 3390 disks (EAV 65,521-262,668 cyl); IBM z/OS 2.3 DASD (DS8000 <= 1,182,006 cyl)"

_ROWS = [
    # name        type    mdl   cyls  alt hd  r0     r1     tl     f  factors  max    cu
    _row("3390-1", 0x3390, 0x02, 1113, 1, 15, 57326, 56664, 58786, 2, _F3390, 1113, "3990", _DASDTAB),
    _row("3390-2", 0x3390, 0x06, 2226, 1, 15, 57326, 56664, 58786, 2, _F3390, 2226, "3990", _DASDTAB),
    _row("3390-3", 0x3390, 0x0A, 3339, 1, 15, 57326, 56664, 58786, 2, _F3390, 3339, "3990", _DASDTAB),
    _row("3390-9", 0x3390, 0x0C, 10017, 3, 15, 57326, 56664, 58786, 2, _F3390, 10017, "3990", _DASDTAB),
    _row("3390-27", 0x3390, 0x0C, 32760, 3, 15, 57326, 56664, 58786, 2, _F3390, 32760, "3990", _DASDTAB),
    _row("3390-54", 0x3390, 0x0C, 65520, 3, 15, 57326, 56664, 58786, 2, _F3390, 65520, "3990", _DASDTAB),
    _row("3390-A", 0x3390, 0x0C, 262668, 0, 15, 57326, 56664, 58786, 2, _F3390, 1182006, "3990", _EAV),
    _row("3380-1", 0x3380, 0x02, 885, 1, 15, 47988, 47476, 47968, 1, _F3380, 885, "3880", _DASDTAB),
    _row("3380-A", 0x3380, 0x02, 885, 1, 15, 47988, 47476, 47968, 1, _F3380, 885, "3880", _DASDTAB),
    _row("3380-B", 0x3380, 0x02, 885, 1, 15, 47988, 47476, 47968, 1, _F3380, 885, "3880", _DASDTAB),
    _row("3380-D", 0x3380, 0x06, 885, 1, 15, 47988, 47476, 47968, 1, _F3380, 885, "3880", _DASDTAB),
    _row("3380-J", 0x3380, 0x16, 885, 1, 15, 47988, 47476, 47968, 1, _F3380, 885, "3880", _DASDTAB),
    _row("3380-2", 0x3380, 0x0A, 1770, 2, 15, 47988, 47476, 47968, 1, _F3380, 1770, "3880", _DASDTAB),
    _row("3380-E", 0x3380, 0x0A, 1770, 2, 15, 47988, 47476, 47968, 1, _F3380, 1770, "3880", _DASDTAB),
    _row("3380-3", 0x3380, 0x1E, 2655, 3, 15, 47988, 47476, 47968, 1, _F3380, 2655, "3880", _DASDTAB),
    _row("3380-K", 0x3380, 0x1E, 2655, 3, 15, 47988, 47476, 47968, 1, _F3380, 2655, "3880", _DASDTAB),
]

#: The device table: model name -> row.  Read-only.
MODELS = MappingProxyType({m.name: m for m in _ROWS})

#: Aliases accepted on input, as Hercules accepts them.
ALIASES = MappingProxyType({"3390": "3390-1", "3390-J": "3390-27", "3390-JJ": "3390-54",
                            "3380": "3380-1"})


#: The device that host software assumes when nothing names one (the image copy
#: engine's databases, the outage estimate, the time model's track size): a 3390-3.
DEFAULT_MODEL = "3390-3"


def default_model() -> DeviceModel:
    """The :data:`DEFAULT_MODEL` row."""
    return MODELS[DEFAULT_MODEL]


def half_track_block(m: DeviceModel, keylen: int = 0) -> int:
    """The largest block of which two fit on one track of ``m`` (half-track blocking:
    27,998 bytes on a 3390, 23,476 on a 3380), from the model's capacity formula."""
    lo, hi = 1, m.r1_capacity
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if m.records_per_track(keylen, mid) >= 2:
            lo = mid
        else:
            hi = mid - 1
    return lo


def model(name: str) -> DeviceModel:
    """Look up a model by name or alias (case-insensitive)."""
    key = name.strip().upper()
    key = ALIASES.get(key, key)
    try:
        return MODELS[key]
    except KeyError:
        raise GeometryError(
            "DLB100E", f"unknown device model {name!r}; known models: {', '.join(MODELS)}."
        ) from None


#: The names an image of one of these sizes gets: IBM's model letters (3380-J, -E, -K:
#: 885, 1,770 and 2,655 cylinders), where Hercules' table also has its own numbered
#: aliases of the same geometry (3380-1, -2, -3) and older models of the same size.
IMAGE_NAMES = frozenset({"3380-J", "3380-E", "3380-K"})


def model_for_image(devtype_byte: int, heads: int, slot_size: int, cylinders: int) -> DeviceModel:
    """The table row that matches an image header, or a clear error.

    The model name is not stored in a Hercules image (nor shown by Hercules: ``devlist``
    gives the device type and cylinders), so the smallest standard model of the family
    that holds ``cylinders`` is chosen, by its IBM name where several rows have that size
    (:data:`IMAGE_NAMES`); the name only matters for listings.
    """
    family = [m for m in _ROWS if m.devtype_byte == devtype_byte]
    if not family:
        raise GeometryError(
            "DLB105E", f"device type byte X'{devtype_byte:02X}' is not a CKD model dasdlab knows."
        )
    geo = family[0]
    if heads != geo.heads or slot_size != geo.slot_size:
        raise GeometryError(
            "DLB106E",
            f"header says {heads} heads and {slot_size}-byte tracks, but a {geo.family} has "
            f"{geo.heads} heads and {geo.slot_size}-byte track slots.",
        )
    fits = [m for m in family if not m.name.endswith("-A")
            and cylinders <= m.cylinders + m.alt_cylinders]
    if fits:
        same_size = [m for m in fits if m.cylinders == fits[0].cylinders]
        return next((m for m in same_size if m.name in IMAGE_NAMES), same_size[0])
    eav = [m for m in family if cylinders <= m.max_cylinders]
    if not eav:
        raise GeometryError("DLB103E", f"{cylinders} cylinders is too many for a {geo.family}.")
    return eav[0]


def cells(nbytes: int, cell: int = 34) -> int:
    """Cells of ``cell`` bytes needed for ``nbytes`` (helper for listings)."""
    return math.ceil(nbytes / cell)
