"""Anomaly detector on top of the Prophet 95% band: calibrated, robustly scaled, debounced, strictly causal.

One function does the work, :func:`score_points`; the production scoring asset and ``akidb nab-eval`` both call
it with the configuration shipped in ``akidb_pipelines/config/detector.yaml`` (:func:`load_detector_config`), so
what NAB measures is what runs.

How a point is scored (every rolling statistic looks only at the current row and earlier rows):

1. ``score``: how far ``y`` is outside the Prophet band, in band half-widths (0 inside the band). The half-width
   is floored (``min_half_width_rel`` of ``|yhat|``, at least ``min_half_width_abs``) so a zero-width band does not
   turn every wiggle into an infinite score.
2. Robust residual scaling: the residual ``r = y - yhat`` is compared with the previous ``scale_window`` residuals.
   Its deviation from their median, ``|r - median|``, is divided by a scale taken from the past: with
   ``scale: quantile`` (the default) the ``scale_quantile`` quantile of the past deviations (1.0: their maximum,
   so the ratio exceeds 1 only for a residual larger than anything in the window); with ``scale: iqr`` a robust
   standard deviation (inter-quartile range / 1.349, a rolling robust z-score). Prophet's band is often too
   narrow on bursty CloudWatch-like series (6.5% of NAB points fall outside it); the past residuals of *this*
   series say what is unusual for it. The scale is floored (``band_sigma_floor`` of the band's sigma,
   ``min_scale_rel`` of the typical level) so flat series stay sane. With fewer than ``min_scale_rows`` past
   residuals the band distance stands in.
3. Evidence ``e`` = that ratio (``evidence: robust``; or the band distance, or either/both), divided by
   ``threshold``: the decision boundary is ``e = 1``.
4. Debouncing, ``k`` of ``n``: the debounced evidence is the k-th largest ``e`` among the last ``n`` rows; it
   reaches 1 only when at least ``k`` of the last ``n`` rows did.
5. Repeat suppression: the evidence is divided by ``max(1, suppress_ratio * e_prev)``, ``e_prev`` being the
   largest debounced evidence of the previous ``suppress_rows`` rows: an ongoing episode alerts once, a bigger
   excursion alerts again.
6. ``anomaly_score = e / (1 + e)``: 0 for no evidence, exactly 0.5 at the boundary, towards 1 above it. The
   shipped decision, ``is_anomaly``, is exactly ``anomaly_score >= 0.5``.

The output at row ``i`` depends only on rows ``i - context_rows + 1 .. i`` (:attr:`DetectorConfig.context_rows`),
so rescoring a trailing context of that many rows and keeping the newest rows gives the same values as scoring the
whole series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from akidb_pipelines.config import shipped_config
from akidb_pipelines.config.loader import (ConfigError, expect_bool, expect_int, expect_mapping, expect_number,
                                          load_yaml, refuse_unknown)

DEFAULT_CONFIG = shipped_config("detector.yaml")
EVIDENCE_KINDS = ("robust", "band", "max", "min")
SCALE_KINDS = ("iqr", "quantile")
_BELOW_HALF = float(np.nextafter(0.5, 0.0))


class DetectorConfigError(ConfigError):
    """Detector settings that cannot be used (a ValueError); from a file, the message names it and the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field  # the setting out of range (``online.seed``), when the range checks raised it


@dataclass(frozen=True)
class OnlineConfig:
    """How ``akidb nab-eval`` runs the forecaster online: refit cadence and trailing training window."""

    refit_every_hours: float = 24.0
    train_window_days: float = 5.0
    min_train_rows: int = 100
    exclude_anomalies: bool = False  # leave points the detector flagged out of the next refit's training data
    seed: int = 0
    prophet: dict[str, Any] | None = None  # passed to ProphetParams.from_mapping

    def prophet_params(self, where: str = "online.prophet"):  # noqa: ANN201
        from akidb_pipelines.forecast.model import ProphetParams

        return ProphetParams.from_mapping(self.prophet, where)


