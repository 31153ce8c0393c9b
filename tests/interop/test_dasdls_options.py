"""'volume dasdls' against Hercules dasdls for every option it has, on volumes whose
Format-1 DSCBs hold creation, expiry and last-reference dates of every kind."""

from __future__ import annotations

import itertools

import pytest

from dasdlab.emulator.volume import Volume

pytestmark = pytest.mark.interop

#: (created, expires, referenced) as DSCB bytes: year-1900, then the day of the year.
DATES = [
    (b"\x7e\x01\x4f", b"\x00\x00\x00", b"\x00\x00\x00"),   # 2026 day 335, no expiry
    (b"\x64\x00\x3c", b"\x7f\x01\x6e", b"\x7e\x00\x01"),   # 2000 day 60 (29 Feb), 2027 day 366
    (b"\x5c\x01\x6e", b"\xff\x01\x6d", b"\x00\x00\x05"),   # 1992 day 366, 2155 day 365, zero year
    (b"\x7e\x01\x90", b"\x00\x01\x00", b"\x7e\x00\x00"),   # day 400, expiry 1900 day 256, day 0
    (b"\x00\x00\x00", b"\x63\x00\x01", b"\x01\x00\x01"),   # all-zero creation date
]
OPTIONS = ["-info", "-hdr", "-caldt", "-refdt", "-expdt", "-dsnl", "-dsnl=12", "-dsnl=50",
           "-yroffs", "-yroffs=100"]


def _volume(tmp_path, name: str):
    img = tmp_path / name
    vol = Volume.create(img, "3390-1", "LSOPT1", cylinders=10)
    vt = vol.vtoc
    for i, (cr, ex, rf) in enumerate(DATES):
        dsn = "LONGNAME." * 4 + "FULL44CH" if i == 1 else f"DATES.DS{i}"  # 44 characters
        vt.allocate(dsn[:44], lrecl=80, blksize=800, primary=1 + i)
        e = vt.get(dsn[:44])
        raw = bytearray(vt._read_dscb(e.f1_addr))
        raw[53:56], raw[56:59], raw[75:78] = cr, ex, rf
        vt._write_dscb(e.f1_addr, bytes(raw))
    vol.close()
    return img


def test_every_dasdls_option_prints_what_dasdls_prints(herc, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the listing names the image as given
    img = _volume(tmp_path, "v.ckd")
    other = _volume(tmp_path, "w.ckd")
    combos = [[]] + [[o] for o in OPTIONS] + [list(c) for c in itertools.combinations(
        ["-hdr", "-caldt", "-refdt", "-expdt", "-dsnl=30", "-yroffs=28"], 3)]
    combos.append(["-hdr", "-caldt", "-refdt", "-expdt"])
    combos.append(["-hdr", "-refdt", "-expdt", "-dsnl"])
    for opts in combos:
        want = herc.run("dasdls", *opts, img.name, cwd=tmp_path).stdout.decode()
        code, out, err = cli("volume", "dasdls", *opts, img.name)
        assert code == 0, (opts, err)
        assert out == want, opts
    # options stay set for the images after them; listings are separated by an empty line
    args = ["-caldt", img.name, "-hdr", other.name]
    want = herc.run("dasdls", *args, cwd=tmp_path).stdout.decode()
    code, out, err = cli("volume", "dasdls", *args)
    assert code == 0 and out == want, err
    assert "*********" in want and "2000Feb29" in want and "2027Dec32" not in want


def test_dasdls_of_a_dasdload_volume_and_bad_arguments(herc, cli, inputs, tmp_path):
    inputs.text(tmp_path / "t.txt", 300, 80, seed=4)
    (tmp_path / "c.ctl").write_text("LSV001 3390 10\nTEST.TEXT TEXT t.txt TRK 3 1 0 PS FB 80 3120\n"
                                    "TEST.EMPTY EMPTY CYL 1 1 0 PS FB 80 800\n")
    herc.run("dasdload", "c.ctl", "l.ckd", "0", cwd=tmp_path)
    for opts in ([], ["-hdr", "-caldt"], ["-refdt", "-expdt", "-dsnl"]):
        want = herc.run("dasdls", *opts, "l.ckd", cwd=tmp_path).stdout.decode()
        code, out, _ = cli("volume", "dasdls", *opts, tmp_path / "l.ckd")
        assert out == want.replace("l.ckd:", f"{tmp_path / 'l.ckd'}:", 1)
    code, _, err = cli("volume", "dasdls", "-hdr")
    assert code == 2 and "DLB002E" in err
    code, _, err = cli("volume", "dasdls", tmp_path / "nothere.ckd")
    assert code != 0 and "DLB1" in err
