"""OpenTelemetry OTLP/JSON traces (a Collector's file exporter) into the X-Ray spans table.

Hand-written collector lines check the mapping and every quarantine reason; synthetic traces written both as X-Ray
documents and as OTLP/JSON must give the same span rows and the same golden signals.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from akidb_pipelines.ingest import UNKNOWN_TIME_PARTITION, ingest_files, verify_batch
from akidb_pipelines.landing import list_partition
from akidb_pipelines.storage import Lake, PartitionKey, hour_partitions
from akidb_pipelines.synthetic import generate
from akidb_pipelines.telemetry.conventions import MAX_RECORD_BYTES, QUARANTINE_TABLES, RAW_TABLES, Reason
from tests.test_ingest import unversioned
from tests.test_parsers import EVENT_S, T0, assert_conserved, ingest, query, write_lines

SPANS, SPANS_Q = RAW_TABLES["otlp"], QUARANTINE_TABLES["otlp"]
TID = "6906a0000123456789abcdef01234567"
XTID = "1-6906a000-0123456789abcdef01234567"
K0 = PartitionKey(T0)


def sid(n: int) -> str:
    return f"{n:016x}"


def ns(t: float) -> str:
    return str(round(t * 1e9))


def at(offset: float) -> str:
    """Nanoseconds ``offset`` seconds after the test event, exactly."""
    return str(EVENT_S * 10**9 + round(offset * 1e9))


def av(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [av(x) for x in v]}}
    return {"stringValue": v}


def attrs(**kv) -> list[dict]:
    return [{"key": k.replace("__", "."), "value": av(v)} for k, v in kv.items()]


def span(n: int, name: str, start: float = 0.0, end: float = 0.1, parent: int | None = None, kind: int = 1,
         trace: str = TID, status: dict | None = None, **kv) -> dict:
    s = {"traceId": trace, "spanId": sid(n), "name": name, "kind": kind,
         "startTimeUnixNano": at(start), "endTimeUnixNano": at(end), "attributes": attrs(**kv)}
    if parent is not None:
        s["parentSpanId"] = sid(parent)
    if status is not None:
        s["status"] = status
    return s


def resource(service: str, *spans: dict, **kv) -> dict:
    return {"resource": {"attributes": attrs(service__name=service, **kv)},
            "scopeSpans": [{"scope": {"name": "io.opentelemetry.test"}, "spans": list(spans)}]}


def request(*resources: dict) -> dict:
    return {"resourceSpans": list(resources)}


ROWS = """SELECT id, parent_id, segment_id, kind, depth, name, tier, origin, namespace, http_method, http_url,
                 http_status, error, fault, throttle, edge_location, model, instance_lifecycle, annotations
          FROM t ORDER BY id"""


# -- mapping -----------------------------------------------------------------------------------------------------

EDGE = resource(
    "akidb-edge-router",
    span(0xA1, "edge-router", 0.0, 0.5, kind=2, tier="lambda-edge", edge_location="NRT57", cold_start=True,
         http__request__method="POST", url__full="https://api.akidb.io/v1/search", http__response__status_code=200),
    span(0xA2, "POST", 0.05, 0.45, parent=0xA1, kind=3, http__request__method="POST",
         http__response__status_code=200),
    cloud__platform="aws_lambda",
)
REST = resource(
    "akidb-rest",
    span(0xB1, "POST /v1/search", 0.1, 0.4, parent=0xA2, kind=2, model="bge-small",
         http__response__status_code=200),
    span(0xB2, "hnsw_index", 0.15, 0.35, parent=0xB1, ef_search=64, weights=[0.5, 0.25]),
    span(0xB3, "hnsw.search", 0.15, 0.3, parent=0xB2),
    span(0xB4, "s3.GetObject", 0.3, 0.34, parent=0xB1, kind=3, rpc__system="aws-api"),
    cloud__platform="aws_ec2", instance_lifecycle="spot", tier="akidb-rest",
)


def test_a_collector_line_maps_spans_to_segments_and_subsegments_like_xray(tmp_path, lake):
    r = ingest("otlp", tmp_path, lake, [request(EDGE, REST)])
    assert (r.records_read, r.records_stored, r.rows_stored, r.records_quarantined, r.duplicates_dropped) == (6, 6, 6, 0, 0)
    rows = {row[0]: row[1:] for row in query(lake, SPANS, ROWS)}
    # id: parent, segment, kind, depth, name, tier, origin, namespace, method, url, status, error, fault, throttle,
    #     edge_location, model, instance_lifecycle, annotations
    assert rows == {
        sid(0xA1): (None, sid(0xA1), "segment", 0, "akidb-edge-router", "lambda-edge", "AWS::Lambda::Function", None,
                    "POST", "https://api.akidb.io/v1/search", 200, False, False, False, "NRT57", None, None,
                    {"tier": "lambda-edge", "edge_location": "NRT57", "cold_start": "true"}),
        sid(0xA2): (sid(0xA1), sid(0xA1), "subsegment", 1, "POST", "lambda-edge", None, "remote", "POST", None, 200,
                    False, False, False, None, None, None, None),
        # a SERVER span whose parent is in another service is a segment; the lifecycle comes from its resource
        sid(0xB1): (sid(0xA2), sid(0xB1), "segment", 0, "akidb-rest", "akidb-rest", "AWS::EC2::Instance", None,
                    None, None, 200, False, False, False, None, "bge-small", "spot", {"model": "bge-small"}),
        sid(0xB2): (sid(0xB1), sid(0xB1), "subsegment", 1, "hnsw_index", "akidb-rest", None, None, None, None, None,
                    False, False, False, None, None, None, {"ef_search": "64"}),
        sid(0xB3): (sid(0xB2), sid(0xB1), "subsegment", 2, "hnsw.search", "akidb-rest", None, None, None, None, None,
                    False, False, False, None, None, None, None),
        sid(0xB4): (sid(0xB1), sid(0xB1), "subsegment", 1, "s3.GetObject", "akidb-rest", None, "aws", None, None, None,
                    False, False, False, None, None, None, None),
    }
    trace, start, dur = query(lake, SPANS, f"SELECT DISTINCT trace_id, start_time, duration_ms FROM t WHERE id = '{sid(0xB2)}'")[0]
    assert trace == XTID
    assert start == datetime.fromtimestamp(EVENT_S + 0.15, timezone.utc)
    assert dur == 200.0


@pytest.mark.parametrize(("http", "status", "flags"), [
    ({"http__response__status_code": 200}, None, (False, False, False)),
    ({"http__response__status_code": 404}, None, (True, False, False)),
    ({"http__response__status_code": 429}, None, (True, False, True)),
    ({"http__response__status_code": 503}, {"code": 2, "message": "draining"}, (False, True, False)),
    ({"http__status_code": 500}, None, (False, True, False)),              # the older attribute name
    ({}, {"code": 2}, (False, True, False)),                               # ERROR without HTTP: a fault
    ({}, {"code": "STATUS_CODE_ERROR"}, (False, True, False)),             # enum by name
    ({"http__response__status_code": 404}, {"code": 2}, (True, False, False)),  # a client error, not a fault
    ({}, {"code": 1}, (False, False, False)),
])
def test_error_fault_throttle_follow_http_status_and_span_status(tmp_path, lake, http, status, flags):
    ingest("otlp", tmp_path, lake, [request(resource("svc", span(1, "GET", kind=2, status=status, **http)))])
    assert query(lake, SPANS, "SELECT error, fault, throttle FROM t") == [flags]


def test_segment_rules_remote_parent_foreign_parent_orphans_and_loops(tmp_path, lake):
    line = request(
        resource("a", span(1, "root", kind=1),                                   # no parent: segment
                 span(2, "call", parent=1, kind=3)),
        resource("b", span(3, "internal entry", parent=2, kind=1),               # parent in service a: segment
                 span(4, "remote", parent=0x99, kind=1) | {"flags": 0x300},     # parent flagged remote: segment
                 span(5, "orphan", parent=0x98, kind=1),                         # parent never delivered
                 span(6, "orphan child", parent=5, kind=1),
                 span(7, "loop a", parent=8), span(8, "loop b", parent=7)),
    )
    ingest("otlp", tmp_path, lake, [line])
    got = {r[0]: r[1:] for r in query(lake, SPANS, "SELECT id, kind, depth, segment_id, tier FROM t")}
    assert got == {
        sid(1): ("segment", 0, sid(1), "a"), sid(2): ("subsegment", 1, sid(1), "a"),
        sid(3): ("segment", 0, sid(3), "b"), sid(4): ("segment", 0, sid(4), "b"),
        sid(5): ("subsegment", 1, None, "b"), sid(6): ("subsegment", 2, None, "b"),
        sid(7): ("subsegment", None, None, "b"), sid(8): ("subsegment", None, None, "b"),
    }


# -- quarantine --------------------------------------------------------------------------------------------------

def bad(n: int, **change) -> dict:
    s = span(n, f"s{n}", kind=2)
    for k, v in change.items():
        if v is None:
            s.pop(k)
        else:
            s[k] = v
    return s


BAD_SPANS = [
    (bad(0x11, traceId=None), Reason.MISSING_FIELD, "traceId missing"),
    (bad(0x12, traceId="xyz"), Reason.INVALID_ID, "is not 32 hex digits"),
    (bad(0x13, traceId="0" * 32), Reason.INVALID_ID, "is not 32 hex digits"),
    (bad(0x14, spanId=None), Reason.MISSING_FIELD, "spanId missing"),
    (bad(0x15, spanId="12345"), Reason.INVALID_ID, "is not 16 hex digits"),
    (bad(0x16, parentSpanId="zz"), Reason.INVALID_ID, "parentSpanId"),
    (bad(0x17, parentSpanId=sid(0x17)), Reason.INVALID_ID, "parentSpanId equals spanId"),
    (bad(0x18, name=None), Reason.MISSING_FIELD, "name missing"),
    (bad(0x19, startTimeUnixNano=None), Reason.MISSING_FIELD, "startTimeUnixNano missing"),
    (bad(0x1A, endTimeUnixNano=None), Reason.MISSING_FIELD, "endTimeUnixNano missing"),
    (bad(0x1B, startTimeUnixNano="soon"), Reason.WRONG_TYPE, "not an integer of nanoseconds"),
    (bad(0x1C, kind=9), Reason.WRONG_TYPE, "is not a SpanKind"),
    (bad(0x1D, status={"code": 7}), Reason.WRONG_TYPE, "is not a StatusCode"),
    (bad(0x23, status="STATUS_CODE_ERROR"), Reason.WRONG_TYPE, "status is VARCHAR, not an object"),
    (bad(0x24, flags="remote"), Reason.WRONG_TYPE, "is not an unsigned integer"),
    (bad(0x25, attributes=[{"key": "tier", "value": "x"}]), Reason.INVALID_ATTRIBUTE, "AnyValue objects"),
    (bad(0x1E, attributes=attrs(a=1) + attrs(a=2)), Reason.INVALID_ATTRIBUTE, "unique keys"),
    (bad(0x1F, endTimeUnixNano=ns(EVENT_S - 1)), Reason.NEGATIVE_DURATION, "before startTimeUnixNano"),
    (bad(0x20, attributes=attrs(http__response__status_code=999)), Reason.INVALID_STATUS, "not an HTTP status"),
    (bad(0x21, attributes=attrs(http__response__status_code="200")), Reason.INVALID_STATUS, "not an HTTP status"),
    (bad(0x22, startTimeUnixNano=ns(100.0), endTimeUnixNano=ns(101.0)), Reason.OUTSIDE_PARTITION, "outside"),
    ("not a span", Reason.WRONG_TYPE, "span is not an object"),
]
BAD_LINES = [
    ("{not json", Reason.INVALID_JSON),
    ("[1, 2]", Reason.NOT_AN_OBJECT),
    ({"resourceLogs": []}, Reason.MISSING_FIELD),
    ({"resourceSpans": {}}, Reason.WRONG_TYPE),
    ({"resourceSpans": [5]}, Reason.WRONG_TYPE),
    ({"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}, Reason.WRONG_TYPE),
    ({"resourceSpans": [{"resource": {"attributes": attrs(a=1) + attrs(a=1)}, "scopeSpans": []}]},
     Reason.INVALID_ATTRIBUTE),
]


def test_every_bad_span_and_bad_line_is_one_quarantine_row_with_its_reason(tmp_path, lake):
    good = span(0x01, "fine", kind=2)
    line = request(resource("svc", good, *[s for s, _, _ in BAD_SPANS]))
    r = ingest("otlp", tmp_path, lake, [line, *[x for x, _ in BAD_LINES], {"resourceSpans": []}, ""], batch="b")
    assert r.records_read == 1 + len(BAD_SPANS) + len(BAD_LINES)
    assert r.records_stored == 1 and r.blank_lines == 2       # an empty request holds no record
    expected: dict[str, int] = {}
    for reason in [x[1] for x in BAD_SPANS] + [x[1] for x in BAD_LINES]:
        expected[reason] = expected.get(reason, 0) + 1
    assert r.quarantine_by_reason == expected
    q = query(lake, SPANS_Q, "SELECT reason, detail, raw, kind FROM t WHERE detail LIKE 'resourceSpans[0].scopeSpans[0].spans[%' ORDER BY detail")
    assert len(q) == len(BAD_SPANS)
    by_pos = {int(d.split("spans[")[1].split("]")[0]): (reason, d, raw, kind) for reason, d, raw, kind in q}
    for i, (s, reason, text) in enumerate(BAD_SPANS, start=1):
        got_reason, detail, raw, kind = by_pos[i]
        assert (got_reason, kind) == (reason, "otlp") and text in detail, (i, detail)
        # the raw record is a one-span request with the span's resource: it can be fixed and replayed
        doc = json.loads(raw)
        assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"] == [s]
        assert doc["resourceSpans"][0]["resource"]["attributes"] == attrs(service__name="svc")
    v = verify_batch(lake, r, [UNKNOWN_TIME_PARTITION, K0])  # lines without a time land in 1970-01-01T00
    assert v.conserved and v.records_in_lake == 1 and v.quarantine_in_lake == r.records_quarantined


def test_spans_outside_their_files_partition_are_quarantined_one_by_one(tmp_path, lake):
    late = span(2, "late", 3600 * 2, 3600 * 2 + 1, kind=2)
    r = ingest("otlp", tmp_path, lake, [request(resource("svc", span(1, "on time", kind=2), late))],
               partition_of=K0, batch="landing")
    assert (r.records_stored, r.quarantine_by_reason) == (1, {Reason.OUTSIDE_PARTITION: 1})
    [(detail, raw)] = query(lake, SPANS_Q, "SELECT detail, raw FROM t")
    assert "outside partition 2026-11-02T00" in detail
    assert json.loads(raw)["resourceSpans"][0]["scopeSpans"][0]["spans"] == [late]


# -- duplicates, idempotence, conservation -----------------------------------------------------------------------

def test_redelivered_spans_are_dropped_as_duplicates_and_reingest_is_idempotent(tmp_path, lake):
    first = request(EDGE, REST)
    again = request(resource("akidb-rest", REST["scopeSpans"][0]["spans"][1]))   # a retry of one export
    p = write_lines(tmp_path / "traces.ndjson", [first, again, first])
    r1 = ingest_files("otlp", [str(p)], lake, batch="landing", partition_of=K0)
    assert_conserved(r1)
    assert (r1.records_read, r1.records_stored, r1.duplicates_dropped) == (13, 6, 7)
    rows_1 = sorted(query(lake, SPANS, "SELECT trace_id, id, depth, segment_id FROM t"))
    files_1 = sorted(map(unversioned, lake.list_files(SPANS)))
    r2 = ingest_files("otlp", [str(p)], lake, batch="landing", partition_of=K0)
    assert r2.to_dict() | {"seconds": 0} == r1.to_dict() | {"seconds": 0}
    assert sorted(query(lake, SPANS, "SELECT trace_id, id, depth, segment_id FROM t")) == rows_1
    assert sorted(map(unversioned, lake.list_files(SPANS))) == files_1 and len(rows_1) == 6
    # an X-Ray batch in the same partition is another batch: the OTLP re-run leaves it alone
    xray = write_lines(tmp_path / "segments.ndjson", [{"trace_id": "1-6906a000-" + "f" * 24, "id": sid(0xF1),
                                                       "name": "alb", "start_time": EVENT_S, "end_time": EVENT_S + 1}])
    ingest_files("xray", [str(xray)], lake, batch="landing-xray", partition_of=K0)
    ingest_files("otlp", [str(p)], lake, batch="landing", partition_of=K0)
    assert len(query(lake, SPANS, "SELECT id FROM t")) == 7


def test_synthetic_otlp_with_damaged_lines_conserves_every_span(tmp_path):
    data = generate(tmp_path / "d", T0, 1 / 24, seed=3, scenario=None, sources=("otlp",), corrupt_fraction=0.05)
    assert data.corrupted["otlp"] > 0
    lake = Lake(tmp_path / "lake")
    r = ingest_files("otlp", [str(p) for p in data.files["otlp"]], lake, batch="landing", partition_of=K0)
    assert_conserved(r)
    assert r.quarantine_by_reason == {Reason.INVALID_JSON: data.corrupted["otlp"]}
    lines = sum(1 for p in data.files["otlp"] for _ in open(p))
    # the damaged lines' spans are lost to the count of spans, each damaged line is one record
    assert r.records_stored < data.records["otlp"] and r.records_read == r.records_stored + data.corrupted["otlp"]
    assert 50 < lines <= 60  # one export request per minute that has traces
    v = verify_batch(lake, r, [K0])
    assert v.conserved and not v.missing_columns


# -- the same traces from X-Ray and from OTLP -------------------------------------------------------------------

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Two hours of synthetic AkiDB with incidents, traces written both ways; one lake per trace source, each with the
    same EMF and Prometheus data, and the staging models plus golden_signals_1m run on each."""
    from akidb_pipelines.sql_models.runner import run_model
    from assets.sql_models import graph
    from tests.conftest import DATA, SHORT_START

    tmp = tmp_path_factory.mktemp("both")
    data = generate(tmp / "gen", SHORT_START, 2 / 24, seed=7, scenario=DATA / "scenario_short.yaml",
                    sources=("xray", "otlp", "emf", "prom"), traces_per_minute=20)
    keys = hour_partitions(SHORT_START, data.end)
    lakes = {}
    for traces in ("xray", "otlp"):
        lake = Lake(tmp / f"lake-{traces}")
        for kind in (traces, "emf", "prom"):
            part = {str(f): PartitionKey.parse(str(f).split("date=")[1][:10] + "T" + str(f).split("hour=")[1][:2])
                    for f in data.files[kind]}
            assert_conserved(ingest_files(kind, list(part), lake, batch="landing", partition_of=part))
        for name in ("stg_xray_spans", "stg_emf_metrics", "stg_prometheus_samples", "golden_signals_1m"):
            run_model(graph.models[name], graph, lake, keys)
        lakes[traces] = lake
    return lakes, data


