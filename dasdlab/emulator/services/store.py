"""Persistent state of one copy service: JSON records and memory-mapped bitmaps.

Under ``SITE/state/SUBSYSTEM/SERVICE/``: ``KEY.json`` per relationship or session,
replaced atomically (write a temporary file, ``os.replace``), and ``KEY.NAME.bm`` per
bitmap: the raw little-endian ``uint64`` words, mapped shared, so that a bit set in
memory is in the page cache at once and survives ``kill -9`` of the process.  (A power
loss is outside the model: we do not ``fsync`` on every bit.)

Crash safety is the callers' ordering discipline: copy the track, then set the bit;
write bitmaps before the record that makes them live; mark a record ``pending`` before
a multi-step change that cannot be redone and clear the mark after.  On load, a record
still ``pending`` is found and the owner decides: redo, or mark the relationship invalid
with a message.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from dasdlab.emulator.bitmap import Bitmap, words_for

def damaged_record(path: Path, why: str):
    """The error for a state record its service cannot use: nothing may act on it."""
    from dasdlab.errors import CopyServiceError

    return CopyServiceError("DLB007E", f"the copy-service state record {path} is damaged ({why}); nothing was "
                                       "changed. Restore it from a copy, or move it and its .bm files away to "
                                       "forget that relationship (its target then holds whatever it held).")


_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ records
    def _rec(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise ValueError(f"bad state key {key!r}")
        return self.dir / f"{key}.json"

    def put(self, key: str, record: dict) -> None:
        self.ensure()
        path = self._rec(key)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f, separators=(",", ":"), sort_keys=True)
        os.replace(tmp, path)

    def get(self, key: str) -> dict | None:
        """The record, None when there is none; a record that is not a JSON object is
        refused (DLB007E) before anything acts on it."""
        path = self._rec(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise damaged_record(path, "empty" if not raw else f"not JSON: {e}") from None
        if not isinstance(rec, dict):
            raise damaged_record(path, f"a JSON {type(rec).__name__}, not a record")
        return rec

    def keys(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name[:-5] for p in self.dir.glob("*.json"))

    def records(self) -> dict[str, dict]:
        out = {}
        for k in self.keys():
            r = self.get(k)
            if r is not None:
                out[k] = r
        return out

    def delete(self, key: str) -> None:
        """Remove a record and its bitmaps (the record first: without it they are dead)."""
        self._rec(key).unlink(missing_ok=True)
        for p in self.dir.glob(f"{key}.*.bm"):
            p.unlink(missing_ok=True)

    def next_id(self, prefix: str) -> str:
        """A new key ``PREFIXnnnn`` not used before in this store (a counter file).

        The counter is replaced atomically; if a crash left it unreadable anyway, it is
        rebuilt from the highest record number, so an id is never reused while its
        record exists."""
        self.ensure()
        counter = self.dir / f".{prefix}.next"
        try:
            n = int(counter.read_text())
        except (FileNotFoundError, ValueError):
            used = [int(k[len(prefix):]) for k in self.keys() if k.startswith(prefix) and k[len(prefix):].isdigit()]
            n = max(used, default=0) + 1
        while self._rec(f"{prefix}{n:04d}").exists():
            n += 1
        tmp = counter.with_name(counter.name + ".tmp")
        tmp.write_text(str(n + 1))
        os.replace(tmp, counter)
        return f"{prefix}{n:04d}"

    # ------------------------------------------------------------------ bitmaps
    def bitmap_path(self, key: str, name: str) -> Path:
        return self.dir / f"{key}.{name}.bm"

    def bitmap(self, key: str, name: str, nbits: int, create: bool = False, fill: bool = False) -> Bitmap:
        """A bitmap backed by a shared map of its file.  ``create`` makes a new one (all
        clear, or all set with ``fill``); otherwise the file must exist."""
        path = self.bitmap_path(key, name)
        nwords = words_for(nbits)
        if create:
            self.ensure()
            with open(path, "wb") as f:
                f.truncate(max(nwords, 1) * 8)
        words = np.memmap(path, dtype=np.uint64, mode="r+", shape=(max(nwords, 1),))[:nwords]
        bm = Bitmap(nbits, words)
        if create and fill:
            bm.set_range(0, nbits)
        return bm

    def has_bitmap(self, key: str, name: str) -> bool:
        return self.bitmap_path(key, name).exists()
