"""Incident scenarios: a YAML file of incidents (type, start, duration, magnitude, components) plus deploy blips.

Times are either absolute ISO-8601 UTC timestamps or offsets from the generation start written ``"<days>d HH:MM"``,
so one scenario file works for any start date. Every error names the file and the field at fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from akidb_pipelines.config.loader import ConfigError, load_yaml
from akidb_pipelines.synthetic.topology import EDGE_LOCATIONS, TIERS

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yaml"


class ScenarioError(ConfigError):
    """A scenario file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class IncidentType:
    name: str
    required: dict[str, tuple[float, float]]  # magnitude key -> allowed (min, max)
    components: tuple[str, ...]               # components it may hit
    needs_edge_locations: bool = False
    description: str = ""


INCIDENT_TYPES: dict[str, IncidentType] = {
    t.name: t
    for t in (
        IncidentType(
            "spot_interruption_cascade",
            {"error_rate": (0.0, 1.0), "instances_lost": (0, 1000)},
            ("akidb-rest",),
            description="Spot instances reclaimed; the survivors shed load with 503s.",
        ),
        IncidentType(
            "lambda_edge_cold_start_storm",
            {"p95_ms": (1.0, 60_000.0)},
            ("lambda-edge",),
            needs_edge_locations=True,
            description="Lambda@Edge cold starts at some edge locations push P95 latency up.",
        ),
        IncidentType(
            "lstm_false_positive_cascade",
            {"overprovision_pct": (1.0, 10_000.0)},
            ("akidb-rest",),
            description="The LSTM predictor forecasts a surge that never comes: capacity and cost balloon.",
        ),
    )
}


@dataclass(frozen=True)
class Incident:
    id: str
    type: str
    start: datetime
    end: datetime  # exclusive
    magnitude: dict[str, float]
    components: tuple[str, ...]
    edge_locations: tuple[str, ...] = ()

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def to_ground_truth(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "duration_minutes": self.duration_minutes,
            "magnitude": dict(self.magnitude),
            "components": list(self.components),
            "edge_locations": list(self.edge_locations),
            "description": INCIDENT_TYPES[self.type].description,
        }


@dataclass(frozen=True)
class DeployPolicy:
    """Deploys at a fixed time on weekdays: a short latency and error blip that is *not* an incident."""

    weekdays_at: str | None = "14:00"
    duration_minutes: int = 2
    latency_factor: float = 1.15
    error_rate: float = 0.0005


NOISE_TYPES = {"traffic_surge": (1.0, 20.0), "holiday_dip": (0.05, 1.0)}  # demand factor bounds


@dataclass(frozen=True)
class NoiseEvent:
    """Something that changes the telemetry but is *not* an incident (a marketing surge, a holiday): detectors
    must not page on it. ``factor`` multiplies demand (all traffic) for the duration."""

    id: str
    type: str
    start: datetime
    end: datetime
    factor: float

    def to_ground_truth(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "start": self.start.isoformat().replace("+00:00", "Z"),
                "end": self.end.isoformat().replace("+00:00", "Z"), "factor": self.factor, "incident": False}


@dataclass(frozen=True)
class Scenario:
    name: str
    incidents: tuple[Incident, ...]
    deploys: DeployPolicy = field(default_factory=DeployPolicy)
    source: str = "<memory>"
    events: tuple[NoiseEvent, ...] = ()


_OFFSET = re.compile(r"^\s*(\d{1,4})d\s+(\d{1,2}):(\d{2})\s*$")
MAX_DURATION_MINUTES = 366 * 24 * 60
MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)


def shown(v: Any) -> str:
    """A value as an error message shows it: short, on one line."""
    if v is None:
        return "nothing"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _parse_time(value: Any, start: datetime, where: str) -> datetime:
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif not isinstance(value, str):
        raise ScenarioError(f"{where}: expected '<days>d HH:MM' or an ISO-8601 time, got {shown(value)}")
    elif m := _OFFSET.match(value):
        days, hh, mm = (int(g) for g in m.groups())
        if hh > 23 or mm > 59:
            raise ScenarioError(f"{where}: {value!r} is not a valid time of day")
        try:
            t = start + timedelta(days=days, hours=hh, minutes=mm)
        except OverflowError:
            raise ScenarioError(f"{where}: {value!r} is too far from the start") from None
    else:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(f"{where}: expected '<days>d HH:MM' or an ISO-8601 time, got {shown(value)}") from None
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    try:
        ok = MIN_TIME <= t < MAX_TIME
    except OverflowError:  # pragma: no cover - an offset so extreme it cannot be compared
        ok = False
    if not ok:
        raise ScenarioError(f"{where}: {shown(value)} is outside {MIN_TIME:%Y} .. {MAX_TIME:%Y}")
    return t


