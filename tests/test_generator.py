"""The synthetic source: deterministic, and every injected incident shows exactly where the ground truth says."""

import json
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.synthetic import ScenarioError, generate
from akidb_pipelines.synthetic.scenario import parse_scenario
from tests.conftest import DATA, SHORT_START


def _digest(files):
    import hashlib

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path, short_dataset):
    again = generate(tmp_path / "a", SHORT_START, 3 / 24, seed=7, scenario=DATA / "scenario_short.yaml")
    other = generate(tmp_path / "b", SHORT_START, 3 / 24, seed=8, scenario=DATA / "scenario_short.yaml")
    for kind in ("xray", "emf", "prom"):
        assert _digest(again.files[kind]) == _digest(short_dataset.files[kind])
        assert _digest(other.files[kind]) != _digest(short_dataset.files[kind])


def test_ground_truth_lists_each_incident_with_exact_minute_bounds(short_dataset):
    gt = json.loads(short_dataset.ground_truth.read_text())
    got = {i["id"]: (i["start"], i["end"], i["components"], i["edge_locations"]) for i in gt["incidents"]}
    assert got == {
        "spot": ("2026-11-02T00:20:00Z", "2026-11-02T00:28:00Z", ["akidb-rest"], []),
        "storm": ("2026-11-02T01:05:00Z", "2026-11-02T01:20:00Z", ["lambda-edge"], ["NRT57", "SIN52"]),
        "lstm": ("2026-11-02T01:40:00Z", "2026-11-02T02:40:00Z", ["akidb-rest"], []),
    }


@pytest.fixture(scope="module")
def emf(short_dataset, tmp_path_factory):
    from akidb_pipelines.storage import Lake

    lake = Lake(tmp_path_factory.mktemp("lake"))
    ingest_files("emf", [str(p) for p in short_dataset.files["emf"]], lake)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET VARIABLE akidb_emf = ?", [lake.glob("raw/emf_metrics")])
    con.execute("CREATE VIEW emf AS SELECT * FROM read_parquet(getvariable('akidb_emf'))")
    return con


def _minutes(con, sql):
    return {r[0].replace(tzinfo=timezone.utc): r[1] for r in con.execute(sql).fetchall()}


def test_spot_cascade_raises_akidb_rest_errors_to_five_percent_for_exactly_eight_minutes(emf):
    rates = _minutes(emf, """
        SELECT date_trunc('minute', ts) m,
               sum(value) FILTER (WHERE metric_name = 'Errors') / sum(value) FILTER (WHERE metric_name = 'RequestCount')
        FROM emf WHERE namespace = 'AkiDB/Rest' GROUP BY 1""")
    t0 = SHORT_START + timedelta(minutes=20)
    inside = [rates[t0 + timedelta(minutes=i)] for i in range(8)]
    outside = [v for t, v in rates.items() if not t0 <= t < t0 + timedelta(minutes=8)]
    assert 0.035 < sum(inside) / len(inside) < 0.065
    assert max(outside) < 0.01
    assert rates[t0 - timedelta(minutes=1)] < 0.01 and rates[t0 + timedelta(minutes=8)] < 0.01


def test_cold_start_storm_hits_only_the_named_edges_during_its_window(emf):
    p95 = {(r[0].replace(tzinfo=timezone.utc), r[1]): r[2] for r in emf.execute("""
        SELECT date_trunc('minute', ts), edge_location, quantile_cont(value, 0.95)
        FROM emf WHERE metric_name = 'InferenceLatency' AND namespace = 'AkiDB/Edge' GROUP BY 1, 2""").fetchall()}
    t0, t1 = SHORT_START + timedelta(minutes=65), SHORT_START + timedelta(minutes=80)
    storm = [v for (t, e), v in p95.items() if t0 <= t < t1 and e in ("NRT57", "SIN52")]
    calm_edges = [v for (t, e), v in p95.items() if t0 <= t < t1 and e not in ("NRT57", "SIN52")]
    calm_time = [v for (t, e), v in p95.items() if not t0 <= t < t1]
    assert len(storm) == 30
    assert sorted(storm)[len(storm) // 2] > 2500          # the storm's P95 sits in seconds
    # Everything else stays in tens of ms; a rare baseline cold start (0.2% of invocations) may lift one minute.
    assert max(calm_edges) < 200
    assert sorted(calm_time)[int(0.99 * len(calm_time))] < 200


def test_lstm_false_positive_cascade_triples_predicted_load_only_in_its_window(emf):
    ratio = _minutes(emf, """
        SELECT date_trunc('minute', ts) m,
               max(value) FILTER (WHERE metric_name = 'PredictedLoad') / max(value) FILTER (WHERE metric_name = 'UsedCapacity')
        FROM emf WHERE namespace = 'AkiDB/Capacity' GROUP BY 1""")
    t0, t1 = SHORT_START + timedelta(minutes=100), SHORT_START + timedelta(minutes=160)
    inside = [v for t, v in ratio.items() if t0 <= t < t1]
    outside = [v for t, v in ratio.items() if not t0 <= t < t1]
    assert len(inside) == 60 and min(inside) > 2.7 and max(inside) < 3.3
    assert max(outside) < 1.2


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"incidents": [{"type": "meteor", "start": "0d 00:00", "duration_minutes": 1}]}, "incidents[0].type"),
        ({"incidents": [{"type": "spot_interruption_cascade", "start": "0d 00:00", "duration_minutes": 0,
                         "magnitude": {"error_rate": 0.05, "instances_lost": 1}}]}, "incidents[0].duration_minutes"),
        ({"incidents": [{"type": "spot_interruption_cascade", "start": "0d 00:00", "duration_minutes": 5,
                         "magnitude": {"error_rate": 5, "instances_lost": 1}}]}, "incidents[0].magnitude.error_rate"),
        ({"incidents": [{"type": "lambda_edge_cold_start_storm", "start": "0d 00:00", "duration_minutes": 5,
                         "magnitude": {"p95_ms": 4500}}]}, "incidents[0].edge_locations"),
        ({"incidents": [{"type": "lambda_edge_cold_start_storm", "start": "tomorrow", "duration_minutes": 5,
                         "magnitude": {"p95_ms": 4500}, "edge_locations": ["NRT57"]}]}, "incidents[0].start"),
        ({"incidents": [], "colour": "red"}, "unknown top-level field"),
    ],
)
def test_invalid_scenarios_name_the_file_and_field(doc, message):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(doc, datetime(2026, 11, 2, tzinfo=timezone.utc), "bad.yaml")
    assert str(e.value).startswith("bad.yaml: ") and message in str(e.value)


