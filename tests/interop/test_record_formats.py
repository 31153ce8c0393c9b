"""Record formats: V, VB, VBS and U deblocked on read and blocked on write; ASCII
(code page 037) as ``dasdseq -ascii``; what cannot be read or written sequentially.

dasdseq 3.13 reads only DSORG=PS RECFM=F/FB by name; for the other formats the truth is
the raw block stream: ``dasdseq -expert -lrecl 1 -abs CC HH TT`` copies every byte of
every block of the given tracks (EOF records give no bytes), and a small independent
BDW/RDW parser below cuts that stream into records.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop


def _rdw_file(records: list[bytes]) -> bytes:
    return b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in records)


def _raw_blocks(herc, img, dsn, tmp_path) -> bytes:
    """Every byte of the data set's used tracks as Hercules reads them."""
    with Volume.open(img) as vol:
        e = vol.vtoc.get(dsn)
        assert len(e.extents) == 1
        cyl, head = e.extents[0].begin
        ntr = e.f1.lstar[0] + 1
    out = tmp_path / "RAW"
    out.unlink(missing_ok=True)
    herc.run("dasdseq", "-expert", img, "-lrecl", "1", "-abs", str(cyl), str(head), str(ntr), "RAW",
             cwd=tmp_path)
    return out.read_bytes()


def _blocks_of(raw: bytes, kind: str, block_lengths: list[int] | None = None) -> list[bytes]:
    """Cut the stream into blocks: V blocks by their BDW; U blocks by known lengths."""
    blocks, pos = [], 0
    if kind == "V":
        while pos < len(raw):
            n = struct.unpack_from(">H", raw, pos)[0]
            blocks.append(raw[pos : pos + n])
            pos += n
        return blocks
    for n in block_lengths or []:
        blocks.append(raw[pos : pos + n])
        pos += n
    assert pos == len(raw)
    return blocks


def _records_of_v(blocks: list[bytes]) -> list[bytes]:
    recs, pending = [], None
    for b in blocks:
        pos = 4
        while pos < len(b):
            n, seg = struct.unpack_from(">HB", b, pos)
            data = b[pos + 4 : pos + n]
            pos += n
            if seg == 0:
                recs.append(data)
            elif seg == 1:
                pending = data
            else:
                pending += data
                if seg == 2:
                    recs.append(pending)
                    pending = None
    return recs


def _make(cli, tmp_path, name="v.ckd"):
    img = tmp_path / name
    code, _, err = cli("volume", "init", img, "--model", "3390-1", "--volser", "REC001", "--cylinders", "10")
    assert code == 0, err
    return img


@pytest.mark.parametrize("recfm,lrecl,blksize", [("VB", 300, 1000), ("V", 300, 304), ("VB", 32756, 27998),
                                                 ("VBA", 133, 6144)])
