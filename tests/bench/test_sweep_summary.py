"""The sweep's summary names each scenario by what sets it apart (the grid's varying
values), in the table, in ``--json`` and in the picture (``OUT/sweep.png``, and ``bench
plot-sweep`` for a finished sweep, ``--to -`` writing the PNG to standard output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dasdlab.bench.sweep_plot import scenario_name, sweep_figure
from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[2]
GRID = ("[sweep]\nname = 'named'\ndescription = 'two methods at two rates'\n"
        "[grid]\nmethods = ['standard', 'dump-cc']\nrates = [100.0, 400.0]\n")


def fake(spec, workdir, progress=None):
    if spec.methods == ("dump-cc",) and spec.rate == 400.0:
        from dasdlab.errors import DasdlabError

        raise DasdlabError("DLB799E", "no sidefile today")
    return {"outage_modeled_s": (10.0 if spec.methods == ("standard",) else 1.0) * spec.rate / 100,
            "recovery_modeled_s": 2.0, "copy_verified": True, "recovery_verified": True}


@pytest.fixture
def swept(tmp_path, monkeypatch, capsys):
    import dasdlab.bench.scenario as scenario_mod

    monkeypatch.setattr(scenario_mod, "run_scenario", fake)
    g = tmp_path / "g.toml"
    g.write_text(GRID)
    out = tmp_path / "o"
    code = run(["bench", "sweep", "--grid", str(g), "--out", str(out), "--workers", "0"])
    return code, capsys.readouterr(), g, out


def test_the_table_names_every_scenario(swept):
    code, (out, err), _g, o = swept
    assert code == 4  # one scenario failed
    text = " ".join(out.split())
    for name in ("standard, rates=100.0", "standard, rates=400.0", "dump-cc, rates=100.0", "dump-cc, rates=400.0"):
        assert name.replace("rates", "rate") in text, text
    assert "two methods at two rates" in text and "failed" in text
    assert (o / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_lists_the_scenarios_by_name(swept, capsys):
    _code, _io, g, o = swept
    assert run(["bench", "sweep", "--grid", str(g), "--out", str(o), "--workers", "0", "--json",
                "--allow-failures", "--no-plot"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {s["name"]: (s["status"], s.get("outage_modeled_s")) for s in doc["scenarios"]}
    assert names["standard, rate=400.0"] == ("ok", 40.0)
    assert names["dump-cc, rate=100.0"] == ("ok", 1.0)
    assert names["dump-cc, rate=400.0"][0] == "failed"


def test_plot_sweep_to_stdout_and_to_a_file(swept, capsys, tmp_path):
    _code, _io, _g, o = swept
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "dasdlab", "bench", "plot-sweep", "--results", str(o), "--to", "-"],
                       capture_output=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "-").exists()
    assert run(["bench", "plot-sweep", "--results", str(o), "--to", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert run(["bench", "plot-sweep", "--results", str(tmp_path)]) == 8  # no sweep there
    assert capsys.readouterr().err.startswith("DLB761E")


def test_the_bars_are_the_figures():
    rows = [{"scenario": "a", "method": "standard", "rate": 100.0, "status": "ok", "outage_modeled_s": 12.0,
             "recovery_modeled_s": 3.0},
            {"scenario": "b", "method": "dump-cc", "rate": 100.0, "status": "failed"},
            {"scenario": "c", "method": "dump-cc", "rate": 400.0, "status": "ok", "outage_modeled_s": 0.5,
             "recovery_modeled_s": 3.5, "copy_verified": False}]
    assert [scenario_name(r, ["method", "rate"]) for r in rows] == [
        "standard, rate=100.0", "dump-cc, rate=100.0", "dump-cc, rate=400.0"]
    assert scenario_name(rows[0], []) == "a"
    fig = sweep_figure(rows, ["method", "rate"], "t")
    try:
        outage, recovery = fig.axes
        for ax, key in ((outage, "outage_modeled_s"), (recovery, "recovery_modeled_s")):
            bars = ax.patches
            assert len(bars) == 3
            for bar, r in zip(bars, rows):
                if r["status"] == "ok":
                    assert bar.get_x() + bar.get_width() == pytest.approx(r[key])
                else:
                    assert bar.get_hatch() == "//"
        labels = [t.get_text() for t in outage.get_yticklabels()]
        assert labels == ["standard, rate=100.0", "dump-cc, rate=100.0", "dump-cc, rate=400.0"]
        assert any(t.get_text() == "0.5 unverified" for t in outage.texts)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
