"""Game-day scenarios drawn from distributions, so detection is judged on weeks nobody tuned it on.

A suite is built on **background weeks**: each has a random start (any week of the year, any weekday), its own
generator seed, :data:`HISTORY_MAX` days of history and :data:`REPLAY_DAYS` replayed days. A background is
generated, ingested, modelled, trained and scored once (``chaos.gameday_background``); its scenarios inject their
incidents or events into copies of it, regenerating only the hours they touch (``chaos.gameday_inject``). The
training history is drawn per scenario, 4 or 14 days (the forecast models of a background are trained on its last 4
and on its last 14 days of history: two "arms" of one background).

Each background carries :data:`PER_BACKGROUND` scenarios of four kinds in a fixed rotation (so every batch of eight
has each share):

* ``incident`` (5 of 8): one incident of a random type, onset uniform over the replayed days and hours (nights and
  weekends included); a quarter of them start inside a weekday deploy blip;
* ``overlap`` (1 of 8): two incidents on different tiers (akidb-rest and lambda-edge) 0-10 minutes apart;
* ``clean`` (1 of 8): no incident, deploys only (the background week itself);
* ``noisy`` (1 of 8): no incident, a traffic surge (1.5-3x) and a dip (0.4-0.7) at any hour.

Magnitudes: spot cascade 2-10% errors, 2-6 instances lost, 5-20 min; cold-start storm P95 1-6 s at 1-4 of the 12
edge locations (any of them), 8-25 min; LSTM over-provisioning 80-300% for 45-180 min. A draw depends only on
``(seed, index)``: the same seed gives the same suite, and the suites of two seeds share nothing. Tune on seeds
below :data:`HELD_OUT_FROM`, report on seeds from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from akidb_pipelines.chaos.matching import Injected
from akidb_pipelines.synthetic.scenario import Scenario, parse_scenario
from akidb_pipelines.synthetic.topology import EDGE_LOCATIONS

HELD_OUT_FROM = 1000          # seeds below: development (tuning); from here: held out (reporting)
REPLAY_DAYS = 3
HISTORY_DAYS = (4, 14)        # training history drawn per scenario
HISTORY_MAX = max(HISTORY_DAYS)
PER_BACKGROUND = 8            # scenarios per background week: one rotation of KINDS
KINDS = ("incident", "incident", "overlap", "incident", "clean", "incident", "noisy", "incident")
DEPLOY_AT = (14, 0)           # the generator's weekday deploy blip (synthetic/scenarios: deploys.weekdays_at)
DEPLOY_SHARE = 0.25           # of single incidents, the share that starts inside a deploy blip
FIRST_MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)
TRACES_PER_MINUTE = 2.0
TYPES = ("spot_interruption_cascade", "lambda_edge_cold_start_storm", "lstm_false_positive_cascade")
TIER_OF = {"spot_interruption_cascade": "akidb-rest", "lambda_edge_cold_start_storm": "lambda-edge",
           "lstm_false_positive_cascade": "akidb-rest"}


@dataclass(frozen=True)
class Background:
    """One background week of a suite: generated, modelled, trained and scored once for all its scenarios."""
    suite_seed: int
    index: int
    start: datetime
    seed: int                 # the generator's seed

    @property
    def name(self) -> str:
        return f"bg-{self.suite_seed}-{self.index:02d}"

    @property
    def days(self) -> int:
        return HISTORY_MAX + REPLAY_DAYS

    @property
    def replay_start(self) -> datetime:
        return self.start + timedelta(days=HISTORY_MAX)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class GameDayScenario:
    """One drawn scenario: what it injects (in the generator's scenario format, times relative to the background's
    start) into which background, and which training history (``history_days``) its models saw."""
    name: str
    kind: str
    background: Background
    history_days: int
    doc: dict[str, Any]
    seed: int                 # the generator's seed for the hours this scenario regenerates

    @property
    def description(self) -> str:
        bg = self.background
        return (f"{self.kind}, {self.history_days} training days, replay from {bg.replay_start:%a %Y-%m-%d} "
                f"({bg.name})")

    def parsed(self) -> Scenario:
        return parse_scenario(self.doc, self.background.start, f"<{self.name}>")

    def injected(self) -> list[Injected]:
        """The incidents it injects, with their absolute times."""
        return [Injected(i.id, i.type, i.start, i.end, tuple(i.components)) for i in self.parsed().incidents]


def background(seed: int, index: int) -> Background:
    rng = random.Random(f"akidb-gameday-background:{seed}:{index}")
    start = FIRST_MONDAY + timedelta(weeks=rng.randint(0, 40), days=rng.randint(0, 6))
    return Background(seed, index, start, rng.randint(0, 2**31 - 1))


def _incident(rng: random.Random, itype: str, ident: str, onset_min: int) -> dict[str, Any]:
    """One incident in the generator's scenario format, ``onset_min`` minutes after the background's start."""
    if itype == "spot_interruption_cascade":
        dur = rng.randint(5, 20)
        mag = {"error_rate": round(rng.uniform(0.02, 0.10), 4), "instances_lost": rng.randint(2, 6)}
        extra: dict[str, Any] = {}
    elif itype == "lambda_edge_cold_start_storm":
        dur = rng.randint(8, 25)
        mag = {"p95_ms": round(rng.uniform(1000, 6000))}
        extra = {"edge_locations": sorted(rng.sample(EDGE_LOCATIONS, rng.randint(1, 4)))}
    else:
        dur = rng.randint(45, 180)
        mag = {"overprovision_pct": round(rng.uniform(80, 300))}
        extra = {}
    return {"id": ident, "type": itype, "start": _at(onset_min), "duration_minutes": dur, "magnitude": mag,
            "components": [TIER_OF[itype]], **extra}


def _at(minutes: int) -> str:
    d, m = divmod(minutes, 1440)
    return f"{d}d {m // 60:02d}:{m % 60:02d}"


def _onset(rng: random.Random, bg: Background, in_deploy: bool, room: int) -> int:
    """Minutes from the background's start: uniform over the replayed days (leaving ``room`` minutes before the
    end), or inside a weekday deploy blip of the replayed days."""
    first, last = HISTORY_MAX * 1440, bg.days * 1440 - room
    if in_deploy:
        blips = [d * 1440 + DEPLOY_AT[0] * 60 + DEPLOY_AT[1] for d in range(HISTORY_MAX, bg.days)
                 if (bg.start + timedelta(days=d)).weekday() < 5]
        if blips:
            return rng.choice(blips) + rng.randint(0, 1)
    return rng.randint(first, max(first, last))


def draw(seed: int, index: int) -> GameDayScenario:
    """The ``index``-th game-day scenario of the suite ``seed``."""
    rng = random.Random(f"akidb-gameday:{seed}:{index}")
    kind = KINDS[index % len(KINDS)]
    bg = background(seed, index // PER_BACKGROUND)
    history = rng.choice(HISTORY_DAYS)
    incidents: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    if kind == "incident":
        itype = rng.choice(TYPES)
        incidents.append(_incident(rng, itype, "incident-1", _onset(rng, bg, rng.random() < DEPLOY_SHARE, 200)))
    elif kind == "overlap":
        rest = rng.choice(("spot_interruption_cascade", "lstm_false_positive_cascade"))
        first = _onset(rng, bg, False, 200)
        a, b = ((rest, "lambda_edge_cold_start_storm") if rng.random() < 0.5
                else ("lambda_edge_cold_start_storm", rest))
        incidents += [_incident(rng, a, "incident-1", first),
                      _incident(rng, b, "incident-2", first + rng.randint(0, 10))]
    elif kind == "noisy":
        for etype, lo, hi, dur in (("traffic_surge", 1.5, 3.0, (30, 120)), ("holiday_dip", 0.4, 0.7, (120, 720))):
            minutes = rng.randint(*dur)
            events.append({"id": etype.replace("_", "-"), "type": etype, "start": _at(_onset(rng, bg, False, minutes)),
                           "duration_minutes": minutes, "factor": round(rng.uniform(lo, hi), 2)})
    return GameDayScenario(f"gameday-{seed}-{index:03d}-{kind}", kind, bg, history,
                           {"incidents": incidents, "events": events}, rng.randint(0, 2**31 - 1))


def draw_suite(n: int, seed: int) -> list[GameDayScenario]:
    """``n`` scenarios of the suite ``seed`` (the first ``n`` of an endless sequence: more scenarios extend it)."""
    if n < 1:
        raise ValueError(f"--scenarios must be at least 1, got {n}")
    return [draw(seed, i) for i in range(n)]
