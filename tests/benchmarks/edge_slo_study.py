"""How the edge latency SLOs behave on the generator's edge telemetry, over many weeks nobody tuned on: the numbers
behind docs/sql-models-and-slos.md, "User-facing SLOs at the edge".

Per week: a random start (any week of the year, any weekday), its own generator seed, 3 days of warm-up (the slow
tier's window) then 7 days evaluated; every other week is noisy (a 1.5-3x surge for 30-120 min and a 0.4-0.7 dip
for 2-12 h, at any hour). Storm weeks carry one cold-start storm a day (P95 1-6 s, 1-4 of the 12 locations, 8-25
min, any hour). Lambda@Edge latency is sampled as ``synthetic/emf_writer.py`` samples it (10 values per model, edge
location and minute; P95 with quantile_cont), from ``build_model``'s cold-start share and medians; the burn rates
and tiers follow ``akidb_pipelines.slo.maths`` (vectorised, with the shipped window table).

    python -m tests.benchmarks.edge_slo_study [--weeks 60] [--storm-weeks 20] [--seed 100]

Prints, per candidate (P95 threshold, per-location target): false P0/P1/P2 episodes over all locations of the
noise weeks, the worst week's burn rate, and for storms the minute of the first P0 after the onset; then how often
the all-locations P95 (the edge-latency SLO) crosses the threshold in noise weeks and in storms.
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import datetime, timedelta, timezone

import numpy as np

from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.minute_model import COLD_SHARE_STORM, COLD_SIGMA, _cold_median, build_model
from akidb_pipelines.synthetic.scenario import parse_scenario

DAYS, WARM = 10, 3 * 1440
FIRST_MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)
CANDIDATES = [(t, target) for t in (300.0, 500.0) for target in (0.995, 0.996, 0.997, 0.998)]
_, TABLE = load_specs()
TIERS = [(int(t.long_window / timedelta(minutes=1)), int(t.short_window / timedelta(minutes=1)), t.factor)
         for t in TABLE.tiers]


def p95(samples: np.ndarray) -> np.ndarray:
    """quantile_cont(0.95) along the last axis, NaN marking absent samples."""
    s = np.sort(samples, axis=-1)
    n = (~np.isnan(s)).sum(axis=-1)
    pos = 0.95 * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    a = np.take_along_axis(s, lo[..., None], -1)[..., 0]
    b = np.take_along_axis(s, hi[..., None], -1)[..., 0]
    return np.where(n > 0, a + (pos - lo) * (b - a), np.nan)


def edge_minutes(model, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """Per (location, minute): Lambda@Edge requests and EMF P95; per minute: the P95 over all locations' samples."""
    le = topo.TIER_LATENCY["lambda-edge"]
    E, n = model.edge_requests.shape
    edge_req = (model.edge_requests * topo.EDGE_PATH_SHARE).astype(int)
    samples, reqs = np.full((E, n, 20), np.nan), np.zeros((E, n))
    for j, w in enumerate(topo.MODEL_WEIGHTS):
        r = rng.binomial(edge_req, w)
        reqs += r
        warm = rng.lognormal(math.log(le.median_ms), le.sigma, (E, n, 10))
        cold = rng.lognormal(np.log(model.edge_cold_median_ms)[..., None], COLD_SIGMA, (E, n, 10))
        v = np.where(rng.random((E, n, 10)) < model.edge_cold_share[..., None], cold, warm)
        v[np.arange(10)[None, None, :] >= np.minimum(10, r)[..., None]] = np.nan
        samples[..., j * 10:(j + 1) * 10] = v
    return reqs, p95(samples), p95(samples.transpose(1, 0, 2).reshape(n, E * 20))


def week(seed: int, i: int, noisy: bool, storms: list | None = None):  # noqa: ANN201
    r = random.Random(f"edge-slo-study:{seed}:{i}")
    start = FIRST_MONDAY + timedelta(weeks=r.randint(0, 40), days=r.randint(0, 6))
    events = []
    for et, lo, hi, dur in (("traffic_surge", 1.5, 3.0, (30, 120)), ("holiday_dip", 0.4, 0.7, (120, 720))):
        if noisy:
            m = r.randint(*dur)
            on = r.randint(WARM, DAYS * 1440 - m)
            events.append({"id": et.replace("_", "-"), "type": et, "start": f"{on // 1440}d {on % 1440 // 60:02d}:"
                           f"{on % 60:02d}", "duration_minutes": m, "factor": round(r.uniform(lo, hi), 2)})
    model = build_model(start, DAYS, r.randint(0, 2**31 - 1), parse_scenario({"incidents": [], "events": events}, start))
    for on, dur, p, edges in storms or ():
        for e in edges:
            model.edge_cold_share[e, on:on + dur] = COLD_SHARE_STORM
            model.edge_cold_median_ms[e, on:on + dur] = _cold_median(p, COLD_SHARE_STORM, COLD_SIGMA)
    return edge_minutes(model, np.random.default_rng([seed, i]))