def _duration(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DURATION_MINUTES:
        raise ScenarioError(f"{where}: must be a positive integer of at most {MAX_DURATION_MINUTES} "
                            f"(a year), got {shown(value)}")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: expected a list of names, got {shown(value)}")
    return tuple(value)


def _id(value: Any, default: str, where: str) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).isprintable():
        raise ScenarioError(f"{where}: expected a one-line name, got {shown(value)}")
    return str(value)


def _inside(t0: datetime, t1: datetime, within: tuple[datetime, datetime] | None, where: str) -> None:
    """Refuse a window that does not lie inside ``within`` (the scenario's days), naming the field at fault."""
    if within is None:
        return
    lo, hi = within
    span = f"the scenario's days ({lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M}Z)"
    if not lo <= t0 < hi:
        raise ScenarioError(f"{where}.start: {t0:%Y-%m-%d %H:%M}Z is outside {span}")
    if t1 > hi:
        raise ScenarioError(f"{where}.duration_minutes: ends {t1:%Y-%m-%d %H:%M}Z, outside {span}")


def _deploys(doc: Any, source: str) -> DeployPolicy:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: 'deploys' must be a mapping")
    unknown = set(doc) - {"weekdays_at", "duration_minutes", "latency_factor", "error_rate"}
    if unknown:
        raise ScenarioError(f"{source}: deploys: unknown field(s) {sorted(map(str, unknown))}")
    d = DeployPolicy()
    at = doc.get("weekdays_at", d.weekdays_at)
    m = re.match(r"^(\d{1,2}):(\d{2})$", at) if isinstance(at, str) else None
    if at is not None and (m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59):
        raise ScenarioError(f"{source}: deploys.weekdays_at: expected HH:MM, got {shown(at)}")
    dur = doc.get("duration_minutes", d.duration_minutes)
    if isinstance(dur, bool) or not isinstance(dur, int) or not 0 < dur <= 24 * 60:
        raise ScenarioError(f"{source}: deploys.duration_minutes: expected an integer in 1 .. 1440, got {shown(dur)}")
    for key, lo, hi in (("latency_factor", 0.0, 100.0), ("error_rate", 0.0, 1.0)):
        v = doc.get(key, getattr(d, key))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise ScenarioError(f"{source}: deploys.{key}: expected a number in [{lo:g}, {hi:g}], got {shown(v)}")
    return DeployPolicy(at, dur, float(doc.get("latency_factor", d.latency_factor)),
                        float(doc.get("error_rate", d.error_rate)))


