"""``hpic`` and ``recover`` check what they made against the truth: every copy equals
the database at its point in time, every recovered DBDS the committed content at the
recovery point; a copy or a recovery that does not is reported with its message id and
makes the exit status non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[2]
ICEIN = ROOT / "fixtures" / "icein"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = tmp_path_factory.mktemp("truthchecks") / "site"
    for argv in (["site", "init", str(s)],
                 ["site", "add-volume", str(s), "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "40"],
                 ["site", "add-volume", str(s), "DS8K1", "DSA002", "--model", "3390-1", "--cylinders", "40"],
                 ["db", "define", "--site", str(s), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(s), "HDAMDB01", "--size", "512KiB"],
                 ["workload", "run", "--site", str(s), "HDAMDB01", "--duration", "1s"]):
        assert run(argv) == 0, argv
    return s


@pytest.mark.parametrize("icein", ["standard.icein", "cic.icein", "copy-flashcopy.icein"])
def test_every_copy_is_verified(site, capsys, icein):
    capsys.readouterr()
    assert run(["hpic", "--site", str(site), str(ICEIN / icein)]) == 0
    out = capsys.readouterr().out
    assert "DLB010I" in out and "blocks verified" in out and "DLB011E" not in out
    assert "image copies made and verified; return code 0" in out
    assert run(["hpic", "--site", str(site), str(ICEIN / icein), "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["reports"]
    assert r["verified"] and r["checks"] and all(c["verified"] and c["differing_blocks"] == 0 for c in r["checks"])
    assert r["checks"][0]["clean"] == (icein != "cic.icein")


def test_a_copy_that_differs_from_the_truth_is_reported(site, capsys, monkeypatch):
    import dasdlab.engine.icverify as icv

    real = icv.read_copy

    def bent(*a, **k):  # the copy as read back has one byte changed in block 3
        blocks = real(*a, **k).copy()
        blocks[3, 100] ^= 0xFF
        return blocks

    monkeypatch.setattr(icv, "read_copy", bent)
    for icein in ("standard.icein", "cic.icein"):
        capsys.readouterr()
        assert run(["hpic", "--site", str(site), str(ICEIN / icein)]) == 8  # the only copy: none good
        out = capsys.readouterr().out
        assert "DLB011E" in out and "does NOT equal the database" in out and "1 of " in out
        assert out.strip().splitlines()[-1].startswith("DLB684I 0 of 1 image copies made and verified; return "
                                                       "code 8 (not verified: IC1 ")


def test_recovery_is_verified_and_a_wrong_one_is_an_error(site, capsys, monkeypatch):
    assert run(["hpic", "--site", str(site), str(ICEIN / "standard.icein")]) == 0
    assert run(["workload", "run", "--site", str(site), "HDAMDB01", "--duration", "1s", "--seed", "3"]) == 0
    assert run(["db", "damage", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--blocks", "5"]) == 0
    capsys.readouterr()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01"]) == 0
    out = capsys.readouterr().out
    assert "DLB012I HDAMDB01.HDAMDD01 equals the committed content at the end of the log" in out
    # a recovery that forgets the log: what it restored is the copy, not the database now
    import dasdlab.engine.recovery as rec

    monkeypatch.setattr(rec, "apply_to", lambda img, rows, ch: 0)
    assert run(["db", "damage", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--blocks", "5"]) == 0
    capsys.readouterr()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01"]) == 4
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("DLB013E recovery of HDAMDB01 does not verify: HDAMDD01")
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01", "--json"]) == 4
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is False and doc["checks"][0]["mismatched_blocks"] > 0
    monkeypatch.undo()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01"]) == 0
    assert "DLB012I" in capsys.readouterr().out
