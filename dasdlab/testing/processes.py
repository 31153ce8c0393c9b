"""Checks across processes: a second process, concurrent processes, kill -9.

Every other process here is a real one (:mod:`dasdlab.testing.child`, started with
this interpreter), not a thread or a fork of the kit: it imports the service afresh
and knows only what the site folder holds.

* **second-process**: a relationship made by one process is seen, in the same state,
  by the next; that process's source writes are intercepted (the point-in-time view
  stays whole) or refused with a message id; a withdraw by one process is still a
  withdraw for the process after it.
* **concurrent-processes**: a process that opened the site *before* the relationship
  was made writes the source afterwards -- intercepted or refused, never a silent
  change of the point-in-time image; a second establish onto the same target from
  that process is refused; a withdraw is not undone when a process that had loaded
  the relationship exits.
* **concurrent-writers**: two processes write disjoint source tracks at the same time
  over a relationship both have loaded; every track ends as its writer last wrote it
  (or the write was refused with a message id) and the point-in-time image is whole.
* **kill-9**: a process that writes the source and runs the background copy is killed
  at random instants; after each kill the next process sees the point-in-time image
  whole, or the relationship failed with a message (never a mixture); at the end the
  copy is drained and the target's own tracks hold the image.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.errors import CopyServiceError
from dasdlab.testing import scenario
from dasdlab.testing.truth import VOLUMES, layout, new_site, stream_track, view

REPLY_TIMEOUT_S = 120.0
KILLS = 5
_CHILDREN: list = []


class Child:
    """One other process driving the site."""

    def __init__(self, subject, path: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        # stderr to a file: a pipe nobody reads would stop a child that warns a lot
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dasdlab.testing.child", subject.spec, str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            text=True, env=env, bufsize=1)
        _CHILDREN.append(self)

    def call(self, **cmd) -> dict:
        self.send(**cmd)
        return self.receive(cmd["op"])

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def receive(self, op: str) -> dict:
        cmd = {"op": op}
        # poll, not select: in a long test session this process may hold more than
        # FD_SETSIZE (1024) descriptors, which select() cannot watch
        poller = select.poll()
        poller.register(self.proc.stdout, select.POLLIN | select.POLLHUP)
        ready = poller.poll(REPLY_TIMEOUT_S * 1000)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.kill()
            self.err.seek(0)
            err = self.err.read()[-600:]
            raise AssertionError(f"child process gave no answer to {cmd['op']}: {err.strip()}")
        out = json.loads(line)
        if "error" in out:
            raise AssertionError(f"child process {cmd['op']}: {out['error']}")
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        try:
            self.call(op="close")
        finally:
            self.proc.wait(timeout=REPLY_TIMEOUT_S)


def reap() -> None:
    """Kill the kit's child processes still running (a check that failed midway)."""
    while _CHILDREN:
        c = _CHILDREN.pop()
        if c.proc.poll() is None:
            c.kill()


def close_site(site) -> None:
    """Close a site once (a second close would save the services' state again)."""
    if site is not None and not getattr(site, "_kit_closed", False):
        site._kit_closed = True
        site.close()


def _open(path: Path):
    from dasdlab.emulator.site import Site

    return Site.open(path)


def _mode(subject) -> bool | None:
    """The copy mode whose target stays logical longest: NOCOPY when there is one."""
    t = subject.traits
    if t.nocopy:
        return False
    return True if t.background_copy else None


def _level(subject) -> str:
    return "dataset" if "dataset" in subject.traits.levels else "volume"


def _setup(subject, path: Path, background):
    site = new_site(path, subject)
    src = site.volume(VOLUMES[0], writable=True)
    site.volume(VOLUMES[1], writable=True)
    sr, dr, pairs, relocated = scenario.domain(subject, src, _level(subject))
    model = view(src)
    target = VOLUMES[1] if subject.traits.reader == "target" else None
    rid = subject.establish(site, VOLUMES[0], target, sr, dr, background)
    pit = {s: model[s].copy() for s, _ in pairs}
    return scenario.Run(subject, site, rid, pairs, relocated, pit, model)


def _written_domain(run) -> list[int]:
    lay = layout(run.src)
    return [s for s, _ in run.pairs if s in lay.written]


