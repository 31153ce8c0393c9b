"""The point-in-time scenario (QEMU image-fleecing style) for SnapShot, to the same
track addresses and relocated to others: known patterns, a snap, overwrites that are full, partial-left,
partial-right and adjacent to the snapped range, never-written tracks; then the frozen
view, the live view, and both after the snap record is released."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site

DL = 4000
# (track, record index, fill) written before the snap
BEFORE = [(20, 0, 0x11), (20, 1, 0x12), (21, 0, 0x21), (22, 2, 0x33), (24, 0, 0x44)]
# overwrites after the snap: a full track, a partial update of the first record
# (partial-left), of the last (partial-right), and a track just outside the range
# (adjacent); 23 and 25 stay never-written in the range
FULL, LEFT, RIGHT, ADJ = (21, None, 0x91), (20, 0, 0x92), (22, 2, 0x93), (26, None, 0x94)
RANGE = (20, 26)


def track(vol, t, fills):
    cyl, head = vol.cchh(t)
    data = np.concatenate([np.full(DL, f, np.uint8) for f in fills])
    return trackfmt.fixed_track(cyl, head, 0, DL, len(fills), data, vol.slot, eof=True)


def fills(vol, t):
    if not vol.is_written(t):
        return None
    img = vol.read_track(t)
    recs = trackfmt.parse_track(img, expect=vol.cchh(t))
    return [int(img[r.data_offset]) for r in recs if r.datalen]


@pytest.mark.parametrize("offset", [0, 100], ids=["same-address", "relocated"])
def test_fleecing(tmp_path, offset):
    s = Site.init(tmp_path / "s")
    configure_pool(s, "RVA1", pool_slots=500)
    src = s.add_volume("RVA1", "RV0001", "3390-3", cylinders=10)
    tgt = s.add_volume("RVA1", "RV0002", "3390-3", cylinders=10)
    state = {t: [0x01, 0x02, 0x03] for t in range(*RANGE)}
    for t in (23, 25):
        del state[t]
    for t, i, f in BEFORE:
        state[t][i] = f
    for t, f3 in state.items():
        src.write_track(t, track(src, t, f3))
    src.write_track(26, track(src, 26, [7, 7, 7]))
    frozen = {t: list(v) for t, v in state.items()}
    svc = s.subsystem("RVA1").service("snapshot")
    sid = svc.snap("RV0001", "RV0002", [RANGE], [(RANGE[0] + offset, RANGE[1] + offset)])["id"]

    t, _, f = FULL
    src.write_track(t, track(src, t, [f, f, f]))
    state[t] = [f, f, f]
    for t, i, f in (LEFT, RIGHT):
        off = trackfmt.fixed_data_offset(0, DL, i)
        src.write_bytes(t, off, np.full(DL, f, np.uint8))
        state[t][i] = f
    t, _, f = ADJ
    src.write_track(t, track(src, t, [f, f, f]))

    def check():
        for t in range(*RANGE):
            assert fills(tgt, t + offset) == frozen.get(t), f"frozen view, track {t}"
            assert fills(src, t) == state.get(t), f"live view, track {t}"
        assert fills(src, 26) == [0x94] * 3
        if offset:  # the adjacent track of the target was never part of the snap
            assert fills(tgt, RANGE[1] + offset) is None

    check()
    rec = svc.query(sid)[0]
    assert rec["tracks_unshared"] == 3 and rec["tracks_empty"] == 2 and rec["tracks_shared"] == 1
    svc.release(sid)
    check()
    s.close()
