"""Image copy formats: header fields, standard and compressed encodings, damage detection."""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dasdlab.engine.icformat import HEADER_LEN, CopyReader, CopyWriter, IcHeader, ImageCopyFormatError, decode, encode
from dasdlab.emulator.dataset import Dataset


def header(**kw):
    base = dict(dbd="HDAMDB01", ddn="HDAMDD01", volser="IMS001", access="O", kind="B", compressed=False,
                copy_number=1, block_size=4096, nblocks=0, run_time=12.5, stop_time=13.25, crc32=0)
    base.update(kw)
    return IcHeader(**base)


@given(n=st.integers(0, 150), bs=st.sampled_from([512, 2048, 4096]), comp=st.booleans(), seed=st.integers(0, 9))
def test_round_trip(n, bs, comp, seed):
    rng = np.random.default_rng(seed)
    # half-compressible blocks, like database blocks with free space
    blocks = rng.integers(0, 4, (n, bs), dtype=np.uint8)
    recs = encode(header(block_size=bs, compressed=comp), blocks)
    assert recs.shape[1] == bs + 8
    hdr, back = decode(recs)
    assert np.array_equal(back, blocks)
    assert (hdr.nblocks, hdr.compressed, hdr.dbd, hdr.run_time, hdr.stop_time) == (n, comp, "HDAMDB01", 12.5, 13.25)


def test_header_layout_is_64_bytes_ebcdic():
    raw = header(nblocks=3).pack()
    assert len(raw) == HEADER_LEN
    assert raw[0:4] == "ICHD".encode("cp037") and raw[8:16] == "HDAMDB01".encode("cp037")
    assert int.from_bytes(raw[32:36], "big") == 4096


def test_compression_shrinks_and_damage_is_detected():
    blocks = np.zeros((200, 4096), dtype=np.uint8)
    blocks[:, :100] = 7
    std = encode(header(), blocks)
    comp = encode(header(compressed=True), blocks)
    assert comp.size * 20 < std.size
    bad = std.copy()
    bad[5, 100] ^= 1
    with pytest.raises(ImageCopyFormatError) as e:
        decode(bad)
    assert e.value.msgid == "DLB645E"
    with pytest.raises(ImageCopyFormatError) as e:
        decode(std[:-1])
    assert e.value.msgid == "DLB642E"
    with pytest.raises(ImageCopyFormatError) as e:
        decode(np.zeros(4104 * 2, np.uint8))
    assert e.value.msgid == "DLB640E"


def test_written_as_a_data_set_dasdseq_can_read(vol):
    blocks = np.random.default_rng(1).integers(0, 256, (100, 4096), dtype=np.uint8)
    recs = encode(header(), blocks)
    lrecl = recs.shape[1]
    vol.vtoc.allocate("IMSIC.HDAMDB01.HDAMDD01.IC1", lrecl=lrecl, blksize=lrecl * 6, primary=10, secondary=10)
    ds = Dataset(vol, "IMSIC.HDAMDB01.HDAMDD01.IC1")
    ds.write(recs)
    hdr, back = decode(ds.read())
    assert np.array_equal(back, blocks)


# ---------------------------------------------------------------------- streaming
def _out_ds(vol, dsn, lrecl, per_block=6, primary=5):
    vol.vtoc.allocate(dsn, lrecl=lrecl, blksize=lrecl * per_block, primary=primary, secondary=5)
    return Dataset(vol, dsn)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 700), bs=st.sampled_from([512, 4096]), comp=st.booleans(), seed=st.integers(0, 9),
       by_track=st.booleans(), piece=st.sampled_from([1, 3, 40]))
