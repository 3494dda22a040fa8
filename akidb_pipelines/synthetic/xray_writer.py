"""X-Ray segment documents (and the same traces as OTLP/JSON) sampled from the minute model."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from akidb_pipelines.synthetic import topology as topo
from akidb_pipelines.synthetic.minute_model import COLD_SIGMA, MinuteModel, Progress
from akidb_pipelines.synthetic.otlp_writer import xray_to_otlp
from akidb_pipelines.synthetic.sink import HourlySink


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
