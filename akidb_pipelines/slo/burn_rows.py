"""The burn-rate model's rows made with numpy from window sums, exactly as ``burn_rates_sql`` computes them: the
input rows as arrays, burn rates, budget and alert state, and the output as an Arrow table with the SQL model's
columns. Shared by the per-minute update (``incremental``) and the backfill (``burn_backfill``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from akidb_pipelines.slo.burn_state import MINUTE_TYPE, US_PER_MIN, SpecParams, _UNIT_PER_S, split_instance
from akidb_pipelines.slo.spec import WindowTable
from akidb_pipelines.slo.sql import label

# -- input rows -----------------------------------------------------------------------------------------------------

@dataclass
class EventArrays:
    """sli_events_1m rows as arrays: instance code (into ``names``; -1: no key), minute, good, total (NULL: 0 and
    not valid)."""
    names: list[str]
    code: np.ndarray
    m: np.ndarray
    good: np.ndarray
    good_ok: np.ndarray
    total: np.ndarray
    total_ok: np.ndarray

    def take(self, mask: np.ndarray) -> EventArrays:
        if mask.dtype == bool and mask.all():
            return self
        return EventArrays(self.names, self.code[mask], self.m[mask], self.good[mask], self.good_ok[mask],
                       self.total[mask], self.total_ok[mask])


def as_arrow(events: object) -> pa.Table:
    if isinstance(events, pa.Table):
        return events
    if isinstance(events, pa.RecordBatchReader):
        return events.read_all()
    if isinstance(events, duckdb.DuckDBPyRelation):
        return events.to_arrow_table()
    return pa.Table.from_pandas(events, preserve_index=False)  # a pandas DataFrame


def valid_values(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    if col.type != pa.float64():
        col = col.cast(pa.float64())
    if not col.null_count:
        return col.to_numpy(), np.ones(len(col), bool)
    return col.fill_null(0.0).to_numpy(), col.is_valid().to_numpy()


def event_arrays(events: object) -> EventArrays:
    t = as_arrow(events)
    slo = t.column("slo")
    if not pa.types.is_dictionary(slo.type):
        slo = pc.dictionary_encode(slo)
    slo = slo.unify_dictionaries() if isinstance(slo, pa.ChunkedArray) else pa.chunked_array([slo])
    names = slo.chunk(0).dictionary.to_pylist() if slo.num_chunks else []
    idx = pa.chunked_array([c.indices for c in slo.chunks], type=slo.type.index_type) if slo.num_chunks else pa.array(
        [], pa.int32())
    code = ((idx.fill_null(-1) if idx.null_count else idx).to_numpy().astype(np.int32, copy=False) if len(idx)
            else np.zeros(0, np.int32))
    if len(set(names)) < len(names):  # a dictionary that repeats a value: one code per key
        first_of: dict[str, int] = {}
        remap = np.array([first_of.setdefault(x, i) for i, x in enumerate(names)] + [-1], dtype=np.int32)
        code = remap[code]
    minute = t.column("minute")
    if not pa.types.is_timestamp(minute.type):
        raise TypeError(f"sli_events_1m.minute: a timestamp is expected, got {minute.type}")
    raw = minute.cast(pa.int64())
    raw = (raw.fill_null(np.iinfo(np.int64).min) if raw.null_count else raw).to_numpy()
    m = np.floor_divide(raw, 60 * _UNIT_PER_S[minute.type.unit])
    if minute.null_count:  # no minute: not a row the SQL's grid can hold
        code = np.where(raw == np.iinfo(np.int64).min, -1, code)
    good, good_ok = valid_values(t.column("good"))
    total, total_ok = valid_values(t.column("total"))
    return EventArrays(names, code, m, good, good_ok, total, total_ok)


# -- rows as the SQL makes them -------------------------------------------------------------------------------------

def alert_columns(gs: list[np.ndarray], ts: list[np.ndarray], age: np.ndarray, div: object, guarded: object,
            warmup: object, table: WindowTable) -> dict[str, np.ndarray]:
    """Burn rates, budget, hours to exhaustion and the alert state (codes into :func:`state_names`) from the window
    sums (``gs``/``ts``: one array per window of :func:`window_minutes`), exactly as ``burn_rates_sql`` computes
    them. ``div``/``guarded``/``warmup``: per row, or one value for all rows. NaN stands for NULL."""
    labels = [label(w) for w in table.windows]
    nw = len(labels)
    pos = {lb: i for i, lb in enumerate(labels)}
    out: dict[str, np.ndarray] = {}
    def ratio(t: np.ndarray, g: np.ndarray, none: float) -> np.ndarray:
        r = np.subtract(t, g)                  # ((total - good) / total) / (1 - target), in the SQL's order
        np.divide(r, t, out=r)
        np.divide(r, div, out=r)
        r[~(t > 0)] = none                     # CASE WHEN total > 0
        return r

    with np.errstate(divide="ignore", invalid="ignore"):
        for i, lb in enumerate(labels):
            out[f"burn_{lb}"] = ratio(ts[i], gs[i], np.nan)
        bc = ratio(ts[nw], gs[nw], 0.0)
        out["budget_consumed"] = bc
        remaining = 1.0 - bc
        out["budget_remaining"] = remaining
        fast = out[f"burn_{label(table.tiers[0].long_window)}"]
        hours = np.multiply(remaining, table.period.total_seconds() / 3600.0)   # (1 - consumed) * hours / burn
        np.divide(hours, fast, out=hours)
        hours[~((fast > 0) & (bc < 1))] = np.nan
        out["hours_to_exhaustion"] = hours
    n = len(age)
    names = state_names(table)
    code = np.full(n, names.index("ok"), dtype=np.int8)
    decided = np.zeros(n, dtype=bool)
    not_warmup = ~np.asarray(warmup, dtype=bool)
    unguarded = ~np.asarray(guarded, dtype=bool)
    judged = [not_warmup | (age >= int(t.long_window.total_seconds() // 60)) for t in table.tiers]
    for k, t in enumerate(table.tiers):
        lo, sh = pos[label(t.long_window)], pos[label(t.short_window)]
        fire = ((out[f"burn_{labels[lo]}"] > t.factor) & (out[f"burn_{labels[sh]}"] > t.factor)
                & (unguarded | (ts[lo] >= table.min_events)) & judged[k] & ~decided)
        code[fire] = k
        decided |= fire
    warming = ~decided
    for j in judged:
        warming &= ~j
    code[warming] = names.index("warm_up")
    decided |= warming
    nodata = ~decided
    for lb in labels:
        nodata &= np.isnan(out[f"burn_{lb}"])
    code[nodata] = names.index("no_data")
    decided |= nodata
    low = np.zeros(n, dtype=bool)
    for k, t in enumerate(table.tiers):
        lo, sh = pos[label(t.long_window)], pos[label(t.short_window)]
        low |= (~unguarded & ~np.isnan(out[f"burn_{labels[lo]}"]) & ~np.isnan(out[f"burn_{labels[sh]}"])
                & (ts[lo] < table.min_events) & judged[k])
    code[low & ~decided] = names.index("low_traffic")
    out["state"] = code
    return out


def state_names(table: WindowTable) -> list[str]:
    """The alert states in code order: the tiers (fastest first), then warm_up, no_data, low_traffic, ok."""
    return [t.name for t in table.tiers] + ["warm_up", "no_data", "low_traffic", "ok"]


def output_schema(table: WindowTable, params: SpecParams) -> list[tuple[str, pa.DataType]]:
    """The SQL model's columns and their Arrow types (strings are written dictionary-encoded: Parquet strings)."""
    cols = [("minute", MINUTE_TYPE), ("slo", pa.string()), ("spec", pa.string()), ("edge_location", pa.string()),
            ("target", params.target_type), ("good", pa.float64()), ("total", pa.float64())]
    cols += [(f"total_{label(w)}", pa.float64()) for w in table.windows + [table.period]]
    cols += [(f"burn_{label(w)}", pa.float64()) for w in table.windows]
    cols += [(c, pa.float64()) for c in ("budget_consumed", "budget_remaining", "hours_to_exhaustion")]
    return cols + [("alert_state", pa.string()), ("severity", pa.string())]


