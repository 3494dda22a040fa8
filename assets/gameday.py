"""The randomized game-day suite as an asset: ``validation/gameday_report`` draws scenarios, injects them into
background weeks and replays the shipped detector (``akidb_pipelines.chaos.gameday_run``, the same as
``akidb gameday``); the report lands in the lake (``chaos/gameday.json``) and a check says whether the goals hold."""

import json
from pathlib import Path

import dagster as dg

from akidb_pipelines.chaos.gameday_report import summary_table
from akidb_pipelines.chaos.gameday_run import run_gameday
from akidb_pipelines.chaos.run import measured_cycle
from akidb_pipelines.config import Settings
from assets.resources import LakeResource

GAMEDAY_REPORT = dg.AssetKey(["validation", "gameday_report"])
GAMEDAY_OBJECT = "chaos/gameday.json"


class GameDayConfig(dg.Config):
    scenarios: int = 40                # drawn scenarios (eight per background week)
    seed: int = 1000                   # seeds from 1000 are the held-out split; below: development
    cycle_seconds: float = 0.0         # 0: measured by `make bench` on this machine, else the 60 s sensor interval
    workdir: str = ""                  # backgrounds and scenario lakes (default $AKIDB_HOME/gameday/seed-<seed>)


@dg.asset(
    key=GAMEDAY_REPORT, group_name="validation", owners=["team:sre"], kinds={"python", "json"},
    check_specs=[dg.AssetCheckSpec("gameday_goals_met", asset=GAMEDAY_REPORT, description=(
        "Strictly matched (root component and cause): recall >= 95%, MTTD p90 <= 3 min, cause named right >= 90%, "
        "no false page and at most 10 pages + tickets a week in clean and noisy weeks."))],
    description="A randomized game-day suite: scenarios drawn from distributions (start weekday, 4 or 14 training "
                "days, onsets at any hour, magnitudes, overlaps, deploy blips, clean and noisy weeks) replayed "
                "through the shipped detector; recall, MTTD, cause accuracy and on-call load with 90% intervals. "
                "An hour for 40 scenarios: run it on demand (job `gameday`).",
)
def gameday_report(context: dg.AssetExecutionContext, config: GameDayConfig, lake: LakeResource):
    settings = Settings.from_env()
    if config.cycle_seconds > 0:
        cycle, source = config.cycle_seconds, "given (run config)"
    else:
        cycle, source = measured_cycle(settings.home)
    work = Path(config.workdir) if config.workdir else settings.home / "gameday" / f"seed-{config.seed}"
    report = run_gameday(config.scenarios, config.seed, work, cycle, source, context.log.info)
    uri = lake.lake().write_bytes(GAMEDAY_OBJECT, (json.dumps(report, indent=2, default=str) + "\n").encode())
    s = report["summary"]
    missed = [g["goal"] for g in s["goals"] if not g["met"]]
    yield dg.MaterializeResult(metadata={
        "scenarios": s["scenarios"], "split": report["split"], "seed": config.seed,
        "recall": s["recall"], "mttd_p90_s": s["mttd_p90_s"], "cause_accuracy": s["cause_accuracy"],
        "false_pages_quiet": s["false_pages_quiet"], "cycle_seconds": cycle, "cycle_source": source,
        "report": dg.MetadataValue.path(uri), "summary": dg.MetadataValue.md(f"```\n{summary_table(s)}\n```"),
    })
    yield dg.AssetCheckResult(
        check_name="gameday_goals_met", passed=not missed, severity=dg.AssetCheckSeverity.WARN,
        description="every goal met" if not missed else f"missed: {'; '.join(missed)}")


gameday_job = dg.define_asset_job(
    "gameday", selection=dg.AssetSelection.assets(GAMEDAY_REPORT),
    description="A randomized game-day suite (run config: scenarios, seed, cycle_seconds). `akidb gameday` runs "
                "the same from the command line.")


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[gameday_report], jobs=[gameday_job])
