"""One Hypothesis state machine for any copy service, against a full-copy model.

The model of the source is a numpy copy of every track as the host must read it; at
establish the model of the point-in-time image is a copy of the source model (relocated
for a data-set-level copy), and from then on only the target's own host writes change
it.  Rules: establish (any level and mode the service has), whole-track writes, record
updates, host reads of the target, writes to the target, background time, drain, withdraw, and -- for a
service read through a session -- reads of unread domain tracks.  After every step the
source must read exactly as its model and every domain track of the point-in-time view
as its model; after a withdraw of a complete copy the target keeps it.  Discards are
left to the ``pit-discard`` scenarios, so that one fault is reported by one check.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from dasdlab.testing import scenario
from dasdlab.testing.truth import VOLUMES, layout, new_site, record_span, same, stream_track, view

MAX_EXAMPLES = 15
STEPS = 25


def build_machine(subject, root: Path):
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

    mechs = scenario.mechanisms(subject)
    target_reader = subject.traits.reader == "target"

    class FullCopyModel(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.dir = tempfile.TemporaryDirectory(dir=root)
            self.site = new_site(Path(self.dir.name) / "site", subject)
            self.src = self.site.volume(VOLUMES[0], writable=True)
            self.tgt = self.site.volume(VOLUMES[1], writable=True)
            lay = layout(self.src)
            self.tracks = list(lay.written) + list(lay.never_written)[:5]
            self.model = view(self.src)
            self.run: scenario.Run | None = None
            self.now = 0.0
            self.version = 100
            self.kept: dict[int, np.ndarray] = {}  # target tracks a finished copy left

        def teardown(self):
            if getattr(self, "site", None) is not None:
                from dasdlab.testing.processes import close_site

                close_site(self.site)
                self.dir.cleanup()

        # -- relationships -----------------------------------------------------------
        @precondition(lambda self: self.run is None)
        @rule(k=st.integers(0, len(mechs) - 1))
        def establish(self, k):
            level, bg = mechs[k]
            sr, dr, pairs, relocated = scenario.domain(subject, self.src, level)
            target = VOLUMES[1] if target_reader else None
            rid = subject.establish(self.site, VOLUMES[0], target, sr, dr, bg)
            pit = {s: self.model[s].copy() for s, _ in pairs}
            self.run = scenario.Run(subject, self.site, rid, pairs, relocated, pit, self.model)
            self.background = bool(bg)
            self.kept = {}

        @precondition(lambda self: self.run is not None)
        @rule()
        def withdraw(self):
            run = self.run
            complete = target_reader and subject.complete(self.site, run.rid)
            subject.withdraw(self.site, run.rid)
            if complete:
                self.kept = {d: self._expected(s, d) for s, d in run.pairs}
            self.run = None

        @precondition(lambda self: self.run is not None and self.background)
        @rule()
        def drain(self):
            subject.drain(self.site, self.run.rid)

        @rule(dt=st.sampled_from([0.01, 0.1, 1.0]))
        def tick(self, dt):
            self.now += dt
            subject.tick(self.site, self.now)

        # -- host I/O ----------------------------------------------------------------
        @rule(i=st.integers(0, 40), seed=st.integers(2, 50))
        def write(self, i, seed):
            t = self.tracks[i % len(self.tracks)]
            img = stream_track(self.src, t, seed)
            self.src.write_track(t, img)
            self.model[t] = np.frombuffer(bytes(img), np.uint8)

        @rule(i=st.integers(0, 40), off=st.integers(0, 3900), b=st.integers(0, 255))
        def update(self, i, off, b):
            t = self.tracks[i % len(self.tracks)]
            if not self.src.is_written(t):
                return
            lo, hi = record_span(self.model[t], 1)
            off = min(off, hi - lo - 16)
            self.src.write_bytes(t, lo + off, bytes([b]) * 16)
            self.model[t, lo + off:lo + off + 16] = b

        @precondition(lambda self: target_reader and self.run is not None)
        @rule(i=st.integers(0, 60), seed=st.integers(2, 50))
        def write_target(self, i, seed):
            run = self.run
            _s, d = run.pairs[i % len(run.pairs)]
            img = stream_track(self.tgt, d, seed)
            self.tgt.write_track(d, img)
            run.target_written[d] = np.frombuffer(bytes(img), np.uint8)

        @precondition(lambda self: target_reader and self.run is not None)
        @rule(i=st.integers(0, 60))
        def read_target(self, i):
            """A host read of the target (a service may copy on access)."""
            run = self.run
            s, d = run.pairs[i % len(run.pairs)]
            got = subject.read_target(self.site, run.rid, d)
            assert same(got, self._expected(s, d), run.relocated), f"host read of target track {d}"

        @precondition(lambda self: not target_reader and self.run is not None)
        @rule(i=st.integers(0, 60))
        def read_session(self, i):
            run = self.run
            s, _d = run.pairs[i % len(run.pairs)]
            if s in run.read_once:
                return
            run.read_once.add(s)
            got = subject.read_pit(self.site, run.rid, s)
            assert same(got, run.pit[s], False), f"session read of track {s} is not the point-in-time image"

        # -- invariants --------------------------------------------------------------
        def _expected(self, s, d):
            run = self.run
            want = run.target_written.get(d)
            return want if want is not None else scenario.expected_on_target(run, s, d)

        @invariant()
        def source_reads_as_its_model(self):
            if getattr(self, "site", None) is None:
                return
            got = view(self.src)
            bad = [t for t in range(len(got)) if not np.array_equal(got[t], self.model[t])]
            assert not bad, f"source tracks {bad[:6]} differ from the model"

        @invariant()
        def point_in_time_reads_as_its_model(self):
            if getattr(self, "site", None) is None or not target_reader:
                return
            if self.run is None:
                bad = [d for d, want in self.kept.items() if not same(self.tgt.read_track(d), want, True)]
                assert not bad, f"after the withdraw of a complete copy, target tracks {bad[:6]} changed"
                return
            run = self.run
            bad = []
            for s, d in run.pairs:
                got = subject.read_pit(self.site, run.rid, s)
                w = run.target_written.get(d)
                if not (same(got, w, True) if w is not None else same(got, run.pit[s], False)):
                    bad.append(s)
            assert not bad, f"point-in-time view of source tracks {bad[:6]} differs from the model"

    return FullCopyModel


def full_copy_model(subject, path: Path) -> list[str]:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return ["hypothesis is not installed (pip install 'dasdlab[test]')"]
    path.mkdir(parents=True, exist_ok=True)
    return run_machine(build_machine(subject, path), MAX_EXAMPLES, STEPS)


def run_machine(machine, examples: int, steps: int) -> list[str]:
    """Run a state machine; its first failing sequence, as one problem, or none."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
            suppress_health_check=list(HealthCheck), print_blob=False,
            # no shrinking: a failing service reports its first failing sequence at once
            phases=[Phase.explicit, Phase.reuse, Phase.generate]))
    except Exception as e:  # noqa: BLE001 - the machine's failure is the check's finding
        notes = [n for n in getattr(e, "__notes__", []) if n.startswith(("state.", "Falsifying"))]
        steps_seen = " / ".join(n.replace("state.", "").strip() for n in notes[:12])
        return [f"{type(e).__name__}: {e} -- steps: {steps_seen}"]
    return []
