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

``dump-cc`` is not in the comparison's methods: its sidefiles' size follows the updates
during the copy, not the database.  The last test checks them directly: before-images saved
in the cache and host sidefiles are kept on disk, not in the process's memory.
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


def test_concurrent_copy_sidefiles_are_not_held_in_memory(tmp_path):
    """The cache and host sidefiles of a Concurrent Copy session hold before-images on
    disk, not in the process: saving hundreds of track images (cache, then drained to the
    host sidefile) adds far less traced memory than the images' bytes, and the dump still
    reads every saved track as it was when the session started."""
    import numpy as np

    from dasdlab.emulator.site import Site
    from tests.copy.conftest import pattern_track

    site = Site.init(tmp_path / "site")
    site.config["subsystems"]["DS8K1"]["settings"].update(cache_bytes=64 * 2**30)
    site._write_config(site.config)
    site = Site.open(tmp_path / "site")
    try:
        site.add_volume("DS8K1", "SRC001", "3390-1", cylinders=40)  # 600 tracks
        src = site.volume("SRC001", writable=True)
        n = 560
        for t in range(15, 15 + n):
            src.write_track(t, pattern_track(src, t, 1))
        cc = site.subsystem("DS8K1").service("concurrent_copy")
        sess = cc.start("SRC001", [(15, 15 + n)])
        new = [pattern_track(src, t, 2) for t in range(15, 15 + n)]  # made before tracing
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for i, t in enumerate(range(15, 15 + n // 2)):  # saved in the cache sidefile
                src.write_track(t, new[i])
            cc.drain()  # ... moved to the host sidefile
            for i, t in enumerate(range(15 + n // 2, 15 + n), start=n // 2):  # and the cache again
                src.write_track(t, new[i])
            grown = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        saved = n * src.slot
        q = sess.query()
        assert q["cache_sidefile_tracks"] == n - n // 2 and q["host_sidefile_tracks"] == n // 2
        assert grown < saved / 8, (f"saving {n} before-images ({saved / MiB:.1f} MiB) grew traced memory by "
                                   f"{grown / MiB:.1f} MiB: the sidefile is held in memory")
        for t, img in sess.read_tracks():  # the point in time, from the sidefiles
            assert np.array_equal(img, np.frombuffer(bytes(pattern_track(src, t, 1)), np.uint8)), t
    finally:
        site.close()
