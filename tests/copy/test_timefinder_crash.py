"""kill -9 of a process driving TimeFinder/Clone copies, at random instants.

The worker writes the source (copy-on-access first), reads the target (copy on
access) and runs the background copy in small modeled-time ticks; in the restore phase
it writes the target and reads the source while the restore copies back.  After every
kill a fresh process must see the receiving side exactly as the point in time (at
activation, or at the restore) -- through the host view, then on its own tracks after a
drain -- or the session INVALID with a message; never a mixture.
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
from dasdlab.emulator.site import Site
from tests.copy.conftest import own, pattern_track, view

pytestmark = pytest.mark.crash

CYL = 8                   # 120 tracks
DATA = (15, 100)          # patterned source tracks; 100.. never written
KILLS_PER_PHASE = 6


def _worker(path: str, sid: str, seed: int, ready) -> None:
    rng = random.Random(seed)
    site = Site.open(path)
    # half a track per tick: a copy outlives several kill windows even on an idle machine
    site.subsystem("VMAX1").settings["clone_background_tracks_per_s"] = 50.0
    src = site.volume("SRC001", writable=True)
    tgt = site.volume("TGT001", writable=True)
    s = site.subsystem("VMAX1").service("timefinder").session(sid)
    reverse = s.direction == "reverse"
    ready.set()
    version = seed * 100_000
    now = 0.0
    while True:
        version += 1
        op = rng.random()
        t = rng.randrange(src.ntracks)
        if op < 0.35:
            if reverse:  # the target changes; the source must still become the restore image
                tgt.write_track(t, pattern_track(tgt, t, version))
            else:
                src.write_track(t, pattern_track(src, t, version))
        elif op < 0.5:
            ts = np.array(sorted(rng.sample(range(*DATA), 3)))
            (tgt if reverse else src).write_many(ts, np.full(3, 40), np.full((3, 16), version % 251, np.uint8))
        elif op < 0.55:
            (src if reverse else tgt).read_track(t)
        else:
            now += 0.01
            site.tick(now)
        time.sleep(0.0005)


def _warm_up(tmp_path) -> None:
    """Compile (or load) the copy kernels here, so forked workers do not spend their
    life doing it: run a small clone to the end, with every kind of copy."""
    site = Site.init(tmp_path / "warm")
    for v in ("A", "B"):
        site.add_volume("VMAX1", v, "3390-1", cylinders=2)
    a = site.volume("A", writable=True)
    a.write_track(20, pattern_track(a, 20, 1))
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("A", "B", [(15, 25)], [(16, 26)], mode="NOCOPY")
    tf.activate(s.id)
    a.write_track(20, pattern_track(a, 20, 2))
    site.volume("B").read_track(17)
    tf.drain(s.id)
    tf.terminate(s.id)
    s = tf.create("A", "B", mode="NOCOPY")
    tf.activate(s.id)
    a.write_track(21, pattern_track(a, 21, 2))
    tf.drain(s.id)
    site.close()


def _kill_cycle(ctx, path, sid, seed, delay) -> None:
    ready = ctx.Event()
    p = ctx.Process(target=_worker, args=(str(path), sid, seed, ready))
    p.start()
    assert ready.wait(30), "worker did not start"
    time.sleep(delay)
    os.kill(p.pid, signal.SIGKILL)
    p.join()


def _check(site, sid, expect, phase: str, kill: int) -> bool:
    """Assert the point-in-time image is whole without touching it (a host read would
    copy on access): a track still to copy is unchanged on the side it comes from, a
    track no longer to copy is on the receiving side.  True when the copy is done."""
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.session(sid)
    if s.state.value == "INVALID":
        assert s.message, "an INVALID session must say why"
        return True
    frm, to = (own(site.volume("SRC001")), own(site.volume("TGT001")))
    if s.direction == "reverse":
        frm, to = to, frm
    pending = s.pending.test_many(np.arange(s.ntracks))
    got = np.where(pending[:, None], frm, to)
    bad = [t for t in range(len(expect)) if not np.array_equal(got[t], expect[t])]
    assert not bad, f"{phase} kill {kill} (state {s.state.value}): tracks {bad[:8]} differ"
    return s.state.value in ("COPIED", "RESTORED")


def test_kill_9_during_clone_copies(tmp_path):
    _warm_up(tmp_path)
    path = tmp_path / "site"
    site = Site.init(path)
    for v in ("SRC001", "TGT001"):
        site.add_volume("VMAX1", v, "3390-1", cylinders=CYL)
    src = site.volume("SRC001", writable=True)
    for t in range(*DATA):
        src.write_track(t, pattern_track(src, t, 0))
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("SRC001", "TGT001", mode="COPY", differential=True)
    sid = s.id
    pit = view(src)
    tf.activate(sid)
    site.close()

    ctx = mp.get_context("fork")
    rng = random.Random(4321)
    kills = mid_copy = 0
    # forward: the target must read as the source at activation
    for i in range(KILLS_PER_PHASE):
        _kill_cycle(ctx, path, sid, 100 + i, rng.uniform(0.0, 0.15))
        kills += 1
        site = Site.open(path)
        done = _check(site, sid, pit, "forward", i)
        mid_copy += not done
        site.close()
        if done:
            break
    site = Site.open(path)
    tf = site.subsystem("VMAX1").service("timefinder")
    assert np.array_equal(view(site.volume("TGT001")), pit)  # the host view, then its own tracks
    tf.drain(sid)
    assert np.array_equal(own(site.volume("TGT001")), pit)

    # reverse: change both sides, restore; the source must become the target's image
    src, tgt = site.volume("SRC001", writable=True), site.volume("TGT001", writable=True)
    for t in range(20, 60, 3):
        tgt.write_track(t, pattern_track(tgt, t, 7))
    for t in range(30, 110, 4):
        src.write_track(t, pattern_track(src, t, 8))
    tgt.write_track(105, pattern_track(tgt, 105, 9))
    restore_image = view(tgt)
    tf.restore(sid)
    assert tf.session(sid).query()["tracks_pending"] > 20
    site.close()
    for i in range(KILLS_PER_PHASE):
        _kill_cycle(ctx, path, sid, 200 + i, rng.uniform(0.0, 0.15))
        kills += 1
        site = Site.open(path)
        done = _check(site, sid, restore_image, "reverse", i)
        mid_copy += not done
        site.close()
        if done:
            break
    site = Site.open(path)
    tf = site.subsystem("VMAX1").service("timefinder")
    src = site.volume("SRC001")
    assert np.array_equal(view(src), restore_image)
    tf.drain(sid)
    assert np.array_equal(own(src), restore_image)
    for t in range(*DATA):  # every source track is whole: one version in every record
        if src.is_written(t):
            trackfmt.parse_track(src.read_track(t), expect=src.cchh(t))
    site.close()
    assert kills >= 6 and mid_copy >= 4, (kills, mid_copy)