@dataclass(frozen=True)
class DetectorConfig:
    """Detector settings (see the module docstring and ``config/detector.yaml`` for what each one does)."""

    threshold: float = 1.05
    evidence: str = "robust"
    scale_window: int = 1152
    min_scale_rows: int = 24
    scale: str = "quantile"
    scale_quantile: float = 1.0
    band_sigma_floor: float = 0.0
    min_scale_rel: float = 1e-3
    min_half_width_rel: float = 1e-3
    min_half_width_abs: float = 1e-9
    debounce_k: int = 1
    debounce_n: int = 1
    suppress_rows: int = 144
    suppress_ratio: float = 1.0
    online: OnlineConfig = OnlineConfig()

    def __post_init__(self) -> None:
        checks = [
            (self.threshold > 0 and math.isfinite(self.threshold), "threshold", "must be a positive number"),
            (self.evidence in EVIDENCE_KINDS, "evidence", f"must be one of {EVIDENCE_KINDS}"),
            (self.scale_window >= 2, "scale_window", "must be at least 2"),
            (1 <= self.min_scale_rows <= self.scale_window, "min_scale_rows", "must be in [1, scale_window]"),
            (self.scale in SCALE_KINDS, "scale", f"must be one of {SCALE_KINDS}"),
            (0.5 <= self.scale_quantile <= 1.0, "scale_quantile", "must be in [0.5, 1]"),
            (self.band_sigma_floor >= 0, "band_sigma_floor", "must not be negative"),
            (self.min_scale_rel >= 0, "min_scale_rel", "must not be negative"),
            (self.min_half_width_rel >= 0, "min_half_width_rel", "must not be negative"),
            (self.min_half_width_abs > 0, "min_half_width_abs", "must be positive"),
            (1 <= self.debounce_k <= self.debounce_n, "debounce_k", "must be in [1, debounce_n]"),
            (self.debounce_n >= 1, "debounce_n", "must be at least 1"),
            (self.suppress_rows >= 0, "suppress_rows", "must not be negative"),
            (self.suppress_ratio > 0, "suppress_ratio", "must be positive"),
            (self.online.refit_every_hours > 0, "online.refit_every_hours", "must be positive"),
            (self.online.train_window_days > 0, "online.train_window_days", "must be positive"),
            (self.online.min_train_rows >= 2, "online.min_train_rows", "must be at least 2"),
        ]
        for ok, name, msg in checks:
            if not ok:
                value = getattr(self.online, name[7:]) if name.startswith("online.") else getattr(self, name)
                raise DetectorConfigError(f"{name}: {msg}, got {value!r}", field=name)

    @property
    def context_rows(self) -> int:
        """Rows (including the newest) that determine the newest row's output."""
        scale = self.scale_window * (2 if self.scale == "quantile" else 1)
        return scale + self.debounce_n + self.suppress_rows + 1

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, where: str, section: str = "") -> DetectorConfig:
        """Build from a YAML mapping (``detector:`` keys plus an ``online:`` section). Unknown fields or bad values
        raise DetectorConfigError naming ``where`` and the field (``section``: the prefix of the detector keys'
        paths in the file, ``detector.``)."""
        data = dict(data or {})
        online_data = data.pop("online", None)
        known = {f.name: f for f in fields(cls) if f.name != "online"}
        refuse_unknown(data, [*known, *([] if section else ["online"])], f"{where}: {section.rstrip('.')}"
                       if section else where, DetectorConfigError)
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            kwargs[name] = _coerce(value, known[name].type, f"{where}: {section}{name}")
        if online_data is not None:
            expect_mapping(online_data, f"{where}: online", DetectorConfigError)
        online_data = dict(online_data or {})
        oknown = {f.name: f for f in fields(OnlineConfig)}
        refuse_unknown(online_data, oknown, f"{where}: online", DetectorConfigError)
        okw: dict[str, Any] = {}
        for name, value in online_data.items():
            if name == "prophet":
                from akidb_pipelines.forecast.config import prophet_params  # the one Prophet settings check

                if value is not None:
                    prophet_params(value, f"{where}: online.prophet", DetectorConfigError)
                okw[name] = dict(value) if value else None
            else:
                okw[name] = _coerce(value, oknown[name].type, f"{where}: online.{name}")
        try:
            return cls(**kwargs, online=OnlineConfig(**okw))
        except DetectorConfigError as exc:  # the range checks of __post_init__
            prefix = "" if exc.field.startswith("online.") else section
            raise DetectorConfigError(f"{where}: {prefix}{exc}", field=exc.field) from None


