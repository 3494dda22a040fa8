"""CloudWatch EMF log events (edge, akidb-rest and capacity metrics) sampled from the minute model."""

from __future__ import annotations

import json
import math

import numpy as np

from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.minute_model import COLD_SIGMA, REST_SIGMA, MinuteModel, Progress
from akidb_pipelines.synthetic.sink import HourlySink

# Latency samples an EMF event carries per minute (the logger flushes an array of the values it was given)
EMF_SAMPLES = 10
# akidb-rest flushes more samples per minute: its P95 feeds the latency SLO, which a 10-sample estimate makes noisy
REST_EMF_SAMPLES = 50


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
