"""Which hour partitions to (re-)ingest now: a pure function of what is observed and the sensor's cursor.

Landing zone: each (kind, hour) has a signature of its files; an hour whose signature changed since the cursor is
re-ingested (re-ingesting an hour replaces it, so a growing current hour is picked up minute by minute).
APIs: there is nothing to observe cheaply, so the open hour is re-ingested every minute, and the previous hour too
for ``late_minutes`` after it closes (late segments and log events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from akidb_pipelines.storage.lake import PartitionKey

# The `akidb/trigger` tag of a detection run: the newest hour's whole chain, or an older hour's catch-up (late files)
NEW_TELEMETRY = "new telemetry"
LATE_TELEMETRY = "late telemetry"


@dataclass(frozen=True)
class Request:
    kind: str
    partition: PartitionKey
    run_key: str


def load_cursor(text: str | None) -> dict[str, dict[str, str]]:
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def plan_landing(observed: dict[str, dict[PartitionKey, str]], cursor: dict[str, dict[str, str]],
                 keep: set[PartitionKey]) -> tuple[list[Request], dict[str, dict[str, str]]]:
    """``observed[kind][hour] = signature``; returns requests for changed hours and the new cursor.

    The cursor only remembers hours in ``keep`` (the look-back window), so it stays small.
    """
    requests: list[Request] = []
    new: dict[str, dict[str, str]] = {}
    for kind in sorted(observed):
        seen = cursor.get(kind, {})
        new[kind] = {}
        for key in sorted(observed[kind]):
            sig = observed[kind][key]
            if not sig:
                continue
            if seen.get(str(key)) != sig:
                requests.append(Request(kind, key, f"{kind}:{key}:{sig}"))
            if key in keep:
                new[kind][str(key)] = sig
    return requests, new


def plan_api(kinds: list[str], now: datetime, cursor: dict[str, dict[str, str]], late_minutes: int = 10
             ) -> tuple[list[Request], dict[str, dict[str, str]]]:
    """Re-ingest the open hour once per minute (and the previous hour while late data may still arrive)."""
    minute = now.replace(second=0, microsecond=0)
    current = PartitionKey.of(now)
    keys = [current]
    if now - current.start < timedelta(minutes=late_minutes):
        keys.insert(0, PartitionKey(current.start - timedelta(hours=1)))
    requests, new = [], {}
    for kind in kinds:
        last = cursor.get(kind, {}).get("minute")
        new[kind] = {"minute": minute.isoformat()}
        if last == minute.isoformat():
            continue
        requests += [Request(kind, k, f"{kind}:{k}:{minute:%Y%m%dT%H%M}") for k in keys]
    return requests, new
