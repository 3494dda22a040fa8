"""Generate seeded AkiDB telemetry in the raw formats the real sources produce.

Writes a landing zone laid out like the production one (one folder per source and hour), which the ingest
stage reads exactly as it reads real data:

    <out>/landing/xray/date=YYYY-MM-DD/hour=HH/segments.ndjson[.gz]   X-Ray segment documents, one per line
    <out>/landing/otlp/date=YYYY-MM-DD/hour=HH/traces.ndjson[.gz]     the same traces as OTLP/JSON (optional)
    <out>/landing/emf/date=YYYY-MM-DD/hour=HH/events.ndjson[.gz]      CloudWatch EMF log events, one per line
    <out>/landing/prom/date=YYYY-MM-DD/hour=HH/metrics.om             OpenMetrics text with timestamps (seconds)
    <out>/ground_truth.json                                           incidents and deploys, exact to the minute

The model is minute-level: traffic with daily and weekly seasonality, growth and noise; per-tier error rates and
log-normal latencies; capacity driven by an LSTM-style forecast; deploy blips; and the scenario's incidents.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.otlp import xray_to_otlp
from akidb_pipelines.synthetic.scenario import Scenario, load_scenario

Progress = Callable[[str], None]
_SQRT2 = math.sqrt(2.0)


def _ncdf(z: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * (1.0 + np.vectorize(erf)(z / _SQRT2))


def _lognorm_cdf(x: float, median: np.ndarray, sigma: float) -> np.ndarray:
    return _ncdf((math.log(x) - np.log(median)) / sigma)


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


@dataclass
class GenerationResult:
    out_dir: Path
    start: datetime
    end: datetime
    files: dict[str, list[Path]]
    records: dict[str, int]
    ground_truth: Path
    corrupted: dict[str, int] = field(default_factory=dict)


def _cold_median(p95_ms: float, cold_share: float = 0.3, sigma: float = 0.25) -> float:
    """Median of the cold component so that the warm/cold mixture has the requested P95."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - 0.05 / cold_share)
    return p95_ms / math.exp(z * sigma)


COLD_SHARE_STORM = 0.3
# Latency samples an EMF event carries per minute (the logger flushes an array of the values it was given)
EMF_SAMPLES = 10
# akidb-rest flushes more samples per minute: its P95 feeds the latency SLO, which a 10-sample estimate makes noisy
REST_EMF_SAMPLES = 50
COLD_SIGMA = 0.25
REST_SIGMA = 0.15  # akidb-rest end-to-end (own + subsegments): median ~19 ms, P95 ~24 ms


