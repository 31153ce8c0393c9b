"""The device table and the 3390 capacity formula against IBM's published figures."""

import pytest

from dasdlab.emulator import geometry as g
from dasdlab.errors import GeometryError


def test_3390_track_capacity_figures():
    m = g.model("3390-3")
    assert m.cylinders == 3339 and m.heads == 15
    assert m.slot_size == 56832  # Hercules slot (docs/ckd-format.md §2.1)
    # docs/domain.md §3.1 table computed from GX26-4577
    expected = {512: 49, 1024: 33, 2048: 21, 4096: 12, 6144: 8, 8192: 6, 10240: 5, 16384: 3,
                18432: 3, 22528: 2, 24576: 2, 27998: 2, 32760: 1, 56664: 1}
    for dl, n in expected.items():
        assert m.records_per_track(0, dl) == n, dl
    assert m.records_per_track(0, 56665) == 0
    assert m.max_block(0) == 56664
    # 50 DSCBs (KL 44 DL 96) and 45 directory blocks (KL 8 DL 256) per track, as dasdload's F4
    assert m.records_per_track(44, 96) == 50
    assert m.records_per_track(8, 256) == 45


def test_track_balance_matches_dasdload():
    """DS1TRBAL values dasdload wrote (docs/ckd-format.md session): 20 x 800-byte blocks + EOF."""
    m = g.model("3390-1")
    used = 20 * m.record_bytes(0, 800) + m.record_bytes(0, 0)
    assert m.track_balance(used) == 28186
    assert m.track_balance(m.record_bytes(0, 0)) == 58106


def test_model_sizes():
    assert g.model("3390-54").tracks() == 982800
    assert g.model("3390-1").image_size(10) == 8_525_312  # docs/ckd-format.md check value
    assert g.model("3380-K").slot_size == 47616
    assert g.model("3390").name == "3390-1"


@pytest.mark.parametrize("name", ["3390-4", "9999", ""])
def test_unknown_model(name):
    with pytest.raises(GeometryError) as e:
        g.model(name)
    assert e.value.msgid == "DLB100E"


def test_cchh_eav_round_trip():
    for cyl, head in [(0, 0), (65519, 14), (65535, 3), (65536, 0), (262667, 14), (1182005, 7)]:
        b = g.encode_cchh(cyl, head)
        assert len(b) == 4
        assert g.decode_cchh(b) == (cyl, head)


def test_model_for_image():
    assert g.model_for_image(0x90, 15, 56832, 10).name == "3390-1"
    assert g.model_for_image(0x90, 15, 56832, 2600).name == "3390-3"
    # 3380 images are named by IBM's model letters, alternate cylinders included
    slot = g.model("3380-K").slot_size
    for cyls, name in ((10, "3380-J"), (885, "3380-J"), (886, "3380-J"), (1000, "3380-E"),
                       (1772, "3380-E"), (2655, "3380-K"), (2658, "3380-K")):
        assert g.model_for_image(0x80, 15, slot, cyls).name == name, cyls
    with pytest.raises(GeometryError) as e:
        g.model_for_image(0x90, 15, 47616, 10)
    assert e.value.msgid == "DLB106E"
    with pytest.raises(GeometryError):
        g.model_for_image(0x11, 15, 56832, 10)


def test_cylinder_bounds():
    m = g.model("3390-1")
    with pytest.raises(GeometryError):
        m.check_cylinders(1114)
    assert g.model("3390-A").check_cylinders(300000) == 300000
    with pytest.raises(GeometryError):
        m.track_of(10, 15, 10)


def test_half_track_block_and_the_default_model():
    """Half-track blocking is the largest block of which two fit (27,998 on a 3390, IBM's
    figure; 23,476 on a 3380), and the constants the engine and the pool use come from
    the table: the default model's track, the 3390 slot, a 3390-9's tracks."""
    from dasdlab.emulator.rva import POOL_SLOT
    from dasdlab.emulator.services.flashcopy import DEFAULT_REPOSITORY_TRACKS
    from dasdlab.engine.timemodel import TRACK_BYTES
    from dasdlab.host.dss import DUMP_BLK

    assert g.half_track_block(g.model("3390")) == 27998
    assert g.half_track_block(g.model("3380")) == 23476
    for m in (g.model("3390"), g.model("3380")):
        b = g.half_track_block(m)
        assert m.records_per_track(0, b) == 2 and m.records_per_track(0, b + 1) < 2
    assert g.default_model().name == g.DEFAULT_MODEL == "3390-3"
    assert TRACK_BYTES == g.default_model().r1_capacity == 56664
    assert DUMP_BLK == 27998 and POOL_SLOT == g.model("3390").slot_size == 56832
    assert DEFAULT_REPOSITORY_TRACKS == g.model("3390-9").tracks() == 150255
