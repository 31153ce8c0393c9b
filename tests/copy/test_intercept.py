"""The one copy-before-write intercept (contract.ProtectIntercept), rule by rule, with a
recording protection on a real volume of a site."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator.copier import TrackMap
from dasdlab.emulator.services.contract import Protection, ProtectIntercept
from dasdlab.errors import CopyServiceError

from .conftest import make_site, pattern_track, records


@pytest.fixture
def rig(tmp_path):
    site = make_site(tmp_path / "site")
    sub = site.subsystem("DS8K1")
    vol = site.volume("SRC001", writable=True)
    protected = set(range(5))  # relative tracks still needing an action
    calls: list[tuple[str, list[int], list[int]]] = []
    seen: list[list] = []  # what each action found on the track: the image before the write

    def act_one(v, r, t):
        calls.append(("one", [r], [t]))
        seen.append(records(v.read_track(t)))
        protected.discard(r)

    def act(v, rels, tracks):
        calls.append(("many", rels.tolist(), tracks.tolist()))
        protected.difference_update(rels.tolist())

    tmap = TrackMap.from_runs([(20, 25)], [(40, 45)])
    p = Protection("owner", tmap, "source", needs=lambda r: r in protected, act_one=act_one, act=act,
                   needs_many=lambda rels: np.isin(rels, list(protected)))
    icpt = ProtectIntercept("SRC001")
    icpt.entries.append(p)
    icpt.changed()
    sub.register_intercept("SRC001", icpt)
    yield site, vol, icpt, protected, calls, seen
    site.close()


def test_action_runs_once_before_the_write_then_the_track_is_cleared(rig):
    site, vol, icpt, protected, calls, seen = rig
    vol.write_track(21, pattern_track(vol, 21, 1))
    assert calls == [("one", [1], [21])] and seen == [[]]  # it ran before the write landed
    assert 21 in icpt.cleared
    vol.write_track(21, pattern_track(vol, 21, 2))
    vol.write_track(30, pattern_track(vol, 30, 2))  # outside: cleared on its first write
    assert calls == [("one", [1], [21])] and 30 in icpt.cleared


def test_cleared_tracks_need_a_rearm(rig):
    site, vol, icpt, protected, calls, seen = rig
    vol.write_track(22, pattern_track(vol, 22, 1))
    protected.add(2)  # needs() went True again without telling the intercept: not seen
    vol.write_track(22, pattern_track(vol, 22, 2))
    assert len(calls) == 1
    icpt.changed()  # what CopyService._rearm does
    vol.write_track(22, pattern_track(vol, 22, 3))
    assert calls[-1] == ("one", [2], [22]) and len(calls) == 2
    assert seen[-1] == records(pattern_track(vol, 22, 2))


def test_batch_writes_act_once_on_the_tracks_that_need_it(rig):
    site, vol, icpt, protected, calls, seen = rig
    protected.discard(3)
    tracks = np.array([19, 20, 23, 24, 26], dtype=np.int64)
    for t in tracks.tolist():  # formatted by a storage operation: no host write
        vol.store_track(t, pattern_track(vol, t, 5))
    vol.write_many(tracks, np.full(tracks.size, 200, np.int64), np.ones((tracks.size, 16), np.uint8))
    assert calls == [("many", [0, 4], [20, 24])]
    assert not protected & {0, 4}


def test_a_guard_refuses_before_anything_changes(rig):
    site, vol, icpt, protected, calls, seen = rig
    before = np.array(vol.read_track(21))

    def held():
        raise CopyServiceError("DLB340W", "held")

    icpt.guard = held
    with pytest.raises(CopyServiceError):
        vol.write_track(21, pattern_track(vol, 21, 1))
    assert np.array_equal(vol.read_track(21), before) and calls == [] and 1 in protected
    icpt.guard = None
    vol.write_track(21, pattern_track(vol, 21, 1))
    assert calls == [("one", [1], [21])]


def test_reads_may_be_served_elsewhere(rig):
    site, vol, icpt, protected, calls, seen = rig
    img = np.array(pattern_track(vol, 24, 9))
    tmap = TrackMap.from_runs([(40, 45)], [(20, 25)])
    reader = Protection("o2", tmap, "target", needs=lambda r: False, act_one=None, act=None,
                        reads=lambda r, t: img if r == 4 else None)
    icpt.entries.append(reader)
    icpt.changed()
    site.subsystem("DS8K1").register_intercept("SRC001", icpt)  # now it redirects reads
    assert np.array_equal(vol.read_track(24), img)
    assert records(vol.read_track(23)) == []
