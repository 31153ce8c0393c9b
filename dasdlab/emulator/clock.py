"""Clocks for the emulator: modeled (virtual) time and wall time.

Copy services that have a rate (FlashCopy background copy, the Concurrent Copy
sidefile drain, TimeFinder background copy) or a timer (the 120 s consistency-group
timer) read the subsystem's clock and do the work the elapsed time allows when the
clock is advanced.  The modeled clock never reads the wall clock (SimPy's rule,
``docs/conventions.md`` item 10), so a scenario is deterministic for its seed.
"""

from __future__ import annotations

import time


class ModeledClock:
    """A virtual clock in seconds, advanced explicitly by the scenario driver."""

    modeled = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, dt: float) -> float:
        if dt < 0:
            raise ValueError("time does not run backwards")
        self._now += dt
        return self._now

    def advance_to(self, t: float) -> float:
        if t < self._now:
            raise ValueError("time does not run backwards")
        self._now = float(t)
        return self._now


class WallClock:
    """Wall time since the clock was made (for real-time runs on threads)."""

    modeled = False

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0
