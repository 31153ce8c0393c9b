"""Conventions of a Python command-line tool: ``python -m dasdlab``, ``--version``, no
``<bool>`` after flags in help, ``--json`` where a program reads the result, and one
duration syntax (``30s``, ``100ms``, plain seconds) for every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dasdlab import __version__
from dasdlab.cli.common import parse_duration
from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[2]


def test_python_dash_m_and_version():
    p = subprocess.run([sys.executable, "-m", "dasdlab", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and p.stdout.strip() == __version__
    p = subprocess.run([sys.executable, "-m", "dasdlab", "volume", "ls"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and p.stderr.startswith("DLB002E Missing argument")


@pytest.mark.parametrize("argv", [["volume", "init", "--help"], ["bench", "outage", "--help"], ["hpic", "--help"],
                                  ["workload", "run", "--help"], ["--help"]])
def test_flags_have_no_type_in_help(argv, capsys):
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and "--help" in out
    assert "<int>" in out or "<str>" in out or argv == ["--help"]  # values still show their type


@pytest.mark.parametrize("text, seconds", [("30s", 30.0), ("100ms", 0.1), ("2m", 120.0), ("12.5", 12.5), ("1h", 3600.0),
                                           ("-1s", -1.0)])
def test_one_duration_syntax(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["nan", "inf", "30 sec", "", "1e3", "fast"])
def test_durations_that_are_not(text):
    import typer

    with pytest.raises(typer.BadParameter):
        parse_duration(text, "--duration")


def test_json_and_durations_across_commands(tmp_path, capsys):
    site = str(tmp_path / "s")
    for argv in (["site", "init", site],
                 ["site", "add-volume", site, "DS8K1", "DSA001", "--model", "3390-1", "--cylinders", "10"],
                 ["db", "define", "--site", site, str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")]):
        assert run(argv) == 0
    capsys.readouterr()
    assert run(["db", "load", "--site", site, "HDAMDB01", "--size", "256KiB", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dbd"] == "HDAMDB01" and doc["bytes"] > 0 and len(doc["groups"]) == 2
    assert run(["workload", "run", "--site", site, "HDAMDB01", "--duration", "1500ms", "--slice", "0.1",
                "--rate", "400", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["modeled_s"] == pytest.approx(1.5, abs=0.11) and doc["committed"] > 0 and set(doc["pools"]) == {
        "HDAMDD01", "HDAMDD02"}
    assert run(["db", "verify", "--site", site, "HDAMDB01", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and [r["mismatched_blocks"] for r in doc["results"]] == [0, 0]
    assert run(["db", "damage", "--site", site, "HDAMDB01", "--blocks", "2"]) == 0
    capsys.readouterr()
    assert run(["db", "verify", "--site", site, "HDAMDB01", "--json"]) == 8
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and sum(r["mismatched_blocks"] for r in doc["results"]) == 2
    assert run(["volume", "check", "--site", site, "DSA001", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sound"] is True and doc["tracks_checked"] > 0 and doc["problems"] == []
    out = tmp_path / "o"
    assert run(["bench", "outage", "--db-size", "256KiB", "--scale", "100", "--methods", "standard",
                "--warmup", "1s", "--cooldown", "500ms", "--duration", "0", "--slice", "100ms", "--no-plots",
                "--json", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scenario"]["warmup_s"] == 1.0 and doc["scenario"]["cooldown_s"] == 0.5 and doc["scenario"]["slice_s"] == 0.1
