"""Run one SQL model for a window of hour partitions: render, execute in DuckDB, write Parquet, run column tests.

Sources and refs render as the rows whose time lies in the window (reading only the partitions that can hold them),
widened by the model's ``lookback_minutes`` when it needs earlier rows (counter increases, rolling windows). The
model's own rows outside the window are dropped, so a run owns exactly its window and re-running replaces it.

The lake's file lists and the window bounds reach DuckDB as session variables (``SET VARIABLE ... = ?``, read back
with ``getvariable()``), never pasted into the SQL text; only our own column names and the model's SQL are.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from akidb_pipelines.sql_models.loader import ColumnTest, Model, ModelGraph
from akidb_pipelines.storage.lake import Lake, PartitionKey, hour_partitions
from akidb_pipelines.storage.sqltext import duckdb_path, sql_ident
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


class Bindings(dict):
    """Values a rendered model reads with ``getvariable('<name>')``; set them on the connection first."""

    def add(self, value: object) -> str:
        name = f"akidb_v{len(self)}"
        self[name] = value
        return f"getvariable('{name}')"

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, value in self.items():
            con.execute(f"SET VARIABLE {name} = ?", [value])  # the name is ours (akidb_v<n>), the value a parameter


def _relation(lake: Lake, table: str, tcol: str, start: datetime, end: datetime, what: str, bind: Bindings) -> str:
    files = _files_for(lake, table, start, end)
    if not files:
        any_file = lake.list_files(table)[:1]
        if not any_file:
            raise ModelRunError(f"{what}: {table} has no data yet (materialize it first)")
        return f"(SELECT * FROM read_parquet({bind.add([duckdb_path(any_file[0])])}) WHERE false)"
    col = sql_ident(tcol)
    return (f"(SELECT * FROM read_parquet({bind.add([duckdb_path(f) for f in files])}, union_by_name = true) "
            f"WHERE {col} >= {bind.add(start)} AND {col} < {bind.add(end)})")


def render(model: Model, graph: ModelGraph, lake: Lake, keys: list[PartitionKey],
           bind: Bindings | None = None) -> str:
    """The model's SQL for the hours ``keys``; the values it reads are added to ``bind``."""
    bind = Bindings() if bind is None else bind
    start, end = keys[0].start, keys[-1].end
    read_from = start - timedelta(minutes=int(model.config.get("lookback_minutes", "0")))

    def ref_sql(name: str) -> str:
        up = graph.models[name]
        return _relation(lake, up.table, up.time_column, read_from, end, f"{model.path.name}: ref('{name}')", bind)

    def source_sql(layer: str, table: str) -> str:
        return _relation(lake, f"{layer}/{table}", SOURCE_TIME[(layer, table)], read_from, end,
                         f"{model.path.name}: source('{layer}', '{table}')", bind)

    return model.render(ref_sql, source_sql, (start.isoformat(), end.isoformat()))


def run_model(model: Model, graph: ModelGraph, lake: Lake, keys: list[PartitionKey]) -> ModelResult:
    """Materialize ``model`` for the hours ``keys`` (contiguous) into the lake; replaces its earlier output.
    A model with ``-- config: incremental: burn_rates`` (slo_burn_rates_1m) is computed from its stored state
    (``burn_incremental``), unless ``AKIDB_BURN_RATES=sql`` asks for the SQL (the reference) every time."""
    t0 = time.perf_counter()
    how = os.environ.get("AKIDB_BURN_RATES", "") or "incremental"
    if how not in ("incremental", "sql"):
        raise ModelRunError(f"AKIDB_BURN_RATES={how!r}: expected incremental or sql")
    if model.config.get("incremental") == "burn_rates" and how == "incremental":
        return _run_burn_rates(model, graph, lake, keys, t0)
    bind = Bindings()
    sql = render(model, graph, lake, keys, bind)
    with lake.connect() as con:
        bind.apply(con)
        try:
            con.execute(f"CREATE TEMP TABLE model_out AS {sql}")
        except duckdb.Error as e:
            raise ModelRunError(f"{model.path}: {str(e).splitlines()[0]}") from None
        return _write(con, model, lake, keys, sql, t0)