SAME = ("trace_id, id, parent_id, segment_id, kind, depth, name, origin, tier, start_time, end_time, in_progress, "
        "http_method, http_url, http_status, error, fault, throttle, annotations, edge_location, model, "
        "instance_lifecycle")


def test_xray_and_otlp_of_the_same_traces_give_the_same_span_rows(both):
    lakes, data = both
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    for k, lake in lakes.items():
        con.execute(f"SET VARIABLE akidb_{k} = ?", [lake.glob(SPANS)])  # k: 'xray' or 'otlp', ours
        con.execute(f"CREATE VIEW {k} AS SELECT * FROM read_parquet(getvariable('akidb_{k}'))")
    n = con.execute("SELECT count(*) FROM xray").fetchone()[0]
    assert n == con.execute("SELECT count(*) FROM otlp").fetchone()[0] == data.records["otlp"] > 15000
    assert con.execute(f"SELECT count(*) FROM (SELECT {SAME} FROM xray EXCEPT ALL SELECT {SAME} FROM otlp)").fetchone() == (0,)
    assert con.execute(f"SELECT count(*) FROM (SELECT {SAME} FROM otlp EXCEPT ALL SELECT {SAME} FROM xray)").fetchone() == (0,)
    assert con.execute("DESCRIBE SELECT * EXCLUDE (ingest_batch) FROM xray").fetchall() == \
        con.execute("DESCRIBE SELECT * EXCLUDE (ingest_batch) FROM otlp").fetchall()
    # durations agree to the microsecond of rounding; the one documented difference is X-Ray's 'local' namespace
    worst, = con.execute("SELECT max(abs(x.duration_ms - o.duration_ms)) FROM xray x JOIN otlp o USING (trace_id, id)").fetchone()
    assert worst < 0.002
    assert con.execute("""SELECT DISTINCT x.name, x.namespace, o.namespace FROM xray x JOIN otlp o USING (trace_id, id)
                          WHERE x.namespace IS DISTINCT FROM o.namespace""").fetchall() == [("sqlite", "local", "remote")]
    # the spot cascade is in the traces: faults on the segments (and on the HNSW subsegment), from the span status
    faults = dict(con.execute("SELECT depth, count(*) FROM otlp WHERE fault GROUP BY depth").fetchall())
    assert faults[0] > 20 and faults[1] > 5


