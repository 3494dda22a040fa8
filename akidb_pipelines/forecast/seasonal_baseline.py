"""The seasonal baseline: a forecast band for series without a promoted Prophet model, so no series goes blind.

For a minute ``m`` the baseline looks at the same minute of earlier days, ``m - 1 day``, ``m - 2 days``, ... back
to ``lookback_days``, pooling ``neighbour_minutes`` either side of each (a 1-minute series is noisy; five values a
day instead of one steady the median). Only days of the same day type as ``m`` count (weekday or weekend, by the
UTC calendar, as the Prophet weekend profile does); with fewer than ``min_days`` earlier days of its type the minute
has no baseline (the series stays unscored, with the reason): a weekend judged against weekdays looked like a
traffic collapse and paged on every series (the demo's first Saturday, before any model was trained). A series
declared to have no weekend pattern (``weekend_profile: off``, the edge latencies) pools every earlier day.

    yhat             = median of the pooled values
    yhat_lower/upper = yhat -/+ z * sigma * sqrt(1 + pi / (2 * days))

``z`` matches the Prophet band's ``interval_width`` (1.96 for the shipped 95%). ``sigma`` is the larger of two
normal-consistent spreads of the pooled values around their median: 1.4826 * MAD (robust) and 1.2533 * the mean
absolute deviation, which still sees a spread when more than half the values tie (an error rate at 0 most minutes:
MAD 0) and in heavy tails (per-minute P95 latencies; on the 18-day synthetic history the MAD alone covered 77-94%
of points, with both 91-97%). ``sqrt(1 + pi / (2 * days))`` widens the band for the error of a median of ``days``
days (its variance is about pi / 2 * sigma^2 / days), so a band resting on two days is wider than one on ten.
The half-width is floored at ``MIN_HALF_WIDTH_REL`` of the values' mean magnitude, so a flat history (the same
value every day) gives a narrow band, not a zero one. The median shrugs off an incident on one of the earlier days
(the band only widens there, which is conservative), which is why the baseline needs no change calendar.

Strictly causal: the band at ``m`` uses values at least a day minus ``neighbour_minutes`` older than ``m``, so
rescoring a trailing context gives the values a longer run gives. Everything is one array operation per series
(no loop over minutes or days).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.config import BaselineConfig

VERSION = "seasonal-baseline"  # the model_version of rows scored against the baseline
MAD_TO_SIGMA = 1.4826           # sigma = 1.4826 * MAD for normally distributed values
MEAN_DEV_TO_SIGMA = 1.2533      # sigma = sqrt(pi / 2) * mean absolute deviation for normally distributed values
# A floor on the half-width relative to the level: it only binds on a flat history. 1% sits well under the
# minute-to-minute noise of every shipped series (requests ~4%, latencies ~5-15%), so it never narrows a real band.
MIN_HALF_WIDTH_REL = 0.01
DAY_MINUTES = 1440


def z_for(interval_width: float) -> float:
    """The normal quantile whose two-sided interval has ``interval_width`` coverage (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + interval_width / 2)


def history_start(first_minute: pd.Timestamp, cfg: BaselineConfig) -> pd.Timestamp:
    """The earliest minute the band of ``first_minute`` (and of every later minute) can look at."""
    return first_minute - pd.Timedelta(minutes=cfg.lookback_days * DAY_MINUTES + cfg.neighbour_minutes)


def _epoch_minutes(values: object) -> np.ndarray:
    """Minutes since 1970-01-01 UTC (int64) of timestamps, tz-aware (any zone) or naive UTC."""
    ts = pd.DatetimeIndex(values)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_numpy().astype("datetime64[m]").astype(np.int64)


def _is_weekend(minutes: np.ndarray) -> np.ndarray:
    """Saturday or Sunday (UTC) for minutes since the epoch; 1970-01-01 was a Thursday (day_of_week 3)."""
    return (minutes // DAY_MINUTES + 3) % 7 >= 5


def _row_median(x: np.ndarray) -> np.ndarray:
    """The median of each row, ignoring NaN (NaN for a row without values): one sort, no per-row Python loop
    (``np.nanmedian`` along an axis loops over rows and costs seconds here)."""
    n = np.isfinite(x).sum(axis=1)
    s = np.sort(np.where(np.isfinite(x), x, np.inf), axis=1)
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    r = np.arange(len(x))
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, (s[r, lo] + s[r, hi]) / 2, np.nan)


