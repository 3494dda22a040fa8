"""The chaos scenario file: a generator scenario (incidents, non-incident events, deploys) plus how to replay it
(start, days, train_days, seed, traces_per_minute, series). See the package docstring for the format."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from akidb_pipelines.config.loader import ConfigError, expect_mapping, load_yaml
from akidb_pipelines.synthetic.scenario import ScenarioError, parse_scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "synthetic" / "scenarios" / "chaos"
CHAOS_KEYS = {"start", "days", "train_days", "seed", "traces_per_minute", "series"}
# the root-cause type a page must name for each injected incident type
EXPECTED_CAUSE = {"spot_interruption_cascade": "spot_interruption",
                  "lambda_edge_cold_start_storm": "edge_cold_start_storm",
                  "lstm_false_positive_cascade": "predictive_over_provisioning"}


class ChaosError(ConfigError):
    pass


@dataclass(frozen=True)
class ChaosScenario:
    name: str
    description: str
    start: datetime
    days: float
    train_days: float
    seed: int
    traces_per_minute: float
    generator_doc: dict[str, Any]       # what synthetic.scenario.parse_scenario reads
    series: tuple[str, ...] = ()         # forecast series to train and score (default: every configured one)
    path: str = "<memory>"

    @property
    def replay_start(self) -> datetime:
        return self.start + timedelta(days=self.train_days)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def _friday() -> datetime:
    """A Friday at least a week back: four training days from it include a weekend, so the replayed weekdays
    are not scored against a model that never saw the weekly shape (a Monday start paged on the weekend)."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=(today.weekday() - 4) % 7 + 7)


def load_chaos(path: str | os.PathLike[str]) -> ChaosScenario:
    p = Path(path)
    doc = expect_mapping(load_yaml(p, ChaosError) or {}, str(p), ChaosError)
    start = doc.get("start")
    if start is None:
        start = _friday()
    elif isinstance(start, str):
        try:
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise ChaosError(f"{p}: start: not an ISO time: {start!r}") from None
    start = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    days, train = doc.get("days", 7), doc.get("train_days", 4)
    for k, v in (("days", days), ("train_days", train)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ChaosError(f"{p}: {k}: expected a positive number of days")
    if train >= days:
        raise ChaosError(f"{p}: train_days ({train}) must be less than days ({days}): nothing would be replayed")
    gen = {k: v for k, v in doc.items() if k not in CHAOS_KEYS}
    try:
        parse_scenario(gen, start, str(p))  # validate now: errors name the file and the field
    except ScenarioError as exc:
        raise ChaosError(str(exc)) from None
    return ChaosScenario(str(doc.get("name") or p.stem), str(doc.get("description", "")), start, float(days),
                         float(train), int(doc.get("seed", 42)), float(doc.get("traces_per_minute", 2)), gen,
                         tuple(doc.get("series") or ()), str(p))


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def scenario_paths(names: list[str]) -> list[Path]:
    """Scenario files from shipped names (``spot-alone``) or YAML paths; none: every shipped scenario."""
    if not names:
        return shipped_scenarios()
    out = []
    for n in names:
        p = Path(n) if n.endswith((".yaml", ".yml")) else SCENARIO_DIR / f"{n}.yaml"
        if not p.is_file():
            known = ", ".join(s.stem for s in shipped_scenarios())
            raise ChaosError(f"chaos scenario {n!r}: no such file (shipped: {known})")
        out.append(p)
    return out

