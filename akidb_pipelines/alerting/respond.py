"""One response tick: alerts -> incidents -> routing -> the outbox -> PagerDuty, and the ledgers.

Every tick recomputes the incidents from the alerts of the lookback window (correlation is deterministic, so the
incident ids are stable across ticks) and turns decisions into outbox rows with idempotency keys
(``<incident>:trigger``, ``<incident>:resolve``): a tick that runs twice, or two ticks racing, page once.

Per tick, in order: alerts from the burn rates, the anomalies and the enabled static rules; ad-hoc silences mute the
alerts they match (an unusable silence, or an unreadable silence store, mutes nothing and is a ``warning`` decision:
a broken silence store must not suppress pages); correlation groups the rest into incidents (root from the service
map); each incident gets a root-cause type (``rootcause``); routing decides page / hold / ticket, and an incident
routed to a ticket that is below the ticket threshold (anomalies only, neither persistent nor corroborated) is a
line of the daily digest instead (``digest``); maintenance
windows silence incidents rooted in their tiers; a recurrence of a recent incident's root within ``flap_window`` is
flapping and pages only if it persists for ``flap_hold``; a P1 outside business hours is held to the next opening
(paged at once if it becomes P0); a P0 not acknowledged within the policy's ack timeout is escalated (a second
PagerDuty incident, ``<id>-escalation``); an incident quiet for ``resolve_after`` is resolved (an incident of
anomalies only is quiet once its series are back inside their bands, however long ago the detector flagged them).
A paged incident typed or rooted otherwise by a later tick (its evidence needs minutes that had not closed at
the page) sends an update (``<id>:update:<cause>@<root>``: a trigger with the same dedup key, appended to the open
PagerDuty alert). An incident of a typed cause whose page went out under another id that no tick has any more
(an overlap's alerts grouped otherwise one tick later: a new first alert, a new id) continues that page
(``flapping.paged_as_another``) and resolves it when quiet. One burn-rate alert resting on a single burning minute,
alone and untyped, is P2 (``alert_sources.rests_on_one_blip``). Runbooks matching a paged incident are listed on
the page and in the ledger; the runbook sensor launches them (``akidb_pipelines.runbooks.lifecycle``).

Two ledgers land in the lake: ``alerting/incidents.parquet`` (one row per incident: first alert, first page,
acknowledgement, resolution, pages, cause, runbooks) and ``alerting/decisions.parquet`` (every alert's grouping,
every silence, suppression and routing decision, and every trigger/acknowledge/resolve enqueued and delivered,
with its time), so MTTD/MTTA/MTTR are queries. Tickets (P2) also go to ``alerting/tickets.parquet``, with one
digest ticket per day (``kind``: ``incident`` or ``digest``).
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from akidb_pipelines.alerting.alert_sources import rests_on_one_blip
from akidb_pipelines.alerting.correlate import SEVERITY_RANK, Alert, Incident, ServiceMap, correlate
from akidb_pipelines.alerting.events import escalation, held_notice, label, trigger_event
from akidb_pipelines.alerting.digest import digest_items, digests, stale_digests, ticket_gate
from akidb_pipelines.alerting.flapping import cause_key, flap_decision, flap_key, orphaned_pages, paged_as_another
from akidb_pipelines.alerting.outbox import Outbox, held_notices, paged_causes, said_by_triggers
from akidb_pipelines.alerting.rootcause import UNCLASSIFIED, CauseType, classify, severity_floor, split_by_cause
from akidb_pipelines.alerting.routing import RoutingPolicy
from akidb_pipelines.alerting.silences import Silence, silenced_by
from akidb_pipelines.alerting.static_rules import StaticRule
from akidb_pipelines.alerting.tick_reads import LakeReads
from akidb_pipelines.clients.pagerduty import Event
from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.slo.spec import SLO, WindowTable
from akidb_pipelines.storage import Lake

INCIDENTS_OBJECT = "alerting/incidents.parquet"
DECISIONS_OBJECT = "alerting/decisions.parquet"
TICKETS_OBJECT = "alerting/tickets.parquet"


@dataclass(frozen=True)
class RespondConfig:
    # longer than the slowest burn-rate window (3 days): an SLO alert seen cut off at the window's start would
    # look like a new onset (the chaos replay paged three times, 24 h after the spot cascade, on its slow burn)
    lookback: timedelta = timedelta(days=4)
    window: timedelta = timedelta(minutes=15)
    resolve_after: timedelta = timedelta(minutes=15)
    flap_window: timedelta = timedelta(minutes=60)   # a recurrence of the same root this soon after is flapping
    flap_hold: timedelta = timedelta(minutes=10)     # ... and pages only if it lasts this long
    source: str = "akidb-pipelines"
    ui_url: str = "http://127.0.0.1:3000"


@dataclass
class RespondReport:
    now: datetime | None = None
    incidents: list[dict] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)
    enqueued: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    digested: list[str] = field(default_factory=list)       # incidents below the ticket threshold (digest lines)
    digest_items: list[dict] = field(default_factory=list)  # their lines (``digest.digest_items``)
    digests: list[dict] = field(default_factory=list)       # digest tickets of the periods ended (``digest.digests``)
    digest_scope: tuple[datetime, datetime] | None = None    # the periods rebuilt: started at [0], ended by [1]
    silenced: list[str] = field(default_factory=list)       # incidents silenced by a maintenance window
    silenced_alerts: list[str] = field(default_factory=list)  # alerts muted by an ad-hoc silence
    flapping: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)

    def decide(self, incident: str, kind: str, subject: str, detail: str) -> None:
        self.decisions.append({"at": self.now, "incident": incident, "kind": kind, "subject": subject,
                               "detail": detail[:1000]})


@dataclass(frozen=True)
class Inputs:
    """What a tick reads besides the lake: policies, silences, calendar, runbooks (all optional but routing);
    ``akidb_pipelines.response_inputs.load_inputs`` reads them from the configuration files."""

    slos: list[SLO]
    forecast: ForecastConfig
    policy: RoutingPolicy
    static_rules: list[StaticRule] = ()
    silences: list[Silence] = ()
    calendar: list = ()
    runbooks: list = ()
    cause_types: list[CauseType] = ()
    sources: tuple[str, ...] = ("slo", "anomaly", "static")  # the detectors whose alerts count (chaos compares them)
    windows: WindowTable | None = None   # the burn-rate window table: SLO alerts' burning minutes (none: not counted)


def collect_alerts(lake: Lake, inputs: Inputs, start: datetime, end: datetime,
                   reads: LakeReads | None = None) -> list[Alert]:
    """The alerts of the enabled sources with an onset in the window, before silences (read through ``reads``:
    the lake as it is, by default)."""
    reads = reads or LakeReads(lake)
    out: list[Alert] = []
    if "slo" in inputs.sources:
        out += reads.slo_alerts(inputs.slos, start, end, inputs.windows)
    if "anomaly" in inputs.sources:
        out += reads.anomaly_alerts(inputs.forecast, start, end)
    if "static" in inputs.sources:
        out += reads.static_alerts(list(inputs.static_rules), start, end)
    return [a for a in out if a.start <= end]


def respond(lake: Lake, now: datetime, inputs: Inputs, outbox: Outbox, smap: ServiceMap,
            cfg: RespondConfig = RespondConfig(), extra_alerts: list[Alert] = (),
            reads: LakeReads | None = None) -> RespondReport:
    """One tick at ``now`` (module docstring); ``reads``: how the lake is read (``tick_reads``: as it is, by
    default; a replay reads it once)."""
    now = now.astimezone(timezone.utc)
    start = now - cfg.lookback
    report = RespondReport(now=now)
    reads = reads or LakeReads(lake)
    raw = collect_alerts(lake, inputs, start, now, reads) + [a for a in extra_alerts if a.start <= now]
    for sil in inputs.silences:  # an unusable row or store mutes nothing (fail-safe for paging): say so
        if not sil.valid:
            report.decide("", "warning", sil.id, f"silence ignored: {sil.problem}")
    alerts = []
    for a in raw:
        if a.start <= start + timedelta(minutes=1):  # already firing before the lookback: not a new onset
            report.decide("", "ongoing", a.fingerprint, f"{label(a)} firing since before {start:%m-%d %H:%M}Z "
                                                        "(its incident is older than the lookback)")
            continue
        sil = silenced_by(a, list(inputs.silences))
        if sil is None:
            alerts.append(a)
        else:
            report.silenced_alerts.append(a.fingerprint)
            report.decide("", "silenced", a.fingerprint, f"{label(a)} from {a.start:%m-%d %H:%M}Z: {sil.describe()}")
    incidents = correlate(alerts, smap, cfg.window)
    frame = reads.evidence(list(inputs.cause_types), now) if inputs.cause_types else {}
    # an incident whose alerts hold evidence for different causes (overlapping faults on different tiers) is split
    incidents = split_by_cause(incidents, list(inputs.cause_types), frame, smap)
    # how long the anomalies of incidents made of anomalies only lasted (the ticket gate's persistence): one query
    spans = reads.anomaly_spans([a for i in incidents if all(x.source == "anomaly" for x in i.alerts) for a in i.alerts],
                                start, now)
    for inc in incidents:  # such an incident lasts as long as its series stay outside their bands, not only the
        # minutes the detector flagged (it flags an excursion once): a long traffic dip is one ticket, not one per flag
        if all(a.source == "anomaly" for a in inc.alerts):
            inc.end = max([inc.end] + [spans[a.fingerprint].end for a in inc.alerts if a.fingerprint in spans])
    metrics = {s.id: s.metric for s in inputs.forecast.series}
    routed: dict[str, str] = {}  # incident -> its decision this tick
    windows = [e for e in inputs.calendar if e.kind == "maintenance"]
    rows = outbox.rows()  # read once per tick; this tick's enqueues are added to ``stored`` below
    stored = {r["idempotency_key"] for r in rows}
    sent_at = {r["idempotency_key"]: r["sent_at"] for r in rows if r["status"] == "sent"}
    said = said_by_triggers(rows)
    last_by_root: dict[tuple, Incident] = {}
    present = {inc.id for inc in incidents}
    pages = paged_causes(rows)  # the pages out already (an incident regrouped since continues its page)
    continued: set[str] = set()  # incidents suppressed as the continuation of a paged one (same cause)
    for inc in incidents:
        inc.cause, inc.cause_evidence = classify(inc, list(inputs.cause_types), frame)
        floor = severity_floor(inc.cause, list(inputs.cause_types))
        if floor is not None and SEVERITY_RANK[floor] < SEVERITY_RANK[inc.severity]:
            report.decide(inc.id, "severity", floor, f"raised from {inc.severity}: {inc.cause} confirmed by "
                                                      f"{inc.cause_evidence}")
            inc.severity = floor
        blip = rests_on_one_blip(inc, inputs.windows) if inc.cause == UNCLASSIFIED else None
        if blip is not None and SEVERITY_RANK[inc.severity] < SEVERITY_RANK["P2"]:
            report.decide(inc.id, "severity", "P2", f"lowered from {inc.severity}: {label(inc.root)} rests on {blip} "
                          f"burning minute(s) of its short window and nothing else is wrong beside it")
            inc.severity = "P2"
        for a in inc.alerts:
            role = "root" if a is inc.root else ("inhibited by root" if a in inc.inhibited else "related")
            report.decide(inc.id, "alert", a.fingerprint, f"{role}: {label(a)} {a.severity} "
                                                          f"{a.start:%m-%d %H:%M}-{a.end:%H:%M}Z")
        report.decide(inc.id, "cause", inc.cause, inc.cause_evidence or "no type's conditions hold")
        decision = inputs.policy.route(inc.severity, inc.start)
        digest = None
        if decision.action == "ticket":  # worth a ticket of its own, or a line of the digest (pages never come here)
            opens, why = ticket_gate(inc, spans, metrics, inputs.policy.tickets)
            if not opens:
                lines = digest_items(inc, spans, inputs.policy.tickets)
                digest = lines[0]["digest"]
                report.digest_items += lines
            decision = dataclasses.replace(decision, action="ticket" if opens else "digest",
                                           reason=f"{decision.reason}: {why}" if opens
                                           else f"{inc.severity}: digest, {why} (in {digest})")
        flap_of, same_cause = None, None
        keys = [k for k in (flap_key(inc.root), cause_key(inc)) if k is not None]
        for key in keys:
            prev = last_by_root.get(key)
            if prev is not None and inc.start - prev.end <= cfg.flap_window \
                    and SEVERITY_RANK[inc.severity] >= SEVERITY_RANK[prev.severity] \
                    and not (decision.action == "ticket" and routed.get(prev.id) == "digest"):  # no ticket open yet
                flap_of = getattr(prev, "flap_of", None) or prev.id
                paged = routed.get(prev.id) in ("page", "hold") or prev.id in continued
                same_cause = prev if key[0] == "cause" and paged else None
                break
        regrouped = (paged_as_another(pages, inc, cfg.window, present)
                     if flap_of is None and decision.action not in ("ticket", "digest") else None)
        flap_of = flap_of or regrouped
        inc.flap_of = flap_of
        for key in keys:
            last_by_root[key] = inc
        silence = next((e for e in windows if e.applies_to(inc.root.component) and e.start <= inc.start < e.end), None)
        if silence is not None and decision.action not in ("ticket", "digest"):  # it silences its own symptoms
            decision = dataclasses.replace(decision, action="silenced",
                                           reason=f"silenced by maintenance window {silence.id} "
                                                  f"(until {silence.end:%Y-%m-%d %H:%M}Z)")
        elif (same_cause or regrouped) is not None and decision.action not in ("ticket", "digest"):  # paged already
            continued.add(inc.id)
            decision = dataclasses.replace(decision, action="suppressed",
                                           reason=f"continues {flap_of}: the same cause ({inc.cause}) on "
                                                  f"{inc.root.component}, paged already"
                                                  + (" (its alerts since grouped otherwise)" if regrouped else ""))
        elif flap_of is not None and decision.action != "digest":  # a recurring blip is one more digest line
            decision = flap_decision(inc, decision, flap_of, now, cfg.flap_hold)
        routed[inc.id] = decision.action
        planned = ([rb.id for rb in inputs.runbooks if rb.matches(inc)]
                   if decision.action not in ("ticket", "digest") else [])
        row = {"id": inc.id, "severity": inc.severity, "root_component": inc.root.component,
               "root_source": inc.root.source, "root_rule": inc.root.rule, "root_edge_location": inc.root.edge_location,
               "cause": inc.cause, "cause_evidence": inc.cause_evidence, "first_alert": inc.start,
               "last_alert": inc.end, "alerts": len(inc.alerts), "inhibited": len(inc.inhibited),
               "related": json.dumps([f"{a.source}:{a.rule}" for a in inc.related]),
               "decision": decision.action, "team": decision.team, "page_due": decision.at, "reason": decision.reason,
               "flap_of": flap_of, "runbooks_planned": json.dumps(planned), "digest": digest}
        report.decide(inc.id, "route", decision.action, decision.reason)
        rule = inputs.policy.severities[inc.severity]
        if decision.action == "silenced":
            report.silenced.append(inc.id)
        elif decision.action == "suppressed":
            report.flapping.append(inc.id)
        elif decision.action == "digest":
            report.digested.append(inc.id)
        elif decision.action == "ticket":
            report.tickets.append(inc.id)
            if rule.low_urgency_event:  # optional low-urgency PagerDuty event beside the ticket
                _enqueue(report, outbox, stored, trigger_event(inc, rule.pagerduty_severity, cfg), f"{inc.id}:trigger")
        elif decision.at > now:
            report.held.append(inc.id)
            if rule.low_urgency_event and flap_of is None:  # PagerDuty hears of it now, at low urgency (not of a
                # flap's wait); the page follows at the opening
                _enqueue(report, outbox, stored, held_notice(trigger_event(inc, decision.pagerduty_severity, cfg,
                                                                           planned), decision.at, decision.team),
                         f"{inc.id}:held")
        else:
            _enqueue(report, outbox, stored, trigger_event(inc, decision.pagerduty_severity, cfg, planned),
                     f"{inc.id}:trigger")
            now_said = (inc.root.component, inc.cause)
            if inc.cause != UNCLASSIFIED and said.setdefault(inc.id, now_said) != now_said:
                # typed (or rooted) otherwise since the page: the open PagerDuty alert gets the news (same dedup
                # key: appended to it, not a new page), once per cause and root
                _enqueue(report, outbox, stored, trigger_event(inc, decision.pagerduty_severity, cfg, planned),
                         f"{inc.id}:update:{inc.cause}@{inc.root.component}")
                said[inc.id] = now_said
        quiet = inc.end + cfg.resolve_after <= now
        paged_at = sent_at.get(f"{inc.id}:trigger")
        if (not quiet and inc.severity == "P0" and paged_at is not None and f"{inc.id}:acknowledge" not in stored
                and now.timestamp() >= paged_at + inputs.policy.p0_ack_timeout.total_seconds()):
            esc = escalation(trigger_event(inc, "critical", cfg, planned), inputs.policy.p0_ack_timeout)
            if _enqueue(report, outbox, stored, esc, f"{inc.id}:escalation"):
                report.escalated.append(inc.id)
        if quiet and regrouped is not None and f"{regrouped}:trigger" in stored:  # the page it continues: no tick
            _enqueue(report, outbox, stored, Event("resolve", regrouped), f"{regrouped}:resolve")  # has it any more
        if quiet:
            _resolve_opened(report, outbox, stored, inc.id)
        row["resolved"] = quiet
        report.incidents.append(row)
    opened = {**held_notices(rows), **pages}  # a held page's notice, or the page itself
    done = {i for i in opened if f"{i}:resolve" in stored or (i not in pages and f"{i}:held-resolve" in stored)}
    for page in orphaned_pages(opened, incidents, {i.flap_of for i in incidents if i.id in continued}, done, now,
                               cfg.window, cfg.resolve_after):  # its alerts grouped otherwise since, and quiet
        report.decide(page, "resolve", page, "paged or held earlier; no incident of this tick carries it, and the "
                                             "incidents around its first alert are quiet")
        _resolve_opened(report, outbox, stored, page)
    report.digest_scope = (start + cfg.window, now)  # the periods wholly inside the lookback are rebuilt
    report.digests = digests(report.digest_items, *report.digest_scope)
    for d in report.digests:
        report.decide(d["id"], "digest", d["id"], d["title"])
    return report


def _enqueue(report: RespondReport, outbox: Outbox, stored: set[str], ev: Event, key: str) -> bool:
    new = outbox.enqueue(ev, key)
    stored.add(key)
    if new:
        report.enqueued.append(key)
        report.decide(ev.dedup_key.removesuffix("-escalation"), "enqueue", key,
                      f"{ev.action} {ev.severity if ev.action == 'trigger' else ''} {ev.summary}".strip())
    return new


def _resolve_opened(report: RespondReport, outbox: Outbox, stored: set[str], incident: str) -> None:
    """Resolve every PagerDuty alert ``incident`` opened: its page, its P0 escalation, its held page's notice."""
    for opened, dedup, key in ((":trigger", incident, ":resolve"), (":escalation", f"{incident}-escalation",
                                                                     ":escalation-resolve"),
                               (":held", f"{incident}-held", ":held-resolve")):
        if f"{incident}{opened}" in stored:
            _enqueue(report, outbox, stored, Event("resolve", dedup), f"{incident}{key}")


