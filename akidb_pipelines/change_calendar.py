"""The change calendar: incidents (post-mortem windows), deploys and maintenance windows, in one YAML file.

One calendar feeds every consumer: forecast training leaves its windows out (an outage must not teach a model
that outages are normal), and later the alerting uses it for maintenance silences and runbook freezes.

    entries:
      - {id: spot-2026-11-03, kind: incident, start: 2026-11-03T10:17:00Z, end: 2026-11-03T10:25:00Z,
         tiers: [akidb-rest], note: "spot interruption cascade"}

``tiers`` empty or missing: the entry concerns every tier. The file is ``$AKIDB_CHANGE_CALENDAR`` (default
``$AKIDB_HOME/change_calendar.yaml``). The default file may be absent (an empty calendar); a file the variable
names must exist (a typo in the path must not silently lift every change freeze).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from akidb_pipelines.config import akidb_home, config_file
from akidb_pipelines.config.loader import ConfigError, Fields, load_yaml

KINDS = ("incident", "deploy", "maintenance")
FIELDS = ("id", "kind", "start", "end", "tiers", "note")


class CalendarError(ConfigError):
    pass


@dataclass(frozen=True)
class CalendarEntry:
    id: str
    kind: str
    start: datetime
    end: datetime
    tiers: tuple[str, ...] = ()
    note: str = ""

    def applies_to(self, tier: str) -> bool:
        return not self.tiers or tier in self.tiers


def _time(v: object, where: str) -> datetime:
    if isinstance(v, datetime):
        t = v
    elif isinstance(v, str):
        try:
            t = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise CalendarError(f"{where}: not an ISO timestamp: {v!r}") from None
    else:
        raise CalendarError(f"{where}: expected an ISO timestamp, got {v!r}")
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def default_path() -> Path:
    return config_file("AKIDB_CHANGE_CALENDAR", akidb_home() / "change_calendar.yaml")[0]


def load_calendar(path: str | os.PathLike[str] | None = None) -> list[CalendarEntry]:
    """The entries of ``path``, else ``$AKIDB_CHANGE_CALENDAR`` (which must exist), else the default file (empty
    when absent; so is a ``path`` given that does not exist). Every key is checked; CalendarError names the file
    and the field."""
    p, var = config_file("AKIDB_CHANGE_CALENDAR", akidb_home() / "change_calendar.yaml", path)
    if var is None and not p.exists():
        return []
    doc = Fields(load_yaml(p, CalendarError, named_by=var) or {}, str(p), CalendarError, ("entries",), top=True)
    out = []
    for i, item in enumerate(doc.list("entries", [])):
        e = Fields(item, f"{p}: entries[{i}]", CalendarError, FIELDS)
        kind = e.one_of("kind", KINDS)
        start, end = _time(e.get("start"), e.at("start")), _time(e.get("end"), e.at("end"))
        if end <= start:
            raise CalendarError(f"{e.where}: end {end.isoformat()} is not after start {start.isoformat()}")
        out.append(CalendarEntry(e.str("id", f"{kind}-{i}"), kind, start, end, tuple(e.str_list("tiers", [])),
                                 e.str("note", "")))
    return out


def write_calendar(path: str | os.PathLike[str], entries: list[CalendarEntry]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"entries": [{"id": e.id, "kind": e.kind, "start": e.start.isoformat().replace("+00:00", "Z"),
                        "end": e.end.isoformat().replace("+00:00", "Z"), "tiers": list(e.tiers), "note": e.note}
                       for e in entries]}
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def exclusions(entries: list[CalendarEntry], tier: str) -> list[tuple[datetime, datetime]]:
    """The [start, end) windows a model of ``tier`` must not learn from."""
    return [(e.start, e.end) for e in entries if e.applies_to(tier)]


def from_ground_truth(gt: dict) -> list[CalendarEntry]:
    """The synthetic generator's ground truth as a calendar (what an SRE would record after the fact): every
    incident for all tiers (its symptoms travel upstream), every deploy for the tiers it touched."""
    out = [CalendarEntry(f"incident-{i['id']}", "incident", _time(i["start"], "start"), _time(i["end"], "end"),
                         (), i.get("description", "")) for i in gt.get("incidents", [])]
    out += [CalendarEntry(f"deploy-{n}", "deploy", _time(d["start"], "start"), _time(d["end"], "end"),
                          tuple(d.get("components", ())), "weekday deploy")
            for n, d in enumerate(gt.get("deploys", []))]
    return out
