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


def test_processes_taking_ids_at_once_never_share_one(tmp_path):
    """Four processes take 40 ids each from one store at the same time: 160 distinct
    ids, the same set a serial run takes."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = r"""
import os, sys, time
from dasdlab.emulator.services.store import StateStore
st = StateStore(sys.argv[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
print(" ".join(st.next_id("FC") for _ in range(40)))
"""
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "svc"), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(0.5)
    go.touch()
    got = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        got += out.split()
    serial = StateStore(tmp_path / "serial")
    assert sorted(got) == sorted(serial.next_id("FC") for _ in range(160))
    assert len(set(got)) == 160
