"""Running a game-day suite: each drawn scenario through the pipeline and the shipped detector's response on the
simulated clock (``chaos.run.run_chaos``, runbooks acting on the sandbox), its incident ledger strictly matched
against what was injected, and the suite summarized.

Each scenario is built in full today (generate, ingest, model, train, score); making one cheap (train once per
background week, inject several incidents into its replayed days) is the next step.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT
from akidb_pipelines.chaos.gameday import HELD_OUT_FROM, draw_suite, kind_of
from akidb_pipelines.chaos.gameday_report import ScenarioResult, scenario_result, summarize
from akidb_pipelines.chaos.matching import Injected
from akidb_pipelines.chaos.run import run_chaos
from akidb_pipelines.chaos.scenario import ChaosScenario
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic.scenario import parse_scenario
from akidb_pipelines.testing.aws_sandbox import require_moto


def injected(sc: ChaosScenario) -> list[Injected]:
    """The incidents a scenario injects, with their absolute times."""
    return [Injected(i.id, i.type, i.start, i.end, tuple(i.components))
            for i in parse_scenario(sc.generator_doc, sc.start, sc.path).incidents]


def ledger_of(lake: Lake) -> pd.DataFrame | None:
    data = lake.read_bytes(INCIDENTS_OBJECT)
    return pd.read_parquet(io.BytesIO(data)) if data is not None else None


def run_one(sc: ChaosScenario, workdir: Path, cycle_seconds: float, cycle_source: str,
            say: Callable[[str], None], keep: bool = False) -> ScenarioResult:
    work = workdir / sc.name
    run_chaos(sc, work, ("combined",), cycle_seconds, say=say, cycle_source=cycle_source, closed_loop=False)
    res = scenario_result(sc.name, kind_of(sc), (sc.end - sc.replay_start) / timedelta(days=7), injected(sc),
                          ledger_of(Lake(work / "lake")))
    if not keep:  # a scenario's telemetry is hundreds of MB: keep only what the report needs
        shutil.rmtree(work / "gen", ignore_errors=True)
        shutil.rmtree(work / "lake" / "raw", ignore_errors=True)
    return res


def run_gameday(n: int, seed: int, workdir: str | Path, cycle_seconds: float, cycle_source: str = "given",
                say: Callable[[str], None] = print, keep: bool = False) -> dict[str, Any]:
    """Draw ``n`` scenarios of suite ``seed``, replay each, and return the report (JSON-ready)."""
    suite = draw_suite(n, seed)
    require_moto()
    results = []
    for k, sc in enumerate(suite, 1):
        say(f"[{k}/{n}] {sc.name}: {sc.description}")
        r = run_one(sc, Path(workdir), cycle_seconds, cycle_source, say, keep)
        say(f"      injected {len(r.injected)}, matched {len(r.matched)}, pages {len(r.pages)}, "
            f"tickets {r.tickets}, false pages {r.false_pages}")
        results.append(r)
    return {"seed": seed, "split": "held out" if seed >= HELD_OUT_FROM else "development",
            "cycle_seconds": cycle_seconds, "cycle_source": cycle_source, "summary": summarize(results, seed),
            "scenarios": [r.to_dict() for r in results]}
