"""The incremental burn rates (akidb_pipelines.slo.incremental) against the SQL model they replace minute by minute.

Every expected value comes from ``burn_rates_sql`` run in DuckDB on the same sli_events_1m rows (the reference):
the incremental update stepped one minute at a time and in steps of many sizes, the state rebuilt from history, and
the numpy backfill must give every row and column the SQL gives (floats within 1e-9 relative, strings and
targets equal, same Arrow types). The data has missing minutes and a 90-minute outage, a grouped SLO whose
instances appear late (warm-up) or go silent (no_data), incidents that fire each tier, low traffic, a Timeslices
SLO (no low-traffic guard), NULL good or total, minutes with no events and a key without a spec.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from akidb_pipelines.slo.burn_backfill import Backfill, backfill
from akidb_pipelines.slo.burn_state import BurnState, StaleState, edge_ranges, hours_of
from akidb_pipelines.slo.burn_rows import plain
from akidb_pipelines.slo.incremental import advance, state_from_events
from akidb_pipelines.slo.spec import SLO, MetricSource, load_specs
from akidb_pipelines.slo.sql import burn_rates_sql

_, TABLE = load_specs()
M = timedelta(minutes=1)
START = datetime(2027, 1, 4, tzinfo=timezone.utc)
DAYS = 4
END = START + timedelta(days=DAYS)
NRT_FROM = START + timedelta(days=1, hours=12)        # edge.NRT's first minute (a late edge location)
OUTAGE = (START + timedelta(days=1, hours=20), START + timedelta(days=1, hours=21, minutes=30))
_SRC = MetricSource("golden_signals_1m", "true", "requests")


def _slo(name: str, budgeting: str, target: float, group_by: str | None = None) -> SLO:
    kw = {"threshold": _SRC, "op": "lt", "value": 300.0} if budgeting == "Timeslices" else {"good": _SRC, "total": _SRC}
    return SLO(name, name, "", "svc", budgeting, timedelta(days=30), target, group_by=group_by, **kw)


SLOS = [_slo("error-rate", "Occurrences", 0.999), _slo("latency", "Timeslices", 0.99),
        _slo("edge", "Occurrences", 0.995, group_by="edge_location")]


def _minutes(a: datetime, b: datetime) -> slice:
    return slice(int((a - START) / M), int((b - START) / M))


def make_events() -> pa.Table:
    rng = np.random.default_rng(16)
    n = DAYS * 1440
    minute = np.array([START + i * M for i in range(n)])
    frames = []

    def add(key: str, good: np.ndarray, total: np.ndarray, keep: np.ndarray) -> None:
        frames.append(pa.table({"slo": pa.array([key] * int(keep.sum())), "minute": pa.array(minute[keep]),
                                "good": pa.array(good[keep]), "total": pa.array(total[keep])}))

    def day(d: float) -> datetime:
        return START + timedelta(days=d)

    # error-rate: ~300 requests a minute; a fast incident (day 0), a medium one (day 1), a slow burn (days 2-3)
    total = rng.poisson(300, n).astype(float)
    p = np.full(n, 0.0003)
    p[_minutes(day(0) + timedelta(hours=10), day(0) + timedelta(hours=10, minutes=40))] = 0.05
    p[_minutes(day(1) + timedelta(hours=3), day(1) + timedelta(hours=8))] = 0.012
    p[_minutes(day(2) + timedelta(hours=6), day(3) + timedelta(hours=18))] = 0.0022
    good = total - rng.binomial(total.astype(int), p)
    total[_minutes(day(0) + timedelta(hours=15), day(0) + timedelta(hours=15, minutes=10))] = 0.0   # no events
    good[_minutes(day(0) + timedelta(hours=15), day(0) + timedelta(hours=15, minutes=10))] = 0.0
    keep = rng.random(n) > 0.01                                                # missing minutes
    keep[_minutes(*OUTAGE)] = False                                            # and a 90-minute outage
    add("error-rate", good, total, keep)

    # latency (Timeslices): one slice a minute, good or bad; 30 bad minutes in a row on day 2 (fast, unguarded)
    bad = rng.random(n) < 0.004
    bad[_minutes(day(2) + timedelta(hours=3), day(2) + timedelta(hours=3, minutes=30))] = True
    add("latency", (~bad).astype(float), np.ones(n), rng.random(n) > 0.02)

    # edge.FRA: from the start, 50 a minute, a few NULL good or total (a FULL JOIN of two sources)
    total = rng.poisson(50, n).astype(float)
    good = total - rng.binomial(total.astype(int), 0.001)
    f = pa.table({"slo": pa.array(["edge.FRA"] * n), "minute": pa.array(minute),
                  "good": pa.array(good, mask=(np.arange(n) % 997) == 5),
                  "total": pa.array(total, mask=(np.arange(n) % 1009) == 7)})
    frames.append(f.filter(pa.array(rng.random(n) > 0.005)))

    # edge.NRT: appears on day 1 at noon with an incident in its first hour (warm-up, then fast)
    total = rng.poisson(80, n).astype(float)
    p = np.full(n, 0.001)
    p[_minutes(NRT_FROM + timedelta(minutes=30), NRT_FROM + timedelta(minutes=70))] = 0.2
    good = total - rng.binomial(total.astype(int), p)
    keep = np.arange(n) >= int((NRT_FROM - START) / M)
    add("edge.NRT", good, total, keep & (rng.random(n) > 0.01))

    # edge.SYD: under one event a minute (low traffic), now and then a bad one
    total = rng.poisson(0.8, n).astype(float)
    good = total - rng.binomial(total.astype(int), 0.05)
    add("edge.SYD", good, total, rng.random(n) > 0.01)

    # edge.GHOST: two hours of data on day 0, then silence (no_data once its 3-day window is empty)
    total = np.full(n, 20.0)
    add("edge.GHOST", total.copy(), total, np.arange(n) < 120)

    # a key whose SLO has no spec: never in the output
    add("retired-slo", np.ones(n), np.ones(n), np.arange(n) % 7 == 0)
    return pa.concat_tables(frames).combine_chunks()


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return make_events()


@pytest.fixture(scope="module")
def reference(events: pa.Table) -> pa.Table:
    """The SQL model over every row, window_end = END (rows of a minute depend only on data up to it)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("ev", events)
    sql = burn_rates_sql(SLOS, TABLE).replace("{{ ref('sli_events_1m') }}", "ev").replace(
        "{{ window_end }}", f"'{END.isoformat()}'::TIMESTAMPTZ")
    return con.execute(f"{sql} ORDER BY slo, minute").to_arrow_table()


