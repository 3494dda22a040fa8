"""Alerting as an asset: ``alerting/incidents`` is the response tick (alerts -> incidents -> routing -> outbox ->
PagerDuty) and the ledgers it leaves in the lake. The core does the work (``akidb_pipelines.alerting``)."""

from datetime import datetime, timezone

import dagster as dg

from akidb_pipelines.alerting.alert_sources import lookback_service_map, newest_alert_minutes
from akidb_pipelines.alerting.respond import (
    DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, respond, write_incidents)
from akidb_pipelines.alerting.respond import RespondConfig as TickSettings
from akidb_pipelines.response_inputs import load_inputs
from assets.resources import LakeResource, PagerDutyResource, RunbookResource

INCIDENTS = dg.AssetKey(["alerting", "incidents"])
TICK_DEFAULTS = TickSettings()
RUNBOOK_CONFIG_CHECK = dg.AssetCheckSpec(
    "runbook_config", asset=INCIDENTS,
    description="The runbooks file loads. When it does not, the tick still pages but no runbook is planned or acts "
                "(fail closed); this check fails with the file and the field at fault.")


class RespondConfig(dg.Config):
    now: str = ""  # ISO time of the tick (default: now); replays pass the simulated clock


@dg.asset(
    key=INCIDENTS, group_name="alerting", owners=["team:sre"], kinds={"pagerduty", "parquet"},
    deps=[dg.AssetKey(["duckdb", "marts", "slo_burn_rates_1m"]), dg.AssetKey(["forecast", "anomaly_scores"]),
          dg.AssetKey(["duckdb", "marts", "golden_signals_1m"]), dg.AssetKey(["duckdb", "staging", "stg_xray_spans"])],
    description="One response tick: burn-rate, anomaly and static-rule alerts (minus ad-hoc silences) correlated "
                "into incidents (root from the X-Ray service map, root-cause type from the golden signals), routed "
                "by severity (P0 now, P1 in business hours, P2 ticket), flap-suppressed, escalated when a P0 is not "
                "acknowledged, sent through the durable outbox to PagerDuty and resolved when quiet; writes the "
                "incident ledger, the decision ledger and the tickets table.",
    check_specs=[RUNBOOK_CONFIG_CHECK],
)
def incidents(context: dg.AssetExecutionContext, config: RespondConfig, lake: LakeResource,
              pagerduty: PagerDutyResource, runbooks: RunbookResource):
    now = datetime.fromisoformat(config.now.replace("Z", "+00:00")) if config.now else datetime.now(timezone.utc)
    the_lake = lake.lake()
    outbox = pagerduty.outbox()
    problems: list[str] = []  # a runbooks file that does not load: no runbook acts, the check below fails
    seen = newest_alert_minutes(the_lake)  # the alert sensor compares what lands later with this
    smap = lookback_service_map(the_lake, now, now, TICK_DEFAULTS.lookback)
    report = respond(the_lake, now, load_inputs(problems), outbox, smap, TICK_DEFAULTS)
    for problem in problems:
        context.log.error(f"runbooks not loaded, no runbook acts: {problem}")
    client = pagerduty.client()
    delivery = outbox.deliver(client.send) if client else None
    if delivery is None and outbox.pending():
        context.log.warning(f"no PagerDuty routing key (PAGERDUTY_ROUTING_KEY): {outbox.pending()} event(s) wait "
                            "in the outbox")
    for err in (delivery.errors if delivery else ()):
        context.log.warning(f"PagerDuty delivery: {err}")
    df = write_incidents(the_lake, report, outbox, runbooks.audit())
    open_ = df[~df["resolved"]] if len(df) else df
    table = "| id | severity | root | cause | first alert | decision |\n|---|---|---|---|---|---|\n" + "".join(
        f"| {r.id} | {r.severity} | {r.root_component}: {r.root_rule} | {r.cause} | {r.first_alert:%m-%d %H:%M} "
        f"| {r.decision} |\n" for r in open_.itertuples()) if len(open_) else "no open incidents"
    return dg.MaterializeResult(metadata={
        "incidents": len(df), "open": len(open_),
        "pages_enqueued": len([k for k in report.enqueued if k.endswith(":trigger")]),
        "held": len(report.held), "tickets": len(report.tickets),
        "digest_lines": len(report.digested), "digests_written": len(report.digests),
        "silenced_by_maintenance": len(report.silenced), "alerts_silenced": len(report.silenced_alerts),
        "flapping_suppressed": len(report.flapping), "escalated_unacknowledged": len(report.escalated),
        "decisions_recorded": len(report.decisions), "tick_at": now.isoformat(timespec="seconds"),
        "alerts_seen": dg.MetadataValue.json(seen),
        "delivered": delivery.sent if delivery else 0, "waiting_in_outbox": outbox.pending(),
        "open_incidents": dg.MetadataValue.md(table),
        "ledger": f"{the_lake.root}/{INCIDENTS_OBJECT}", "decision_ledger": f"{the_lake.root}/{DECISIONS_OBJECT}",
        "tickets_table": f"{the_lake.root}/{TICKETS_OBJECT}",
    }, check_results=[dg.AssetCheckResult(
        check_name="runbook_config", passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or "the runbooks file loads",
        metadata={"runbooks_loaded": not problems})])


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[incidents])
