"""The one write path: every host operation of a volume reaches the copy services'
copy-before-write intercepts first, whatever service protects the volume.

The truth is a copy of the source taken at the point in time; after each host
operation the point-in-time view (FlashCopy target, Concurrent Copy session, SnapShot
target, TimeFinder/Clone target) must still equal it, and the source must read as the
operation left it (checked against the same operation applied to a plain copy)."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.cli.main import run as cli
from dasdlab.emulator import trackfmt
from dasdlab.emulator.dataset import Dataset
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site

CYL = 4  # 60 tracks: every track is compared after every operation


def pattern(vol, t: int, seed: int) -> bytes:
    cyl, head = vol.cchh(t)
    rng = np.random.default_rng([t, seed])
    return trackfmt.build_track(cyl, head, [(r, b"", rng.integers(0, 256, 4000, np.uint8).tobytes())
                                            for r in (1, 2, 3)], vol.slot)


def view(vol, tracks) -> np.ndarray:
    return np.stack([np.array(vol.read_track(t)) for t in tracks])


# ---------------------------------------------------------------------- the reproduction
def test_dss_copy_replace_onto_a_flashcopy_source_keeps_the_target_point_in_time(tmp_path, capsys):
    """COPY DATASET ... REPLACE discards the replaced data set's surplus tracks on a
    FlashCopy NOCOPY source: those discards must be copied-before-write like writes."""
    site = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        site.add_volume("DS8K1", v, "3390-1")
    site.allocate("A.DATA", "SRC001", recfm="FB", lrecl=80, blksize=3120, unit="TRK", primary=5)
    site.allocate("B.DATA", "SRC001", recfm="FB", lrecl=80, blksize=3120, unit="TRK", primary=5)
    src = site.volume("SRC001", writable=True)
    per_track = src.geometry.records_per_track(0, 3120)
    rng = np.random.default_rng(9)
    Dataset(src, "A.DATA").write(rng.integers(65, 90, (4 * per_track - 1) * 3120, np.uint8).tobytes())
    Dataset(src, "B.DATA").write(rng.integers(97, 122, 10 * 3120, np.uint8).tobytes())
    a_tracks = [t for a, b in src.vtoc.get("A.DATA").track_list(src.heads) for t in range(a, b)]
    b_tracks = [t for a, b in src.vtoc.get("B.DATA").track_list(src.heads) for t in range(a, b)]
    assert [src.is_written(t) for t in a_tracks] == [True] * 4 + [False]
    assert [src.is_written(t) for t in b_tracks] == [True] + [False] * 4
    site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode="NOCOPY")
    truth = view(src, a_tracks)  # A.DATA at the point in time
    site.close()

    code = cli(["dss", "--site", str(tmp_path / "site"),
                "COPY DATASET(INCLUDE(B.DATA)) RENAMEU((B.DATA,A.DATA)) REPLACE OUTDYNAM(SRC001) "
                "FASTREPLICATION(NONE)"])
    out = capsys.readouterr()
    assert code == 0, out.err

    site = Site.open(tmp_path / "site")
    src, tgt = site.volume("SRC001"), site.volume("TGT001")
    # the source did change: B.DATA's one track, and the other tracks are discarded
    assert [src.is_written(t) for t in a_tracks] == [True] + [False] * 4
    assert np.array_equal(view(tgt, a_tracks), truth)
    site.close()


# ---------------------------------------------------------------------- operation x service
TRACKS = list(range(15, 40))  # formatted before the point in time; 40.. never written
PROTECTED = (15, 60)


def _op_write(vol):
    for t in (16, 17, 45):  # formatted and never-written tracks
        vol.write_track(t, pattern(vol, t, 7))


def _op_format(vol):
    vol.format_track(18, [(1, b"", b"\x42" * 200)])
    vol.format_track(50, [(1, b"", b"\x43" * 200)])


def _op_update(vol):
    vol.write_bytes(20, trackfmt.TRACK_HEADER_LEN + 8, b"\xee" * 100)


def _op_update_record(vol):
    vol.update_record(*vol.cchh(21), 2, b"\x5a" * 4000)


def _op_write_many(vol):
    tracks = np.array([22, 23, 23, 24], np.int64)
    offs = np.full(4, trackfmt.TRACK_HEADER_LEN + 8, np.int64)
    vol.write_many(tracks, offs, np.full((4, 64), 0x77, np.uint8))


def _op_discard(vol):
    vol.discard_track(25)


def _op_discard_range(vol):
    vol.discard_tracks(np.arange(26, 42))  # formatted ones and never-written ones


OPS = {"write_track": _op_write, "format_track": _op_format, "write_bytes": _op_update,
       "update_record": _op_update_record, "write_many": _op_write_many, "discard_track": _op_discard,
       "discard_tracks": _op_discard_range}


class _Service:
    """How to make a point-in-time copy of SRC001 on TGT001 with one service, and how to read it."""

    subsystem = "DS8K1"

    def make(self, site):
        raise NotImplementedError

    def read(self, site, t: int) -> np.ndarray:
        raise NotImplementedError


class _FlashCopy(_Service):
    def __init__(self, mode):
        self.mode = mode

    def make(self, site):
        site.subsystem("DS8K1").service("flashcopy").establish("SRC001", "TGT001", mode=self.mode)

    def read(self, site, t):
        return np.array(site.volume("TGT001").read_track(t))


class _ConcurrentCopy(_Service):
    def make(self, site):
        self.sess = site.subsystem("DS8K1").service("concurrent_copy").start("SRC001", [PROTECTED])

    def read(self, site, t):
        return np.array(self.sess.read_track(t))


class _SnapShot(_Service):
    subsystem = "RVA1"

    def make(self, site):
        site.subsystem("RVA1").service("snapshot").snap("SRC001", "TGT001", keep_volser=True)

    def read(self, site, t):
        return np.array(site.volume("TGT001").read_track(t))


class _Clone(_Service):
    subsystem = "VMAX1"

    def make(self, site):
        tf = site.subsystem("VMAX1").service("timefinder")
        s = tf.create("SRC001", "TGT001", mode="NOCOPY")
        tf.activate(s.id)

    def read(self, site, t):
        return np.array(site.volume("TGT001").read_track(t))


SERVICES = {"flashcopy-copy": _FlashCopy("COPY"), "flashcopy-nocopy": _FlashCopy("NOCOPY"),
            "concurrent-copy": _ConcurrentCopy(), "snapshot": _SnapShot(), "clone": _Clone()}


def _site(tmp_path, sub: str) -> Site:
    site = Site.init(tmp_path / "site")
    if sub == "RVA1":
        configure_pool(site, "RVA1", pool_slots=2000)
    for v in ("SRC001", "TGT001", "PLN001"):
        site.add_volume(sub, v, "3390-1", cylinders=CYL)
    return site


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("svc_name", list(SERVICES))
def test_every_host_operation_keeps_every_point_in_time_view(tmp_path, op, svc_name):
    svc = SERVICES[svc_name]
    site = _site(tmp_path, svc.subsystem)
    src = site.volume("SRC001", writable=True)
    plain = site.volume("PLN001", writable=True)  # the same operations, no copy service
    for t in TRACKS:
        src.write_track(t, pattern(src, t, 1))
        plain.write_track(t, pattern(plain, t, 1))
    svc.make(site)
    truth = view(src, range(*PROTECTED))  # the point in time
    OPS[op](src)
    OPS[op](plain)
    pit = np.stack([svc.read(site, t) for t in range(*PROTECTED)])
    for i, t in enumerate(range(*PROTECTED)):
        assert trackfmt.is_formatted(truth[i]) == trackfmt.is_formatted(pit[i]), (op, t)
        assert np.array_equal(_data(pit[i]), _data(truth[i])), (op, svc_name, t)
    after = view(src, range(*PROTECTED))
    expect = view(plain, range(*PROTECTED))
    assert [_data(a) for a in after] == [_data(b) for b in expect]  # the write did land
    assert not np.array_equal(after, truth)
    site.close()


def _data(img) -> bytes:
    """The user records' data (a clone or snap target may carry its own addresses)."""
    img = np.asarray(img)
    if not trackfmt.is_formatted(img):
        return b""
    b = bytes(img)
    return b"".join(b[r.key_offset:r.end] for r in trackfmt.parse_track(b))
