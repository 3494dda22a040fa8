"""slo_burn_rates_1m from its stored state (the runner's incremental path) against the SQL model, on a real lake:
hour by hour as detection runs write it, several hours in one run, and after an earlier hour's SLI events changed
(late data), where the stale state must not be used."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from akidb_pipelines.sql_models.burn_incremental import STATE_PREFIX
from akidb_pipelines.sql_models.project import project_graph
from akidb_pipelines.sql_models.runner import run_model
from akidb_pipelines.storage import Lake, PartitionKey, hour_partitions
from akidb_pipelines.storage.sqltext import duckdb_path
from tests.conftest import DAYS_START

GRAPH = project_graph()
MODEL = GRAPH.models["slo_burn_rates_1m"]
SLI = GRAPH.models["sli_events_1m"].table


def _lake(src: Lake, dst: Path) -> Lake:
    shutil.copytree(Path(src.root) / SLI, dst / SLI)
    return Lake(dst)


def _rows(lake: Lake, key: PartitionKey) -> list[tuple]:
    files = [duckdb_path(f) for f in lake.list_files(MODEL.table, key)]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute("SELECT * FROM read_parquet(?, union_by_name = true) "
                           "ORDER BY slo, minute", [files]).fetchall() if files else []


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b) and a, (len(a), len(b))
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                assert (math.isnan(u) and math.isnan(v)) or math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12), (x, y)
            else:
                assert u == v, (x, y)


@pytest.fixture()
def lakes(days_lake, tmp_path, monkeypatch):
    src, _ = days_lake
    return _lake(src, tmp_path / "inc"), _lake(src, tmp_path / "sql")


def _run(lake: Lake, keys: list[PartitionKey], monkeypatch, sql: bool) -> None:
    with monkeypatch.context() as m:
        if sql:
            m.setenv("AKIDB_BURN_RATES", "sql")
        else:
            m.delenv("AKIDB_BURN_RATES", raising=False)
        run_model(MODEL, GRAPH, lake, keys)


def test_hour_by_hour_and_many_hours_at_once_equal_the_sql_model(lakes, monkeypatch):
    inc, ref = lakes
    day2 = DAYS_START + timedelta(days=1)
    # the first run has no state: built from the lookback, then every hour stores the state at its end
    _run(inc, hour_partitions(DAYS_START, day2), monkeypatch, sql=False)
    hours = hour_partitions(day2, day2 + timedelta(hours=6))
    for k in hours:
        res = run_model(MODEL, GRAPH, inc, [k])
        assert "states_used 1" in res.sql and "rebuilt 0" in res.sql and "hours_advanced 1" in res.sql, res.sql
    _run(ref, hour_partitions(DAYS_START, day2 + timedelta(hours=6)), monkeypatch, sql=True)
    for k in hour_partitions(DAYS_START, day2 + timedelta(hours=6)):
        _same(_rows(inc, k), _rows(ref, k))
    assert len(inc.list_objects(STATE_PREFIX)) == 30  # one state per hour end


def test_a_changed_earlier_hour_invalidates_the_states_after_it(lakes, monkeypatch):
    inc, ref = lakes
    day2 = DAYS_START + timedelta(days=1)
    _run(inc, hour_partitions(DAYS_START, day2 + timedelta(hours=3)), monkeypatch, sql=False)
    k = PartitionKey(day2 + timedelta(hours=3))
    _run(ref, [k], monkeypatch, sql=True)
    before = _rows(ref, k)
    # late data: an hour of yesterday's SLI events re-published with a burst of bad events
    late = PartitionKey(DAYS_START + timedelta(hours=20))
    for lake in (inc, ref):
        staged = lake.staging_dir()
        out = staged / f"_h={int(late.start.timestamp()) // 3600}"
        out.mkdir()
        files = [duckdb_path(f) for f in lake.list_files(SLI, late)]
        with duckdb.connect() as con:
            con.execute("COPY (SELECT * REPLACE (CASE WHEN extract(minute FROM minute) >= 30 "
                        "THEN good * 0.5 ELSE good END AS good) FROM read_parquet($files)) TO $path (FORMAT parquet)",
                        {"files": files, "path": str(out / "data_0.parquet")})
        lake.publish(SLI, "model", staged, [late])
        shutil.rmtree(staged, ignore_errors=True)
    res = run_model(MODEL, GRAPH, inc, [k])
    # the states after 20:00 depend on the changed hour: the walk back finds the one at 20:00 and advances
    assert "states_used 1" in res.sql and "hours_advanced 8" in res.sql, res.sql
    _run(ref, [k], monkeypatch, sql=True)
    after = _rows(ref, k)
    _same(_rows(inc, k), after)
    assert after != before  # the late burst is in the hour's longer windows: a stale state would miss it
