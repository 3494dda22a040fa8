"""The PagerDuty events a response tick sends about an incident: its page, the notice of a held page, the
escalation of an unacknowledged P0.

* :func:`trigger_event`: the page (dedup key: the incident id), with the root cause, the related alerts and the
  runbooks in its custom details.
* :func:`held_notice`: a P1 outside every team's business hours is held to the next opening (``routing``); with
  the P1 rule's ``low_urgency_event``, PagerDuty hears of it at once as a low-urgency alert of its own (severity
  ``warning``, dedup key ``<id>-held``: no phone rings, the incident is on the on-call's list with its cause), and
  the page follows at the opening. An over-provisioning on a Saturday night is a cost, not an outage: nobody is
  woken, and nobody learns of it on Monday from a stale ledger either.
* :func:`escalation`: a P0 not acknowledged within the policy's timeout, as a second PagerDuty incident
  (``<id>-escalation``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Protocol

from akidb_pipelines.alerting.correlate import Alert, Incident
from akidb_pipelines.clients.pagerduty import Event


class Sender(Protocol):
    source: str   # the PagerDuty event's source
    ui_url: str   # where the incident ledger is (Dagster UI)


def label(a: Alert) -> str:
    return f"{a.source}:{a.rule}@{a.component}" + (f"/{a.edge_location}" if a.edge_location != "all" else "")


def _json(v: object) -> object:
    if isinstance(v, float) and v != v:  # NaN
        return None
    return v


def trigger_event(inc: Incident, pd_severity: str, cfg: Sender, runbooks: list[str] = ()) -> Event:
    root = inc.root
    details = {
        "incident": inc.id, "severity": inc.severity,
        "root_cause": {"component": root.component, "type": inc.cause, "evidence": inc.cause_evidence,
                       "source": root.source, "rule": root.rule},
        "first_alert": inc.start.isoformat(), "alerts": len(inc.alerts),
        "related": [label(a) for a in inc.related][:20],
        "root_context": {k: _json(v) for k, v in root.context},
        "runbooks": list(runbooks) or "none matches",
    }
    edges = sorted({a.edge_location for a in inc.alerts if a.edge_location != "all"})
    cause = "" if inc.cause == "unclassified" else f" [{inc.cause}]"
    summary = (f"[{inc.severity}] {root.component}: {root.rule} ({root.source}){cause}"
               + (f" at {', '.join(edges)}" if edges else "") + f", {len(inc.alerts)} alert(s)")
    return Event("trigger", inc.id, summary=summary[:1024], source=cfg.source, severity=pd_severity,
                 component=root.component, group="akidb", event_class=inc.cause,
                 timestamp=inc.start.isoformat().replace("+00:00", "Z"), custom_details=details,
                 links=({"href": f"{cfg.ui_url}/assets/alerting/incidents", "text": "Incident ledger (Dagster)"},))


def held_notice(page: Event, until: datetime, team: str | None) -> Event:
    """The low-urgency notice of a page held to ``until`` (the next opening of ``team``)."""
    return dataclasses.replace(page, dedup_key=f"{page.dedup_key}-held", severity="warning",
                               summary=f"[held until {until:%a %H:%M}Z for {team or 'the next team'}] "
                                       f"{page.summary}"[:1024])


def escalation(page: Event, timeout: timedelta) -> Event:
    """The second PagerDuty incident of a P0 not acknowledged within ``timeout``."""
    return dataclasses.replace(page, dedup_key=f"{page.dedup_key}-escalation", severity="critical",
                               summary=f"[ESCALATED: not acknowledged in {timeout.total_seconds() / 60:.0f} min] "
                                       f"{page.summary}"[:1024])
