"""The write path across processes, with real concurrent processes.

* a writer in one process, an establish in another: the target's point-in-time view
  must be the source as it was after some prefix of the writer's writes, one that lies
  between the writes done before the establish began and those begun when it returned;
* two establishes onto one target at once: one is refused with a message id;
* a withdraw by one process stays withdrawn when another process that had loaded the
  relationship writes and exits;
* a writer that holds the subsystem and does not write: a control verb is refused with a
  message id naming it, after the wait the settings allow;
* two writers on one RVA-like track pool: both data sets read back exactly and the
  volume check passes.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site

ROOT = Path(__file__).resolve().parents[1]
FIRST, NTRK = 15, 20  # the writer's tracks


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _py(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dasdlab.cli.main", *map(str, args)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(p: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _wait_for(path: Path, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path.name} did not appear")
        time.sleep(0.01)


# The writer: round r writes (track, r) into the first record of every track, per track
# (write_track) in even rounds and as one batch (write_many) in odd rounds.  Before
# each write it publishes how many writes it has begun (an 8-byte counter file).
WRITER = r"""
import os, struct, sys, time
import numpy as np
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site_dir, first, n, counter, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
site = Site.open(site_dir)
vol = site.volume("SRC001", writable=True)
fd = os.open(counter, os.O_RDWR | os.O_CREAT)
def image(t, r):
    cyl, head = vol.cchh(t)
    return trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, r) * 500)], vol.slot)
off = trackfmt.parse_track(image(first, 0))[0].data_offset
k = 0
r = 0
while not os.path.exists(stop) or r < 4:
    r += 1
    if r % 2 == 0:
        for t in range(first, first + n):
            k += 1
            os.pwrite(fd, struct.pack("<Q", k), 0)
            vol.write_track(t, np.frombuffer(image(t, r), np.uint8))
    else:
        k += n
        os.pwrite(fd, struct.pack("<Q", k), 0)
        rows = np.frombuffer(struct.pack(">II", 0, r) * 500, np.uint8).reshape(1, -1).repeat(n, 0).copy()
        for i in range(n):
            rows[i, :4] = np.frombuffer(struct.pack(">I", first + i), np.uint8)
        tracks = np.arange(first, first + n, dtype=np.int64)
        vol.write_many(tracks, np.full(n, off, np.int64), rows)
site.close()
print(k)
"""

# The establisher: waits for the writer to be busy, then establishes, and records the
# writer's counter before it began and right after it returned.
ESTABLISH = r"""
import json, os, struct, sys, time
from dasdlab.emulator.site import Site
site_dir, counter, kind, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def begun():
    with open(counter, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]
while not os.path.exists(counter) or os.path.getsize(counter) < 8 or begun() < 150:
    time.sleep(0.005)
site = Site.open(site_dir)
before = begun()
if kind == "flashcopy":
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY")
else:
    tf = site.subsystem("VMAX1").service("timefinder")
    tf.activate(tf.create("SRC001", "TGT001", mode="NOCOPY").id)
