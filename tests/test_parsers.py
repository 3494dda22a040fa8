"""The three telemetry parsers on handcrafted and adversarial input, through the public entry point ``ingest_files``.

Every case writes a small file to ``tmp_path``, ingests it into a fresh lake and checks the report (exact counts,
exact ``quarantine_by_reason``) and, where it matters, the stored rows read back from the lake's Parquet files.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from akidb_pipelines.ingest import IngestReport, ingest_files
from akidb_pipelines.storage import Lake
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES, Reason
from akidb_pipelines.telemetry.xray import MAX_DEPTH

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
T0_MS = int(T0.timestamp() * 1000)   # 1793577600000
T0_S = int(T0.timestamp())           # 1793577600
EVENT_MS = T0_MS + 60_000            # 00:01:00
EVENT_S = T0_S + 60
TRACE = "1-6906a000-0123456789abcdef01234567"


# -- helpers -----------------------------------------------------------------------------------------------------

def write_lines(path: Path, lines: list, trailing_newline: bool = True) -> Path:
    """Write ``lines`` (str, bytes or JSON-able objects) one per line."""
    out = []
    for x in lines:
        if isinstance(x, bytes):
            out.append(x)
        elif isinstance(x, str):
            out.append(x.encode())
        else:
            out.append(json.dumps(x, separators=(",", ":")).encode())
    path.write_bytes(b"\n".join(out) + (b"\n" if trailing_newline else b""))
    return path


def ingest(kind: str, tmp_path: Path, lake: Lake, lines: list, name: str = "input.txt", **kw) -> IngestReport:
    p = write_lines(tmp_path / name, lines)
    report = ingest_files(kind, [str(p)], lake, **kw)
    assert_conserved(report)
    return report


def assert_conserved(r: IngestReport) -> None:
    assert r.records_read == r.records_stored + r.records_quarantined + r.duplicates_dropped, r.to_dict()
    assert r.records_quarantined == sum(r.quarantine_by_reason.values())


def query(lake: Lake, table: str, sql: str) -> list[tuple]:
    """Run ``sql`` with ``t`` bound to every Parquet file of ``table`` (empty list when the table has no files)."""
    if not lake.list_files(table):
        return []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("SET VARIABLE akidb_t = ?", [lake.glob(table)])
        con.execute("CREATE VIEW t AS SELECT * FROM read_parquet(getvariable('akidb_t'))")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


# -- EMF ---------------------------------------------------------------------------------------------------------

def emf_event(**overrides) -> dict:
    ev = {
        "_aws": {
            "Timestamp": EVENT_MS,
            "CloudWatchMetrics": [{
                "Namespace": "AkiDB/Edge",
                "Dimensions": [["Service", "EdgeLocation", "Model"], ["Service"]],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1}],
            }],
        },
        "Service": "akidb-rest",
        "EdgeLocation": "NRT57",
        "Model": "rec-v3",
        "Latency": [12.5, 13.0, 99.25],
    }
    ev.update(overrides)
    return ev


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


EMF = RAW_TABLES["emf"]
EMF_Q = QUARANTINE_TABLES["emf"]


def test_an_emf_array_value_becomes_one_row_per_value_with_every_column_filled(tmp_path, lake):
    r = ingest("emf", tmp_path, lake, [emf_event()])
    assert (r.records_read, r.records_stored, r.rows_stored, r.records_quarantined) == (1, 1, 3, 0)
    rows = query(lake, EMF, """SELECT ts, namespace, metric_name, unit, storage_resolution, value, value_index,
                                      service, edge_location, model,
                                      json_transform(dimensions, '"MAP(VARCHAR, VARCHAR)"'),
                                      json_transform(dimension_sets, '[["VARCHAR"]]')
                               FROM t ORDER BY value_index""")
    dims = {"EdgeLocation": "NRT57", "Model": "rec-v3", "Service": "akidb-rest"}
    sets = [["Service", "EdgeLocation", "Model"], ["Service"]]
    ts = T0 + timedelta(minutes=1)
    assert rows == [
        (ts, "AkiDB/Edge", "Latency", "Milliseconds", 1, 12.5, 0, "akidb-rest", "NRT57", "rec-v3", dims, sets),
        (ts, "AkiDB/Edge", "Latency", "Milliseconds", 1, 13.0, 1, "akidb-rest", "NRT57", "rec-v3", dims, sets),
        (ts, "AkiDB/Edge", "Latency", "Milliseconds", 1, 99.25, 2, "akidb-rest", "NRT57", "rec-v3", dims, sets),
    ]
    assert r.partitions == ["date=2026-11-02/hour=00"]


def test_two_directives_in_one_event_give_rows_under_each_namespace(tmp_path, lake):
    ev = {
        "_aws": {"Timestamp": EVENT_MS, "CloudWatchMetrics": [
            {"Namespace": "AkiDB/Edge", "Dimensions": [["EdgeLocation"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]},
            {"Namespace": "AkiDB/Cost", "Dimensions": [["Service", "Model"]], "Metrics": [{"Name": "Cost", "Unit": "None"},
                                                                                         {"Name": "Gpus", "Unit": "Count"}]},
        ]},
        "EdgeLocation": "SIN52", "Service": "akidb-rest", "Model": "m7",
        "Latency": [5, 6], "Cost": 0.75, "Gpus": 4,
    }
    r = ingest("emf", tmp_path, lake, [ev])
    assert (r.records_read, r.records_stored, r.rows_stored) == (1, 1, 4)
    rows = query(lake, EMF, """SELECT namespace, metric_name, unit, value, value_index,
                                      json_transform(dimension_sets, '[["VARCHAR"]]'), service,
                                      edge_location, model
                               FROM t ORDER BY namespace, metric_name, value_index""")
    assert rows == [
        ("AkiDB/Cost", "Cost", "None", 0.75, 0, [["Service", "Model"]], "akidb-rest", "SIN52", "m7"),
        ("AkiDB/Cost", "Gpus", "Count", 4.0, 0, [["Service", "Model"]], "akidb-rest", "SIN52", "m7"),
        ("AkiDB/Edge", "Latency", "Milliseconds", 5.0, 0, [["EdgeLocation"]], "akidb-rest", "SIN52", "m7"),
        ("AkiDB/Edge", "Latency", "Milliseconds", 6.0, 1, [["EdgeLocation"]], "akidb-rest", "SIN52", "m7"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(42, [(42.0, 0)], id="a scalar value is one row at index 0"),
        pytest.param([42], [(42.0, 0)], id="a one-element array is one row at index 0"),
        pytest.param([1, 2.5, -3], [(1.0, 0), (2.5, 1), (-3.0, 2)], id="an array keeps its order in value_index"),
        pytest.param(list(range(100)), [(float(i), i) for i in range(100)], id="an array of exactly 100 values is accepted"),
        pytest.param(-0.001, [(-0.001, 0)], id="a negative fraction is kept exactly"),
    ],
)
def test_emf_scalar_and_array_values(tmp_path, lake, value, expected):
    r = ingest("emf", tmp_path, lake, [emf_event(Latency=value)])
    assert (r.records_stored, r.rows_stored, r.records_quarantined) == (1, len(expected), 0)
    assert query(lake, EMF, "SELECT value, value_index FROM t ORDER BY value_index") == expected


@pytest.mark.parametrize(
    ("metric", "unit", "resolution"),
    [
        pytest.param({"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1}, "Milliseconds", 1,
                     id="StorageResolution 1 (high resolution) is kept"),
        pytest.param({"Name": "Latency", "Unit": "Seconds", "StorageResolution": 60}, "Seconds", 60,
                     id="StorageResolution 60 is kept"),
        pytest.param({"Name": "Latency"}, "None", 60, id="a metric without Unit or StorageResolution defaults to None and 60"),
    ],
)
def test_emf_unit_and_storage_resolution(tmp_path, lake, metric, unit, resolution):
    ev = emf_event()
    ev["_aws"]["CloudWatchMetrics"][0]["Metrics"] = [metric]
    r = ingest("emf", tmp_path, lake, [ev])
    assert r.records_stored == 1
    assert query(lake, EMF, "SELECT DISTINCT unit, storage_resolution FROM t") == [(unit, resolution)]


def _aws(**kw) -> dict:
    aws = emf_event()["_aws"]
    aws.update(kw)
    return aws


def _directive(**kw) -> dict:
    d = emf_event()["_aws"]["CloudWatchMetrics"][0]
    d.update(kw)
    return d


EMF_BAD = [
    pytest.param('{"_aws": {"Timestamp": 1', Reason.INVALID_JSON, id="a line that is not JSON is invalid_json"),
    pytest.param("[1, 2, 3]", Reason.NOT_AN_OBJECT, id="a JSON array line is not_an_object"),
    pytest.param('"just a string"', Reason.NOT_AN_OBJECT, id="a JSON string line is not_an_object"),
    pytest.param(without(emf_event(), "_aws"), Reason.MISSING_AWS, id="an event without _aws is missing_aws_metadata"),
    pytest.param(emf_event(_aws=_aws(Timestamp="1793577660000")), Reason.INVALID_AWS,
                 id="a string _aws.Timestamp is invalid_aws_metadata"),
    pytest.param(emf_event(_aws=without(_aws(), "Timestamp")), Reason.INVALID_AWS,
                 id="an _aws without Timestamp is invalid_aws_metadata"),
    pytest.param(emf_event(_aws=[1]), Reason.INVALID_AWS, id="an _aws that is an array is invalid_aws_metadata"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[])), Reason.INVALID_AWS,
                 id="an empty CloudWatchMetrics is invalid_aws_metadata"),
    pytest.param(emf_event(_aws=_aws(Timestamp=1000)), Reason.OUTSIDE_PARTITION,
                 id="a Timestamp in 1970 is outside_partition"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Namespace="")])), Reason.MISSING_FIELD,
                 id="an empty Namespace is missing_field"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[without(_directive(), "Dimensions")])), Reason.MISSING_FIELD,
                 id="a directive without Dimensions is missing_field"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Unit": "Count"}])])), Reason.MISSING_FIELD,
                 id="a metric without Name is missing_field"),
    pytest.param(without(emf_event(), "EdgeLocation"), Reason.MISSING_DIMENSION,
                 id="a dimension key with no root member is missing_dimension"),
    pytest.param(emf_event(EdgeLocation=57), Reason.WRONG_TYPE, id="a numeric dimension value is wrong_type"),
    pytest.param(emf_event(Latency="12.5"), Reason.WRONG_TYPE, id="a string metric value is wrong_type"),
    pytest.param(emf_event(Latency=[1, "2"]), Reason.WRONG_TYPE, id="an array holding a numeric string is wrong_type"),
    pytest.param(emf_event(Latency=[1, None]), Reason.WRONG_TYPE, id="an array holding null is wrong_type"),
    pytest.param(emf_event(Latency=[1, True]), Reason.WRONG_TYPE, id="an array holding a boolean is wrong_type"),
    pytest.param(emf_event(Latency=True), Reason.WRONG_TYPE, id="a boolean value is wrong_type"),
    pytest.param(emf_event(Latency=[]), Reason.WRONG_TYPE, id="an empty value array is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": "Latency", "StorageResolution": 30}])])),
                 Reason.WRONG_TYPE, id="StorageResolution 30 is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": 5}])]), **{"5": 1.0}),
                 Reason.WRONG_TYPE, id="a numeric metric Name is wrong_type (was read as the text 5)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Namespace={"a": 1})])), Reason.WRONG_TYPE,
                 id="an object Namespace is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": "Latency", "Unit": 7}])])),
                 Reason.WRONG_TYPE, id="a numeric Unit is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": "Latency", "StorageResolution": "1"}])])),
                 Reason.WRONG_TYPE, id="a string StorageResolution is wrong_type (was read as 1)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": "Latency", "StorageResolution": 60.4}])])),
                 Reason.WRONG_TYPE, id="a fractional StorageResolution is wrong_type (was read as 60)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Dimensions=[["Service"], "Model"])])),
                 Reason.WRONG_TYPE, id="a dimension set that is a string is wrong_type (was dropped without a word)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Dimensions=[["Service", 5]])]), **{"5": "x"}),
                 Reason.WRONG_TYPE, id="a numeric dimension name is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[5])), Reason.WRONG_TYPE,
                 id="a directive that is a number is wrong_type (was: Namespace missing)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=["AkiDB/Edge"])), Reason.WRONG_TYPE,
                 id="a directive that is a string is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(), 5])), Reason.WRONG_TYPE,
                 id="a second directive that is a number is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics="Latency")])), Reason.WRONG_TYPE,
                 id="Metrics that is a string is wrong_type (was: Metrics missing)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Dimensions="Service")])), Reason.WRONG_TYPE,
                 id="Dimensions that is a string is wrong_type"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=["Latency"])])), Reason.WRONG_TYPE,
                 id="a metric that is a string is wrong_type (was: a metric without Name)"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": "Latency"}, 5])])),
                 Reason.WRONG_TYPE, id="a second metric that is a number is wrong_type"),
    pytest.param(without(emf_event(), "Latency"), Reason.MISSING_METRIC_VALUE,
                 id="a metric named in the directive but absent from the root is missing_metric_value"),
    pytest.param(json.dumps(emf_event(Latency=[1.0, math.nan])), Reason.NON_FINITE,
                 id="a NaN value is non_finite_value"),
    pytest.param(json.dumps(emf_event(Latency=math.inf)), Reason.NON_FINITE, id="an Infinity value is non_finite_value"),
    pytest.param(json.dumps(emf_event(Latency=[-math.inf])), Reason.NON_FINITE,
                 id="a -Infinity value is non_finite_value"),
    pytest.param(emf_event(Latency=list(range(101))), Reason.TOO_MANY_VALUES, id="an array of 101 values is too_many_values"),
    pytest.param(emf_event(_aws=_aws(CloudWatchMetrics=[_directive(Metrics=[{"Name": f"M{i}"} for i in range(101)])]),
                           **{f"M{i}": 1 for i in range(101)}),
                 Reason.LIMIT_EXCEEDED, id="a directive with 101 metrics is limit_exceeded"),
]


def test_emf_directives_written_with_blanks_and_every_type_right_are_stored(tmp_path, lake):
    """The strict look at the directives must not quarantine a good event however its ``_aws`` is spaced, nor one
    with a null Unit or StorageResolution (absent), nor an ``_aws`` member of its own holding numbers."""
    pretty = json.dumps(emf_event(), indent=2).replace("\n", " ")
    extra = emf_event(_aws=_aws(LogGroupName="g", Sizes=[1, 2], CloudWatchMetrics=[_directive(
        Metrics=[{"Name": "Latency", "Unit": None, "StorageResolution": None}])]))
    r = ingest("emf", tmp_path, lake, [pretty, extra])
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 2, 0)


def _one_of_three_quarantined(r, reason: str) -> None:  # noqa: ANN001
    """Two good records (three rows), one bad one with ``reason``, one blank line: every count exact."""
    assert (r.records_read, r.records_stored, r.rows_stored, r.records_quarantined, r.duplicates_dropped,
            r.blank_lines) == (3, 2, 3, 1, 0, 1)
    assert r.quarantine_by_reason == {reason: 1}


@pytest.mark.parametrize(("bad", "reason"), EMF_BAD)
def test_a_bad_emf_event_is_quarantined_with_its_exact_reason(tmp_path, lake, bad, reason):
    bad_text = bad if isinstance(bad, str) else json.dumps(bad, separators=(",", ":"))
    r = ingest("emf", tmp_path, lake, [emf_event(Latency=7), bad_text, "", emf_event(Latency=[8, 9])])
    _one_of_three_quarantined(r, reason)
    assert query(lake, EMF_Q, "SELECT reason, raw FROM t") == [(reason, bad_text)]
    assert sorted(v for (v,) in query(lake, EMF, "SELECT value FROM t")) == [7.0, 8.0, 9.0]


def test_invalid_utf8_is_quarantined_and_its_raw_keeps_the_bytes_visible(tmp_path, lake):
    bad = json.dumps(emf_event(Service="caf__")).encode().replace(b"caf__", b"caf\xe9\xff")
    r = ingest("emf", tmp_path, lake, [emf_event(), bad, emf_event(Latency=1)])
    assert (r.records_read, r.records_stored, r.records_quarantined) == (3, 2, 1)
    assert r.quarantine_by_reason == {Reason.INVALID_UTF8: 1}
    [(reason, line, raw)] = query(lake, EMF_Q, "SELECT reason, line, raw FROM t")
    assert (reason, line) == (Reason.INVALID_UTF8, 2)
    assert raw == bad.decode("utf-8", "backslashreplace")
    assert raw.startswith('{"_aws":') and "caf\\xe9\\xff" in raw


def test_invalid_utf8_on_the_first_line_keeps_the_whole_line(tmp_path, lake):
    r = ingest("emf", tmp_path, lake, [b'{"a":"\xff"}'])
    assert r.quarantine_by_reason == {Reason.INVALID_UTF8: 1}
    assert query(lake, EMF_Q, "SELECT raw FROM t") == [('{"a":"\\xff"}',)]


def test_a_line_over_one_mebibyte_is_line_too_long_and_the_next_line_still_parses(tmp_path, lake):
    huge = json.dumps(emf_event(Padding="x" * (1024 * 1024)))
    r = ingest("emf", tmp_path, lake, [huge, emf_event()])
    assert (r.records_read, r.records_stored, r.rows_stored, r.records_quarantined) == (2, 1, 3, 1)
    assert r.quarantine_by_reason == {Reason.LINE_TOO_LONG: 1}
    assert query(lake, EMF_Q, "SELECT reason, line FROM t") == [(Reason.LINE_TOO_LONG, 1)]


def test_max_record_bytes_lowers_the_line_limit(tmp_path, lake):
    long_line = json.dumps(emf_event(Padding="y" * 2000))
    short_line = json.dumps(emf_event())
    assert len(short_line) < 1000 < len(long_line)
    r = ingest("emf", tmp_path, lake, [short_line, long_line], max_record_bytes=1000)
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 1, 1)
    assert r.quarantine_by_reason == {Reason.LINE_TOO_LONG: 1}


def test_blank_lines_are_counted_but_are_not_records(tmp_path, lake):
    r = ingest("emf", tmp_path, lake, ["", emf_event(), "", "", emf_event(Latency=1), ""])
    assert (r.records_read, r.records_stored, r.records_quarantined, r.blank_lines) == (2, 2, 0, 4)


def test_an_emf_file_of_only_bad_events_stores_nothing(tmp_path, lake):
    r = ingest("emf", tmp_path, lake, ["nope", "[]", without(emf_event(), "_aws")])
    assert (r.records_read, r.records_stored, r.rows_stored) == (3, 0, 0)
    assert r.quarantine_by_reason == {Reason.INVALID_JSON: 1, Reason.NOT_AN_OBJECT: 1, Reason.MISSING_AWS: 1}
    assert lake.list_files(EMF) == []


# -- X-Ray -------------------------------------------------------------------------------------------------------

XRAY = RAW_TABLES["xray"]
XRAY_Q = QUARANTINE_TABLES["xray"]


def hid(n: int) -> str:
    return f"{n:016x}"


def segment(n: int = 1, **kw) -> dict:
    s = {"trace_id": TRACE, "id": hid(n), "name": "akidb-rest", "start_time": EVENT_S, "end_time": EVENT_S + 0.5}
    s.update(kw)
    return s


def sub(n: int, name: str, start: float, end: float, *children: dict, **kw) -> dict:
    s = {"id": hid(n), "name": name, "start_time": EVENT_S + start, "end_time": EVENT_S + end}
    if children:
        s["subsegments"] = list(children)
    s.update(kw)
    return s


NESTED = segment(
    0xA1, name="d111.cloudfront.net", origin="AWS::CloudFront::Distribution",
    annotations={"edge_location": "NRT57", "model": "rec-v3", "instance_lifecycle": "spot"},
    http={"request": {"method": "POST", "url": "https://api.example/v1/search"}, "response": {"status": 200}},
    subsegments=[
        sub(0xB1, "lambda-edge", 0.0, 0.4,
            sub(0xC1, "alb", 0.1, 0.3,
                sub(0xD1, "akidb-rest", 0.15, 0.25, http={"response": {"status": 503}}, fault=True)),
            sub(0xC2, "cache", 0.1, 0.12)),
        sub(0xB2, "logger", 0.4, 0.45),
    ],
)


def test_a_four_level_document_flattens_to_one_row_per_node_with_parent_root_and_depth(tmp_path, lake):
    r = ingest("xray", tmp_path, lake, [NESTED])
    assert (r.records_read, r.records_stored, r.rows_stored, r.records_quarantined) == (1, 1, 6, 0)
    rows = query(lake, XRAY, """SELECT id, parent_id, segment_id, kind, depth, name, tier, trace_id
                                FROM t ORDER BY depth, id""")
    root = hid(0xA1)
    assert rows == [
        (root, None, root, "segment", 0, "d111.cloudfront.net", "cloudfront", TRACE),
        (hid(0xB1), root, root, "subsegment", 1, "lambda-edge", "cloudfront", TRACE),
        (hid(0xB2), root, root, "subsegment", 1, "logger", "cloudfront", TRACE),
        (hid(0xC1), hid(0xB1), root, "subsegment", 2, "alb", "cloudfront", TRACE),
        (hid(0xC2), hid(0xB1), root, "subsegment", 2, "cache", "cloudfront", TRACE),
        (hid(0xD1), hid(0xC1), root, "subsegment", 3, "akidb-rest", "cloudfront", TRACE),
    ]


def _chain(levels: int) -> dict:
    """A segment whose subsegments nest ``levels`` deep, one per level."""
    node: dict | None = None
    for n in range(levels, 0, -1):
        node = sub(0x100 + n, f"s{n}", 0.0, 0.1, *([node] if node else []))
    return segment(0xA2, subsegments=[node])


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1])
def test_a_document_is_stored_whole_to_the_depth_limit_and_quarantined_past_it_never_cut(tmp_path, lake, levels):
    r = ingest("xray", tmp_path, lake, [_chain(levels), segment(0xA3)])
    assert_conserved(r)
    if levels <= MAX_DEPTH:
        assert (r.records_stored, r.rows_stored, r.records_quarantined) == (2, levels + 2, 0)
        assert query(lake, XRAY, "SELECT max(depth) FROM t") == [(levels,)]
    else:
        assert (r.records_stored, r.rows_stored, r.quarantine_by_reason) == (1, 1, {Reason.LIMIT_EXCEEDED: 1})
        assert query(lake, XRAY_Q, "SELECT detail FROM t") == [(f"subsegments nested deeper than {MAX_DEPTH} levels",)]


@pytest.mark.parametrize(("flag", "value"), [("fault", "yes"), ("error", [1]), ("throttle", 2.5), ("fault", {}),
                                             ("in_progress", "true")])
def test_a_flag_that_is_not_true_or_false_is_wrong_type_not_read_leniently(tmp_path, lake, flag, value):
    """DuckDB's lenient cast reads "yes" and 2.5 as true and [1] or {} as absent: a fault not counted, silently."""
    deep = sub(0xB7, "hnsw", 0.1, 0.2, **{flag: value})
    r = ingest("xray", tmp_path, lake, [segment(0xA5, **{flag: value}), segment(0xA6, subsegments=[deep]),
                                         segment(0xA7, fault=True, error=False, throttle=False, in_progress=False)])
    assert (r.records_stored, r.quarantine_by_reason) == (1, {Reason.WRONG_TYPE: 2})
    assert query(lake, XRAY_Q, "SELECT detail FROM t ORDER BY detail") == [
        (f"{flag} is not true or false at depth 0",), (f"{flag} is not true or false at depth 1",)]
    assert query(lake, XRAY, "SELECT fault, error, throttle, in_progress FROM t") == [(True, False, False, False)]


