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


def _publish_golden(lake: Lake, table: str, df: pd.DataFrame, start: datetime, days: float) -> None:
    """Stage ``df`` as hourly Parquet partitions and publish it as the ``bench`` batch of ``table``."""
    staged = lake.staging_dir()
    con = duckdb.connect()
    con.register("g", df)
    con.execute("""COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h FROM g)
                   TO $path (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""", {"path": str(staged)})
    con.close()
    lake.publish(table, "bench", staged, hour_partitions(start, start + timedelta(days=days)))


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
    _publish_golden(lake, table, pd.concat(frames, ignore_index=True), start, days)


def write_default_golden(lake: Lake, table: str, start: datetime, days: float, seed: int = 5) -> None:
    """1-minute rows for every default series (forecast.yaml): akidb-rest's five metrics, CloudFront's requests and
    error rate, twelve edge locations' Lambda@Edge latency; daily cycles, 30% lower weekends where traffic has them,
    growth, noise."""
    rng = np.random.default_rng(seed)
    n = round(days * 1440)
    minutes = pd.date_range(start, periods=n, freq="min", tz="UTC")
    t = np.arange(n) / 1440.0
    day = np.sin(2 * np.pi * (t - 0.3))
    weekend = np.asarray(minutes.day_of_week >= 5)
    traffic = 400 * (1 + 0.5 * day) * (1 - 0.3 * weekend) * (1 + 0.002 * t)
    rest = {"requests": traffic + rng.normal(0, 8, n), "latency_p95_ms": 18 + 3 * day + rng.normal(0, 0.6, n),
            "cpu_utilization_pct": 35 + 12 * day * (1 - 0.3 * weekend) + rng.normal(0, 1.5, n),
            "capacity_ratio": 1.6 - 0.2 * day + rng.normal(0, 0.03, n), "load_forecast_ratio": 1 + rng.normal(0, 0.02, n)}
    frames = [pd.DataFrame({"minute": minutes, "tier": "akidb-rest", "edge_location": "all", **rest}),
              pd.DataFrame({"minute": minutes, "tier": "cloudfront", "edge_location": "all",
                            "requests": 1.05 * traffic + rng.normal(0, 8, n),
                            "error_rate": np.abs(0.0004 + rng.normal(0, 0.0002, n))})]
    for k, edge in enumerate(("IAD89", "SFO5", "FRA56", "LHR62", "NRT57", "SIN52", "SYD62", "GRU3", "BOM78", "CDG50",
                              "ICN54", "DUB56")):
        frames.append(pd.DataFrame({"minute": minutes, "tier": "lambda-edge", "edge_location": edge,
                                    "emf_latency_p95_ms": 40 + k + 6 * np.sin(2 * np.pi * (t - k / 12))
                                    + rng.normal(0, 2, n)}))
    _publish_golden(lake, table, pd.concat(frames, ignore_index=True), start, days)


def bench_default_training(tmp: Path) -> list[bench_results.Row]:
    """The weekly training of the 18 default series on 90 days at 5 minutes, back-test and bands included: the
    batch fitter (the default) against the Stan fitter in two processes (the path it replaces), same data."""
    cfg = load_forecast_config()
    stan_cfg = dc.replace(cfg, training=dc.replace(cfg.training, fitter="stan", window_days=DAYS))
    cfg = dc.replace(cfg, training=dc.replace(cfg.training, fitter="batch", window_days=DAYS))
    as_of = START + timedelta(days=DAYS)
    lakes = {k: Lake(tmp / f"default-{k}") for k in ("batch", "stan")}
    print(f"writing the {len(cfg.series)} default series x {DAYS + 1} days of 1-minute data ...", flush=True)
    for lk in lakes.values():
        write_default_golden(lk, cfg.source, START, DAYS + 1)
    t = time.perf_counter()
    ours = train_many(lakes["batch"], cfg, cfg.ids, as_of)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    ref = train_many(lakes["stan"], stan_cfg, stan_cfg.ids, as_of, processes=2)
    t_stan = time.perf_counter() - t
    same_verdicts = [o.status for o in ours] == [o.status for o in ref]
    errs = [(o.meta["validation"]["error"], r.meta["validation"]["error"]) for o, r in zip(ours, ref, strict=True)]
    worst = max(abs(a - b) / b for a, b in errs)
    print(f"  batch {t_batch:.1f} s, Stan in 2 processes {t_stan:.1f} s; verdicts "
          f"{'the same' if same_verdicts else 'DIFFER'} ({sum(o.status == 'promoted' for o in ours)} promoted); "
          f"back-test error: batch median {statistics.median(a for a, _ in errs):.4f}, Stan "
          f"{statistics.median(b for _, b in errs):.4f}, most apart {100 * worst:.1f}%", flush=True)
    for o, r in zip(ours, ref, strict=True):
        print(f"    {o.series}: {o.status} {o.meta['validation']['error']:.4f} | {r.status} "
              f"{r.meta['validation']['error']:.4f}")
    row = bench_results.compared(f"weekly training, {len(cfg.series)} default series x {DAYS} d at 5 min, back-test "
                                 "and bands included (batch fitter)" + ("" if same_verdicts else " - VERDICTS DIFFER"),
                                 "Stan fitter, 2 processes (the previous path)", t_stan, t_batch, None,
                                 rows=len(cfg.series))
    row.goal, row.met = "ours_s < 30", t_batch < 30 and same_verdicts
    return [row]


