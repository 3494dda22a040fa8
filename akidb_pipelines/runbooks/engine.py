"""Runbooks with guardrails: match an incident, check every guardrail, act (or only say what would be done),
write the audit row, verify the recovery, and restore what was changed.

Action types (``config/runbooks.yaml``):
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

Guardrails, in order: dry run unless enabled; the target must be on the allowlist; no action during a change freeze
(calendar entries of kind ``maintenance``); one action per incident and runbook (the idempotency key: the incident
id, which is also the PagerDuty dedup_key); a cooldown per target; a rate limit per runbook; bounded steps and
capacity; approval required above a blast-radius threshold. Any AWS error (access denied, throttling, an
unreachable endpoint) fails safe: nothing more is tried, the audit row says why, and the caller escalates the page.
The audit log is append-only (SQLite, like the outbox): what, why, before, after, result.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from akidb_pipelines.alerting.correlate import Incident
from akidb_pipelines.alerting.rootcause import METRIC_RE, alert_matches
from akidb_pipelines.calendar import CalendarEntry
from akidb_pipelines.config import aws_region, config_path, shipped_config
from akidb_pipelines.config.loader import ConfigError, expect_int, expect_one_of, load_yaml, refuse_unknown
from akidb_pipelines.storage.sqlite import SQLiteFile

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


@dataclass
class Outcome:
    runbook: str
    incident: str
    target: str
    status: str   # dry_run | applied | blocked | needs_approval | failed | duplicate | verified | not_recovered
    reason: str   #   | rolled_back | restored
    before: Any = None
    after: Any = None
    escalate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, runbook TEXT NOT NULL, incident TEXT NOT NULL,
    target TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    before TEXT, after TEXT);
CREATE TRIGGER IF NOT EXISTS audit_append_only_u BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_d BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
"""


class AuditLog:
    def __init__(self, path: str | Path):
        self.db = SQLiteFile(path, AUDIT_SCHEMA)
        self.path = self.db.path

    def write(self, at: datetime, rb: Runbook, o: Outcome) -> None:
        with self.db.transaction() as con:
            con.execute("INSERT INTO audit (at, runbook, incident, target, action, status, reason, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (at.isoformat(), rb.id, o.incident, o.target, json.dumps(rb.action), o.status, o.reason,
                         json.dumps(o.before), json.dumps(o.after)))

    def rows(self, incident: str | None = None) -> list[dict]:
        with self.db.connection(rows=True) as con:
            sql, args = "SELECT * FROM audit", ()
            if incident is not None:
                sql, args = sql + " WHERE incident = ?", (incident,)
            return [dict(r) for r in con.execute(sql + " ORDER BY id", args)]


