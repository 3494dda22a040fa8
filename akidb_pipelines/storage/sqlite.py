"""The small SQLite files kept next to the lake (the PagerDuty outbox, the silences, the runbook audit log), opened
one way: a short-lived connection per operation with a 30 s busy timeout, the store's schema applied when the
store is opened (``CREATE ... IF NOT EXISTS``), and the pragmas a store needs run on every connection.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 30.0
# PRAGMA takes no bound parameters, so a pragma is text of ours and must look like one: name=value, nothing else.
_PRAGMA = re.compile(r"[a-z_]+(=[A-Za-z0-9_]+)?")


class SQLiteFile:
    """One SQLite file with its schema. ``autocommit``: every statement is its own transaction (no implicit
    BEGIN); ``pragmas`` (``"journal_mode=WAL"``) run on each new connection."""

    def __init__(self, path: str | os.PathLike[str], schema: str, *, autocommit: bool = False,
                 pragmas: tuple[str, ...] = ()):
        self.path = Path(path)
        self.autocommit = autocommit
        bad = [p for p in pragmas if not _PRAGMA.fullmatch(p)]
        if bad:
            raise ValueError(f"not a pragma of the form name=value: {bad[0]!r}")
        self.pragmas = pragmas
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as con:
            con.executescript(schema)

    def connect(self) -> sqlite3.Connection:
        """A new connection (the caller closes it; :meth:`connection` and :meth:`transaction` do)."""
        con = (sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None) if self.autocommit
               else sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S))
        for pragma in self.pragmas:
            con.execute(f"PRAGMA {pragma}")
        return con

    @contextmanager
    def connection(self, rows: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection closed on exit, no transaction around it (reads; writes with ``autocommit``). ``rows``:
        rows come back as :class:`sqlite3.Row` (``dict(row)`` works)."""
        with closing(self.connect()) as con:
            if rows:
                con.row_factory = sqlite3.Row
            yield con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection whose changes are committed on a normal exit and rolled back on an exception, then closed."""
        with closing(self.connect()) as con, con:
            yield con
