"""The detector's settings (``config/detector.yaml``): what they mean, how they are read, and how the windows, set
as durations, become row counts at a series' resolution.

Every window is a duration (``scale_window: 4d``, ``suppress: 12h``), never a row count, so the same file means
the same thing whether the scored series has one row a minute (production) or one every five minutes (NAB):
:func:`infer_resolution` takes the series' resolution from its timestamps (the median spacing) and
:meth:`DetectorConfig.rows` converts each duration to the nearest whole number of rows at that resolution.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from akidb_pipelines.config import shipped_config
from akidb_pipelines.config.loader import (ConfigError, expect_bool, expect_int, expect_mapping, expect_number,
                                          load_yaml, refuse_unknown)

DEFAULT_CONFIG = shipped_config("detector.yaml")
EVIDENCE_KINDS = ("robust", "band", "max", "min")
SCALE_KINDS = ("iqr", "quantile")
DURATION_FIELDS = ("scale_window", "min_scale_history", "debounce_hold", "debounce_within", "suppress")
# Production scores 1-minute rows: ``context_rows`` (read by forecast/scoring.py as minutes) is at this resolution.
PRODUCTION_RESOLUTION = pd.Timedelta(minutes=1)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


class DetectorConfigError(ConfigError):
    """Detector settings that cannot be used (a ValueError); from a file, the message names it and the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field  # the setting out of range (``online.seed``), when the range checks raised it


# -- durations and resolution --------------------------------------------------------------------------------------

def parse_duration(value: Any, where: str) -> pd.Timedelta:
    """``30m``, ``12h``, ``4d``, ``2w``, ``90s`` or ``0m`` (a whole number and one unit) as a Timedelta; anything
    else (a bare number of rows included) raises DetectorConfigError naming ``where``."""
    if isinstance(value, pd.Timedelta):
        return value
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        rows = " (a duration, not a row count)" if isinstance(value, int) and not isinstance(value, bool) else ""
        got = "nothing" if value is None else repr(value)
        raise DetectorConfigError(f"{where}: expected a duration such as 30m, 12h or 4d{rows}, got {got}")
    return pd.Timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def format_duration(td: pd.Timedelta) -> str:
    """The inverse of :func:`parse_duration`, in the largest unit that divides it (``4d``, ``90m``, ``0m``)."""
    secs = int(td.total_seconds())
    if secs == 0:
        return "0m"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def infer_resolution(ds: Any, default: pd.Timedelta = PRODUCTION_RESOLUTION) -> pd.Timedelta:
    """A series' resolution: the median spacing of its distinct timestamps (gaps and a few irregular rows do not
    move it). With fewer than two distinct timestamps there is no spacing to measure: ``default``."""
    t = pd.to_datetime(pd.Series(ds)).dropna().drop_duplicates().sort_values()
    steps = t.diff().dropna()
    if steps.empty:
        return default
    return pd.Timedelta(steps.median())


def rows_for(duration: pd.Timedelta, resolution: pd.Timedelta) -> int:
    """The nearest whole number of rows covering ``duration`` at ``resolution`` (halves round up; 0 stays 0)."""
    return int(math.floor(duration / resolution + 0.5))


@dataclass(frozen=True)
class RowWindows:
    """The detector's windows in rows at one resolution (see :meth:`DetectorConfig.rows`)."""

    resolution: pd.Timedelta
    scale: int          # past residuals of the robust scale (at least 2)
    min_scale: int      # fewer past residuals: the band distance stands in (1 .. scale)
    debounce_k: int     # an alert needs k of the last n rows at or above the boundary (1 of 1: off)
    debounce_n: int
    suppress: int       # rows of earlier evidence that mute a repeat (0: off)
    context: int        # rows (the newest included) that determine the newest row's output


