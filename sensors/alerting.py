"""Alerting sensors: new alert rows launch the response tick; the pipeline's own failures page too."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.alerting.respond import open_incidents
from akidb_pipelines.alerting.sources import newest_alert_minutes
from akidb_pipelines.clients.pagerduty import Event
from assets.alerting import INCIDENTS
from assets.resources import LakeResource, PagerDutyResource

respond_job = dg.define_asset_job("respond", selection=dg.AssetSelection.assets(INCIDENTS),
                                  description="Correlate, route and page: one response tick.")
FOLLOW_UP = timedelta(minutes=5)  # open incidents are re-evaluated this often (held P1s, resolutions)


@dg.sensor(job=respond_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs the response tick when new burn-rate alert minutes or anomalies land, and every five "
                       "minutes while incidents are open (held P1 pages, resolutions).")
def alert_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    cursor = json.loads(context.cursor) if context.cursor else {"burn": "", "anomaly": "", "last_run": ""}
    newest = newest_alert_minutes(lake.lake())
    now = datetime.now(timezone.utc)
    new = [k for k in ("burn", "anomaly") if newest[k] and newest[k] > cursor.get(k, "")]
    reason = ""
    if new:
        reason = "new " + " and ".join({"burn": "burn-rate alert minutes", "anomaly": "anomalies"}[k] for k in new)
    elif cursor.get("last_run") and now - datetime.fromisoformat(cursor["last_run"]) >= FOLLOW_UP \
            and open_incidents(lake.lake()):
        reason = "follow-up of open incidents"
    if not reason:
        last = ", ".join(f"{k} {newest[k] or 'none'}" for k in ("burn", "anomaly"))
        return dg.SkipReason(f"nothing new since the last tick (newest: {last})")
    cursor = {**newest, "last_run": now.isoformat()}
    context.update_cursor(json.dumps(cursor))
    return dg.RunRequest(run_key=f"respond:{newest['burn']}:{newest['anomaly']}:{now:%Y%m%dT%H%M}",
                         tags={"akidb/reason": reason})


@dg.run_failure_sensor(monitor_all_code_locations=False, default_status=dg.DefaultSensorStatus.RUNNING,
                       description="The pipeline watches itself: a failed run pages (one incident per job until "
                                   "a later run of that job succeeds).")
def pipeline_failure_sensor(context: dg.RunFailureSensorContext, pagerduty: PagerDutyResource):
    run = context.dagster_run
    outbox = pagerduty.outbox()
    ev = Event("trigger", f"pipeline:{run.job_name}", summary=f"Dagster run of {run.job_name} failed",
               source="akidb-pipelines", severity="error", component="pipeline", group="akidb",
               event_class="pipeline_failure", timestamp=datetime.now(timezone.utc).isoformat(),
               custom_details={"run_id": run.run_id, "job": run.job_name,
                               "error": (context.failure_event.message or "")[:500]})
    outbox.enqueue(ev, f"pipeline:{run.job_name}:{run.run_id}:trigger")
    client = pagerduty.client()
    if client:
        outbox.deliver(client.send)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitor_all_code_locations=False,
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Resolves a pipeline-failure page when the job succeeds again.")
def pipeline_recovery_sensor(context: dg.RunStatusSensorContext, pagerduty: PagerDutyResource):
    run = context.dagster_run
    outbox = pagerduty.outbox()
    if any(r["dedup_key"] == f"pipeline:{run.job_name}" and r["action"] == "trigger" for r in outbox.rows()):
        outbox.enqueue(Event("resolve", f"pipeline:{run.job_name}"), f"pipeline:{run.job_name}:{run.run_id}:resolve")
        client = pagerduty.client()
        if client:
            outbox.deliver(client.send)


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[respond_job], sensors=[alert_sensor, pipeline_failure_sensor, pipeline_recovery_sensor])
