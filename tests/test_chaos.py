"""The chaos replay: the response layer on a simulated clock over real pipeline output, scored per detector
against the ground truth (the 2.5-day lake: spot 06:00, storm 07:00, LSTM cascade 08:00 on day 3)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from akidb_pipelines.chaos.recovery import MITIGATION_MINUTES
from akidb_pipelines.chaos.replay import DETECTORS, replay
from akidb_pipelines.chaos.report import ChaosReport, publish_reports
from akidb_pipelines.chaos.run import measured_cycle
from akidb_pipelines.chaos.scenario import EXPECTED_CAUSE, ChaosError, load_chaos, shipped_scenarios
from akidb_pipelines.pipeline import model_hours
from akidb_pipelines.dashboards import render
from akidb_pipelines.storage import Lake
from tests.conftest import DAYS_START

DAY3 = DAYS_START + timedelta(days=2)
pytestmark = pytest.mark.integration
TINY = """name: tiny
description: one spot cascade on the second day, one forecast series
start: 2026-11-02T00:00:00Z
days: 1.5
train_days: 1
seed: 5
traces_per_minute: 1
series: [akidb-rest.latency_p95_ms]
incidents:
  - {id: spot, type: spot_interruption_cascade, start: "1d 06:00", duration_minutes: 8,
     magnitude: {error_rate: 0.05, instances_lost: 4}, components: [akidb-rest]}
