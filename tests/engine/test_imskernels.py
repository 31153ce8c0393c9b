"""The IMS layer's numba kernels against their numpy twins, and the block layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dasdlab.engine import kernels as K
from dasdlab.engine import kernels_ref as R
from dasdlab.engine.dbd import parse_file
from dasdlab.engine.layout import FSE_LEN, PREFIX_LEN, block_layout, generate
from dasdlab.engine.workload import zipf_cdf

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "dbd"


def _pool(nbuf, nblocks, bs):
    return dict(slot_block=np.full(nbuf, -1, np.int64), block_slot=np.full(nblocks, -1, np.int32),
                buf=np.zeros((nbuf, bs), np.uint8), dirty=np.zeros(nbuf, np.uint8),
                rec_seq=np.zeros(nbuf, np.int64), prev=np.full(nbuf, -1, np.int32),
                nxt=np.full(nbuf, -1, np.int32), meta=np.array([-1, -1, 0], np.int64))


@settings(max_examples=25)
@given(st.integers(1, 6), st.integers(1, 30), st.integers(0, 2**32), st.integers(1, 4),
       st.integers(1, 12))
def test_pool_apply_matches_twin(nbuf, nblocks, seed, rounds, cap):
    """Same before images, steal writes, buffers, LRU chain and counters, batch after
    batch, with the caller writing steals to its 'DASD' in between; a small steal area
    makes the kernel stop early and resume."""
    rng = np.random.default_rng(seed)
    bs, w = 16, 3
    disk = rng.integers(0, 256, (nblocks, bs), dtype=np.uint8)
    disks = [disk.copy(), disk.copy()]
    pools = [_pool(nbuf, nblocks, bs), _pool(nbuf, nblocks, bs)]
    seq = 0
    for _ in range(rounds):
        n = int(rng.integers(1, 40))
        blocks = rng.integers(0, nblocks, n).astype(np.int64)
        offs = rng.integers(0, bs - w + 1, n).astype(np.int64)
        after = rng.integers(0, 256, (n, w), dtype=np.uint8)
        seqs = np.arange(seq, seq + n, dtype=np.int64)
        seq += n
        outs = []
        for mod, p, dk in ((K, pools[0], disks[0]), (R, pools[1], disks[1])):
            uniq = np.unique(blocks)
            pre = dk[uniq].copy()
            before = np.zeros((n, w), np.uint8)
            start, steals = 0, []
            while start < n:
                sb = np.zeros(cap, np.int64)
                sd = np.zeros((cap, bs), np.uint8)
                c = np.zeros(5, np.int64)
                start = mod.pool_apply(p["slot_block"], p["block_slot"], p["buf"], p["dirty"], p["rec_seq"],
                                       p["prev"], p["nxt"], p["meta"], blocks, offs, after, seqs, start,
                                       uniq, pre, before, sb, sd, c)
                for b, d in zip(sb[: c[4]], sd[: c[4]]):
                    dk[b] = d
                    steals.append(int(b))
            outs.append((before, steals, c[:4].copy()))
        assert np.array_equal(outs[0][0], outs[1][0])
        assert outs[0][1] == outs[1][1]
        for k in pools[0]:
            assert np.array_equal(pools[0][k], pools[1][k]), k
        assert np.array_equal(disks[0], disks[1])
    # invariants: slot_block and block_slot agree; every used buffer is on the LRU chain once
    p = pools[0]
    used = int(p["meta"][2])
    assert int((p["block_slot"] >= 0).sum()) == used
    for s in range(used):
        assert p["block_slot"][p["slot_block"][s]] == s
    chain, s = [], int(p["meta"][0])
    while s >= 0:
        chain.append(s)
        s = int(p["nxt"][s])
    assert sorted(chain) == list(range(used)) and (not chain or chain[-1] == p["meta"][1])


def test_pool_apply_content_is_all_updates_in_order():
    rng = np.random.default_rng(5)
    nbuf, nblocks, bs, w, n = 4, 25, 32, 5, 500
    disk = rng.integers(0, 256, (nblocks, bs), dtype=np.uint8)
    expect = disk.copy()
    p = _pool(nbuf, nblocks, bs)
    blocks = rng.integers(0, nblocks, n)
    offs = rng.integers(0, bs - w + 1, n)
    after = rng.integers(0, 256, (n, w), dtype=np.uint8)
    uniq = np.unique(blocks)
    pre = disk[uniq].copy()
    before = np.zeros((n, w), np.uint8)
    sb, sd, c = np.zeros(n, np.int64), np.zeros((n, bs), np.uint8), np.zeros(5, np.int64)
    K.pool_apply(p["slot_block"], p["block_slot"], p["buf"], p["dirty"], p["rec_seq"], p["prev"], p["nxt"],
                 p["meta"], blocks, offs, after, np.arange(n), 0, uniq, pre, before, sb, sd, c)
    for i in range(n):
        assert np.array_equal(before[i], expect[blocks[i], offs[i]: offs[i] + w])
        expect[blocks[i], offs[i]: offs[i] + w] = after[i]
    for b, d in zip(sb[: c[4]], sd[: c[4]]):
        disk[b] = d
    for s in range(nbuf):
        if p["slot_block"][s] >= 0:
            disk[p["slot_block"][s]] = p["buf"][s]
    assert np.array_equal(disk, expect)
    assert c[0] + c[1] == n and c[2] == c[4] > 0


@given(st.integers(0, 2**63 - 1), st.integers(0, 1000), st.integers(1, 5), st.sampled_from([8, 16, 64]))
def test_text_blocks(key, first, n, bs):
    table = np.arange(100, 164, dtype=np.uint8)
    a = np.zeros((n, bs), np.uint8)
    b = np.ones((n, bs), np.uint8)
    K.text_blocks(a, first, np.uint64(key), table)
    R.text_blocks(b, first, np.uint64(key), table)
    assert np.array_equal(a, b) and a.min() >= 100


@settings(max_examples=20)
@given(st.integers(0, 2**32), st.integers(1, 3000))
def test_zipf_sample_and_apply_changes(seed, n):
    rng = np.random.default_rng(seed)
    cdf = zipf_cdf(int(rng.integers(1, 500)), float(rng.uniform(0.2, 2.0)))
    u = rng.random(n)
    a, b = np.empty(n, np.int64), np.empty(n, np.int64)
    K.zipf_sample(u, cdf, a)
    R.zipf_sample(u, cdf, b)
    assert np.array_equal(a, b) and a.max() < cdf.size
    img = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    img2 = img.copy()
    m = min(n, 200)
    blocks = rng.integers(-3, 25, m)
    lens = rng.integers(0, 9, m)
    offs = (rng.random(m) * (33 - lens)).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    data = rng.integers(0, 256, int(lens.sum()), dtype=np.uint8)
    assert K.apply_changes(img, 2, blocks, offs, data, starts, lens) == R.apply_changes(
        img2, 2, blocks, offs, data, starts, lens)
    assert np.array_equal(img, img2)


def test_gather_and_stamp_twins():
    rng = np.random.default_rng(1)
    tracks = rng.integers(0, 256, (10, 200), dtype=np.uint8)
    trk = rng.integers(0, 10, 30)
    off = rng.integers(0, 150, 30)
    a, b = np.empty((30, 50), np.uint8), np.empty((30, 50), np.uint8)
    K.gather_blocks(tracks, trk, off, 50, a)
    R.gather_blocks(tracks, trk, off, 50, b)
    assert np.array_equal(a, b)
    d = parse_file(FIX / "hdamdb01.dbd")
    from dasdlab.engine.layout import _stamp

    for g in d.groups:
        st_ = _stamp(block_layout(d, g))
        x = rng.integers(0, 256, (7, g.block_size), dtype=np.uint8)
        y = x.copy()
        K.stamp_blocks(x, 123, g.block_size, *st_)
        R.stamp_blocks(y, 123, g.block_size, *st_)
        assert np.array_equal(x, y)


def test_layout_osam_and_esds():
    d = parse_file(FIX / "hdamdb01.dbd")
    lay = block_layout(d, d.groups[0])
    a = generate(lay, 7, 0, 40)
    assert np.array_equal(a[13:17], generate(lay, 7, 13, 4))  # any range alone
    assert not np.array_equal(a, generate(lay, 8, 0, 40))  # the seed matters
    fseap = int.from_bytes(a[0, 0:2].tobytes(), "big")
    assert fseap == lay.free_offset and lay.free_offset + FSE_LEN <= lay.data_len
    assert (a[:, lay.free_offset + FSE_LEN:] == 0).all()
    o = int(lay.seg_offsets[0])
    assert a[0, o] == 1  # segment code of the root
    # root keys: EBCDIC digits, ascending through the data set
    ko, kl = int(lay.key_offsets[0]), int(lay.key_lens[0])
    keys = [int(bytes(x - 0xC0 for x in a[b, ko:ko + kl])) for b in range(40)]
    assert keys == sorted(keys) and len(set(keys)) == 40
    # RAP 0 points at the first root of its block (an RBA)
    assert int.from_bytes(a[5, 4:8].tobytes(), "big") == 5 * 4096 + o
    # updatable regions never cover a prefix or a key
    for s, ln in zip(lay.region_start, lay.region_len):
        for so, sl, kof, klen in zip(lay.seg_offsets, lay.seg_lens, lay.key_offsets, lay.key_lens):
            assert not (s < so + PREFIX_LEN and s + ln > so)
            assert not (klen and s < kof + klen and s + ln > kof)
    h = parse_file(FIX / "hidamdb1.dbd")
    e = block_layout(h, h.groups[0])
    ci = generate(e, 1, 0, 3)
    assert e.data_len == 4096 - 7
    rdf_len = int.from_bytes(ci[0, 4090:4092].tobytes(), "big")
    cidf_off = int.from_bytes(ci[0, 4092:4094].tobytes(), "big")
    cidf_len = int.from_bytes(ci[0, 4094:4096].tobytes(), "big")
    assert (rdf_len, cidf_off, cidf_len) == (4089, 4089, 0)
