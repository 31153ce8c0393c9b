"""The site catalog: data set name -> volume serial (the role of an ICF catalog).

An SQLite database beside the site's volumes.  Data set commands given ``--site``
find the volume here; allocations made through the site add entries, deletions remove
them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dasdlab.errors import DatasetError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    dsn     TEXT PRIMARY KEY,
    volser  TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        from dasdlab.emulator.sqlfile import connect

        self._db = connect(self.path, "the site catalog", {"datasets"}, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def add(self, dsn: str, volser: str) -> None:
        dsn = dsn.upper()
        try:
            self._db.execute("INSERT INTO datasets(dsn, volser) VALUES (?, ?)", (dsn, volser.upper()))
        except sqlite3.IntegrityError:
            raise DatasetError("DLB250E", f"{dsn} is already catalogued on {self.lookup(dsn)}.") from None

    def remove(self, dsn: str) -> None:
        self._db.execute("DELETE FROM datasets WHERE dsn = ?", (dsn.upper(),))

    def lookup(self, dsn: str) -> str:
        row = self._db.execute("SELECT volser FROM datasets WHERE dsn = ?", (dsn.upper(),)).fetchone()
        if row is None:
            raise DatasetError("DLB251E", f"data set {dsn.upper()} is not catalogued in this site.")
        return row[0]

    def find(self, dsn: str) -> str | None:
        row = self._db.execute("SELECT volser FROM datasets WHERE dsn = ?", (dsn.upper(),)).fetchone()
        return None if row is None else row[0]

    def entries(self, pattern: str | None = None) -> list[tuple[str, str]]:
        """(dsn, volser) pairs; ``pattern`` is a DFSMS filter (``*`` one qualifier part,
        ``**`` any qualifiers, ``%`` one character)."""
        rows = self._db.execute("SELECT dsn, volser FROM datasets ORDER BY dsn").fetchall()
        if pattern is None:
            return rows
        from dasdlab.emulator.dsnfilter import compile_filter

        rx = compile_filter(pattern)
        return [r for r in rows if rx.match(r[0])]

    def close(self) -> None:
        self._db.close()
