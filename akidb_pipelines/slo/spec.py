"""Load SLO specifications (OpenSLO v1 ``kind: SLO``) and the multi-window burn-rate table.

Supported: ``budgetingMethod`` Occurrences (``ratioMetric`` good/total) and Timeslices (a ``thresholdMetric`` with
``op``/``value``, or a ``ratioMetric`` whose per-slice ratio must reach ``timeSliceTarget``); one rolling
``timeWindow``; one objective. Metric sources are ``type: akidb-sql``: an SQL expression over a model of
``dbt_like_sql`` with a filter. Every error names the file and the field. Every key is checked at every level:
an OpenSLO key this project does not implement (``alertPolicies``, ``indicatorRef``, ``calendar``, ...) is refused
like a typo, rather than silently ignored.

Extensions, as ``metadata.annotations`` (OpenSLO's place for them; other tools ignore them):

* ``akidb.io/group-by: edge_location``: one SLO per value of the column found in the data (each with its own
  events, budget, burn rates and alerts), keyed ``<name>.<value>`` (:func:`instance_key`): a new edge location gets
  its SLO from its first minute of data, with no list to keep in step.
* ``akidb.io/promql-errors|total|slice-bad``: the SLI in PromQL for ``akidb rules``; ``akidb.io/promql-skip``:
  why the SLO has no Prometheus rules (not both; the rules file's header lists every SLO without rules and why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from akidb_pipelines.config.loader import ConfigError, Fields, expect_list, expect_mapping, load_yaml

SPEC_DIR = Path(__file__).parent / "specs"
WINDOWS_FILE = "burn_rate_windows.yaml"
POLICY_FILE = "budget_policy.yaml"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
GROUP_BY = "akidb.io/group-by"
GROUP_COLUMNS = ("edge_location",)   # columns an SLO may be grouped by (golden_signals_1m's per-edge rows)
PROMQL_SKIP = "akidb.io/promql-skip"
KEY_SEP = "."                        # <slo name>.<group value>; an SLO name has no '.' (see parse_slo)
UNGROUPED = "all"                    # the group value of an ungrouped SLO (golden_signals_1m's convention)
# the OpenSLO v1 keys implemented, per level
SLO_FIELDS = ("apiVersion", "kind", "metadata", "spec")
METADATA_FIELDS = ("name", "displayName", "labels", "annotations")
SPEC_FIELDS = ("description", "service", "indicator", "timeWindow", "budgetingMethod", "objectives")
OBJECTIVE_FIELDS = ("displayName", "target", "op", "value", "timeSliceTarget", "timeSliceWindow")
TIER_FIELDS = ("name", "severity", "long_window", "short_window", "factor", "budget_consumed")


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
    promql_skip: str = ""                      # akidb.io/promql-skip: why there are no Prometheus rules
    group_by: str | None = None                # akidb.io/group-by: one SLO instance per value of this column

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
    # a paging tier's alert that rests on fewer minutes of its short window burning above the tier's factor, with
    # no other alert and no root-cause type beside it, is a ticket (``alerting.alert_sources.burning_minutes``)
    min_burning_minutes: int = 1

    @property
    def windows(self) -> list[timedelta]:
        return sorted({w for t in self.tiers for w in (t.long_window, t.short_window)})


def _source(doc: Any, where: str) -> MetricSource:
    ms = Fields(doc, where, SpecError, ("metricSource",)).fields("metricSource", ("type", "spec"))
    if ms.get("type") != "akidb-sql":
        raise SpecError(f"{ms.at('type')}: only 'akidb-sql' is supported, got {ms.get('type')!r}")
    spec = ms.fields("spec", ("model", "where", "expr"))
    out = []
    for k in ("model", "where", "expr"):
        v = spec.get(k)
        if not isinstance(v, str) or not v.strip():
            raise SpecError(f"{spec.at(k)}: a non-empty string is required")
        out.append(v)
    return MetricSource(*out)


def _metadata(doc: Any, where: str) -> Fields:
    md = Fields(doc, where, SpecError, METADATA_FIELDS)
    md.str("displayName", None)
    for k in ("labels", "annotations"):
        v = md.get(k)
        if v is not None:
            expect_mapping(v, md.at(k), SpecError)
            ok = (str, list) if k == "labels" else str  # OpenSLO: labels may hold lists, annotations are strings
            bad = next((x for x in v.items() if not isinstance(x[0], str) or not isinstance(x[1], ok)), None)
            if bad:
                raise SpecError(f"{md.at(k)}.{bad[0]}: expected a string, got {bad[1]!r}")
    return md


def _only_one(doc: Any, where: str) -> dict:
    items = expect_list(doc, where, SpecError)
    if len(items) != 1:
        raise SpecError(f"{where}: exactly one {'window' if 'timeWindow' in where else 'objective'} is supported")
    return items[0]


def parse_slo(doc: Any, source: str) -> SLO:
    d = Fields(doc, source, SpecError, SLO_FIELDS, top=True)
    if d.get("apiVersion") != "openslo/v1":
        raise SpecError(f"{source}: apiVersion: expected openslo/v1, got {d.get('apiVersion')!r}")
    if d.get("kind") != "SLO":
        raise SpecError(f"{source}: kind: expected SLO, got {d.get('kind')!r}")
    md = _metadata(d.get("metadata"), f"{source}: metadata")
    name = md.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", name):
        raise SpecError(f"{source}: metadata.name: lowercase letters, digits and '-' only, got {name!r}")
    spec = d.fields("spec", SPEC_FIELDS)
    method = spec.get("budgetingMethod")
    if method not in ("Occurrences", "Timeslices"):
        raise SpecError(f"{source}: spec.budgetingMethod: Occurrences or Timeslices, got {method!r}")
    tw = Fields(_only_one(spec.get("timeWindow"), spec.at("timeWindow")), f"{source}: spec.timeWindow[0]", SpecError,
                ("duration", "isRolling"))
    if tw.get("isRolling") is not True:
        raise SpecError(f"{source}: spec.timeWindow[0].isRolling: only rolling windows are supported")
    period = parse_duration(tw.get("duration"), f"{source}: spec.timeWindow[0].duration")
    obj = Fields(_only_one(spec.get("objectives"), spec.at("objectives")), f"{source}: spec.objectives[0]",
                 SpecError, OBJECTIVE_FIELDS)
    obj.str("displayName", None)
    target = obj.get("target")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise SpecError(f"{source}: spec.objectives[0].target: a number between 0 and 1 (exclusive), got {target!r}")
    ind = spec.fields("indicator", ("metadata", "spec"))
    if ind.get("metadata") is not None:
        _metadata(ind.get("metadata"), ind.at("metadata"))
    ispec = ind.fields("spec", ("ratioMetric", "thresholdMetric"))
    kw: dict[str, Any] = {}
    if ("ratioMetric" in ispec) == ("thresholdMetric" in ispec):
        raise SpecError(f"{ispec.where}: ratioMetric or thresholdMetric is required (exactly one)")
    if "ratioMetric" in ispec:
        rm = ispec.fields("ratioMetric", ("counter", "good", "total"))
        if rm.bool("counter", False):  # good/total are per-minute counts; cumulative counters would be misread
            raise SpecError(f"{rm.at('counter')}: only false is supported (the expressions are counts per minute)")
        for k in ("good", "total"):
            if k not in rm:
                raise SpecError(f"{rm.where}: {k} is missing")
            kw[k] = _source(rm.get(k), rm.at(k))
        for k in ("op", "value"):
            if k in obj:
                raise SpecError(f"{obj.at(k)}: only with a thresholdMetric (a ratio's objective is its target)")
    else:
        if method != "Timeslices":
            raise SpecError(f"{ispec.at('thresholdMetric')}: needs budgetingMethod Timeslices")
        kw["threshold"] = _source(ispec.get("thresholdMetric"), ispec.at("thresholdMetric"))
        if obj.get("op") not in OPS:
            raise SpecError(f"{source}: spec.objectives[0].op: one of {', '.join(OPS)}, got {obj.get('op')!r}")
        v = obj.get("value")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{source}: spec.objectives[0].value: a number is required, got {v!r}")
        kw["op"], kw["value"] = obj.get("op"), float(v)
    if method == "Timeslices":
        st = obj.get("timeSliceTarget", 1)
        if isinstance(st, bool) or not isinstance(st, (int, float)) or not 0 < st <= 1:
            raise SpecError(f"{source}: spec.objectives[0].timeSliceTarget: a number in (0, 1], got {st!r}")
        sw = parse_duration(obj.get("timeSliceWindow", "1m"), f"{source}: spec.objectives[0].timeSliceWindow")
        if sw != timedelta(minutes=1):
            raise SpecError(f"{source}: spec.objectives[0].timeSliceWindow: only 1m slices are supported")
        kw["slice_target"] = float(st)
    else:
        for k in ("timeSliceTarget", "timeSliceWindow"):
            if k in obj:
                raise SpecError(f"{obj.at(k)}: only with budgetingMethod Timeslices")
    ann = md.get("annotations") or {}
    promql = tuple(sorted((k.split("promql-", 1)[1], str(v)) for k, v in ann.items()
                          if str(k).startswith("akidb.io/promql-") and k != PROMQL_SKIP))
    for k, _ in promql:
        if k not in ("errors", "total", "slice-bad"):
            raise SpecError(f"{source}: metadata.annotations.akidb.io/promql-{k}: use promql-errors, promql-total, "
                            "promql-slice-bad or promql-skip")
    kw["promql"] = promql
    if PROMQL_SKIP in ann:
        kw["promql_skip"] = ann[PROMQL_SKIP].strip()
        if not kw["promql_skip"]:
            raise SpecError(f"{source}: metadata.annotations.{PROMQL_SKIP}: say why there are no Prometheus rules")
        if promql:
            raise SpecError(f"{source}: metadata.annotations.{PROMQL_SKIP}: not with akidb.io/promql-{promql[0][0]} "
                            "(rules are either generated or skipped)")
    if GROUP_BY in ann:
        kw["group_by"] = ann[GROUP_BY]
        if kw["group_by"] not in GROUP_COLUMNS:
            raise SpecError(f"{source}: metadata.annotations.{GROUP_BY}: one of {', '.join(GROUP_COLUMNS)}, "
                            f"got {ann[GROUP_BY]!r}")
        if promql:  # rules for a grouped SLI would need the group as a label on every series and every match
            raise SpecError(f"{source}: metadata.annotations.{GROUP_BY}: Prometheus rules are not generated for a "
                            f"grouped SLO; give {PROMQL_SKIP} with the reason instead of akidb.io/promql-*")
    return SLO(name=name, display_name=md.str("displayName", name), description=spec.str("description", ""),
               service=spec.str("service", ""), budgeting=method, period=period, target=float(target),
               source_file=source, **kw)


def instance_key(name: str, value: str | None = None) -> str:
    """The key of one SLO instance in the SLO models (their ``slo`` column): the name, or ``<name>.<value>`` for
    a grouped SLO."""
    return name if value is None else f"{name}{KEY_SEP}{value}"


def split_key(key: str) -> tuple[str, str]:
    """``(slo name, group value)`` of an instance key; the value is ``all`` for an ungrouped SLO."""
    name, sep, value = key.partition(KEY_SEP)
    return name, (value if sep else UNGROUPED)


def parse_windows(doc: Any, source: str) -> WindowTable:
    d = Fields(doc, source, SpecError, ("period", "tiers", "min_events", "min_burning_minutes"), top=True)
    period = parse_duration(d.get("period"), f"{source}: period")
    tiers = []
    for i, item in enumerate(d.list("tiers", [])):
        where = f"{source}: tiers[{i}]"
        t = Fields(item, where, SpecError, TIER_FIELDS)
        name = t.str("name")
        if name in {x.name for x in tiers}:
            raise SpecError(f"{where}.name: {name!r} is used twice")
        if t.get("severity") not in ("P0", "P1", "P2"):
            raise SpecError(f"{where}.severity: P0, P1 or P2, got {t.get('severity')!r}")
        long_w = parse_duration(t.get("long_window"), f"{where}.long_window")
        short_w = parse_duration(t.get("short_window"), f"{where}.short_window")
        if short_w >= long_w:
            raise SpecError(f"{where}.short_window: must be shorter than long_window")
        if long_w > period:
            raise SpecError(f"{where}.long_window: must not be longer than the period ({period})")
        if ("factor" in t) == ("budget_consumed" in t):
            raise SpecError(f"{where}: give exactly one of factor or budget_consumed")
        if "factor" in t:
            factor = t.get("factor")
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < float("inf"):
                raise SpecError(f"{where}.factor: a positive number, got {factor!r}")
        else:
            share = t.get("budget_consumed")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise SpecError(f"{where}.budget_consumed: a share in (0, 1], got {share!r}")
            factor = share * (period / long_w)
        tiers.append(BurnTier(name, t.get("severity"), long_w, short_w, round(float(factor), 6)))
    if not tiers:
        raise SpecError(f"{source}: tiers: at least one tier is required")
    tiers.sort(key=lambda t: -t.factor)
    me = d.get("min_events", 0)
    if isinstance(me, bool) or not isinstance(me, int) or me < 0:
        raise SpecError(f"{source}: min_events: a non-negative integer, got {me!r}")
    mb = d.get("min_burning_minutes", 1)
    if isinstance(mb, bool) or not isinstance(mb, int) or mb < 1:
        raise SpecError(f"{source}: min_burning_minutes: a positive integer, got {mb!r}")
    return WindowTable(period, tuple(tiers), me, mb)


@dataclass(frozen=True)
class PolicyLevel:
    remaining: float
    action: str


def parse_policy(doc: Any, source: str) -> tuple[PolicyLevel, ...]:
    levels = Fields(doc, source, SpecError, ("levels",), top=True).get("levels")
    if not isinstance(levels, list) or not levels:
        raise SpecError(f"{source}: levels: a non-empty list is required")
    out = []
    for i, item in enumerate(levels):
        lv = Fields(item, f"{source}: levels[{i}]", SpecError, ("remaining", "action"))
        r = lv.get("remaining")
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not -1 <= r < 1:
            raise SpecError(f"{source}: levels[{i}].remaining: a share of the budget in [-1, 1), got {r!r}")
        out.append(PolicyLevel(float(r), lv.str("action")))
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