def keyed(t: pa.Table) -> dict[tuple, dict]:
    return {(r["slo"], r["minute"]): r for r in plain(t).to_pylist()}


def assert_same_rows(ours: pa.Table, ref: pa.Table) -> None:
    assert plain(ours).schema == ref.schema
    a, b = keyed(ours), keyed(ref)
    assert len(a) == ours.num_rows and set(a) == set(b), (len(a), len(b), sorted(set(a) ^ set(b))[:5])
    bad = []
    for k, r in b.items():
        o = a[k]
        for c, v in r.items():
            w = o[c]
            if isinstance(v, float) or isinstance(w, float):
                same = (v is None and w is None) or (v is not None and w is not None
                                                     and math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-12))
            else:
                same = v == w
            if not same:
                bad.append((k, c, w, v))
    assert not bad, f"{len(bad)} values differ (key, column, ours, SQL): {bad[:5]}"


def reader(events: pa.Table):  # noqa: ANN201 - the edge-minute read of the pipeline, over an in-memory table
    m = pc.divide(events.column("minute").cast(pa.int64()), 60_000_000).to_numpy()

    def read(ranges: list[tuple[int, int]]) -> pa.Table:
        mask = np.zeros(len(m), dtype=bool)
        for a, b in ranges:
            mask |= (m >= a) & (m <= b)
        return events.filter(pa.array(mask))
    return read


def step(state: BurnState, read, upto: datetime) -> tuple[BurnState, pa.Table]:  # noqa: ANN001
    return advance(state, read(edge_ranges(state, upto)), upto, SLOS, TABLE)


def test_the_data_reaches_every_state_in_the_reference(reference):
    states = set(reference.column("alert_state").to_pylist())
    assert states == {"fast", "medium", "slow", "ok", "low_traffic", "no_data", "warm_up"}
    by = reference.group_by(["slo", "alert_state"]).aggregate([]).to_pylist()
    assert {"slo": "latency", "alert_state": "fast"} in by          # the Timeslices SLO pages, unguarded
    assert {"slo": "edge.NRT", "alert_state": "warm_up"} in by and {"slo": "edge.NRT", "alert_state": "fast"} in by
    assert {"slo": "edge.SYD", "alert_state": "low_traffic"} in by
    assert {"slo": "edge.GHOST", "alert_state": "no_data"} in by
    assert "retired-slo" not in set(reference.column("slo").to_pylist())


@pytest.mark.parametrize("order", ["by key", "by minute"])
def test_the_backfill_equals_the_sql_model(events, reference, order):
    rows = events if order == "by key" else events.sort_by([("minute", "ascending"), ("slo", "descending")])
    out, state = backfill(rows, SLOS, TABLE, END)
    assert_same_rows(out, reference)
    assert state.equals(state_from_events(events, END - M, TABLE))


