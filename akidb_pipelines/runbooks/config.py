"""Runbooks as configuration (``config/runbooks.yaml``, or ``$AKIDB_RUNBOOKS_CONFIG``): what triggers a runbook,
the action it takes, its guardrails, the metric that shows recovery and when the change is undone.

A runbook runs only for its own cause: every trigger names the root-cause type it answers (``cause``, never
``unclassified``), optionally narrowed by alert fields; an incident of another type, or of none, runs nothing.

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
from typing import Any

from akidb_pipelines.alerting.correlate import Incident
from akidb_pipelines.alerting.golden_columns import metric_expr
from akidb_pipelines.alerting.rootcause import UNCLASSIFIED, alert_matchers, alert_matches
from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, load_yaml

DEFAULT_PATH = shipped_config("runbooks.yaml")
REQUIRED = {"autoscaling_step": ("group", "step"), "ssm_flag": ("parameter", "value"),
            "cloudfront_bypass_edge": ("distribution", "path_pattern", "bypass_origin"),
            "lambda_provisioned_concurrency": ("function", "qualifier", "concurrency")}
ACTION_TYPES = tuple(REQUIRED)
TRIGGER_KEYS = ("cause", "source", "rule", "component", "direction")
VERIFY_FIELDS = ("tier", "metric", "below", "minutes", "after_minutes", "edge_location", "relative")
RUNBOOK_FIELDS = ("id", "description", "trigger", "action", "guardrails", "verify", "restore_after_minutes",
                  "enabled")
# The guardrails each action type reads (a bound of another type would be silently ignored, so it is refused)
COMMON_GUARDRAILS = ("allow", "cooldown_minutes", "max_actions_per_hour")
GUARDRAILS = {"autoscaling_step": (*COMMON_GUARDRAILS, "max_step", "max_capacity", "approval_above_step"),
              "ssm_flag": COMMON_GUARDRAILS, "cloudfront_bypass_edge": COMMON_GUARDRAILS,
              "lambda_provisioned_concurrency": (*COMMON_GUARDRAILS, "max_capacity", "approval_above")}


class RunbookConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class Verify:
    """The metric that shows recovery: ``max(metric)`` of ``tier`` over the last ``minutes`` minutes must be
    below ``below`` (``relative``: below ``below`` times its normal level at that time of day, ``verify.py``);
    checked ``after_minutes`` after the action."""

    tier: str
    metric: str
    below: float
    minutes: int = 5
    after_minutes: int = 10
    edge_location: str = "all"
    relative: bool = False


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

    def answers(self, cause: str | None) -> bool:
        """Whether this runbook is an answer to root-cause type ``cause``: one of its triggers names it. An
        unclassified incident is answered by none (the loader refuses a trigger on it)."""
        return cause is not None and cause != UNCLASSIFIED and any(t.get("cause") == cause for t in self.trigger)

    def matches(self, inc: Incident) -> bool:
        """A trigger matches when its ``cause`` is the incident's root-cause type and its other keys, if any, match
        one of the incident's alerts (source, rule, component, direction). A runbook runs only for its own cause:
        a trigger without a cause (a runbook built in code) matches nothing."""
        for t in self.trigger:
            if not self.answers(inc.cause) or t.get("cause") != inc.cause:
                continue
            rest = {k: v for k, v in t.items() if k != "cause"}
            if not rest or alert_matches(inc, [rest]):
                return True
        return False


def check_guardrails(g: Any, action_type: str, where: str) -> dict[str, Any]:
    """The guardrails of a runbook whose action is ``action_type``, checked: only the keys that type reads, each
    of its type and range; RunbookConfigError otherwise. The guardrails check them again before every action (a
    runbook built in code), so guardrails that cannot be read block the action instead of letting it through."""
    f = Fields({} if g is None else g, where, RunbookConfigError, GUARDRAILS.get(action_type, COMMON_GUARDRAILS))
    f.str_list("allow", [])
    f.number("cooldown_minutes", 0, minimum=0)
    f.int("max_actions_per_hour", None, minimum=0)
    for k in ("max_step", "max_capacity"):
        f.int(k, None, minimum=1)
    for k in ("approval_above_step", "approval_above"):
        f.int(k, None, minimum=0)
    return dict(f.data)


def _action(v: object, w: str) -> dict[str, Any]:
    kind = Fields(v, w, RunbookConfigError, ("type", *{k for ks in REQUIRED.values() for k in ks})).one_of(
        "type", ACTION_TYPES)
    a = Fields(v, w, RunbookConfigError, ("type", *REQUIRED[kind]))
    for k in REQUIRED[kind]:
        if k in ("step", "concurrency"):
            a.int(k, minimum=1)
        else:
            a.str(k)  # an SSM value too: an unquoted false would be written as 'False'
    return dict(a.data)


def _verify(v: object, w: str) -> Verify | None:
    if v is None:
        return None
    f = Fields(v, w, RunbookConfigError, VERIFY_FIELDS)
    relative = f.bool("relative", False)
    below = float(f.number("below"))
    if relative and below <= 1:
        raise RunbookConfigError(f"{f.at('below')}: with relative: true, a factor of the normal level above 1 "
                                 f"(1.5 = half again what this hour normally has), got {below:g}")
    return Verify(f.str("tier"), metric_expr(f.get("metric"), f.at("metric"), RunbookConfigError),
                  below, f.int("minutes", 5, minimum=1), f.int("after_minutes", 10, minimum=0),
                  f.str("edge_location", "all"), relative)


def _runbook(item: object, w: str) -> Runbook:
    r = Fields(item, w, RunbookConfigError, RUNBOOK_FIELDS)
    rid = r.str("id")
    action = _action(r.get("action"), r.at("action"))
    trigger = alert_matchers(r.get("trigger"), r.at("trigger"), RunbookConfigError, TRIGGER_KEYS, non_empty=True)
    for j, t in enumerate(trigger):  # each runbook answers its own root-cause type, never any incident of a rule
        if "cause" not in t:
            raise RunbookConfigError(f"{r.at('trigger')}[{j}].cause: missing: a runbook runs only for the root-cause "
                                     "type it answers (config/root_causes.yaml); the other keys narrow it down")
        if t["cause"] == UNCLASSIFIED:
            raise RunbookConfigError(f"{r.at('trigger')}[{j}].cause: {UNCLASSIFIED!r} is no cause: an incident "
                                     "whose type is not known runs no runbook")
    return Runbook(rid, r.str("description", ""), trigger, action,
                   check_guardrails(r.get("guardrails"), action["type"], r.at("guardrails")),
                   r.bool("enabled", False), _verify(r.get("verify"), r.at("verify")),
                   r.int("restore_after_minutes", 30, minimum=0, nullable=True))


def load_runbooks(path: str | os.PathLike[str] | None = None) -> list[Runbook]:
    """The runbooks of ``path``, else ``$AKIDB_RUNBOOKS_CONFIG``, else the shipped file. Every key is checked at
    every level (an unknown one is refused: a typo'd ``enabled`` or guardrail must not leave a default in force)
    and a problem raises RunbookConfigError naming the file and the field. Callers that act fail closed: a file
    that does not load means no runbook acts (``runbooks_or_error``)."""
    p, var = config_file("AKIDB_RUNBOOKS_CONFIG", DEFAULT_PATH, path)
    doc = Fields(load_yaml(p, RunbookConfigError, named_by=var) or {}, str(p), RunbookConfigError, ("runbooks",),
                 top=True)
    out: list[Runbook] = []
    for i, item in enumerate(doc.list("runbooks", [])):
        rb = _runbook(item, f"{p}: runbooks[{i}]")
        if rb.id in {r.id for r in out}:
            raise RunbookConfigError(f"{p}: runbooks[{i}].id: {rb.id!r} is used twice")
        out.append(rb)
    return out


def runbooks_or_error(path: str | os.PathLike[str] | None = None) -> tuple[list[Runbook], RunbookConfigError | None]:
    """``(runbooks, None)``, or ``([], the error)`` when the file does not load: fail closed, no runbook acts on a
    configuration that cannot be read (the callers report the error instead of crashing)."""
    try:
        return load_runbooks(path), None
    except RunbookConfigError as exc:
        return [], exc