def test_streamed_copy_is_byte_for_byte_the_whole_array_encoding(n, bs, comp, seed, by_track, piece):
    """The writer, fed track by track or in arbitrary block runs with a small piece
    buffer, writes exactly the records :func:`encode` builds; the reader gives back the
    blocks in ranges of any size."""
    import tempfile
    from pathlib import Path

    import dasdlab.engine.icformat as icf
    from dasdlab.emulator.volume import Volume

    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 4, (n, bs), dtype=np.uint8)
    h = header(block_size=bs, compressed=comp)
    want = encode(h, blocks)
    tmp = tempfile.TemporaryDirectory()
    vol = Volume.create(Path(tmp.name) / "s.ckd", "3390-1", "TST001")
    old = icf.PIECE_BYTES
    try:
        icf.PIECE_BYTES = piece * (bs + 8) * 6
        ds = _out_ds(vol, "IMSIC.STREAM.IC1", bs + 8)
        w = CopyWriter(ds, h, n)
        if by_track:  # blocks laid out like a fixed-block track: a count field between blocks
            step, per = bs + 8 + 3, 7
            for b0 in range(0, n, per):
                k = min(per, n - b0)
                trk = np.zeros(5 + per * step, np.uint8)
                for i in range(k):
                    trk[5 + i * step : 5 + i * step + bs] = blocks[b0 + i]
                w.add_track(trk, 5, step, k)
        else:
            cuts = sorted(set(rng.integers(0, n + 1, 4).tolist()) | {0, n})
            for a, b in zip(cuts, cuts[1:]):
                w.add_blocks(blocks[a:b])
        got_hdr = w.close()
        assert got_hdr.crc32 == decode(want)[0].crc32
        assert np.array_equal(np.frombuffer(Dataset(vol, "IMSIC.STREAM.IC1").read(), np.uint8), want.reshape(-1))
        r = CopyReader(Dataset(vol, "IMSIC.STREAM.IC1"))
        back = np.zeros_like(blocks)
        nxt = 0
        for first, part in r.ranges(max_blocks=int(rng.integers(1, 300))):
            assert first == nxt
            back[first : first + part.shape[0]] = part
            nxt += part.shape[0]
        assert nxt == n and np.array_equal(back, blocks)
    finally:
        icf.PIECE_BYTES = old
        vol.close()
        tmp.cleanup()


@pytest.mark.parametrize("comp", [False, True])
def test_streamed_reader_detects_damage_at_the_end(vol, comp):
    blocks = np.random.default_rng(3).integers(0, 4, (300, 4096), dtype=np.uint8)
    recs = encode(header(compressed=comp), blocks)
    if comp:
        recs[1, 40] ^= 0xFF  # inside the first frame's zlib data
    else:
        recs[150, 100] ^= 1
    ds = _out_ds(vol, "IMSIC.BAD.IC1", 4104, primary=200)
    ds.write(recs)
    with pytest.raises(ImageCopyFormatError) as e:
        for _ in CopyReader(Dataset(vol, "IMSIC.BAD.IC1")).ranges():
            pass
    assert e.value.msgid in (("DLB644E", "DLB645E") if comp else ("DLB645E",))
    wrong = recs.copy()
    wrong[[10, 11]] = wrong[[11, 10]]  # two block records swapped
    if not comp:
        with pytest.raises(ImageCopyFormatError) as e:
            for _ in CopyReader(wrong).ranges():
                pass
        assert e.value.msgid == "DLB643E"


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 12), bs=st.sampled_from([8, 64, 512]), gap=st.integers(0, 40), seed=st.integers(0, 99),
       rba0=st.sampled_from([0, 4096, 2**32 - 512]))
def test_record_kernels_match_twins(count, bs, gap, seed, rba0):
    from dasdlab.engine import kernels as K
    from dasdlab.engine import kernels_ref as R

    rng = np.random.default_rng(seed)
    step = bs + gap
    trk = rng.integers(0, 256, 3 + count * step + 1, dtype=np.uint8)
    outs = [np.full((count + 2, bs + 8), 0xAA, np.uint8) for _ in range(2)]
    for k, o in zip((K, R), outs):
        k.ic_records(trk, 3, step, count, bs, rba0, o, 1)
    assert np.array_equal(outs[0], outs[1])
    recs = outs[0][1 : 1 + count].copy()
    if count > 2 and seed % 2:
        recs[2, 3] ^= 1
    backs = [np.zeros((count + 1, bs), np.uint8) for _ in range(2)]
    bad = [k.ic_blocks(recs, rba0, bs, b, 1) for k, b in zip((K, R), backs)]
    assert bad[0] == bad[1] == (2 if count > 2 and seed % 2 else -1)
    assert np.array_equal(backs[0], backs[1])


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 30), rec0=st.integers(0, 20), rpb=st.integers(1, 4), bpt=st.integers(1, 3),
       bs=st.sampled_from([8, 64]), gap=st.integers(0, 12), seed=st.integers(0, 99))
