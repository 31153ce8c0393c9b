"""The conformance kit: every check, run over one service, one line each.

:func:`checks` lists the checks a service gets (they depend on its capabilities: a
service without data-set level gets no data-set scenarios, a session reader no target
writes; a service may add state machines of its own, :mod:`dasdlab.testing.models`);
:func:`run` runs them, each in its own temporary site, and returns one
:class:`CheckResult` per check.  ``dasdlab services test NAME`` prints them; the
project's tests call :func:`run_check` per check, so a failing check is named.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from dasdlab.errors import DasdlabError
from dasdlab.testing import lifecycle, model, models, processes, scenario
from dasdlab.testing.subject import Subject, resolve


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        word = "PASS" if self.passed else "FAIL"
        tail = f"  {self.detail}" if self.detail else ""
        return f"{word}  {self.name:<32s} {self.seconds:6.2f}s{tail}"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[[Subject, Path], list[str]]
    what: str


def checks(subject: Subject) -> list[Check]:
    out: list[Check] = []
    for level, bg in scenario.mechanisms(subject):
        mech = scenario.mechanism_name(level, bg)
        out.append(Check(f"pit[{mech}]",
                         lambda s, p, lv=level, b=bg: scenario.pit_scenario(s, p, lv, b),
                         "frozen view, live view and teardown after writes and updates"))
        out.append(Check(f"pit-discard[{mech}]",
                         lambda s, p, lv=level, b=bg: scenario.pit_scenario(s, p, lv, b, discards=True),
                         "the same with discards of source and target tracks"))
    out.append(Check("lifecycle", lifecycle.state_by_verb,
                     "every reachable state x every verb of the service's tables"))
    out.append(Check("second-process", processes.second_process,
                     "a relationship, its interception and its withdraw as another process sees them"))
    out.append(Check("concurrent-processes", processes.concurrent_processes,
                     "a process that was already running when the relationship was made"))
    out.append(Check("concurrent-writers", processes.concurrent_writers,
                     "two processes writing the source at the same time"))
    out.append(Check("kill-9", processes.kill_nine,
                     "kill -9 of a writing process at random instants"))
    out.append(Check("model", model.full_copy_model,
                     "a Hypothesis state machine against a full-copy model"))
    for spec in getattr(getattr(subject, "cls", None), "kit_models", ()):
        out.append(Check(models.check_name(spec), lambda s, p, sp=spec: models.run_spec(sp, s, p),
                         f"the service's own Hypothesis state machine ({spec})"))
    for spec in getattr(getattr(subject, "cls", None), "kit_kills", ()):
        out.append(Check(f"kill-9[{spec.rpartition(':')[2]}]", lambda s, p, sp=spec: _harness(sp)(s, p),
                         f"the service's own kill -9 harness ({spec})"))
    return out


def _harness(spec: str):
    import importlib

    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def run_check(subject: Subject | str, name: str, workdir: Path | None = None) -> CheckResult:
    subject = resolve(subject) if isinstance(subject, str) else subject
    by_name = {c.name: c for c in checks(subject)}
    if name not in by_name:
        raise KeyError(f"{subject.name} has no check {name} (it has {', '.join(by_name)})")
    return _run_one(subject, by_name[name], workdir)


def _run_one(subject: Subject, check: Check, workdir: Path | None) -> CheckResult:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlbkit", dir=workdir) as d:
        try:
            problems = check.fn(subject, Path(d) / "site")
        except DasdlabError as e:
            problems = [f"refused: {e}"]
        except AssertionError as e:
            problems = [str(e) or "assertion failed"]
        except Exception as e:  # noqa: BLE001 - a check that crashes is a failed check
            tb = traceback.extract_tb(e.__traceback__)[-1]
            problems = [f"{type(e).__name__}: {e} (at {Path(tb.filename).name}:{tb.lineno})"]
        finally:
            processes.reap()
    return CheckResult(check.name, not problems, "; ".join(problems), time.monotonic() - t0)


def run(subject: Subject | str, only: list[str] | None = None, workdir: Path | None = None,
        progress: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check (or those named in ``only``) on the subject."""
    subject = resolve(subject) if isinstance(subject, str) else subject
    out = []
    for c in checks(subject):
        if only and c.name not in only:
            continue
        r = _run_one(subject, c, workdir)
        out.append(r)
        if progress is not None:
            progress(r)
    return out
