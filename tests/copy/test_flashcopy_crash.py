"""kill -9 of a process that writes to a FlashCopy source while the background copy
runs, at random instants (copy-on-write, background chunks, settling, record writes):
the conformance kit's harness (:func:`dasdlab.testing.processes.kill_nine`) over the
three FlashCopy mechanisms that matter here -- volume level with COPY and with NOCOPY,
data-set level (relocated count fields) with COPY -- ten kills each.

After every kill a fresh process must see the target exactly as the source was at
establish (through ``read_point_in_time`` and through host reads of the target), or
the relationship FAILED with a message; the source tracks must be whole.  At the end
of a COPY cycle the copy is drained and the target's own tracks must hold the
point-in-time image.  The writer is a real other process that rewrites whole tracks,
updates records in batches, formats never-written tracks and writes outside the domain.
"""

from __future__ import annotations

import pytest

from dasdlab.testing.processes import kill_nine
from dasdlab.testing.subject import resolve

pytestmark = pytest.mark.crash


def test_kill_during_copy_on_write_and_background_copy(tmp_path):
    problems = kill_nine(resolve("flashcopy"), tmp_path / "site", kills=10,
                         mechanisms=[("volume", True), ("volume", False), ("dataset", True)], seed=1234)
    assert not problems, problems
