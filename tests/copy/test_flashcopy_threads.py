"""Host writer threads and target reader threads while the background copy runs in
its own thread (the kernels release the GIL; the copier's lock orders a
copy-before-write against the chunk that copies the same track).  Zero mismatches
against the model: every target read equals the establish-time image, and after the
copy the source equals what the writers wrote."""

from __future__ import annotations

import random
import threading
import time

import numpy as np

from tests.copy.conftest import make_site, own, pattern_track, view

WRITERS = 3


def test_writers_and_readers_during_background_copy(tmp_path):
    site = make_site(tmp_path / "site", ("SRC001", "TGT001"), cylinders=40)  # 600 tracks
    src = site.volume("SRC001", writable=True)
    tgt = site.volume("TGT001")
    for t in range(15, src.ntracks):
        src.write_track(t, pattern_track(src, t, 0, nrec=2, dl=2000))
    pit = view(src)
    live = pit.copy()  # the writers' model of the source; each thread owns its tracks
    fc = site.subsystem("DS8K1").service("flashcopy")
    fc.sub.settings["fc_background_tracks_per_s"] = 400.0
    rel = fc.establish("SRC001", "TGT001", mode="COPY")
    copying = threading.Event()
    copying.set()
    errors: list[str] = []
    counts = [0] * (WRITERS + 1)

    deadline = time.monotonic() + 30  # a broken copier must fail the test, not hang it

    def background() -> None:
        now = 0.0
        while rel.remaining and time.monotonic() < deadline:
            now += 0.01
            fc.tick(now)                       # 4 tracks per tick
            threading.Event().wait(0.0005)
        copying.clear()

    def writer(k: int) -> None:
        rng = random.Random(k)
        mine = [t for t in range(15, src.ntracks) if t % WRITERS == k]
        v = 1000 * (k + 1)
        while copying.is_set():
            v += 1
            if rng.random() < 0.5:
                t = rng.choice(mine)
                img = pattern_track(src, t, v, nrec=2, dl=2000)
                src.write_track(t, img)
                live[t] = np.frombuffer(img, np.uint8)
            else:
                ts = np.array(sorted(rng.sample(mine, 4)), dtype=np.int64)
                off = rng.randrange(40, 2000)
                data = np.full((4, 24), v % 251, np.uint8)
                src.write_many(ts, np.full(4, off), data)
                live[ts, off:off + 24] = data
            counts[k] += 1

    def reader() -> None:
        rng = random.Random(99)
        while copying.is_set():
            t = rng.randrange(src.ntracks)
            if not np.array_equal(tgt.read_track(t), pit[t]):
                errors.append(f"target track {t} differs from the establish-time image")
            counts[WRITERS] += 1

    threads = [threading.Thread(target=background)] + [
        threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)] + [threading.Thread(target=reader)]
    for th in threads:
        th.daemon = True
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(deadline - time.monotonic(), 0) + 5)
    assert not any(th.is_alive() for th in threads)
    assert not errors, errors[:5]
    assert all(c > 10 for c in counts), counts     # the threads really overlapped the copy
    assert rel.state.value == "COMPLETED"
    q = rel.query()
    assert q["cow_count"] > 0 and q["background_tracks"] > 0
    assert q["cow_count"] + q["background_tracks"] == src.ntracks
    got_t, got_s = own(tgt), view(src)
    mism_t = [t for t in range(src.ntracks) if not np.array_equal(got_t[t], pit[t])]
    mism_s = [t for t in range(src.ntracks) if not np.array_equal(got_s[t], live[t])]
    assert mism_t == [] and mism_s == []
    site.close()
