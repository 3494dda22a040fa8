"""Issue 14, "more history made the forecasts worse": the validation back-test of a few series trained on 4 and on 14
days of the same synthetic history, through ``train_series`` (the production path), one process.

Rows: ``4d auto`` and ``14d auto`` are the shipped model (weekday/weekend profile at any span); ``14d off`` is
``weekend_profile: off``, daily plus Prophet's Fourier weekly seasonality, which is what ``auto`` used to fit from two
weeks of history on (the model before the fix). Each training end is a different weekday, so the back-test's three
days fall on different parts of the week.

    nice -n 10 python -m tests.benchmarks.exp_history_length WORKDIR [--seed 5]

Builds WORKDIR/lake first when missing (18 days generated, ingested and modelled: ~10 min on 2 cores), then trains
3 series x 3 ends x 3 variants (~10 min). Not part of the tests or ``make bench``.
"""

from __future__ import annotations

import argparse
import dataclasses as dc
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.train import train_series
from akidb_pipelines.storage import Lake

START = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday
DAYS = 18
SERIES = ["akidb-rest.requests", "akidb-rest.cpu_utilization_pct", "cloudfront.requests"]
ENDS = [datetime(2026, 11, d, tzinfo=timezone.utc) for d in (16, 17, 19)]  # Mon, Tue, Thu
VARIANTS = [("4d auto", 4, "auto"), ("14d auto", 14, "auto"), ("14d off", 14, "off")]


def build(work: Path, seed: int) -> Lake:
    from akidb_pipelines.pipeline import model_lake
    from akidb_pipelines.synthetic import generate

    lake = Lake(work / "lake")
    if not lake.has_data(load_forecast_config().source):
        print(f"generating {DAYS} days (seed {seed}) and modelling them ...", flush=True)
        data = generate(work / "gen", START, DAYS, seed=seed, scenario=None, traces_per_minute=0.1, compress=True)
        model_lake(lake, data)
        shutil.rmtree(work / "gen", ignore_errors=True)
    return lake


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    src = build(args.workdir, args.seed)
    base = load_forecast_config()
    print("| history | end | series | status | MAPE | 95% band coverage | seasonalities |\n|---|---|---|---|---:|---:|---|")
    for label, days, profile in VARIANTS:
        prophet = dc.replace(base.training.prophet, weekend_profile=profile)
        cfg = dc.replace(base, training=dc.replace(base.training, window_days=days, warm_start=False, prophet=prophet))
        for end in ENDS:
            run = args.workdir / "runs" / f"{days}-{profile}-{end:%d}"  # a private registry per run, the same data
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(Path(src.root) / cfg.source, run / cfg.source)
            lake = Lake(run)
            for sid in SERIES:
                spec = dc.replace(cfg.get(sid), prophet=())  # no per-series override: the variant's profile
                o = train_series(lake, cfg, spec, end)
                v = o.meta.get("validation", {})
                mape, cov = v.get("mape"), v.get("coverage")
                print(f"| {label} | {end:%a %d} | {sid} | {o.status} | "
                      f"{'-' if mape is None else f'{mape:.1%}'} | {'-' if cov is None else f'{cov:.1%}'} | "
                      f"{', '.join(o.meta.get('model', {}).get('seasonalities', []))} |", flush=True)
            shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
