"""User-facing SLOs at the edge (edge-location-latency per edge location, edge-latency over all of them), run
through the shipped SQL models on hand-made golden-signal minutes. Expected burn rates and firing minutes are
worked out here from the definitions (pandas sums over the input rows), not read back from the models."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from akidb_pipelines.slo.spec import SpecError, load_specs, parse_slo, split_key
from akidb_pipelines.sql_models.project import project_graph
from akidb_pipelines.synthetic.topology import EDGE_LOCATIONS

SLOS, TABLE = load_specs()
BY_NAME = {s.name: s for s in SLOS}
PER_LOCATION, OVERALL = BY_NAME["edge-location-latency"], BY_NAME["edge-latency"]
FAST = TABLE.tiers[0]
GRAPH = project_graph()
M = timedelta(minutes=1)
START = datetime(2027, 3, 1, tzinfo=timezone.utc)   # history: days 0-2; the day under test: day 3
DAY3 = START + timedelta(days=3)
THRESHOLD_MS = 300.0      # the P95 objective of both specs (checked below)
# Lambda@Edge requests per minute at the daily mean: the generator's shares of about 1,800 a minute, with two
# locations the generator never makes (production has more than the synthetic twelve).
LOCATIONS = {"IAD89": 288, "SFO5": 216, "FRA56": 180, "LHR62": 180, "NRT57": 162, "SIN52": 144, "BOM78": 126,
             "CDG50": 126, "SYD62": 108, "GRU3": 90, "ZRH55-C1": 90, "MXP64-P2": 90}
STORMED = "ZRH55-C1"


def fast_minutes_needed(target: float) -> int:
    """Bad minutes (at steady traffic) before the fast tier fires: k/60 of the hour's requests must exceed
    factor x (1 - target) over the long window, and the short window (5 of them) is then all bad."""
    per_hour = FAST.long_window / M
    return math.floor(per_hour * FAST.factor * (1 - target)) + 1


def minutes(days: float) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=int(days * 1440), freq="min", tz="UTC")


def frame(days: float = 4, daily_shape: bool = True,  # noqa: ANN001 - traffic, p95, pooled: callables
          traffic=None, p95=None, pooled=None) -> pd.DataFrame:
    """golden_signals_1m rows of tier lambda-edge: one per edge location and minute, and the 'all' row.

    Normal latency: P95 45-64 ms; each location has one isolated bad minute a day (a minute where two of its
    latency samples were cold starts; about what the generator shows: 0.075% of minutes). ``traffic(name, t)``
    multiplies the requests, ``p95(name, t)`` overrides a location's P95, ``pooled(t)`` the 'all' row's."""
    t = minutes(days)
    n = len(t)
    hours = (t.hour + t.minute / 60.0).to_numpy()
    shape = 1 + 0.45 * np.sin(2 * np.pi * (hours - 9.0) / 24.0) if daily_shape else np.ones(n)
    rows, total = [], np.zeros(n)
    for i, (name, base) in enumerate(LOCATIONS.items()):
        req = np.rint(base * shape * (traffic(name, t) if traffic else 1.0))
        lat = 45.0 + (np.arange(n) * 37 + i * 11) % 20
        lat[(np.arange(n) % 1440) == (200 + 113 * i) % 1440] = 950.0   # the day's isolated cold-start minute
        if p95 is not None:
            lat = np.where(np.isnan(o := p95(name, t)), lat, o)
        rows.append(pd.DataFrame({"minute": t, "edge_location": name, "requests": req, "emf_latency_p95_ms": lat}))
        total += np.nan_to_num(req)   # a location that is not there yet adds nothing
    all_lat = np.full(n, 55.0) if pooled is None else pooled(t)
    rows.append(pd.DataFrame({"minute": t, "edge_location": "all", "requests": total, "emf_latency_p95_ms": all_lat}))
    df = pd.concat(rows, ignore_index=True)
    df["tier"] = "lambda-edge"
    df["errors_5xx"] = 0.0
    return df


def models(gs: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """sli_events_1m and slo_burn_rates_1m of the shipped graph (the generated SQL) over ``gs``."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("gs", gs)
    end = gs["minute"].max().to_pydatetime() + M
    window = (gs["minute"].min().to_pydatetime().isoformat(), end.isoformat())
    relations = {"golden_signals_1m": "gs", "sli_events_1m": "sli"}
    for name, table in (("sli_events_1m", "sli"), ("slo_burn_rates_1m", "burn")):
        sql = GRAPH.models[name].render(relations.__getitem__, None, window)
        con.execute(f"CREATE TABLE {table} AS {sql}")
    return con