def acknowledge(outbox: Outbox, incident: str, by: str = "") -> bool:
    """The on-call engineer acknowledges ``incident`` (``akidb incidents --ack``): an acknowledge event to
    PagerDuty (queued behind the trigger) and, through the outbox row's time, the MTTA. False if already acked."""
    return outbox.enqueue(Event("acknowledge", incident, custom_details={"by": by} if by else None),
                          f"{incident}:acknowledge")


def _upsert(lake: Lake, obj: str, df: pd.DataFrame, key: list[str], keep: str = "last", drop=None) -> pd.DataFrame:  # noqa: ANN001
    """``df`` upserted into the table ``obj`` by ``key``; ``drop(prev)``: the stored rows to remove first."""
    old = lake.read_bytes(obj)
    if old is not None:
        prev = pd.read_parquet(io.BytesIO(old))
        if drop is not None and len(prev):
            prev = prev[~drop(prev)]
        if len(prev) and len(df):
            df = pd.concat([prev, df], ignore_index=True).drop_duplicates(key, keep=keep)
        elif len(prev):
            df = prev
    buf = io.BytesIO()
    df.reset_index(drop=True).to_parquet(buf, index=False)
    lake.write_bytes(obj, buf.getvalue())
    return df.reset_index(drop=True)


def _ts(v: float | None) -> pd.Timestamp:
    return pd.Timestamp(v, unit="s", tz="UTC") if v is not None else pd.NaT