"""


@pytest.fixture(scope="module")
def results(scored_lake, days_lake, tmp_path_factory):
    lake, *_ = scored_lake
    gt = json.loads(days_lake[1].ground_truth.read_text())
    work = tmp_path_factory.mktemp("chaos")
    return {d: replay(lake, gt, DAY3, DAY3 + timedelta(hours=12), d, work) for d in DETECTORS}, gt


def test_the_shipped_detector_pages_each_incident_fast_with_the_right_cause_and_nothing_else(results):
    res, gt = results
    comb = res["combined"]
    assert [i.id for i in comb.incidents] == [g["id"] for g in gt["incidents"]]
    assert comb.precision == 1.0 and comb.false_pages == [], json.dumps(comb.to_dict(), indent=1, default=str)
    spot, storm, lstm = comb.incidents
    for inc in (spot, storm):  # both paged within the 2-minute goal: one closed minute plus one pipeline cycle
        assert inc.first_detection == inc.onset and inc.seconds(inc.first_page) == 120, inc.to_dict()
        assert inc.root_cause_ok and inc.cause_named == EXPECTED_CAUSE[inc.type]
        assert inc.seconds(inc.acknowledged, inc.first_page) == 180  # the simulated on-call, 3 minutes
    # recovery is modelled: runbook launch (page + 1 min) + its action's time, or the injected end if sooner
    assert spot.runbooks == ["spot-cascade-on-demand"]
    assert spot.recovery == min(spot.end, spot.first_page + timedelta(minutes=1 + MITIGATION_MINUTES["autoscaling_step"]))
    assert storm.runbooks == ["edge-storm-bypass-edge-function", "edge-storm-warm-regional-alias"]
    assert storm.recovery < storm.end and storm.seconds(storm.recovery) <= 600
    # the LSTM cascade: with two days of training and six series here, no alert starts with it (in the 7-day demo
    # CPU and the capacity ratio flag it and it pages); an unpaged incident recovers at its injected end
    assert lstm.first_page is None and lstm.recovery == lstm.end and comb.recall == 2 / 3


def test_detectors_differ_and_their_counts_add_up(results):
    res, _ = results
    for d, r in res.items():
        matched = sum(i.first_page is not None for i in r.incidents)
        assert r.pages >= matched and r.pages - len(r.false_pages) >= matched, d
        assert r.alerts >= r.pages and r.ticks > 0
        for i in r.incidents:
            assert (i.first_page is None) or (i.first_detection is not None and i.first_detection <= i.first_page)
    # burn rates see the spot cascade (SLO burn) but not the LSTM over-provisioning (no SLO burns): anomalies do
    assert res["burn_rate"].incidents[0].first_page is not None
    assert res["burn_rate"].incidents[2].first_detection is None  # an alert still firing from 06:00 is not one
    assert res["combined"].recall >= max(res["burn_rate"].recall, res["anomaly"].recall)


def test_the_report_as_table_and_json(results, tmp_path):
    res, _ = results
    rep = ChaosReport("days", DAY3, DAY3 + timedelta(hours=12), list(res.values()), 60.0, 3.0)
    data = json.loads(json.dumps(rep.to_dict()))
    comb = next(d for d in data["detectors"] if d["detector"] == "combined")
    spot = comb["incidents"][0]
    assert set(spot) >= {"id", "type", "onset", "end", "first_detection", "first_page", "recovery",
                         "root_cause_named", "mttd_seconds", "mttr_seconds"}
    assert spot["mttd_seconds"] == (res["combined"].incidents[0].first_page
                                    - res["combined"].incidents[0].onset).total_seconds()
    assert {g["goal"].split(":")[0] for g in data["goals"]} >= {"MTTD <= 2 min", "< 10 pages a week"}
    text = rep.table()
    assert "combined" in text and "MTTD" in text and ("goal met" in text or "goal MISSED" in text)


def test_scenario_files_validate_and_name_the_field(tmp_path):
    shipped = shipped_scenarios()
    assert {p.stem for p in shipped} >= {"spot-alone", "storm-alone", "lstm-alone", "all-three", "clean-week",
                                         "noisy-week"}
    for p in shipped:
        sc = load_chaos(p)
        assert sc.train_days < sc.days and sc.replay_start < sc.end
    bad = tmp_path / "bad.yaml"
    bad.write_text("days: 3\ntrain_days: 4\n")
    with pytest.raises(ChaosError, match="train_days"):
        load_chaos(bad)
    bad.write_text("days: 7\nincidents: [{id: x, type: meteor_strike, start: '5d 10:00', duration_minutes: 5}]\n")
    with pytest.raises(ChaosError, match=r"incidents\[0\]\.type"):
        load_chaos(bad)
    bad.write_text("days: 7\nevents: [{type: traffic_surge, start: '5d 10:00', duration_minutes: 30, factor: 50}]\n")
    with pytest.raises(ChaosError, match=r"events\[0\]\.factor"):
        load_chaos(bad)


def _chaos_file(tmp_path, text: str, name: str = "bad.yaml"):  # noqa: ANN001, ANN202
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["../../../x", "..", "/tmp/x", "a/b", "a\\b", ".hidden", "a b", "x;rm -rf", "'q'",
                                  "*", "lake?", "[ab]", "-rf", "x" * 65, "", "café"])
def test_a_scenario_name_must_be_a_safe_folder_name(tmp_path, name):
    """name: ../../../x wrote 15 MB outside the work folder and deleted outbox-*.sqlite where it landed."""
    p = _chaos_file(tmp_path, f"name: {json.dumps(name)}\ndays: 2\ntrain_days: 1\nincidents: []\n")
    with pytest.raises(ChaosError, match=r"bad\.yaml: name: ") as e:
        load_chaos(p)
    assert "\n" not in str(e.value)


def test_a_scenario_without_a_name_takes_its_file_stem_which_must_be_safe_too(tmp_path):
    assert load_chaos(_chaos_file(tmp_path, "days: 2\ntrain_days: 1\n", "week-2_b.yaml")).name == "week-2_b"
    with pytest.raises(ChaosError, match="name: "):
        load_chaos(_chaos_file(tmp_path, "days: 2\ntrain_days: 1\n", "my scenario.yaml"))


def test_a_hostile_scenario_name_stops_akidb_chaos_before_anything_is_written(tmp_path, capsys):
    from akidb_pipelines.cli import main

    sentinel = tmp_path / "sentinel"
    work = sentinel / "a" / "b" / "work"
    p = _chaos_file(tmp_path, "name: ../../../escaped\ndays: 2\ntrain_days: 1\nincidents: []\n")
    code = main(["chaos", "--scenario", str(p), "--workdir", str(work), "--no-publish"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "name" in err
    assert not sentinel.exists() and not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(("field", "text"), [
    ("seed", "seed: abc"), ("seed", "seed: 1.5"), ("seed", "seed: true"), ("seed", "seed: -1"),
    ("seed", "seed: 99999999999999999999"), ("days", "days: .nan"), ("days", "days: .inf"), ("days", "days: 1e9"),
    ("days", "days: '7'"), ("train_days", "train_days: .nan"), ("train_days", "train_days: -.inf"),
    ("traces_per_minute", "traces_per_minute: abc"), ("traces_per_minute", "traces_per_minute: .nan"),
    ("traces_per_minute", "traces_per_minute: 0"), ("traces_per_minute", "traces_per_minute: 1e9"),
    ("start", "start: 12345"), ("start", "start: [2026]"), ("start", "start: 9999-12-31T23:00:00Z"),
    ("start", "start: 1900-01-01T00:00:00Z"), ("series", "series: 5"), ("series", "series: [1, 2]"),
    ("description", "description: {a: 1}"), ("name", "name: [a]"),
])
def test_scenario_numbers_and_types_are_checked_at_load(tmp_path, field, text):
    doc = {"days": "days: 7", "train_days": "train_days: 4"}
    doc[field] = text
    p = _chaos_file(tmp_path, "\n".join(doc.values()) + "\nincidents: []\n")
    with pytest.raises(ChaosError) as e:
        load_chaos(p)
    assert str(e.value).startswith(f"{p}: {field}") and "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize(("where", "item"), [
    ("incidents[0].start", "incidents: [{type: spot_interruption_cascade, start: '9d 10:00', duration_minutes: 8, "
                           "magnitude: {error_rate: 0.05, instances_lost: 4}}]"),
    ("incidents[0].start", "incidents: [{type: spot_interruption_cascade, start: '2026-11-01T10:00:00Z', "
                           "duration_minutes: 8, magnitude: {error_rate: 0.05, instances_lost: 4}}]"),
    ("incidents[0].duration_minutes", "incidents: [{type: spot_interruption_cascade, start: '6d 23:50', "
                                      "duration_minutes: 20, magnitude: {error_rate: 0.05, instances_lost: 4}}]"),
    ("events[0].start", "events: [{type: traffic_surge, start: '7d 00:00', duration_minutes: 30, factor: 2}]"),
])
def test_incident_and_event_times_outside_the_scenario_days_are_refused_at_load(tmp_path, where, item):
    p = _chaos_file(tmp_path, f"start: 2026-11-13T00:00:00Z\ndays: 7\ntrain_days: 4\n{item}\n")
    with pytest.raises(ChaosError) as e:
        load_chaos(p)
    assert str(e.value).startswith(f"{p}: {where}:") and "outside" in str(e.value), str(e.value)


def test_two_scenarios_of_one_name_are_refused_before_any_work(tmp_path):
    from akidb_pipelines.chaos.run import run_scenarios

    a = _chaos_file(tmp_path, "name: same\ndays: 2\ntrain_days: 1\n", "a.yaml")
    b = _chaos_file(tmp_path, "name: same\ndays: 2\ntrain_days: 1\n", "b.yaml")
    with pytest.raises(ChaosError, match="same"):
        run_scenarios([a, b], tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_akidb_chaos_runs_a_scenario_end_to_end_and_writes_json(tmp_path, capsys):
    from akidb_pipelines.cli import main

    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    out = tmp_path / "report.json"
    code = main(["chaos", "--scenario", str(sc), "--workdir", str(tmp_path / "w"), "--json", str(out),
                 "--detectors", "burn_rate,combined"])
    text = capsys.readouterr().out
    (rep,) = json.loads(out.read_text())
    assert rep["scenario"] == "tiny" and [d["detector"] for d in rep["detectors"]] == ["burn_rate", "combined"]
    comb = rep["detectors"][1]
    (spot,) = comb["incidents"]
    assert spot["first_page"] is not None and spot["mttd_seconds"] <= 300, spot
    assert spot["root_cause_named"] == "spot_interruption" and comb["false_pages"] == 0
    # the runbook acted on the moto sandbox a minute after the page, its action was fed back into the telemetry
    # (the cascade ends 4 min later) and the recovery is read from the regenerated telemetry: generated with the
    # assumed effect, so it is labelled modelled (closed loop), not measured
    steps = [(a["status"], a["at"][11:16]) for a in spot["runbook_actions"]]
    assert steps == [("applied", "06:03"), ("verified", "06:13"), ("restored", "06:43")], steps
    assert spot["recovery_source"].startswith("modelled (closed loop)"), spot["recovery_source"]
    assert "telemetry: akidb-rest error_rate < 0.01" in spot["recovery_source"]
    assert spot["mttr_seconds"] == 7 * 60 and rep["closed_loop"]["pages_as_first_pass"] is True
    assert rep["closed_loop"]["mitigated"] == {"spot": "2026-11-03T06:07:00+00:00"}
    burn = rep["detectors"][0]["incidents"][0]  # not fed back: modelled from its apply time
    assert burn["recovery_source"].startswith("modelled") and burn["mttr_seconds"] == 7 * 60
    assert code == (0 if all(g["met"] for g in rep["goals"]) else 1)
    assert "tiny" in text and "MTTD" in text and "pipeline cycle" in text
    # published into $AKIDB_HOME's lake with the chaos dashboard (conftest points AKIDB_HOME at tmp_path/home)
    lake = Lake(tmp_path / "home" / "lake")
    assert json.loads(lake.read_bytes("chaos/report.json"))[0]["scenario"] == "tiny"
    assert (tmp_path / "home" / "lake" / "dashboards" / "chaos.html").is_file()
    assert main(["chaos", "--scenario", str(tmp_path / "none.yaml")]) == 66
    assert main(["chaos", "--scenario", str(sc), "--detectors", "psychic"]) == 2


def test_noise_events_scale_demand_only_inside_their_window():
    from datetime import datetime, timezone

    import numpy as np

    from akidb_pipelines.synthetic.minute_model import build_model
    from akidb_pipelines.synthetic.scenario import parse_scenario

    t0 = datetime(2026, 11, 13, tzinfo=timezone.utc)
    plain = build_model(t0, 0.5, 7, parse_scenario({"incidents": []}, t0))
    surge = build_model(t0, 0.5, 7, parse_scenario({"incidents": [], "events": [
        {"id": "s", "type": "traffic_surge", "start": "0d 03:00", "duration_minutes": 60, "factor": 2.5}]}, t0))
    inside = slice(180, 240)
    ratio = surge.requests[inside] / plain.requests[inside]
    assert np.all((ratio > 2.3) & (ratio < 2.7))  # per-edge rounding only
    assert np.array_equal(surge.requests[:180], plain.requests[:180])
    assert np.array_equal(surge.requests[240:], plain.requests[240:])


def test_the_report_lands_in_the_lake_and_the_chaos_dashboard_draws_it(results, tmp_path):
    from tests.test_dashboards import _open

    res, _ = results
    rep = ChaosReport("days", DAY3, DAY3 + timedelta(hours=12), list(res.values()), 60.0, 3.0, "given")
    lake = Lake(tmp_path / "lake")
    publish_reports(lake, [rep.to_dict()])
    _, stored = publish_reports(lake, [{**rep.to_dict(), "scenario": "other"}])
    assert [r["scenario"] for r in stored] == ["days", "other"]
    _, stored = publish_reports(lake, [rep.to_dict()])  # a scenario's new report replaces its old one
    assert [r["scenario"] for r in stored] == ["days", "other"]
    d = render("chaos", lake)
    assert not d.missing and d.charts == 2
    comb = res["combined"]
    worst = max(i.seconds(i.first_page) for i in comb.incidents if i.first_page) / 60
    assert d.summary.values["worst_mttd_min"] == pytest.approx(worst)
    assert d.summary.values["goals"] == 2 * len(rep.goals())
    assert "| days | combined |" in d.summary.tables["detectors"]
    dom = _open(lake, "chaos", shot="chaos", height=2400)
    bars = [a for t, a in dom.els if t == "rect" and "bar" in a.get("class", "")]
    assert len(bars) == 2 * sum(len(r.incidents) for r in res.values())  # one row per detector and incident
    diamonds = [a for t, a in dom.els if t == "path" and "mark" in a.get("class", "")]
    assert len(diamonds) == 2 * sum(i.first_page is not None for r in res.values() for i in r.incidents)


def test_the_replay_cycle_comes_from_the_benchmark_when_it_ran(tmp_path):
    cycle, source = measured_cycle(tmp_path)
    assert cycle == 60.0 and source.startswith("assumed")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "cycle.json").write_text(json.dumps(
        {"cycle_seconds_p95": 7.5, "code_location_load_seconds_median": 3.0, "measured_at": "2026-11-27T00:00:00+00:00"}))
    cycle, source = measured_cycle(tmp_path)
    assert cycle == pytest.approx(7.5 + 3.0 + 10.0) and "measured 2026-11-27" in source
    # the live benchmark (under the daemon) measures the whole thing: it wins
    (tmp_path / "bench" / "live.json").write_text(json.dumps(
        {"minute_close_to_page_p95_s": 21.5, "pages": 30, "measured_at": "2026-12-02T17:00:00+00:00"}))
    cycle, source = measured_cycle(tmp_path)
    assert cycle == 21.5 and "under the Dagster daemon" in source
    (tmp_path / "bench" / "live.json").write_text(json.dumps({"summary": {}}))  # no pages: the cycle benchmark
    assert measured_cycle(tmp_path)[0] == pytest.approx(20.5)
    (tmp_path / "bench" / "cycle.json").write_text("{not json")
    assert measured_cycle(tmp_path)[0] == 60.0


def test_the_chaos_asset_replays_publishes_and_checks_its_goals(tmp_path):
    import dagster as dg

    from assets.dashboards import dashboard_assets
    from assets.resources import LakeResource
    from akidb_pipelines.chaos.scenario import scenario_paths
    from assets.chaos import chaos_report

    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    page = next(a for a in dashboard_assets if a.key.path == ["dashboards", "chaos"])
    res = dg.materialize([chaos_report, page], resources={"lake": LakeResource(
        lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "akidb.duckdb"))}, run_config={"ops": {
            "validation__chaos_report": {"config": {"scenarios": [str(sc)], "detectors": ["combined"],
                                                    "cycle_seconds": 30.0, "workdir": str(tmp_path / "w")}}}})
    assert res.success
    mats = {m.asset_key.to_user_string(): m for m in res.asset_materializations_for_node("validation__chaos_report")}
    meta = mats["validation/chaos_report"].metadata
    (rep,) = json.loads(Lake(tmp_path / "lake").read_bytes("chaos/report.json"))
    assert rep["scenario"] == "tiny" and rep["cycle_seconds"] == 30.0 and rep["cycle_source"] == "given (run config)"
    missed = [g for g in rep["goals"] if not g["met"]]
    assert meta["goals_missed"].value == len(missed) and "| tiny | combined |" in meta["detectors"].value
    (check,) = res.get_asset_check_evaluations()
    assert check.check_name == "chaos_goals_met" and check.passed == (not missed)
    assert (tmp_path / "lake" / "dashboards" / "chaos.html").is_file()
    assert scenario_paths(["spot-alone"])[0].name == "spot-alone.yaml"
    with pytest.raises(ChaosError, match="shipped: all-three"):
        scenario_paths(["meteor"])


def test_minute_by_minute_micro_batches_give_the_rows_of_the_batch_pass(days_lake, scored_lake, tmp_path):
    """What lets the replay compute the pipeline in one batch pass: replaying an hour minute by minute (each
    minute the landing files as they stood, the open hour re-ingested, every SQL model, scoring) gives, for each
    minute as soon as it has closed, the same golden signals, burn rates and anomaly scores as the batch pass."""
    import shutil
    from pathlib import Path

    import duckdb
    import pandas as pd

    from akidb_pipelines.forecast.detector import load_detector_config
    from akidb_pipelines.forecast.scoring import score_window
    from akidb_pipelines.landing import landing_as_of
    from akidb_pipelines.sql_models.project import project_graph
    from akidb_pipelines.storage import PartitionKey

    src, data = days_lake
    scored, cfg, _, promoted = scored_lake
    assert promoted, "no promoted model: the scores would compare nothing"
    root = tmp_path / "lake"
    # the scored lake's models (another test may have trained some into the shared lake: not those)
    shutil.copytree(src.root, root, ignore=lambda d, names: ["registry"] if Path(d) == Path(src.root) else [])
    shutil.copytree(f"{scored.root}/registry", root / "registry")
    lake = Lake(root)
    hour = DAY3 + timedelta(hours=6)  # the spot cascade starts at 06:00
    key, det, graph = PartitionKey.of(hour), load_detector_config(), project_graph()

    golden, burn = "models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m"
    def con(table: str) -> pd.DataFrame:
        with duckdb.connect() as c:
            return c.execute("SELECT * FROM read_parquet(?, union_by_name = true)", [lake.glob(table)]).df()

    ref_golden, ref_burn = con(golden), con(burn)
    ref_scores, _ = score_window(lake, cfg, det, hour, hour + timedelta(minutes=20))
    files = {kind: next(p for p in paths if f"date={hour:%Y-%m-%d}" in str(p) and f"hour={hour:%H}" in str(p))
             for kind, paths in data.files.items() if kind in ("xray", "emf", "prom")}
    sort = {"golden": ["tier", "edge_location"], "burn": ["slo"], "scores": ["series"]}
    compared = 0
    for m in range(3, 16):
        now = hour + timedelta(minutes=m)
        cuts = {kind: landing_as_of(path, kind, now.timestamp(),
                                    tmp_path / "live" / kind / f"m{m}" / Path(path).name.removesuffix(".gz"))
                for kind, path in files.items()}
        model_hours(lake, {kind: {str(cut): key} for kind, cut in cuts.items()}, [key], graph)
        scores, _ = score_window(lake, cfg, det, hour, now)
        closed = pd.Timestamp(now - timedelta(minutes=1))
        live_golden = con(golden)
        ahead = live_golden[(live_golden["minute"] >= pd.Timestamp(now)) & (live_golden["minute"] < pd.Timestamp(
            hour + timedelta(hours=1)))]
        assert ahead.empty, f"at {now:%H:%M} the live lake already has minutes after it: the replay is not causal"
        for what, live, ref in (("golden", live_golden, ref_golden), ("burn", con(burn), ref_burn),
                                ("scores", scores, ref_scores)):
            a = live[live["minute"] == closed].sort_values(sort[what]).reset_index(drop=True)
            b = ref[ref["minute"] == closed].sort_values(sort[what]).reset_index(drop=True)
            assert len(a) and len(a) == len(b), (what, closed, len(a), len(b))
            pd.testing.assert_frame_equal(a[b.columns], b, check_dtype=False, rtol=1e-9, obj=f"{what} {closed}")
            compared += len(a)
    assert compared > 13 * 20
    assert len(ref_golden[ref_golden["minute"] >= pd.Timestamp(hour + timedelta(minutes=15))]) > len(
        live_golden[live_golden["minute"] >= pd.Timestamp(hour + timedelta(minutes=15))])  # the rest of the hour is not in yet


def test_a_runbook_is_credited_only_for_the_cause_it_answers():
    from akidb_pipelines.chaos.replay import answers
    from akidb_pipelines.runbooks.config import load_runbooks

    by_id = {rb.id: rb for rb in load_runbooks()}
    spot = [i for i, rb in by_id.items() if answers(rb, "spot_interruption")]
    storm = [i for i, rb in by_id.items() if answers(rb, "edge_cold_start_storm")]
    assert spot and storm and not set(spot) & set(storm)  # the shipped runbooks: one cause each
    assert not any(answers(rb, None) or answers(rb, "unclassified") for rb in by_id.values())
