"""kill -9 of a process in the middle of image copies (several kills, at random
instants): the database stays usable -- verify passes after an emergency restart and it
takes updates again -- and RECON registers no half copy: every IMAGE record names a
complete copy that equals the database at its point in time (clean) or is recoverable
(fuzzy)."""

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

from dasdlab.emulator.site import Site
from dasdlab.engine.database import define, load
from dasdlab.engine.icverify import check_copy, read_copy
from dasdlab.engine.recon import FUZZY_TYPES, Recon
from dasdlab.engine.truth import Truth
from dasdlab.engine.verify import verify

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.crash

#: the child: an online IMS with a busy workload, copying the database over and over
#: with every copy process the DS8000-like box offers; it prints a line when a copy
#: starts and when one is registered
CHILD = r"""
import itertools, sys
from pathlib import Path
from dasdlab.emulator.site import Site
from dasdlab.engine.hpic import ImageCopyEngine
from dasdlab.engine.icein import parse_file
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.timemodel import get_profile
from dasdlab.engine.workload import Workload, WorkloadSpec

site = Site.open(sys.argv[1])
system = ImsSystem(site, buffers=32, checkpoint_interval=5.0)
system.start()
system.open("HDAMDB01")
if system.dbs["HDAMDB01"].state != "ONLINE":
    system.start_db("HDAMDB01")
engine = ImageCopyEngine(site, system, get_profile("ds8000-ficon16").scaled(3000))
wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=4000, duration=1e9, seed=int(sys.argv[2])))
kinds = ["standard", "cic", "dump-cc", "copy-flashcopy", "fdump", "standard-quiesce", "compressed"]
for kind in itertools.cycle(kinds[int(sys.argv[2]) % len(kinds):] + kinds[:int(sys.argv[2]) % len(kinds)]):
    st = parse_file(Path(sys.argv[3]) / f"{kind}.icein").statements[0]
    for r in engine.start(st):
        print("START", kind, flush=True)
        r.start_time = r.next_time = system.now()
        while not r.done:
            now = system.now()
            if r.next_time <= now + 1e-12:
                r.advance(now)
            else:
                wl.step(min(wl.spec.slice, r.next_time - now))
        print("DONE", kind, r.report.status, r.report.image_id, flush=True)
"""


def test_kill_9_during_image_copies(tmp_path):
    site_dir = tmp_path / "site"
    site = Site.init(site_dir)
    site.add_volume("DS8K1", "DSA001", "3390-1", cylinders=60)
    site.add_volume("DS8K1", "DSA002", "3390-1", cylinders=200)
    define(site, ROOT / "fixtures" / "dbd" / "hdamdb01.dbd")
    load(site, "HDAMDB01", 2**20, seed=1, volser="DSA001")
    site.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rnd = random.Random(20261124)
    kills = 0
    line = ""
    for k in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(site_dir), str(k), str(ROOT / "fixtures" / "icein")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            starts = 0
            deadline = time.monotonic() + 60
            while starts < 2 + k:  # let a few copies finish, then kill inside one
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                starts += line.startswith("START")
                assert time.monotonic() < deadline
            time.sleep(rnd.uniform(0.0, 0.15))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        rest = proc.stdout.read().splitlines()
        last = rest[-1] if rest else line
        kills += last.startswith("START")  # the kill landed inside a copy
        check_after_kill(site_dir)
    assert kills >= 3, "the kills should land while a copy runs"


def check_after_kill(site_dir: Path) -> None:
    from dasdlab.engine.system import ImsSystem
    from dasdlab.engine.workload import Workload, WorkloadSpec

    # every registered copy is whole
    site = Site.open(site_dir)
    recon = Recon.of_site(site_dir)
    images = recon.images("HDAMDB01")
    recon.close()
    assert images
    truth = Truth(site_dir, "HDAMDB01")
    for im in images:
        fmt = im["extra"]["format"]
        for dsn in filter(None, (im["ic1_dsn"], im["ic2_dsn"])):
            blocks = read_copy(site, dsn, fmt, truth.meta["groups"][truth.group_index(im["ddn"])]["nblocks"])
            if im["type"] not in FUZZY_TYPES:
                chk = check_copy(site, truth, im["ddn"], blocks, im["extra"]["pit_seq"], clean=True)
                assert chk.differing == 0, (im, chk)
    # the database: verify after an emergency restart, and it takes updates again
    system = ImsSystem(site)
    notes = system.start()
    assert any("closed at restart" in n for n in notes)
    if system.recon.db("HDAMDB01")["state"] != "ONLINE":  # killed while the copy held it
        system.start_db("HDAMDB01")
    Workload(system, "HDAMDB01", WorkloadSpec(rate=2000, duration=0.5, seed=99)).run()
    system.shutdown()
    site.close()
    rep = verify(Site.open(site_dir), "HDAMDB01")
    assert rep.ok, [(r.ddn, r.mismatched_blocks) for r in rep.results]
    assert np.isfinite(rep.seq)
