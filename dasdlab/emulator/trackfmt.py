"""Track image layout: home address, R0, count-key-data records, end-of-track marker.

Byte for byte as Hercules 3.13 writes a track into a ``CKD_P370`` slot
(``docs/ckd-format.md`` §2.2, checked against images made by ``dasdinit``
and ``dasdload``):

* HA, 5 bytes: bin number (0), CC, HH;
* R0: count ``CC HH 00 00 0008`` and 8 zero data bytes;
* records: an 8-byte count ``CC HH R KL DL`` (DL 2 bytes), KL key bytes, DL data bytes,
  packed with no gaps;
* an end-of-file record is a count with KL=0 and DL=0;
* the end of the track is eight bytes of X'FF'; the rest of the slot is zeros.

All multi-byte fields inside a track are big-endian.  A *null track* as ``dasdinit``
writes it is HA + R0 + end-of-track (29 bytes).  A track whose R0 data length is zero
is *unformatted* (a never-written hole of a sparse image reads that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from dasdlab.emulator.geometry import (
    COUNT_LEN,
    EOT_LEN,
    HA_LEN,
    R0_DATA_LEN,
    TRACK_HEADER_LEN,
    decode_cchh,
    encode_cchh,
)
from dasdlab.errors import ImageError

EOT = b"\xff" * EOT_LEN


@dataclass(frozen=True, slots=True)
class Record:
    """Where one record sits in a track image.

    ``offset`` is the offset of its count field; the key starts at ``offset + 8`` and
    the data at ``offset + 8 + keylen``.  ``cyl``/``head`` are those of the count field.
    """

    cyl: int
    head: int
    r: int
    keylen: int
    datalen: int
    offset: int

    @property
    def key_offset(self) -> int:
        return self.offset + COUNT_LEN

    @property
    def data_offset(self) -> int:
        return self.offset + COUNT_LEN + self.keylen

    @property
    def end(self) -> int:
        return self.offset + COUNT_LEN + self.keylen + self.datalen

    @property
    def is_eof(self) -> bool:
        return self.keylen == 0 and self.datalen == 0


def count_field(cyl: int, head: int, r: int, keylen: int, datalen: int) -> bytes:
    return encode_cchh(cyl, head) + bytes((r & 0xFF, keylen & 0xFF, (datalen >> 8) & 0xFF,
                                           datalen & 0xFF))


def track_header(cyl: int, head: int) -> bytes:
    """HA + R0 count + R0 data (21 bytes)."""
    cchh = encode_cchh(cyl, head)
    return b"\x00" + cchh + count_field(cyl, head, 0, 0, R0_DATA_LEN) + bytes(R0_DATA_LEN)


def build_track(
    cyl: int,
    head: int,
    records: Iterable[tuple[int, bytes, bytes]],
    slot_size: int,
) -> bytearray:
    """A full slot image holding ``records`` = (R, key, data) in order."""
    out = bytearray(slot_size)
    pos = 0
    hdr = track_header(cyl, head)
    out[: len(hdr)] = hdr
    pos = len(hdr)
    for r, key, data in records:
        need = COUNT_LEN + len(key) + len(data)
        if pos + need + EOT_LEN > slot_size:
            raise ImageError(
                "DLB121E", f"records do not fit in a {slot_size}-byte track slot at CCHH {cyl},{head}."
            )
        out[pos : pos + COUNT_LEN] = count_field(cyl, head, r, len(key), len(data))
        pos += COUNT_LEN
        out[pos : pos + len(key)] = key
        pos += len(key)
        out[pos : pos + len(data)] = data
        pos += len(data)
    out[pos : pos + EOT_LEN] = EOT
    return out


def null_track(cyl: int, head: int, slot_size: int) -> bytearray:
    """The empty track ``dasdinit`` writes: HA, R0, end-of-track."""
    return build_track(cyl, head, (), slot_size)


def fixed_track(
    cyl: int,
    head: int,
    keylen: int,
    datalen: int,
    nrec: int,
    data: np.ndarray | bytes | None,
    slot_size: int,
    eof: bool = False,
    first_r: int = 1,
    keys: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """A slot image with ``nrec`` equal-size records R=first_r.. and optionally an EOF.

    ``data`` holds ``nrec * datalen`` bytes (zeros when None).  Built with numpy slicing
    so that formatting a large data set costs one vectorised pass per track; with
    ``out`` (a ``slot_size`` buffer, e.g. a row of a run of tracks written at once) the
    image is built there instead of in a new array.
    """
    rec_len = COUNT_LEN + keylen + datalen
    end = TRACK_HEADER_LEN + nrec * rec_len + (COUNT_LEN if eof else 0)
    if end + EOT_LEN > slot_size:
        raise ImageError(
            "DLB121E",
            f"{nrec} records of KL={keylen} DL={datalen} do not fit in a {slot_size}-byte track slot.",
        )
    if out is None:
        out = np.zeros(slot_size, dtype=np.uint8)
    else:
        out[end + EOT_LEN :] = 0
    out[:TRACK_HEADER_LEN] = np.frombuffer(track_header(cyl, head), dtype=np.uint8)
    if nrec:
        body = out[TRACK_HEADER_LEN : TRACK_HEADER_LEN + nrec * rec_len].reshape(nrec, rec_len)
        cchh = np.frombuffer(encode_cchh(cyl, head), dtype=np.uint8)
        body[:, 0:4] = cchh
        body[:, 4] = (np.arange(nrec) + first_r) & 0xFF
        body[:, 5] = keylen
        body[:, 6] = (datalen >> 8) & 0xFF
        body[:, 7] = datalen & 0xFF
        if keys is not None and keylen:
            body[:, COUNT_LEN : COUNT_LEN + keylen] = np.asarray(keys, dtype=np.uint8).reshape(nrec, keylen)
        if data is not None and datalen:
            arr = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
            body[:, COUNT_LEN + keylen :] = np.asarray(arr, dtype=np.uint8).reshape(nrec, datalen)
    pos = TRACK_HEADER_LEN + nrec * rec_len
    if eof:
        out[pos : pos + COUNT_LEN] = np.frombuffer(
            count_field(cyl, head, (nrec + first_r) & 0xFF, 0, 0), dtype=np.uint8
        )
        pos += COUNT_LEN
    out[pos : pos + EOT_LEN] = 0xFF
    return out


def fixed_data_offset(keylen: int, datalen: int, index: int) -> int:
    """Offset of the data of the ``index``-th (0-based) equal-size record on a track."""
    return TRACK_HEADER_LEN + index * (COUNT_LEN + keylen + datalen) + COUNT_LEN + keylen


def is_formatted(img: np.ndarray | bytes | memoryview) -> bool:
    """True when the slot holds a track image (its R0 count carries DL=8)."""
    return img[HA_LEN + 6] == 0 and img[HA_LEN + 7] == R0_DATA_LEN


def parse_track(
    img: np.ndarray | bytes | bytearray | memoryview,
    where: str = "",
    expect: tuple[int, int] | None = None,
) -> list[Record]:
    """The user records (R1 onwards) of a track image, validated.

    Raises :class:`ImageError` ``DLB120E`` when a count field is corrupt: a record that
    runs past the slot, a missing end-of-track marker, or an R0 that is not 8 bytes.
    ``expect`` = (cyl, head) also checks the home address.
    """
    buf = bytes(img) if not isinstance(img, (bytes, bytearray)) else img
    slot = len(buf)
    loc = f" ({where})" if where else ""
    if not is_formatted(buf):
        raise ImageError("DLB122E", f"track is not formatted: no R0 record{loc}.")
    cyl, head = decode_cchh(buf[1:5])
    if expect is not None and (cyl, head) != expect:
        raise ImageError(
            "DLB123E",
            f"home address says CCHH {cyl},{head} but the track is at {expect[0]},{expect[1]}{loc}.",
        )
    records: list[Record] = []
    pos = TRACK_HEADER_LEN
    while True:
        if pos + EOT_LEN > slot:
            raise ImageError("DLB120E", f"no end-of-track marker before the end of the slot{loc}.")
        if buf[pos : pos + EOT_LEN] == EOT:
            return records
        if pos + COUNT_LEN > slot:
            raise ImageError("DLB120E", f"count field at offset {pos} runs past the slot{loc}.")
        c, h = decode_cchh(buf[pos : pos + 4])
        r = buf[pos + 4]
        kl = buf[pos + 5]
        dl = (buf[pos + 6] << 8) | buf[pos + 7]
        end = pos + COUNT_LEN + kl + dl
        if end + EOT_LEN > slot:
            raise ImageError(
                "DLB120E",
                f"corrupt count field at offset {pos}: R{r} KL={kl} DL={dl} runs past the "
                f"{slot}-byte slot{loc}.",
            )
        records.append(Record(c, h, r, kl, dl, pos))
        pos = end


def track_used_bytes(img: np.ndarray | bytes, where: str = "") -> int:
    """Offset just past the end-of-track marker (the used part of the slot)."""
    recs = parse_track(img, where)
    end = recs[-1].end if recs else TRACK_HEADER_LEN
    return end + EOT_LEN


def relocate_track(img: np.ndarray, cyl: int, head: int) -> None:
    """Rewrite the CCHH of the home address and of every count field, in place.

    A data-set-level copy puts a track at another address; the controller gives the
    target track its own address, so the copy's count fields must say where they are.
    """
    cchh = np.frombuffer(encode_cchh(cyl, head), dtype=np.uint8)
    img[1:5] = cchh
    img[HA_LEN : HA_LEN + 4] = cchh
    pos = TRACK_HEADER_LEN
    slot = img.shape[0]
    while pos + EOT_LEN <= slot and not (img[pos : pos + EOT_LEN] == 0xFF).all():
        img[pos : pos + 4] = cchh
        kl = int(img[pos + 5])
        dl = (int(img[pos + 6]) << 8) | int(img[pos + 7])
        pos += COUNT_LEN + kl + dl
