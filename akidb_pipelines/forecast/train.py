"""Training series end to end: history from the lake, calendar exclusions, the fit (every series of a run together
with the batch fitter; one Stan fit each, warm-started from the promoted model, with the stan fitter), the validation
gate, and promotion (or not: the previous promoted model then stays in use)."""

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
from akidb_pipelines.forecast import batch_fit
from akidb_pipelines.forecast.config import ForecastConfig, SeriesSpec
from akidb_pipelines.forecast.model import (ProphetParams, exclude, fit_prophet, model_summary, predict,
                                            prepare_prophet, to_json)
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.forecast.validate import Validation, cutoffs_for, judge, validate
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


@dataclass
class _Job:
    """One series ready to fit: its history (calendar windows blanked), parameters and unfitted model."""
    spec: SeriesSpec
    hist: pd.DataFrame
    fit_hist: pd.DataFrame
    windows: list[tuple[datetime, datetime]]
    params: ProphetParams
    previous: Any


def _histories(lake: Lake, cfg: ForecastConfig, specs: list[SeriesSpec], start: datetime,
               end: datetime) -> dict[str, pd.DataFrame]:
    frame = read_series(lake, cfg, specs, start, end, cfg.resolution_minutes)
    by = {sid: g[["ds", "y"]].reset_index(drop=True) for sid, g in frame.groupby("series", sort=False)}
    return {s.id: by.get(s.id, frame.iloc[0:0][["ds", "y"]]) for s in specs}


def _job(cfg: ForecastConfig, spec: SeriesSpec, hist: pd.DataFrame, start: datetime, end: datetime,
         calendar: list[CalendarEntry], registry: Registry) -> _Job | TrainOutcome:
    tc = cfg.training
    previous = registry.promoted(spec.id)
    span_h = (hist["ds"].max() - hist["ds"].min()).total_seconds() / 3600 if len(hist) > 1 else 0.0
    if span_h < tc.min_history_hours:
        return TrainOutcome(spec.id, "skipped", reasons=[
            f"{len(hist)} points over {span_h:.1f} h of history before {end:%Y-%m-%d %H:%M}Z; "
            f"needs {tc.min_history_hours:g} h"], in_use=previous.version if previous else None)
    windows = exclusions(list(calendar), spec.tier) if tc.exclude_calendar else []
    windows = [(a, b) for a, b in windows if b > start and a < end]
    fit_hist = exclude(hist, windows) if windows else hist
    return _Job(spec, hist, fit_hist, windows, spec.params(tc.prophet), previous)


