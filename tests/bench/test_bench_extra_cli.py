"""``dasdlab bench sweep`` and ``dasdlab bench teach``: the commands parse, call the
library and print; bad input ends with a message id, a non-zero status and the input
files unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dasdlab.cli import bench_extra


def _invoke(*args: str):
    """Run a command of a ``bench`` app holding the two commands, as dasdlab.cli.main.run
    does (DasdlabError -> 'DLBnnnE text' on stderr, status 8)."""
    from dasdlab.errors import DasdlabError

    app = typer.Typer()
    bench_extra.register(app)
    app.command("noop")(lambda: None)  # two commands or more: typer keeps the names
    try:
        res = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return res.exit_code, res.output
    except DasdlabError as e:
        return e.exit_code, str(e)


def test_sweep_bad_grid_exits_with_its_id(tmp_path):
    g = tmp_path / "g.toml"
    g.write_text("[grid]\nmethods = []\n")
    code, text = _invoke("sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0")
    assert code == 8 and text.startswith("DLB753E")
    assert g.read_text() == "[grid]\nmethods = []\n" and not (tmp_path / "o").exists()
    code, text = _invoke("sweep", "--grid", str(tmp_path / "none.toml"))
    assert code == 8 and text.startswith("DLB750E")


def test_sweep_runs_and_reports_failures(tmp_path, monkeypatch):
    import dasdlab.bench.scenario as scenario_mod  # noqa: F401 - the default scenario function's module

    def fake(spec, workdir, progress=None):
        if spec.methods == ("dump-cc",):
            from dasdlab.errors import DasdlabError

            raise DasdlabError("DLB799E", "no sidefile today")
        return {"outage_modeled_s": 12.5 if spec.methods == ("standard",) else 0.25}

    monkeypatch.setattr(scenario_mod, "run_scenario", fake)
    g = tmp_path / "g.toml"
    g.write_text("[sweep]\nname = 'two'\n[grid]\nmethods = ['standard', 'dump-cc', 'copy-flashcopy']\n")
    code, text = _invoke("sweep", "--grid", str(g), "--out", str(tmp_path / "o"), "--workers", "0")
    assert code == 8 and text.startswith("DLB760E 1 of 3 scenarios failed") and "no sidefile today" in text
    assert len(list((tmp_path / "o" / "results").glob("*.parquet"))) == 3


def test_teach_writes_pngs(tmp_path, monkeypatch):
    import dasdlab.bench.trace_plot as tp

    res = tmp_path / "res"
    res.mkdir()
    codes = np.zeros((3, 30), np.uint8)
    codes[1, :10] = 1
    codes[2, :] = 1
    codes[2, 5] = 2
    monkeypatch.setattr(tp, "_loader", lambda: lambda path, method: ([0.0, 1.0, 2.0], codes, {}))
    code, text = _invoke("teach", "--results", str(res), "--method", "dump-cc", "--frames", "2")
    assert code == 0
    lines = text.split()
    assert lines == [str(res / "teach-dump-cc.png"), str(res / "teach-dump-cc-frames" / "frame-0001.png"),
                     str(res / "teach-dump-cc-frames" / "frame-0002.png")]
    code, text = _invoke("teach", "--results", str(res), "--method", "dump-cc", "--out", str(res / "x.svg"))
    assert code == 8 and text.startswith("DLB773E") and not (res / "x.svg").exists()


@pytest.mark.parametrize("argv", [["sweep", "--help"], ["teach", "--help"]])
def test_help(argv):
    code, text = _invoke(*argv)
    assert code == 0 and "--" in text
