"""Service-specific kill -9 harnesses of the conformance kit.

The kit's ``kill-9`` check (:func:`dasdlab.testing.processes.kill_nine`) kills a
process that writes a source while the background copy runs.  A service whose own
mechanism has more to lose declares harnesses in
:attr:`CopyService.kit_kills <dasdlab.emulator.services.contract.CopyService.kit_kills>`
as ``"module:function"``; the kit runs each as a check ``kill-9[FUNCTION]`` (the
project's tests mark every ``kill-9`` check ``crash``).  A harness takes the subject
and a folder and returns the problems it found.  Its workers are forked processes
(:mod:`multiprocessing`, "fork"), killed with SIGKILL at random instants.

* :func:`clone_copies` (TimeFinder/Clone) -- a worker writes the source
  (copy-on-access first), reads the target and ticks the background copy; then, after
  a restore, writes the target and reads the source while the restore copies back.
  After every kill a fresh process sees the receiving side exactly as the point in
  time (at activation, or at the restore) without disturbing it -- a track still to
  copy is unchanged on the side it comes from, a track no longer to copy is on the
  receiving side -- through the host view and, after a drain, on its own tracks; or
  the session is INVALID with a message.  Never a mixture.
* :func:`track_pool` (SnapShot) -- a worker rewrites tracks (whole and partial) of a
  track-pool volume and snaps them to another.  After each kill, before anything
  repairs the pool, no pointer (FTD entry) points at a slot counted lower than its
  pointers (a count dropped too early would let the slot be reused under a live
  pointer); after reopening (recount, snap recovery) counts are exact, every written
  track is whole (one version of its pattern in every record, its own address), and
  the newest snap's target tracks that still share a slot equal their source.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.testing.models import pattern_track
from dasdlab.testing.truth import own, view


def _require(ok, what: str) -> None:
    if not ok:  # not assert: the kit also runs under python -O
        raise AssertionError(what)


def _kill_after(ctx, target, args, delay: float) -> int:
    """Start ``target(*args, ready)`` in a forked process, SIGKILL it ``delay`` seconds
    after it is ready; its exit code."""
    ready = ctx.Event()
    p = ctx.Process(target=target, args=(*args, ready))
    p.start()
    if not ready.wait(30):
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        raise AssertionError("the worker process did not start")
    time.sleep(delay)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    return p.exitcode


# ====================================================================== TimeFinder/Clone

CLONE_CYL = 8                 # 120 tracks
CLONE_DATA = (15, 100)        # patterned source tracks; 100.. never written
CLONE_KILLS_PER_PHASE = 6


def _clone_worker(subject, path: str, sid: str, seed: int, ready) -> None:
    from dasdlab.emulator.site import Site

    rng = random.Random(seed)
    site = Site.open(path)
    # half a track per tick: a copy outlives several kill windows even on an idle machine
    site.subsystem(subject.subsystem).settings["clone_background_tracks_per_s"] = 50.0
    src = site.volume("SRC001", writable=True)
    tgt = site.volume("TGT001", writable=True)
    s = subject.service(site).session(sid)
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
            ts = np.array(sorted(rng.sample(range(*CLONE_DATA), 3)))
            (tgt if reverse else src).write_many(ts, np.full(3, 40), np.full((3, 16), version % 251, np.uint8))
        elif op < 0.55:
            (src if reverse else tgt).read_track(t)
        else:
            now += 0.01
            site.tick(now)
        time.sleep(0.0005)


def _clone_warm_up(subject, path: Path) -> None:
    """Compile (or load) the copy kernels here, so forked workers do not spend their
    life doing it: run a small clone to the end, with every kind of copy."""
    from dasdlab.emulator.site import Site

    site = Site.init(path)
    subject.prepare_site(site)
    for v in ("A", "B"):
        site.add_volume(subject.subsystem, v, "3390-1", cylinders=2)
    a = site.volume("A", writable=True)
    a.write_track(20, pattern_track(a, 20, 1))
    tf = subject.service(site)
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


def _clone_whole(subject, site, sid, expect, phase: str, kill: int) -> bool:
    """The point-in-time image is whole, seen without touching it (a host read would
    copy on access); True when the copy is done."""
    s = subject.service(site).session(sid)
    if s.state.value == "INVALID":
        _require(s.message, f"{phase} kill {kill}: an INVALID session must say why")
        return True
    frm, to = own(site.volume("SRC001")), own(site.volume("TGT001"))
    if s.direction == "reverse":
        frm, to = to, frm
    pending = s.pending.test_many(np.arange(s.ntracks))
    got = np.where(pending[:, None], frm, to)
    bad = [t for t in range(len(expect)) if not np.array_equal(got[t], expect[t])]
    _require(not bad, f"{phase} kill {kill} (state {s.state.value}): tracks {bad[:8]} differ from the "
                      "point-in-time image")
    return s.state.value in ("COPIED", "RESTORED")


def clone_copies(subject, path: Path, seed: int = 4321) -> list[str]:
    from dasdlab.emulator.site import Site

    path.mkdir(parents=True, exist_ok=True)
    _clone_warm_up(subject, path / "warm")
    site_dir = path / "clone"
    site = Site.init(site_dir)
    subject.prepare_site(site)
    for v in ("SRC001", "TGT001"):
        site.add_volume(subject.subsystem, v, "3390-1", cylinders=CLONE_CYL)
    src = site.volume("SRC001", writable=True)
    for t in range(*CLONE_DATA):
        src.write_track(t, pattern_track(src, t, 0))
    tf = subject.service(site)
    sid = tf.create("SRC001", "TGT001", mode="COPY", differential=True).id
    pit = view(src)
    tf.activate(sid)
    site.close()

    ctx = mp.get_context("fork")
    rng = random.Random(seed)
    kills = mid_copy = 0

    def phase(name: str, expect, seed0: int) -> None:
        nonlocal kills, mid_copy
        for i in range(CLONE_KILLS_PER_PHASE):
            _kill_after(ctx, _clone_worker, (subject, str(site_dir), sid, seed0 + i), rng.uniform(0.0, 0.15))
            kills += 1
            s = Site.open(site_dir)
            try:
                done = _clone_whole(subject, s, sid, expect, name, i)
            finally:
                s.close()
            mid_copy += not done
            if done:
                break

    # forward: the target must read as the source at activation
    phase("forward", pit, 100)
    site = Site.open(site_dir)
    try:
        tf = subject.service(site)
        _require(np.array_equal(view(site.volume("TGT001")), pit), "forward: the target's host view after the kills")
        tf.drain(sid)
        _require(np.array_equal(own(site.volume("TGT001")), pit), "forward: the target's own tracks after a drain")
        # reverse: change both sides, restore; the source must become the target's image
        src, tgt = site.volume("SRC001", writable=True), site.volume("TGT001", writable=True)
        for t in range(20, 60, 3):
            tgt.write_track(t, pattern_track(tgt, t, 7))
        for t in range(30, 110, 4):
            src.write_track(t, pattern_track(src, t, 8))
        tgt.write_track(105, pattern_track(tgt, 105, 9))
        restore_image = view(tgt)
        tf.restore(sid)
        _require(tf.session(sid).query()["tracks_pending"] > 20, "a restore with tracks to copy back")
    finally:
        site.close()
    phase("reverse", restore_image, 200)
    site = Site.open(site_dir)
    try:
        tf = subject.service(site)
        src = site.volume("SRC001")
        _require(np.array_equal(view(src), restore_image), "reverse: the source's host view after the kills")
        tf.drain(sid)
        _require(np.array_equal(own(src), restore_image), "reverse: the source's own tracks after a drain")
        for t in range(*CLONE_DATA):  # every source track is whole: one version in every record
            if src.is_written(t):
                trackfmt.parse_track(src.read_track(t), expect=src.cchh(t))
    finally:
        site.close()
    _require(kills >= 6 and mid_copy >= 4, f"too few kills in the middle of a copy ({kills} kills, "
                                           f"{mid_copy} mid-copy): the machine is too fast for the harness")
    return []


# ====================================================================== the track pool

POOL_NREC = 4
POOL_DATA = (20, 60)  # tracks the writer rewrites on RVA001
POOL_KILLS = 24
POOL_SECONDS = 25.0


def _pool_image(vol, t, version):
    cyl, head = vol.cchh(t)
    data = np.full(POOL_NREC * 4096, version % 251 + 1, np.uint8)
    data[::4096] = t & 0xFF
    return trackfmt.fixed_track(cyl, head, 0, 4096, POOL_NREC, data, vol.slot, eof=True)


def _pool_writer(subject, path: str, seed: int, ready) -> None:
    """Rewrite tracks (whole and partial) and snap RVA001 -> RVA002 forever."""
    from dasdlab.emulator.site import Site

    rng = random.Random(seed)
    site = Site.open(path)
    src = site.volume("RVA001", writable=True)
    snap = subject.service(site)
    ready.set()
    version = seed * 1000
    while True:
        version += 1
        t = rng.randrange(*POOL_DATA)
        op = rng.random()
        if op < 0.5:
            src.write_track(t, _pool_image(src, t, version))
        elif op < 0.8 and src.is_written(t):
            # a partial update: every record of the track gets the new version byte
            offs = np.array([trackfmt.fixed_data_offset(0, 4096, i) + 1 for i in range(POOL_NREC)])
            src.write_many(np.full(POOL_NREC, t), offs, np.full((POOL_NREC, 4095), version % 251 + 1, np.uint8))
        else:
            a = rng.randrange(POOL_DATA[0], POOL_DATA[1] - 5)
            snap.snap("RVA001", "RVA002", [(a, a + 5)], [(a + 100, a + 105)])


def _pool_track(vol, t) -> bytes:
    img = vol.read_track(t)
    recs = trackfmt.parse_track(img, expect=vol.cchh(t))
    _require(len(recs) == POOL_NREC + 1, f"track {t} has {len(recs)} records, not {POOL_NREC + 1}")
    versions = {int(img[r.data_offset + 1]) for r in recs[:POOL_NREC]}
    _require(len(versions) == 1, f"track {t} mixes versions {versions}")
    return b"".join(bytes(img[r.data_offset:r.end]) for r in recs)


def track_pool(subject, path: Path, seed: int = 7) -> list[str]:
    from dasdlab.emulator.rva import configure_pool, read_ftd
    from dasdlab.emulator.site import Site

    site_dir = path / "pool"
    site = Site.init(site_dir)
    configure_pool(site, subject.subsystem, pool_slots=4000, fsc_threshold_slots=16)
    src = site.add_volume(subject.subsystem, "RVA001", "3390-3", cylinders=12)
    site.add_volume(subject.subsystem, "RVA002", "3390-3", cylinders=12)
    for t in range(*POOL_DATA):
        src.write_track(t, _pool_image(src, t, 0))
    site.close()
    ctx = mp.get_context("fork")
    rng = random.Random(seed)
    deadline = time.monotonic() + POOL_SECONDS
    done = 0
    pool_dir = site_dir / "state" / subject.subsystem / "pool"
    for i in range(POOL_KILLS):
        if time.monotonic() > deadline:
            break
        code = _kill_after(ctx, _pool_writer, (subject, str(site_dir), i + 1), rng.uniform(0.0, 0.25))
        _require(code == -signal.SIGKILL, f"kill {i}: the writer ended by itself ({code})")
        done += 1
        # before any repair: a count may be too high, never too low
        refs = np.fromfile(pool_dir / "refs.u32", dtype=np.uint32).astype(np.int64)
        counts = np.zeros_like(refs)
        for v in ("RVA001", "RVA002"):
            ftd = read_ftd(pool_dir / "ftd" / f"{v}.ftd")[0]
            counts += np.bincount(np.asarray(ftd), minlength=refs.size)[: refs.size]
        counts[0] = 0
        low = np.flatnonzero(refs < counts)
        _require(low.size == 0, f"kill {i}: slots {low[:5].tolist()} are counted lower than their pointers")
        # reopen: recount and snap recovery, then check contents
        s = Site.open(site_dir)
        try:
            a, b = s.volume("RVA001"), s.volume("RVA002")
            pool = s.subsystem(subject.subsystem).pool
            snapsvc = subject.service(s)
            counts2 = np.zeros(pool.nslots, dtype=np.int64)
            for vol in (a, b):
                counts2 += np.bincount(np.asarray(vol.ftd), minlength=pool.nslots)[: pool.nslots]
            counts2[0] = 0
            _require(np.array_equal(np.asarray(pool.refs, dtype=np.int64), counts2),
                     f"kill {i}: after reopening, the pool's counts are not exact")
            for t in range(*POOL_DATA):
                _pool_track(a, t)
            recs = snapsvc.query()
            for rec in recs:
                _require(rec["state"] == "COMPLETE", f"kill {i}: snap {rec.get('id')} is {rec['state']}")
            if recs:
                last = recs[-1]
                # the newest snap's source tracks are unchanged unless rewritten after it
                for (s0, s1), (d0, _d1) in zip(last["src_runs"], last["dst_runs"]):
                    for k in range(s1 - s0):
                        if a.slot_of(s0 + k) == b.slot_of(d0 + k):
                            _require(_pool_track(a, s0 + k) == _pool_track(b, d0 + k),
                                     f"kill {i}: snap target track {d0 + k} differs from its source")
        finally:
            s.close()
    _require(done >= 12, f"only {done} kills in {POOL_SECONDS:g} s")
    return []
