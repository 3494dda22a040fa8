"""Game-day scenarios drawn from distributions, so detection is judged on weeks nobody tuned it on.

Each draw is a :class:`ChaosScenario` built in memory (no YAML): a random start weekday, 4 or 14 days of training
history, three replayed days, and one of four kinds in a fixed rotation (so every batch of eight has each share):

* ``incident`` (5 of 8): one incident of a random type, onset uniform over the replayed days and hours (nights and
  weekends included); a quarter of them start inside a weekday deploy blip;
* ``overlap`` (1 of 8): two incidents on different tiers (akidb-rest and lambda-edge) 0-10 minutes apart;
* ``clean`` (1 of 8): no incident, deploys only;
* ``noisy`` (1 of 8): no incident, a traffic surge (1.5-3x) and a dip (0.4-0.7) at any hour.

Magnitudes: spot cascade 2-10% errors, 2-6 instances lost, 5-20 min; cold-start storm P95 1-6 s at 1-4 of the 12
edge locations (any of them), 8-25 min; LSTM over-provisioning 80-300% for 45-180 min. A draw depends only on
``(seed, index)``: the same seed gives the same suite, and the suites of two seeds share nothing. Tune on seeds
below :data:`HELD_OUT_FROM`, report on seeds from it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from akidb_pipelines.chaos.scenario import ChaosScenario
from akidb_pipelines.synthetic.topology import EDGE_LOCATIONS

HELD_OUT_FROM = 1000          # seeds below: development (tuning); from here: held out (reporting)
REPLAY_DAYS = 3
TRAIN_DAYS = (4, 14)
KINDS = ("incident", "incident", "overlap", "incident", "clean", "incident", "noisy", "incident")
DEPLOY_AT = (14, 0)           # the generator's weekday deploy blip (synthetic/scenarios: deploys.weekdays_at)
DEPLOY_SHARE = 0.25           # of single incidents, the share that starts inside a deploy blip
FIRST_MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)
TYPES = ("spot_interruption_cascade", "lambda_edge_cold_start_storm", "lstm_false_positive_cascade")
TIER_OF = {"spot_interruption_cascade": "akidb-rest", "lambda_edge_cold_start_storm": "lambda-edge",
           "lstm_false_positive_cascade": "akidb-rest"}


def _incident(rng: random.Random, itype: str, ident: str, onset_min: int) -> dict[str, Any]:
    """One incident in the generator's scenario format, ``onset_min`` minutes after the generation start."""
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
    d, m = divmod(onset_min, 1440)
    return {"id": ident, "type": itype, "start": f"{d}d {m // 60:02d}:{m % 60:02d}", "duration_minutes": dur,
            "magnitude": mag, "components": [TIER_OF[itype]], **extra}


def _onset(rng: random.Random, train_days: int, start: datetime, in_deploy: bool, room: int) -> int:
    """Minutes from the start: uniform over the replayed days (leaving ``room`` minutes before the end), or inside a
    weekday deploy blip of the replayed days."""
    first, last = train_days * 1440, (train_days + REPLAY_DAYS) * 1440 - room
    if in_deploy:
        blips = [d * 1440 + DEPLOY_AT[0] * 60 + DEPLOY_AT[1] for d in range(train_days, train_days + REPLAY_DAYS)
                 if (start + timedelta(days=d)).weekday() < 5]
        if blips:
            return rng.choice(blips) + rng.randint(0, 1)
    return rng.randint(first, max(first, last))


def draw(seed: int, index: int) -> ChaosScenario:
    """The ``index``-th game-day scenario of the suite ``seed``."""
    rng = random.Random(f"akidb-gameday:{seed}:{index}")
    kind = KINDS[index % len(KINDS)]
    start = FIRST_MONDAY + timedelta(weeks=rng.randint(0, 40), days=rng.randint(0, 6))
    train = rng.choice(TRAIN_DAYS)
    incidents: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    if kind == "incident":
        itype = rng.choice(TYPES)
        incidents.append(_incident(rng, itype, "incident-1", _onset(rng, train, start, rng.random() < DEPLOY_SHARE,
                                                                     200)))
    elif kind == "overlap":
        rest = rng.choice(("spot_interruption_cascade", "lstm_false_positive_cascade"))
        first = _onset(rng, train, start, False, 200)
        a, b = ((rest, "lambda_edge_cold_start_storm") if rng.random() < 0.5
                else ("lambda_edge_cold_start_storm", rest))
        incidents += [_incident(rng, a, "incident-1", first), _incident(rng, b, "incident-2",
                                                                        first + rng.randint(0, 10))]
    elif kind == "noisy":
        for etype, lo, hi, dur in (("traffic_surge", 1.5, 3.0, (30, 120)), ("holiday_dip", 0.4, 0.7, (120, 720))):
            minutes = rng.randint(*dur)
            at = _onset(rng, train, start, False, minutes)
            d, m = divmod(at, 1440)
            events.append({"id": etype.replace("_", "-"), "type": etype, "start": f"{d}d {m // 60:02d}:{m % 60:02d}",
                           "duration_minutes": minutes, "factor": round(rng.uniform(lo, hi), 2)})
    doc = {"incidents": incidents, "events": events}
    days = train + REPLAY_DAYS
    name = f"gameday-{seed}-{index:03d}-{kind}"
    return ChaosScenario(name, f"game day {seed}/{index}: {kind}, {train} training days, starts {start:%a %Y-%m-%d}",
                         start, float(days), float(train), rng.randint(0, 2**31 - 1), 2.0, doc, path=f"<{name}>")


def draw_suite(n: int, seed: int) -> list[ChaosScenario]:
    """``n`` scenarios of the suite ``seed`` (the first ``n`` of an endless sequence: more scenarios extend it)."""
    if n < 1:
        raise ValueError(f"--scenarios must be at least 1, got {n}")
    return [draw(seed, i) for i in range(n)]


def kind_of(sc: ChaosScenario) -> str:
    return sc.name.rsplit("-", 1)[-1]
