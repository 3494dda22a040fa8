"""Training one series end to end: history from the lake, calendar exclusions, warm start from the promoted
model, the validation gate, and promotion (or not: the previous promoted model then stays in use)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from akidb_pipelines.change_calendar import CalendarEntry, exclusions
from akidb_pipelines.forecast.config import ForecastConfig, SeriesSpec
from akidb_pipelines.forecast.model import exclude, fit_prophet, model_summary, predict, to_json
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.forecast.validate import validate
from akidb_pipelines.storage import Lake


@dataclass
class TrainOutcome:
    series: str
    status: str                      # promoted | rejected | skipped
    version: str | None = None
    reasons: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    in_use: str | None = None        # the version scoring uses after this run


def _version(spec: SeriesSpec, end: datetime, params: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps([spec.id, end.isoformat(), params], sort_keys=True, default=str).encode())
    return end.strftime("%Y%m%dT%H%MZ") + "-" + h.hexdigest()[:6]


def train_series(lake: Lake, cfg: ForecastConfig, spec: SeriesSpec, end: datetime,
                 calendar: list[CalendarEntry] = ()) -> TrainOutcome:
    """Fit ``spec`` on the trailing ``window_days`` before ``end``, back-test it, store it, promote it if valid.
    The promoted band starts ``scoring.context_minutes`` before ``end``: the scoring's context."""
    tc, registry = cfg.training, Registry(lake)
    end = end.astimezone(timezone.utc)
    start = end - timedelta(days=tc.window_days)
    previous = registry.promoted(spec.id)
    hist = read_series(lake, cfg, [spec], start, end, cfg.resolution_minutes)[["ds", "y"]]
    span_h = (hist["ds"].max() - hist["ds"].min()).total_seconds() / 3600 if len(hist) > 1 else 0.0
    if span_h < tc.min_history_hours:
        return TrainOutcome(spec.id, "skipped", reasons=[
            f"{len(hist)} points over {span_h:.1f} h of history before {end:%Y-%m-%d %H:%M}Z; "
            f"needs {tc.min_history_hours:g} h"], in_use=previous.version if previous else None)
    windows = exclusions(list(calendar), spec.tier) if tc.exclude_calendar else []
    windows = [(a, b) for a, b in windows if b > start and a < end]
    fit_hist = exclude(hist, windows) if windows else hist
    warm = None
    if tc.warm_start and previous is not None:
        try:
            warm = registry.load(spec.id, previous.version)
        except (FileNotFoundError, ValueError):
            warm = None
    t = time.perf_counter()
    params = spec.params(tc.prophet)
    model = fit_prophet(fit_hist, params, warm_start=warm)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    val = validate(model, fit_hist, spec, cfg.validation)
    val_s = time.perf_counter() - t
    version = _version(spec, end, params.to_dict())
    meta = {
        "series": spec.id, "version": version, "created_at": datetime.now(timezone.utc).isoformat(),
        "spec": {"metric": spec.metric, "tier": spec.tier, "edge_location": spec.edge_location},
        "training_start": str(hist["ds"].min()), "training_end": str(hist["ds"].max()),
        "resolution_minutes": cfg.resolution_minutes, "points": int(fit_hist["y"].notna().sum()),
        "excluded_points": int(fit_hist["y"].isna().sum() - hist["y"].isna().sum()),
        "excluded_windows": [[a.isoformat(), b.isoformat()] for a, b in windows],
        "params": params.to_dict(), "warm_started_from": previous.version if getattr(model, "akidb_warm_started", False) else None,
        "fit_seconds": round(fit_s, 3), "validation_seconds": round(val_s, 3),
        "model": model_summary(model), "validation": val.to_dict(),
        "promoted": val.passed, "previous_promoted": previous.version if previous else None,
    }
    registry.save(spec.id, version, to_json(model), meta)
    if not val.passed:
        return TrainOutcome(spec.id, "rejected", version, list(val.reasons), meta,
                            in_use=previous.version if previous else None)
    band_start = end - timedelta(minutes=cfg.scoring.context_minutes)
    minutes = pd.date_range(band_start.replace(tzinfo=None), end.replace(tzinfo=None)
                            + timedelta(days=cfg.scoring.band_days), freq="1min", inclusive="left")
    registry.save_band(spec.id, version, predict(model, minutes))
    registry.promote(spec.id, version)
    return TrainOutcome(spec.id, "promoted", version, [], meta, in_use=version)


def _train_one(args: tuple) -> TrainOutcome:
    lake_root, cfg, series_id, end, calendar = args
    return train_series(Lake(lake_root), cfg, cfg.get(series_id), end, calendar)


def train_many(lake: Lake, cfg: ForecastConfig, series_ids: list[str], end: datetime,
               calendar: list[CalendarEntry] = (), processes: int | None = None) -> list[TrainOutcome]:
    """Train several series, ``processes`` at a time (default: the config's; 0 = one per core). Each fit runs
    in its own process (Stan is single-threaded), so two cores fit two series at once."""
    n = cfg.training.processes if processes is None else processes
    n = n or os.cpu_count() or 1
    if n <= 1 or len(series_ids) <= 1:
        return [train_series(lake, cfg, cfg.get(s), end, calendar) for s in series_ids]
    jobs = [(lake.root, cfg, s, end, list(calendar)) for s in series_ids]
    with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(_train_one, jobs))
