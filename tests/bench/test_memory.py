"""Memory that does not grow with the database: the outage comparison's peak Python
allocations (numpy arrays included: numpy reports them to ``tracemalloc``) at two
emulated sizes differ by far less than the difference of the sizes, so no stage -- load,
workload, image copy, copy verification, media failure, recovery and its verification --
holds a whole-database array.  Volumes are memory-mapped files, which ``tracemalloc``
does not count: that is the point (they are the DASD, not a copy of it).

The sizes are above every bounded piece's size (output pieces of 8 MiB, ranges of 2,048
blocks, recovery pieces of 1,024 blocks), so the growth between them is what depends on
the size.  A whole-database array at the larger size alone would add
``BIG - SMALL`` bytes; the bound is a third of that.

Not covered here: ``dump-cc``, whose cache sidefile holds before-images of the updated
tracks in memory by design (the controller cache it models; its size follows the updates
during the copy, and the half-cache rule bounds it).
"""

from __future__ import annotations

import tracemalloc

import pytest

from dasdlab.bench.scenario import ScenarioSpec, run_scenario

MiB = 2**20
SMALL, BIG = 12 * MiB, 36 * MiB
#: one method per way of reading and writing a copy: the standard format (write, reload),
#: a Concurrent Copy session's reads, a shadow's reads, a Fast Recovery clone
METHODS = "standard,dump-vcc,fdump,copy-flashcopy"


def _peak(tmp_path, size: int, name: str) -> tuple[int, list]:
    spec = ScenarioSpec(db_size=size, methods=METHODS, warmup=5.0, cooldown=2.0, seed=2)
    tracemalloc.start()
    try:
        res = run_scenario(spec, tmp_path / name, write=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, res.methods


@pytest.mark.slow
def test_peak_allocations_do_not_grow_with_the_database(tmp_path):
    # the first run pays one-time costs (imports, compiled kernels loaded from the cache)
    run_scenario(ScenarioSpec(db_size="1MiB", methods="standard", warmup=2.0, cooldown=1.0), tmp_path / "warm",
                 write=False)
    small, ms = _peak(tmp_path, SMALL, "small")
    big, mb = _peak(tmp_path, BIG, "big")
    for m in ms + mb:  # the runs did the work: every copy and recovery checked and right
        assert (m.status, m.copy_verified, m.recovery_verified) == ("ok", True, True), m.name
    growth = big - small
    assert growth < (BIG - SMALL) / 3, (f"peak traced memory grew by {growth / MiB:.1f} MiB from {SMALL // MiB} to "
                                        f"{BIG // MiB} MiB of database (small {small / MiB:.1f} MiB, big "
                                        f"{big / MiB:.1f} MiB): something holds a whole-database array")
