"""kill -9 of a process writing and snapping in a track pool, at random instants.

After each kill, before anything repairs the pool, no FTD entry may point at a slot
whose count is lower than the number of entries pointing at it (a count dropped too
early would let the slot be reused under a live pointer).  After reopening (recount,
snap recovery) counts are exact, every written track is whole (one version of its
pattern in every record, its own address), and every snap target equals its source as
of the snap.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.rva import configure_pool, read_ftd
from dasdlab.emulator.site import Site

pytestmark = pytest.mark.crash

NREC = 4
DATA_TRACKS = (20, 60)  # tracks the writer rewrites on RVA001


def _image(vol, t, version):
    cyl, head = vol.cchh(t)
    data = np.full(NREC * 4096, version % 251 + 1, np.uint8)
    data[::4096] = t & 0xFF
    return trackfmt.fixed_track(cyl, head, 0, 4096, NREC, data, vol.slot, eof=True)


def _writer(path: str, seed: int, ready) -> None:
    """Rewrite tracks (whole and partial) and snap RVA001 -> RVA002 forever."""
    rng = random.Random(seed)
    site = Site.open(path)
    src = site.volume("RVA001", writable=True)
    snap = site.subsystem("RVA1").service("snapshot")
    ready.set()
    version = seed * 1000
    while True:
        version += 1
        t = rng.randrange(*DATA_TRACKS)
        op = rng.random()
        if op < 0.5:
            src.write_track(t, _image(src, t, version))
        elif op < 0.8 and src.is_written(t):
            # a partial update: every record of the track gets the new version byte
            offs = np.array([trackfmt.fixed_data_offset(0, 4096, i) + 1 for i in range(NREC)])
            src.write_many(np.full(NREC, t), offs, np.full((NREC, 4095), version % 251 + 1, np.uint8))
        else:
            a = rng.randrange(DATA_TRACKS[0], DATA_TRACKS[1] - 5)
            snap.snap("RVA001", "RVA002", [(a, a + 5)], [(a + 100, a + 105)])


def _check_track(vol, t):
    img = vol.read_track(t)
    recs = trackfmt.parse_track(img, expect=vol.cchh(t))
    assert len(recs) == NREC + 1
    versions = {int(img[r.data_offset + 1]) for r in recs[:NREC]}
    assert len(versions) == 1, f"track {t} mixes versions {versions}"
    return b"".join(bytes(img[r.data_offset:r.end]) for r in recs)


def test_kill_9_never_leaves_a_pointer_at_a_dropped_count(tmp_path):
    path = tmp_path / "site"
    site = Site.init(path)
    configure_pool(site, "RVA1", pool_slots=4000, fsc_threshold_slots=16)
    src = site.add_volume("RVA1", "RVA001", "3390-3", cylinders=12)
    site.add_volume("RVA1", "RVA002", "3390-3", cylinders=12)
    for t in range(*DATA_TRACKS):
        src.write_track(t, _image(src, t, 0))
    site.close()
    ctx = mp.get_context("fork")
    rng = random.Random(7)
    kills = 24
    deadline = time.monotonic() + 25
    done = 0
    for i in range(kills):
        if time.monotonic() > deadline:
            break
        ready = ctx.Event()
        p = ctx.Process(target=_writer, args=(str(path), i + 1, ready))
        p.start()
        assert ready.wait(20)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert p.exitcode == -signal.SIGKILL
        done += 1
        # before any repair: a count may be too high, never too low
        pool_dir = path / "state" / "RVA1" / "pool"
        refs = np.fromfile(pool_dir / "refs.u32", dtype=np.uint32).astype(np.int64)
        counts = np.zeros_like(refs)
        for v in ("RVA001", "RVA002"):
            ftd = read_ftd(pool_dir / "ftd" / f"{v}.ftd")[0]
            counts += np.bincount(np.asarray(ftd), minlength=refs.size)[: refs.size]
        counts[0] = 0
        low = np.flatnonzero(refs < counts)
        assert low.size == 0, f"kill {i}: slots {low[:5]} are counted lower than their pointers"
        # reopen: recount and snap recovery, then check contents
        s = Site.open(path)
        a, b = s.volume("RVA001"), s.volume("RVA002")
        pool = s.subsystem("RVA1").pool
        snapsvc = s.subsystem("RVA1").service("snapshot")
        counts2 = np.zeros(pool.nslots, dtype=np.int64)
        for vol in (a, b):
            counts2 += np.bincount(np.asarray(vol.ftd), minlength=pool.nslots)[: pool.nslots]
        counts2[0] = 0
        assert np.array_equal(np.asarray(pool.refs, dtype=np.int64), counts2)
        for t in range(*DATA_TRACKS):
            _check_track(a, t)
        for rec in snapsvc.query():
            assert rec["state"] == "COMPLETE", rec
        last = snapsvc.query()[-1] if snapsvc.query() else None
        if last is not None:
            # the newest snap's source tracks are unchanged unless rewritten after it
            for (s0, s1), (d0, _d1) in zip(last["src_runs"], last["dst_runs"]):
                for k in range(s1 - s0):
                    if a.slot_of(s0 + k) == b.slot_of(d0 + k):
                        assert _check_track(a, s0 + k) == _check_track(b, d0 + k)
        s.close()
    assert done >= 12
