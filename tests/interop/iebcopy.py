"""A minimal IEBCOPY unload stream writer, for feeding PDS members to Hercules
``dasdload`` (method ``VS``): COPYR1, COPYR2, the directory blocks, an all-zero block
that ends the directory, then each member's blocks and an EOF block.

Layout from the Hercules 3.13 ``dasdload`` documentation and its reader (the stream
holds COPYR1 as 56 bytes, COPYR2 as 276, then blocks of a 12-byte header -- 4 reserved
bytes, CC HH R KL DL -- followed by key and data).  The unload claims the PDS sat in one
extent starting at cylinder ``CYL``; dasdload maps the blocks' CCHHR and the directory
TTRs to where it puts the data set.
"""

from __future__ import annotations

import struct

CYL = 5  # where the unloaded PDS "was"
HEADS = 15
DIR_PER_TRACK = 45  # 256-byte directory blocks with 8-byte keys on a 3390 track


def _e(s: str, n: int) -> bytes:
    return s.encode("cp037").ljust(n, b"\x40")


def directory_blocks(entries: list[tuple[str, tuple[int, int], bytes]], nblocks: int) -> list[tuple[bytes, bytes]]:
    """(key, data) of ``nblocks`` directory blocks for sorted (name, (TT, R), userdata)."""
    raw = []
    for name, (tt, r), user in sorted(entries, key=lambda e: _e(e[0], 8)):
        assert len(user) % 2 == 0 and len(user) <= 62
        raw.append(_e(name, 8) + struct.pack(">HBB", tt, r, len(user) // 2) + user)
    raw.append(b"\xff" * 8 + bytes(4))
    blocks, cur, last = [], b"", b""
    for ent in raw:
        if 2 + len(cur) + len(ent) > 256:
            blocks.append((last, cur))
            cur = b""
        cur += ent
        last = ent[:8]
    blocks.append((last, cur))
    out = [(key, (len(data) + 2).to_bytes(2, "big") + data.ljust(254, b"\x00")) for key, data in blocks]
    while len(out) < nblocks:
        out.append((b"\xff" * 8, (2).to_bytes(2, "big") + bytes(254)))  # unused block
    return out


def unload(members: dict[str, list[bytes]], *, recfm: int = 0x90, lrecl: int = 80, blksize: int = 800,
           dir_blocks: int = 5, userdata: dict[str, bytes] | None = None) -> bytes:
    """The unload stream of a PDS holding ``members`` (name -> list of blocks)."""
    userdata = userdata or {}
    ntracks_dir = -(-dir_blocks // DIR_PER_TRACK)
    # member blocks: one track per member is enough for the small test members
    placed, tt = {}, ntracks_dir
    for name in members:
        placed[name] = tt
        tt += 1
    ntracks = tt + 1
    entries = [(name, (placed[name], 1), userdata.get(name, b"")) for name in members]
    copyr1 = bytearray(56)
    copyr1[0] = 0x00
    copyr1[1:4] = b"\xca\x6d\x0f"
    copyr1[4:6] = (0x0200).to_bytes(2, "big")
    copyr1[6:8] = blksize.to_bytes(2, "big")
    copyr1[8:10] = lrecl.to_bytes(2, "big")
    copyr1[10] = recfm
    copyr1[11] = 0
    copyr1[16:20] = bytes.fromhex("3010200F")
    copyr1[20:24] = (56664).to_bytes(4, "big")
    copyr1[24:26] = (1113).to_bytes(2, "big")
    copyr1[26:28] = HEADS.to_bytes(2, "big")
    copyr1[28:30] = (58786).to_bytes(2, "big")
    copyr2 = bytearray(276)
    copyr2[0] = 1
    ext = bytearray(16)
    end = CYL * HEADS + ntracks - 1
    ext[6:16] = struct.pack(">HHHHH", CYL, 0, end // HEADS, end % HEADS, ntracks)
    copyr2[16:32] = ext

    def block(t: int, r: int, key: bytes, data: bytes) -> bytes:
        cyl, head = divmod(CYL * HEADS + t, HEADS)
        return bytes(4) + struct.pack(">HHBBH", cyl, head, r, len(key), len(data)) + key + data

    out = [bytes(copyr1), bytes(copyr2)]
    for i, (key, data) in enumerate(directory_blocks(entries, dir_blocks)):
        out.append(block(i // DIR_PER_TRACK, i % DIR_PER_TRACK + 1, key, data))
    out.append(bytes(12))
    for name, blocks in members.items():
        t = placed[name]
        for r, data in enumerate(blocks, start=1):
            out.append(block(t, r, b"", data))
        out.append(block(t, len(blocks) + 1, b"", b""))
    return b"".join(out)


def _segments(record: bytes, control: bool) -> bytes:
    """One logical record as XMIT segments of at most 253 data bytes."""
    out, pieces = [], [record[i : i + 253] for i in range(0, len(record), 253)] or [b""]
    for i, piece in enumerate(pieces):
        flags = (0x80 if i == 0 else 0) | (0x40 if i == len(pieces) - 1 else 0) | (0x20 if control else 0)
        out.append(bytes((len(piece) + 2, flags)) + piece)
    return b"".join(out)


def _tu(key: int, *fields: bytes) -> bytes:
    return struct.pack(">HH", key, len(fields)) + b"".join(struct.pack(">H", len(f)) + f for f in fields)


def xmit(stream: bytes, dsname: str, *, recfm: int = 0x90, lrecl: int = 80, blksize: int = 800,
         dir_blocks: int = 5, per_record: int = 3000) -> bytes:
    """A TSO TRANSMIT file of the PDS whose unload stream (as :func:`unload` writes it) is
    ``stream``: INMR01, INMR02 (utility IEBCOPY, the DCB), INMR03, the unload's records
    (COPYR1, COPYR2, then data records of whole blocks up to ``per_record`` bytes), INMR06."""
    def e(s: str) -> bytes:
        return s.encode("cp037")

    copyr1, copyr2, pos = stream[:56], stream[56 : 56 + 276], 56 + 276
    records, cur = [copyr1, copyr2], b""
    while pos < len(stream):
        kl, dl = stream[pos + 9], int.from_bytes(stream[pos + 10 : pos + 12], "big")
        blk = stream[pos : pos + 12 + kl + dl]
        pos += len(blk)
        if cur and len(cur) + len(blk) > per_record:
            records.append(cur)
            cur = b""
        cur += blk
    if cur:
        records.append(cur)
    inmr01 = e("INMR01") + _tu(0x1011, e("NODE")) + _tu(0x1012, e("USER")) + _tu(0x1001, e("NODE")) \
        + _tu(0x1002, e("USER")) + _tu(0x1024, e("20260101120000")) + _tu(0x102F, b"\x01")
    inmr02 = e("INMR02") + (1).to_bytes(4, "big") + _tu(0x1028, e("IEBCOPY")) \
        + _tu(0x0002, *[e(q) for q in dsname.split(".")]) + _tu(0x003C, b"\x02\x00") \
        + _tu(0x0049, bytes((recfm, 0))) + _tu(0x0042, lrecl.to_bytes(2, "big")) \
        + _tu(0x0030, blksize.to_bytes(2, "big")) + _tu(0x000C, dir_blocks.to_bytes(2, "big"))
    inmr02b = e("INMR02") + (1).to_bytes(4, "big") + _tu(0x1028, e("INMCOPY")) \
        + _tu(0x003C, b"\x40\x00") + _tu(0x0049, b"\x48\x00") + _tu(0x0042, (32756).to_bytes(2, "big"))
    inmr03 = e("INMR03") + _tu(0x003C, b"\x40\x00") + _tu(0x0049, b"\x48\x00")
    out = [_segments(inmr01, True), _segments(inmr02, True), _segments(inmr02b, True), _segments(inmr03, True)]
    out += [_segments(r, False) for r in records]
    out.append(_segments(e("INMR06"), True))
    return b"".join(out)