def build_model(start: datetime, days: float, seed: int, scenario: Scenario) -> MinuteModel:
    rng = np.random.default_rng(seed)
    n = int(round(days * 1440))
    t = np.arange(n)
    hour_of_day = ((start.hour * 60 + start.minute + t) % 1440) / 60.0
    weekday = (start.weekday() + (start.hour * 60 + start.minute + t) // 1440) % 7
    daily = 1.0 + 0.45 * np.sin(2 * np.pi * (hour_of_day - 9.0) / 24.0)
    weekly = np.where(weekday >= 5, 0.72, 1.0)
    growth = 1.0 + topo.WEEKLY_GROWTH * t / (7 * 1440)
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


# ---------------------------------------------------------------------------------------------------------------
# Hourly file sink
# ---------------------------------------------------------------------------------------------------------------


class HourlySink:
    """Writes lines into ``<root>/date=YYYY-MM-DD/hour=HH/<name>``, one file per hour, opened lazily."""

    def __init__(self, root: Path, name: str, compress: bool, header: str = "", footer: str = "",
                 corrupt_fraction: float = 0.0, rng: np.random.Generator | None = None):
        self.root, self.name, self.compress = root, name + (".gz" if compress else ""), compress
        self.header, self.footer = header, footer
        self.corrupt_fraction, self.rng = corrupt_fraction, rng or np.random.default_rng(0)
        self.corrupted = 0
        self.current: tuple[str, IO[str]] | None = None
        self.files: list[Path] = []
        self.records = 0

    def _open(self, hour: datetime) -> IO[str]:
        key = hour.strftime("%Y-%m-%d/%H")
        if self.current and self.current[0] == key:
            return self.current[1]
        self.close()
        d = self.root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / self.name
        fh: IO[str] = (
            gzip.open(p, "wt", encoding="utf-8", compresslevel=1) if self.compress else open(p, "w", encoding="utf-8")
        )
        if self.header:
            fh.write(self.header)
        self.files.append(p)
        self.current = (key, fh)
        return fh

    def write(self, hour: datetime, lines: Iterable[str]) -> None:
        fh = self._open(hour)
        for line in lines:
            if self.corrupt_fraction and self.rng.random() < self.corrupt_fraction:
                line = corrupt_line(line, int(self.rng.integers(0, 3)))
                self.corrupted += 1
            fh.write(line)
            fh.write("\n")
            self.records += 1

    def close(self) -> None:
        if self.current:
            if self.footer:
                self.current[1].write(self.footer)
            self.current[1].close()
            self.current = None


def corrupt_line(line: str, variant: int) -> str:
    """What real pipelines see now and then: a truncated write, a renamed member, a non-finite number."""
    if variant == 0:
        return line[: max(1, len(line) // 2)]
    if variant == 1 and '"_aws"' in line:
        return line.replace('"_aws"', '"_aws_"', 1)
    if variant == 1:
        return line.replace('"start_time":', '"start_time_":', 1) if '"start_time":' in line else line[:-1]
    if '"RequestCount":' in line:
        head, tail = line.split('"RequestCount":', 1)
        return head + '"RequestCount":NaN' + tail[tail.index(","):]
    return line.replace('"end_time":', '"end_time":-', 1) if '"end_time":' in line else line[:-1]


# ---------------------------------------------------------------------------------------------------------------
# EMF
# ---------------------------------------------------------------------------------------------------------------


def _emf_event(ts_ms: int, namespace: str, dims: list[list[str]], metrics: list[tuple[str, str]], body: dict) -> str:
    doc = {
        "_aws": {
            "Timestamp": ts_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": dims,
                    "Metrics": [{"Name": n, "Unit": u} for n, u in metrics],
                }
            ],
        },
        **body,
    }
    return json.dumps(doc, separators=(",", ":"))


def write_emf(model: MinuteModel, sink: HourlySink, rng: np.random.Generator, progress: Progress | None) -> None:
    edges, n = topo.EDGE_LOCATIONS, model.minutes
    mw = np.asarray(topo.MODEL_WEIGHTS)
    le = topo.TIER_LATENCY["lambda-edge"]
    rest_median = 18.8
    for m in range(n):
        t = model.minute_time(m)
        ts_ms = int(t.timestamp() * 1000) + 59_000  # loggers flush at the end of the minute
        hour = t.replace(minute=0)
        lines = []
        for i, edge in enumerate(edges):
            edge_req = model.edge_requests[i, m] * topo.EDGE_PATH_SHARE
            cold = model.edge_cold_share[i, m]
            for j, mdl in enumerate(topo.MODELS):
                req = int(rng.binomial(int(edge_req), mw[j])) if edge_req > 0 else 0
                k = min(EMF_SAMPLES, req)
                warm = rng.lognormal(math.log(le.median_ms), le.sigma, k)
                is_cold = rng.random(k) < cold
                cold_v = rng.lognormal(math.log(model.edge_cold_median_ms[i, m]), COLD_SIGMA, k)
                lat = np.round(np.where(is_cold, cold_v, warm), 2).tolist()
                hits = int(rng.binomial(req, topo.EDGE_CACHE_HIT)) if req else 0
                cold_starts = int(rng.binomial(req, cold)) if req else 0
                conc = max(1, int(round(req / 60.0 * (le.median_ms + cold * model.edge_cold_median_ms[i, m]) / 1000.0 * 10)))
                body = {
                    "EdgeLocation": edge, "Model": mdl, "Service": "lambda-edge",
                    "InferenceLatency": lat[0] if k == 1 else lat,
                    "RequestCount": req, "CacheHit": hits, "ColdStart": cold_starts,
                    "ConcurrentExecutions": conc, "ProvisionedConcurrency": 10,
                    "functionVersion": "42",
                }
                lines.append(
                    _emf_event(
                        ts_ms, "AkiDB/Edge", [["EdgeLocation", "Model"], ["EdgeLocation"]],
                        [("InferenceLatency", "Milliseconds"), ("RequestCount", "Count"), ("CacheHit", "Count"),
                         ("ColdStart", "Count"), ("ConcurrentExecutions", "Count"), ("ProvisionedConcurrency", "Count")],
                        body,
                    )
                )
        rest_req = model.requests[m] * (1 - topo.EDGE_PATH_SHARE * topo.EDGE_CACHE_HIT)
        spot, od = int(model.instances_spot[m]), int(model.instances_on_demand[m])
        inst = max(spot + od, 1)
        cpu = float(np.clip(rest_req / (inst * topo.CAPACITY_PER_INSTANCE_RPM) * 100 * rng.normal(1, 0.03), 1, 100))
        for j, mdl in enumerate(topo.MODELS):
            req = int(rng.binomial(int(rest_req), mw[j]))
            errs = int(rng.binomial(req, model.rest_error_rate[m]))
            k = min(REST_EMF_SAMPLES, req)
            lat = np.round(rng.lognormal(math.log(rest_median * model.rest_latency_mult[m]), REST_SIGMA, k), 2).tolist()
            body = {"Service": "akidb-rest", "Model": mdl, "InferenceLatency": lat, "RequestCount": req, "Errors": errs}
            lines.append(
                _emf_event(
                    ts_ms, "AkiDB/Rest", [["Service", "Model"], ["Service"]],
                    [("InferenceLatency", "Milliseconds"), ("RequestCount", "Count"), ("Errors", "Count")], body,
                )
            )
        cost_hour = spot * topo.COST_PER_INSTANCE_HOUR["spot"] + od * topo.COST_PER_INSTANCE_HOUR["on-demand"]
        cap_doc = {
            "_aws": {
                "Timestamp": ts_ms,
                "CloudWatchMetrics": [
                    {"Namespace": "AkiDB/Capacity", "Dimensions": [["Service"]],
                     "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent"},
                                 {"Name": "ProvisionedCapacity", "Unit": "Count/Second"},
                                 {"Name": "UsedCapacity", "Unit": "Count/Second"},
                                 {"Name": "PredictedLoad", "Unit": "Count/Second"},
                                 {"Name": "CostPerRequest", "Unit": "None"}]},
                    {"Namespace": "AkiDB/Capacity", "Dimensions": [["Service", "Lifecycle"]],
                     "Metrics": [{"Name": "InstanceCount", "Unit": "Count", "StorageResolution": 60}]},
                ],
            },
            "Service": "akidb-rest",
            "Lifecycle": "spot",
            "CPUUtilization": round(cpu, 2),
            "ProvisionedCapacity": round(inst * topo.CAPACITY_PER_INSTANCE_RPM / 60.0, 2),
            "UsedCapacity": round(rest_req / 60.0, 2),
            "PredictedLoad": round(float(model.predicted_rpm[m]) / 60.0, 2),
            "CostPerRequest": round(cost_hour / 60.0 / max(rest_req, 1.0), 8),
            "InstanceCount": spot,
        }
        lines.append(json.dumps(cap_doc, separators=(",", ":")))
        od_doc = {
            "_aws": {"Timestamp": ts_ms, "CloudWatchMetrics": [
                {"Namespace": "AkiDB/Capacity", "Dimensions": [["Service", "Lifecycle"]],
                 "Metrics": [{"Name": "InstanceCount", "Unit": "Count"}]}]},
            "Service": "akidb-rest", "Lifecycle": "on-demand", "InstanceCount": od,
        }
        lines.append(json.dumps(od_doc, separators=(",", ":")))
        sink.write(hour, lines)
        if progress and m and m % 1440 == 0:
            progress(f"emf: day {m // 1440} of {n / 1440:.0f}")
    sink.close()


