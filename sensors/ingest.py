"""The micro-batch sensor: every minute, ingest the hours whose raw data changed (cursor-driven, idempotent)."""


import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.landing import list_partition, signature
from akidb_pipelines.microbatch import load_cursor, plan_api, plan_landing
from akidb_pipelines.storage import hour_partitions
from assets.ingest import INGEST_KINDS, SOURCE_KINDS, quarantine_key, raw_key
from assets.resources import LandingZoneSource, TelemetrySource

LOOKBACK_HOURS = 6


@dg.sensor(
    name="ingest_microbatch_sensor",
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.groups("ingest"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute: re-ingest the hours whose raw telemetry changed (landing zone) or the open hour (APIs).",
)
def ingest_microbatch_sensor(context: dg.SensorEvaluationContext, telemetry: TelemetrySource):
    now = datetime.now(timezone.utc)
    cursor = load_cursor(context.cursor)
    if isinstance(telemetry, LandingZoneSource):
        keys = hour_partitions(now - timedelta(hours=LOOKBACK_HOURS), now)
        observed = {
            kind: {k: signature(list_partition(telemetry.landing, kind, k)) for k in keys}
            for asset_kind in INGEST_KINDS for kind in SOURCE_KINDS[asset_kind]
        }
        requests, new_cursor = plan_landing(observed, cursor, set(keys))
        reason = f"no change in the last {LOOKBACK_HOURS} hours of {telemetry.describe()}"
    else:
        requests, new_cursor = plan_api(list(INGEST_KINDS), now, cursor)
        reason = "already requested this minute"
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    if not requests:
        return dg.SkipReason(reason)
    # Kinds feeding one table (xray and otlp) share its asset: one run per table and hour.
    merged: dict[tuple, list] = {}
    for r in requests:
        merged.setdefault((raw_key(r.kind), r.partition), []).append(r)
    return [
        dg.RunRequest(
            run_key="+".join(r.run_key for r in rs),
            partition_key=part.dagster_key,
            asset_selection=[key, quarantine_key(rs[0].kind)],
            tags={"akidb/trigger": "microbatch", "akidb/kind": "+".join(r.kind for r in rs)},
        )
        for (key, part), rs in merged.items()
    ]


def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[ingest_microbatch_sensor])

