"""VTOC updates by processes at once: allocations on one volume are serial.

Two processes allocate data sets on one volume at the same time, each from the VTOC
it read before the other wrote: every allocation either succeeds with extents no
other data set has, or is refused with a message id; the VTOC stays sound (``dasdlab
volume check``) and lists every allocation that succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dasdlab.emulator.site import Site

ROOT = Path(__file__).resolve().parents[1]

ALLOCATOR = r"""
import os, sys, time
from dasdlab.emulator.site import Site
from dasdlab.errors import DasdlabError
site_dir, go, who, n, volser = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
site = Site.open(site_dir)
vol = site.volume(volser, writable=True)
vol.vtoc                                   # read now, before the other process writes
while not os.path.exists(go):
    time.sleep(0.001)
for i in range(n):
    dsn = f"{who}.DS{i}"
    try:
        site.allocate(dsn, volser, lrecl=80, blksize=800, primary=3 + i % 4, secondary=2)
        print("ok", dsn)
    except DasdlabError as e:
        print("refused", dsn, str(e)[:7])
site.close()
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _extents(vol) -> dict[str, list[tuple[int, int]]]:
    return {dsn: e.track_list(vol.heads) for dsn, e in vol.vtoc.datasets.items()}


def _disjoint(extents: dict[str, list[tuple[int, int]]]) -> bool:
    runs = sorted(r for rs in extents.values() for r in rs)
    return all(a[1] <= b[0] for a, b in zip(runs, runs[1:]))


@pytest.mark.parametrize("kind", ["ds8000", "rva"])
def test_two_processes_allocating_on_one_volume(tmp_path, kind):
    sub = "DS8K1" if kind == "ds8000" else "RVA1"
    site = Site.init(tmp_path / "site")
    site.add_volume(sub, "VOL001", "3390-1", cylinders=40)
    site.close()
    go, n = tmp_path / "go", 12
    procs = [subprocess.Popen([sys.executable, "-c", ALLOCATOR, str(tmp_path / "site"), str(go), who, str(n), "VOL001"],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("AAA", "BBB")]
    time.sleep(1.0)  # both have read the VTOC and wait
    go.touch()
    ok, refused = [], []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        for line in out.splitlines():
            what, dsn, *rest = line.split()
            (ok if what == "ok" else refused).append((dsn, *rest))
    assert all(r[1].startswith("DLB") for r in refused), refused
    assert len(ok) == 2 * n, refused  # room for all: none has to be refused
    code = subprocess.run([sys.executable, "-m", "dasdlab.cli.main", "volume", "check", "VOL001", "--site",
                           str(tmp_path / "site"), "--json"], env=_env(), capture_output=True, text=True)
    assert code.returncode == 0, code.stdout + code.stderr
    report = json.loads(code.stdout)
    assert report["sound"] and report["datasets"] == 2 * n, report
    site = Site.open(tmp_path / "site")
    vol = site.volume("VOL001")
    ext = _extents(vol)
    assert sorted(ext) == sorted(d for d, *_ in ok)
    assert _disjoint(ext), ext
    assert sorted(site.catalog.find(d) for d, *_ in ok) == ["VOL001"] * (2 * n)
    site.close()


def test_two_cli_allocations_at_once(tmp_path):
    """``dasdlab dataset alloc`` twice at once on one volume of a site."""
    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "VOL001", "3390-1", cylinders=20)
    site.close()
    go = tmp_path / "go"
    code = r"""
import os, sys, time
from dasdlab.cli.main import run
import dasdlab.emulator.vtoc
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
sys.exit(run(["dataset", "alloc", sys.argv[2], "--site", sys.argv[3], "--volser", "VOL001", "--tracks", "30"]))
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(go), dsn, str(tmp_path / "site")], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for dsn in ("A.ONE", "B.TWO")]
    time.sleep(1.0)
    go.touch()
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    site = Site.open(tmp_path / "site")
    vol = site.volume("VOL001")
    ext = _extents(vol)
    assert sorted(ext) == ["A.ONE", "B.TWO"] and _disjoint(ext), ext
    assert not vol.vtoc.check()
    site.close()


def test_an_update_waiting_too_long_is_refused_and_changes_nothing(tmp_path, monkeypatch):
    from dasdlab.emulator import vtoc as vtoc_mod
    from dasdlab.errors import VtocError

    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "VOL001", "3390-1", cylinders=10)
    site.close()
    ready, done = tmp_path / "ready", tmp_path / "done"
    holder = subprocess.Popen([sys.executable, "-c", r"""
import fcntl, os, sys, time
from dasdlab.emulator.site import Site
from dasdlab.emulator import vtoc
site = Site.open(sys.argv[1])
vol = site.volume("VOL001", writable=True)
with vtoc._vtoc_lock(vol).held(fcntl.LOCK_EX, "VOL001"):   # an update that takes its time
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
site.close()
""", str(tmp_path / "site"), str(ready), str(done)], env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < end and holder.poll() is None
            time.sleep(0.01)
        monkeypatch.setattr(vtoc_mod, "VTOC_LOCK_WAIT_S", 0.3)
        site = Site.open(tmp_path / "site")
        vol = site.volume("VOL001", writable=True)
        first_vtoc_track = vol.vtoc.vtoc_tracks[0]
        before = bytes(vol.read_track(first_vtoc_track))
        with pytest.raises(VtocError) as e:
            vol.vtoc.allocate("LATE.DS", lrecl=80, blksize=800, primary=2)
        assert str(e.value).startswith("DLB290E"), e.value
        assert "LATE.DS" not in vol.vtoc.datasets
        after = bytes(vol.read_track(first_vtoc_track))
        assert after == before
        site.close()
    finally:
        done.touch()
        holder.communicate(timeout=30)