# -- settings ------------------------------------------------------------------------------------------------------

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
    """Detector settings (see ``forecast/detector.py`` and ``config/detector.yaml`` for what each one does). The
    windows are durations (Timedelta; a string such as ``"12h"`` is accepted and parsed)."""

    threshold: float = 1.05
    evidence: str = "robust"
    scale: str = "quantile"
    scale_quantile: float = 1.0
    scale_window: pd.Timedelta = pd.Timedelta(days=4)
    min_scale_history: pd.Timedelta = pd.Timedelta(hours=2)
    band_sigma_floor: float = 0.0
    min_scale_rel: float = 1e-3
    min_half_width_rel: float = 1e-3
    min_half_width_abs: float = 1e-9
    debounce_hold: pd.Timedelta = pd.Timedelta(0)
    debounce_within: pd.Timedelta = pd.Timedelta(0)
    suppress: pd.Timedelta = pd.Timedelta(hours=12)
    suppress_ratio: float = 1.0
    online: OnlineConfig = OnlineConfig()

    def __post_init__(self) -> None:
        for name in DURATION_FIELDS:
            object.__setattr__(self, name, parse_duration(getattr(self, name), name))
        zero = pd.Timedelta(0)
        checks = [
            (self.threshold > 0 and math.isfinite(self.threshold), "threshold", "must be a positive number"),
            (self.evidence in EVIDENCE_KINDS, "evidence", f"must be one of {EVIDENCE_KINDS}"),
            (self.scale_window > zero, "scale_window", "must be longer than 0"),
            (zero < self.min_scale_history <= self.scale_window, "min_scale_history",
             "must be longer than 0 and at most scale_window"),
            (self.scale in SCALE_KINDS, "scale", f"must be one of {SCALE_KINDS}"),
            (0.5 <= self.scale_quantile <= 1.0, "scale_quantile", "must be in [0.5, 1]"),
            (self.band_sigma_floor >= 0, "band_sigma_floor", "must not be negative"),
            (self.min_scale_rel >= 0, "min_scale_rel", "must not be negative"),
            (self.min_half_width_rel >= 0, "min_half_width_rel", "must not be negative"),
            (self.min_half_width_abs > 0, "min_half_width_abs", "must be positive"),
            (zero <= self.debounce_hold <= self.debounce_within, "debounce_hold", "must be at most debounce_within"),
            (self.suppress >= zero, "suppress", "must not be negative"),
            (self.suppress_ratio > 0, "suppress_ratio", "must be positive"),
            (self.online.refit_every_hours > 0, "online.refit_every_hours", "must be positive"),
            (self.online.train_window_days > 0, "online.train_window_days", "must be positive"),
            (self.online.min_train_rows >= 2, "online.min_train_rows", "must be at least 2"),
        ]
        for ok, name, msg in checks:
            if not ok:
                value = getattr(self.online, name[7:]) if name.startswith("online.") else getattr(self, name)
                if isinstance(value, pd.Timedelta):
                    value = format_duration(value)
                raise DetectorConfigError(f"{name}: {msg}, got {value!r}", field=name)

    def rows(self, resolution: pd.Timedelta) -> RowWindows:
        """The windows in rows of a series with one row every ``resolution``."""
        if not resolution > pd.Timedelta(0):
            raise ValueError(f"resolution must be positive, got {resolution}")
        scale = max(2, rows_for(self.scale_window, resolution))
        min_scale = min(scale, max(1, rows_for(self.min_scale_history, resolution)))
        n = max(1, rows_for(self.debounce_within, resolution))
        k = min(n, max(1, rows_for(self.debounce_hold, resolution)))
        suppress = max(1, rows_for(self.suppress, resolution)) if self.suppress > pd.Timedelta(0) else 0
        context = scale * (2 if self.scale == "quantile" else 1) + n + suppress + 1
        return RowWindows(resolution, scale, min_scale, k, n, suppress, context)

    @property
    def context_rows(self) -> int:
        """Rows at production's 1-minute resolution (so: minutes), the newest included, that determine the newest
        row's output; ``forecast/scoring.py`` rescores that many minutes of context with each tick."""
        return self.rows(PRODUCTION_RESOLUTION).context

    @property
    def context(self) -> pd.Timedelta:
        """The same context as a duration (it depends on the resolution only through rounding)."""
        return self.context_rows * PRODUCTION_RESOLUTION

    def to_dict(self) -> dict[str, Any]:
        """The settings as detector.yaml would write them (durations as ``4d``), online ones under ``online``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "online":
                v = {g.name: getattr(v, g.name) for g in fields(v)}
            elif isinstance(v, pd.Timedelta):
                v = format_duration(v)
            out[f.name] = v
        return out

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
            kwargs[name] = _coerce(value, name, known[name].type, f"{where}: {section}{name}")
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
                okw[name] = _coerce(value, name, oknown[name].type, f"{where}: online.{name}")
        try:
            return cls(**kwargs, online=OnlineConfig(**okw))
        except DetectorConfigError as exc:  # the range checks of __post_init__
            prefix = "" if exc.field.startswith("online.") else section
            raise DetectorConfigError(f"{where}: {prefix}{exc}", field=exc.field) from None


def _coerce(value: Any, name: str, type_name: Any, where: str) -> Any:
    if name in DURATION_FIELDS:
        return parse_duration(value, where)
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


__all__ = ["DetectorConfig", "DetectorConfigError", "OnlineConfig", "RowWindows", "load_detector_config",
           "parse_duration", "format_duration", "infer_resolution", "rows_for", "DEFAULT_CONFIG",
           "PRODUCTION_RESOLUTION", "DURATION_FIELDS"]
