"""Exit statuses a CI can gate on: a run in which a method fails or a copy or a
recovery does not match the truth exits 4 and names it on its last line; with
``--allow-failures`` it exits 0 and still names it."""

from __future__ import annotations

import pytest

from dasdlab.cli.main import run

OUTAGE = ["bench", "outage", "--db-size", "256KiB", "--scale", "100", "--rate", "2000", "--warmup", "1",
          "--cooldown", "0", "--duration", "0", "--methods", "standard,dump-cc", "--no-plots"]


@pytest.fixture
def copy_of_dump_cc_differs(monkeypatch):
    """The truth check of dump-cc's copy says 3 blocks differ (the copy itself is made
    as usual), so the run must not end as a success."""
    import dasdlab.bench.scenario as sc

    real = sc._MethodRun._verify_copy

    def verify(self, site, rep, stop_seq):
        ok, diff = real(self, site, rep, stop_seq)
        return (False, 3) if self.m.name == "dump-cc" else (ok, diff)

    monkeypatch.setattr(sc._MethodRun, "_verify_copy", verify)


def test_bench_outage_exits_0_when_everything_verifies(tmp_path, capsys):
    code = run(OUTAGE + ["--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "DLB775E" not in err and out.strip().splitlines()[-1].startswith("DLB740I")


def test_bench_outage_exits_4_naming_the_copy_that_does_not_verify(tmp_path, capsys, copy_of_dump_cc_differs):
    code = run(OUTAGE + ["--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 4
    last = err.strip().splitlines()[-1]
    assert last.startswith("DLB775E 1 of 2 methods failed or not verified: dump-cc: copy not verified (3 blocks")
    assert "standard" not in last
    code = run(OUTAGE + ["--out", str(tmp_path / "o"), "--json", "--allow-failures"])
    out, err = capsys.readouterr()
    assert code == 0 and err.strip().splitlines()[-1].startswith("DLB776W 1 of 2 methods")
    import json

    assert [m["copy_verified"] for m in json.loads(out)["methods"]] == [True, False]


def test_bench_outage_exits_4_when_a_method_fails(tmp_path, capsys, monkeypatch):
    import dasdlab.bench.scenario as sc

    real = sc._MethodRun._start

    def start(self, engine, st, now):
        if self.m.name == "standard":  # the plan is refused: a failed row, not a failed scenario
            return sc._FailedRun(st, self.dbd, self.ddn, self.m.process, "DLB799E asked to fail", now)
        return real(self, engine, st, now)

    monkeypatch.setattr(sc._MethodRun, "_start", start)
    code = run(OUTAGE + ["--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert err.strip().splitlines()[-1].startswith(
        "DLB775E 1 of 2 methods failed or not verified: standard: failed (DLB799E asked to fail)")


def test_warmup_exits_4_when_a_method_does_not_verify(capsys, copy_of_dump_cc_differs):
    code = run(["warmup"])
    err = capsys.readouterr().err
    assert code == 4
    assert "DLB903W" in err
    assert err.strip().splitlines()[-1].startswith("DLB775E 1 of ") and "dump-cc: copy not verified" in err


def test_exit_codes_are_in_the_help(capsys):
    for argv in (["bench", "--help"], ["bench", "outage", "--help"], ["demo", "--help"], ["warmup", "--help"],
                 ["bench", "sweep", "--help"]):
        assert run(argv) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "--allow-failures" in out, argv
