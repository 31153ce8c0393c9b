"""Partitioned data sets (PDS): the directory and its members.

Layout (IBM *DFSMS Using Data Sets*, "Partitioned data set directory"; checked against
PDSs that Hercules 3.13 ``dasdload`` builds and that ``dasdpdsu`` and ``dasdcat`` read):

* The directory is the first blocks of the data set, from relative track 0 record 1:
  blocks with an 8-byte key and 256 bytes of data, followed by an EOF record.  A
  3390 track holds 45 of them.
* Each block's data starts with a 2-byte count of the bytes used in it (the count
  included), then entries: member name (8 bytes, EBCDIC, blank-padded), TTR (3 bytes:
  relative track and record of the member's first block), a flag byte C (X'80' alias,
  X'60' number of TTRs in the user data, X'1F' number of user-data halfwords), and
  ``2 * (C & X'1F')`` bytes of user data (ISPF statistics, load module attributes...).
* Entries are sorted by name over all blocks; the last one is the end marker, name
  X'FF' x 8 (12 bytes with its zero TTR and C).  A block's key is the name of its last
  entry, X'FF' x 8 for the block holding the end marker.  Blocks after it are unused:
  ``dasdload`` (method ``EMPTY``) writes them with zero keys and zero data, and dasdlab
  does the same.
* A member is its blocks from its TTR to the next EOF record, across tracks.  New
  members go after the last one (DS1LSTAR names the EOF record that ends the data set);
  replacing or deleting a member only changes the directory and leaves its old blocks
  as dead space, as on z/OS (compressing a PDS is not offered).

``dasdload`` stores in DS1NOBDB (F1 byte 60) the bytes used in the last directory block
for an empty PDS (14); dasdlab keeps it so after every directory update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from dasdlab.emulator.dataset import (
    DSORG_PO,
    Dataset,
    ascii_line,
    deblock,
    parse_record_file,
    rdw_record,
    record_kind,
    text_records,
)
from dasdlab.emulator.vtoc import CODEC
from dasdlab.errors import DatasetError

DIR_KEYLEN = 8
DIR_DATALEN = 256
END_NAME = b"\xff" * 8
END_ENTRY = END_NAME + bytes(4)
_NAME_RE = re.compile(r"^[A-Z@#$][A-Z0-9@#$]{0,7}$")


def check_member_name(name: str) -> str:
    n = name.upper()
    if not _NAME_RE.match(n):
        raise DatasetError(
            "DLB270E",
            f"member name {name!r} is not valid: 1 to 8 characters, A-Z, 0-9, @ # $, "
            "not starting with a digit.",
        )
    return n


def _name_bytes(name: str) -> bytes:
    return name.encode(CODEC).ljust(8, b"\x40")


@dataclass(frozen=True, slots=True)
class Member:
    """One directory entry."""

    name: str
    ttr: tuple[int, int]  # (relative track, record)
    alias: bool
    userdata: bytes
    ttrs: int = 0  # TTRs in the user data (bits X'60' of C)

    def pack(self) -> bytes:
        c = (0x80 if self.alias else 0) | ((self.ttrs & 3) << 5) | (len(self.userdata) // 2)
        tt, r = self.ttr
        return _name_bytes(self.name) + tt.to_bytes(2, "big") + bytes((r, c)) + self.userdata

    def as_json(self) -> dict:
        return {"name": self.name, "ttr": f"{self.ttr[0]:04X}{self.ttr[1]:02X}",
                "alias": self.alias, "userdata": self.userdata.hex().upper()}


def parse_block(data: bytes, where: str) -> tuple[list[Member], bool]:
    """The entries of one directory block, and whether it holds the end marker."""
    used = (data[0] << 8) | data[1]
    if used == 0:
        return [], False  # an unused block (dasdload EMPTY)
    if not 2 <= used <= DIR_DATALEN:
        raise DatasetError("DLB271E", f"{where}: the directory block says {used} bytes used.")
    out, pos = [], 2
    while pos < used:
        if pos + 12 > used:
            raise DatasetError("DLB271E", f"{where}: a directory entry at offset {pos} is cut off.")
        raw_name = data[pos : pos + 8]
        if raw_name == END_NAME:
            return out, True
        c = data[pos + 11]
        n_user = 2 * (c & 0x1F)
        end = pos + 12 + n_user
        if end > used:
            raise DatasetError("DLB271E", f"{where}: the entry at offset {pos} runs past the used bytes.")
        out.append(Member(
            name=raw_name.decode(CODEC).rstrip(" "),
            ttr=((data[pos + 8] << 8) | data[pos + 9], data[pos + 10]),
            alias=bool(c & 0x80),
            userdata=bytes(data[pos + 12 : end]),
            ttrs=(c >> 5) & 3,
        ))
        pos = end
    return out, False


def build_blocks(members: list[Member], nblocks: int, dsn: str) -> tuple[list[tuple[bytes, bytes]], int]:
    """``nblocks`` directory blocks (key, data) holding ``members`` sorted, and the bytes
    used in the block with the end marker; raises DLB272E when they do not fit."""
    entries = [m.pack() for m in sorted(members, key=lambda m: _name_bytes(m.name))] + [END_ENTRY]
    blocks: list[tuple[bytes, bytes]] = []
    cur, last_name = b"", b""
    for ent in entries:
        if 2 + len(cur) + len(ent) > DIR_DATALEN:
            blocks.append((last_name, cur))
            cur = b""
        cur += ent
        last_name = ent[:8]
    blocks.append((END_NAME, cur))
    if len(blocks) > nblocks:
        raise DatasetError(
            "DLB272E",
            f"the directory of {dsn} is full: {len(members)} members need {len(blocks)} "
            f"directory blocks, it has {nblocks}.",
        )
    out = [(key, (len(d) + 2).to_bytes(2, "big") + d.ljust(DIR_DATALEN - 2, b"\x00")) for key, d in blocks]
    last_used = len(blocks[-1][1]) + 2
    out += [(bytes(DIR_KEYLEN), bytes(DIR_DATALEN))] * (nblocks - len(blocks))
    return out, last_used


def check_directory_fits(vol, nblocks: int, tracks: int) -> None:
    """Raise DLB274E unless ``nblocks`` directory blocks and the EOF after them fit in
    ``tracks`` tracks (checked before a PDS is allocated)."""
    per = vol.geometry.records_per_track(DIR_KEYLEN, DIR_DATALEN)
    if nblocks < 1:
        raise DatasetError("DLB274E", "a PDS needs at least one directory block (--dir-blocks).")
    need = nblocks // per + 1
    if need > tracks:
        raise DatasetError(
            "DLB274E",
            f"{nblocks} directory blocks need {need} tracks ({per} per track, the EOF record "
            f"after them included); the primary space is {tracks}.",
        )


def initialize_directory(vol, dsn: str, nblocks: int) -> None:
    """Write an empty directory of ``nblocks`` blocks and the EOF record after it into a
    newly allocated PO data set (what ``dasdload`` writes for ``EMPTY ... PO``)."""
    ds = Dataset(vol, dsn)
    if not ds.f1.dsorg & DSORG_PO:
        raise DatasetError("DLB273E", f"{ds.dsn} is not a partitioned data set (DSORG=PO).")
    check_directory_fits(vol, nblocks, ds.ntracks)
    blocks, used = build_blocks([], nblocks, ds.dsn)
    _write_directory(ds, blocks, fresh=True)
    _set_nobdb(ds, used)


def _write_directory(ds: Dataset, blocks: list[tuple[bytes, bytes]], fresh: bool) -> None:
    """Write the directory blocks: in place (same lengths) over an existing directory,
    or as whole tracks followed by the EOF record for a new one."""
    vol = ds.vol
    geo = vol.geometry
    per = geo.records_per_track(DIR_KEYLEN, DIR_DATALEN)
    if fresh:
        ntr = -(-len(blocks) // per)
        for tt in range(ntr):
            chunk = blocks[tt * per : (tt + 1) * per]
            recs = [(i + 1, k, d) for i, (k, d) in enumerate(chunk)]
            if tt == ntr - 1 and len(chunk) < per:
                recs.append((len(recs) + 1, b"", b""))
            vol.format_track(ds.absolute_track(tt), recs)
        on_last = len(blocks) % per
        if on_last == 0:  # a full last track: the EOF record starts the next one
            vol.format_track(ds.absolute_track(ntr), [(1, b"", b"")])
            eof = (ntr, 1)
        else:
            eof = (ntr - 1, on_last + 1)
        used = on_last * geo.record_bytes(DIR_KEYLEN, DIR_DATALEN) + geo.record_bytes(0, 0)
        vol.vtoc.update_end(ds.dsn, eof, geo.track_balance(used))
        ds.entry = vol.vtoc.get(ds.dsn)
        return
    for i, (key, data) in enumerate(blocks):
        tt, r = divmod(i, per)
        cyl, head = divmod(ds.absolute_track(tt), vol.heads)
        vol.update_record(cyl, head, r + 1, data, key=key)


def _set_nobdb(ds: Dataset, used: int) -> None:
    vt = ds.vol.vtoc
    entry = vt.get(ds.dsn)
    entry.f1.nobdb = used
    vt._write_dscb(entry.f1_addr, entry.f1.pack())
    ds.entry = vt.get(ds.dsn)


class Pds:
    """One partitioned data set of one volume."""

    def __init__(self, vol, dsn: str) -> None:
        self.vol = vol
        self.ds = Dataset(vol, dsn)
        if not self.ds.f1.dsorg & DSORG_PO:
            raise DatasetError(
                "DLB273E",
                f"{self.ds.dsn} is not a partitioned data set (DSORG=PO); use 'dasdlab dataset' for it.",
            )
        self.dsn = self.ds.dsn

    # ------------------------------------------------------------------ directory
    def directory_blocks(self) -> list[tuple[bytes, bytes]]:
        """(key, data) of every directory block, in order."""
        out = []
        for tt in range(self.ds.ntracks):
            t = int(self.ds.tracks[tt])
            if not self.vol.is_written(t):
                break
            img = self.vol.read_track(t)
            recs = self.vol.records(t)
            for rec in recs:
                if rec.keylen != DIR_KEYLEN or rec.datalen != DIR_DATALEN:
                    return out
                out.append((bytes(img[rec.key_offset : rec.data_offset]), bytes(img[rec.data_offset : rec.end])))
            if not recs:
                break
        return out

    def members(self) -> list[Member]:
        """The directory entries in directory order (sorted by name)."""
        blocks = self.directory_blocks()
        if not blocks:
            raise DatasetError("DLB271E", f"{self.dsn} has no directory blocks at its start.")
        out: list[Member] = []
        for i, (_key, data) in enumerate(blocks):
            entries, end = parse_block(data, f"{self.dsn} directory block {i + 1}")
            out += entries
            if end:
                return out
        raise DatasetError("DLB271E", f"the directory of {self.dsn} has no end marker.")

    def member(self, name: str) -> Member:
        n = check_member_name(name)
        for m in self.members():
            if m.name == n:
                return m
        raise DatasetError("DLB275E", f"member {n} is not in {self.dsn}.")

    # ------------------------------------------------------------------ reading
    def member_blocks(self, m: Member) -> Iterator[bytes]:
        """The data of the member's blocks, from its TTR to the next EOF record."""
        tt, r = m.ttr
        while True:
            if tt >= self.ds.ntracks:
                raise DatasetError(
                    "DLB276E", f"member {m.name} of {self.dsn} runs past the data set's end without an EOF record.")
            t = int(self.ds.tracks[tt])
            img = self.vol.read_track(t)
            for rec in self.vol.records(t):
                if rec.r < r:
                    continue
                if rec.datalen == 0:
                    return
                yield bytes(img[rec.data_offset : rec.end])
            tt, r = tt + 1, 1

    def records(self, name: str) -> Iterator[bytes]:
        m = self.member(name)
        f1 = self.ds.f1
        return deblock(self.member_blocks(m), f1.recfm, f1.lrecl, f1.blksize, f"{self.dsn}({m.name})")

    def read_to(self, name: str, out: BinaryIO, ascii: bool = False) -> int:
        """Write member ``name``: F/FB records back to back (what dasdpdsu and dasdcat
        extract), V/VB/U as a record file, or one text line per record with ``ascii``
        (as ``dasdpdsu ... ascii`` and ``dasdcat :c``)."""
        fixed = record_kind(self.ds.f1.recfm) == "F"
        n = 0
        for rec in self.records(name):
            piece = ascii_line(rec) if ascii else rec if fixed else rdw_record(rec)
            out.write(piece)
            n += len(piece)
        return n

    # ------------------------------------------------------------------ writing
    def write(self, name: str, data: bytes, ascii: bool = False, userdata: bytes | None = None) -> tuple[Member, bool]:
        """Add or replace member ``name`` from ``data`` (the form :meth:`read_to` writes);
        returns the new entry and whether it replaced one.  The blocks go after the last
        member; nothing changes when the directory or the space cannot take it."""
        n = check_member_name(name)
        f1 = self.ds.f1
        if ascii:
            records = text_records(data)
            if record_kind(f1.recfm) == "F":
                for i, r in enumerate(records):
                    if len(r) > f1.lrecl:
                        raise DatasetError(
                            "DLB256E", f"line {i + 1} is {len(r)} characters, longer than LRECL {f1.lrecl} of {self.dsn}.")
                records = [r.ljust(f1.lrecl, b"\x40") for r in records]
        elif record_kind(f1.recfm) == "F":
            if len(data) % (f1.lrecl or 1):
                raise DatasetError(
                    "DLB230E", f"the input is {len(data)} bytes, not a whole number of {f1.lrecl}-byte records.")
            records = [bytes(data[i : i + f1.lrecl]) for i in range(0, len(data), f1.lrecl)]
        else:
            records = parse_record_file(data)
        blocks = self.ds.blocks_for(records)
        members = self.members()
        old = next((m for m in members if m.name == n), None)
        if userdata is None:
            userdata = old.userdata if old is not None else b""
        if len(userdata) % 2 or len(userdata) > 62:
            raise DatasetError("DLB277E", f"user data must be an even number of bytes up to 62, got {len(userdata)}.")
        others = [m for m in members if m.name != n]
        nblocks = len(self.directory_blocks())
        placeholder = Member(n, (0, 1), False, userdata)
        build_blocks(others + [placeholder], nblocks, self.dsn)  # fails before any write
        tt, r = self.ds.f1.lstar
        if (tt, r) == (0, 0):
            raise DatasetError("DLB279E", f"{self.dsn} has no DS1LSTAR, so the end of its last member is unknown.")
        res = self.ds._write_blocks(blocks, len(records), start=(tt, r + 1))
        entry = Member(n, res.first, False, userdata)
        dir_blocks, used = build_blocks(others + [entry], nblocks, self.dsn)
        _write_directory(self.ds, dir_blocks, fresh=False)
        _set_nobdb(self.ds, used)
        return entry, old is not None

    def delete(self, name: str) -> Member:
        """Remove member ``name`` from the directory (its blocks become dead space)."""
        m = self.member(name)
        members = [x for x in self.members() if x.name != m.name]
        blocks, used = build_blocks(members, len(self.directory_blocks()), self.dsn)
        _write_directory(self.ds, blocks, fresh=False)
        _set_nobdb(self.ds, used)
        return m

    def rename(self, name: str, new: str) -> Member:
        m = self.member(name)
        n = check_member_name(new)
        members = self.members()
        if any(x.name == n for x in members):
            raise DatasetError("DLB278E", f"member {n} already exists in {self.dsn}.")
        renamed = Member(n, m.ttr, m.alias, m.userdata, m.ttrs)
        blocks, used = build_blocks([x for x in members if x.name != m.name] + [renamed],
                                    len(self.directory_blocks()), self.dsn)
        _write_directory(self.ds, blocks, fresh=False)
        _set_nobdb(self.ds, used)
        return renamed

    def space(self) -> dict:
        """Directory and track use, for listings."""
        blocks = self.directory_blocks()
        members = self.members()
        used_blocks, _ = build_blocks(members, len(blocks), self.dsn)
        in_use = sum(1 for _k, d in used_blocks if d[:2] != b"\x00\x00")
        tt, _r = self.ds.f1.lstar
        return {"directory_blocks": len(blocks), "directory_blocks_used": in_use,
                "members": len(members), "tracks": self.ds.ntracks, "tracks_used": tt + 1}


__all__ = ["Member", "Pds", "build_blocks", "check_directory_fits", "check_member_name",
           "initialize_directory", "parse_block"]
