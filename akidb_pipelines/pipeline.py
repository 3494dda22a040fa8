"""The pipeline over a time range, in process: generate (or read) telemetry -> ingest -> every SQL model -> Prophet
training -> anomaly scoring.

These are the same core functions the Dagster assets call (``ingest_files``, ``run_model``, ``train_many``,
``score_window``/``write_scores``); this module only chains them over many hours at once, for the chaos replay, the
tests' lakes and the benchmarks. The demo runs the same work through the Dagster jobs, so its runs show in the UI.

Every stage is causal (a minute's golden signals, burn rates and anomaly score use only earlier minutes), so one
pass over many hours gives the rows a minute-by-minute micro-batch would (tested in ``tests/test_chaos.py``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from akidb_pipelines.change_calendar import CalendarEntry
from akidb_pipelines.forecast.config import ForecastConfig, load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.scoring import score_window, write_scores
from akidb_pipelines.forecast.train import TrainOutcome, train_many
from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.sql_models.project import project_graph
from akidb_pipelines.sql_models.runner import run_model
from akidb_pipelines.storage import Lake, PartitionKey, hour_partitions
from akidb_pipelines.synthetic import GenerationResult, Scenario, generate

LandingFiles = dict[str, dict[str, PartitionKey]]   # kind -> {file: the hour partition it was delivered for}


def landing_partitions(data: GenerationResult) -> LandingFiles:
    """The generated landing files by kind, each with the hour partition of its ``date=/hour=`` folder."""
    return {kind: {str(f): PartitionKey.parse(str(f).split("date=")[1][:10] + "T" + str(f).split("hour=")[1][:2])
                   for f in paths} for kind, paths in data.files.items()}


def ingest_hours(lake: Lake, files: LandingFiles) -> None:
    """The landing batch for ``files``: it replaces the batch's rows of those hours."""
    for kind, part in files.items():
        ingest_files(kind, list(part), lake, batch="landing", partition_of=part)


def run_models(lake: Lake, keys: list[PartitionKey], graph=None) -> None:  # noqa: ANN001 - a sql_models ModelGraph
    """Every SQL model, in dependency order, over the hours ``keys``."""
    graph = graph or project_graph()
    for name in graph.order:
        run_model(graph.models[name], graph, lake, keys)


def model_hours(lake: Lake, files: LandingFiles, keys: list[PartitionKey], graph=None) -> None:  # noqa: ANN001
    """The landing batch for ``files`` and every SQL model over the hours ``keys``: the main job's work for those
    hours, and one micro-batch cycle when ``keys`` is the open hour."""
    ingest_hours(lake, files)
    run_models(lake, keys, graph)


def model_lake(lake: Lake, data: GenerationResult) -> None:
    """Ingest generated telemetry into ``lake`` by hour and run every SQL model over it."""
    model_hours(lake, landing_partitions(data), hour_partitions(data.start, data.end))


def train(lake: Lake, cfg: ForecastConfig, as_of: datetime, calendar: Sequence[CalendarEntry] = ()
          ) -> list[TrainOutcome]:
    """Train (back-test, store, promote) every series of ``cfg`` on the history before ``as_of``."""
    return train_many(lake, cfg, [s.id for s in cfg.series], as_of, list(calendar))


def score(lake: Lake, cfg: ForecastConfig, start: datetime, end: datetime) -> int:
    """Score every series at each minute of [start, end) and store the scores by hour; returns the rows scored."""
    scores, _ = score_window(lake, cfg, load_detector_config(), start, end)
    write_scores(lake, scores, hour_partitions(start, end))
    return len(scores)


@dataclass
class PipelineRun:
    lake: Lake
    ground_truth: dict[str, Any]
    outcomes: list[TrainOutcome]
    data: GenerationResult


def run(workdir: str | Path, start: datetime, days: float, seed: int, scenario: Scenario | None,
        traces_per_minute: float, train_at: datetime, series: Sequence[str] = (),
        calendar: Callable[[dict], list[CalendarEntry]] | None = None,
        say: Callable[[str], None] = print) -> PipelineRun:
    """Generate ``days`` of telemetry into ``workdir/gen``, ingest and model it into ``workdir/lake``, train the
    forecast series (``series``; default every configured one) on the history before ``train_at`` with the change
    calendar ``calendar(ground_truth)``, and score [train_at, end)."""
    work = Path(workdir)
    t = time.perf_counter()
    data = generate(work / "gen", start, days, seed, scenario, traces_per_minute)
    gt = json.loads(Path(data.ground_truth).read_text())
    lake = Lake(work / "lake")
    model_lake(lake, data)
    say(f"  pipeline: {days:g} days generated, ingested and modelled in {time.perf_counter() - t:.0f}s")
    t = time.perf_counter()
    cfg = load_forecast_config()
    if series:
        cfg = dataclasses.replace(cfg, series=tuple(cfg.get(s) for s in series))
    outcomes = train(lake, cfg, train_at, calendar(gt) if calendar else ())
    promoted = sum(o.status == "promoted" for o in outcomes)
    score(lake, cfg, train_at, data.end)
    say(f"  forecasts: {promoted}/{len(outcomes)} series promoted, {data.end - train_at} scored in "
        f"{time.perf_counter() - t:.0f}s")
    return PipelineRun(lake, gt, outcomes, data)
