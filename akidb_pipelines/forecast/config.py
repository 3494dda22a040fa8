"""``forecast.yaml``: the series that get a model, training, validation and scoring settings.

Errors name the file and the field, at load time (the code location fails to load rather than training garbage).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import (ConfigError, Fields, expect_list, expect_mapping, expect_one_of,
                                          expect_str, refuse_unknown, load_yaml)
from akidb_pipelines.forecast.model import ProphetParams

DEFAULT_PATH = shipped_config("forecast.yaml")
ACCURACY = ("mape", "smape", "mase")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TOP_FIELDS = ("source", "resolution_minutes", "series", "training", "validation", "scoring", "baseline")
POSITIVE = {"window_days", "horizon_hours", "period_hours", "max_cutoffs", "max_error", "band_days", "lookback_days",
            "min_days"}  # others >= 0
PROPHET_CHOICES = {"growth": ProphetParams.GROWTHS, "seasonality_mode": ProphetParams.MODES,
                   "weekend_profile": ProphetParams.WEEKEND}


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
    fitter: str = "batch"         # batch: every series together, exact MAP (prophet-batch); stan: one Stan fit each
    warm_start: bool = True       # stan only: start the optimiser from the promoted model (the batch does not iterate)
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
class BaselineConfig:
    """The seasonal baseline that scores a series without a promoted model (``forecast/seasonal_baseline.py``)."""

    lookback_days: int = 14
    min_days: int = 2
    neighbour_minutes: int = 2


@dataclass(frozen=True)
class ForecastConfig:
    source: str
    resolution_minutes: int
    series: tuple[SeriesSpec, ...]
    training: TrainingConfig
    validation: ValidationConfig
    scoring: ScoringConfig
    path: Path
    baseline: BaselineConfig = BaselineConfig()

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
    """A settings section: every key one of ``cls``'s fields, of the field's type; numbers in range (``POSITIVE``
    fields above 0, the others at least 0)."""
    if data is None:
        return cls()
    f = Fields(data, where, ForecastConfigError, cls.__dataclass_fields__)
    kwargs = {}
    for field in fields(cls):
        k, kind = field.name, str(field.type)
        if k not in f:
            continue
        if k in convert:
            kwargs[k] = convert[k](f.get(k), f.at(k))
        elif kind == "bool":
            kwargs[k] = f.bool(k)
        elif kind == "int":
            kwargs[k] = f.int(k, minimum=1 if k in POSITIVE else 0)
        else:
            kwargs[k] = float(f.number(k, positive=k in POSITIVE, minimum=None if k in POSITIVE else 0))
    return cls(**kwargs)


def prophet_params(v: Any, where: str, error: type[ConfigError] = ForecastConfigError) -> ProphetParams:
    """Prophet settings (``training.prophet``, a series' ``prophet``, the detector's ``online.prophet``): known
    names only, each of its type (``weekend_profile: off`` unquoted is the boolean false: refused), then the
    ranges ProphetParams checks."""
    f = Fields({} if v is None else v, where, error, [x.name for x in fields(ProphetParams) if x.name != "extra"])
    for field in fields(ProphetParams):
        k, kind = field.name, str(field.type)
        if k not in f:
            continue
        if k in PROPHET_CHOICES:
            f.one_of(k, PROPHET_CHOICES[k])
        elif kind == "bool":
            f.bool(k)
        elif kind == "int":
            f.int(k, minimum=0)
        elif kind == "float":
            f.number(k)
    try:
        return ProphetParams.from_mapping(f.data, where)
    except ValueError as exc:
        raise error(str(exc)) from None


def _coverage(v: Any, where: str) -> tuple[float, float]:
    if (not isinstance(v, (list, tuple)) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v)
            or not 0 <= v[0] < v[1] <= 1):
        raise ForecastConfigError(f"{where}: expected [low, high] with 0 <= low < high <= 1, got {v!r}")
    return (float(v[0]), float(v[1]))


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
    prophet_params(over, f"{where}.prophet")  # validates names, types and values
    return SeriesSpec(id=item["id"], metric=item["metric"], tier=item["tier"],
                      edge_location=expect_str(item.get("edge_location", "all"), f"{where}.edge_location",
                                               ForecastConfigError), accuracy=acc,
                      max_error=float(me) if me is not None else None, prophet=tuple(sorted(over.items())))


def load_forecast_config(path: str | os.PathLike[str] | None = None) -> ForecastConfig:
    p, var = config_file("AKIDB_FORECAST_CONFIG", DEFAULT_PATH, path)
    data = load_yaml(p, ForecastConfigError, named_by=var) or {}
    expect_mapping(data, str(p), ForecastConfigError, what="a mapping at the top")
    refuse_unknown(data, TOP_FIELDS, str(p), ForecastConfigError)
    res = data.get("resolution_minutes", 5)
    if isinstance(res, bool) or not isinstance(res, int) or not 1 <= res <= 60 or 60 % res:
        raise ForecastConfigError(f"{p}: resolution_minutes: expected a divisor of 60, got {res!r}")
    return ForecastConfig(
        source=expect_str(data.get("source", "models/marts/golden_signals_1m"), f"{p}: source", ForecastConfigError),
        resolution_minutes=res,
        series=_series(data.get("series"), f"{p}: series"),
        training=_section(TrainingConfig, data.get("training"), f"{p}: training", prophet=prophet_params,
                          fitter=_fitter),
        validation=_section(ValidationConfig, data.get("validation"), f"{p}: validation", coverage=_coverage),
        scoring=_section(ScoringConfig, data.get("scoring"), f"{p}: scoring"),
        path=p,
        baseline=_baseline(data.get("baseline"), f"{p}: baseline"),
    )


FITTERS = ("batch", "stan")


def _fitter(v: Any, where: str) -> str:
    if v not in FITTERS:
        raise ForecastConfigError(f"{where}: one of {', '.join(FITTERS)}, got {v!r}")
    return v


def _baseline(data: Any, where: str) -> BaselineConfig:
    b = _section(BaselineConfig, data, where)
    if b.min_days > b.lookback_days:
        raise ForecastConfigError(f"{where}.min_days: {b.min_days} earlier days cannot fit in lookback_days "
                                  f"{b.lookback_days}")
    return b
