"""The incremental burn rates' state (``akidb_pipelines.slo.incremental``): one small record per SLO instance, saved
as JSON, and the minutes of ``sli_events_1m`` a step needs.

The state (:class:`BurnState`)
------------------------------
``through``: the last minute done. Per SLO instance (a key of ``sli_events_1m``: an SLO's name, or
``<name>.<edge location>`` for a grouped SLO), ``first``: the first minute it had data (the grid of the SQL model
starts there; a grouped SLO's warm-up age counts from it), and per window (the window table's windows, then the
period: 5m, 30m, 1h, 6h, 3d, 30d) the sums of ``good`` and ``total`` over the window ending at ``through`` (a
missing minute or a NULL adds 0, as in the SQL's running sums). Every instance seen in the data is kept, also one
whose SLO has no spec (no rows are written for it; a spec added later then finds its history).

File (:meth:`BurnState.save` / :meth:`BurnState.load`), JSON, a few kB for 100 instances::

    {"format": "akidb-burn-state/1",
     "through": "2026-10-29T23:59:00+00:00",     # the last minute done (UTC)
     "windows": [5, 30, 60, 360, 4320, 43200],   # minutes: the window table's windows, then the period
     "instances": [{"slo": "error-rate", "first": "2026-08-01T00:00:00+00:00",
                    "good": [...], "total": [...]},          # one sum per window, same order
                   ...]}

Floats are written with ``repr`` (exact round trip). The window table's other parameters (factors, tiers,
``min_events``) and the specs' targets are not in the state: they apply when rows are made, so changing them needs
no rebuild; changing the windows does (``load`` refuses a state of other windows).

Exactness: the SLIs here count events (or whole-minute slices), whole numbers, so every sum is exact in float64
(below 2**53) and the window sums equal the SQL's differenced running sums bit for bit. The burn rates, budget and
hours then use the same operations in the same order; ``1 - target`` is the SQL's exact DECIMAL difference
(:func:`spec_params` reads it from DuckDB with the SQL's own ``specs`` rows).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa

from akidb_pipelines.slo.spec import KEY_SEP, SLO, UNGROUPED, WindowTable
from akidb_pipelines.slo.sql import specs_values

FORMAT = "akidb-burn-state/1"
US_PER_MIN = 60_000_000
_UNIT_PER_S = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
MINUTE_TYPE = pa.timestamp("us", tz="UTC")   # TIMESTAMPTZ, as DuckDB hands it to Arrow


class StaleState(RuntimeError):
    """The state does not match ``sli_events_1m`` any more (rebuild it from history)."""


# -- minutes --------------------------------------------------------------------------------------------------------

def to_minute(t: datetime | int) -> int:
    """Minutes since the epoch (floor) of a datetime (naive: UTC); an int is returned as it is."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int((t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(minutes=1))


def to_datetime(m: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=int(m))


