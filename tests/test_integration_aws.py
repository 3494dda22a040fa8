"""The AWS source and an S3 lake against moto in server mode, over real HTTP on 127.0.0.1.

What is compared: ingesting what the APIs hand back must store the same rows as ingesting the files the same
telemetry was shipped from. See /work/shared/RECIPES.md section 1 for moto's quirks these tests work around.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest

from akidb_pipelines.clients.aws import put_emf_events
from akidb_pipelines.ingest import batch_files, ingest_files, read_batch, verify_batch
from akidb_pipelines.storage import Catalog, Lake
from akidb_pipelines.storage.lake import PartitionKey
from akidb_pipelines.synthetic import generate
from akidb_pipelines.telemetry.fetch import AwsApis

pytestmark = pytest.mark.integration

XRAY_TABLE = "raw/xray_spans"
EMF_TABLE = "raw/emf_metrics"
# Columns that legitimately differ between two ingests of the same records (which file, which line, which batch).
BOOKKEEPING = ["rec_id", "source", "ingest_batch"]


@pytest.fixture()
def utc_tz():
    """moto's X-Ray backend compares naive local datetimes (``datetime.fromtimestamp``): make local time UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def _client(service: str, endpoint: str):  # noqa: ANN202
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _hour_file(files: list[Path], key: PartitionKey) -> Path:
    (f,) = [p for p in files if key.path in p.as_posix()]
    return f


def _rows(lake: Lake, table: str, batch: str, key: PartitionKey) -> pd.DataFrame:
    df = read_batch(lake, table, batch, [key])
    return df.drop(columns=[c for c in BOOKKEEPING if c in df.columns])


