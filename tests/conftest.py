"""Shared fixtures: temporary volumes and sites."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# A CI profile: fewer examples, no deadline (the machines are shared and noisy), and
# derandomized, so a CI run explores the same examples every time (exploration happens
# in development runs, which use a fresh random seed each time).
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def vol(tmp_path):
    """A new, writable 3390-1 volume (sparse) with an empty VTOC."""
    from dasdlab.emulator.volume import Volume

    v = Volume.create(tmp_path / "t.ckd", "3390-1", "TST001")
    yield v
    v.close()


@pytest.fixture
def site(tmp_path):
    """A new site with a 3390-1 volume on each subsystem."""
    from dasdlab.emulator.site import Site

    s = Site.init(tmp_path / "site")
    s.add_volume("DS8K1", "DSK001", "3390-1")
    yield s
    s.close()
