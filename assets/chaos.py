"""Chaos validation as an asset: ``validation/chaos_report`` replays chaos scenarios through the pipeline core and
the response layer on a simulated clock (``akidb_pipelines.chaos``, the same as ``akidb chaos`` / ``make chaos``),
stores the reports in the lake (``chaos/report.json``) for the chaos dashboard, and checks the goals."""

from pathlib import Path

import dagster as dg

from akidb_pipelines.chaos.replay import DETECTORS
from akidb_pipelines.chaos.report import REPORT_OBJECT, publish_reports
from akidb_pipelines.chaos.run import measured_cycle, run_scenarios
from akidb_pipelines.chaos.scenario import scenario_paths
from akidb_pipelines.config import Settings
from akidb_pipelines.dashboards.chaos import report_tables
from assets.resources import LakeResource

CHAOS_REPORT = dg.AssetKey(["validation", "chaos_report"])


class ChaosConfig(dg.Config):
    scenarios: list[str] = []          # shipped names (spot-alone, ...) or YAML paths; empty: every shipped scenario
    detectors: list[str] = list(DETECTORS)
    cycle_seconds: float = 0.0         # 0: measured by `make bench` on this machine, else the 60 s sensor interval
    workdir: str = ""                  # where the scenario lakes go (default $AKIDB_HOME/chaos)


@dg.asset(
    key=CHAOS_REPORT, group_name="validation", owners=["team:sre"], kinds={"python", "json"},
    check_specs=[dg.AssetCheckSpec("chaos_goals_met", asset=CHAOS_REPORT, description=(
        "Every goal of the shipped detector holds in every replayed scenario: MTTD <= 2 min per seed incident, "
        "MTTR <= 10 min where a runbook applies, no page in the clean and noisy weeks, < 10 pages a week, "
        "precision >= 90%."))],
    description="Game days on replayed telemetry: each chaos scenario generated, run through ingest, the SQL "
                "models, Prophet training and scoring, then the response layer on a simulated clock; per incident "
                "and per detector (static thresholds, burn rates, anomalies, combined) MTTD, MTTA, MTTR, pages and "
                "alerts per week, precision and recall. Writes chaos/report.json into the lake. Minutes per scenario: "
                "run it on demand (job `chaos`), not on a schedule.",
)
def chaos_report(context: dg.AssetExecutionContext, config: ChaosConfig, lake: LakeResource):
    settings = Settings.from_env()
    paths = scenario_paths(config.scenarios)
    if config.cycle_seconds > 0:
        cycle, source = config.cycle_seconds, "given (run config)"
    else:
        cycle, source = measured_cycle(settings.home)
    context.log.info(f"pipeline cycle {cycle:.1f} s: {source}")
    work = Path(config.workdir) if config.workdir else settings.home / "chaos"
    reports = [r.to_dict() for r in run_scenarios(paths, work, config.detectors, cycle, source, context.log.info)]
    uri, stored = publish_reports(lake.lake(), reports)
    goals = [(r["scenario"], g) for r in reports for g in r["goals"]]
    missed = [(s, g) for s, g in goals if not g["met"]]
    tables = report_tables(reports)
    yield dg.MaterializeResult(metadata={
        "scenarios": len(reports), "scenarios_stored": len(stored), "goals": len(goals), "goals_missed": len(missed),
        "cycle_seconds": cycle, "cycle_source": source,
        "report": dg.MetadataValue.path(uri), "lake_object": REPORT_OBJECT,
        "detectors": dg.MetadataValue.md(tables["detectors"]),
        "incidents_combined": dg.MetadataValue.md(tables["incidents_combined"]),
        "goals_detail": dg.MetadataValue.md(tables["goals"]),
    })
    yield dg.AssetCheckResult(
        check_name="chaos_goals_met", passed=not missed, severity=dg.AssetCheckSeverity.WARN,
        description="every goal met" if not missed else f"{len(missed)} goal(s) missed",
        metadata={"missed": dg.MetadataValue.md("\n".join(f"- {s}: {g['goal']} ({g['detail']})" for s, g in missed)
                                                or "none")},
    )


chaos_job = dg.define_asset_job(
    "chaos", selection=dg.AssetSelection.assets(CHAOS_REPORT, dg.AssetKey(["dashboards", "chaos"])),
    description="Replay chaos scenarios (run config: scenarios, detectors, cycle_seconds) and render the chaos "
                "dashboard. `make chaos` runs the same from the command line.")


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[chaos_report], jobs=[chaos_job])
