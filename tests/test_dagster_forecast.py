"""The forecast assets in Dagster: a per-series training partition whose validation gate shows in the UI as an
asset check (with the reason when a model is not promoted), and the hourly scoring asset with its report of
series that could not be scored."""

from __future__ import annotations

import dataclasses as dc
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb

from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.train import train_series
from akidb_pipelines.storage import Lake
from assets.forecast import anomaly_scores, prophet_model
from assets.resources import LakeResource
from tests.conftest import DAYS_START

AS_OF = DAYS_START + timedelta(days=2)


def _lake(tmp_path: Path, days_lake) -> dict:  # noqa: ANN001
    src, _ = days_lake
    table = load_forecast_config().source
    shutil.copytree(Path(src.root) / table, tmp_path / "lake" / table)
    return {"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "akidb.duckdb"))}


def test_a_training_partition_stores_the_model_and_the_gate_says_why_it_was_not_promoted(tmp_path, days_lake):
    # Two days of history cannot hold the shipped 24-hour back-test after 24 hours of initial history.
    sid = "akidb-rest.latency_p95_ms"
    res = dg.materialize([prophet_model], resources=_lake(tmp_path, days_lake), partition_key=sid,
                         run_config={"ops": {"forecast__prophet_model": {"config": {"as_of": AS_OF.isoformat()}}}},
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success
    meta = res.asset_materializations_for_node("forecast__prophet_model")[0].metadata
    assert meta["status"].value == "rejected" and meta["in_use"].value == "none"
    (check,) = res.get_asset_check_evaluations()
    assert check.check_name == "validation_gate" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert "not enough history for a back-test" in check.description
    reg = Registry(Lake(tmp_path / "lake"))
    assert reg.versions(sid) == [meta["version"].value] and reg.promoted(sid) is None


def test_the_scoring_asset_writes_the_storm_hour_and_lists_the_series_it_could_not_score(tmp_path, days_lake):
    resources = _lake(tmp_path, days_lake)
    cfg = load_forecast_config()
    short = dc.replace(cfg, validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=2))
    lake = Lake(tmp_path / "lake")
    for sid in ("lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge.SIN52.emf_latency_p95_ms"):
        assert train_series(lake, short, short.get(sid), AS_OF).status == "promoted"
    hour = (AS_OF + timedelta(hours=7)).strftime("%Y-%m-%d-%H:%M")  # the cold-start storm's hour
    res = dg.materialize([anomaly_scores], resources=resources, partition_key=hour,
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success
    meta = res.asset_materializations_for_node("forecast__anomaly_scores")[0].metadata
    # no blind series: the two promoted models score their series, every other one is scored on the seasonal baseline
    assert meta["series_scored"].value == len(cfg.series) and meta["series_unscored"].value == 0
    assert meta["series_on_baseline"].value == len(cfg.series) - 2
    assert "akidb-rest.requests" in meta["on_baseline"].value and "NRT57" not in meta["on_baseline"].value
    assert meta["anomalies"].value > 0 and "NRT57" in meta["top_anomalies"].value
    (check,) = res.get_asset_check_evaluations()
    assert check.passed
    have = read_series(lake, cfg, list(cfg.series), AS_OF + timedelta(hours=7), AS_OF + timedelta(hours=8))
    with duckdb.connect(str(tmp_path / "akidb.duckdb"), read_only=True) as con:
        n, flagged = con.execute("SELECT count(*), count(*) FILTER (WHERE is_anomaly) FROM forecast.anomaly_scores").fetchone()
        per = dict(con.execute("SELECT series, count(*) FROM forecast.anomaly_scores GROUP BY 1").fetchall())
        # a series with a value every minute is scored every minute; a sparse one (span latencies at one trace a
        # minute) only where earlier days have that minute of the day for the baseline
        for sid, minutes in have.groupby("series").size().items():
            assert per[sid] == minutes if minutes == 60 else 0 < per[sid] <= minutes, (sid, per[sid], minutes)
        assert n == sum(per.values()) and flagged == con.execute("SELECT count(*) FROM forecast.anomalies").fetchone()[0] > 0


def test_the_weekly_schedule_trains_every_series_in_one_run_and_the_gate_names_each_failure(tmp_path, days_lake):
    from sensors.forecast import train_models_job, weekly_training

    ctx = dg.build_schedule_context(scheduled_execution_time=AS_OF + timedelta(minutes=30))
    (req,) = list(weekly_training.evaluate_tick(ctx).run_requests)
    keys = load_forecast_config().ids
    assert req.partition_key_range == dg.PartitionKeyRange(keys[0], keys[-1])
    assert req.run_config["ops"]["forecast__prophet_model"]["config"]["as_of"] == AS_OF.isoformat()
    # the range of two series, in one run: both trained together, both rejected (two days hold no back-test)
    two = ["akidb-rest.latency_p95_ms", "akidb-rest.requests"]
    assert keys.index(two[1]) == keys.index(two[0]) + 1
    job = dg.Definitions(assets=[prophet_model], jobs=[train_models_job],
                         resources=_lake(tmp_path, days_lake)).resolve_job_def("train_models")
    res = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=req.run_config,
        tags={"dagster/asset_partition_range_start": two[0], "dagster/asset_partition_range_end": two[1]})
    assert res.success
    mats = res.asset_materializations_for_node("forecast__prophet_model")
    assert sorted(m.partition for m in mats) == sorted(two)
    meta = mats[0].metadata
    assert meta["series"].value == 2 and meta["status"].value == "0/2 promoted" and meta["fitter"].value == "batch"
    assert all(s in meta["models"].value for s in two)
    (check,) = res.get_asset_check_evaluations()
    assert not check.passed and all(f"{s} not promoted: not enough history" in check.description for s in two)
    reg = Registry(Lake(tmp_path / "lake"))
    assert all(len(reg.versions(s)) == 1 and reg.promoted(s) is None for s in two)
