"""Static threshold rules from configuration (``config/static_rules.yaml``): the classic "metric above X for N
minutes" alert, evaluated on the golden signals.

    rules:
      - {id: rest-p95-latency-high, tier: akidb-rest, metric: latency_p95_ms, op: ">", threshold: 100,
         for_minutes: 5, severity: P1, enabled: true}

A rule fires once the condition has held for ``for_minutes`` consecutive minutes (Prometheus' ``for``): the alert
starts at that minute and lasts while the condition holds. ``edge_location`` (default ``all``) picks one edge
location, ``each`` evaluates every edge location separately. These rules are the old baseline the burn-rate and
anomaly detectors replace; they ship disabled and exist for teams that need a hard limit on a signal.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from akidb_pipelines.alerting.correlate import SEVERITY_RANK, Alert, episodes
from akidb_pipelines.alerting.golden_columns import GOLDEN, GOLDEN_COLUMNS
from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, load_yaml
from akidb_pipelines.storage import Lake

DEFAULT_PATH = shipped_config("static_rules.yaml")
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
FIELDS = ("id", "tier", "metric", "op", "threshold", "for_minutes", "severity", "edge_location", "enabled")


class StaticRuleError(ConfigError):
    pass


@dataclass(frozen=True)
class StaticRule:
    id: str
    tier: str
    metric: str
    op: str
    threshold: float
    for_minutes: int = 1
    severity: str = "P2"
    edge_location: str = "all"
    enabled: bool = True


def load_static_rules(path: str | os.PathLike[str] | None = None, include_disabled: bool = False) -> list[StaticRule]:
    """The enabled rules (every rule with ``include_disabled``) of ``path``, else ``$AKIDB_STATIC_RULES``, else the
    shipped file; every key is checked (an unknown one is refused), a problem raises StaticRuleError naming the
    file and the field."""
    p, var = config_file("AKIDB_STATIC_RULES", DEFAULT_PATH, path)
    doc = Fields(load_yaml(p, StaticRuleError, named_by=var) or {}, str(p), StaticRuleError, ("rules",), top=True)
    out, seen = [], set()
    for i, item in enumerate(doc.list("rules", [])):
        r = Fields(item, f"{p}: rules[{i}]", StaticRuleError, FIELDS)
        rid = r.str("id")
        if rid in seen:
            raise StaticRuleError(f"{r.at('id')}: {rid!r} is used twice")
        seen.add(rid)
        if r.get("metric") not in GOLDEN_COLUMNS:
            raise StaticRuleError(f"{r.at('metric')}: must be a golden-signal column, one of {GOLDEN_COLUMNS}, "
                                  f"got {r.get('metric')!r}")
        rule = StaticRule(rid, r.str("tier"), r.get("metric"), r.one_of("op", OPS), float(r.number("threshold")),
                          r.int("for_minutes", 1, minimum=1), r.one_of("severity", SEVERITY_RANK, "P2"),
                          r.str("edge_location", "all"), r.bool("enabled", True))
        if rule.enabled or include_disabled:
            out.append(rule)
    return out


def static_alerts(lake: Lake, rules: list[StaticRule], start: datetime, end: datetime) -> list[Alert]:
    """The alerts of ``rules`` over [start, end): one per period the condition held for ``for_minutes``."""
    out: list[Alert] = []
    for rule in rules:
        lookback = start - timedelta(minutes=rule.for_minutes)  # a condition that began before the window counts
        where = "" if rule.edge_location == "each" else "AND edge_location = ?"
        params = ([lookback, end, rule.tier] + ([] if rule.edge_location == "each" else [rule.edge_location])
                  + [rule.threshold])
        # the metric is a golden-signal column and the operator one of OPS (both checked at load); the threshold
        # is bound
        rows = lake.query_table(GOLDEN, f"""
            SELECT edge_location, minute, {rule.metric} FROM {{src}}
            WHERE minute >= ? AND minute < ? AND tier = ? {where} AND {rule.metric} {rule.op} ?
            ORDER BY edge_location, minute""", params)
        by_edge: dict[str, list] = {}
        for edge, minute, value in rows:
            by_edge.setdefault(edge, []).append((minute, value))
        for edge, pts in by_edge.items():
            for s, e, values in episodes(pts, timedelta(minutes=1)):
                if len(values) < rule.for_minutes:
                    continue
                fired = s + timedelta(minutes=rule.for_minutes - 1)
                if fired >= end or e < start:
                    continue
                out.append(Alert("static", rule.id, rule.tier, rule.severity, fired, e, edge,
                                 labels=(("rule", rule.id),),
                                 context=(("metric", rule.metric), ("condition", f"{rule.op} {rule.threshold:g}"),
                                          ("for_minutes", rule.for_minutes), ("peak", max(values)),
                                          ("minutes", len(values)))))
    return out
