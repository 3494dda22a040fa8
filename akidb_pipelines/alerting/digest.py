"""A quiet on-call: which incidents routed to a ticket open one, and the daily digest that lists the others.

A ticket is work for a person, so it has to be worth a look. An incident routed to a ticket (P2 by default) opens
one when any of these holds (``ticket_gate``):

* it has an alert from another source than the anomaly detector: an SLO burning (its slow tier), a static rule,
  a failed pipeline job. Those are never held back;
* it has an anomaly of what users feel (a latency or an error series, ``correlate.symptom``) and

  * one of its series stayed anomalous for ``tickets.anomaly_min_minutes`` (persistence): outside its forecast
    band, on the side it was flagged, for that many minutes of runs touching the episode
    (``alert_sources.anomaly_spans``; the detector flags an excursion only once, so the scores say how long it
    lasted);
  * or two of its series that measure different quantities were anomalous at the same time (corroboration: their
    spans overlap). The same quantity seen at two tiers of one call chain is one observation, not two:
    CloudFront's requests are akidb-rest's requests, and a one-minute traffic blip shows on both.

Anomalies of demand alone (requests, CPU, capacity: the traffic and saturation signals) are digest lines however
long they last: a surge or a dip the service absorbs without a user seeing slower answers or errors is news for
capacity planning, not work for tonight (alert on symptoms; the causes are for diagnosis). A game day's noisy weeks
opened a ticket for each surge and dip (requests, CPU and CloudFront requests anomalous for an hour). A fault whose
only sign is demand is still typed when its evidence holds (an over-provisioning pages through its type), and a
traffic collapse that users feel shows as errors at the edge (the availability SLOs).

Otherwise the incident is below the ticket threshold: its route decision is ``digest`` (the reason says why) and
each of its anomalies is a line of the digest of its period. Pages are never affected: only incidents the routing
policy already made tickets pass through here.

The digest: one ticket per period of 24 hours ending at ``tickets.digest_hour_utc`` (UTC), with at least one line
(series, component, time, anomalous minutes, peak score, incident). An incident belongs to the period of its first
alert. A period's digest is written once the period has ended, as the row ``digest-<period start>`` of
``alerting/tickets.parquet`` (``kind = 'digest'``, ``opened`` at the period's end, the lines as JSON in ``items``).
Every response tick recomputes the incidents of its lookback, so every tick after the period's end rebuilds the same
digest and writes the same row (replacing it by id): rerunning ticks never makes a second digest. Only periods
wholly inside the tick's lookback are rebuilt; an older digest stays as it was written. A line whose anomaly grows
into a ticket after the period's end leaves the rebuilt digest (and a period left without a line, its digest).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd

from akidb_pipelines.alerting.alert_sources import Span, flagged_span
from akidb_pipelines.alerting.correlate import Alert, Incident, symptom
from akidb_pipelines.alerting.routing import TicketPolicy

DAY = timedelta(days=1)


def _span(a: Alert, spans: dict[str, Span]) -> Span:
    return spans.get(a.fingerprint) or flagged_span(a)


def ticket_gate(inc: Incident, spans: dict[str, Span], metrics: dict[str, str],
                policy: TicketPolicy) -> tuple[bool, str]:
    """(whether ``inc`` opens a ticket, why). ``spans``: the anomaly alerts' spans by fingerprint; ``metrics``:
    the quantity each series measures (series id -> metric; a series not listed is a quantity of its own)."""
    other = next((a for a in inc.alerts if a.source != "anomaly"), None)
    if other is not None:
        return True, f"{other.source} alert {other.rule}"
    if not any(symptom(a) for a in inc.alerts):
        return False, ("below the ticket threshold: anomalies of demand only (traffic, saturation), nothing users "
                       "feel (latency, errors)")
    anomalies = sorted(inc.alerts, key=lambda a: (-_span(a, spans).minutes, a.start, a.rule))
    longest, most = anomalies[0], _span(anomalies[0], spans).minutes
    if most >= policy.anomaly_min_minutes:
        return True, f"{longest.rule} anomalous for {most} min (threshold {policy.anomaly_min_minutes})"
    for i, a in enumerate(anomalies):
        sa = _span(a, spans)
        for b in anomalies[i + 1:]:
            sb = _span(b, spans)
            if metrics.get(a.rule, a.rule) != metrics.get(b.rule, b.rule) and sa.start <= sb.end and sb.start <= sa.end:
                return True, f"{a.rule} and {b.rule} anomalous at the same time"
    return False, (f"below the ticket threshold: anomalies only, {most} anomalous minute(s) at most of one series "
                   f"(threshold {policy.anomaly_min_minutes} min), no other quantity anomalous at the same time")


def digest_period(t: datetime, policy: TicketPolicy) -> tuple[datetime, datetime]:
    """The digest period [start, end) holding ``t``: the 24 hours up to the next ``digest_hour_utc`` after it."""
    t = t.astimezone(timezone.utc)
    end = t.replace(hour=policy.digest_hour_utc, minute=0, second=0, microsecond=0)
    if end <= t:
        end += DAY
    return end - DAY, end


def digest_id(period_start: datetime) -> str:
    return f"digest-{period_start.astimezone(timezone.utc):%Y-%m-%dT%H}Z"


def digest_items(inc: Incident, spans: dict[str, Span], policy: TicketPolicy) -> list[dict]:
    """The digest lines of an incident below the ticket threshold: one per anomaly alert, in its first alert's
    period (``digest``, ``period_start``, ``period_end`` say which)."""
    start, end = digest_period(inc.start, policy)
    out = []
    for a in sorted(inc.alerts, key=lambda a: (a.start, a.rule)):
        ctx = dict(a.context)
        score = ctx.get("anomaly_score")
        out.append({"digest": digest_id(start), "period_start": start, "period_end": end, "incident": inc.id,
                    "series": a.rule, "component": a.component, "edge_location": a.edge_location,
                    "at": a.start.astimezone(timezone.utc).isoformat(), "minutes": _span(a, spans).minutes,
                    "peak_score": None if score is None else round(float(score), 4),
                    "direction": ctx.get("direction")})
    return out


def digests(items: list[dict], since: datetime, now: datetime) -> list[dict]:
    """The digest tickets (rows of the tickets table) of the periods that ended by ``now`` and started at or after
    ``since`` (wholly inside the lookback, so every line of theirs is known)."""
    by_id: dict[str, list[dict]] = {}
    for it in items:
        if it["period_end"] <= now and it["period_start"] >= since:
            by_id.setdefault(it["digest"], []).append(it)
    out = []
    for did, lines in sorted(by_id.items()):
        start, end = lines[0]["period_start"], lines[0]["period_end"]
        keep = ("series", "component", "edge_location", "at", "minutes", "peak_score", "direction", "incident")
        lines = sorted(({k: it[k] for k in keep} for it in lines), key=lambda x: (x["at"], x["series"]))
        n, series = len(lines), len({x["series"] for x in lines})
        out.append({"id": did, "kind": "digest", "opened": pd.Timestamp(end), "severity": "P2",
                    "component": ", ".join(sorted({x["component"] for x in lines})), "cause": None,
                    "title": f"Digest {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: {n} anomal"
                             f"{'y' if n == 1 else 'ies'} below the ticket threshold on {series} series",
                    "status": "open", "closed": pd.NaT, "items": json.dumps(lines)})
    return out


def stale_digests(tickets: pd.DataFrame, scope: tuple[datetime, datetime] | None) -> pd.Series:
    """Which stored rows of the tickets table are digests of a period rebuilt in ``scope`` (see :func:`digests`):
    the rebuild replaces them, and a period left without a line (its only anomaly grew into a ticket after the
    period ended) has no digest any more."""
    if scope is None or "kind" not in tickets.columns:
        return pd.Series(False, index=tickets.index)
    end = pd.to_datetime(tickets["opened"], utc=True)
    return (tickets["kind"] == "digest") & (end - DAY >= pd.Timestamp(scope[0])) & (end <= pd.Timestamp(scope[1]))


def tickets_opened(ledger: pd.DataFrame) -> dict[str, int]:
    """What an incident ledger gave a person to look at besides pages: ``incident`` tickets, and ``digest``
    tickets (one per period with a line, written or due when its period ends)."""
    if not len(ledger):
        return {"incident": 0, "digest": 0}
    digest = ledger["digest"].dropna().nunique() if "digest" in ledger.columns else 0
    return {"incident": int((ledger["decision"] == "ticket").sum()), "digest": int(digest)}
