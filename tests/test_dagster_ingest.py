"""Dagster layer: materialize the ingest graph on synthetic data, re-run it (idempotent), drive the sensor."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.microbatch import plan_api, plan_landing
from akidb_pipelines.storage import Lake, PartitionKey
from akidb_pipelines.synthetic import generate
from assets.ingest import ingest_assets
from tests.test_ingest import unversioned
from assets.resources import LakeResource, LandingZoneSource
from sensors.detect import HOURLY_KEYS, detect_sensor

RANGE_TAGS = {"dagster/asset_partition_range_start": "2026-11-02-00:00",
              "dagster/asset_partition_range_end": "2026-11-02-02:00"}


def _resources(tmp_path: Path, landing: Path) -> dict:
    return {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "akidb.duckdb")),
        "telemetry": LandingZoneSource(landing=str(landing)),
    }


def _counts(tmp_path: Path) -> dict[str, int]:
    lake = Lake(tmp_path / "lake")
    out = {}
    for t in ("raw/xray_spans", "raw/emf_metrics", "raw/prometheus_samples"):
        out[t] = duckdb.execute("SELECT count(*) FROM read_parquet(?)", [lake.glob(t)]).fetchone()[0]
    return out


def test_ingest_graph_materializes_a_partition_range_and_all_checks_pass(tmp_path, short_dataset):
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize(ingest_assets, resources=_resources(tmp_path, short_dataset.out_dir / "landing"),
                         instance=instance, tags=RANGE_TAGS)
    assert res.success
    evals = res.get_asset_check_evaluations()
    assert len(evals) == 12 and all(e.passed for e in evals)
    counts = _counts(tmp_path)
    # The asset stores exactly what a direct ingest of the same files stores.
    direct = Lake(tmp_path / "direct")
    for kind, table in (("emf", "raw/emf_metrics"), ("xray", "raw/xray_spans")):
        rep = ingest_files(kind, [str(p) for p in short_dataset.files[kind]], direct, batch="direct")
        assert counts[table] == rep.rows_stored > 4_000
    assert counts["raw/prometheus_samples"] == short_dataset.records["prom"]
    # every hour of the range is recorded as materialized, per asset
    mats = instance.get_materialized_partitions(dg.AssetKey(["lake", "raw", "emf_metrics"]))
    assert mats == {"2026-11-02-00:00", "2026-11-02-01:00", "2026-11-02-02:00"}
    meta = res.asset_materializations_for_node("ingest_emf_metrics")[0].metadata
    assert meta["records_read"].value == short_dataset.records["emf"]
    assert meta["records_quarantined"].value == 0

    # Idempotent: the same range again leaves the same rows and the same files (each a new version of itself).
    lake = Lake(tmp_path / "lake")
    files_before = sorted(map(unversioned, lake.list_files("raw/emf_metrics")))
    again = dg.materialize(ingest_assets, resources=_resources(tmp_path, short_dataset.out_dir / "landing"),
                           instance=instance, tags=RANGE_TAGS)
    assert again.success
    assert _counts(tmp_path) == counts
    assert sorted(map(unversioned, lake.list_files("raw/emf_metrics"))) == files_before
    assert sorted(lake.list_files("raw/emf_metrics")) == sorted(str(f) for f in Path(lake.root).rglob("emf_metrics/*/*/*.parquet")
                                                                if "/raw/" in str(f))  # nothing superseded is left


def test_one_hour_partition_ingests_only_that_hour(tmp_path, short_dataset):
    res = dg.materialize(ingest_assets, resources=_resources(tmp_path, short_dataset.out_dir / "landing"),
                         partition_key="2026-11-02-01:00", instance=dg.DagsterInstance.ephemeral())
    assert res.success
    lake = Lake(tmp_path / "lake")
    hours = duckdb.execute(
        "SELECT DISTINCT hour FROM read_parquet(?, hive_partitioning=true, hive_types={'hour': INTEGER})",
        [lake.glob("raw/emf_metrics")]).fetchall()
    assert hours == [(1,)]


def test_damaged_records_fail_nothing_but_land_in_quarantine(tmp_path):
    start = datetime(2026, 11, 3, tzinfo=timezone.utc)
    data = generate(tmp_path / "d", start, 1 / 24, seed=3, scenario=None, corrupt_fraction=0.01)
    res = dg.materialize(ingest_assets, resources=_resources(tmp_path, data.out_dir / "landing"),
                         partition_key="2026-11-03-00:00", instance=dg.DagsterInstance.ephemeral())
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    for node, kind in (("ingest_emf_metrics", "emf"), ("ingest_xray_spans", "xray")):
        q = [m for m in res.asset_materializations_for_node(node) if m.asset_key.path[1] == "quarantine"][0]
        assert q.metadata["records_quarantined"].value == data.corrupted[kind] > 0


@pytest.fixture()
def live_landing(tmp_path):
    """Two hours of telemetry ending now, as a live landing zone would hold."""
    now = datetime.now(timezone.utc)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    generate(tmp_path / "live", start, 1 / 24, seed=5, scenario=None, traces_per_minute=1)
    return tmp_path / "live" / "landing", PartitionKey.of(start)


def test_detect_sensor_requests_one_run_for_the_hour_that_changed_and_again_when_files_change(live_landing):
    landing, hour = live_landing
    source = LandingZoneSource(landing=str(landing))
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(cursor=None, resources={"telemetry": source}, instance=instance)
    first = detect_sensor(ctx)
    assert [(r.tags["akidb/changed"], r.partition_key, r.asset_selection) for r in first] == [
        ("emf+prom+xray", hour.dagster_key, None)]  # None: the whole chain, response tick included
    assert first[0].run_key.startswith(f"detect:{hour.dagster_key}:")

    ctx2 = dg.build_sensor_context(cursor=ctx.cursor, resources={"telemetry": source}, instance=instance)
    second = detect_sensor(ctx2)
    assert isinstance(second, dg.SkipReason) and "no new telemetry" in second.skip_message

    emf_file = next((landing / "emf" / hour.path).iterdir())
    with open(emf_file, "a") as fh:
        fh.write('{"not": "emf"}\n')
    ctx3 = dg.build_sensor_context(cursor=ctx2.cursor, resources={"telemetry": source}, instance=instance)
    third = detect_sensor(ctx3)
    assert [(r.tags["akidb/changed"], r.partition_key) for r in third] == [("emf", hour.dagster_key)]
    assert third[0].run_key != first[0].run_key
    assert json.loads(ctx3.cursor)["emf"][str(hour)] != json.loads(ctx2.cursor)["emf"][str(hour)]


def test_a_late_file_in_an_older_hour_reruns_its_models_and_scores_but_not_the_response(live_landing, tmp_path):
    from assets.alerting import INCIDENTS

    landing, hour = live_landing
    older = PartitionKey(hour.start - timedelta(hours=2))
    generate(tmp_path / "late", older.start, 1 / 24, seed=6, scenario=None, traces_per_minute=1, sources=("emf",))
    instance = dg.DagsterInstance.ephemeral()
    source = LandingZoneSource(landing=str(landing))
    ctx = dg.build_sensor_context(cursor=None, resources={"telemetry": source}, instance=instance)
    detect_sensor(ctx)  # the newest hour, as above
    dest = landing / "emf" / older.path
    dest.mkdir(parents=True)
    (dest / "late.ndjson").write_bytes(next((tmp_path / "late" / "landing" / "emf" / older.path).iterdir()).read_bytes())
    (landing / "prom" / hour.path / "metrics-2.om").write_text("# EOF\n")
    ctx2 = dg.build_sensor_context(cursor=ctx.cursor, resources={"telemetry": source}, instance=instance)
    reqs = detect_sensor(ctx2)
    assert [(r.partition_key, r.tags["akidb/trigger"]) for r in reqs] == [
        (older.dagster_key, "late telemetry"), (hour.dagster_key, "new telemetry")]
    assert reqs[0].asset_selection == HOURLY_KEYS and INCIDENTS not in reqs[0].asset_selection
    assert reqs[1].asset_selection is None


def test_no_detection_run_while_one_is_queued_and_nothing_is_lost_meanwhile(live_landing):
    from dagster._core.storage.dagster_run import DagsterRun

    landing, hour = live_landing
    instance = dg.DagsterInstance.ephemeral()
    instance.add_run(DagsterRun(job_name="detect", run_id="0" * 36, status=dg.DagsterRunStatus.STARTED))
    source = LandingZoneSource(landing=str(landing))
    ctx = dg.build_sensor_context(cursor=None, resources={"telemetry": source}, instance=instance)
    busy = detect_sensor(ctx)
    assert isinstance(busy, dg.SkipReason) and "still queued or running" in busy.skip_message
    assert ctx.cursor is None  # what landed is still new for the next look
    instance.report_run_canceled(instance.get_run_by_id("0" * 36))  # the run ends
    ctx2 = dg.build_sensor_context(cursor=ctx.cursor, resources={"telemetry": source}, instance=instance)
    assert [r.partition_key for r in detect_sensor(ctx2)] == [hour.dagster_key]


def test_api_plan_requests_the_open_hour_once_a_minute_and_the_previous_hour_while_late_data_arrives():
    t = datetime(2026, 11, 2, 10, 4, 30, tzinfo=timezone.utc)
    reqs, cur = plan_api(["xray"], t, {})
    assert [str(r.partition) for r in reqs] == ["2026-11-02-09:00", "2026-11-02-10:00"]
    assert plan_api(["xray"], t + timedelta(seconds=20), cur)[0] == []
    reqs, _ = plan_api(["xray"], t + timedelta(minutes=20), cur)
    assert [str(r.partition) for r in reqs] == ["2026-11-02-10:00"]


def test_landing_plan_forgets_hours_outside_the_lookback():
    k1 = PartitionKey.parse("2026-11-02T01")
    k2 = PartitionKey.parse("2026-11-02T02")
    reqs, cur = plan_landing({"emf": {k1: "a", k2: "b"}}, {}, keep={k2})
    assert [r.partition for r in reqs] == [k1, k2]
    assert cur == {"emf": {str(k2): "b"}}
    reqs, _ = plan_landing({"emf": {k2: "b", k1: ""}}, cur, keep={k2})
    assert reqs == []
