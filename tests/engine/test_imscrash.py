"""kill -9 of a running workload: RECON and the log stay readable, the database verifies,
and the next start is an emergency restart (redo from the log, truth reconciled)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dasdlab.cli.main import run
from dasdlab.emulator.site import Site
from dasdlab.engine.database import define, load, parse_size
from dasdlab.engine.log import LogReader
from dasdlab.engine.recon import Recon

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "dbd"
pytestmark = pytest.mark.crash


def start_workload(site: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dasdlab.cli.main", "workload", "run", "--site", str(site), "HDAMDB01",
         "--rate", "20000", "--duration", "100000s", "--seed", str(seed), "--buffers", "48",
         "--checkpoint", "30s", "--skew", "zipf", "--realtime"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def log_bytes(site: Path) -> int:
    return sum(p.stat().st_size for p in (site / "ims" / "logs").glob("OLDS.*.arrows"))


def wait_for_log(site: Path, proc: subprocess.Popen, min_bytes: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (site / "ims" / "logs").is_dir() and log_bytes(site) > min_bytes:
            return
        time.sleep(0.02)
    pytest.fail("the workload wrote no log")


@pytest.mark.parametrize("seed, min_bytes", [(5, 150_000), (6, 700_000)])
def test_kill_9_then_verify_and_restart(tmp_path, seed, min_bytes, capsys):
    site_dir = tmp_path / "site"
    site = Site.init(site_dir)
    site.add_volume("DS8K1", "IMS001", "3390-1")
    define(site, FIX / "hdamdb01.dbd")
    load(site, "HDAMDB01", parse_size("2MiB"), 1)
    site.close()
    proc = start_workload(site_dir, seed)
    try:
        wait_for_log(site_dir, proc, min_bytes // 3)
        # a command from this process is carried out by the running IMS between slices
        assert run(["ims", "--site", str(site_dir), "UPDATE DB NAME(HDAMDB01) START(QUIESCE) OPTION(HOLD)"]) == 0
        assert run(["ims", "--site", str(site_dir), "UPDATE DB NAME(HDAMDB01) STOP(QUIESCE)"]) == 0
        wait_for_log(site_dir, proc, log_bytes(site_dir) + min_bytes)  # updates after the release
        time.sleep(0.0137 * seed)  # somewhere inside a slice
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # RECON survives: the log data set is still marked open, the database authorized to a dead IMS
    recon = Recon.of_site(site_dir)
    listing = recon.listing()
    assert listing["logs"][-1]["status"] == "OPEN"
    assert any(a["dealloc_time"] is None for a in listing["allocs"])
    recon.close()
    rd = LogReader(site_dir)
    cs = rd.changes()
    assert len(cs) > 1000  # every complete batch is readable; a torn one is only noted
    capsys.readouterr()
    assert run(["db", "verify", "--site", str(site_dir), "HDAMDB01"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "DLB595I" in out
    import re

    applied = int(re.search(r"DASD \+ (\d+) change records", out).group(1))
    assert applied > 0  # the killed run left committed changes only in the log
    # the next run is an emergency restart: redo, truth reconciled, and again verifiable
    assert run(["workload", "run", "--site", str(site_dir), "HDAMDB01", "--rate", "3000", "--duration", "2s",
                "--seed", str(seed + 100), "--buffers", "48"]) == 0
    out = capsys.readouterr().out
    assert "emergency restart" in out and "closed at restart" in out
    assert run(["db", "verify", "--site", str(site_dir), "HDAMDB01"]) == 0, capsys.readouterr().err
    recon = Recon.of_site(site_dir)
    logs = recon.logs()
    assert all(lg["status"] == "CLOSED" for lg in logs)
    assert [lg["first_seq"] for lg in logs[1:]] == [lg["last_seq"] + 1 for lg in logs[:-1]]
    assert all(a["dealloc_time"] is not None for a in recon.allocs())
    recon.close()
