"""The validation gate: a rolling-origin back-test with Prophet's ``cross_validation`` / ``performance_metrics``.

Accuracy is MAPE for series away from zero; for rates that sit near zero MAPE divides by ~0 and means nothing,
so those series use sMAPE (bounded in [0, 2]) or MASE (error relative to the in-sample one-step naive forecast):
the series' ``accuracy`` setting picks one. Coverage is the share of back-test points inside the 95% band.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.config import SeriesSpec, ValidationConfig


@dataclass
class Validation:
    measure: str
    error: float | None          # the chosen accuracy measure (a fraction: 0.08 = 8%), None when no back-test ran
    max_error: float
    coverage: float | None
    coverage_band: tuple[float, float]
    mape: float | None = None
    smape: float | None = None
    mase: float | None = None
    cutoffs: list[str] = field(default_factory=list)
    points: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["coverage_band"] = list(self.coverage_band)
        return d


def cutoffs_for(history: pd.DataFrame, cfg: ValidationConfig) -> list[pd.Timestamp]:
    """The newest ``max_cutoffs`` origins, ``period`` apart, each with a full horizon after it and at least
    ``min_initial`` of history before it."""
    ds = pd.to_datetime(history.loc[history["y"].notna(), "ds"])
    if ds.empty:
        return []
    first, last = ds.min(), ds.max()
    horizon, period = pd.Timedelta(hours=cfg.horizon_hours), pd.Timedelta(hours=cfg.period_hours)
    out, c = [], last - horizon
    while len(out) < cfg.max_cutoffs and c - first >= pd.Timedelta(hours=cfg.min_initial_hours):
        out.append(c)
        c -= period
    return sorted(out)


def _safe(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def validate(model: Any, history: pd.DataFrame, spec: SeriesSpec, cfg: ValidationConfig) -> Validation:
    """The gate with stock Prophet's ``cross_validation`` (one Stan refit per cutoff)."""
    from prophet.diagnostics import cross_validation

    from akidb_pipelines.forecast.model import _quiet

    _quiet()
    cutoffs = cutoffs_for(history, cfg)
    if not cutoffs:
        return judge(None, history, spec, cfg, cutoffs)
    state = np.random.get_state()
    np.random.seed(0)
    try:
        cv = cross_validation(model, horizon=pd.Timedelta(hours=cfg.horizon_hours), cutoffs=cutoffs,
                              disable_tqdm=True)
    finally:
        np.random.set_state(state)
    return judge(cv, history, spec, cfg, cutoffs)


def judge(cv: pd.DataFrame | None, history: pd.DataFrame, spec: SeriesSpec, cfg: ValidationConfig,
          cutoffs: list[pd.Timestamp]) -> Validation:
    """The gate's verdict on a back-test's output (``cross_validation``'s frame; None: no cutoff fitted)."""
    from prophet.diagnostics import performance_metrics

    max_error = spec.max_error if spec.max_error is not None else cfg.max_error
    v = Validation(spec.accuracy, None, max_error, None, cfg.coverage)
    if not cutoffs or cv is None:
        v.reasons.append(f"not enough history for a back-test (needs {cfg.min_initial_hours:g} h before a "
                         f"cutoff and {cfg.horizon_hours:g} h after it)")
        return v
    v.cutoffs = [str(c) for c in cutoffs]
    v.points = int(len(cv))
    pm = performance_metrics(cv, metrics=["mape", "smape", "coverage"], rolling_window=1)
    row = pm.iloc[-1] if pm is not None and len(pm) else {}
    v.mape = _safe(row.get("mape")) if len(row) else None
    v.smape = _safe(row.get("smape")) if len(row) else None
    v.coverage = _safe(row.get("coverage")) if len(row) else None
    y = history["y"].dropna().to_numpy()
    scale = float(np.mean(np.abs(np.diff(y)))) if len(y) > 1 else 0.0
    mae = float(np.mean(np.abs(cv["y"] - cv["yhat"]))) if len(cv) else float("nan")
    v.mase = _safe(mae / scale) if scale > 0 else None
    v.error = {"mape": v.mape, "smape": v.smape, "mase": v.mase}[spec.accuracy]
    if v.error is None:
        v.reasons.append(f"{spec.accuracy} is undefined on this series"
                         + (" (actual values at zero: use accuracy: smape or mase)" if spec.accuracy == "mape" else ""))
    elif v.error >= max_error:
        v.reasons.append(f"{spec.accuracy} {v.error:.3f} is not below {max_error:g}")
    lo, hi = cfg.coverage
    if v.coverage is None:
        v.reasons.append("coverage is undefined")
    elif not lo <= v.coverage <= hi:
        v.reasons.append(f"95% band covers {v.coverage:.1%} of back-test points, outside [{lo:.0%}, {hi:.0%}]")
    return v