def states(con: duckdb.DuckDBPyConnection, since: datetime) -> dict[str, dict[datetime, str]]:
    out: dict[str, dict[datetime, str]] = {}
    for slo, minute, state in con.execute("SELECT slo, minute, alert_state FROM burn WHERE minute >= ? ORDER BY 1, 2",
                                          [since]).fetchall():
        out.setdefault(slo, {})[minute] = state
    return out


def firing(con: duckdb.DuckDBPyConnection, since: datetime) -> list[tuple]:
    return con.execute("""SELECT slo, alert_state, min(minute), count(*) FROM burn
                          WHERE minute >= ? AND alert_state IN ('fast', 'medium', 'slow') AND slo LIKE 'edge%'
                          GROUP BY ALL ORDER BY ALL""", [since]).fetchall()


def key(location: str) -> str:
    return f"{PER_LOCATION.name}.{location}"


def test_the_edge_specs_say_what_the_docs_defend():
    assert (PER_LOCATION.budgeting, PER_LOCATION.target, PER_LOCATION.group_by) == (
        "Occurrences", 0.996, "edge_location")
    assert f"emf_latency_p95_ms < {THRESHOLD_MS:g} THEN requests" in PER_LOCATION.good.expr
    assert "tier = 'lambda-edge'" in PER_LOCATION.total.where and PER_LOCATION.promql_skip
    assert (OVERALL.budgeting, OVERALL.target, OVERALL.op, OVERALL.value) == ("Timeslices", 0.999, "lt", THRESHOLD_MS)
    assert "edge_location = 'all'" in OVERALL.threshold.where
    # 14.4 x 0.4% = 5.76% of an hour: 3 bad minutes (5%) do not page, the 4th (6.7%) does
    assert fast_minutes_needed(PER_LOCATION.target) == 4
    assert fast_minutes_needed(OVERALL.target) == 1


def test_every_edge_location_in_the_data_gets_its_own_slo_and_nothing_else_does():
    con = models(frame(days=1))
    keys = {r[0] for r in con.execute("SELECT DISTINCT slo FROM burn").fetchall()}
    assert keys == {key(x) for x in LOCATIONS} | {OVERALL.name}
    assert {"ZRH55-C1", "MXP64-P2"} - set(EDGE_LOCATIONS) == {"ZRH55-C1", "MXP64-P2"}  # not the generator's twelve
    spec, loc = con.execute(f"SELECT DISTINCT spec, edge_location FROM burn WHERE slo = '{key(STORMED)}'").fetchone()
    assert (spec, loc) == (PER_LOCATION.name, STORMED) == split_key(key(STORMED))
    assert split_key(OVERALL.name) == (OVERALL.name, "all")


