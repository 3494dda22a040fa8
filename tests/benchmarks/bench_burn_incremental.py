"""Burn rates for one new minute of 100 SLOs at 90 days of history: the incremental update
(``akidb_pipelines.slo.incremental``: load the state file, read sli_events_1m at the new minute and the minutes
leaving each window, advance, write the minute's rows and the state) versus what the pipeline runs today for that
minute, the SQL model for its hour partition (``runner.run_model``: 30 days of sli_events_1m re-read, the hour
written to the lake). Both read the same hour-partitioned lake; the incremental rows are checked equal to the SQL
model's, every column.

    python -m tests.benchmarks.bench_burn_incremental      (BENCH_SLOS, BENCH_DAYS, BENCH_MINUTES, BENCH_RUNS)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from akidb_pipelines.slo.burn_state import BurnState, edge_ranges, hours_of, read_minutes
from akidb_pipelines.slo.incremental import advance, state_from_events
from akidb_pipelines.slo.spec import SLO, MetricSource, load_policy, load_specs
from akidb_pipelines.slo.sql import budget_events_sql, burn_rates_sql, sli_events_sql
from akidb_pipelines.sql_models import load_models
from akidb_pipelines.sql_models.project import SQL_ROOT
from akidb_pipelines.slo.burn_rows import plain
from akidb_pipelines.sql_models.burn_incremental import hour_rows
from akidb_pipelines.sql_models.runner import KNOWN_SOURCES, run_model
from akidb_pipelines.storage.lake import Lake, PartitionKey, hour_partitions
from tests.benchmarks import results as bench_results
from tests.benchmarks.bench_burn_rates import N_SLOS, DAYS, TARGET, differences, make_events

MINUTES = int(os.environ.get("BENCH_MINUTES", 10))   # new minutes stepped (median of their times)
RUNS = int(os.environ.get("BENCH_RUNS", 3))
LOOKBACK = timedelta(days=30)          # runs of the SQL model for the hour (median)


def bench_slos() -> list[SLO]:
    src = MetricSource("golden_signals_1m", "true", "requests")  # only rendered (sli_events_1m is given), never run
    return [SLO(f"svc-{i:03d}", "", "", "", "Occurrences", timedelta(days=30), TARGET, good=src, total=src)
            for i in range(N_SLOS)]


def build_lake(events: Path, root: Path, table: str) -> tuple[Lake, list[PartitionKey]]:
    """sli_events_1m in a local lake, one Parquet file per hour partition, published as the runner does."""
    lake = Lake(root)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'; SET enable_progress_bar=false")
    lo, hi = con.execute("SELECT min(minute), max(minute) FROM read_parquet($f)", {"f": str(events)}).fetchone()
    staged = lake.staging_dir()
    con.execute("""COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h
                         FROM read_parquet($f) ORDER BY minute, slo)
                   TO $out (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""",
                {"f": str(events), "out": str(staged)})
    keys = hour_partitions(lo, hi + timedelta(minutes=1))
    lake.publish(table, "model", staged, keys)
    return lake, keys


def step(lake: Lake, table: str, state_file: Path, out_dir: Path, upto, slos, windows) -> float:  # noqa: ANN001
    """One minute as a per-minute job would do it, timed from the state file to the state file."""
    t = time.perf_counter()
    state = BurnState.load(state_file, windows)
    ranges = edge_ranges(state, upto)
    files = [f for h in hours_of(ranges) for f in lake.list_files(table, PartitionKey.of(h))]
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        rows = read_minutes(con, files, ranges)
    state, out = advance(state, rows, upto, slos, windows)
    pq.write_table(out, out_dir / f"{upto:%Y%m%dT%H%M}.parquet")
    state.save(state_file)
    return time.perf_counter() - t


def main() -> int:
    _, windows = load_specs()
    slos = bench_slos()
    graph = load_models(SQL_ROOT, KNOWN_SOURCES, macros={
        "slo_sli_events": sli_events_sql(slos), "slo_burn_rates": burn_rates_sql(slos, windows),
        "slo_budget_events": budget_events_sql(load_policy())})
    model, sli = graph.models["slo_burn_rates_1m"], graph.models["sli_events_1m"].table
    load = bench_results.load_avg()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        print(f"generating {N_SLOS} SLOs x {DAYS} days of 1-minute SLI events ...", flush=True)
        rows = make_events(d / "events.parquet")
        lake, keys = build_lake(d / "events.parquet", d / "lake", sli)
        hour = keys[-1]
        print(f"  {rows:,} rows in {len(keys)} hour partitions; the hour under test: {hour}", flush=True)

        # the state the previous minute left: rebuilt from history (not timed; a backfill leaves it too)
        state_file = d / "burn-state.json"
        history = pq.read_table(d / "events.parquet")
        state_from_events(history, hour.start - timedelta(minutes=1), windows).save(state_file)
        del history

        # the pipeline today: the SQL model for the hour (30 days re-read), as often as RUNS
        t_sql = []
        os.environ["AKIDB_BURN_RATES"] = "sql"  # the runner's reference path (the pipeline now runs the state)
        for _ in range(RUNS):
            t = time.perf_counter()
            res = run_model(model, graph, lake, [hour])
            t_sql.append(time.perf_counter() - t)
        del os.environ["AKIDB_BURN_RATES"]
        print(f"  SQL model for the hour (runner.run_model, {res.rows:,} rows): "
              f"{', '.join(f'{x:.2f}' for x in t_sql)} s", flush=True)

        # the incremental update, one minute at a time
        out_dir = d / "incremental"
        out_dir.mkdir()
        t_inc = [step(lake, sli, state_file, out_dir, hour.start + timedelta(minutes=i), slos, windows)
                 for i in range(MINUTES)]
        print(f"  incremental update per minute: {', '.join(f'{x * 1000:.0f}' for x in t_inc)} ms; "
              f"state file {state_file.stat().st_size:,} bytes", flush=True)

        # the same rows, every column
        ref = d / "sql_hour.parquet"
        files = lake.batch_files(model.table, hour, "model")
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute("SET VARIABLE f = ?", [files])
        last = hour.start + timedelta(minutes=MINUTES)
        con.execute("COPY (SELECT * FROM read_parquet(getvariable('f')) WHERE minute < $last) TO $ref (FORMAT parquet)",
                    {"last": last, "ref": str(ref)})
        made = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out_dir / "*.parquet")]).fetchone()[0]
        only, n, example = differences(out_dir / "*.parquet", ref,
                                       ["spec", "edge_location", "alert_state", "severity"])
        same = only == 0 and n == 0 and made == N_SLOS * MINUTES
        print(f"  incremental vs SQL model: {made} rows, rows on one side only {only}, rows that differ {n} {example}")

        # the pipeline's path: the whole hour from the state stored at its start (what each detection run does:
        # list the SLI files, check the state's fingerprint, read the hour's and the edge minutes, advance 60
        # minutes, store the state at the hour's end; the Parquet write and publish are the SQL path's too)
        prev = PartitionKey(hour.start - timedelta(hours=1))
        hour_rows(lake, sli, [prev], slos, windows, LOOKBACK)  # rebuilds from the lookback, stores the state
        t_hour, hour_out = [], None
        for _ in range(RUNS):
            t = time.perf_counter()
            hour_out, stats = hour_rows(lake, sli, [hour], slos, windows, LOOKBACK)
            t_hour.append(time.perf_counter() - t)
        assert stats["states_used"] == 1 and stats["rebuilt"] == 0, stats
        pq.write_table(plain(hour_out), d / "hour_state.parquet")
        con.execute(f"COPY (SELECT * FROM read_parquet(getvariable('f'))) TO "
                    f"'{d / 'hour_sql.parquet'}' (FORMAT parquet)")
        h_only, h_n, h_example = differences(d / "hour_state.parquet", d / "hour_sql.parquet",
                                             ["spec", "edge_location", "alert_state", "severity"])
        same_hour = h_only == 0 and h_n == 0
        print(f"  the hour from its state vs the SQL model's hour: rows on one side only {h_only}, differ {h_n} "
              f"{h_example}", flush=True)
        print(f"  the hour from its stored state (burn_incremental.hour_rows, {hour_out.num_rows:,} rows): "
              f"{', '.join(f'{x:.2f}' for x in t_hour)} s", flush=True)

        ours, base = statistics.median(t_inc), statistics.median(t_sql)
        print(f"\nper minute: incremental {ours * 1000:.0f} ms (median of {MINUTES}), SQL model for the hour "
              f"{base:.2f} s (median of {RUNS}): {base / ours:.0f}x")
        print("goal: < 1 s for 100 SLOs at 90 days (moonshot 100 ms), outputs equal")
        row = bench_results.Row(
            f"burn rates for one new minute, {N_SLOS} SLOs at {DAYS} days of history (incremental update: state "
            f"file + edge minutes, median of {MINUTES} minutes)" + ("" if same else " - OUTPUT DIFFERS"),
            "the SQL model for that hour as the pipeline runs it (runner.run_model, 30-day lookback)",
            base, ours, ours / base, "ours_s < 1", same and ours < 1, rows=N_SLOS)
        hour_s = statistics.median(t_hour)
        hour_row = bench_results.compared(
            f"slo_burn_rates_1m for one hour from its stored state, {N_SLOS} SLOs at {DAYS} days (hour_rows: "
            "fingerprint, the hour's and the edge minutes read, 60 minutes advanced)",
            "the SQL model for that hour as the pipeline ran it (runner.run_model, 30-day lookback)",
            base, hour_s, None, rows=hour_out.num_rows)
        hour_row.goal, hour_row.met = "ours_s < 1", hour_s < 1 and same_hour
        if not same_hour:
            hour_row.name += " - OUTPUT DIFFERS"
        print(f"results: {bench_results.record('bench_burn_incremental', [row, hour_row], load)}")
        shutil.rmtree(d / "lake", ignore_errors=True)
        return 0 if same and same_hour else 1


if __name__ == "__main__":
    sys.exit(main())
