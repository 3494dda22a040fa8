"""Incident scenarios: a YAML file of incidents (type, start, duration, magnitude, components) plus deploy blips.

Times are either absolute ISO-8601 UTC timestamps or offsets from the generation start written ``"<days>d HH:MM"``,
so one scenario file works for any start date. Every error names the file and the field at fault.
"""

from __future__ import annotations

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


_OFFSET = re.compile(r"^\s*(\d+)d\s+(\d{1,2}):(\d{2})\s*$")


def _parse_time(value: Any, start: datetime, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected '<days>d HH:MM' or an ISO-8601 time, got {value!r}")
    m = _OFFSET.match(value)
    if m:
        days, hh, mm = (int(g) for g in m.groups())
        if hh > 23 or mm > 59:
            raise ScenarioError(f"{where}: {value!r} is not a valid time of day")
        return start + timedelta(days=days, hours=hh, minutes=mm)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{where}: expected '<days>d HH:MM' or an ISO-8601 time, got {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def parse_scenario(doc: Any, start: datetime, source: str = "<memory>") -> Scenario:
    """Validate a scenario document and resolve its times against ``start`` (UTC)."""
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: the scenario must be a mapping with 'incidents'")
    unknown = set(doc) - {"name", "description", "incidents", "deploys", "events"}
    if unknown:
        raise ScenarioError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
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
            raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}")
        itype = INCIDENT_TYPES.get(item.get("type"))
        if itype is None:
            raise ScenarioError(f"{where}.type: {item.get('type')!r} is not one of {sorted(INCIDENT_TYPES)}")
        iid = str(item.get("id") or f"{itype.name}-{i + 1}")
        if iid in seen:
            raise ScenarioError(f"{where}.id: duplicate id {iid!r}")
        seen.add(iid)
        if "start" not in item:
            raise ScenarioError(f"{where}.start: missing")
        t0 = _parse_time(item["start"], start, f"{where}.start")
        dur = item.get("duration_minutes")
        if not isinstance(dur, int) or isinstance(dur, bool) or dur <= 0:
            raise ScenarioError(f"{where}.duration_minutes: must be a positive integer, got {dur!r}")
        mag = item.get("magnitude") or {}
        if not isinstance(mag, dict):
            raise ScenarioError(f"{where}.magnitude: must be a mapping")
        for key, (lo, hi) in itype.required.items():
            v = mag.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(f"{where}.magnitude.{key}: required number for {itype.name}, got {v!r}")
            if not lo <= v <= hi:
                raise ScenarioError(f"{where}.magnitude.{key}: {v} is outside [{lo}, {hi}]")
        extra = set(mag) - set(itype.required)
        if extra:
            raise ScenarioError(f"{where}.magnitude: unknown key(s) {sorted(extra)} for {itype.name}")
        comps = tuple(item.get("components") or itype.components)
        bad = [c for c in comps if c not in TIERS or c not in itype.components]
        if bad:
            raise ScenarioError(f"{where}.components: {bad} not allowed for {itype.name} (allowed {list(itype.components)})")
        edges = tuple(item.get("edge_locations") or ())
        if itype.needs_edge_locations and not edges:
            raise ScenarioError(f"{where}.edge_locations: {itype.name} needs at least one edge location")
        bad = [e for e in edges if e not in EDGE_LOCATIONS]
        if bad:
            raise ScenarioError(f"{where}.edge_locations: unknown {bad} (known: {list(EDGE_LOCATIONS)})")
        t0 = t0.replace(second=0, microsecond=0)
        incidents.append(
            Incident(iid, itype.name, t0, t0 + timedelta(minutes=dur), {k: float(v) for k, v in mag.items()}, comps, edges)
        )
    deploys_doc = doc.get("deploys") or {}
    if not isinstance(deploys_doc, dict):
        raise ScenarioError(f"{source}: 'deploys' must be a mapping")
    try:
        deploys = DeployPolicy(**deploys_doc)
    except TypeError as e:
        raise ScenarioError(f"{source}: deploys: {e}") from None
    if deploys.weekdays_at is not None and not re.match(r"^\d{1,2}:\d{2}$", str(deploys.weekdays_at)):
        raise ScenarioError(f"{source}: deploys.weekdays_at: expected HH:MM, got {deploys.weekdays_at!r}")
    events = []
    for i, item in enumerate(doc.get("events") or []):
        where = f"{source}: events[{i}]"
        if not isinstance(item, dict) or set(item) - {"id", "type", "start", "duration_minutes", "factor"}:
            raise ScenarioError(f"{where}: a mapping of id, type, start, duration_minutes, factor")
        if item.get("type") not in NOISE_TYPES:
            raise ScenarioError(f"{where}.type: {item.get('type')!r} is not one of {sorted(NOISE_TYPES)}")
        lo, hi = NOISE_TYPES[item["type"]]
        factor = item.get("factor")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not lo <= factor <= hi:
            raise ScenarioError(f"{where}.factor: expected a number in [{lo}, {hi}] for {item['type']}")
        dur = item.get("duration_minutes")
        if isinstance(dur, bool) or not isinstance(dur, int) or dur < 1:
            raise ScenarioError(f"{where}.duration_minutes: expected a positive integer")
        t0 = _parse_time(item.get("start"), start, f"{where}.start").replace(second=0, microsecond=0)
        events.append(NoiseEvent(str(item.get("id") or f"{item['type']}-{i}"), item["type"], t0,
                                 t0 + timedelta(minutes=dur), float(factor)))
    return Scenario(str(doc.get("name") or Path(source).stem), tuple(sorted(incidents, key=lambda x: x.start)), deploys,
                    source, tuple(sorted(events, key=lambda x: x.start)))


def load_scenario(path: str | Path | None, start: datetime) -> Scenario:
    """Read a scenario YAML (the shipped default when ``path`` is None)."""
    p = Path(path) if path else DEFAULT_SCENARIO
    return parse_scenario(load_yaml(p, ScenarioError), start, str(p))
