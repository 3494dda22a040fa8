"""The life of a runbook action, one step at a time: apply -> verify -> restore (or roll back and escalate).

The runbook sensor asks :func:`due_steps` what is due (from the incident ledger and the audit log, so it needs no
state of its own) and launches one run of the ``runbook`` job per step, with the step as run config and
``runbook:<incident>:<runbook>:<step>`` as run key (a step is launched once). The job calls :func:`execute_step`.

- **apply**: a paged, live incident whose runbooks were planned, when its cause (the ledger's latest) is the one the
  runbook answers (``Runbook.answers``); the guardrails decide (``guardrails.run``).
- **verify**: ``verify.after_minutes`` after an applied action: ``max(metric)`` of the tier over the last
  ``verify.minutes`` must be below ``verify.below`` (with ``relative``: that factor of the metric's normal level at
  this time of day, ``verify.py``). Recovered: ``verified``. Not recovered: the action is rolled
  back where possible and the page is escalated (``not_recovered``).
- **restore**: a verified action is undone ``restore_after_minutes`` after the verification (a runbook without a
  verification: after the incident went quiet): the on-demand capacity scaled back, predictive scaling re-enabled,
  the edge function back on the behaviour. Not after the incident's last alert: the slow burn-rate tier keeps
  firing for hours after the fault is gone, and the extra capacity would stay that long.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from akidb_pipelines.alerting.golden_columns import GOLDEN
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT, RespondConfig
from akidb_pipelines.change_calendar import CalendarEntry
from akidb_pipelines.clients.pagerduty import Event
from akidb_pipelines.runbooks.actuator import Actuator
from akidb_pipelines.runbooks.audit import AuditLog, Outcome
from akidb_pipelines.runbooks.config import Runbook
from akidb_pipelines.runbooks.guardrails import rollback, run
from akidb_pipelines.runbooks.verify import bound
from akidb_pipelines.storage import Lake



@dataclass(frozen=True)
class Step:
    runbook: str
    incident: str
    step: str          # apply | verify | restore
    reason: str

    @property
    def run_key(self) -> str:
        return f"runbook:{self.incident}:{self.runbook}:{self.step}"


def read_ledger(lake: Lake) -> pd.DataFrame:
    data = lake.read_bytes(INCIDENTS_OBJECT)
    return pd.read_parquet(io.BytesIO(data)) if data is not None else pd.DataFrame()


def due_steps(ledger: pd.DataFrame, runbooks: list[Runbook], audit: AuditLog, now: datetime,
              quiet_after: timedelta = RespondConfig.resolve_after) -> list[Step]:
    """The steps due at ``now``; an incident is over ``quiet_after`` after its last alert (the response tick's
    ``resolve_after``)."""
    now = now.astimezone(timezone.utc)
    if not len(ledger) or "runbooks_planned" not in ledger:
        return []
    by_id = {rb.id: rb for rb in runbooks}
    rows = audit.rows()
    out = []
    for inc in ledger.itertuples():
        planned = json.loads(inc.runbooks_planned or "[]")
        if not planned or inc.decision != "page" or pd.isna(getattr(inc, "first_page", pd.NaT)):
            continue
        quiet_at = pd.Timestamp(inc.last_alert).to_pydatetime() + quiet_after
        for rid in planned:
            rb = by_id.get(rid)
            if rb is None:
                continue
            mine = [r for r in rows if r["incident"] == inc.id and r["runbook"] == rid]
            statuses = {r["status"] for r in mine}
            if not mine:
                # act while the incident is live, not on a later look at its past, and only for the cause the
                # runbook answers: the ledger row's cause is the latest (a planned runbook whose incident has since
                # been typed otherwise, or split off, does not run)
                if now < quiet_at and rb.answers(getattr(inc, "cause", None)):
                    out.append(Step(rid, inc.id, "apply", f"{inc.severity} {inc.cause} paged"))
                continue
            applied = next((r for r in mine if r["status"] == "applied"), None)
            if applied is None or statuses & {"not_recovered", "rolled_back", "restored", "failed"}:
                continue
            at = datetime.fromisoformat(applied["at"])
            if rb.verify is not None and "verified" not in statuses:
                if now >= at + timedelta(minutes=rb.verify.after_minutes):
                    out.append(Step(rid, inc.id, "verify", f"{rb.verify.after_minutes} min after the action"))
                continue
            if rb.restore_after_minutes is None:
                continue
            # verified: undo after the metric has been fine for a while (a slow-burn alert may linger for hours
            # after the fault is gone); without a verification: once the incident itself is over
            verified = next((r for r in mine if r["status"] == "verified"), None)
            since = datetime.fromisoformat(verified["at"]) if verified else quiet_at
            if now >= since + timedelta(minutes=rb.restore_after_minutes):
                out.append(Step(rid, inc.id, "restore", ("recovered" if verified else "incident quiet")
                                + f" since {since:%H:%M}Z"))
    return out


def recovered(lake: Lake, rb: Runbook, now: datetime) -> tuple[bool, str]:
    v = rb.verify
    rows = lake.query_table(GOLDEN, f"""SELECT max({v.metric}), count(*) FROM {{src}}
        WHERE tier = ? AND edge_location = ? AND minute > ? AND minute <= ?""",
                            [v.tier, v.edge_location, now - timedelta(minutes=v.minutes), now])
    peak, n = rows[0] if rows else (None, 0)
    if not n or peak is None:
        return False, f"no {v.tier} {v.metric} data in the last {v.minutes} min"
    limit, how = bound(lake, v, now)
    if limit is None:
        return False, how
    ok = peak < limit
    return ok, f"{v.tier} {v.metric} max {peak:.4g} over {v.minutes} min {'<' if ok else '>='} {how}"


def execute_step(step: Step, runbooks: list[Runbook], lake: Lake, actuator: Actuator, audit: AuditLog,
                 outbox: Outbox | None, now: datetime, calendar: list[CalendarEntry] = ()) -> Outcome:
    """Carry out one due step; a failure or a missing recovery escalates the page through the outbox."""
    rb = next((r for r in runbooks if r.id == step.runbook), None)
    if rb is None:
        raise KeyError(f"no runbook {step.runbook!r} (have {[r.id for r in runbooks]})")
    now = now.astimezone(timezone.utc)
    if step.step == "apply":
        out = run(rb, step.incident, actuator, audit, now, calendar)
    elif step.step == "verify":
        ok, why = recovered(lake, rb, now)
        if ok:
            out = Outcome(rb.id, step.incident, rb.target, "verified", why)
            audit.write(now, rb, out)
        else:
            back = rollback(rb, step.incident, actuator, audit, now, reason=f"did not help: {why}")
            out = Outcome(rb.id, step.incident, rb.target, "not_recovered", f"{why}; rollback: {back.status}",
                          escalate=True)
            audit.write(now, rb, out)
    elif step.step == "restore":
        out = rollback(rb, step.incident, actuator, audit, now, status="restored",
                       reason="incident over: the temporary change is undone")
    else:
        raise ValueError(f"unknown step {step.step!r}: apply | verify | restore")
    if out.escalate and outbox is not None:
        outbox.enqueue(Event("trigger", step.incident, summary=f"escalated: runbook {rb.id} {out.status} "
                             f"({out.reason[:200]})", source="akidb-pipelines", severity="critical",
                             component=rb.target, group="akidb", event_class="runbook_failure",
                             custom_details={"runbook": rb.id, "step": step.step, "status": out.status,
                                             "reason": out.reason}),
                       f"{step.incident}:escalate:{rb.id}:{step.step}")
    return out


def tick(lake: Lake, runbooks: list[Runbook], actuator: Actuator, audit: AuditLog, outbox: Outbox | None,
         now: datetime, calendar: list[CalendarEntry] = ()) -> list[tuple[Step, Outcome]]:
    """Every due step at ``now``, carried out in order (what the sensor and its runs do, for replays and tests)."""
    return [(s, execute_step(s, runbooks, lake, actuator, audit, outbox, now, calendar))
            for s in due_steps(read_ledger(lake), runbooks, audit, now)]
