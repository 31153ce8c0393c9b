"""The log-structured track pool: FTD pointers, reference counts, redirect-on-write,
free-space collection, modeled compression, pool full, persistence and export."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.rva import PoolVolume, compacted_bytes, configure_pool, export_volume, read_ftd
from dasdlab.emulator.site import Site
from dasdlab.emulator.volume import Volume
from dasdlab.errors import DasdlabError


def make_site(tmp_path, slots=3000, **settings):
    s = Site.init(tmp_path / "site")
    configure_pool(s, "RVA1", pool_slots=slots, **settings)
    return s


def image(vol, t, fill, nrec=12):
    cyl, head = vol.cchh(t)
    return trackfmt.fixed_track(cyl, head, 0, 4096, nrec, np.full(nrec * 4096, fill, np.uint8), vol.slot, eof=True)


@pytest.fixture
def site(tmp_path):
    s = make_site(tmp_path)
    s.add_volume("RVA1", "RV0001", "3390-3", cylinders=40)
    s.add_volume("RVA1", "RV0002", "3390-3", cylinders=40)
    yield s
    s.close()


def test_volume_is_pooled_and_has_a_vtoc(site):
    v = site.volume("RV0001")
    assert isinstance(v, PoolVolume) and v.pooled and v.files == []
    assert v.volser == "RV0001"
    assert v.written.count() == 15  # track 0 and the 14 VTOC tracks
    assert all(v.slot_of(t) for t in range(15)) and v.slot_of(15) == 0


def test_redirect_on_write_moves_the_pointer_and_frees_the_old_slot(site):
    v = site.volume("RV0001", writable=True)
    pool = site.subsystem("RVA1").pool
    v.write_track(100, image(v, 100, 1))
    old = v.slot_of(100)
    assert pool.refs[old] == 1
    v.write_track(100, image(v, 100, 2))
    new = v.slot_of(100)
    assert new != old, "no update in place"
    assert pool.refs[old] == 0 and pool.refs[new] == 1
    assert (v.read_track(100)[trackfmt.fixed_data_offset(0, 4096, 0)] == 2)


def test_new_images_go_to_the_log_head(site):
    v = site.volume("RV0001", writable=True)
    slots = []
    for i in range(5):
        v.write_track(200, image(v, 200, i))
        slots.append(v.slot_of(200))
    assert slots == sorted(slots) and len(set(slots)) == 5


def test_partial_update_copies_the_track_into_a_new_slot(site):
    v = site.volume("RV0001", writable=True)
    w = site.volume("RV0002", writable=True)
    v.write_track(300, image(v, 300, 5))
    w.take_pointers(v, (300, 301), (300, 301))  # share the slot
    shared = v.slot_of(300)
    pool = v.pool
    assert pool.refs[shared] == 2
    off = trackfmt.fixed_data_offset(0, 4096, 3)
    v.write_bytes(300, off, b"\x09" * 10)
    assert v.slot_of(300) != shared and w.slot_of(300) == shared
    assert pool.refs[shared] == 1
    mine, theirs = v.read_track(300), w.read_track(300)
    assert bytes(mine[off:off + 10]) == b"\x09" * 10 and bytes(theirs[off:off + 10]) == b"\x05" * 10
    diff = np.flatnonzero(mine != theirs)
    assert diff.min() >= off and diff.max() < off + 10


def test_write_many_redirects_each_track_once(site):
    v = site.volume("RV0001", writable=True)
    for t in (400, 401):
        v.write_track(t, image(v, t, 1))
    before = {t: v.slot_of(t) for t in (400, 401)}
    offs = np.array([trackfmt.fixed_data_offset(0, 4096, i) for i in (0, 1, 0)])
    v.write_many(np.array([400, 400, 401]), offs, np.full((3, 4), 7, np.uint8))
    after = {t: v.slot_of(t) for t in (400, 401)}
    assert all(before[t] != after[t] for t in before)
    assert v.pool._live == v.written.count() + site.volume("RV0002").written.count()
    for t, i in ((400, 0), (400, 1), (401, 0)):
        o = trackfmt.fixed_data_offset(0, 4096, i)
        assert bytes(v.read_track(t)[o:o + 4]) == b"\x07" * 4


def test_partial_update_of_unformatted_track_is_refused_and_changes_nothing(site):
    v = site.volume("RV0001", writable=True)
    with pytest.raises(DasdlabError) as e:
        v.write_bytes(500, 100, b"x")
    assert e.value.msgid == "DLB124E" and v.slot_of(500) == 0


def test_discard_returns_the_track_to_never_written(site):
    v = site.volume("RV0001", writable=True)
    v.write_track(590, image(v, 590, 3))
    s = v.slot_of(590)
    v.discard_track(590)
    assert v.slot_of(590) == 0 and not v.is_written(590) and v.pool.refs[s] == 0
    assert not v.read_track(590).any()


def test_compaction_and_modeled_compression(tmp_path):
    s = make_site(tmp_path, compression_ratio=2.0)
    v = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=5)
    pool = s.subsystem("RVA1").pool
    base = pool._consumed
    img = image(v, 40, 1, nrec=3)
    assert compacted_bytes(img) == trackfmt.track_used_bytes(img)
    v.write_track(40, img)
    assert pool._consumed - base == trackfmt.track_used_bytes(img)
    assert pool.stats()["consumed_bytes"] == round(pool._consumed / 2.0)
    s.close()


@pytest.mark.parametrize("nrec, dl", [(1, 56664), (12, 4096), (49, 512), (30, 7), (17, 0)])
def test_compacted_size_is_the_used_part_of_the_track(nrec, dl):
    data = np.random.default_rng(nrec).integers(0, 256, nrec * dl, np.uint8)
    for eof in (True, False):
        img = trackfmt.fixed_track(3, 4, 0, dl, nrec, data, 56832, eof=eof)
        assert compacted_bytes(img) == trackfmt.track_used_bytes(img)


def test_free_space_collection_reuses_freed_slots_at_the_threshold(tmp_path):
    s = make_site(tmp_path, fsc_threshold_slots=4)
    v = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=5)
    pool = s.subsystem("RVA1").pool
    slots = []
    for i in range(6):
        v.write_track(30, image(v, 30, i + 1))
        slots.append(v.slot_of(30))
    # the log grows while fewer than 4 slots are free, then sweeps back over them
    assert slots[:5] == list(range(slots[0], slots[0] + 5))
    assert pool.collections == 1 and slots[5] == slots[0]  # the first freed slot
    assert pool.refs[slots[5]] == 1 and v.read_track(30)[trackfmt.fixed_data_offset(0, 4096, 0)] == 6
    hwm = pool.stats()["log_high_water_mark"]
    for i in range(20):  # steady state: the region does not grow any more
        v.write_track(30, image(v, 30, i))
    assert pool.stats()["log_high_water_mark"] <= hwm + 1
    s.close()


def test_trim_punches_holes_and_counts_survive_reopen(tmp_path):
    s = make_site(tmp_path)
    v = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=5)
    for i in range(5):
        v.write_track(31, image(v, 31, i + 1))
    pool = s.subsystem("RVA1").pool
    first_free = np.flatnonzero(pool.refs[1:pool.stats()["log_high_water_mark"]] == 0)[0] + 1
    assert pool.slots[first_free].any()
    blocks = (pool.dir / "slots.img").stat().st_blocks
    assert pool.trim() == 4
    assert not pool.slots[first_free].any() and (pool.dir / "slots.img").stat().st_blocks < blocks
    assert pool.stats()["log_high_water_mark"] == v.slot_of(31) + 1
    refs = np.array(pool.refs)
    s.close()
    s2 = Site.open(tmp_path / "site")
    v2 = s2.volume("RV0001")
    pool = s2.subsystem("RVA1").pool
    assert not pool.recovered
    assert np.array_equal(np.array(pool.refs), refs)
    assert v2.read_track(31)[trackfmt.fixed_data_offset(0, 4096, 0)] == 5
    s2.close()


def test_pool_full_fails_before_changing_anything(tmp_path):
    s = make_site(tmp_path, slots=20)  # 19 usable; the new volume takes 15
    v = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=5)
    pool = s.subsystem("RVA1").pool
    for t in range(20, 24):
        v.write_track(t, image(v, t, 1))
    ftd, refs = np.array(v.ftd), np.array(pool.refs)
    with pytest.raises(DasdlabError) as e:
        v.write_track(24, image(v, 24, 1))
    assert e.value.msgid == "DLB390E"
    with pytest.raises(DasdlabError):
        v.write_bytes(20, 30, b"zz")
    assert np.array_equal(np.array(v.ftd), ftd) and np.array_equal(np.array(pool.refs), refs)
    v.discard_track(23)  # a freed slot is usable at once, collected or not
    v.write_track(24, image(v, 24, 1))
    s.close()


def test_capacity_full_counts_compressed_bytes(tmp_path):
    s = make_site(tmp_path, compression_ratio=4.0)
    v = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=5)
    pool = s.subsystem("RVA1").pool
    img = image(v, 50, 1)
    one = compacted_bytes(img) / 4.0
    configure_pool(s, "RVA1", pool_capacity_bytes=int(pool.consumed() + 2.5 * one))
    pool.capacity_bytes = s.subsystem("RVA1").settings["pool_capacity_bytes"]
    v.write_track(50, img)
    v.write_track(51, image(v, 51, 1))
    before = np.array(v.ftd)
    with pytest.raises(DasdlabError) as e:
        v.write_track(52, image(v, 52, 1))
    assert e.value.msgid == "DLB391E" and np.array_equal(np.array(v.ftd), before)
    v.write_track(50, image(v, 50, 2))  # a rewrite frees as much as it takes
    s.close()


def test_snapped_track_reads_with_its_own_address(site):
    v = site.volume("RV0001", writable=True)
    w = site.volume("RV0002", writable=True)
    v.write_track(100, image(v, 100, 4))
    w.take_pointers(v, (100, 101), (250, 251))
    assert v.slot_of(100) == w.slot_of(250)
    recs = w.records(250)
    assert {(r.cyl, r.head) for r in recs} == {w.cchh(250)}
    assert bytes(w.read_track(250)[1:5]) != bytes(v.read_track(100)[1:5])
    # a partial update stores the relocated image
    w.write_bytes(250, trackfmt.fixed_data_offset(0, 4096, 0), b"\x01")
    assert bytes(w.pool.slots[w.slot_of(250)][1:5]) == bytes(w.read_track(250)[1:5])


def test_dataset_io_through_the_pool(site):
    v = site.volume("RV0001", writable=True)
    site.allocate("POOL.DATA", "RV0001", lrecl=4096, blksize=4096, primary=15)
    d = Dataset(v, "POOL.DATA")
    d.format_blocks(100, fill=lambda f, n: np.full(n * 4096, f % 200 + 1, np.uint8))
    d.write_block(7, b"\xee" * 4096)
    assert d.read_block(7) == b"\xee" * 4096 and d.read_block(30)[0] == 25


def test_export_to_a_hercules_image(site, tmp_path):
    v = site.volume("RV0001", writable=True)
    w = site.volume("RV0002", writable=True)
    v.write_track(100, image(v, 100, 4))
    w.take_pointers(v, (100, 101), (120, 121))
    out = tmp_path / "rv2.ckd"
    n = export_volume(w, out)
    assert n == w.written.count()
    img = Volume.open(out)
    assert img.volser == "RV0002" and img.written.count() == n
    for t in w.written.indices().tolist():
        assert np.array_equal(img.read_track(t), w.read_track(t))
    img.close()
    with pytest.raises(DasdlabError) as e:
        export_volume(w, out)
    assert e.value.msgid == "DLB117E"


def test_damaged_ftd_is_reported(site, tmp_path):
    path = site.path / site.volume_spec("RV0001")["ftd"]
    site.close()
    raw = path.read_bytes()
    path.write_bytes(raw[:-4])
    s2 = Site.open(site.path)
    with pytest.raises(DasdlabError) as e:
        s2.volume("RV0001")
    assert e.value.msgid == "DLB392E" and "truncated" in e.value.text
    assert path.read_bytes() == raw[:-4]
    s2.close()


def test_leaked_counts_are_recounted_after_an_unclean_stop(site):
    v = site.volume("RV0001", writable=True)
    v.write_track(70, image(v, 70, 1))
    pool = site.subsystem("RVA1").pool
    s = v.slot_of(70)
    pool.refs[s] += 3  # what a process killed between "count up" and "count down" leaves
    pool.refs[2500] = 1  # a slot counted but never pointed at
    pool.flush()
    path = site.path
    pool._lockf.close()  # die without closing: pool.dirty stays
    pool._lockf = None
    site._subsystems.clear()
    s2 = Site.open(path)
    p2 = s2.subsystem("RVA1").pool
    assert p2.recovered
    assert p2.refs[s] == 1 and p2.refs[2500] == 0
    ftd = read_ftd(path / s2.volume_spec("RV0001")["ftd"])[0]
    assert s2.volume("RV0001").slot_of(70) == int(ftd[70])
    s2.close()
