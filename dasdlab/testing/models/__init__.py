"""Service-specific Hypothesis state machines of the conformance kit.

The kit's ``model`` check (:mod:`dasdlab.testing.model`) drives any service through
the verbs every service shares.  A service whose own verbs need a model of their own
(FlashCopy's incremental refresh and reverse, TimeFinder/Clone's recreate and restore,
Concurrent Copy's cache cancellation, SnapShot's pointer sharing) declares machines in
:attr:`CopyService.kit_models <dasdlab.emulator.services.contract.CopyService.kit_models>`
as ``"module:function"``; the kit runs each as a check ``model[NAME]``.  A function
takes the subject and a folder for its sites and returns a
:class:`hypothesis.stateful.RuleBasedStateMachine`; its module may set ``EXAMPLES``
and ``STEPS``.  Each machine keeps a trivially correct model -- a full numpy copy of
what every volume must read as -- and checks the service against it after every step.

The built-ins' machines:

* :mod:`.flashcopy` -- establish (COPY/NOCOPY, incremental YES/YTW), whole-track,
  partial and batched writes on both sides, refresh, reverse, withdraw (DDSW too),
  background time and drain;
* :mod:`.timefinder` -- a clone session in each mode, full-volume or relocated,
  differential or not: create, activate, recreate, restore, drain, ticks, host reads
  and writes on both sides (Not Ready refusals included) and reopening the site;
* :mod:`.concurrent_copy` -- up to three sessions with random domains and a small
  cache (the controller cancels sessions), SDM ticks and drains, dump reads;
* :mod:`.snapshot` -- writes, partial updates, discards and snaps between three
  track-pool volumes, the pool's reference counts checked after every step.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt


def pattern_track(vol, t: int, seed: int, nrec: int = 3, dl: int = 4000) -> bytearray:
    """A formatted track whose records hold bytes derived from (track, seed)."""
    cyl, head = vol.cchh(t)
    rng = np.random.default_rng([t, seed])
    recs = [(r + 1, b"", rng.integers(0, 256, dl, dtype=np.uint8).tobytes()) for r in range(nrec)]
    return trackfmt.build_track(cyl, head, recs, vol.slot)


def load(spec: str):
    """The machine factory and its (examples, steps) named by ``"module:function"``."""
    mod_name, _, fn_name = spec.partition(":")
    mod = importlib.import_module(mod_name)
    return getattr(mod, fn_name), int(getattr(mod, "EXAMPLES", 25)), int(getattr(mod, "STEPS", 30))


def check_name(spec: str) -> str:
    """``model[NAME]``: NAME is the last part of the module's name."""
    return f"model[{spec.partition(':')[0].rsplit('.', 1)[-1]}]"


def run_spec(spec: str, subject, path: Path) -> list[str]:
    from dasdlab.testing.model import run_machine

    factory, examples, steps = load(spec)
    path.mkdir(parents=True, exist_ok=True)
    try:
        machine = factory(subject, path)
    except ImportError:
        return ["hypothesis is not installed (pip install 'dasdlab[test]')"]
    return run_machine(machine, examples, steps)
