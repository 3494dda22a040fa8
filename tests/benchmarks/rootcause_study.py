"""Issue 14, "causes that generalize": how often each root-cause type's evidence holds, on the generator's minute model
(``synthetic/minute_model.py``) with the game day's distributions, for injected incidents (typed right?) and for
surges, dips and quiet minutes (typed as anything?). No ingest, forecasting or alerting: the evidence alone, fast.

Each draw builds ``HISTORY`` days plus three replayed days from a random Monday-to-Sunday start with one incident or
one noise event in the replayed days (onset uniform over all hours). The golden signals are taken straight from the
model as the EMF writer would report them (capacity per instance 10 rps, the Lambda@Edge share of each edge
location's traffic, cold starts binomial). Incidents are evaluated with an alert 0, 1, 2 or 3 minutes after the onset
(over-provisioning: 0, 2, 10, 30); surges and dips 5 minutes before to 30 minutes after their start and at a random
minute inside; quiet minutes at random away from both.

    nice -n 10 python -m tests.benchmarks.rootcause_study --seed 101 --history 7 --draws 60 [--no-history] [--edge]

``--edge``: as a live tick sees each point, the minute after it (``until``: the point's minute has just closed):
the first type named the way ``rootcause.classify`` names it (three-minute evidence, else the open-edge evidence
of ``evidence.check_edge`` when no type before it is partly seen); components are ignored as above.

Tune on seeds below 1000 (chaos/gameday.py: HELD_OUT_FROM), report on seeds from it. Not part of the tests.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np

from akidb_pipelines.alerting import evidence
from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.tick_reads import _FrozenFrame
from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.minute_model import build_model
from akidb_pipelines.synthetic.scenario import parse_scenario

FIRST_MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)
TYPE_OF = {"spot_interruption_cascade": "spot_interruption", "lambda_edge_cold_start_storm": "edge_cold_start_storm",
           "lstm_false_positive_cascade": "predictive_over_provisioning"}


def columns(model, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:  # noqa: ANN001
    """The golden-signal columns the evidence reads, per tier (Lambda@Edge: per edge location)."""
    rest_rpm = model.requests * (1 - topo.EDGE_PATH_SHARE * topo.EDGE_CACHE_HIT)
    inst = model.instances_spot + model.instances_on_demand
    rest = {"instances_spot": model.instances_spot, "instances_on_demand": model.instances_on_demand,
            "used_capacity_rps": np.round(rest_rpm / 60, 2), "predicted_load_rps": np.round(model.predicted_rpm / 60, 2),
            "provisioned_capacity_rps": inst * topo.CAPACITY_PER_INSTANCE_RPM / 60}
    req = np.floor(model.edge_requests * topo.EDGE_PATH_SHARE)
    cold = rng.binomial(req.astype(int), model.edge_cold_share).astype(float)
    return {"akidb-rest": rest, "lambda-edge": {"requests": req, "cold_starts": cold}}


def series(cols: dict, cond: evidence.Condition, times: list[datetime]) -> dict[datetime, float]:
    parts = [p.strip() for p in cond.metric.split("/")]
    if len(parts) not in (1, 2):
        raise ValueError(f"the study evaluates 'a' or 'a / b' only, not {cond.metric!r}")
    c = cols[cond.tier]
    with np.errstate(all="ignore"):
        v = c[parts[0]] / c[parts[1]] if len(parts) == 2 else np.asarray(c[parts[0]], float)
        v = np.where(np.isfinite(v), v, np.nan)
        if v.ndim == 2:  # per edge location: the aggregate over the tier's rows of a minute
            v = np.nanmax(v, axis=0) if cond.aggregate == "max" else np.nansum(v, axis=0)
    return {t: float(x) for t, x in zip(times, v) if np.isfinite(x)}


def draw(rng: random.Random, kind: str, history: int) -> tuple[dict, int, str]:
    onset = rng.randint(history * 1440, (history + 3) * 1440 - 200)
    d, m = divmod(onset, 1440)
    at = f"{d}d {m // 60:02d}:{m % 60:02d}"
    if kind == "spot_interruption_cascade":
        inc = {"duration_minutes": rng.randint(5, 20), "magnitude": {"error_rate": round(rng.uniform(0.02, 0.1), 4),
                                                                     "instances_lost": rng.randint(2, 6)}}
    elif kind == "lambda_edge_cold_start_storm":
        inc = {"duration_minutes": rng.randint(8, 25), "magnitude": {"p95_ms": rng.randint(1000, 6000)},
               "edge_locations": sorted(rng.sample(topo.EDGE_LOCATIONS, rng.randint(1, 4)))}
    elif kind == "lstm_false_positive_cascade":
        inc = {"duration_minutes": rng.randint(45, 180), "magnitude": {"overprovision_pct": rng.randint(80, 300)}}
    else:
        lo, hi, dur = {"traffic_surge": (1.5, 3.0, (30, 120)), "holiday_dip": (0.4, 0.7, (120, 720))}[kind]
        minutes = rng.randint(*dur)
        ev = {"id": "e", "type": kind, "start": at, "duration_minutes": minutes, "factor": round(rng.uniform(lo, hi), 2)}
        return {"events": [ev]}, onset, f"{kind} x{ev['factor']} {minutes} min"
    return {"incidents": [{"id": "i", "type": kind, "start": at, **inc}]}, onset, f"{kind} {inc['magnitude']}"


def named_live(types: list, frame: dict, at: datetime) -> list[str]:
    """The type ``rootcause.classify`` names (as a one-item list, or none) at the tick right after ``at`` closed."""
    until = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    f = _FrozenFrame(frame, until, {})
    unseen = []
    for t in types:
        if evidence.check(list(t.evidence), f, at) is not None:
            return [t.type]
        if evidence.check_edge(list(t.evidence), f, at, until) is not None and not any(
                evidence.seen_in_part(list(u.evidence), f, at, until) for u in unseen):
            return [t.type]
        unseen.append(t)
    return []


def run(seed: int, history: int, draws: int, no_history: bool, edge: bool = False) -> dict:
    if no_history:
        evidence.DAYS = 0  # the hour before only
    types = [t for t in load_cause_types() if t.evidence]
    rng = random.Random(f"rootcause-study:{seed}")
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    kinds = (*TYPE_OF, "traffic_surge", "holiday_dip")
    for _ in range(draws):
        for kind in kinds:
            start = FIRST_MONDAY + timedelta(weeks=rng.randint(0, 40), days=rng.randint(0, 6))
            doc, onset, what = draw(rng, kind, history)
            model = build_model(start, history + 3, rng.randint(0, 2**31 - 1), parse_scenario(doc, start))
            cols = columns(model, np.random.default_rng(rng.randint(0, 2**31 - 1)))
            times = [start + timedelta(minutes=i) for i in range(model.minutes)]
            frame = {c.key: series(cols, c, times) for t in types for c in t.evidence}
            t0 = start + timedelta(minutes=onset)
            if kind in TYPE_OF:
                lags = (0, 2, 10, 30) if kind == "lstm_false_positive_cascade" else (0, 1, 2, 3)
                points = [("incident", t0 + timedelta(minutes=x)) for x in lags]
            else:
                dur = doc["events"][0]["duration_minutes"]
                points = [("noise", t0 + timedelta(minutes=x)) for x in (-5, 0, 2, 10, 30)]
                points.append(("noise", t0 + timedelta(minutes=rng.randint(0, dur))))
            quiet = start + timedelta(minutes=rng.randint(history * 1440, (history + 3) * 1440 - 30))
            if abs(quiet - t0) > timedelta(hours=16):
                points.append(("quiet", quiet))
            for role, at in points:
                named = (named_live(types, frame, at) if edge else
                         [t.type for t in types if evidence.check(list(t.evidence), frame, at) is not None])
                if role == "incident":
                    ok = named[:1] == [TYPE_OF[kind]]
                    tally[(kind, "typed right")][0] += ok
                    tally[(kind, "typed right")][1] += 1
                    if not ok:
                        misses.append(f"{kind} at {at:%a %H:%M} ({what}): {named or 'nothing'}")
                else:
                    key = (kind if role == "noise" else "quiet minute", "typed as anything")
                    tally[key][0] += bool(named)
                    tally[key][1] += 1
                    if named:
                        misses.append(f"{key[0]} at {at:%a %H:%M} ({what}): {named}")
    return {"tally": dict(tally), "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--history", type=int, default=7, help="days before the replayed days")
    ap.add_argument("--draws", type=int, default=60, help="draws of each kind")
    ap.add_argument("--no-history", action="store_true", help="baseline from the hour before only")
    ap.add_argument("--edge", action="store_true", help="as the tick right after each point sees it (open windows)")
    a = ap.parse_args()
    out = run(a.seed, a.history, a.draws, a.no_history, a.edge)
    for (kind, what), (k, n) in sorted(out["tally"].items()):
        print(f"{kind:32s} {what:18s} {k:4d} of {n:4d}")
    for m in out["misses"]:
        print("  ", m)


if __name__ == "__main__":
    main()
