"""``dasdlab bench outage`` and ``dasdlab demo``: the JSON contract, and bad input --
message ids, a non-zero status, input files unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dasdlab.bench.scenario import ScenarioError, ScenarioSpec, run_scenario
from dasdlab.cli.main import run
from dasdlab.errors import DasdlabError

NAMES = ["standard", "cic", "dump-cc", "dump-vcc", "fdump", "copy-flashcopy", "copy-snapshot", "copy-timefinder"]
CONTRACT = {"name": str, "outage_modeled_s": float, "outage_measured_s": float, "logical_s": float,
            "physical_s": float, "recovery_modeled_s": float, "copy_verified": bool, "recovery_verified": bool}


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_json_contract(tmp_path, capsys):
    code = run(["bench", "outage", "--db-size", "256KiB", "--scale", "4096", "--rate", "20000",
                "--warmup", "2", "--cooldown", "1", "--duration", "0", "--methods", "all", "--no-plots",
                "--json", "--out", str(tmp_path / "o")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(cap.out)
    assert [m["name"] for m in doc["methods"]] == NAMES
    for m in doc["methods"]:
        for key, typ in CONTRACT.items():
            assert isinstance(m[key], typ), (m["name"], key, m[key])
        assert m["status"] == "ok" and m["copy_verified"] and m["recovery_verified"]
    assert doc["scenario"]["scale"] == 4096 and doc["scenario"]["methods"] == NAMES
    assert (tmp_path / "o" / "methods.parquet").is_file() and (tmp_path / "o" / "trace-cic.npz").is_file()
    assert not (tmp_path / "o" / "outage.png").exists() and not (tmp_path / "o" / "sites").exists()
    # the same folder again: it holds our results, so it is reused
    code = run(["bench", "outage", "--db-size", "256KiB", "--scale", "100", "--warmup", "1", "--cooldown", "0",
                "--duration", "0", "--no-failure", "--methods", "copy-snapshot", "--out", str(tmp_path / "o")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "copy-snapshot" in cap.out and "DLB740I" in cap.out
    assert (tmp_path / "o" / "outage.png").is_file() and (tmp_path / "o" / "timeline.png").is_file()
    # a failed recovery field is JSON null, not NaN
    code = run(["bench", "outage", "--db-size", "256KiB", "--scale", "100", "--warmup", "1", "--cooldown", "0",
                "--duration", "0", "--no-failure", "--methods", "standard", "--no-plots", "--json",
                "--out", str(tmp_path / "o")])
    doc = json.loads(capsys.readouterr().out)
    assert doc["methods"][0]["recovery_modeled_s"] is None and doc["methods"][0]["recovery_verified"] is False


@pytest.mark.parametrize("kw, msgid", [
    (dict(methods="standard,bogus"), "DLB706E"),
    (dict(methods="standard,standard"), "DLB706E"),
    (dict(methods=""), "DLB706E"),
    (dict(method="nope"), "DLB706E"),
    (dict(db_size="12XB"), "DLB707E"),
    (dict(db_size=100), "DLB707E"),
    (dict(db_size="3GiB"), "DLB707E"),
    (dict(db_size="1MiB", modeled_size="512KiB"), "DLB708E"),
    (dict(modeled_size="1GiB", scale=10.0), "DLB709E"),
    (dict(scale=0.5), "DLB710E"),
    (dict(scale=float("nan")), "DLB710E"),
    (dict(rate=-1.0), "DLB711E"),
    (dict(skew="pareto"), "DLB712E"),
    (dict(zipf_s=0.0), "DLB712E"),
    (dict(update_size=0), "DLB713E"),
    (dict(slice=0.0), "DLB714E"),
    (dict(warmup=-1.0), "DLB714E"),
    (dict(duration=float("inf")), "DLB714E"),
    (dict(buffers=0), "DLB715E"),
    (dict(checkpoint_interval=0.0), "DLB715E"),
    (dict(dbd="/nonexistent/x.dbd"), "DLB716E"),
    (dict(ddn="NOSUCH"), "DLB717E"),
    (dict(seed=-2), "DLB718E"),
    (dict(profile="no-such-box"), "DLB700E"),
])
def test_bad_spec_is_refused_with_its_id(kw, msgid):
    with pytest.raises(DasdlabError) as e:
        ScenarioSpec(**kw)
    assert e.value.msgid == msgid, str(e.value)


def test_foreign_output_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = digest(out)
    with pytest.raises(ScenarioError) as e:
        run_scenario(ScenarioSpec(db_size="256KiB", methods="copy-snapshot"), out)
    assert e.value.msgid == "DLB720E" and digest(out) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScenarioError) as e:
        run_scenario(ScenarioSpec(db_size="256KiB", methods="copy-snapshot"), tmp_path / "file")
    assert e.value.msgid == "DLB720E" and (tmp_path / "file").read_text() == "x"


def test_missing_results_and_traces_have_ids(tmp_path):
    from dasdlab.bench.results import read_methods
    from dasdlab.bench.trace import load_trace

    for fn, msgid in ((lambda: read_methods(tmp_path), "DLB727E"), (lambda: load_trace(tmp_path, "cic"), "DLB725E"),
                      (lambda: load_trace(tmp_path), "DLB725E")):
        with pytest.raises(ScenarioError) as e:
            fn()
        assert e.value.msgid == msgid
    bad = tmp_path / "trace-cic.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ScenarioError) as e:
        load_trace(tmp_path, "cic")
    assert e.value.msgid == "DLB726E" and bad.read_bytes() == b"not a zip file"


@pytest.mark.parametrize("args, msgid", [
    (["--methods", "bogus"], "DLB706E"),
    (["--db-size", "lots"], "DLB707E"),
    (["--modeled-size", "1GiB", "--scale", "3"], "DLB709E"),
    (["--skew", "pareto"], "DLB712E"),
    (["--profile", "nope"], "DLB700E"),
])
def test_cli_bad_input_exits_with_its_id(tmp_path, capsys, args, msgid):
    code = run(["bench", "outage", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 8 and err.startswith(msgid), err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_cli_bad_profile_file_is_left_unchanged(tmp_path, capsys):
    prof = tmp_path / "p.toml"
    prof.write_text("[profiles.slow]\nseq_read_mb_s = -4\n")
    before = prof.read_bytes()
    code = run(["bench", "outage", "--profile", "slow", "--profile-file", str(prof), "--out", str(tmp_path / "o")])
    assert code == 8 and capsys.readouterr().err.startswith("DLB704E")
    assert prof.read_bytes() == before and not (tmp_path / "o").exists()


def test_user_profile_file_prices_the_methods(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text('[profiles.slowcc]\nbase = "ds8000-ficon16"\ncc_session_init_s = 40.0\n')
    before = prof.read_bytes()
    res = run_scenario(ScenarioSpec(db_size="256KiB", scale=10.0, methods="dump-cc,copy-flashcopy", profile="slowcc",
                                    profile_file=str(prof), warmup=1.0, cooldown=0.0, duration=0.0, failure=False),
                       tmp_path / "o")
    m = {x.name: x for x in res.methods}
    assert m["dump-cc"].outage_modeled_s > 40 > m["copy-flashcopy"].outage_modeled_s
    assert prof.read_bytes() == before


@pytest.mark.slow
def test_demo_runs_the_outage_comparison(tmp_path, capsys):
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / "demo01.ckd").write_bytes(b"left by the interim demo")
    code = run(["demo", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    for name in NAMES:
        assert name in cap.out
        assert (out / f"teach-{name}.png").is_file()
    assert "DLB901I" in cap.out and "16 GiB" in cap.out and not (out / "demo01.ckd").exists()
    for f in ("methods.parquet", "timeline.parquet", "outage.png", "timeline.png"):
        assert (out / f).is_file()
    from dasdlab.bench.results import read_methods

    rows = {r["name"]: r for r in read_methods(out).to_pylist()}
    assert all(r["copy_verified"] and r["recovery_verified"] for r in rows.values())
    assert rows["standard"]["outage_modeled_s"] > 5 * rows["dump-cc"]["outage_modeled_s"]


def test_service_time_alone_is_not_a_delay(tmp_path):
    # float32(0.1) is 1.5e-9 above 0.1: an update served in exactly the service time
    # must not count as delayed
    prof = tmp_path / "p.toml"
    prof.write_text("[profiles.slowtx]\nupdate_service_s = 0.1\n")
    res = run_scenario(ScenarioSpec(db_size="256KiB", scale=10.0, rate=2000.0, methods="cic", profile="slowtx",
                                    profile_file=str(prof), warmup=1.0, cooldown=0.0, duration=0.0,
                                    failure=False), tmp_path / "o")
    m = res.methods[0]
    assert m.transactions_emulated > 50 and m.delayed == 0 and m.extra_latency_p99_s == 0.0
