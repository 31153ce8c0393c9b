"""One verdict at every scale: the same modeled database (64 MiB, 20,000 updates per
modeled second) emulated at scale 1, 8 and 64 gets the same status per method and the
same modeled figures.  The controller cache is set to 64 MiB, below the Concurrent
Copy sidefile this workload builds (about 77 MB modeled), so ``dump-cc`` is cancelled
by the half-cache rule (DLB363E) at every scale -- which only happens when the limit is
compared in modeled units (an emulated 1 MiB database's sidefile is 64 times smaller
than the modeled one) -- while the standard process and FlashCopy succeed; with the
profile's own cache (tens of GiB) it completes at every scale."""

from __future__ import annotations

import pytest

from dasdlab.bench.scenario import ScenarioSpec, run_scenario

MODELED = "64MiB"
SCALES = {1: "64MiB", 8: "8MiB", 64: "1MiB"}
METHODS = "standard,dump-cc,copy-flashcopy"


def _run(tmp_path, db_size: str, cache: str | None):
    spec = ScenarioSpec(db_size=db_size, modeled_size=MODELED, methods=METHODS, rate=20_000.0, warmup=5.0,
                        cooldown=2.0, seed=4, cache_size=cache)
    return {m.name: m for m in run_scenario(spec, tmp_path / f"{db_size}-{cache}", write=False).methods}


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)


@pytest.mark.slow
def test_same_status_and_modeled_figures_at_scale_1_8_and_64(tmp_path):
    runs = {k: _run(tmp_path, db, "64MiB") for k, db in SCALES.items()}
    for k, res in runs.items():
        assert res["standard"].status == "ok" and res["copy-flashcopy"].status == "ok", k
        assert res["dump-cc"].status == "failed" and "DLB363E" in res["dump-cc"].message, (k, res["dump-cc"].message)
        assert "half of the cache" in res["dump-cc"].message
    base = runs[1]
    for k in (8, 64):
        for name in ("standard", "copy-flashcopy"):
            a, b = base[name], runs[k][name]
            # device-profile figures: equal up to whole emulated tracks (1 MiB is 18 of them)
            assert _close(a.outage_modeled_s, b.outage_modeled_s, 0.03), (name, k, a.outage_modeled_s,
                                                                           b.outage_modeled_s)
            assert _close(a.logical_s, b.logical_s, 0.03), (name, k)
            assert _close(a.physical_s, b.physical_s, 0.08), (name, k, a.physical_s, b.physical_s)
            assert a.copy_verified and b.copy_verified and a.recovery_verified and b.recovery_verified
        assert _close(base["dump-cc"].hold_start_s, runs[k]["dump-cc"].hold_start_s, 0.03)


@pytest.mark.slow
def test_the_profiles_realistic_cache_lets_the_same_copy_complete_at_every_scale(tmp_path):
    for k in (8, 64):
        res = _run(tmp_path, SCALES[k], None)
        m = res["dump-cc"]
        assert m.status == "ok" and m.copy_verified and m.recovery_verified, (k, m.message)
        # the sidefile it built is the modeled one the cancelled runs met (77 MB at seed 4)
        assert 32 * 2**20 < m.sidefile_hwm_bytes < 32 * 2**30, (k, m.sidefile_hwm_bytes)


# ---------------------------------------------------------------------- the other limits
#: a modeled box's limits, met after this many modeled tracks (about) at every scale
MODELED_TRACKS = 64 * 160


def _same_modeled_point(failed_at: dict[int, int], overhead: dict[int, float]) -> None:
    """Failure points (modeled tracks) agree across scales, up to one emulated track and
    the emulated volume's own label and VTOC, which are as large at every scale and so
    stand for ``k`` times as many modeled tracks (``overhead``: in emulated tracks)."""
    assert abs(failed_at[1] - MODELED_TRACKS) <= 2 + overhead[1], failed_at
    for k in (8, 64):
        assert abs(failed_at[k] - failed_at[1]) <= k * (1 + overhead[k]), (failed_at, overhead)
        # without the scaling, scale k would write k times as many modeled tracks
        assert failed_at[k] < 1.5 * failed_at[1]