def _coerce(value: Any, type_name: Any, where: str) -> Any:
    t = str(type_name)
    if t == "bool":
        return expect_bool(value, where, DetectorConfigError)
    if t == "int":
        return expect_int(value, where, DetectorConfigError)
    if t == "float":
        return float(expect_number(value, where, DetectorConfigError))
    if t == "str":
        if not isinstance(value, str):
            raise DetectorConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def load_detector_config(path: str | Path | None = None) -> DetectorConfig:
    """Read the detector settings (default: the shipped ``akidb_pipelines/config/detector.yaml``); a file that
    cannot be read or used raises DetectorConfigError naming it."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    doc = load_yaml(p, DetectorConfigError) or {}
    expect_mapping(doc, str(p), DetectorConfigError, what="a mapping at the top")
    refuse_unknown(doc, ("detector", "online"), str(p), DetectorConfigError)
    det = doc.get("detector") or {}
    expect_mapping(det, f"{p}: detector", DetectorConfigError)
    return DetectorConfig.from_mapping({**det, "online": doc.get("online")}, str(p), section="detector.")


# -- scoring -------------------------------------------------------------------------------------------------------

def _window_view(x: np.ndarray, n: int, fill: float) -> np.ndarray:
    """Rows i of the result hold x[i-n+1 .. i] (padded with ``fill`` before the start)."""
    padded = np.concatenate([np.full(n - 1, fill), x])
    return np.lib.stride_tricks.sliding_window_view(padded, n)


def score_points(frame: pd.DataFrame, config: DetectorConfig) -> pd.DataFrame:
    """Score one series (rows in time order; columns ``ds``, ``y``, ``yhat``, ``yhat_lower``, ``yhat_upper``).

    Earlier rows serve as context: pass at least ``config.context_rows`` rows before the first row whose values
    you keep. Returns a copy with these columns added:

    * ``score``: distance outside the Prophet band in band half-widths (0 inside the band or when ``y`` is NaN).
    * ``direction``: ``'up'`` (above ``yhat``) or ``'down'`` for points outside the band or flagged, else None.
    * ``anomaly_score``: in [0, 1], exactly 0.5 at the shipped decision boundary (``>= 0.5`` is an anomaly).
    * ``confidence``: in [0, 1], how firmly the decision is made: ``|2 * anomaly_score - 1|`` (0 at the boundary,
      1 far from it), scaled down by the share of the robust-scaling context that was available (fewer than
      ``scale_window`` past residuals: less sure).
    * ``is_anomaly``: the debounced, repeat-suppressed decision, ``anomaly_score >= 0.5``.

    Missing ``y`` (NaN) gives score 0, no direction, anomaly_score 0 and no anomaly; it does not count as context.
    Strictly causal: row i's outputs depend on rows <= i only.
    """
    missing = sorted({"ds", "y", "yhat", "yhat_lower", "yhat_upper"} - set(frame.columns))
    if missing:
        raise ValueError(f"score_points: missing column(s) {missing}")
    out = frame.copy()
    y = pd.to_numeric(out["y"], errors="coerce").to_numpy(float)
    yhat = pd.to_numeric(out["yhat"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(out["yhat_lower"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(out["yhat_upper"], errors="coerce").to_numpy(float)
    n = len(out)
    c = config
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

    # 2. robust z of the residual against the previous scale_window residuals (current row excluded)
    resid = pd.Series(yf - yhat)
    past = resid.shift(1).rolling(c.scale_window, min_periods=c.min_scale_rows)
    med = past.median().to_numpy()
    iqr = (past.quantile(0.75) - past.quantile(0.25)).to_numpy()
    count = resid.shift(1).rolling(c.scale_window, min_periods=1).count().to_numpy()
    level = pd.Series(np.abs(yf)).shift(1).rolling(c.scale_window, min_periods=c.min_scale_rows).median().to_numpy()
    band_sigma = (hw_up + hw_dn) / 2 / 1.96
    if c.scale == "quantile":
        # the past absolute deviations from their own (causal) median: the residual has to beat the
        # scale_quantile of what the last scale_window rows did
        dev = pd.Series(np.abs(resid.to_numpy() - med))
        q = dev.shift(1).rolling(c.scale_window, min_periods=c.min_scale_rows).quantile(c.scale_quantile).to_numpy()
        sigma = q
    else:
        sigma = iqr / 1.349
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
    if c.debounce_n > 1:
        win = _window_view(ev, c.debounce_n, 0.0)
        deb = -np.partition(-win, c.debounce_k - 1, axis=1)[:, c.debounce_k - 1]
    else:
        deb = ev.copy()
    deb = np.where(valid, deb, 0.0)

    # 5. repeat suppression: an episode already under way in the previous suppress_rows rows
    if c.suppress_rows > 0:
        # only rows scored on the robust scale count (the band fallback of a warm-up must not mute later alerts)
        base = np.where(have_scale, deb, 0.0)
        prev = _window_view(np.concatenate([[0.0], base[:-1]]), c.suppress_rows, 0.0).max(axis=1)
        fin = deb / np.maximum(1.0, c.suppress_ratio * prev)
    else:
        fin = deb

    # 6. calibration: 0.5 exactly at the boundary
    is_anom = fin >= 1.0
    e = np.clip(fin, 0.0, 1e12)
    a = e / (1.0 + e)
    a = np.where(is_anom, np.maximum(a, 0.5), np.minimum(a, _BELOW_HALF))
    a = np.clip(a, 0.0, 1.0)
    share = np.clip(count / c.scale_window, 0.0, 1.0)
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
           "DEFAULT_CONFIG"]