def test_golden_signals_from_xray_and_from_otlp_agree(both):
    lakes, _ = both
    gs = {}
    for k, lake in lakes.items():
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        rel = con.execute("SELECT * FROM read_parquet(?) ORDER BY minute, tier, edge_location",
                          [lake.glob("models/marts/golden_signals_1m")])
        cols = [d[0] for d in rel.description]
        gs[k] = [dict(zip(cols, r)) for r in rel.fetchall()]
    assert len(gs["xray"]) == len(gs["otlp"]) > 500
    assert sum(1 for r in gs["otlp"] if r["spans"]) > 400
    for x, o in zip(gs["xray"], gs["otlp"]):
        assert (x["minute"], x["tier"], x["edge_location"]) == (o["minute"], o["tier"], o["edge_location"])
        for c in x:
            if isinstance(x[c], float):
                assert o[c] == pytest.approx(x[c], abs=0.002), (c, x["minute"], x["tier"])
            else:
                assert o[c] == x[c], (c, x["minute"], x["tier"])


# -- the landing zone, the assets and the sensor -----------------------------------------------------------------

def test_collector_files_dropped_in_landing_otlp_feed_the_spans_asset_and_the_sensor(tmp_path):
    from assets.ingest import ingest_assets
    from assets.resources import LakeResource, LandingZoneSource
    from sensors.detect import detect_sensor

    now = datetime.now(timezone.utc)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    key = PartitionKey.of(start)
    data = generate(tmp_path / "gen", start, 1 / 24, seed=5, scenario=None, traces_per_minute=1,
                    sources=("otlp", "emf"))
    landing = data.out_dir / "landing"
    assert [Path(f.path).name for f in list_partition(landing, "otlp", key)] == ["traces.ndjson"]
    assert list_partition(landing, "xray", key) == []

    source = LandingZoneSource(landing=str(landing))
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(cursor=None, resources={"telemetry": source}, instance=instance)
    reqs = detect_sensor(ctx)
    assert [(r.tags["akidb/changed"], r.partition_key) for r in reqs] == [("emf+otlp", key.dagster_key)]

    resources = {"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "akidb.duckdb")),
                 "telemetry": source}
    spans_asset = [a for a in ingest_assets if dg.AssetKey(["lake", "raw", "xray_spans"]) in a.keys]
    res = dg.materialize(spans_asset, resources=resources, partition_key=key.dagster_key,
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    meta = [m for m in res.asset_materializations_for_node("ingest_xray_spans") if m.asset_key.path[1] == "raw"][0].metadata
    assert meta["records_read"].value == data.records["otlp"] == meta["records_stored"].value > 100
    assert meta["by_source_kind"].value["otlp"]["batch"] == "landing-otlp"
    lake = Lake(tmp_path / "lake")
    assert [unversioned(f.rsplit("/", 1)[1]) for f in lake.list_files(SPANS)] == ["landing-otlp-0.parquet"]

    # a second collector file in the hour changes the signature: one request for the spans table
    (landing / "otlp" / key.path / "traces-2.ndjson").write_text(json.dumps(request(resource("svc", span(1, "x", kind=2)))) + "\n")
    ctx2 = dg.build_sensor_context(cursor=ctx.cursor, resources={"telemetry": source}, instance=instance)
    assert [(r.tags["akidb/changed"], r.partition_key) for r in detect_sensor(ctx2)] == [("otlp", key.dagster_key)]


def test_a_collector_batch_of_8192_spans_on_one_line_is_data_not_a_line_too_long(tmp_path, lake):
    """The Collector's file exporter writes one request per batch (8192 spans by default), several MiB on one line:
    over the 1 MiB an EMF event or an X-Ray document may take, within OTLP's own limit."""
    spans = [span(0x1000 + i, "hnsw.search", 0.001 * (i % 100), 0.001 * (i % 100) + 0.01,
                  trace=f"{i // 4 + 1:032x}", tier="akidb-rest", model="bge-small") for i in range(8192)]
    p = write_lines(tmp_path / "batch.ndjson", [request(resource("akidb-rest", *spans))])
    assert p.stat().st_size > MAX_RECORD_BYTES
    r = ingest_files("otlp", [str(p)], lake, batch="landing", partition_of=K0)
    assert_conserved(r)
    assert (r.records_read, r.records_stored, r.records_quarantined) == (8192, 8192, 0)
    assert ingest_files("otlp", [str(p)], lake, batch="cap", partition_of=K0,
                        max_record_bytes=MAX_RECORD_BYTES).quarantine_by_reason == {Reason.LINE_TOO_LONG: 1}