def test_xray_columns_carry_http_annotations_times_and_flags(tmp_path, lake):
    ingest("xray", tmp_path, lake, [NESTED])
    rows = query(lake, XRAY, """SELECT id, start_time, end_time, round(duration_ms, 3), in_progress, http_method,
                                       http_url, http_status, fault, error, edge_location, model, instance_lifecycle
                                FROM t WHERE id IN ('00000000000000a1', '00000000000000d1') ORDER BY id""")
    assert rows == [
        (hid(0xA1), at(EVENT_S), at(EVENT_S + 0.5), 500.0, False, "POST", "https://api.example/v1/search", 200,
         False, False, "NRT57", "rec-v3", "spot"),
        (hid(0xD1), at(EVENT_S + 0.15), at(EVENT_S + 0.25), 100.0, False, None, None, 503,
         True, False, None, None, None),
    ]


def test_a_tier_annotation_on_the_root_wins_and_is_inherited_by_every_subsegment(tmp_path, lake):
    doc = segment(1, name="edge", origin="AWS::CloudFront::Distribution", annotations={"tier": "lambda-edge"},
                  subsegments=[sub(2, "child", 0, 0.1, sub(3, "grandchild", 0, 0.05))])
    ingest("xray", tmp_path, lake, [doc])
    assert query(lake, XRAY, "SELECT depth, tier FROM t ORDER BY depth") == [
        (0, "lambda-edge"), (1, "lambda-edge"), (2, "lambda-edge")]


