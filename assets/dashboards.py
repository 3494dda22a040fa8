"""Dashboards as assets: one self-contained HTML page per dashboard, written into the lake as
``dashboards/<name>.html`` (the core renders it: ``akidb_pipelines.dashboards``). Each materialization links to
its page and carries its key tables and a Unicode sparkline as metadata (Dagster's Markdown runs no scripts)."""

import dagster as dg

from akidb_pipelines.dashboards import DASHBOARDS, INPUTS, publish, render
from assets.partitions import freshness
from assets.resources import LakeResource

OWNERS = ["team:sre"]
GROUP = "dashboards"
TITLES = {"golden_signals": "Golden Signals", "slo": "SLOs", "anomaly": "Anomalies", "incidents": "Incidents",
          "chaos": "Chaos validation"}
DEPS = {
    "golden_signals": [dg.AssetKey(["duckdb", "marts", "golden_signals_1m"])],
    "slo": [dg.AssetKey(["duckdb", "marts", "slo_burn_rates_1m"])],
    "anomaly": [dg.AssetKey(["forecast", "anomaly_scores"]), dg.AssetKey(["forecast", "prophet_model"])],
    "incidents": [dg.AssetKey(["alerting", "incidents"])],
    "chaos": [dg.AssetKey(["validation", "chaos_report"])],
}
DESCRIPTIONS = {
    "golden_signals": "Latency percentiles, traffic, errors and saturation per tier and per edge location "
                      "(golden_signals_1m), as a self-contained HTML page in the lake.",
    "slo": "Error budget remaining, burn rates per window with the alert thresholds, firing minutes and time to "
           "exhaustion per SLO (slo_burn_rates_1m and the SLO specs), as a self-contained HTML page in the lake.",
    "anomaly": "Actual vs the promoted model's 95% band per scored series with the flagged points, and the "
               "validation metrics of the promoted models, as a self-contained HTML page in the lake.",
    "incidents": "Timeline of the incident ledger (first alert, first page, resolution, severity, root, decision, "
                 "runbook actions) with MTTD and MTTR per incident, as a self-contained HTML page in the lake.",
    "chaos": "The chaos validation reports (chaos/report.json): goals met or missed per scenario, the detectors "
             "side by side, each injected incident on its own clock (detection, page, acknowledgement, recovery), "
             "as a self-contained HTML page in the lake.",
}
# Pages are cheap (seconds): refreshed every 15 minutes by the automation sensor below, and by `make demo` at the end.
REFRESH = dg.AutomationCondition.cron_tick_passed("*/15 * * * *") & ~dg.AutomationCondition.in_progress()


class DashboardConfig(dg.Config):
    days: float = 7.0  # trailing window shown, in days


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def _metadata(d) -> dict:  # noqa: ANN001 - a rendered Dashboard
    url = d.url or d.path
    md = [f"**[{TITLES.get(d.name, d.name)}]({url})** · {d.charts} charts · {d.points:,} points"]
    if d.missing:
        md.append("Missing inputs: " + ", ".join(f"`{m}`" for m in d.missing))
    meta = {
        "page": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(d.uri or d.path),
        "charts": d.charts, "points": d.points, "size_kb": round(len(d.html) / 1024, 1),
        "missing_inputs": ", ".join(d.missing) or "none",
        "summary": dg.MetadataValue.md("\n\n".join(md)),
    }
    for name, table in d.summary.tables.items():
        meta[name] = dg.MetadataValue.md(table)
    for name, value in d.summary.values.items():
        if isinstance(value, (int, float, str)) and name not in meta:
            meta[name] = value
    return meta


def _dashboard_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=key(name), group_name=GROUP, owners=OWNERS, kinds={"html"}, deps=DEPS[name],
        description=DESCRIPTIONS[name] + " Reads " + ", ".join(INPUTS[name]) + "; a missing input is named on the page.",
        freshness_policy=freshness, automation_condition=REFRESH,
    )
    def _page(context: dg.AssetExecutionContext, config: DashboardConfig, lake: LakeResource) -> dg.MaterializeResult:
        the_lake = lake.lake()
        d = publish(the_lake, render(name, the_lake, days=config.days))
        if d.missing:
            context.log.warning(f"{name}: missing input(s) {', '.join(d.missing)}; the page says so")
        context.log.info(f"{name}: {d.charts} charts, {d.points:,} points -> {d.uri}")
        return dg.MaterializeResult(metadata=_metadata(d))

    return _page


dashboard_assets = [_dashboard_asset(n) for n in DASHBOARDS]

dashboards_job = dg.define_asset_job(
    "dashboards", selection=dg.AssetSelection.groups(GROUP),
    description="Render every dashboard page into the lake (dashboards/<name>.html).")

automation_sensor = dg.AutomationConditionSensorDefinition(
    "dashboards_automation", target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=60,
    description="Re-renders the dashboard pages every 15 minutes.",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=dashboard_assets, jobs=[dashboards_job], sensors=[automation_sensor])
