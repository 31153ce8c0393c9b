"""The DBRC workflow from the command line: a user image copy made with
``dasdlab flashcopy`` registered with ``recon notify-uic``, restored by the user,
``recon notify-recov``, ``recover --usedbds``; change accumulation groups and
``recon change-accum``; ``recon genjcl-recov`` -- each recovery verified against the
committed content, bad input refused with a message id and no file changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[2]

from tests.engine.test_recovery_cli import files  # noqa: E402


@pytest.fixture()
def site(tmp_path):
    s = tmp_path / "site"
    for argv in (["site", "init", str(s)],
                 ["site", "add-volume", str(s), "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "40"],
                 ["site", "add-volume", str(s), "DS8K1", "DSA002", "--model", "3390-1", "--cylinders", "40"],
                 ["db", "define", "--site", str(s), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(s), "HDAMDB01", "--size", "1MiB"],
                 ["workload", "run", "--site", str(s), "HDAMDB01", "--duration", "1s", "--buffers", "32"]):
        assert run(argv) == 0, argv
    return s


def _dbds(site: Path, capsys) -> dict:
    capsys.readouterr()
    assert run(["recon", "list", "--site", str(site), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    return {x["ddn"]: x for x in data["databases"][0]["dbds"]}, data


def test_user_image_copy_from_flashcopy_recovered_with_usedbds(site, capsys):
    s = str(site)
    dbds, _ = _dbds(site, capsys)
    dsn = dbds["HDAMDD01"]["dsn"]
    from dasdlab.emulator.site import Site

    st = Site.open(site)
    vol = st.volume("DSA001")
    tracks = vol.vtoc.get(dsn).tracks(vol.heads)
    st.close()
    assert run(["dataset", "alloc", "USER.UIC1", "--site", s, "--volser", "DSA002", "--tracks", str(tracks)]) == 0
    assert run(["flashcopy", "establish", "DSA001", "DSA002", "--site", s, "--dataset", dsn,
                "--target-dataset", "USER.UIC1"]) == 0
    assert run(["flashcopy", "drain", "--site", s]) == 0
    capsys.readouterr()
    assert run(["recon", "notify-uic", "HDAMDB01", "HDAMDD01", "USER.UIC1", "--site", s]) == 0
    out = capsys.readouterr().out
    assert "DLB637I" in out and "UICBATCH" in out
    assert run(["workload", "run", "--site", s, "HDAMDB01", "--duration", "1s", "--seed", "3"]) == 0
    assert run(["db", "damage", "--site", s, "HDAMDB01", "--ddn", "HDAMDD01", "--blocks", "5"]) == 0
    # the user's own restore: FlashCopy the copy back over the data set
    for rel in json.loads(_query(s, capsys)):
        if rel["state"] not in ("WITHDRAWN",):
            assert run(["flashcopy", "withdraw", rel["id"], "--site", s]) == 0
    assert run(["flashcopy", "establish", "DSA002", "DSA001", "--site", s, "--dataset", "USER.UIC1",
                "--target-dataset", dsn]) == 0
    assert run(["flashcopy", "drain", "--site", s]) == 0
    assert run(["recon", "notify-recov", "HDAMDB01", "HDAMDD01", "--site", s]) == 0
    capsys.readouterr()
    assert run(["recon", "genjcl-recov", "HDAMDB01", "--ddn", "HDAMDD01", "--usedbds", "--site", s]) == 0
    jcl = capsys.readouterr().out
    assert "//DFSUDUMP DD DUMMY" in jcl and "USEDBDS" in jcl and "//DFSULOG" in jcl
    assert run(["recover", "HDAMDB01", "--ddn", "HDAMDD01", "--usedbds", "--site", s]) == 0
    out = capsys.readouterr().out
    assert "by usedbds" in out and "DLB012I" in out
    assert run(["db", "verify", "--site", s, "HDAMDB01"]) == 0


def _query(s: str, capsys) -> str:
    capsys.readouterr()
    assert run(["flashcopy", "query", "--site", s, "--json"]) == 0
    return capsys.readouterr().out


def test_change_accumulation_and_genjcl_from_the_command_line(site, capsys):
    s = str(site)
    icein = site.parent / "both.icein"
    icein.write_text("  IC       DBD=HDAMDB01,ICOUT=*,FASTIC=N\n")
    assert run(["hpic", "--site", s, str(icein)]) == 0
    assert run(["recon", "init-cagrp", "CAG1", "HDAMDB01.HDAMDD01", "HDAMDB01.HDAMDD02", "--site", s]) == 0
    assert run(["recon", "init-dbdsgrp", "ALL", "HDAMDB01.HDAMDD01", "HDAMDB01.HDAMDD02", "--site", s]) == 0
    assert run(["workload", "run", "--site", s, "HDAMDB01", "--duration", "1s", "--seed", "5"]) == 0
    capsys.readouterr()
    assert run(["recon", "change-accum", "CAG1", "--site", s]) == 0
    out = capsys.readouterr().out
    assert "DLB639I change accumulation IMS.CA.CAG1.C000001" in out
    assert run(["workload", "run", "--site", s, "HDAMDB01", "--duration", "0.5s", "--seed", "6"]) == 0
    capsys.readouterr()
    assert run(["recon", "genjcl-recov", "--group", "ALL", "--site", s, "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert [st["ca"]["dsn"] for st in job["steps"]] == ["IMS.CA.CAG1.C000001"] * 2
    assert job["jcl"].count("//DFSUCUM  DD DSN=IMS.CA.CAG1.C000001") == 2
    _, data = _dbds(site, capsys)
    assert [g["name"] for g in data["groups"]] == ["ALL", "CAG1"] and len(data["cas"]) == 1
    assert run(["db", "damage", "--site", s, "HDAMDB01", "--blocks", "6"]) == 0
    capsys.readouterr()
    assert run(["recover", "HDAMDB01", "--site", s]) == 0
    out = capsys.readouterr().out
    assert out.count("from change accumulation IMS.CA.CAG1.C000001") == 2 and out.count("DLB012I") == 2


@pytest.mark.parametrize("argv, msgid", [
    (["recon", "init-cagrp", "CAG1", "HDAMDB01"], "DLB630E"),
    (["recon", "init-cagrp", "CAG1", "HDAMDB01.NOSUCH"], "DLB630E"),
    (["recon", "change-accum", "NOSUCH"], "DLB630E"),
    (["recon", "notify-uic", "HDAMDB01", "HDAMDD01", "NO.SUCH.DS"], "DLB633E"),
    (["recon", "notify-uic", "HDAMDB01", "HDAMDD01", "NO.SUCH.DS", "--time", "soon"], "DLB633E"),
    (["recon", "notify-recov", "HDAMDB01", "HDAMDD01"], "DLB634E"),
    (["recover", "HDAMDB01", "--ddn", "HDAMDD01", "--usedbds"], "DLB635E"),
    (["recon", "genjcl-recov"], "DLB636E"),
    (["recon", "genjcl-recov", "HDAMDB01", "--to", "-3"], "DLB666E"),
])
def test_bad_input_is_refused_and_changes_nothing(site, capsys, argv, msgid):
    before = files(site)
    capsys.readouterr()
    assert run(argv + ["--site", str(site)]) != 0
    assert msgid in capsys.readouterr().err
    assert files(site) == before
