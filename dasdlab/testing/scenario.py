"""The point-in-time scenario, run over one mechanism of a service.

A mechanism is a level (``volume`` or ``dataset``) and, for a service that has both, a
copy mode (background copy or logical only).  The scenario:

1. patterns on the source (across track and cylinder boundaries, with never-written
   tracks in the domain), then a copy of what the source reads as -- the truth;
2. establish;
3. host operations on the source: a whole-track write, a later write of the same track,
   a record update, a batch of updates that straddles a cylinder boundary, the first
   format of a never-written track, a write outside the domain -- and, in the
   ``discards`` variant, discards of written, never-written and re-written tracks;
4. host operations on the target (target readers): a write, a record update, a discard;
5. the **frozen view** (every domain track reads as the truth, or as the target's own
   host writes) and the **live view** (the source reads as its model);
6. drain and teardown: after a complete copy the target keeps the truth on its own
   tracks once the relationship is gone, and later source writes do not reach it.

Every step appends what went wrong to a list of problems; an empty list is a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.testing.truth import VOLUMES, layout, new_site, record_span, same, stream_track, view


@dataclass
class Run:
    """One established copy and its truth."""

    subject: object
    site: object
    rid: str
    pairs: list[tuple[int, int]]            # (source track, target track) in domain order
    relocated: bool
    pit: dict[int, np.ndarray]              # source track -> image at the instant
    model: np.ndarray                       # what the source must read as now
    target_written: dict[int, np.ndarray] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    read_once: set[int] = field(default_factory=set)

    @property
    def src(self):
        return self.site.volume(VOLUMES[0], writable=True)

    @property
    def tgt(self):
        return self.site.volume(VOLUMES[1], writable=True)

    def fail(self, text: str) -> None:
        self.problems.append(text)


def domain(subject, vol, level: str):
    """(source runs, target runs, [(source track, target track)], relocated)."""
    if level == "volume":
        # track 0 (VOL1) is left out: a service may keep the target's own label, as
        # SnapShot does and DFSMSdss COPY FULL without COPYVOLID does
        return None, None, [(t, t) for t in range(1, vol.ntracks)], False
    lay = layout(vol)
    sr, dr = lay.source_runs(), lay.target_runs()
    s = [t for a, b in sr for t in range(a, b)]
    d = [t for a, b in dr for t in range(a, b)]
    return sr, dr, list(zip(s, d)), True


def establish(subject, path: Path, level: str, background: bool | None) -> Run:
    site = new_site(path, subject)
    src = site.volume(VOLUMES[0], writable=True)
    site.volume(VOLUMES[1], writable=True)
    sr, dr, pairs, relocated = domain(subject, src, level)
    model = view(src)
    pit = {s: model[s].copy() for s, _ in pairs}
    target = VOLUMES[1] if subject.traits.reader == "target" else None
    rid = subject.establish(site, VOLUMES[0], target, sr, dr, background)
    return Run(subject, site, rid, pairs, relocated, pit, model)


def expected_on_target(run: Run, s: int, d: int) -> np.ndarray:
    """The truth of source track ``s`` as it reads at target address ``d``."""
    img = run.pit[s].copy()
    if run.relocated and trackfmt.is_formatted(img):
        trackfmt.relocate_track(img, *run.tgt.cchh(d))
    return img


# ---------------------------------------------------------------------- host operations


def source_writes(run: Run) -> None:
    """Writes and updates of the source (model updated alongside)."""
    src = run.src
    lay = layout(src)
    dom = [s for s, _ in run.pairs]
    written = [s for s in dom if s in lay.written]
    fresh = [s for s in dom if s in lay.never_written]
    a, b = written[2], written[4]
    img = stream_track(src, a, 2)
    src.write_track(a, img)
    run.model[a] = np.frombuffer(bytes(img), np.uint8)
    img = stream_track(src, a, 3)  # a later write of a track copied already
    src.write_track(a, img)
    run.model[a] = np.frombuffer(bytes(img), np.uint8)
    lo, _hi = record_span(run.model[b], 2)
    src.write_bytes(b, lo + 100, b"\xa5" * 64)
    run.model[b, lo + 100:lo + 164] = 0xA5
    # a batch that straddles the end of cylinder 1 and the start of cylinder 2
    c = lay.written[0] + lay.heads - 1
    if c in dom and c + 1 in dom:
        end_c = record_span(run.model[c], 3)[1]
        start_n = record_span(run.model[c + 1], 1)[0]
        offs = np.array([end_c - 16, start_n], np.int64)
        data = np.full((2, 16), 0x3C, np.uint8)
        src.write_many(np.array([c, c + 1], np.int64), offs, data)
        run.model[c, end_c - 16:end_c] = 0x3C
        run.model[c + 1, start_n:start_n + 16] = 0x3C
    if fresh:
        f = fresh[0]
        img = stream_track(src, f, 4)
        src.write_track(f, img)
        run.model[f] = np.frombuffer(bytes(img), np.uint8)
    outside = [t for t in lay.written if t not in set(dom)]
    if outside:
        img = stream_track(src, outside[0], 5)
        src.write_track(outside[0], img)
        run.model[outside[0]] = np.frombuffer(bytes(img), np.uint8)


def source_discards(run: Run) -> None:
    """Discards of the source: a written track, a never-written one, and one discarded
    and then written again."""
    src = run.src
    lay = layout(src)
    dom = [s for s, _ in run.pairs]
    written = [s for s in dom if s in lay.written]
    fresh = [s for s in dom if s in lay.never_written]
    zero = np.zeros(src.slot, np.uint8)
    for t in (written[6], written[7]):
        src.discard_track(t)
        run.model[t] = zero
    img = stream_track(src, written[7], 6)
    src.write_track(written[7], img)
    run.model[written[7]] = np.frombuffer(bytes(img), np.uint8)
    if fresh:
        src.discard_track(fresh[-1])
        run.model[fresh[-1]] = zero


def target_writes(run: Run, discards: bool) -> None:
    """Host I/O to the target: its own writes replace the point-in-time image there."""
    if run.subject.traits.reader != "target":
        return
    tgt = run.tgt
    lay = layout(tgt)
    pairs = [(s, d) for s, d in run.pairs if s in lay.written]
    s1, d1 = pairs[9]
    img = stream_track(tgt, d1, 7)
    tgt.write_track(d1, img)
    run.target_written[d1] = np.frombuffer(bytes(img), np.uint8)
    s2, d2 = pairs[10]
    exp = expected_on_target(run, s2, d2)
    lo, _ = record_span(exp, 1)
    tgt.write_bytes(d2, lo + 8, b"\x5a" * 32)
    exp[lo + 8:lo + 40] = 0x5A
    run.target_written[d2] = exp
    if discards:
        _s3, d3 = pairs[11]
        tgt.discard_track(d3)
        run.target_written[d3] = np.zeros(tgt.slot, np.uint8)


# ---------------------------------------------------------------------- views


def check_live(run: Run, when: str) -> None:
    got = view(run.src)
    bad = [t for t in range(len(got)) if not np.array_equal(got[t], run.model[t])]
    if bad:
        run.fail(f"live view {when}: source tracks {bad[:6]} do not read as the host wrote them")


def check_frozen(run: Run, when: str, via: str = "service") -> None:
    """Every domain track reads as the truth (or as the target's own later write).

    ``via`` "service": the service's ``read_point_in_time`` (a session's reads, once per
    track); "host": host reads of the target volume (which may copy on access);
    "own": the target's own tracks, without any redirection."""
    subject, site = run.subject, run.site
    session = subject.traits.reader == "session"
    bad: list[int] = []
    for s, d in run.pairs:
        if session:
            if s in run.read_once:
                continue
            run.read_once.add(s)
        written = run.target_written.get(d)
        if via == "service":
            got = subject.read_pit(site, run.rid, s)
            ok = same(got, written, True) if written is not None else same(got, run.pit[s], False)
        else:
            got = subject.read_target(site, run.rid, d) if via == "host" else np.array(run.tgt.own_track(d))
            want = written if written is not None else expected_on_target(run, s, d)
            ok = same(got, want, run.relocated)
        if not ok:
            bad.append(s)
    if bad:
        where = {"service": "the point-in-time view", "host": "host reads of the target",
                 "own": "the target's own tracks"}[via]
        run.fail(f"frozen view {when}: {where} of source tracks {bad[:6]} differ from the copy "
                 "taken at the instant")


