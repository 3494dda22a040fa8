"""Reading the lake for the dashboards: DuckDB over the Parquet tables (local or S3), time windows and buckets.

A table that has no files yet is reported as missing (``None``) instead of raising, so a page can say which input
is absent. Columns a table does not have (an older file, a ledger that gained or lost a column) read as NULL.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from akidb_pipelines.storage import Lake
from akidb_pipelines.storage.sqltext import duckdb_path

BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)  # minutes


def bucket_minutes(span: timedelta, max_points: int = 2100) -> int:
    """The finest bucket that keeps a series of ``span`` under ``max_points`` points (a week -> 5 minutes)."""
    minutes = span.total_seconds() / 60
    return next((b for b in BUCKETS if minutes / b <= max_points), BUCKETS[-1])


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime            # exclusive
    bucket: int              # minutes

    @property
    def step_ms(self) -> int:
        return self.bucket * 60_000

    @property
    def t0_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def n(self) -> int:
        return max(1, math.ceil((self.end - self.start).total_seconds() / 60 / self.bucket))

    def index(self, t: pd.Series) -> np.ndarray:
        ts = pd.to_datetime(t, utc=True)
        return ((ts - pd.Timestamp(self.start)).dt.total_seconds() // (self.bucket * 60)).astype(int).to_numpy()

    def grid(self, frame: pd.DataFrame, column: str, time_column: str = "t") -> np.ndarray:
        """``column`` of ``frame`` (one row per bucket) laid on this window's grid, NaN where there is no row."""
        out = np.full(self.n, np.nan)
        if frame is None or not len(frame):
            return out
        idx = self.index(frame[time_column])
        ok = (idx >= 0) & (idx < self.n)
        out[idx[ok]] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[ok]
        return out

    def coarser(self, k: int) -> Window:
        """This window with buckets ``k`` times wider (pairs with ``coarsen(values, k)``)."""
        return Window(self.start, self.end, self.bucket * max(1, k))

    def describe(self) -> str:
        return (f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M} UTC, "
                f"{self.bucket}-minute buckets")


def window_for(last: datetime, first: datetime, days: float, max_points: int = 2100) -> Window:
    """The trailing ``days`` ending at the minute after ``last`` (never before ``first``), bucket-aligned."""
    end = _utc(last) + timedelta(minutes=1)
    start = max(_utc(first), end - timedelta(days=days))
    bucket = bucket_minutes(end - start, max_points)
    epoch = int(start.timestamp()) // (bucket * 60) * (bucket * 60)
    start = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return Window(start, end, bucket)


def _utc(t: datetime | pd.Timestamp) -> datetime:
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def coarsen(a: np.ndarray, k: int, how: str = "mean") -> np.ndarray:
    """Every ``k`` consecutive points as one (mean or max, ignoring NaN) for charts with many series."""
    if k <= 1:
        return a
    n = math.ceil(len(a) / k)
    padded = np.full(n * k, np.nan)
    padded[: len(a)] = a
    blocks = padded.reshape(n, k)
    with warnings.catch_warnings():  # all-NaN blocks stay NaN (gaps), without a warning each
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(blocks, axis=1) if how == "max" else np.nanmean(blocks, axis=1)


class LakeReader:
    """One in-memory DuckDB connection over the lake (httpfs for S3), closed with ``close()``."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self.con = lake.connect()
        self._cols: dict[str, list[str]] = {}
        self._vars: dict[str, str] = {}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()

    def has(self, table: str) -> bool:
        return self.lake.has_data(table)

    def relation(self, table: str) -> str:
        """The table's committed files (never a glob: uncommitted or superseded files stay out), bound as a list
        in a DuckDB variable rather than pasted into the SQL."""
        if table not in self._vars:
            var = "akidb_files_" + re.sub(r"\W", "_", table)  # from our own table names: an identifier
            self.con.execute(f"SET VARIABLE {var} = ?", [[duckdb_path(f) for f in self.lake.list_files(table)]])
            self._vars[table] = var
        return f"read_parquet(getvariable('{self._vars[table]}'), hive_partitioning = false, union_by_name = true)"

    def columns(self, table: str) -> list[str]:
        if table not in self._cols:
            self._cols[table] = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {self.relation(table)}").fetchall()]
        return self._cols[table]

    def col(self, table: str, name: str, cast: str = "DOUBLE") -> str:
        """``name`` when the table has it, else a typed NULL (so a model that lost a column still renders)."""
        return name if name in self.columns(table) else f"NULL::{cast}"

    def span(self, table: str, time_column: str = "minute") -> tuple[datetime, datetime] | None:
        row = self.con.execute(f"SELECT min({time_column}), max({time_column}) FROM {self.relation(table)}").fetchone()
        return None if row[0] is None else (_utc(row[0]), _utc(row[1]))

    def df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def read_object(self, rel: str) -> pd.DataFrame | None:
        """A single Parquet object (the incident ledger), None when it does not exist."""
        data = self.lake.read_bytes(rel)
        if data is None:
            return None
        return pd.read_parquet(io.BytesIO(data))