def parse_scenario(doc: Any, start: datetime, source: str = "<memory>",
                   within: tuple[datetime, datetime] | None = None) -> Scenario:
    """Validate a scenario document and resolve its times against ``start`` (UTC). With ``within`` (a chaos
    scenario's days), an incident or event that does not lie inside it is refused, naming the field."""
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: the scenario must be a mapping with 'incidents'")
    unknown = set(doc) - {"name", "description", "incidents", "deploys", "events"}
    if unknown:
        raise ScenarioError(f"{source}: unknown top-level field(s) {sorted(map(str, unknown))}")
    raw_incidents = doc.get("incidents") or []
    if not isinstance(raw_incidents, list):
        raise ScenarioError(f"{source}: 'incidents' must be a list")
    incidents: list[Incident] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_incidents):
        where = f"{source}: incidents[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        unknown = set(item) - {"id", "type", "start", "duration_minutes", "magnitude", "components", "edge_locations"}
        if unknown:
            raise ScenarioError(f"{where}: unknown field(s) {sorted(map(str, unknown))}")
        itype = INCIDENT_TYPES.get(item.get("type")) if isinstance(item.get("type"), str) else None
        if itype is None:
            raise ScenarioError(f"{where}.type: {shown(item.get('type'))} is not one of {sorted(INCIDENT_TYPES)}")
        iid = _id(item.get("id"), f"{itype.name}-{i + 1}", f"{where}.id")
        if iid in seen:
            raise ScenarioError(f"{where}.id: duplicate id {iid!r}")
        seen.add(iid)
        if "start" not in item:
            raise ScenarioError(f"{where}.start: missing")
        t0 = _parse_time(item["start"], start, f"{where}.start")
        dur = _duration(item.get("duration_minutes"), f"{where}.duration_minutes")
        mag = item.get("magnitude") or {}
        if not isinstance(mag, dict):
            raise ScenarioError(f"{where}.magnitude: must be a mapping")
        for key, (lo, hi) in itype.required.items():
            v = mag.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(f"{where}.magnitude.{key}: required number for {itype.name}, got {shown(v)}")
            if not lo <= v <= hi:  # NaN compares false: refused too
                raise ScenarioError(f"{where}.magnitude.{key}: {v} is outside [{lo}, {hi}]")
        extra = set(mag) - set(itype.required)
        if extra:
            raise ScenarioError(f"{where}.magnitude: unknown key(s) {sorted(map(str, extra))} for {itype.name}")
        comps = _names(item.get("components"), f"{where}.components") or itype.components
        bad = [c for c in comps if c not in TIERS or c not in itype.components]
        if bad:
            raise ScenarioError(f"{where}.components: {bad} not allowed for {itype.name} (allowed {list(itype.components)})")
        edges = _names(item.get("edge_locations"), f"{where}.edge_locations")
        if itype.needs_edge_locations and not edges:
            raise ScenarioError(f"{where}.edge_locations: {itype.name} needs at least one edge location")
        bad = [e for e in edges if e not in EDGE_LOCATIONS]
        if bad:
            raise ScenarioError(f"{where}.edge_locations: unknown {bad} (known: {list(EDGE_LOCATIONS)})")
        t0 = t0.replace(second=0, microsecond=0)
        _inside(t0, t0 + timedelta(minutes=dur), within, where)
        incidents.append(
            Incident(iid, itype.name, t0, t0 + timedelta(minutes=dur), {k: float(v) for k, v in mag.items()}, comps, edges)
        )
    deploys = _deploys(doc.get("deploys") or {}, source)
    raw_events = doc.get("events") or []
    if not isinstance(raw_events, list):
        raise ScenarioError(f"{source}: 'events' must be a list")
    events = []
    for i, item in enumerate(raw_events):
        where = f"{source}: events[{i}]"
        if not isinstance(item, dict) or set(item) - {"id", "type", "start", "duration_minutes", "factor"}:
            raise ScenarioError(f"{where}: a mapping of id, type, start, duration_minutes, factor")
        if not isinstance(item.get("type"), str) or item["type"] not in NOISE_TYPES:
            raise ScenarioError(f"{where}.type: {shown(item.get('type'))} is not one of {sorted(NOISE_TYPES)}")
        lo, hi = NOISE_TYPES[item["type"]]
        factor = item.get("factor")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not lo <= factor <= hi:
            raise ScenarioError(f"{where}.factor: expected a number in [{lo}, {hi}] for {item['type']}")
        dur = item.get("duration_minutes")
        if isinstance(dur, bool) or not isinstance(dur, int) or not 0 < dur <= MAX_DURATION_MINUTES:
            raise ScenarioError(f"{where}.duration_minutes: expected a positive integer of at most "
                                f"{MAX_DURATION_MINUTES} (a year)")
        t0 = _parse_time(item.get("start"), start, f"{where}.start").replace(second=0, microsecond=0)
        _inside(t0, t0 + timedelta(minutes=dur), within, where)
        events.append(NoiseEvent(_id(item.get("id"), f"{item['type']}-{i}", f"{where}.id"), item["type"], t0,
                                 t0 + timedelta(minutes=dur), float(factor)))
    name = doc.get("name")
    return Scenario(str(name) if isinstance(name, (str, int)) and name != "" else Path(source).stem,
                    tuple(sorted(incidents, key=lambda x: x.start)), deploys,
                    source, tuple(sorted(events, key=lambda x: x.start)))


def load_scenario(path: str | Path | None, start: datetime) -> Scenario:
    """Read a scenario YAML (the shipped default when ``path`` is None)."""
    p = Path(path) if path else DEFAULT_SCENARIO
    return parse_scenario(load_yaml(p, ScenarioError), start, str(p))