def check_target_view(run: Run, when: str) -> None:
    """After teardown: the target volume (no relationship left) reads as the truth."""
    tgt = run.tgt
    bad = []
    for s, d in run.pairs:
        want = run.target_written.get(d)
        if want is None:
            want = expected_on_target(run, s, d)
        if not same(tgt.read_track(d), want, run.relocated):
            bad.append(d)
    if bad:
        run.fail(f"{when}: target tracks {bad[:6]} do not hold the point-in-time image")


def teardown(run: Run, background: bool | None) -> None:
    subject, site = run.subject, run.site
    traits = subject.traits
    if background and traits.background_copy:
        subject.drain(site, run.rid)
        if not subject.complete(site, run.rid):
            run.fail(f"drain: relationship {run.rid} is not complete after drain "
                     f"(state {subject.state(site, run.rid)})")
        check_frozen(run, "after drain")
        if traits.reader == "target":
            check_frozen(run, "after drain", via="own")
    complete = traits.reader == "target" and subject.complete(site, run.rid)
    subject.withdraw(site, run.rid)
    st = subject.state(site, run.rid)
    if st is not None and subject.tables is not None and st not in subject.tables.gone:
        run.fail(f"teardown: {run.rid} is in state {st} after {subject.withdraw_verb}")
    check_live(run, "after teardown")
    if complete:
        check_target_view(run, "after teardown")
        # the relationship is gone: a source write must not reach the target
        src = run.src
        s, d = run.pairs[len(run.pairs) // 2]
        src.write_track(s, stream_track(src, s, 9))
        run.model[s] = np.frombuffer(bytes(stream_track(src, s, 9)), np.uint8)
        check_target_view(run, "a source write after teardown")


def pit_scenario(subject, path: Path, level: str, background: bool | None,
                 discards: bool = False) -> list[str]:
    """Run the scenario; returns the problems found (empty: it passed)."""
    run = establish(subject, path, level, background)
    try:
        if subject.traits.reader == "target":
            check_frozen(run, "right after establish")
        source_writes(run)
        if discards:
            source_discards(run)
        target_writes(run, discards)
        check_live(run, "after host writes")
        check_frozen(run, "after host writes")
        if subject.traits.reader == "target":
            check_frozen(run, "after host writes", via="host")
        teardown(run, background)
    finally:
        from dasdlab.testing.processes import close_site

        close_site(run.site)
    return run.problems


def mechanisms(subject) -> list[tuple[str, bool | None]]:
    """(level, background) pairs the service offers."""
    t = subject.traits
    modes: list[bool | None] = []
    if t.background_copy:
        modes.append(True)
    if t.nocopy:
        modes.append(False)
    if not modes:
        modes.append(None)
    return [(lv, m) for lv in sorted(t.levels) for m in modes]


def mechanism_name(level: str, background: bool | None) -> str:
    mode = {True: "copy", False: "nocopy", None: "instant"}[background]
    return f"{level},{mode}"