SPOT = {"type": "spot_interruption_cascade", "start": "0d 00:10", "duration_minutes": 5,
        "magnitude": {"error_rate": 0.05, "instances_lost": 1}}


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"incidents": [{**SPOT, "components": 5}]}, "incidents[0].components"),
        ({"incidents": [{**SPOT, "components": "akidb-rest"}]}, "incidents[0].components"),
        ({"incidents": [{**SPOT, "edge_locations": 5}]}, "incidents[0].edge_locations"),
        ({"incidents": [{**SPOT, "duration_minutes": 10**12}]}, "incidents[0].duration_minutes"),
        ({"incidents": [{**SPOT, "duration_minutes": float("nan")}]}, "incidents[0].duration_minutes"),
        ({"incidents": [{**SPOT, "start": "99999999d 00:00"}]}, "incidents[0].start"),
        ({"incidents": [{**SPOT, "start": "9999-12-31T23:59:00"}]}, "incidents[0].start"),
        ({"incidents": [{**SPOT, "start": 12345}]}, "incidents[0].start"),
        ({"incidents": [{**SPOT, "id": ["x"]}]}, "incidents[0].id"),
        ({"incidents": [{**SPOT, "type": ["spot_interruption_cascade"]}]}, "incidents[0].type"),
        ({"incidents": [{**SPOT, "magnitude": {"error_rate": float("nan"), "instances_lost": 1}}]},
         "incidents[0].magnitude.error_rate"),
        ({"incidents": [{**SPOT, "magnitude": {"error_rate": 0.05, "instances_lost": float("inf")}}]},
         "incidents[0].magnitude.instances_lost"),
        ({"incidents": [], "events": 5}, "'events' must be a list"),
        ({"incidents": [], "events": [{"type": "traffic_surge", "start": "0d 00:00", "duration_minutes": 10**12,
                                       "factor": 2}]}, "events[0].duration_minutes"),
        ({"incidents": [], "events": [{"type": "traffic_surge", "start": "0d 00:00", "duration_minutes": 5,
                                       "factor": float("nan")}]}, "events[0].factor"),
        ({"incidents": [], "events": [{"type": ["x"], "start": "0d 00:00", "duration_minutes": 5, "factor": 2}]},
         "events[0].type"),
        ({"incidents": [], "deploys": {"latency_factor": "abc"}}, "deploys.latency_factor"),
        ({"incidents": [], "deploys": {"latency_factor": float("nan")}}, "deploys.latency_factor"),
        ({"incidents": [], "deploys": {"error_rate": float("inf")}}, "deploys.error_rate"),
        ({"incidents": [], "deploys": {"duration_minutes": "x"}}, "deploys.duration_minutes"),
        ({"incidents": [], "deploys": {"weekdays_at": "25:99"}}, "deploys.weekdays_at"),
        ({"incidents": [], "deploys": {"colour": 1}}, "deploys: unknown field"),
    ],
)
def test_hostile_types_and_numbers_in_a_scenario_name_the_field(doc, message):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(doc, datetime(2026, 11, 2, tzinfo=timezone.utc), "bad.yaml")
    assert str(e.value).startswith("bad.yaml: ") and message in str(e.value) and "\n" not in str(e.value)


def test_deploy_blips_are_recorded_as_non_incidents(tmp_path):
    res = generate(tmp_path, SHORT_START.replace(hour=13), 2 / 24, seed=1, scenario=None, sources=("emf",))
    gt = json.loads(res.ground_truth.read_text())
    assert gt["deploys"] == [{"start": "2026-11-02T14:00:00Z", "end": "2026-11-02T14:02:00Z",
                              "components": ["akidb-rest"], "incident": False}]


def test_a_window_generated_with_the_origin_of_a_longer_history_continues_its_traffic_level():
    import numpy as np

    from akidb_pipelines.synthetic.minute_model import build_model

    t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    sc = parse_scenario({"incidents": []}, t0)
    history = build_model(t0, 21, 5, sc)
    at = t0 + timedelta(days=20)
    window = build_model(at, 1, 5, sc, origin=t0)
    alone = build_model(at, 1, 5, sc)
    level = lambda m: float(np.median(m.requests))  # noqa: E731
    assert abs(level(window) / float(np.median(history.requests[-1440:])) - 1) < 0.01
    assert level(window) / level(alone) > 1 + 0.9 * 0.02 * 20 / 7  # without the origin: back to week one's level
    assert build_model(t0, 1, 5, sc, origin=t0).requests.tolist() == build_model(t0, 1, 5, sc).requests.tolist()
