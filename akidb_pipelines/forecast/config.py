"""``forecast.yaml``: the series that get a model, training, validation and scoring settings.

Errors name the file and the field, at load time (the code location fails to load rather than training garbage).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from akidb_pipelines.config import config_path, shipped_config
from akidb_pipelines.config.loader import (ConfigError, expect_bool, expect_list, expect_mapping, expect_one_of,
                                          expect_str, load_yaml, refuse_unknown)
from akidb_pipelines.forecast.model import ProphetParams

DEFAULT_PATH = shipped_config("forecast.yaml")
ACCURACY = ("mape", "smape", "mase")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TOP_FIELDS = ("source", "resolution_minutes", "series", "training", "validation", "scoring")


@dataclass(frozen=True)
class SeriesSpec:
    id: str
    metric: str
    tier: str
    edge_location: str = "all"
    accuracy: str = "mape"
    max_error: float | None = None  # None: the validation default
    prophet: tuple[tuple[str, Any], ...] = ()  # per-series overrides of training.prophet

    def params(self, base: ProphetParams) -> ProphetParams:
        return replace(base, **dict(self.prophet)) if self.prophet else base


@dataclass(frozen=True)
class TrainingConfig:
    window_days: float = 90
    min_history_hours: float = 24
    warm_start: bool = True
    processes: int = 2
    exclude_calendar: bool = True
    prophet: ProphetParams = ProphetParams()


@dataclass(frozen=True)
class ValidationConfig:
    horizon_hours: float = 24
    period_hours: float = 24
    max_cutoffs: int = 3
    min_initial_hours: float = 24
    max_error: float = 0.15
    coverage: tuple[float, float] = (0.90, 0.99)


@dataclass(frozen=True)
class ScoringConfig:
    band_days: float = 8
    context_minutes: int = 2880


@dataclass(frozen=True)
class ForecastConfig:
    source: str
    resolution_minutes: int
    series: tuple[SeriesSpec, ...]
    training: TrainingConfig
    validation: ValidationConfig
    scoring: ScoringConfig
    path: Path

    def get(self, series_id: str) -> SeriesSpec:
        for s in self.series:
            if s.id == series_id:
                return s
        raise KeyError(f"no series {series_id!r} in {self.path}")

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.series]


class ForecastConfigError(ConfigError):
    pass


def _section(cls: type, data: Any, where: str, **convert: Any) -> Any:
    if data is None:
        return cls()
    expect_mapping(data, where, ForecastConfigError)
    refuse_unknown(data, cls.__dataclass_fields__, where, ForecastConfigError)
    kwargs = {}
    for k, v in data.items():
        default = getattr(cls(), k)
        if k in convert:
            kwargs[k] = convert[k](v, f"{where}.{k}")
        elif isinstance(default, bool):
            kwargs[k] = expect_bool(v, f"{where}.{k}", ForecastConfigError)
        elif isinstance(default, (int, float)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ForecastConfigError(f"{where}.{k}: expected a number >= 0, got {v!r}")
            kwargs[k] = type(default)(v) if isinstance(default, int) and float(v).is_integer() else v
        else:
            kwargs[k] = v
    return cls(**kwargs)


def _coverage(v: Any, where: str) -> tuple[float, float]:
    if (not isinstance(v, (list, tuple)) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v)
            or not 0 <= v[0] < v[1] <= 1):
        raise ForecastConfigError(f"{where}: expected [low, high] with 0 <= low < high <= 1, got {v!r}")
    return (float(v[0]), float(v[1]))


def _prophet(v: Any, where: str) -> ProphetParams:
    try:
        return ProphetParams.from_mapping(v, where)
    except ValueError as exc:
        raise ForecastConfigError(str(exc)) from None


def _series(items: Any, where: str) -> tuple[SeriesSpec, ...]:
    expect_list(items, where, ForecastConfigError, non_empty=True)
    out: list[SeriesSpec] = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        expect_mapping(item, w, ForecastConfigError)
        if "for_each" in item:
            fe, tpl = item.get("for_each"), item.get("template")
            if set(item) != {"for_each", "template"} or not isinstance(fe, dict) or len(fe) != 1 \
                    or not isinstance(tpl, dict):
                raise ForecastConfigError(f"{w}: for_each needs exactly {{for_each: {{field: [values]}}, template: {{...}}}}")
            (field, values), = fe.items()
            if not isinstance(values, list) or not values:
                raise ForecastConfigError(f"{w}.for_each.{field}: expected a non-empty list")
            for v in values:
                spec = {k: (x.format(**{field: v}) if isinstance(x, str) else x) for k, x in tpl.items()}
                spec[field] = v
                out.append(_one(spec, f"{w} ({field}={v})"))
        else:
            out.append(_one(item, w))
    seen: set[str] = set()
    for s in out:
        if s.id in seen:
            raise ForecastConfigError(f"{where}: series id {s.id!r} appears twice")
        seen.add(s.id)
    return tuple(out)


def _one(item: dict, where: str) -> SeriesSpec:
    refuse_unknown(item, SeriesSpec.__dataclass_fields__, where, ForecastConfigError)
    for req in ("id", "metric", "tier"):
        expect_str(item.get(req), f"{where}.{req}", ForecastConfigError)
    if not ID_RE.match(item["id"]):
        raise ForecastConfigError(f"{where}.id: {item['id']!r} may only use letters, digits, '.', '_' and '-'")
    if not re.match(r"^[a-z_][a-z0-9_]*$", item["metric"]):
        raise ForecastConfigError(f"{where}.metric: {item['metric']!r} is not a column name")
    acc = expect_one_of(item.get("accuracy", "mape"), ACCURACY, f"{where}.accuracy", ForecastConfigError)
    me = item.get("max_error")
    if me is not None and (isinstance(me, bool) or not isinstance(me, (int, float)) or me <= 0):
        raise ForecastConfigError(f"{where}.max_error: expected a positive number, got {me!r}")
    over = item.get("prophet") or {}
    if not isinstance(over, dict):
        raise ForecastConfigError(f"{where}.prophet: expected a mapping of Prophet settings")
    try:
        ProphetParams.from_mapping(over, f"{where}.prophet")  # validates names and values
    except ValueError as exc:
        raise ForecastConfigError(str(exc)) from None
    return SeriesSpec(id=item["id"], metric=item["metric"], tier=item["tier"],
                      edge_location=str(item.get("edge_location", "all")), accuracy=acc,
                      max_error=float(me) if me is not None else None, prophet=tuple(sorted(over.items())))


def load_forecast_config(path: str | os.PathLike[str] | None = None) -> ForecastConfig:
    p = Path(path) if path else config_path("AKIDB_FORECAST_CONFIG", DEFAULT_PATH)
    data = load_yaml(p, ForecastConfigError) or {}
    expect_mapping(data, str(p), ForecastConfigError, what="a mapping at the top")
    refuse_unknown(data, TOP_FIELDS, str(p), ForecastConfigError)
    res = data.get("resolution_minutes", 5)
    if isinstance(res, bool) or not isinstance(res, int) or not 1 <= res <= 60 or 60 % res:
        raise ForecastConfigError(f"{p}: resolution_minutes: expected a divisor of 60, got {res!r}")
    return ForecastConfig(
        source=str(data.get("source", "models/marts/golden_signals_1m")),
        resolution_minutes=res,
        series=_series(data.get("series"), f"{p}: series"),
        training=_section(TrainingConfig, data.get("training"), f"{p}: training", prophet=_prophet),
        validation=_section(ValidationConfig, data.get("validation"), f"{p}: validation", coverage=_coverage),
        scoring=_section(ScoringConfig, data.get("scoring"), f"{p}: scoring"),
        path=p,
    )
