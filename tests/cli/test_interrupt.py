"""Ctrl-C in the middle of a long run, sent to real subprocesses as a terminal sends it
(SIGINT to the whole process group): the run prints DLB001E, exits 130, shows no
traceback, and leaves nothing it had half made -- no partial image, no temporary site
folders, no results folder it had created -- so that the same command runs again.

The signal is sent once the run has said (on stderr, which is a pipe here, so one
``DLB030I`` line per phase) that it is in the middle of its work."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(argv, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DASDLAB_TRACEBACK", None)
    return subprocess.Popen([sys.executable, "-m", "dasdlab", *map(str, argv)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _interrupt_when(proc: subprocess.Popen, marker: str, timeout: float = 120.0,
                    after: float = 0.0) -> tuple[int, str, str]:
    """Read stderr until a line holds ``marker``, send SIGINT to the process group,
    and return (exit status, stdout, stderr)."""
    err = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in err:
        assert time.monotonic() < deadline, f"no {marker!r} on stderr: {err.decode()}"
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            err += chunk
    time.sleep(after)  # into the work the marker announced (the checks hold at any instant)
    assert proc.poll() is None, f"the run ended before it could be interrupted: {err.decode()}"
    os.killpg(proc.pid, signal.SIGINT)
    out, rest = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), (err + rest).decode()


def _state(recon: Path) -> str | None:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{recon}?mode=ro", uri=True, timeout=0.2) as db:
            row = db.execute("SELECT state FROM databases WHERE dbd = 'HDAMDB01'").fetchone()
        return row[0] if row else None
    except sqlite3.Error:  # being written this instant
        return None


def _assert_interrupted(code: int, err: str) -> None:
    assert code == 130, err
    assert "DLB001E" in err, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """A volume of 3,000 written tracks of incompressible data: seconds to compress."""
    from dasdlab.emulator import trackfmt
    from dasdlab.emulator.volume import Volume

    p = tmp_path_factory.mktemp("sigint") / "src.ckd"
    vol = Volume.create(p, "3390-3", "SRC001", cylinders=220)
    rng = np.random.default_rng(3)
    for t in range(15, 3015):
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.fixed_track(cyl, head, 0, 4096, 12, rng.integers(0, 256, 12 * 4096, np.uint8),
                                                vol.slot, eof=True))
    vol.close()
    return p


def test_ctrl_c_during_volume_convert_leaves_no_image(big_source, tmp_path):
    dst = tmp_path / "out.cckd"
    proc = _start(["volume", "convert", big_source, dst, "--cckd", "--compress", "bzip2"], tmp_path)
    code, out, err = _interrupt_when(proc, "DLB030I converting")
    _assert_interrupted(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the interrupted convert left files behind"
    # and the same command then runs to the end
    again = subprocess.run([sys.executable, "-m", "dasdlab", "volume", "convert", big_source, dst, "--cckd"],
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_ctrl_c_during_bench_outage_removes_its_sites(tmp_path):
    out = tmp_path / "o"
    proc = _start(["bench", "outage", "--db-size", "256KiB", "--methods", "standard,dump-cc", "--no-plots",
                   "--out", out], tmp_path)
    code, stdout, err = _interrupt_when(proc, "copy under the online workload")
    _assert_interrupted(code, err)
    assert "DLB030I outage comparison: standard (1 of 2): set-up and load" in err
    # the run created OUT, so it takes OUT away: no sites, no marker, no half results
    assert not out.exists(), sorted(str(p.relative_to(tmp_path)) for p in out.rglob("*"))


@pytest.mark.slow
def test_ctrl_c_in_an_earlier_results_folder_keeps_the_earlier_results(tmp_path):
    out = tmp_path / "o"
    done = subprocess.run([sys.executable, "-m", "dasdlab", "bench", "outage", "--db-size", "256KiB",
                           "--methods", "standard", "--no-plots", "--no-failure", "--out", out],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = sorted(p.name for p in out.iterdir())
    assert "methods.parquet" in before and "sites" not in before
    proc = _start(["bench", "outage", "--db-size", "256KiB", "--methods", "standard,dump-cc", "--no-plots",
                   "--out", out], tmp_path)
    code, stdout, err = _interrupt_when(proc, "copy under the online workload")
    _assert_interrupted(code, err)
    assert sorted(p.name for p in out.iterdir()) == before  # no sites/ left, the earlier results kept


GRID = ("[sweep]\nname = 'stop'\n[grid]\ndb_sizes = ['1MiB']\nscales = [100.0]\nrates = [400.0]\n"
        "methods = ['standard', 'dump-cc']\nseeds = [1, 2, 3, 4, 5]\n[fixed]\nwarmup = 2.0\ncooldown = 2.0\n")


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_during_a_sweep_leaves_no_half_scenario(tmp_path, workers):
    """In this process or on a local Dask cluster (whose workers must not drown the
    message in their own tracebacks): stopped after the first result, the sweep keeps
    the results it has, leaves no site and no half-run scenario, and resumes."""
    grid = tmp_path / "g.toml"
    grid.write_text(GRID)
    out = tmp_path / "o"
    proc = _start(["bench", "sweep", "--grid", grid, "--workers", workers, "--out", out, "--no-plot"], tmp_path)
    code, stdout, err = _interrupt_when(proc, "DLB030I sweep stop: scenario ")
    _assert_interrupted(code, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert not list(out.glob("work/*/sites")), "a scenario's sites were left"
    done = {p.stem for p in (out / "results").glob("*.parquet")}
    assert 1 <= len(done) < 10
    for wd in (out / "work").iterdir():  # what is left of a scenario is a finished one
        assert (wd / "methods.parquet").is_file(), sorted(p.name for p in wd.iterdir())


@pytest.mark.slow
def test_ctrl_c_during_hpic_takes_back_the_half_made_copy_and_starts_the_database(tmp_path):
    """A standard copy stops the database and allocates its output before it registers
    it: interrupted at any instant, the job leaves the database online and no image copy
    data set that neither the catalog nor RECON knows."""
    from dasdlab.cli.main import run

    site = tmp_path / "s"
    for argv in (["site", "init", str(site)], ["site", "add-volume", str(site), "DS8K1", "IMS001"],
                 ["db", "define", "--site", str(site), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(site), "HDAMDB01", "--size", "64MiB", "--seed", "1"]):
        assert run(argv) == 0
    proc = _start(["hpic", "--site", site, ROOT / "fixtures" / "icein" / "standard.icein"], tmp_path)
    # mid-copy: the job has stopped the database (read from RECON as another process would)
    deadline = time.monotonic() + 120
    while _state(site / "ims" / "recon.db") != "STOPPED":
        assert proc.poll() is None and time.monotonic() < deadline, "the copy never stopped the database"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = (b.decode() for b in proc.communicate(timeout=120))
    code = proc.returncode
    _assert_interrupted(code, err)
    assert "DLB038I database HDAMDB01, stopped by the interrupted job, started again." in err
    from dasdlab.emulator.site import Site
    from dasdlab.engine.recon import Recon

    s = Site.open(site)
    try:
        recon = Recon.of_site(site)
        listing = recon.listing()
        recon.close()
        assert [d["state"] for d in listing["databases"]] == ["ONLINE"], err
        known = {dsn for dsn, _ in s.catalog.entries()} | {im["ic1_dsn"] for im in listing["images"]}
        left = [dsn for dsn in s.volume("IMS001").vtoc.datasets if dsn.startswith("IMSIC.") and dsn not in known]
        assert left == [], err
    finally:
        s.close()


def test_ctrl_c_during_recover_says_how_to_finish(tmp_path, monkeypatch, capsys):
    """A recovery interrupted half-way has nothing to take back (the data set is being
    overwritten by the restore): it says so, with the command that finishes it."""
    import dasdlab.engine.recovery as recovery
    from dasdlab.cli.main import run

    site = tmp_path / "s"
    for argv in (["site", "init", str(site)], ["site", "add-volume", str(site), "DS8K1", "IMS001"],
                 ["db", "define", "--site", str(site), str(ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")],
                 ["db", "load", "--site", str(site), "HDAMDB01", "--size", "256KiB", "--seed", "1"]):
        assert run(argv) == 0

    def interrupted(*a, progress=None, **k):
        progress(1, 4)
        raise KeyboardInterrupt

    monkeypatch.setattr(recovery, "recover", interrupted)
    capsys.readouterr()
    assert run(["recover", "--site", str(site), "HDAMDB01", "--ddn", "HDAMDD01"]) == 130
    err = capsys.readouterr().err
    assert f"DLB040W the recovery of HDAMDB01 was interrupted" in err
    assert f"dasdlab recover --site {site} HDAMDB01 --ddn HDAMDD01" in err
    assert err.strip().splitlines()[-1].startswith("DLB001E")
