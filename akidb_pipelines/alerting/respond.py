"""One response tick: alerts -> incidents -> routing -> the outbox -> PagerDuty, and the incident ledger.

Every tick recomputes the incidents from the alerts of the lookback window (correlation is deterministic, so the
incident ids are stable across ticks) and turns decisions into outbox rows with idempotency keys
(``<incident>:trigger``, ``<incident>:resolve``): a tick that runs twice, or two ticks racing, page once. A P1 that
started outside business hours is paged by the first tick after the next opening, or at once if it becomes P0;
a P2 becomes a ticket. An incident whose alerts have all been quiet for ``resolve_after`` is resolved.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from akidb_pipelines.alerting.correlate import Alert, Incident, ServiceMap, correlate
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.routing import RoutingPolicy
from akidb_pipelines.alerting.sources import anomaly_alerts, slo_alerts
from akidb_pipelines.clients.pagerduty import Event
from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.slo.spec import SLO
from akidb_pipelines.storage import Lake

INCIDENTS_OBJECT = "alerting/incidents.parquet"


@dataclass(frozen=True)
class RespondConfig:
    lookback: timedelta = timedelta(hours=24)
    window: timedelta = timedelta(minutes=15)
    resolve_after: timedelta = timedelta(minutes=15)
    source: str = "akidb-pipelines"
    ui_url: str = "http://127.0.0.1:3000"


@dataclass
class RespondReport:
    incidents: list[dict] = field(default_factory=list)
    enqueued: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)


def _json(v: object) -> object:
    if isinstance(v, float) and v != v:  # NaN
        return None
    return v


def trigger_event(inc: Incident, pd_severity: str, cfg: RespondConfig, runbooks: list[str] = ()) -> Event:
    root = inc.root
    details = {
        "incident": inc.id, "severity": inc.severity, "root_cause": {"component": root.component, "source": root.source,
                                                                     "rule": root.rule},
        "first_alert": inc.start.isoformat(), "alerts": len(inc.alerts),
        "related": [f"{a.source}:{a.rule}@{a.component}" + (f"/{a.edge_location}" if a.edge_location != "all" else "")
                    for a in inc.related][:20],
        "root_context": {k: _json(v) for k, v in root.context},
        "runbooks": list(runbooks) or "none matches",
    }
    edges = sorted({a.edge_location for a in inc.alerts if a.edge_location != "all"})
    summary = (f"[{inc.severity}] {root.component}: {root.rule} ({root.source})"
               + (f" at {', '.join(edges)}" if edges else "") + f", {len(inc.alerts)} alert(s)")
    return Event("trigger", inc.id, summary=summary[:1024], source=cfg.source, severity=pd_severity,
                 component=root.component, group="akidb", event_class=root.source,
                 timestamp=inc.start.isoformat().replace("+00:00", "Z"), custom_details=details,
                 links=({"href": f"{cfg.ui_url}/assets", "text": "Dagster assets"},))


def _runbooks(inc: Incident, decision_action: str, now: datetime, runbooks: list, actuator, audit,  # noqa: ANN001
              calendar: list, outbox: Outbox, cfg: RespondConfig, live: bool) -> list[str]:
    """Run (or, without an actuator, only plan) the runbooks matching a paged incident, once per incident; a
    failed runbook escalates the page. Returns 'runbook: status' lines for the ledger and the page."""
    from akidb_pipelines.runbooks.engine import run

    matched = [rb for rb in runbooks if rb.matches(inc)] if decision_action != "ticket" else []
    if not matched:
        return []
    if actuator is None or audit is None:
        return [f"{rb.id}: planned ({'enabled' if rb.enabled else 'dry run'}; runbooks are not connected)"
                for rb in matched]
    done = {(r["runbook"]) for r in audit.rows() if r["incident"] == inc.id}
    for rb in matched:
        if rb.id in done or not live:  # act while the incident is live, not on a later look at its past
            continue
        out = run(rb, inc, actuator, audit, now, calendar)
        if out.escalate:
            outbox.enqueue(Event("trigger", inc.id, summary=f"[{inc.severity}] escalated: runbook {rb.id} failed "
                                 f"({out.reason[:200]})", source=cfg.source, severity="critical",
                                 component=inc.root.component, group="akidb", event_class="runbook_failure",
                                 custom_details={"runbook": rb.id, "reason": out.reason}),
                           f"{inc.id}:escalate:{rb.id}")
    return [f"{r['runbook']}: {r['status']}" for r in audit.rows() if r["incident"] == inc.id]


def respond(lake: Lake, now: datetime, slos: list[SLO], fcfg: ForecastConfig, policy: RoutingPolicy,
            outbox: Outbox, smap: ServiceMap, cfg: RespondConfig = RespondConfig(),
            extra_alerts: list[Alert] = (), runbooks: list = (), actuator=None, audit=None,  # noqa: ANN001
            calendar: list = ()) -> RespondReport:
    """``runbooks`` match paged incidents; with an ``actuator`` and an ``audit`` log they run (within their
    guardrails, dry run unless enabled), without them they are only listed as planned. ``calendar``: maintenance
    windows silence the incidents rooted in their tiers (recorded, not paged) and freeze the runbooks."""
    now = now.astimezone(timezone.utc)
    start = now - cfg.lookback
    alerts = [a for a in slo_alerts(lake, slos, start, now) + anomaly_alerts(lake, fcfg, start, now)
              + list(extra_alerts) if a.start <= now]
    report = RespondReport()
    windows = [e for e in calendar if e.kind == "maintenance"]
    stored = outbox.keys()  # read once per tick; this tick's enqueues are added below
    for inc in correlate(alerts, smap, cfg.window):
        decision = policy.route(inc.severity, inc.start)
        silence = next((e for e in windows if e.applies_to(inc.root.component) and e.start <= inc.start < e.end), None)
        if silence is not None and decision.action != "ticket":  # a maintenance window silences its own symptoms
            decision = dataclasses.replace(decision, action="silenced",
                                           reason=f"silenced by maintenance window {silence.id} "
                                                  f"(until {silence.end:%Y-%m-%d %H:%M}Z)")
        row = {"id": inc.id, "severity": inc.severity, "root_component": inc.root.component,
               "root_source": inc.root.source, "root_rule": inc.root.rule, "first_alert": inc.start,
               "last_alert": inc.end, "alerts": len(inc.alerts), "inhibited": len(inc.inhibited),
               "related": json.dumps([f"{a.source}:{a.rule}" for a in inc.related]),
               "decision": decision.action, "team": decision.team, "page_due": decision.at, "reason": decision.reason}
        actions: list[str] = []
        if decision.action == "silenced":
            report.silenced.append(inc.id)
        elif decision.action == "ticket":
            report.tickets.append(inc.id)
        elif decision.at > now:
            report.held.append(inc.id)
        else:
            planned = [rb.id for rb in runbooks if rb.matches(inc)]
            if outbox.enqueue(trigger_event(inc, decision.pagerduty_severity, cfg, planned), f"{inc.id}:trigger"):
                report.enqueued.append(f"{inc.id}:trigger")
            stored.add(f"{inc.id}:trigger")
            actions = _runbooks(inc, decision.action, now, list(runbooks), actuator, audit, list(calendar),
                                outbox, cfg, live=inc.end + cfg.resolve_after > now)
        row["runbook_actions"] = json.dumps(actions)
        quiet = inc.end + cfg.resolve_after <= now
        if quiet and decision.action != "ticket" and f"{inc.id}:trigger" in stored:
            if outbox.enqueue(Event("resolve", inc.id), f"{inc.id}:resolve"):
                report.enqueued.append(f"{inc.id}:resolve")
        row["resolved"] = quiet
        report.incidents.append(row)
    return report


def write_incidents(lake: Lake, report: RespondReport, outbox: Outbox) -> pd.DataFrame:
    """The incident ledger: one row per incident with its first alert, first page (when PagerDuty accepted the
    trigger), resolution and pages sent. Each tick upserts the incidents it saw (by id) into the stored ledger, so
    incidents older than the tick's lookback stay recorded."""
    sent = {}
    for r in outbox.rows():
        if r["status"] == "sent":
            sent.setdefault((r["dedup_key"], r["action"]), r["sent_at"])
    df = pd.DataFrame(report.incidents)
    if len(df):
        df["first_page"] = [pd.Timestamp(sent[(i, "trigger")], unit="s", tz="UTC") if (i, "trigger") in sent else pd.NaT
                            for i in df["id"]]
        df["resolved_at"] = [pd.Timestamp(sent[(i, "resolve")], unit="s", tz="UTC") if (i, "resolve") in sent
                             else pd.NaT for i in df["id"]]
        df["pages_sent"] = [int((i, "trigger") in sent) for i in df["id"]]
    old = lake.read_bytes(INCIDENTS_OBJECT)
    if old is not None:
        prev = pd.read_parquet(io.BytesIO(old))
        if len(df):
            prev = prev[~prev["id"].isin(df["id"])]
            # a page or resolution recorded earlier stays (the outbox keeps them too, this is belt and braces)
        df = pd.concat([prev, df], ignore_index=True) if len(prev) else df
    if len(df):
        df = df.sort_values("first_alert").reset_index(drop=True)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    lake.write_bytes(INCIDENTS_OBJECT, buf.getvalue())
    return df


def open_incidents(lake: Lake) -> bool:
    """Whether the stored ledger holds an incident that is not resolved yet."""
    data = lake.read_bytes(INCIDENTS_OBJECT)
    if data is None:
        return False
    df = pd.read_parquet(io.BytesIO(data))
    return bool(len(df)) and not df["resolved"].all()