def _child_write(run, child: Child, tracks: list[int], seed: int, who: str) -> None:
    """A write by another process; the model learns it when it was accepted."""
    out = child.call(op="write", tracks=tracks, seed=seed)
    if "refused" in out:
        if not str(out["refused"])[:3] == "DLB":
            run.fail(f"{who}: a refused write gave no message id: {out['refused']}")
        return
    src = run.src
    for t in tracks:
        run.model[t] = np.frombuffer(bytes(stream_track(src, t, seed)), np.uint8)


def _gone(subject, state) -> bool:
    return state is None or (subject.tables is not None and state in subject.tables.gone)


def _reopen(run) -> None:
    close_site(run.site)
    run.site = _open(run.site.path)
    run.subject.service(run.site)


# ====================================================================== second process


def second_process(subject, path: Path) -> list[str]:
    session = subject.traits.reader == "session"
    run = _setup(subject, path, _mode(subject))
    rid = run.rid
    state0 = subject.state(run.site, rid)
    if not session:
        close_site(run.site)  # the next process is the only one
    try:
        a = Child(subject, path)
        a.call(op="open")
        seen = a.call(op="state", rid=rid)["state"]
        if seen != state0:
            run.fail(f"a second process sees {rid} in state {seen}, the first left it {state0}")
        tracks = _written_domain(run)[:4]
        _child_write(run, a, tracks, 11, "second process")
        a.close()
        if not session:
            run.site = _open(path)
            subject.service(run.site)
        check_views(run, "after a second process wrote the source")
        if session:
            subject.withdraw(run.site, rid)
        else:
            close_site(run.site)
            b = Child(subject, path)
            b.call(op="open")
            out = b.call(op="withdraw", rid=rid)
            if "refused" in out:
                run.fail(f"a second process could not withdraw {rid}: {out['refused']}")
            b.close()
        c = Child(subject, path)
        c.call(op="open")
        st = c.call(op="state", rid=rid)["state"]
        if not _gone(subject, st):
            run.fail(f"after the withdraw, the next process still sees {rid} in state {st}")
        out = c.call(op="write", tracks=tracks[:1], seed=12)
        if "refused" in out:
            run.fail(f"after the withdraw, a write is still refused: {out['refused']}")
        c.close()
        if not session:
            run.site = _open(path)
        st = subject.state(run.site, rid)
        if not _gone(subject, st):
            run.fail(f"a withdraw did not last: {rid} is back in state {st}")
    finally:
        close_site(run.site)
    return run.problems


def check_views(run, when: str) -> None:
    """Frozen and live view, without reading a session reader's tracks twice."""
    if run.subject.traits.reader == "target":
        scenario.check_frozen(run, when)
        scenario.check_frozen(run, when, via="host")
    else:
        # a session's image is read once: read the tracks the other process wrote
        run.read_once = set()
        scenario.check_frozen(run, when)
    scenario.check_live(run, when)


# ====================================================================== concurrent processes


def concurrent_processes(subject, path: Path) -> list[str]:
    session = subject.traits.reader == "session"
    site = new_site(path, subject)
    close_site(site)
    early = Child(subject, path)
    early.call(op="open")  # running before the relationship exists
    run = _setup_existing(subject, path)
    rid = run.rid
    try:
        tracks = _written_domain(run)[:4]
        _child_write(run, early, tracks, 21, "a process opened before the establish")
        check_views(run, "after a write by a process opened before the establish")
        if not session and _serial_refuses_second_target(subject, path.parent / "serial"):
            out = early.call(op="establish", level=_level(subject), background=_mode(subject))
            if "rid" in out:
                run.fail(f"a second establish onto the same target is refused within one process "
                         f"but was accepted from another ({out['rid']} beside {rid})")
                early.call(op="withdraw", rid=out["rid"])
        early.close()
        late = Child(subject, path)
        late.call(op="open")
        late.call(op="state", rid=rid)  # it has loaded the relationship
        subject.withdraw(run.site, rid)
        late.call(op="write", tracks=tracks[:1], seed=22)
        late.close()  # must not bring the relationship back
        _reopen(run)
        st = subject.state(run.site, rid)
        if not _gone(subject, st):
            run.fail(f"a withdraw was undone when another process exited: {rid} is in state {st}")
    finally:
        close_site(run.site)
    return run.problems


