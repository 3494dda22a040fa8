"""Anomaly detector on top of the Prophet 95% band: calibrated, robustly scaled, debounced, strictly causal.

One function does the work, :func:`score_points`; the production scoring asset and ``akidb nab-eval`` both call
it with the configuration shipped in ``akidb_pipelines/config/detector.yaml`` (:func:`load_detector_config`, in
``detector_config``), so what NAB measures is what runs.

Every window is set in time (``scale_window: 4d``, ``suppress: 12h``): :func:`score_points` takes the series'
resolution from its timestamps (the median spacing) and converts each window to rows at that resolution
(:meth:`DetectorConfig.rows`), so the same settings mean the same thing at 1 minute (production) and 5 minutes
(NAB). How a point is scored (every rolling statistic looks only at the current row and earlier rows):

1. ``score``: how far ``y`` is outside the Prophet band, in band half-widths (0 inside the band). The half-width
   is floored (``min_half_width_rel`` of ``|yhat|``, at least ``min_half_width_abs``) so a zero-width band does not
   turn every wiggle into an infinite score.
2. Robust residual scaling: the residual ``r = y - yhat`` is compared with the residuals of the previous
   ``scale_window``. Its deviation from their median, ``|r - median|``, is divided by a scale taken from the past:
   with ``scale: quantile`` (the default) the ``scale_quantile`` quantile of the past deviations (1.0: their
   maximum, so the ratio exceeds 1 only for a residual larger than anything in the window); with ``scale: iqr`` a
   robust standard deviation (inter-quartile range / 1.349, a rolling robust z-score). Prophet's band is often too
   narrow on bursty CloudWatch-like series (6.5% of NAB points fall outside it); the past residuals of *this*
   series say what is unusual for it. The scale is floored (``band_sigma_floor`` of the band's sigma,
   ``min_scale_rel`` of the typical level) so flat series stay sane. With less than ``min_scale_history`` of past
   residuals the band distance stands in.
3. Evidence ``e`` = that ratio (``evidence: robust``; or the band distance, or either/both), divided by
   ``threshold``: the decision boundary is ``e = 1``.
4. Debouncing: the debounced evidence is the k-th largest ``e`` among the last ``n`` rows (``k`` rows =
   ``debounce_hold``, ``n`` rows = ``debounce_within``); it reaches 1 only when the evidence did for that long.
5. Repeat suppression: the evidence is divided by ``max(1, suppress_ratio * e_prev)``, ``e_prev`` being the
   largest debounced evidence of the previous ``suppress`` (a duration): an ongoing episode alerts once, a bigger
   excursion alerts again.
6. ``anomaly_score = e / (1 + e)``: 0 for no evidence, exactly 0.5 at the boundary, towards 1 above it. The
   shipped decision, ``is_anomaly``, is exactly ``anomaly_score >= 0.5``.

The output at row ``i`` depends only on rows ``i - context + 1 .. i`` (``DetectorConfig.rows(resolution).context``;
:attr:`DetectorConfig.context_rows` at production's 1 minute), so rescoring a trailing context of that many rows
and keeping the newest rows gives the same values as scoring the whole series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.detector_config import (DEFAULT_CONFIG, DetectorConfig, DetectorConfigError,
                                                      OnlineConfig, RowWindows, infer_resolution,
                                                      load_detector_config)

_BELOW_HALF = float(np.nextafter(0.5, 0.0))


# -- scoring -------------------------------------------------------------------------------------------------------

def _window_view(x: np.ndarray, n: int, fill: float) -> np.ndarray:
    """Rows i of the result hold x[i-n+1 .. i] (padded with ``fill`` before the start)."""
    padded = np.concatenate([np.full(n - 1, fill), x])
    return np.lib.stride_tricks.sliding_window_view(padded, n)


def score_points(frame: pd.DataFrame, config: DetectorConfig, resolution: pd.Timedelta | None = None
                 ) -> pd.DataFrame:
    """Score one series (rows in time order; columns ``ds``, ``y``, ``yhat``, ``yhat_lower``, ``yhat_upper``).

    ``resolution``: the spacing of the rows; by default the median spacing of ``ds`` (:func:`infer_resolution`),
    which sets how many rows each of the config's windows spans. Earlier rows serve as context: pass at least
    ``config.rows(resolution).context`` rows before the first row whose values you keep. Returns a copy with
    these columns added:

    * ``score``: distance outside the Prophet band in band half-widths (0 inside the band or when ``y`` is NaN).
    * ``direction``: ``'up'`` (above ``yhat``) or ``'down'`` for points outside the band or flagged, else None.
    * ``anomaly_score``: in [0, 1], exactly 0.5 at the shipped decision boundary (``>= 0.5`` is an anomaly).
    * ``confidence``: in [0, 1], how firmly the decision is made: ``|2 * anomaly_score - 1|`` (0 at the boundary,
      1 far from it), scaled down by the share of the robust-scaling context that was available (less than a
      ``scale_window`` of past residuals: less sure).
    * ``is_anomaly``: the debounced, repeat-suppressed decision, ``anomaly_score >= 0.5``.

    Missing ``y`` (NaN) gives score 0, no direction, anomaly_score 0 and no anomaly; it does not count as context.
    Strictly causal at a given resolution: row i's outputs depend on rows <= i only. The inferred resolution looks
    at every timestamp of the frame (a regular series has the same spacing throughout); a caller replaying a series
    online can pass the resolution of the rows it has already seen (``akidb nab-eval`` uses the probationary rows).
    """
    missing = sorted({"ds", "y", "yhat", "yhat_lower", "yhat_upper"} - set(frame.columns))
    if missing:
        raise ValueError(f"score_points: missing column(s) {missing}")
    out = frame.copy()
    y = pd.to_numeric(out["y"], errors="coerce").to_numpy(float)
    yhat = pd.to_numeric(out["yhat"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(out["yhat_lower"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(out["yhat_upper"], errors="coerce").to_numpy(float)
    c = config
    w: RowWindows = c.rows(infer_resolution(out["ds"]) if resolution is None else pd.Timedelta(resolution))
    valid = np.isfinite(y) & np.isfinite(yhat) & np.isfinite(lo) & np.isfinite(hi)
    yf = np.where(valid, y, np.nan)

    # 1. band exceedance in half-widths
    floor_hw = np.maximum(c.min_half_width_rel * np.abs(np.nan_to_num(yhat)), c.min_half_width_abs)
    hw_up = np.maximum(hi - yhat, floor_hw)
    hw_dn = np.maximum(yhat - lo, floor_hw)
    with np.errstate(invalid="ignore"):
        above = np.where(valid & (yf > hi), (yf - hi) / hw_up, 0.0)
        below = np.where(valid & (yf < lo), (lo - yf) / hw_dn, 0.0)
    band_score = np.maximum(above, below)

    # 2. robust z of the residual against the previous scale window's residuals (current row excluded)
    resid = pd.Series(yf - yhat)
    past = resid.shift(1).rolling(w.scale, min_periods=w.min_scale)
    med = past.median().to_numpy()
    count = resid.shift(1).rolling(w.scale, min_periods=1).count().to_numpy()
    level = pd.Series(np.abs(yf)).shift(1).rolling(w.scale, min_periods=w.min_scale).median().to_numpy()
    band_sigma = (hw_up + hw_dn) / 2 / 1.96
    if c.scale == "quantile":
        # the past absolute deviations from their own (causal) median: the residual has to beat the
        # scale_quantile of what the last scale_window rows did
        dev = pd.Series(np.abs(resid.to_numpy() - med))
        sigma = dev.shift(1).rolling(w.scale, min_periods=w.min_scale).quantile(c.scale_quantile).to_numpy()
    else:  # the inter-quartile range as a robust standard deviation
        sigma = (past.quantile(0.75) - past.quantile(0.25)).to_numpy() / 1.349
    have_scale = np.isfinite(sigma) & np.isfinite(med)  # enough past residuals (np.fmax below ignores NaN)
    sigma = np.fmax(sigma, c.band_sigma_floor * band_sigma)
    sigma = np.fmax(sigma, c.min_scale_rel * np.nan_to_num(level, nan=0.0))
    sigma = np.fmax(sigma, floor_hw / 1.96)
    sigma = np.where(have_scale, sigma, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(resid.to_numpy() - med) / sigma
    z_ok = np.isfinite(z)

    # 3. evidence in units of the threshold (1 = boundary)
    if c.scale == "quantile":
        # the band distance on the ratio's scale: 1 at one half-width outside the band (about 3.9 sigma)
        zb = band_score * c.threshold
    else:
        zb = band_score * 1.96 + np.where(band_score > 0, 1.96, 0.0)  # band exceedance as an approximate z
    if c.evidence == "band":
        ev = zb / c.threshold
    elif c.evidence == "robust":
        ev = np.where(z_ok, z, zb) / c.threshold
    elif c.evidence == "max":
        ev = np.fmax(np.where(z_ok, z, 0.0), zb) / c.threshold
    else:  # min: both must agree
        ev = np.where(z_ok, np.fmin(z, zb), zb) / c.threshold
    ev = np.where(valid, np.nan_to_num(ev, nan=0.0, posinf=1e6), 0.0)

    # 4. debouncing: k-th largest evidence of the last n rows
    if w.debounce_n > 1:
        win = _window_view(ev, w.debounce_n, 0.0)
        deb = -np.partition(-win, w.debounce_k - 1, axis=1)[:, w.debounce_k - 1]
    else:
        deb = ev.copy()
    deb = np.where(valid, deb, 0.0)

    # 5. repeat suppression: an episode already under way in the previous suppress window
    if w.suppress > 0:
        # only rows scored on the robust scale count (the band fallback of a warm-up must not mute later alerts)
        base = np.where(have_scale, deb, 0.0)
        prev = _window_view(np.concatenate([[0.0], base[:-1]]), w.suppress, 0.0).max(axis=1)
        fin = deb / np.maximum(1.0, c.suppress_ratio * prev)
    else:
        fin = deb

    # 6. calibration: 0.5 exactly at the boundary
    is_anom = fin >= 1.0
    e = np.clip(fin, 0.0, 1e12)
    a = e / (1.0 + e)
    a = np.where(is_anom, np.maximum(a, 0.5), np.minimum(a, _BELOW_HALF))
    a = np.clip(a, 0.0, 1.0)
    share = np.clip(count / w.scale, 0.0, 1.0)
    conf = np.clip(np.abs(2 * a - 1) * share, 0.0, 1.0)

    sign = np.sign(np.nan_to_num(yf - yhat))
    direction = np.where((band_score > 0) | is_anom, np.where(sign >= 0, "up", "down"), None)
    direction = np.where(valid, direction, None)
    out["score"] = band_score.astype(float)
    out["direction"] = pd.Series(direction, index=out.index, dtype=object)
    out["anomaly_score"] = a.astype(float)
    out["confidence"] = conf.astype(float)
    out["is_anomaly"] = (a >= 0.5) & valid
    return out


__all__ = ["DetectorConfig", "DetectorConfigError", "OnlineConfig", "load_detector_config", "score_points",
           "infer_resolution", "DEFAULT_CONFIG"]