after = begun()
site.close()
json.dump({"before": before, "after": after}, open(out, "w"))
"""


def _decode(img) -> tuple[int, int] | None:
    img = np.asarray(img)
    if not trackfmt.is_formatted(img):
        return None
    rec = trackfmt.parse_track(bytes(img))[0]
    return struct.unpack(">II", bytes(img[rec.data_offset:rec.data_offset + 8]))


def _state_after(k: int, n: int) -> list[int]:
    """The round each writer track holds after the first ``k`` writes (0: the initial
    image).  Even rounds write track by track; odd rounds are one batch of n writes."""
    rounds = [0] * n
    r = 0
    done = 0
    while done < k:
        r += 1
        if r % 2:
            if done + n > k:  # a batch is begun as a whole (its counter moves by n)
                break
            rounds = [r] * n
            done += n
        else:
            for i in range(n):
                if done == k:
                    break
                rounds[i] = r
                done += 1
    return rounds


@pytest.mark.parametrize("kind", ["flashcopy", "timefinder"])
def test_an_establish_in_one_process_intercepts_a_writer_in_another(tmp_path, kind):
    sub = "DS8K1" if kind == "flashcopy" else "VMAX1"
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume(sub, v, "3390-1", cylinders=3)
    src = site.volume("SRC001", writable=True)
    for t in range(FIRST, FIRST + NTRK):
        cyl, head = src.cchh(t)
        src.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 0) * 500)], src.slot))
    site.close()
    counter, stop, out = tmp_path / "begun", tmp_path / "stop", tmp_path / "est.json"
    writer = _py(WRITER, tmp_path / "site", FIRST, NTRK, counter, stop)
    est = _py(ESTABLISH, tmp_path / "site", counter, kind, out)
    code, _, err = _done(est)
    assert code == 0, err
    marks = json.loads(out.read_text())
    # let the writer go on well past the establish before it stops
    end = time.monotonic() + 20
    while struct.unpack("<Q", counter.read_bytes()[:8])[0] < marks["after"] + 6 * NTRK:
        assert time.monotonic() < end and writer.poll() is None, writer.stderr.read() if writer.poll() else ""
        time.sleep(0.01)
    stop.touch()
    code, total, err = _done(writer)
    assert code == 0, err
    site = Site.open(tmp_path / "site")
    tgt, src = site.volume("TGT001"), site.volume("SRC001")
    pit = [_decode(tgt.read_track(t)) for t in range(FIRST, FIRST + NTRK)]
    assert [p[0] for p in pit] == list(range(FIRST, FIRST + NTRK))
    rounds = [p[1] for p in pit]
    cuts = [k for k in range(max(marks["before"] - NTRK, 0), marks["after"] + 1) if _state_after(k, NTRK) == rounds]
    assert cuts, (rounds, marks)  # the view is the source after a prefix of the writes
    last = [_decode(src.read_track(t))[1] for t in range(FIRST, FIRST + NTRK)]
    assert last != rounds and min(last) > max(rounds)  # the writer went on afterwards
    site.close()


def test_two_concurrent_establishes_onto_one_target_one_is_refused(tmp_path):
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "SRC002", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=2)
    site.close()
    go = tmp_path / "go"
    code = r"""
import os, sys, time
from dasdlab.cli.main import run
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
sys.exit(run(["flashcopy", "establish", sys.argv[2], "TGT001", "--site", sys.argv[3], "--mode", "NOCOPY"]))
"""
    procs = [_py(code, go, src, tmp_path / "site") for src in ("SRC001", "SRC002")]
    time.sleep(1.0)  # both imported and waiting
    go.touch()
    results = [_done(p) for p in procs]
    assert sorted(r[0] for r in results) == [0, 8], results
    refused = next(r for r in results if r[0])
    assert refused[2].startswith("DLB328E"), refused
    site = Site.open(tmp_path / "site")
    rels = site.subsystem("DS8K1").service("flashcopy").relationships()
    assert len(rels) == 1 and rels[0].target == "TGT001"
    site.close()


def test_a_withdraw_stays_withdrawn_when_another_process_exits(tmp_path):
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=2)
    src = site.volume("SRC001", writable=True)
    cyl, head = src.cchh(16)
    old = trackfmt.build_track(cyl, head, [(1, b"", b"\x01" * 800)], src.slot)
    src.write_track(16, old)
    rid = site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY").id
    site.close()
    ready, go = tmp_path / "ready", tmp_path / "go"
    holder = _py(r"""
