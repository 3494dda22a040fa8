"""Root causes named right on incidents nobody tuned on (issue 14, item 4): evidence relative to what is normal for
that time of day, incidents on different tiers kept apart, each runbook only for its own cause.

The golden-signal minutes are made here: a fleet that provisions 30% over the forecast load, 70% of it on spot,
with an on-demand floor of two instances (so at night the capacity ratio is already near 3), and twelve edge
locations where 0.2% of Lambda@Edge invocations are cold. Incidents and noise are injected with magnitudes of the
game-day definitions (chaos/gameday.py): over-provisioning 80-300%, spot cascades of 2-6 instances, storms at 1-4 of
the 12 edge locations, surges of 1.5-3x and dips of 0.4-0.7. What each case must be typed is what was injected."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest

from akidb_pipelines.alerting import evidence
from akidb_pipelines.alerting.correlate import Alert, Incident, ServiceMap, correlate
from akidb_pipelines.alerting.evidence import Condition
from akidb_pipelines.alerting.golden_columns import GOLDEN
from akidb_pipelines.alerting.rootcause import (
    UNCLASSIFIED, RootCauseConfigError, classify, evidence_frame, load_cause_types, split_by_cause)
from akidb_pipelines.runbooks.audit import AuditLog
from akidb_pipelines.runbooks.config import RunbookConfigError, load_runbooks
from akidb_pipelines.runbooks.lifecycle import due_steps
from akidb_pipelines.storage import Lake

UTC = timezone.utc
M = timedelta(minutes=1)
START = datetime(2027, 3, 1, tzinfo=UTC)            # a Monday: seven days of history before DAY
DAY = START + timedelta(days=7)                       # Monday 2027-03-08, the day the incidents happen
TYPES = load_cause_types()
SPOT, STORM, LSTM = "spot_interruption", "edge_cold_start_storm", "predictive_over_provisioning"
EDGES = {"IAD89": 0.16, "SFO5": 0.12, "FRA56": 0.10, "LHR62": 0.10, "NRT57": 0.09, "SIN52": 0.08, "SYD62": 0.06,
         "GRU3": 0.05, "BOM78": 0.07, "CDG50": 0.07, "ICN54": 0.05, "DUB56": 0.05}
SMAP = ServiceMap({("cloudfront", "lambda-edge"), ("cloudfront", "alb"), ("lambda-edge", "alb"),
                   ("alb", "akidb-rest"), ("akidb-rest", "hnsw_index"), ("akidb-rest", "sqlite")})


def telemetry(seed: int = 1, days: int = 8, traffic: tuple = (), over: tuple = (), spot_lost: tuple = (),
              storm: tuple = ()) -> dict:
    """Per-minute columns of akidb-rest and of Lambda@Edge per edge location. Events are (start, minutes, x):
    ``traffic`` multiplies demand by x, ``over`` forecasts x times the load (the extra capacity is on-demand),
    ``spot_lost`` removes x spot instances, ``storm`` makes 30% of invocations cold at the edge locations x."""
    t = pd.date_range(START, periods=days * 1440, freq="min", tz="UTC")
    n, rng = len(t), np.random.default_rng(seed)
    hours = (t.hour + t.minute / 60).to_numpy()
    weekend = (t.day_of_week >= 5)
    demand = 3000 * (1 + 0.45 * np.sin(2 * np.pi * (hours - 9) / 24)) * np.where(weekend, 0.72, 1.0)
    demand = demand * np.exp(rng.normal(0, 0.04, n))

    def mask(start: datetime, minutes: int) -> np.ndarray:
        i = int((start - START) / M)
        m = np.zeros(n, bool)
        m[i:i + minutes] = True
        return m

    for start, minutes, x in traffic:
        demand[mask(start, minutes)] *= x
    used = demand * 0.79 / 60                       # requests per second that reach akidb-rest
    predicted = used * np.exp(rng.normal(0, 0.03, n))
    needed = np.ceil(1.3 * predicted / 10)           # 10 requests per second per instance, 30% headroom
    spot = np.ceil(0.7 * needed)
    on_demand = np.maximum(needed - spot, 2)
    for start, minutes, x in over:
        m = mask(start, minutes)
        predicted[m] = used[m] * x
        on_demand[m] = np.maximum(np.ceil(1.3 * predicted[m] / 10) - spot[m], 2)
    for start, minutes, x in spot_lost:
        m = mask(start, minutes)
        spot[m] = np.maximum(spot[m] - x, 0)
    rest = {"instances_spot": spot, "instances_on_demand": on_demand, "used_capacity_rps": used,
            "predicted_load_rps": predicted, "provisioned_capacity_rps": (spot + on_demand) * 10}
    share = {e: np.full(n, 0.002) for e in EDGES}
    for start, minutes, edges in storm:
        for e in edges:
            share[e][mask(start, minutes)] = 0.3
    edge = {}
    for e, w in EDGES.items():
        req = np.floor(demand * w * 0.6)
        edge[e] = {"requests": req, "cold_starts": rng.binomial(req.astype(int), share[e]).astype(float)}
    return {"minutes": list(t.to_pydatetime()), "akidb-rest": rest, "lambda-edge": edge}


def evaluate(metric: str, cols: dict) -> np.ndarray:
    """A metric as the shipped types write them: a column or 'column / column'."""
    parts = [p.strip() for p in metric.split("/")]
    assert len(parts) in (1, 2) and all(p in cols for p in parts), metric
    if len(parts) == 1:
        return np.asarray(cols[parts[0]], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(cols[parts[0]], float) / np.asarray(cols[parts[1]], float)
    return np.where(np.isfinite(out), out, np.nan)


def frame(tel: dict) -> dict:
    """{condition key: {minute: value}} for every condition of the shipped types, aggregated over a tier's rows
    of a minute as the golden-signals query does (max or sum over the edge locations, missing values skipped)."""
    out = {}
    for t in TYPES:
        for c in t.evidence:
            if c.tier == "lambda-edge":
                per_edge = np.vstack([evaluate(c.metric, cols) for cols in tel["lambda-edge"].values()])
                agg = np.nanmax if c.aggregate == "max" else np.nansum
                with np.errstate(all="ignore"):
                    values = agg(per_edge, axis=0)
            else:
                values = evaluate(c.metric, tel[c.tier])
            out[c.key] = {m: float(v) for m, v in zip(tel["minutes"], values) if math.isfinite(v)}
    return out


def alert(component: str, start: datetime, minutes: int = 10, source: str = "anomaly", rule: str = "",
          severity: str = "P2", edge: str = "all") -> Alert:
    return Alert(source, rule or f"{component}.latency_p95_ms", component, severity, start,
                 start + timedelta(minutes=minutes), edge)


def cause_of(tel: dict, alerts: list[Alert]) -> str:
    (inc,) = correlate(alerts, SMAP)
    return classify(inc, TYPES, frame(tel))[0]


# -- the cases of the issue ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("day, low", [(DAY - timedelta(days=1), 2.7), (DAY, 2.0)])  # Sunday, Monday
def test_a_night_time_over_provisioning_is_typed_although_the_capacity_ratio_is_already_near_three(day, low):
    onset = day + timedelta(hours=3)
    tel = telemetry(over=((onset, 90, 2.2),))    # 120% over-provisioning at 03:00 for 90 minutes
    cols = tel["akidb-rest"]
    i = int((onset - START) / M)
    ratio = cols["provisioned_capacity_rps"] / cols["used_capacity_rps"]
    hour_before = float(np.median(ratio[i - 65:i - 5]))
    assert low <= hour_before <= 3.5                # the premise: the on-demand floor keeps the ratio high at night
    assert ratio[i - 5:i + 16].max() < 1.8 * hour_before  # so the old rule (x1.8 the hour before) could not see it
    inc_alerts = [alert("akidb-rest", onset + 2 * M, 60, rule="akidb-rest.predicted_load_rps")]
    assert cause_of(tel, inc_alerts) == LSTM


def test_an_afternoon_over_provisioning_of_twice_the_load_is_typed():
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=2, over=((onset, 90, 2.0),))
    assert cause_of(tel, [alert("akidb-rest", onset + 3 * M, 60, rule="akidb-rest.capacity_ratio")]) == LSTM
    # an alert that comes late (40 minutes into it) still finds the forecast far above the load
    assert cause_of(tel, [alert("akidb-rest", onset + 40 * M, 30, rule="akidb-rest.capacity_ratio")]) == LSTM


@pytest.mark.parametrize("hour, lost, fleet", [(15, 2, 6), (3, 2, 3), (11, 6, 5)])
def test_a_spot_cascade_of_two_to_six_instances_is_typed_at_any_hour(hour, lost, fleet):
    onset = DAY + timedelta(hours=hour, minutes=7)
    tel = telemetry(seed=3 + hour, spot_lost=((onset, 8, lost),))
    i = int((onset - START) / M)
    # the spot fleet before: six in the afternoon (2 lost is a third of it, the smallest share the game day
    # draws), three at night, five at 11:00 (6 lost: all of them)
    assert tel["akidb-rest"]["instances_spot"][i - 1] == fleet
    alerts = [alert("akidb-rest", onset + M, 15, source="slo", rule="availability", severity="P0")]
    assert cause_of(tel, alerts) == SPOT


def test_a_storm_at_one_of_twelve_edge_locations_is_typed():
    onset = DAY + timedelta(hours=4)               # night: the fewest requests, the noisiest share of cold starts
    tel = telemetry(seed=4, storm=((onset, 12, ("GRU3",)),))
    alerts = [alert("lambda-edge", onset + 2 * M, 12, rule="lambda-edge.GRU3.emf_latency_p95_ms", edge="GRU3")]
    assert cause_of(tel, alerts) == STORM


@pytest.mark.parametrize("hour", [3, 20])
def test_a_traffic_surge_of_two_and_a_half_times_is_typed_as_nothing(hour):
    onset = DAY + timedelta(hours=hour)
    tel = telemetry(seed=5, traffic=((onset, 60, 2.5),))
    alerts = [alert("akidb-rest", onset + M, 30, rule="akidb-rest.requests"),
              alert("lambda-edge", onset + M, 30, rule="lambda-edge.IAD89.requests", edge="IAD89")]
    assert cause_of(tel, alerts) == UNCLASSIFIED


@pytest.mark.parametrize("hour", [1, 10])
def test_a_dip_to_half_the_traffic_is_typed_as_nothing(hour):
    onset = DAY + timedelta(hours=hour)
    tel = telemetry(seed=6, traffic=((onset, 360, 0.5),))
    i = int((onset - START) / M)
    spot = tel["akidb-rest"]["instances_spot"]
    assert spot[i + 5:i + 15].max() < np.median(spot[i - 60:i])  # the autoscaler did shed spot instances
    for at in (onset + M, onset + timedelta(minutes=90)):
        assert cause_of(tel, [alert("akidb-rest", at, 30, rule="akidb-rest.requests")]) == UNCLASSIFIED


def test_an_unclassified_incident_says_which_conditions_of_a_type_held_and_how_far_the_others_went():
    """Named nothing (no runbook runs), but the on-call reads what was seen: a dip where the autoscaler shed spot
    instances (the spot count fell, capacity per request did not), and one spot instance of five reclaimed at 11:00
    (capacity per request fell 20%, but by 3.9 spreads of its normal level where 4 are needed)."""
    onset = DAY + timedelta(hours=10)
    tel = telemetry(seed=6, traffic=((onset, 360, 0.5),))
    (inc,) = correlate([alert("akidb-rest", onset + M, 30, rule="akidb-rest.requests")], SMAP)
    cause, why = classify(inc, TYPES, frame(tel))
    assert cause == UNCLASSIFIED
    shed = re.match(r"no type's conditions all hold; spot_interruption in part: akidb-rest instances_spot fell from "
                    r"(\d+) to (\d+) .*; not seen: akidb-rest provisioned_capacity_rps / used_capacity_rps did not "
                    r"fall: lowest ([\d.]+) against ([\d.]+) expected \(10:01 \+/- 30 min on 5 earlier weekday\(s\)\); "
                    r"needs a fall of 10% and 4 spreads$", why)
    assert shed, why
    assert int(shed[1]) > int(shed[2]) and float(shed[3]) >= float(shed[4])  # fewer spot, no less capacity/request

    onset = DAY + timedelta(hours=11, minutes=7)
    tel = telemetry(seed=14, spot_lost=((onset, 8, 1),))
    assert tel["akidb-rest"]["instances_spot"][int((onset - START) / M) - 1] == 5
    (inc,) = correlate([alert("akidb-rest", onset + M, 15, source="slo", rule="availability", severity="P0")], SMAP)
    cause, why = classify(inc, TYPES, frame(tel))
    assert cause == UNCLASSIFIED
    assert "in part: akidb-rest instances_spot fell from 5 to 4 " in why  # the one instance of five injected
    lost = re.search(r"not seen: akidb-rest provisioned_capacity_rps / used_capacity_rps fell from ([\d.]+) to "
                     r"([\d.]+) \(expected: .*; ([\d.]+) spreads of [\d.]+\); needs a fall of 10% and 4 spreads$", why)
    assert lost, why
    # why it is not named: capacity per request fell by more than the 10% asked, but by fewer than 4 spreads
    assert float(lost[2]) <= 0.9 * float(lost[1]) and float(lost[3]) < 4


def test_noise_alone_types_nothing_on_a_quiet_day():
    tel = telemetry(seed=7)
    f = frame(tel)
    for hour in range(0, 24, 2):
        a = alert("akidb-rest", DAY + timedelta(hours=hour, minutes=13))
        e = alert("lambda-edge", DAY + timedelta(hours=hour, minutes=13), edge="SYD62")
        assert classify(Incident("i", a, [a, e], "P2", a.start, a.end), TYPES, f)[0] == UNCLASSIFIED, hour


# -- the baseline ----------------------------------------------------------------------------------------------------

def test_the_expected_level_is_the_same_time_on_earlier_days_of_the_same_type():
    # weekdays at 10.0, weekends at 6.0 (the same minute), the onset a Saturday: compared with weekends only
    series = {}
    for d in range(14):
        day = START + timedelta(days=d)
        level = 6.0 if day.weekday() >= 5 else 10.0
        for m in range(-40, 41):
            series[day + timedelta(hours=12, minutes=m)] = level
    sat = START + timedelta(days=12, hours=12)      # Saturday 2027-03-13
    b = evidence.baseline(series, sat)
    assert (b.expected, b.spread) == (6.0, 0.0) and "2 earlier weekend" in b.basis  # Sat 6th, Sun 7th
    tue = START + timedelta(days=8, hours=12)
    b = evidence.baseline(series, tue)
    assert b.expected == 10.0 and "5 earlier weekday" in b.basis  # Mon 1st .. Fri 5th, not the 7th
    # no earlier day of its type: the hour before the window
    fresh = {START + timedelta(minutes=m): 4.0 for m in range(0, 120)}
    b = evidence.baseline(fresh, START + timedelta(minutes=100))
    assert b.expected == 4.0 and b.basis == "the hour before" and b.values == 60  # minutes 35 .. 94


def test_a_change_must_stand_out_from_the_baseline_spread_and_be_held_for_minutes():
    rise = Condition("akidb-rest", "x", "rise", 1.5)
    onset = START + timedelta(days=2, hours=9)
    steady = {onset - timedelta(days=d) + timedelta(minutes=m): 2.0 + 0.01 * (m % 3)
              for d in (1, 2) for m in range(-30, 31)}
    noisy = {onset - timedelta(days=d) + timedelta(minutes=m): (1.0 if m % 2 else 3.0)
             for d in (1, 2) for m in range(-30, 31)}
    window = {onset + timedelta(minutes=m): 4.0 for m in range(-5, 16)}
    # steady: median 2.01, 4.0 is about twice that and hundreds of spreads away
    assert evidence.check(rise, {rise.key: {**steady, **window}}, onset) is not None
    # noisy: median 1.0 or 3.0 -> 2.0 lies between; the spread (1.4826 x MAD 1.0) is 1.48: 4.0 is 1.35 spreads away
    assert evidence.check(rise, {rise.key: {**noisy, **window}}, onset) is None
    # a single minute at 4.0 (a flicker) is not a level: the median of three consecutive minutes stays at 2
    flicker = {onset + timedelta(minutes=m): 2.0 for m in range(-5, 16)} | {onset: 4.0}
    assert evidence.check(rise, {rise.key: {**steady, **flicker}}, onset) is None
    two = flicker | {onset + M: 4.0}                  # two minutes of three: held
    assert evidence.check(rise, {rise.key: {**steady, **two}}, onset) is not None


def test_conditions_of_one_type_must_hold_in_the_same_minutes():
    a, b = Condition("akidb-rest", "a", "drop", 0.2), Condition("akidb-rest", "b", "drop", 0.2)
    onset = START + timedelta(days=1, hours=9)
    base = {onset - timedelta(days=1) + timedelta(minutes=m): 10.0 for m in range(-30, 31)}
    sa = {**base, **{onset + timedelta(minutes=m): (5.0 if m < 4 else 10.0) for m in range(-5, 16)}}
    sb = {**base, **{onset + timedelta(minutes=m): (5.0 if m >= 8 else 10.0) for m in range(-5, 16)}}
    assert evidence.check([a], {a.key: sa}, onset) and evidence.check([b], {b.key: sb}, onset)
    assert evidence.check([a, b], {a.key: sa, b.key: sb}, onset) is None   # a fell, then b: not one fault
    assert evidence.check([a, b], {a.key: sa, b.key: sa}, onset) is not None


# -- overlapping incidents on different tiers ------------------------------------------------------------------------

def _overlap(spot_at: datetime, storm_at: datetime) -> tuple[dict, list[Alert]]:
    tel = telemetry(seed=8, spot_lost=((spot_at, 10, 3),), storm=((storm_at, 15, ("NRT57", "SIN52")),))
    alerts = [alert("akidb-rest", spot_at + M, 20, source="slo", rule="latency", severity="P0"),
              alert("akidb-rest", spot_at + 2 * M, 8, rule="akidb-rest.error_rate"),
              alert("lambda-edge", storm_at + M, 14, rule="lambda-edge.NRT57.emf_latency_p95_ms", edge="NRT57"),
              alert("lambda-edge", storm_at + 2 * M, 12, rule="lambda-edge.SIN52.emf_latency_p95_ms", edge="SIN52"),
              alert("cloudfront", storm_at + 3 * M, 10, source="slo", rule="edge-latency", severity="P1")]
    return tel, alerts


@pytest.mark.parametrize("storm_after", [4, -3])
def test_a_spot_cascade_and_a_storm_minutes_apart_stay_two_incidents_with_their_own_causes(storm_after):
    spot_at = DAY + timedelta(hours=10, minutes=17)
    storm_at = spot_at + timedelta(minutes=storm_after)
    tel, alerts = _overlap(spot_at, storm_at)
    (merged,) = correlate(alerts, SMAP)            # the premise: related along the call chain and close in time
    assert merged.root.component == "akidb-rest"
    parts = split_by_cause([merged], TYPES, frame(tel), SMAP)
    by_cause = {p.cause: p for p in parts}
    assert len(parts) == 2 and set(by_cause) == {SPOT, STORM}
    spot, storm = by_cause[SPOT], by_cause[STORM]
    assert spot.root.component == "akidb-rest" and {a.component for a in spot.alerts} == {"akidb-rest"}
    assert storm.root.component == "lambda-edge" and storm.start == storm_at + M   # not before the storm began
    assert {a.component for a in storm.alerts} == {"lambda-edge", "cloudfront"}
    assert spot.severity == "P0" and storm.severity == "P1"
    # the ids are those the correlation gives each fault's alerts on their own: stable whatever else happens
    (alone,) = correlate([a for a in alerts if a.component == "akidb-rest"], SMAP)
    (storm_alone,) = correlate([a for a in alerts if a.component != "akidb-rest"], SMAP)
    assert spot.id == alone.id and storm.id == storm_alone.id   # the tick before the other fault began saw these
    again = split_by_cause(correlate(list(reversed(alerts)), SMAP), TYPES, frame(tel), SMAP)
    assert [(p.id, p.cause) for p in again] == [(p.id, p.cause) for p in parts]


def test_the_edge_errors_of_a_spot_cascade_stay_with_it_when_a_storm_follows_minutes_later():
    """CloudFront's error rate rises with the spot cascade (akidb-rest's errors reach the users through the edge);
    a storm nine minutes later must not claim that alert: its part starts, and is rooted, at Lambda@Edge."""
    spot_at = DAY + timedelta(hours=13, minutes=27)
    storm_at = spot_at + timedelta(minutes=9)
    tel, alerts = _overlap(spot_at, storm_at)
    cf_errors = alert("cloudfront", spot_at + M, 12, rule="cloudfront.error_rate")
    parts = {p.cause: p for p in split_by_cause(correlate([*alerts, cf_errors], SMAP), TYPES, frame(tel), SMAP)}
    assert set(parts) == {SPOT, STORM}
    assert parts[STORM].root.component == "lambda-edge" and parts[STORM].start == storm_at + M
    assert any(a is cf_errors for a in parts[SPOT].alerts) and parts[SPOT].root.component == "akidb-rest"


def test_an_incident_is_rooted_on_its_cause_so_the_page_and_its_id_survive_the_split():
    """A storm and an over-provisioning starting the same minute: before the over-provisioning's evidence exists the
    tick sees one incident, typed a storm; it is rooted at the edge (not at the deeper akidb-rest anomaly) and,
    once the second fault's evidence holds and the incident splits, the storm's part keeps that root and id."""
    at = DAY + timedelta(hours=9, minutes=20)
    alerts = [alert("lambda-edge", at, 15, rule="lambda-edge.LHR62.emf_latency_p95_ms", edge="LHR62"),
              alert("lambda-edge", at, 15, source="slo", rule="edge-latency", severity="P0"),
              alert("akidb-rest", at, 2, rule="akidb-rest.cpu_utilization_pct")]
    (merged,) = correlate(alerts, SMAP)
    assert merged.root.component == "akidb-rest"   # the premise: the deepest alert roots an untyped incident
    first = telemetry(seed=5, storm=((at, 15, ("LHR62", "FRA56")),))       # what the first tick sees
    (inc,) = split_by_cause([merged], TYPES, frame(first), SMAP)
    assert inc.cause == STORM and inc.root.component == "lambda-edge" and len(inc.alerts) == 3
    later = telemetry(seed=5, storm=((at, 15, ("LHR62", "FRA56")),), over=((at, 120, 2.5),))
    parts = {p.cause: p for p in split_by_cause([merged], TYPES, frame(later), SMAP)}
    assert set(parts) == {STORM, LSTM}
    assert parts[STORM].id == inc.id and parts[LSTM].root.component == "akidb-rest"


def test_one_fault_with_symptoms_on_two_tiers_stays_one_incident():
    spot_at = DAY + timedelta(hours=10, minutes=17)
    tel = telemetry(seed=9, spot_lost=((spot_at, 10, 3),))  # no storm: the edge only feels the slower origin
    alerts = [alert("akidb-rest", spot_at + M, 20, source="slo", rule="latency", severity="P0"),
              alert("lambda-edge", spot_at + 2 * M, 8, rule="lambda-edge.IAD89.emf_latency_p95_ms", edge="IAD89")]
    (inc,) = split_by_cause(correlate(alerts, SMAP), TYPES, frame(tel), SMAP)
    assert inc.cause == SPOT and len(inc.alerts) == 2 and inc.root.component == "akidb-rest"


def test_a_later_incident_of_the_same_cause_continues_the_paged_one_and_does_not_page_again(tmp_path):
    """An over-provisioning of hours: its first anomalies page; an anomaly of another akidb-rest series an hour
    and a half in is typed the same and is the same fault, not a second page."""
    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.alerting.respond import Inputs, respond
    from akidb_pipelines.alerting.routing import load_routing
    from akidb_pipelines.forecast.config import load_forecast_config

    at = DAY + timedelta(hours=10)
    lake = golden_lake(tmp_path, telemetry(seed=3, over=((at, 160, 2.2),)))
    first = alert("akidb-rest", at, 40, rule="akidb-rest.cpu_utilization_pct")
    later = alert("akidb-rest", at + timedelta(minutes=100), 1, rule="akidb-rest.requests")
    inputs = Inputs([], load_forecast_config(), load_routing(), cause_types=TYPES, sources=())
    now = at + timedelta(minutes=105)
    rep = respond(lake, now, inputs, Outbox(tmp_path / "o.sqlite", clock=lambda: now.timestamp()), SMAP,
                  extra_alerts=[first, later])
    a, b = sorted(rep.incidents, key=lambda r: r["first_alert"])
    assert a["cause"] == b["cause"] == LSTM and a["decision"] == "page"
    assert b["decision"] == "suppressed" and b["flap_of"] == a["id"] and "continues" in b["reason"]
    assert [k for k in rep.enqueued if k.endswith(":trigger")] == [f"{a['id']}:trigger"]


def test_a_page_sent_before_its_cause_was_known_is_updated_once_the_evidence_is_in(tmp_path):
    """The burn rate pages at the first tick after its onset minute closed; here the spot instances are seen gone
    only from the next minute on (the fleet's count lags the burn), so that page goes out untyped, and so does the
    second tick's (its two minutes do not both show the loss). The third tick has three minutes, two of them
    showing the spot instances gone: the open PagerDuty alert is updated with the cause (same dedup key), once; the
    game day credits the incident from the update's time. (When the first minute shows the loss, the first page
    names the cause: test_rootcause_edge.py.)"""
    from akidb_pipelines.chaos.gameday_report import scenario_result, sent_pages
    from akidb_pipelines.chaos.matching import Injected

    at = DAY + timedelta(hours=10, minutes=17)
    lake = golden_lake(tmp_path, telemetry(seed=4, spot_lost=((at + M, 10, 3),)))
    row, causes, box = respond_three_ticks(tmp_path, lake, at)
    assert causes == ["unclassified", "unclassified", SPOT]
    keys = [r["idempotency_key"] for r in box.rows()]
    assert keys == [f"{row['id']}:trigger", f"{row['id']}:update:{SPOT}@akidb-rest"]
    pages = [p for _, p in sent_pages(box.rows())]
    assert [(p.incident, p.cause) for p in pages] == [(row["id"], "unclassified"), (row["id"], SPOT)]
    spot = Injected("spot", "spot_interruption_cascade", at + M, at + timedelta(minutes=11), ("akidb-rest",))
    r = scenario_result("s", "incident", 3 / 7, [spot], None, pages)
    assert r.matched == {"spot": 140.0} and r.false_pages == 0 and len(r.pages) == 1


def respond_three_ticks(tmp_path, lake: Lake, at: datetime):  # noqa: ANN001, ANN201
    """An availability burn on akidb-rest from ``at``, answered by `respond` at 20 s past each of the three minutes
    after it (each tick's pages delivered): (the incident's last row, its cause at each tick, the outbox)."""
    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.alerting.respond import Inputs, RespondConfig, respond
    from akidb_pipelines.alerting.routing import load_routing
    from akidb_pipelines.alerting.tick_reads import FrozenReads
    from akidb_pipelines.forecast.config import load_forecast_config

    slo = alert("akidb-rest", at, 10, source="slo", rule="availability", severity="P0")
    inputs = Inputs([], load_forecast_config(), load_routing(), cause_types=TYPES, sources=())
    reads = FrozenReads(lake, TYPES, at, at + timedelta(hours=1), RespondConfig().lookback)
    clock = [0.0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: clock[0])
    causes = []
    for k in (1, 2, 3):
        now = at + timedelta(minutes=k, seconds=20)
        clock[0] = now.timestamp()
        (row,) = respond(lake, now, inputs, box, SMAP, extra_alerts=[slo], reads=reads).incidents
        box.deliver(lambda ev: ev.dedup_key)
        causes.append(row["cause"])
    return row, causes, box


def golden_lake(tmp_path, tel: dict) -> Lake:  # noqa: ANN001
    """``tel`` published as models/marts/golden_signals_1m, with the rows the mart also has: akidb-rest at an edge
    location (X-Ray) with empty capacity columns, and Lambda@Edge 'all' with requests but no cold starts."""
    rest = pd.DataFrame({"minute": tel["minutes"], "tier": "akidb-rest", "edge_location": "all",
                         **{k: v for k, v in tel["akidb-rest"].items()}})
    rest["capacity_ratio"] = rest["provisioned_capacity_rps"] / rest["used_capacity_rps"]
    rest_edge = pd.DataFrame({"minute": tel["minutes"], "tier": "akidb-rest", "edge_location": "IAD89"})
    edge = [pd.DataFrame({"minute": tel["minutes"], "tier": "lambda-edge", "edge_location": e, **cols})
            for e, cols in tel["lambda-edge"].items()]
    edge_all = pd.DataFrame({"minute": tel["minutes"], "tier": "lambda-edge", "edge_location": "all",
                             "requests": sum(c["requests"] for c in tel["lambda-edge"].values())})
    rows = pd.concat([rest, rest_edge, *edge, edge_all], ignore_index=True)
    rows["_h"] = [int(m.timestamp()) // 3600 for m in rows["minute"]]   # one partition per hour, as the models
    lake = Lake(tmp_path / "lake")
    staged = lake.staging_dir()
    con = duckdb.connect()
    con.register("rows_df", rows)
    con.execute("COPY rows_df TO $p (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)", {"p": str(staged)})
    lake.publish(GOLDEN, "test", staged, [])
    return lake


def test_the_evidence_is_read_from_the_golden_signals_with_values_bound(tmp_path):
    """The same minutes in the lake: the lake-backed frame types the overlap the same way (the extra rows are
    skipped by the aggregates as by the mart's readers)."""
    spot_at = DAY + timedelta(hours=10, minutes=17)
    tel, alerts = _overlap(spot_at, spot_at + 4 * M)
    lake = golden_lake(tmp_path, tel)
    lazy = evidence_frame(lake, TYPES)
    assert all(len(v) == 0 for v in lazy.values())  # nothing read before an onset is asked about
    parts = split_by_cause(correlate(alerts, SMAP), TYPES, lazy, SMAP)
    assert sorted(p.cause for p in parts) == sorted([SPOT, STORM])
    mem = frame(tel)
    key = next(c.key for c in TYPES[1].evidence)
    t = spot_at + 8 * M
    assert lazy[key][t] == pytest.approx(mem[key][t])
    # only the spans around the onsets were read: the window and the same time of day on the seven days before
    assert spot_at - timedelta(days=3, hours=2) not in lazy[key]


# -- each runbook only for its own cause -----------------------------------------------------------------------------

def _typed(cause: str) -> Incident:
    a = alert("akidb-rest", DAY, source="slo", rule="latency", severity="P0")
    return Incident("inc-x", a, [a], "P0", a.start, a.end, cause=cause)


def test_a_runbook_runs_only_for_the_cause_it_answers():
    rbs = load_runbooks()
    planned = {c: sorted(r.id for r in rbs if r.matches(_typed(c))) for c in (SPOT, STORM, LSTM, UNCLASSIFIED)}
    assert planned == {SPOT: ["spot-cascade-on-demand"],
                       STORM: ["edge-storm-bypass-edge-function", "edge-storm-warm-regional-alias"],
                       LSTM: ["lstm-cascade-disable-predictive"], UNCLASSIFIED: []}


def test_a_planned_runbook_is_not_applied_once_its_incident_has_another_cause(tmp_path):
    spot_rb = next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand")
    now = DAY + timedelta(minutes=5)
    row = {"id": "inc-x", "decision": "page", "first_page": pd.Timestamp(DAY + M), "severity": "P0",
           "last_alert": pd.Timestamp(DAY + 4 * M), "runbooks_planned": json.dumps([spot_rb.id])}
    audit = AuditLog(tmp_path / "audit.sqlite")
    ledger = pd.DataFrame([{**row, "cause": SPOT}])
    assert [(s.runbook, s.step) for s in due_steps(ledger, [spot_rb], audit, now)] == [(spot_rb.id, "apply")]
    for other in (STORM, UNCLASSIFIED):             # typed otherwise on a later tick (or split off): no action
        assert due_steps(pd.DataFrame([{**row, "cause": other}]), [spot_rb], audit, now) == []


@pytest.mark.parametrize("trigger, field", [("[{rule: latency}]", "trigger[0].cause: missing"),
                                            ("[{cause: unclassified}]", "trigger[0].cause: 'unclassified' is no")])
def test_a_runbook_trigger_must_name_a_cause_and_not_unclassified(tmp_path, trigger, field):
    p = tmp_path / "runbooks.yaml"
    p.write_text(f"runbooks: [{{id: x, trigger: {trigger}, action: {{type: ssm_flag, parameter: /p, value: 'a'}}}}]")
    with pytest.raises(RunbookConfigError, match=re.escape(f"{p}: runbooks[0].{field}")):
        load_runbooks(p)


@pytest.mark.parametrize("evidence, field", [
    ("[]", "types[0].evidence: expected a non-empty list"),
    ("{tier: a, metric: requests, change: drop, by: 0.2, at_least: 1}", "types[0].evidence.at_least: only a rise"),
    ("[{tier: a, metric: requests, change: rise, by: 2}, {tier: a, metric: requests, change: rise, by: 0.5}]",
     "types[0].evidence[1].by: a rise is a factor above 1"),
])
def test_bad_evidence_is_one_line_naming_the_field(tmp_path, evidence, field):
    p = tmp_path / "rc.yaml"
    p.write_text(f"types: [{{type: x, components: [a], evidence: {evidence}}}]")
    with pytest.raises(RootCauseConfigError, match=re.escape(f"{p}: {field}")):
        load_cause_types(p)


def test_the_lstm_runbook_verifies_capacity_against_what_the_hour_normally_has(tmp_path):
    """Relative verification: "capacity ratio < 3" failed at night with no incident (the on-demand floor keeps it
    near 3 on a weekend night); "< 1.5 x normal for this hour" holds there, fails while an afternoon
    over-provisioning of 2x lasts, and holds again once it is over."""
    from akidb_pipelines.runbooks.lifecycle import recovered

    lstm_rb = next(r for r in load_runbooks() if r.id == "lstm-cascade-disable-predictive")
    assert lstm_rb.verify.relative and lstm_rb.verify.below == 1.5
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=10, over=((onset, 90, 2.0),))
    lake = golden_lake(tmp_path, tel)
    cols = tel["akidb-rest"]
    ratio = cols["provisioned_capacity_rps"] / cols["used_capacity_rps"]
    night = DAY - timedelta(days=1) + timedelta(hours=3)          # Sunday 03:00, no incident
    i = int((night - START) / M)
    assert ratio[i - 9:i + 1].max() >= 3.0                          # the fixed bound would have failed here
    assert recovered(lake, lstm_rb, night)[0]
    j = int((onset - START) / M) + 40
    assert ratio[j - 9:j + 1].max() > 1.5 * np.median(ratio[j - 1440 - 30:j - 1440 + 31])  # during: far above
    ok, why = recovered(lake, lstm_rb, onset + 40 * M)
    assert not ok and "x normal" in why and "earlier weekday" in why
    assert recovered(lake, lstm_rb, onset + 120 * M)[0]            # 30 minutes after it ended
