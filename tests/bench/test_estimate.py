"""A comparison is priced before it starts and refused, before anything is touched,
when it would not fit the free disk or ``--max-wall``; the largest method's disk use is
reported with the results, and the sites are gone unless kept."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dasdlab.bench.scenario import ScenarioError, ScenarioSpec, check_fits, estimate_run, run_scenario
from dasdlab.cli.main import run


def test_estimate_grows_with_the_database_and_the_modeled_length(tmp_path):
    small = estimate_run(ScenarioSpec(db_size="16MiB", methods="standard"), tmp_path)
    big = estimate_run(ScenarioSpec(db_size="1GiB", methods="standard"), tmp_path)
    assert 0 < small.disk_bytes < big.disk_bytes and 0 < small.wall_s < big.wall_s
    assert big.disk_bytes >= 2**30  # at least the database itself
    slow = estimate_run(ScenarioSpec(db_size="16MiB", modeled_size="64GiB", profile="3390-3990",
                                     methods="standard"), tmp_path)
    assert slow.modeled_s > 100 * small.modeled_s  # 64 GiB read at 3390 speed
    kept = estimate_run(ScenarioSpec(db_size="16MiB", methods="standard,cic"), tmp_path, keep_sites=True)
    one = estimate_run(ScenarioSpec(db_size="16MiB", methods="standard,cic"), tmp_path)
    assert kept.disk_bytes > one.disk_bytes  # kept sites add up; removed ones do not
    assert "DLB787I" in small.line() and small.free_bytes > 0


def test_check_fits_refuses_disk_and_wall():
    est = estimate_run(ScenarioSpec(db_size="16MiB", methods="standard"), ".")
    with pytest.raises(ScenarioError) as e:
        check_fits(replace(est, free_bytes=est.disk_bytes - 1))
    assert e.value.msgid == "DLB785E"
    with pytest.raises(ScenarioError) as e:
        check_fits(est, max_wall=est.wall_s / 2)
    assert e.value.msgid == "DLB786E"
    check_fits(est, max_wall=est.wall_s * 2)  # fits


def test_cli_refuses_before_touching_anything(tmp_path, capsys):
    out = tmp_path / "o"
    code = run(["bench", "outage", "--db-size", "1MiB", "--methods", "standard", "--max-wall", "0.001",
                "--no-plots", "--out", str(out)])
    cap = capsys.readouterr()
    assert code != 0 and "DLB786E" in cap.err and "Traceback" not in cap.err + cap.out
    assert "DLB787I" in cap.out  # the estimate was shown first
    assert not out.exists()


def test_cli_reports_disk_and_removes_sites_unless_kept(tmp_path, capsys):
    args = ["bench", "outage", "--db-size", "512KiB", "--scale", "64", "--rate", "20000", "--warmup", "2",
            "--cooldown", "1", "--duration", "0", "--methods", "standard,copy-flashcopy", "--no-plots"]
    assert run(args + ["--json", "--out", str(tmp_path / "a")]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["scenario"]["disk_peak_bytes"] > 512 * 1024 and "DLB787I" in cap.err
    assert not (tmp_path / "a" / "sites").exists()
    assert run(args + ["--keep", "--out", str(tmp_path / "b")]) == 0
    cap = capsys.readouterr()
    assert "MiB of disk" in cap.out
    assert sorted(p.name for p in (tmp_path / "b" / "sites").iterdir()) == ["copy-flashcopy", "standard"]


def test_library_refusal_leaves_no_folder(tmp_path):
    with pytest.raises(ScenarioError) as e:
        run_scenario(ScenarioSpec(db_size="1MiB", methods="standard"), tmp_path / "x", max_wall=1e-6)
    assert e.value.msgid == "DLB786E" and not (tmp_path / "x").exists()


def test_cli_cache_size_reaches_the_run_and_bad_sizes_are_refused(tmp_path, capsys):
    base = ["bench", "outage", "--db-size", "256KiB", "--scale", "64", "--warmup", "1", "--cooldown", "1",
            "--duration", "0", "--methods", "standard", "--no-plots"]
    assert run(base + ["--cache", "lots", "--out", str(tmp_path / "bad")]) != 0
    assert "DLB707E" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert run(base + ["--cache", "3GiB", "--json", "--out", str(tmp_path / "ok")]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"]["cache_bytes"] == 3 * 2**30