import os, sys, time
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001", writable=True)      # loads the relationship
assert site.subsystem("DS8K1").service("flashcopy").relationships()
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.005)
cyl, head = vol.cchh(16)
vol.write_track(16, trackfmt.build_track(cyl, head, [(1, b"", b"\x02" * 800)], vol.slot))
print(len(site.subsystem("DS8K1").service("flashcopy").relationships()))
site.close()                                     # services re-save what they hold
""", tmp_path / "site", ready, go)
    _wait_for(ready)
    code, out, err = _done(_cli("flashcopy", "withdraw", rid, "--site", tmp_path / "site"))
    assert code == 0 and "DLB350I" in out, (out, err)
    go.touch()
    code, out, err = _done(holder)
    assert code == 0 and out.strip() == "0", err  # the holder saw the withdraw at its write
    code, out, err = _done(_cli("flashcopy", "query", "--site", tmp_path / "site", "--json"))
    assert code == 0 and json.loads(out) == [], out
    site = Site.open(tmp_path / "site")
    assert not site.subsystem("DS8K1").service("flashcopy").store.keys()
    tgt = site.volume("TGT001")
    assert not tgt.is_written(16)  # the write after the withdraw was not copied to the target
    assert bytes(site.volume("SRC001").read_track(16)[:]) != bytes(np.frombuffer(old, np.uint8))
    site.close()


def test_a_verb_waiting_for_an_idle_writer_is_refused_naming_it(tmp_path):
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=2)
    configure_pool(site, "DS8K1", lock_wait_s=0.5)
    site.close()
    ready, go = tmp_path / "ready", tmp_path / "go"
    holder = _py(r"""
import os, sys, time
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001", writable=True)
cyl, head = vol.cchh(16)
vol.write_track(16, trackfmt.build_track(cyl, head, [(1, b"", b"\x02" * 800)], vol.slot))
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):          # holds the subsystem, writes nothing
    time.sleep(0.005)
vol.write_track(16, trackfmt.build_track(cyl, head, [(1, b"", b"\x03" * 800)], vol.slot))
site.close()
""", tmp_path / "site", ready, go)
    _wait_for(ready)
    code, out, err = _done(_cli("flashcopy", "establish", "SRC001", "TGT001", "--site", tmp_path / "site",
                                "--mode", "NOCOPY"))
    assert code != 0 and err.startswith("DLB306E") and f"process {holder.pid}" in err, (code, err)
    go.touch()
    assert _done(holder)[0] == 0
    code, out, err = _done(_cli("flashcopy", "establish", "SRC001", "TGT001", "--site", tmp_path / "site",
                                "--mode", "NOCOPY"))
    assert code == 0, err  # once the writer is gone the verb goes through


def test_two_writers_on_one_track_pool(tmp_path):
    site = Site.init(tmp_path / "site")
    configure_pool(site, "RVA1", pool_slots=4000)
    site.add_volume("RVA1", "RV0001", "3390-3", cylinders=40)
    site.add_volume("RVA1", "RV0002", "3390-3", cylinders=40)
    plan = {"A.DATA": "RV0001", "B.DATA": "RV0001", "C.DATA": "RV0002"}
    for dsn, v in plan.items():
        site.allocate(dsn, v, recfm="FB", lrecl=80, blksize=27920, unit="TRK", primary=150)
    site.close()
    script = r"""
import sys
import numpy as np
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    for dsn in sys.argv[3:]:
        rng = np.random.default_rng([i, len(dsn), ord(dsn[0])])
        data = rng.integers(0, 256, 80 * 40 * (1500 + 7 * i), np.uint8).tobytes()
        Dataset(site.dataset_volume(dsn, writable=True), dsn).write(data)
site.close()
"""
    rounds = 4
    procs = [_py(script, tmp_path / "site", rounds, "A.DATA", "C.DATA"),
             _py(script, tmp_path / "site", rounds, "B.DATA")]
    for p in procs:
        code, _, err = _done(p, timeout=60)
        assert code == 0, err
    site = Site.open(tmp_path / "site")
    last = rounds - 1
    for dsn in plan:
        rng = np.random.default_rng([last, len(dsn), ord(dsn[0])])
        want = rng.integers(0, 256, 80 * 40 * (1500 + 7 * last), np.uint8).tobytes()
        assert Dataset(site.dataset_volume(dsn), dsn).read() == want, dsn
    pool = site.subsystem("RVA1").pool
    ftds = [site.subsystem("RVA1").open_volume(v).ftd for v in ("RV0001", "RV0002")]
    used = np.concatenate([f[f != 0] for f in ftds]).astype(np.int64)
    counts = np.bincount(used, minlength=pool.nslots)
    assert np.array_equal(counts[1:], pool.refs[1:].astype(np.int64))  # no slot taken twice
    site.close()
    for v in ("RV0001", "RV0002"):
        code, out, err = _done(_cli("volume", "check", v, "--site", tmp_path / "site"))
        assert code == 0, (v, out, err)


def test_two_writers_of_one_source_under_a_relationship(tmp_path):
    """Both processes' first writes of the same tracks race for the copy-on-write (one
    is made to stop inside it while the other writes the track); the target must get
    the point-in-time image, never one of the writes."""
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=3)
    src = site.volume("SRC001", writable=True)
    for t in range(FIRST, FIRST + NTRK):
        cyl, head = src.cchh(t)
        src.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 0) * 500)], src.slot))
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY")
    site.close()
    go = tmp_path / "go"
    code = r"""