def wsum(x: np.ndarray, w: int) -> np.ndarray:
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], -1), -1)
    return np.concatenate([c[..., 1:w], c[..., w:] - c[..., :-w]], -1)


def states(good: np.ndarray, total: np.ndarray, target: float) -> np.ndarray:
    """0 none, else 1 + the index of the fastest firing tier (maths.alert_state, guarded)."""
    bad, st = total - good, np.zeros(total.shape, int)
    for ti, (lw, sw, f) in reversed(list(enumerate(TIERS))):
        with np.errstate(invalid="ignore", divide="ignore"):
            fire = ((wsum(bad, lw) / wsum(total, lw) / (1 - target) > f)
                    & (wsum(bad, sw) / wsum(total, sw) / (1 - target) > f) & (wsum(total, lw) >= TABLE.min_events))
        st = np.where(fire, ti + 1, st)
    return st


def episodes(mask: np.ndarray, gap: int = 15) -> int:
    idx = np.flatnonzero(mask)
    return int(len(idx) > 0) + int((np.diff(idx) > gap).sum()) if len(idx) else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=60)
    ap.add_argument("--storm-weeks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args()
    fires = {c: [0, 0, 0] for c in CANDIDATES}
    worst = dict.fromkeys(CANDIDATES, 0.0)
    bad_minutes = dict.fromkeys((300.0, 500.0), 0)
    cells = pooled_bad = 0
    fewest = math.inf
    for i in range(a.weeks):
        reqs, loc, pooled = week(a.seed, i, noisy=bool(i % 2))
        cells += loc[:, WARM:].size
        fewest = min(fewest, float(reqs[:, WARM:].min()))
        pooled_bad += int((pooled[WARM:] >= 300.0).sum())
        for t in bad_minutes:
            bad_minutes[t] += int((loc[:, WARM:] >= t).sum())
        for c in CANDIDATES:
            good = np.where(loc < c[0], reqs, 0.0)
            st = states(good, reqs, c[1])[:, WARM:]
            for k in range(3):
                fires[c][k] += sum(episodes(st[e] == k + 1) for e in range(st.shape[0]))
            share = (reqs - good)[:, WARM:].sum(1) / reqs[:, WARM:].sum(1)
            worst[c] = max(worst[c], float((share / (1 - c[1])).max()))
    print(f"{a.weeks} noise weeks (half noisy), 12 locations: slow minutes {bad_minutes[300.0] / cells:.5f} (P95 >= 300 ms),"
          f" {bad_minutes[500.0] / cells:.5f} (>= 500 ms) of location-minutes; all-locations P95 >= 300 ms in "
          f"{pooled_bad} minutes; fewest Lambda@Edge requests of a location in a minute: {fewest:g}")
    delays = {c: [] for c in CANDIDATES}
    missed = dict.fromkeys(CANDIDATES, 0)
    pooled_hits: list[int] = []
    stormed: list[int] = []
    for i in range(a.storm_weeks):
        r = random.Random(f"edge-slo-study-storms:{a.seed}:{i}")
        storms = [(WARM + d * 1000 + r.randint(0, 900), r.randint(8, 25), r.uniform(1000, 6000),
                   sorted(r.sample(range(len(topo.EDGE_LOCATIONS)), r.randint(1, 4)))) for d in range(6)]
        reqs, loc, pooled = week(a.seed + 10_000, i, bool(i % 2), storms)
        for c in CANDIDATES:
            st = states(np.where(loc < c[0], reqs, 0.0), reqs, c[1])
            for on, dur, _, edges in storms:
                for e in edges:
                    hit = np.flatnonzero(st[e, on:on + dur + 5] == 1)
                    delays[c].append(int(hit[0])) if len(hit) else missed.__setitem__(c, missed[c] + 1)
        pooled_hits += [len(edges) for on, dur, _, edges in storms if (pooled[on:on + dur] >= 300.0).any()]
        stormed += [len(edges) for *_, edges in storms]
    for c in CANDIDATES:
        d = np.asarray(delays[c])
        print(f"P95 < {c[0]:g} ms, target {c[1]:.3%}: false P0/P1/P2 episodes {fires[c]}, worst week burn "
              f"{worst[c]:.2f}x; storms: {len(d) + missed[c]} stormed locations, {missed[c]} without a P0, first P0 "
              f"at onset + p50 {np.percentile(d, 50):g} / p90 {np.percentile(d, 90):g} / max {d.max()} min")
    print(f"all-locations P95 >= 300 ms during {len(pooled_hits)} of {len(stormed)} storms; by locations stormed "
          f"(1, 2, 3, 4): {np.bincount(pooled_hits, minlength=5)[1:].tolist()} of "
          f"{np.bincount(stormed, minlength=5)[1:].tolist()}")


if __name__ == "__main__":
    main()
