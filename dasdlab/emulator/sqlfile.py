"""Opening a site's SQLite file (the catalog, RECON) without trusting it.

A damaged file must be refused with a message id before anything is written to it:
sqlite3 would otherwise raise a raw ``DatabaseError`` at the first statement, or --
for an empty file or a file whose tables are gone -- quietly make a new, empty
database in its place (losing what RECON knew).  The checks, cheapest first: the
16-byte header ``SQLite format 3\\0`` ("Database File Format", sqlite.org/fileformat.html
§1.3), a size that is a whole number of pages (header bytes 16-17 hold the page size),
``PRAGMA quick_check``, and the tables the owner expects.  A file that passed is not
checked again by this process while its size and modification time stay the same.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from dasdlab.errors import DasdlabError

MAGIC = b"SQLite format 3\x00"

_checked: set[tuple[str, int, int]] = set()


class DamagedFileError(DasdlabError):
    """A site file (catalog, RECON, state record, site.json) that cannot be read as what it must be."""


def _damaged(what: str, path: Path, why: str) -> DamagedFileError:
    return DamagedFileError("DLB005E", f"{what} {path} is damaged ({why}); nothing was changed. Restore it "
                                       "from a copy, or move it away to start that part of the site afresh.")


def connect(path: Path, what: str, tables: set[str], **kw) -> sqlite3.Connection:
    """A connection to ``path``; a new database when the file does not exist, and
    :class:`DamagedFileError` (DLB005E) when it exists but is not a sound database
    holding ``tables``.  Leaves no ``-wal``/``-shm`` file behind when it refuses."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return sqlite3.connect(path, **kw)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _checked:
        with open(path, "rb") as f:
            head = f.read(100)
        if len(head) < 100 or head[:16] != MAGIC:
            raise _damaged(what, path, "empty" if not head else "not an SQLite database")
        page = int.from_bytes(head[16:18], "big")
        page = 65536 if page == 1 else page
        if page < 512 or st.st_size % page:
            raise _damaged(what, path, f"{st.st_size} bytes is not a whole number of {page}-byte pages: truncated")
    side = [Path(f"{path}{s}") for s in ("-wal", "-shm")]
    existed = [p.exists() for p in side]
    db = sqlite3.connect(path, **kw)
    if key in _checked:
        return db
    try:
        ok = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if ok != "ok":
            raise sqlite3.DatabaseError(ok)
        have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        db.close()
        _remove_new(side, existed)
        raise _damaged(what, path, str(e)) from None
    missing = tables - have
    if missing:
        db.close()
        _remove_new(side, existed)
        raise _damaged(what, path, f"tables {', '.join(sorted(missing))} are missing")
    _checked.add(key)
    return db


def _remove_new(side: list[Path], existed: list[bool]) -> None:
    for p, was in zip(side, existed):
        if not was:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
