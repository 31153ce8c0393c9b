"""State x verb enumeration from a service's own lifecycle tables.

A service declares which verbs are legal in which state (``VERBS``) and which state may
follow which (``TRANSITIONS``).  The kit checks that the tables are whole (every state
has a row, every name in them is a state), then drives relationships into every state
it can reach with the shared verbs (just established in each copy mode, and drained),
and in each of them calls every verb of the table that it can call: a verb the table
allows must not be refused as illegal in that state (message DLB320E), a verb it does
not allow must be refused and leave the state as it was, and every change of state
seen must be one the table allows.
"""

from __future__ import annotations

from pathlib import Path

from dasdlab.errors import CopyServiceError
from dasdlab.testing import scenario
from dasdlab.testing.truth import VOLUMES, new_site

LIFECYCLE_REFUSAL = "DLB320E"


def check_tables(tables) -> list[str]:
    out = []
    states = set(tables.states)
    for s, ts in tables.transitions.items():
        for t in ts:
            if t not in states:
                out.append(f"table: {s} -> {t}, which is not a state")
    for v, ss in tables.verbs.items():
        for s in ss:
            if s not in states:
                out.append(f"table: verb {v} is allowed in {s}, which is not a state")
    for g in tables.gone:
        if g not in states:
            out.append(f"table: the end state {g} is not a state")
    return out


def state_by_verb(subject, path: Path) -> list[str]:
    tables = subject.tables
    if tables is None:
        return ["the service declares no lifecycle tables (TRANSITIONS and VERBS)"]
    problems = check_tables(tables)
    if problems:
        return problems
    site = new_site(path, subject)
    level = sorted(subject.traits.levels)[0]
    src = site.volume(VOLUMES[0], writable=True)
    sr, dr, _pairs, _ = scenario.domain(subject, src, level)
    target = VOLUMES[1] if subject.traits.reader == "target" else None
    tried = 0
    try:
        for _level, bg in scenario.mechanisms(subject):
            for prefix in ((), ("drain",)):
                if prefix and not (bg and subject.traits.background_copy):
                    continue
                for verb in sorted(tables.verbs):
                    rid = subject.establish(site, VOLUMES[0], target, sr, dr, bg)
                    for p in prefix:
                        subject.drain(site, rid)
                    before = subject.state(site, rid)
                    if before not in tables.transitions:
                        problems.append(f"state {before} of {rid} is not in the tables")
                        break
                    fn = subject.verb(site, rid, verb)
                    if fn is not None:
                        tried += 1
                        problems += _one(subject, site, tables, rid, verb, before, fn)
                    if subject.state(site, rid) is not None:
                        try:
                            subject.withdraw(site, rid)
                        except CopyServiceError:
                            pass  # already ending by itself
    finally:
        site.close()
    if tried == 0:
        problems.append("no verb of the tables could be called")
    return problems


def _one(subject, site, tables, rid, verb, before, fn) -> list[str]:
    legal = before in tables.verbs[verb]
    try:
        fn()
    except CopyServiceError as e:
        if legal and e.msgid == LIFECYCLE_REFUSAL:
            return [f"{verb} in state {before} is legal by the table but was refused: {e}"]
        if not legal:
            after = subject.state(site, rid)
            if after != before:
                return [f"{verb} in state {before} was refused but moved {rid} to {after}"]
        return []
    if not legal:
        return [f"{verb} in state {before} is illegal by the table but was accepted"]
    after = subject.state(site, rid)
    if after is None:
        ok = verb == subject.withdraw_verb or bool(tables.transitions[before] & tables.gone)
        return [] if ok else [f"{verb} in state {before} removed {rid}, an end the table does not allow"]
    if after != before and after not in tables.transitions[before]:
        return [f"{verb} moved {rid} from {before} to {after}; the table does not allow it"]
    return []
