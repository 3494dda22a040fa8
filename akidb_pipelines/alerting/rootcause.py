"""Root-cause types: name what kind of fault an incident is (``config/root_causes.yaml``).

The service map says *where* the root is (the most downstream alert); the type says *what* it is, from the alerts
and from evidence in the golden signals around the onset: spot instances reclaimed (the capacity EMF's instance
lifecycle), a Lambda@Edge cold-start storm, the LSTM predictor over-provisioning, a downstream dependency. Runbooks
trigger on the type, so a deploy blip on akidb-rest does not scale up on-demand capacity the way a spot
interruption does. One DuckDB query per tick fetches every evidence signal for the whole window.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from akidb_pipelines.alerting.correlate import Incident
from akidb_pipelines.alerting.golden_columns import GOLDEN, metric_expr
from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, expect_list, load_yaml
from akidb_pipelines.storage import Lake

DEFAULT_PATH = shipped_config("root_causes.yaml")
BEFORE, AFTER, BASELINE = timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=60)
UNCLASSIFIED = "unclassified"
FIELDS = ("type", "description", "components", "alerts", "evidence", "min_severity")
EVIDENCE_FIELDS = ("tier", "metric", "change", "by", "at_least", "aggregate")
MATCH_FIELDS = ("source", "rule", "component", "direction")


class RootCauseConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class CauseType:
    type: str
    description: str = ""
    components: tuple[str, ...] = ()
    alerts: tuple[dict[str, str], ...] = ()
    evidence: dict[str, Any] | None = None
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


def _load_evidence(v: object, w: str) -> dict[str, Any]:
    e = Fields(v, w, RootCauseConfigError, EVIDENCE_FIELDS)
    out = {"tier": e.str("tier"), "metric": metric_expr(e.get("metric"), f"{w}.metric", RootCauseConfigError),
           "change": e.one_of("change", ("drop", "rise")), "by": e.number("by", positive=True),
           "aggregate": e.one_of("aggregate", ("sum", "max"), "sum")}
    if "at_least" in e:
        out["at_least"] = e.number("at_least", minimum=0)
    if out["change"] == "drop" and out["by"] > 1:
        raise RootCauseConfigError(f"{w}.by: a drop is a share up to 1 (0.2 = fell by 20%), got {out['by']!r}")
    if out["change"] == "rise" and out["by"] <= 1:
        raise RootCauseConfigError(f"{w}.by: a rise is a factor above 1 (3 = tripled), got {out['by']!r}")
    return out


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
        ev = _load_evidence(t.get("evidence"), f"{w}.evidence") if t.get("evidence") is not None else None
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
    for a in inc.alerts:
        fields = {"source": a.source, "rule": a.rule, "component": a.component,
                  "direction": dict(a.context).get("direction")}
        if any(all(str(fields.get(k)) == str(v) for k, v in m.items()) for m in matchers):
            return True
    return False


def evidence_frame(lake: Lake, types: list[CauseType], start: datetime, end: datetime) -> dict[tuple[str, str], dict]:
    """{(tier, metric): {minute: value}} for every evidence signal over [start - the baseline, end)."""
    wanted = sorted({(t.evidence["tier"], t.evidence["metric"], t.evidence.get("aggregate", "sum"))
                     for t in types if t.evidence})
    out: dict[tuple[str, str], dict] = {(t, m): {} for t, m, _ in wanted}
    if not wanted:
        return out
    metrics = sorted({(m, agg) for _, m, agg in wanted})
    rows = lake.query_table(GOLDEN, f"""
        SELECT tier, minute, {', '.join(f'{agg}({m}) AS m{i}' for i, (m, agg) in enumerate(metrics))} FROM {{src}}
        WHERE minute >= ? AND minute < ? AND tier IN ({', '.join('?' * len({t for t, _, _ in wanted}))})
        GROUP BY ALL""", [start - BASELINE - BEFORE, end, *sorted({t for t, _, _ in wanted})])
    for tier, minute, *values in rows:
        for (m, _), v in zip(metrics, values, strict=True):
            if (tier, m) in out and v is not None:
                out[(tier, m)][minute] = float(v)
    return out


def _evidence(ev: dict, inc: Incident, frame: dict[tuple[str, str], dict]) -> str | None:
    series = frame.get((ev["tier"], ev["metric"]), {})
    onset = inc.start
    base = [v for t, v in series.items() if onset - BEFORE - BASELINE <= t < onset - BEFORE]
    win = [v for t, v in series.items() if onset - BEFORE <= t <= onset + AFTER]
    if len(base) < 10 or not win:
        return None
    med = statistics.median(base)
    if ev["change"] == "drop":
        low = min(win)
        if med > 0 and low <= med * (1 - ev["by"]):
            return f"{ev['tier']} {ev['metric']} fell from {med:g} to {low:g}"
    else:
        high = max(win)
        if high > 0 and high >= max(med, 1e-9) * ev["by"] and high >= float(ev.get("at_least", 0)):
            return f"{ev['tier']} {ev['metric']} rose from {med:g} to {high:g}"
    return None


def classify(inc: Incident, types: list[CauseType], frame: dict[tuple[str, str], dict]) -> tuple[str, str]:
    """(type, why) of the first type whose conditions hold, else (``unclassified``, '')."""
    t, why = _classify(inc, types, frame)
    return (t.type, why) if t else (UNCLASSIFIED, "")


def severity_floor(cause: str, types: list[CauseType]) -> str | None:
    """The least severity an incident of ``cause`` pages with: the type's evidence in the golden signals
    corroborates what may be a single anomalous series (one edge location's P95, the capacity ratio)."""
    return next((t.min_severity for t in types if t.type == cause), None)


def _classify(inc: Incident, types: list[CauseType],
              frame: dict[tuple[str, str], dict]) -> tuple[CauseType | None, str]:
    components = {a.component for a in inc.alerts}
    for t in types:
        if t.components and not components & set(t.components):
            continue
        if t.alerts and not alert_matches(inc, t.alerts):
            continue
        why = "matching alerts" if t.alerts else f"alerts on {', '.join(sorted(components & set(t.components)))}"
        if t.evidence:
            found = _evidence(t.evidence, inc, frame)
            if found is None:
                continue
            why = found
        return t, why
    return None, ""
