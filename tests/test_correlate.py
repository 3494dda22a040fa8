"""Correlation: the service map from real X-Ray spans, grouping by time and topology, root cause, inhibition,
severity from corroboration, stable fingerprints."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone

import pytest

from akidb_pipelines.alerting.alert_sources import lookback_service_map, service_map
from akidb_pipelines.alerting.correlate import Alert, correlate, episodes

T0 = datetime(2026, 11, 11, 6, 0, tzinfo=timezone.utc)
M = timedelta(minutes=1)


@pytest.fixture(scope="module")
def smap(days_lake):
    lake, _ = days_lake
    return service_map(lake)


def _a(source, rule, component, severity="P2", start=0, minutes=5, edge="all"):  # noqa: ANN001, ANN202
    return Alert(source, rule, component, severity, T0 + start * M, T0 + (start + minutes) * M, edge)


def test_the_service_map_from_xray_spans_knows_who_calls_whom(smap):
    assert {("cloudfront", "lambda-edge"), ("lambda-edge", "alb"), ("alb", "akidb-rest"), ("akidb-rest", "sqlite"),
            ("akidb-rest", "hnsw_index"), ("akidb-rest", "lstm_predictor")} <= smap.edges
    assert smap.depth("cloudfront") == 0 < smap.depth("alb") < smap.depth("akidb-rest") < smap.depth("sqlite")
    assert "sqlite" in smap.downstream_of("cloudfront") and "cloudfront" not in smap.downstream_of("sqlite")


def test_a_tick_sees_the_topology_of_its_lookback_spans_only(days_lake, smap):
    from tests.conftest import DAYS, DAYS_START

    lake, _ = days_lake
    end = DAYS_START + timedelta(days=DAYS)
    assert lookback_service_map(lake, end, end, timedelta(hours=6)).edges == smap.edges
    later = end + timedelta(days=5)  # five days after the last span: a 4-day lookback holds none
    assert lookback_service_map(lake, later, later, timedelta(days=4)).edges == set()
    # a replay's ticks from `end` to `later` see the spans of the first tick's lookback
    assert lookback_service_map(lake, end, later, timedelta(hours=6)).edges == smap.edges


def test_a_downstream_fault_is_the_root_and_inhibits_the_symptoms_above_it(smap):
    alerts = [_a("anomaly", "cloudfront.error_rate", "cloudfront", start=1),
              _a("slo", "latency", "akidb-rest", "P0", start=0),
              _a("anomaly", "akidb-rest.latency_p95_ms", "akidb-rest", start=0),
              _a("static", "sqlite_lock_wait", "sqlite", "P1", start=2)]
    (inc,) = correlate(alerts, smap)
    assert inc.root.component == "sqlite" and inc.severity == "P0" and inc.start == T0
    assert len(inc.related) == 3 and len(inc.inhibited) == 3


def test_one_quantity_at_two_edge_locations_is_one_incident_but_not_corroboration(smap):
    """Two per-location P95 anomalies in the same minutes are one incident, and a ticket's worth: one quantity seen
    at two places by chance (12 noisy series) is not two agreeing measurements; a storm pages through its SLOs and
    its cause type. Latency and errors of one place agreeing is corroboration."""
    alerts = [_a("anomaly", "lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge", edge="NRT57", minutes=2),
              _a("anomaly", "lambda-edge.SIN52.emf_latency_p95_ms", "lambda-edge", edge="SIN52", start=1, minutes=1)]
    (inc,) = correlate(alerts, smap)
    assert inc.severity == "P2" and inc.root.component == "lambda-edge" and len(inc.alerts) == 2
    errors = _a("anomaly", "lambda-edge.NRT57.error_rate", "lambda-edge", edge="NRT57", start=1, minutes=1)
    assert correlate([alerts[0], errors], smap)[0].severity == "P1"


def test_coinciding_anomalies_of_different_components_do_not_corroborate_each_other(smap):
    alerts = [_a("anomaly", "akidb-rest.capacity_ratio", "akidb-rest", minutes=1),
              _a("anomaly", "lambda-edge.SYD62.emf_latency_p95_ms", "lambda-edge", edge="SYD62", start=1, minutes=0)]
    (inc,) = correlate(alerts, smap)
    assert inc.severity == "P2" and len(inc.alerts) == 2


def test_an_alert_that_joins_an_incident_later_does_not_take_its_root_or_its_id(smap):
    storm = [_a("anomaly", "lambda-edge.SIN52.emf_latency_p95_ms", "lambda-edge", edge="SIN52", minutes=1),
             _a("slo", "edge-latency", "lambda-edge", "P0", start=1, minutes=10)]
    (before,) = correlate(storm, smap)
    later = _a("anomaly", "akidb-rest.cpu_utilization_pct", "akidb-rest", start=9, minutes=1)  # downstream, later
    (after,) = correlate(storm + [later], smap)
    assert len(after.alerts) == 3 and after.root.rule == before.root.rule and after.id == before.id
    soon = _a("anomaly", "akidb-rest.cpu_utilization_pct", "akidb-rest", start=4, minutes=1)  # within the lead
    (inc,) = correlate(storm + [soon], smap)
    assert inc.root is soon and inc.id != before.id


def test_demand_and_saturation_series_agreeing_do_not_corroborate_only_symptoms_do(smap):
    """A traffic dip moves requests, CPU and the capacity ratio together: no fault, no page. Latency and errors of
    one component agreeing is what users feel: P1."""
    demand = [_a("anomaly", f"akidb-rest.{m}", "akidb-rest") for m in ("requests", "cpu_utilization_pct",
                                                                         "capacity_ratio")]
    (inc,) = correlate(demand, smap)
    assert inc.severity == "P2" and len(inc.alerts) == 3
    felt = [_a("anomaly", "akidb-rest.latency_p95_ms", "akidb-rest"), _a("anomaly", "akidb-rest.error_rate", "akidb-rest")]
    assert correlate(felt, smap)[0].severity == "P1"
    assert correlate([felt[0]] + demand, smap)[0].severity == "P2"  # one symptom among demand series: not two
    # the series' signal label wins over its name
    labelled = [Alert("anomaly", f"x.{k}", "akidb-rest", "P2", T0, T0 + 5 * M, labels=(("signal", "latency"),))
                for k in ("a", "b")]
    assert correlate(labelled, smap)[0].severity == "P1"


def test_a_lone_anomaly_is_a_ticket_and_distant_alerts_are_separate_incidents(smap):
    alerts = [_a("anomaly", "akidb-rest.requests", "akidb-rest"),
              _a("anomaly", "lambda-edge.SFO5.emf_latency_p95_ms", "lambda-edge", edge="SFO5", start=120)]
    incs = correlate(alerts, smap)
    assert [i.severity for i in incs] == ["P2", "P2"] and [len(i.alerts) for i in incs] == [1, 1]


def test_incident_ids_are_stable_whatever_the_order_of_the_alerts(smap):
    alerts = [_a("slo", "latency", "akidb-rest", "P0"), _a("anomaly", "cloudfront.error_rate", "cloudfront", start=3),
              _a("anomaly", "x", "lambda-edge", start=200)]
    ids = [i.id for i in correlate(alerts, smap)]
    shuffled = alerts[:]
    random.Random(4).shuffle(shuffled)
    assert [i.id for i in correlate(shuffled, smap)] == ids and len(set(ids)) == 2


def test_episodes_join_points_no_more_than_the_gap_apart():
    pts = [(T0 + k * M, k) for k in (0, 1, 2, 10, 11, 30)]
    assert [(s, e, p) for s, e, p in episodes(pts, 3 * M)] == [
        (T0, T0 + 2 * M, [0, 1, 2]), (T0 + 10 * M, T0 + 11 * M, [10, 11]), (T0 + 30 * M, T0 + 30 * M, [30])]


def test_anomalies_of_one_component_corroborate_only_when_they_overlap_in_time(smap):
    spikes = [_a("anomaly", "lambda-edge.LHR62.emf_latency_p95_ms", "lambda-edge", edge="LHR62", minutes=0),
              _a("anomaly", "lambda-edge.SYD62.emf_latency_p95_ms", "lambda-edge", edge="SYD62", start=13, minutes=0)]
    # one-minute spikes 13 minutes apart: the first was over long before the second began, two incidents, no page
    assert [(i.severity, len(i.alerts)) for i in correlate(spikes, smap)] == [("P2", 1), ("P2", 1)]
    apart = [spikes[0], dataclasses.replace(spikes[1], start=T0 + 3 * M, end=T0 + 3 * M)]
    (inc,) = correlate(apart, smap)  # within 5 minutes of the first one's end: one incident, still not corroborated
    assert inc.severity == "P2" and len(inc.alerts) == 2
    next_minute = [spikes[0], _a("anomaly", "lambda-edge.LHR62.error_rate", "lambda-edge", edge="LHR62",
                                 start=1, minutes=0)]
    assert correlate(next_minute, smap)[0].severity == "P2"
    assert correlate(next_minute, smap, together=timedelta(minutes=1))[0].severity == "P1"


def test_a_blip_that_was_over_does_not_anchor_a_later_fault(smap):
    """A one-minute edge anomaly 13 minutes before a spot cascade: related along the call chain and within the
    window, but over long before; the cascade is its own incident, rooted where it happens."""
    blip = _a("anomaly", "lambda-edge.FRA56.emf_latency_p95_ms", "lambda-edge", edge="FRA56", minutes=0)
    spot = [_a("slo", "availability", "akidb-rest", "P0", start=13, minutes=10),
            _a("anomaly", "lambda-edge.FRA56.emf_latency_p95_ms", "lambda-edge", edge="FRA56", start=14, minutes=2)]
    first, cascade = correlate([blip] + spot, smap)
    assert first.alerts == [blip] and first.severity == "P2"
    assert cascade.root.component == "akidb-rest" and cascade.severity == "P0" and len(cascade.alerts) == 2


def test_the_quantity_is_the_series_configured_metric_when_the_alert_carries_it(smap):
    """Series ids are the team's to choose: two ids ending alike measure different quantities when their configured
    metrics differ, and two ids of the same metric are one quantity however they are named."""
    def anomaly(rule: str, metric: str) -> Alert:
        return Alert("anomaly", rule, "akidb-rest", "P2", T0, T0 + 5 * M,
                     labels=(("series", rule), ("signal", "latency"), ("metric", metric)))
    same = [anomaly("rest-a.p95", "latency_p95_ms"), anomaly("rest-b.slow", "latency_p95_ms")]
    assert correlate(same, smap)[0].severity == "P2"
    different = [anomaly("rest.p95", "latency_p95_ms"), anomaly("edge.p95", "emf_latency_p95_ms")]
    assert correlate(different, smap)[0].severity == "P1"