@pytest.mark.parametrize(
    ("origin", "tier"),
    [
        pytest.param("AWS::CloudFront::Distribution", "cloudfront", id="a CloudFront origin is the cloudfront tier"),
        pytest.param("AWS::Lambda::Function", "lambda-edge", id="a Lambda origin is the lambda-edge tier"),
        pytest.param("AWS::ElasticLoadBalancing::LoadBalancer", "alb", id="an ELB origin is the alb tier"),
        pytest.param(None, "my-service", id="without origin or annotation the tier is the root name"),
    ],
)
def test_the_tier_comes_from_the_root_origin(tmp_path, lake, origin, tier):
    doc = segment(1, name="my-service", subsegments=[sub(2, "child", 0, 0.1)])
    if origin:
        doc["origin"] = origin
    ingest("xray", tmp_path, lake, [doc])
    assert query(lake, XRAY, "SELECT DISTINCT tier FROM t") == [(tier,)]


def test_an_independent_subsegment_document_without_its_parent_in_the_batch_stays_a_subsegment(tmp_path, lake):
    doc = {"type": "subsegment", "trace_id": TRACE, "id": hid(9), "parent_id": hid(1), "name": "DynamoDB",
           "namespace": "aws", "start_time": EVENT_S, "end_time": EVENT_S + 0.25,
           "subsegments": [sub(10, "GetItem", 0.01, 0.2)]}
    r = ingest("xray", tmp_path, lake, [doc])
    assert (r.records_stored, r.rows_stored) == (1, 2)
    # Never depth 0 (golden signals count depth-0 rows as requests of a tier): no segment id, no tier.
    assert query(lake, XRAY, "SELECT id, parent_id, segment_id, kind, depth, namespace, tier, round(duration_ms, 3) "
                             "FROM t ORDER BY depth") == [
        (hid(9), hid(1), None, "subsegment", 1, "aws", None, 250.0),
        (hid(10), hid(9), None, "subsegment", 2, None, None, 190.0),
    ]


