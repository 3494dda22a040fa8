"""Incidents injected into the live feed on demand: ``akidb inject TYPE`` appends one to the queue, the feed reads it.

An injection starts at the next whole minute (the feed has not written it yet) and takes its magnitude, duration,
components and edge locations from the seed incident of its type in the default scenario unless told otherwise; it
is validated by the same parser as scenario files, so a bad magnitude or an unknown edge is a one-line error.
The queue is ``<live home>/injections.jsonl``, one JSON object a line, appended atomically (a short line in one
write), so ``akidb inject`` and a running ``akidb live`` need no lock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from akidb_pipelines.synthetic.scenario import DEFAULT_SCENARIO, INCIDENT_TYPES, ScenarioError, parse_scenario

QUEUE = "injections.jsonl"
# The short names a person types; the scenario's type names work too.
ALIASES = {"spot": "spot_interruption_cascade", "storm": "lambda_edge_cold_start_storm",
           "lstm": "lstm_false_positive_cascade"}


@dataclass(frozen=True)
class Injection:
    id: str
    type: str
    onset: datetime
    duration_minutes: int
    magnitude: dict[str, float]
    components: tuple[str, ...]
    edge_locations: tuple[str, ...] = ()
    requested_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def incident_doc(self) -> dict[str, Any]:
        """The injection as a scenario incident (what the generator takes)."""
        doc: dict[str, Any] = {"id": self.id, "type": self.type, "start": self.onset.isoformat(),
                               "duration_minutes": self.duration_minutes, "magnitude": dict(self.magnitude),
                               "components": list(self.components)}
        if self.edge_locations:
            doc["edge_locations"] = list(self.edge_locations)
        return doc

    def to_json(self) -> str:
        return json.dumps({**self.incident_doc(), "requested_at": self.requested_at.isoformat()}, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Injection:
        return cls(doc["id"], doc["type"], datetime.fromisoformat(doc["start"]), int(doc["duration_minutes"]),
                   {k: float(v) for k, v in doc["magnitude"].items()}, tuple(doc["components"]),
                   tuple(doc.get("edge_locations") or ()), datetime.fromisoformat(doc["requested_at"]))


def seed_incidents() -> dict[str, dict[str, Any]]:
    """The default scenario's incidents by type: the defaults of an injection."""
    doc = yaml.safe_load(Path(DEFAULT_SCENARIO).read_text())
    return {item["type"]: item for item in doc["incidents"]}


def type_of(name: str) -> str:
    t = ALIASES.get(name, name)
    if t not in INCIDENT_TYPES:
        raise ScenarioError(f"incident type {name!r}: choose from {', '.join(sorted(ALIASES))} or "
                            f"{', '.join(sorted(INCIDENT_TYPES))}")
    return t


def next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def make_injection(kind: str, now: datetime, magnitude: dict[str, float] | None = None,
                   duration_minutes: int | None = None, edges: list[str] | None = None,
                   onset: datetime | None = None) -> Injection:
    """An injection of ``kind`` starting at ``onset`` (default: the minute after ``now``), validated."""
    t = type_of(kind)
    seed = seed_incidents()[t]
    at = onset or next_minute(now)
    doc = {"id": f"live-{t.split('_')[0]}-{at:%Y%m%dT%H%M}", "type": t, "start": at.isoformat(),
           "duration_minutes": duration_minutes or seed["duration_minutes"],
           "magnitude": {**seed["magnitude"], **(magnitude or {})}, "components": seed["components"]}
    if edges or seed.get("edge_locations"):
        doc["edge_locations"] = list(edges or seed["edge_locations"])
    inc = parse_scenario({"incidents": [doc]}, at, "inject").incidents[0]
    return Injection(inc.id, inc.type, inc.start, inc.duration_minutes, dict(inc.magnitude), inc.components,
                     inc.edge_locations, now)


def enqueue(home: Path, inj: Injection) -> None:
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / QUEUE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (inj.to_json() + "\n").encode())
    finally:
        os.close(fd)


def read_queue(home: Path) -> list[Injection]:
    """Every injection so far (a line that does not parse, e.g. one being written, is skipped until it does)."""
    path = home / QUEUE
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(Injection.from_doc(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def parse_schedule(spec: str) -> tuple[str, float]:
    """``TYPE@+MIN`` (``--inject spot@+3``): the type and the minutes after the first live minute."""
    kind, sep, when = spec.partition("@")
    if not sep or not when.startswith("+"):
        raise ScenarioError(f"--inject {spec!r}: write TYPE@+MINUTES, e.g. spot@+3")
    try:
        minutes = float(when[1:])
    except ValueError:
        raise ScenarioError(f"--inject {spec!r}: {when[1:]!r} is not a number of minutes") from None
    if minutes < 0:
        raise ScenarioError(f"--inject {spec!r}: the minutes must not be negative")
    return type_of(kind), minutes
