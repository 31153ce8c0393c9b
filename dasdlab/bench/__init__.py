"""Benchmarks and outage scenarios: the scenario runner, its results and plots, the
teaching view of a copy's track states, and sweeps of many scenarios on Dask
(docs/architecture.md).  Nothing here is imported by the emulator or the engine."""