def test_streamed_subsegment_documents_attach_to_their_parents_in_any_order(tmp_path, lake):
    """What the X-Ray SDK sends past its streaming threshold: the segment, then each subsegment as its own document
    naming its parent; a chain of them (a subsegment under a streamed subsegment) included."""
    seg = segment(1, name="akidb-rest", annotations={"tier": "akidb-rest"}, subsegments=[sub(2, "local", 0, 0.1)])
    streamed = {"type": "subsegment", "trace_id": TRACE, "id": hid(9), "parent_id": hid(2), "name": "hnsw_index",
                "start_time": EVENT_S, "end_time": EVENT_S + 0.05, "subsegments": [sub(10, "distance", 0.01, 0.02)]}
    deeper = {"type": "subsegment", "trace_id": TRACE, "id": hid(11), "parent_id": hid(10), "name": "sqlite",
              "start_time": EVENT_S + 0.01, "end_time": EVENT_S + 0.015, "fault": True}
    r = ingest("xray", tmp_path, lake, [deeper, streamed, seg])
    assert (r.records_stored, r.rows_stored, r.records_quarantined) == (3, 5, 0)
    assert query(lake, XRAY, "SELECT id, parent_id, segment_id, kind, depth, tier FROM t ORDER BY depth, id") == [
        (hid(1), None, hid(1), "segment", 0, "akidb-rest"),
        (hid(2), hid(1), hid(1), "subsegment", 1, "akidb-rest"),
        (hid(9), hid(2), hid(1), "subsegment", 2, "akidb-rest"),
        (hid(10), hid(9), hid(1), "subsegment", 3, "akidb-rest"),
        (hid(11), hid(10), hid(1), "subsegment", 4, "akidb-rest"),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(segment(7, in_progress=True, end_time=None), id="an in_progress segment with end_time null"),
        pytest.param(without(segment(7, in_progress=True), "end_time"), id="an in_progress segment without end_time"),
    ],
)
def test_an_in_progress_segment_is_stored_with_null_end_and_duration(tmp_path, lake, doc):
    r = ingest("xray", tmp_path, lake, [doc])
    assert (r.records_stored, r.records_quarantined) == (1, 0)
    assert query(lake, XRAY, "SELECT id, start_time, end_time, duration_ms, in_progress FROM t") == [
        (hid(7), at(EVENT_S), None, None, True)]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(["in_progress", "finished", "finished"], id="the in-progress copy comes first"),
        pytest.param(["finished", "in_progress", "finished"], id="the in-progress copy comes between"),
        pytest.param(["finished", "finished", "in_progress"], id="the in-progress copy comes last"),
    ],
)
def test_duplicate_documents_are_dropped_and_counted_keeping_the_finished_copy(tmp_path, lake, order):
    copies = {
        "in_progress": without(segment(7, in_progress=True), "end_time"),
        "finished": segment(7, end_time=EVENT_S + 2.0, subsegments=[sub(8, "child", 0, 1)]),
    }
    r = ingest("xray", tmp_path, lake, [copies[o] for o in order] + [segment(99)])
    assert (r.records_read, r.records_stored, r.duplicates_dropped, r.records_quarantined) == (4, 2, 2, 0)
    assert r.rows_stored == 3
    assert query(lake, XRAY, "SELECT id, depth, in_progress, round(duration_ms, 3) FROM t ORDER BY id") == [
        (hid(7), 0, False, 2000.0), (hid(8), 1, False, 1000.0), (hid(99), 0, False, 500.0)]