def concurrent_writers(subject, path: Path, rounds: int = 6) -> list[str]:
    """Two processes write disjoint source tracks at the same time, over a relationship
    both have loaded: every track must end as its own writer last wrote it (or the
    write was refused with a message id), and the point-in-time image stays whole."""
    session = subject.traits.reader == "session"
    run = _setup(subject, path, _mode(subject))
    if not session:
        close_site(run.site)
    try:
        dom = _written_domain(run)
        mine = {0: dom[0::2][:8], 1: dom[1::2][:8]}
        kids = [Child(subject, path), Child(subject, path)]
        for k in kids:
            k.call(op="open")
        last: dict[int, int | None] = {t: None for ts in mine.values() for t in ts}
        for r in range(rounds):
            seeds = (300 + 2 * r, 301 + 2 * r)
            for k, c in enumerate(kids):  # both commands first, so the writes overlap
                c.send(op="write", tracks=mine[k], seed=seeds[k], repeat=40)
            for k, c in enumerate(kids):
                out = c.receive("write")
                if "refused" in out:
                    if str(out["refused"])[:3] != "DLB":
                        run.fail(f"a refused write gave no message id: {out['refused']}")
                    continue
                for t in mine[k]:
                    last[t] = seeds[k]
        for c in kids:
            c.close()
        if not session:
            run.site = _open(path)
            subject.service(run.site)
        src = run.src
        for t, seed in last.items():
            if seed is not None:
                run.model[t] = np.frombuffer(bytes(stream_track(src, t, seed)), np.uint8)
        check_views(run, "after two processes wrote at once")
    finally:
        close_site(run.site)
    return run.problems


def _serial_refuses_second_target(subject, path: Path) -> bool:
    """Whether the service, in one process, refuses a second establish onto tracks that
    are already a target (FlashCopy does; a re-snap replaces the target)."""
    site = new_site(path, subject)
    src = site.volume(VOLUMES[0], writable=True)
    sr, dr, _p, _r = scenario.domain(subject, src, _level(subject))
    try:
        subject.establish(site, VOLUMES[0], VOLUMES[1], sr, dr, _mode(subject))
        try:
            subject.establish(site, VOLUMES[0], VOLUMES[1], sr, dr, _mode(subject))
        except CopyServiceError:
            return True
        return False
    finally:
        close_site(site)


def _setup_existing(subject, path: Path, background="nocopy-first", level: str | None = None):
    site = _open(path)
    subject.service(site)
    src = site.volume(VOLUMES[0], writable=True)
    site.volume(VOLUMES[1], writable=True)
    sr, dr, pairs, relocated = scenario.domain(subject, src, level or _level(subject))
    model = view(src)
    target = VOLUMES[1] if subject.traits.reader == "target" else None
    if background == "nocopy-first":
        background = _mode(subject)
    rid = subject.establish(site, VOLUMES[0], target, sr, dr, background)
    pit = {s: model[s].copy() for s, _ in pairs}
    return scenario.Run(subject, site, rid, pairs, relocated, pit, model)


# ====================================================================== kill -9


def _slow_background(site) -> None:
    """A background copy slow enough to be killed in the middle of (about one track
    per kit tick); every setting named ``*_background_tracks_per_s``."""
    with site.locked():
        site.reload()
        for spec in site.config["subsystems"].values():
            st = spec.setdefault("settings", {})
            for k in list(st):
                if k.endswith("_background_tracks_per_s"):
                    st[k] = 100.0
        site._write_config(site.config)


def _whole(vol, tracks) -> list[int]:
    """Source tracks that are not a whole track image at their own address."""
    bad = []
    for t in tracks:
        img = vol.read_track(t)
        if not trackfmt.is_formatted(img):
            continue
        try:
            trackfmt.parse_track(bytes(img), expect=vol.cchh(t))
        except Exception:  # noqa: BLE001 - any parse failure is a torn track
            bad.append(t)
    return bad


