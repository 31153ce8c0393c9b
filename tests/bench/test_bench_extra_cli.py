"""``dasdlab bench sweep`` and ``dasdlab bench teach``: the commands parse, call the
library and print; bad input ends with a message id, a non-zero status and the input
files unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.cli.main import run


def test_sweep_bad_grid_exits_with_its_id(tmp_path, capsys):
    g = tmp_path / "g.toml"
    g.write_text("[grid]\nmethods = []\n")
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0"]) == 8
    assert capsys.readouterr().err.startswith("DLB753E")
    assert g.read_text() == "[grid]\nmethods = []\n" and not (tmp_path / "o").exists()
    assert run(["bench", "sweep", "--grid", str(tmp_path / "none.toml")]) == 8
    assert capsys.readouterr().err.startswith("DLB750E")
    g.write_text("[grid]\nmethods = ['standard', 'bogus']\n")
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0"]) == 8
    err = capsys.readouterr().err
    assert err.startswith("DLB756E") and "DLB706E unknown copy method bogus" in err  # the spec's own check
    assert not (tmp_path / "o").exists()


def test_sweep_runs_and_reports_failures(tmp_path, monkeypatch, capsys):
    import dasdlab.bench.scenario as scenario_mod

    def fake(spec, workdir, progress=None):
        if spec.methods == ("dump-cc",):
            from dasdlab.errors import DasdlabError

            raise DasdlabError("DLB799E", "no sidefile today")
        return {"outage_modeled_s": 12.5 if spec.methods == ("standard",) else 0.25}

    monkeypatch.setattr(scenario_mod, "run_scenario", fake)
    g = tmp_path / "g.toml"
    g.write_text("[sweep]\nname = 'two'\n[grid]\nmethods = ['standard', 'dump-cc', 'copy-flashcopy']\n")
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0"]) == 4
    out, err = capsys.readouterr()
    assert "DLB030I sweep two" in err  # a line per phase when stderr is not a terminal
    assert "\nDLB760E 1 of 3 scenarios failed" in err and "no sidefile today" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("DLB775E 1 of 3 scenarios failed or not verified") and "no sidefile today" in last
    assert "12.500" in out and "0.250" in out and "failed" in out  # the table
    assert len(list((tmp_path / "o" / "results").glob("*.parquet"))) == 3
    # a failure the user expects: the same run with --allow-failures exits 0 and still says it
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0",
                "--allow-failures"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("DLB776W 1 of 3 scenarios")
    monkeypatch.setattr(scenario_mod, "run_scenario", lambda spec, wd, progress=None: {"outage_modeled_s": 1.0})
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0",
                "--json"]) == 0
    import json

    rep = json.loads(capsys.readouterr().out)
    assert (rep["ran"], rep["skipped"], rep["ok"], rep["failed"]) == (1, 2, 3, [])


def test_teach_writes_pngs(tmp_path, monkeypatch, capsys):
    import dasdlab.bench.trace_plot as tp

    res = tmp_path / "res"
    res.mkdir()
    codes = np.zeros((3, 30), np.uint8)
    codes[1, :10] = 1
    codes[2, :] = 1
    codes[2, 5] = 2
    monkeypatch.setattr(tp, "_loader", lambda: lambda path, method: ([0.0, 1.0, 2.0], codes, {}))
    assert run(["bench", "teach", "--results", str(res), "--method", "dump-cc", "--frames", "2"]) == 0
    assert capsys.readouterr().out.split() == [
        str(res / "teach-dump-cc.png"), str(res / "teach-dump-cc-frames" / "frame-0001.png"),
        str(res / "teach-dump-cc-frames" / "frame-0002.png")]
    assert run(["bench", "teach", "--results", str(res), "--method", "dump-cc", "--out", str(res / "x.svg")]) == 8
    assert capsys.readouterr().err.startswith("DLB773E") and not (res / "x.svg").exists()


def test_sweep_exits_4_when_a_copy_does_not_verify(tmp_path, monkeypatch, capsys):
    import dasdlab.bench.scenario as scenario_mod

    def fake(spec, workdir, progress=None):
        bad = spec.methods == ("dump-cc",)
        return {"outage_modeled_s": 1.0, "copy_verified": not bad, "recovery_method": "reload",
                "recovery_verified": spec.methods != ("standard",)}

    monkeypatch.setattr(scenario_mod, "run_scenario", fake)
    g = tmp_path / "g.toml"
    g.write_text("[sweep]\nname = 'v'\n[grid]\nmethods = ['standard', 'dump-cc', 'copy-flashcopy']\n")
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0"]) == 4
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("DLB775E 2 of 3 scenarios failed or not verified")
    assert "copy not verified" in last and "recovery not verified" in last


@pytest.mark.parametrize("argv", [["bench", "sweep", "--help"], ["bench", "teach", "--help"]])
def test_help(argv, capsys):
    assert run(argv) == 0
    assert "--" in capsys.readouterr().out
