"""The per-minute model of the system that every synthetic output format is rendered from.

The model is minute-level: traffic with daily and weekly seasonality, growth and noise; per-tier error rates and
log-normal latencies; capacity driven by an LSTM-style forecast; deploy blips; and the scenario's incidents.
``build_model`` turns a start, a length, a seed and a scenario into a :class:`MinuteModel`; the writers
(``emf_writer``, ``xray_writer``, ``prom_writer``) sample their records from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.scenario import Scenario

Progress = Callable[[str], None]  # the progress callback every writer (and generate) reports to


@dataclass
class MinuteModel:
    """Per-minute ground state of the system; every output format is rendered from it."""

    start: datetime
    minutes: int
    requests: np.ndarray                    # CloudFront requests per minute
    edge_requests: np.ndarray               # [edge, minute] requests that reach CloudFront at each edge location
    rest_error_rate: np.ndarray             # akidb-rest 5xx probability per minute
    rest_503_share: np.ndarray              # share of the 5xx that are 503 (load shedding)
    throttle_rate: np.ndarray
    rest_latency_mult: np.ndarray           # multiplies akidb-rest latency (deploys, spot cascade)
    edge_cold_share: np.ndarray             # [edge, minute] fraction of Lambda@Edge invocations that are cold
    edge_cold_median_ms: np.ndarray         # [edge, minute] cold-start median duration
    predicted_rpm: np.ndarray               # LSTM forecast of akidb-rest load
    instances_spot: np.ndarray
    instances_on_demand: np.ndarray
    deploy_minutes: list[tuple[int, int]] = field(default_factory=list)

    def minute_time(self, m: int) -> datetime:
        return self.start + timedelta(minutes=m)


def _cold_median(p95_ms: float, cold_share: float = 0.3, sigma: float = 0.25) -> float:
    """Median of the cold component so that the warm/cold mixture has the requested P95."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - 0.05 / cold_share)
    return p95_ms / math.exp(z * sigma)


COLD_SHARE_STORM = 0.3
COLD_SIGMA = 0.25
REST_SIGMA = 0.15  # akidb-rest end-to-end (own + subsegments): median ~19 ms, P95 ~24 ms


def build_model(start: datetime, days: float, seed: int, scenario: Scenario,
                origin: datetime | None = None) -> MinuteModel:
    """The minute-level model of ``days`` from ``start``. Traffic grows from ``origin`` (default ``start``): a
    window generated on its own with the ``origin`` of a longer history continues that history's level."""
    rng = np.random.default_rng(seed)
    n = int(round(days * 1440))
    t = np.arange(n)
    hour_of_day = ((start.hour * 60 + start.minute + t) % 1440) / 60.0
    weekday = (start.weekday() + (start.hour * 60 + start.minute + t) // 1440) % 7
    daily = 1.0 + 0.45 * np.sin(2 * np.pi * (hour_of_day - 9.0) / 24.0)
    weekly = np.where(weekday >= 5, 0.72, 1.0)
    since = 0 if origin is None else int((start - origin).total_seconds() // 60)
    growth = 1.0 + topo.WEEKLY_GROWTH * (since + t) / (7 * 1440)
    noise = np.exp(rng.normal(0.0, 0.04, n))
    requests = topo.BASE_REQUESTS_PER_MINUTE * daily * weekly * growth * noise
    for ev in scenario.events:  # surges and dips that are not incidents
        a = int((ev.start - start).total_seconds() // 60)
        b = int((ev.end - start).total_seconds() // 60)
        requests[max(a, 0):max(min(b, n), 0)] *= ev.factor
    w = np.asarray(topo.EDGE_WEIGHTS)
    edge_noise = np.exp(rng.normal(0.0, 0.05, (len(w), n)))
    edge_requests = np.rint(requests[None, :] * w[:, None] * edge_noise)
    requests = edge_requests.sum(axis=0)

    rest_error_rate = np.full(n, topo.BASE_ERROR_RATE)
    rest_503_share = np.full(n, 0.3)
    throttle = np.full(n, topo.BASE_THROTTLE_RATE)
    rest_mult = np.ones(n)
    cold_share = np.full((len(w), n), 0.002)
    cold_median = np.full((len(w), n), 900.0)

    rest_load = requests * (1 - topo.EDGE_PATH_SHARE * topo.EDGE_CACHE_HIT)
    predicted = rest_load * np.exp(rng.normal(0.0, 0.03, n))
    needed = np.ceil(predicted * 1.3 / topo.CAPACITY_PER_INSTANCE_RPM)
    spot = np.ceil(needed * 0.7)
    on_demand = np.maximum(needed - spot, 2)

    def window(t0: datetime, t1: datetime) -> slice:
        a = int((t0 - start).total_seconds() // 60)
        b = int((t1 - start).total_seconds() // 60)
        return slice(max(a, 0), max(min(b, n), 0))

    deploys: list[tuple[int, int]] = []
    dp = scenario.deploys
    if dp.weekdays_at:
        hh, mm = (int(x) for x in dp.weekdays_at.split(":"))
        day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
        for d in range(int(math.ceil(days)) + 1):
            at = day0 + timedelta(days=d, hours=hh, minutes=mm)
            if at.weekday() >= 5:
                continue
            s = window(at, at + timedelta(minutes=dp.duration_minutes))
            if s.stop > s.start:
                rest_mult[s] *= dp.latency_factor
                rest_error_rate[s] = np.maximum(rest_error_rate[s], dp.error_rate)
                deploys.append((s.start, s.stop))

    for inc in scenario.incidents:
        s = window(inc.start, inc.end)
        if s.stop <= s.start:
            continue
        if inc.type == "spot_interruption_cascade":
            rest_error_rate[s] = inc.magnitude["error_rate"]
            rest_503_share[s] = 0.9
            rest_mult[s] *= 1.5
            spot[s] = np.maximum(spot[s] - inc.magnitude["instances_lost"], 0)
        elif inc.type == "lambda_edge_cold_start_storm":
            med = _cold_median(inc.magnitude["p95_ms"], COLD_SHARE_STORM, COLD_SIGMA)
            for e in inc.edge_locations:
                i = topo.EDGE_LOCATIONS.index(e)
                cold_share[i, s] = COLD_SHARE_STORM
                cold_median[i, s] = med
        elif inc.type == "lstm_false_positive_cascade":
            factor = 1.0 + inc.magnitude["overprovision_pct"] / 100.0
            predicted[s] = rest_load[s] * factor
            over = np.ceil(predicted[s] * 1.3 / topo.CAPACITY_PER_INSTANCE_RPM)
            on_demand[s] = np.maximum(over - spot[s], 2)

    return MinuteModel(
        start=start, minutes=n, requests=requests, edge_requests=edge_requests,
        rest_error_rate=rest_error_rate, rest_503_share=rest_503_share, throttle_rate=throttle,
        rest_latency_mult=rest_mult, edge_cold_share=cold_share, edge_cold_median_ms=cold_median,
        predicted_rpm=predicted, instances_spot=spot, instances_on_demand=on_demand, deploy_minutes=deploys,
    )
