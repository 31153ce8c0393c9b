"""Compressed images (CCKD) and shadow files, against Hercules dasdinit -z, dasdload -z /
-bz2, dasdcopy, dasdls, dasdseq and cckdcdsk."""

from __future__ import annotations

import filecmp
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.cckd import CckdVolume, open_cckd
from dasdlab.emulator.convert import convert_volume, write_shadow
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.listing import format_dasdls, list_volume
from dasdlab.emulator.volume import Volume
from dasdlab.errors import ImageError

pytestmark = pytest.mark.interop


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _same_tracks(a: Volume, b: Volume) -> list[int]:
    """Tracks whose images differ (an unformatted track of a plain image reads as zeros)."""
    assert a.ntracks == b.ntracks
    return [t for t in range(a.ntracks) if not np.array_equal(a.read_track(t), b.read_track(t))]


def _listing(vol: Volume, name: str) -> str:
    return f"{name}: VOLSER={vol.volser}\n" + "".join(format_dasdls(e) + "\n" for e in list_volume(vol))


def _load(herc, inputs, tmp_path: Path, option: str | None, name: str) -> Path:
    """A dasdload volume; ``option`` -z, -bz2 or -0 makes it a (full-size) CCKD image."""
    inputs.text(tmp_path / "t.txt", 300, 80, seed=11)
    inputs.binary(tmp_path / "b.bin", 1000 * 200, seed=12)
    (tmp_path / "c.ctl").write_text(
        "CCK001 3390 10\n"
        "TEST.TEXT TEXT t.txt TRK 3 1 0 PS FB 80 3120\n"
        "TEST.BIN SEQ b.bin TRK 10 2 0 PS FB 1000 27000\n"
        "TEST.EMPTY EMPTY TRK 2 1 0 PS FB 80 800\n"
    )
    herc.run("dasdload", *([option] if option else []), "c.ctl", name, "0", cwd=tmp_path)
    return tmp_path / name


@pytest.mark.parametrize("made_by", ["dasdinit -z", "dasdload -z", "dasdload -bz2"])
def test_hercules_cckd_converts_to_what_dasdcopy_writes(herc, inputs, tmp_path, made_by):
    if made_by.startswith("dasdinit"):
        src = tmp_path / "init.cckd"
        herc.run("dasdinit", "-z", src, "3390", "ZIN001", "20", cwd=tmp_path)
    else:
        src = _load(herc, inputs, tmp_path, made_by.split()[1], "load.cckd")
    before = _digest(src)
    ref = tmp_path / "by-dasdcopy.ckd"
    herc.run("dasdcopy", "-q", src, ref, cwd=tmp_path)
    ours = tmp_path / "by-dasdlab.ckd"
    res = convert_volume(src, ours, cckd=False)
    assert filecmp.cmp(ours, ref, shallow=False)
    assert _digest(src) == before
    with Volume.open(src) as v:
        assert isinstance(v, CckdVolume)
        assert res.tracks == v.ntracks and v.written.count() == v.ntracks
    if made_by.startswith("dasdinit"):
        with Volume.open(src) as v, Volume.open(ref) as r:
            assert _same_tracks(v, r) == []
        with Volume.open(src) as v:  # tracks 2.. are format-0 null: they carry an EOF R1
            assert [(r.r, r.datalen) for r in v.records(5)] == [(1, 0)]
            assert v.records(1) == []


@pytest.mark.parametrize("compress", ["zlib", "bzip2", "none"])
def test_our_cckd_is_clean_and_readable_by_hercules(herc, cli, inputs, tmp_path, compress):
    img = tmp_path / "src.ckd"
    vol = Volume.create(img, "3390-1", "CMP001", cylinders=40)  # sparse: most tracks never written
    vol.vtoc.allocate("A.FB80", lrecl=80, blksize=6160, primary=5, secondary=5)
    vol.vtoc.allocate("B.F4096", recfm="F", lrecl=4096, blksize=4096, primary=15)
    a = np.tile(np.frombuffer(b"HELLO CCKD " * 8, np.uint8)[:80], 3000).tobytes()  # compressible
    b = inputs.binary(tmp_path / "b.bin", 4096 * 100, seed=21).read_bytes()  # not compressible
    Dataset(vol, "A.FB80").write(a)
    Dataset(vol, "B.F4096").write(b)
    vol.close()

    out = tmp_path / "ours.cckd"
    code, msg, err = cli("volume", "convert", img, out, "--cckd", "--compress", compress)
    assert code == 0, err
    proc = herc.run("cckdcdsk", "-3", "-ro", out, cwd=tmp_path)
    assert proc.stdout == b"" and proc.stderr == b""  # cckdcdsk is silent on a clean file
    if compress == "zlib":
        assert out.stat().st_size < img.stat().st_size // 10

    code, listed, err = cli("volume", "ls", "--dasdls", out)
    assert code == 0, err
    assert listed == herc.dasdls_info(out, tmp_path)
    for dsn, data in (("A.FB80", a), ("B.F4096", b)):
        assert herc.dasdseq(out, dsn, tmp_path) == data
        with Volume.open(out) as v:
            assert Dataset(v, dsn).read() == data

    back = tmp_path / "back.ckd"
    herc.run("dasdcopy", "-q", out, back, cwd=tmp_path)
    with Volume.open(img) as src, Volume.open(back) as hb, Volume.open(out) as oc:
        differ = _same_tracks(src, hb)
        # only never-written tracks differ: they came back as format-0 null tracks
        assert differ and not src.written.test_many(np.array(differ)).any()
        assert [(r.r, r.keylen, r.datalen) for r in hb.records(differ[0])] == [(1, 0, 0)]
        assert _same_tracks(hb, oc) == []
    again = tmp_path / "again.ckd"
    assert cli("volume", "convert", out, again)[0] == 0
    assert filecmp.cmp(again, back, shallow=False)


