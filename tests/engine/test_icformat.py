"""Image copy formats: header fields, standard and compressed encodings, damage detection."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dasdlab.engine.icformat import HEADER_LEN, IcHeader, ImageCopyFormatError, decode, encode
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
