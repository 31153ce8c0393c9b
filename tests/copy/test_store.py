"""Copy-service state store: atomic records, mapped bitmaps, ids after a torn counter."""

from dasdlab.emulator.services.store import StateStore


def test_records_bitmaps_and_ids(tmp_path):
    st = StateStore(tmp_path / "svc")
    k = st.next_id("FC")
    assert k == "FC0001"
    st.put(k, {"a": 1})
    bm = st.bitmap(k, "tocopy", 1000, create=True, fill=True)
    bm.clear(5)
    again = StateStore(tmp_path / "svc")
    assert again.get(k) == {"a": 1} and again.keys() == [k]
    assert again.bitmap(k, "tocopy", 1000).count() == 999
    assert again.next_id("FC") == "FC0002"
    again.delete(k)
    assert again.keys() == [] and not again.has_bitmap(k, "tocopy")


def test_torn_counter_is_rebuilt_from_records(tmp_path):
    st = StateStore(tmp_path / "svc")
    for _ in range(3):
        st.put(st.next_id("TF"), {})
    (tmp_path / "svc" / ".TF.next").write_text("")  # what a kill during a plain write leaves
    assert st.next_id("TF") == "TF0004"
