"""The generator's X-Ray segment documents as OpenTelemetry OTLP/JSON, the way a Collector's ``file`` exporter
writes them: one ``ExportTraceServiceRequest`` per line, spans grouped by resource (one per service).

Used by ``generate(..., trace_format="otlp")`` so the same traces can arrive either way. The translation is the
inverse of ``akidb_pipelines.telemetry.otlp``'s mapping: a segment becomes a SERVER span of a resource named after
it (``service.name``, ``tier``, ``cloud.platform``), a subsegment an INTERNAL span (CLIENT with
``db.system.name`` for a SQL call) under its parent; annotations become span attributes, ``http`` the HTTP
semantic-convention attributes, a fault the ERROR status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

PLATFORMS = {
    "AWS::CloudFront::Distribution": "aws_cloudfront",
    "AWS::Lambda::Function": "aws_lambda",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "aws_elb",
    "AWS::EC2::Instance": "aws_ec2",
}
SCOPE = {"name": "akidb.synthetic", "version": "1.0"}


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def _attr(key: str, v: Any) -> dict[str, Any]:
    return {"key": key, "value": _value(v)}


def _ns(t: float) -> str:
    return str(round(t * 1e6) * 1000)  # X-Ray times are seconds; the lake keeps microseconds


def _spans(node: dict[str, Any], trace: str, parent: str | None, segment: bool, out: list[dict[str, Any]]) -> None:
    attrs = [_attr(k, v) for k, v in (node.get("annotations") or {}).items()]
    req = (node.get("http") or {}).get("request") or {}
    resp = (node.get("http") or {}).get("response") or {}
    if "method" in req:
        attrs.append(_attr("http.request.method", req["method"]))
    if "url" in req:
        attrs.append(_attr("url.full", req["url"]))
    if "status" in resp:
        attrs.append(_attr("http.response.status_code", int(resp["status"])))
    kind = 2 if segment else 1
    if node.get("sql"):
        kind = 3
        attrs.append(_attr("db.system.name", str(node["sql"].get("database_type", "sql")).lower()))
    name = node["name"]
    if segment and "method" in req:
        name = f"{req['method']} {urlparse(req.get('url', '')).path or '/'}"
    span: dict[str, Any] = {"traceId": trace, "spanId": node["id"]}
    if parent:
        span["parentSpanId"] = parent
    span.update({"name": name, "kind": kind, "startTimeUnixNano": _ns(node["start_time"]),
                 "endTimeUnixNano": _ns(node["end_time"]), "attributes": attrs})
    if node.get("fault"):
        causes = (node.get("cause") or {}).get("exceptions") or [{}]
        span["status"] = {"code": 2, "message": causes[0].get("message", "fault")}
    else:
        span["status"] = {}
    out.append(span)
    for sub in node.get("subsegments") or []:
        _spans(sub, trace, node["id"], False, out)


def xray_to_otlp(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Segment documents (one trace or many) -> one ``ExportTraceServiceRequest``."""
    resources: dict[tuple, list[dict[str, Any]]] = {}
    for d in docs:
        tier = (d.get("annotations") or {}).get("tier")
        key = (d["name"], d.get("origin"), tier)
        trace = d["trace_id"][2:].replace("-", "")
        _spans(d, trace, d.get("parent_id"), True, resources.setdefault(key, []))
    out = []
    for (name, origin, tier), spans in resources.items():
        attrs = [_attr("service.name", name), _attr("cloud.provider", "aws")]
        if origin in PLATFORMS:
            attrs.append(_attr("cloud.platform", PLATFORMS[origin]))
        if tier:
            attrs.append(_attr("tier", tier))
        out.append({"resource": {"attributes": attrs}, "scopeSpans": [{"scope": SCOPE, "spans": spans}]})
    return {"resourceSpans": out}
