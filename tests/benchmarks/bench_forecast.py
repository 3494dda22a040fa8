"""Forecast training and scoring costs on this machine, measured in the same run.

1. Training 8 series of 90 days at 5 minutes: sequential (one process) versus the pipeline's parallel path
   (``train_many``, two processes), each including the back-test; goal >= 1.7x on 2 cores.
2. A weekly refit one day later: warm-started from the promoted model versus cold, fit time only; goal <= 0.5x.
3. Scoring 100 series for one 1-minute tick against their promoted bands; goal < 5 s.

    python -m tests.benchmarks.bench_forecast       (make bench runs it)
"""

from __future__ import annotations

import dataclasses as dc
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from akidb_pipelines.forecast.config import SeriesSpec, load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.scoring import score_window
from akidb_pipelines.forecast.train import train_many, train_series
from akidb_pipelines.storage import Lake, hour_partitions
from tests.benchmarks import results as bench_results

START = datetime(2026, 6, 1, tzinfo=timezone.utc)
DAYS = int(os.environ.get("BENCH_FORECAST_DAYS", 90))
N_TRAIN = 8
N_SCORE = 100


def write_golden(lake: Lake, table: str, n_series: int, start: datetime, days: float, seed: int = 3) -> None:
    """1-minute synthetic golden-signal rows (daily + weekly seasonality, growth, noise) for n series."""
    rng = np.random.default_rng(seed)
    n = round(days * 1440)
    minutes = pd.date_range(start, periods=n, freq="min", tz="UTC")
    t = np.arange(n) / 1440.0
    frames = []
    for i in range(n_series):
        base = 20 + 5 * i % 17
        y = (base * (1 + 0.002 * t) + 4 * np.sin(2 * np.pi * t + i) + 1.5 * np.sin(2 * np.pi * t / 7)
             + rng.normal(0, 0.8, n))
        frames.append(pd.DataFrame({"minute": minutes, "tier": "bench", "edge_location": f"s{i:03d}",
                                    "latency_p95_ms": y}))
    df = pd.concat(frames, ignore_index=True)
    staged = lake.staging_dir()
    con = duckdb.connect()
    con.register("g", df)
    con.execute(f"""COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h FROM g)
                    TO '{staged}' (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""")
    lake.publish(table, "bench", staged, hour_partitions(start, start + timedelta(days=days)))


def config(n: int, cutoffs: int = 1):  # noqa: ANN201
    cfg = load_forecast_config()
    specs = tuple(SeriesSpec(f"bench.s{i:03d}", "latency_p95_ms", "bench", f"s{i:03d}") for i in range(n))
    return dc.replace(cfg, series=specs, validation=dc.replace(cfg.validation, max_cutoffs=cutoffs),
                      training=dc.replace(cfg.training, window_days=DAYS))


def main() -> int:
    rows = []
    load = bench_results.load_avg()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(N_TRAIN)
        print(f"writing {N_TRAIN} series x {DAYS + 1} days of 1-minute data ...", flush=True)
        as_of = START + timedelta(days=DAYS)
        ids = [s.id for s in cfg.series]
        seq_lake, par_lake = Lake(Path(tmp) / "seq"), Lake(Path(tmp) / "par")  # separate registries, same data
        for lk in (seq_lake, par_lake):
            write_golden(lk, cfg.source, N_TRAIN, START, DAYS + 1)
        t = time.perf_counter()
        seq = train_many(seq_lake, cfg, ids, as_of, processes=1)
        t_seq = time.perf_counter() - t
        t = time.perf_counter()
        par = train_many(par_lake, cfg, ids, as_of, processes=2)
        t_par = time.perf_counter() - t
        diffs = [abs(a.meta["validation"]["error"] - b.meta["validation"]["error"]) / a.meta["validation"]["error"]
                 for a, b in zip(seq, par)]
        same = max(diffs) < 0.01  # the same models (Stan's optimiser may differ in the last digits between processes)
        print(f"  sequential {t_seq:.1f} s, two processes {t_par:.1f} s, back-test error differs by at most "
              f"{100 * max(diffs):.3f}% between the two", flush=True)
        rows.append(("train 8 series x 90 d (fit + 1-cutoff back-test), sequential", t_seq, 1.0))
        rows.append(("same, pipeline's parallel path (2 processes)", t_par, t_seq / t_par))

        later = as_of + timedelta(days=1)
        warm = [train_series(seq_lake, cfg, cfg.get(s), later).meta["fit_seconds"] for s in ids[:4]]
        cold_cfg = dc.replace(cfg, training=dc.replace(cfg.training, warm_start=False))
        cold = [train_series(seq_lake, cold_cfg, cold_cfg.get(s), later).meta["fit_seconds"] for s in ids[:4]]
        w, c = statistics.median(warm), statistics.median(cold)
        print(f"  refit one day later, fit only (median of 4): warm {w:.2f} s, cold {c:.2f} s", flush=True)
        rows.append(("refit one day later, cold (median fit)", c, 1.0))
        rows.append(("refit one day later, warm-started (median fit)", w, w / c))

        # scoring: 100 series sharing one promoted model and band (scoring cost does not depend on the model)
        score_lake = Lake(Path(tmp) / "score")
        scfg = config(N_SCORE)
        tick = later + timedelta(hours=6)  # after the newest promoted model's training range
        write_golden(score_lake, scfg.source, N_SCORE, tick - timedelta(hours=8), 8 / 24 + 3 / 1440)
        reg_src, reg = Registry(seq_lake), Registry(score_lake)
        p = reg_src.promoted(ids[0])
        model_json, meta, band = reg_src.model_json(ids[0], p.version), p.meta, reg_src.band(ids[0], p.version)
        for s in scfg.series:
            reg.save(s.id, p.version, model_json, meta)
            reg.save_band(s.id, p.version, band)
            reg.promote(s.id, p.version)
        det = load_detector_config()
        times = []
        for k in range(3):
            t = time.perf_counter()
            scores, report = score_window(score_lake, scfg, det, tick + timedelta(minutes=k), tick + timedelta(minutes=k + 1))
            times.append(time.perf_counter() - t)
        if report.unscored:
            print(f"  not scored: {len(report.unscored)}, e.g. {next(iter(report.unscored.items()))}")
        print(f"  one tick, {len(report.scored)} series scored ({len(scores)} points): "
              f"{', '.join(f'{x:.2f}' for x in times)} s", flush=True)
        rows.append((f"score {N_SCORE} series, one 1-minute tick (median of 3)", statistics.median(times), None))

    print("\n| work | time | ratio |\n|---|---:|---:|")
    for name, secs, ratio in rows:
        print(f"| {name} | {secs:.2f} s | {'' if ratio is None else f'{ratio:.2f}x'} |")
    print("\ngoals: parallel >= 1.7x sequential; warm refit <= 0.5x cold; one tick for 100 series < 5 s")
    data = [bench_results.compared(rows[1][0], rows[0][0], t_seq, t_par, 1 / 1.7, rows=N_TRAIN),
            bench_results.compared(rows[3][0], rows[2][0], c, w, 0.5, rows=4),
            bench_results.Row(rows[4][0], "", None, rows[4][1], None, "ours_s < 5", rows[4][1] < 5, rows=N_SCORE)]
    print(f"results: {bench_results.record('bench_forecast', data, load)}")
    return 0 if same and len(report.scored) == N_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
