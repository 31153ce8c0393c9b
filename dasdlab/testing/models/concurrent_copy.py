"""Concurrent Copy against a full-copy model: per session, a numpy copy of its domain
taken at initialisation; host writes change only the source's model.  Up to three
sessions on SRC001 with random domains, a small cache (so that the controller cancels
sessions, DLB363E), host writes, SDM ticks and drains, dump reads (each track once,
DLB364E after), session ends.  After every step each unread track of an active
session is either in its sidefile with the point-in-time image or unchanged on the
source, and the cache sidefiles stay within half the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dasdlab.emulator.geometry import model as device_model
from dasdlab.errors import CopyServiceError
from dasdlab.testing.models import pattern_track
from dasdlab.testing.models._site import small_site
from dasdlab.testing.models.timefinder import DATA0, NT, roomy

EXAMPLES = 25
STEPS = 30


def machine(subject, root: Path):
    from hypothesis import assume
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

    from dasdlab.emulator.services.concurrent_copy import CCState

    tb = device_model("3390-1").track_length  # the sidefile budgets, in tracks of it

    class CCModel(RuleBasedStateMachine):
        @initialize(cache_tracks=st.sampled_from([3, 5, 1000]), drain_rate=st.sampled_from([0.0, 2.0, 50.0]))
        def setup(self, cache_tracks, drain_rate):
            self.dir, self.site = small_site(subject, root, settings={
                "cache_bytes": cache_tracks * tb, "cc_drain_tracks_per_s": drain_rate,
                "host_sidefile_bytes": 4 * tb, "sdm_aux_storage_bytes": 8 * tb})
            self.cc = subject.service(self.site)
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
            assert events[0].rc == 0, events
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
                    assert e.msgid == "DLB363E", e
                else:
                    assert e.msgid == "DLB364E" and not unread, e
                return
            assert unread, f"track {t} was read twice"
            assert np.array_equal(img, pit[t]), f"session read of track {t} is not the point-in-time image"

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
            assert cache <= self.half, (cache, self.half)

    return CCModel
