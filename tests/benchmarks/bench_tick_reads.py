"""What a response tick's reads of the lake cost as history grows (``make bench``; ~1 min).

A live tick reads the firing burn-rate minutes and the minutes with bad events before them, the flagged anomalies
and the X-Ray service map, all for its lookback (4 days). The tables are partitioned by hour; DuckDB reads the
footer of every file it is handed, so a read given every file of the table costs more with every hour stored
(a 90-day lake holds 2,160 files per table), and the service map read every span ever stored.

Set-up (not timed): two lakes of the same synthetic tables, 7 and 90 days long (one file per hour and table, the
same rows per hour; a burn-rate tier firing and anomalies flagged in the last hours). Measured in the same run,
median of 5:

* ours at 90 days: :func:`slo_alerts`, :func:`anomaly_alerts` and :func:`service_map` over the hours of the lookback;
* the same reads at 7 days (the goal: 90 days costs at most 1.5x what 7 days costs);
* the reads handed every file of the table at 90 days (what the tick did before), checked to give the same alerts.

    python -m tests.benchmarks.bench_tick_reads
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from akidb_pipelines.alerting.alert_sources import (
    ANOMALIES_TABLE, ANOMALY_SQL, BURN_SQL, BURN_TABLE, HOT_SQL, SPANS_TABLE, anomaly_alerts, anomaly_alerts_of,
    hot_minutes, hot_since, service_map, slo_alerts, slo_alerts_of)
from akidb_pipelines.alerting.correlate import ServiceMap, service_map_sql
from akidb_pipelines.forecast.config import ForecastConfig, load_forecast_config
from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.storage import Lake
from tests.benchmarks import results as bench_results
from tests.benchmarks.results import timed

END = datetime(2026, 12, 1, tzinfo=timezone.utc)
LOOKBACK = timedelta(days=4)
SLO_KEYS = 20           # SLO instances (the shipped SLOs and the edge locations of the grouped ones)
SPANS_PER_HOUR = 600    # 5 traces a minute, a parent and a child each
REPEAT = 5


def build(root: Path, days: int) -> Lake:
    """A lake with ``days`` of hourly burn-rate rows, anomaly scores and spans ending at END."""
    lake = Lake(root)
    first = END - timedelta(days=days)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        tables = {
            BURN_TABLE: """
                SELECT 'slo-' || k AS slo, m AS minute, 1000.0 AS total,
                       CASE WHEN m >= $end - INTERVAL 40 MINUTE AND k = 3 THEN 950.0
                            WHEN minute(m) = 7 AND k = 5 THEN 999.0 ELSE 1000.0 END AS good, 0.999 AS target,
                       CASE WHEN m >= $end - INTERVAL 35 MINUTE AND k = 3 THEN 'fast' ELSE 'ok' END AS alert_state,
                       CASE WHEN m >= $end - INTERVAL 35 MINUTE AND k = 3 THEN 'P0' END AS severity,
                       1.0 AS burn_1h, 1.0 AS burn_5m, 1.0 AS burn_6h, 0.9 AS budget_remaining,
                       NULL::DOUBLE AS hours_to_exhaustion
                FROM range($first, $end, INTERVAL 1 MINUTE) t(m), range(1, $keys + 1) s(k)""",
            ANOMALIES_TABLE: """
                SELECT 'akidb-rest.latency_p95_ms' AS series, m AS minute, 80.0 AS actual, 25.0 AS yhat,
                       20.0 AS lower, 30.0 AS upper, 0.9 AS anomaly_score, 'up' AS direction
                FROM range($first, $end, INTERVAL 1 MINUTE) t(m)
                WHERE m >= $end - INTERVAL 20 MINUTE OR minute(m) = 30 AND hour(m) = 3""",
            SPANS_TABLE: f"""
                SELECT 'tr-' || (i // 2) AS trace_id, 'id-' || i AS id,
                       CASE WHEN i % 2 = 1 THEN 'id-' || (i - 1) END AS parent_id, (i % 2)::INTEGER AS depth,
                       CASE WHEN i % 2 = 0 THEN 'akidb-rest' ELSE 'sqlite' END AS tier,
                       CASE WHEN i % 2 = 0 THEN 'akidb-rest' ELSE 'sqlite.query' END AS name,
                       $first + to_microseconds((i * 3600000000 // {SPANS_PER_HOUR})::BIGINT) AS ts
                FROM range(0, {SPANS_PER_HOUR} * 24 * $days) r(i)""",
        }
        for table, sql in tables.items():
            col = "ts" if table == SPANS_TABLE else "minute"
            staged = lake.staging_dir()
            params = {"first": first, "end": END, "keys": SLO_KEYS, "days": days, "path": str(staged)}
            con.execute(f"""COPY (SELECT *, (epoch(date_trunc('hour', {col})) // 3600)::BIGINT AS _h FROM ({sql}))
                            TO $path (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""",
                        {k: v for k, v in params.items() if f"${k}" in sql or k == "path"})
            lake.publish(table, "bench", staged, [])
    return lake


def ours(lake: Lake, table, cfg: ForecastConfig) -> tuple:  # noqa: ANN001 - WindowTable
    start, end = END - LOOKBACK, END + timedelta(minutes=1)
    return (slo_alerts(lake, [], start, end, table=table), anomaly_alerts(lake, cfg, start, end),
            service_map(lake, start, end).edges)


def every_file(lake: Lake, table, cfg: ForecastConfig) -> tuple:  # noqa: ANN001 - WindowTable
    """The same reads handed every file of each table (the tick before the hour-restricted reads)."""
    start, end = END - LOOKBACK, END + timedelta(minutes=1)
    rows = lake.query_table(BURN_TABLE, BURN_SQL, [start, end])
    hot = hot_minutes(lake.query_table(BURN_TABLE, HOT_SQL, [hot_since(start, table), end]))
    return (slo_alerts_of(rows, [], table=table, hot=hot),
            anomaly_alerts_of(lake.query_table(ANOMALIES_TABLE, ANOMALY_SQL, [start, end]), cfg),
            ServiceMap({tuple(r) for r in lake.query_table(SPANS_TABLE, service_map_sql("{src}"))}).edges)


def main() -> int:
    os.environ.setdefault("AKIDB_HOME", ".akidb")
    load = bench_results.load_avg()
    _, table = load_specs()
    cfg = load_forecast_config()
    with tempfile.TemporaryDirectory() as tmp:
        short, long_ = build(Path(tmp) / "d7", 7), build(Path(tmp) / "d90", 90)
        files = len(long_.list_files(BURN_TABLE))
        t7, got7 = timed(ours, short, table, cfg, repeat=REPEAT)
        t90, got90 = timed(ours, long_, table, cfg, repeat=REPEAT)
        tall, before = timed(every_file, long_, table, cfg, repeat=REPEAT)
    assert got90 == got7 == before and got90[0] and got90[1] and got90[2], "the reads disagree"
    print(f"tick reads, 4-day lookback: 7 days stored {t7 * 1000:.0f} ms, 90 days stored {t90 * 1000:.0f} ms, "
          f"90 days with every file {tall * 1000:.0f} ms ({files} files per table)")
    rows = [
        bench_results.compared("tick reads at 90 days of history (hours of the lookback only)",
                               "the same reads at 7 days of history", t7, t90, 1.5, rows=files),
        bench_results.compared("tick reads at 90 days of history (hours of the lookback only)",
                               "the reads handed every file of the table (before)", tall, t90, None, rows=files),
    ]
    print(f"results: {bench_results.record('bench_tick_reads', rows, load)}")
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