# ---------------------------------------------------------------------------------------------------------------
# X-Ray
# ---------------------------------------------------------------------------------------------------------------


def _hex(rng: np.random.Generator, nbytes: int) -> str:
    return rng.bytes(nbytes).hex()


def _nodes(doc: dict[str, Any]) -> int:
    return 1 + sum(_nodes(s) for s in doc.get("subsegments") or [])


def write_xray(model: MinuteModel, sink: HourlySink | None, rng: np.random.Generator, traces_per_minute: float,
               progress: Progress | None, otlp_sink: HourlySink | None = None) -> int:
    """X-Ray documents into ``sink`` and/or the same traces as OTLP/JSON into ``otlp_sink`` (one export request per
    minute); returns the number of spans."""
    n_spans = 0
    mean_req = float(model.requests.mean())
    lam = traces_per_minute * model.requests / mean_req
    counts = rng.poisson(lam)
    ew = np.asarray(topo.EDGE_WEIGHTS) / sum(topo.EDGE_WEIGHTS)
    L = topo.TIER_LATENCY
    S = topo.SUBSEGMENT_LATENCY
    for m in range(model.minutes):
        t = model.minute_time(m)
        base = t.timestamp()
        hour = t.replace(minute=0)
        docs: list[dict[str, Any]] = []
        for _ in range(int(counts[m])):
            t0 = base + float(rng.uniform(0, 59.5))
            ei = int(rng.choice(len(ew), p=ew))
            edge = topo.EDGE_LOCATIONS[ei]
            mdl = topo.MODELS[int(rng.random() < topo.MODEL_WEIGHTS[1])]
            via_edge = rng.random() < topo.EDGE_PATH_SHARE
            cache_hit = via_edge and rng.random() < topo.EDGE_CACHE_HIT
            trace_id = f"1-{int(t0):08x}-{_hex(rng, 12)}"
            status, fault, throttle = 200, False, False
            u = rng.random()
            if not cache_hit and u < model.rest_error_rate[m]:
                status = 503 if rng.random() < model.rest_503_share[m] else 500
                fault = True
            elif u > 1 - model.throttle_rate[m]:
                status, throttle = 429, True

            def own(tier: str, mult: float = 1.0) -> float:
                return float(rng.lognormal(math.log(L[tier].median_ms * mult), L[tier].sigma)) / 1000.0

            cf_id = _hex(rng, 8)
            cf_own = own("cloudfront")
            cursor = t0 + cf_own / 2
            children: list[dict[str, Any]] = []
            parent_for_alb = cf_id
            le_doc = None
            le_own = 0.0
            if via_edge:
                cold = rng.random() < model.edge_cold_share[ei, m]
                le_own = (float(rng.lognormal(math.log(model.edge_cold_median_ms[ei, m]), COLD_SIGMA)) / 1000.0
                          if cold else own("lambda-edge"))
                le_id = _hex(rng, 8)
                le_doc = {
                    "name": "akidb-edge-router", "id": le_id, "trace_id": trace_id, "parent_id": cf_id,
                    "start_time": cursor, "origin": topo.ORIGINS["lambda-edge"],
                    "annotations": {"tier": "lambda-edge", "edge_location": edge, "model": mdl, "cold_start": bool(cold)},
                    "aws": {"function_arn": "arn:aws:lambda:us-east-1:123456789012:function:akidb-edge-router:42",
                            "region": "us-east-1"},
                }
                cursor += le_own / 2
                parent_for_alb = le_id
            rest_end = cursor
            if not cache_hit:
                alb_id = _hex(rng, 8)
                alb_own = own("alb")
                rest_id = _hex(rng, 8)
                rs = cursor + alb_own / 2
                mult = float(model.rest_latency_mult[m])
                lstm = float(rng.lognormal(math.log(S["lstm_predictor"].median_ms * mult), S["lstm_predictor"].sigma)) / 1000
                hnsw = float(rng.lognormal(math.log(S["hnsw_index"].median_ms * mult), S["hnsw_index"].sigma)) / 1000
                sql = float(rng.lognormal(math.log(S["sqlite"].median_ms * mult), S["sqlite"].sigma)) / 1000
                r_own = own("akidb-rest", mult)
                a = rs + r_own / 2
                lifecycle = "spot" if rng.random() < 0.7 else "on-demand"
                subs = [
                    {"name": "lstm_predictor", "id": _hex(rng, 8), "start_time": a, "end_time": a + lstm,
                     "annotations": {"model_version": "lstm-2026-11"}},
                    {"name": "hnsw_index", "id": _hex(rng, 8), "start_time": a + lstm, "end_time": a + lstm + hnsw,
                     "annotations": {"ef_search": 64},
                     "subsegments": [
                         {"name": "hnsw.search", "id": _hex(rng, 8), "start_time": a + lstm,
                          "end_time": a + lstm + hnsw * 0.8},
                         {"name": "hnsw.rerank", "id": _hex(rng, 8), "start_time": a + lstm + hnsw * 0.8,
                          "end_time": a + lstm + hnsw},
                     ]},
                    {"name": "sqlite", "id": _hex(rng, 8), "namespace": "local", "start_time": a + lstm + hnsw,
                     "end_time": a + lstm + hnsw + sql, "sql": {"database_type": "SQLite", "url": "file:/data/akidb.db"}},
                ]
                r_end = a + lstm + hnsw + sql + r_own / 2
                rest_doc: dict[str, Any] = {
                    "name": "akidb-rest", "id": rest_id, "trace_id": trace_id, "parent_id": alb_id,
                    "start_time": rs, "end_time": r_end, "origin": topo.ORIGINS["akidb-rest"],
                    "http": {"request": {"method": "POST", "url": "http://akidb-rest.internal/v1/search"},
                             "response": {"status": status if status != 429 else 200}},
                    "annotations": {"tier": "akidb-rest", "model": mdl, "instance_lifecycle": lifecycle},
                    "aws": {"ec2": {"instance_id": f"i-{_hex(rng, 8)[:17]}", "availability_zone": "us-east-1a"}},
                    "subsegments": subs,
                }
                if fault:
                    rest_doc["fault"] = True
                    subs[1]["fault"] = True
                    rest_doc["cause"] = {"exceptions": [{"id": _hex(rng, 8), "message": "instance draining (spot interruption)"
                                                         if status == 503 else "internal error"}]}
                alb_end = r_end + alb_own / 2
                alb_doc = {
                    "name": "akidb-alb", "id": alb_id, "trace_id": trace_id, "parent_id": parent_for_alb,
                    "start_time": cursor, "end_time": alb_end, "origin": topo.ORIGINS["alb"],
                    "http": {"request": {"method": "POST", "url": "https://origin.akidb.io/v1/search"},
                             "response": {"status": status if status != 429 else 200}},
                    "annotations": {"tier": "alb"},
                }
                if fault:
                    alb_doc["fault"] = True
                children += [alb_doc, rest_doc]
                rest_end = alb_end
            if le_doc is not None:
                le_doc["end_time"] = rest_end + le_own / 2
                le_doc["http"] = {"response": {"status": status}}
                if fault:
                    le_doc["fault"] = True
                if throttle:  # what the X-Ray SDKs set for a 429
                    le_doc["throttle"] = True
                    le_doc["error"] = True
                children.insert(0, le_doc)
                rest_end = le_doc["end_time"]
            cf_doc: dict[str, Any] = {
                "name": "akidb-cloudfront", "id": cf_id, "trace_id": trace_id, "start_time": t0,
                "end_time": rest_end + cf_own / 2, "origin": topo.ORIGINS["cloudfront"],
                "http": {"request": {"method": "POST", "url": "https://api.akidb.io/v1/search",
                                     "client_ip": f"203.0.113.{int(rng.integers(1, 255))}"},
                         "response": {"status": status}},
                "annotations": {"tier": "cloudfront", "edge_location": edge, "model": mdl, "cache_hit": bool(cache_hit)},
            }
            if fault:
                cf_doc["fault"] = True
            if throttle:
                cf_doc["throttle"] = True
                cf_doc["error"] = True
            docs += [cf_doc, *children]
            n_spans += sum(_nodes(d) for d in (cf_doc, *children))
        if docs and sink is not None:
            sink.write(hour, [json.dumps(d, separators=(",", ":")) for d in docs])
        if docs and otlp_sink is not None:
            otlp_sink.write(hour, [json.dumps(xray_to_otlp(docs), separators=(",", ":"))])
        if progress and m and m % 1440 == 0:
            progress(f"xray: day {m // 1440} of {model.minutes / 1440:.0f}")
    for s in (sink, otlp_sink):
        if s is not None:
            s.close()
    return n_spans


