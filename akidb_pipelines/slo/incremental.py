"""Burn rates, budget and alert state one minute at a time, from a small state per SLO instance.

``slo_burn_rates_1m`` (the SQL of :func:`akidb_pipelines.slo.sql.burn_rates_sql`) recomputes every window from the
30 days of ``sli_events_1m`` before each hour it writes, so a minute's cost grows with history. Here the windows are
a state carried from minute to minute: advancing to minute ``m`` adds each instance's events at ``m`` and takes away
those that leave each window (the events at ``m - n`` for a window of ``n`` minutes), so one minute reads
``sli_events_1m`` at 1 + 6 minutes whatever the history (``burn_state.edge_ranges``), and costs the same at 90 days as at
one. The rows it returns are the SQL model's rows for those minutes: same columns, types and values (the tests hold
it to the SQL run in DuckDB over the same rows). The SQL model stays the reference and what a backfill may run;
``burn_backfill.Backfill`` is the same arithmetic over a whole history at once (numpy, Parquet written while computing: about
3-4x faster than the SQL model, which is bound by DuckDB's sort and Parquet writer), and leaves the state at its end.

The reference is the SQL over the whole history (as a backfill runs it). The hourly runner reads only the 30 days
before each hour (``lookback_minutes``), which differs in one case: an instance silent for about 30 days. The
runner stops writing its rows once its last data is more than 30 days before the hour, and when it comes back its
warm-up age counts again from its return; here (and in a backfill) it keeps its rows (``no_data``) and its age.

One minute (or a few: ``upto`` may be any later minute), as a per-minute job would run it::

    state = BurnState.load(path, table)                       # or state_from_events(...) / Backfill(...).state
    ranges = edge_ranges(state, upto)                         # 7 single minutes for one new minute
    files = [the sli_events_1m files of each hour in hours_of(ranges)]
    state, rows = advance(state, read_minutes(con, files, ranges), upto, slos, table)
    ...write rows (the SQL model's columns for the new minutes)...; state.save(path)

What the state cannot see: a minute of ``sli_events_1m`` rewritten after the state passed it (late data, a
re-run of an earlier hour) changes the reference but not the state. Rebuild it then with :func:`state_from_events`
(or a backfill); :func:`advance` raises :class:`StaleState` when an edge minute holds an instance it never saw.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from akidb_pipelines.slo.burn_rows import alert_columns, event_arrays, rows_table
from akidb_pipelines.slo.burn_state import (BurnState, StaleState, edge_ranges, spec_params, split_instance,
                                            to_datetime, to_minute, window_minutes)
from akidb_pipelines.slo.spec import SLO, WindowTable

def advance(state: BurnState, events: object, upto: datetime | int, slos: list[SLO],
            table: WindowTable) -> tuple[BurnState, pa.Table]:
    """The new state at ``upto`` and the SQL model's rows for the minutes ``state.through + 1 .. upto``.

    ``events``: ``sli_events_1m`` rows (``slo, minute, good, total``; an Arrow table, a DuckDB relation or a pandas
    frame) holding at least every row in :func:`edge_ranges` (others are ignored). An instance's first row makes
    it an instance (its rows start at that minute, as on the SQL's grid)."""
    if state.windows != window_minutes(table):
        raise StaleState("the state's windows are not the window table's: rebuild it from history")
    hi = to_minute(upto)
    lo = state.through + 1
    if hi < lo:
        raise ValueError(f"advance: {to_datetime(hi)} is not after the state's last minute {to_datetime(state.through)}")
    k = hi - lo + 1
    ranges = edge_ranges(state, hi)
    ev = event_arrays(events)
    need = np.concatenate([np.arange(a, b + 1) for a, b in ranges])  # sorted, distinct
    pos = np.searchsorted(need, ev.m)
    inside = (pos < len(need)) & (ev.code >= 0)
    inside[inside] = need[pos[inside]] == ev.m[inside]
    ev = ev.take(inside)
    pos = np.searchsorted(need, ev.m)

    # instances: the state's, then the new ones (first row among the new minutes)
    index = {key: i for i, key in enumerate(state.keys)}
    keys, first = list(state.keys), list(state.first)
    code_to_inst = np.full(len(ev.names), -1, dtype=np.int64)
    for c in np.unique(ev.code):
        name = ev.names[c]
        if name in index:
            code_to_inst[c] = index[name]
            continue
        ms = ev.m[ev.code == c]
        if ms.min() < lo:
            raise StaleState(f"{name!r} has data at {to_datetime(int(ms.min()))}, before the state's last minute "
                             f"{to_datetime(state.through)}, but the state never saw it: rebuild it from history")
        index[name] = len(keys)
        code_to_inst[c] = len(keys)
        keys.append(name)
        first.append(int(ms.min()))
    n, nw = len(keys), len(state.windows)
    first_a = np.array(first, dtype=np.int64)
    inst = code_to_inst[ev.code]

    # dense values at the needed minutes (a missing minute or a NULL adds 0)
    dg = np.zeros((n, len(need)))
    dt = np.zeros((n, len(need)))
    dg[inst, pos] = ev.good
    dt[inst, pos] = ev.total
    new_cols = np.searchsorted(need, np.arange(lo, hi + 1))
    a_g, a_t = dg[:, new_cols], dt[:, new_cols]
    good0 = np.zeros((n, nw))
    total0 = np.zeros((n, nw))
    good0[:len(state.keys)] = state.good
    total0[:len(state.keys)] = state.total
    gs, ts = [], []
    for w, length in enumerate(state.windows):
        old = np.searchsorted(need, np.arange(lo - length, hi - length + 1))
        if k == 1:
            gs.append(good0[:, w:w + 1] + (a_g - dg[:, old]))
            ts.append(total0[:, w:w + 1] + (a_t - dt[:, old]))
        else:
            gs.append(good0[:, w:w + 1] + np.cumsum(a_g - dg[:, old], axis=1))
            ts.append(total0[:, w:w + 1] + np.cumsum(a_t - dt[:, old], axis=1))
    new = BurnState(state.windows, hi, keys, first_a,
                    np.stack([g[:, -1] for g in gs], axis=1), np.stack([t[:, -1] for t in ts], axis=1))

    # the rows: every instance with a spec, at every new minute from its first on (minute-major, then key)
    params = spec_params(slos)
    spec_of = params.index()
    has_spec = np.array([split_instance(key)[0] in spec_of for key in keys], dtype=bool)
    minutes = np.arange(lo, hi + 1, dtype=np.int64)
    live = has_spec[None, :] & (minutes[:, None] >= first_a[None, :])      # (k, n)
    mi, ii = np.nonzero(live)
    order = sorted(range(n), key=keys.__getitem__)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    srt = np.lexsort((rank[ii], mi))
    mi, ii = mi[srt], ii[srt]
    minute = minutes[mi]
    spec_i = np.array([spec_of.get(split_instance(key)[0], 0) for key in keys], dtype=np.int64)[ii]
    gcol = [g[ii, mi] for g in gs]
    tcol = [t[ii, mi] for t in ts]
    # raw good/total of the new minutes (NULL for a missing minute or a NULL value)
    raw = {c: np.zeros((n, k)) for c in ("good", "total")}
    ok = {c: np.zeros((n, k), dtype=bool) for c in ("good", "total")}
    newpos = pos - new_cols[0]
    sel = (ev.m >= lo)
    for c, vals, valid in (("good", ev.good, ev.good_ok), ("total", ev.total, ev.total_ok)):
        raw[c][inst[sel], newpos[sel]] = vals[sel]
        ok[c][inst[sel], newpos[sel]] = valid[sel]
    res = alert_columns(gcol, tcol, minute - first_a[ii] + 1, params.divisors[spec_i], params.guarded[spec_i],
                  params.warmup[spec_i], table)
    out = rows_table(minute, ii, keys, raw["good"][ii, mi], ok["good"][ii, mi], raw["total"][ii, mi],
                      ok["total"][ii, mi], tcol, res, table, params)
    return new, out


# -- from history ---------------------------------------------------------------------------------------------------

def state_from_events(events: object, through: datetime | int, table: WindowTable) -> BurnState:
    """The state at ``through`` from ``sli_events_1m`` rows: every row up to ``through`` for ``first``, the rows of
    the last period for the sums (rows after ``through`` are ignored)."""
    at = to_minute(through)
    wins = window_minutes(table)
    ev = event_arrays(events)
    ev = ev.take((ev.code >= 0) & (ev.m <= at))
    codes = np.unique(ev.code)
    keys = [ev.names[c] for c in codes]
    inst = np.searchsorted(codes, ev.code)
    n = len(keys)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inst, ev.m)
    good = np.zeros((n, len(wins)))
    total = np.zeros((n, len(wins)))
    for w, length in enumerate(wins):
        sel = ev.m > at - length
        good[:, w] = np.bincount(inst[sel], weights=ev.good[sel], minlength=n)
        total[:, w] = np.bincount(inst[sel], weights=ev.total[sel], minlength=n)
    return BurnState(wins, at, keys, first, good, total)
