"""Runbooks as configuration (``config/runbooks.yaml``, or ``$AKIDB_RUNBOOKS_CONFIG``): what triggers a runbook,
the action it takes, its guardrails, the metric that shows recovery and when the change is undone.

Action types:
- ``autoscaling_step``: raise an Auto Scaling group's desired capacity by ``step`` (spot cascade: on-demand
  capacity), bounded by ``max_capacity`` and the group's MaxSize; restore sets the previous desired capacity.
- ``ssm_flag``: set an SSM parameter used as a feature flag (LSTM cascade: predictive scaling off); restore puts
  the previous value back.
- ``cloudfront_bypass_edge``: shift one cache behaviour of a CloudFront distribution to an origin that bypasses
  the Lambda@Edge function (UpdateDistribution: TargetOriginId := ``bypass_origin``, the behaviour's Lambda
  function associations removed, with the ETag as IfMatch); restore writes the behaviour back as it was.
  AWS does not support provisioned concurrency for Lambda@Edge, so this is the way to stop a cold-start storm.
- ``lambda_provisioned_concurrency``: provisioned concurrency on a *regional* function alias (PutProvisioned-
  ConcurrencyConfig) to at least ``concurrency``; restore puts the previous value back (or deletes the config).

The rest of a runbook's life: ``guardrails`` (decide and act), ``actuator`` (the AWS calls), ``audit`` (the
append-only log), ``lifecycle`` (apply -> verify -> restore, one step at a time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akidb_pipelines.alerting.correlate import Incident
from akidb_pipelines.alerting.rootcause import METRIC_RE, alert_matches
from akidb_pipelines.config import config_path, shipped_config
from akidb_pipelines.config.loader import ConfigError, expect_int, expect_one_of, load_yaml, refuse_unknown

DEFAULT_PATH = shipped_config("runbooks.yaml")
REQUIRED = {"autoscaling_step": ("group", "step"), "ssm_flag": ("parameter", "value"),
            "cloudfront_bypass_edge": ("distribution", "path_pattern", "bypass_origin"),
            "lambda_provisioned_concurrency": ("function", "qualifier", "concurrency")}
ACTION_TYPES = tuple(REQUIRED)
TRIGGER_KEYS = {"cause", "source", "rule", "component", "direction"}
VERIFY_FIELDS = ("tier", "metric", "below", "minutes", "after_minutes", "edge_location")


class RunbookConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class Verify:
    """The metric that shows recovery: ``max(metric)`` of ``tier`` over the last ``minutes`` minutes must be
    below ``below``; checked ``after_minutes`` after the action."""

    tier: str
    metric: str
    below: float
    minutes: int = 5
    after_minutes: int = 10
    edge_location: str = "all"


@dataclass(frozen=True)
class Runbook:
    id: str
    description: str
    trigger: tuple[dict[str, str], ...]
    action: dict[str, Any]
    guardrails: dict[str, Any]
    enabled: bool = False
    verify: Verify | None = None
    restore_after_minutes: int | None = 30   # after the incident is quiet; None: never restore automatically

    @property
    def target(self) -> str:
        a = self.action
        if a["type"] == "cloudfront_bypass_edge":
            return f"{a['distribution']}:{a['path_pattern']}"
        if a["type"] == "lambda_provisioned_concurrency":
            return f"{a['function']}:{a['qualifier']}"
        return str(a.get("group") or a.get("parameter"))

    def matches(self, inc: Incident) -> bool:
        """Any trigger matches: ``cause`` against the incident's root-cause type, the other keys against one of
        its alerts (source, rule, component, direction)."""
        for t in self.trigger:
            if "cause" in t and str(t["cause"]) != inc.cause:
                continue
            rest = {k: v for k, v in t.items() if k != "cause"}
            if not rest or alert_matches(inc, [rest]):
                return True
        return False


def _verify(v: object, w: str) -> Verify | None:
    if v is None:
        return None
    if not isinstance(v, dict) or not v.get("tier") or not isinstance(v.get("below"), (int, float)) \
            or not METRIC_RE.match(str(v.get("metric", ""))):
        raise RunbookConfigError(f"{w}.verify: needs tier, metric (a golden-signal column or arithmetic of "
                                 "columns) and below (a number)")
    refuse_unknown(v, VERIFY_FIELDS, f"{w}.verify", RunbookConfigError)
    return Verify(str(v["tier"]), str(v["metric"]), float(v["below"]), int(v.get("minutes", 5)),
                  int(v.get("after_minutes", 10)), str(v.get("edge_location", "all")))


def load_runbooks(path: str | os.PathLike[str] | None = None) -> list[Runbook]:
    p = Path(path) if path else config_path("AKIDB_RUNBOOKS_CONFIG", DEFAULT_PATH)
    data = load_yaml(p, RunbookConfigError) or {}
    out = []
    for i, r in enumerate(data.get("runbooks") or []):
        w = f"{p}: runbooks[{i}]"
        if not isinstance(r, dict) or not r.get("id"):
            raise RunbookConfigError(f"{w}.id: required")
        act = r.get("action") or {}
        expect_one_of(act.get("type"), ACTION_TYPES, f"{w}.action.type", RunbookConfigError)
        missing = [k for k in REQUIRED[act["type"]] if act.get(k) in (None, "")]
        if missing:
            raise RunbookConfigError(f"{w}.action: {act['type']} needs {', '.join(REQUIRED[act['type']])} "
                                     f"(missing {', '.join(missing)})")
        for k in ("step", "concurrency"):
            if k in act:
                expect_int(act[k], f"{w}.action.{k}", RunbookConfigError, minimum=1)
        trig = r.get("trigger") or []
        if not trig or not all(isinstance(t, dict) and t and set(t) <= TRIGGER_KEYS for t in trig):
            raise RunbookConfigError(f"{w}.trigger: a list of matches on {sorted(TRIGGER_KEYS)}")
        restore = r.get("restore_after_minutes", 30)
        if restore is not None and (isinstance(restore, bool) or not isinstance(restore, int) or restore < 0):
            raise RunbookConfigError(f"{w}.restore_after_minutes: a non-negative integer or null")
        out.append(Runbook(str(r["id"]), str(r.get("description", "")), tuple(trig), dict(act),
                           dict(r.get("guardrails") or {}), bool(r.get("enabled", False)),
                           _verify(r.get("verify"), w), restore))
    return out
