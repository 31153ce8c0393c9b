"""dasdlab.testing: the conformance kit for copy services.

Any copy service -- a built-in or a plug-in registered in the entry-point group
``dasdlab.copy_services`` -- can be run through the same checks::

    from dasdlab.testing import run
    for result in run("splitmirror"):
        print(result.line())

or from the shell, ``dasdlab services test NAME [--json]``, which exits 0 only when
every check passes.  The checks (:mod:`dasdlab.testing.kit`):

* ``pit[LEVEL,MODE]`` and ``pit-discard[LEVEL,MODE]`` -- the point-in-time scenario
  over each mechanism (:mod:`.scenario`), checked against a copy of the source taken at
  the instant (:mod:`.truth`);
* ``lifecycle`` -- every reachable state x every verb of the service's tables
  (:mod:`.lifecycle`);
* ``second-process``, ``concurrent-processes``, ``concurrent-writers``, ``kill-9`` --
  real other processes
  (:mod:`.processes`, :mod:`.child`);
* ``model`` -- a Hypothesis state machine against a full-copy model (:mod:`.model`);
* ``model[NAME]`` and ``kill-9[NAME]`` -- state machines and kill -9 harnesses of a
  service's own verbs and mechanism, which the service declares (``kit_models``,
  ``kit_kills``; the built-ins' are in :mod:`.models` and :mod:`.crashes`).

How the kit reaches a service is :mod:`.subject`.
"""

from dasdlab.testing.kit import CheckResult, checks, run, run_check
from dasdlab.testing.subject import Subject, resolve

__all__ = ["CheckResult", "Subject", "checks", "resolve", "run", "run_check"]
