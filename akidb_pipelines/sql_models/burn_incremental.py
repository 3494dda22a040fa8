"""``slo_burn_rates_1m`` hour by hour from a stored state, so a detection run's cost does not grow with history.

The SQL model (``burn_rates_sql``) recomputes every window from the 30 days of ``sli_events_1m`` before each hour it
writes: at 100 SLOs and 90 days of history that is ~6 s a run, every minute. Here the model's rows for an hour come
from the state at the hour's start (``akidb_pipelines.slo.burn_state``: per SLO instance its window sums) advanced
minute by minute over the hour (``slo.incremental.advance``): it reads the hour's events and, per window, the
minutes leaving it, and yields the same rows, column for column (``tests/test_burn_incremental_runner.py`` holds the
two paths equal on a lake). The model file opts in with ``-- config: incremental: burn_rates``.

States live in the lake beside the tables: ``state/slo_burn_rates/<hour>.json``, the state through the minute before
``<hour>``, with a fingerprint of the ``sli_events_1m`` files it was computed from (every committed file of the 30
days and one hour before it). A state whose fingerprint no longer matches (an earlier hour re-ingested or re-run:
late data) is not used: the newest valid state of the :data:`WALK_BACK` hours before is advanced instead, and with
none, the state is rebuilt from the 30 days before the hour (what the SQL model reads; once, then hour by hour
again). Every hour written stores the state at its end for the next one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pyarrow as pa

from akidb_pipelines.slo.burn_state import BurnState, edge_ranges, hours_of, read_minutes, to_minute
from akidb_pipelines.slo.incremental import advance, state_from_events
from akidb_pipelines.slo.spec import SLO, WindowTable
from akidb_pipelines.storage.lake import Lake, PartitionKey
from akidb_pipelines.storage.sqltext import duckdb_path

STATE_PREFIX = "state/slo_burn_rates"
WALK_BACK = 48          # hours searched back for a valid state before rebuilding from the lookback
ONE = timedelta(minutes=1)


def _rel(hour: datetime) -> str:
    return f"{STATE_PREFIX}/{hour:%Y%m%dT%H}.json"


def fingerprint(files: list[str], hour: datetime, lookback: timedelta) -> str:
    """Which committed files (``files``: every file of ``sli_events_1m``, from one listing) a state at ``hour``
    depends on: those of the hours in [hour - lookback - 1 h, hour)."""
    lo = PartitionKey.of(hour - lookback - timedelta(hours=1)).path
    hi = PartitionKey.of(hour).path
    mine = [f for f in files if lo <= _part(f) < hi]
    return hashlib.sha256("\n".join(sorted(mine)).encode()).hexdigest()


def _part(uri: str) -> str:
    return "/".join(uri.split("/")[-3:-1])  # date=YYYY-MM-DD/hour=HH: sorts as time


def load_state(lake: Lake, hour: datetime, table: WindowTable, fp: str) -> BurnState | None:
    raw = lake.read_bytes(_rel(hour))
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        if doc.get("sli_fingerprint") != fp:
            return None
        return BurnState.from_json(doc, table)
    except (ValueError, KeyError, TypeError):  # a state of other windows or another format: rebuild
        return None


def save_state(lake: Lake, hour: datetime, state: BurnState, fp: str) -> None:
    doc = state.to_json()
    doc["sli_fingerprint"] = fp
    lake.write_bytes(_rel(hour), json.dumps(doc, separators=(",", ":")).encode())


def _events(lake: Lake, files: list[str], ranges: list[tuple[int, int]]) -> pa.Table:
    """``sli_events_1m`` rows in ``ranges`` from ``files`` (every file of the table, one listing: a listing per
    hour is one LIST request per hour on S3), reading only the hours the ranges touch."""
    want = {PartitionKey.of(h).path for h in hours_of(ranges)}
    mine = [duckdb_path(f) for f in files if _part(f) in want]
    with lake.connect() as con:
        return read_minutes(con, mine, ranges)


def _rebuild(lake: Lake, files: list[str], hour: datetime, lookback: timedelta, windows: WindowTable) -> BurnState:
    """The state through the minute before ``hour`` from the lookback before it (what the SQL model reads)."""
    start = to_minute(hour - lookback)
    through = to_minute(hour) - 1
    events = _events(lake, files, [(start, through)])
    return state_from_events(events, through, windows) if events.num_rows else BurnState.empty(windows, through)


def hour_rows(lake: Lake, sli_table: str, keys: list[PartitionKey], slos: list[SLO], windows: WindowTable,
              lookback: timedelta) -> tuple[pa.Table | None, dict[str, int]]:
    """The model's rows for the contiguous hours ``keys`` (None when no instance has data), and what it did:
    ``{"states_used": ..., "hours_advanced": ..., "rebuilt": 0 or 1}``."""
    first = keys[0].start
    files = lake.list_files(sli_table)
    state, at, stats = None, first, {"states_used": 0, "hours_advanced": 0, "rebuilt": 0}
    for back in range(WALK_BACK + 1):
        h = first - timedelta(hours=back)
        state = load_state(lake, h, windows, fingerprint(files, h, lookback))
        if state is not None:
            at, stats["states_used"] = h, 1
            break
    if state is None:
        at, stats["rebuilt"] = first, 1
        state = _rebuild(lake, files, first, lookback, windows)
    parts = []
    hour = at
    last = keys[-1].end
    while hour < last:
        end = hour + timedelta(hours=1)
        ranges = edge_ranges(state, end - ONE)
        state, rows = advance(state, _events(lake, files, ranges), end - ONE, slos, windows)
        stats["hours_advanced"] += 1
        save_state(lake, end, state, fingerprint(files, end, lookback))
        if hour >= first:
            parts.append(rows)
        hour = end
    parts = [p for p in parts if p.num_rows]
    return (pa.concat_tables(parts) if parts else None), stats