def test_variable_records_written_and_read_back_as_hercules_reads_the_blocks(
        herc, cli, tmp_path, recfm, lrecl, blksize):
    img = _make(cli, tmp_path)
    maxlen = min(lrecl, blksize - 4) - 4  # LRECL counts the RDW, BLKSIZE the BDW too
    records = [bytes([0xC1 + i % 9]) * (1 + (i * 37) % maxlen) for i in range(150)]
    records += [b"", bytes(range(256)) * (maxlen // 256) + b"\x00" * (maxlen % 256)]
    code, _, err = cli("dataset", "alloc", img, "T.VAR", "--recfm", recfm, "--lrecl", str(lrecl),
                       "--blksize", str(blksize), "--tracks", "60", "--secondary", "2")
    assert code == 0, err
    src = tmp_path / "in.rdw"
    src.write_bytes(_rdw_file(records))
    code, out, err = cli("dataset", "write", img, "T.VAR", "--from", src)
    assert code == 0, err
    got = tmp_path / "out.rdw"
    code, _, err = cli("dataset", "read", img, "T.VAR", "--to", got)
    assert code == 0, err
    assert got.read_bytes() == src.read_bytes()

    # dasdseq refuses V by name; its raw copy of the blocks gives the same records
    proc = herc.run("dasdseq", img, "T.VAR", cwd=tmp_path, check=False)
    assert proc.returncode == 21 and b"RECFM=F[B]" in proc.stderr
    with Volume.open(img) as vol:
        nblocks = sum(1 for _ in Dataset(vol, "T.VAR").blocks())
        assert len(vol.vtoc.get("T.VAR").extents) == 1
    blocks = _blocks_of(_raw_blocks(herc, img, "T.VAR", tmp_path), "V")
    assert len(blocks) == nblocks
    assert all(len(b) <= blksize for b in blocks)
    if recfm == "V":
        assert all(len(_records_of_v([b])) == 1 for b in blocks)
    assert _records_of_v(blocks) == records
    # the listing still agrees with dasdls
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert out == herc.dasdls_info(img, tmp_path)
    # appending continues after the EOF
    more = [b"APPENDED" * 3, b"X"]
    src2 = tmp_path / "more.rdw"
    src2.write_bytes(_rdw_file(more))
    assert cli("dataset", "write", img, "T.VAR", "--from", src2, "--append")[0] == 0
    assert cli("dataset", "read", img, "T.VAR", "--to", got)[0] == 0
    assert got.read_bytes() == _rdw_file(records + more)
    assert cli("volume", "check", img)[0] == 0


def test_spanned_records_are_assembled(herc, cli, tmp_path):
    """A VBS data set whose records span blocks (written block by block, as an access
    method would) reads back as whole records; the segments are what Hercules reads."""
    img = _make(cli, tmp_path)
    assert cli("dataset", "alloc", img, "T.VBS", "--recfm", "VBS", "--lrecl", "32760",
               "--blksize", "800", "--tracks", "5")[0] == 0
    records = [bytes([0xF0 + i % 10]) * n for i, n in enumerate([10, 795, 796, 2000, 1, 5000, 0, 7])]
    blocks, cur = [], b""
    for r in records:
        rest, first = r, True
        while True:
            room = 800 - 4 - len(cur) - 4
            if room < 1 and rest:
                blocks.append(struct.pack(">HH", len(cur) + 4, 0) + cur)
                cur = b""
                continue
            piece, rest = rest[:room], rest[room:]
            seg = (0 if first else 2) if not rest else (1 if first else 3)
            cur += struct.pack(">HBB", len(piece) + 4, seg, 0) + piece
            first = False
            if not rest:
                break
            blocks.append(struct.pack(">HH", len(cur) + 4, 0) + cur)
            cur = b""
    blocks.append(struct.pack(">HH", len(cur) + 4, 0) + cur)
    with Volume.open(img, writable=True) as vol:
        Dataset(vol, "T.VBS")._write_blocks(blocks, len(records), append=False)
    got = tmp_path / "out.rdw"
    code, _, err = cli("dataset", "read", img, "T.VBS", "--to", got)
    assert code == 0, err
    assert got.read_bytes() == _rdw_file(records)
    raw_blocks = _blocks_of(_raw_blocks(herc, img, "T.VBS", tmp_path), "V")
    assert raw_blocks == blocks
    assert _records_of_v(raw_blocks) == records
    # written by dasdlab, the same records give the same blocks, in Hercules' reading too
    assert cli("dataset", "alloc", img, "T.VBS2", "--recfm", "VBS", "--lrecl", "32760",
               "--blksize", "800", "--tracks", "5")[0] == 0
    src = tmp_path / "in.rdw"
    src.write_bytes(_rdw_file(records))
    code, _, err = cli("dataset", "write", img, "T.VBS2", "--from", src)
    assert code == 0, err
    assert _blocks_of(_raw_blocks(herc, img, "T.VBS2", tmp_path), "V") == blocks
    code, _, err = cli("dataset", "read", img, "T.VBS2", "--to", got)
    assert code == 0 and got.read_bytes() == _rdw_file(records), err


def test_undefined_records_are_one_block_each(herc, cli, tmp_path):
    img = _make(cli, tmp_path)
    code, _, err = cli("dataset", "alloc", img, "T.U2", "--recfm", "U", "--lrecl", "6144",
                       "--blksize", "6144", "--tracks", "20", "--secondary", "1")
    assert code == 0, err
    records = [bytes([i % 256]) * (1 + (i * 997) % 6144) for i in range(60)]
    src = tmp_path / "u.rdw"
    src.write_bytes(_rdw_file(records))
    code, _, err = cli("dataset", "write", img, "T.U2", "--from", src)
    assert code == 0, err
    got = tmp_path / "u.out"
    assert cli("dataset", "read", img, "T.U2", "--to", got)[0] == 0
    assert got.read_bytes() == src.read_bytes()
    proc = herc.run("dasdseq", img, "T.U2", cwd=tmp_path, check=False)
    assert proc.returncode == 21  # dasdseq reads F/FB only
    with Volume.open(img) as vol:
        assert len(vol.vtoc.get("T.U2").extents) == 1
    raw = _raw_blocks(herc, img, "T.U2", tmp_path)
    assert _blocks_of(raw, "U", [len(r) for r in records]) == records
    for bad in ([b""], [b"x" * 6145]):
        src.write_bytes(_rdw_file(bad))
        before = hashlib.sha256(img.read_bytes()).digest()
        code, _, err = cli("dataset", "write", img, "T.U2", "--from", src)
        assert code == 8 and err.startswith("DLB256E")
        assert hashlib.sha256(img.read_bytes()).digest() == before
    src.write_bytes(b"\x00\x09\x00\x00abc")  # an RDW longer than the file
    code, _, err = cli("dataset", "write", img, "T.U2", "--from", src)
    assert code == 8 and err.startswith("DLB255E")


def test_ascii_read_and_write_as_dasdseq_ascii(herc, cli, inputs, tmp_path):
    text = inputs.text(tmp_path / "t.txt", 300, 80, seed=5)
    (tmp_path / "c.ctl").write_text("ASC001 3390 10\nT.TEXT TEXT t.txt TRK 3 1 0 PS FB 80 3120\n")
    img = tmp_path / "load.ckd"
    herc.run("dasdload", "c.ctl", img.name, "0", cwd=tmp_path)
    ref = tmp_path / "T.TEXT"
    herc.run("dasdseq", "-ascii", img, "T.TEXT", cwd=tmp_path)
    expect = ref.read_bytes()
    assert expect == text.read_bytes()  # the lines, trailing blanks removed
    got = tmp_path / "ours.txt"
    code, _, err = cli("dataset", "read", img, "T.TEXT", "--ascii", "--to", got)
    assert code == 0, err
    assert got.read_bytes() == expect

    # dasdlab writes the same text into its own FB data set: the EBCDIC equals what
    # dasdload made of it, and dasdseq -ascii gives the lines back
    code, _, err = cli("dataset", "alloc", img, "OUR.TEXT", "--lrecl", "80", "--blksize", "800",
                       "--tracks", "3", "--secondary", "1")
    assert code == 0, err
    code, _, err = cli("dataset", "write", img, "OUR.TEXT", "--from", text, "--ascii")
    assert code == 0, err
    assert herc.dasdseq(img, "OUR.TEXT", tmp_path) == herc.dasdseq(img, "T.TEXT", tmp_path)
    ref.unlink(missing_ok=True)
    herc.run("dasdseq", "-ascii", img, "OUR.TEXT", cwd=tmp_path)
    assert (tmp_path / "OUR.TEXT").read_bytes() == expect

    # a V data set written from text lines reads back as the same lines
    assert cli("dataset", "alloc", img, "OUR.VB", "--recfm", "VB", "--lrecl", "84",
               "--blksize", "3000", "--tracks", "2")[0] == 0
    assert cli("dataset", "write", img, "OUR.VB", "--from", text, "--ascii")[0] == 0
    assert cli("dataset", "read", img, "OUR.VB", "--ascii", "--to", got)[0] == 0
    assert got.read_bytes() == expect
    long = tmp_path / "long.txt"
    long.write_text("A" * 81 + "\n")
    code, _, err = cli("dataset", "write", img, "OUR.TEXT", "--from", long, "--ascii")
    assert code == 8 and err.startswith("DLB256E")
    long.write_text("price \u20ac 5\n")
    code, _, err = cli("dataset", "write", img, "OUR.TEXT", "--from", long, "--ascii")
    assert code == 8 and err.startswith("DLB259E")


def test_what_is_not_sequential_is_refused_and_a_pds_is_never_overwritten(herc, cli, inputs, tmp_path):
    inputs.binary(tmp_path / "b.bin", 13000, seed=4)
    (tmp_path / "c.ctl").write_text(
        "NSQ001 3390 10\n"
        "E.DA SEQ b.bin TRK 3 0 0 DA FB 500 2000\n"
        "P.PDS EMPTY TRK 3 0 5 PO FB 80 3120\n"
    )
    img = tmp_path / "l.ckd"
    herc.run("dasdload", "c.ctl", img.name, "0", cwd=tmp_path)
    before = hashlib.sha256(img.read_bytes()).digest()
    for dsn, msg in (("E.DA", "DLB252E"), ("P.PDS", "DLB253E")):
        proc = herc.run("dasdseq", img, dsn, cwd=tmp_path, check=False)
        assert proc.returncode == 21 and b"DSORG=PS" in proc.stderr
        out = tmp_path / f"out.{dsn}"
        code, stdout, err = cli("dataset", "read", img, dsn, "--to", out)
        assert code == 8 and err.startswith(msg), err
        assert not out.exists() and not list(tmp_path.glob(f".out.{dsn}.*.partial"))
    src = tmp_path / "r.bin"
    src.write_bytes(b"\x40" * 800)
    code, _, err = cli("dataset", "write", img, "P.PDS", "--from", src)
    assert code == 8 and err.startswith("DLB254E") and "pds write" in err
    assert hashlib.sha256(img.read_bytes()).digest() == before
    # IS: a DSCB that says so
    with Volume.open(img, writable=True) as vol:
        vt = vol.vtoc
        vt.allocate("I.IS", lrecl=80, blksize=800, primary=1)
        e = vt.get("I.IS")
        e.f1.dsorg = 0x8000
        vt._write_dscb(e.f1_addr, e.f1.pack())
    code, _, err = cli("dataset", "read", img, "I.IS")
    assert code == 8 and err.startswith("DLB252E")
    assert herc.run("dasdseq", img, "I.IS", cwd=tmp_path, check=False).returncode == 21


def test_keys_are_kept_on_sequential_reads(herc, cli, tmp_path):
    """dasdload's SEQ method stores a keyed F data set from blocks of key then data;
    'dataset read --keys' gives that input back byte for byte."""
    src = tmp_path / "k.bin"
    src.write_bytes(b"".join(f"KEY{i:05d}".encode("cp037") + bytes([i % 256]) * 80 for i in range(300)))
    (tmp_path / "k.ctl").write_text("KEY001 3390 10\nTEST.KEYED SEQ k.bin TRK 10 1 0 PS F 88 88 8\n"
                                    "TEST.PLAIN SEQ k.bin TRK 10 1 0 PS FB 88 880\n")
    img = tmp_path / "k.ckd"
    herc.run("dasdload", "k.ctl", img.name, "0", cwd=tmp_path)
    got = tmp_path / "got"
    code, _, err = cli("dataset", "read", img, "TEST.KEYED", "--keys", "--to", got)
    assert code == 0, err
    assert got.read_bytes() == src.read_bytes()
    # without keys in the data set, --keys changes nothing: the blocks as dasdseq reads them
    code, _, err = cli("dataset", "read", img, "TEST.PLAIN", "--keys", "--to", got)
    assert code == 0, err
    assert got.read_bytes() == herc.dasdseq(img.name, "TEST.PLAIN", tmp_path) == src.read_bytes()
    assert cli("dataset", "alloc", img, "T.VB", "--recfm", "VB", "--lrecl", "84", "--blksize", "800",
               "--tracks", "1")[0] == 0
    code, _, err = cli("dataset", "read", img, "T.VB", "--keys", "--to", got)
    assert code == 8 and err.startswith("DLB838E")
    code, _, err = cli("dataset", "read", img, "TEST.KEYED", "--keys", "--ascii")
    assert code != 0 and "DLB002E" in err
