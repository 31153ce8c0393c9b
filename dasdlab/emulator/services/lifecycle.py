"""Explicit life cycles for copy relationships and sessions.

Modelled on QEMU ``job.c``: a state enum, a table of legal transitions and a table of
which verbs are legal in which state.  Every change of state goes through
:meth:`Lifecycle.to`, every verb is checked by :meth:`Lifecycle.require`, and both
raise a :class:`~dasdlab.errors.CopyServiceError` with a message id that names the
object, the verb or target state, and the current state.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar, Mapping

from dasdlab.errors import CopyServiceError


class Lifecycle:
    """Mixin for objects with ``state``, ``TRANSITIONS`` and ``VERBS``.

    Subclasses define ``TRANSITIONS: Mapping[State, frozenset[State]]`` and
    ``VERBS: Mapping[str, frozenset[State]]`` and set ``self.state``.  ``what`` names
    the object in messages (e.g. "FlashCopy relationship FC0003").
    """

    TRANSITIONS: ClassVar[Mapping[Enum, frozenset[Enum]]]
    VERBS: ClassVar[Mapping[str, frozenset[Enum]]]
    state: Enum

    @property
    def what(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__

    def can(self, verb: str) -> bool:
        return self.state in self.VERBS[verb]

    def require(self, verb: str) -> None:
        if verb not in self.VERBS:
            raise KeyError(verb)
        if self.state not in self.VERBS[verb]:
            legal = ", ".join(sorted(s.name for s in self.VERBS[verb])) or "no state"
            raise CopyServiceError(
                "DLB320E",
                f"{verb} is not allowed for {self.what} in state {self.state.name} (allowed in: {legal}).",
            )

    def to(self, new: Enum) -> None:
        if new not in self.TRANSITIONS[self.state]:
            raise CopyServiceError(
                "DLB321E", f"{self.what} cannot go from state {self.state.name} to {new.name}."
            )
        self.state = new


def check_tables(states: type[Enum], transitions: Mapping, verbs: Mapping) -> None:
    """Sanity check used by the tests: every state has a row, every target is a state."""
    for s in states:
        if s not in transitions:
            raise AssertionError(f"no transition row for {s.name}")
        for t in transitions[s]:
            if t not in states.__members__.values():
                raise AssertionError(f"{s.name} -> {t} is not a state")
    for v, allowed in verbs.items():
        for s in allowed:
            if s not in states.__members__.values():
                raise AssertionError(f"verb {v}: {s} is not a state")
