"""Partitions follow the data's clock: one partition per UTC hour, the current (open) hour included."""

from datetime import timedelta

import dagster as dg

from akidb_pipelines.config import freshness_fail_minutes, partitions_start

# The first hour the lake can hold. Backfills of 90 days and more fit after this date; move it with
# AKIDB_PARTITIONS_START (format 2026-06-01-00:00) when loading older history.
PARTITIONS_START = partitions_start()

hourly = dg.HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)

# A backfill runs a day of hours per run (one parse of 24 files beats 24 runs), for ingest and SQL models alike.
ingest_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=24)

# Raw telemetry is expected every minute: an asset not updated for this long is flagged (warned at a quarter of it).
# Telemetry that stops arriving is an incident of its own. AKIDB_FRESHNESS_FAIL_MINUTES moves the bound.
FRESHNESS_FAIL = timedelta(minutes=freshness_fail_minutes())
freshness = dg.FreshnessPolicy.time_window(fail_window=FRESHNESS_FAIL, warn_window=FRESHNESS_FAIL / 4)