def test_shadow_stack_reads_like_hercules_and_merges_like_dasdcopy(herc, cli, inputs, tmp_path):
    # dasdload -z always makes 1,113 cylinders; dasdcopy -z of a 10-cylinder dasdload
    # volume gives a small Hercules-made compressed base.
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    plain = _load(herc, inputs, work_dir, None, "base.ckd")
    base = tmp_path / "base.cckd"
    herc.run("dasdcopy", "-q", "-z", plain, base, cwd=work_dir)
    pattern = str(tmp_path / "base_*.shd")

    # A plain copy of the base, changed through the write path, gives the shadows.
    work = tmp_path / "work.ckd"
    convert_volume(base, work, cckd=False)
    vol = Volume.open(work, writable=True)
    changed: set[int] = set()
    vol.write_hook = lambda v, tracks: changed.update(int(t) for t in tracks)
    new1 = inputs.binary(tmp_path / "n1", 80 * 900, seed=31).read_bytes()
    vol.vtoc.allocate("NEW.ONE", lrecl=80, blksize=27920, primary=2, secondary=1)
    Dataset(vol, "NEW.ONE").write(new1)
    more = inputs.binary(tmp_path / "m", 1000 * 40, seed=32).read_bytes()
    Dataset(vol, "TEST.BIN").write(more, append=True)
    vol.flush()
    first = sorted(changed)
    with open_cckd(base) as b:
        write_shadow(vol, b, tmp_path / "base_1.shd", first)
    changed.clear()
    vol.vtoc.delete("TEST.EMPTY")
    new2 = inputs.binary(tmp_path / "n2", 133 * 400, seed=33).read_bytes()
    vol.vtoc.allocate("NEW.TWO", lrecl=133, blksize=6118, primary=3)
    Dataset(vol, "NEW.TWO").write(new2)
    vol.flush()
    with open_cckd(base, sf=pattern) as b:
        assert len(b.stack) == 2
        write_shadow(vol, b, tmp_path / "base_2.shd", sorted(changed))
    expected = {"NEW.ONE": new1, "NEW.TWO": new2, "TEST.BIN": Dataset(vol, "TEST.BIN").read()}
    assert expected["TEST.BIN"].endswith(more)
    vol.close()
    originals = {p.name: _digest(p) for p in tmp_path.iterdir() if p.is_file()}

    with open_cckd(base, sf=pattern) as stack, Volume.open(work) as w:
        assert len(stack.stack) == 3
        assert _same_tracks(stack, w) == []
        ours_ls = _listing(stack, "base.cckd")
        ours_data = {dsn: Dataset(stack, dsn).read() for dsn in expected}
    assert ours_data == expected
    merged = tmp_path / "merged.ckd"
    convert_volume(base, merged, cckd=False, sf=pattern)
    assert {name: _digest(tmp_path / name) for name in originals} == originals

    # Hercules opens the top shadow read-write, so it gets copies.
    herc_dir = tmp_path / "herc"
    herc_dir.mkdir()
    for name in ("base.cckd", "base_1.shd", "base_2.shd"):
        shutil.copy(tmp_path / name, herc_dir / name)
        proc = herc.run("cckdcdsk", "-3", "-ro", name, cwd=herc_dir)
        assert proc.stdout == b"" and proc.stderr == b"", name
    assert herc.dasdls_info(Path("base.cckd"), herc_dir, sf="base_*.shd") == ours_ls
    for dsn, data in expected.items():
        assert herc.dasdseq(Path("base.cckd"), dsn, herc_dir, sf="base_*.shd") == data
    herc.run("dasdcopy", "-q", "-o", "CKD", "base.cckd", "sf=base_*.shd", "merged.ckd", cwd=herc_dir)
    assert filecmp.cmp(herc_dir / "merged.ckd", merged, shallow=False)

    # every reading command opens the stack, with --sf or Hercules' sf= form
    herc_ls = herc.dasdls_info(Path("base.cckd"), herc_dir, sf="base_*.shd").splitlines()[1:]
    for sf_args in (("--sf", pattern), (f"sf={pattern}",)):
        code, out, err = cli("volume", "ls", "--dasdls", base, *sf_args)
        assert code == 0 and err == "", err
        assert out.splitlines()[1:] == herc_ls
        for dsn, data in expected.items():
            code, _, err = cli("dataset", "read", base, *sf_args, dsn, "--to", tmp_path / "got")
            assert code == 0, err
            assert (tmp_path / "got").read_bytes() == data
        code, out, err = cli("volume", "check", base, *sf_args)
        assert code == 0 and "sound" in out, err
        code, out, err = cli("volume", "info", base, *sf_args, "--json")
        assert code == 0 and f'"datasets": {len(herc_ls)}' in out, out
    with Volume.open(merged) as m:
        t = first[0]
        code, out, err = cli("volume", "dump-track", base, f"sf={pattern}", *map(str, divmod(t, m.heads)))
        assert code == 0, err
        assert out == cli("volume", "dump-track", merged, *map(str, divmod(t, m.heads)))[1]
    # without a shadow name the base alone is read, and dasdlab says what it left out
    code, out, err = cli("volume", "ls", "--dasdls", base)
    assert code == 0 and err.startswith("DLB187W") and "base_1.shd" in err and "base_2.shd" in err
    assert out.splitlines()[1:] == herc.dasdls_info(Path("base.cckd"), herc_dir).splitlines()[1:]
    assert "NEW.TWO" not in out
    assert {name: _digest(tmp_path / name) for name in originals} == originals