import os, struct, sys, time
import numpy as np
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001", writable=True)
first, n, me = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
imgs = {}
for t in range(first, first + n):
    cyl, head = vol.cchh(t)
    imgs[t] = np.frombuffer(trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, me) * 500)], vol.slot), np.uint8)
if me == 202:
    # widen the race: this process stops inside its first copy-on-write of the first
    # track (after its bit test), while the other process writes that track
    from dasdlab.emulator.bitmap import Bitmap
    class Slow(Bitmap):
        slept = False
        def _pause(self, hit):
            if hit and not Slow.slept:
                Slow.slept = True
                time.sleep(1.0)
        def test(self, t):
            self._pause(t == first)
            return super().test(t)
        def test_many(self, idx):
            self._pause(first in np.asarray(idx).tolist())
            return super().test_many(idx)
    vol.written = Slow(vol.written.nbits, vol.written.words)
while not os.path.exists(sys.argv[2]):
    pass
if me == 101:
    time.sleep(0.3)
for _ in range(30):
    for t in range(first, first + n):
        vol.write_track(t, imgs[t])
site.close()
"""
    procs = [_py(code, tmp_path / "site", go, FIRST, NTRK, me) for me in (101, 202)]
    time.sleep(1.0)
    go.touch()
    for p in procs:
        rc, _, err = _done(p)
        assert rc == 0, err
    site = Site.open(tmp_path / "site")
    tgt = site.volume("TGT001")
    assert [_decode(tgt.read_track(t)) for t in range(FIRST, FIRST + NTRK)] == \
        [(t, 0) for t in range(FIRST, FIRST + NTRK)]
    rel = site.subsystem("DS8K1").service("flashcopy").relationships()[0]
    q = rel.query()
    assert q["tracks_copied"] == NTRK and 1 <= q["cow_count"] <= NTRK  # each track copied once
    site.close()


def test_a_background_copy_sees_tracks_another_process_formatted(tmp_path):
    """A process that opened the source before another process formatted new tracks
    there runs the background copy of a relationship a third made: the new tracks are
    part of the point in time, not holes."""
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=3)
    site.close()
    ready, formatted, established = tmp_path / "ready", tmp_path / "formatted", tmp_path / "established"
    ticker = _py(r"""
import os, sys, time
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001")                      # its written map is built now
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.005)
site.tick(1.0)      # takes over the relationship (its modeled rate starts now)
site.tick(100.0)    # background copy, as a workload's clock does
print(site.subsystem("DS8K1").service("flashcopy").relationships()[0].query()["state"])
site.close()
""", tmp_path / "site", ready, established)
    _wait_for(ready)
    writer = _py(r"""
import struct, sys
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001", writable=True)
for t in range(20, 25):
    cyl, head = vol.cchh(t)
    vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 7) * 500)], vol.slot))
site.close()
""", tmp_path / "site")
    assert _done(writer)[0] == 0
    code, out, err = _done(_cli("flashcopy", "establish", "SRC001", "TGT001", "--site", tmp_path / "site",
                                "--mode", "COPY"))
    assert code == 0, err
    established.touch()
    code, out, err = _done(ticker)
    assert code == 0 and out.strip() == "COMPLETED", (out, err)
    site = Site.open(tmp_path / "site")
    tgt = site.volume("TGT001")
    assert [_decode(tgt.own_track(t)) for t in range(20, 25)] == [(t, 7) for t in range(20, 25)]
    site.close()


def test_a_writer_that_ticks_lets_a_verb_through(tmp_path):
    """A writer that only ticks its site for a while (as a workload between flushes, or
    an image copy waiting) gives the subsystem up at the tick; its next write is then
    intercepted by what the verb made."""
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1", cylinders=2)
    configure_pool(site, "DS8K1", lock_wait_s=5.0)
    site.close()
    ready, established = tmp_path / "ready", tmp_path / "established"
    holder = _py(r"""
