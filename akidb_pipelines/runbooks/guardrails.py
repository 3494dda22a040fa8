"""Acting within the guardrails: decide whether a runbook may act for an incident, act (or only say what would be
done), and undo what it changed; every outcome is written to the audit log.

Guardrails, in order: dry run unless enabled; the target must be on the allowlist; no action during a change freeze
(calendar entries of kind ``maintenance``); one action per incident and runbook (the idempotency key: the incident
id, which is also the PagerDuty dedup_key); a cooldown per target; a rate limit per runbook; bounded steps and
capacity; approval required above a blast-radius threshold. Any AWS error (access denied, throttling, an
unreachable endpoint) fails safe: nothing more is tried, the audit row says why, and the caller escalates the page.
Guardrails that cannot be read (an unknown key, a bound that is not a number) fail closed the same way: the action
is blocked before any AWS call, the audit row says which field, and the page is escalated.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from akidb_pipelines.change_calendar import CalendarEntry
from akidb_pipelines.runbooks.actuator import Actuator
from akidb_pipelines.runbooks.audit import AuditLog, Outcome
from akidb_pipelines.runbooks.config import Runbook, RunbookConfigError, check_guardrails


def _decide(rb: Runbook, incident: str, now: datetime, audit: AuditLog,
            calendar: list[CalendarEntry]) -> Outcome | None:
    target = rb.target
    o = lambda status, reason: Outcome(rb.id, incident, target, status, reason)  # noqa: E731
    try:
        g = check_guardrails(rb.guardrails, rb.action["type"], f"runbook {rb.id}: guardrails")
    except RunbookConfigError as exc:
        return Outcome(rb.id, incident, target, "blocked", f"guardrails cannot be read, no action: {exc}",
                       escalate=True)
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