def _finish(lake: Lake, cfg: ForecastConfig, job: _Job, end: datetime, model: Any, val: Validation,
            timing: dict[str, Any]) -> TrainOutcome:
    """Store the model with its metadata; when it passed the gate, its band and the promotion."""
    registry, spec, hist, fit_hist, previous = Registry(lake), job.spec, job.hist, job.fit_hist, job.previous
    version = _version(spec, end, job.params.to_dict())
    meta = {
        "series": spec.id, "version": version, "created_at": datetime.now(timezone.utc).isoformat(),
        "spec": {"metric": spec.metric, "tier": spec.tier, "edge_location": spec.edge_location},
        "training_start": str(hist["ds"].min()), "training_end": str(hist["ds"].max()),
        "resolution_minutes": cfg.resolution_minutes, "points": int(fit_hist["y"].notna().sum()),
        "excluded_points": int(fit_hist["y"].isna().sum() - hist["y"].isna().sum()),
        "excluded_windows": [[a.isoformat(), b.isoformat()] for a, b in job.windows],
        "params": job.params.to_dict(),
        "warm_started_from": previous.version if getattr(model, "akidb_warm_started", False) else None,
        **timing, "model": model_summary(model), "validation": val.to_dict(),
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


def train_series(lake: Lake, cfg: ForecastConfig, spec: SeriesSpec, end: datetime,
                 calendar: list[CalendarEntry] = ()) -> TrainOutcome:
    """Fit ``spec`` on the trailing ``window_days`` before ``end``, back-test it, store it, promote it if valid.
    The promoted band starts ``scoring.context_minutes`` before ``end``: the scoring's context. With the batch
    fitter this is :func:`train_many` of one series."""
    if cfg.training.fitter == "batch":
        return train_many(lake, cfg, [spec.id], end, calendar)[0]
    tc, registry = cfg.training, Registry(lake)
    end = end.astimezone(timezone.utc)
    start = end - timedelta(days=tc.window_days)
    job = _job(cfg, spec, _histories(lake, cfg, [spec], start, end)[spec.id], start, end, list(calendar), registry)
    if isinstance(job, TrainOutcome):
        return job
    warm = None
    if tc.warm_start and job.previous is not None:
        try:
            warm = registry.load(spec.id, job.previous.version)
        except (FileNotFoundError, ValueError):
            warm = None
    t = time.perf_counter()
    model = fit_prophet(job.fit_hist, job.params, warm_start=warm)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    val = validate(model, job.fit_hist, spec, cfg.validation)
    val_s = time.perf_counter() - t
    return _finish(lake, cfg, job, end, model, val, {"fitter": "stan", "fit_seconds": round(fit_s, 3),
                                                     "validation_seconds": round(val_s, 3)})


def _train_batch(lake: Lake, cfg: ForecastConfig, specs: list[SeriesSpec], end: datetime,
                 calendar: list[CalendarEntry]) -> list[TrainOutcome]:
    """Every series fitted together, back-tested together, then stored one by one. The timings in each model's
    metadata are the batch's (``batch_series``: how many series shared them)."""
    registry = Registry(lake)
    end = end.astimezone(timezone.utc)
    start = end - timedelta(days=cfg.training.window_days)
    hists = _histories(lake, cfg, specs, start, end)
    done: dict[str, TrainOutcome] = {}
    jobs: dict[str, _Job] = {}
    for s in specs:
        j = _job(cfg, s, hists[s.id], start, end, calendar, registry)
        if isinstance(j, TrainOutcome):
            done[s.id] = j
        else:
            jobs[s.id] = j
    if jobs:
        t = time.perf_counter()
        models, by_stan = batch_fit.fit_models({sid: prepare_prophet(j.fit_hist, j.params) for sid, j in jobs.items()})
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        cutoffs = {sid: cutoffs_for(j.fit_hist, cfg.validation) for sid, j in jobs.items()}
        cvs = batch_fit.cross_validate(models, cutoffs, pd.Timedelta(hours=cfg.validation.horizon_hours))
        vals = {sid: judge(cvs.get(sid), j.fit_hist, j.spec, cfg.validation, cutoffs[sid]) for sid, j in jobs.items()}
        val_s = time.perf_counter() - t
        for sid, j in jobs.items():
            timing = {"fitter": "stan (the batch could not fit it)" if sid in by_stan else "batch",
                      "fit_seconds": round(fit_s, 3), "validation_seconds": round(val_s, 3), "batch_series": len(jobs)}
            done[sid] = _finish(lake, cfg, j, end, models[sid], vals[sid], timing)
    return [done[s.id] for s in specs]


def _train_one(args: tuple) -> TrainOutcome:
    lake_root, cfg, series_id, end, calendar = args
    return train_series(Lake(lake_root), cfg, cfg.get(series_id), end, calendar)


def train_many(lake: Lake, cfg: ForecastConfig, series_ids: list[str], end: datetime,
               calendar: list[CalendarEntry] = (), processes: int | None = None) -> list[TrainOutcome]:
    """Train several series. The batch fitter (the default) fits them all at once in this process; the Stan
    fitter fits them ``processes`` at a time (default: the config's; 0 = one per core), each in its own process
    (Stan is single-threaded), so two cores fit two series at once."""
    if cfg.training.fitter == "batch":
        return _train_batch(lake, cfg, [cfg.get(s) for s in series_ids], end, list(calendar))
    n = cfg.training.processes if processes is None else processes
    n = n or os.cpu_count() or 1
    if n <= 1 or len(series_ids) <= 1:
        return [train_series(lake, cfg, cfg.get(s), end, calendar) for s in series_ids]
    jobs = [(lake.root, cfg, s, end, list(calendar)) for s in series_ids]
    with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(_train_one, jobs))
