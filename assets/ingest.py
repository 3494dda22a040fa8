"""Ingest assets: raw telemetry -> ``lake/raw/<table>`` and ``lake/quarantine/<table>``, hourly partitions.

One multi-asset per source kind, built by a factory. The body fetches the partition's files from the telemetry
source, calls the core ingest, recounts what landed (the blocking conservation and schema check) and runs the
Great Expectations suite on the stored rows.
"""


import tempfile
from pathlib import Path

import dagster as dg

from akidb_pipelines import quality
from akidb_pipelines.ingest import ingest_files, read_batch, verify_batch, write_manifest
from akidb_pipelines.storage import hour_partitions
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES
from assets.partitions import freshness, hourly, ingest_backfill_policy
from assets.resources import LakeResource, TelemetrySource

DESCRIPTIONS = {
    "xray": "AWS X-Ray segments and subsegments, one row each, flattened to any depth.",
    "emf": "CloudWatch Embedded Metric Format values, one row per value with its dimensions.",
    "prom": "Prometheus samples (counters, histogram buckets, gauges) with their labels.",
}
OWNERS = ["team:sre"]


def raw_key(kind: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", *RAW_TABLES[kind].split("/")])


def quarantine_key(kind: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", *QUARANTINE_TABLES[kind].split("/")])


def build_ingest_asset(kind: str) -> dg.AssetsDefinition:
    raw, bad = raw_key(kind), quarantine_key(kind)
    table = RAW_TABLES[kind].split("/")[1]

    @dg.multi_asset(
        name=f"ingest_{table}",
        specs=[
            dg.AssetSpec(raw, description=DESCRIPTIONS[kind], group_name="ingest", kinds={"parquet", "duckdb"},
                         owners=OWNERS, metadata={"dagster/table_name": f"raw.{table}"}, freshness_policy=freshness),
            dg.AssetSpec(bad, description=f"Quarantined {kind} records: reason, detail and the raw record.",
                         group_name="ingest", kinds={"parquet", "duckdb"}, owners=OWNERS,
                         metadata={"dagster/table_name": f"quarantine.{table}"}, freshness_policy=freshness),
        ],
        check_specs=[
            dg.AssetCheckSpec("records_conserved", asset=raw, blocking=True,
                              description="records read = rows stored + quarantined + duplicates, recounted from the lake"),
            dg.AssetCheckSpec("schema_matches", asset=raw, blocking=True,
                              description="the stored Parquet has every expected column"),
            dg.AssetCheckSpec("great_expectations", asset=raw,
                              description=f"Great Expectations suite for {table} on the stored rows"),
        ],
        partitions_def=hourly,
        backfill_policy=ingest_backfill_policy,
        pool="lake_writer",
    )
    def _ingest(context: dg.AssetExecutionContext, lake: LakeResource, telemetry: TelemetrySource):
        window = context.partition_time_window
        keys = hour_partitions(window.start, window.end)
        the_lake = lake.lake()
        with tempfile.TemporaryDirectory(prefix="akidb-fetch-") as work:
            files = telemetry.fetch(kind, keys, Path(work))
            report = ingest_files(kind, list(files), the_lake, batch=telemetry.batch, partition_of=files,
                                  owned=keys, catalog=lake.catalog())
        context.log.info(
            f"{kind}: {report.records_read} records from {len(files)} file(s) -> {report.rows_stored} rows, "
            f"{report.records_quarantined} quarantined, {report.duplicates_dropped} duplicates"
        )
        v = verify_batch(the_lake, report, keys)
        meta = {
            "records_read": report.records_read,
            "records_stored": report.records_stored,
            "rows_stored": report.rows_stored,
            "records_quarantined": report.records_quarantined,
            "duplicates_dropped": report.duplicates_dropped,
            "blank_lines": report.blank_lines,
            "files": len(files),
            "source": telemetry.describe(),
            "seconds": report.seconds,
            "dagster/row_count": report.rows_stored,
        }
        yield dg.MaterializeResult(asset_key=raw, metadata=meta)
        yield dg.MaterializeResult(
            asset_key=bad,
            metadata={"records_quarantined": report.records_quarantined,
                      "by_reason": dg.MetadataValue.json(report.quarantine_by_reason),
                      "dagster/row_count": report.records_quarantined},
        )
        yield dg.AssetCheckResult(
            check_name="records_conserved", asset_key=raw, passed=v.conserved,
            metadata={"records_read": v.records_read, "records_in_lake": v.records_in_lake,
                      "quarantine_in_lake": v.quarantine_in_lake, "duplicates_dropped": v.duplicates_dropped},
        )
        yield dg.AssetCheckResult(check_name="schema_matches", asset_key=raw, passed=not v.missing_columns,
                                  metadata={"missing_columns": ", ".join(v.missing_columns) or "none"})
        df = read_batch(the_lake, report.table, report.batch, keys, ", ".join(quality.required_columns(kind)))
        suite = quality.validate(kind, df, keys[0].start, keys[-1].end) if len(df) else None
        yield dg.AssetCheckResult(
            check_name="great_expectations", asset_key=raw,
            passed=True if suite is None else suite.success,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_validated": 0 if suite is None else suite.rows,
                "expectations": 0 if suite is None else len(suite.outcomes),
                "failed": dg.MetadataValue.json(
                    [] if suite is None else
                    [{"expectation": o.expectation, "column": o.column, "unexpected": o.unexpected_count,
                      "sample": o.sample} for o in suite.failed]),
            },
        )
        write_manifest(Path(lake.duckdb_path).parent, report)

    return _ingest


INGEST_KINDS = ("xray", "emf", "prom")
ingest_assets = [build_ingest_asset(k) for k in INGEST_KINDS]


def defs() -> dg.Definitions:
    return dg.Definitions(assets=ingest_assets)
