"""SnapShot benchmarks: the cost of a host write under redirect-on-write against a plain
in-place write, and snap time against volume size.

Every figure is a ratio against a baseline timed in the same run, interleaved round by
round (``docs/limits.md``: compare ratios, not absolute rates).  What the reference says
(``docs/domain.md`` §2.3, S63, S64): an update under SnapShot writes the new image to a new
place and moves a pointer, with no extra write for the copy (unlike copy-on-write), and
a snap copies only directory pointers "whatever the size of the data".  Printed:

* full-track write to a pool volume whose tracks are shared with a snap / full-track
  write in place on a CKD image file (the redirect-on-write penalty of our pool);
* the same with no snap (shared or not must cost the same: no copy is made);
* a 4 KB record update (a partial track write: the pool copies the track into a new
  slot first) / the same update in place;
* snap time of a full 3390-54 / of a 3390-3 (19.6x the tracks), and snap time of a
  3390-54 / the time to memcpy its 55.7 GB (estimated from a 256 MB copy in the run).
The ratios are printed and kept in the benchmark JSON; they do not fail the run.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site
from dasdlab.emulator.volume import Volume
from report import show, timed  # noqa: E402  (benchmarks/report.py)

ROUNDS = 5
N = 1500  # tracks written per round (85 MB)


def _images(heads: int, base: int, slot: int, seed: int) -> np.ndarray:
    out = np.zeros((N, slot), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for i in range(N):
        cyl, head = divmod(base + i, heads)
        out[i] = trackfmt.fixed_track(cyl, head, 0, 4096, 12, rng.integers(0, 256, 12 * 4096, np.uint8), slot)
    return out


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    d = tmp_path_factory.mktemp("snapbench")
    site = Site.init(d / "site")
    configure_pool(site, "RVA1", pool_slots=8 * N + 1000, fsc_threshold_slots=N)
    cyl = N // 15 + 3
    pa = site.add_volume("RVA1", "RV0001", "3390-3", cylinders=cyl)
    site.add_volume("RVA1", "RV0002", "3390-3", cylinders=cyl)
    ckd = Volume.create(d / "plain.ckd", "3390-3", "PLN001", cylinders=cyl)
    base = 15
    imgs = [_images(pa.heads, base, pa.slot, s) for s in (1, 2)]
    for i in range(N):  # both start with every track written (warm pages, live slots)
        pa.write_track(base + i, imgs[0][i])
        ckd.write_track(base + i, imgs[0][i])
    yield site, pa, ckd, base, imgs
    ckd.close()
    site.close()


@pytest.mark.benchmark(group="snapshot-write")
def test_host_write_under_snapshot_vs_in_place(benchmark, capsys, volumes):
    site, pa, ckd, base, imgs = volumes
    snap = site.subsystem("RVA1").service("snapshot")
    k = [0]

    def writes(vol):
        src = imgs[k[0] % 2]
        for i in range(N):
            vol.write_track(base + i, src[i])

    def pool_shared():
        snap.snap("RV0001", "RV0002", [(base, base + N)], [(base, base + N)])  # share every track
        return timed(lambda: writes(pa))

    shared, unshared = [], []
    for _ in range(ROUNDS):
        k[0] += 1
        plain = timed(lambda: writes(ckd))
        shared.append(pool_shared() / plain)
        k[0] += 1
        plain = timed(lambda: writes(ckd))
        unshared.append(timed(lambda: writes(pa)) / plain)
    benchmark.pedantic(lambda: writes(pa), rounds=ROUNDS, iterations=1)
    off = trackfmt.fixed_data_offset(0, 4096, 5)
    rec = np.full(4096, 7, np.uint8)

    def updates(vol):
        for i in range(N):
            vol.write_bytes(base + i, off, rec)

    partial = [timed(lambda: updates(pa)) / timed(lambda: updates(ckd)) for _ in range(ROUNDS)]
    assert bytes(pa.read_track(base)[off:off + 4]) == b"\x07" * 4
    show(capsys, benchmark, "host write", {
        "full-track write, tracks shared with a snap / in place": statistics.median(shared),
        "full-track write, no snap / in place": statistics.median(unshared),
        "4 KB record update (track copied to a new slot) / in place": statistics.median(partial),
    })


def _fill_by_snaps(site, volser: str, ntracks: int, k: int = 3000) -> None:
    """Make every track of ``volser`` hold an image without writing 56 KB per track:
    format ``k`` tracks, then snap them across the rest of the volume."""
    vol = site.volume(volser, writable=True)
    for t in range(15, 15 + k):
        cyl, head = divmod(t, vol.heads)
        vol.write_track(t, trackfmt.fixed_track(cyl, head, 0, 4096, 12, None, vol.slot))
    svc = site.subsystem("RVA1").service("snapshot")
    pos = 15 + k
    while pos < ntracks:
        n = min(k, ntracks - pos)
        svc.snap(volser, volser, [(15, 15 + n)], [(pos, pos + n)])
        pos += n
    for sid in list(svc.snaps):
        svc.release(sid)


@pytest.mark.benchmark(group="snapshot-snap")
def test_snap_time_against_volume_size(benchmark, capsys, tmp_path):
    site = Site.init(tmp_path / "site")
    configure_pool(site, "RVA1", pool_slots=20_000)
    sizes = {"3390-3": 50_085, "3390-54": 982_800}
    for m in sizes:
        tag = m.split("-")[1]
        site.add_volume("RVA1", f"S{tag}", m)
        site.add_volume("RVA1", f"T{tag}", m)
        _fill_by_snaps(site, f"S{tag}", sizes[m])
    svc = site.subsystem("RVA1").service("snapshot")

    def snap(tag):
        return timed(lambda: svc.snap(f"S{tag}", f"T{tag}"))

    src = np.ones(256 * 2**20, dtype=np.uint8)
    dst = np.zeros_like(src)
    ratios, vs_copy = [], []
    for _ in range(ROUNDS):
        t3, t54 = snap("3"), snap("54")
        memcpy_54 = timed(lambda: np.copyto(dst, src)) * (sizes["3390-54"] * 56_664) / src.nbytes
        ratios.append(t54 / t3)
        vs_copy.append(t54 / memcpy_54)
    benchmark.pedantic(lambda: svc.snap("S54", "T54"), rounds=3, iterations=1)
    rec = svc.query()[-1]
    assert rec["tracks_shared"] == sizes["3390-54"] - 1  # all but the relabelled VOL1 track
    show(capsys, benchmark, "snap", {
        "snap time 3390-54 / 3390-3 (19.6x the tracks)": statistics.median(ratios),
        "snap time 3390-54 / memcpy of its 55.7 GB": statistics.median(vs_copy),
    })
    site.close()
