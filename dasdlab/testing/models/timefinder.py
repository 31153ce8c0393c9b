"""TimeFinder/Clone against a full-copy model: a numpy copy of the source taken at
activation (a restore copies the target's model back), changed by the same host
writes.  One session SRC001 -> TGT001, full volume or a relocated data-set-level
domain, in a random mode, through create, activate, recreate, restore, drain, ticks,
host reads and writes on both sides and reopening the site (a second process).

Each step also checks the mechanism's invariant without disturbing it: a track still
to copy is still unchanged on the side it will be copied from, and a track no longer
to copy holds the expected image on the receiving side."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import encode_cchh
from dasdlab.errors import CopyServiceError
from dasdlab.testing.models import pattern_track
from dasdlab.testing.models._site import small_site

EXAMPLES = 25
STEPS = 30
NT = 30  # two cylinders
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


def machine(subject, root: Path):
    from hypothesis import assume, note
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

    from dasdlab.emulator.services.timefinder import BACKGROUND, NOT_READY, CloneState

    S = CloneState

    def refused_not_ready(call, what: str) -> None:
        try:
            call()
        except CopyServiceError as e:
            assert e.msgid == "DLB370E", e
        else:
            raise AssertionError(f"a Not Ready target accepted a {what}")

    class CloneModel(RuleBasedStateMachine):
        @initialize(mode=st.sampled_from(["COPY", "NOCOPY", "PRECOPY"]), diff=st.booleans(),
                    relocated=st.booleans(), copied=st.booleans())
        def setup(self, mode, diff, relocated, copied):
            self.dir, self.site = small_site(subject, root, settings={"clone_background_tracks_per_s": 4.0})
            self.src_runs = [(12, 20), (22, 26)] if relocated else None
            self.dst_runs = [(2, 14)] if relocated else None
            self.diff = diff and mode != "NOCOPY"
            self.tf = subject.service(self.site)
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

        # -- host I/O --------------------------------------------------------------
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
                refused_not_ready(lambda: tgt.write_track(t, pattern_track(tgt, t, seed)), "write")
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
                refused_not_ready(lambda: self.vol("TGT001").read_track(t), "read")
                return
            got = np.asarray(self.vol("TGT001").read_track(t))
            assert np.array_equal(got, at(self.mtgt[i], t)), f"target track {t}"

        @rule(t=st.integers(0, NT - 1))
        def read_source(self, t):
            assert np.array_equal(np.asarray(self.vol("SRC001").read_track(t)), self.msrc[t]), f"source track {t}"

        # -- verbs -----------------------------------------------------------------
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
                assert self.s.state in (S.COPIED, S.RESTORED), self.s.state

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
            self.tf = subject.service(self.site)
            self.s = self.tf.session(sid)
            self.now = 0.0

        # -- the invariant ---------------------------------------------------------
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
                    assert np.array_equal(s_own, self.msrc[ts]), (i, s.state)
                elif s.direction == "forward":
                    assert np.array_equal(s_own if pending[i] else t_own,
                                          at(self.mtgt[i], ts if pending[i] else td)), (i, s.state)
                    assert np.array_equal(s_own, self.msrc[ts]), (i, s.state)
                else:
                    want = self.msrc[ts]
                    assert np.array_equal(t_own if pending[i] else s_own,
                                          at(want, td if pending[i] else ts)), (i, s.state)
            if s.state not in BACKGROUND and s.state not in (S.COPY_ON_ACCESS,):
                assert s.state in NOT_READY or not pending.any(), s.state

    return CloneModel
