"""Packed track bitmaps against a plain set model."""

import numpy as np
from hypothesis import given, strategies as st

from dasdlab.emulator.bitmap import Bitmap


@given(n=st.integers(1, 700), ops=st.lists(st.tuples(st.sampled_from(["set", "clear", "srange", "crange"]),
                                                        st.integers(0, 699), st.integers(0, 699)), max_size=40))
def test_bitmap_matches_set_model(n, ops):
    b = Bitmap(n)
    model = set()
    for op, a, c in ops:
        a, c = a % n, c % n
        lo, hi = min(a, c), max(a, c) + 1
        if op == "set":
            b.set(a); model.add(a)
        elif op == "clear":
            b.clear(a); model.discard(a)
        elif op == "srange":
            b.set_range(lo, hi); model |= set(range(lo, hi))
        else:
            b.clear_range(lo, hi); model -= set(range(lo, hi))
    assert b.count() == len(model)
    assert b.indices().tolist() == sorted(model)
    assert all(b.test(t) == (t in model) for t in range(n))
    lo, hi = n // 3, 2 * n // 3
    assert b.indices(lo, hi).tolist() == sorted(t for t in model if lo <= t < hi)


def test_many_operations_and_algebra():
    a = Bitmap(200)
    a.set_many(np.array([1, 5, 64, 199]))
    assert a.test_many(np.array([1, 2, 64, 199])).tolist() == [True, False, True, True]
    a.clear_many(np.array([5]))
    b = Bitmap.full(200)
    assert (b - a).count() == 197
    assert (a & b) == a
    assert Bitmap.full(130).count() == 130
