"""Alerting sensors: new alert rows launch the response tick; the pipeline's own failures page too."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.alerting.alert_sources import newest_alert_minutes
from akidb_pipelines.alerting.respond import open_incidents
from akidb_pipelines.clients.pagerduty import Event
from assets.alerting import INCIDENTS
from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.runbooks.config import runbooks_or_error
from akidb_pipelines.runbooks.lifecycle import Step, due_steps, execute_step, read_ledger
from assets.resources import LakeResource, PagerDutyResource, RunbookResource
from sensors.detect import detect_in_flight

respond_job = dg.define_asset_job("respond", selection=dg.AssetSelection.assets(INCIDENTS),
                                  executor_def=dg.in_process_executor,
                                  tags={"akidb/kind": "response", "akidb/ledger": "incidents"},
                                  description="Correlate, route and page: one response tick.")
FOLLOW_UP = timedelta(minutes=5)  # open incidents are re-evaluated this often (held P1s, resolutions)


def last_tick(instance: dg.DagsterInstance) -> tuple[datetime, dict[str, str]] | None:
    """When the newest response tick ran (whichever job ran it: a detection run or `respond`) and the newest
    alert minutes it saw; None before the first."""
    entry = instance.get_latest_materialization_event(INCIDENTS)
    if entry is None or entry.asset_materialization is None:
        return None
    seen = entry.asset_materialization.metadata.get("alerts_seen")
    return (datetime.fromtimestamp(entry.timestamp, timezone.utc),
            dict(seen.value) if seen is not None and isinstance(seen.value, dict) else {})


@dg.sensor(job=respond_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs the response tick when burn-rate alert minutes or anomalies are newer than what the last "
                       "tick saw (a backfill, a detection run that failed), and every five minutes while incidents "
                       "are open and no detection run ticked (held P1 pages, resolutions, escalations). A detection "
                       "run ticks every minute with data: then this sensor has nothing to do.")
def alert_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    if detect_in_flight(context.instance):
        return dg.SkipReason("a detection run is queued or running: it ends with a response tick")
    newest = newest_alert_minutes(lake.lake())
    now = datetime.now(timezone.utc)
    last = last_tick(context.instance)
    seen = last[1] if last else {}
    new = [k for k in ("burn", "anomaly") if newest[k] and newest[k] > seen.get(k, "")]
    reason = ""
    if new:
        reason = "new " + " and ".join({"burn": "burn-rate alert minutes", "anomaly": "anomalies"}[k] for k in new)
    elif last and now - last[0] >= FOLLOW_UP and open_incidents(lake.lake()):
        reason = "follow-up of open incidents"
    if not reason:
        shown = ", ".join(f"{k} {newest[k] or 'none'}" for k in ("burn", "anomaly"))
        return dg.SkipReason(f"nothing new since the last tick (newest: {shown})")
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


class RunbookStep(dg.Config):
    runbook: str
    incident: str
    step: str              # apply | verify | restore
    now: str = ""          # ISO time (default: now); replays pass the simulated clock
    reason: str = ""


@dg.op(description="One step of one runbook for one incident, within its guardrails; the outcome goes to the "
                   "append-only audit log, and a failure or a missing recovery escalates the page.")
def runbook_step(context: dg.OpExecutionContext, config: RunbookStep, lake: LakeResource,
                 pagerduty: PagerDutyResource, runbooks: RunbookResource) -> dg.Output:
    now = datetime.fromisoformat(config.now.replace("Z", "+00:00")) if config.now else datetime.now(timezone.utc)
    step = Step(config.runbook, config.incident, config.step, config.reason)
    loaded, error = runbooks_or_error()
    if error is not None:  # fail closed: the run fails before any AWS call (the failure sensor pages)
        raise dg.Failure(description=f"runbooks not loaded, no runbook acts: {error}", allow_retries=False)
    outbox = pagerduty.outbox()
    out = execute_step(step, loaded, lake.lake(), runbooks.actuator(), runbooks.audit(), outbox, now,
                       load_calendar())
    client = pagerduty.client()
    if out.escalate and client:
        outbox.deliver(client.send)
    (context.log.warning if out.escalate else context.log.info)(f"{step.runbook} {step.step} for {step.incident}: "
                                                                f"{out.status} ({out.reason})")
    return dg.Output(out.status, metadata={"runbook": out.runbook, "incident": out.incident, "target": out.target,
                                           "status": out.status, "reason": out.reason,
                                           "before": json.dumps(out.before), "after": json.dumps(out.after),
                                           "escalated": out.escalate})


@dg.job(name="runbook", description="A runbook step (apply, verify, restore) launched by the runbook sensor.",
        tags={"akidb/kind": "runbook"})
def runbook_job():
    runbook_step()


@dg.sensor(job=runbook_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches the due runbook steps: apply for paged incidents whose runbooks match, verify "
                       "after the action, restore once the incident is over. One run per step (run key). A "
                       "runbooks file that does not load launches nothing (fail closed) and says why.")
def runbook_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, runbooks: RunbookResource):
    now = datetime.now(timezone.utc)
    loaded, error = runbooks_or_error()
    if error is not None:  # fail closed: no apply, verify or restore on a configuration that cannot be read
        context.log.error(f"runbooks not loaded, no runbook acts: {error}")
        return dg.SkipReason(f"runbooks not loaded, no runbook acts until the file is fixed: {error}")
    steps = due_steps(read_ledger(lake.lake()), loaded, runbooks.audit(), now)
    if not steps:
        return dg.SkipReason("no runbook step is due (no paged incident with a matching runbook waiting)")
    return [dg.RunRequest(run_key=s.run_key, tags={"akidb/incident": s.incident, "akidb/runbook": s.runbook},
                          run_config={"ops": {"runbook_step": {"config": {
                              "runbook": s.runbook, "incident": s.incident, "step": s.step, "now": now.isoformat(),
                              "reason": s.reason}}}}) for s in steps]


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[respond_job, runbook_job],
                          sensors=[alert_sensor, runbook_sensor, pipeline_failure_sensor, pipeline_recovery_sensor])