def seasonal_band(history: pd.DataFrame, minutes: object, cfg: BaselineConfig, z: float,
                  by_day_type: bool = True) -> pd.DataFrame:
    """The baseline at each of ``minutes`` from ``history`` (columns ds, y; 1-minute values, gaps allowed).
    ``by_day_type`` False: every earlier day counts, whatever its type (a series declared to have no weekend
    pattern, ``weekend_profile: off``: its median rests on all the days there are, not half of them).

    Returns one row per minute, in the given order: ``ds`` (naive UTC), ``yhat``, ``yhat_lower``, ``yhat_upper``
    (NaN where fewer than ``min_days`` earlier days have data) and ``days``, the number of earlier days the band
    rests on (of the same day type)."""
    at = _epoch_minutes(minutes)
    lookback, k = cfg.lookback_days, cfg.neighbour_minutes
    out = pd.DataFrame({"ds": pd.DatetimeIndex(at.astype("datetime64[m]").astype("datetime64[ns]"))})
    if len(at) == 0:
        return out.assign(yhat=np.nan, yhat_lower=np.nan, yhat_upper=np.nan, days=np.int64(0))
    # a dense minute grid from the earliest value any band can use to the newest minute asked for
    origin = int(at.min()) - lookback * DAY_MINUTES - k
    size = int(at.max()) - origin + 1
    grid = np.full(size, np.nan)
    y = pd.to_numeric(history["y"], errors="coerce").to_numpy(float)
    pos = _epoch_minutes(history["ds"]) - origin
    keep = (pos >= 0) & (pos < size) & np.isfinite(y)
    grid[pos[keep]] = y[keep]
    back = np.arange(1, lookback + 1) * DAY_MINUTES                           # (L,) days back, in minutes
    shift = np.arange(-k, k + 1)                                              # (J,) neighbouring minutes
    vals = grid[(at - origin)[:, None, None] - back[None, :, None] + shift]   # (M, L, J); >= 0 by the origin
    has_day = np.isfinite(vals).any(axis=2)                                   # (M, L)
    same = _is_weekend(at[:, None] - back[None, :]) == _is_weekend(at)[:, None]
    if not by_day_type:
        same = np.ones_like(same)
    days = (has_day & same).sum(axis=1)  # days of the other type never stand in
    pooled = np.where(same[:, :, None], vals, np.nan).reshape(len(at), -1)
    ok = days >= cfg.min_days
    med = _row_median(pooled)
    dev = np.abs(pooled - med[:, None])
    mad = _row_median(dev)
    finite = np.isfinite(pooled)
    with np.errstate(invalid="ignore", divide="ignore"):  # rows without any value: NaN, by design
        count = finite.sum(axis=1)
        mean_dev = np.where(finite, dev, 0.0).sum(axis=1) / count
        level = np.where(finite, np.abs(pooled), 0.0).sum(axis=1) / count
    sigma = np.maximum(MAD_TO_SIGMA * mad, MEAN_DEV_TO_SIGMA * mean_dev)
    half = z * sigma * np.sqrt(1 + np.pi / (2 * np.maximum(days, 1)))
    half = np.maximum(half, MIN_HALF_WIDTH_REL * level)
    med, half = np.where(ok, med, np.nan), np.where(ok, half, np.nan)
    return out.assign(yhat=med, yhat_lower=med - half, yhat_upper=med + half, days=days.astype(np.int64))


def shortfall(band: pd.DataFrame, cfg: BaselineConfig) -> str:
    """Why no minute of ``band`` has a baseline (for the scoring report)."""
    most = int(band["days"].max()) if len(band) else 0
    return (f"seasonal baseline needs {cfg.min_days} earlier days with data at the same minute within "
            f"{cfg.lookback_days} days; found {most}")


__all__ = ["VERSION", "seasonal_band", "history_start", "shortfall", "z_for"]
