"""Track maps of any copy service, from the copy-service contract alone: checked
against FlashCopy's own adapter (which reads the service's bitmaps) and the truth of
what was written, and on the example plug-in ``examples/splitmirror``, which has no
adapter of its own (installed as a user would, found through its entry point)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.services import registry
from dasdlab.emulator.services.contract import Relationship
from dasdlab.emulator.site import Site
from dasdlab.teach.trackmap import (
    ADAPTERS, GENERIC, TrackMapError, TrackState as T, WriteHistory, adapter, maps_text, relationship_maps,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "splitmirror"
CYL = 6


def fill(vol, tracks, seed=0):
    for t in tracks:
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.build_track(cyl, head, [(1, b"", bytes([seed, t % 256]) * 50)], vol.slot))


@pytest.fixture
def site(tmp_path):
    s = Site.init(tmp_path / "site")
    for v in ("SRC001", "TGT001"):
        s.add_volume("DS8K1", v, "3390-1", cylinders=CYL)
    yield s
    s.close()


@pytest.mark.parametrize("mode", ["NOCOPY", "COPY"])
def test_generic_map_agrees_with_the_flashcopy_adapter(site, mode):
    hist = WriteHistory()
    sub = site.subsystem("DS8K1")
    for v in ("SRC001", "TGT001"):
        hist.watch(sub, v)
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 40))
    fc = sub.service("flashcopy")
    # the copy one cylinder further on: the target's count fields carry other addresses
    rel = fc.establish("SRC001", "TGT001", mode=mode, source_runs=[(15, 45)], target_runs=[(30, 60)])
    after = [16, 20, 33, 20]
    fill(src, after, seed=7)
    if mode == "COPY":
        fc.tick(0.004)  # a few tracks of background copy, not all
    (own,) = ADAPTERS["flashcopy"].maps(sub, fc, hist)
    (gen,) = GENERIC.maps(sub, fc, None)
    ts, gs = own.target.states, gen.target.states
    on_target = np.isin(ts, (T.COPIED, T.SAVED))
    assert on_target.any() and (ts == T.SHARED).any()
    assert np.array_equal(gs == T.COPIED, on_target)
    assert np.array_equal(gs == T.SHARED, ts == T.SHARED)
    assert np.array_equal(gs == T.NEVER_WRITTEN, ts == T.NEVER_WRITTEN)
    assert np.array_equal(gs == T.OUTSIDE, ts == T.OUTSIDE)
    assert set(np.flatnonzero(gen.source.states == T.CHANGED)) == set(after)
    assert set(np.flatnonzero(gen.source.states == T.NEVER_WRITTEN)) == set(range(40, 45))
    assert gen.counters["tracks_copied"] == fc.query(rel.id)[0]["tracks_copied"]
    assert adapter("flashcopy") is ADAPTERS["flashcopy"] and adapter("splitmirror") is GENERIC


def test_runs_of_unlike_length_are_refused(site):
    sub = site.subsystem("DS8K1")

    class Odd:
        def query(self):
            return [Relationship.make(id="X1", service="odd", state="ON", source="SRC001", source_runs=[(0, 10)],
                                      target="TGT001", target_runs=[(0, 9)], tracks_total=10, tracks_copied=0,
                                      cow_count=0, logical_at=0.0, physical_at=None)]

    with pytest.raises(TrackMapError) as e:
        GENERIC.maps(sub, Odd(), None)
    assert e.value.msgid == "DLB880E"


# ---------------------------------------------------------------------- a plug-in
@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example plug-in's source and a dist-info with its entry point on the path."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    eps = meta["entry-points"]["dasdlab.copy_services"]
    dist = tmp_path / "sp" / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    (dist / "entry_points.txt").write_text("[dasdlab.copy_services]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    for p in (str(EXAMPLE), str(tmp_path / "sp")):
        monkeypatch.syspath_prepend(p)
    registry.refresh()
    yield
    registry.refresh()
    sys.modules.pop("splitmirror", None)


def test_a_plugin_without_an_adapter_is_mapped_from_the_contract(installed, site):
    assert "splitmirror" not in ADAPTERS
    site.add_service("DS8K1", "splitmirror")
    sub = site.subsystem("DS8K1")
    src = site.volume("SRC001", writable=True)
    fill(src, range(15, 30))
    svc = sub.service("splitmirror")
    rel = svc.attach("SRC001", "TGT001")
    (m,) = relationship_maps(site, "splitmirror")
    written = src.written.test_many(np.arange(src.ntracks))
    # attached: no point in time yet, so nothing on the mirror is fixed
    assert np.array_equal(m.target.states == T.UNCOMMITTED, written)
    assert np.array_equal(m.target.states == T.NEVER_WRITTEN, ~written)
    svc.split(rel.id)
    pit = {t: bytes(src.read_track(t)) for t in range(15, 30)}
    fill(src, [18, 25], seed=5)  # after the point in time: the mirror keeps the old images
    (m,) = relationship_maps(site)
    assert m.capability == "splitmirror" and m.id == rel.id
    written = src.written.test_many(np.arange(src.ntracks))
    assert np.array_equal(m.target.states == T.COPIED, written)
    assert set(np.flatnonzero(m.source.states == T.CHANGED)) == {18, 25}
    assert np.array_equal(m.source.states == T.COPIED, written & ~np.isin(np.arange(src.ntracks), [18, 25]))
    tgt = site.volume("TGT001")
    assert all(bytes(tgt.own_track(t)) == pit[t] for t in (18, 25))
    assert m.counters["tracks_total"] == src.ntracks and "SRC001 -> TGT001" in maps_text([m])