def config(n: int, cutoffs: int = 1):  # noqa: ANN201
    cfg = load_forecast_config()
    specs = tuple(SeriesSpec(f"bench.s{i:03d}", "latency_p95_ms", "bench", f"s{i:03d}") for i in range(n))
    return dc.replace(cfg, series=specs, validation=dc.replace(cfg.validation, max_cutoffs=cutoffs),
                      training=dc.replace(cfg.training, window_days=DAYS, fitter="stan"))


def main() -> int:
    rows = []
    load = bench_results.load_avg()
    with tempfile.TemporaryDirectory() as tmp:
        default_rows = bench_default_training(Path(tmp))
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
        rows.append(("same, Stan fitter's parallel path (2 processes)", t_par, t_seq / t_par))
        batch_lake = Lake(Path(tmp) / "batch")
        write_golden(batch_lake, cfg.source, N_TRAIN, START, DAYS + 1)
        bcfg = dc.replace(cfg, training=dc.replace(cfg.training, fitter="batch"))
        t = time.perf_counter()
        bat = train_many(batch_lake, bcfg, ids, as_of)
        t_bat = time.perf_counter() - t
        bdiff = max(abs(a.meta["validation"]["error"] - b.meta["validation"]["error"]) / a.meta["validation"]["error"]
                    for a, b in zip(seq, bat))
        print(f"  batch fitter {t_bat:.1f} s, back-test error at most {100 * bdiff:.2f}% from Stan's", flush=True)

        later = as_of + timedelta(days=1)
        warm = [train_series(seq_lake, cfg, cfg.get(s), later).meta["fit_seconds"] for s in ids[:4]]
        cold_cfg = dc.replace(cfg, training=dc.replace(cfg.training, warm_start=False))
        cold = [train_series(seq_lake, cold_cfg, cold_cfg.get(s), later).meta["fit_seconds"] for s in ids[:4]]
        w, c = statistics.median(warm), statistics.median(cold)
        print(f"  refit one day later, fit only (median of 4): warm {w:.2f} s, cold {c:.2f} s", flush=True)
        rows.append(("refit one day later, cold (median fit)", c, 1.0))
        rows.append(("refit one day later, warm-started (median fit)", w, w / c))
        # the batch fitter does not iterate from a start: its refit against Stan's cold one (fit seconds, 4 series)
        refit = train_many(batch_lake, bcfg, ids[:4], later)[0].meta["fit_seconds"]
        print(f"  refit one day later with the batch fitter: {refit:.2f} s for 4 series together", flush=True)

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
            bench_results.compared(f"train 8 series x 90 d, batch fitter (back-test error within {100 * bdiff:.2f}% "
                                   "of Stan's)", rows[0][0], t_seq, t_bat, None, rows=N_TRAIN),
            bench_results.compared("refit one day later, batch fitter (4 series together, fit only)",
                                   "Stan cold refits of the same 4 series (sum of fits)", 4 * c, refit, 0.5, rows=4),
            bench_results.compared(rows[3][0], rows[2][0], c, w, 0.5, rows=4),
            bench_results.Row(rows[4][0], "", None, rows[4][1], None, "ours_s < 5", rows[4][1] < 5, rows=N_SCORE),
            *default_rows]
    print(f"results: {bench_results.record('bench_forecast', data, load)}")
    return 0 if same and len(report.scored) == N_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
