"""Root-cause types: name what kind of fault an incident is (``config/root_causes.yaml``), and keep two faults apart.

The service map says *where* the root is (the most downstream alert); the type says *what* it is, from the alerts
and from evidence in the golden signals around the onset (``alerting/evidence.py``: a change relative to what is
normal for that time of day): spot instances reclaimed, a Lambda@Edge cold-start storm, the LSTM predictor
over-provisioning, a downstream dependency. Runbooks trigger on the type, so a deploy blip on akidb-rest does not
scale up on-demand capacity the way a spot interruption does.

Two faults on different tiers that start minutes apart are one incident to the correlation (related along the call
chain, close in time). :func:`split_by_cause` parts such an incident when its alerts belong to components with
evidence for different types: each part gets its own root, severity, id (the id the correlation gives those alerts
on their own: stable across ticks) and cause. See docs/root-causes.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from akidb_pipelines.alerting.correlate import ROOT_LEAD, Alert, Incident, ServiceMap, build_incident
from akidb_pipelines.alerting.evidence import (
    AGGREGATES, CHANGES, Condition, EvidenceFrame, check, check_edge, how_far, seen_in_part)
from akidb_pipelines.alerting.golden_columns import metric_expr
from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, expect_list, load_yaml
from akidb_pipelines.storage import Lake

DEFAULT_PATH = shipped_config("root_causes.yaml")
UNCLASSIFIED = "unclassified"
FIELDS = ("type", "description", "components", "alerts", "evidence", "min_severity")
EVIDENCE_FIELDS = ("tier", "metric", "change", "by", "at_least", "aggregate")
MATCH_FIELDS = ("source", "rule", "component", "direction")
Frame = Mapping[tuple[str, str, str], Mapping[datetime, float]]


class RootCauseConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class CauseType:
    type: str
    description: str = ""
    components: tuple[str, ...] = ()
    alerts: tuple[dict[str, str], ...] = ()
    evidence: tuple[Condition, ...] = ()   # every condition must hold, in the same minutes
    min_severity: str | None = None   # an incident of this type pages at least this severely (needs evidence)


def alert_matchers(v: object, where: str, error: type[ConfigError], keys: tuple[str, ...] = MATCH_FIELDS,
                   non_empty: bool = False) -> tuple[dict[str, str], ...]:
    """A list of matches on alert fields (each a non-empty mapping of ``keys`` to strings)."""
    out = []
    for i, m in enumerate(expect_list(v, where, error, non_empty)):
        f = Fields(m, f"{where}[{i}]", error, keys)
        if not f.data:
            raise error(f"{where}[{i}]: an empty match matches everything; name at least one of {list(keys)}")
        out.append({k: f.str(k) for k in f.data})
    return tuple(out)


def _condition(v: object, w: str) -> Condition:
    e = Fields(v, w, RootCauseConfigError, EVIDENCE_FIELDS)
    change, by = e.one_of("change", CHANGES), float(e.number("by", positive=True))
    if change == "drop" and by > 1:
        raise RootCauseConfigError(f"{w}.by: a drop is a share up to 1 (0.2 = fell by 20%), got {by!r}")
    if change == "rise" and by <= 1:
        raise RootCauseConfigError(f"{w}.by: a rise is a factor above 1 (3 = tripled), got {by!r}")
    at_least = float(e.number("at_least", minimum=0)) if "at_least" in e else None
    if at_least is not None and change == "drop":
        raise RootCauseConfigError(f"{w}.at_least: only a rise has a least value to reach")
    return Condition(e.str("tier"), metric_expr(e.get("metric"), f"{w}.metric", RootCauseConfigError), change, by,
                     e.one_of("aggregate", AGGREGATES, "sum"), at_least)


def _load_evidence(v: object, w: str) -> tuple[Condition, ...]:
    """One condition (a mapping) or several that must hold together (a list of mappings)."""
    if isinstance(v, list):
        return tuple(_condition(c, f"{w}[{i}]") for i, c in enumerate(expect_list(v, w, RootCauseConfigError,
                                                                                   True)))
    return (_condition(v, w),)


def load_cause_types(path: str | os.PathLike[str] | None = None) -> list[CauseType]:
    """The root-cause types (``path``, else ``$AKIDB_ROOT_CAUSES``, else the shipped file); every key is checked
    (an unknown one is refused) and a problem raises RootCauseConfigError naming the file and the field."""
    p, var = config_file("AKIDB_ROOT_CAUSES", DEFAULT_PATH, path)
    doc = Fields(load_yaml(p, RootCauseConfigError, named_by=var) or {}, str(p), RootCauseConfigError, ("types",),
                 top=True)
    out: list[CauseType] = []
    for i, item in enumerate(doc.list("types", [])):
        w = f"{p}: types[{i}]"
        t = Fields(item, w, RootCauseConfigError, FIELDS)
        name = t.str("type")
        if name in {c.type for c in out} or name == UNCLASSIFIED:
            raise RootCauseConfigError(f"{w}.type: {name!r} is {'reserved' if name == UNCLASSIFIED else 'used twice'}")
        components = tuple(t.str_list("components", []))
        alerts = alert_matchers(t.get("alerts", []), f"{w}.alerts", RootCauseConfigError)
        ev = _load_evidence(t.get("evidence"), f"{w}.evidence") if t.get("evidence") is not None else ()
        if not (components or alerts or ev):
            raise RootCauseConfigError(f"{w}: needs at least one of components, alerts, evidence")
        floor = t.one_of("min_severity", ("P0", "P1", "P2"), None) if t.get("min_severity") is not None else None
        if floor and not ev:
            raise RootCauseConfigError(f"{w}.min_severity: P0, P1 or P2, and only with evidence (the golden "
                                       "signals must confirm the alerts before a type may raise a page)")
        out.append(CauseType(name, t.str("description", ""), components, alerts, ev, floor))
    return out


def alert_matches(inc: Incident, matchers: tuple[dict[str, str], ...] | list[dict[str, str]]) -> bool:
    """Whether any alert of ``inc`` matches one of ``matchers`` (every key given must be equal)."""
    return any(_alert_matches(a, matchers) for a in inc.alerts)


def _alert_matches(a: Alert, matchers: tuple[dict[str, str], ...] | list[dict[str, str]]) -> bool:
    fields = {"source": a.source, "rule": a.rule, "component": a.component,
              "direction": dict(a.context).get("direction")}
    return any(all(str(fields.get(k)) == str(v) for k, v in m.items()) for m in matchers)


def evidence_frame(lake: Lake, types: list[CauseType], until: datetime | None = None) -> EvidenceFrame:
    """The evidence signals of every type, read from the lake around the onsets that :func:`classify` and
    :func:`split_by_cause` ask about, before ``until`` (a tick's now) when given."""
    return EvidenceFrame(lake, conditions_of(types), until)


def conditions_of(types: list[CauseType]) -> list[Condition]:
    """Every evidence condition of ``types``."""
    return [c for t in types for c in t.evidence]


def claims(t: CauseType, a: Alert) -> bool:
    """Whether alert ``a`` is one ``t`` speaks about: on one of its components and matching its alert matchers."""
    return (not t.components or a.component in t.components) and (not t.alerts or _alert_matches(a, t.alerts))


def _onset(t: CauseType, alerts: list[Alert]) -> datetime | None:
    mine = [a.start for a in alerts if claims(t, a)]
    return min(mine) if mine else None


def _evidence(t: CauseType, alerts: list[Alert], frame: Frame, edge: str = "") -> str | bool | None:
    """The evidence text when ``t``'s conditions hold around the onset of the first alert it claims; with
    ``edge="check"`` on the first minutes at the open end of the window (``evidence.check_edge``), with
    ``edge="part"`` whether any one of them holds since the onset (``evidence.seen_in_part``)."""
    onset = _onset(t, alerts)
    if onset is None:
        return None
    if isinstance(frame, EvidenceFrame):
        frame.around(onset)
    until = getattr(frame, "until", None)
    if edge == "check":
        return check_edge(list(t.evidence), frame, onset, until)
    if edge == "part":
        return seen_in_part(list(t.evidence), frame, onset, until)
    return check(list(t.evidence), frame, onset)


def classify(inc: Incident, types: list[CauseType], frame: Frame) -> tuple[str, str]:
    """(type, why) of the first type whose conditions hold, else (``unclassified``, '').

    While the onset's window is still open, a type whose conditions hold on the first closed minutes after the
    onset only (``evidence.check_edge``) is named unless a type before it that speaks about the incident is partly
    seen (one of its conditions holds): a spot cascade whose instance count has fallen but whose capacity per
    request has not yet is not named by a later type in the meantime."""
    components = {a.component for a in inc.alerts}
    unseen: list[CauseType] = []   # types before this one that speak about the incident and do not hold
    for t in types:
        if t.components and not components & set(t.components):
            continue
        if t.alerts and not alert_matches(inc, t.alerts):
            continue
        if t.evidence:
            found = _evidence(t, inc.alerts, frame)
            if found is not None:
                return t.type, found
            early = _evidence(t, inc.alerts, frame, edge="check")
            if early is not None and not any(_evidence(u, inc.alerts, frame, edge="part") for u in unseen):
                return t.type, early
            unseen.append(t)
            continue
        return t.type, ("matching alerts" if t.alerts else
                        f"alerts on {', '.join(sorted(components & set(t.components)))}")
    return UNCLASSIFIED, _in_part(unseen, inc.alerts, frame)


def _in_part(unseen: list[CauseType], alerts: list[Alert], frame: Frame) -> str:
    """For an unclassified incident, what the on-call may want to know: the types of several conditions of which
    some held around the onset (each alone), which did and which did not. Says nothing about single-condition
    types (theirs did not hold) and names nothing: the cause stays unclassified and no runbook runs on it."""
    out = []
    for t in unseen:
        onset = _onset(t, alerts)
        if onset is None or len(t.evidence) < 2:
            continue
        seen = {c: check(c, frame, onset) for c in t.evidence}
        held = [why for why in seen.values() if why]
        if not held:
            continue
        missing = [how_far(c, frame, onset) for c, why in seen.items() if not why]
        out.append(f"{t.type} in part: {'; '.join(held)}; "
                   + (f"not seen: {'; '.join(missing)}" if missing else "each seen, but not in the same minutes"))
    return ("no type's conditions all hold; " + " | ".join(out)) if out else ""


def severity_floor(cause: str, types: list[CauseType]) -> str | None:
    """The least severity an incident of ``cause`` pages with: the type's evidence in the golden signals
    corroborates what may be a single anomalous series (one edge location's P95, the capacity ratio)."""
    return next((t.min_severity for t in types if t.type == cause), None)


def split_by_cause(incidents: list[Incident], types: list[CauseType], frame: Frame,
                   smap: ServiceMap) -> list[Incident]:
    """``incidents`` with each one whose alerts hold evidence for different types parted, one part per type,
    every incident classified (``cause``, ``cause_evidence``), sorted by start.

    Types with evidence claim alerts in the file's order (an alert goes to the first type that claims it and whose
    evidence holds around the onset of the alerts it claims); an alert no such type claims joins the part it is
    related to in the service map (or shares an edge location with), the nearest in time, else the nearest in
    time. With fewer than two types claiming, the incident stays whole."""
    if isinstance(frame, EvidenceFrame):  # one read for every onset of the tick
        frame.prefetch([a.start for inc in incidents for a in inc.alerts])
    out: list[Incident] = []
    for inc in incidents:
        for part in _parts(inc, types, frame, smap):
            part.cause, part.cause_evidence = classify(part, types, frame)
            out.append(_rooted(part, types, smap))
    return sorted(out, key=lambda i: (i.start, i.id))


def _rooted(inc: Incident, types: list[CauseType], smap: ServiceMap) -> Incident:
    """``inc`` rooted on its cause: when its type names components and the root is on none of them, the deepest
    alert the type claims becomes the root (and the id follows). Before the evidence for a second fault exists, an
    incident holding both is one incident: a cold-start storm with an akidb-rest anomaly that began with it is typed
    a storm and must not be paged as rooted at akidb-rest; once split, the storm's part has the same root and id."""
    t = next((t for t in types if t.type == inc.cause), None)
    if t is None or not t.components or inc.root.component in t.components:
        return inc
    part = build_incident(inc.alerts, smap, root_among=lambda a: claims(t, a))
    part.cause, part.cause_evidence = inc.cause, inc.cause_evidence
    return part


def _own(t: CauseType, claimed: list[Alert]) -> list[Alert]:
    """The alerts ``t`` claims that can be its own: none that began more than ``ROOT_LEAD`` before its first alert
    on the type's first component, where the fault itself shows (a cause does not start after its effects). A game
    day's spot cascade raised CloudFront's error rate nine minutes before a cold-start storm began; the storm claimed
    that CloudFront alert too, its part started and was rooted there, and its page named CloudFront."""
    origin = min((a.start for a in claimed if t.components and a.component == t.components[0]), default=None)
    return claimed if origin is None else [a for a in claimed if a.start >= origin - ROOT_LEAD]


def _parts(inc: Incident, types: list[CauseType], frame: Frame, smap: ServiceMap) -> list[Incident]:
    groups: list[list[Alert]] = []
    free = list(inc.alerts)
    for t in types:
        mine = _own(t, [a for a in free if claims(t, a)])
        if t.evidence and mine and _evidence(t, mine, frame) is not None:
            groups.append(mine)
            free = [a for a in free if not any(a is b for b in mine)]
    if len(groups) < 2:
        return [inc]

    def near(a: Alert, k: int) -> tuple:
        related = any(smap.related(a.component, b.component) or
                      (a.edge_location != "all" and a.edge_location == b.edge_location) for b in groups[k])
        return not related, min(abs((a.start - b.start).total_seconds()) for b in groups[k]), k

    for a in free:
        groups[min(range(len(groups)), key=lambda k: near(a, k))].append(a)
    return [build_incident(g, smap) for g in groups]
