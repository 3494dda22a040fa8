"""Ingest assets: raw telemetry -> ``lake/raw/<table>`` and ``lake/quarantine/<table>``, hourly partitions.

One multi-asset per raw table, built by a factory. The body fetches the partition's files from the telemetry
source, calls the core ingest, recounts what landed (the blocking conservation and schema check) and runs the
Great Expectations suite on the stored rows, and warns when more than a set share of the records read went to
quarantine (``quarantine_share``). The spans table has two source kinds: X-Ray documents (``xray/``) and
OpenTelemetry OTLP/JSON (``otlp/``), each ingested as its own batch (``landing`` and ``landing-otlp``), so either
one replaces only its own rows; the checks cover both.
"""


import shutil
from pathlib import Path

import pandas as pd

import dagster as dg

from akidb_pipelines import quality
from akidb_pipelines.config import quarantine_warn_share
from akidb_pipelines.ingest import ingest_files, read_batch, verify_batch, write_manifest
from akidb_pipelines.quarantine_share import quarantine_share
from akidb_pipelines.storage import hour_partitions
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES
from assets.partitions import freshness, hourly, ingest_backfill_policy
from assets.resources import LakeResource, TelemetrySource

DESCRIPTIONS = {
    "xray": "Trace spans, one row each: AWS X-Ray segments and subsegments flattened to any depth, and "
            "OpenTelemetry OTLP/JSON spans mapped to the same columns.",
    "emf": "CloudWatch Embedded Metric Format values, one row per value with its dimensions.",
    "prom": "Prometheus samples (counters, histogram buckets, gauges) with their labels.",
}
OWNERS = ["team:sre"]
# Read once, like the freshness policy: a bad value stops the code location from loading with its one-line reason
# (and `akidb config check` names it), rather than failing an ingest after it has stored its records.
QUARANTINE_WARN_SHARE = quarantine_warn_share()
# Landing kinds feeding each asset's table (the asset is named after the first).
SOURCE_KINDS = {"xray": ("xray", "otlp"), "emf": ("emf",), "prom": ("prom",)}


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
            dg.AssetCheckSpec("quarantine_share", asset=raw,
                              description="the share of the records read that went to quarantine is at most "
                                          "AKIDB_QUARANTINE_WARN_SHARE (default 5%): above it a source's format "
                                          "has likely changed and what is built on it is going blind"),
        ],
        partitions_def=hourly,
        backfill_policy=ingest_backfill_policy,
        pool="lake_writer",
    )
    def _ingest(context: dg.AssetExecutionContext, lake: LakeResource, telemetry: TelemetrySource):
        window = context.partition_time_window
        keys = hour_partitions(window.start, window.end)
        the_lake = lake.lake()
        reports, n_files = [], {}
        work = the_lake.staging_dir()  # private, named after this process: a later run removes it if this one dies
        try:
            for sub in SOURCE_KINDS[kind]:  # every kind runs, even without files: it removes its stale rows
                workdir = work / sub
                workdir.mkdir()
                files = telemetry.fetch(sub, keys, workdir)
                batch = telemetry.batch if sub == kind else f"{telemetry.batch}-{sub}"
                reports.append(ingest_files(sub, list(files), the_lake, batch=batch, partition_of=files,
                                            owned=keys, catalog=lake.catalog()))
                n_files[sub] = len(files)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for r in reports:
            context.log.info(
                f"{r.kind}: {r.records_read} records from {n_files[r.kind]} file(s) -> {r.rows_stored} rows, "
                f"{r.records_quarantined} quarantined, {r.duplicates_dropped} duplicates"
            )
        vs = [verify_batch(the_lake, r, keys) for r in reports]
        totals = {f: sum(getattr(r, f) for r in reports) for f in (
            "records_read", "records_stored", "rows_stored", "records_quarantined", "duplicates_dropped",
            "blank_lines")}
        by_reason: dict[str, int] = {}
        for r in reports:
            for k, n in r.quarantine_by_reason.items():
                by_reason[k] = by_reason.get(k, 0) + n
        meta = {
            **totals,
            "files": sum(n_files.values()),
            "source": telemetry.describe(),
            "seconds": round(sum(r.seconds for r in reports), 3),
            "dagster/row_count": totals["rows_stored"],
        }
        if len(reports) > 1:
            meta["by_source_kind"] = dg.MetadataValue.json(
                {r.kind: {"files": n_files[r.kind], "batch": r.batch, "records_read": r.records_read,
                          "records_stored": r.records_stored, "records_quarantined": r.records_quarantined,
                          "duplicates_dropped": r.duplicates_dropped} for r in reports})
        yield dg.MaterializeResult(asset_key=raw, metadata=meta)
        yield dg.MaterializeResult(
            asset_key=bad,
            metadata={"records_quarantined": totals["records_quarantined"],
                      "by_reason": dg.MetadataValue.json(by_reason),
                      "dagster/row_count": totals["records_quarantined"]},
        )
        yield dg.AssetCheckResult(
            check_name="records_conserved", asset_key=raw, passed=all(v.conserved for v in vs),
            metadata={"records_read": sum(v.records_read for v in vs),
                      "records_in_lake": sum(v.records_in_lake for v in vs),
                      "quarantine_in_lake": sum(v.quarantine_in_lake for v in vs),
                      "duplicates_dropped": sum(v.duplicates_dropped for v in vs)},
        )
        missing = sorted({c for v in vs for c in v.missing_columns})
        yield dg.AssetCheckResult(check_name="schema_matches", asset_key=raw, passed=not missing,
                                  metadata={"missing_columns": ", ".join(missing) or "none"})
        frames = [read_batch(the_lake, r.table, r.batch, keys, ", ".join(quality.required_columns(kind)))
                  for r in reports]
        frames = [f for f in frames if len(f)]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else pd.DataFrame())
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
        share = quarantine_share(reports, QUARANTINE_WARN_SHARE)
        yield dg.AssetCheckResult(
            check_name="quarantine_share", asset_key=raw, passed=share.passed, severity=dg.AssetCheckSeverity.WARN,
            metadata={"limit": share.metadata["limit"], "over_limit": share.metadata["over_limit"],
                      "by_kind": dg.MetadataValue.json(share.metadata["by_kind"])},
        )
        for r in reports:
            write_manifest(Path(lake.duckdb_path).parent, r)

    return _ingest


INGEST_KINDS = ("xray", "emf", "prom")
ingest_assets = [build_ingest_asset(k) for k in INGEST_KINDS]


def defs() -> dg.Definitions:
    return dg.Definitions(assets=ingest_assets)
