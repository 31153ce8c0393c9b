"""The lesson on units of work (fixtures/lessons/uncommitted.lab): after every step the
image copy's map marks ``U`` exactly where DASD, or the copy, holds an image written by
a change whose unit of work is not committed -- checked against the lab's log and its
units' states -- and the lesson's facts hold: a steal and a buffer write put
uncommitted data on DASD and into a fuzzy copy, a unit in flight moves the copy's purge
point back, a backout leaves DASD uncommitted until the buffers are written, and
recovery from the purge point is exact while recovery without the log is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dasdlab.teach.lab import Lab
from dasdlab.teach.trackmap import TrackState as T

LESSON = Path(__file__).resolve().parents[2] / "fixtures" / "lessons" / "uncommitted.lab"


def _lines():
    return [ln.strip() for ln in LESSON.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _expected_u(lab: Lab, volser: str, image_of) -> set[int]:
    """Tracks whose image (``image_of(t)``) some uncommitted change wrote and that is
    not the track's last committed image."""
    states = lab.uow_state
    out = set()
    last_committed: dict[int, bytes] = {}
    for r in lab.log:
        if r.volser != volser:
            continue
        if r.kind in ("write", "update", "backout") or (r.kind == "change" and (
                r.uow == 0 or states[r.uow] == "committed")):
            last_committed[r.track] = r.image
    for r in lab.log:
        if r.volser == volser and r.kind == "change" and r.uow and states[r.uow] != "committed":
            img = image_of(r.track)
            if img is not None and img == r.image and img != last_committed.get(r.track):
                out.add(r.track)
    return out


def _check(lab: Lab) -> int:
    checked = 0
    for ic in lab.copies.values():
        m = lab._copy_map(ic)
        vol = lab.site.volume(ic.volser)
        src_u = set(np.flatnonzero(m.source.states == T.IN_FLIGHT).tolist())
        cp_u = set(np.flatnonzero(m.target.states == T.IN_FLIGHT).tolist())
        assert src_u == _expected_u(lab, ic.volser, lambda t: bytes(vol.own_track(t)))
        assert cp_u == _expected_u(lab, ic.volser, lambda t: ic.images.get(t))
        checked += 1
    return checked


def test_lesson_uncommitted():
    lab = Lab()
    steps = []
    checked = 0
    try:
        for line in _lines():
            st = lab.step(line)
            assert st.error is None, f"{line}: {st.error}"
            checked += _check(lab)
            steps.append(st)
        assert checked >= 12
        by = {st.command: st for st in steps}

        def u(st, side):
            (m,) = [m for m in st.maps if m.capability in ("image_copy", "recovery")]
            return set(np.flatnonzero(getattr(m, side).states == T.IN_FLIGHT).tolist())

        assert "stole" in by["flush BANK.DB 2"].what and "uncommitted" in by["flush BANK.DB 2"].what
        ic = by["imagecopy BANK.DB fuzzy"]
        assert u(ic, "source") == {17}  # the stolen buffer: on DASD, uncommitted
        assert ic.maps[0].source.states[20] == T.UNCOMMITTED  # the other change is still in a buffer
        assert ic.maps[0].counters["purge_log_record"] == 10  # before the unit's first change, not checkpoint 2
        assert "moved back" in ic.what
        flushes = [st for st in steps if st.command == "flush"]
        assert u(flushes[0], "source") == {17, 20}
        assert u(by["icread all"], "target") == {17, 20}  # the copy holds both uncommitted changes
        bo = by["uow backout"]
        assert u(bo, "source") == {17, 20} and bo.changed["buffered_changes"] == (0, 2)
        assert u(flushes[1], "source") == set() and u(flushes[1], "target") == {17, 20}
        for st in steps[steps.index(by["uow begin"]) + 1:]:  # unit 2 commits: track 23 is never drawn U
            for m in st.maps:
                assert m.source.states[23] != T.IN_FLIGHT and m.target.states[23] != T.IN_FLIGHT
        none = by["recover BANK.DB log none"]
        assert "DLB865W" in none.what and "[2, 5]" in none.what and "[8]" in none.what
        purge = by["recover BANK.DB log purge"]
        assert "recovered correctly" in purge.what and not purge.maps[0].failed
        vol = lab.site.volume("IMS001")
        assert Lab._text_of(vol.read_track(17)) == "track 17 filled at 0.000s"  # backed out
        assert Lab._text_of(vol.read_track(20)) == "track 20 filled at 0.000s"
        assert Lab._text_of(vol.read_track(23)) == "balance 800"  # committed
    finally:
        lab.close()


def test_uow_commands_refuse_what_cannot_be():
    lab = Lab()
    try:
        for line in ("volume IMS001 DS8K1", "dataset BANK.DB IMS001 4", "fill BANK.DB"):
            assert lab.step(line).error is None
        assert "DLB856E" in lab.step("uow commit").error
        assert "DLB856E" in lab.step("uow backout").error
        assert "DLB856E" in lab.step("uow maybe").error
        assert lab.step("uow begin").error is None
        assert "DLB856E" in lab.step("uow begin").error  # one at a time
        assert "DLB856E" in lab.step("flush BANK.DB 1").error  # no changed buffer there
        assert lab.step("change BANK.DB 1 x").error is None
        assert lab.step("imagecopy BANK.DB clean").error is None
        # the clean copy took the data set offline: its buffer was written first, uncommitted
        assert set(np.flatnonzero(lab.maps()[0].target.states == T.IN_FLIGHT)) == {16}
        assert lab.step("flush").error is None
        st = lab.step("recover BANK.DB")  # the unit in flight reaches its sync point first
        assert st.error is None and "reached its sync point" in st.what and lab.uow is None
        assert Lab._text_of(lab.site.volume("IMS001").read_track(16)) == "x"
    finally:
        lab.close()