def _limited_site(tmp_path, k: int, **profile_limits):
    """A site whose profile (scaled by ``k``) carries ``profile_limits``, applied as an
    image copy engine applies it."""
    from dataclasses import replace

    from dasdlab.emulator.site import Site
    from dasdlab.engine.hpic import apply_profile
    from dasdlab.engine.timemodel import get_profile

    site = Site.init(tmp_path / f"site-{k}")
    prof = replace(get_profile("ds8000-ficon16"), **profile_limits).scaled(k)
    return site, prof, apply_profile


@pytest.mark.parametrize("where", ["profile", "subsystem"])
def test_pool_capacity_is_met_at_the_same_modeled_track_at_scale_1_8_and_64(tmp_path, where):
    """An RVA pool's back-end capacity (the profile's, or the subsystem's own setting)
    is divided by the scale like the cache: writing distinct tracks, each emulated
    track standing for ``k`` modeled ones, fails (DLB391E) after the same number of
    modeled tracks at every scale."""
    from dasdlab.emulator.rva import PoolFullError, configure_pool
    from tests.copy.conftest import pattern_track

    failed_at, overhead = {}, {}
    for k in (1, 8, 64):
        d = tmp_path / f"{where}-{k}"
        d.mkdir()
        site, prof, apply = _limited_site(d, k)
        probe = None
        try:
            site.add_volume("RVA1", "RV0001", "3390-1", cylinders=MODELED_TRACKS // 15 + 20)
            vol = site.volume("RV0001", writable=True)
            probe = pattern_track(vol, 15, 1)
            used = vol.pool.used  # compacted bytes per slot: one track's cost in the pool
            vol.write_track(15, probe)
            per_track = int(used[int(vol.ftd[15])]) / vol.pool.compression_ratio
            overhead[k] = vol.pool.consumed() / per_track  # label, VTOC and the probe
            capacity = int(MODELED_TRACKS * per_track)
            if where == "profile":
                from dataclasses import replace

                prof = replace(prof, pool_capacity_bytes=int(round(capacity / k)))
            else:
                configure_pool(site, "RVA1", pool_capacity_bytes=int(capacity))
            apply(site, prof)
            assert vol.pool.capacity_bytes == int(round(capacity / k)) or where == "subsystem"
            n = 0
            with pytest.raises(PoolFullError) as e:
                for t in range(16, vol.ntracks):
                    vol.write_track(t, pattern_track(vol, t, 1))
                    n += 1
            assert e.value.msgid == "DLB391E"
            failed_at[k] = n * k
        finally:
            site.close()
    _same_modeled_point(failed_at, overhead)


def test_space_efficient_repository_is_met_at_the_same_modeled_track_at_scale_1_8_and_64(tmp_path):
    """The space-efficient FlashCopy repository (the subsystem's setting) is divided by
    the scale: source writes under a space-efficient NOCOPY relationship fill it and fail
    the relationship (DLB337E) after the same number of modeled tracks at every scale."""
    from tests.copy.conftest import pattern_track

    failed_at = {}
    for k in (1, 8, 64):
        d = tmp_path / f"se-{k}"
        d.mkdir()
        site, prof, apply = _limited_site(d, k)
        try:
            site.config["subsystems"]["DS8K1"]["settings"]["fc_repository_tracks"] = MODELED_TRACKS
            site._write_config(site.config)
            for v in ("SRC001", "TGT001"):
                site.add_volume("DS8K1", v, "3390-1", cylinders=MODELED_TRACKS // 15 + 20)
            apply(site, prof)
            fc = site.subsystem("DS8K1").service("flashcopy")
            assert fc.repository_tracks() == round(MODELED_TRACKS / k)
            src = site.volume("SRC001", writable=True)
            for t in range(15, src.ntracks):
                src.write_track(t, pattern_track(src, t, 1))
            rel = fc.establish("SRC001", "TGT001", mode="NOCOPY", space_efficient=True)
            n = 0
            for t in range(15, src.ntracks):
                src.write_track(t, pattern_track(src, t, 2))  # copy-on-write into the repository
                if fc.query(rel.id)[0].state == "FAILED":
                    break
                n += 1
            failed_at[k] = n * k
        finally:
            site.close()
    _same_modeled_point(failed_at, dict.fromkeys(failed_at, 0.0))  # only data tracks reach the repository
