"""Outage scenario speed: modeled updates per wall-clock second of a whole outage
scenario (online workload, image copy, copy services, track-state trace), against the
same workload with no copy, timed in the same run.

Target (docs/architecture.md): >= 200,000 modeled updates per wall second.  Scale 1, so every
modeled update is an emulated one (a scaled scenario would reach any rate by standing
each update for many).  Two methods whose copy services do the most work per update:
FlashCopy COPY (copy-on-write and a background copy) and Concurrent Copy (sidefile
intercepts and the dump).  Both the scenario's own figure
(``MethodResult.updates_per_wall_s``: updates committed / wall time of the run loop)
and the baseline (:class:`dasdlab.engine.workload.Workload` alone on the same database
for the same modeled time) count committed updates.
"""

from __future__ import annotations

import pytest

RATE = 50_000.0  # updates per modeled second
DB_SIZE = "4MiB"
METHODS = ("copy-flashcopy", "dump-cc")


def _spec(method: str):
    from dasdlab.bench.scenario import ScenarioSpec

    return ScenarioSpec(db_size=DB_SIZE, method=method, rate=RATE, warmup=1.0, cooldown=1.0, failure=False)


def _workload_alone(tmp_path, seconds: float) -> float:
    """Committed updates per wall second of the workload with no copy: the scenario's
    database, buffer pool and checkpoint interval."""
    from dasdlab.bench.scenario import DB_VOLSER, VOLUME_MODEL
    from dasdlab.emulator.site import Site
    from dasdlab.engine import database
    from dasdlab.engine.system import ImsSystem
    from dasdlab.engine.workload import Workload, WorkloadSpec

    spec = _spec(METHODS[0])
    site = Site.init(tmp_path / "alone")
    site.add_volume("DS8K1", DB_VOLSER, VOLUME_MODEL)
    dbd = database.define(site, spec.dbd_path)
    database.load(site, dbd.name, spec.db_size, seed=spec.seed, volser=DB_VOLSER)
    system = ImsSystem(site, buffers=spec.buffers, checkpoint_interval=spec.checkpoint_interval)
    system.start()
    try:
        system.open(dbd.name)
        wl = Workload(system, dbd.name, WorkloadSpec(rate=RATE, duration=seconds, skew=spec.skew, zipf_s=spec.zipf_s,
                                                     update_size=spec.update_size, seed=spec.seed, slice=spec.slice))
        stats = wl.run()
    finally:
        system.shutdown()
        site.close()
    return stats.committed / stats.wall_seconds


@pytest.mark.benchmark(group="scenario")
def test_outage_scenario_speed(benchmark, capsys, tmp_path):
    from dasdlab.bench.scenario import run_scenario

    run_scenario(_spec(METHODS[0]).__class__(db_size="1MiB", method="standard", warmup=0.5, cooldown=0.5,
                                              failure=False), tmp_path / "warm", write=False)  # kernels loaded
    speeds, modeled = {}, 0.0

    def one(m: str):
        res = run_scenario(_spec(m), tmp_path / m, write=False).method(m)
        assert res.status == "ok" and res.copy_verified, res.message
        return res

    first = benchmark.pedantic(one, args=(METHODS[0],), rounds=1, iterations=1)
    for res in (first, *(one(m) for m in METHODS[1:])):
        speeds[res.name] = res.updates_per_wall_s
        modeled = max(modeled, res.run_modeled_s)
    alone = _workload_alone(tmp_path, min(modeled, 10.0))
    worst = min(speeds.values())
    figures = {"scenario modeled updates per wall second": worst,
               **{f"{m}: updates per wall second": v for m, v in speeds.items()},
               "workload alone: updates per wall second": alone,
               "scenario / workload alone": worst / alone}
    benchmark.extra_info.update({k: round(v, 4) for k, v in figures.items()})
    with capsys.disabled():
        for k, v in figures.items():
            print(f"\n  scenario ({DB_SIZE}, {RATE:,.0f}/s): {k} = {v:,.3f}", end="")
        print()