def test_the_same_segment_id_in_two_traces_is_not_a_duplicate(tmp_path, lake):
    other = "1-6906a000-ffffffffffffffffffffffff"
    r = ingest("xray", tmp_path, lake, [segment(7), segment(7, trace_id=other)])
    assert (r.records_stored, r.duplicates_dropped) == (2, 0)


XRAY_BAD = [
    pytest.param('{"trace_id": "1-', Reason.INVALID_JSON, id="a line that is not JSON is invalid_json"),
    pytest.param("[1, 2]", Reason.NOT_AN_OBJECT, id="a JSON array line is not_an_object"),
    pytest.param("42", Reason.NOT_AN_OBJECT, id="a JSON number line is not_an_object"),
    pytest.param(segment(1, trace_id="1-xyz-123"), Reason.INVALID_ID, id="a malformed trace_id is invalid_id"),
    pytest.param(segment(1, trace_id="2-6906a000-0123456789abcdef01234567"), Reason.INVALID_ID,
                 id="a trace_id of version 2 is invalid_id"),
    pytest.param(without(segment(1), "trace_id"), Reason.MISSING_FIELD, id="a segment without trace_id is missing_field"),
    pytest.param(segment(1, id="0" * 15), Reason.INVALID_ID, id="a 15-hex-digit id is invalid_id"),
    pytest.param(segment(1, id="ABCDEF0123456789"), Reason.INVALID_ID, id="an upper-case hex id is invalid_id"),
    pytest.param(without(segment(1), "id"), Reason.MISSING_FIELD, id="a segment without id is missing_field"),
    pytest.param(segment(1, end_time=EVENT_S - 1), Reason.NEGATIVE_DURATION,
                 id="end_time before start_time is negative_duration"),
    pytest.param(segment(1, http={"response": {"status": 700}}), Reason.INVALID_STATUS,
                 id="http status 700 is invalid_status"),
    pytest.param(segment(1, http={"response": {"status": 99}}), Reason.INVALID_STATUS,
                 id="http status 99 is invalid_status"),
    pytest.param(segment(1, http={"response": {"status": "abc"}}), Reason.INVALID_STATUS,
                 id="http status abc is invalid_status"),
    pytest.param(segment(1, http={"response": {"status": "200"}}), Reason.INVALID_STATUS,
                 id="http status given as the string 200 is invalid_status"),
    pytest.param(segment(1, http={"response": {"status": 200.5}}), Reason.INVALID_STATUS,
                 id="a fractional http status is invalid_status"),
    pytest.param(segment(1, http={"response": {"status": 18446744073709551615}}), Reason.INVALID_STATUS,
                 id="an http status beyond BIGINT is invalid_status"),
    pytest.param(without(segment(1), "name"), Reason.MISSING_FIELD, id="a segment without name is missing_field"),
    pytest.param(segment(1, name=""), Reason.MISSING_FIELD, id="an empty name is missing_field"),
    pytest.param(without(segment(1), "start_time"), Reason.MISSING_FIELD, id="a segment without start_time is missing_field"),
    pytest.param(segment(1, start_time="yesterday"), Reason.WRONG_TYPE,
                 id="a string start_time is wrong_type (present, of the wrong type: not missing)"),
    pytest.param(without(segment(1), "end_time"), Reason.MISSING_FIELD,
                 id="a finished segment without end_time is missing_field"),
    pytest.param({"type": "subsegment", **segment(1)}, Reason.MISSING_FIELD,
                 id="an independent subsegment without parent_id is missing_field"),
    pytest.param(segment(1, subsegments=[5]), Reason.WRONG_TYPE, id="a subsegment that is a number is wrong_type"),
    pytest.param(segment(1, subsegments=["child"]), Reason.WRONG_TYPE, id="a subsegment that is a string is wrong_type"),
    pytest.param(segment(1, subsegments=sub(2, "child", 0, 0.1)), Reason.WRONG_TYPE,
                 id="subsegments that is one object, not an array, is wrong_type (was read as none: the child lost)"),
    pytest.param(segment(1, subsegments=[sub(2, "c", 0, 0.2, subsegments="x")]), Reason.WRONG_TYPE,
                 id="subsegments that is a string at depth one is wrong_type"),
    pytest.param('{"subsegments" :\t{}, ' + json.dumps(segment(1))[1:], Reason.WRONG_TYPE,
                 id="subsegments {} with blanks around the colon is wrong_type"),
    pytest.param(segment(1, name={"a": 1}), Reason.WRONG_TYPE, id="an object name is wrong_type (was its JSON text)"),
    pytest.param(segment(1, subsegments=[{**sub(2, "c", 0, 0.1), "name": 7}]), Reason.WRONG_TYPE,
                 id="a numeric name at depth one is wrong_type"),
    pytest.param(segment(1, start_time=str(EVENT_S)), Reason.WRONG_TYPE,
                 id="a start_time written as a string of digits is wrong_type (was read as the number)"),
    pytest.param(segment(1, http={"response": "500"}), Reason.WRONG_TYPE,
                 id="an http.response that is a string is wrong_type (was no status)"),
    pytest.param(segment(1, annotations="tier=alb"), Reason.WRONG_TYPE,
                 id="annotations that are a string are wrong_type (were none)"),
    pytest.param(segment(1, annotations={"tier": {"a": 1}}), Reason.WRONG_TYPE,
                 id="an annotation value that is an object is wrong_type"),
    pytest.param(segment(1, origin=5), Reason.WRONG_TYPE, id="a numeric origin is wrong_type"),
    pytest.param(segment(1, subsegments=[{**sub(2, "c", 0, 0.1), "id": 1234567890123456}]), Reason.WRONG_TYPE,
                 id="a numeric id of 16 digits is wrong_type (its text passed as hex)"),
    pytest.param(json.dumps(segment(1, start_time=math.nan)), Reason.NON_FINITE, id="a NaN start_time is non_finite_value"),
    pytest.param(json.dumps(segment(1, end_time=math.inf)), Reason.NON_FINITE, id="an Infinity end_time is non_finite_value"),
    pytest.param(segment(1, start_time=1000.0, end_time=1000.5), Reason.OUTSIDE_PARTITION,
                 id="a start_time in 1970 is outside_partition"),
    pytest.param(segment(1, subsegments=[sub(2, "ok", 0, 0.2, sub(3, "deep", 0, 0.1, id="nothex"))]), Reason.INVALID_ID,
                 id="a bad id at depth two quarantines the whole document"),
    pytest.param(segment(1, subsegments=[sub(2, "ok", 0, 0.2, sub(3, "deep", 0.1, 0.0))]), Reason.NEGATIVE_DURATION,
                 id="a negative duration at depth two quarantines the whole document"),
    pytest.param(segment(1, subsegments=[sub(2, "", 0, 0.2)]), Reason.MISSING_FIELD,
                 id="a subsegment without name quarantines the whole document"),
]