def _dict(indices: np.ndarray, values: list, value_type: pa.DataType, mask: np.ndarray | None = None) -> pa.Array:
    idx = pa.array(indices.astype(np.int32, copy=False), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, pa.array(values, value_type))


def _nullable(x: np.ndarray) -> pa.Array:
    return pa.array(x, mask=np.isnan(x))


def _targetvalid_values(params: SpecParams) -> list:
    return [Decimal(str(t)) if isinstance(t, Decimal) else t for t in params.targets]


def rows_table(minute: np.ndarray, key_idx: np.ndarray, keys: list[str], good: np.ndarray, good_ok: np.ndarray,
                total: np.ndarray, total_ok: np.ndarray, ts: list[np.ndarray], res: dict[str, np.ndarray],
                table: WindowTable, params: SpecParams) -> pa.Table:
    """The output rows as an Arrow table with the SQL model's columns (strings dictionary-encoded)."""
    spec_of = params.index()
    specs = [spec_of.get(split_instance(k)[0], 0) for k in keys]  # rows are only made for keys with a spec
    locs = sorted({split_instance(k)[1] for k in keys})
    loc_of = {v: i for i, v in enumerate(locs)}
    spec_idx = np.array(specs, dtype=np.int32)[key_idx] if len(keys) else np.zeros(0, np.int32)
    loc_idx = (np.array([loc_of[split_instance(k)[1]] for k in keys], dtype=np.int32)[key_idx] if len(keys)
               else np.zeros(0, np.int32))
    names = state_names(table)
    ntier = len(table.tiers)
    code = res["state"]
    cols: dict[str, pa.Array] = {
        "minute": pa.array(minute * US_PER_MIN, pa.int64()).cast(MINUTE_TYPE),
        "slo": _dict(key_idx, keys, pa.string()),
        "spec": _dict(spec_idx, list(params.names), pa.string()),
        "edge_location": _dict(loc_idx, locs, pa.string()),
        "target": _dict(spec_idx, _targetvalid_values(params), params.target_type),
        "good": pa.array(good, mask=~good_ok),
        "total": pa.array(total, mask=~total_ok),
    }
    for w, t in zip(table.windows + [table.period], ts):
        cols[f"total_{label(w)}"] = pa.array(t)
    for w in table.windows:
        cols[f"burn_{label(w)}"] = _nullable(res[f"burn_{label(w)}"])
    cols["budget_consumed"] = pa.array(res["budget_consumed"])
    cols["budget_remaining"] = pa.array(res["budget_remaining"])
    cols["hours_to_exhaustion"] = _nullable(res["hours_to_exhaustion"])
    cols["alert_state"] = _dict(code, names, pa.string())
    cols["severity"] = _dict(np.minimum(code, ntier - 1), [t.severity for t in table.tiers], pa.string(),
                             mask=code >= ntier)
    return pa.table(cols)


def plain(t: pa.Table) -> pa.Table:
    """``t`` with its dictionary-encoded columns decoded (the SQL model's exact Arrow types)."""
    return pa.table({n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                     for n, c in zip(t.column_names, t.columns)})
