"""A DFSMSdss COPY's new target and a RESTORE's output appear under their names only
complete: they are written under a partial name (as a DUMP is) and then renamed, or,
for RESTORE ... REPLACE, swapped in by one Format-1 write (``Vtoc.replace_with``), so a
kill at any instant leaves the old data set or the new one, never a mixture, and the
next writer of the name scratches dead writers' partials."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.newfile import clean_partial_datasets, partial_dsn
from dasdlab.emulator.site import Site
from dasdlab.emulator.vtoc import Vtoc
from dasdlab.host.dss import Dss, run

DEAD_PID = 2**22 + 12346  # above the kernel's pid_max: never a live process
BLOCKS = 1200


def _make_site(path: Path) -> Site:
    s = Site.init(path)
    for v in ("VOL001", "VOL002"):
        s.add_volume("DS8K1", v, "3390-3", cylinders=120)
    s.allocate("PROD.DATA", "VOL001", lrecl=4096, blksize=4096, primary=BLOCKS // 12 + 1)
    _fill(s, "PROD.DATA", 3)
    return s


def _fill(s: Site, dsn: str, seed: int) -> str:
    data = random.Random(seed).randbytes(4096 * BLOCKS)
    Dataset(s.volume(s.catalog.lookup(dsn), writable=True), dsn).write(data)
    return hashlib.sha1(data).hexdigest()


def _sha(s: Site, dsn: str, volser: str) -> str:
    return hashlib.sha1(Dataset(s.volume(volser), dsn).read()).hexdigest()


def _partials(s: Site, volser: str) -> list[str]:
    return [d for d in s.volume(volser).vtoc.datasets if ".DLBPART." in d]


def _dead_partial(s: Site, volser: str, dsn: str) -> str:
    name = partial_dsn(dsn, DEAD_PID)
    s.volume(volser, writable=True).vtoc.allocate(name, dsorg="PS", recfm="FB", lrecl=80, blksize=80,
                                                  unit="TRK", primary=2)
    return name


def test_a_copy_target_is_absent_until_complete_and_dead_partials_go(tmp_path):
    s = _make_site(tmp_path / "site")
    try:
        want = _sha(s, "PROD.DATA", "VOL001")
        dead = _dead_partial(s, "VOL002", "PROD.COPY")
        seen = []

        def progress(done, total):
            vol = s.volume("VOL002")
            seen.append((s.catalog.find("PROD.COPY"), "PROD.COPY" in vol.vtoc, partial_dsn("PROD.COPY") in vol.vtoc,
                         dead in vol.vtoc))

        rep = Dss(s, progress=progress).run("COPY DATASET(INCLUDE(PROD.DATA)) RENAMEU((PROD.DATA,PROD.COPY)) "
                                            "OUTDYNAM(VOL002) FASTREPLICATION(NONE)")
        assert rep.rc == 0, rep.lines
        assert len(seen) >= 2 and all(x == (None, False, True, False) for x in seen[:-1]), seen
        assert s.catalog.lookup("PROD.COPY") == "VOL002" and not _partials(s, "VOL002")
        assert _sha(s, "PROD.COPY", "VOL002") == want
        assert any("TO PROD.COPY ON VOL002" in line for line in rep.lines), rep.lines
    finally:
        s.close()


def test_a_failed_copy_leaves_no_target_and_no_partial(tmp_path, monkeypatch):
    s = _make_site(tmp_path / "site")
    try:
        from dasdlab.host.dss import runner

        def broken(*a, **k):
            raise KeyboardInterrupt

        monkeypatch.setattr(runner.Dss, "_move", broken)
        with pytest.raises(KeyboardInterrupt):
            run(s, "COPY DATASET(INCLUDE(PROD.DATA)) RENAMEU((PROD.DATA,PROD.COPY)) OUTDYNAM(VOL002) "
                   "FASTREPLICATION(NONE)")
        monkeypatch.undo()
        assert "PROD.COPY" not in s.volume("VOL002").vtoc and s.catalog.find("PROD.COPY") is None
        # an uncatalogued data set under the target's name is refused, not overwritten
        s.volume("VOL002", writable=True).vtoc.allocate("PROD.COPY", dsorg="PS", recfm="FB", lrecl=80,
                                                         blksize=80, unit="TRK", primary=1)
        rep = run(s, "COPY DATASET(INCLUDE(PROD.DATA)) RENAMEU((PROD.DATA,PROD.COPY)) OUTDYNAM(VOL002)")
        assert rep.rc == 8 and any("DLB211E" in line for line in rep.lines), rep.lines
        assert s.volume("VOL002").vtoc.get("PROD.COPY").tracks(s.volume("VOL002").heads) == 1
    finally:
        s.close()


def test_restore_replace_keeps_the_old_data_until_the_swap(tmp_path):
    s = _make_site(tmp_path / "site")
    try:
        dumped = _sha(s, "PROD.DATA", "VOL001")
        assert run(s, "DUMP DATASET(INCLUDE(PROD.DATA)) OUTDSN(BK.ALL) OUTDYNAM(VOL002)").rc == 0
        other = _fill(s, "PROD.DATA", 4)
        free_before = sum(b - a for a, b in s.volume("VOL001").vtoc.free)
        dead = _dead_partial(s, "VOL001", "PROD.DATA")
        seen = []

        def progress(done, total):
            seen.append((_sha(s, "PROD.DATA", "VOL001"), partial_dsn("PROD.DATA") in s.volume("VOL001").vtoc,
                         dead in s.volume("VOL001").vtoc))

        rep = Dss(s, progress=progress).run("RESTORE DATASET(INCLUDE(PROD.DATA)) INDSN(BK.ALL) REPLACE")
        assert rep.rc == 0, rep.lines
        assert seen and all(x == (other, True, False) for x in seen), seen  # seen while restoring
        assert _sha(s, "PROD.DATA", "VOL001") == dumped and not _partials(s, "VOL001")
        assert s.catalog.lookup("PROD.DATA") == "VOL001"
        # the old tracks went back to free space: nothing leaked
        assert sum(b - a for a, b in s.volume("VOL001").vtoc.free) == free_before
        s.close()
        s = Site.open(tmp_path / "site")
        assert _sha(s, "PROD.DATA", "VOL001") == dumped
    finally:
        s.close()


def test_replace_with_killed_after_the_switch_leaves_the_new_data_and_a_scratchable_partial(tmp_path, monkeypatch):
    s = _make_site(tmp_path / "site")
    vol = s.volume("VOL001", writable=True)
    part = partial_dsn("PROD.DATA", DEAD_PID)
    vol.vtoc.allocate(part, dsorg="PS", recfm="FB", lrecl=4096, blksize=4096, unit="TRK",
                      primary=BLOCKS // 12 + 1)
    new = random.Random(9).randbytes(4096 * BLOCKS)
    Dataset(vol, part).write(new)
    calls = []
    real = Vtoc._write_dscb

    def dying(self, addr, raw):
        calls.append(addr)
        if len(calls) == 3:  # the DS4DIRF mark, the switch, then the kill
            raise KeyboardInterrupt
        return real(self, addr, raw)

    monkeypatch.setattr(Vtoc, "_write_dscb", dying)
    with pytest.raises(KeyboardInterrupt):
        vol.vtoc.replace_with("PROD.DATA", part)
    monkeypatch.undo()
    s.close()
    s = Site.open(tmp_path / "site")
    try:
        vol = s.volume("VOL001", writable=True)
        assert Dataset(vol, "PROD.DATA").read() == new and part in vol.vtoc
        assert clean_partial_datasets(vol.vtoc, "PROD.DATA") == [part]
        # scratching the partial freed only its DSCB: the data set's tracks stay in use
        used = vol.vtoc.get("PROD.DATA").track_list(vol.heads)
        assert not any(a < d and c < b for a, b in vol.vtoc.free for c, d in used)
        assert Dataset(vol, "PROD.DATA").read() == new
    finally:
        s.close()


_CHILD = """
import os, signal, sys
from dasdlab.emulator.site import Site
from dasdlab.host.dss import Dss
site = Site.open(sys.argv[1])
def progress(done, total):  # SIGKILL itself in the middle of writing the tracks
    if sys.argv[3] == "kill" and 0 < done < total:
        os.kill(os.getpid(), signal.SIGKILL)
