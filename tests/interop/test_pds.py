"""PDS libraries against Hercules: a PDS that dasdload builds from an IEBCOPY unload
stream reads in dasdlab as dasdcat and dasdpdsu read it, and a PDS that dasdlab builds
and changes (add, replace, delete, rename) reads in dasdcat and dasdpdsu as dasdlab says."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.interop.iebcopy import unload

pytestmark = pytest.mark.interop


def _recs(n: int, tag: str, width: int = 80) -> list[bytes]:
    return [f"{tag} LINE {i:05d} {'X' * (i % 30)}".ljust(width).encode("cp037") for i in range(n)]


def _blocks(recs: list[bytes], per: int = 10) -> list[bytes]:
    return [b"".join(recs[i : i + per]) for i in range(0, len(recs), per)]


def _dasdcat_names(herc, img, dsn, tmp_path) -> list[str]:
    proc = herc.run("dasdcat", "-i", img, f"{dsn}/?", cwd=tmp_path, check=False)
    return proc.stdout.decode().split()


def _dasdcat(herc, img, dsn, member, tmp_path, flags: str = "") -> bytes:
    proc = herc.run("dasdcat", "-i", img, f"{dsn}/{member}{':' + flags if flags else ''}", cwd=tmp_path,
                    check=False)
    assert proc.returncode in (0, 1), proc.stderr  # dasdcat ends with 1 after success
    return proc.stdout


def _dasdpdsu(herc, img, dsn, tmp_path, ascii: bool = False) -> dict[str, bytes]:
    d = tmp_path / ("pdsu-ascii" if ascii else "pdsu")
    d.mkdir(exist_ok=True)
    for p in d.iterdir():
        p.unlink()
    herc.run("dasdpdsu", img.resolve(), dsn, *(["ascii"] if ascii else []), cwd=d)
    return {p.stem: p.read_bytes() for p in d.glob("*.mac")}


def _agree(herc, cli, img, dsn, tmp_path, expected: dict[str, list[bytes]]) -> None:
    """pds list/read == dasdcat == dasdpdsu == ``expected`` (member -> records)."""
    code, out, err = cli("pds", "list", img, dsn)
    assert code == 0, err
    names = out.split()
    assert names == sorted(expected, key=lambda n: n.ljust(8).encode("cp037"))
    assert [n.lower() for n in names] == _dasdcat_names(herc, img, dsn, tmp_path)
    pdsu, pdsu_ascii = _dasdpdsu(herc, img, dsn, tmp_path), _dasdpdsu(herc, img, dsn, tmp_path, True)
    assert set(pdsu) == {n.lower() for n in names}
    for name, recs in expected.items():
        got = tmp_path / f"m.{name}"
        code, _, err = cli("pds", "read", img, dsn, name, "--to", got)
        assert code == 0, err
        assert got.read_bytes() == b"".join(recs) == pdsu[name.lower()] == _dasdcat(herc, img, dsn, name, tmp_path)
        code, _, err = cli("pds", "read", img, dsn, name, "--ascii", "--to", got)
        assert code == 0, err
        assert got.read_bytes() == pdsu_ascii[name.lower()] == _dasdcat(herc, img, dsn, name, tmp_path, "c")


def test_dasdload_pds_reads_as_dasdcat_and_dasdpdsu(herc, cli, tmp_path):
    members = {"ALPHA": _recs(25, "AL"), "BETA": _recs(3, "BE"), "ZED": _recs(300, "ZE"),
               "A1": _recs(10, "A1"), "EMPTYM": []}
    stream = unload({n: _blocks(r) for n, r in members.items()}, dir_blocks=4,
                    userdata={"BETA": bytes(range(30)), "ZED": b"\x01\x02"})
    (tmp_path / "p.vs").write_bytes(stream)
    (tmp_path / "c.ctl").write_text("PDS001 3390 10\nTEST.PDS VS p.vs TRK 10 2 4 PO FB 80 800\n"
                                    "OTHER.PS EMPTY TRK 1 0 0 PS FB 80 800\n")
    img = tmp_path / "v.ckd"
    herc.run("dasdload", "c.ctl", img.name, "0", cwd=tmp_path)
    before = hashlib.sha256(img.read_bytes()).digest()
    _agree(herc, cli, img, "TEST.PDS", tmp_path, members)
    code, out, err = cli("pds", "list", img, "TEST.PDS", "--json")
    d = json.loads(out)
    assert d["members"] == 5 and d["directory_blocks"] == 4
    user = {m["name"]: m["userdata"] for m in d["members_list"]}
    assert user["BETA"] == bytes(range(30)).hex().upper() and user["ZED"] == "0102" and user["ALPHA"] == ""
    assert hashlib.sha256(img.read_bytes()).digest() == before  # reading changes nothing

    # a member added to the dasdload PDS reads in Hercules next to the old ones
    src = tmp_path / "new.bin"
    src.write_bytes(b"".join(_recs(40, "NW")))
    code, out, err = cli("pds", "write", img, "TEST.PDS", "NEWONE", "--from", src)
    assert code == 0 and "added" in out, err
    _agree(herc, cli, img, "TEST.PDS", tmp_path, {**members, "NEWONE": _recs(40, "NW")})
    code, out, err = cli("pds", "list", img, "TEST.PDS", "--json")
    assert {m["name"]: m["userdata"] for m in json.loads(out)["members_list"]}["BETA"] == user["BETA"]
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert out == herc.dasdls_info(img, tmp_path)

    for argv, msg in ((("pds", "read", img, "TEST.PDS", "NOSUCH"), "DLB275E"),
                      (("pds", "list", img, "OTHER.PS"), "DLB273E"),
                      (("pds", "read", img, "TEST.PDS", "1BAD"), "DLB270E")):
        code, out, err = cli(*argv)
        assert code == 8 and err.startswith(msg), (argv, err)


def test_dasdlab_pds_reads_in_dasdcat_and_dasdpdsu(herc, cli, tmp_path):
    img = tmp_path / "o.ckd"
    assert cli("volume", "init", img, "--model", "3390-1", "--volser", "PDS002", "--cylinders", "10")[0] == 0
    code, _, err = cli("dataset", "alloc", img, "MY.LIB", "--dsorg", "PO", "--dir-blocks", "3",
                       "--lrecl", "80", "--blksize", "3120", "--tracks", "3", "--secondary", "2")
    assert code == 0, err
    code, out, err = cli("pds", "list", img, "MY.LIB")
    assert code == 0 and out == ""
    assert _dasdcat_names(herc, img, "MY.LIB", tmp_path) == []

    expected: dict[str, list[bytes]] = {}
    # 45 members: entries of 12 bytes fill more than two 256-byte directory blocks
    names = [f"M{(i * 7919) % 1000:03d}" for i in range(45)]
    for i, name in enumerate(names):
        recs = _recs(1 + (i * 13) % 90, name)
        src = tmp_path / "in.bin"
        src.write_bytes(b"".join(recs))
        code, out, err = cli("pds", "write", img, "MY.LIB", name, "--from", src)
        assert code == 0, err
        expected[name] = recs
    txt = tmp_path / "t.txt"
    txt.write_text("".join(f"TEXT MEMBER LINE {i}\n" for i in range(50)))
    assert cli("pds", "write", img, "MY.LIB", "$TEXT", "--from", txt, "--ascii")[0] == 0
    expected["$TEXT"] = [f"TEXT MEMBER LINE {i}".ljust(80).encode("cp037") for i in range(50)]
    # replace, delete, rename
    src.write_bytes(b"".join(_recs(7, "RE")))
    code, out, err = cli("pds", "write", img, "MY.LIB", names[3], "--from", src)
    assert code == 0 and "replaced" in out, err
    expected[names[3]] = _recs(7, "RE")
    assert cli("pds", "delete", img, "MY.LIB", names[5])[0] == 0
    del expected[names[5]]
    assert cli("pds", "rename", img, "MY.LIB", names[6], "@RENAMED")[0] == 0
    expected["@RENAMED"] = expected.pop(names[6])
    _agree(herc, cli, img, "MY.LIB", tmp_path, expected)
    code, out, err = cli("pds", "list", img, "MY.LIB", "--json")
    d = json.loads(out)
    assert d["directory_blocks_used"] == 3 and d["members"] == len(expected)
    code, out, err = cli("volume", "check", img)
    assert code == 0, err
    code, out, err = cli("volume", "ls", "--dasdls", img)
    assert out == herc.dasdls_info(img, tmp_path)

    # a full directory and a full data set are refused, the image unchanged
    before = hashlib.sha256(img.read_bytes()).digest()
    for i in range(30):
        code, out, err = cli("pds", "write", img, "MY.LIB", f"FILL{i:02d}", "--from", src)
        if code:
            break
    assert code == 8 and err.startswith("DLB272E")
    after_fill = hashlib.sha256(img.read_bytes()).digest()
    assert after_fill != before
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x40" * 80 * 20000)
    assert cli("pds", "delete", img, "MY.LIB", "FILL00")[0] == 0
    snapshot = hashlib.sha256(img.read_bytes()).digest()
    code, out, err = cli("pds", "write", img, "MY.LIB", "HUGE", "--from", big)
    assert code == 8 and err[:7] in ("DLB217E", "DLB219E", "DLB220E"), err
    assert hashlib.sha256(img.read_bytes()).digest() == snapshot
    for argv, msg in ((("pds", "rename", img, "MY.LIB", names[0], names[1]), "DLB278E"),
                      (("dataset", "alloc", img, "NO.DIR", "--dsorg", "PO", "--tracks", "1"), "DLB274E"),
                      (("dataset", "alloc", img, "BIG.DIR", "--dsorg", "PO", "--dir-blocks", "90",
                        "--tracks", "2"), "DLB274E"),
                      (("dataset", "read", img, "MY.LIB"), "DLB253E")):
        code, out, err = cli(*argv)
        assert code == 8 and err.startswith(msg), (argv, err)
