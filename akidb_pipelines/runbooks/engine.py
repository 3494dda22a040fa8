"""Runbooks with guardrails: match an incident, check every guardrail, act (or only say what would be done),
write the audit row, and undo on request.

Guardrails, in order: dry run unless enabled; the target must be on the allowlist; no action during a change freeze
(calendar entries of kind ``maintenance``); one action per incident and runbook (the idempotency key); a cooldown per
target; a rate limit per runbook; bounded steps and capacity; approval required above a blast-radius threshold. Any
AWS error (access denied, throttling, an unreachable endpoint) fails safe: nothing more is tried, the audit row says
why, and the caller escalates the page. The audit log is append-only (SQLite, like the outbox).
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from akidb_pipelines.alerting.correlate import Incident
from akidb_pipelines.calendar import CalendarEntry

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "config" / "runbooks.yaml"
ACTION_TYPES = ("autoscaling_step", "ssm_flag")


class RunbookConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Runbook:
    id: str
    description: str
    trigger: tuple[dict[str, str], ...]
    action: dict[str, Any]
    guardrails: dict[str, Any]
    enabled: bool = False

    @property
    def target(self) -> str:
        return str(self.action.get("group") or self.action.get("parameter"))

    def matches(self, inc: Incident) -> bool:
        for a in inc.alerts:
            ctx = dict(a.context)
            for t in self.trigger:
                if all(str({"source": a.source, "rule": a.rule, "component": a.component,
                            "direction": ctx.get("direction")}.get(k)) == str(v) for k, v in t.items()):
                    return True
        return False


def load_runbooks(path: str | os.PathLike[str] | None = None) -> list[Runbook]:
    p = Path(path or os.environ.get("AKIDB_RUNBOOKS_CONFIG") or DEFAULT_PATH)
    data = yaml.safe_load(p.read_text()) or {}
    out = []
    for i, r in enumerate(data.get("runbooks") or []):
        w = f"{p}: runbooks[{i}]"
        if not isinstance(r, dict) or not r.get("id"):
            raise RunbookConfigError(f"{w}.id: required")
        act = r.get("action") or {}
        if act.get("type") not in ACTION_TYPES:
            raise RunbookConfigError(f"{w}.action.type: must be one of {ACTION_TYPES}, not {act.get('type')!r}")
        if act["type"] == "autoscaling_step" and not (act.get("group") and isinstance(act.get("step"), int)
                                                       and act["step"] > 0):
            raise RunbookConfigError(f"{w}.action: autoscaling_step needs group and a positive integer step")
        if act["type"] == "ssm_flag" and not (act.get("parameter") and "value" in act):
            raise RunbookConfigError(f"{w}.action: ssm_flag needs parameter and value")
        trig = r.get("trigger") or []
        if not trig or not all(isinstance(t, dict) and set(t) <= {"source", "rule", "component", "direction"}
                                for t in trig):
            raise RunbookConfigError(f"{w}.trigger: a list of {{source, rule, component, direction}} matches")
        out.append(Runbook(str(r["id"]), str(r.get("description", "")), tuple(trig), dict(act),
                           dict(r.get("guardrails") or {}), bool(r.get("enabled", False))))
    return out


@dataclass
class Outcome:
    runbook: str
    incident: str
    target: str
    status: str            # dry_run | applied | blocked | needs_approval | failed | duplicate | rolled_back
    reason: str
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
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path)) as con, con:
            con.executescript(AUDIT_SCHEMA)

    def write(self, at: datetime, rb: Runbook, o: Outcome) -> None:
        with closing(sqlite3.connect(self.path)) as con, con:
            con.execute("INSERT INTO audit (at, runbook, incident, target, action, status, reason, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (at.isoformat(), rb.id, o.incident, o.target, json.dumps(rb.action), o.status, o.reason,
                         json.dumps(o.before), json.dumps(o.after)))

    def rows(self) -> list[dict]:
        with closing(sqlite3.connect(self.path)) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY id")]


class Actuator:
    """The AWS calls of the action types (boto3; endpoint and credentials from the environment)."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None):
        import boto3

        kw = {"region_name": region or os.environ.get("AWS_REGION") or "us-east-1"}
        if endpoint_url:
            kw["endpoint_url"] = endpoint_url
        self.asg, self.ssm = boto3.client("autoscaling", **kw), boto3.client("ssm", **kw)

    def read(self, action: dict) -> Any:
        if action["type"] == "autoscaling_step":
            groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[action["group"]])["AutoScalingGroups"]
            if not groups:
                raise LookupError(f"Auto Scaling group {action['group']} not found")
            g = groups[0]
            return {"desired": g["DesiredCapacity"], "max": g["MaxSize"]}
        return self.ssm.get_parameter(Name=action["parameter"])["Parameter"]["Value"]

    def write(self, action: dict, value: Any) -> None:
        if action["type"] == "autoscaling_step":
            self.asg.set_desired_capacity(AutoScalingGroupName=action["group"], DesiredCapacity=int(value),
                                          HonorCooldown=False)
        else:
            self.ssm.put_parameter(Name=action["parameter"], Value=str(value), Type="String", Overwrite=True)


