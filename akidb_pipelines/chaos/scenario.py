"""The chaos scenario file: a generator scenario (incidents, non-incident events, deploys) plus how to replay it
(start, days, train_days, seed, traces_per_minute, series). See the package docstring for the format."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from akidb_pipelines.config.loader import ConfigError, expect_mapping, load_yaml
from akidb_pipelines.synthetic.scenario import ScenarioError, parse_scenario
from akidb_pipelines.synthetic.scenario import shown as _got

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "synthetic" / "scenarios" / "chaos"
CHAOS_KEYS = {"start", "days", "train_days", "seed", "traces_per_minute", "series"}
# a scenario's name is the folder of its lakes under the work folder (which the replay clears of its outboxes and
# audit logs): a strict pattern, refused at load (not slugified: two names must not silently become one folder)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_DAYS, MAX_SEED, MIN_YEAR, MAX_YEAR = 366, 2**32 - 1, 1970, 2200
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


def _safe_name(doc: dict, p: Path) -> str:
    """The scenario's folder name under the work folder: ``name`` (default the file stem), refused unless it
    matches :data:`NAME` (no path separator, no leading dot or dash, no wildcard, quote, space or ';')."""
    raw = doc["name"] if "name" in doc else p.stem
    if not isinstance(raw, str) or not NAME.fullmatch(raw):
        origin = "" if "name" in doc else f" (from the file name {p.name!r}; set name: to choose another)"
        raise ChaosError(f"{p}: name: {_got(raw)} is not a safe folder name{origin}: 1-64 characters of "
                         "letters, digits, '-' and '_', starting with a letter or digit")
    return raw


def _number(doc: dict, key: str, default: float, p: Path, lo: float, hi: float) -> float:
    v = doc.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo < v <= hi:
        raise ChaosError(f"{p}: {key}: expected a number in ({lo:g}, {hi:g}], got {_got(v)}")
    return float(v)


def _start(doc: dict, p: Path) -> datetime:
    start = doc.get("start")
    if start is None:
        return _friday()
    if isinstance(start, date) and not isinstance(start, datetime):  # YAML reads 2026-11-13 as a date
        start = datetime(start.year, start.month, start.day)
    elif isinstance(start, str):
        try:
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise ChaosError(f"{p}: start: not an ISO time: {_got(start)}") from None
    elif not isinstance(start, datetime):
        raise ChaosError(f"{p}: start: expected an ISO time such as 2026-11-13T00:00:00Z, got {_got(start)}")
    try:
        start = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except OverflowError:
        raise ChaosError(f"{p}: start: {_got(doc.get('start'))} is outside {MIN_YEAR} .. {MAX_YEAR}") from None
    if not MIN_YEAR <= start.year < MAX_YEAR:
        raise ChaosError(f"{p}: start: {start.isoformat()} is outside {MIN_YEAR} .. {MAX_YEAR}")
    return start


def load_chaos(path: str | os.PathLike[str]) -> ChaosScenario:
    """Read and check a scenario file; every error is one line naming the file and the field (``ChaosError``)."""
    p = Path(path)
    doc = expect_mapping(load_yaml(p, ChaosError) or {}, str(p), ChaosError)
    name = _safe_name(doc, p)
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ChaosError(f"{p}: description: expected text, got {_got(description)}")
    start = _start(doc, p)
    days = _number(doc, "days", 7, p, 0, MAX_DAYS)
    train = _number(doc, "train_days", 4, p, 0, MAX_DAYS)
    if train >= days:
        raise ChaosError(f"{p}: train_days ({train:g}) must be less than days ({days:g}): nothing would be replayed")
    seed = doc.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ChaosError(f"{p}: seed: expected an integer in 0 .. {MAX_SEED}, got {_got(seed)}")
    traces = _number(doc, "traces_per_minute", 2, p, 0, 1000)
    series = doc.get("series") or []
    if not isinstance(series, list) or not all(isinstance(s, str) for s in series):
        raise ChaosError(f"{p}: series: expected a list of forecast series ids, got {_got(series)}")
    gen = {k: v for k, v in doc.items() if k not in CHAOS_KEYS}
    try:  # validate now: errors name the file and the field; every time inside the scenario's days
        parse_scenario(gen, start, str(p), within=(start, start + timedelta(days=days)))
    except ScenarioError as exc:
        raise ChaosError(str(exc)) from None
    return ChaosScenario(name, description, start, days, train, seed, traces, gen, tuple(series), str(p))


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

