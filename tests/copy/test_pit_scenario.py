"""One point-in-time scenario, run for every copy mechanism (QEMU's image-fleecing
recipe, ``docs/conventions.md`` item 8).

A data set of 12 tracks gets known patterns on tracks 0..7 (8..11 are never written);
a point-in-time copy is made; then the source is overwritten fully, partly at the
left and right ends of a record, across a track boundary (a batch of two tracks), twice
on one track, and a never-written track is formatted, with some physical copy
progress in between.  The frozen view must still show the old patterns (and nothing
where nothing was written); the live view must show the new data; after teardown the
source is unchanged and, where the mechanism promises it, the copy holds the old
patterns on its own.

**Adding a mechanism.**  Subclass :class:`PitMechanism` (override what differs: the
subsystem and volumes in ``setup``, ``establish``, ``frozen``, ``background``,
``teardown``, ``after_teardown``) and decorate it with ``@register("name")``.  Views
are compared by records (R, key, data), so a copy at other addresses compares equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from tests.copy.conftest import records

NTRACKS = 12
WRITTEN = range(8)


@dataclass
class PitCase:
    """What a mechanism set up: the site, the source volume (writable, host writes go
    through its subsystem's write path) and the data set's absolute tracks on it."""

    site: object
    src: object
    tracks: list[int]
    extra: dict = field(default_factory=dict)


class PitMechanism:
    """Adapter between the scenario and one copy mechanism (defaults: a DS8000-like
    subsystem DS8K1 with source SRC001 and target TGT001)."""

    subsystem = "DS8K1"
    volumes = ("SRC001", "TGT001")

    def setup(self, tmp_path) -> PitCase:
        from dasdlab.emulator.site import Site

        site = Site.init(tmp_path / "site")
        for v in self.volumes:
            site.add_volume(self.subsystem, v, "3390-1", cylinders=4)
        site.allocate("PIT.DATA", self.volumes[0], lrecl=4000, blksize=4000, primary=NTRACKS)
        src = site.volume(self.volumes[0], writable=True)
        tracks = [t for a, b in src.vtoc.get("PIT.DATA").track_list(src.heads) for t in range(a, b)]
        return PitCase(site, src, tracks)

    def establish(self, case: PitCase) -> None:
        raise NotImplementedError

    def frozen(self, case: PitCase, i: int) -> np.ndarray:
        """The image of data-set track ``i`` as the point-in-time view shows it."""
        raise NotImplementedError

    def background(self, case: PitCase, tracks: int) -> None:
        """Let about ``tracks`` tracks of physical copy happen (no-op by default)."""

    def teardown(self, case: PitCase) -> None:
        raise NotImplementedError

    def after_teardown(self, case: PitCase, i: int) -> np.ndarray | None:
        """What the copy holds for track ``i`` once torn down; None if unpredictable."""
        return None


MECHANISMS: dict[str, Callable[[], PitMechanism]] = {}


def register(name: str):
    def deco(cls):
        MECHANISMS[name] = cls
        return cls
    return deco


# ---------------------------------------------------------------------- FlashCopy
class _FlashCopy(PitMechanism):
    mode = "COPY"
    dataset_level = False

    def _fc(self, case):
        return case.site.subsystem(self.subsystem).service("flashcopy")

    def setup(self, tmp_path) -> PitCase:
        case = super().setup(tmp_path)
        case.site.subsystem(self.subsystem).settings["fc_background_tracks_per_s"] = 1.0
        tgt = case.site.volume("TGT001", writable=True)
        if self.dataset_level:
            case.site.allocate("PAD.DATA", "TGT001", lrecl=80, blksize=800, primary=5)
            case.site.allocate("PIT.COPY", "TGT001", lrecl=4000, blksize=4000, primary=NTRACKS)
            case.extra["dst"] = [t for a, b in tgt.vtoc.get("PIT.COPY").track_list(tgt.heads)
                                 for t in range(a, b)]
            assert case.extra["dst"][0] != case.tracks[0]
        else:
            case.extra["dst"] = list(case.tracks)
        case.extra["tgt"] = tgt
        case.extra["now"] = 0.0
        return case

    def establish(self, case):
        runs = (None, None)
        if self.dataset_level:
            runs = ([(case.tracks[0], case.tracks[-1] + 1)], [(case.extra["dst"][0], case.extra["dst"][-1] + 1)])
        case.extra["rel"] = self._fc(case).establish("SRC001", "TGT001", *runs, mode=self.mode)

    def frozen(self, case, i):
        return case.extra["tgt"].read_track(case.extra["dst"][i])

    def background(self, case, tracks):
        case.extra["now"] += tracks
        case.site.tick(case.extra["now"])

    def teardown(self, case):
        fc = self._fc(case)
        rel = case.extra["rel"]
        if self.mode == "COPY":
            fc.drain(rel.id)
        fc.withdraw(rel.id)

    def after_teardown(self, case, i):
        if self.mode != "COPY":
            return None  # NOCOPY targets are unpredictable after a withdraw (S53)
        return case.extra["tgt"].read_track(case.extra["dst"][i])


@register("flashcopy-volume-COPY")
class FlashCopyVolumeCopy(_FlashCopy):
    pass


@register("flashcopy-volume-NOCOPY")
class FlashCopyVolumeNocopy(_FlashCopy):
    mode = "NOCOPY"


@register("flashcopy-dataset-COPY")
class FlashCopyDatasetCopy(_FlashCopy):
    dataset_level = True


@register("flashcopy-dataset-NOCOPY")
class FlashCopyDatasetNocopy(_FlashCopy):
    mode = "NOCOPY"
    dataset_level = True


# ---------------------------------------------------------------------- SnapShot
@register("snapshot-volume")
class SnapShotVolume(PitMechanism):
    """A full-volume snap on an RVA-like subsystem (logically and physically complete
    at once; the target keeps its data after the record is released)."""

    subsystem = "RVA1"
    dataset_level = False

    def setup(self, tmp_path) -> PitCase:
        case = super().setup(tmp_path)
        tgt = case.site.volume("TGT001", writable=True)
        case.extra["dst"] = list(case.tracks)
        if self.dataset_level:
            case.site.allocate("PAD.DATA", "TGT001", lrecl=80, blksize=800, primary=5)
            case.site.allocate("PIT.COPY", "TGT001", lrecl=4000, blksize=4000, primary=NTRACKS)
            case.extra["dst"] = [t for a, b in tgt.vtoc.get("PIT.COPY").track_list(tgt.heads) for t in range(a, b)]
        case.extra["tgt"] = tgt
        return case

    def establish(self, case):
        runs = (None, None)
        if self.dataset_level:
            runs = ([(case.tracks[0], case.tracks[-1] + 1)], [(case.extra["dst"][0], case.extra["dst"][-1] + 1)])
        svc = case.site.subsystem("RVA1").service("snapshot")
        case.extra["snap"] = svc.snap("SRC001", "TGT001", *runs)["id"]

    def frozen(self, case, i):
        return case.extra["tgt"].read_track(case.extra["dst"][i])

    def teardown(self, case):
        case.site.subsystem("RVA1").service("snapshot").release(case.extra["snap"])

    def after_teardown(self, case, i):
        return case.extra["tgt"].read_track(case.extra["dst"][i])


@register("snapshot-dataset")
class SnapShotDataset(SnapShotVolume):
    dataset_level = True


# ---------------------------------------------------------------------- TimeFinder/Clone
class _Clone(PitMechanism):
    """A clone on a Symmetrix-like subsystem: create + activate, drain + terminate."""

    subsystem = "VMAX1"
    mode = "COPY"
    dataset_level = False

    def setup(self, tmp_path) -> PitCase:
        case = super().setup(tmp_path)
        case.site.subsystem("VMAX1").settings["clone_background_tracks_per_s"] = 1.0
        tgt = case.site.volume("TGT001", writable=True)
        case.extra["dst"] = list(case.tracks)
        if self.dataset_level:
            case.site.allocate("PAD.DATA", "TGT001", lrecl=80, blksize=800, primary=5)
            case.site.allocate("PIT.COPY", "TGT001", lrecl=4000, blksize=4000, primary=NTRACKS)
            case.extra["dst"] = [t for a, b in tgt.vtoc.get("PIT.COPY").track_list(tgt.heads) for t in range(a, b)]
        case.extra.update(tgt=tgt, now=0.0)
        return case

    def establish(self, case):
        runs = (None, None)
        if self.dataset_level:
            runs = ([(case.tracks[0], case.tracks[-1] + 1)], [(case.extra["dst"][0], case.extra["dst"][-1] + 1)])
        tf = case.site.subsystem("VMAX1").service("timefinder")
        case.extra["s"] = s = tf.create("SRC001", "TGT001", *runs, mode=self.mode)
        tf.activate(s.id)

    def frozen(self, case, i):
        return case.extra["tgt"].read_track(case.extra["dst"][i])

    def background(self, case, tracks):
        case.extra["now"] += tracks
        case.site.tick(case.extra["now"])

    def teardown(self, case):
        tf = case.site.subsystem("VMAX1").service("timefinder")
        tf.drain(case.extra["s"].id)
        tf.terminate(case.extra["s"].id)

    def after_teardown(self, case, i):
        return case.extra["tgt"].read_track(case.extra["dst"][i])


@register("timefinder-volume-COPY")
class CloneVolumeCopy(_Clone):
    pass


@register("timefinder-volume-NOCOPY")
class CloneVolumeCopyOnAccess(_Clone):
    mode = "NOCOPY"


@register("timefinder-dataset-PRECOPY")
class CloneDatasetPrecopy(_Clone):
    mode = "PRECOPY"
    dataset_level = True


# ---------------------------------------------------------------------- Concurrent Copy
class _ConcurrentCopy(PitMechanism):
    """A DSS dump with CONCURRENT: the frozen view is what the dump reads (each track
    once); teardown ends the session; the dump's output is what it read."""

    virtual: bool | str = False

    def setup(self, tmp_path) -> PitCase:
        case = super().setup(tmp_path)
        case.site.subsystem(self.subsystem).settings["cc_drain_tracks_per_s"] = 1.0
        case.extra.update(now=0.0, dumped={})
        return case

    def establish(self, case):
        cc = case.site.subsystem(self.subsystem).service("concurrent_copy")
        runs = [(case.tracks[0], case.tracks[-1] + 1)]
        case.extra["s"] = cc.start("SRC001", runs, virtual=self.virtual)
        assert case.extra["s"].method == ("cache" if not self.virtual else f"virtual-{self.mechanism}")

    def frozen(self, case, i):
        img = case.extra["s"].read_track(case.tracks[i])
        case.extra["dumped"][i] = img
        return img

    def background(self, case, tracks):
        case.extra["now"] += tracks
        case.site.tick(case.extra["now"])

    def teardown(self, case):
        case.extra["s"].end()

    def after_teardown(self, case, i):
        return case.extra["dumped"][i]


@register("concurrent-copy-cache")
class ConcurrentCopyCache(_ConcurrentCopy):
    pass


@register("concurrent-copy-virtual-flashcopy")
class ConcurrentCopyVirtualFlash(_ConcurrentCopy):
    virtual = "require"
    mechanism = "flashcopy"


@register("concurrent-copy-virtual-snapshot")
class ConcurrentCopyVirtualSnap(_ConcurrentCopy):
    subsystem = "RVA1"
    virtual = "require"
    mechanism = "snapshot"


# ---------------------------------------------------------------------- the scenario
def _pattern(vol, t: int, seed: int) -> np.ndarray:
    cyl, head = vol.cchh(t)
    rng = np.random.default_rng([t, seed])
    recs = [(r + 1, b"", rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()) for r in range(3)]
    return np.frombuffer(trackfmt.build_track(cyl, head, recs, vol.slot), np.uint8).copy()


@pytest.mark.parametrize("name", sorted(MECHANISMS))
def test_point_in_time_view(tmp_path, name):
    mech = MECHANISMS[name]()
    case = mech.setup(tmp_path)
    src, T = case.src, case.tracks
    for i in WRITTEN:
        src.write_track(T[i], _pattern(src, T[i], 1))
    for i in range(8, NTRACKS):
        if src.written.test(T[i]):
            src.discard_track(T[i])  # the allocation's EOF record: make it never written
    initial = [records(src.read_track(t)) for t in T]
    assert initial[8:] == [[]] * (NTRACKS - 8)
    live = [np.array(src.read_track(t)) for t in T]

    mech.establish(case)

    def write(i: int, img: np.ndarray) -> None:
        src.write_track(T[i], img)
        live[i] = img.copy()

    def update(i: int, off: int, data: bytes) -> None:
        src.write_bytes(T[i], off, data)
        live[i][off:off + len(data)] = np.frombuffer(data, np.uint8)

    recs = {i: trackfmt.parse_track(bytes(live[i])) for i in WRITTEN}
    write(1, _pattern(src, T[1], 2))                                  # full overwrite
    update(2, recs[2][0].data_offset, b"\x11" * 100)                  # partial, left end
    mech.background(case, 3)
    last = recs[3][-1]
    update(3, last.end - 100, b"\x22" * 100)                          # partial, right end
    a, b = recs[4][-1], recs[5][0]                                    # across a track boundary
    src.write_many(np.array([T[4], T[5]]), np.array([a.end - 64, b.data_offset]),
                   np.full((2, 64), 0x33, np.uint8))
    live[4][a.end - 64:a.end] = 0x33
    live[5][b.data_offset:b.data_offset + 64] = 0x33
    mech.background(case, 2)
    write(6, _pattern(src, T[6], 3))                                  # twice on one track
    write(6, _pattern(src, T[6], 4))
    write(9, _pattern(src, T[9], 5))                                  # a never-written track

    frozen = [records(mech.frozen(case, i)) for i in range(NTRACKS)]
    assert frozen == initial, f"{name}: frozen view changed"
    assert [records(src.read_track(t)) for t in T] == [records(x) for x in live]

    mech.teardown(case)
    assert [records(src.read_track(t)) for t in T] == [records(x) for x in live]
    for i in range(NTRACKS):
        got = mech.after_teardown(case, i)
        if got is not None:
            assert records(got) == initial[i], f"{name}: copy track {i} after teardown"
    case.site.close()
