"""FlashCopy limits, bad input and the life-cycle tables.

Every refusal has its message id and leaves every file of the site as it was.  The
life cycle is tested as the full product of states x verbs.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from dasdlab.emulator.services.flashcopy import TRANSITIONS, VERBS, RelState
from dasdlab.emulator.services.lifecycle import check_tables
from dasdlab.errors import CopyServiceError, DasdlabError
from tests.copy.conftest import make_site, pattern_track


def _file_hash(p, skip: int = 0) -> str:
    """sha1 of a (possibly huge, sparse) file's data extents, with their offsets, from
    byte ``skip`` on."""
    h = hashlib.sha1(str(p.stat().st_size).encode())
    fd = os.open(p, os.O_RDONLY)
    try:
        pos, size = skip, p.stat().st_size
        while pos < size:
            try:
                a = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            b = os.lseek(fd, a, os.SEEK_HOLE)
            h.update(str(a).encode())
            os.lseek(fd, a, os.SEEK_SET)
            left = b - a
            while left:
                chunk = os.read(fd, min(left, 1 << 22))
                h.update(chunk)
                left -= len(chunk)
            pos = b
    finally:
        os.close(fd)
    return h.hexdigest()


def _digest(path, counters: bool = True) -> dict[str, str]:
    """Hash of every file; without ``counters``, a FlashCopy maps file is hashed after
    its eight counter words."""
    return {str(p.relative_to(path)): _file_hash(p, 0 if counters or not p.name.endswith(".maps.bm") else 64)
            for p in sorted(path.rglob("*")) if p.is_file() and p.suffix != ".lock"}


@pytest.fixture
def big(tmp_path):
    """A site with 14 target volumes and one smaller volume."""
    vols = ["SRC001"] + [f"TGT{i:03d}" for i in range(1, 15)]
    site = make_site(tmp_path / "site", vols, cylinders=2)
    site.add_volume("DS8K1", "SMALL1", "3390-1", cylinders=1)
    site.add_volume("VMAX1", "SYM001", "3390-1", cylinders=2)
    src = site.volume("SRC001", writable=True)
    for t in range(15, 25):
        src.write_track(t, pattern_track(src, t, 1))
    yield site
    site.close()


def _refused(site, msgid, fn, *a, counters: bool = True, **kw):
    before = _digest(site.path, counters)
    with pytest.raises(DasdlabError) as e:
        fn(*a, **kw)
    assert e.value.msgid == msgid, str(e.value)
    assert str(e.value).startswith(msgid + " ") and len(e.value.text) > 20
    assert _digest(site.path, counters) == before
    return e.value


def test_bad_input_is_refused_and_changes_nothing(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    fc.establish("SRC001", "TGT014", mode="NOCOPY")   # some state exists already
    _refused(big, "DLB341E", fc.establish, "SRC001", "TGT001", mode="SOMETIMES")
    _refused(big, "DLB341E", fc.establish, "SRC001", "TGT001", incremental="MAYBE")
    _refused(big, "DLB322E", fc.establish, "SRC001", "SYM001")
    _refused(big, "DLB304E", fc.establish, "SRC001", "NOSUCH")
    _refused(big, "DLB323E", fc.establish, "SRC001", "SRC001")
    _refused(big, "DLB323E", fc.establish, "SRC001", "SRC001", [(15, 20)], [(18, 23)])
    _refused(big, "DLB324E", fc.establish, "SRC001", "SMALL1")
    _refused(big, "DLB324E", fc.establish, "SRC001", "TGT001", [(15, 25)], [(15, 20)])
    _refused(big, "DLB325E", fc.establish, "SRC001", "TGT001", [(20, 15)], [(15, 20)])
    _refused(big, "DLB325E", fc.establish, "SRC001", "TGT001", [(25, 40)], [(0, 15)])
    _refused(big, "DLB325E", fc.establish, "SRC001", "TGT001", [(15, 20), (18, 22)], [(0, 9)])
    _refused(big, "DLB325E", fc.establish, "SRC001", "TGT001", [], [])
    _refused(big, "DLB325E", fc.establish, "SRC001", "TGT001", [("a",)], [(0, 1)])
    _refused(big, "DLB333E", fc.withdraw, "FC9999")
    _refused(big, "DLB333E", fc.refresh, "FC9999")
    _refused(big, "DLB311E", big.subsystem("VMAX1").service, "flashcopy")


def test_twelve_targets_per_source(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    rels = [fc.establish("SRC001", f"TGT{i:03d}", mode="NOCOPY") for i in range(1, 13)]
    e = _refused(big, "DLB326E", fc.establish, "SRC001", "TGT013", mode="NOCOPY")
    assert "12" in e.text
    # the twelve are volume level, so every source track has twelve targets already
    _refused(big, "DLB326E", fc.establish, "SRC001", "TGT013", [(20, 21)], [(20, 21)])
    fc.withdraw(rels[0].id)
    fc.establish("SRC001", "TGT013", mode="NOCOPY")


def test_one_incremental_per_source(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    fc.establish("SRC001", "TGT001", incremental=True)
    _refused(big, "DLB327E", fc.establish, "SRC001", "TGT002", incremental="YTW")
    fc.establish("SRC001", "TGT002")  # a non-incremental one is fine


def test_one_source_per_target_and_no_overlapping_target_extents(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    fc.establish("SRC001", "TGT001", [(15, 20)], [(15, 20)], mode="NOCOPY")
    _refused(big, "DLB328E", fc.establish, "SRC001", "TGT001", [(20, 25)], [(19, 24)])
    _refused(big, "DLB328E", fc.establish, "TGT002", "TGT001", mode="NOCOPY")
    fc.establish("SRC001", "TGT001", [(20, 25)], [(20, 25)], mode="NOCOPY")  # beside it: fine


def test_no_cascading(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    fc.establish("SRC001", "TGT001", mode="NOCOPY")
    _refused(big, "DLB329E", fc.establish, "TGT001", "TGT002", mode="NOCOPY")
    _refused(big, "DLB329E", fc.establish, "TGT003", "SRC001", mode="NOCOPY")


def test_write_inhibited_target_is_unchanged(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    tgt = big.volume("TGT001", writable=True)
    fc.establish("SRC001", "TGT001", incremental=True)
    _refused(big, "DLB334E", tgt.write_track, 20, pattern_track(tgt, 20, 9))
    # write_bytes first asks whether the track is formatted, a redirected lookup that
    # the counters record; nothing else may change
    _refused(big, "DLB334E", tgt.write_bytes, 20, 50, b"xx", counters=False)


def test_refresh_and_reverse_need_incremental(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    _refused(big, "DLB335E", fc.refresh, rel.id)
    _refused(big, "DLB320E", fc.reverse, rel.id)  # never COPIED without change recording


def test_reverse_refused_when_the_source_has_other_targets(big):
    fc = big.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", incremental=True)
    fc.establish("SRC001", "TGT002", mode="NOCOPY")
    fc.drain(rel.id)
    _refused(big, "DLB329E", fc.reverse, rel.id)


# ---------------------------------------------------------------------- life cycle
def test_tables_are_complete():
    check_tables(RelState, TRANSITIONS, VERBS)
    assert TRANSITIONS[RelState.WITHDRAWN] == frozenset()
    for verb, states in VERBS.items():
        assert RelState.WITHDRAWN not in states, verb


def _in_state(site, state: RelState):
    """A relationship of SRC001 -> TGT001 brought into ``state`` by real verbs."""
    fc = site.subsystem("DS8K1").service("flashcopy")
    src = site.volume("SRC001", writable=True)
    if state is RelState.NOCOPY:
        return fc.establish("SRC001", "TGT001", mode="NOCOPY", incremental=True)
    if state is RelState.COPYING:
        return fc.establish("SRC001", "TGT001", mode="COPY", incremental=True)
    if state is RelState.COPIED:
        rel = fc.establish("SRC001", "TGT001", incremental=True)
        fc.drain(rel.id)
        return rel
    if state is RelState.WITHDRAWING:
        rel = fc.establish("SRC001", "TGT001", mode="NOCOPY", incremental=True)
        return fc.withdraw(rel.id, ddsw=True)
    if state is RelState.FAILED:
        site.subsystem("DS8K1").settings["fc_repository_tracks"] = 0
        rel = fc.establish("SRC001", "TGT001", mode="NOCOPY", space_efficient=True)
        src.write_track(20, pattern_track(src, 20, 2))
        return rel
    if state is RelState.COMPLETED:
        rel = fc.establish("SRC001", "TGT001")
        fc.drain(rel.id)
        return rel
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    return fc.withdraw(rel.id)


_CALLS = {
    "withdraw": lambda fc, rel: fc.withdraw(rel.id),
    "ddsw": lambda fc, rel: fc.withdraw(rel.id, ddsw=True),
    "drain": lambda fc, rel: fc.drain(rel.id),
    "refresh": lambda fc, rel: fc.refresh(rel.id),
    "reverse": lambda fc, rel: fc.reverse(rel.id),
}


@pytest.mark.parametrize("state", list(RelState), ids=lambda s: s.name)
def test_every_state_by_every_verb(tmp_path, state):
    assert set(_CALLS) == set(VERBS)
    for verb, call in _CALLS.items():
        site = make_site(tmp_path / f"{state.name}-{verb}", ("SRC001", "TGT001"), cylinders=2)
        src = site.volume("SRC001", writable=True)
        for t in range(15, 25):
            src.write_track(t, pattern_track(src, t, 1))
        fc = site.subsystem("DS8K1").service("flashcopy")
        rel = _in_state(site, state)
        assert rel.state is state
        if state is RelState.WITHDRAWN:
            with pytest.raises(CopyServiceError) as e:
                call(fc, rel)
            assert e.value.msgid == "DLB333E"          # it is gone
            with pytest.raises(CopyServiceError) as e:
                rel.require(verb)
            assert e.value.msgid == "DLB320E"
        elif state in VERBS[verb]:
            call(fc, rel)
            assert rel.state in TRANSITIONS[state] | {state}
        else:
            with pytest.raises(CopyServiceError) as e:
                call(fc, rel)
            # reverse before the copy ends has its own, more helpful message
            assert e.value.msgid in ("DLB320E", "DLB336E"), str(e.value)
            assert rel.state is state
        site.close()


def test_illegal_transition_is_refused(fcsite, fc):
    rel = fc.establish("SRC001", "TGT001", mode="NOCOPY")
    with pytest.raises(CopyServiceError) as e:
        rel.to(RelState.COPYING)  # a NOCOPY relationship starts copying only via DDSW
    assert e.value.msgid == "DLB321E"


@pytest.mark.parametrize("incremental", [True, "YTW"])
def test_incremental_flashcopy_is_full_volume_only(big, incremental):
    """ANTRQST rejects INCREMENTAL(YES|YTW) with extents: an incremental relationship is
    always full-volume; the refusal changes nothing."""
    fc = big.subsystem("DS8K1").service("flashcopy")
    e = _refused(big, "DLB432E", fc.establish, "SRC001", "TGT001", src_runs=[(15, 25)], dst_runs=[(5, 15)],
                 incremental=incremental)
    assert "full-volume" in e.text
    _refused(big, "DLB432E", fc.establish, "SRC001", "TGT001", src_runs=[(15, 25)], incremental=incremental)
    assert fc.relationships() == []
    rel = fc.establish("SRC001", "TGT001", incremental=incremental)  # the whole volume is fine
    assert rel.incremental in ("YES", "YTW")


def test_cascading_flashcopy_is_an_option_no_cascading_by_default(big):
    """No cascading by default (the DS6000 rule); with the DS8880 R8.3 option
    ``fc_cascading`` a target can be the source of another relationship and each copy
    keeps its own point in time, upstream and downstream."""
    import numpy as np

    sub = big.subsystem("DS8K1")
    fc = sub.service("flashcopy")

    def image(v):
        vol = big.volume(v)
        return np.stack([np.array(vol.read_track(t)) for t in range(15, 30)])

    fc.establish("SRC001", "TGT001", mode="NOCOPY")
    _refused(big, "DLB329E", fc.establish, "TGT001", "TGT002", mode="NOCOPY")
    _refused(big, "DLB329E", fc.establish, "TGT003", "SRC001", mode="NOCOPY")
    sub.settings["fc_cascading"] = True
    try:
        a0 = image("SRC001")
        src = big.volume("SRC001", writable=True)
        src.write_track(16, pattern_track(src, 16, 7))  # after A -> B: B keeps a0
        assert np.array_equal(image("TGT001"), a0)
        bc = fc.establish("TGT001", "TGT002", mode="NOCOPY")  # B -> C, B a target itself
        assert np.array_equal(image("TGT002"), a0)
        src.write_track(18, pattern_track(src, 18, 8))
        b = big.volume("TGT001", writable=True)
        b.write_track(17, pattern_track(b, 17, 9))
        want_b = a0.copy()
        want_b[17 - 15] = np.array(big.volume("TGT001").read_track(17))
        assert np.array_equal(image("TGT001"), want_b)  # A's new writes do not reach B
        assert np.array_equal(image("TGT002"), a0)  # neither B's nor A's writes reach C
        # downstream: a new relationship onto C's source B? B has a source already
        # (one source per target track); onto a fresh D that is already a source of D -> E
        d = big.volume("TGT003", writable=True)
        for t in range(15, 30):
            d.write_track(t, pattern_track(d, t, 11))
        d0 = image("TGT003")
        fc.establish("TGT003", "TGT004", mode="NOCOPY")
        fc.establish("SRC001", "TGT003", mode="NOCOPY")  # D becomes a target: E keeps d0
        assert np.array_equal(image("TGT004"), d0)
        assert np.array_equal(image("TGT003"), image("SRC001"))
        fc.withdraw(bc.id)
    finally:
        sub.settings["fc_cascading"] = False