def test_a_storm_at_one_of_twelve_locations_pages_p0_on_its_fourth_minute_with_burn_rates_by_hand():
    onset = DAY3 + timedelta(hours=10, minutes=7)
    length = timedelta(minutes=15)

    def storm(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.where((name == STORMED) & (t >= onset) & (t < onset + length), 2400.0, np.nan)

    gs = frame(daily_shape=False, p95=storm)
    con = models(gs)
    st = states(con, DAY3)
    n = fast_minutes_needed(PER_LOCATION.target)
    ours = st[key(STORMED)]
    assert [ours[onset + i * M] for i in range(n)] == ["ok"] * (n - 1) + ["fast"]
    assert all(ours[onset + i * M] == "fast" for i in range(n - 1, 15))
    # By hand, at the 4th storm minute with flat traffic (90 requests a minute): 4 bad minutes of the last 60,
    # 4 of the last 5, 4 of the last 30; the budget is 0.4%.
    row = con.execute("SELECT burn_5m, burn_30m, burn_1h, severity FROM burn WHERE slo = ? AND minute = ?",
                      [key(STORMED), onset + (n - 1) * M]).fetchone()
    assert row[:3] == (pytest.approx((4 / 5) / 0.004), pytest.approx((4 / 30) / 0.004), pytest.approx((4 / 60) / 0.004))
    assert row[3] == "P0"
    # The same from the input rows, for every minute of the day: first minute where both windows burn > 14.4x.
    loc = gs[gs["edge_location"] == STORMED].set_index("minute").sort_index()
    bad = loc["requests"].where(loc["emf_latency_p95_ms"] >= THRESHOLD_MS, 0.0)
    burn_1h = bad.rolling(60, min_periods=1).sum() / loc["requests"].rolling(60, min_periods=1).sum() / 0.004
    burn_5m = bad.rolling(5, min_periods=1).sum() / loc["requests"].rolling(5, min_periods=1).sum() / 0.004
    hot = ((burn_1h > FAST.factor) & (burn_5m > FAST.factor))[DAY3:]
    assert hot.idxmax() == onset + (n - 1) * M
    # The storm pages nobody else: the other eleven locations and the all-locations SLO stay quiet all day.
    assert [r for r in firing(con, DAY3) if r[0] != key(STORMED)] == []


def test_a_normal_day_does_not_fire_even_with_three_cold_start_minutes_in_one_hour():
    burst = DAY3 + timedelta(hours=15)
    three = {burst, burst + 20 * M, burst + 40 * M}

    def cold(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.where((name == "NRT57") & t.isin(list(three)), 1400.0, np.nan)

    gs = frame(p95=cold)
    con = models(gs)
    assert firing(con, DAY3) == []
    # but it was close: 3 of the hour's minutes (by traffic) at NRT57 is 12.5x, 14.4x pages
    loc = gs[(gs["edge_location"] == "NRT57") & (gs["minute"] > burst + 40 * M - timedelta(hours=1))
             & (gs["minute"] <= burst + 40 * M)]
    by_hand = loc.loc[loc["emf_latency_p95_ms"] >= THRESHOLD_MS, "requests"].sum() / loc["requests"].sum() / 0.004
    got = con.execute("SELECT burn_1h FROM burn WHERE slo = ? AND minute = ?",
                      [key("NRT57"), burst + 40 * M]).fetchone()
    assert got[0] == pytest.approx(by_hand) and 10 < by_hand < FAST.factor


@pytest.mark.parametrize("factor", [2.0, 3.0, 0.4], ids=["2x surge", "3x surge", "0.4 dip"])
def test_a_traffic_surge_or_dip_with_normal_latency_does_not_fire(factor):
    lo, hi = DAY3 + timedelta(hours=9), DAY3 + timedelta(hours=12)

    def change(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.where((t >= lo) & (t < hi), factor, 1.0)

    con = models(frame(traffic=change))
    assert firing(con, DAY3) == []
    # the surge reached the SLI: the requests counted in the window changed by the factor
    inside = con.execute("SELECT avg(total) FROM burn WHERE slo = ? AND minute >= ? AND minute < ?",
                         [key("IAD89"), lo, hi]).fetchone()[0]
    shape = 1 + 0.45 * np.sin(2 * np.pi * (np.arange(9, 12, 1 / 60) - 9.0) / 24.0)
    assert inside == pytest.approx(float(np.mean(np.rint(288 * shape * factor))))


def test_a_storm_at_several_locations_moves_the_pooled_p95_and_pages_the_all_locations_slo_at_once():
    onset = DAY3 + timedelta(hours=19, minutes=3)
    gs = frame(pooled=lambda t: np.where((t >= onset) & (t < onset + 12 * M), 900.0, 55.0))
    con = models(gs)
    row = con.execute("SELECT alert_state, severity, burn_5m, burn_1h FROM burn WHERE slo = ? AND minute = ?",
                      [OVERALL.name, onset]).fetchone()
    # one bad slice: 1 of 5 and 1 of 60 minutes, against a 0.1% budget
    assert row == ("fast", "P0", pytest.approx(0.2 / 0.001), pytest.approx((1 / 60) / 0.001))
    assert con.execute("SELECT alert_state FROM burn WHERE slo = ? AND minute = ?",
                       [OVERALL.name, onset - M]).fetchone()[0] == "ok"


def test_a_location_under_the_low_traffic_guard_is_not_paged_p0_on_a_few_requests_but_a_long_storm_reaches_p1():
    onset = DAY3 + timedelta(hours=7)   # its daily cold-start minute (00:03) is out of the 6 h window by then
    quiet = "MXP64-P2"

    def one_a_minute(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.full(len(t), 1 / 90) if name == quiet else np.ones(len(t))

    def storm(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.where((name == quiet) & (t >= onset) & (t < onset + 20 * M), 3000.0, np.nan)

    con = models(frame(daily_shape=False, traffic=one_a_minute, p95=storm))
    st = states(con, onset)[key(quiet)]
    assert TABLE.min_events == 100
    # fast: 60 requests in the hour (< 100): guarded, whatever the ratio (k of 60 minutes bad: k/60 / 0.4%)
    row = con.execute("SELECT total_1h, burn_1h, total_6h FROM burn WHERE slo = ? AND minute = ?",
                      [key(quiet), onset + 19 * M]).fetchone()
    assert row == (60.0, pytest.approx((20 / 60) / 0.004), 360.0)
    # medium: 360 requests in 6 h (>= 100); 6x of a 0.4% budget is 2.4% of them: 8.64, so the 9th bad minute
    medium = TABLE.tiers[1]
    k = math.floor(medium.long_window / M * medium.factor * (1 - PER_LOCATION.target)) + 1
    assert k == 9
    assert [st[onset + i * M] for i in range(20)] == ["low_traffic"] * (k - 1) + ["medium"] * (20 - k + 1)
    # never P0; once the storm is over the 6 h window drains and the slow tier (a ticket) holds it: 23 bad
    # minutes in 3 days (20 + one cold-start minute a day) are 0.53% of them, over the 0.4% budget
    assert {r[1] for r in firing(con, DAY3)} == {"medium", "slow"}


def test_a_location_seen_for_the_first_time_warms_up_before_its_tiers_judge_it():
    """Its windows hold only the minutes since its first: a slow minute among its first 17 would be more than
    5.76% of "the hour". Each tier judges it once its data covers the tier's long window."""
    born = DAY3 + timedelta(hours=10)
    new = "MXP64-P2"   # not there before DAY3 10:00

    def appears(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        return np.where((name != new) | (t >= born), 1.0, np.nan)

    def slow(name: str, t: pd.DatetimeIndex) -> np.ndarray:
        bad = [born + 2 * M, born + 70 * M, born + 71 * M] + [born + (180 + i) * M for i in range(10)]
        return np.where((name == new) & t.isin(bad), 2400.0, np.nan)

    gs = frame(daily_shape=False, traffic=appears, p95=slow)
    gs = gs[gs["requests"].notna()]   # the new location has no rows before it appears
    con = models(gs)
    st = states(con, born)[key(new)]
    assert min(st) == born
    # minute 2: 1 slow minute of 3 (33%, 83x), but nothing judges it before it has a full hour (minute 59)
    assert [st[born + i * M] for i in range(60)] == ["warm_up"] * 59 + ["ok"]
    row = con.execute("SELECT burn_1h, burn_5m FROM burn WHERE slo = ? AND minute = ?", [key(new), born + 2 * M]).fetchone()
    assert row == (pytest.approx((1 / 3) / 0.004), pytest.approx((1 / 3) / 0.004))
    # minutes 70-71: 2 slow minutes of the last 60 (minute 2 left the window at minute 62): 8.3x, no page
    row = con.execute("SELECT burn_1h, alert_state FROM burn WHERE slo = ? AND minute = ?",
                      [key(new), born + 71 * M]).fetchone()
    assert row == (pytest.approx((2 / 60) / 0.004), "ok")
    # minutes 180-189: a storm (minutes 70-71 out of its hour); the fast tier judges it: P0 on its 4th minute
    n = fast_minutes_needed(PER_LOCATION.target)
    first = min(m for m, x in st.items() if x == "fast")
    assert first == born + (180 + n - 1) * M
    assert {x for m, x in st.items() if m < born + 180 * M} <= {"warm_up", "ok"}


def test_the_edge_alert_is_at_lambda_edge_and_names_its_location():
    """What respond.py sees: the component from the spec's tier filter, the location from the instance key."""
    from akidb_pipelines.alerting.alert_sources import slo_component

    spec, location = split_key(key(STORMED))
    assert slo_component(BY_NAME[spec]) == "lambda-edge" and location == STORMED
    assert slo_component(OVERALL) == "lambda-edge" and split_key(OVERALL.name)[1] == "all"
    assert slo_component(BY_NAME["availability"]) == "cloudfront"   # CloudFront's 5xx SLO


def test_slo_alerts_of_a_storm_carry_lambda_edge_and_the_location(tmp_path):
    from akidb_pipelines.alerting.alert_sources import slo_alerts

    onset = DAY3 + timedelta(hours=10)
    con = models(frame(days=3.5, daily_shape=False,
                       p95=lambda name, t: np.where((name == STORMED) & (t >= onset) & (t < onset + 10 * M), 2400.0,
                                                    np.nan)))

    class BurnTable:  # the lake's query_table over the model output
        def query_table(self, table, sql, params=()):  # noqa: ANN001, ANN201
            return con.execute(sql.format(src="burn"), list(params)).fetchall()

        def query_hours(self, table, sql, start, end, params=()):  # noqa: ANN001, ANN201
            return self.query_table(table, sql, params)

    alerts = [a for a in slo_alerts(BurnTable(), SLOS, DAY3, DAY3 + timedelta(hours=12)) if a.rule.startswith("edge")]
    assert [(a.rule, a.component, a.edge_location, a.severity) for a in alerts] == [
        (key(STORMED), "lambda-edge", STORMED, "P0")]


def _doc() -> dict:
    return yaml.safe_load(open("akidb_pipelines/slo/specs/edge_location_latency.yaml"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update({"akidb.io/group-by": "region"}), "akidb.io/group-by: one of edge_location, got 'region'"),
        (lambda a: a.update({"akidb.io/promql-errors": "x"}), "akidb.io/promql-skip: not with akidb.io/promql-errors"),
        (lambda a: a.update({"akidb.io/promql-skip": "  "}), "akidb.io/promql-skip: say why"),
        (lambda a: (a.pop("akidb.io/promql-skip"), a.update({"akidb.io/promql-total": "x"})),
         "akidb.io/group-by: Prometheus rules are not generated for a grouped SLO"),
    ],
    ids=["unknown column", "skip and promql", "empty reason", "grouped with promql"],
)
def test_bad_edge_annotations_name_the_file_and_field(change, message):
    doc = _doc()
    change(doc["metadata"]["annotations"])
    with pytest.raises(SpecError) as e:
        parse_slo(doc, "specs/edge.yaml")
    assert str(e.value).startswith("specs/edge.yaml: metadata.annotations.") and message in str(e.value)


def test_akidb_rules_covers_edge_latency_and_says_why_the_per_location_slo_has_none():
    from akidb_pipelines.slo.promrules import render_rules, rule_groups

    text = render_rules(SLOS, TABLE)
    assert text.splitlines()[1].startswith(
        "# No rules for the SLO edge-location-latency: the per-edge-location latency")
    rules = rule_groups(SLOS, TABLE)["groups"]
    assert not any(r["labels"]["slo"] == PER_LOCATION.name for g in rules for r in g["rules"])
    fast = next(r for r in rules[1]["rules"]
                if r["labels"] == {"slo": "edge-latency", "tier": "fast", "severity": "P0"})
    assert 'slo:sli_error:ratio_rate1h{slo="edge-latency"} > 0.0144' in fast["expr"]   # 14.4 x 0.1%
    slice_bad = next(r["expr"] for r in rules[0]["rules"]
                     if r["record"] == "slo:sli_slice_bad:ratio_1m" and r["labels"]["slo"] == "edge-latency")
    assert 'service="lambda-edge"' in slice_bad and slice_bad.endswith(">= bool 0.300")


def test_on_generated_days_the_storm_pages_each_stormed_location_and_no_other_edge_slo_fires(days_lake):
    """tests/data/scenario_days.yaml: a 15-minute storm (P95 4.5 s) at NRT57, SIN52 and SYD62 on the third day at
    07:00, after two quiet days. Nothing at the edge fires before it, from the lake's first minute (the locations
    warm up). Each stormed location pages P0 within N = 4 minutes of the onset (earlier when a cold-start minute of
    the hour before adds to the storm's); three locations are a quarter of the edge's latency samples, 30% of them
    cold: the pooled P95 is over 300 ms and the all-locations SLO pages at the onset."""
    from tests.conftest import DAYS_START

    lake, _ = days_lake
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    onset = DAYS_START + timedelta(days=2, hours=7)
    burn = lake.glob("models/marts/slo_burn_rates_1m")
    rows = con.execute("""SELECT slo, alert_state, min(minute) FROM read_parquet(?)
                          WHERE minute >= ? AND slo LIKE 'edge%' AND alert_state IN ('fast', 'medium', 'slow')
                          GROUP BY ALL ORDER BY ALL""", [burn, DAYS_START]).fetchall()
    first = {(slo, state): t for slo, state, t in rows}
    n = fast_minutes_needed(PER_LOCATION.target)
    stormed = {key(x) for x in ("NRT57", "SIN52", "SYD62")}
    assert {slo for slo, _, _ in rows} == stormed | {OVERALL.name}, rows
    assert min(t for _, _, t in rows) >= onset, rows            # nothing edge fires before the storm
    for k in stormed:
        assert onset <= first[(k, "fast")] <= onset + (n - 1) * M, rows
    assert first[(OVERALL.name, "fast")] == onset, rows
