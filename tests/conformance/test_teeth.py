"""The kit has teeth: each deliberately broken service (``broken.py``) fails it, on the
checks that concern its fault, while the checks its fault does not touch still pass --
so the kit names the fault instead of failing everything."""

from __future__ import annotations

import json

import pytest

from dasdlab.cli.main import run
from dasdlab.testing import kit

SPEC = "tests.conformance.broken:"


def _run(cls, checks, tmp_path):
    return {r.name: r for r in kit.run(SPEC + cls, only=checks, workdir=tmp_path)}


def test_a_service_that_skips_copy_before_write_on_discards_fails(tmp_path):
    res = _run("SkipsDiscards", ["pit[volume,copy]", "pit[dataset,nocopy]", "pit-discard[volume,copy]",
                                 "pit-discard[dataset,nocopy]"], tmp_path)
    assert res["pit[volume,copy]"].passed and res["pit[dataset,nocopy]"].passed
    for name in ("pit-discard[volume,copy]", "pit-discard[dataset,nocopy]"):
        assert not res[name].passed
        assert "frozen view" in res[name].detail


def test_a_service_that_copies_after_the_write_fails(tmp_path):
    res = _run("CopiesAfterWrite", ["pit[volume,copy]", "pit[dataset,nocopy]", "model", "model[flashcopy]",
                                    "lifecycle"], tmp_path)
    assert res["lifecycle"].passed
    # the shared model and the FlashCopy machine the broken subclass inherits both find it
    for name in ("pit[volume,copy]", "pit[dataset,nocopy]", "model", "model[flashcopy]"):
        assert not res[name].passed, name
    assert "differ from the copy taken at the instant" in res["pit[volume,copy]"].detail


def test_a_service_that_forgets_a_withdraw_across_processes_fails(tmp_path):
    res = _run("ForgetsWithdraw", ["pit[volume,copy]", "second-process"], tmp_path)
    assert res["pit[volume,copy]"].passed
    assert not res["second-process"].passed
    assert "after the withdraw, the next process still sees" in res["second-process"].detail


def test_services_test_exits_non_zero_on_a_failed_check_and_says_which(tmp_path, capsys):
    code = run(["services", "test", SPEC + "ForgetsWithdraw", "--check", "second-process",
                "--check", "lifecycle", "--json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    by = {c["name"]: c for c in out["checks"]}
    assert by["lifecycle"]["passed"] and not by["second-process"]["passed"]


def test_services_test_prints_one_line_per_check_and_exits_zero_when_all_pass(capsys):
    code = run(["services", "test", "snapshot", "--check", "pit[volume,instant]", "--check", "lifecycle"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[:2] for line in out[:2]] == [["PASS", "pit[volume,instant]"], ["PASS", "lifecycle"]]
    assert out[-1].startswith("DLB823I snapshot: 2 of 2 checks passed")


@pytest.mark.parametrize("argv, msgid", [
    (["services", "test", "nosuchservice"], "DLB822E"),
    (["services", "test", "nosuch.module:Thing"], "DLB821E"),
    (["services", "test", "dasdlab.errors:DasdlabError"], "DLB820E"),
])
def test_services_test_refuses_what_is_not_a_service(argv, msgid, capsys):
    assert run(argv) == 8
    assert capsys.readouterr().err.startswith(msgid)


def test_services_test_refuses_an_unknown_check(capsys):
    assert run(["services", "test", "snapshot", "--check", "nosuch"]) == 2


@pytest.mark.crash
def test_the_kill_9_harness_finds_a_copy_after_the_write(tmp_path):
    from dasdlab.testing.processes import kill_nine
    from dasdlab.testing.subject import resolve

    problems = kill_nine(resolve(SPEC + "CopiesAfterWrite"), tmp_path / "site", kills=3,
                         mechanisms=[("volume", True)])
    assert problems and "differ from the copy taken at the instant" in problems[0]
