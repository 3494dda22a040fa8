"""Prophet models: fit (cold or warm-started), predict the 95% band, and JSON (never pickle) round trips.

Every caller (the training asset, the scoring asset, ``akidb nab-eval``, the benchmarks) fits through
:func:`fit_prophet` and predicts through :func:`predict`, so what is evaluated is what runs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd



# A seasonality is fitted only when the history shows it more than once (a little under 2 days / 2 weeks, so a
# window of two days whose last bucket is still open qualifies).
DAILY_MIN_SPAN = pd.Timedelta(hours=36)
WEEKLY_MIN_SPAN = pd.Timedelta(days=13)
# The weekend profile needs this much of each day type in the history.
WEEKEND_MIN_EACH = pd.Timedelta(hours=12)


@dataclass(frozen=True)
class ProphetParams:
    """The knobs we expose (the rest stay at Prophet's defaults). ``interval_width`` is set explicitly to 0.95:
    Prophet's own default is 0.80."""

    growth: str = "linear"
    changepoint_prior_scale: float = 0.05
    n_changepoints: int = 25
    changepoint_range: float = 0.8
    seasonality_prior_scale: float = 10.0
    seasonality_mode: str = "additive"
    daily_seasonality: bool = True
    weekly_seasonality: bool = True
    interval_width: float = 0.95
    uncertainty_samples: int = 200
    # Weekends differ (our traffic is ~30% lower, with a flatter day): "auto" fits separate weekday and weekend
    # daily profiles and a weekend level, once the history holds at least 12 hours of each, at any length of
    # history, in place of Prophet's Fourier weekly seasonality (which smears the Friday/Monday step over days
    # and lets the trend absorb it). "off" never does: daily plus, from two weeks, weekly seasonality.
    weekend_profile: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    GROWTHS = ("linear", "flat", "logistic")
    WEEKEND = ("auto", "off")
    MODES = ("additive", "multiplicative")

    def __post_init__(self) -> None:
        if self.growth not in self.GROWTHS:
            raise ValueError(f"growth must be one of {self.GROWTHS}, not {self.growth!r}")
        if self.weekend_profile not in self.WEEKEND:
            raise ValueError(f"weekend_profile must be one of {self.WEEKEND}, not {self.weekend_profile!r}")
        if self.seasonality_mode not in self.MODES:
            raise ValueError(f"seasonality_mode must be one of {self.MODES}, not {self.seasonality_mode!r}")
        if not 0 < self.interval_width < 1:
            raise ValueError(f"interval_width must be in (0, 1), not {self.interval_width!r}")
        if not 0 < self.changepoint_range <= 1:
            raise ValueError(f"changepoint_range must be in (0, 1], not {self.changepoint_range!r}")
        if self.changepoint_prior_scale <= 0 or self.seasonality_prior_scale <= 0:
            raise ValueError("prior scales must be positive")
        if self.n_changepoints < 0 or self.uncertainty_samples < 0:
            raise ValueError("n_changepoints and uncertainty_samples must not be negative")

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, where: str = "prophet") -> ProphetParams:
        data = dict(data or {})
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return d


def _frame(history: pd.DataFrame) -> pd.DataFrame:
    if not {"ds", "y"} <= set(history.columns):
        raise ValueError(f"history needs columns ds and y, has {list(history.columns)}")
    df = history[["ds", "y"]].copy()
    ds = pd.to_datetime(df["ds"])
    if getattr(ds.dt, "tz", None) is not None:  # Prophet wants naive timestamps: we keep everything in UTC
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    df["ds"] = ds
    df["y"] = pd.to_numeric(df["y"], errors="coerce").astype(float)
    return df.sort_values("ds").reset_index(drop=True)


def exclude(history: pd.DataFrame, windows: list[tuple[datetime, datetime]]) -> pd.DataFrame:
    """Blank out ``y`` inside known incident/deploy windows ([start, end)): Prophet skips missing ``y`` when
    fitting and still predicts there, so an outage does not teach the model that outages are normal."""
    df = _frame(history)
    for start, end in windows:
        s, e = (pd.Timestamp(x).tz_convert("UTC").tz_localize(None) if pd.Timestamp(x).tzinfo else pd.Timestamp(x)
                for x in (start, end))
        df.loc[(df["ds"] >= s) & (df["ds"] < e), "y"] = np.nan
    return df