def write_incidents(lake: Lake, report: RespondReport, outbox: Outbox, audit=None) -> pd.DataFrame:  # noqa: ANN001
    """Upsert the tick's incidents into the incident ledger (older incidents stay recorded), append its decisions
    and the outbox deliveries to the decision ledger, and refresh the tickets table. With the runbooks' ``audit``
    log, each incident lists its runbook actions so far."""
    rows = outbox.rows()
    actions: dict[str, list[str]] = {}
    for r in (audit.rows() if audit is not None else []):
        actions.setdefault(r["incident"], []).append(f"{r['at'][:16].replace('T', ' ')} {r['runbook']}: "
                                                     f"{r['status']} ({r['reason'][:120]})")
    sent = {r["idempotency_key"]: r["sent_at"] for r in rows if r["status"] == "sent"}
    created = {r["idempotency_key"]: r["created_at"] for r in rows}
    df = pd.DataFrame(report.incidents)
    if len(df):
        df["first_page"] = [_ts(sent.get(f"{i}:trigger")) for i in df["id"]]
        df["acknowledged_at"] = [_ts(created.get(f"{i}:acknowledge")) for i in df["id"]]
        df["resolved_at"] = [_ts(sent.get(f"{i}:resolve")) for i in df["id"]]
        df["escalated_at"] = [_ts(sent.get(f"{i}:escalation")) for i in df["id"]]
        df["pages_sent"] = [int(f"{i}:trigger" in sent) + int(f"{i}:escalation" in sent) for i in df["id"]]
        df["runbook_actions"] = [json.dumps(actions.get(i, [])) for i in df["id"]]
        df["dead_letters"] = [sum(r["status"] == "dead" and r["dedup_key"].startswith(i) for r in rows)
                              for i in df["id"]]
    df = _upsert(lake, INCIDENTS_OBJECT, df, ["id"])
    if len(df):
        df = df.sort_values("first_alert").reset_index(drop=True)
    deliveries = [{"at": _ts(r["sent_at"]), "incident": r["dedup_key"].removesuffix("-escalation"),
                   "kind": "delivered", "subject": r["idempotency_key"], "detail": f"{r['action']} accepted"}
                  for r in rows if r["status"] == "sent"]
    deliveries += [{"at": _ts(r["created_at"]), "incident": r["dedup_key"], "kind": "dead_letter",
                    "subject": r["idempotency_key"], "detail": str(r["last_error"])[:500]}
                   for r in rows if r["status"] == "dead"]
    dec = pd.DataFrame(report.decisions + deliveries, columns=["at", "incident", "kind", "subject", "detail"])
    dec["at"] = pd.to_datetime(dec["at"], utc=True)
    _upsert(lake, DECISIONS_OBJECT, dec, ["incident", "kind", "subject"], keep="first")
    if len(df):
        t = df[df["decision"] == "ticket"]
        tickets = pd.DataFrame({"id": t["id"], "kind": "incident", "opened": t["first_alert"],
                                "severity": t["severity"], "component": t["root_component"], "cause": t.get("cause"),
                                "title": [f"{r.root_component}: {r.root_rule} ({r.root_source})" for r in t.itertuples()],
                                "status": ["closed" if r else "open" for r in t["resolved"]],
                                "closed": [r.last_alert if r.resolved else pd.NaT for r in t.itertuples()],
                                "items": None})
        if report.digests:
            tickets = pd.concat([tickets, pd.DataFrame(report.digests, columns=tickets.columns)], ignore_index=True)
        _upsert(lake, TICKETS_OBJECT, tickets, ["id"], drop=lambda prev: stale_digests(prev, report.digest_scope))
    return df


def open_incidents(lake: Lake) -> bool:
    """Whether the stored ledger holds an incident that is not resolved yet."""
    data = lake.read_bytes(INCIDENTS_OBJECT)
    if data is None:
        return False
    df = pd.read_parquet(io.BytesIO(data))
    return bool(len(df)) and not df["resolved"].all()
