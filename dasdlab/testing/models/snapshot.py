"""SnapShot against a model that is a plain array per volume: per track, the fill
byte of its records (0 = never written); a snap copies the model's slice at the
instant.  Writes, partial updates, discards and snaps (any domain, between any of
three track-pool volumes).  After every step every track reads as its model, the
pool's reference counts equal the FTD entries that point at each slot, and each
snap's shared, unshared and empty tracks add up to its total."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.testing.models._site import small_site

EXAMPLES = 25
STEPS = 30
TRACKS = 40  # tracks 15.. of each volume are used by the machine
VOLUMES = ("RV0001", "RV0002", "RV0003")


def image(vol, t, fill, nrec=3):
    cyl, head = vol.cchh(t)
    return trackfmt.fixed_track(cyl, head, 0, 4096, nrec, np.full(nrec * 4096, fill, np.uint8), vol.slot, eof=True)


def machine(subject, root: Path):
    from hypothesis import note
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

    class SnapMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.dir, self.site = small_site(subject, root, volumes=VOLUMES, model="3390-3", cylinders=4,
                                             pattern=None)
            self.vols = {v: self.site.volume(v, writable=True) for v in VOLUMES}
            self.svc = subject.service(self.site)
            self.model = {v: np.zeros(TRACKS, dtype=np.int64) for v in self.vols}
            self.version = 0

        def teardown(self):
            if hasattr(self, "site"):
                self.site.close()
                shutil.rmtree(self.dir, ignore_errors=True)

        vol = st.sampled_from(list(VOLUMES))
        trk = st.integers(0, TRACKS - 1)

        @rule(v=vol, t=trk)
        def write(self, v, t):
            self.version += 1
            fill = self.version % 250 + 1
            vol = self.vols[v]
            vol.write_track(15 + t, image(vol, 15 + t, fill))
            self.model[v][t] = fill

        @rule(v=vol, t=trk)
        def update(self, v, t):
            if self.model[v][t] == 0:
                return
            self.version += 1
            fill = self.version % 250 + 1
            vol = self.vols[v]
            offs = [trackfmt.fixed_data_offset(0, 4096, i) for i in range(3)]
            vol.write_many(np.full(3, 15 + t), np.array(offs), np.full((3, 4096), fill, np.uint8))
            self.model[v][t] = fill

        @rule(v=vol, t=trk)
        def discard(self, v, t):
            self.vols[v].discard_track(15 + t)
            self.model[v][t] = 0

        @rule(src=vol, dst=vol, a=trk, b=trk, n=st.integers(1, 10))
        def snap(self, src, dst, a, b, n):
            n = min(n, TRACKS - a, TRACKS - b)
            if src == dst and a < b + n and b < a + n:
                return
            note(f"snap {src}[{a}:{a + n}] -> {dst}[{b}:{b + n}]")
            self.svc.snap(src, dst, [(15 + a, 15 + a + n)], [(15 + b, 15 + b + n)])
            self.model[dst][b:b + n] = self.model[src][a:a + n].copy()

        @invariant()
        def contents_match_the_model(self):
            for v, vol in self.vols.items():
                for t in range(TRACKS):
                    want = self.model[v][t]
                    if want == 0:
                        assert not vol.is_written(15 + t), (v, 15 + t)
                    else:
                        img = vol.read_track(15 + t)
                        recs = trackfmt.parse_track(img, expect=vol.cchh(15 + t))
                        assert {int(img[r.data_offset]) for r in recs[:3]} == {want}, (v, 15 + t)

        @invariant()
        def counts_are_exact(self):
            pool = self.site.subsystem(subject.subsystem).pool
            counts = np.zeros(pool.nslots, dtype=np.int64)
            for vol in self.vols.values():
                counts += np.bincount(np.asarray(vol.ftd), minlength=pool.nslots)[: pool.nslots]
            counts[0] = 0
            assert np.array_equal(counts, np.asarray(pool.refs, dtype=np.int64)), "pool reference counts"

        @invariant()
        def snap_counters_add_up(self):
            for r in self.svc.query():
                assert r["tracks_shared"] + r["tracks_unshared"] + r["tracks_empty"] == r["tracks_total"], r

    return SnapMachine
