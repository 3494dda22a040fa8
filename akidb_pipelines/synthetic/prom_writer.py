"""Prometheus metrics as OpenMetrics text: the series rendered from the minute model, the hourly landing files
(``write_prometheus``) and the single-file export for ``promtool`` (``export_openmetrics``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np

from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.minute_model import COLD_SIGMA, REST_SIGMA, MinuteModel, Progress

_SQRT2 = math.sqrt(2.0)


def _ncdf(z: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * (1.0 + np.vectorize(erf)(z / _SQRT2))


def _lognorm_cdf(x: float, median: np.ndarray, sigma: float) -> np.ndarray:
    return _ncdf((math.log(x) - np.log(median)) / sigma)


@dataclass
class PromSeries:
    family: str
    mtype: str
    help: str
    name: str
    labels: dict[str, str]
    values: np.ndarray  # one per minute

    def label_text(self) -> str:
        if not self.labels:
            return ""
        return "{" + ",".join(f'{k}="{v}"' for k, v in self.labels.items()) + "}"


def prometheus_series(model: MinuteModel, rng: np.random.Generator) -> list[PromSeries]:
    n = model.minutes
    R = model.requests
    le_req = R * topo.EDGE_PATH_SHARE
    rest_req = R * (1 - topo.EDGE_PATH_SHARE * topo.EDGE_CACHE_HIT)
    tier_req = {"cloudfront": R, "lambda-edge": le_req, "alb": rest_req, "akidb-rest": rest_req}
    rest_5xx = rng.binomial(rest_req.astype(np.int64), model.rest_error_rate)
    rest_503 = rng.binomial(rest_5xx, model.rest_503_share)
    base_5xx = {t: rng.binomial(tier_req[t].astype(np.int64), topo.BASE_ERROR_RATE / 4) for t in topo.TIERS}
    series: list[PromSeries] = []
    fam_req = ("akidb_requests", "counter", "Requests served, by tier and HTTP status.")
    fam_dur = ("akidb_request_duration_seconds", "histogram", "Request duration at each tier.")
    for tier in topo.TIERS:
        total = tier_req[tier].astype(np.int64)
        if tier in ("alb", "akidb-rest", "cloudfront", "lambda-edge"):
            # every tier in front of akidb-rest sees its faults (the edge path only for cache misses)
            share = 1.0 if tier != "lambda-edge" else topo.EDGE_PATH_SHARE * (1 - topo.EDGE_CACHE_HIT) / (
                1 - topo.EDGE_PATH_SHARE * topo.EDGE_CACHE_HIT)
            s503 = np.rint(rest_503 * share).astype(np.int64)
            s500 = np.rint((rest_5xx - rest_503) * share).astype(np.int64) + base_5xx[tier]
        thr = rng.binomial(total, model.throttle_rate) if tier == "cloudfront" else np.zeros(n, dtype=np.int64)
        ok = np.maximum(total - s503 - s500 - thr, 0)
        for status, v in (("200", ok), ("429", thr), ("500", s500), ("503", s503)):
            series.append(PromSeries(*fam_req, "akidb_requests_total", {"service": tier, "status": status},
                                     np.cumsum(v).astype(float)))
        # Latency histogram of the tier's whole segment (log-normal, with cold-start mixture at the edge).
        if tier == "akidb-rest":
            comps = [(np.ones(n), 18.8 * model.rest_latency_mult, REST_SIGMA)]
        elif tier == "alb":
            comps = [(np.ones(n), 21.0 * model.rest_latency_mult, REST_SIGMA)]
        elif tier == "lambda-edge":
            w = model.edge_requests / model.edge_requests.sum(axis=0)
            cold = (w * model.edge_cold_share).sum(axis=0)
            cold_med = (w * model.edge_cold_share * model.edge_cold_median_ms).sum(axis=0) / np.maximum(cold, 1e-9)
            comps = [(1 - cold, np.full(n, topo.TIER_LATENCY["lambda-edge"].median_ms), topo.TIER_LATENCY["lambda-edge"].sigma),
                     (cold, cold_med, COLD_SIGMA)]
        else:
            w = model.edge_requests / model.edge_requests.sum(axis=0)
            cold = (w * model.edge_cold_share).sum(axis=0) * topo.EDGE_PATH_SHARE
            comps = [(1 - cold, np.full(n, 45.0), 0.35), (cold, np.full(n, 3600.0), COLD_SIGMA)]
        cdf_prev = np.zeros(n)
        remaining = total.copy()
        cum = np.zeros(n, dtype=np.int64)
        bucket_counts = []
        for b in topo.HISTOGRAM_BUCKETS:
            cdf = sum(wt * _lognorm_cdf(b * 1000.0, med, sg) for wt, med, sg in comps)
            p = np.clip((cdf - cdf_prev) / np.maximum(1 - cdf_prev, 1e-12), 0, 1)
            c = rng.binomial(remaining, p)
            remaining = remaining - c
            cum = cum + c
            bucket_counts.append(cum.copy())
            cdf_prev = cdf
        mean_s = sum(wt * med * math.exp(sg * sg / 2) for wt, med, sg in comps) / 1000.0
        for b, c in zip(topo.HISTOGRAM_BUCKETS, bucket_counts):
            series.append(PromSeries(*fam_dur, "akidb_request_duration_seconds_bucket",
                                     {"service": tier, "le": _fmt_le(b)}, np.cumsum(c).astype(float)))
        series.append(PromSeries(*fam_dur, "akidb_request_duration_seconds_bucket", {"service": tier, "le": "+Inf"},
                                 np.cumsum(total).astype(float)))
        series.append(PromSeries(*fam_dur, "akidb_request_duration_seconds_count", {"service": tier},
                                 np.cumsum(total).astype(float)))
        series.append(PromSeries(*fam_dur, "akidb_request_duration_seconds_sum", {"service": tier},
                                 np.round(np.cumsum(total * mean_s), 3)))
    inst = model.instances_spot + model.instances_on_demand
    cpu = np.clip(rest_req / (inst * topo.CAPACITY_PER_INSTANCE_RPM) * rng.normal(1, 0.03, n), 0.01, 1.0)
    gauges = [
        ("akidb_cpu_utilization_ratio", "CPU utilisation of akidb-rest instances (0-1).", {"service": "akidb-rest"}, cpu),
        ("akidb_instances", "Running akidb-rest instances.", {"service": "akidb-rest", "lifecycle": "spot"},
         model.instances_spot.astype(float)),
        ("akidb_instances", "Running akidb-rest instances.", {"service": "akidb-rest", "lifecycle": "on-demand"},
         model.instances_on_demand.astype(float)),
        ("akidb_provisioned_capacity_rps", "Capacity provisioned by the autoscaler.", {"service": "akidb-rest"},
         inst * topo.CAPACITY_PER_INSTANCE_RPM / 60.0),
        ("akidb_lstm_predicted_rps", "Load forecast by the LSTM autoscaling predictor.", {"service": "akidb-rest"},
         model.predicted_rpm / 60.0),
        ("akidb_inflight_requests", "Requests in flight (concurrency).", {"service": "akidb-rest"},
         np.rint(rest_req / 60.0 * 0.0188 * model.rest_latency_mult)),
    ]
    for name, hlp, labels, vals in gauges:
        series.append(PromSeries(name, "gauge", hlp, name, labels, np.round(vals, 6)))
    return series


def _fmt_le(b: float) -> str:
    return repr(float(b))


def write_openmetrics(series: list[PromSeries], start: datetime, lo: int, hi: int, fh: IO[str]) -> int:
    """Write minutes [lo, hi) of every series as one OpenMetrics document; returns the number of samples."""
    t0 = int(start.timestamp())
    ts = [str(t0 + 60 * m) for m in range(lo, hi)]
    written, seen = 0, set()
    for s in series:
        if s.family not in seen:
            seen.add(s.family)
            fh.write(f"# HELP {s.family} {s.help}\n# TYPE {s.family} {s.mtype}\n")
        prefix = s.name + s.label_text() + " "
        vals = s.values[lo:hi]
        fh.write("".join(f"{prefix}{_fmt_val(v)} {t}\n" for v, t in zip(vals.tolist(), ts)))
        written += hi - lo
    fh.write("# EOF\n")
    return written


def _fmt_val(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def write_prometheus(model: MinuteModel, root: Path, rng: np.random.Generator, progress: Progress | None) -> tuple[list[Path], int]:
    series = prometheus_series(model, rng)
    # Series of one family must be contiguous in OpenMetrics: order by family, keep their order within.
    order = {f: i for i, f in enumerate(dict.fromkeys(s.family for s in series))}
    series.sort(key=lambda s: order[s.family])
    files, samples = [], 0
    m = 0
    while m < model.minutes:
        t = model.minute_time(m)
        hour = t.replace(minute=0)
        hi = min(model.minutes, m + (60 - t.minute))
        d = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / "metrics.om"
        with open(p, "w", encoding="utf-8") as fh:
            samples += write_openmetrics(series, model.start, m, hi, fh)
        files.append(p)
        m = hi
    if progress:
        progress(f"prom: {len(series)} series, {samples} samples")
    return files, samples


def export_openmetrics(model: MinuteModel, seed: int, path: Path) -> int:
    """The whole range as one OpenMetrics file (the input ``promtool tsdb create-blocks-from openmetrics`` takes)."""
    rng = np.random.default_rng([seed, 3])
    series = prometheus_series(model, rng)
    order = {f: i for i, f in enumerate(dict.fromkeys(s.family for s in series))}
    series.sort(key=lambda s: order[s.family])
    with open(path, "w", encoding="utf-8") as fh:
        return write_openmetrics(series, model.start, 0, model.minutes, fh)
