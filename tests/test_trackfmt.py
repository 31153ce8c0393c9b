"""Track images: byte layout as Hercules writes it, parsing and validation."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dasdlab.emulator import trackfmt as tf
from dasdlab.errors import ImageError

SLOT = 56832


def test_null_track_is_dasdinit_layout():
    img = tf.null_track(1, 2, SLOT)
    assert bytes(img[:29]) == bytes.fromhex("0000010002" "0001000200000008" "0000000000000000" "ffffffffffffffff")
    assert not any(img[29:])
    assert tf.parse_track(img) == []


def test_build_and_parse_round_trip():
    recs = [(1, b"K1", b"data-one"), (2, b"", b"x" * 100), (3, b"", b"")]
    img = tf.build_track(3, 4, recs, SLOT)
    parsed = tf.parse_track(img, expect=(3, 4))
    assert [(p.r, p.keylen, p.datalen) for p in parsed] == [(1, 2, 8), (2, 0, 100), (3, 0, 0)]
    assert parsed[-1].is_eof
    assert bytes(img[parsed[0].key_offset : parsed[0].data_offset]) == b"K1"
    assert bytes(img[parsed[0].data_offset : parsed[0].end]) == b"data-one"


@given(nrec=st.integers(0, 12), dl=st.integers(1, 4096), eof=st.booleans(), kl=st.integers(0, 20))
def test_fixed_track_equals_build_track(nrec, dl, eof, kl):
    if tf.TRACK_HEADER_LEN + nrec * (8 + kl + dl) + 16 > SLOT:
        return
    rng = np.random.default_rng(nrec * 1000 + dl)
    data = rng.integers(0, 256, nrec * dl, dtype=np.uint8)
    keys = rng.integers(0, 256, nrec * kl, dtype=np.uint8)
    fast = tf.fixed_track(5, 6, kl, dl, nrec, data, SLOT, eof=eof, keys=keys if kl else None)
    recs = [(i + 1, keys[i * kl:(i + 1) * kl].tobytes(), data[i * dl:(i + 1) * dl].tobytes()) for i in range(nrec)]
    if eof:
        recs.append((nrec + 1, b"", b""))
    slow = tf.build_track(5, 6, recs, SLOT)
    assert fast.tobytes() == bytes(slow)
    for i in range(nrec):
        off = tf.fixed_data_offset(kl, dl, i)
        assert fast[off:off + dl].tobytes() == recs[i][2]


def test_corrupt_count_field_detected():
    img = tf.build_track(0, 1, [(1, b"", b"abc")], SLOT)
    img[21 + 6:21 + 8] = b"\xff\xf0"  # DL runs past the slot
    with pytest.raises(ImageError) as e:
        tf.parse_track(img)
    assert e.value.msgid == "DLB120E"


def test_unformatted_and_wrong_home_address():
    with pytest.raises(ImageError) as e:
        tf.parse_track(bytes(SLOT))
    assert e.value.msgid == "DLB122E"
    img = tf.null_track(2, 3, SLOT)
    with pytest.raises(ImageError) as e:
        tf.parse_track(img, expect=(2, 4))
    assert e.value.msgid == "DLB123E"


def test_records_that_do_not_fit():
    with pytest.raises(ImageError):
        tf.build_track(0, 0, [(1, b"", bytes(56900))], SLOT)


def test_relocate_track_rewrites_every_address():
    img = np.frombuffer(bytes(tf.build_track(1, 1, [(1, b"k", b"a"), (2, b"", b"bb")], SLOT)), dtype=np.uint8).copy()
    tf.relocate_track(img, 70000, 9)
    recs = tf.parse_track(img, expect=(70000, 9))
    assert all((r.cyl, r.head) == (70000, 9) for r in recs)