def test_shadow_name_matching_nothing_is_an_error_and_nothing_is_created(cli, tmp_path):
    src = tmp_path / "s.ckd"
    Volume.create(src, "3390-1", "NOSF01", cylinders=2).close()
    base = tmp_path / "b.cckd"
    convert_volume(src, base, cckd=True)
    with pytest.raises(ImageError) as e:
        open_cckd(base, sf=tmp_path / "b_*.shd")
    assert e.value.msgid == "DLB186E"
    for argv in (("volume", "ls", base, "--sf", tmp_path / "b_*.shd"),
                 ("volume", "ls", base, f"sf={tmp_path / 'b_*.shd'}"),
                 ("volume", "info", base, "--sf", tmp_path / "b_*.shd"),
                 ("volume", "check", base, "--sf", tmp_path / "b_*.shd"),
                 ("volume", "dump-track", base, "--sf", tmp_path / "b_*.shd", "0", "0"),
                 ("dataset", "read", base, "X", "--sf", tmp_path / "b_*.shd"),
                 ("volume", "convert", base, tmp_path / "out.ckd", "--sf", tmp_path / "b_*.shd")):
        code, out, err = cli(*argv)
        assert code == 8 and err.startswith("DLB186E"), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.cckd", "s.ckd"]


@pytest.mark.parametrize("option", ["-z", "-bz2"])
def test_big_endian_image_from_cckdswap_opens_like_the_little_endian_one(herc, cli, inputs, tmp_path, option):
    """cckdswap turns a CCKD image big-endian (CDEVHDR option 0x02, L1/L2 swapped; the
    cylinder count stays little-endian).  Listing, reading and converting it give what
    Hercules gives, and what the little-endian original gives."""
    le = _load(herc, inputs, tmp_path, option, "le.cckd")
    be = tmp_path / "be.cckd"
    shutil.copyfile(le, be)
    herc.run("cckdswap", be, cwd=tmp_path)
    raw = be.read_bytes()
    assert raw[512 + 3] & 0x02 and raw[512 + 4 : 512 + 8] != le.read_bytes()[512 + 4 : 512 + 8]
    before = _digest(be)
    code, out, err = cli("volume", "ls", "--dasdls", be)
    assert code == 0, err
    assert out == herc.dasdls_info(be, tmp_path)
    assert out.splitlines()[1:] == herc.dasdls_info(le, tmp_path).splitlines()[1:]
    for dsn in ("TEST.TEXT", "TEST.BIN", "TEST.EMPTY"):
        got = tmp_path / f"ours.{dsn}"
        code, _, err = cli("dataset", "read", be, dsn, "--to", got)
        assert code == 0, err
        assert got.read_bytes() == herc.dasdseq(be, dsn, tmp_path), dsn
    code, out, err = cli("volume", "check", be)
    assert code == 0, err
    ours, ref = tmp_path / "ours.ckd", tmp_path / "ref.ckd"
    assert cli("volume", "convert", be, ours)[0] == 0
    herc.run("dasdcopy", "-q", be, ref, cwd=tmp_path)
    assert filecmp.cmp(ours, ref, shallow=False)
    with open_cckd(be) as b, open_cckd(le) as a:
        assert b.stack[0].cdev.big_endian and not a.stack[0].cdev.big_endian
        assert b.cylinders == a.cylinders == 1113
        assert all(a.track_image(t) == b.track_image(t) for t in range(0, a.ntracks, 97))
    assert _digest(be) == before
