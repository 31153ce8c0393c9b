"""Deliberately broken copy services: the conformance kit must fail each of them.

Each is FlashCopy with one fault, so everything else about it is correct and the kit
has to find exactly that fault:

* :class:`SkipsDiscards` does no copy-before-write when the host write is a discard
  (it looks at who called the write path: a discard of a source track is let through
  without saving the point-in-time image);
* :class:`CopiesAfterWrite` saves the point-in-time image *after* the host write
  landed (it remembers the tracks and copies them at the next call into the service),
  so the target gets the new data instead of the old;
* :class:`ForgetsWithdraw` withdraws only in the memory of the process that asked: the
  record stays in the state store, so the next process brings the relationship back.

They are named to the kit as ``tests.conformance.broken:CLASS`` (not registered).
"""

from __future__ import annotations

import sys

from dasdlab.emulator.services.flashcopy import FlashCopyService, RelState


def _called_by_discard() -> bool:
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name in ("discard_track", "discard_tracks"):
            return True
        f = f.f_back
    return False


class SkipsDiscards(FlashCopyService):
    def _cow_one(self, rel, vol, r):
        if _called_by_discard():
            return
        super()._cow_one(rel, vol, r)

    def _cow(self, rel, vol, rels):
        if _called_by_discard():
            return
        super()._cow(rel, vol, rels)


class CopiesAfterWrite(FlashCopyService):
    def __init__(self, subsystem) -> None:
        super().__init__(subsystem)
        self._late: list = []

    def _flush(self) -> None:
        late, self._late = self._late, []
        for rel, vol, rels in late:  # the base class's copy, not this class's deferral again
            if rels.size == 1:
                FlashCopyService._cow_one(self, rel, vol, int(rels[0]))
            else:
                FlashCopyService._cow(self, rel, vol, rels)

    def _cow_one(self, rel, vol, r):
        import numpy as np

        self._flush()
        self._late.append((rel, vol, np.array([r], dtype=np.int64)))

    def _cow(self, rel, vol, rels):
        self._flush()
        self._late.append((rel, vol, rels.copy()))

    def read_point_in_time(self, rid, track):
        self._flush()
        return super().read_point_in_time(rid, track)

    def tick(self, now):
        self._flush()
        super().tick(now)

    def drain(self, rid=None, progress=None):
        self._flush()
        return super().drain(rid, progress)

    def close(self):
        self._flush()
        super().close()


class ForgetsWithdraw(FlashCopyService):
    def _withdraw_now(self, rel) -> None:
        self._unregister(rel)
        rel.to(RelState.WITHDRAWN)
        self._rels.pop(rel.id, None)  # ... and the record stays on disk
