"""Scoring: the promoted models' forecasts against the newest 1-minute data, through the shared detector.

Each promoted model carries a precomputed 1-minute band (``band.parquet``, written at promotion) so a tick costs a
read and a join, not a Prophet prediction; minutes past the band's end are predicted on the spot. The detector sees
``context_minutes`` (at least the detector's ``context_rows``) of earlier points with each tick (its robust scaling
and debouncing need them), including minutes inside the model's training range, which are context only and never
scored. The detector is causal, so rescoring a trailing context gives exactly the values a longer run would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.forecast.detector import DetectorConfig, score_points
from akidb_pipelines.forecast.model import predict
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.storage import Lake

COLUMNS = ["series", "minute", "actual", "yhat", "lower", "upper", "score", "direction", "anomaly_score",
           "confidence", "is_anomaly", "model_version"]


@dataclass
class ScoreReport:
    scored: dict[str, int] = field(default_factory=dict)          # series -> points scored in the window
    unscored: dict[str, str] = field(default_factory=dict)        # series -> why not (no promoted model, no data)
    predicted_on_the_spot: dict[str, int] = field(default_factory=dict)  # minutes beyond the stored band


def _band(registry: Registry, series: str, version: str, minutes: pd.DatetimeIndex, report: ScoreReport,
          cache: dict) -> pd.DataFrame:
    key = (series, version)
    if key not in cache:
        cache[key] = registry.band(series, version)
    band = cache[key]
    have = band if band is not None else pd.DataFrame(columns=["ds", "yhat", "yhat_lower", "yhat_upper"])
    missing = minutes.difference(pd.DatetimeIndex(have["ds"]))
    if len(missing):
        extra = predict(registry.load(series, version), missing)
        report.predicted_on_the_spot[series] = report.predicted_on_the_spot.get(series, 0) + len(missing)
        have = pd.concat([have, extra], ignore_index=True)
    return have


def score_window(lake: Lake, cfg: ForecastConfig, det: DetectorConfig, start: datetime,
                 end: datetime) -> tuple[pd.DataFrame, ScoreReport]:
    """Score every configured series at each minute of [start, end). Returns one row per scored point
    (``COLUMNS``; ``minute`` in UTC) and what could not be scored and why."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    registry, report, cache = Registry(lake), ScoreReport(), {}
    ctx_start = start - timedelta(minutes=max(cfg.scoring.context_minutes, int(getattr(det, "context_rows", 0))))
    promoted = {}
    for s in cfg.series:
        p = registry.promoted(s.id)
        if p is None:
            report.unscored[s.id] = "no promoted model (train it; a model that fails validation is not promoted)"
        else:
            promoted[s.id] = p
    actual = read_series(lake, cfg, [s for s in cfg.series if s.id in promoted], ctx_start, end, 1)
    lo = pd.Timestamp(start).tz_convert("UTC").tz_localize(None)
    out = []
    per_series = {k: g[["ds", "y"]] for k, g in actual.groupby("series", sort=False)}
    empty = pd.DataFrame({"ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})
    for sid, p in promoted.items():
        a = per_series.get(sid, empty)
        if not (a["ds"] >= lo).any():
            report.unscored[sid] = f"no data between {start:%Y-%m-%d %H:%M} and {end:%H:%M}Z"
            continue
        # Minutes the model was trained on are context only (the detector's robust scale needs a history of
        # residuals right after a promotion), never scored: scores start after the training range.
        trained_to = pd.Timestamp(p.meta.get("training_end"))
        if not (a["ds"] > max(trained_to, lo - pd.Timedelta(minutes=1))).any():
            report.unscored[sid] = f"every minute is inside the model's training range (to {trained_to})"
            continue
        band = _band(registry, sid, p.version, pd.DatetimeIndex(a["ds"]), report, cache)
        frame = a.merge(band, on="ds", how="left").sort_values("ds").reset_index(drop=True)
        scored = score_points(frame, det)
        scored = scored[(scored["ds"] >= lo) & (scored["ds"] > trained_to)]
        if scored.empty:
            continue
        report.scored[sid] = int(len(scored))
        out.append(pd.DataFrame({
            "series": sid, "minute": scored["ds"].dt.tz_localize("UTC"), "actual": scored["y"],
            "yhat": scored["yhat"], "lower": scored["yhat_lower"], "upper": scored["yhat_upper"],
            "score": scored["score"], "direction": scored["direction"], "anomaly_score": scored["anomaly_score"],
            "confidence": scored["confidence"], "is_anomaly": scored["is_anomaly"].astype(bool),
            "model_version": p.version}))
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}), report
    df = pd.concat(out, ignore_index=True)
    df["direction"] = df["direction"].astype(object).where(df["direction"].notna(), None)
    for c in ("actual", "yhat", "lower", "upper", "score", "anomaly_score", "confidence"):
        df[c] = df[c].astype(np.float64)
    return df[COLUMNS], report


SCORES_TABLE = "forecast/anomaly_scores"   # every scored point (dashboards draw the band from it)
ANOMALIES_TABLE = "forecast/anomalies"     # the flagged points only (alerting reads these)
BATCH = "scoring"


def write_scores(lake: Lake, scores: pd.DataFrame, keys: list) -> dict[str, int]:  # noqa: ANN001 - PartitionKeys
    """Replace the scoring batch of the hours ``keys`` in both tables (idempotent: a rerun of a tick rewrites
    the hour). Returns rows written per table."""
    out = {}
    with lake.connect() as con:
        con.register("scores_df", scores)
        for table, where in ((SCORES_TABLE, "true"), (ANOMALIES_TABLE, "is_anomaly")):
            rows = con.execute(f"SELECT count(*) FROM scores_df WHERE {where}").fetchone()[0] if len(scores) else 0
            staged = lake.staging_dir()
            if rows:
                con.execute(f"""COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h
                                      FROM scores_df WHERE {where})
                                TO $path (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""",
                            {"path": str(staged)})
            lake.publish(table, BATCH, staged, keys)
            out[table] = int(rows)
    return out