# ---------------------------------------------------------------------------------------------------------------
# Prometheus (OpenMetrics)
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------


def generate(
    out_dir: str | Path,
    start: datetime,
    days: float = 7.0,
    seed: int = 42,
    scenario: Scenario | str | Path | None = None,
    traces_per_minute: float = 4.0,
    compress: bool = False,
    sources: tuple[str, ...] = ("xray", "emf", "prom"),
    progress: Progress | None = None,
    corrupt_fraction: float = 0.0,
) -> GenerationResult:
    """Write ``days`` of telemetry from ``start`` (UTC, minute-aligned) into ``out_dir``; same seed, same bytes.

    ``corrupt_fraction`` of the EMF and X-Ray lines are damaged on purpose (truncated, a renamed member, a NaN or
    negative number) so the quarantine has something to catch; their count is written to the ground truth.
    ``sources`` may name ``otlp``: the same traces as OpenTelemetry OTLP/JSON under ``landing/otlp/`` (instead of,
    or beside, ``xray``; both at once in one landing zone would store every span twice).
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    start = start.astimezone(timezone.utc).replace(second=0, microsecond=0)
    if days <= 0:
        raise ValueError("days must be positive")
    unknown = set(sources) - {"xray", "otlp", "emf", "prom"}
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from xray, otlp, emf, prom")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, start)
    out = Path(out_dir)
    landing = out / "landing"
    model = build_model(start, days, seed, sc)
    files: dict[str, list[Path]] = {}
    records: dict[str, int] = {}
    corrupted: dict[str, int] = {"prom": 0}
    if "prom" in sources:
        f, n = write_prometheus(model, landing / "prom", np.random.default_rng([seed, 3]), progress)
        files["prom"], records["prom"] = f, n
    if "emf" in sources:
        sink = HourlySink(landing / "emf", "events.ndjson", compress, corrupt_fraction=corrupt_fraction,
                          rng=np.random.default_rng([seed, 11]))
        write_emf(model, sink, np.random.default_rng([seed, 1]), progress)
        files["emf"], records["emf"], corrupted["emf"] = sink.files, sink.records, sink.corrupted
    if "xray" in sources or "otlp" in sources:
        sink = otlp_sink = None
        if "xray" in sources:
            sink = HourlySink(landing / "xray", "segments.ndjson", compress, corrupt_fraction=corrupt_fraction,
                              rng=np.random.default_rng([seed, 12]))
        if "otlp" in sources:
            otlp_sink = HourlySink(landing / "otlp", "traces.ndjson", compress, corrupt_fraction=corrupt_fraction,
                                   rng=np.random.default_rng([seed, 13]))
        n_spans = write_xray(model, sink, np.random.default_rng([seed, 2]), traces_per_minute, progress, otlp_sink)
        if sink is not None:
            files["xray"], records["xray"], corrupted["xray"] = sink.files, sink.records, sink.corrupted
        if otlp_sink is not None:  # a record is a span; a damaged line is one quarantined record
            files["otlp"], corrupted["otlp"] = otlp_sink.files, otlp_sink.corrupted
            records["otlp"] = n_spans
    end = start + timedelta(minutes=model.minutes)
    gt = {
        "generator": "akidb_pipelines.synthetic",
        "seed": seed,
        "scenario": sc.name,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "incidents": [i.to_ground_truth() for i in sc.incidents if i.start < end and i.end > start],
        "deploys": [
            {"start": model.minute_time(a).isoformat().replace("+00:00", "Z"),
             "end": model.minute_time(b).isoformat().replace("+00:00", "Z"), "components": ["akidb-rest"],
             "incident": False}
            for a, b in model.deploy_minutes
        ],
        "events": [e.to_ground_truth() for e in sc.events if e.start < end and e.end > start],
        "records": records,
        "corrupted_records": corrupted,
    }
    out.mkdir(parents=True, exist_ok=True)
    gt_path = out / "ground_truth.json"
    gt_path.write_text(json.dumps(gt, indent=2) + "\n", encoding="utf-8")
    return GenerationResult(out, start, end, files, records, gt_path, corrupted)