def _decide(rb: Runbook, inc: Incident, now: datetime, audit: AuditLog,
            calendar: list[CalendarEntry]) -> Outcome | None:
    g, target = rb.guardrails, rb.target
    o = lambda status, reason: Outcome(rb.id, inc.id, target, status, reason)  # noqa: E731
    if target not in (g.get("allow") or []):
        return o("blocked", f"{target} is not on the runbook's allowlist")
    for e in calendar:
        if e.kind == "maintenance" and e.start <= now < e.end:
            return o("blocked", f"change freeze: {e.id} until {e.end:%Y-%m-%d %H:%M}Z")
    rows = audit.rows()
    applied = [r for r in rows if r["status"] == "applied"]
    if any(r["runbook"] == rb.id and r["incident"] == inc.id for r in applied):
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
    return None


def run(rb: Runbook, inc: Incident, actuator: Actuator, audit: AuditLog, now: datetime | None = None,
        calendar: list[CalendarEntry] = ()) -> Outcome:
    """Apply ``rb`` for ``inc`` within the guardrails (a dry run unless the runbook is enabled)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    out = _decide(rb, inc, now, audit, list(calendar))
    if out is None:
        try:
            before = actuator.read(rb.action)
            if rb.action["type"] == "autoscaling_step":
                cap = min(int(rb.guardrails.get("max_capacity", before["max"])), before["max"])
                want = min(before["desired"] + rb.action["step"], cap)
                after: Any = {"desired": want, "max": before["max"]}
                if want <= before["desired"]:
                    out = Outcome(rb.id, inc.id, rb.target, "blocked", f"already at the capacity bound ({cap})", before)
            else:
                after = str(rb.action["value"])
            if out is None and not rb.enabled:
                out = Outcome(rb.id, inc.id, rb.target, "dry_run", f"would set {after} (runbook not enabled)",
                              before, after)
            elif out is None:
                actuator.write(rb.action, after["desired"] if isinstance(after, dict) else after)
                out = Outcome(rb.id, inc.id, rb.target, "applied", rb.description, before, after)
        except Exception as exc:  # noqa: BLE001 - any AWS failure fails safe
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
            out = Outcome(rb.id, inc.id, rb.target, "failed", f"{code or type(exc).__name__}: {str(exc)[:200]}",
                          escalate=True)
    audit.write(now, rb, out)
    return out


def rollback(rb: Runbook, inc: Incident, actuator: Actuator, audit: AuditLog, now: datetime | None = None) -> Outcome:
    """Restore what the runbook changed for ``inc`` (the ``before`` of its applied audit row)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    rows = [r for r in audit.rows() if r["runbook"] == rb.id and r["incident"] == inc.id and r["status"] == "applied"]
    if not rows:
        out = Outcome(rb.id, inc.id, rb.target, "blocked", "nothing applied for this incident")
    else:
        before = json.loads(rows[-1]["before"])
        try:
            actuator.write(rb.action, before["desired"] if isinstance(before, dict) else before)
            out = Outcome(rb.id, inc.id, rb.target, "rolled_back", "restored the state before the action",
                          json.loads(rows[-1]["after"]), before)
        except Exception as exc:  # noqa: BLE001
            out = Outcome(rb.id, inc.id, rb.target, "failed", f"rollback: {type(exc).__name__}: {str(exc)[:200]}",
                          escalate=True)
    audit.write(now, rb, out)
    return out