@pytest.mark.parametrize(("bad", "reason"), XRAY_BAD)
def test_a_bad_xray_document_is_quarantined_with_its_exact_reason(tmp_path, lake, bad, reason):
    bad_text = bad if isinstance(bad, str) else json.dumps(bad, separators=(",", ":"))
    r = ingest("xray", tmp_path, lake, [segment(1), bad_text, "", segment(2, subsegments=[sub(3, "c", 0, 0.1)])])
    _one_of_three_quarantined(r, reason)
    assert query(lake, XRAY_Q, "SELECT reason, raw FROM t") == [(reason, bad_text)]
    assert query(lake, XRAY, "SELECT id FROM t ORDER BY id") == [(hid(1),), (hid(2),), (hid(3),)]


def test_a_metadata_key_named_subsegments_is_no_reason_to_quarantine(tmp_path, lake):
    """Only a node's own members are checked by type (``subsegments`` an array, ``name`` a string, ...); keys of
    those names inside ``metadata`` are data, and annotations may be numbers and booleans."""
    docs = [segment(1, metadata={"default": {"subsegments": {"n": 3}, "name": 5, "http": "x"}},
                    annotations={"tier": "akidb-rest", "shard": 3, "warm": True}, subsegments=[sub(2, "c", 0, 0.1)]),
            segment(4, subsegments=None)]
    r = ingest("xray", tmp_path, lake, docs)
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 2, 0)
    assert query(lake, XRAY, "SELECT id FROM t ORDER BY id") == [(hid(1),), (hid(2),), (hid(4),)]


