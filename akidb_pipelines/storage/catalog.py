"""The DuckDB file that serves views over the lake, behind a cross-process lock (DuckDB allows one writer)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from akidb_pipelines.storage.lake import Lake, configure_connection
from akidb_pipelines.storage.sqltext import sql_ident

if TYPE_CHECKING:
    from akidb_pipelines.config import Settings


class CatalogLockTimeout(TimeoutError):
    """Another process held the DuckDB catalog for longer than the configured wait."""


class Catalog:
    """``<home>/akidb.duckdb``: schemas ``raw`` and ``quarantine`` with one view per lake table."""

    def __init__(self, path: str | os.PathLike[str], lake: Lake, lock_timeout_s: float = 120.0):
        self.path = Path(path)
        self.lake = lake
        self.lock_timeout_s = lock_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        return cls(settings.duckdb_path, Lake.from_settings(settings))

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection under an exclusive file lock; waits instead of failing on a busy file."""
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        deadline = time.monotonic() + self.lock_timeout_s
        with open(lock_path, "a+") as lf:
            while True:
                try:
                    fcntl.flock(lf, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise CatalogLockTimeout(f"{self.path} stayed locked for {self.lock_timeout_s:.0f}s") from None
                    time.sleep(0.05)
            try:
                con = self._open(read_only, deadline)
                try:
                    yield configure_connection(con, self.lake)
                finally:
                    con.close()
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)

    def _open(self, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
        # A process outside our lock (e.g. someone's duckdb shell) may still hold the file: retry until the deadline.
        while True:
            try:
                if read_only and not self.path.exists():
                    return duckdb.connect(str(self.path))
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def register(self, table: str, schema: str | None = None, view: str | None = None) -> bool:
        """Create or refresh the view ``<layer>.<name>`` for lake table ``<layer>/<name>`` (or the given schema and
        view name); False while the table has no files. The view shows the committed batches only, each whole,
        and follows later commits by itself (it reads the commit records at query time)."""
        schema = schema or (table.split("/")[0] if "/" in table else "main")
        if not self.lake.has_data(table):
            return False
        self.lake.adopt_legacy(table)  # the view reads the commit records
        with self.connect() as con:
            # A view cannot hold parameters: the lake's paths are quoted literals (Lake.relation_sql), and the
            # schema and view names, which come from our table names, are quoted identifiers.
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_ident(schema)}")
            con.execute(f"CREATE OR REPLACE VIEW {sql_ident(schema)}.{sql_ident(view or _view_name(table))} AS "
                        + self.lake.relation_sql(table))
        return True

    def query(self, sql: str, params: list | None = None):  # noqa: ANN201 - returns a pandas DataFrame
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()


def _view_name(table: str) -> str:
    return table.split("/")[-1]
