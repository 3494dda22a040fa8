"""The AkiDB request path and its baseline behaviour, as the generator models it.

CloudFront -> (Lambda@Edge | ALB) -> akidb-rest, with akidb-rest calling its LSTM predictor, HNSW index and SQLite.
Latencies are log-normal (long right tail): ``median`` and ``sigma`` of the tier's own time, children excluded.
"""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("cloudfront", "lambda-edge", "alb", "akidb-rest")
SUBSEGMENTS = ("lstm_predictor", "hnsw_index", "sqlite")

EDGE_LOCATIONS = (
    "IAD89", "SFO5", "FRA56", "LHR62", "NRT57", "SIN52",
    "SYD62", "GRU3", "BOM78", "CDG50", "ICN54", "DUB56",
)
# Share of traffic per edge location (sums to 1).
EDGE_WEIGHTS = (0.16, 0.12, 0.10, 0.10, 0.09, 0.08, 0.06, 0.05, 0.07, 0.07, 0.05, 0.05)
MODELS = ("minilm-l6", "bge-small")
MODEL_WEIGHTS = (0.7, 0.3)

# Fraction of CloudFront requests routed through Lambda@Edge (the rest go to the ALB origin directly),
# and the Lambda@Edge cache-hit ratio (a hit is answered at the edge, a miss continues to ALB -> akidb-rest).
EDGE_PATH_SHARE = 0.6
EDGE_CACHE_HIT = 0.35


@dataclass(frozen=True)
class Latency:
    median_ms: float
    sigma: float


# Own time per tier. Lambda@Edge: median 28 ms, sigma 0.29 -> P95 about 45 ms.
# akidb-rest own time is small; its subsegments carry the work (3 + 12 + 3 ms medians, about 18 ms in all).
TIER_LATENCY = {
    "cloudfront": Latency(22.0, 0.30),
    "lambda-edge": Latency(28.0, 0.29),
    "alb": Latency(2.0, 0.25),
    "akidb-rest": Latency(0.8, 0.20),
}
SUBSEGMENT_LATENCY = {
    "lstm_predictor": Latency(3.0, 0.20),
    "hnsw_index": Latency(12.0, 0.18),
    "sqlite": Latency(3.0, 0.25),
}

ORIGINS = {
    "cloudfront": "AWS::CloudFront::Distribution",
    "lambda-edge": "AWS::Lambda::Function",
    "alb": "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "akidb-rest": "AWS::EC2::Instance",
}

BASE_ERROR_RATE = 0.0002        # 5xx share of requests in steady state
BASE_THROTTLE_RATE = 0.0001     # 429 share
BASE_REQUESTS_PER_MINUTE = 3000.0
WEEKLY_GROWTH = 0.02            # +2% traffic per week
CAPACITY_PER_INSTANCE_RPM = 600.0
COST_PER_INSTANCE_HOUR = {"spot": 0.12, "on-demand": 0.38}

HISTOGRAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
