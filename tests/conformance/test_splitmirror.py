"""The example plug-in ``examples/splitmirror`` as a user installs it: its source and a
``.dist-info`` with its entry point on the path (what ``pip install`` leaves in
site-packages), found by the registry through importlib.metadata, run through the
conformance kit by name, and its own mirror verbs: attach, synchronise, split, resync."""

from __future__ import annotations

import numpy as np
import pytest

from dasdlab.cli.main import run
from dasdlab.emulator.services import registry
from dasdlab.errors import CopyServiceError
from dasdlab.testing import kit
from dasdlab.testing.truth import VOLUMES, layout, new_site, stream_track, view

pytestmark = pytest.mark.usefixtures("installed")


def test_the_registry_finds_the_plugin_through_its_entry_point(installed):
    info = registry.get("splitmirror")
    assert info.origin == "plug-in:dasdlab-splitmirror"
    assert info.capabilities.fast_replication and info.capabilities.point_in_time_reader == "target"


@pytest.mark.parametrize("check", [c for c in ("pit[volume,instant]", "pit[dataset,instant]",
                                               "pit-discard[volume,instant]", "pit-discard[dataset,instant]",
                                               "lifecycle", "second-process", "concurrent-processes", "concurrent-writers",
                                               "model")])
def test_the_plugin_passes_the_kit(installed, check, tmp_path):
    result = kit.run_check("splitmirror", check, tmp_path)
    assert result.passed, result.detail


@pytest.mark.crash
def test_the_plugin_survives_kill_9(installed, tmp_path):
    result = kit.run_check("splitmirror", "kill-9", tmp_path)
    assert result.passed, result.detail


def test_services_test_by_name_runs_the_plugin(installed, capsys):
    assert run(["services", "test", "splitmirror", "--check", "pit[dataset,instant]"]) == 0
    assert "PASS  pit[dataset,instant]" in capsys.readouterr().out


# ---------------------------------------------------------------------- the mirror's own verbs


class Subj:
    """Just enough of a subject for truth.new_site: the DS8000-like subsystem."""

    kind = "ds8000"
    subsystem = "DS8K1"

    @staticmethod
    def prepare_site(site):
        site.add_service("DS8K1", "splitmirror")


@pytest.fixture
def mirror_site(installed, tmp_path):
    site = new_site(tmp_path / "site", Subj)
    yield site
    site.close()


def test_a_mirror_follows_the_source_until_the_split_and_not_after(mirror_site):
    site = mirror_site
    svc = site.subsystem("DS8K1").service("splitmirror")
    src, tgt = site.volume(VOLUMES[0], writable=True), site.volume(VOLUMES[1], writable=True)
    lay = layout(src)
    rel = svc.attach(VOLUMES[0], VOLUMES[1])
    assert rel.state == "SYNCING" and rel.tracks_copied == 0
    site.tick(0.005)  # 2000 tracks/s by default: 10 tracks
    assert svc.describe(rel.id).tracks_copied == 10
    with pytest.raises(CopyServiceError) as e:
        tgt.read_track(lay.first_data)
    assert e.value.msgid == "DLB830E"  # Not Ready while attached
    # writes while attached: synchronised before the point in time
    a = lay.written[3]
    src.write_track(a, stream_track(src, a, 5))
    svc.drain(rel.id)
    b = lay.written[5]
    src.write_track(b, stream_track(src, b, 6))  # dirty again after the drain
    pit = view(src)
    out = svc.split(rel.id)
    assert out.state == "SPLIT" and out.physical_at == out.logical_at is not None
    assert out["split_tracks"] == 1  # the split copied only what was still dirty
    c = lay.written[7]
    src.write_track(c, stream_track(src, c, 7))  # after the point in time: no copy at all
    assert svc.describe(rel.id).cow_count == 0
    got = view(tgt)
    assert all(np.array_equal(got[t], pit[t]) for t in range(1, src.ntracks))
    # resync copies only what changed on either side since the split
    tgt.write_track(lay.written[9], stream_track(tgt, lay.written[9], 8))
    svc.resync(rel.id)
    assert svc.describe(rel.id).tracks_copied == src.ntracks - 2
    svc.drain(rel.id)
    svc.split(rel.id)
    assert np.array_equal(view(tgt)[1:], view(src)[1:])
    svc.withdraw(rel.id)
    assert svc.query() == []


def test_a_split_left_half_done_by_a_killed_process_is_finished_on_load(mirror_site):
    from dasdlab.emulator.site import Site

    site = mirror_site
    svc = site.subsystem("DS8K1").service("splitmirror")
    rel = svc.attach(VOLUMES[0], VOLUMES[1])
    m = svc.mirrors[rel.id]
    m.to(type(m.state).SPLITTING)  # the intent is saved, then the process dies
    svc._save(m)
    pit = view(site.volume(VOLUMES[0]))
    site2 = Site.open(site.path)
    svc2 = site2.subsystem("DS8K1").service("splitmirror")
    assert svc2.describe(rel.id).state == "SPLIT"
    got = view(site2.volume(VOLUMES[1]))
    assert all(np.array_equal(got[t], pit[t]) for t in range(1, len(pit)))
    site2.close()


def test_mirror_limits_hold(mirror_site):
    svc = mirror_site.subsystem("DS8K1").service("splitmirror")
    svc.attach(VOLUMES[0], VOLUMES[1])
    with pytest.raises(CopyServiceError) as e:
        svc.attach(VOLUMES[2], VOLUMES[1])
    assert e.value.msgid == "DLB834E"
    with pytest.raises(CopyServiceError) as e:
        svc.attach(VOLUMES[1], VOLUMES[2])
    assert e.value.msgid == "DLB834E"
    with pytest.raises(CopyServiceError) as e:
        svc.establish(VOLUMES[2])
    assert e.value.msgid == "DLB831E"