def test_track_record_kernels_match_twins(count, rec0, rpb, bpt, bs, gap, seed):
    """Records built in place in output track images, and the track frames stamped
    around them: the kernels against their numpy twins, and the frames against
    :func:`~dasdlab.emulator.trackfmt.fixed_track` with the records' data."""
    from dasdlab.emulator import trackfmt
    from dasdlab.emulator.geometry import COUNT_LEN, TRACK_HEADER_LEN, encode_cchh
    from dasdlab.engine import kernels as K
    from dasdlab.engine import kernels_ref as R

    rng = np.random.default_rng(seed)
    lrecl, step = bs + 8, bs + gap
    blksize = rpb * lrecl
    slot = TRACK_HEADER_LEN + bpt * (COUNT_LEN + blksize) + 8 + int(rng.integers(0, 9))
    rows = -(-(rec0 + count) // (rpb * bpt)) + 1
    trk = rng.integers(0, 256, 3 + count * step + 1, dtype=np.uint8)
    outs = [np.full((rows, slot), 0xAA, np.uint8) for _ in range(2)]
    for k, o in zip((K, R), outs):
        k.ic_track_records(trk, 3, step, count, bs, 4096, o, rec0, rpb, bpt, blksize, TRACK_HEADER_LEN, COUNT_LEN)
    assert np.array_equal(outs[0], outs[1])
    template = trackfmt.fixed_track(0, 0, 0, blksize, bpt, None, slot)
    counts = TRACK_HEADER_LEN + np.arange(bpt) * (COUNT_LEN + blksize)
    end = TRACK_HEADER_LEN + bpt * (COUNT_LEN + blksize)
    start, stop = np.concatenate(([0], counts, [end])), np.concatenate(([TRACK_HEADER_LEN], counts + 8, [slot]))
    pos = np.concatenate(([1, 5], counts))
    cyls = rng.integers(0, 70000, rows)
    cchh = np.array([list(encode_cchh(int(c), 3)) for c in cyls], np.uint8).reshape(rows, 4)
    for k, o in zip((K, R), outs):
        k.track_frames(o, rows, template, start, stop, pos, cchh)
    assert np.array_equal(outs[0], outs[1])
    for row in range(rows):  # each row is the track fixed_track builds around its data
        data = np.concatenate([outs[0][row, p + 8 : p + 8 + blksize] for p in counts])
        want = trackfmt.fixed_track(int(cyls[row]), 3, 0, blksize, bpt, data, slot)
        assert np.array_equal(outs[0][row], want)


def test_large_standard_copy_is_built_in_track_images_and_read_back(vol):
    """A copy of many tracks takes the in-place track path, and what it writes is the
    whole-array encoding; a version-1 copy (CRC-32 of the block data) is still read."""
    import dataclasses

    import dasdlab.engine.icformat as icf

    blocks = np.random.default_rng(7).integers(0, 256, (400, 4096), dtype=np.uint8)
    h = header()
    ds = _out_ds(vol, "IMSIC.TRACKS.IC1", 4104, primary=3)
    w = CopyWriter(ds, h, 400)
    assert w.tracks is not None
    for b0 in range(0, 400, 12):
        w.add_blocks(blocks[b0 : b0 + 12])
    got = w.close()
    want = encode(h, blocks)
    assert got.crc32 == decode(want)[0].crc32 and got.version == icf.VERSION == 2
    raw = np.frombuffer(Dataset(vol, "IMSIC.TRACKS.IC1").read(), np.uint8)
    assert np.array_equal(raw, want.reshape(-1))
    old = want.copy()
    v1 = dataclasses.replace(decode(want)[0], version=1, crc32=zlib.crc32(blocks))
    old[0, :HEADER_LEN] = np.frombuffer(v1.pack(), np.uint8)
    assert np.array_equal(decode(old)[1], blocks)
    back = np.concatenate([part.copy() for _, part in CopyReader(old).ranges(max_blocks=77)])
    assert np.array_equal(back, blocks)
    old[5, 100] ^= 1
    with pytest.raises(ImageCopyFormatError) as e:
        decode(old)
    assert e.value.msgid == "DLB645E"


def test_track_record_kernel_refuses_blocks_outside_the_track():
    """The kernel copies with memcpy, so it checks the bounds itself."""
    from dasdlab.engine import kernels as K

    trk = np.zeros(100, np.uint8)
    out = np.zeros((2, 200), np.uint8)
    with pytest.raises(IndexError):
        K.ic_track_records(trk, 60, 50, 1, 64, 0, out, 0, 1, 1, 72, 21, 8)  # block ends past the track
    with pytest.raises(IndexError):
        K.ic_track_records(np.zeros(400, np.uint8), 0, 64, 1, 64, 0, np.zeros((1, 90), np.uint8), 0, 1, 1, 72, 21, 8)
