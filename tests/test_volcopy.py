"""Full-volume copy: the copy reads byte for byte like its source and stays sparse."""

from __future__ import annotations

import filecmp
import os

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.volcopy import copy_volume, used_lengths
from dasdlab.emulator.volume import Volume


def test_used_lengths_walks_every_record():
    slot = 56832
    rows = [
        trackfmt.null_track(0, 1, slot),
        trackfmt.build_track(0, 2, [(1, b"KEY1", b"x" * 100), (2, b"", b"y" * 5000), (3, b"", b"")], slot),
        trackfmt.fixed_track(0, 3, 0, 4096, 12, None, slot),
    ]
    tracks = np.stack([np.frombuffer(bytes(r), np.uint8) for r in rows])
    want = [29, 21 + (8 + 4 + 100) + (8 + 5000) + 8 + 8, 21 + 12 * (8 + 4096) + 8]
    assert used_lengths(tracks, np.arange(3)).tolist() == want
    broken = tracks.copy()
    broken[1, 21 + 8 + 4 + 100 + 6] = 0xFF  # a DL that runs past the slot
    assert used_lengths(broken, np.array([1])).tolist() == [slot]


@pytest.mark.parametrize("split", [False, True])
def test_copy_is_byte_identical_and_sparse(tmp_path, split):
    src = tmp_path / "src.ckd"
    vol = Volume.create(src, "3390-3", "CPY001", cylinders=2600 if split else 20, split=split)
    vol.vtoc.allocate("A.SHORT", lrecl=80, blksize=800, primary=2)
    vol.vtoc.allocate("B.LONG", recfm="F", lrecl=56664, blksize=56664, primary=20)
    Dataset(vol, "A.SHORT").write(b"S" * 8000)
    Dataset(vol, "B.LONG").write(np.random.default_rng(1).integers(0, 256, 56664 * 18, np.uint8).tobytes())
    first = vol.files[0].path
    written = vol.written.count()
    vol.close()
    dst = tmp_path / "dst.ckd"
    seen = []
    n = copy_volume(first, dst, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (n, n)
    with Volume.open(first) as a, Volume.open(dst) as b:
        assert b.written.count() == written and len(b.files) == 1
        for t in a.written.indices().tolist():
            assert np.array_equal(a.read_track(t), b.read_track(t)), t
        assert Dataset(b, "A.SHORT").read() == b"S" * 8000
    if not split:
        assert filecmp.cmp(src, dst, shallow=False)
    # far fewer bytes on disk than the image size: slot tails and unused tracks are holes
    assert os.stat(dst).st_blocks * 512 < 2 * (n + 4096 * written)
