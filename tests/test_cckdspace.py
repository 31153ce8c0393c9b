"""Free-space management of compressed images against a byte-map model."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dasdlab.emulator.cckdspace import FREEBLK_LEN, FreeSpace

FLOOR = 1024


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(5, 3000)), min_size=1, max_size=120))
def test_allocations_never_overlap_and_every_byte_is_accounted(ops):
    space = FreeSpace(FLOOR)
    live: list[tuple[int, int]] = []
    for alloc, n in ops:
        if alloc or not live:
            pos, size = space.allocate(n)
            assert size >= max(n, FREEBLK_LEN)
            live.append((pos, size))
        else:
            pos, size = live.pop(n % len(live))
            space.release(pos, size)
        # the model: one owner per byte between the floor and the end of the file
        owner = np.zeros(space.file_end - FLOOR, dtype=np.int8)
        for p, s in live:
            assert (owner[p - FLOOR : p - FLOOR + s] == 0).all()
            owner[p - FLOOR : p - FLOOR + s] = 1
        prev_end = -1
        for p, s in space.blocks:
            assert s >= FREEBLK_LEN and p > prev_end  # sorted, merged (never touching)
            assert (owner[p - FLOOR : p - FLOOR + s] == 0).all()
            owner[p - FLOOR : p - FLOOR + s] = 2
            prev_end = p + s
        assert (owner != 0).all()  # no lost bytes
        assert not space.blocks or space.blocks[-1][0] + space.blocks[-1][1] < space.file_end
    for p, s in live:
        space.release(p, s)
    assert space.file_end == FLOOR and space.blocks == []


def test_first_fit_then_end_of_file():
    space = FreeSpace(5000, [(1024, 100), (2000, 500)])
    assert space.allocate(300) == (2000, 300)      # the first block that fits
    assert space.blocks == [[1024, 100], [2300, 200]]
    assert space.allocate(96) == (1024, 100)       # 4 bytes left cannot hold a chain entry
    assert space.allocate(2048, exact=True) == (5000, 2048)  # none fits: the end of the file
    assert space.file_end == 7048


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(FREEBLK_LEN, 400), min_size=1, max_size=30), order=st.sampled_from("<>"))
def test_both_chain_formats_read_back_the_same_blocks(lengths, order, tmp_path_factory):
    import os

    # free blocks with a used gap of 16 bytes between them, in a file of stale bytes
    blocks, at = [], FLOOR
    for n in lengths:
        blocks.append((at, n))
        at += n + 16
    path = tmp_path_factory.mktemp("fs") / "img"
    path.write_bytes(np.random.default_rng(len(lengths)).integers(0, 256, at, np.uint8).tobytes())
    fd = os.open(path, os.O_RDWR)
    try:
        space = FreeSpace(at, blocks)
        first = space.write_array(fd, order)
        back = FreeSpace.read_chain(fd, first, at, order, FLOOR, number=len(blocks))
        assert [tuple(b) for b in back.blocks] == blocks
        holds = [p for p, n in blocks if n >= (len(blocks) + 1) * FREEBLK_LEN]
        # the array goes into the first block that holds it; else the old chain is written
        assert (os.pread(fd, 8, first) == b"FREE_BLK") == bool(holds)
        assert first == (holds[0] if holds else blocks[0][0])
        space.write_chain(fd, order)
        back = FreeSpace.read_chain(fd, space.first, at, order, FLOOR, number=len(blocks))
        assert [tuple(b) for b in back.blocks] == blocks
    finally:
        os.close(fd)
