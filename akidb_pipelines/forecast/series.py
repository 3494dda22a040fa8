"""Reading a configured series out of the lake: the 1-minute values and their fitting aggregation."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from akidb_pipelines.forecast.config import ForecastConfig, SeriesSpec
from akidb_pipelines.sql_models.runner import _files_for
from akidb_pipelines.storage import Lake
from akidb_pipelines.storage.sqltext import duckdb_path, sql_literal as _q

FILES = "read_parquet(getvariable('akidb_series_files'), union_by_name = true)"


def _bind_files(con, files: list[str]) -> None:  # noqa: ANN001 - a DuckDB connection
    """The files to read, bound as a list variable (never pasted into the SQL)."""
    con.execute("SET VARIABLE akidb_series_files = ?", [[duckdb_path(f) for f in files]])


def read_series(lake: Lake, cfg: ForecastConfig, specs: list[SeriesSpec], start: datetime, end: datetime,
                resolution_minutes: int = 1) -> pd.DataFrame:
    """Columns series, ds (naive UTC), y for [start, end): the mean of the 1-minute values per bucket of
    ``resolution_minutes``. Minutes without a value are simply absent (Prophet and the detector handle gaps)."""
    files = _files_for(lake, cfg.source, start, end)
    if not files or not specs:
        return pd.DataFrame({"series": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]"),
                             "y": pd.Series(dtype=float)})
    with lake.connect() as con:
        _bind_files(con, files)
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {FILES}").fetchall()}
        by_metric: dict[str, list[SeriesSpec]] = {}
        for s in specs:
            if s.metric not in cols:
                raise ValueError(f"series {s.id}: {cfg.source} has no column {s.metric!r} (see {cfg.path})")
            by_metric.setdefault(s.metric, []).append(s)
        parts = []  # one scan per metric, joined to the (tier, edge) -> series table: not one scan per series
        for metric, group in by_metric.items():
            values = ", ".join(f"({_q(s.id)}, {_q(s.tier)}, {_q(s.edge_location)})" for s in group)
            parts.append(f"SELECT k.series, src.minute, src.{metric}::DOUBLE AS y FROM src "
                         f"JOIN (VALUES {values}) k(series, tier, edge_location) "
                         f"ON src.tier = k.tier AND src.edge_location = k.edge_location WHERE src.{metric} IS NOT NULL")
        bucket = f"time_bucket(INTERVAL {int(resolution_minutes)} MINUTE, minute)"
        df = con.execute(f"""
            WITH src AS (SELECT * FROM {FILES}
                         WHERE minute >= ?::TIMESTAMPTZ AND minute < ?::TIMESTAMPTZ),
            v AS ({' UNION ALL '.join(parts)})
            SELECT series, timezone('UTC', {bucket}) AS ds, avg(y) AS y FROM v GROUP BY ALL ORDER BY series, ds
        """, [start.isoformat(), end.isoformat()]).df()
    df["ds"] = pd.to_datetime(df["ds"])
    return df


def data_range(lake: Lake, cfg: ForecastConfig) -> tuple[datetime, datetime] | None:
    """First and last minute present in the source table (None when it is empty)."""
    files = lake.list_files(cfg.source)
    if not files:
        return None
    with lake.connect() as con:
        _bind_files(con, files)
        lo, hi = con.execute(f"SELECT min(minute), max(minute) FROM {FILES}").fetchone()
    return (lo, hi) if lo is not None else None