def _canonical(df: pd.DataFrame, sort_by: list[str]) -> pd.DataFrame:
    """Rows in a fixed order with comparable cells (maps/lists/dicts as JSON text)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: v if v is None or isinstance(v, (str, int, float, bool))
                                else json.dumps(_plain(v), sort_keys=True, default=str))
    return out.sort_values(sort_by, kind="stable").reset_index(drop=True)[sorted(out.columns)]


def _plain(v):  # noqa: ANN001, ANN202
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# ---------------------------------------------------------------------------------------------------------------
# X-Ray
# ---------------------------------------------------------------------------------------------------------------


def test_xray_api_ingest_matches_file_ingest(aws_env: str, utc_tz: None, short_dataset, tmp_path: Path) -> None:
    xray = _client("xray", aws_env)
    # Ship all three hours, so the fetch of the middle hour has neighbours on both sides to leave out.
    sent = 0
    for f in short_dataset.files["xray"]:
        docs = [line for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        for i in range(0, len(docs), 50):
            resp = xray.put_trace_segments(TraceSegmentDocuments=docs[i:i + 50])
            assert resp["UnprocessedTraceSegments"] == [], resp["UnprocessedTraceSegments"][:3]
        sent += len(docs)
    assert sent > 1000

    key = PartitionKey(datetime(2026, 11, 2, 1, tzinfo=timezone.utc))
    hour_file = _hour_file(short_dataset.files["xray"], key)

    file_lake, api_lake = Lake(tmp_path / "file-lake"), Lake(tmp_path / "api-lake")
    rep_file = ingest_files("xray", [str(hour_file)], file_lake, batch="file", partition_of=key)

    src = AwsApis(endpoint_url=aws_env, credentials={"aws_access_key_id": "testing",
                                                       "aws_secret_access_key": "testing"})
    work = tmp_path / "work"
    work.mkdir()
    fetched = src.fetch("xray", [key], work)
    assert list(fetched.values()) == [key]
    rep_api = ingest_files("xray", list(fetched), api_lake, batch=src.batch, partition_of=fetched)

    for rep in (rep_file, rep_api):
        assert rep.conserved and rep.records_quarantined == 0 and rep.duplicates_dropped == 0, rep.to_dict()

    f_rows = _rows(file_lake, XRAY_TABLE, "file", key)
    a_rows = _rows(api_lake, XRAY_TABLE, src.batch, key)
    f_traces, a_traces = set(f_rows["trace_id"]), set(a_rows["trace_id"])

    # moto's GetTraceSummaries keeps a trace only when StartTime < (start of its earliest segment) and
    # (end of its latest-starting segment) < EndTime, and it never reports a trace by its trace-id time as
    # TimeRangeType=TraceId asks. A trace that starts in the last seconds of the hour and ends after it is in the
    # hour's file (the file is cut by trace start) but not in the API answer. So: the API may only drop traces that
    # cross the end of the hour; every trace lying wholly inside the hour must come back with exactly its spans.
    ends = f_rows.groupby("trace_id")["end_time"].max()
    hour_end = pd.Timestamp(key.end)
    inside = set(ends[ends < hour_end].index)
    crossing = f_traces - inside
    assert a_traces <= f_traces, "the API returned traces that are not in the hour's file"
    assert inside <= a_traces, f"traces inside the hour missing from the API: {sorted(inside - a_traces)[:5]}"
    assert a_traces - inside <= crossing
    assert len(crossing) <= 5, f"unexpectedly many traces cross the hour end: {len(crossing)}"
    assert len(inside) > 150

    f_in = f_rows[f_rows["trace_id"].isin(inside)]
    a_in = a_rows[a_rows["trace_id"].isin(inside)]
    assert len(a_in) == len(f_in)
    assert set(zip(a_in["trace_id"], a_in["id"])) == set(zip(f_in["trace_id"], f_in["id"]))
    # The documents round-trip byte for byte, so every parsed column agrees, not only the keys.
    pd.testing.assert_frame_equal(_canonical(a_in, ["trace_id", "id"]), _canonical(f_in, ["trace_id", "id"]),
                                  check_dtype=False)
    # Traces the API did return that cross the boundary come back whole as well.
    a_cross = a_rows[~a_rows["trace_id"].isin(inside)]
    f_cross = f_rows[f_rows["trace_id"].isin(set(a_cross["trace_id"]))]
    assert set(zip(a_cross["trace_id"], a_cross["id"])) == set(zip(f_cross["trace_id"], f_cross["id"]))


def test_xray_fetch_empty_hour_writes_empty_file(aws_env: str, utc_tz: None, tmp_path: Path) -> None:
    key = PartitionKey(datetime(2026, 11, 2, 5, tzinfo=timezone.utc))
    fetched = AwsApis(endpoint_url=aws_env).fetch("xray", [key], tmp_path)
    (p,) = fetched
    assert Path(p).read_text() == ""
    rep = ingest_files("xray", [p], Lake(tmp_path / "lake"), batch="api", partition_of=fetched)
    assert rep.records_read == 0 and rep.conserved


# ---------------------------------------------------------------------------------------------------------------
# CloudWatch Logs (EMF)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recent_emf(tmp_path_factory: pytest.TempPathFactory):
    """Three hours of EMF ending in the current hour: moto drops log events older than 14 days silently."""
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    out = tmp_path_factory.mktemp("recent-emf")
    return generate(out, start, 3 / 24, seed=11, sources=("emf",)), start


def test_emf_api_ingest_matches_file_ingest(aws_env: str, recent_emf, tmp_path: Path) -> None:
    gen, start = recent_emf
    logs = _client("logs", aws_env)
    group, stream = "/akidb/rest", "integration-test"
    for f in gen.files["emf"]:
        put_emf_events(logs, group, stream, [x for x in f.read_text(encoding="utf-8").splitlines() if x.strip()])
    # Nothing was dropped (moto drops too-old or far-future events without an error).
    stored = sum(len(p["events"]) for p in logs.get_paginator("filter_log_events").paginate(logGroupName=group))
    assert stored == sum(len(f.read_text().splitlines()) for f in gen.files["emf"])

    key = PartitionKey(start + timedelta(hours=1))  # the middle hour: events on both sides must be left out
    hour_file = _hour_file(gen.files["emf"], key)
    file_lake, api_lake = Lake(tmp_path / "file-lake"), Lake(tmp_path / "api-lake")
    rep_file = ingest_files("emf", [str(hour_file)], file_lake, batch="file", partition_of=key)

    src = AwsApis(endpoint_url=aws_env, log_groups=[group, "/does/not/exist"])
    fetched = src.fetch("emf", [key], tmp_path)
    rep_api = ingest_files("emf", list(fetched), api_lake, batch=src.batch, partition_of=fetched)

    assert rep_api.records_read == rep_file.records_read == len(hour_file.read_text().splitlines())
    assert rep_api.records_stored == rep_file.records_stored and rep_api.rows_stored == rep_file.rows_stored
    assert rep_api.records_quarantined == rep_file.records_quarantined == 0
    sort = ["ts", "namespace", "metric_name", "dimensions", "value_index"]
    f_rows = _canonical(_rows(file_lake, EMF_TABLE, "file", key), sort)
    a_rows = _canonical(_rows(api_lake, EMF_TABLE, src.batch, key), sort)
    assert len(f_rows) == rep_file.rows_stored > 0
    assert f_rows["ts"].min() >= pd.Timestamp(key.start) and f_rows["ts"].max() < pd.Timestamp(key.end)
    pd.testing.assert_frame_equal(a_rows, f_rows, check_dtype=False)


# ---------------------------------------------------------------------------------------------------------------
# S3 as the lake root
# ---------------------------------------------------------------------------------------------------------------


def test_s3_lake_ingest_catalog_and_verify(aws_env: str, short_dataset, tmp_path: Path) -> None:
    s3 = _client("s3", aws_env)
    s3.create_bucket(Bucket="akidb-lake")
    lake = Lake("s3://akidb-lake/prod/lake", s3_endpoint=aws_env)
    assert lake.is_s3 and lake.root == "s3://akidb-lake/prod/lake"
    catalog = Catalog(tmp_path / "akidb.duckdb", lake)
    key = PartitionKey(datetime(2026, 11, 2, 1, tzinfo=timezone.utc))
    src_file = str(_hour_file(short_dataset.files["xray"], key))

    def keys() -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="akidb-lake", Prefix="prod/lake/")
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    rep = ingest_files("xray", [src_file], lake, batch="landing", partition_of=key, catalog=catalog)
    assert rep.conserved and rep.records_stored > 0
    first = keys()
    part = f"prod/lake/{XRAY_TABLE}/date=2026-11-02/hour=01/"
    raw_keys = [k for k in first if k.startswith(part)]
    assert raw_keys and all(k[len(part):].startswith("landing-") and k.endswith(".parquet") for k in raw_keys)
    assert all(k.startswith("prod/lake/raw/") or k.startswith("prod/lake/quarantine/") for k in first)
    assert lake.batch_files(XRAY_TABLE, key, "landing") == [f"s3://akidb-lake/{k}" for k in raw_keys]

    # Re-running the batch replaces its own files: a new version (commit record + data files) of the same shape,
    # nothing of the old one left, same rows.
    rep2 = ingest_files("xray", [src_file], lake, batch="landing", partition_of=key, catalog=catalog)
    second = keys()
    shape = lambda ks: sorted(re.sub(r"landing-[0-9a-f]+", "landing-V", k) for k in ks)  # noqa: E731
    assert shape(second) == shape(first) and not set(first) & set(second)
    assert any("/_commits/landing-" in k for k in second)
    raw_keys = [k for k in second if k.startswith(part)]
    assert rep2.records_stored == rep.records_stored and rep2.rows_stored == rep.rows_stored

    # The catalog's views read the Parquet straight from S3 (DuckDB httpfs against moto).
    df = catalog.query("SELECT count(*) AS n, count(DISTINCT trace_id) AS traces, min(date) AS d, min(hour) AS h "
                       "FROM raw.xray_spans")
    assert int(df["n"][0]) == rep.rows_stored
    assert int(df["traces"][0]) == len(set(read_batch(lake, XRAY_TABLE, "landing", [key])["trace_id"]))
    assert str(df["d"][0])[:10] == "2026-11-02" and int(df["h"][0]) == 1

    v = verify_batch(lake, rep2, [key])
    assert v.conserved and v.missing_columns == [] and v.records_in_lake == rep2.records_stored
    assert batch_files(lake, XRAY_TABLE, "landing", [key]) == lake.batch_files(XRAY_TABLE, key, "landing")

    # A second source in the same partition does not disturb the first batch's objects.
    ingest_files("xray", [src_file], lake, batch="other", partition_of=key)
    assert set(second) < set(keys())
    assert lake.batch_files(XRAY_TABLE, key, "landing") == [f"s3://akidb-lake/{k}" for k in raw_keys]


# ---------------------------------------------------------------------------------------------------------------
# Throttling is retried (the client's adaptive retry config is really applied)
# ---------------------------------------------------------------------------------------------------------------


def test_xray_fetch_retries_throttling(tmp_path: Path) -> None:
    """A local endpoint answers X-Ray's ThrottledException twice, then an empty page: the fetch still succeeds."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.path)
            if len(calls) <= 2:
                body, status, headers = b'{"message":"Rate exceeded"}', 429, {"x-amzn-ErrorType": "ThrottledException"}
            else:
                body, status, headers = b'{"TraceSummaries":[],"ApproximateTime":0}', 200, {}
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:  # noqa: ANN002
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        key = PartitionKey(datetime(2026, 11, 2, 1, tzinfo=timezone.utc))
        src = AwsApis(endpoint_url=f"http://127.0.0.1:{srv.server_address[1]}",
                      credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
        t0 = time.monotonic()
        fetched = src.fetch("xray", [key], tmp_path)
        assert time.monotonic() - t0 < 30
    finally:
        srv.shutdown()
        srv.server_close()
    assert calls == ["/TraceSummaries"] * 3
    (p,) = fetched
    assert Path(p).read_text() == ""


def test_ingest_asset_reads_a_landing_zone_in_s3(aws_env: str, short_dataset, tmp_path: Path) -> None:
    """AKIDB_LANDING=s3://...: the asset lists the hour's objects, downloads them and stores what the files hold."""
    import dagster as dg

    from assets.ingest import ingest_assets
    from assets.resources import LakeResource, LandingZoneSource

    s3 = _client("s3", aws_env)
    s3.create_bucket(Bucket="akidb-landing")
    landing = short_dataset.out_dir / "landing"
    for f in landing.rglob("*"):
        if f.is_file():
            s3.upload_file(str(f), "akidb-landing", f"delivery/{f.relative_to(landing).as_posix()}")
    res = dg.materialize(
        ingest_assets,
        resources={"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "a.duckdb")),
                   "telemetry": LandingZoneSource(landing="s3://akidb-landing/delivery")},
        partition_key="2026-11-02-01:00", instance=dg.DagsterInstance.ephemeral(),
    )
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    key = PartitionKey.parse("2026-11-02T01")
    for kind, table in (("xray", XRAY_TABLE), ("emf", EMF_TABLE)):
        direct = Lake(tmp_path / f"direct-{kind}")
        ingest_files(kind, [str(_hour_file(short_dataset.files[kind], key))], direct, batch="file", partition_of=key)
        got, want = _rows(Lake(tmp_path / "lake"), table, "landing", key), _rows(direct, table, "file", key)
        sort = ["trace_id", "id"] if kind == "xray" else ["ts", "namespace", "metric_name", "dimensions", "value_index"]
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(_canonical(got, sort), _canonical(want, sort), check_dtype=False)
