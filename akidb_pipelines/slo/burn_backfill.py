"""The burn-rate model over a whole history at once with numpy (the same arithmetic as the per-minute update,
``incremental``): rows written while computing, and the state at the end to go on minute by minute. The SQL model
(``burn_rates_sql``) stays the reference; the tests hold this to it column by column."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from akidb_pipelines.slo.burn_rows import alert_columns, event_arrays, output_schema, rows_table
from akidb_pipelines.slo.burn_state import MINUTE_TYPE, US_PER_MIN, BurnState, spec_params, split_instance, \
    to_minute, window_minutes
from akidb_pipelines.slo.incremental import state_from_events
from akidb_pipelines.slo.spec import SLO, WindowTable

class Backfill:
    """The SQL model's rows for every minute before ``end`` (its ``window_end``) from the whole history in
    ``events``, made in batches of whole instances, and the state at ``end - 1`` (to go on minute by minute).

    Same grid as the SQL (each instance from its first minute of data to ``end``), same sums (running sums of the
    instance differenced at the window lengths), the rest by :func:`_finish`. Use :meth:`table` (everything in
    memory), :meth:`write` (Parquet files, written while computing) or :meth:`batches`; :attr:`state` is complete
    once every batch is made. String columns are dictionary-encoded (Parquet strings; :func:`plain` decodes)."""

    def __init__(self, events: object, slos: list[SLO], table: WindowTable, end: datetime | int,
                 batch_rows: int = 1 << 16):
        self.table_spec, self.end = table, to_minute(end)
        self.wins = window_minutes(table)
        self.params = spec_params(slos)
        spec_of = self.params.index()
        ev = event_arrays(events)
        ev = ev.take((ev.code >= 0) & (ev.m < self.end))
        counts = np.bincount(ev.code, minlength=len(ev.names))
        present = np.nonzero(counts)[0]
        self.names = [ev.names[c] for c in present]
        remap = np.full(len(ev.names), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        inst = remap[ev.code]
        self.starts = np.zeros(len(present) + 1, dtype=np.int64)
        np.cumsum(counts[present], out=self.starts[1:])
        # rows grouped by instance: as they come when they already are (a file written per SLO), else sorted
        self.order = None if len(inst) < 2 or bool((inst[1:] >= inst[:-1]).all()) else np.argsort(inst, kind="stable")
        self.ev = ev
        self.first = (np.minimum.reduceat(ev.m if self.order is None else ev.m[self.order], self.starts[:-1])
                      if len(present) else np.zeros(0, np.int64))
        codes = present
        # instances with a spec get rows, in key order; the others only a place in the state
        self.out = [int(i) for i in np.argsort(self.names, kind="stable") if split_instance(self.names[i])[0] in spec_of]
        self.spec_idx = {i: spec_of[split_instance(self.names[i])[0]] for i in self.out}
        self.groups: list[list[int]] = []
        rows = 0
        for i in self.out:   # batches of whole instances, about batch_rows rows each
            if not self.groups or rows >= batch_rows:
                self.groups.append([])
                rows = 0
            self.groups[-1].append(i)
            rows += self.end - int(self.first[i])
        self.rows = int(sum(self.end - int(self.first[i]) for i in self.out))
        self._good = np.zeros((len(codes), len(self.wins)))
        self._total = np.zeros((len(codes), len(self.wins)))
        self._done = 0

    def _rows_of(self, i: int) -> slice | np.ndarray:
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return slice(a, b) if self.order is None else self.order[a:b]

    def _batch(self, group: list[int]) -> pa.Table:
        ev, end, wins = self.ev, self.end, self.wins
        lengths = np.array([end - int(self.first[i]) for i in group], dtype=np.int64)
        off = np.zeros(len(group) + 1, dtype=np.int64)
        np.cumsum(lengths, out=off[1:])
        n = int(off[-1])
        g_in, t_in = np.zeros(n), np.zeros(n)
        g_ok, t_ok = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        minute, age = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        goods, totals = [np.empty(n) for _ in wins], [np.empty(n) for _ in wins]
        for j, i in enumerate(group):
            a, b = int(off[j]), int(off[j + 1])
            lo = int(self.first[i])
            rr = self._rows_of(i)
            at = ev.m[rr] - lo + a
            g_in[at], t_in[at] = ev.good[rr], ev.total[rr]
            g_ok[at], t_ok[at] = ev.good_ok[rr], ev.total_ok[rr]
            cg, ct = np.cumsum(g_in[a:b]), np.cumsum(t_in[a:b])
            for w, length in enumerate(wins):   # run - coalesce(lag(run, length), 0), as the SQL
                sg, st = goods[w][a:b], totals[w][a:b]
                sg[:], st[:] = cg, ct
                if length < b - a:
                    sg[length:] -= cg[:-length]
                    st[length:] -= ct[:-length]
            minute[a:b] = np.arange(lo, end, dtype=np.int64)
            age[a:b] = np.arange(1, b - a + 1, dtype=np.int64)
            self._good[i] = [x[b - 1] for x in goods]
            self._total[i] = [x[b - 1] for x in totals]
        sp = np.array([self.spec_idx[i] for i in group], dtype=np.int64)
        if (sp == sp[0]).all():   # one spec: its parameters as scalars
            div, guarded, warmup = (self.params.divisors[sp[0]], self.params.guarded[sp[0]],
                                    self.params.warmup[sp[0]])
        else:
            rows_sp = np.repeat(sp, lengths)
            div, guarded, warmup = (self.params.divisors[rows_sp], self.params.guarded[rows_sp],
                                    self.params.warmup[rows_sp])
        res = alert_columns(goods, totals, age, div, guarded, warmup, self.table_spec)
        key_idx = np.repeat(np.arange(len(group), dtype=np.int32), lengths)
        return rows_table(minute, key_idx, [self.names[i] for i in group], g_in, g_ok, t_in, t_ok, totals,
                           res, self.table_spec, self.params)

    def batches(self, groups: Iterable[int] | None = None) -> Iterable[pa.Table]:
        for g in (range(len(self.groups)) if groups is None else groups):
            yield self._batch(self.groups[g])
            self._done += 1

    def table(self) -> pa.Table:
        parts = list(self.batches())
        return pa.concat_tables(parts) if parts else pa.table(
            {n: pa.array([], t) for n, t in output_schema(self.table_spec, self.params)})

    def write(self, folder: str | os.PathLike[str], parts: int = 2, **kw: object) -> list[Path]:
        """Compute and write the rows as ``parts`` Parquet files (``part-<i>.parquet``), one thread each (numpy
        and the Parquet writer release the GIL): instances are dealt to the files by size. Float columns are
        written without dictionaries (their values rarely repeat)."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        parts = max(1, min(parts, len(self.groups))) if self.groups else 1
        share: list[list[int]] = [[] for _ in range(parts)]
        load = [0] * parts
        for g in sorted(range(len(self.groups)), key=lambda g: -sum(self.end - int(self.first[i])
                                                                    for i in self.groups[g])):
            k = load.index(min(load))
            share[k].append(g)
            load[k] += sum(self.end - int(self.first[i]) for i in self.groups[g])
        paths = [d / f"part-{k}.parquet" for k in range(parts)]
        errors: list[BaseException] = []

        def run(k: int) -> None:
            writer = None
            try:
                for batch in self.batches(sorted(share[k])):
                    if writer is None:
                        dict_cols = [n for n, c in zip(batch.column_names, batch.columns)
                                     if pa.types.is_dictionary(c.type)]
                        writer = pq.ParquetWriter(paths[k], batch.schema, **{"use_dictionary": dict_cols, **kw})
                    writer.write_table(batch)
                if writer is None:   # nothing to write: an empty file with the model's columns
                    pq.write_table(self.table(), paths[k], **kw)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
            finally:
                if writer is not None:
                    writer.close()

        threads = [threading.Thread(target=run, args=(k,)) for k in range(parts)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        return paths

    @property
    def state(self) -> BurnState:
        if self._done < len(self.groups):
            raise RuntimeError("the backfill's state is known once every batch is made")
        good, total = self._good.copy(), self._total.copy()
        others = [i for i in range(len(self.names)) if i not in self.spec_idx]
        if others:  # instances without a spec: their sums from their rows
            rows = np.concatenate([np.arange(len(self.ev.m))[self._rows_of(i)] for i in others])
            ev = self.ev.take(rows)
            st = state_from_events(pa.table({
                "slo": pa.array([ev.names[c] for c in ev.code]),
                "minute": pa.array(ev.m * US_PER_MIN, pa.int64()).cast(MINUTE_TYPE),
                "good": pa.array(ev.good), "total": pa.array(ev.total)}), self.end - 1, self.table_spec)
            at = {key: j for j, key in enumerate(st.keys)}
            for i in others:
                good[i], total[i] = st.good[at[self.names[i]]], st.total[at[self.names[i]]]
        return BurnState(self.wins, self.end - 1, list(self.names), self.first.astype(np.int64), good, total)


def backfill(events: object, slos: list[SLO], table: WindowTable, end: datetime | int) -> tuple[pa.Table, BurnState]:
    """:class:`Backfill` in memory: the rows (by instance, then minute) and the state at ``end - 1``."""
    b = Backfill(events, slos, table, end)
    out = b.table()
    return out, b.state
