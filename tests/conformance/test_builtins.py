"""The four built-in copy services through the conformance kit, one test per check.

Known faults of the write path are marked ``xfail(strict=True)`` for exactly the checks
that find them, so that the day they are fixed the mark has to go:

* a host discard does not pass the write path (``Volume.discard_track`` skips the
  copy-before-write intercept), so a discarded source track is lost from the point in
  time of FlashCopy, TimeFinder/Clone and Concurrent Copy -- and a discarded FlashCopy or
  TimeFinder target track still reads as the source;
* a process that opened the site before a relationship was made does not see it: its
  writes are not intercepted, a second establish onto the same target from it is
  accepted, and a withdraw is undone when a process that had loaded the relationship
  exits;
* two processes writing volumes of one RVA-like subsystem at once corrupt the track
  pool (SnapShot's subsystem).
"""

from __future__ import annotations

import pytest

from dasdlab.testing import kit
from dasdlab.testing.subject import resolve

BUILT_INS = ("flashcopy", "concurrent_copy", "snapshot", "timefinder")

DISCARD = ("host discards skip the write path (Volume.discard_track): the point-in-time image of a "
           "discarded track is lost")
CROSS_PROCESS = ("a process opened before the establish does not see the relationship: its writes are not "
                 "intercepted and a withdraw is undone when it exits")
POOL = ("two processes writing volumes of one RVA-like subsystem take track-pool slots from their own "
        "in-memory view of the pool and corrupt each other's counts")
KNOWN = {
    ("snapshot", "concurrent-writers"): POOL,
    ("flashcopy", "pit-discard"): DISCARD,
    ("timefinder", "pit-discard"): DISCARD,
    ("concurrent_copy", "pit-discard"): DISCARD,
    ("flashcopy", "concurrent-processes"): CROSS_PROCESS,
    ("timefinder", "concurrent-processes"): CROSS_PROCESS,
    ("concurrent_copy", "concurrent-processes"): CROSS_PROCESS,
}


def _cases():
    for name in BUILT_INS:
        for check in kit.checks(resolve(name)):
            family = check.name.split("[")[0]
            marks = [pytest.mark.crash] if family == "kill-9" else []
            if (name, family) in KNOWN:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[(name, family)]))
            yield pytest.param(name, check.name, marks=marks, id=f"{name}-{check.name}")


@pytest.mark.parametrize(("service", "check"), list(_cases()))
def test_builtin_passes_the_kit(service, check, tmp_path):
    result = kit.run_check(service, check, tmp_path)
    assert result.passed, result.detail


def test_every_builtin_gets_every_kind_of_check():
    for name in BUILT_INS:
        families = {c.name.split("[")[0] for c in kit.checks(resolve(name))}
        assert families == {"pit", "pit-discard", "lifecycle", "second-process", "concurrent-processes",
                            "concurrent-writers", "kill-9", "model"}, name
    # the mechanisms come from the capabilities: FlashCopy has both levels and both modes
    names = {c.name for c in kit.checks(resolve("flashcopy"))}
    assert {"pit[volume,copy]", "pit[volume,nocopy]", "pit[dataset,copy]", "pit[dataset,nocopy]"} <= names
