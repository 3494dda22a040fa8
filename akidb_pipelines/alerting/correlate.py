"""From alerts to incidents: group by time and topology, pick the root cause, inhibit the symptoms, fingerprint.

The service map comes from the X-Ray spans (parent span -> child span: which component calls which), so the
grouping needs no hand-kept dependency list. Two alerts belong to one incident when their onsets are close in
time (``window``), the later one began while the earlier one was firing or within :data:`ROOT_LEAD` after it stopped,
and they are related: the same component, one component upstream of the other in the service map, or the same
edge location. The incident's root is its most downstream alert (the fault that explains the symptoms above it),
the earliest among equals, among the alerts that began within :data:`ROOT_LEAD` of the first: a cause does not
start after its effects (the sources detect with different delays, hence the lead), and an alert that joins an
incident later must not take its root, and so its id, over (a game day's cold-start storm was paged a second time
when an over-provisioning on akidb-rest began nine minutes into it). The other alerts are related and inhibited by
the root (they do not page on their own).
The fingerprint (incident id and PagerDuty dedup_key) hashes the root's rule and component and the incident's first
minute, so re-running the correlation over the same alerts gives the same incidents (idempotent sensor ticks).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from akidb_pipelines.alerting.golden_columns import SYMPTOMS, golden_signal

SEVERITY_RANK = {"P0": 0, "P1": 1, "P2": 2}
ROOT_LEAD = timedelta(minutes=5)   # how much later than an incident's first alert its root may begin; how long
                                   # after an alert stopped a related one still joins it


@dataclass(frozen=True)
class Alert:
    source: str                 # slo | anomaly | static | pipeline
    rule: str                   # the SLO, the series, the rule or the job
    component: str              # service-map node (tier or subsegment name)
    severity: str               # P0 | P1 | P2
    start: datetime
    end: datetime               # last minute seen
    edge_location: str = "all"
    labels: tuple[tuple[str, str], ...] = ()
    context: tuple[tuple[str, Any], ...] = ()

    @property
    def fingerprint(self) -> str:
        text = f"{self.source}|{self.rule}|{self.component}|{self.edge_location}|{self.start:%Y-%m-%dT%H:%M}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Incident:
    id: str
    root: Alert
    alerts: list[Alert]
    severity: str
    start: datetime
    end: datetime
    inhibited: list[Alert] = field(default_factory=list)
    cause: str = "unclassified"       # root-cause type (``rootcause.classify``)
    cause_evidence: str = ""
    flap_of: str | None = None        # the earlier incident this one recurs (flap suppression)

    @property
    def related(self) -> list[Alert]:
        return [a for a in self.alerts if a is not self.root]


class ServiceMap:
    """Directed calls between components: ``edges`` of (caller, callee)."""

    def __init__(self, edges: set[tuple[str, str]]):
        self.edges = {(a, b) for a, b in edges if a != b}
        self.children: dict[str, set[str]] = defaultdict(set)
        for a, b in self.edges:
            self.children[a].add(b)
        self._reach: dict[str, set[str]] = {}

    def downstream_of(self, node: str) -> set[str]:
        """Every component ``node`` calls, directly or not."""
        if node not in self._reach:
            seen, todo = set(), [node]
            while todo:
                for c in self.children.get(todo.pop(), ()):
                    if c not in seen:
                        seen.add(c)
                        todo.append(c)
            self._reach[node] = seen
        return self._reach[node]

    def depth(self, node: str) -> int:
        """Longest call chain from an entry point down to ``node`` (0 for entry points and unknown nodes)."""
        parents = [a for a, b in self.edges if b == node]
        return 0 if not parents else 1 + max(self.depth(p) for p in parents if p != node)

    def related(self, a: str, b: str) -> bool:
        return a == b or b in self.downstream_of(a) or a in self.downstream_of(b)


def service_map_sql(spans: str) -> str:
    """DuckDB SQL for the (caller, callee) pairs seen in an X-Ray spans relation: segments are named by their
    tier, subsegments by their name's first part (``hnsw.search`` -> ``hnsw``), so downstream dependencies such as
    SQLite, the HNSW index and the LSTM predictor are nodes of their own."""
    node = "CASE WHEN {t}.depth = 0 THEN {t}.tier ELSE split_part({t}.name, '.', 1) END"
    return (f"SELECT DISTINCT {node.format(t='p')} AS caller, {node.format(t='c')} AS callee "
            f"FROM {spans} c JOIN {spans} p ON c.parent_id = p.id AND c.trace_id = p.trace_id")


def correlate(alerts: list[Alert], smap: ServiceMap, window: timedelta = timedelta(minutes=15),
              corroborated_series: int = 2, together: timedelta = timedelta(0)) -> list[Incident]:
    """Group ``alerts`` into incidents (see the module docstring). Anomaly alerts are tickets (P2) on their own;
    an incident with anomalies of at least ``corroborated_series`` distinct quantities of one component (latency
    and errors of one service agreeing) is raised to P1; an SLO alert's severity applies as it is. The same
    quantity at several edge locations is one quantity: twelve noisy per-location P95s sometimes make one-minute
    "new extremes" in the same minute by chance (a game day paged ICN54 and CDG50 at 06:29 that way, once in 15
    replayed days); a storm pages through its SLOs and its cause type, not through coincidence.
    Only series of what users feel corroborate (:func:`symptom`: latency, errors): requests, CPU and the capacity
    ratio all move with traffic, so their agreeing is a traffic change, not a fault (a game day's night-time traffic
    dip paged as requests, CPU, capacity ratio and CloudFront requests "agreeing"); a typed cause still raises an
    incident through its type's ``min_severity`` (``rootcause``).
    Anomalies of different components that merely coincide along the call chain do not corroborate each other:
    on the demo data that rule paged on two unrelated single-minute spikes. Nor do anomalies of one component
    that are not anomalous at the same time (episodes overlapping, give or take ``together``): in the chaos
    replay's noisy week, one-minute P95 spikes at two edge locations 13 minutes apart paged as a "storm"."""
    alerts = sorted(alerts, key=lambda a: (a.start, a.rule))
    parent = list(range(len(alerts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(alerts):
        for j in range(i + 1, len(alerts)):
            b = alerts[j]
            if b.start > a.start + window:  # onsets close in time: a long slow burn does not attract later faults
                break
            if b.start > a.end + ROOT_LEAD:  # nor does a blip that was over before b began (a one-minute edge
                continue                     # anomaly 13 minutes before a spot cascade took its page's root)
            same_edge = a.edge_location != "all" and a.edge_location == b.edge_location
            if smap.related(a.component, b.component) or same_edge:
                parent[find(j)] = find(i)
    groups: dict[int, list[Alert]] = defaultdict(list)
    for i, a in enumerate(alerts):
        groups[find(i)].append(a)
    out = [build_incident(members, smap, corroborated_series, together) for members in groups.values()]
    return sorted(out, key=lambda i: i.start)


def symptom(a: Alert) -> bool:
    """Whether an anomaly alert's series measures what users feel (latency, errors) rather than demand (traffic)
    or saturation (CPU, capacity): its ``signal`` label, else the golden signal of its series id's last part."""
    signal = dict(a.labels).get("signal") or golden_signal(a.rule.rsplit(".", 1)[-1])
    return signal in SYMPTOMS


def quantity(a: Alert) -> str:
    """What an anomaly alert's series measures, wherever: its ``metric`` label (the series' configured metric, as
    the ticket gate reads it), else its id's last part (``lambda-edge.NRT57.emf_latency_p95_ms`` and
    ``lambda-edge.SIN52.emf_latency_p95_ms`` measure one quantity at two edge locations)."""
    return dict(a.labels).get("metric") or a.rule.rsplit(".", 1)[-1]


def incident_id(root: Alert, start: datetime) -> str:
    """The fingerprint of an incident: its root's rule and component and its first minute (stable across ticks)."""
    key = f"{root.source}|{root.rule}|{root.component}|{start:%Y-%m-%dT%H:%M}"
    return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def build_incident(members: list[Alert], smap: ServiceMap, corroborated_series: int = 2,
                   together: timedelta = timedelta(0), root_among: Callable[[Alert], bool] | None = None) -> Incident:
    """One incident of ``members`` (see :func:`correlate`): root, severity, corroboration, id and inhibition.
    ``rootcause.split_by_cause`` builds the parts of a split incident with it too, so a part's id is the id the
    correlation would give those alerts on their own; ``root_among``: only alerts it accepts may be the root (the
    alerts of the incident's root-cause type), when any of them began within the lead."""
    members = sorted(members, key=lambda a: (a.start, a.rule))
    first = members[0].start
    early = [a for a in members if a.start <= first + ROOT_LEAD]
    root = max([a for a in early if root_among(a)] or early if root_among is not None else early,
               key=lambda a: (smap.depth(a.component), -a.start.timestamp(), a.rule))
    severity = min((a.severity for a in members), key=SEVERITY_RANK.__getitem__)
    per_component: dict[str, list[Alert]] = defaultdict(list)
    for a in members:
        if a.source == "anomaly" and symptom(a):
            per_component[a.component].append(a)
    corroborated = any(len({quantity(b) for b in group if b.start <= a.end + together and a.start <= b.end + together})
                       >= corroborated_series for group in per_component.values() for a in group)
    if corroborated and SEVERITY_RANK[severity] > SEVERITY_RANK["P1"]:
        severity = "P1"
    start = min(a.start for a in members)
    inc = Incident(incident_id(root, start), root, members, severity, start, max(a.end for a in members))
    inc.inhibited = [a for a in members if a is not root and smap.related(root.component, a.component)]
    return inc


def episodes(rows: list[tuple[datetime, Any]], gap: timedelta) -> list[tuple[datetime, datetime, list[Any]]]:
    """Consecutive points (sorted by time) no more than ``gap`` apart, as (start, end, payloads)."""
    out: list[tuple[datetime, datetime, list[Any]]] = []
    for t, payload in sorted(rows, key=lambda r: r[0]):
        if out and t - out[-1][1] <= gap:
            out[-1] = (out[-1][0], t, out[-1][2] + [payload])
        else:
            out.append((t, t, [payload]))
    return out