def prepare_prophet(history: pd.DataFrame, params: ProphetParams, *,
                    exclusions: list[tuple[datetime, datetime]] = ()):  # noqa: ANN201
    """The unfitted model for ``history`` and the frame to fit it on: the seasonalities the history can show, the
    weekday/weekend profile's columns, a constant series nudged so Prophet's scaling does not divide by zero.
    Both fitters (:func:`fit_prophet`, ``forecast.batch_fit``) start from it, so they fit the same model."""
    from prophet import Prophet

    _quiet()
    df = exclude(history, list(exclusions)) if exclusions else _frame(history)
    if df["y"].notna().sum() < 2:
        raise ValueError(f"not enough data to fit: {int(df['y'].notna().sum())} non-missing points")
    span = df["ds"].max() - df["ds"].min()
    seen = df.loc[df["y"].notna(), "ds"]
    weekend_rows = int((seen.dt.day_of_week >= 5).sum())
    step = seen.diff().median() if len(seen) > 1 else pd.Timedelta(minutes=5)
    # The weekday/weekend profile at any span (issue 14: switching to Fourier weekly seasonality at two weeks
    # made the back-test MAPE jump from 2% to 10-50%), else weekly seasonality once two weeks are shown.
    weekend = (params.weekend_profile == "auto" and params.weekly_seasonality and span >= DAILY_MIN_SPAN
               and min(weekend_rows, len(seen) - weekend_rows) * step >= WEEKEND_MIN_EACH)
    model = Prophet(
        growth=params.growth,
        changepoint_prior_scale=params.changepoint_prior_scale,
        n_changepoints=params.n_changepoints,
        changepoint_range=params.changepoint_range,
        seasonality_prior_scale=params.seasonality_prior_scale,
        seasonality_mode=params.seasonality_mode,
        # seasonalities a window cannot show are left out rather than fitted to noise
        daily_seasonality=params.daily_seasonality and span >= DAILY_MIN_SPAN and not weekend,
        weekly_seasonality=params.weekly_seasonality and span >= WEEKLY_MIN_SPAN and not weekend,
        yearly_seasonality=False,
        interval_width=params.interval_width,
        uncertainty_samples=params.uncertainty_samples,
    )
    if weekend:
        model.add_seasonality("daily_weekday", period=1, fourier_order=4, condition_name="is_weekday")
        model.add_seasonality("daily_weekend", period=1, fourier_order=4, condition_name="is_weekend")
        model.add_regressor("weekend_level", standardize=False)
        df = _calendar_columns(df)
    if df["y"].nunique(dropna=True) == 1:  # a constant series: Prophet's scaling divides by zero otherwise
        df["y"] = df["y"] + np.where(df.index % 2 == 0, 1e-9, -1e-9)
    return model, df


def fit_prophet(history: pd.DataFrame, params: ProphetParams, *,
                exclusions: list[tuple[datetime, datetime]] = (), warm_start: Any = None):  # noqa: ANN201
    """Fit Prophet on ``history`` (columns ds, y) with Stan's optimiser, one series (the reference fitter; the
    training's default is the batched exact fit, ``forecast.batch_fit``). ``warm_start``: a previous model of the
    same series whose parameters initialise the optimiser (``prophet.utilities.warm_start_params``). Needs at least
    two non-missing points; rows with missing y (or inside ``exclusions``) are skipped by the fit."""
    model, df = prepare_prophet(history, params, exclusions=exclusions)
    kwargs = {}
    if warm_start is not None:
        from prophet.utilities import warm_start_params

        init = warm_start_params(warm_start)
        if len(init.get("delta", [])) == params.n_changepoints and _same_shape(warm_start, model):
            kwargs["init"] = init
    model.fit(df, **kwargs)
    model.akidb_warm_started = "init" in kwargs  # not serialized: for the training metadata only
    return model


def _quiet() -> None:
    # cmdstanpy sets its logger to INFO (with a handler) the first time it logs; one line per fit would drown
    # the run logs, so create it now and turn it down
    try:
        from cmdstanpy.utils import get_logger

        get_logger().setLevel(logging.ERROR)
    except ImportError:  # pragma: no cover - an older cmdstanpy layout
        pass
    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _same_shape(old: Any, new: Any) -> bool:
    """A warm start is only valid when the parameter vector has the same shape (seasonalities, regressors)."""
    want = set(new.seasonalities) | ({"daily"} if new.daily_seasonality is True else set()) \
        | ({"weekly"} if new.weekly_seasonality is True else set())
    return set(old.seasonalities) == want and set(old.extra_regressors) == set(new.extra_regressors)


def _calendar_columns(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    wk = (pd.to_datetime(out["ds"]).dt.day_of_week >= 5)
    out["is_weekend"], out["is_weekday"] = wk.to_numpy(), (~wk).to_numpy()
    out["weekend_level"] = wk.astype(float).to_numpy()
    return out


def predict(model: Any, ds: pd.Series | pd.DatetimeIndex | list, *, seed: int = 0) -> pd.DataFrame:
    """Forecast at the given times: columns ds (naive UTC), yhat, yhat_lower, yhat_upper. The band is
    Prophet's simulated interval at the model's ``interval_width``; the seed makes it reproducible."""
    ds = pd.to_datetime(pd.Series(list(ds) if not isinstance(ds, pd.Series) else ds))
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    frame = pd.DataFrame({"ds": ds})
    if "weekend_level" in model.extra_regressors:
        frame = _calendar_columns(frame)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        out = model.predict(frame)
    finally:
        np.random.set_state(state)
    # without uncertainty samples Prophet gives no band: the columns stay, empty
    return out.reindex(columns=["ds", "yhat", "yhat_lower", "yhat_upper"]).reset_index(drop=True)


def to_json(model: Any) -> str:
    from prophet.serialize import model_to_json

    return model_to_json(model)


def from_json(text: str):  # noqa: ANN201
    from prophet.serialize import model_from_json

    return model_from_json(text)


def model_summary(model: Any) -> dict[str, Any]:
    """Small, JSON-safe facts about a fitted model (for metadata)."""
    return {"seasonalities": sorted(model.seasonalities), "n_changepoints": int(len(model.changepoints)),
            "growth": model.growth, "interval_width": model.interval_width,
            "history_start": str(model.history["ds"].min()), "history_end": str(model.history["ds"].max()),
            "points": int(len(model.history))}


__all__ = ["ProphetParams", "exclude", "fit_prophet", "prepare_prophet", "predict", "to_json", "from_json",
           "model_summary"]
