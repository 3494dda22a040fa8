"""Load SLO specifications (OpenSLO v1 ``kind: SLO``) and the multi-window burn-rate table.

Supported: ``budgetingMethod`` Occurrences (``ratioMetric`` good/total) and Timeslices (a ``thresholdMetric`` with
``op``/``value``, or a ``ratioMetric`` whose per-slice ratio must reach ``timeSliceTarget``); one rolling
``timeWindow``; one objective. Metric sources are ``type: akidb-sql``: an SQL expression over a model of
``dbt_like_sql`` with a filter. Every error names the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from akidb_pipelines.config.loader import ConfigError, load_yaml

SPEC_DIR = Path(__file__).parent / "specs"
WINDOWS_FILE = "burn_rate_windows.yaml"
POLICY_FILE = "budget_policy.yaml"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class SpecError(ConfigError):
    """An SLO or window file that cannot be used; the message names the file and the field."""


def parse_duration(text: Any, where: str = "duration") -> timedelta:
    m = _DURATION.match(str(text).strip()) if text is not None else None
    if not m or int(m.group(1)) <= 0:
        raise SpecError(f"{where}: expected a duration like 5m, 1h, 3d or 30d, got {text!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


@dataclass(frozen=True)
class MetricSource:
    model: str
    where: str
    expr: str


@dataclass(frozen=True)
class SLO:
    name: str
    display_name: str
    description: str
    service: str
    budgeting: str            # Occurrences | Timeslices
    period: timedelta
    target: float
    good: MetricSource | None = None       # ratio indicators
    total: MetricSource | None = None
    threshold: MetricSource | None = None  # threshold indicators (Timeslices)
    op: str | None = None
    value: float | None = None
    slice_target: float = 1.0
    slice_window: timedelta = timedelta(minutes=1)
    source_file: str = ""
    promql: tuple[tuple[str, str], ...] = ()   # metadata.annotations akidb.io/promql-*: errors, total, slice-bad

    @property
    def error_budget(self) -> float:
        """The share of events (or slices) allowed to be bad."""
        return 1.0 - self.target


@dataclass(frozen=True)
class BurnTier:
    name: str
    severity: str
    long_window: timedelta
    short_window: timedelta
    factor: float


@dataclass(frozen=True)
class WindowTable:
    period: timedelta
    tiers: tuple[BurnTier, ...]   # fastest first
    min_events: int

    @property
    def windows(self) -> list[timedelta]:
        return sorted({w for t in self.tiers for w in (t.long_window, t.short_window)})


def _get(doc: Any, path: str, where: str, required: bool = True) -> Any:
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if required:
                raise SpecError(f"{where}: {path} is missing")
            return None
        cur = cur[part]
    return cur


def _source(doc: Any, where: str) -> MetricSource:
    ms = _get(doc, "metricSource", where)
    if _get(ms, "type", where) != "akidb-sql":
        raise SpecError(f"{where}.metricSource.type: only 'akidb-sql' is supported, got {ms.get('type')!r}")
    spec = _get(ms, "spec", where)
    out = []
    for k in ("model", "where", "expr"):
        v = spec.get(k) if isinstance(spec, dict) else None
        if not isinstance(v, str) or not v.strip():
            raise SpecError(f"{where}.metricSource.spec.{k}: a non-empty string is required")
        out.append(v)
    return MetricSource(*out)


def parse_slo(doc: Any, source: str) -> SLO:
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: an SLO document must be a mapping")
    if doc.get("apiVersion") != "openslo/v1":
        raise SpecError(f"{source}: apiVersion: expected openslo/v1, got {doc.get('apiVersion')!r}")
    if doc.get("kind") != "SLO":
        raise SpecError(f"{source}: kind: expected SLO, got {doc.get('kind')!r}")
    name = _get(doc, "metadata.name", source)
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", name):
        raise SpecError(f"{source}: metadata.name: lowercase letters, digits and '-' only, got {name!r}")
    spec = _get(doc, "spec", source)
    method = spec.get("budgetingMethod")
    if method not in ("Occurrences", "Timeslices"):
        raise SpecError(f"{source}: spec.budgetingMethod: Occurrences or Timeslices, got {method!r}")
    tw = spec.get("timeWindow")
    if not isinstance(tw, list) or len(tw) != 1 or not isinstance(tw[0], dict):
        raise SpecError(f"{source}: spec.timeWindow: exactly one window is supported")
    if tw[0].get("isRolling") is not True:
        raise SpecError(f"{source}: spec.timeWindow[0].isRolling: only rolling windows are supported")
    period = parse_duration(tw[0].get("duration"), f"{source}: spec.timeWindow[0].duration")
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or len(objectives) != 1 or not isinstance(objectives[0], dict):
        raise SpecError(f"{source}: spec.objectives: exactly one objective is supported")
    obj = objectives[0]
    target = obj.get("target")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise SpecError(f"{source}: spec.objectives[0].target: a number between 0 and 1 (exclusive), got {target!r}")
    ind = _get(spec, "indicator.spec", source)
    kw: dict[str, Any] = {}
    if "ratioMetric" in ind:
        rm = ind["ratioMetric"]
        kw["good"] = _source(_get(rm, "good", f"{source}: spec.indicator.spec.ratioMetric"),
                             f"{source}: spec.indicator.spec.ratioMetric.good")
        kw["total"] = _source(_get(rm, "total", f"{source}: spec.indicator.spec.ratioMetric"),
                              f"{source}: spec.indicator.spec.ratioMetric.total")
    elif "thresholdMetric" in ind:
        if method != "Timeslices":
            raise SpecError(f"{source}: spec.indicator.spec.thresholdMetric: needs budgetingMethod Timeslices")
        kw["threshold"] = _source(ind["thresholdMetric"], f"{source}: spec.indicator.spec.thresholdMetric")
        if obj.get("op") not in OPS:
            raise SpecError(f"{source}: spec.objectives[0].op: one of {', '.join(OPS)}, got {obj.get('op')!r}")
        v = obj.get("value")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{source}: spec.objectives[0].value: a number is required, got {v!r}")
        kw["op"], kw["value"] = obj["op"], float(v)
    else:
        raise SpecError(f"{source}: spec.indicator.spec: ratioMetric or thresholdMetric is required")
    if method == "Timeslices":
        st = obj.get("timeSliceTarget", 1)
        if isinstance(st, bool) or not isinstance(st, (int, float)) or not 0 < st <= 1:
            raise SpecError(f"{source}: spec.objectives[0].timeSliceTarget: a number in (0, 1], got {st!r}")
        sw = parse_duration(obj.get("timeSliceWindow", "1m"), f"{source}: spec.objectives[0].timeSliceWindow")
        if sw != timedelta(minutes=1):
            raise SpecError(f"{source}: spec.objectives[0].timeSliceWindow: only 1m slices are supported")
        kw["slice_target"] = float(st)
    ann = _get(doc, "metadata.annotations", source, False) or {}
    if not isinstance(ann, dict):
        raise SpecError(f"{source}: metadata.annotations: must be a mapping of strings")
    promql = tuple(sorted((k.split("promql-", 1)[1], str(v)) for k, v in ann.items()
                          if str(k).startswith("akidb.io/promql-")))
    for k, _ in promql:
        if k not in ("errors", "total", "slice-bad"):
            raise SpecError(f"{source}: metadata.annotations.akidb.io/promql-{k}: use promql-errors, promql-total "
                            "or promql-slice-bad")
    kw["promql"] = promql
    return SLO(name=name, display_name=str(_get(doc, "metadata.displayName", source, False) or name),
               description=str(spec.get("description") or ""), service=str(spec.get("service") or ""),
               budgeting=method, period=period, target=float(target), source_file=source, **kw)


def parse_windows(doc: Any, source: str) -> WindowTable:
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: the window table must be a mapping")
    period = parse_duration(doc.get("period"), f"{source}: period")
    tiers = []
    for i, t in enumerate(doc.get("tiers") or []):
        where = f"{source}: tiers[{i}]"
        if not isinstance(t, dict) or not t.get("name"):
            raise SpecError(f"{where}.name: required")
        if t.get("severity") not in ("P0", "P1", "P2"):
            raise SpecError(f"{where}.severity: P0, P1 or P2, got {t.get('severity')!r}")
        long_w = parse_duration(t.get("long_window"), f"{where}.long_window")
        short_w = parse_duration(t.get("short_window"), f"{where}.short_window")
        if short_w >= long_w:
            raise SpecError(f"{where}.short_window: must be shorter than long_window")
        if ("factor" in t) == ("budget_consumed" in t):
            raise SpecError(f"{where}: give exactly one of factor or budget_consumed")
        if "factor" in t:
            factor = t["factor"]
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
                raise SpecError(f"{where}.factor: a positive number, got {factor!r}")
        else:
            share = t["budget_consumed"]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise SpecError(f"{where}.budget_consumed: a share in (0, 1], got {share!r}")
            factor = share * (period / long_w)
        tiers.append(BurnTier(str(t["name"]), t["severity"], long_w, short_w, round(float(factor), 6)))
    if not tiers:
        raise SpecError(f"{source}: tiers: at least one tier is required")
    tiers.sort(key=lambda t: -t.factor)
    me = doc.get("min_events", 0)
    if isinstance(me, bool) or not isinstance(me, int) or me < 0:
        raise SpecError(f"{source}: min_events: a non-negative integer, got {me!r}")
    return WindowTable(period, tuple(tiers), me)


@dataclass(frozen=True)
class PolicyLevel:
    remaining: float
    action: str


def parse_policy(doc: Any, source: str) -> tuple[PolicyLevel, ...]:
    levels = doc.get("levels") if isinstance(doc, dict) else None
    if not isinstance(levels, list) or not levels:
        raise SpecError(f"{source}: levels: a non-empty list is required")
    out = []
    for i, lv in enumerate(levels):
        r = lv.get("remaining") if isinstance(lv, dict) else None
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not -1 <= r < 1:
            raise SpecError(f"{source}: levels[{i}].remaining: a share of the budget in [-1, 1), got {r!r}")
        if not isinstance(lv.get("action"), str) or not lv["action"]:
            raise SpecError(f"{source}: levels[{i}].action: required")
        out.append(PolicyLevel(float(r), lv["action"]))
    return tuple(sorted(out, key=lambda x: -x.remaining))


def load_policy(folder: str | Path | None = None) -> tuple[PolicyLevel, ...]:
    p = (Path(folder) if folder else SPEC_DIR) / POLICY_FILE
    return parse_policy(load_yaml(p, SpecError), str(p))


def load_specs(folder: str | Path | None = None) -> tuple[list[SLO], WindowTable]:
    """Every ``*.yaml`` SLO in ``folder`` (default: the shipped specs) and its burn-rate window table."""
    d = Path(folder) if folder else SPEC_DIR
    windows = parse_windows(load_yaml(d / WINDOWS_FILE, SpecError), str(d / WINDOWS_FILE))
    slos, seen = [], {}
    for p in sorted(d.glob("*.yaml")):
        if p.name in (WINDOWS_FILE, POLICY_FILE):
            continue
        slo = parse_slo(load_yaml(p, SpecError), str(p))
        if slo.name in seen:
            raise SpecError(f"{p}: metadata.name: {slo.name!r} is also used by {seen[slo.name]}")
        if slo.period != windows.period:
            raise SpecError(f"{p}: spec.timeWindow[0].duration: the window table is for {windows.period}, "
                            f"this SLO uses {slo.period}")
        seen[slo.name] = str(p)
        slos.append(slo)
    return slos, windows