import os, sys, time
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
site = Site.open(sys.argv[1])
vol = site.volume("SRC001", writable=True)
cyl, head = vol.cchh(16)
vol.write_track(16, trackfmt.build_track(cyl, head, [(1, b"", b"\x02" * 800)], vol.slot))
open(sys.argv[2], "w").close()
now = 0.0
while not os.path.exists(sys.argv[3]):
    now += 0.01
    site.tick(now)
    time.sleep(0.01)
vol.write_track(16, trackfmt.build_track(cyl, head, [(1, b"", b"\x03" * 800)], vol.slot))
print(site.subsystem("DS8K1").service("flashcopy").relationships()[0].query()["cow_count"])
site.close()
""", tmp_path / "site", ready, established)
    _wait_for(ready)
    t0 = time.monotonic()
    code, out, err = _done(_cli("flashcopy", "establish", "SRC001", "TGT001", "--site", tmp_path / "site",
                                "--mode", "NOCOPY"))
    assert code == 0, err
    assert time.monotonic() - t0 < 5.0  # not a timeout
    established.touch()
    code, out, err = _done(holder)
    assert code == 0 and out.strip() == "1", (out, err)
    site = Site.open(tmp_path / "site")
    img = np.asarray(site.volume("TGT001").read_track(16))
    rec1 = trackfmt.parse_track(bytes(img))[0]
    assert bytes(img[rec1.data_offset:rec1.data_offset + 800]) == b"\x02" * 800  # the point in time
    site.close()


@pytest.mark.parametrize("kind", ["flashcopy", "timefinder"])
def test_a_target_opened_before_another_process_copied_onto_it_reads_the_copies(tmp_path, kind):
    """A process that read target tracks as never written, before a relationship of
    another process copied onto them (and was withdrawn), reads the copies afterwards:
    its written map is not the file's."""
    sub = "DS8K1" if kind == "flashcopy" else "VMAX1"
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume(sub, v, "3390-1", cylinders=3)
    src = site.volume("SRC001", writable=True)
    for t in range(20, 25):
        cyl, head = src.cchh(t)
        src.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", struct.pack(">II", t, 5) * 500)], src.slot))
    site.close()
    ready, go = tmp_path / "ready", tmp_path / "go"
    reader = _py(r"""
import os, struct, sys, time
from dasdlab.emulator import trackfmt
from dasdlab.emulator.site import Site
def first_word(img):
    rec = trackfmt.parse_track(bytes(img))[0]
    return struct.unpack(">II", bytes(img[rec.data_offset:rec.data_offset + 8]))[0]
site = Site.open(sys.argv[1])
tgt = site.volume("TGT001")
before = [tgt.is_written(t) for t in range(19, 26)]   # never written, and known so
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.005)
after = []
for _ in range(2):                                    # the second pass reads what the first learned
    after.append([first_word(tgt.read_track(t)) if tgt.is_written(t) else None
                  for t in range(19, 26)])
print((before, after))
site.close()
""", tmp_path / "site", ready, go)
    _wait_for(ready)
    site = Site.open(tmp_path / "site")
    svc = site.subsystem(sub).service(kind)
    if kind == "flashcopy":
        rid = svc.establish("SRC001", "TGT001", mode="COPY").id
        svc.drain(rid)
        svc.withdraw(rid)
    else:
        s = svc.create("SRC001", "TGT001")
        svc.activate(s.id)
        svc.drain(s.id)
        svc.terminate(s.id)
    site.close()
    go.touch()
    code, out, err = _done(reader)
    assert code == 0, err
    want = [None, 20, 21, 22, 23, 24, None]
    assert out.strip() == str(([False] * 7, [want, want])), out
