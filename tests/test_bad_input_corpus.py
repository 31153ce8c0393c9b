"""The bad-input corpus: hundreds of wrong command lines and damaged files, across every
command, each of which must be answered with a message id, a non-zero exit status and
no traceback, and leave every file it was given byte for byte as it was.

The cases run in-process through :func:`dasdlab.cli.main.run` against one *world*: a
folder with a small volume image, a site (volumes on every subsystem, a loaded
database, an image copy, a FlashCopy relationship, a TimeFinder session) and input
files.  A case either uses the shared world as it is (most cases: the command line is
what is wrong) or damages a fresh copy of it first (``prep``).  Before and after every
case the whole world is digested (data ranges of sparse files); any change, any new
file, fails the case.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"


# ====================================================================== the world
def digest(path: Path) -> str:
    """SHA-256 of a file's size and content, holes and zero blocks alike (a sparse
    volume's holes are not read; a page of zeros written through a map is no change)."""
    import numpy as np

    h = hashlib.sha256()
    with open(path, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        h.update(str(end).encode())
        pos = 0
        while pos < end:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            stop = os.lseek(fd, pos, os.SEEK_HOLE)
            f.seek(pos)
            data = f.read(stop - pos)
            pad = (-len(data)) % 4096
            blocks = np.frombuffer(data + bytes(pad), np.uint8).reshape(-1, 4096)
            for i in np.flatnonzero(blocks.any(axis=1)):
                h.update(int(pos + i * 4096).to_bytes(8, "little") + blocks[i].tobytes())
            pos = stop
    return h.hexdigest()


def sqlite_digest(path: Path, scratch: Path) -> str:
    """An SQLite database by what it holds (its file and write-ahead log together):
    opening a database in WAL mode may checkpoint or reset the log, which changes bytes
    but not content.  A file SQLite cannot read is taken by its bytes."""
    scratch.mkdir(exist_ok=True)
    for old in scratch.iterdir():
        old.unlink()
    shutil.copyfile(path, scratch / "x.db")
    if Path(f"{path}-wal").exists():
        shutil.copyfile(f"{path}-wal", scratch / "x.db-wal")
    try:
        con = sqlite3.connect(scratch / "x.db")
        try:
            text = "\n".join(con.iterdump())
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return digest(path)
    return "sqlite:" + hashlib.sha256(text.encode()).hexdigest()


def snapshot(world: Path) -> dict[str, str]:
    # the site's lock files and SQLite's shared-memory index are not data; an SQLite
    # database and its write-ahead log are one thing, compared by content
    scratch = world.parent / f".{world.name}-sqlite"
    out = {}
    for p in sorted(world.rglob("*")):
        if not p.is_file() or p.name.endswith(("-shm", "-wal", ".lock")):
            continue
        with open(p, "rb") as f:
            is_sqlite = f.read(16) == b"SQLite format 3\x00"
        out[str(p.relative_to(world))] = sqlite_digest(p, scratch) if is_sqlite else digest(p)
    return out


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy a folder keeping holes (the site's pool file is 100 GiB of holes)."""
    for p in sorted(src.rglob("*")):
        q = dst / p.relative_to(src)
        if p.is_dir():
            q.mkdir(parents=True, exist_ok=True)
            continue
        q.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "rb") as fi, open(q, "wb") as fo:
            fd = fi.fileno()
            end = os.fstat(fd).st_size
            pos = 0
            while pos < end:
                try:
                    pos = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                stop = os.lseek(fd, pos, os.SEEK_HOLE)
                fi.seek(pos)
                fo.seek(pos)
                fo.write(fi.read(stop - pos))
                pos = stop
            fo.truncate(end)
        shutil.copymode(p, q)


def build_world(w: Path) -> None:
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.emulator.volume import Volume

    w.mkdir(parents=True)
    vol = Volume.create(w / "vol.ckd", "3390-1", "BAD001", cylinders=5)
    vol.vtoc.allocate("SOME.DATA", lrecl=80, blksize=800, primary=3)
    Dataset(vol, "SOME.DATA").write(bytes(range(80)) * 50)
    vol.close()
    s = str(w / "site")
    for argv in (["site", "init", s],
                 ["site", "add-volume", s, "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "20"],
                 ["site", "add-volume", s, "DS8K1", "DSA002", "--model", "3390-1", "--cylinders", "20"],
                 ["site", "add-volume", s, "DS8K1", "DSA003", "--model", "3390-1", "--cylinders", "5"],
                 ["site", "add-volume", s, "DS8K1", "DSA004", "--model", "3390-1", "--cylinders", "5"],
                 ["site", "add-volume", s, "RVA1", "RVA001", "--model", "3390-1", "--cylinders", "5"],
                 ["site", "add-volume", s, "RVA1", "RVA002", "--model", "3390-1", "--cylinders", "5"],
                 ["site", "add-volume", s, "VMAX1", "VMX001", "--model", "3390-1", "--cylinders", "5"],
                 ["site", "add-volume", s, "VMAX1", "VMX002", "--model", "3390-1", "--cylinders", "5"],
                 ["dataset", "alloc", "--site", s, "--volser", "DSA003", "MY.DATA", "--tracks", "3"],
                 ["db", "define", "--site", s, str(FIX / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", s, "HDAMDB01", "--size", "256KiB", "--volser", "DSA001"],
                 ["hpic", "--site", s, str(FIX / "icein" / "standard.icein")],
                 ["flashcopy", "establish", "--site", s, "DSA003", "DSA004", "--mode", "NOCOPY"],
                 ["clone", "create", "--site", s, "VMX001", "VMX002"]):
        code = run(argv)
        assert code == 0, argv
    f = w / "files"
    f.mkdir()
    # a PDS with one member beside the sequential data set, and a compressed copy of it all
    (w / "member.bin").write_bytes(bytes(80) * 3)
    for argv in (["dataset", "alloc", str(w / "vol.ckd"), "SOME.PDS", "--dsorg", "PO", "--tracks", "2",
                  "--dir-blocks", "2"],
                 ["pds", "write", str(w / "vol.ckd"), "SOME.PDS", "MEMBER1", "--from", str(w / "member.bin")],
                 ["volume", "convert", str(w / "vol.ckd"), str(f / "vol.cckd"), "--cckd"]):
        code = run(argv)
        assert code == 0, argv
    (w / "member.bin").unlink()
    (f / "data.bin").write_bytes(bytes(80) * 10)
    (f / "odd.bin").write_bytes(bytes(81))
    (f / "empty").write_bytes(b"")
    (f / "binary").write_bytes(bytes(range(256)) * 4 + b"\xff\xfe\x00\x81")
    (f / "latin1.txt").write_bytes(b"  IC DBD=HDAMDB01 \xe9\xe8\n")
    (f / "longline.txt").write_text("short line\n" + "x" * 200 + "\n")
    (f / "dir").mkdir()
    (f / "dir" / "keep").write_text("x")
    for name, text in DBDS.items():
        (f / f"{name}.dbd").write_text(text)
    for name, text in ICEINS.items():
        (f / f"{name}.icein").write_text(text)
    for name, text in GRIDS.items():
        (f / f"{name}.toml").write_text(text)
    for name, text in PROFILES.items():
        (f / f"prof-{name}.toml").write_text(text)
    for name, text in DSS_FILES.items():
        (f / f"{name}.dss").write_text(text)
    for name, text in LAB_SCRIPTS.items():
        (f / f"{name}.lab").write_text(text)


# ====================================================================== input texts
GOOD_DBD = (FIX / "dbd" / "hdamdb01.dbd").read_text()
DBDS = {
    "syntax": "  DBD NAME=BADDB,ACCESS=(HDAM,OSAM\n  FINISH\n  END\n",
    "noname": "  DBD ACCESS=(HDAM,OSAM),RMNAME=(DFSHDC40,1,5)\n  DATASET DD1=BADDD1,SIZE=4096\n"
              "  SEGM NAME=ROOT,BYTES=100\n  DBDGEN\n  FINISH\n  END\n",
    "unknownmacro": "  DBD NAME=BADDB,ACCESS=(HDAM,OSAM)\n  FROB X=1\n  END\n",
    "nosegm": "  DBD NAME=BADDB,ACCESS=(HDAM,OSAM),RMNAME=(DFSHDC40,1,5)\n  DATASET DD1=BADDD1,SIZE=4096\n"
              "  DBDGEN\n  FINISH\n  END\n",
    "longname": GOOD_DBD.replace("HDAMDB01", "HDAMDB01XYZ", 1),
    "badaccess": GOOD_DBD.replace("HDAM,OSAM", "HSAM,TAPE", 1),
    "badsize": GOOD_DBD.replace("SIZE=4096", "SIZE=-4096", 1),
    "hugesize": GOOD_DBD.replace("SIZE=4096", "SIZE=999999999", 1),
    "badbytes": GOOD_DBD.replace("BYTES=", "BYTES=-", 1),
    "nanbytes": GOOD_DBD.replace("BYTES=", "BYTES=nan", 1),
    "noend": "\n".join(line for line in GOOD_DBD.splitlines() if line.strip() not in ("END", "FINISH", "DBDGEN")),
    "unbalanced": GOOD_DBD.replace("(", "((", 1),
    "dupname": GOOD_DBD,  # HDAMDB01 is defined in the world already
}
ICEINS = {
    "unknownstmt": "  FROB     DBD=HDAMDB01,DDN=HDAMDD01\n",
    "badkw": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,COLOUR=RED\n",
    "nodbd": "  IC       DDN=HDAMDD01,ICOUT=*\n",
    "unknowndbd": "  IC       DBD=NOSUCHDB,DDN=HDAMDD01,ICOUT=*\n",
    "unknownddn": "  IC       DBD=HDAMDB01,DDN=NOSUCHDD,ICOUT=*\n",
    "badfastic": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=(MAYBE,COPY)\n",
    "badmover": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=(REQ,COPY),DATA_MOVER=TAPE\n",
    "badicout": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=(*,*,*,*,*,*,*,*)\n",
    "icoutddname": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=IC01\n",
    "groupnofunc": "  GROUP    CAGRP=CAG1,ICOUT=*\n",
    "groupwithdbd": "  GROUP    FUNC=IC,CAGRP=CAG1,DBD=HDAMDB01,ICOUT=*\n",
    "funconic": "  IC       DBD=HDAMDB01,FUNC=IC,ICOUT=*\n",
    "groupunknown": "  GROUP    FUNC=IC,DBDSGRP=NOSUCH,ICOUT=*\n",
    "badregtimestmp": "  GLOBAL   REGTIMESTMP=SOMETIMES\n  IC       DBD=HDAMDB01,ICOUT=*\n",
    "regtimestmponic": "  IC       DBD=HDAMDB01,ICOUT=*,REGTIMESTMP=SAME\n",
    "baddball": "  GLOBAL   DBALL=(Y,MAYBE)\n  IC       DBD=HDAMDB01,ICOUT=*\n",
    "badfastic3": "  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=(REQ,COPY,FCWAIT)\n",
    "icoutnocopy": "  IC       DBD=HDAMDB01,ICOUT=%NO,FASTIC=(REQ,COPY)\n",
    "badglobal": "  GLOBAL   DBRC=MAYBE\n  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*\n",
    "unbalanced": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=(REQ,COPY\n",
    "continued": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,\n",
    "onlycomments": "* nothing but a comment\n",
    "dupdbds": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*\n  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,"
               "FASTIC=(REQ,COPY),DATA_MOVER=EMCSNAP\n",
    "badcomp": "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,COMP=SOMETIMES\n",
}
GRIDS = {
    "malformed": "[grid\nmethods = ['standard']\n",
    "nogrid": "[sweep]\nname = 'x'\n",
    "emptymethods": "[grid]\nmethods = []\n",
    "unknownmethod": "[grid]\nmethods = ['standard', 'bogus']\n",
    "negsize": "[grid]\nmethods = ['standard']\ndb_sizes = ['-1MiB']\n",
    "nanrate": "[grid]\nmethods = ['standard']\nrates = [nan]\n",
    "infrate": "[grid]\nmethods = ['standard']\nrates = [inf]\n",
    "zeroscale": "[grid]\nmethods = ['standard']\nscales = [0.0]\n",
    "stringrate": "[grid]\nmethods = ['standard']\nrates = ['fast']\n",
    "unknownkey": "[grid]\nmethods = ['standard']\ncolours = ['red']\n",
    "notalist": "[grid]\nmethods = 'standard'\n",
}
PROFILES = {
    "malformed": "[profiles.fast\nbase = 'ds8000-ficon16'\n",
    "unknownbase": "[profiles.fast]\nbase = 'nosuch'\n",
    "negative": "[profiles.fast]\nbase = 'ds8000-ficon16'\nseq_read_mb_s = -1.0\n",
    "nan": "[profiles.fast]\nbase = 'ds8000-ficon16'\nseq_read_mb_s = nan\n",
    "zero": "[profiles.fast]\nbase = 'ds8000-ficon16'\nseq_read_mb_s = 0.0\n",
    "unknownfield": "[profiles.fast]\nbase = 'ds8000-ficon16'\nwarp_factor = 9.0\n",
    "stringvalue": "[profiles.fast]\nbase = 'ds8000-ficon16'\nseq_read_mb_s = 'quick'\n",
    "noprofiles": "[other]\nx = 1\n",
}
DSS_FILES = {
    "garbage": "FROBNICATE EVERYTHING\n",
    "unbalanced": "COPY DATASET(INCLUDE(MY.**) RENAMEU(X)\n",
    "empty": "",
}
LAB_SCRIPTS = {
    "unknown": "frobnicate everything\n",
    "unbalanced": "volume LAB001 'five\n",
    "track-beyond": "volume LAB001 DS8K1\nwrite LAB001 999999\n",
}


# ====================================================================== the cases
@dataclass
class Case:
    id: str
    msgid: str
    argv: list[str]
    prep: Callable[[Path], None] | None = None
    wants: dict = field(default_factory=dict)


CASES: list[Case] = []


def case(cid: str, msgid: str, *argv: str, prep: Callable[[Path], None] | None = None) -> None:
    CASES.append(Case(cid, msgid, list(argv), prep))


V, S, F = "{W}/vol.ckd", "{W}/site", "{W}/files"


# -------------------------------------------------------------- damaged files (prep)
def truncate(rel: str, size: int) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        with open(w / rel, "r+b") as f:
            f.truncate(size)
    return prep


def overwrite(rel: str, data: bytes, at: int = 0) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        with open(w / rel, "r+b") as f:
            f.seek(at)
            f.write(data)
    return prep


def replace(rel: str, data: bytes) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        (w / rel).write_bytes(data)
    return prep


def remove(rel: str) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        p = w / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return prep


def sql(rel: str, statement: str) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        con = sqlite3.connect(w / rel)
        con.executescript(statement)
        con.commit()
        con.close()
    return prep


# ---------------------------------------------------------------- usage errors
def _leaf_commands() -> list[tuple[list[str], bool]]:
    """(command path, has a required argument or option) of every leaf command."""
    import typer.main

    from dasdlab.cli.main import app

    out = []

    def walk(c, path):
        subs = getattr(c, "commands", None)
        if subs:
            for n, sub in sorted(subs.items()):
                walk(sub, path + [n])
        else:
            out.append((path, any(getattr(p, "required", False) for p in c.params)))

    walk(typer.main.get_command(app), [])
    return out


for path, required in _leaf_commands():
    name = "-".join(path)
    case(f"usage-unknown-option-{name}", "DLB002E", *path, "--no-such-option")
    if required:
        case(f"usage-missing-argument-{name}", "DLB002E", *path)
case("usage-unknown-command", "DLB002E", "frobnicate")
case("usage-unknown-subcommand", "DLB002E", "volume", "frobnicate")
case("usage-extra-argument", "DLB002E", "volume", "ls", V, "extra")
for opt, val in (("--cylinders", "abc"), ("--cylinders", "1.5"), ("--cylinders", "")):
    case(f"usage-int-{opt}-{val or 'empty'}", "DLB002E", "volume", "init", "{W}/new.ckd", "--volser", "NEW001",
         opt, val)
case("usage-int-dump-track-cyl", "DLB002E", "volume", "dump-track", V, "x", "0")
case("usage-float-rate", "DLB002E", "bench", "outage", "--rate", "fast", "--out", "{W}/o")
case("usage-option-needs-value", "DLB002E", "volume", "init", "{W}/new.ckd", "--volser")

# ---------------------------------------------------------------- images
IMG = [("ls", []), ("info", []), ("check", []), ("dump-track", ["0", "1"])]
IMAGE_FAULTS = {
    "missing": (None, "DLB1"),
    "empty": (replace("vol.ckd", b""), "DLB1"),
    "header-only": (truncate("vol.ckd", 512), "DLB1"),
    "short-header": (truncate("vol.ckd", 100), "DLB110E"),
    "mid-track": (truncate("vol.ckd", 512 + 10 * 56832 + 1000), "DLB112E"),
    "eye-catcher": (overwrite("vol.ckd", b"CKD_X370"), "DLB111E"),
    "zero-heads": (overwrite("vol.ckd", struct.pack("<I", 0), 8), "DLB1"),
    "wrong-heads": (overwrite("vol.ckd", struct.pack("<I", 12), 8), "DLB1"),
    "huge-slot": (overwrite("vol.ckd", struct.pack("<I", 2**31), 12), "DLB1"),
    "binary": (replace("vol.ckd", bytes(range(256)) * 300), "DLB111E"),
    "text": (replace("vol.ckd", b"this is not a volume\n" * 100), "DLB111E"),
    "devtype": (overwrite("vol.ckd", b"\x80", 16), "DLB1"),
}
for fault, (prep, msgid) in IMAGE_FAULTS.items():
    target = "{W}/nothere.ckd" if prep is None else V
    for cmd, extra in IMG:
        case(f"image-{fault}-{cmd}", msgid, "volume", cmd, target, *extra, prep=prep)
    case(f"image-{fault}-dataset-read", msgid, "dataset", "read", target, "SOME.DATA", "--to", "{W}/out.bin",
         prep=prep)
    case(f"image-{fault}-dataset-alloc", msgid, "dataset", "alloc", target, "NEW.DATA", "--tracks", "1", prep=prep)
    case(f"image-{fault}-copy", msgid, "volume", "copy", target, "{W}/copy.ckd", prep=prep)
    case(f"image-{fault}-convert", msgid, "volume", "convert", target, "{W}/c.cckd", "--cckd", prep=prep)
case("image-is-a-directory-ls", "DLB1", "volume", "ls", F + "/dir")
case("image-is-a-directory-check", "DLB1", "volume", "check", F + "/dir")

# ---------------------------------------------------------------- geometry
for cid, args, msgid in (
        ("cyl-zero", ["--cylinders", "0"], "DLB1"),
        ("cyl-negative", ["--cylinders", "-1"], "DLB1"),
        ("cyl-too-many", ["--cylinders", "70000"], "DLB1"),
        ("cyl-beyond-model", ["--model", "3390-1", "--cylinders", "5000"], "DLB1"),
        ("model-unknown", ["--model", "3390-99"], "DLB1"),
        ("model-empty", ["--model", ""], "DLB1"),
        ("vtoc-zero", ["--vtoc-tracks", "0"], "DLB107E"),
        ("vtoc-negative", ["--vtoc-tracks", "-3"], "DLB107E"),
        ("vtoc-huge", ["--vtoc-tracks", "100000"], "DLB107E"),
        ("volser-long", ["--volser", "TOOLONG1"], "DLB201E"),
        ("volser-space", ["--volser", "AB CD"], "DLB201E"),
        ("volser-empty", ["--volser", ""], "DLB201E"),
        ("volser-lower-dash", ["--volser", "a-1"], "DLB201E"),
        ("volser-nonascii", ["--volser", "ÄBC"], "DLB201E")):
    argv = ["volume", "init", "{W}/new.ckd", "--model", "3390-1", "--cylinders", "2", "--volser", "NEW001"] + args
    case(f"geometry-{cid}", msgid, *argv)
case("geometry-init-over-existing", "DLB117E", "volume", "init", V, "--volser", "X", "--cylinders", "1")
case("init-vtoc-already-there", "DLB832E", "volume", "init", V, "--vtoc")
case("init-vtoc-missing-image", "DLB1", "volume", "init", "{W}/nothere.ckd", "--vtoc")
case("init-vtoc-text", "DLB1", "volume", "init", F + "/latin1.txt", "--vtoc")
case("init-vtoc-compressed-already-there", "DLB832E", "volume", "init", F + "/vol.cckd", "--vtoc")
case("init-without-volser", "DLB002E", "volume", "init", "{W}/new.ckd")
case("geometry-init-in-missing-folder", "DLB1", "volume", "init", "{W}/no/such/dir/new.ckd", "--volser", "X",
     "--cylinders", "1", "--model", "3390-1")
for cid, cyl, head in (("cyl-beyond", "5", "0"), ("head-15", "0", "15"), ("cyl-negative", "-1", "0"),
                       ("head-negative", "0", "-1"), ("cyl-huge", "99999999", "0")):
    msgid = "DLB002E" if "negative" in cid else "DLB1"  # -1 reads as an option: a usage error
    case(f"geometry-dump-track-{cid}", msgid, "volume", "dump-track", V, cyl, head)
    case(f"geometry-dump-track-site-{cid}", msgid, "volume", "dump-track", "--site", S, "DSA003", cyl, head)
case("geometry-add-volume-cyl-zero", "DLB1", "site", "add-volume", S, "DS8K1", "NEW001", "--model", "3390-1",
     "--cylinders", "0")
case("geometry-add-volume-cyl-negative", "DLB1", "site", "add-volume", S, "DS8K1", "NEW001", "--cylinders", "-5")
case("geometry-add-volume-model", "DLB1", "site", "add-volume", S, "DS8K1", "NEW001", "--model", "3390-0")

# ---------------------------------------------------------------- data sets
ALLOC = ["dataset", "alloc", V, "NEW.DATA"]
for cid, args, msgid in (
        ("dsn-digit", ["--tracks", "1"], "DLB200E"),
        ("tracks-zero", ["--tracks", "0"], "DLB2"),
        ("tracks-negative", ["--tracks", "-1"], "DLB2"),
        ("tracks-too-many", ["--tracks", "100000"], "DLB216E"),
        ("cylinders-too-many", ["--cylinders", "10"], "DLB217E"),
        ("cylinders-negative", ["--cylinders", "-2"], "DLB2"),
        ("tracks-and-cylinders", ["--tracks", "1", "--cylinders", "1"], "DLB002E"),
        ("secondary-negative", ["--tracks", "1", "--secondary", "-1"], "DLB2"),
        ("lrecl-zero", ["--tracks", "1", "--lrecl", "0"], "DLB2"),
        ("lrecl-negative", ["--tracks", "1", "--lrecl", "-80"], "DLB2"),
        ("lrecl-huge", ["--tracks", "1", "--lrecl", "70000", "--blksize", "70000"], "DLB2"),
        ("blksize-zero", ["--tracks", "1", "--blksize", "0"], "DLB2"),
        ("blksize-not-multiple", ["--tracks", "1", "--lrecl", "80", "--blksize", "3121"], "DLB2"),
        ("blksize-too-big", ["--tracks", "1", "--lrecl", "80", "--blksize", "60000"], "DLB2"),
        ("blksize-negative", ["--tracks", "1", "--blksize", "-800"], "DLB2"),
        ("recfm-unknown", ["--tracks", "1", "--recfm", "XX"], "DLB2"),
        ("recfm-empty", ["--tracks", "1", "--recfm", ""], "DLB2"),
        ("dsorg-vs", ["--tracks", "1", "--dsorg", "VS"], "DLB023E"),
        ("dsorg-unknown", ["--tracks", "1", "--dsorg", "QQ"], "DLB023E"),
        ("keylen-negative", ["--tracks", "1", "--keylen", "-1"], "DLB2"),
        ("keylen-huge", ["--tracks", "1", "--keylen", "300"], "DLB2"),
        ("no-space", [], "DLB002E")):
    argv = (["dataset", "alloc", V, "1BAD"] if cid == "dsn-digit" else ALLOC) + args
    case(f"dataset-alloc-{cid}", msgid, *argv)
for dsn in ("A..B", "TOOLONGQUAL.X", "A" * 45, "BAD NAME", "", ".A", "A.", "A.B*"):
    case(f"dataset-alloc-dsn-{dsn[:12] or 'empty'}", "DLB200E", "dataset", "alloc", V, dsn, "--tracks", "1")
case("dataset-alloc-duplicate", "DLB211E", "dataset", "alloc", V, "SOME.DATA", "--tracks", "1")
case("dataset-alloc-site-duplicate", "DLB2", "dataset", "alloc", "--site", S, "--volser", "DSA002", "MY.DATA",
     "--tracks", "1")
case("dataset-alloc-site-no-volser", "DLB002E", "dataset", "alloc", "--site", S, "NEW.DATA", "--tracks", "1")
case("dataset-alloc-site-unknown-volser", "DLB3", "dataset", "alloc", "--site", S, "--volser", "NOPE01", "NEW.DATA",
     "--tracks", "1")
case("dataset-alloc-site-too-big", "DLB217E", "dataset", "alloc", "--site", S, "--volser", "DSA002", "NEW.DATA",
     "--cylinders", "30")
case("dataset-alloc-path-args", "DLB002E", "dataset", "alloc", V, "--tracks", "1")
case("dataset-write-missing-from", "DLB2", "dataset", "write", V, "SOME.DATA", "--from", F + "/nothere.bin")
case("dataset-write-from-dir", "DLB2", "dataset", "write", V, "SOME.DATA", "--from", F + "/dir")
case("dataset-write-odd-length", "DLB230E", "dataset", "write", V, "SOME.DATA", "--from", F + "/odd.bin")
case("dataset-write-unknown", "DLB210E", "dataset", "write", V, "NOT.THERE", "--from", F + "/data.bin")
case("dataset-write-site-unknown", "DLB2", "dataset", "write", "--site", S, "NOT.THERE", "--from", F + "/data.bin")
case("dataset-read-unknown", "DLB210E", "dataset", "read", V, "NOT.THERE", "--to", "{W}/out.bin")
case("dataset-read-site-unknown", "DLB2", "dataset", "read", "--site", S, "NOT.THERE", "--to", "{W}/out.bin")
case("dataset-read-to-missing-dir", "DLB261E", "dataset", "read", V, "SOME.DATA", "--to", "{W}/no/dir/out.bin")
case("dataset-read-to-dir", "DLB261E", "dataset", "read", V, "SOME.DATA", "--to", F + "/dir")
case("dataset-read-keys-ascii", "DLB002E", "dataset", "read", V, "SOME.DATA", "--keys", "--ascii")
case("dataset-read-keys-pds", "DLB253E", "dataset", "read", V, "SOME.PDS", "--keys", "--to", "{W}/out.bin")
case("dataset-read-keys-unknown", "DLB210E", "dataset", "read", V, "NOT.THERE", "--keys", "--to", "{W}/out.bin")
case("dataset-delete-unknown", "DLB210E", "dataset", "delete", V, "NOT.THERE")
case("dataset-delete-site-unknown", "DLB2", "dataset", "delete", "--site", S, "NOT.THERE")
case("dataset-delete-bad-dsn", "DLB200E", "dataset", "delete", V, "1BAD..")

# ---------------------------------------------------------------- sites, site.json, catalog
SITE_FAULTS = {
    "missing": (None, "DLB301E"),
    "json-empty": (replace("site/site.json", b""), "DLB302E"),
    "json-truncated": (truncate("site/site.json", 40), "DLB302E"),
    "json-list": (replace("site/site.json", b"[]"), "DLB302E"),
    "json-empty-object": (replace("site/site.json", b"{}"), "DLB302E"),
    "json-binary": (replace("site/site.json", bytes(range(256))), "DLB302E"),
    "json-wrong-types": (None, "DLB006E"),
    "json-volume-without-subsystem": (None, "DLB006E"),
    "json-missing": (remove("site/site.json"), "DLB301E"),
    "catalog-garbage": (replace("site/catalog.db", b"this is not a database" * 100), "DLB005E"),
    "catalog-truncated": (truncate("site/catalog.db", 100), "DLB005E"),
    "catalog-short": (truncate("site/catalog.db", 5000), "DLB005E"),
    "catalog-empty": (replace("site/catalog.db", b""), "DLB005E"),
    "catalog-wrong-schema": (sql("site/catalog.db", "DROP TABLE datasets;"
                                 "CREATE TABLE other(x);"), "DLB005E"),
}
def site_json(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        import json

        p = w / "site" / "site.json"
        d = json.loads(p.read_text())
        edit(d)
        p.write_text(json.dumps(d))
    return prep


SITE_FAULTS["json-wrong-types"] = (site_json(lambda d: d.update(subsystems=7, volumes="x")), "DLB006E")
SITE_FAULTS["json-volume-without-subsystem"] = (site_json(lambda d: d["volumes"]["DSA003"].update(subsystem="NOPE")),
                                                "DLB006E")
SITE_CMDS = [
    ("site-ls", ["site", "ls", S]),
    ("volume-ls", ["volume", "ls", "--site", S, "DSA003"]),
    ("dataset-read", ["dataset", "read", "--site", S, "MY.DATA", "--to", "{W}/out.bin"]),
    ("dataset-alloc", ["dataset", "alloc", "--site", S, "--volser", "DSA003", "NEW.DATA", "--tracks", "1"]),
    ("add-volume", ["site", "add-volume", S, "DS8K1", "NEW001", "--model", "3390-1", "--cylinders", "1"]),
    ("flashcopy-query", ["flashcopy", "query", "--site", S]),
    ("recon-list", ["recon", "list", "--site", S]),
    ("db-verify", ["db", "verify", "--site", S, "HDAMDB01"]),
]
for fault, (prep, msgid) in SITE_FAULTS.items():
    site_arg = "{W}/nosite" if prep is None else S
    for cid, argv in SITE_CMDS:
        if fault.startswith("catalog") and cid in ("site-ls", "flashcopy-query", "recon-list", "add-volume",
                                                  "volume-ls", "db-verify"):
            continue  # these do not read the catalog
        case(f"site-{fault}-{cid}", msgid, *[site_arg if a == S else a for a in argv], prep=prep)
case("site-is-a-file", "DLB3", "site", "ls", F + "/data.bin")
case("site-init-existing", "DLB3", "site", "init", S)
case("site-init-nonempty-folder", "DLB3", "site", "init", F)
case("site-add-volume-unknown-subsystem", "DLB3", "site", "add-volume", S, "NOPE1", "NEW001", "--cylinders", "1")
case("site-add-volume-duplicate", "DLB3", "site", "add-volume", S, "DS8K1", "DSA001", "--cylinders", "1")
case("site-add-volume-bad-volser", "DLB201E", "site", "add-volume", S, "DS8K1", "TOOLONG1", "--cylinders", "1")
case("site-volume-unknown", "DLB3", "volume", "ls", "--site", S, "NOPE01")
case("site-volume-file-missing", "DLB1", "volume", "ls", "--site", S, "DSA003", prep=remove("site/volumes/DSA003.ckd"))
case("site-volume-file-truncated", "DLB1", "volume", "ls", "--site", S, "DSA003",
     prep=truncate("site/volumes/DSA003.ckd", 300))

# ---------------------------------------------------------------- FlashCopy state
FC = "site/state/DS8K1/flashcopy/FC0001.json"
FC_FAULTS = {
    "truncated": truncate(FC, 30),
    "empty": replace(FC, b""),
    "empty-object": replace(FC, b"{}"),
    "list": replace(FC, b"[1, 2]"),
    "binary": replace(FC, bytes(range(200))),
    "unknown-state": None,  # set below: a valid record with a state no relationship has
    "unknown-mode": None,
    "bad-map": None,
    "no-target": None,
}


def fc_field(key: str, value) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        import json

        p = w / FC
        d = json.loads(p.read_text())
        d[key] = value
        p.write_text(json.dumps(d))
    return prep


FC_FAULTS["unknown-state"] = fc_field("state", "HALF-COPIED")
FC_FAULTS["unknown-mode"] = fc_field("mode", "SOMETIMES")
FC_FAULTS["bad-map"] = fc_field("map", "tracks 1 to 9")
FC_FAULTS["no-target"] = fc_field("target", None)
FC_CMDS = [
    ("query", ["flashcopy", "query", "--site", S]),
    ("query-json", ["flashcopy", "query", "--site", S, "--json"]),
    ("withdraw", ["flashcopy", "withdraw", "--site", S, "FC0001"]),
    ("drain", ["flashcopy", "drain", "--site", S]),
    ("refresh", ["flashcopy", "refresh", "--site", S, "FC0001"]),
    ("establish", ["flashcopy", "establish", "--site", S, "DSA001", "DSA002", "--mode", "NOCOPY"]),
    ("write-source", ["dataset", "write", "--site", S, "MY.DATA", "--from", F + "/data.bin"]),
]
for fault, prep in FC_FAULTS.items():
    for cid, argv in FC_CMDS:
        case(f"flashcopy-state-{fault}-{cid}", "DLB007E", *argv, prep=prep)

# ---------------------------------------------------------------- copy-service verbs
for cid, argv, msgid in (
        ("fc-mode-unknown", ["flashcopy", "establish", "--site", S, "DSA001", "DSA002", "--mode", "SOMETIMES"],
         "DLB3"),
        ("fc-same-volume", ["flashcopy", "establish", "--site", S, "DSA001", "DSA001"], "DLB3"),
        ("fc-unknown-volume", ["flashcopy", "establish", "--site", S, "DSA001", "NOPE01"], "DLB3"),
        ("fc-other-subsystem", ["flashcopy", "establish", "--site", S, "DSA001", "RVA001"], "DLB3"),
        ("fc-target-busy", ["flashcopy", "establish", "--site", S, "DSA001", "DSA004"], "DLB3"),
        ("fc-dataset-unknown", ["flashcopy", "establish", "--site", S, "DSA003", "DSA002", "--dataset", "NOPE.X",
                                "--target-dataset", "NOPE.Y"], "DLB"),
        ("fc-withdraw-unknown", ["flashcopy", "withdraw", "--site", S, "FC9999"], "DLB3"),
        ("fc-withdraw-garbage", ["flashcopy", "withdraw", "--site", S, "../../x"], "DLB3"),
        ("fc-drain-unknown", ["flashcopy", "drain", "--site", S, "FC9999"], "DLB3"),
        ("fc-drain-nocopy", ["flashcopy", "drain", "--site", S, "FC0001"], "DLB3"),
        ("fc-refresh-unknown", ["flashcopy", "refresh", "--site", S, "FC9999"], "DLB3"),
        ("fc-refresh-not-incremental", ["flashcopy", "refresh", "--site", S, "FC0001", "--drain"], "DLB3"),
        ("fc-reverse-unknown", ["flashcopy", "reverse", "--site", S, "FC9999", "--drain"], "DLB3"),
        ("fc-reverse-not-incremental", ["flashcopy", "reverse", "--site", S, "FC0001"], "DLB3"),
        ("snap-unknown-source", ["snap", "volume", "--site", S, "NOPE01", "RVA002"], "DLB3"),
        ("snap-not-rva", ["snap", "volume", "--site", S, "DSA001", "DSA002"], "DLB3"),
        ("snap-same", ["snap", "volume", "--site", S, "RVA001", "RVA001"], "DLB3"),
        ("snap-dataset-unknown", ["snap", "dataset", "--site", S, "NOPE.DATA", "--to-volser", "RVA002"], "DLB"),
        ("snap-query-unknown", ["snap", "query", "--site", S, "SN9999"], "DLB3"),
        ("snap-release-unknown", ["snap", "release", "--site", S, "SN9999"], "DLB3"),
        ("snap-pool-unknown", ["snap", "pool", "--site", S, "--subsystem", "NOPE1"], "DLB3"),
        ("snap-pool-not-rva", ["snap", "pool", "--site", S, "--subsystem", "DS8K1"], "DLB024E"),
        ("snap-export-unknown", ["snap", "export", "--site", S, "NOPE01", "{W}/x.ckd"], "DLB3"),
        ("snap-export-existing", ["snap", "export", "--site", S, "RVA001", V], "DLB"),
        ("clone-mode-unknown", ["clone", "create", "--site", S, "VMX001", "VMX002", "--mode", "SOMETIMES"], "DLB3"),
        ("clone-same", ["clone", "create", "--site", S, "VMX001", "VMX001"], "DLB3"),
        ("clone-not-vmax", ["clone", "create", "--site", S, "DSA001", "DSA002"], "DLB3"),
        ("clone-busy-target", ["clone", "create", "--site", S, "VMX001", "VMX002"], "DLB3"),
        ("clone-activate-unknown", ["clone", "activate", "--site", S, "S9999"], "DLB3"),
        ("clone-activate-garbage", ["clone", "activate", "--site", S, ",,,"], "DLB3"),
        ("clone-recreate-unknown", ["clone", "recreate", "--site", S, "S9999"], "DLB3"),
        ("clone-restore-unknown", ["clone", "restore", "--site", S, "S9999"], "DLB3"),
        ("clone-terminate-unknown", ["clone", "terminate", "--site", S, "S9999"], "DLB3"),
        ("clone-drain-unknown", ["clone", "drain", "--site", S, "S9999"], "DLB3"),
        ("clone-query-unknown", ["clone", "query", "--site", S, "S9999"], "DLB3"),
        ("clone-subsystem-unknown", ["clone", "query", "--site", S, "--subsystem", "NOPE1"], "DLB3"),
        ("clone-runs-garbage", ["clone", "create", "--site", S, "VMX002", "VMX001", "--runs", "x-y"], "DLB"),
        ("clone-runs-negative", ["clone", "create", "--site", S, "VMX002", "VMX001", "--runs", "-5-3"], "DLB"),
        ("cc-subsystem-unknown", ["cc", "query", "--site", S, "--subsystem", "NOPE1"], "DLB3"),
        ("cc-purge-unknown", ["cc", "purge", "--site", S, "--subsystem", "NOPE1"], "DLB3"),
        ("cc-not-cc", ["cc", "query", "--site", S, "--subsystem", "VMAX1"], "DLB3")):
    case(f"copyservice-{cid}", msgid, *argv)

# ---------------------------------------------------------------- DFSMSdss statements
for cid, stmt, msgid in (("empty", "", "DLB022E"), ("blank", "   ", "DLB022E"), ("only-comment", "/* nothing */", "DLB022E"),
                         ("garbage", "FROBNICATE EVERYTHING", "DLB4"),
                         ("unbalanced", "COPY DATASET(INCLUDE(MY.**) RENAMEU(X)", "DLB4"),
                         ("unknown-keyword", "COPY DATASET(INCLUDE(MY.**)) COLOUR(RED)", "DLB4"),
                         ("dump-no-outdsn", "DUMP DATASET(INCLUDE(MY.DATA))", "DLB4"),
                         ("restore-unknown-indsn", "RESTORE DATASET(INCLUDE(MY.DATA)) INDSN(NO.SUCH.DUMP)", "DLB251E"),
                         ("copy-no-rename", "COPY DATASET(INCLUDE(MY.DATA))", "DLB4"),
                         ("fr-bad-value", "COPY DATASET(INCLUDE(MY.**)) RENAMEU(X) FASTREPLICATION(SOMETIMES)", "DLB4"),
                         ("cc-bad-value", "DUMP DATASET(INCLUDE(MY.DATA)) OUTDSN(MY.DUMP) CONCURRENT(MAYBE)", "DLB4"),
                         ("bad-dsn", "DUMP DATASET(INCLUDE(MY.DATA)) OUTDSN(1BAD..)", "DLB"),
                         ("quote", "COPY DATASET(INCLUDE('MY.DATA)) RENAMEU(X)", "DLB4"),
                         ("nul", "COPY\x00DATASET", "DLB4"),
                         ("full-and-dataset", "COPY FULL DATASET(INCLUDE(MY.**)) IDY(DSA003) ODY(DSA004)", "DLB407E"),
                         ("full-no-indynam", "COPY FULL OUTDYNAM(DSA004)", "DLB408E"),
                         ("full-onto-itself", "COPY FULL INDYNAM(DSA003) OUTDYNAM(DSA003)", "DLB445E"),
                         ("freeze-on-dataset", "COPY DATASET(INCLUDE(MY.**)) RENAMEU(X) FCCGFREEZE", "DLB445E"),
                         ("dumpcond-on-tracks", "COPY TRACKS(1,0,1,14) IDY(DSA003) ODY(DSA004) DUMPCOND", "DLB445E"),
                         ("tracks-backwards", "COPY TRACKS(3,0,1,0) IDY(DSA003) ODY(DSA004)", "DLB445E"),
                         ("tracks-outside", "COPY TRACKS(1,0,99,0) IDY(DSA003) ODY(DSA004) FR(NONE)", "DLB446E"),
                         ("full-target-too-small", "COPY FULL IDY(DSA001) ODY(DSA004) FR(NONE)", "DLB446E"),
                         ("setgtok-bad-value", "COPY FULL IDY(DSA003) ODY(DSA004) FCSETGTOK(SOMETIMES)", "DLB406E"),
                         ("freeze-cross-subsystem", "COPY FULL IDY(DSA003) ODY(VMX002) FCCGFREEZE", "DLB413E"),
                         ("setgtok-symmetrix", "COPY FULL IDY(VMX001) ODY(VMX002) FCSETGTOK(FAILRELATION)", "DLB413E"),
                         ("dump-full-no-volume", "DUMP FULL IDY(DSA003) OUTDD(MY.FULL.DUMP)", "DLB408E"),
                         ("restore-full-of-dataset-dump", "RESTORE FULL INDSN(MY.NO.DUMP) ODY(DSA004)", "DLB251E"),
                         ("cgcreated-no-accvol", "CGCREATED", "DLB408E"),
                         ("cgcreated-unknown-volume", "CGCREATED ACCVOL(NOSUCH)", "DLB304E")):
    case(f"dss-{cid}", msgid, "dss", "--site", S, stmt)
case("dss-missing-file", "DLB003E", "dss", "--site", S, "--file", F + "/nothere.dss")
case("dss-file-is-dir", "DLB003E", "dss", "--site", S, "--file", F + "/dir")
case("dss-binary-file", "DLB004E", "dss", "--site", S, "--file", F + "/binary")
case("dss-latin1-file", "DLB004E", "dss", "--site", S, "--file", F + "/latin1.txt")
case("dss-empty-file", "DLB022E", "dss", "--site", S, "--file", F + "/empty.dss")
case("dss-garbage-file", "DLB4", "dss", "--site", S, "--file", F + "/garbage.dss")
case("dss-unbalanced-file", "DLB4", "dss", "--site", S, "--file", F + "/unbalanced.dss")
case("dss-both", "DLB002E", "dss", "--site", S, "--file", F + "/garbage.dss", "COPY")
case("dss-neither", "DLB002E", "dss", "--site", S)
case("dss-no-site", "DLB301E", "dss", "--site", "{W}/nosite", "COPY DATASET(INCLUDE(MY.**)) RENAMEU(X)")

# ---------------------------------------------------------------- DBDs
for name in DBDS:
    case(f"dbd-{name}", "DLB5", "db", "define", "--site", S, F + f"/{name}.dbd")
case("dbd-missing-file", "DLB5", "db", "define", "--site", S, F + "/nothere.dbd")
case("dbd-dir", "DLB5", "db", "define", "--site", S, F + "/dir")
case("dbd-binary", "DLB5", "db", "define", "--site", S, F + "/binary")
case("dbd-empty", "DLB5", "db", "define", "--site", S, F + "/empty")
case("dbd-latin1", "DLB5", "db", "define", "--site", S, F + "/latin1.txt")

# ---------------------------------------------------------------- database commands
for cid, size in (("zero", "0"), ("negative", "-1MiB"), ("nan", "nan"), ("inf", "inf"), ("word", "big"),
                  ("unit", "5XB"), ("huge", "900TiB"), ("empty", "")):
    case(f"db-load-size-{cid}", "DLB5", "db", "load", "--site", S, "HDAMDB01", "--size", size)
case("db-load-unknown", "DLB5", "db", "load", "--site", S, "NOSUCHDB", "--size", "256KiB")
case("db-load-again", "DLB5", "db", "load", "--site", S, "HDAMDB01", "--size", "256KiB")
case("db-load-bad-volser", "DLB", "db", "load", "--site", S, "HDAMDB01", "--size", "256KiB", "--volser", "NOPE01")
case("db-verify-unknown", "DLB5", "db", "verify", "--site", S, "NOSUCHDB")
case("db-verify-unknown-ddn", "DLB5", "db", "verify", "--site", S, "HDAMDB01", "--ddn", "NOSUCHDD")
case("db-damage-unknown", "DLB", "db", "damage", "--site", S, "NOSUCHDB")
for cid, n in (("zero", "0"), ("negative", "-3"), ("too-many", "100000000")):
    case(f"db-damage-blocks-{cid}", "DLB", "db", "damage", "--site", S, "HDAMDB01", "--blocks", n)
case("db-damage-unknown-ddn", "DLB", "db", "damage", "--site", S, "HDAMDB01", "--ddn", "NOSUCHDD")
case("db-dbdlib-json-garbage", "DLB005E", "db", "verify", "--site", S, "HDAMDB01",
     prep=replace("site/ims/dbdlib/HDAMDB01.json", b"{not json"))
case("db-truth-meta-garbage", "DLB005E", "db", "verify", "--site", S, "HDAMDB01",
     prep=replace("site/ims/truth/HDAMDB01/meta.json", b"\x00\x01"))

# ---------------------------------------------------------------- RECON
RECON = "site/ims/recon.db"
RECON_FAULTS = {
    "garbage": replace(RECON, b"not a database at all" * 200),
    "truncated": truncate(RECON, 2000),
    "empty-file": replace(RECON, b""),
    "header-only": truncate(RECON, 100),
    "wrong-schema": sql(RECON, "DROP TABLE images;"),
    "zeroed-page": overwrite(RECON, bytes(4096), 4096),
}
RECON_CMDS = [
    ("recon-list", ["recon", "list", "--site", S]),
    ("db-verify", ["db", "verify", "--site", S, "HDAMDB01"]),
    ("hpic", ["hpic", "--site", S, str(FIX / "icein" / "standard.icein")]),
    ("recover", ["recover", "--site", S, "HDAMDB01"]),
    ("workload", ["workload", "run", "--site", S, "HDAMDB01", "--duration", "1s"]),
    ("ims", ["ims", "--site", S, "/DBR DB HDAMDB01"]),
]
for fault, prep in RECON_FAULTS.items():
    for cid, argv in RECON_CMDS:
        case(f"recon-{fault}-{cid}", "DLB005E", *argv, prep=prep)

# ---------------------------------------------------------------- workload
WL = ["workload", "run", "--site", S, "HDAMDB01"]
for cid, args in (("rate-nan", ["--rate", "nan"]), ("rate-inf", ["--rate", "inf"]), ("rate-negative", ["--rate", "-5"]), ("duration-nan", ["--duration", "nan"]),
                  ("duration-negative", ["--duration", "-1s"]), ("duration-word", ["--duration", "long"]),
                  ("duration-inf", ["--duration", "inf"]), ("duration-unit", ["--duration", "5y"]),
                  ("buffers-zero", ["--buffers", "0"]), ("buffers-negative", ["--buffers", "-1"]),
                  ("zipf-nan", ["--skew", "zipf", "--zipf", "nan"]), ("zipf-negative", ["--skew", "zipf", "--zipf", "-1"]),
                  ("zipf-inf", ["--skew", "zipf", "--zipf", "inf"]),
                  ("skew-unknown", ["--skew", "gaussian"]), ("update-size-zero", ["--update-size", "0"]),
                  ("update-size-negative", ["--update-size", "-4"]), ("update-size-huge", ["--update-size", "100000"]),
                  ("slice-zero", ["--slice", "0"]), ("slice-nan", ["--slice", "nan"]),
                  ("slice-negative", ["--slice", "-1ms"]), ("policy-unknown", ["--policy", "never"]),
                  ("checkpoint-zero", ["--checkpoint", "0"]), ("checkpoint-negative", ["--checkpoint", "-60s"]),
                  ("checkpoint-word", ["--checkpoint", "often"])):
    case(f"workload-{cid}", "DLB", *WL, "--duration", "1s", *args)
case("workload-unknown-db", "DLB5", "workload", "run", "--site", S, "NOSUCHDB", "--duration", "1s")
case("workload-uow-calls-zero", "DLB581E", *WL, "--duration", "1s", "--uow-calls", "0")

# ---------------------------------------------------------------- ICEIN and hpic
for name in ICEINS:
    msg = {"unknowndbd": "DLB5", "unknownddn": "DLB5", "badicout": "DLB566E", "groupnofunc": "DLB563E",
           "groupwithdbd": "DLB563E", "funconic": "DLB563E", "groupunknown": "DLB630E",
           "badregtimestmp": "DLB564E", "regtimestmponic": "DLB622E", "baddball": "DLB565E",
           "badfastic3": "DLB567E", "icoutnocopy": "DLB566E"}.get(name, "DLB6")
    case(f"icein-{name}", msg, "hpic", "--site", S, F + f"/{name}.icein")
case("icein-missing", "DLB6", "hpic", "--site", S, F + "/nothere.icein")
case("icein-dir", "DLB003E", "hpic", "--site", S, F + "/dir")
case("icein-binary", "DLB004E", "hpic", "--site", S, F + "/binary")
case("icein-empty", "DLB6", "hpic", "--site", S, F + "/empty")
case("icein-latin1", "DLB004E", "hpic", "--site", S, F + "/latin1.txt")
case("hpic-profile-unknown", "DLB", "hpic", "--site", S, str(FIX / "icein" / "standard.icein"), "--profile", "fast")
case("hpic-no-site", "DLB3", "hpic", "--site", "{W}/nosite", str(FIX / "icein" / "standard.icein"))

# ---------------------------------------------------------------- recover
for cid, to in (("nan", "nan"), ("inf", "inf"), ("negative", "-1"), ("word", "later"), ("empty", ""),
                ("beyond-clock", "1e9"), ("before-copy", "0.001"), ("unit", "5h")):
    case(f"recover-to-{cid}", "DLB6", "recover", "--site", S, "HDAMDB01", "--to", to)
case("recover-unknown-db", "DLB", "recover", "--site", S, "NOSUCHDB")
case("recover-unknown-ddn", "DLB", "recover", "--site", S, "HDAMDB01", "--ddn", "NOSUCHDD")
case("recover-no-copy-ddn", "DLB6", "recover", "--site", S, "HDAMDB01", "--ddn", "HDAMDD02",
     prep=sql(RECON, "DELETE FROM images;"))
case("recover-profile-unknown", "DLB", "recover", "--site", S, "HDAMDB01", "--profile", "fast")
case("recover-copy-gone", "DLB6", "recover", "--site", S, "HDAMDB01", "--ddn", "HDAMDD01",
     prep=sql("site/catalog.db", "DELETE FROM datasets WHERE dsn NOT LIKE 'IMS.HDAMDB01.HDAMDD0_' AND dsn != 'MY.DATA';"))

# ---------------------------------------------------------------- DBRC workflow
case("recon-init-cagrp-bad-member", "DLB630E", "recon", "init-cagrp", "CAG1", "HDAMDB01", "--site", S)
case("recon-init-dbdsgrp-unknown-dbds", "DLB630E", "recon", "init-dbdsgrp", "G1", "HDAMDB01.NOSUCH", "--site", S)
case("recon-change-accum-unknown-group", "DLB630E", "recon", "change-accum", "NOSUCH", "--site", S)
case("recon-notify-uic-no-data-set", "DLB633E", "recon", "notify-uic", "HDAMDB01", "HDAMDD01", "NO.SUCH.DS",
     "--site", S)
case("recon-notify-uic-bad-time", "DLB633E", "recon", "notify-uic", "HDAMDB01", "HDAMDD01", "NO.SUCH.DS",
     "--time", "soon", "--site", S)
case("recon-notify-recov-no-uic", "DLB634E", "recon", "notify-recov", "HDAMDB01", "HDAMDD01", "--site", S)
case("recon-genjcl-recov-nothing-named", "DLB636E", "recon", "genjcl-recov", "--site", S)
case("recon-genjcl-recov-to-nan", "DLB666E", "recon", "genjcl-recov", "HDAMDB01", "--to", "nan", "--site", S)
case("recover-usedbds-without-notify-recov", "DLB635E", "recover", "--site", S, "HDAMDB01", "--ddn", "HDAMDD01",
     "--usedbds")

# ---------------------------------------------------------------- IMS commands
for cid, cmd in (("empty", ""), ("blank", "  "), ("unknown", "/XYZ DB HDAMDB01"), ("no-slash", "DBR DB HDAMDB01"),
                 ("unknown-db", "/DBR DB NOSUCHDB"), ("no-db", "/DBR"), ("sta-started", "/STA DB HDAMDB01"),
                 ("update-garbage", "UPDATE DB NAME(HDAMDB01) START(MAYBE)"),
                 ("update-unbalanced", "UPDATE DB NAME(HDAMDB01 STOP(QUIESCE)"),
                 ("binary", "/DBR DB \x00\xff"), ("twice", "/DBR DB HDAMDB01 HDAMDB01"), ("extra-words", "/DBR DB HDAMDB01 EXTRA WORDS")):
    case(f"ims-{cid}", "DLB026E" if cid == "twice" else "DLB5", "ims", "--site", S, cmd)
for cid, w in (("nan", "nan"), ("negative", "-1"), ("inf", "inf")):
    case(f"ims-wait-{cid}", "DLB", "ims", "--site", S, "/DBR DB HDAMDB01", "--wait", w)

# ---------------------------------------------------------------- bench outage numbers, profiles
OUT = ["bench", "outage", "--db-size", "256KiB", "--methods", "standard", "--no-plots", "--out", "{W}/bo"]
for cid, args in (("rate-nan", ["--rate", "nan"]), ("rate-inf", ["--rate", "inf"]), ("rate-negative", ["--rate", "-1"]), ("scale-zero", ["--scale", "0"]),
                  ("scale-negative", ["--scale", "-4"]), ("scale-nan", ["--scale", "nan"]),
                  ("scale-inf", ["--scale", "inf"]), ("scale-and-modeled", ["--scale", "2", "--modeled-size", "1GiB"]),
                  ("modeled-smaller", ["--modeled-size", "1KiB"]), ("modeled-word", ["--modeled-size", "big"]),
                  ("db-size-zero", ["--db-size", "0"]), ("db-size-nan", ["--db-size", "nan"]),
                  ("db-size-negative", ["--db-size", "-1MiB"]), ("db-size-word", ["--db-size", "small"]),
                  ("zipf-nan", ["--zipf", "nan"]), ("zipf-negative", ["--zipf", "-2"]),
                  ("skew-unknown", ["--skew", "pareto"]), ("update-size-zero", ["--update-size", "0"]),
                  ("update-size-huge", ["--update-size", "1000000"]), ("slice-zero", ["--slice", "0"]),
                  ("slice-nan", ["--slice", "nan"]), ("warmup-negative", ["--warmup", "-1"]),
                  ("warmup-nan", ["--warmup", "nan"]), ("cooldown-inf", ["--cooldown", "inf"]),
                  ("cooldown-negative", ["--cooldown", "-1"]), ("duration-nan", ["--duration", "nan"]),
                  ("duration-negative", ["--duration", "-5"]), ("methods-unknown", ["--methods", "standard,bogus"]),
                  ("methods-empty", ["--methods", ""]), ("methods-duplicate", ["--methods", "standard,standard"]),
                  ("profile-unknown", ["--profile", "fast"]),
                  ("profile-file-missing", ["--profile-file", F + "/nothere.toml"]),
                  ("profile-file-binary", ["--profile-file", F + "/binary"]),
                  ("profile-file-dir", ["--profile-file", F + "/dir"])):
    msgid = {"profile-file-binary": "DLB004E", "profile-file-dir": "DLB003E", "slice-nan": "DLB002E",
             "warmup-nan": "DLB002E", "cooldown-inf": "DLB002E", "duration-nan": "DLB002E"}.get(cid, "DLB7")
    case(f"bench-outage-{cid}", msgid, *OUT, *args)
for name in PROFILES:
    case(f"bench-outage-profile-{name}", "DLB7", *OUT, "--profile-file", F + f"/prof-{name}.toml", "--profile",
         "fast")
case("bench-outage-out-is-file", "DLB7", "bench", "outage", "--db-size", "256KiB", "--methods", "standard",
     "--no-plots", "--out", F + "/data.bin")
case("bench-outage-out-foreign", "DLB7", "bench", "outage", "--db-size", "256KiB", "--methods", "standard",
     "--no-plots", "--out", F)

# ---------------------------------------------------------------- sweeps and teach
for name in GRIDS:
    case(f"sweep-grid-{name}", "DLB7", "bench", "sweep", "--grid", F + f"/{name}.toml", "--out", "{W}/sw",
         "--workers", "0")
case("sweep-grid-missing", "DLB7", "bench", "sweep", "--grid", F + "/nothere.toml", "--out", "{W}/sw")
case("sweep-grid-binary", "DLB7", "bench", "sweep", "--grid", F + "/binary", "--out", "{W}/sw")
case("sweep-grid-dir", "DLB7", "bench", "sweep", "--grid", F + "/dir", "--out", "{W}/sw")
case("sweep-grid-empty", "DLB7", "bench", "sweep", "--grid", F + "/empty", "--out", "{W}/sw")
case("sweep-workers-negative", "DLB7", "bench", "sweep", "--grid", str(FIX / "grids" / "ci.toml"), "--out",
     "{W}/sw", "--workers", "-1")
case("sweep-out-is-file", "DLB7", "bench", "sweep", "--grid", str(FIX / "grids" / "ci.toml"), "--out",
     F + "/data.bin", "--workers", "0")
case("sweep-out-foreign", "DLB7", "bench", "sweep", "--grid", str(FIX / "grids" / "ci.toml"), "--out", F,
     "--workers", "0")
case("sweep-scheduler-garbage", "DLB7", "bench", "sweep", "--grid", str(FIX / "grids" / "ci.toml"), "--out",
     "{W}/sw", "--scheduler", "not a url")
case("teach-results-missing", "DLB7", "bench", "teach", "--results", "{W}/nores", "--method", "dump-cc")
case("teach-results-empty", "DLB7", "bench", "teach", "--results", F + "/dir", "--method", "dump-cc")
case("teach-method-unknown", "DLB7", "bench", "teach", "--results", F, "--method", "bogus")
case("teach-frames-negative", "DLB7", "bench", "teach", "--results", F, "--method", "dump-cc", "--frames", "-1")
case("teach-out-format", "DLB7", "bench", "teach", "--results", F, "--method", "dump-cc", "--out", "{W}/x.svg")

# ---------------------------------------------------------------- volume convert and copy
case("convert-to-existing", "DLB180E", "volume", "convert", V, F + "/data.bin", "--cckd")
case("convert-to-existing-plain", "DLB180E", "volume", "convert", V, F + "/data.bin")
case("convert-compress-unknown", "DLB181E", "volume", "convert", V, "{W}/x.cckd", "--cckd", "--compress", "lzma")
case("convert-compress-without-cckd", "DLB1", "volume", "convert", V, "{W}/x.cckd", "--compress", "zlib")
case("convert-sf-nothing", "DLB1", "volume", "convert", V, "{W}/x.ckd", "--sf", "{W}/shadows/none_*.shd")
case("convert-to-missing-dir", "DLB1", "volume", "convert", V, "{W}/no/dir/x.cckd", "--cckd")
case("convert-onto-itself", "DLB1", "volume", "convert", V, V)
case("copy-to-existing", "DLB1", "volume", "copy", V, F + "/data.bin")
case("copy-onto-itself", "DLB1", "volume", "copy", V, V)
case("copy-to-missing-dir", "DLB003E", "volume", "copy", V, "{W}/no/dir/x.ckd")
case("snap-export-to-missing-dir", "DLB", "snap", "export", "--site", S, "RVA001", "{W}/no/dir/x.ckd")

# ---------------------------------------------------------------- partitioned data sets
PDS_CMDS = [
    ("list", ["pds", "list", V, "{dsn}"]),
    ("read", ["pds", "read", V, "{dsn}", "MEMBER1", "--to", "{W}/out.bin"]),
    ("write", ["pds", "write", V, "{dsn}", "NEWMEM", "--from", F + "/data.bin"]),
    ("delete", ["pds", "delete", V, "{dsn}", "MEMBER1"]),
    ("rename", ["pds", "rename", V, "{dsn}", "MEMBER1", "NEWMEM"]),
]
for cid, argv in PDS_CMDS:
    case(f"pds-{cid}-missing-pds", "DLB210E", *[a.replace("{dsn}", "NOT.THERE") for a in argv])
    case(f"pds-{cid}-not-a-pds", "DLB2", *[a.replace("{dsn}", "SOME.DATA") for a in argv])
    case(f"pds-{cid}-bad-dsn", "DLB200E", *[a.replace("{dsn}", "1BAD..") for a in argv])
    case(f"pds-{cid}-missing-image", "DLB1", *[a.replace("{dsn}", "SOME.PDS").replace(V, "{W}/nothere.ckd")
                                               for a in argv])
def pds_directory(used: bytes = b"", ttr: bytes = b"") -> Callable[[Path], None]:
    """Damage SOME.PDS's directory block in place: its used-bytes count, or the TTR of
    MEMBER1's entry (the only block in use is the last, keyed X'FF...': the key, then
    the count, then the first entry's name)."""
    def prep(w: Path) -> None:
        pattern = b"\xff" * 8 + b"." + b"." + re.escape("MEMBER1 ".encode("cp037"))
        raw = (w / "vol.ckd").read_bytes()
        at = re.search(pattern, raw, re.DOTALL).start() + 8  # the used-bytes count
        with open(w / "vol.ckd", "r+b") as f:
            if used:
                f.seek(at)
                f.write(used)
            if ttr:
                f.seek(at + 2 + 8)
                f.write(ttr)
    return prep


PDS_DIR_CMDS = {
    "list": ["pds", "list", V, "SOME.PDS"],
    "read": ["pds", "read", V, "SOME.PDS", "MEMBER1", "--to", "{W}/out.bin"],
    "write": ["pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/data.bin"],
}
for cid, prep, cmds, msgid in (
        ("count-huge", pds_directory(used=b"\xff\xff"), ("list", "read", "write"), "DLB271E"),
        ("count-one", pds_directory(used=b"\x00\x01"), ("list", "read", "write"), "DLB271E"),
        ("entry-cut", pds_directory(used=b"\x00\x10"), ("list", "read", "write"), "DLB271E"),
        ("ttr-beyond", pds_directory(ttr=b"\x7f\xff\x01"), ("read",), "DLB276E")):
    for cmd in cmds:
        case(f"pds-directory-{cid}-{cmd}", msgid, *PDS_DIR_CMDS[cmd], prep=prep)
for member in ("TOOLONGNAME", "1ABC", "", "AB CD", "ab.c", "A*"):
    tag = member.replace(" ", "_").replace("*", "star").replace(".", "dot") or "empty"
    case(f"pds-read-member-{tag}", "DLB2", "pds", "read", V, "SOME.PDS", member, "--to", "{W}/out.bin")
    case(f"pds-write-member-{tag}", "DLB2", "pds", "write", V, "SOME.PDS", member, "--from", F + "/data.bin")
    case(f"pds-delete-member-{tag}", "DLB2", "pds", "delete", V, "SOME.PDS", member)
    case(f"pds-rename-to-{tag}", "DLB2", "pds", "rename", V, "SOME.PDS", "MEMBER1", member)
case("pds-read-unknown-member", "DLB2", "pds", "read", V, "SOME.PDS", "NOSUCH", "--to", "{W}/out.bin")
case("pds-delete-unknown-member", "DLB2", "pds", "delete", V, "SOME.PDS", "NOSUCH")
case("pds-rename-unknown-member", "DLB2", "pds", "rename", V, "SOME.PDS", "NOSUCH", "NEWMEM")
case("pds-rename-onto-existing", "DLB2", "pds", "rename", V, "SOME.PDS", "MEMBER1", "MEMBER1")
case("pds-read-to-missing-dir", "DLB261E", "pds", "read", V, "SOME.PDS", "MEMBER1", "--to", "{W}/no/dir/out.bin")
case("pds-read-to-dir", "DLB261E", "pds", "read", V, "SOME.PDS", "MEMBER1", "--to", F + "/dir")
case("pds-write-missing-from", "DLB", "pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/nothere.bin")
case("pds-write-from-dir", "DLB", "pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/dir")
case("pds-write-odd-length", "DLB2", "pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/odd.bin")
case("pds-write-ascii-binary", "DLB", "pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/binary", "--ascii")
case("pds-write-no-from", "DLB002E", "pds", "write", V, "SOME.PDS", "NEWMEM")
case("pds-list-sf-nothing", "DLB1", "pds", "list", V, "SOME.PDS", "--sf", "{W}/shadows/none_*.shd")
case("dataset-write-ascii-binary", "DLB", "dataset", "write", V, "SOME.DATA", "--from", F + "/binary", "--ascii")
for cid, src in (("text", "/latin1.txt"), ("records", "/data.bin"), ("empty", "/empty"), ("binary", "/binary")):
    case(f"pds-load-{cid}", "DLB837E", "pds", "load", V, "NEW.PDS", F + src)
case("pds-load-missing-file", "DLB", "pds", "load", V, "NEW.PDS", F + "/nothere.xmi")
case("pds-load-dir", "DLB", "pds", "load", V, "NEW.PDS", F + "/dir")
case("pds-load-bad-dsn", "DLB2", "pds", "load", V, "1BAD..", F + "/data.bin")
case("pds-load-missing-image", "DLB1", "pds", "load", "{W}/nothere.ckd", "NEW.PDS", F + "/data.bin")
case("pds-load-tracks-and-cylinders", "DLB002E", "pds", "load", V, "NEW.PDS", F + "/data.bin", "--tracks", "1",
     "--cylinders", "1")
case("dataset-write-ascii-latin1", "DLB", "dataset", "write", V, "SOME.DATA", "--from", F + "/latin1.txt",
     "--ascii")
case("dataset-write-ascii-line-too-long", "DLB2", "dataset", "write", V, "SOME.DATA", "--from", F + "/longline.txt",
     "--ascii")
case("pds-write-ascii-line-too-long", "DLB2", "pds", "write", V, "SOME.PDS", "NEWMEM", "--from", F + "/longline.txt",
     "--ascii")
case("dataset-write-pds", "DLB2", "dataset", "write", V, "SOME.PDS", "--from", F + "/data.bin")
case("dataset-alloc-dir-blocks-ps", "DLB2", "dataset", "alloc", V, "NEW.DATA", "--tracks", "1", "--dir-blocks", "2")
case("dataset-alloc-dir-blocks-negative", "DLB2", "dataset", "alloc", V, "NEW.DATA", "--tracks", "1", "--dsorg",
     "PO", "--dir-blocks", "-1")
case("dataset-alloc-dir-blocks-too-many", "DLB2", "dataset", "alloc", V, "NEW.DATA", "--tracks", "1", "--dsorg",
     "PO", "--dir-blocks", "100000")
case("volume-init-null-tracks-over-existing", "DLB117E", "volume", "init", V, "--volser", "X", "--cylinders", "1",
     "--null-tracks")
case("volume-init-null-tracks-cyl-zero", "DLB1", "volume", "init", "{W}/new.ckd", "--volser", "NEW001",
     "--model", "3390-1", "--cylinders", "0", "--null-tracks")

# ---------------------------------------------------------------- compressed images (volume cckd)
CCKD = F + "/vol.cckd"
for verb in ("check", "compact", "swap"):
    case(f"cckd-{verb}-missing", "DLB1", "volume", "cckd", verb, F + "/nothere.cckd")
    case(f"cckd-{verb}-plain-image", "DLB1", "volume", "cckd", verb, V)
    case(f"cckd-{verb}-text", "DLB1", "volume", "cckd", verb, F + "/latin1.txt")
    case(f"cckd-{verb}-empty", "DLB1", "volume", "cckd", verb, F + "/empty")
    case(f"cckd-{verb}-dir", "DLB1", "volume", "cckd", verb, F + "/dir")
    case(f"cckd-{verb}-truncated-header", "DLB1", "volume", "cckd", verb, CCKD, prep=truncate("files/vol.cckd", 600))
    case(f"cckd-{verb}-bad-l1", "DLB1", "volume", "cckd", verb, CCKD,
         prep=overwrite("files/vol.cckd", b"\xff" * 64, 512 + 512))
case("cckd-check-repair-plain-image", "DLB1", "volume", "cckd", "check", V, "--repair")
case("cckd-check-repair-truncated", "DLB1", "volume", "cckd", "check", CCKD, "--repair",
     prep=truncate("files/vol.cckd", 600))
case("cckd-check-level-negative", "DLB002E", "volume", "cckd", "check", CCKD, "--level", "-1")
case("cckd-check-level-4", "DLB002E", "volume", "cckd", "check", CCKD, "--level", "4")
case("cckd-check-level-word", "DLB002E", "volume", "cckd", "check", CCKD, "--level", "deep")

# ---------------------------------------------------------------- shadow files (volume sf)
for verb in ("add", "remove", "compress", "show"):
    case(f"sf-{verb}-missing", "DLB1", "volume", "sf", verb, F + "/nothere.cckd", "--sf", "{W}/s_*.shd")
    case(f"sf-{verb}-plain-image", "DLB1", "volume", "sf", verb, V, "--sf", "{W}/s_*.shd")
    case(f"sf-{verb}-text", "DLB1", "volume", "sf", verb, F + "/latin1.txt", "--sf", "{W}/s_*.shd")
    case(f"sf-{verb}-no-name", "DLB002E", "volume", "sf", verb, CCKD)
    case(f"sf-{verb}-two-names", "DLB188E", "volume", "sf", verb, CCKD, "--sf", "{W}/a_*.shd",
         "sf={W}/b_*.shd")
    case(f"sf-{verb}-extra-arg", "DLB002E", "volume", "sf", verb, CCKD, "sf={W}/a_*.shd", "extra")
case("dasdls-no-image", "DLB002E", "volume", "dasdls", "-hdr")
case("dasdls-missing-image", "DLB1", "volume", "dasdls", "-info", F + "/nothere.ckd")
case("dasdls-text", "DLB1", "volume", "dasdls", F + "/latin1.txt")
case("dasdls-sf-nothing", "DLB1", "volume", "dasdls", CCKD, "sf={W}/none_*.shd")
case("sf-remove-no-shadow", "DLB173E", "volume", "sf", "remove", CCKD, "--sf", "{W}/s_*.shd")
case("sf-add-missing-dir", "DLB171E", "volume", "sf", "add", CCKD, "--sf", "{W}/no/dir/s_*.shd")
case("sf-compress-damaged-base", "DLB1", "volume", "sf", "compress", CCKD, "--sf", "{W}/s_*.shd",
     prep=overwrite("files/vol.cckd", b"\xff" * 64, 512 + 512))

# ---------------------------------------------------------------- copy services
for cid, name in (("unknown", "nosuch"), ("empty", ""), ("path", "../flashcopy"), ("upper", "FLASHCOPY X")):
    case(f"services-test-{cid}", "DLB", "services", "test", name)
    case(f"site-add-service-{cid}", "DLB", "site", "add-service", S, "DS8K1", name)
case("services-test-unknown-check", "DLB", "services", "test", "flashcopy", "--check", "no_such_check")
case("services-list-extra", "DLB002E", "services", "list", "extra")
case("site-add-service-unknown-subsystem", "DLB3", "site", "add-service", S, "NOPE1", "flashcopy")
case("site-add-service-no-site", "DLB3", "site", "add-service", "{W}/nosite", "DS8K1", "flashcopy")
case("site-add-service-json-garbage", "DLB302E", "site", "add-service", S, "DS8K1", "snapshot",
     prep=replace("site/site.json", b"{not json"))

# ---------------------------------------------------------------- the lab
for name in LAB_SCRIPTS:
    case(f"lab-script-{name}", "DLB866E", "lab", "--script", F + f"/{name}.lab")
case("lab-script-missing", "DLB868E", "lab", "--script", F + "/nothere.lab")
case("lab-script-dir", "DLB868E", "lab", "--script", F + "/dir")
case("lab-script-binary", "DLB", "lab", "--script", F + "/binary")
case("lab-format-unknown", "DLB867E", "lab", "--script", F + "/unknown.lab", "--format", "gif")
case("lab-save-maps-is-file", "DLB869E", "lab", "--script", F + "/unknown.lab", "--save-maps", F + "/data.bin")
case("lab-site-existing", "DLB", "lab", "--script", F + "/unknown.lab", "--site", S)

# ---------------------------------------------------------------- bench explore and the new bench, recover,
# workload options
case("explore-results-missing", "DLB7", "bench", "explore", "--results", "{W}/nores")
case("explore-results-empty", "DLB7", "bench", "explore", "--results", F + "/dir")
case("explore-results-foreign", "DLB7", "bench", "explore", "--results", F)
case("explore-results-is-file", "DLB7", "bench", "explore", "--results", F + "/data.bin")
for cid, args in (("max-wall-nan", ["--max-wall", "nan"]), ("max-wall-inf", ["--max-wall", "inf"]),
                  ("max-wall-zero", ["--max-wall", "0"]), ("max-wall-negative", ["--max-wall", "-1"]),
                  ("cache-zero", ["--cache", "0"]), ("cache-negative", ["--cache", "-1GiB"]),
                  ("cache-nan", ["--cache", "nan"]), ("cache-word", ["--cache", "big"])):
    case(f"bench-outage-{cid}", "DLB", *OUT, *args)
case("bench-outage-html-out-is-file", "DLB7", "bench", "outage", "--db-size", "256KiB", "--methods", "standard",
     "--no-plots", "--html", "--out", F + "/data.bin")
for cid, mover in (("unknown", "TAPE"), ("empty", ""), ("lower-garbage", "dss please")):
    case(f"recover-data-mover-{cid}", "DLB6", "recover", "--site", S, "HDAMDB01", "--ddn", "HDAMDD01",
         "--data-mover", mover)
case("recover-image-copy-without-to", "DLB029E", "recover", "--site", S, "HDAMDB01", "--ddn", "HDAMDD01",
     "--image-copy")
case("demo-out-is-file", "DLB7", "demo", "--out", F + "/data.bin")
case("demo-out-foreign", "DLB7", "demo", "--out", F)
for cid, n in (("zero", "0"), ("negative", "-1"), ("too-few", "1023"), ("too-many", "999999999"),
               ("word", "many")):
    case(f"workload-checkpoint-log-records-{cid}", "DLB", *WL, "--duration", "1s", "--checkpoint-log-records", n)

# fixtures copy: never over a user's changed copy, never into what is not a folder
def changed_fixtures(w: Path) -> None:
    d = w / "fx" / "fixtures" / "dbd"
    d.mkdir(parents=True)
    (d / "hdamdb01.dbd").write_text("* my own DBD\n")


case("fixtures-copy-over-changed", "DLB035E", "fixtures", "copy", "{W}/fx", prep=changed_fixtures)
case("fixtures-copy-into-file", "DLB035E", "fixtures", "copy", F + "/data.bin")
case("fixtures-copy-into-missing", "DLB035E", "fixtures", "copy", "{W}/nofolder")


# bench plot-sweep: a folder that holds no sweep, or a sweep whose grid is gone or damaged
def sweep_results(grid: str | None) -> Callable[[Path], None]:
    def prep(w: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (w / "sw" / "results").mkdir(parents=True)
        pq.write_table(pa.table({"scenario": ["s0000-x"], "index": [0], "status": ["ok"],
                                 "outage_modeled_s": [1.0]}), w / "sw" / "results" / "s0000-x.parquet")
        if grid is not None:
            (w / "sw" / "grid.toml").write_text(grid)
    return prep


case("plot-sweep-no-results", "DLB761E", "bench", "plot-sweep", "--results", F)
case("plot-sweep-missing-folder", "DLB761E", "bench", "plot-sweep", "--results", "{W}/nosweep", "--to", "{W}/p.png")
case("plot-sweep-grid-gone", "DLB750E", "bench", "plot-sweep", "--results", "{W}/sw", prep=sweep_results(None))
case("plot-sweep-grid-damaged", "DLB751E", "bench", "plot-sweep", "--results", "{W}/sw",
     prep=sweep_results("[grid\nmethods = ["))

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# ====================================================================== running them
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    w = tmp_path_factory.mktemp("corpus") / "pristine"
    build_world(w)
    return w


@pytest.fixture(scope="module")
def shared(pristine, tmp_path_factory):
    """The world the cases without ``prep`` share; rebuilt when a case changed it."""
    w = tmp_path_factory.mktemp("corpus") / "shared"
    sparse_copy(pristine, w)
    return {"path": w, "digest": snapshot(w)}


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 300, len(CASES)
    # version, warmup, fixtures path and list take no value a user could get wrong: only
    # usage cases reach them
    leaf = {tuple(p) for p, _ in _leaf_commands()} - {("version",), ("warmup",), ("fixtures", "path"),
                                                      ("fixtures", "list")}
    # the generated usage cases (an unknown option, a missing argument) reach every command
    # by construction: each command must have a case of its own besides them
    commands = set()
    for c in CASES:
        if c.id.startswith("usage-"):
            continue
        commands |= {tuple(c.argv[:n]) for n in range(1, len(c.argv) + 1)} & leaf
    assert leaf <= commands, sorted(leaf - commands)  # every command has at least one case


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c: Case, pristine, shared, tmp_path, capsys):
    if c.prep is None:
        w = shared["path"]
        before = shared["digest"]
    else:
        w = tmp_path / "w"
        sparse_copy(pristine, w)
        c.prep(w)
        before = snapshot(w)
    argv = [a.replace("{W}", str(w)) for a in c.argv]
    capsys.readouterr()
    try:
        code = run(argv)
    except BaseException as e:  # what a user would see as a traceback
        pytest.fail(f"{type(e).__name__} escaped: {e}")
    out, err = capsys.readouterr()
    after = snapshot(w)
    if c.prep is None and after != before:
        shutil.rmtree(w)
        sparse_copy(pristine, w)  # the next cases get an unchanged world again
    assert code != 0, f"exit 0; stdout: {out[-400:]}"
    assert "Traceback" not in out + err
    ids = [line.split()[0] for line in err.splitlines() if line.strip()]
    assert ids and ids[0].startswith(c.msgid) and ids[0][-1] in "ESW" and len(ids[0]) == 7, \
        f"stderr does not start with {c.msgid}...: {err[:400]!r}"
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"files changed or appeared: {changed[:6]}"


def test_a_command_in_the_wrong_state_says_what_to_do_next(pristine, tmp_path, capsys):
    w = tmp_path / "w"
    sparse_copy(pristine, w)
    site = str(w / "site")
    assert run(["ims", "--site", site, "/DBR DB HDAMDB01"]) == 0
    before = snapshot(w)
    capsys.readouterr()
    assert run(["ims", "--site", site, "/DBR DB HDAMDB01"]) == 8
    err = capsys.readouterr().err
    assert err.startswith("DLB571E") and "'/STA DB HDAMDB01' starts it again" in err
    assert run(["hpic", "--site", site, str(FIX / "icein" / "standard.icein")]) == 8
    err = capsys.readouterr().err
    assert err.startswith("DLB027E") and "'/STA DB HDAMDB01' starts it" in err
    assert snapshot(w) == before