def test_the_shallowest_failing_node_names_the_document_reason(tmp_path, lake):
    doc = segment(1, http={"response": {"status": 700}},
                  subsegments=[sub(2, "c", 0, 0.1, id="bad")])
    r = ingest("xray", tmp_path, lake, [doc])
    assert r.quarantine_by_reason == {Reason.INVALID_STATUS: 1}
    assert query(lake, XRAY_Q, "SELECT detail FROM t") == [("http.response.status 700 is not an HTTP status",)]


def test_a_bad_copy_of_a_good_document_is_quarantined_not_counted_as_duplicate(tmp_path, lake):
    r = ingest("xray", tmp_path, lake, [segment(1), segment(1, end_time=EVENT_S - 5)])
    assert (r.records_stored, r.records_quarantined, r.duplicates_dropped) == (1, 1, 0)
    assert r.quarantine_by_reason == {Reason.NEGATIVE_DURATION: 1}


def test_nesting_twenty_levels_deep_is_fully_flattened(tmp_path, lake):
    node = sub(100, "leaf", 0, 0.01)
    for n in range(99, 80, -1):
        node = sub(n, f"level-{n}", 0, 0.1, node)
    r = ingest("xray", tmp_path, lake, [segment(1, subsegments=[node])])
    assert (r.records_stored, r.rows_stored) == (1, 21)
    rows = query(lake, XRAY, "SELECT depth, id, parent_id FROM t ORDER BY depth")
    assert [d for d, _, _ in rows] == list(range(21))
    assert all(rows[i][2] == rows[i - 1][1] for i in range(1, 21))
    assert rows[-1][1] == hid(100)


# -- Prometheus --------------------------------------------------------------------------------------------------

PROM = RAW_TABLES["prom"]
PROM_Q = QUARANTINE_TABLES["prom"]


def prom_rows(lake: Lake) -> list[tuple]:
    return query(lake, PROM, "SELECT metric, value, ts, service, labels FROM t ORDER BY rec_id")


def test_openmetrics_timestamps_are_seconds_and_classic_timestamps_are_milliseconds(tmp_path, lake):
    om = ["# HELP req_total Requests.", "# TYPE req_total counter",
          f'req_total{{service="akidb-rest"}} 5 {EVENT_S}', f"up 1 {EVENT_S}.25", "# EOF"]
    r = ingest("prom", tmp_path, lake, om, name="a.om")
    assert (r.records_read, r.records_stored, r.records_quarantined, r.blank_lines) == (2, 2, 0, 0)
    classic = [f'req_total{{service="akidb-rest"}} 6 {EVENT_MS + 1000}', f"up 0 {EVENT_MS + 1250}"]
    r = ingest("prom", tmp_path, lake, classic, name="b.prom")
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 2, 0)
    ts = T0 + timedelta(minutes=1)
    assert sorted(query(lake, PROM, "SELECT metric, value, ts FROM t")) == [
        ("req_total", 5.0, ts), ("req_total", 6.0, ts + timedelta(seconds=1)),
        ("up", 0.0, ts + timedelta(seconds=1.25)), ("up", 1.0, ts + timedelta(seconds=0.25)),
    ]


def test_a_seconds_timestamp_in_a_classic_file_reads_as_milliseconds_in_1970(tmp_path, lake):
    r = ingest("prom", tmp_path, lake, [f"up 1 {EVENT_S}"])
    assert r.quarantine_by_reason == {Reason.OUTSIDE_PARTITION: 1}
    assert query(lake, PROM_Q, "SELECT record_ts FROM t") == [(at(EVENT_S / 1000),)]


@pytest.mark.parametrize("ts", [f"{EVENT_MS}.5", f"{EVENT_MS / 1000}e3", f"{EVENT_MS:_}"])
def test_a_classic_timestamp_is_integer_milliseconds_or_wrong_type(tmp_path, lake, ts):
    """Prometheus reads the classic format's timestamp as an int64 (ParseInt); OpenMetrics' are seconds, floats."""
    r = ingest("prom", tmp_path, lake, [f"up 1 {EVENT_MS}", f"up 1 {ts}"])
    assert (r.records_stored, r.quarantine_by_reason) == (1, {Reason.WRONG_TYPE: 1})
    assert query(lake, PROM_Q, "SELECT detail FROM t") == [(f"timestamp {ts!r} is not an integer of milliseconds",)]


def test_prometheus_labels_with_escapes_le_inf_and_exemplars(tmp_path, lake):
    lines = [
        "# TYPE req_total counter",
        f'req_total{{service="akidb-rest",path="/a \\"quoted\\" b",note="back\\\\slash\\nnext"}} 5 {EVENT_S}',
        f'lat_bucket{{service="akidb-rest",le="+Inf"}} 7 {EVENT_S}',
        f'lat_bucket{{service="akidb-rest",le="0.5"}} 3 {EVENT_S} # {{trace_id="abc123"}} 0.31 {EVENT_S}',
        f'brace{{path="/x}}y"}} 1 {EVENT_S}',
        f"nolabels 2.5e3 {EVENT_S}",
        "# EOF",
    ]
    r = ingest("prom", tmp_path, lake, lines, name="m.om")
    assert (r.records_read, r.records_stored, r.records_quarantined) == (5, 5, 0)
    ts = T0 + timedelta(minutes=1)
    assert prom_rows(lake) == [
        ("req_total", 5.0, ts, "akidb-rest",
         {"service": "akidb-rest", "path": '/a "quoted" b', "note": "back\\slash\nnext"}),
        ("lat_bucket", 7.0, ts, "akidb-rest", {"service": "akidb-rest", "le": "+Inf"}),
        ("lat_bucket", 3.0, ts, "akidb-rest", {"service": "akidb-rest", "le": "0.5"}),
        ("brace", 1.0, ts, None, {"path": "/x}y"}),
        ("nolabels", 2500.0, ts, None, {}),
    ]


