"""A DFSMSdss DUMP output appears under its name only complete: it is written
uncatalogued under a partial name and renamed when its trailer is written; a DUMP
killed with SIGKILL at any instant leaves at most that partial data set, which the
next DUMP of the same name scratches."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.newfile import clean_partial_datasets, partial_dsn
from dasdlab.emulator.site import Site
from dasdlab.host.dss import Dss, read_dump, run

ROOT = Path(__file__).resolve().parents[1]
STATEMENT = "DUMP DATASET(INCLUDE(PROD.**)) OUTDSN(BK.ALL) OUTDYNAM(VOL002)"
DEAD_PID = 2**22 + 12345  # above the kernel's pid_max: never a live process


def _make_site(path: Path, blocks: int) -> Site:
    s = Site.init(path)
    for v in ("VOL001", "VOL002"):
        s.add_volume("DS8K1", v, "3390-3", cylinders=120)
    s.allocate("PROD.DATA", "VOL001", lrecl=4096, blksize=4096, primary=blocks // 12 + 1)
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, 4096 * 64, dtype=np.uint8)
    Dataset(s.volume("VOL001", writable=True), "PROD.DATA").format_blocks(
        blocks, fill=lambda f, n: np.resize(np.roll(noise, f), n * 4096))
    return s


def _partials(site: Site) -> list[str]:
    return [d for d in site.volume("VOL002").vtoc.datasets if ".DLBPART." in d]


def test_the_dump_is_partial_and_uncatalogued_until_complete(tmp_path):
    s = _make_site(tmp_path / "site", 3000)
    try:
        seen = []

        def progress(done, total):
            vol = s.volume("VOL002")
            seen.append((s.catalog.find("BK.ALL"), "BK.ALL" in vol.vtoc, partial_dsn("BK.ALL") in vol.vtoc))

        rep = Dss(s, progress=progress).run(STATEMENT)
        assert rep.rc == 0, rep.lines
        assert len(seen) > 2 and all(x == (None, False, True) for x in seen[:-1]), seen
        assert s.catalog.lookup("BK.ALL") == "VOL002" and not _partials(s)
        (d,) = read_dump(Dataset(s.volume("VOL002"), "BK.ALL").read(), "BK.ALL")
        assert d.dsn == "PROD.DATA"
        # the message names the final data set, as before
        assert any(line.startswith("DLB430I DUMP DATA SET BK.ALL:") for line in rep.lines)
    finally:
        s.close()


def test_a_dead_writers_partial_is_scratched_and_a_failed_dump_leaves_nothing(tmp_path, monkeypatch):
    s = _make_site(tmp_path / "site", 120)
    try:
        vol = s.volume("VOL002", writable=True)
        dead = partial_dsn("BK.ALL", DEAD_PID)
        other = partial_dsn("BK.OTHER", DEAD_PID)
        live = partial_dsn("BK.ALL", os.getppid())  # a live process's partial is left alone
        for n in (dead, other, live):
            vol.vtoc.allocate(n, dsorg="PS", recfm="FB", lrecl=80, blksize=80, unit="TRK", primary=1)
        assert clean_partial_datasets(vol.vtoc, "BK.ALL") == [dead]
        assert other in vol.vtoc and live in vol.vtoc
        vol.vtoc.delete(live)

        from dasdlab.host.dss import runner

        def broken(*a, **k):
            raise KeyboardInterrupt  # not a DasdlabError: the run is interrupted

        monkeypatch.setattr(runner.Dss, "_finish", broken)
        with pytest.raises(KeyboardInterrupt):
            run(s, STATEMENT)
        assert s.catalog.find("BK.ALL") is None and "BK.ALL" not in s.volume("VOL002").vtoc
        assert _partials(s) == [other]
        monkeypatch.undo()
        # an uncatalogued data set already under the name is refused, as before
        s.volume("VOL002", writable=True).vtoc.allocate("BK.ALL", dsorg="PS", recfm="FB", lrecl=80,
                                                         blksize=80, unit="TRK", primary=1)
        rep = run(s, STATEMENT)
        assert rep.rc == 8 and any("DLB420E" in line and "DLB211E" in line for line in rep.lines), rep.lines
        assert _partials(s) == [other]
    finally:
        s.close()


_CHILD = """
import pathlib, sys
from dasdlab.emulator.site import Site
from dasdlab.host.dss import Dss
site = Site.open(sys.argv[1])
marker = pathlib.Path(sys.argv[2])
def progress(done, total):
    if not marker.exists():
        marker.write_text(str(done))
rep = Dss(site, progress=progress).run(sys.argv[3])
site.close()
sys.exit(rep.rc)
"""

KILLS = 8


@pytest.mark.crash
def test_a_killed_dump_never_appears_partial(tmp_path):
    site_dir = tmp_path / "site"
    _make_site(site_dir, 9000).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(marker: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _CHILD, str(site_dir), str(marker), STATEMENT], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # the reference: an uninterrupted run, and how long its writing takes
    marker = tmp_path / "ref.marker"
    p = start(marker)
    while not marker.exists() and p.poll() is None:
        time.sleep(0.001)
    t0 = time.monotonic()
    assert p.wait() == 0
    writing = time.monotonic() - t0
    s = Site.open(site_dir)
    want = read_dump(Dataset(s.volume("VOL002"), "BK.ALL").read(), "BK.ALL")
    s.delete_dataset("BK.ALL")
    s.close()

    rng = random.Random(11)
    landed = 0
    for k in range(KILLS):
        marker = tmp_path / f"k{k}.marker"
        p = start(marker)
        deadline = time.monotonic() + 60
        while not marker.exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.9) * writing)
        p.send_signal(signal.SIGKILL)
        p.wait()
        s = Site.open(site_dir)
        try:
            vol = s.volume("VOL002")
            if s.catalog.find("BK.ALL") is not None or "BK.ALL" in vol.vtoc:
                # it had finished: then it is the whole dump
                got = read_dump(Dataset(vol, "BK.ALL").read(), "BK.ALL")
                assert [(d.dsn, d.tracks) for d in got] == [(d.dsn, d.tracks) for d in want], k
                s.delete_dataset("BK.ALL")
                continue
            landed += bool(_partials(s))
            assert len(_partials(s)) <= 1
        finally:
            s.close()
        # the next DUMP of the name scratches the killed run's partial and writes the dump
        assert start(tmp_path / f"n{k}.marker").wait() == 0
        s = Site.open(site_dir)
        try:
            got = read_dump(Dataset(s.volume("VOL002"), "BK.ALL").read(), "BK.ALL")
            assert [(d.dsn, d.tracks) for d in got] == [(d.dsn, d.tracks) for d in want]
            assert not _partials(s), "the next run left the killed run's partial data set"
            s.delete_dataset("BK.ALL")
        finally:
            s.close()
    assert landed >= 1, "no kill landed while the dump was being written"
