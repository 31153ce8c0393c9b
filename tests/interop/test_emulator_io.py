"""A Hercules guest doing channel-program I/O on dasdlab volumes.

The volume carries its own tiny standalone program: dasdlab writes IPL records whose
CCWs the emulator's IPL runs (``ipl 0120``, headless).  The IPL reads record 1 of track 0
(a PSW and two CCWs) into storage at 0; those CCWs read record 2 (the program) to X'200'
and branch to it.  The program seeks a data track and searches for its record 1 (Search
ID Equal with the usual TIC loop) and reads it (Read Data), then seeks a *free* track,
searches for its R0 and writes a new record 1 there (Write Count, Key and Data), searches
for that record and reads it back; the PSW at 0 is then loaded: a disabled wait.  The
console's ``r`` command shows the storage the guest read, and after the emulator has
ended, dasdlab reads the record the guest wrote.

CCW and PSW formats: IBM ESA/390 Principles of Operation (SA22-7201), chapters 15-16;
CKD commands: IBM 3990 Storage Control Reference (GA32-0099).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.convert import convert_volume
from dasdlab.emulator.volume import Volume
from dasdlab.emulator.vtoc import ebcdic

pytestmark = pytest.mark.interop

#: Command codes (3990 reference) and CCW flags (Principles of Operation).
SEEK, SEARCH_ID_EQ, TIC, READ_DATA, WRITE_CKD = 0x07, 0x31, 0x08, 0x06, 0x1D
CC, SLI = 0x40, 0x20
PROGRAM_AT, READ_AT, BACK_AT = 0x200, 0x1000, 0x3000
#: ESA/390 PSW with the wait bit on and every interruption off, address X'BAD'.
WAIT_PSW = bytes.fromhex("000A000000000BAD")


def _ccw(cmd: int, addr: int, flags: int, count: int) -> bytes:
    return struct.pack(">B3sBBH", cmd, addr.to_bytes(3, "big"), flags, 0, count)


def _program(data_track: tuple[int, int], data_len: int, free_track: tuple[int, int],
             new_data: bytes) -> tuple[bytes, bytes]:
    """(IPL1 data, IPL2 data): the IPL record and the channel program it runs."""
    p = PROGRAM_AT
    arg_a, arg_b0, arg_b1, count_b = p + 0x80, p + 0x90, p + 0x98, p + 0xA0
    ccws = b"".join([
        _ccw(SEEK, arg_a, CC, 6), _ccw(SEARCH_ID_EQ, arg_a + 2, CC, 5), _ccw(TIC, p + 0x08, 0, 1),
        _ccw(READ_DATA, READ_AT, CC | SLI, data_len),
        _ccw(SEEK, arg_b0, CC, 6), _ccw(SEARCH_ID_EQ, arg_b0 + 2, CC, 5), _ccw(TIC, p + 0x28, 0, 1),
        _ccw(WRITE_CKD, count_b, CC, 8 + len(new_data)),
        _ccw(SEARCH_ID_EQ, arg_b1 + 2, CC, 5), _ccw(TIC, p + 0x40, 0, 1),
        _ccw(READ_DATA, BACK_AT, SLI, len(new_data)),
    ])
    # seek arguments are BBCCHH; the search argument CCHHR follows the BB
    prog = ccws.ljust(0x80, b"\0")
    prog += struct.pack(">HHHB", 0, *data_track, 1).ljust(16, b"\0")
    prog += struct.pack(">HHHB", 0, *free_track, 0).ljust(8, b"\0")
    prog += struct.pack(">HHHB", 0, *free_track, 1).ljust(8, b"\0")
    prog += struct.pack(">HHBBH", *free_track, 1, 0, len(new_data)) + new_data
    prog = prog.ljust(1024, b"\0")
    ipl1 = WAIT_PSW + _ccw(READ_DATA, p, CC | SLI, len(prog)) + _ccw(TIC, p, 0, 1)
    return ipl1, prog


def _install(vol: Volume, ipl1: bytes, ipl2: bytes) -> None:
    """Replace IPL1 and IPL2 on track 0, keeping the VOL1 label."""
    img = vol.read_track(0)
    vol1 = next(r for r in vol.records(0) if r.r == 3)
    vol.format_track(0, [(1, ebcdic("IPL1", 4), ipl1), (2, ebcdic("IPL2", 4), ipl2),
                         (3, bytes(img[vol1.key_offset : vol1.data_offset]),
                          bytes(img[vol1.data_offset : vol1.end]))])


def _storage(console: str, addr: int, length: int) -> bytes:
    """Guest storage as the console's ``r`` command shows it."""
    words = {}
    for m in re.finditer(r"^R:([0-9A-F]{8}):K:[0-9A-F]{2}=((?:[0-9A-F]{8} ?){1,4})", console, re.M):
        words[int(m.group(1), 16)] = bytes.fromhex(m.group(2).replace(" ", ""))
    out = b"".join(words[a] for a in range(addr, addr + length, 16) if a in words)
    assert len(out) >= length, console[-2000:]
    return out[:length]


@pytest.mark.parametrize("kind", ["plain, null tracks", "compressed"])
def test_guest_reads_searches_and_writes_a_dasdlab_volume(herc, emulator, tmp_path, kind):
    rng = np.random.default_rng(21)
    plain = tmp_path / "v.ckd"
    vol = Volume.create(plain, "3390-1", "GUEST1", cylinders=10, null_tracks=kind.startswith("plain"))
    data_track, free_track = (1, 0), (2, 3)
    data = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    new_data = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    vol.format_track(vol.track_of(*data_track), [(1, b"", data)])
    _install(vol, *_program(data_track, len(data), free_track, new_data))
    vol.close()
    image = plain
    if kind == "compressed":
        image = tmp_path / "v.cckd"
        convert_volume(plain, image, cckd=True)
    with Volume.open(image) as before:  # the free track is a null track: no data record
        assert before.is_written(before.track_of(*free_track))
        assert all(r.keylen == r.datalen == 0 for r in before.records(before.track_of(*free_track)))

    console = emulator.run(tmp_path, [f"0120 3390 {image.name}"],
                           ["ipl 0120", f"r {READ_AT:X}.{len(data):X}", f"r {BACK_AT:X}.{len(new_data):X}"])
    assert "HHCCP011I CPU0000: Disabled wait state" in console, console[-3000:]
    assert "PSW=000A0000 00000BAD" in console
    assert not re.search(r"HHCDA0\d\dE|HHCCP0\d\dE|unit check", console, re.I), console[-3000:]
    assert _storage(console, READ_AT, len(data)) == data
    assert _storage(console, BACK_AT, len(new_data)) == new_data

    with Volume.open(image) as after:
        t = after.track_of(*free_track)
        assert [(r.r, r.keylen, r.datalen) for r in after.records(t)] == [(1, 0, len(new_data))]
        assert after.read_record(*free_track, 1) == (b"", new_data)
        assert after.read_record(*data_track, 1) == (b"", data)
    # the volume the guest wrote is still one Hercules' own tools read cleanly
    proc = herc.run("dasdcopy", "-q", "-lfs", "-o", "CKD", image.name, "copy.ckd", cwd=tmp_path, check=False)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0 and not re.search(r"HHC\w+E ", text), text
    if kind == "compressed":
        proc = herc.run("cckdcdsk", "-3", "-ro", image.name, cwd=tmp_path, check=False)
        assert proc.returncode == 0 and b"HHCCU" not in proc.stdout + proc.stderr