def test_the_backfill_written_in_parallel_parquet_files_reads_back_as_the_sql_model(events, reference, tmp_path):
    b = Backfill(events, SLOS, TABLE, END, batch_rows=4000)   # several batches of whole instances per file
    paths = b.write(tmp_path / "out", parts=2)
    assert len(paths) == 2 and all(p.stat().st_size for p in paths)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    back = con.execute("SELECT * FROM read_parquet(?)", [str(tmp_path / "out" / "*.parquet")]).to_arrow_table()
    assert back.schema == reference.schema      # strings written dictionary-encoded read back as VARCHAR
    assert_same_rows(back, reference)
    assert b.state.equals(state_from_events(events, END - M, TABLE))


def test_minute_by_minute_equals_the_sql_model(events, reference):
    """From a state rebuilt from history: a late edge location's first minutes and warm-up, its page, the outage."""
    read = reader(events)
    outs = []
    for a, b in ((NRT_FROM - timedelta(minutes=20), NRT_FROM + timedelta(hours=2)),
                 (OUTAGE[0] - timedelta(minutes=10), OUTAGE[1] + timedelta(minutes=10))):
        state = state_from_events(events, a - M, TABLE)
        t = a
        while t < b:
            state, rows = step(state, read, t)
            assert set(pc.unique(rows.column("minute")).to_pylist()) == {t}
            outs.append(rows)
            t += M
        assert state.equals(state_from_events(events, b - M, TABLE))
    ours = pa.concat_tables([plain(o) for o in outs])
    lo = [NRT_FROM - timedelta(minutes=20), OUTAGE[0] - timedelta(minutes=10)]
    hi = [NRT_FROM + timedelta(hours=2), OUTAGE[1] + timedelta(minutes=10)]
    m = reference.column("minute")
    sel = pc.or_(pc.and_(pc.greater_equal(m, lo[0]), pc.less(m, hi[0])),
                 pc.and_(pc.greater_equal(m, lo[1]), pc.less(m, hi[1])))
    ref = reference.filter(sel)
    assert ours.num_rows == ref.num_rows > 1000
    assert {"warm_up", "fast"} <= set(ours.column("alert_state").to_pylist())
    assert_same_rows(ours, ref)


def test_steps_of_many_sizes_from_nothing_equal_the_sql_model(events, reference, tmp_path):
    """From an empty state before the first minute to the end, in steps of 1 minute to 3 days, the state going
    through its file between steps: every instance appears with its first data, every row of the SQL is made."""
    read = reader(events)
    state = BurnState.empty(TABLE, START - M)
    sizes = [1, 2, 5, 7, 59, 60, 61, 359, 1, 360, 1439, 4321, 1, 3]
    outs, t, i = [], START - M, 0
    path = tmp_path / "burn-state.json"
    while t < END - M:
        upto = min(t + sizes[i % len(sizes)] * M, END - M)
        state, rows = step(state, read, upto)
        outs.append(rows)
        state.save(path)
        state = BurnState.load(path, TABLE)
        t, i = upto, i + 1
    assert_same_rows(pa.concat_tables([plain(o) for o in outs]), reference)
    assert state.equals(state_from_events(events, END - M, TABLE))


def test_the_state_file_round_trips_and_refuses_other_windows(events, tmp_path):
    state = state_from_events(events, START + timedelta(days=2, minutes=17), TABLE)
    state.save(tmp_path / "s.json")
    back = BurnState.load(tmp_path / "s.json", TABLE)
    assert back.equals(state) and back.keys == state.keys
    doc = (tmp_path / "s.json").read_text()
    assert '"format":"akidb-burn-state/1"' in doc and len(doc) < 5000
    other = load_specs()[1]
    from dataclasses import replace

    shorter = replace(other, period=timedelta(days=7))
    with pytest.raises(StaleState):
        BurnState.load(tmp_path / "s.json", shorter)


def test_one_minute_reads_seven_minutes_of_history():
    state = BurnState.empty(TABLE, START + timedelta(days=40))
    ranges = edge_ranges(state, START + timedelta(days=40, minutes=1))
    assert [b - a + 1 for a, b in ranges] == [1] * 7
    assert len(hours_of(ranges)) <= 7


def test_an_instance_the_state_never_saw_in_an_edge_minute_is_refused(events):
    state = state_from_events(events.filter(pc.not_equal(events.column("slo"), "edge.FRA")),
                                  START + timedelta(hours=6), TABLE)
    read = reader(events)
    with pytest.raises(StaleState, match="edge.FRA"):
        step(state, read, START + timedelta(hours=6, minutes=1))
