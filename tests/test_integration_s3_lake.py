"""The production lake end to end: ``AKIDB_LAKE_ROOT=s3://bucket/prefix`` on moto (server mode, real HTTP),
twelve hours of synthetic telemetry (HOURS; the whole day works too, it only takes longer), the main job
(``akidb_main``) materialized through the Definitions the code location serves (resources bound by
``build_resources`` from the environment), and the marts read back from S3 by DuckDB through the offline httpfs
extension. Nothing may land in a local lake folder.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import dagster as dg
import pytest

from akidb_pipelines.synthetic.topology import EDGE_LOCATIONS
from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic import generate

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 10, tzinfo=timezone.utc)  # a Tuesday; no incident of the default scenario is needed
# Half a demo day: the whole day (24 hourly partitions) takes about 105 s here against moto on 2 shared cores,
# twelve hours about 60 s. Set HOURS = 24 for the full day; every expectation below follows from it.
HOURS = 12
BUCKET, PREFIX = "akidb-prod-lake", "observability/lake"


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def test_main_job_materializes_hourly_partitions_into_an_s3_lake(aws_env: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = time.perf_counter()
    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    root = f"s3://{BUCKET}/{PREFIX}"
    home = Path(os.environ["AKIDB_HOME"])  # tmp_path/home (conftest), with the landing zone under it
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("AKIDB_LAKE_ROOT", root)
    monkeypatch.setenv("AKIDB_STAGING_DIR", str(staging))
    monkeypatch.setenv("AKIDB_SOURCE", "synthetic")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)  # only AWS_ENDPOINT_URL (aws_env) points at moto
    for k in ("PAGERDUTY_ROUTING_KEY", "AKIDB_PAGERDUTY_URL", "AKIDB_PAGERDUTY_CA_FILE"):
        monkeypatch.delenv(k, raising=False)

    gen = generate(home, DAY, HOURS / 24, seed=5, traces_per_minute=1)
    t_gen = time.perf_counter() - t0

    from akidb_pipelines.definitions import defs

    definitions = defs()
    lake_res = definitions.resources["lake"]
    assert lake_res.lake_root == root and lake_res.s3_endpoint_url == aws_env
    # the lake reaches S3 through dagster-aws's S3Resource: count the clients it hands out during the run
    from dagster_aws.s3 import S3Resource

    assert isinstance(lake_res.s3, S3Resource) and lake_res.s3.endpoint_url == aws_env
    clients = []
    real = S3Resource.get_client
    monkeypatch.setattr(S3Resource, "get_client", lambda self: clients.append(1) or real(self))
    assert definitions.resources["telemetry"].landing == str(home / "landing")

    job = definitions.resolve_job_def("akidb_main")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": "2026-11-10-00:00",
              "dagster/asset_partition_range_end": f"2026-11-10-{HOURS - 1:02d}:00"},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    t_run = time.perf_counter() - t0 - t_gen
    assert result.success
    assert len(clients) > 0
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert failed == []
    mats = {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()}
    assert {"lake/raw/xray_spans", "lake/raw/emf_metrics", "lake/raw/prometheus_samples",
            "duckdb/marts/golden_signals_1m", "duckdb/marts/slo_burn_rates_1m"} <= mats

    # Every table the run wrote is in the bucket, under the prefix.
    keys = _keys(s3, f"{PREFIX}/")
    for table in ("raw/xray_spans", "raw/emf_metrics", "raw/prometheus_samples",
                  "models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m"):
        hours = {k.split("/hour=")[1][:2] for k in keys if k.startswith(f"{PREFIX}/{table}/date=2026-11-10/")}
        assert hours == {f"{h:02d}" for h in range(HOURS)}, (table, sorted(hours))

    # Read back from S3 with DuckDB (httpfs, offline), not through anything the run left on disk.
    lake = Lake(root, s3_endpoint=aws_env)
    con = lake.connect()

    def read(table: str) -> str:  # the files as a bound variable, never as SQL text
        con.execute(f"SET VARIABLE akidb_{table} = ?", [lake.glob(f"models/marts/{table}")])
        return f"read_parquet(getvariable('akidb_{table}'), hive_partitioning = true, union_by_name = true)"

    # Every minute of the hours, per tier and per SLO, each once. A Prometheus counter needs a previous sample for
    # an increase, and the telemetry starts at 00:00: the tiers whose traffic comes only from the counters (ALB,
    # CloudFront) and the SLOs counting requests (availability, error rate) start at 00:01; akidb-rest and
    # Lambda@Edge have EMF latency from 00:00 on, and so has the latency SLO (Timeslices over EMF P95).
    end = DAY + timedelta(hours=HOURS)

    def minutes(first: datetime) -> list[datetime]:
        return [first + timedelta(minutes=i) for i in range(int((end - first).total_seconds() // 60))]

    late = DAY + timedelta(minutes=1)
    gs_first = {"akidb-rest": DAY, "lambda-edge": DAY, "alb": late, "cloudfront": late}
    gs = con.execute(f"SELECT tier, list(minute ORDER BY minute) FROM {read('golden_signals_1m')} "
                     f"WHERE edge_location = 'all' GROUP BY tier").fetchall()
    got = {tier: mins for tier, mins in gs}
    assert sorted(got) == sorted(gs_first)
    for tier, first in gs_first.items():
        assert got[tier] == minutes(first), tier

    slos, _ = load_specs()
    # edge latency (Timeslices over EMF P95) from 00:00; the per-location SLO is one instance per edge location
    slo_first = {"latency": DAY, "availability": late, "error-rate": late, "edge-latency": DAY}
    slo_first |= {f"edge-location-latency.{loc}": DAY for loc in EDGE_LOCATIONS}
    assert sorted(s.name for s in slos) == sorted({k.split(".")[0] for k in slo_first})
    br = con.execute(f"SELECT slo, list(minute ORDER BY minute) FROM {read('slo_burn_rates_1m')} GROUP BY slo"
                     ).fetchall()
    got = {slo: mins for slo, mins in br}
    assert sorted(got) == sorted(slo_first)
    for slo, first in slo_first.items():
        assert got[slo] == minutes(first), slo
    states = {r[0] for r in con.execute(f"SELECT DISTINCT alert_state FROM {read('slo_burn_rates_1m')}").fetchall()}
    assert states and None not in states

    # The raw rows came from the landing zone: as many Prometheus samples as the generator wrote.
    n_prom = con.execute("SELECT count(*) FROM read_parquet(?)", [lake.glob("raw/prometheus_samples")]).fetchone()[0]
    assert n_prom == gen.records["prom"]

    # Nothing went to a local lake: no lake folder, no Parquet anywhere under AKIDB_HOME or the working tree's
    # default lake, and the staging folder was emptied after each publish.
    assert not (home / "lake").exists()
    # what may be local with an S3 lake: the input, the generator's truth, the catalog of views and the manifests
    assert {p.name for p in home.iterdir()} <= {"landing", "ground_truth.json", "manifests", "akidb.duckdb",
                                                "akidb.duckdb.lock", "akidb.duckdb.wal"}
    assert list(home.rglob("*.parquet")) == []
    assert list(staging.rglob("*.parquet")) == []
    print(f"\ngenerate {HOURS} h: {t_gen:.1f}s, akidb_main on the S3 lake: {t_run:.1f}s, "
          f"{len(keys)} objects in s3://{BUCKET}/{PREFIX}/")
