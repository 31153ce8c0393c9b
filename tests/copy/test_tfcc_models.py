"""Stateful model tests (hypothesis): TimeFinder/Clone and Concurrent Copy against a
trivially correct model -- a full numpy copy of the source taken at the instant
(activation for a clone, initialisation for a CC session; restore copies the target
model back), updated by the same host writes.

Each step also checks the mechanism's invariant without disturbing it: a track still to
copy is still unchanged on the side it will be copied from, and a track no longer to
copy holds the expected image on the receiving side."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import encode_cchh
from dasdlab.emulator.services.concurrent_copy import CCState
from dasdlab.emulator.services.timefinder import BACKGROUND, NOT_READY, CloneState
from dasdlab.errors import CopyServiceError
from tests.copy.conftest import pattern_track

NT = 30  # two cylinders
S = CloneState
DATA0 = 21 + 8  # the data of record 1 of a pattern track


def roomy(img) -> bool:
    """True when record 1 of the track has the 4,000 data bytes of a pattern track, so a
    partial write at DATA0 + 3,040 at most stays inside record data (never a count)."""
    img = np.asarray(img)
    return trackfmt.is_formatted(img) and (int(img[27]) << 8 | int(img[28])) >= 4000


def at(img, t: int, heads: int = 15) -> np.ndarray:
    """``img`` as it reads at track ``t`` (a data-set-level copy relocates the CCHH)."""
    img = np.asarray(img)
    if not trackfmt.is_formatted(img) or bytes(img[1:5]) == encode_cchh(*divmod(t, heads)):
        return img
    out = img.copy()
    trackfmt.relocate_track(out, *divmod(t, heads))
    return out


_TEMPLATES: dict[tuple, Path] = {}


def new_site(sub: str, settings_: dict | None = None):
    """A private copy of a small site (made once per subsystem and settings): SRC001
    and TGT001 of 30 tracks, SRC001 with patterns on tracks 15..24."""
    from dasdlab.emulator.site import Site

    key = (sub, tuple(sorted((settings_ or {}).items())))
    if key not in _TEMPLATES:
        d = Path(tempfile.mkdtemp(prefix="dlbtemplate"))
        site = Site.init(d / "site")
        site.config["subsystems"][sub]["settings"].update(settings_ or {})
        site._write_config(site.config)
        site = Site.open(d / "site")
        for v in ("SRC001", "TGT001"):
            site.add_volume(sub, v, "3390-1", cylinders=NT // 15)
        src = site.volume("SRC001", writable=True)
        for t in range(15, 25):
            src.write_track(t, pattern_track(src, t, 1))
        site.close()
        _TEMPLATES[key] = d / "site"
        atexit.register(shutil.rmtree, d, True)
    d = Path(tempfile.mkdtemp(prefix="dlbmodel"))
    shutil.copytree(_TEMPLATES[key], d / "site")
    return d, Site.open(d / "site")


MODEL_SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ====================================================================== TimeFinder/Clone


class CloneModel(RuleBasedStateMachine):
    """One clone session SRC001 -> TGT001, full volume or a relocated data-set-level
    domain, in a random mode, through create, activate, recreate, restore, drain, tick,
    host reads and writes on both sides, and reopening the site (a second process)."""

    @initialize(mode=st.sampled_from(["COPY", "NOCOPY", "PRECOPY"]), diff=st.booleans(),
                relocated=st.booleans(), copied=st.booleans())
    def setup(self, mode, diff, relocated, copied):
        self.dir, self.site = new_site("VMAX1", {"clone_background_tracks_per_s": 4.0})
        self.src_runs = [(12, 20), (22, 26)] if relocated else None
        self.dst_runs = [(2, 14)] if relocated else None
        self.diff = diff and mode != "NOCOPY"
        self.tf = self.site.subsystem("VMAX1").service("timefinder")
        self.s = self.tf.create("SRC001", "TGT001", self.src_runs, self.dst_runs, mode, self.diff)
        tm = self.s.tmap
        self.src_t = tm.src(np.arange(tm.n)).tolist()
        self.dst_t = tm.dst(np.arange(tm.n)).tolist()
        self.msrc = np.stack([np.array(self.vol("SRC001").read_track(t)) for t in range(NT)])
        self.mtgt: list[np.ndarray] | None = None  # per relative track, at the source address
        self.now = 0.0
        note(f"mode={mode} differential={self.diff} relocated={relocated} copied={copied}")
        if copied:  # start some runs at COPIED, where recreate and restore begin
            self.activate()
            self.tf.drain(self.s.id)

    def teardown(self):
        if hasattr(self, "site"):
            self.site.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def vol(self, v):
        return self.site.volume(v, writable=True)

    @property
    def ready(self) -> bool:
        return self.s.state not in NOT_READY

    # -- host I/O ------------------------------------------------------------------
    @rule(t=st.integers(1, NT - 1), seed=st.integers(2, 9))
    def write_source(self, t, seed):
        src = self.vol("SRC001")
        img = pattern_track(src, t, seed)
        src.write_track(t, img)
        self.msrc[t] = np.frombuffer(bytes(img), np.uint8)

    @rule(t=st.integers(1, NT - 1), off=st.integers(0, 3000), b=st.integers(0, 255))
    def write_source_partial(self, t, off, b):
        assume(roomy(self.msrc[t]))
        self.vol("SRC001").write_bytes(t, DATA0 + off, bytes([b]) * 16)
        self.msrc[t, DATA0 + off:DATA0 + off + 16] = b

    @rule(i=st.integers(0, 11), seed=st.integers(2, 9), partial=st.booleans())
    def write_target(self, i, seed, partial):
        i %= len(self.dst_t)
        t = self.dst_t[i]
        tgt = self.vol("TGT001")
        if not self.ready:
            try:
                tgt.write_track(t, pattern_track(tgt, t, seed))
            except CopyServiceError as e:
                assert e.msgid == "DLB370E"
            else:
                raise AssertionError("a Not Ready target accepted a write")
            return
        if partial:
            assume(roomy(self.mtgt[i]))
            tgt.write_bytes(t, DATA0 + 7, bytes([seed]) * 32)
            self.mtgt[i][DATA0 + 7:DATA0 + 39] = seed
        else:
            tgt.write_track(t, pattern_track(tgt, t, seed))
            self.mtgt[i] = at(pattern_track(tgt, t, seed), self.src_t[i])

    @rule(i=st.integers(0, 29))
    def read_target(self, i):
        i %= len(self.dst_t)
        t = self.dst_t[i]
        if not self.ready:
            try:
                self.vol("TGT001").read_track(t)
            except CopyServiceError as e:
                assert e.msgid == "DLB370E"
            else:
                raise AssertionError("a Not Ready target was read")
            return
        assert np.array_equal(np.asarray(self.vol("TGT001").read_track(t)), at(self.mtgt[i], t))

    @rule(t=st.integers(0, NT - 1))
    def read_source(self, t):
        assert np.array_equal(np.asarray(self.vol("SRC001").read_track(t)), self.msrc[t])

    # -- verbs ---------------------------------------------------------------------
    @precondition(lambda self: self.s.state in NOT_READY)
    @rule()
    def activate(self):
        self.tf.activate(self.s.id)
        self.mtgt = [self.msrc[t].copy() for t in self.src_t]

    @precondition(lambda self: self.s.can("recreate"))
    @rule()
    def recreate(self):
        self.tf.recreate(self.s.id)
        self.mtgt = None

    @precondition(lambda self: self.s.can("restore") and self.diff)
    @rule()
    def restore(self):
        self.tf.restore(self.s.id)
        for i, t in enumerate(self.src_t):
            self.msrc[t] = at(self.mtgt[i], t)

    @precondition(lambda self: self.s.can("drain"))
    @rule()
    def drain(self):
        self.tf.drain(self.s.id)
        if self.s.state not in NOT_READY:
            assert self.s.state in (S.COPIED, S.RESTORED)

    @rule(dt=st.sampled_from([0.25, 1.0, 3.0]))
    def tick(self, dt):
        self.now += dt
        self.site.tick(self.now)

    @rule()
    def reopen(self):
        """A second process: close the site and open it again."""
        from dasdlab.emulator.site import Site

        sid = self.s.id
        self.site.close()
        self.site = Site.open(self.dir / "site")
        self.vol("SRC001")  # the first volume loads the service
        self.tf = self.site.subsystem("VMAX1").service("timefinder")
        self.s = self.tf.session(sid)
        self.now = 0.0

    # -- the invariant -------------------------------------------------------------
    @invariant()
    def images_are_where_the_bitmap_says(self):
        if not hasattr(self, "s"):
            return
        s = self.s
        src, tgt = self.vol("SRC001"), self.vol("TGT001")
        pending = s.pending.test_many(np.arange(s.ntracks))
        for i, (ts, td) in enumerate(zip(self.src_t, self.dst_t)):
            s_own, t_own = np.asarray(src.own_track(ts)), np.asarray(tgt.own_track(td))
            if s.state in NOT_READY:
                # not yet frozen: a track no longer to copy already equals the source
                if not pending[i]:
                    assert np.array_equal(t_own, at(s_own, td)), (i, s.state)
                assert np.array_equal(s_own, self.msrc[ts])
            elif s.direction == "forward":
                assert np.array_equal(s_own if pending[i] else t_own,
                                      at(self.mtgt[i], ts if pending[i] else td)), (i, s.state)
                assert np.array_equal(s_own, self.msrc[ts])
            else:
                want = self.msrc[ts]
                assert np.array_equal(t_own if pending[i] else s_own,
                                      at(want, td if pending[i] else ts)), (i, s.state)
        if s.state not in BACKGROUND and s.state not in (S.COPY_ON_ACCESS,):
            assert s.state in NOT_READY or not pending.any()


TestCloneModel = CloneModel.TestCase
TestCloneModel.settings = MODEL_SETTINGS


# ====================================================================== Concurrent Copy


class CCModel(RuleBasedStateMachine):
    """Up to three sessions on SRC001 with random domains, a small cache (so that the
    controller cancels sessions), host writes, SDM ticks and drains, dump reads."""

    @initialize(cache_tracks=st.sampled_from([3, 5, 1000]), drain_rate=st.sampled_from([0.0, 2.0, 50.0]))
    def setup(self, cache_tracks, drain_rate):
        tb = 56_664
        self.dir, self.site = new_site("DS8K1", {"cache_bytes": cache_tracks * tb,
                                                 "cc_drain_tracks_per_s": drain_rate,
                                                 "host_sidefile_bytes": 4 * tb,
                                                 "sdm_aux_storage_bytes": 8 * tb})
        self.cc = self.site.subsystem("DS8K1").service("concurrent_copy")
        self.src = self.site.volume("SRC001", writable=True)
        self.msrc = np.stack([np.array(self.src.read_track(t)) for t in range(NT)])
        self.sessions = []  # (session, {track: image at initialisation})
        self.now = 0.0
        self.half = cache_tracks * tb / 2

    def teardown(self):
        if hasattr(self, "site"):
            self.site.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @precondition(lambda self: len(self.sessions) < 3)
    @rule(a=st.integers(0, NT - 2), n=st.integers(1, 12), b=st.integers(0, NT - 2), m=st.integers(0, 6))
    def start(self, a, n, b, m):
        runs = [(a, min(a + n, NT))]
        if m and (b >= runs[0][1] or b + m <= a):
            runs.append((b, min(b + m, NT)))
            assume(runs[1][0] >= runs[0][1] or runs[1][1] <= runs[0][0])
        events = []
        s = self.cc.start("SRC001", runs, on_init_complete=events.append)
        assert events[0].rc == 0
        pit = {t: self.msrc[t].copy() for a0, b0 in runs for t in range(a0, b0)}
        self.sessions.append((s, pit))

    @rule(t=st.integers(1, NT - 1), seed=st.integers(2, 9))
    def write(self, t, seed):
        img = pattern_track(self.src, t, seed)
        self.src.write_track(t, img)
        self.msrc[t] = np.frombuffer(bytes(img), np.uint8)

    @rule(t=st.integers(1, NT - 1), off=st.integers(0, 3000), b=st.integers(0, 255))
    def write_partial(self, t, off, b):
        assume(roomy(self.msrc[t]))
        self.src.write_bytes(t, DATA0 + off, bytes([b]) * 8)
        self.msrc[t, DATA0 + off:DATA0 + off + 8] = b

    @precondition(lambda self: self.sessions)
    @rule(k=st.integers(0, 2), j=st.integers(0, 40))
    def read(self, k, j):
        s, pit = self.sessions[k % len(self.sessions)]
        tracks = sorted(pit)
        t = tracks[j % len(tracks)]
        unread = s.state is CCState.ACTIVE and s.unread.test(s.tmap.rel_of_src1(t))
        try:
            img = s.read_track(t)
        except CopyServiceError as e:
            if s.state is CCState.CANCELLED:
                assert e.msgid == "DLB363E"
            else:
                assert e.msgid == "DLB364E" and not unread
            return
        assert unread
        assert np.array_equal(img, pit[t]), t

    @precondition(lambda self: self.sessions)
    @rule(k=st.integers(0, 2))
    def end(self, k):
        s, _ = self.sessions[k % len(self.sessions)]
        s.end()
        assert s.state is not CCState.ACTIVE

    @rule(dt=st.sampled_from([0.5, 1.0, 4.0]))
    def tick(self, dt):
        self.now += dt
        self.site.tick(self.now)

    @rule()
    def drain(self):
        self.cc.drain()

    @invariant()
    def sidefiles_hold_the_point_in_time(self):
        if not hasattr(self, "cc"):
            return
        cache = 0
        for s, pit in self.sessions:
            if s.state is not CCState.ACTIVE:
                assert not s.cache and not s.host
                continue
            cache += len(s.cache) * s.track_bytes
            assert not (set(s.cache) & set(s.host))
            for t, want in pit.items():
                r = s.tmap.rel_of_src1(t)
                if not s.unread.test(r):
                    continue
                if s.saved.test(r):
                    got = s.sidefile_image(r)
                    assert got is not None and np.array_equal(got, want), t
                else:
                    assert np.array_equal(np.asarray(self.src.own_track(t)), want), t
        assert cache <= self.half


TestCCModel = CCModel.TestCase
TestCCModel.settings = MODEL_SETTINGS
