"""``dasdlab hpic``, ``dasdlab recover`` and ``dasdlab db damage`` from the command
line: reports, return codes, and bad input refused with a message id while every file
of the site stays byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from dasdlab.cli.main import run
from dasdlab.engine.recon import Recon

ROOT = Path(__file__).resolve().parents[2]
ICEIN = ROOT / "fixtures" / "icein"


def digest(path: Path) -> str:
    """SHA-256 of a file's data ranges (a sparse volume's holes are not read)."""
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
            h.update(pos.to_bytes(8, "little") + f.read(stop - pos))
            pos = stop
    return h.hexdigest()


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p)
            for p in sorted(folder.rglob("*"))
            # the lock file and SQLite's shared-memory WAL index are not data
            if p.is_file() and p.suffix != ".lock" and not p.name.endswith("-shm")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("hpiccli")
    s = d / "site"
    for argv in (["site", "init", str(s)],
                 ["site", "add-volume", str(s), "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "40"],
                 ["site", "add-volume", str(s), "DS8K1", "DSA002", "--model", "3390-1", "--cylinders", "40"],
                 ["db", "define", "--site", str(s), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(s), "HDAMDB01", "--size", "1MiB"],
                 ["workload", "run", "--site", str(s), "HDAMDB01", "--duration", "2s", "--buffers", "32"]):
        assert run(argv) == 0, argv
    return s


@pytest.fixture
def fails(capsys, site, tmp_path):
    """Run a command that must fail with ``msgid`` and change no file of the site."""

    def call(msgid: str, *argv, code: int = 8) -> str:
        before = files(site)
        capsys.readouterr()
        assert run([str(a) for a in argv]) == code
        out, err = capsys.readouterr()
        assert msgid in err, (out, err)
        assert files(site) == before
        return err

    return call


def test_hpic_recover_damage_round_trip(site, capsys, tmp_path):
    capsys.readouterr()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01"]) == 8
    assert "DLB662E" in capsys.readouterr().err  # no image copy yet
    assert run(["hpic", "--site", str(site), str(ICEIN / "compressed.icein")]) == 0
    out = capsys.readouterr().out
    assert out.count("DLB682I") == 2 and "RECON BATCH image" in out and "format COMPRESSED" in out
    assert re.search(r"held [\d.]+ - [\d.]+ \([\d.]+ s\); logical completion [\d.]+, physical [\d.]+", out)
    assert run(["hpic", "--site", str(site), str(ICEIN / "copy-flashcopy.icein"), "--json",
                "--profile", "3390-3990"]) == 0
    rep = json.loads(capsys.readouterr().out)
    (r,) = rep["reports"]
    assert rep["profile"] == "3390-3990" and rep["rc"] == 0
    assert r["process"] == "copy-flashcopy" and r["recon_type"] == "SMSOFFLC" and r["outputs"][0]["format"] == "FR"
    assert r["hold_start"] < r["hold_end"] <= r["physical"] and r["outage_modeled_s"] > 0
    assert run(["workload", "run", "--site", str(site), "HDAMDB01", "--duration", "1s", "--seed", "4"]) == 0
    assert run(["db", "damage", "--site", str(site), "HDAMDB01", "--blocks", "7", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "DLB672W" in out and "7 blocks damaged" in out
    assert run(["db", "verify", "--site", str(site), "HDAMDB01"]) == 8
    assert "DLB591E" in capsys.readouterr().err
    assert run(["recover", "--site", str(site), "HDAMDB01"]) == 0
    out = capsys.readouterr().out
    # HDAMDD01 from the newer Fast Recovery copy (flashed back), HDAMDD02 reloaded
    assert re.search(r"DLB690I HDAMDB01.HDAMDD01 restored from image copy \d+ \(SMSOFFLC, FR .*\) by flashcopy", out)
    assert re.search(r"DLB690I HDAMDB01.HDAMDD02 restored from image copy \d+ \(BATCH, COMPRESSED .*\) by reload", out)
    assert "DLB691I database HDAMDB01 recovered to the end of the log" in out
    assert run(["db", "verify", "--site", str(site), "HDAMDB01"]) == 0
    # the data mover that copies the clone back: EMCSNAP needs TimeFinder, which DS8K1 lacks
    capsys.readouterr()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--data-mover", "emcsnap"]) == 8
    assert "DLB623E" in capsys.readouterr().err
    # point in time, as JSON: HDAMDD01 back to just after the flash copy
    recon = Recon.of_site(site)
    fr = [i for i in recon.images("HDAMDB01", "HDAMDD01") if i["extra"]["format"] == "FR"][-1]
    recon.close()
    capsys.readouterr()
    # registered at its logical completion; the job ended at its physical completion
    assert fr["stop_time"] == fr["extra"]["logical_time"] < fr["extra"]["physical_time"]
    to = fr["extra"]["physical_time"] + 0.5
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--to",
                f"{to}s", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    (res,) = rep["results"]
    assert rep["to_time"] == pytest.approx(to) and res["image_id"] == fr["id"]
    assert res["method"] == "flashcopy" and res["records"] > 0 and res["compensated"] > 0
    # recovered to a point in time: stopped until image-copied (DLB562E on /STA)
    assert not rep["restarted"] and rep["modeled_total_s"] > 0
    assert run(["db", "verify", "--site", str(site), "HDAMDB01"]) == 0
    capsys.readouterr()
    assert run(["ims", "--site", str(site), "/STA DB HDAMDB01"]) != 0
    assert "DLB562E" in capsys.readouterr().err
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--to", f"{to}s",
                "--image-copy", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    # it was stopped before this recovery, so it is not started by it; the copy is made
    assert not rep["restarted"] and rep["modeled"]["image_copy"] > 0 and len(rep["image_copies"]) == 1
    assert run(["ims", "--site", str(site), "/STA DB HDAMDB01"]) == 0
    assert run(["db", "verify", "--site", str(site), "HDAMDB01"]) == 0


def test_hpic_return_codes(site, capsys, tmp_path):
    mixed = tmp_path / "mixed.icein"
    mixed.write_text("  GLOBAL   DATA_MOVER=EMCSNAP\n"
                     "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,FASTIC=N\n"
                     "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,\n"
                     "           FASTIC=(REQ,COPY)\n")
    capsys.readouterr()
    assert run(["hpic", "--site", str(site), str(mixed)]) == 4
    out = capsys.readouterr().out
    assert "DLB683E" in out and "DLB650E" in out and "1 of 2 image copies made and verified; return code 4" in out
    bad = tmp_path / "bad.icein"
    bad.write_text("  GLOBAL   DATA_MOVER=EMCSNAP\n"
                   "  IC       DBD=HDAMDB01,DDN=HDAMDD01,ICOUT=*,\n"
                   "           FASTIC=(REQ,COPY)\n")
    assert run(["hpic", "--site", str(site), str(bad)]) == 8
    assert "return code 8" in capsys.readouterr().out


def test_bad_input(site, fails, tmp_path):
    s = str(site)
    broken = tmp_path / "broken.icein"
    broken.write_text("  IC       DBD=HDAMDB01,,ICOUT=*\n")
    raw = broken.read_bytes()
    fails("DLB620E", "hpic", "--site", s, tmp_path / "none.icein")
    fails("DLB601E", "hpic", "--site", s, broken)
    assert broken.read_bytes() == raw
    fails("DLB700E", "hpic", "--site", s, ICEIN / "standard.icein", "--profile", "nosuch")
    other = tmp_path / "other.icein"
    other.write_text("  IC       DBD=NOSUCHDB,ICOUT=*\n")
    fails("DLB521E", "hpic", "--site", s, other)
    fails("DLB666E", "recover", "--site", s, "HDAMDB01", "--to", "yesterday")
    fails("DLB666E", "recover", "--site", s, "HDAMDB01", "--to", "-3")
    fails("DLB666E", "recover", "--site", s, "HDAMDB01", "--to", "1e9")
    fails("DLB662E", "recover", "--site", s, "HDAMDB01", "--to", "0.5")
    fails("DLB527E", "recover", "--site", s, "HDAMDB01", "--ddn", "NOSUCH")
    fails("DLB521E", "recover", "--site", s, "NOSUCHDB")
    fails("DLB671E", "db", "damage", "--site", s, "HDAMDB01", "--blocks", "0")
    fails("DLB671E", "db", "damage", "--site", s, "HDAMDB01", "--ddn", "HDAMDD01", "--blocks", "100000")
    fails("DLB527E", "db", "damage", "--site", s, "HDAMDB01", "--ddn", "NOSUCH")
    fails("DLB521E", "db", "damage", "--site", s, "NOSUCHDB")
    from dasdlab.emulator.site import Site

    empty = tmp_path / "empty"
    Site.init(empty).close()
    before = files(empty)
    assert run(["hpic", "--site", str(empty), str(ICEIN / "standard.icein")]) == 8
    assert files(empty) == before


def test_missing_log_and_database_in_use(site, fails, tmp_path):
    """A LOG record missing from RECON, a log file gone, and another live process
    holding the database online: each refused before anything changes."""
    s = str(site)
    assert run(["hpic", "--site", s, str(ICEIN / "compressed.icein")]) == 0
    assert run(["workload", "run", "--site", s, "HDAMDB01", "--duration", "1s", "--seed", "9"]) == 0
    recon = Recon.of_site(site)
    logs = recon.logs()
    recon.close()
    last = logs[-2]  # the workload's log data set
    f = site / "ims" / "logs" / Path(last["path"]).name
    f.rename(f.with_suffix(".away"))
    try:
        fails("DLB664E", "recover", "--site", s, "HDAMDB01")
    finally:
        f.with_suffix(".away").rename(f)
    db = sqlite3.connect(site / "ims" / "recon.db")
    row = db.execute("SELECT * FROM logs WHERE dsn=?", (last["dsn"],)).fetchone()
    db.execute("DELETE FROM logs WHERE dsn=?", (last["dsn"],))
    db.commit()
    try:
        fails("DLB663E", "recover", "--site", s, "HDAMDB01")
    finally:
        db.execute(f"INSERT INTO logs VALUES ({','.join('?' * len(row))})", row)
        db.commit()
        db.close()
    # another process holds the database online (a live process's authorization)
    holder = subprocess.Popen(["sleep", "60"])
    recon = Recon.of_site(site)
    recon.authorize("HDAMDB01", "IMS9", "UPDATE", "ONLINE", 0.0, pid=holder.pid)
    recon.close()
    try:
        fails("DLB665E", "recover", "--site", s, "HDAMDB01")
        fails("DLB670E", "db", "damage", "--site", s, "HDAMDB01")
        fails("DLB680E", "hpic", "--site", s, ICEIN / "standard.icein")
    finally:
        holder.kill()
        holder.wait()
    assert run(["recover", "--site", s, "HDAMDB01"]) == 0
    assert run(["db", "verify", "--site", s, "HDAMDB01"]) == 0
