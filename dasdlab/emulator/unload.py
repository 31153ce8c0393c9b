"""Loading a PDS from an IEBCOPY unload -- a TSO TRANSMIT (XMIT) file or the unload
itself -- as Hercules ``dasdload`` does with its ``XMIT`` and ``VS`` methods.

Facts from Hercules 3.13 ``dasdload.c`` (``read_xmit_rec``, ``read_vs_rec``,
``process_inmr02``, ``process_copyr1``/``2``, ``calculate_ttr``, ``process_dirblk``,
``update_dirblk``, ``write_block``) and ``dasdblks.h`` (https://github.com/rbowler/spinhawk),
and ``docs/ckd-format.md`` §1; checked against ``dasdload`` loading the same files:

* An XMIT file is a stream of *segments*: a length byte (the 2-byte header included),
  a flag byte (X'80' first segment of a record, X'40' last, X'20' control record), then
  data.  Control records are ``INMR01`` .. ``INMR06`` (EBCDIC) followed by *text units*
  (key, count, then count fields of length + data).  The ``INMR02`` whose text unit
  ``INMUTILN`` (X'1028') names ``IEBCOPY`` gives the PDS's file number and DCB
  (``INMDSORG`` X'003C', ``INMRECFM`` X'0049', ``INMLRECL`` X'0042', ``INMBLKSZ`` X'0030',
  ``INMTYPE`` X'8012' key length, ``INMDIR`` X'000C'); the data records after the
  ``INMR03`` of that file are the unload's logical records; ``INMR06`` ends the file.
* The unload: COPYR1 (56 or 60 bytes: format byte 0 with X'C0' clear -- the old format,
  X'CA6D0F', DSORG, BLKSIZE, LRECL, RECFM, KEYLEN, ..., the original device's cylinders
  and heads at 24 and 26), COPYR2 (276 bytes: the original extents, 16 bytes each from
  offset 16, bytes 6-15 begin CC, begin HH, end CC, end HH, tracks), then data records
  each holding blocks of a 12-byte header (4 reserved, CC HH R KL DL), key and data.
  The raw form (``dasdload`` method ``VS``) is COPYR1 as 56 bytes, COPYR2, then one
  block after the other.
* The blocks are the directory blocks (KL 8, DL 256), a 12-byte all-zero block that
  ends the directory (written as an EOF record), then every member's blocks each
  followed by an EOF block.  Blocks are written in order, a new track begun when one does
  not fit (3390 capacity arithmetic), keys kept.  A block's original relative track
  comes from its CCHH through the COPYR2 extents; every member TTR and user-data TTR in
  the directory (and the TTRs of a load module's note list) is mapped to where that
  block now lies.  DS1LSTAR names the last block written, DS1NOBDB the bytes used in
  the last directory block.

dasdlab also reads the unload as a binary download with a 4-byte record descriptor word
before each logical record (RECFM=VS transferred with its RDWs).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from dasdlab.emulator.vtoc import CODEC
from dasdlab.errors import DatasetError

COPYR1_ID = b"\xca\x6d\x0f"
COPYR1_LEN = 56
COPYR2_LEN = 276
BLOCK_HEADER = 12
DIR_BLOCK_LEN = BLOCK_HEADER + 8 + 256
#: Text unit keys (``dasdblks.h``).
INMDSNAM, INMDIR, INMBLKSZ, INMDSORG, INMLRECL, INMRECFM = 0x0002, 0x000C, 0x0030, 0x003C, 0x0042, 0x0049
INMUTILN, INMTYPE = 0x1028, 0x8012


def _bad(path, text: str) -> DatasetError:
    return DatasetError("DLB837E", f"{path}: {text}; nothing was loaded.")


@dataclass
class Block:
    cyl: int
    head: int
    r: int
    key: bytes
    data: bytes


@dataclass
class Unload:
    """What an unload holds: its form, the PDS's attributes, the original extents and
    heads, and every block after COPYR2 in order."""

    form: str
    dsorg: int
    recfm: int
    lrecl: int
    blksize: int
    keylen: int
    heads: int
    extents: list[tuple[int, int, int, int, int]]
    blocks: list[Block] = field(default_factory=list)
    dsname: str | None = None


# ---------------------------------------------------------------------- reading
def _xmit_records(raw: bytes, path) -> list[tuple[bool, bytes]]:
    """(is_control, logical record) of an XMIT file."""
    out, pos, cur, ctl = [], 0, bytearray(), None
    while pos < len(raw):
        if pos + 2 > len(raw):
            raise _bad(path, f"the XMIT file ends inside a segment header at byte {pos}")
        n, flags = raw[pos], raw[pos + 1]
        if n < 2 or flags & 0x1F:
            raise _bad(path, f"invalid XMIT segment header {raw[pos:pos + 2].hex().upper()} at byte {pos}")
        first = bool(flags & 0x80)
        if first != (ctl is None):
            raise _bad(path, f"XMIT segment at byte {pos}: first-segment flag "
                             f"{'set' if first else 'missing'} where it should not be")
        if ctl is None:
            ctl = bool(flags & 0x20)
        elif ctl != bool(flags & 0x20):
            raise _bad(path, f"XMIT segment at byte {pos}: the control-record flag changes within a record")
        if pos + n > len(raw):
            raise _bad(path, f"the XMIT file ends inside the segment at byte {pos}")
        cur += raw[pos + 2 : pos + n]
        pos += n
        if flags & 0x40:
            out.append((ctl, bytes(cur)))
            cur, ctl = bytearray(), None
    if ctl is not None:
        raise _bad(path, "the XMIT file ends inside a record")
    return out


def _text_units(rec: bytes, start: int, path) -> dict[int, list[bytes]]:
    units, pos = {}, start
    while pos < len(rec):
        if pos + 4 > len(rec):
            raise _bad(path, f"an incomplete text unit in {rec[:6].decode(CODEC, 'replace')}")
        key, num = struct.unpack_from(">HH", rec, pos)
        pos += 4
        fields = []
        for _ in range(num):
            if pos + 2 > len(rec):
                raise _bad(path, "an incomplete text unit field")
            (n,) = struct.unpack_from(">H", rec, pos)
            fields.append(rec[pos + 2 : pos + 2 + n])
            pos += 2 + n
        if pos > len(rec):
            raise _bad(path, "a text unit runs past its record")
        units[key] = fields
    return units


def _int(fields: list[bytes] | None) -> int:
    return int.from_bytes(fields[0], "big") if fields and fields[0] else 0


def _logical_records(raw: bytes, path) -> tuple[str, list[bytes], dict]:
    """(form, the unload's logical records, INMR02 attributes or {})."""
    if len(raw) >= 8 and raw[1] & 0xA0 == 0xA0 and raw[2:8] == "INMR01".encode(CODEC):
        recs, attrs, selected, fileno, data = _xmit_records(raw, path), {}, None, 0, []
        for ctl, rec in recs:
            if ctl:
                name = rec[:6].decode(CODEC, "replace")
                if name == "INMR06":
                    break
                if name == "INMR02":
                    if len(rec) < 10:
                        raise _bad(path, "an INMR02 record is too short")
                    units = _text_units(rec, 10, path)
                    util = units.get(INMUTILN, [b""])[0].decode(CODEC, "replace").strip()
                    if util == "IEBCOPY":
                        selected = int.from_bytes(rec[6:10], "big")
                        attrs = {"dsorg": _int(units.get(INMDSORG)), "recfm": (units.get(INMRECFM) or [b"\0"])[0][:1],
                                 "lrecl": _int(units.get(INMLRECL)), "blksize": _int(units.get(INMBLKSZ)),
                                 "keylen": _int(units.get(INMTYPE)), "dir": _int(units.get(INMDIR)),
                                 "dsname": ".".join(f.decode(CODEC, "replace") for f in units.get(INMDSNAM, []))
                                 or None}
                elif name == "INMR03":
                    fileno += 1
                elif not name.startswith("INMR0"):
                    raise _bad(path, f"control record {name!r} is not an INMRnn record")
                else:
                    _text_units(rec, 6, path)
                continue
            if selected is not None and fileno == selected:
                data.append(rec)
        if selected is None:
            raise _bad(path, "the XMIT file holds no IEBCOPY unload (no INMR02 names IEBCOPY), so it is "
                             "not a transmitted PDS")
        return "XMIT", data, attrs
    if len(raw) >= 4 and raw[1:4] == COPYR1_ID:
        recs = [raw[:COPYR1_LEN], raw[COPYR1_LEN : COPYR1_LEN + COPYR2_LEN]]
        pos = COPYR1_LEN + COPYR2_LEN
        while pos < len(raw):
            if pos + BLOCK_HEADER > len(raw):
                raise _bad(path, f"the unload ends inside a block header at byte {pos}")
            kl, dl = raw[pos + 9], struct.unpack_from(">H", raw, pos + 10)[0]
            end = pos + BLOCK_HEADER + kl + dl
            if end > len(raw):
                raise _bad(path, f"the block at byte {pos} (KL={kl} DL={dl}) runs past the end of the file")
            recs.append(raw[pos:end])
            pos = end
        return "IEBCOPY", recs, {}
    if len(raw) >= 8 and raw[5:8] == COPYR1_ID:
        recs, pos, cur = [], 0, bytearray()
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise _bad(path, f"the file ends inside a record descriptor word at byte {pos}")
            n, seg = struct.unpack_from(">HB", raw, pos)
            if n < 4 or pos + n > len(raw) or seg & 0xFC:
                raise _bad(path, f"invalid record descriptor word {raw[pos:pos + 4].hex().upper()} at byte {pos}")
            cur += raw[pos + 4 : pos + n]
            pos += n
            if seg in (0, 2):  # a whole record, or the last segment of one
                recs.append(bytes(cur))
                cur = bytearray()
        return "IEBCOPY", recs, {}
    raise _bad(path, "not an XMIT file nor an IEBCOPY unload (no INMR01 record, no COPYR1 header "
                     "X'CA6D0F')")


def read_unload(path: str | os.PathLike) -> Unload:
    """Parse an XMIT file or an IEBCOPY unload (either form), or raise DLB837E."""
    path = Path(path)
    raw = path.read_bytes()
    form, recs, attrs = _logical_records(raw, path)
    if len(recs) < 2:
        raise _bad(path, "the unload has no COPYR1 and COPYR2 header records")
    r1, r2 = recs[0], recs[1]
    if len(r1) not in (COPYR1_LEN, COPYR1_LEN + 4) or r1[1:4] != COPYR1_ID:
        raise _bad(path, f"the first unload record ({len(r1)} bytes) is not a COPYR1 header")
    if r1[0] & 0xC0:
        raise _bad(path, "the unload is in IEBCOPY's new (PDSE) format, which dasdload does not read either")
    if len(r2) != COPYR2_LEN:
        raise _bad(path, f"the second unload record is {len(r2)} bytes, not a {COPYR2_LEN}-byte COPYR2")
    next_ = r2[0]
    if not 1 <= next_ <= 16:
        raise _bad(path, f"COPYR2 says {next_} extents (1 to 16 expected)")
    extents = [struct.unpack_from(">HHHHH", r2, 16 + 16 * i + 6) for i in range(next_)]
    dsorg, blksize, lrecl = struct.unpack_from(">HHH", r1, 4)
    u = Unload(form, dsorg, r1[10], lrecl, blksize, r1[11], struct.unpack_from(">H", r1, 26)[0], extents)
    if attrs:
        u.dsorg = attrs["dsorg"] or u.dsorg
        u.recfm = attrs["recfm"][0] if attrs["recfm"] else u.recfm
        u.lrecl, u.blksize, u.keylen = attrs["lrecl"], attrs["blksize"], attrs["keylen"]
        u.dsname = attrs["dsname"]
    if u.heads <= 0:
        raise _bad(path, "COPYR1 gives 0 heads for the original device")
    for rec in recs[2:]:
        pos = 0
        while pos < len(rec):
            if pos + BLOCK_HEADER > len(rec):
                raise _bad(path, "a data record ends inside a block header")
            cyl, head, r, kl, dl = struct.unpack_from(">HHBBH", rec, pos + 4)
            end = pos + BLOCK_HEADER + kl + dl
            if end > len(rec):
                raise _bad(path, f"a block (KL={kl} DL={dl}) runs past its data record")
            u.blocks.append(Block(cyl, head, r, rec[pos + 12 : pos + 12 + kl], rec[pos + 12 + kl : end]))
            pos = end
    return u


# ---------------------------------------------------------------------- loading
def _relative_track(u: Unload, cyl: int, head: int, path) -> int:
    track = 0
    for bc, bh, ec, eh, n in u.extents:
        if bc <= cyl <= ec and not (cyl == bc and head < bh) and not (cyl == ec and head > eh):
            return track + (cyl - bc) * u.heads - bh + head
        track += n
    raise _bad(path, f"block CCHH {cyl},{head} lies in none of the unload's extents")


@dataclass(frozen=True, slots=True)
class LoadResult:
    dsn: str
    members: int
    directory_blocks: int
    tracks: int
    form: str


def load_pds(vol, dsn: str, path: str | os.PathLike, *, unit: str = "TRK", primary: int | None = None,
             secondary: int = 0) -> LoadResult:
    """Allocate ``dsn`` and load the PDS of the unload at ``path`` into it, as dasdload's
    XMIT/VS methods do; every check is made before the volume is changed."""
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.emulator.pds import _set_nobdb, parse_block

    from dasdlab.emulator.vtoc import check_dsn

    dsn = check_dsn(dsn)
    vol.vtoc  # a volume without a VTOC is refused before the file is read
    u = read_unload(path)
    if not u.dsorg & 0x0200:
        raise _bad(path, f"the unloaded data set has DSORG X'{u.dsorg:04X}', not a partitioned one (PO)")
    geo = vol.geometry
    # where every block goes: (relative track, record) as write_block places them
    placed: list[tuple[int, int]] = []
    tt, r, used = 0, 0, 0
    for b in u.blocks:
        need = geo.record_bytes(len(b.key), len(b.data))
        if need > geo.track_length:
            raise _bad(path, f"a block of KL={len(b.key)} DL={len(b.data)} does not fit a "
                             f"{geo.name} track")
        if used + need > geo.track_length and used:
            tt, r, used = tt + 1, 0, 0
        r += 1
        used += need
        placed.append((tt, r))
    ntracks = tt + 1 if u.blocks else 0
    # the directory, and the map from original TTRs to the new ones
    ndir = 0
    while ndir < len(u.blocks) and not (len(u.blocks[ndir].key) == 0 and len(u.blocks[ndir].data) == 0
                                        and (u.blocks[ndir].cyl, u.blocks[ndir].head, u.blocks[ndir].r) == (0, 0, 0)):
        b = u.blocks[ndir]
        if len(b.key) != 8 or len(b.data) != 256:
            raise _bad(path, f"directory block {ndir + 1} is KL={len(b.key)} DL={len(b.data)}, not 8 and 256")
        ndir += 1
    if ndir == len(u.blocks):
        raise _bad(path, "the directory has no end (the 12-byte all-zero block)")
    if ndir == 0:
        raise _bad(path, "the unload has no directory blocks")
    ttr_map = {}
    for b, (ntt, nr) in zip(u.blocks[ndir + 1 :], placed[ndir + 1 :]):
        ttr_map[(_relative_track(u, b.cyl, b.head, path), b.r)] = (ntt, nr)

    def remap(ttr: bytes, member: str) -> bytes:
        key = (int.from_bytes(ttr[:2], "big"), ttr[2])
        if key not in ttr_map:
            raise _bad(path, f"member {member} points at TTR {ttr.hex().upper()}, which holds no block")
        t, rr = ttr_map[key]
        return t.to_bytes(2, "big") + bytes((rr,))

    new_dir, dirblu = [], 0
    notes: dict[tuple[int, int], tuple[str, int]] = {}
    for i, b in enumerate(u.blocks[:ndir]):
        entries, _end = parse_block(b.data, f"{path} directory block {i + 1}")
        data = bytearray(b.data)
        dirblu = (data[0] << 8) | data[1]
        pos = 2
        for m in entries:
            data[pos + 8 : pos + 11] = remap(bytes(data[pos + 8 : pos + 11]), m.name)
            for k in range(m.ttrs):
                at = pos + 12 + 4 * k
                data[at : at + 3] = remap(bytes(data[at : at + 3]), m.name)
            ud = m.userdata
            if not m.alias and m.ttrs >= 2 and ud[7]:
                notes[(int.from_bytes(data[pos + 16 : pos + 18], "big"), data[pos + 18])] = (m.name, ud[7])
            pos += 12 + len(m.userdata)
        new_dir.append(bytes(data))
    blocks = [(b.key, b.data) for b in u.blocks]
    blocks[:ndir] = [(b.key, d) for b, d in zip(u.blocks[:ndir], new_dir)]
    for (ntt, nr), (name, count) in notes.items():
        i = placed.index((ntt, nr))
        key, data = blocks[i]
        data = bytearray(data)
        if len(data) < 4 * count:
            raise _bad(path, f"the note list of member {name} is shorter than its {count} entries")
        for k in range(count):
            data[4 * k : 4 * k + 3] = remap(bytes(data[4 * k : 4 * k + 3]), name)
        blocks[i] = (key, bytes(data))

    per_unit = vol.heads if unit.upper() == "CYL" else 1
    if primary is None:
        primary = -(-ntracks // per_unit)
    if primary * per_unit < ntracks:
        raise _bad(path, f"the PDS needs {ntracks} tracks; the primary space is {primary * per_unit}")
    recfm = _recfm_name(u.recfm)  # the exact RECFM byte is stored after allocation
    vt = vol.vtoc
    entry = vt.allocate(dsn, dsorg="PO", recfm=recfm, lrecl=u.lrecl or 1, blksize=u.blksize or 1,
                        keylen=u.keylen, unit=unit.upper(), primary=primary, secondary=secondary,
                        dir_blocks=ndir)
    ds = Dataset(vol, entry.dsn)
    recs_by_track: dict[int, list] = {}
    for (key, data), (ptt, pr) in zip(blocks, placed):
        recs_by_track.setdefault(ptt, []).append((pr, key, data))
    for ptt, recs in recs_by_track.items():
        vol.format_track(int(ds.tracks[ptt]), recs)
    last_used = sum(geo.record_bytes(len(k), len(d)) for _r, k, d in recs_by_track[tt])
    vt.update_end(entry.dsn, placed[-1], geo.track_balance(last_used))
    f1 = vt.get(entry.dsn).f1
    f1.recfm, f1.dsorg = u.recfm, u.dsorg
    vt._write_dscb(vt.get(entry.dsn).f1_addr, f1.pack())
    _set_nobdb(Dataset(vol, entry.dsn), dirblu)
    nmembers = sum(len(parse_block(d, "")[0]) for d in new_dir)
    return LoadResult(entry.dsn, nmembers, ndir, ntracks, u.form)


def _recfm_name(recfm: int) -> str:
    if recfm & 0xC0 == 0xC0 or not recfm & 0xC0:
        return "U"
    return ("F" if recfm & 0x80 else "V") + ("B" if recfm & 0x10 else "")


__all__ = ["Block", "LoadResult", "Unload", "load_pds", "read_unload"]
