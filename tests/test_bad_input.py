"""Bad input through the command line: every fault gets its message id, a non-zero exit
and leaves every input file byte-identical (docs/architecture.md)."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from dasdlab.cli.main import run
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.geometry import DEVHDR_LEN
from dasdlab.emulator.volume import Volume

SLOT = 56832


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def fails(capsys, tmp_path):
    """Run a command that must fail with ``msgid``; asserts the exit code and that no
    file in tmp_path changed or vanished, and none appeared except ``output``.
    Returns stderr."""

    def call(msgid: str, *argv, output: str | None = None) -> str:
        before = snapshot(tmp_path)
        capsys.readouterr()
        code = run([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert code != 0, out
        assert err.startswith(msgid), err
        after = snapshot(tmp_path)
        after.pop(output, None)
        assert after == before
        return err

    return call


@pytest.fixture
def vol_path(tmp_path) -> Path:
    """A small volume with one data set of 500 80-byte records."""
    p = tmp_path / "vol.ckd"
    vol = Volume.create(p, "3390-1", "BAD001", cylinders=5)
    vol.vtoc.allocate("SOME.DATA", lrecl=80, blksize=800, primary=3)
    Dataset(vol, "SOME.DATA").write(bytes(range(80)) * 500)
    vol.close()
    return p


def _header(eye=b"CKD_P370", heads=15, slot=SLOT, devtype=0x90, seq=0, high=0) -> bytes:
    return struct.pack("<8sIIBBH", eye, heads, slot, devtype, seq, high).ljust(DEVHDR_LEN, b"\0")


# ---------------------------------------------------------------------- image files
def test_truncated_inside_a_track(fails, vol_path):
    data = vol_path.read_bytes()
    vol_path.write_bytes(data[: DEVHDR_LEN + 10 * SLOT + 1000])
    fails("DLB112E", "volume", "ls", vol_path)


def test_truncated_inside_the_header(fails, tmp_path):
    p = tmp_path / "short.ckd"
    p.write_bytes(b"CKD_P370" + bytes(100))
    fails("DLB110E", "volume", "info", p)


def test_file_size_not_matching_whole_cylinders(fails, vol_path):
    with open(vol_path, "ab") as f:
        f.write(bytes(SLOT))  # one extra track: not a whole cylinder
    fails("DLB112E", "volume", "check", vol_path)


@pytest.mark.parametrize("eye", [b"CKD_X370", b"\x00" * 8, b"FBA_C370"])
def test_wrong_eye_catcher(fails, tmp_path, eye):
    p = tmp_path / "eye.ckd"
    p.write_bytes(_header(eye=eye) + bytes(15 * SLOT))
    fails("DLB111E", "volume", "ls", p)


@pytest.mark.parametrize("heads,slot", [(12, SLOT), (15, 58786)])
def test_heads_or_track_size_not_the_devices(fails, tmp_path, heads, slot):
    p = tmp_path / "geo.ckd"
    p.write_bytes(_header(heads=heads, slot=slot) + bytes(2 * heads * slot))
    fails("DLB106E", "volume", "ls", p)


def test_zero_heads_in_header(fails, tmp_path):
    p = tmp_path / "zero.ckd"
    p.write_bytes(_header(heads=0) + bytes(SLOT))
    fails("DLB112E", "volume", "ls", p)


def test_missing_second_file_of_a_split_volume(fails, tmp_path):
    p = tmp_path / "big_1.ckd"
    p.write_bytes(_header(seq=1, high=0) + bytes(15 * SLOT))  # claims more files follow
    with open(p, "r+b") as f:
        f.seek(18)
        f.write(struct.pack("<H", 0))  # highcyl 0 of file 1 of several: file 2 must exist
    fails("DLB115E", "volume", "ls", p)


def test_corrupt_count_field(fails, capsys, vol_path, tmp_path):
    with Volume.open(vol_path) as vol:
        t = vol.vtoc.get("SOME.DATA").extents[0].start(vol.heads)
        off = DEVHDR_LEN + t * SLOT + 21  # the count field of R1
    with open(vol_path, "r+b") as f:
        f.seek(off + 5)
        f.write(b"\xff\xff\xff")  # KL=255, DL=65535: runs past the slot
    fails("DLB120E", "dataset", "read", vol_path, "SOME.DATA", "--to", tmp_path / "out.bin",
          output="out.bin")
    (tmp_path / "out.bin").unlink(missing_ok=True)
    err = fails("DLB150E", "volume", "check", vol_path)
    assert "DLB151E" in err and "corrupt count field" in err


def test_vol1_vtoc_pointer_out_of_range(fails, vol_path):
    with Volume.open(vol_path) as vol:
        rec = vol.find_record(0, 0, 3)
        off = DEVHDR_LEN + rec.data_offset + 11  # VTOC CCHHR inside the VOL1 data
    with open(vol_path, "r+b") as f:
        f.seek(off)
        f.write(bytes((0x03, 0xE8, 0, 1, 1)))  # cylinder 1000 of a 5-cylinder volume
    fails("DLB203E", "volume", "ls", vol_path)
    fails("DLB203E", "dataset", "read", vol_path, "SOME.DATA")


def test_compressed_image_left_open_is_not_written(fails, tmp_path):
    from dasdlab.emulator.convert import convert_volume

    src = tmp_path / "src.ckd"
    Volume.create(src, "3390-1", "CMP001", cylinders=2).close()
    comp = tmp_path / "c.cckd"
    convert_volume(src, comp, cckd=True)
    raw = bytearray(comp.read_bytes())
    raw[512 + 3] |= 0x80  # 'opened': a writer was killed before it closed the image
    comp.write_bytes(bytes(raw))
    fails("DLB891E", "dataset", "alloc", comp, "NEW.DS", "--tracks", "1")
    fails("DLB896E", "volume", "cckd", "check", comp)


def test_compressed_image_with_a_broken_free_chain(fails, tmp_path):
    from dasdlab.emulator.convert import convert_volume

    src = tmp_path / "src.ckd"
    Volume.create(src, "3390-1", "CMP002", cylinders=2).close()
    comp = tmp_path / "c.cckd"
    convert_volume(src, comp, cckd=True)
    raw = bytearray(comp.read_bytes())
    raw[512 + 20 : 512 + 24] = (len(raw) + 100).to_bytes(4, "little")  # first free block: past the end
    comp.write_bytes(bytes(raw))
    fails("DLB892E", "dataset", "alloc", comp, "NEW.DS", "--tracks", "1")
    fails("DLB896E", "volume", "cckd", "check", comp)


# ---------------------------------------------------------------------- VTOC and data sets
def test_full_vtoc(fails, tmp_path):
    p = tmp_path / "small.ckd"
    vol = Volume.create(p, "3390-1", "FULL01", cylinders=20, vtoc_tracks=1)
    vt = vol.vtoc
    n = 0
    while len(vt.free_dscbs()) > 0:
        vt.allocate(f"DS{n:05d}", lrecl=80, blksize=800, primary=1)
        n += 1
    vol.close()
    assert n == 48  # 50 DSCBs on the track, minus the Format-4 and Format-5
    fails("DLB218E", "dataset", "alloc", p, "ONE.MORE", "--tracks", "1")


def test_data_set_that_does_not_fit(fails, vol_path):
    fails("DLB217E", "dataset", "alloc", vol_path, "TOO.BIG", "--cylinders", "10")


def test_write_that_outgrows_a_data_set_without_secondary(fails, vol_path, tmp_path):
    big = tmp_path / "big.in"
    big.write_bytes(bytes(80) * 5000)  # 400 KB into 3 tracks with no secondary space
    fails("DLB219E", "dataset", "write", vol_path, "SOME.DATA", "--from", big)


def test_write_that_outgrows_the_volume(fails, vol_path, tmp_path):
    run(["dataset", "alloc", str(vol_path), "GROWS", "--tracks", "1", "--secondary", "30"])
    big = tmp_path / "huge.in"
    big.write_bytes(bytes(80) * 60000)  # 4.8 MB: more than the free tracks of 5 cylinders
    fails("DLB217E", "dataset", "write", vol_path, "GROWS", "--from", big)


def test_duplicate_name(fails, vol_path):
    fails("DLB211E", "dataset", "alloc", vol_path, "SOME.DATA", "--tracks", "1")


@pytest.mark.parametrize("dsn", ["1BAD.NAME", "A..B", "TOOLONGQUAL.X", "A" * 45, "BAD NAME"])
def test_invalid_dsn(fails, vol_path, dsn):
    fails("DLB200E", "dataset", "alloc", vol_path, dsn, "--tracks", "1")


@pytest.mark.parametrize("volser", ["TOOLONG1", "AB CD", "", "A-1"])
def test_invalid_volser(fails, tmp_path, volser):
    fails("DLB201E", "volume", "init", tmp_path / "new.ckd", "--model", "3390-1", "--volser", volser,
          "--cylinders", "1")
    assert not (tmp_path / "new.ckd").exists()


def test_input_not_a_multiple_of_lrecl(fails, vol_path, tmp_path):
    src = tmp_path / "odd.in"
    src.write_bytes(bytes(80 * 10 + 7))
    fails("DLB230E", "dataset", "write", vol_path, "SOME.DATA", "--from", src)


def test_data_set_not_on_the_volume(fails, vol_path):
    fails("DLB210E", "dataset", "read", vol_path, "NOT.THERE")


def test_init_over_an_existing_file(fails, vol_path):
    fails("DLB117E", "volume", "init", vol_path, "--model", "3390-1", "--volser", "X", "--cylinders", "1")


# ---------------------------------------------------------------------- convert
def test_convert_to_an_existing_file(fails, vol_path, tmp_path):
    dst = tmp_path / "exists.cckd"
    dst.write_bytes(b"precious")
    fails("DLB180E", "volume", "convert", vol_path, dst, "--cckd")
    fails("DLB180E", "volume", "convert", vol_path, dst)


def test_convert_with_an_unknown_compression(fails, vol_path, tmp_path):
    fails("DLB181E", "volume", "convert", vol_path, tmp_path / "x.cckd", "--cckd", "--compress", "lzma")


def test_compressed_base_of_shadow_files_is_not_written(fails, tmp_path):
    from dasdlab.emulator.cckd import CckdVolume
    from dasdlab.emulator.convert import convert_volume, write_shadow

    src = tmp_path / "src.ckd"
    Volume.create(src, "3390-1", "SHB001", cylinders=2).close()
    comp = tmp_path / "base.cckd"
    convert_volume(src, comp, cckd=True)
    with Volume.open(src) as v, CckdVolume.open(comp) as b:
        write_shadow(v, b, tmp_path / "base_1.shd", [0])
    fails("DLB890E", "dataset", "alloc", comp, "NEW.DS", "--tracks", "1")