PROM_BAD = [
    pytest.param(f'{{service="x"}} 1 {EVENT_S}', Reason.INVALID_SAMPLE, id="a sample without a metric name is invalid_sample"),
    pytest.param(f'req{{service="x" 1 {EVENT_S}', Reason.INVALID_SAMPLE, id="an unclosed label set is invalid_sample"),
    pytest.param(f"req{{service=x}} 1 {EVENT_S}", Reason.INVALID_SAMPLE, id="an unquoted label value is invalid_sample"),
    pytest.param(f'req{{a="1",a="2"}} 1 {EVENT_S}', Reason.INVALID_SAMPLE, id="a repeated label name is invalid_sample"),
    pytest.param(f"req 1 {EVENT_S} trailing", Reason.INVALID_SAMPLE, id="a fourth field is invalid_sample"),
    pytest.param("9req 1 1", Reason.INVALID_SAMPLE, id="a name starting with a digit is invalid_sample"),
    pytest.param("req_only", Reason.INVALID_SAMPLE, id="a name without a value is invalid_sample"),
    pytest.param(f'req{{service="x"}} abc {EVENT_S}', Reason.WRONG_TYPE, id="the value abc is wrong_type"),
    pytest.param('req{service="x"} 1 soon', Reason.WRONG_TYPE, id="a non-numeric timestamp is wrong_type"),
    pytest.param(f'req{{service="x"}} 1_0 {EVENT_S}', Reason.WRONG_TYPE,
                 id="a value with a digit separator is wrong_type (Python reads it, Prometheus does not)"),
    pytest.param('req{service="x"} 1', Reason.MISSING_FIELD, id="a sample without timestamp is missing_field"),
    pytest.param(f'req{{service="x"}} NaN {EVENT_S}', Reason.NON_FINITE, id="a NaN value is non_finite_value"),
    pytest.param(f'req{{service="x"}} +Inf {EVENT_S}', Reason.NON_FINITE, id="a +Inf value is non_finite_value"),
    pytest.param('req{service="x"} 1 +Inf', Reason.NON_FINITE, id="an infinite timestamp is non_finite_value"),
    pytest.param(f'req{{service="x"}} 1 {EVENT_S * 10}', Reason.OUTSIDE_PARTITION,
                 id="a timestamp centuries ahead is outside_partition"),
]


@pytest.mark.parametrize(("bad", "reason"), PROM_BAD)
def test_a_bad_prometheus_line_is_quarantined_with_its_exact_reason(tmp_path, lake, bad, reason):
    lines = ["# TYPE req counter", f'req{{service="ok"}} 1 {EVENT_S}', bad, "", f'req{{service="ok"}} 2 {EVENT_S + 15}',
             "# EOF"]
    r = ingest("prom", tmp_path, lake, lines, name="m.om")
    assert (r.records_read, r.records_stored, r.records_quarantined, r.duplicates_dropped) == (3, 2, 1, 0)
    assert r.blank_lines == 1
    assert r.quarantine_by_reason == {reason: 1}
    assert query(lake, PROM_Q, "SELECT reason, line, raw FROM t") == [(reason, 3, bad)]
    assert query(lake, PROM, "SELECT value FROM t ORDER BY value") == [(1.0,), (2.0,)]


def test_a_repeated_series_and_timestamp_keeps_the_first_value_a_copy_is_a_duplicate_another_value_quarantined(
        tmp_path, lake):
    lines = [
        f'req{{service="a",code="200"}} 1 {EVENT_S}',
        f'req{{service="a",code="200"}} 1.0 {EVENT_S}',    # same series, same time, same value: a re-delivery
        f'req{{code="200",service="a"}} 1 {EVENT_S}',      # the same, labels in another order
        f'req{{service="a",code="200"}} 99 {EVENT_S}',     # same series, same time, another value: a conflict
        f'req{{service="a",code="500"}} 2 {EVENT_S}',      # another series
        f'req{{service="a",code="200"}} 3 {EVENT_S + 15}',  # same series, later
        "# EOF",
    ]
    r = ingest("prom", tmp_path, lake, lines, name="m.om")
    assert (r.records_read, r.records_stored, r.duplicates_dropped, r.records_quarantined) == (6, 3, 2, 1)
    assert query(lake, PROM, "SELECT labels['code'], value FROM t ORDER BY value") == [
        ("200", 1.0), ("500", 2.0), ("200", 3.0)]
    assert query(lake, PROM_Q, "SELECT reason, line, detail FROM t") == [
        (Reason.INVALID_SAMPLE, 4, "the series already has value 1.0 at this timestamp (first kept)")]


def test_an_openmetrics_file_with_millisecond_timestamps_says_so_in_the_quarantine(tmp_path, lake):
    ms = EVENT_S * 1000
    r = ingest("prom", tmp_path, lake, [f'up{{service="a"}} 1 {ms}', f'up{{service="a"}} 1 {EVENT_S * 10}', "# EOF"],
               name="m.om")
    assert r.quarantine_by_reason == {Reason.OUTSIDE_PARTITION: 2}
    assert query(lake, PROM_Q, "SELECT detail FROM t ORDER BY line") == [
        (f"timestamp {ms} (OpenMetrics timestamps are seconds: this looks like milliseconds)",),
        (f"timestamp {EVENT_S * 10}",)]


def test_a_prometheus_file_with_windows_line_endings_parses(tmp_path, lake):
    p = tmp_path / "crlf.om"
    p.write_bytes(f'up{{service="a"}} 1 {EVENT_S}\r\nup{{service="b"}} 0 {EVENT_S}\r\n# EOF\r\n'.encode())
    r = ingest_files("prom", [str(p)], lake)
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 2, 0)


def test_invalid_utf8_in_a_prometheus_file_is_quarantined(tmp_path, lake):
    r = ingest("prom", tmp_path, lake, [f'up{{service="a"}} 1 {EVENT_S}', b'up{service="caf\xe9"} 1 ' + str(EVENT_S).encode(),
                                        "# EOF"], name="m.om")
    assert (r.records_read, r.records_stored) == (2, 1)
    assert r.quarantine_by_reason == {Reason.INVALID_UTF8: 1}
    assert query(lake, PROM_Q, "SELECT raw FROM t") == [(f'up{{service="caf\\xe9"}} 1 {EVENT_S}',)]


def test_blank_lines_in_a_prometheus_file_are_counted_exactly(tmp_path, lake):
    r = ingest("prom", tmp_path, lake, ["", f"up 1 {EVENT_S}", "", "", "# EOF"], name="m.om")
    assert (r.records_read, r.records_stored, r.blank_lines) == (1, 1, 3)