def _run_burn_rates(model: Model, graph: ModelGraph, lake: Lake, keys: list[PartitionKey], t0: float) -> ModelResult:
    from akidb_pipelines.slo.burn_rows import plain
    from akidb_pipelines.slo.spec import load_specs
    from akidb_pipelines.sql_models.burn_incremental import hour_rows

    up = model.refs[0][0] if model.refs else "sli_events_1m"
    slos, windows = load_specs()
    lookback = timedelta(minutes=int(model.config.get("lookback_minutes", "43200")))
    rows, stats = hour_rows(lake, graph.models[up].table, keys, slos, windows, lookback)
    note = (f"-- incremental: the state at {keys[0].start:%Y-%m-%dT%H:%M}Z advanced minute by minute "
            f"({', '.join(f'{k} {v}' for k, v in stats.items())}); the SQL reference is {model.path.name}")
    with lake.connect() as con:
        if rows is None:  # no instance has data yet: nothing to write (as the SQL model's empty result)
            con.execute("CREATE TEMP TABLE model_out (minute TIMESTAMPTZ)")
        else:
            con.register("akidb_burn_rows", plain(rows))  # dictionary-encoded strings as plain VARCHAR
            con.execute("CREATE TEMP TABLE model_out AS SELECT * FROM akidb_burn_rows")
            con.unregister("akidb_burn_rows")
        return _write(con, model, lake, keys, note, t0)


def _write(con: duckdb.DuckDBPyConnection, model: Model, lake: Lake, keys: list[PartitionKey], sql: str,
           t0: float) -> ModelResult:
    """Keep ``model_out``'s rows inside the hours ``keys``, write them as Parquet and publish them."""
    start, end = keys[0].start, keys[-1].end
    tcol = model.time_column
    columns = [(r[0], r[1]) for r in con.execute("DESCRIBE model_out").fetchall()]
    if tcol not in {c for c, _ in columns}:
        raise ModelRunError(f"{model.path}: the model has no time column {tcol!r} (set '-- config: time_column: ...')")
    col = sql_ident(tcol)
    con.execute(f"DELETE FROM model_out WHERE {col} IS NULL OR {col} < $start OR {col} >= $end",
                {"start": start, "end": end})
    rows = con.execute("SELECT count(*) FROM model_out").fetchone()[0]
    staged = lake.staging_dir()
    try:
        if rows:
            con.execute(
                f"""COPY (SELECT *, (epoch(date_trunc('hour', {col})) // 3600)::BIGINT AS _h FROM model_out)
                    TO $path (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""",
                {"path": str(staged)})
        written = lake.publish(model.table, BATCH, staged, keys)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return ModelResult(model.name, int(rows), columns, sorted(k for k, v in written.items() if v),
                       round(time.perf_counter() - t0, 3), sql)


def run_tests(model: Model, lake: Lake, keys: list[PartitionKey]) -> list[TestOutcome]:
    """Evaluate the model's column tests on its output for ``keys``."""
    files = [f for k in keys for f in lake.batch_files(model.table, k, BATCH)]
    if not files:
        return [TestOutcome(t, 0) for t in model.tests]
    out = []
    with lake.connect() as con:
        con.execute("SET VARIABLE akidb_test_files = ?", [[duckdb_path(f) for f in files]])
        con.execute("CREATE TEMP VIEW t AS SELECT * FROM read_parquet(getvariable('akidb_test_files'), "
                    "union_by_name = true)")
        for test in model.tests:
            cols = [sql_ident(c) for c in test.column.split(",")]
            params: dict = {}
            if test.kind == "not_null":
                q = f"SELECT count(*), list(NULL)[1:5] FROM t WHERE {cols[0]} IS NULL"
            elif test.kind == "unique":
                key = ", ".join(cols)
                q = (f"SELECT count(*), list(k)[1:5] FROM (SELECT ({key})::VARCHAR AS k FROM t GROUP BY {key} "
                     f"HAVING count(*) > 1)")
            elif test.kind == "accepted_values":
                params = {"vals": [str(v) for v in test.args]}
                q = (f"SELECT count(*), list({cols[0]}::VARCHAR)[1:5] FROM t "
                     f"WHERE NOT list_contains($vals::VARCHAR[], {cols[0]}::VARCHAR)")
            else:
                lo, hi = test.args
                conds = []
                if lo is not None:
                    conds.append(f"{cols[0]} < $lo")
                    params["lo"] = float(lo)
                if hi is not None:
                    conds.append(f"{cols[0]} > $hi")
                    params["hi"] = float(hi)
                q = f"SELECT count(*), list({cols[0]}::VARCHAR)[1:5] FROM t WHERE {' OR '.join(conds)}"
            n, sample = con.execute(q, params).fetchone()
            out.append(TestOutcome(test, int(n), [str(s) for s in (sample or [])]))
    return out
