"""The detection run: one run a minute, when a new minute of telemetry has landed, doing the whole chain for the
hour it landed in: ingest -> the SQL models -> anomaly scoring -> the response tick (pages, tickets). One evaluator,
one run (in one process: no per-step start-up), the same assets' hourly partitions, so the UI shows what it did.

Landing zone: the hours of the last six whose files changed since the cursor; the newest of them gets the whole
chain, an older one (late files) its ingest, models and scores only. AWS APIs (nothing cheap to observe): the open
hour once a minute, and the previous hour while late segments arrive. No run while a detection run is still
queued or going: the next evaluation takes everything that landed meanwhile, so runs never pile up.
"""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.landing import list_partition, signature
from akidb_pipelines.microbatch import LATE_TELEMETRY, NEW_TELEMETRY, load_cursor, plan_api, plan_landing
from akidb_pipelines.storage import hour_partitions
from assets.alerting import INCIDENTS
from assets.forecast import SCORES
from assets.ingest import INGEST_KINDS, SOURCE_KINDS, quarantine_key, raw_key
from assets.resources import LandingZoneSource, TelemetrySource
from assets.sql_models import graph, model_key

LOOKBACK_HOURS = 6
INTERVAL_SECONDS = 10  # how often the sensor looks: part of the minute-close -> page latency
# Everything of the chain except the response: what a late file in a closed hour re-runs.
HOURLY_KEYS = [k for kind in INGEST_KINDS for k in (raw_key(kind), quarantine_key(kind))] + \
    [model_key(graph.models[n]) for n in graph.order] + [SCORES]

detect_job = dg.define_asset_job(
    "detect", selection=dg.AssetSelection.assets(*HOURLY_KEYS, INCIDENTS),
    executor_def=dg.in_process_executor, tags={"akidb/kind": "detect", "akidb/ledger": "incidents"},
    description="The detection chain for one hour: ingest, the SQL models, anomaly scoring and the response tick "
                "(pages, tickets, held P1s, resolutions). Launched by detect_sensor when a minute lands.",
)
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def detect_in_flight(instance: dg.DagsterInstance) -> bool:
    """Whether a detection run is queued or going (it will end with a response tick)."""
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=detect_job.name, statuses=IN_FLIGHT), limit=1))


@dg.sensor(job=detect_job, minimum_interval_seconds=INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description="When a new minute of telemetry lands (landing zone) or a minute passes (AWS APIs): one "
                       "detection run for the newest hour (ingest -> SQL models -> scoring -> response), and the "
                       "ingest, models and scores of an older hour whose files changed late.")
def detect_sensor(context: dg.SensorEvaluationContext, telemetry: TelemetrySource):
    now = datetime.now(timezone.utc)
    if detect_in_flight(context.instance):
        return dg.SkipReason("a detection run is still queued or running; the next look takes what landed meanwhile")
    cursor = load_cursor(context.cursor)
    if isinstance(telemetry, LandingZoneSource):
        keys = hour_partitions(now - timedelta(hours=LOOKBACK_HOURS), now)
        observed = {kind: {k: signature(list_partition(telemetry.landing, kind, k)) for k in keys}
                    for asset_kind in INGEST_KINDS for kind in SOURCE_KINDS[asset_kind]}
        requests, new_cursor = plan_landing(observed, cursor, set(keys))
        reason = f"no new telemetry in the last {LOOKBACK_HOURS} hours of {telemetry.describe()}"
    else:
        requests, new_cursor = plan_api(list(INGEST_KINDS), now, cursor)
        reason = "this minute is already requested"
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    if not requests:
        return dg.SkipReason(reason)
    by_hour: dict = {}
    for r in requests:
        by_hour.setdefault(r.partition, []).append(r)
    newest = max(by_hour)
    out = []
    for hour in sorted(by_hour):
        kinds = sorted({r.kind for r in by_hour[hour]})
        key = "detect:" + hour.dagster_key + ":" + "+".join(r.run_key.rsplit(":", 1)[-1] for r in by_hour[hour])
        tags = {"akidb/trigger": NEW_TELEMETRY, "akidb/changed": "+".join(kinds)}
        if hour == newest:
            out.append(dg.RunRequest(run_key=key, partition_key=hour.dagster_key, tags=tags))
        else:  # a late file in a closed hour: its rows, models and scores, not another response tick
            out.append(dg.RunRequest(run_key=key, partition_key=hour.dagster_key, asset_selection=HOURLY_KEYS,
                                     tags={**tags, "akidb/trigger": LATE_TELEMETRY}))
    return out


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[detect_job], sensors=[detect_sensor])
