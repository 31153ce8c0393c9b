"""Counters shared by processes add up: two processes doing copy-on-write for one
relationship at once end with the counts a serial run of the same writes gives.

FlashCopy keeps its counters in the relationship's shared maps file, TimeFinder/Clone
in the session's ``SID.counters.bm``; both are added to under the copier's lock.  (A
TimeFinder session used to keep them in its record, which each process saved with
only its own counts.)
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site

ROOT = Path(__file__).resolve().parents[1]
NTRK = 120  # source tracks written before the point in time
FIRST = 15

WRITER = r"""
import os, struct, sys, time
import numpy as np
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site_dir, go, tracks = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3].split(",")]
site = Site.open(site_dir)
vol = site.volume("SRC001", writable=True)
while not os.path.exists(go):
    time.sleep(0.001)
half = len(tracks) // 2
for t in tracks[:half]:                       # per track
    cyl, head = vol.cchh(t)
    vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 1) * 500)], vol.slot))
rest = np.array(tracks[half:], dtype=np.int64)   # batched in place, several batches
for chunk in np.array_split(rest, 4):
    vol.write_many(chunk, np.full(chunk.size, 0, np.int64), np.full((chunk.size, 8), 7, np.uint8))
site.close()
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _site(path: Path, kind: str) -> tuple[str, str]:
    sub = "DS8K1" if kind == "flashcopy" else "VMAX1"
    site = Site.init(path)
    for v in ("SRC001", "TGT001"):
        site.add_volume(sub, v, "3390-1", cylinders=10)
    src = site.volume("SRC001", writable=True)
    for t in range(FIRST, FIRST + NTRK):
        cyl, head = src.cchh(t)
        src.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 0) * 500)], src.slot))
    svc = site.subsystem(sub).service(kind)
    if kind == "flashcopy":
        rid = svc.establish("SRC001", "TGT001", mode="NOCOPY").id
    else:
        rid = svc.create("SRC001", "TGT001", mode="NOCOPY").id
        svc.activate(rid)
    site.close()
    return sub, rid


def _writers(path: Path, parts: list[list[int]], concurrent: bool) -> None:
    go = path.parent / f"{path.name}.go"
    procs = []
    for part in parts:
        if not concurrent:
            go.touch()
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(go), ",".join(map(str, part))],
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not concurrent:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        procs.append(p)
    if concurrent:
        time.sleep(1.0)  # all imported and waiting
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err


def _counts(path: Path, sub: str, kind: str, rid: str) -> dict:
    site = Site.open(path)
    try:
        svc = site.subsystem(sub).service(kind)
        q = (svc.get(rid) if kind == "flashcopy" else svc.session(rid)).query()
        keep = ("tracks_copied", "cow_count", "copied_on_access", "copied_background")
        return {k: q[k] for k in keep if k in q}
    finally:
        site.close()


@pytest.mark.parametrize("kind", ["flashcopy", "timefinder"])
def test_two_processes_copying_for_one_relationship_count_every_track(tmp_path, kind):
    tracks = list(range(FIRST, FIRST + NTRK))
    parts = [tracks[0::2], tracks[1::2]]  # interleaved: both copy onto the same target area
    sub, rid = _site(tmp_path / "serial", kind)
    _writers(tmp_path / "serial", parts, concurrent=False)
    serial = _counts(tmp_path / "serial", sub, kind, rid)
    assert serial["tracks_copied"] == NTRK and serial["cow_count"] == NTRK, serial
    sub, rid = _site(tmp_path / "concurrent", kind)
    _writers(tmp_path / "concurrent", parts, concurrent=True)
    assert _counts(tmp_path / "concurrent", sub, kind, rid) == serial