class Actuator:
    """The AWS calls of the action types (boto3; endpoint and credentials from the environment)."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None):
        import boto3

        self._kw: dict[str, Any] = {"region_name": region or aws_region(default_region=False)}
        if endpoint_url:
            self._kw["endpoint_url"] = endpoint_url
        if access_key_id and secret_access_key:  # else boto3's chain (environment, profile, instance role)
            self._kw.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
        self._boto3, self._clients = boto3, {}
        self.asg, self.ssm = self.client("autoscaling"), self.client("ssm")

    def client(self, service: str):  # noqa: ANN201
        if service not in self._clients:
            self._clients[service] = self._boto3.client(service, **self._kw)
        return self._clients[service]

    def _behaviour(self, action: dict) -> tuple[dict, str, dict]:
        got = self.client("cloudfront").get_distribution_config(Id=action["distribution"])
        cfg = got["DistributionConfig"]
        if action["path_pattern"] == "default":
            return cfg, got["ETag"], cfg["DefaultCacheBehavior"]
        for b in (cfg.get("CacheBehaviors") or {}).get("Items") or []:
            if b["PathPattern"] == action["path_pattern"]:
                return cfg, got["ETag"], b
        raise LookupError(f"distribution {action['distribution']} has no cache behaviour {action['path_pattern']}")

    def read(self, action: dict) -> Any:
        t = action["type"]
        if t == "autoscaling_step":
            groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[action["group"]])["AutoScalingGroups"]
            if not groups:
                raise LookupError(f"Auto Scaling group {action['group']} not found")
            g = groups[0]
            return {"desired": g["DesiredCapacity"], "max": g["MaxSize"]}
        if t == "ssm_flag":
            return self.ssm.get_parameter(Name=action["parameter"])["Parameter"]["Value"]
        if t == "cloudfront_bypass_edge":
            _, _, b = self._behaviour(action)
            return {"target_origin": b["TargetOriginId"],
                    "lambda_associations": copy.deepcopy(b.get("LambdaFunctionAssociations") or {"Quantity": 0})}
        lam = self.client("lambda")
        try:
            got = lam.get_provisioned_concurrency_config(FunctionName=action["function"],
                                                         Qualifier=action["qualifier"])
            return int(got["RequestedProvisionedConcurrentExecutions"])
        except lam.exceptions.ProvisionedConcurrencyConfigNotFoundException:
            return 0

    def write(self, action: dict, value: Any) -> None:
        t = action["type"]
        if t == "autoscaling_step":
            self.asg.set_desired_capacity(AutoScalingGroupName=action["group"], DesiredCapacity=int(value["desired"]),
                                          HonorCooldown=False)
        elif t == "ssm_flag":
            self.ssm.put_parameter(Name=action["parameter"], Value=str(value), Type="String", Overwrite=True)
        elif t == "cloudfront_bypass_edge":
            cfg, etag, b = self._behaviour(action)
            b["TargetOriginId"] = value["target_origin"]
            b["LambdaFunctionAssociations"] = value["lambda_associations"]
            self.client("cloudfront").update_distribution(Id=action["distribution"], IfMatch=etag,
                                                          DistributionConfig=cfg)
        else:
            lam = self.client("lambda")
            if int(value) > 0:
                lam.put_provisioned_concurrency_config(FunctionName=action["function"], Qualifier=action["qualifier"],
                                                       ProvisionedConcurrentExecutions=int(value))
            else:
                lam.delete_provisioned_concurrency_config(FunctionName=action["function"],
                                                          Qualifier=action["qualifier"])


def _decide(rb: Runbook, incident: str, now: datetime, audit: AuditLog,
            calendar: list[CalendarEntry]) -> Outcome | None:
    g, target = rb.guardrails, rb.target
    o = lambda status, reason: Outcome(rb.id, incident, target, status, reason)  # noqa: E731
    if target not in (g.get("allow") or []):
        return o("blocked", f"{target} is not on the runbook's allowlist")
    for e in calendar:
        if e.kind == "maintenance" and e.start <= now < e.end:
            return o("blocked", f"change freeze: {e.id} until {e.end:%Y-%m-%d %H:%M}Z")
    rows = audit.rows()
    applied = [r for r in rows if r["status"] == "applied"]
    if any(r["runbook"] == rb.id and r["incident"] == incident for r in applied):
        return o("duplicate", "already applied for this incident")
    cool = timedelta(minutes=float(g.get("cooldown_minutes", 0)))
    recent = [r for r in applied if r["target"] == target and now - datetime.fromisoformat(r["at"]) < cool]
    if recent:
        return o("blocked", f"cooldown: {target} was changed at {recent[-1]['at'][:16]}")
    hour = [r for r in applied if r["runbook"] == rb.id and now - datetime.fromisoformat(r["at"]) < timedelta(hours=1)]
    if len(hour) >= int(g.get("max_actions_per_hour", 10**6)):
        return o("blocked", f"rate limit: {len(hour)} actions in the last hour")
    step = rb.action.get("step")
    if step is not None and step > int(g.get("max_step", step)):
        return o("blocked", f"step {step} exceeds max_step {g['max_step']}")
    if step is not None and "approval_above_step" in g and step > int(g["approval_above_step"]):
        return o("needs_approval", f"step {step} is above {g['approval_above_step']}: a person must approve")
    n = rb.action.get("concurrency")
    if n is not None and "approval_above" in g and n > int(g["approval_above"]):
        return o("needs_approval", f"concurrency {n} is above {g['approval_above']}: a person must approve")
    return None


def _target_state(rb: Runbook, before: Any) -> tuple[Any, str | None]:
    """The state the action sets, or a reason why there is nothing to do within the bounds."""
    a, g = rb.action, rb.guardrails
    if a["type"] == "autoscaling_step":
        cap = min(int(g.get("max_capacity", before["max"])), before["max"])
        want = min(before["desired"] + a["step"], cap)
        return {"desired": want, "max": before["max"]}, (f"already at the capacity bound ({cap})"
                                                          if want <= before["desired"] else None)
    if a["type"] == "ssm_flag":
        return str(a["value"]), None
    if a["type"] == "cloudfront_bypass_edge":
        after = {"target_origin": a["bypass_origin"], "lambda_associations": {"Quantity": 0}}
        return after, ("the behaviour already bypasses the edge function"
                       if before["target_origin"] == a["bypass_origin"] else None)
    cap = int(g.get("max_capacity", a["concurrency"]))
    want = min(a["concurrency"], cap)
    return want, (f"provisioned concurrency already {before} (>= {want})" if before >= want else None)


def _failed(rb: Runbook, incident: str, exc: Exception, what: str = "") -> Outcome:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return Outcome(rb.id, incident, rb.target, "failed", f"{what}{code or type(exc).__name__}: {str(exc)[:200]}",
                   escalate=True)


def run(rb: Runbook, incident: str, actuator: Actuator, audit: AuditLog, now: datetime | None = None,
        calendar: list[CalendarEntry] = ()) -> Outcome:
    """Apply ``rb`` for the incident ``incident`` (its id) within the guardrails (a dry run unless enabled)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    out = _decide(rb, incident, now, audit, list(calendar))
    if out is None:
        try:
            before = actuator.read(rb.action)
            after, nothing = _target_state(rb, before)
            if nothing:
                out = Outcome(rb.id, incident, rb.target, "blocked", nothing, before)
            elif not rb.enabled:
                out = Outcome(rb.id, incident, rb.target, "dry_run", f"would set {json.dumps(after)} (runbook not "
                              "enabled)", before, after)
            else:
                actuator.write(rb.action, after)
                out = Outcome(rb.id, incident, rb.target, "applied", rb.description, before, after)
        except Exception as exc:  # noqa: BLE001 - any AWS failure fails safe
            out = _failed(rb, incident, exc)
    audit.write(now, rb, out)
    return out


def rollback(rb: Runbook, incident: str, actuator: Actuator, audit: AuditLog, now: datetime | None = None,
             status: str = "rolled_back", reason: str = "restored the state before the action") -> Outcome:
    """Restore what the runbook changed for ``incident`` (the ``before`` of its applied audit row). ``status``
    ``restored`` is the planned scale-back after recovery; ``rolled_back`` undoes an action that did not help."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    rows = [r for r in audit.rows(incident) if r["runbook"] == rb.id and r["status"] == "applied"]
    if not rows:
        out = Outcome(rb.id, incident, rb.target, "blocked", "nothing applied for this incident")
    elif any(r["runbook"] == rb.id and r["status"] in ("rolled_back", "restored") for r in audit.rows(incident)):
        out = Outcome(rb.id, incident, rb.target, "duplicate", "already restored")
    else:
        before = json.loads(rows[-1]["before"])
        try:
            actuator.write(rb.action, before)
            out = Outcome(rb.id, incident, rb.target, status, reason, json.loads(rows[-1]["after"]), before)
        except Exception as exc:  # noqa: BLE001
            out = _failed(rb, incident, exc, f"{status}: ")
    audit.write(now, rb, out)
    return out
