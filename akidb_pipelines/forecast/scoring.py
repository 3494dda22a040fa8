"""Scoring: every configured series' newest 1-minute data against its forecast band, through the shared detector.

The band is the promoted Prophet model's; a series without a promoted model (none trained yet, or none passed the
validation gate) is scored against the seasonal baseline instead (``seasonal_baseline.py``: the median and MAD of
the same minute on earlier days), with ``model_version`` "seasonal-baseline", so no series goes blind.

Each promoted model carries a precomputed 1-minute band (``band.parquet``, written at promotion) so a tick costs a
read and a join, not a Prophet prediction; minutes past the band's end are predicted on the spot. The detector sees
``context_minutes`` (at least the detector's ``context_rows``) of earlier points with each tick (its robust scaling
and debouncing need them), including minutes inside the model's training range, which are context only and never
scored. The detector and the baseline are causal, so rescoring a trailing context gives exactly the values a
longer run would.
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
from akidb_pipelines.forecast.seasonal_baseline import VERSION as BASELINE_VERSION
from akidb_pipelines.forecast.seasonal_baseline import history_start, seasonal_band, shortfall, z_for
from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.storage import Lake

COLUMNS = ["series", "minute", "actual", "yhat", "lower", "upper", "score", "direction", "anomaly_score",
           "confidence", "is_anomaly", "model_version"]


@dataclass
class ScoreReport:
    scored: dict[str, int] = field(default_factory=dict)          # series -> points scored in the window
    unscored: dict[str, str] = field(default_factory=dict)        # series -> why not (no data, too little history)
    predicted_on_the_spot: dict[str, int] = field(default_factory=dict)  # minutes beyond the stored band
    baseline: dict[str, str] = field(default_factory=dict)        # series -> why the seasonal baseline scored it


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


def _no_model(registry: Registry, series: str) -> str:
    """Why a series has no promoted model: none trained yet, or the newest one failed the gate (and why)."""
    versions = registry.versions(series)
    if not versions:
        return "no promoted model: none trained yet"
    try:
        reasons = registry.meta(series, versions[-1]).get("validation", {}).get("reasons", [])
    except (FileNotFoundError, ValueError):
        reasons = []
    return (f"no promoted model: {len(versions)} trained, none passed the validation gate (newest, "
            f"{versions[-1]}: {'; '.join(reasons) or 'not promoted'})")


def _rows(sid: str, scored: pd.DataFrame, version: str) -> pd.DataFrame:
    return pd.DataFrame({
        "series": sid, "minute": scored["ds"].dt.tz_localize("UTC"), "actual": scored["y"],
        "yhat": scored["yhat"], "lower": scored["yhat_lower"], "upper": scored["yhat_upper"],
        "score": scored["score"], "direction": scored["direction"], "anomaly_score": scored["anomaly_score"],
        "confidence": scored["confidence"], "is_anomaly": scored["is_anomaly"].astype(bool),
        "model_version": version})


def _naive(t: datetime) -> pd.Timestamp:
    return pd.Timestamp(t).tz_convert("UTC").tz_localize(None)


def _by_series(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {k: g[["ds", "y"]].reset_index(drop=True) for k, g in frame.groupby("series", sort=False)}


EMPTY = pd.DataFrame({"ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})


def _score_promoted(lake: Lake, cfg: ForecastConfig, det: DetectorConfig, promoted: dict, ctx_start: datetime,
                    start: datetime, end: datetime, report: ScoreReport, out: dict) -> None:
    registry, cache, lo = Registry(lake), {}, _naive(start)
    actual = _by_series(read_series(lake, cfg, [s for s in cfg.series if s.id in promoted], ctx_start, end, 1))
    for sid, p in promoted.items():
        a = actual.get(sid, EMPTY)
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
        if len(scored):
            report.scored[sid] = int(len(scored))
            out[sid] = _rows(sid, scored, p.version)


def _score_baseline(lake: Lake, cfg: ForecastConfig, det: DetectorConfig, why: dict[str, str], ctx_start: datetime,
                    start: datetime, end: datetime, report: ScoreReport, out: dict) -> None:
    """Series without a promoted model, against the seasonal baseline: one read of the lookback for all of them."""
    b, lo, first = cfg.baseline, _naive(start), _naive(ctx_start)
    since = history_start(first, b).tz_localize("UTC").to_pydatetime()
    actual = _by_series(read_series(lake, cfg, [s for s in cfg.series if s.id in why], since, end, 1))
    z = z_for(cfg.training.prophet.interval_width)
    for sid, reason in why.items():
        a = actual.get(sid, EMPTY)
        if not (a["ds"] >= lo).any():
            report.unscored[sid] = f"{reason}; no data between {start:%Y-%m-%d %H:%M} and {end:%H:%M}Z"
            continue
        rows = a[a["ds"] >= first].reset_index(drop=True)
        band = seasonal_band(a, rows["ds"], b, z, by_day_type=day_typed(cfg, sid))
        in_window = (band["ds"] >= lo).to_numpy()
        if band["yhat"][in_window].isna().all():
            report.unscored[sid] = f"{reason}; {shortfall(band[in_window], b)}"
            continue
        frame = rows.assign(**{c: band[c].to_numpy() for c in ("yhat", "yhat_lower", "yhat_upper")})
        scored = score_points(frame, det)
        scored = scored[(scored["ds"] >= lo) & scored["yhat"].notna()]
        report.scored[sid] = int(len(scored))
        report.baseline[sid] = reason
        out[sid] = _rows(sid, scored, BASELINE_VERSION)


def day_typed(cfg: ForecastConfig, sid: str) -> bool:
    """Whether the series has a weekend pattern: not when it is declared without one (``weekend_profile: off``,
    the edge latencies), whose baseline then pools every earlier day and whose model serves any day."""
    return cfg.get(sid).params(cfg.training.prophet).weekend_profile != "off"


def _day_types(first: object, last: object) -> set[bool]:
    """The day types (True: weekend, UTC) of the days from ``first`` to ``last``."""
    days = pd.date_range(pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize(), freq="D")
    return {d.weekday() >= 5 for d in days}


def _unseen_day_types(lake: Lake, cfg: ForecastConfig, det: DetectorConfig, promoted: dict, ctx_start: datetime,
                      start: datetime, end: datetime, report: ScoreReport, out: dict) -> None:
    """A model trained on weekdays only knows nothing of weekends (nor the reverse): four days of history before a
    Saturday made every minute of the weekend's traffic, CPU and capacity ratio anomalous (a game day opened five
    tickets on one weekend). Its minutes of a day type it never saw are scored against the seasonal baseline
    instead (same minute of earlier days of that type, from the lake's history), or stay unscored with the
    reason when the lake holds too few such days either."""
    unseen: dict[str, tuple[np.ndarray, str]] = {}  # series -> (its minutes of an unseen day type, which type)
    why: dict[str, str] = {}
    for sid, p in promoted.items():
        rows = out.get(sid)
        if rows is None or not len(rows) or not day_typed(cfg, sid):
            continue
        seen = _day_types(p.meta.get("training_start"), p.meta.get("training_end"))
        weekend = rows["minute"].dt.day_of_week.to_numpy() >= 5
        mask = np.array([w not in seen for w in weekend])
        if mask.any():
            kind = "weekend" if weekend[mask][0] else "weekday"
            unseen[sid] = (mask, kind)
            why[sid] = f"model {p.version} was trained on no {kind} day"
    if not why:
        return
    alt: dict[str, pd.DataFrame] = {}
    sub = ScoreReport()
    _score_baseline(lake, cfg, det, why, ctx_start, start, end, sub, alt)  # one read for all of them
    for sid, (mask, kind) in unseen.items():
        rows = out[sid]
        keep, base = rows[~mask], alt.get(sid)
        base = base[base["minute"].isin(set(rows["minute"][mask]))] if base is not None else None
        if base is not None and len(base):
            out[sid] = pd.concat([keep, base], ignore_index=True).sort_values("minute", ignore_index=True)
            report.baseline[sid] = f"{why[sid]}: its {kind} minutes against the seasonal baseline"
        else:
            out[sid] = keep.reset_index(drop=True)
            report.unscored[sid] = f"{why[sid]}; {sub.unscored.get(sid, 'no baseline either')} ({kind} minutes)"
        report.scored[sid] = int(len(out[sid]))


def score_window(lake: Lake, cfg: ForecastConfig, det: DetectorConfig, start: datetime,
                 end: datetime) -> tuple[pd.DataFrame, ScoreReport]:
    """Score every configured series at each minute of [start, end). Returns one row per scored point
    (``COLUMNS``; ``minute`` in UTC) and what could not be scored and why.

    A series with a promoted model is scored against its band; a series without one (none trained yet, or none
    ever passed the validation gate) against the seasonal baseline, ``model_version`` "seasonal-baseline", and
    ``ScoreReport.baseline`` says why. A model that fails the gate is never promoted: the previous promoted one
    stays in use. Minutes of a day type (weekday, weekend) the promoted model was not trained on are scored against
    the seasonal baseline too (:func:`_unseen_day_types`)."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    registry, report = Registry(lake), ScoreReport()
    ctx_start = start - timedelta(minutes=max(cfg.scoring.context_minutes, int(getattr(det, "context_rows", 0))))
    promoted, fallback = {}, {}
    for s in cfg.series:
        p = registry.promoted(s.id)
        if p is None:
            fallback[s.id] = _no_model(registry, s.id)
        else:
            promoted[s.id] = p
    out: dict[str, pd.DataFrame] = {}
    if promoted:
        _score_promoted(lake, cfg, det, promoted, ctx_start, start, end, report, out)
        _unseen_day_types(lake, cfg, det, promoted, ctx_start, start, end, report, out)
    if fallback:
        _score_baseline(lake, cfg, det, fallback, ctx_start, start, end, report, out)
    parts = [out[s.id] for s in cfg.series if s.id in out]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}), report
    df = pd.concat(parts, ignore_index=True)
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
