"""One detector's response over the replayed days on a simulated clock, matched against the ground truth.

The response tick runs at the cadence the sensors would: one minute after each alert onset (the minute must close)
plus the pipeline's cycle time, then every minute for 15 minutes and 30 and 60 minutes later (holds, flaps,
escalations, resolutions) and every hour; a tick sees the minutes that closed before it. A simulated on-call
acknowledges each page after ``ack_minutes``. With a sandbox the runbook lifecycle runs every minute for 90 minutes
after a page, from the minute after it (the runbook sensor's evaluations)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.alerting.respond import (
    DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, Inputs, collect_alerts)
from akidb_pipelines.alerting.static_rules import load_static_rules
from akidb_pipelines.chaos.recovery import MITIGATION_MINUTES
from akidb_pipelines.chaos.results import DetectorResult, IncidentResult
from akidb_pipelines.chaos.scenario import EXPECTED_CAUSE, ChaosError
from akidb_pipelines.response_inputs import load_inputs
from akidb_pipelines.response_replay import RESPOND, live_ticks, replay_response, runbook_ticks
from akidb_pipelines.runbooks.audit import AuditLog
from akidb_pipelines.runbooks.config import load_runbooks
from akidb_pipelines.storage import Lake

DETECTORS = ("static", "burn_rate", "anomaly", "combined")
SOURCES = {"static": ("static",), "burn_rate": ("slo",), "anomaly": ("anomaly",), "combined": ("slo", "anomaly")}
MATCH_BEFORE = timedelta(minutes=5)   # a page whose first alert is this early still belongs to the incident


def answers(runbook, cause: str | None) -> bool:  # noqa: ANN001 - a runbooks.config.Runbook
    """Whether ``runbook`` is the answer to ``cause``: one of its triggers names that root-cause type."""
    return cause is not None and any(t.get("cause") == cause for t in runbook.trigger)


def detector_inputs(detector: str, runbooks: list) -> Inputs:
    """The shipped response inputs with only ``detector``'s alert sources (every static rule enabled for
    ``static``), no silences and no change calendar (a game day is not a maintenance window)."""
    base = load_inputs()
    static = [dataclasses.replace(r, enabled=True) for r in load_static_rules(include_disabled=True)]
    return dataclasses.replace(base, sources=SOURCES[detector], static_rules=static if detector == "static" else [],
                               silences=[], calendar=[], runbooks=runbooks)


def replay(lake: Lake, gt: dict, start: datetime, end: datetime, detector: str, workdir: str | os.PathLike[str],
           cycle_seconds: float = 60.0, ack_minutes: float = 3.0, runbooks: list | None = None,
           sandbox=None) -> DetectorResult:  # noqa: ANN001 - a testing.aws_sandbox.Sandbox
    """The response layer over [start, end) on a simulated clock, for one detector (see the module docstring).

    With a ``sandbox`` (``testing.aws_sandbox.Sandbox``) the runbooks act for real on it: the incident ledger is
    written after every response tick and the runbook lifecycle (apply, verify, restore) runs every minute for 90
    minutes after each page, as the runbook sensor would; the audit log gives each incident its actions."""
    if detector not in DETECTORS:
        raise ChaosError(f"unknown detector {detector!r} (one of {DETECTORS})")
    audit = None
    Path(workdir).mkdir(parents=True, exist_ok=True)
    if sandbox is not None:
        sandbox.reset()
        runbooks = sandbox.runbooks
        audit_path = Path(workdir) / f"runbook-audit-{detector}.sqlite"
        audit_path.unlink(missing_ok=True)
        audit = AuditLog(audit_path)
        for obj in (INCIDENTS_OBJECT, DECISIONS_OBJECT, TICKETS_OBJECT):  # this replay's ledgers only
            Path(f"{lake.root}/{obj}").unlink(missing_ok=True)  # chaos lakes are local folders
    runbooks = [dataclasses.replace(r, enabled=True) for r in (load_runbooks() if runbooks is None else runbooks)]
    inputs = detector_inputs(detector, runbooks)
    alerts = collect_alerts(lake, inputs, start, end)
    # the alert's minute closes, the pipeline's cycle runs, the tick sees the minutes closed by then
    ticks = live_ticks([a.start for a in alerts], start, end, cycle_seconds)

    def after_page(now: datetime) -> list[tuple[datetime, str]]:  # the runbook sensor, every minute while it may act
        return runbook_ticks(now, end) if audit is not None else []

    sim = replay_response(
        lake, inputs, start, [(x, RESPOND) for x in ticks],
        Path(workdir) / f"outbox-{detector}.sqlite", lambda ev: ev.dedup_key,
        ack_after=timedelta(minutes=ack_minutes), ack_by="simulated on-call", after_page=after_page,
        runbooks=runbooks, actuator=sandbox.actuator if sandbox is not None else None, audit=audit,
        ledger=audit is not None)
    rows = sim.outbox.rows()
    sent = {r["idempotency_key"]: datetime.fromtimestamp(r["sent_at"], tz=timezone.utc)
            for r in rows if r["status"] == "sent"}
    acked = {r["idempotency_key"]: datetime.fromtimestamp(r["created_at"], tz=timezone.utc) for r in rows
             if r["action"] == "acknowledge"}
    paged = sorted(((sent[f"{i}:trigger"], r) for i, r in sim.incidents.items() if f"{i}:trigger" in sent
                    and r["decision"] == "page"), key=lambda x: x[0])
    audit_rows = audit.rows() if audit is not None else []
    results, matched = [], set()
    by_id = {rb.id: rb for rb in runbooks}
    for g in gt.get("incidents", []):
        onset = datetime.fromisoformat(g["start"].replace("Z", "+00:00"))
        g_end = datetime.fromisoformat(g["end"].replace("Z", "+00:00"))
        if not (start <= onset < end):
            continue
        res = IncidentResult(g["id"], g["type"], onset, g_end, recovery=g_end)
        # an alert that starts with the incident detects it (one already firing for an earlier cause does not)
        hits = [a for a in alerts if onset - MATCH_BEFORE <= a.start <= g_end]
        res.first_detection = min((max(a.start, onset) for a in hits), default=None)
        mine = [(t, r) for t, r in paged if onset - MATCH_BEFORE <= r["first_alert"] <= g_end]
        if mine:
            t_page, row = mine[0]
            ids = {r["id"] for _, r in mine}
            matched.update(ids)
            res.first_page, res.acknowledged = t_page, acked.get(f"{row['id']}:acknowledge")
            res.cause_named = row.get("cause")
            res.root_cause_ok = row.get("cause") == EXPECTED_CAUSE.get(g["type"])
            res.runbooks = json.loads(row.get("runbooks_planned") or "[]")
            res.actions = [{"at": a["at"], "runbook": a["runbook"], "status": a["status"], "reason": a["reason"]}
                           for a in audit_rows if a["incident"] in ids]
            if audit is not None:  # the real apply times
                applied = [(datetime.fromisoformat(a["at"]), a["runbook"]) for a in res.actions
                           if a["status"] == "applied"]
            else:  # launched at the runbook sensor's next evaluation
                applied = [(t_page + timedelta(minutes=1), r) for r in res.runbooks]
            # only a runbook whose trigger is the injected incident's cause is credited with ending it
            cause = EXPECTED_CAUSE.get(g["type"])
            mitigated = [at + timedelta(minutes=MITIGATION_MINUTES[by_id[r].action["type"]])
                         for at, r in applied if r in by_id and answers(by_id[r], cause)]
            if mitigated and max(mitigated) < g_end:
                res.recovery = max(mitigated)
                res.recovery_source = "modelled: runbook applied + its action's assumed time"
        results.append(res)
    false_pages = [{"incident": r["id"], "first_alert": r["first_alert"].isoformat(), "severity": r["severity"],
                    "root": f"{r['root_component']}: {r['root_rule']}", "cause": r.get("cause")}
                   for _, r in paged if r["id"] not in matched]
    weeks = max((end - start).total_seconds() / (7 * 86400), 1e-9)
    return DetectorResult(detector, results, len(alerts), len(paged), false_pages, weeks, sum(sim.ticks.values()))
