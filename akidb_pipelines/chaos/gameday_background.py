"""A game-day background week, built once for all its scenarios.

``base``: the week's telemetry (no incident, the weekday deploys) generated, ingested and modelled into a lake; kept
under ``<root>/<background>/`` with a marker, so a later suite of the same seed reuses it (delete the folder after
changing the generator, the ingest or the SQL models). The generated X-Ray and EMF files are removed once ingested;
the Prometheus files stay (a scenario continues their counters after the hours it regenerates).

``arm(history_days)``: a copy of the base lake (hard links: nothing in a lake is modified in place) whose forecast
models are trained on the last ``history_days`` of history before the replayed days, and which is scored over them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from akidb_pipelines import pipeline
from akidb_pipelines.change_calendar import from_ground_truth
from akidb_pipelines.chaos.gameday import TRACES_PER_MINUTE, Background
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic import generate
from akidb_pipelines.synthetic.scenario import parse_scenario

MARKER = "base.json"


def link_copy(src: Path, dst: Path) -> None:
    """``dst`` as a copy of the folder ``src`` made of hard links (``cp -al``)."""
    shutil.rmtree(dst, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)


@dataclasses.dataclass
class BuiltBackground:
    background: Background
    folder: Path
    ground_truth: dict[str, Any]

    @property
    def base(self) -> Path:
        return self.folder / "base"

    @property
    def prometheus(self) -> Path:
        """The background's generated Prometheus landing files (``date=/hour=`` folders)."""
        return self.folder / "gen" / "landing" / "prom"

    def arm(self, history_days: int) -> Path:
        return self.folder / f"history-{history_days}" / "lake"


def build_base(bg: Background, root: Path, say: Callable[[str], None] = print) -> BuiltBackground:
    folder = root / bg.name
    marker = folder / MARKER
    if marker.exists():
        doc = json.loads(marker.read_text())
        if doc.get("background") == dataclasses.asdict(bg) | {"start": bg.start.isoformat()}:
            say(f"  {bg.name}: reusing the modelled background in {folder}")
            return BuiltBackground(bg, folder, doc["ground_truth"])
    shutil.rmtree(folder, ignore_errors=True)
    data = generate(folder / "gen", bg.start, bg.days, bg.seed,
                    parse_scenario({"incidents": [], "events": []}, bg.start, f"<{bg.name}>"), TRACES_PER_MINUTE)
    pipeline.model_lake(Lake(folder / "base"), data)
    for kind in ("xray", "emf", "otlp"):
        shutil.rmtree(folder / "gen" / "landing" / kind, ignore_errors=True)
    gt = json.loads(Path(data.ground_truth).read_text())
    marker.write_text(json.dumps({"background": dataclasses.asdict(bg) | {"start": bg.start.isoformat()},
                                  "ground_truth": gt}, default=str))
    return BuiltBackground(bg, folder, gt)


def build_arm(built: BuiltBackground, history_days: int) -> Lake:
    """The background's lake with models trained on ``history_days`` days before the replay, scored over it."""
    bg = built.background
    dst = built.arm(history_days)
    link_copy(built.base, dst)
    lake = Lake(dst)
    cfg = load_forecast_config()
    cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, window_days=float(history_days)))
    calendar = [e for e in from_ground_truth(built.ground_truth) if e.end <= bg.replay_start]
    pipeline.train(lake, cfg, bg.replay_start, calendar)
    pipeline.score(lake, cfg, bg.replay_start, bg.end)
    return lake
