"""The change calendar: incidents (post-mortem windows), deploys and maintenance windows, in one YAML file.

One calendar feeds every consumer: forecast training leaves its windows out (an outage must not teach a model
that outages are normal), and later the alerting uses it for maintenance silences and runbook freezes.

    entries:
      - {id: spot-2026-11-03, kind: incident, start: 2026-11-03T10:17:00Z, end: 2026-11-03T10:25:00Z,
         tiers: [akidb-rest], note: "spot interruption cascade"}

``tiers`` empty or missing: the entry concerns every tier. The file is ``$AKIDB_CHANGE_CALENDAR`` (default
``$AKIDB_HOME/change_calendar.yaml``); a missing file is an empty calendar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from akidb_pipelines.config import akidb_home, config_path
from akidb_pipelines.config.loader import (ConfigError, expect_list, expect_mapping, expect_one_of, load_yaml,
                                          refuse_unknown)

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
    return config_path("AKIDB_CHANGE_CALENDAR", akidb_home() / "change_calendar.yaml")


def load_calendar(path: str | os.PathLike[str] | None = None) -> list[CalendarEntry]:
    p = Path(path) if path else default_path()
    if not p.exists():
        return []
    data = load_yaml(p, CalendarError) or {}
    items = expect_list(expect_mapping(data, str(p), CalendarError).get("entries", []), f"{p}: entries", CalendarError)
    out = []
    for i, e in enumerate(items):
        w = f"{p}: entries[{i}]"
        expect_mapping(e, w, CalendarError)
        refuse_unknown(e, FIELDS, w, CalendarError)
        expect_one_of(e.get("kind"), KINDS, f"{w}.kind", CalendarError)
        start, end = _time(e.get("start"), f"{w}.start"), _time(e.get("end"), f"{w}.end")
        if end <= start:
            raise CalendarError(f"{w}: end {end.isoformat()} is not after start {start.isoformat()}")
        tiers = e.get("tiers") or []
        if not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers):
            raise CalendarError(f"{w}.tiers: expected a list of tier names")
        out.append(CalendarEntry(str(e.get("id") or f"{e['kind']}-{i}"), e["kind"], start, end, tuple(tiers),
                                 str(e.get("note", ""))))
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
