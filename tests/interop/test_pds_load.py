"""'pds load' of XMIT files and IEBCOPY unloads, against Hercules dasdload loading the
same file (methods XMIT and VS), read back with dasdpdsu, dasdls and dasdcat."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.volume import Volume

from tests.interop.iebcopy import unload, xmit

pytestmark = pytest.mark.interop


def _recs(n: int, tag: str) -> list[bytes]:
    return [f"{tag} RECORD {i:05d}".ljust(80).encode("cp037") for i in range(n)]


def _blocks(recs: list[bytes], per: int = 10) -> list[bytes]:
    return [b"".join(recs[i : i + per]) for i in range(0, len(recs), per)]


MEMBERS = {"ALPHA": _recs(25, "AL"), "BETA": _recs(700, "BE"), "ZED": _recs(1300, "ZE"),
           "A1": _recs(10, "A1"), "EMPTYM": [], "$DOLLAR": _recs(3, "DO")}
USERDATA = {"BETA": bytes(range(30)), "ZED": b"\x01\x02"}


def _rdw_form(stream: bytes) -> bytes:
    """The unload as a binary download of a RECFM=VS data set: an RDW before each record."""
    recs, pos = [stream[:56], stream[56:332]], 332
    while pos < len(stream):
        kl, dl = stream[pos + 9], int.from_bytes(stream[pos + 10 : pos + 12], "big")
        recs.append(stream[pos : pos + 12 + kl + dl])
        pos += 12 + kl + dl
    return b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in recs)


def _dataset_records(img: Path, dsn: str) -> list[list[tuple[int, bytes, bytes]]]:
    """Every track of the data set as (R, key, data) lists: the layout, wherever it lies."""
    with Volume.open(img) as vol:
        ds = Dataset(vol, dsn)
        out = []
        for t in ds.tracks.tolist():
            img_ = vol.read_track(t)
            out.append([(r.r, bytes(img_[r.key_offset : r.data_offset]), bytes(img_[r.data_offset : r.end]))
                        for r in vol.records(t)])
        return out


def _listing(herc, img: Path, cwd: Path) -> list[str]:
    """dasdls -info without the creation date column (dasdload stores the day before)."""
    return [re.sub(r"^(\S+\s+)\d{5}", r"\1", line) for line in herc.dasdls_info(img.name, cwd).splitlines()[1:]]


def _pdsu(herc, img: Path, dsn: str, cwd: Path) -> dict[str, bytes]:
    out = cwd / "pdsu"
    out.mkdir(exist_ok=True)
    for p in out.iterdir():
        p.unlink()
    herc.run("dasdpdsu", img.resolve(), dsn, cwd=out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("form", ["xmit", "iebcopy", "rdw"])
def test_pds_load_matches_dasdload(herc, cli, tmp_path, form):
    stream = unload({n: _blocks(r) for n, r in MEMBERS.items()}, dir_blocks=4, userdata=USERDATA)
    data = {"xmit": lambda: xmit(stream, "TEST.PDS", dir_blocks=4), "iebcopy": lambda: stream,
            "rdw": lambda: _rdw_form(stream)}[form]()
    src = tmp_path / "lib.in"
    src.write_bytes(data)
    method = "XMIT" if form == "xmit" else "VS"
    (tmp_path / "c.ctl").write_text(f"PDS001 3390 10\nTEST.PDS {method} {src.name if form != 'rdw' else 'lib.vs'} "
                                    "TRK 12 2 4 PO FB 80 800\n")
    (tmp_path / "lib.vs").write_bytes(stream)
    theirs = tmp_path / "theirs.ckd"
    herc.run("dasdload", "c.ctl", theirs.name, "0", cwd=tmp_path)

    ours = tmp_path / "ours.ckd"
    assert cli("volume", "init", ours, "--model", "3390-1", "--volser", "PDS001", "--cylinders", "10")[0] == 0
    before = hashlib.sha256(src.read_bytes()).digest()
    code, out, err = cli("pds", "load", ours, "TEST.PDS", src, "--tracks", "12", "--secondary", "2")
    assert code == 0 and out.startswith("DLB839I") and "6 directory entries" in out, err
    assert hashlib.sha256(src.read_bytes()).digest() == before

    assert _dataset_records(ours, "TEST.PDS") == _dataset_records(theirs, "TEST.PDS")
    assert _listing(herc, ours, tmp_path) == _listing(herc, theirs, tmp_path)
    lists = [json.loads(cli("pds", "list", img, "TEST.PDS", "--json")[1]) for img in (ours, theirs)]
    assert lists[0] == lists[1] and lists[0]["members"] == len(MEMBERS)
    got = _pdsu(herc, ours, "TEST.PDS", tmp_path)
    assert got == _pdsu(herc, theirs, "TEST.PDS", tmp_path)
    assert got["zed.mac"] == b"".join(MEMBERS["ZED"])
    code, _, err = cli("volume", "check", ours)
    assert code == 0, err


def test_pds_load_refuses_what_it_cannot_load(cli, tmp_path):
    img = tmp_path / "v.ckd"
    assert cli("volume", "init", img, "--model", "3390-1", "--volser", "PDS002", "--cylinders", "5")[0] == 0
    stream = unload({"ONE": _blocks(_recs(1500, "ON"))}, dir_blocks=2)
    cases = {
        "garbage": b"not an unload at all" * 10,
        "truncated": stream[:-30],
        "xmit-cut": xmit(stream, "A.B", dir_blocks=2)[:-40],
        "not-po": stream[:4] + b"\x40\x00" + stream[6:],
        "no-dir-end": stream[:332] + stream[332 : 332 + 276],
    }
    before = hashlib.sha256(img.read_bytes()).digest()
    for name, raw in cases.items():
        f = tmp_path / name
        f.write_bytes(raw)
        code, _, err = cli("pds", "load", img, "NEW.PDS", f)
        assert code != 0 and "DLB837E" in err, (name, err)
    code, _, err = cli("pds", "load", img, "NEW.PDS", tmp_path / "garbage.none")
    assert code != 0 and "DLB" in err
    (tmp_path / "ok").write_bytes(stream)
    code, _, err = cli("pds", "load", img, "NEW.PDS", tmp_path / "ok", "--tracks", "1")
    assert code != 0 and "DLB837E" in err and re.search(r"needs [2-9] tracks", err), err
    assert hashlib.sha256(img.read_bytes()).digest() == before
    assert cli("pds", "load", img, "NEW.PDS", tmp_path / "ok")[0] == 0
    code, _, err = cli("pds", "load", img, "NEW.PDS", tmp_path / "ok")
    assert code != 0 and "DLB211E" in err
