"""Every numba kernel against its numpy twin (hypothesis: random bitmaps, extents and
track images), plus the copier's track maps, run overlap and modeled rate."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dasdlab.emulator import kernels as K
from dasdlab.emulator import kernels_ref as R
from dasdlab.emulator import trackfmt
from dasdlab.emulator.copier import ModeledRate, TrackMap, runs_overlap
from dasdlab.emulator.geometry import encode_cchh_many as cchh_rows
from dasdlab.emulator.geometry import encode_cchh

SLOT = 1024


@st.composite
def bitmaps(draw, max_bits=700):
    nbits = draw(st.integers(1, max_bits))
    density = draw(st.sampled_from([0.0, 0.01, 0.3, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**31))
    bits = np.random.default_rng(seed).random(nbits) < density
    words = np.zeros((nbits + 63) // 64, np.uint64)
    idx = np.flatnonzero(bits)
    np.bitwise_or.at(words, idx >> 6, np.left_shift(np.uint64(1), (idx & 63).astype(np.uint64)))
    return nbits, words


@st.composite
def bitmap_and_index(draw, unique=True):
    nbits, words = draw(bitmaps())
    k = draw(st.integers(0, min(nbits, 80)))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    idx = rng.choice(nbits, k, replace=not unique).astype(np.int64)
    return nbits, words, idx


@given(bitmaps(), st.integers(0, 800), st.integers(0, 800), st.integers(1, 300))
def test_bitmap_scan(bm, start, stop, cap):
    nbits, words = bm
    stop = min(stop, nbits)
    a, b = np.full(cap, -1, np.int64), np.full(cap, -1, np.int64)
    na, nb = K.bitmap_scan(words, start, stop, a), R.bitmap_scan(words, start, stop, b)
    assert na == nb and np.array_equal(a[:na], b[:nb])
    assert np.all(np.diff(a[:na]) > 0)


@given(bitmaps())
def test_popcount(bm):
    _, words = bm
    assert K.popcount(words) == R.popcount(words)


@given(bitmap_and_index(unique=True))
def test_test_and_clear(case):
    _, words, idx = case
    w1, w2 = words.copy(), words.copy()
    t1, t2 = np.empty(idx.size, np.bool_), np.empty(idx.size, np.bool_)
    n1, n2 = K.test_and_clear(w1, idx, t1), R.test_and_clear(w2, idx, t2)
    assert n1 == n2 and np.array_equal(w1, w2) and np.array_equal(t1, t2)


@given(bitmap_and_index(unique=False))
def test_select_clear_set(case):
    _, words, idx = case
    o1, o2 = np.empty(idx.size, np.int64), np.empty(idx.size, np.int64)
    n1, n2 = K.select_set(words, idx, o1), R.select_set(words, idx, o2)
    assert n1 == n2 and np.array_equal(o1[:n1], o2[:n2])
    for fn in ("clear_bits", "set_bits"):
        w1, w2 = words.copy(), words.copy()
        getattr(K, fn)(w1, idx)
        getattr(R, fn)(w2, idx)
        assert np.array_equal(w1, w2), fn


def _tracks(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, SLOT), dtype=np.uint8)


@given(bitmap_and_index(), st.integers(0, 2**31))
def test_cow_batch(case, seed):
    nbits, words, rel = case
    src = _tracks(nbits, seed)
    written = np.random.default_rng(seed + 1).random(rel.size) < 0.8
    rows_d = (rel * 7) % nbits
    if np.unique(rows_d).size != rows_d.size:
        rows_d = rel
    out = []
    for mod in (K, R):
        dst = np.zeros_like(src)
        w = words.copy()
        taken = np.empty(rel.size, np.bool_)
        n = mod.cow_batch(src, dst, w, rel, rel, rows_d, written, taken)
        out.append((n, dst, w, taken))
    (n1, d1, w1, t1), (n2, d2, w2, t2) = out
    assert n1 == n2 and np.array_equal(d1, d2) and np.array_equal(w1, w2) and np.array_equal(t1, t2)
    # what was taken was copied (when written) and its bit is clear afterwards
    for i in np.flatnonzero(t1):
        if written[i]:
            assert np.array_equal(d1[rows_d[i]], src[rel[i]])
        assert not (w1[rel[i] >> 6] >> np.uint64(rel[i] & 63)) & np.uint64(1)


@given(st.integers(1, 60), st.integers(0, 2**31))
def test_copy_rows(n, seed):
    src = _tracks(64, seed)
    rng = np.random.default_rng(seed)
    s_rows = rng.integers(0, 64, n).astype(np.int64)
    d_rows = rng.permutation(64)[:n].astype(np.int64)
    res = []
    for fn in (K.copy_rows, K.copy_rows_parallel, R.copy_rows, R.copy_rows_parallel):
        dst = np.zeros_like(src)
        assert fn(src, dst, s_rows, d_rows) == n
        res.append(dst)
    for r in res[1:]:
        assert np.array_equal(res[0], r)


@st.composite
def formatted_tracks(draw):
    n = draw(st.integers(1, 8))
    imgs = np.zeros((n, SLOT), np.uint8)
    for i in range(n):
        recs = draw(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 120)), max_size=6))
        imgs[i] = np.frombuffer(trackfmt.build_track(
            i, i % 15, [(r + 1, bytes([7] * kl), bytes([r] * dl)) for r, (kl, dl) in enumerate(recs)],
            SLOT), np.uint8)
    return imgs


@given(formatted_tracks(), st.integers(0, 2**20))
def test_copy_rows_relocate(imgs, base):
    n = imgs.shape[0]
    rows = np.arange(n, dtype=np.int64)
    dst_tracks = base + rows * 3
    cchh = cchh_rows(dst_tracks, 15)
    d1, d2 = np.zeros_like(imgs), np.zeros_like(imgs)
    K.copy_rows_relocate(imgs, d1, rows, rows, cchh)
    R.copy_rows_relocate(imgs, d2, rows, rows, cchh)
    assert np.array_equal(d1, d2)
    for i in range(n):
        c, h = divmod(int(dst_tracks[i]), 15)
        recs = trackfmt.parse_track(bytes(d1[i]))
        assert all((r.cyl, r.head) == (c, h) for r in recs)
        assert [bytes(d1[i][r.data_offset:r.end]) for r in recs] == \
               [bytes(imgs[i][r.data_offset:r.end]) for r in trackfmt.parse_track(bytes(imgs[i]))]


@given(st.integers(0, 2**31))
def test_scatter_bytes(seed):
    rng = np.random.default_rng(seed)
    n, w = int(rng.integers(1, 20)), int(rng.integers(1, 40))
    rows = rng.integers(0, 16, n).astype(np.int64)
    offs = rng.integers(0, SLOT - w, n).astype(np.int64)
    data = rng.integers(0, 256, (n, w), dtype=np.uint8)
    a, b = np.zeros((16, SLOT), np.uint8), np.zeros((16, SLOT), np.uint8)
    K.scatter_bytes(a, rows, offs, data)
    R.scatter_bytes(b, rows, offs, data)
    assert np.array_equal(a, b)


def test_cchh_rows_match_encode_cchh():
    tracks = np.array([0, 14, 15, 65519 * 15 + 14, 70000 * 15 + 3, 262667 * 15 + 14])
    rows = cchh_rows(tracks, 15)
    for t, row in zip(tracks.tolist(), rows):
        assert bytes(row) == encode_cchh(*divmod(t, 15))


@st.composite
def run_lists(draw):
    cuts = sorted(draw(st.sets(st.integers(0, 300), min_size=2, max_size=10)))
    runs = [(a, b) for a, b in zip(cuts[::2], cuts[1::2]) if b > a]
    return runs or [(0, 1)]


@given(run_lists(), run_lists())
def test_track_map_lookups(sr, dr):
    ns, nd = sum(b - a for a, b in sr), sum(b - a for a, b in dr)
    tm = TrackMap.from_runs(sr, dr)
    assert tm.n == min(ns, nd)
    src = [t for a, b in sr for t in range(a, b)][: tm.n]
    dst = [t for a, b in dr for t in range(a, b)][: tm.n]
    rel = np.arange(tm.n, dtype=np.int64)
    assert tm.src(rel).tolist() == src and tm.dst(rel).tolist() == dst
    for r in range(tm.n):
        assert tm.src1(r) == src[r] and tm.dst1(r) == dst[r]
        assert tm.rel_of_src1(src[r]) == r and tm.rel_of_dst1(dst[r]) == r
    probe = np.arange(0, 310, dtype=np.int64)
    got, mask = tm.rel_of_src(probe)
    assert probe[mask].tolist() == sorted(src) and [src[g] for g in got] == probe[mask].tolist()
    assert all(tm.rel_of_src1(int(t)) == -1 for t in probe[~mask])
    sw = tm.swapped()
    assert sw.src(rel).tolist() == dst and sw.dst(rel).tolist() == src
    assert TrackMap.from_json(tm.to_json()).to_json() == tm.to_json()


@given(run_lists(), run_lists())
def test_runs_overlap(a, b):
    ta = {t for x, y in a for t in range(x, y)}
    tb = {t for x, y in b for t in range(x, y)}
    assert runs_overlap(a, b) == bool(ta & tb)


def test_modeled_rate_carries_fractions():
    r = ModeledRate(2.5, 0.0)
    assert [r.allow(t) for t in (1.0, 2.0, 3.0, 4.0)] == [2, 3, 2, 3]
    assert r.allow(3.0) == 0          # time never runs backwards
    assert ModeledRate(0.0, 0.0).seconds_for(5) == float("inf")
    assert ModeledRate(4.0, 0.0).seconds_for(10) == 2.5