def window_minutes(table: WindowTable) -> tuple[int, ...]:
    """The state's windows in minutes: the table's windows (shortest first), then the period."""
    return tuple(int(w.total_seconds() // 60) for w in table.windows + [table.period])


# -- the specs as the SQL sees them ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpecParams:
    names: tuple[str, ...]
    targets: tuple[object, ...]     # Decimal (the SQL's DECIMAL literal) or float
    divisors: np.ndarray            # (1 - target) as the SQL's division uses it (a DOUBLE)
    guarded: np.ndarray             # bool: the low-traffic guard applies (Occurrences)
    warmup: np.ndarray              # bool: a grouped SLO's instance warms up
    target_type: pa.DataType        # the SQL's type of the target column

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


def _arrow_type(duck: str) -> pa.DataType:
    if duck.startswith("DECIMAL("):
        p, s = duck[len("DECIMAL("):-1].split(",")
        return pa.decimal128(int(p), int(s))
    return {"DOUBLE": pa.float64(), "FLOAT": pa.float32(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}[duck]


@lru_cache(maxsize=32)
def _spec_params(values: str) -> tuple:
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT spec, target, (1 - target)::DOUBLE, guarded, warmup, typeof(target) "
                           f"FROM (VALUES {values}) s(spec, target, guarded, warmup)").fetchall()
    finally:
        con.close()
    return tuple(rows)


def spec_params(slos: list[SLO]) -> SpecParams:
    """Target, ``1 - target``, guard and warm-up per SLO, evaluated by DuckDB on ``burn_rates_sql``'s own rows."""
    rows = _spec_params(specs_values(slos))
    return SpecParams(tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                      np.array([r[2] for r in rows], dtype=np.float64), np.array([r[3] for r in rows], dtype=bool),
                      np.array([r[4] for r in rows], dtype=bool), _arrow_type(rows[0][5]) if rows else pa.float64())


def split_instance(key: str) -> tuple[str, str]:
    """(spec, edge_location) of an instance key as the SQL splits it (``split_part`` at the first separator)."""
    spec, sep, rest = key.partition(KEY_SEP)
    return spec, (rest if sep else UNGROUPED)


# -- the state ------------------------------------------------------------------------------------------------------

@dataclass
class BurnState:
    windows: tuple[int, ...]
    through: int                     # the last minute done (minutes since the epoch)
    keys: list[str]                  # instance keys
    first: np.ndarray                # int64 (n,): first minute with data
    good: np.ndarray                 # float64 (n, windows): window sums ending at ``through``
    total: np.ndarray

    @classmethod
    def empty(cls, table: WindowTable, through: datetime | int) -> BurnState:
        """No instance yet: the next minute is ``through + 1`` (every instance starts with its first data)."""
        w = window_minutes(table)
        return cls(w, to_minute(through), [], np.zeros(0, np.int64), np.zeros((0, len(w))), np.zeros((0, len(w))))

    def to_json(self) -> dict:
        return {"format": FORMAT, "through": to_datetime(self.through).isoformat(), "windows": list(self.windows),
                "instances": [{"slo": k, "first": to_datetime(f).isoformat(), "good": g.tolist(), "total": t.tolist()}
                              for k, f, g, t in zip(self.keys, self.first, self.good, self.total)]}

    @classmethod
    def from_json(cls, d: dict, table: WindowTable | None = None) -> BurnState:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a burn-rate state ({FORMAT}): format {d.get('format')!r}")
        w = tuple(int(x) for x in d["windows"])
        if table is not None and w != window_minutes(table):
            raise StaleState(f"the state has windows {list(w)} (minutes), the window table "
                             f"{list(window_minutes(table))}: rebuild it from history")
        inst = d["instances"]
        n = len(w)
        return cls(w, to_minute(datetime.fromisoformat(d["through"])), [str(i["slo"]) for i in inst],
                   np.array([to_minute(datetime.fromisoformat(i["first"])) for i in inst], dtype=np.int64),
                   np.array([i["good"] for i in inst], dtype=np.float64).reshape(-1, n),
                   np.array([i["total"] for i in inst], dtype=np.float64).reshape(-1, n))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state file in one step (a temporary file renamed over it)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")))
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | os.PathLike[str], table: WindowTable | None = None) -> BurnState:
        return cls.from_json(json.loads(Path(path).read_text()), table)

    def equals(self, other: BurnState) -> bool:
        a, b = np.argsort(self.keys), np.argsort(other.keys)
        return (self.windows == other.windows and self.through == other.through
                and sorted(self.keys) == sorted(other.keys) and np.array_equal(self.first[a], other.first[b])
                and np.array_equal(self.good[a], other.good[b]) and np.array_equal(self.total[a], other.total[b]))


# -- the minutes a step reads --------------------------------------------------------------------------------------

def edge_ranges(state: BurnState, upto: datetime | int) -> list[tuple[int, int]]:
    """The minutes (inclusive ranges, minutes since the epoch) of ``sli_events_1m`` that :func:`advance` needs to
    go from ``state.through`` to ``upto``: the new minutes, and for each window the minutes leaving it."""
    hi = to_minute(upto)
    lo = state.through + 1
    if hi < lo:
        return []
    spans = sorted([(lo, hi)] + [(lo - n, hi - n) for n in state.windows])
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def hours_of(ranges: Iterable[tuple[int, int]]) -> list[datetime]:
    """Start of every hour holding a minute of ``ranges`` (the lake's partitions to read)."""
    hours: set[int] = set()
    for a, b in ranges:
        hours.update(range(a // 60, b // 60 + 1))
    return [to_datetime(h * 60) for h in sorted(hours)]


def read_minutes(con: duckdb.DuckDBPyConnection, files: list[str], ranges: list[tuple[int, int]]) -> pa.Table:
    """``slo, minute, good, total`` of the Parquet ``files`` (``sli_events_1m``) in the minute ``ranges``."""
    if not files or not ranges:
        return pa.table({"slo": pa.array([], pa.string()), "minute": pa.array([], MINUTE_TYPE),
                         "good": pa.array([], pa.float64()), "total": pa.array([], pa.float64())})
    con.execute("SET VARIABLE akidb_burn_files = ?", [files])
    cond = " OR ".join("(minute >= ? AND minute < ?)" for _ in ranges)
    params = [x for a, b in ranges for x in (to_datetime(a), to_datetime(b + 1))]
    return con.execute(f"SELECT slo, minute, good::DOUBLE AS good, total::DOUBLE AS total "
                       f"FROM read_parquet(getvariable('akidb_burn_files'), union_by_name = true) WHERE {cond}",
                       params).to_arrow_table()