rep = Dss(site, progress=progress).run(sys.argv[2])
site.close()
sys.exit(rep.rc)
"""


def _child(site_dir: Path, statement: str, mode: str) -> int:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-c", _CHILD, str(site_dir), statement, mode],
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True).returncode


@pytest.mark.crash
def test_restore_replace_killed_mid_write_leaves_the_old_data_and_the_rerun_restores(tmp_path):
    s = _make_site(tmp_path / "site")
    dumped = _sha(s, "PROD.DATA", "VOL001")
    assert run(s, "DUMP DATASET(INCLUDE(PROD.DATA)) OUTDSN(BK.ALL) OUTDYNAM(VOL002)").rc == 0
    other = _fill(s, "PROD.DATA", 4)
    s.close()
    stmt = "RESTORE DATASET(INCLUDE(PROD.DATA)) INDSN(BK.ALL) REPLACE"
    assert _child(tmp_path / "site", stmt, "kill") == -9
    s = Site.open(tmp_path / "site")
    try:
        assert _sha(s, "PROD.DATA", "VOL001") == other  # not half old, half restored
        assert len(_partials(s, "VOL001")) == 1
    finally:
        s.close()
    assert _child(tmp_path / "site", stmt, "run") == 0
    s = Site.open(tmp_path / "site")
    try:
        assert _sha(s, "PROD.DATA", "VOL001") == dumped and not _partials(s, "VOL001")
    finally:
        s.close()


@pytest.mark.crash
def test_copy_killed_mid_write_leaves_no_target_and_the_rerun_copies(tmp_path):
    s = _make_site(tmp_path / "site")
    want = _sha(s, "PROD.DATA", "VOL001")
    s.close()
    stmt = "COPY DATASET(INCLUDE(PROD.DATA)) RENAMEU((PROD.DATA,PROD.COPY)) OUTDYNAM(VOL002) FASTREPLICATION(NONE)"
    assert _child(tmp_path / "site", stmt, "kill") == -9
    s = Site.open(tmp_path / "site")
    try:
        assert "PROD.COPY" not in s.volume("VOL002").vtoc and s.catalog.find("PROD.COPY") is None
        assert len(_partials(s, "VOL002")) == 1
    finally:
        s.close()
    assert _child(tmp_path / "site", stmt, "run") == 0
    s = Site.open(tmp_path / "site")
    try:
        assert _sha(s, "PROD.COPY", "VOL002") == want and not _partials(s, "VOL002")
        assert s.catalog.lookup("PROD.COPY") == "VOL002"
    finally:
        s.close()
