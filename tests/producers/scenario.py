"""One request scenario that both trace producers (the X-Ray SDK, the OpenTelemetry SDK) play, and the span rows the
ingest must store for it, derived from the scenario alone (never from what a producer wrote).

A trace is a chain of services (CloudFront -> Lambda@Edge -> ALB -> akidb-rest, each a segment / SERVER span);
a service calls the next one through a remote subsegment / CLIENT span named ``call <service>``, and does local
work in (nested) subsegments / INTERNAL spans. Flags follow the X-Ray SDKs (``Entity.apply_status_code``):
5xx = fault, 429 = throttle and error, other 4xx = error; an exception in a subsegment = fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

# X-Ray ``origin`` (what an SDK plugin sets) and the OpenTelemetry ``cloud.platform`` of the same host
PLATFORMS = {
    "AWS::Lambda::Function": "aws_lambda",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "aws_elb",
    "AWS::EC2::Instance": "aws_ec2",
}
# How our tiers are named after an origin (akidb_pipelines/telemetry/xray.py and otlp.py)
TIER_OF_ORIGIN = {"AWS::Lambda::Function": "lambda-edge", "AWS::ElasticLoadBalancingV2::LoadBalancer": "alb"}


@dataclass(frozen=True)
class Local:
    """Local work: a subsegment (X-Ray) or an INTERNAL span (OpenTelemetry)."""

    name: str
    children: tuple[Local, ...] = ()
    sleep_s: float = 0.0
    raises: bool = False


@dataclass(frozen=True)
class Service:
    """A service entry: a segment (X-Ray) or a SERVER span with its own resource (OpenTelemetry)."""

    name: str                     # segment name / service.name
    status: int                   # the HTTP status it answers
    url: str
    origin: str | None = None     # X-Ray origin / OTLP cloud.platform
    tier: str | None = None       # X-Ray annotation / OTLP span attribute ``tier``
    annotations: tuple[tuple[str, str | int | float | bool], ...] = ()
    locals: tuple[Local, ...] = ()
    call: Service | None = None   # the next service, called through ``call <name>``
    legacy_status_attr: bool = False  # OTLP: the older ``http.status_code`` instead of ``http.response.status_code``


def _rest(status: int) -> Service:
    return Service(
        "akidb-rest", status, "http://akidb-rest.internal/v1/search", origin="AWS::EC2::Instance",
        annotations=(("model", "hnsw"), ("instance_lifecycle", "spot"), ("ef_search", 64), ("cold_start", False),
                     ("recall", 0.5)),
        locals=(Local("lstm_predictor", sleep_s=0.002),
                Local("hnsw_index", (Local("hnsw.search", (Local("hnsw.distance", sleep_s=0.005),)),)),
                Local("sqlite", raises=True)),
        legacy_status_attr=True)


def _alb(status: int, call: Service | None) -> Service:
    return Service("akidb-alb", status, "https://origin.akidb.io/v1/search",
                   origin="AWS::ElasticLoadBalancingV2::LoadBalancer", call=call)


def _edge(status: int, call: Service | None) -> Service:
    return Service("akidb-edge-router", status, "https://api.akidb.io/v1/search", origin="AWS::Lambda::Function",
                   annotations=(("edge_location", "NRT57"),), call=call)


def _cloudfront(status: int, call: Service | None, locals: tuple[Local, ...] = ()) -> Service:
    return Service("akidb-cloudfront", status, "https://api.akidb.io/v1/search", tier="cloudfront",
                   annotations=(("edge_location", "NRT57"), ("model", "hnsw")), call=call, locals=locals)


TRACES: tuple[Service, ...] = (
    # a fault through the four tiers; the deepest subsegment is at depth 3, the sqlite one raises
    _cloudfront(503, _edge(503, _alb(503, _rest(503)))),
    # a client error answered at the edge
    _cloudfront(404, None, (Local("cache_lookup"),)),
    # throttled by the edge router
    _cloudfront(429, _edge(429, None)),
)


def flags(status: int | None) -> tuple[bool, bool, bool]:
    """(error, fault, throttle) as the X-Ray SDKs set them for an HTTP status."""
    if status is None:
        return False, False, False
    return 400 <= status < 500, status >= 500, status == 429


def annotation_text(v: object) -> str:
    """An annotation value as the lake stores it (text, JSON spelling)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass(frozen=True, order=True)
class Row:
    """The comparable columns of one stored span; ``parent`` and ``segment`` are names (ids differ per run)."""

    trace: int
    name: str
    kind: str
    depth: int
    parent: str | None
    segment: str | None
    tier: str
    origin: str | None
    namespace: str | None
    http_method: str | None
    http_url: str | None
    http_status: int | None
    error: bool
    fault: bool
    throttle: bool
    annotations: tuple[tuple[str, str], ...] | None
    edge_location: str | None
    model: str | None
    instance_lifecycle: str | None


def expected_rows(traces: tuple[Service, ...], local_namespace: str | None) -> list[Row]:
    """The rows the ingest must store for ``traces``; ``local_namespace`` is X-Ray's ``local`` (OTLP has none)."""
    out: list[Row] = []

    def local(i: int, lc: Local, depth: int, parent: str, seg: str, tier: str) -> None:
        out.append(Row(i, lc.name, "subsegment", depth, parent, seg, tier, None, local_namespace, None, None, None,
                       False, lc.raises, False, None, None, None, None))
        for c in lc.children:
            local(i, c, depth + 1, lc.name, seg, tier)

    def service(i: int, s: Service, parent: str | None) -> None:
        tier = s.tier or TIER_OF_ORIGIN.get(s.origin or "") or s.name
        ann = {k: annotation_text(v) for k, v in s.annotations}
        if s.tier:
            ann["tier"] = s.tier
        out.append(Row(i, s.name, "segment", 0, parent, s.name, tier, s.origin, None, "POST", s.url, s.status,
                       *flags(s.status), tuple(sorted(ann.items())) or None, ann.get("edge_location"),
                       ann.get("model"), ann.get("instance_lifecycle")))
        for lc in s.locals:
            local(i, lc, 1, s.name, s.name, tier)
        if s.call is not None:
            name = f"call {s.call.name}"
            out.append(Row(i, name, "subsegment", 1, s.name, s.name, tier, None, "remote", "POST", s.call.url,
                           s.call.status, *flags(s.call.status), None, None, None, None))
            service(i, s.call, name)

    for i, s in enumerate(traces):
        service(i, s, None)
    return sorted(out)


def _opt(v: object) -> object:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def stored_rows(df: pd.DataFrame, trace_ids: list[str]) -> list[Row]:
    """The stored span rows as ``Row``s: ``trace_ids`` gives each trace's position in the scenario."""
    names = {(r.trace_id, r.id): r.name for r in df.itertuples()}
    out = []
    for r in df.itertuples():
        ann = r.annotations if isinstance(r.annotations, (dict, list)) else _opt(r.annotations)
        ann = tuple(sorted(dict(ann).items())) if ann else None
        status = _opt(r.http_status)
        out.append(Row(
            trace_ids.index(r.trace_id), r.name, r.kind, int(r.depth), names.get((r.trace_id, _opt(r.parent_id))),
            names.get((r.trace_id, _opt(r.segment_id))), r.tier, _opt(r.origin), _opt(r.namespace),
            _opt(r.http_method), _opt(r.http_url), None if status is None else int(status),
            bool(r.error), bool(r.fault), bool(r.throttle), ann, _opt(r.edge_location), _opt(r.model),
            _opt(r.instance_lifecycle)))
    return sorted(out)
