"""Recurrences: a flapping root (the same alert source, rule and component again soon after), and the same typed
cause on the same component again while the first lasts (one fault seen again, not a new one). ``respond`` uses
these keys and decisions; see its module docstring for the policy."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from akidb_pipelines.alerting.correlate import Alert, Incident
from akidb_pipelines.alerting.rootcause import UNCLASSIFIED
from akidb_pipelines.alerting.routing import Decision


def flap_key(a: Alert) -> tuple:
    return a.source, a.rule, a.component, a.edge_location


def cause_key(inc: Incident) -> tuple | None:
    """A typed incident's cause on its root's component: a later incident of the same cause there, while the
    earlier one lasts or within the flap window after it, is the same fault seen again (an over-provisioning of
    hours shows new anomalies on other series of akidb-rest long after its first page)."""
    return None if inc.cause == UNCLASSIFIED else ("cause", inc.cause, inc.root.component)


def paged_as_another(pages: dict[str, tuple[datetime, set[tuple]]], inc: Incident, window: timedelta,
                     present: set[str]) -> str | None:
    """The incident this tick no longer has that was paged for ``inc``'s cause on its root's component and began
    within ``window`` of it (``pages``: :func:`outbox.paged_causes`), or None. An overlap's alerts can be grouped otherwise one
    tick later (a storm's alerts drawn into a spot cascade's incident, then split off again): the same fault then
    has a new first alert, so a new id, and would page a second time."""
    if inc.cause == UNCLASSIFIED:
        return None
    for other, (t, named) in pages.items():
        if other not in present and other != inc.id and (inc.root.component, inc.cause) in named \
                and abs(t - inc.start) <= window:
            return other
    return None


def orphaned_pages(pages: dict[str, tuple[datetime, set[tuple]]], incidents: list[Incident], continued: set[str],
                   resolved: set[str], now: datetime, window: timedelta, resolve_after: timedelta) -> list[str]:
    """Pages to resolve that no incident of this tick carries any more (``pages``: :func:`outbox.paged_causes`).

    Correlation is recomputed every tick; when a later tick groups a paged incident's alerts otherwise, its id is
    gone and nothing would ever resolve its PagerDuty alert. Such a page is resolved once every incident of this
    tick whose span (widened by ``window``) holds the page's first alert is quiet for ``resolve_after`` (none: once
    its first alert is ``resolve_after`` old). ``continued``: pages an incident of this tick continues (resolved
    with it); ``resolved``: pages resolved already."""
    present = {inc.id for inc in incidents}
    out = []
    for page, (first, _) in pages.items():
        if page in present or page in continued or page in resolved:
            continue
        near = [inc for inc in incidents if inc.start - window <= first <= inc.end + window]
        last = max([inc.end for inc in near], default=first)
        if last + resolve_after <= now:
            out.append(page)
    return out


def flap_decision(inc: Incident, decision: Decision, flap_of: str, now: datetime, hold: timedelta) -> Decision:
    """A recurrence of a recent root: a ticket is not opened twice; a page waits ``flap_hold`` and is sent only
    if the alerts still fire ``hold`` after its onset (``RespondConfig.flap_hold``), else it is suppressed
    (recorded, not paged)."""
    if decision.action == "ticket":
        return dataclasses.replace(decision, action="suppressed", reason=f"flapping: recurrence of {flap_of} "
                                                                         "(ticket already open)")
    hold_until = inc.start + hold
    if now < hold_until:
        return dataclasses.replace(decision, action="hold", at=max(decision.at, hold_until),
                                   reason=f"flapping: recurrence of {flap_of}; pages at {hold_until:%H:%M}Z if it "
                                          "persists")
    if inc.end >= hold_until - timedelta(minutes=1):
        return dataclasses.replace(decision, reason=f"{decision.reason}; recurrence of {flap_of} that persisted "
                                                    f"{hold.total_seconds() / 60:.0f} min")
    return dataclasses.replace(decision, action="suppressed",
                               reason=f"flapping: recurrence of {flap_of} that cleared within "
                                      f"{hold.total_seconds() / 60:.0f} min")
