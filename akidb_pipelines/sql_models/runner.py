"""Run one SQL model for a window of hour partitions: render, execute in DuckDB, write Parquet, run column tests.

Sources and refs render as the rows whose time lies in the window (reading only the partitions that can hold them),
widened by the model's ``lookback_minutes`` when it needs earlier rows (counter increases, rolling windows). The
model's own rows outside the window are dropped, so a run owns exactly its window and re-running replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from akidb_pipelines.sql_models.loader import ColumnTest, Model, ModelGraph
from akidb_pipelines.storage.lake import Lake, PartitionKey, hour_partitions
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES

# Lake tables a model may read with source('<layer>', '<table>'), and the time column of each.
SOURCE_TIME = {
    ("raw", "xray_spans"): "start_time",
    ("raw", "emf_metrics"): "ts",
    ("raw", "prometheus_samples"): "ts",
    **{tuple(t.split("/")): "record_ts" for t in QUARANTINE_TABLES.values()},
}
KNOWN_SOURCES = set(SOURCE_TIME)
assert all(tuple(t.split("/")) in KNOWN_SOURCES for t in RAW_TABLES.values())
BATCH = "model"


class ModelRunError(RuntimeError):
    """A model failed to run; the message names the model file."""


@dataclass
class ModelResult:
    name: str
    rows: int
    columns: list[tuple[str, str]]
    partitions: list[str]
    seconds: float
    sql: str


@dataclass
class TestOutcome:
    test: ColumnTest
    failures: int
    sample: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0


def _files_for(lake: Lake, table: str, start: datetime, end: datetime) -> list[str]:
    keys = {k.path for k in hour_partitions(start - timedelta(hours=1), end + timedelta(hours=1))}
    return [f for f in lake.list_files(table) if "/".join(f.split("/")[-3:-1]) in keys]


def _relation(lake: Lake, table: str, tcol: str, start: datetime, end: datetime, what: str) -> str:
    files = _files_for(lake, table, start, end)
    if not files:
        any_file = lake.list_files(table)[:1]
        if not any_file:
            raise ModelRunError(f"{what}: {table} has no data yet (materialize it first)")
        return f"(SELECT * FROM read_parquet(['{any_file[0]}']) WHERE false)"
    flist = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    return (f"(SELECT * FROM read_parquet({flist}, union_by_name = true) "
            f"WHERE {tcol} >= '{start.isoformat()}'::TIMESTAMPTZ AND {tcol} < '{end.isoformat()}'::TIMESTAMPTZ)")


def render(model: Model, graph: ModelGraph, lake: Lake, keys: list[PartitionKey]) -> str:
    start, end = keys[0].start, keys[-1].end
    read_from = start - timedelta(minutes=int(model.config.get("lookback_minutes", "0")))

    def ref_sql(name: str) -> str:
        up = graph.models[name]
        return _relation(lake, up.table, up.time_column, read_from, end, f"{model.path.name}: ref('{name}')")

    def source_sql(layer: str, table: str) -> str:
        return _relation(lake, f"{layer}/{table}", SOURCE_TIME[(layer, table)], read_from, end,
                         f"{model.path.name}: source('{layer}', '{table}')")

    return model.render(ref_sql, source_sql, (start.isoformat(), end.isoformat()))


def run_model(model: Model, graph: ModelGraph, lake: Lake, keys: list[PartitionKey]) -> ModelResult:
    """Materialize ``model`` for the hours ``keys`` (contiguous) into the lake; replaces its earlier output."""
    t0 = time.perf_counter()
    sql = render(model, graph, lake, keys)
    start, end = keys[0].start, keys[-1].end
    tcol = model.time_column
    with lake.connect() as con:
        try:
            con.execute(f"CREATE TEMP TABLE model_out AS {sql}")
        except duckdb.Error as e:
            raise ModelRunError(f"{model.path}: {str(e).splitlines()[0]}") from None
        columns = [(r[0], r[1]) for r in con.execute("DESCRIBE model_out").fetchall()]
        if tcol not in {c for c, _ in columns}:
            raise ModelRunError(f"{model.path}: the model has no time column {tcol!r} (set '-- config: time_column: ...')")
        con.execute(f"""DELETE FROM model_out WHERE {tcol} IS NULL OR {tcol} < '{start.isoformat()}'::TIMESTAMPTZ
                        OR {tcol} >= '{end.isoformat()}'::TIMESTAMPTZ""")
        rows = con.execute("SELECT count(*) FROM model_out").fetchone()[0]
        staged = lake.staging_dir()
        if rows:
            con.execute(
                f"""COPY (SELECT *, (epoch(date_trunc('hour', {tcol})) // 3600)::BIGINT AS _h FROM model_out)
                    TO '{staged}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)"""
            )
        written = lake.publish(model.table, BATCH, staged, keys)
    return ModelResult(model.name, int(rows), columns, sorted(k for k, v in written.items() if v),
                       round(time.perf_counter() - t0, 3), sql)


def run_tests(model: Model, lake: Lake, keys: list[PartitionKey]) -> list[TestOutcome]:
    """Evaluate the model's column tests on its output for ``keys``."""
    files = [f for k in keys for f in lake.batch_files(model.table, k, BATCH)]
    if not files:
        return [TestOutcome(t, 0) for t in model.tests]
    out = []
    with lake.connect() as con:
        flist = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        con.execute(f"CREATE TEMP VIEW t AS SELECT * FROM read_parquet({flist}, union_by_name = true)")
        for test in model.tests:
            cols = [f'"{c}"' for c in test.column.split(",")]
            if test.kind == "not_null":
                where = f"{cols[0]} IS NULL"
                q = f"SELECT count(*), list(NULL)[1:5] FROM t WHERE {where}"
            elif test.kind == "unique":
                key = ", ".join(cols)
                q = (f"SELECT count(*), list(k)[1:5] FROM (SELECT ({key})::VARCHAR AS k FROM t GROUP BY {key} "
                     f"HAVING count(*) > 1)")
            elif test.kind == "accepted_values":
                vals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in test.args)
                q = f"SELECT count(*), list({cols[0]}::VARCHAR)[1:5] FROM t WHERE {cols[0]}::VARCHAR NOT IN ({vals})"
            else:
                lo, hi = test.args
                conds = ([f"{cols[0]} < {float(lo)!r}"] if lo is not None else []) + (
                    [f"{cols[0]} > {float(hi)!r}"] if hi is not None else [])
                q = f"SELECT count(*), list({cols[0]}::VARCHAR)[1:5] FROM t WHERE {' OR '.join(conds)}"
            n, sample = con.execute(q).fetchone()
            out.append(TestOutcome(test, int(n), [str(s) for s in (sample or [])]))
    return out
