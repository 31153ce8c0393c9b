"""The four built-in copy services through the conformance kit, one test per check.

A known fault would be marked ``xfail(strict=True)`` in ``KNOWN`` for exactly the
checks that find it, so that the day it is fixed the mark has to go.  None is known.
"""

from __future__ import annotations

import pytest

from dasdlab.testing import kit
from dasdlab.testing.subject import resolve

BUILT_INS = ("flashcopy", "concurrent_copy", "snapshot", "timefinder")

#: (service, check family) -> why it fails
KNOWN: dict[tuple[str, str], str] = {}


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
