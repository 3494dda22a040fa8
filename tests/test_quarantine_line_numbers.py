"""Every quarantine row of a line-oriented input names its line in its own file (blank lines counted), whichever
stage refused it: the line reader (UTF-8), the strict-JSON check, the format's parser, or the partition check. An
operator looking for the bad event in a million-line file needs the line, not only the file."""

from __future__ import annotations

import json

from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.storage import PartitionKey
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, Reason
from tests.test_otlp import TID, request, resource, span
from tests.test_parsers import EVENT_MS, T0, assert_conserved, emf_event, query, segment, without, write_lines

LINES = "SELECT source, line, reason FROM t ORDER BY source, line"


def test_emf_quarantine_rows_name_their_line_in_their_own_file(tmp_path, lake):
    a = write_lines(tmp_path / "a.ndjson", [emf_event(), "", without(emf_event(), "_aws"), emf_event(Latency=2.0)])
    b = write_lines(tmp_path / "b.ndjson", ['{"a":1,}', b"\xff\xfe", emf_event(Latency=3.0), emf_event(Latency="x")])
    r = ingest_files("emf", [str(a), str(b)], lake)
    assert_conserved(r)
    assert query(lake, QUARANTINE_TABLES["emf"], LINES) == [
        (str(a), 3, Reason.MISSING_AWS), (str(b), 1, Reason.INVALID_JSON), (str(b), 2, Reason.INVALID_UTF8),
        (str(b), 4, Reason.WRONG_TYPE)]


def test_the_same_file_twice_numbers_each_copy_from_one(tmp_path, lake):
    a = write_lines(tmp_path / "a.ndjson", [emf_event(), without(emf_event(), "_aws")])
    r = ingest_files("emf", [str(a), str(a)], lake)
    assert_conserved(r)
    assert query(lake, QUARANTINE_TABLES["emf"], LINES) == [(str(a), 2, Reason.MISSING_AWS)] * 2


def test_an_emf_event_outside_its_files_partition_names_its_line(tmp_path, lake):
    late = emf_event()
    late["_aws"] = dict(late["_aws"], Timestamp=EVENT_MS + 3 * 3_600_000)
    a = write_lines(tmp_path / "a.ndjson", [emf_event(), "", late])
    r = ingest_files("emf", [str(a)], lake, partition_of=PartitionKey(T0))
    assert_conserved(r)
    assert query(lake, QUARANTINE_TABLES["emf"], LINES) == [(str(a), 3, Reason.OUTSIDE_PARTITION)]


def test_xray_quarantine_rows_name_their_line(tmp_path, lake):
    a = write_lines(tmp_path / "x.ndjson", [segment(1), segment(2, end_time="soon"), "[1]", segment(3)])
    r = ingest_files("xray", [str(a)], lake)
    assert_conserved(r)
    assert query(lake, QUARANTINE_TABLES["xray"], LINES) == [
        (str(a), 2, Reason.WRONG_TYPE), (str(a), 3, Reason.NOT_AN_OBJECT)]


def test_otlp_quarantine_rows_name_the_line_of_their_request(tmp_path, lake):
    good = request(resource("akidb-rest", span(1, "a", kind=2)))
    bad_span = request(resource("akidb-rest", span(2, "b", kind=2), dict(span(3, "c", kind=2), spanId="xyz")))
    late = request(resource("akidb-rest", span(4, "d", 4 * 3600.0, 4 * 3600.0 + 0.1, kind=2, trace=TID)))
    a = write_lines(tmp_path / "o.ndjson", [json.dumps(good), '{"resourceSpans": 5}', bad_span, late])
    r = ingest_files("otlp", [str(a)], lake, partition_of=PartitionKey(T0))
    assert_conserved(r)
    assert query(lake, QUARANTINE_TABLES["otlp"], LINES) == [
        (str(a), 2, Reason.WRONG_TYPE), (str(a), 3, Reason.INVALID_ID), (str(a), 4, Reason.OUTSIDE_PARTITION)]