def kill_nine(subject, path: Path, kills: int = KILLS, mechanisms=None, seed: int = 9) -> list[str]:
    """The kill -9 harness.  ``mechanisms``: (level, background) pairs, ``kills`` kills
    for each (default: one mechanism, data-set level with background copy when the
    service has it)."""
    rng = random.Random(seed)
    if subject.traits.reader == "session":
        site = new_site(path, subject)
        close_site(site)
        return _kill_session(subject, path, rng, kills)
    if mechanisms is None:
        mechanisms = [(_level(subject), True if subject.traits.background_copy else _mode(subject))]
    problems: list[str] = []
    for k, (level, bg) in enumerate(mechanisms):
        where = path.with_name(f"{path.name}-{k}")
        problems += [f"{scenario.mechanism_name(level, bg)}: {p}"
                     for p in _kill_cycle(subject, where, level, bg, kills, rng)]
    return problems


def _kill_cycle(subject, path: Path, level: str, bg, kills: int, rng) -> list[str]:
    site = new_site(path, subject)
    _slow_background(site)
    close_site(site)
    run = _setup_existing(subject, path, bg, level)
    close_site(run.site)
    lay = layout(run.src)
    domain = [s for s, _ in run.pairs]
    # the writer also formats never-written tracks and writes outside the domain
    tracks = domain + [t for t in range(lay.first_data, lay.ntracks) if t not in set(domain)][:6]
    failed = False
    try:
        for i in range(kills):
            w = Child(subject, path)
            w.call(op="open")
            w.call(op="loop", seed=100 + i, tracks=tracks)
            time.sleep(rng.uniform(0.05, 0.4))
            w.kill()
            run.site = _open(path)
            subject.service(run.site)
            st = subject.state(run.site, run.rid)
            if st is None:
                run.fail(f"kill {i + 1}: relationship {run.rid} is gone after a kill")
                return run.problems
            if _failed(subject, run.site, run.rid, st):
                failed = True  # allowed: failed with a message, its target refused
                break
            scenario.check_frozen(run, f"after kill {i + 1}")
            scenario.check_frozen(run, f"after kill {i + 1}", via="host")
            bad = _whole(run.src, tracks)
            if bad:
                run.fail(f"kill {i + 1}: source tracks {bad[:6]} are torn")
            if run.problems:
                return run.problems
            close_site(run.site)
        if not failed and bg:
            run.site = _open(path)
            subject.service(run.site)
            subject.drain(run.site, run.rid)
            scenario.check_frozen(run, "after the kills and a drain", via="own")
    finally:
        close_site(run.site)
    return run.problems


def _failed(subject, site, rid, state) -> bool:
    """Failed with a message: a state from which the table allows only an end, and an
    error message (``DLBnnnE``) saying why."""
    t = subject.tables
    if t is None or state not in t.transitions:
        return False
    nxt = t.transitions[state]
    msg = subject.message(site, rid) or ""
    return state not in t.gone and bool(nxt) and nxt <= t.gone and msg[:3] == "DLB" and msg[6:7] == "E"


def _kill_session(subject, path: Path, rng, kills: int) -> list[str]:
    """A session lives in its process: after a kill the next process must see it
    ended (a terminal state, or gone), and the source whole."""
    problems: list[str] = []
    for i in range(kills):
        w = Child(subject, path)
        w.call(op="open")
        rid = w.call(op="establish", level=_level(subject), background=_mode(subject))["rid"]
        site = _open(path)
        src = site.volume(VOLUMES[0])
        tracks = [t for t in layout(src).written]
        site.close()
        w.call(op="loop", seed=200 + i, tracks=tracks)
        time.sleep(rng.uniform(0.05, 0.3))
        w.kill()
        site = _open(path)
        subject.service(site)
        st = subject.state(site, rid)
        t = subject.tables
        if not (_gone(subject, st) or (t is not None and not t.transitions.get(st))):
            problems.append(f"kill {i + 1}: session {rid} of the killed process is still {st}")
        bad = _whole(site.volume(VOLUMES[0]), tracks)
        if bad:
            problems.append(f"kill {i + 1}: source tracks {bad[:6]} are torn")
        site.close()
        if problems:
            break
    return problems
