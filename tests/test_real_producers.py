"""The ingest fed by what the official producer libraries emit, not by our own generator (issue 13).

A format detail that our synthetic generator and our parsers share cannot hide here: X-Ray segment documents from
``aws-xray-sdk`` captured at a UDP "daemon" on 127.0.0.1, EMF lines from ``aws-embedded-metrics``'s Local
environment, OTLP/JSON from the OpenTelemetry SDK's file exporter, and ``prometheus-client`` metrics scraped by the
real Prometheus and pulled through the range-query source. The libraries are pinned in the ``dev`` extra.

Both trace producers play the same scenario (tests/producers/scenario.py); the rows are compared with what the
scenario implies, so the X-Ray and OTLP mappings are held to the same answer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import requests

from akidb_pipelines.ingest import IngestReport, ingest_files, read_batch
from akidb_pipelines.storage import Lake
from akidb_pipelines.storage.lake import PartitionKey, hour_partitions
from akidb_pipelines.telemetry.fetch import AwsApis

from .conftest import require_binary
from .producers import otel_sdk, xray_sdk
from .producers.scenario import TRACES, expected_rows, stored_rows

PRODUCERS = Path(__file__).parent / "producers"


def _stored(lake: Lake, rep: IngestReport) -> pd.DataFrame:
    keys = [PartitionKey.parse(p.replace("date=", "").replace("/hour=", "T")) for p in rep.partitions]
    return read_batch(lake, rep.table, rep.batch, keys)


def _clean(rep: IngestReport, records: int) -> None:
    assert rep.conserved, rep.to_dict()
    assert (rep.records_read, rep.records_quarantined, rep.duplicates_dropped) == (records, 0, 0), rep.to_dict()


def _epoch(ts: pd.Timestamp) -> float:
    return ts.timestamp()


def _check_times(df: pd.DataFrame, truth: dict[str, tuple[float, float]]) -> None:
    """Start, end and duration of every row equal the producer's (``truth``: id -> (start s, end s)), and every
    child lies within its parent."""
    assert set(df["id"]) == set(truth)
    by_id = {r.id: r for r in df.itertuples()}
    for r in df.itertuples():
        s, e = truth[r.id]
        assert _epoch(r.start_time) == pytest.approx(s, abs=1e-6), r.name
        assert _epoch(r.end_time) == pytest.approx(e, abs=1e-6), r.name
        assert r.duration_ms == pytest.approx((e - s) * 1000, abs=1e-3), r.name
        assert not r.in_progress
        p = by_id.get(r.parent_id) if isinstance(r.parent_id, str) else None
        if p is not None:
            assert p.start_time <= r.start_time and r.end_time <= p.end_time, (p.name, r.name)
    slow = df[df["name"] == "hnsw.distance"]
    assert len(slow) == 1 and slow["duration_ms"].iloc[0] >= 5.0  # the SDK timed the 5 ms of work it wrapped


# --- X-Ray: aws-xray-sdk -> UDP daemon -> NDJSON landing file ---------------------------------------------------------


@pytest.fixture()
def xray_daemon(monkeypatch: pytest.MonkeyPatch):
    daemon = xray_sdk.UdpDaemon()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)  # what the SDK reads (it overrides the argument)
    yield daemon
    daemon.close()


def _flatten(doc: dict, out: dict[str, tuple[float, float]]) -> None:
    out[doc["id"]] = (doc["start_time"], doc["end_time"])
    for s in doc.get("subsegments") or []:
        _flatten(s, out)


@pytest.mark.integration
@pytest.mark.parametrize("streaming_threshold", [
    30,  # the SDK's default: one document per segment, subsegments nested
    0,  # every subsegment its own document (as on AWS Lambda)
], ids=["nested-subsegments", "streamed-subsegments"])
def test_xray_sdk_segment_documents(xray_daemon: xray_sdk.UdpDaemon, lake: Lake, tmp_path: Path,
                                    streaming_threshold: int) -> None:
    rec = xray_sdk.recorder(xray_daemon.address, streaming_threshold)
    trace_ids = xray_sdk.emit(rec, TRACES)
    expected = expected_rows(TRACES, local_namespace="local")
    segments = sum(r.kind == "segment" for r in expected)
    docs = xray_daemon.documents(segments if streaming_threshold else len(expected))
    parsed = [json.loads(d) for d in docs]
    assert {d["trace_id"] for d in parsed} == set(trace_ids)
    assert sum(d.get("type") == "subsegment" for d in parsed) == len(docs) - segments

    # The landing format: one segment document per line, as the daemon received it.
    path = tmp_path / "xray-sdk.ndjson"
    path.write_text("".join(d + "\n" for d in docs))
    rep = ingest_files("xray", [str(path)], lake, batch="xray-sdk")
    _clean(rep, len(docs))
    assert rep.rows_stored == len(expected)
    df = _stored(lake, rep)
    assert stored_rows(df, trace_ids) == expected

    truth: dict[str, tuple[float, float]] = {}
    for d in parsed:
        _flatten(d, truth)
    _check_times(df, truth)


# --- OTLP/JSON: OpenTelemetry SDK -> opentelemetry-exporter-otlp-json-file ------------------------------------------

def test_opentelemetry_sdk_otlp_json(lake: Lake, tmp_path: Path) -> None:
    services = otel_sdk.OtelServices(tmp_path)
    try:
        trace_ids = otel_sdk.emit(services, TRACES)
    finally:
        services.shutdown()
    files = services.files()
    assert len(files) == 4  # one per service

    requests_ = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    spans = [sp for req in requests_ for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    expected = expected_rows(TRACES, local_namespace=None)
    assert len(spans) == len(expected)
    # What the exporter writes (the OTLP/JSON encoding): hex ids, nanosecond times as strings, enums as integers.
    assert all(isinstance(sp["startTimeUnixNano"], str) and isinstance(sp["kind"], int) for sp in spans)
    remote = [sp for sp in spans if sp.get("flags", 0) & 0x300 == 0x300]  # parent in another process
    assert len(remote) == sum(r.kind == "segment" and r.parent is not None for r in expected)

    rep = ingest_files("otlp", [str(f) for f in files], lake, batch="otel-sdk")
    _clean(rep, len(spans))
    assert rep.rows_stored == len(expected)
    df = _stored(lake, rep)
    assert stored_rows(df, trace_ids) == expected
    _check_times(df, {sp["spanId"]: (int(sp["startTimeUnixNano"]) / 1e9, int(sp["endTimeUnixNano"]) / 1e9)
                      for sp in spans})


# --- EMF: aws-embedded-metrics, Local environment (stdout) ----------------------------------------------------------

def test_aws_embedded_metrics_local_environment(lake: Lake, tmp_path: Path) -> None:
    ts_ms = (int(time.time()) - 120) * 1000 + 123
    log_group = "/aws/lambda/us-east-1.akidb-edge-router"
    env = {**os.environ, "AWS_EMF_ENVIRONMENT": "Local", "AWS_EMF_SERVICE_NAME": "akidb-edge-router",
           "AWS_EMF_SERVICE_TYPE": "AWS::Lambda::Function", "AWS_EMF_LOG_GROUP_NAME": log_group}
    r = subprocess.run([sys.executable, str(PRODUCERS / "emf_producer.py"), str(ts_ms)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    # 150 values of one metric and 120 metrics are each split in two events by the library
    assert len(lines) == 6 and all("_aws" in json.loads(line) for line in lines)
    path = tmp_path / "emf-local.log"
    path.write_text(r.stdout)

    rep = ingest_files("emf", [str(path)], lake, batch="emf-sdk")
    _clean(rep, 6)
    units = {"Latency": "Milliseconds", "ColdStart": "Count", "RequestsHighRes": "Count", "PayloadBytes": "None",
             "QueueDepth": "Count", "Requests": "Count", "CPUUtilization": "Percent", "Throughput": "Count/Second",
             "Heartbeat": "Count"}
    counts = {"ColdStart": 3, "QueueDepth": 150}
    assert rep.rows_stored == sum(counts.get(m, 1) for m in units) + 120 == 280
    df = _stored(lake, rep)
    assert len(df) == 280

    limits = df[df["namespace"] == "AkiDB/Limits"]
    assert sorted(zip(limits["metric_name"], limits["value"])) == [(f"M{i:03d}", float(i)) for i in range(120)]
    assert sorted(limits.groupby("rec_id").size()) == [20, 100]
    for d in limits["dimensions"]:
        assert json.loads(d) == {f"D{i:02d}": f"v{i}" for i in range(30)}
    df = df[df["namespace"] != "AkiDB/Limits"]
    assert dict(df.groupby("metric_name")["unit"].unique().map(lambda u: tuple(u))) == {
        m: (u,) for m, u in units.items()}
    assert (df["ts"] == pd.Timestamp(ts_ms, unit="ms", tz="UTC")).all()
    assert set(df.loc[df["storage_resolution"] == 1, "metric_name"]) == {"RequestsHighRes"}
    assert set(df["storage_resolution"]) == {1, 60}

    def values(metric: str) -> list[tuple[int, float]]:
        m = df[df["metric_name"] == metric].sort_values(["rec_id", "value_index"])
        return list(zip(m["value_index"], m["value"]))

    assert values("Latency") == [(0, 41.5)]
    assert values("ColdStart") == [(0, 1.0), (1, 0.0), (2, 1.0)]
    assert values("PayloadBytes") == [(0, 2048.0)]
    q = values("QueueDepth")
    assert [v for _, v in q] == [float(i) for i in range(150)]
    assert [i for i, _ in q] == list(range(100)) + list(range(50))  # an index per event
    assert values("Throughput") == [(0, 0.25)]

    edge = df[df["namespace"] == "AkiDB/Edge"]
    assert set(edge["metric_name"]) == {"Latency", "ColdStart", "RequestsHighRes", "PayloadBytes", "QueueDepth"}
    assert (edge["service"] == "lambda-edge").all() and (edge["edge_location"] == "NRT57").all()
    assert (edge["model"] == "hnsw").all()
    for d in edge["dimensions"]:
        assert json.loads(d) == {"LogGroup": log_group, "ServiceName": "akidb-edge-router",
                                 "ServiceType": "AWS::Lambda::Function", "Service": "lambda-edge",
                                 "EdgeLocation": "NRT57", "Model": "hnsw"}
    assert {tuple(map(tuple, json.loads(s))) for s in edge["dimension_sets"]} == {
        (("LogGroup", "ServiceName", "ServiceType", "Service", "EdgeLocation", "Model"),)}

    rest = df[df["metric_name"].isin(["Requests", "CPUUtilization", "Throughput"])]
    assert (rest["namespace"] == "AkiDB/Rest").all() and (rest["service"] == "akidb-rest").all()
    assert (rest["model"] == "lstm").all() and rest["edge_location"].isna().all()
    assert {json.dumps(json.loads(s)) for s in rest["dimension_sets"]} == {'[["Service"], ["Service", "Model"]]'}
    assert {json.dumps(json.loads(d), sort_keys=True) for d in rest["dimensions"]} == {
        '{"Model": "lstm", "Service": "akidb-rest"}'}

    hb = df[df["metric_name"] == "Heartbeat"]
    assert len(hb) == 1 and hb["service"].isna().all()
    assert json.loads(hb["dimensions"].iloc[0]) == {} and json.loads(hb["dimension_sets"].iloc[0]) == []


# --- Prometheus: prometheus-client exposition scraped by the real Prometheus ----------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PATH_LABEL = '/v1/search?q="a b"\\x'  # quotes and a backslash: escaped in the exposition and in our OpenMetrics


@pytest.fixture()
def exporter():
    """``prometheus-client`` serving a counter, a gauge and a histogram on 127.0.0.1; yields (address, expected
    samples: (metric, labels) -> value)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

    reg = CollectorRegistry()
    c = Counter("akidb_requests", "Requests served.", ["service", "status"], registry=reg)
    c.labels("akidb-rest", "200").inc(7)
    c.labels("akidb-rest", "503").inc(2)
    g = Gauge("akidb_inflight_requests", "Requests in flight.", ["service", "path"], registry=reg)
    g.labels("akidb-rest", PATH_LABEL).set(3.5)
    h = Histogram("akidb_request_duration_seconds", "Request latency.", ["service"], buckets=(0.01, 0.1, 1.0),
                  registry=reg)
    for v in (0.005, 0.05, 0.05, 0.5, 2.0):
        h.labels("akidb-rest").observe(v)
    rest = (("service", "akidb-rest"),)
    expected = {
        ("akidb_requests_total", (("service", "akidb-rest"), ("status", "200"))): 7.0,
        ("akidb_requests_total", (("service", "akidb-rest"), ("status", "503"))): 2.0,
        ("akidb_inflight_requests", (("path", PATH_LABEL), ("service", "akidb-rest"))): 3.5,
        **{("akidb_request_duration_seconds_bucket", (("le", le), *rest)): n
           for le, n in (("0.01", 1.0), ("0.1", 3.0), ("1.0", 4.0), ("+Inf", 5.0))},
        ("akidb_request_duration_seconds_count", rest): 5.0,
        ("akidb_request_duration_seconds_sum", rest): 2.605,
    }
    server, thread = start_http_server(0, addr="127.0.0.1", registry=reg)
    try:
        yield f"127.0.0.1:{server.server_port}", expected
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def prometheus_scraping(exporter, tmp_path: Path):
    """The real Prometheus on 127.0.0.1 scraping the exporter every second; yields (URL, start time)."""
    prom_bin = require_binary("prometheus")
    target, _ = exporter
    d = tmp_path / "prometheus"
    d.mkdir()
    cfg = d / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                   f"scrape_configs:\n  - job_name: akidb\n    static_configs:\n      - targets: ['{target}']\n")
    log = open(d / "prometheus.log", "w")  # noqa: SIM115 - closed in the teardown
    started = datetime.now(timezone.utc)
    proc, url = None, None
    try:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            proc = subprocess.Popen(
                [prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, cwd=d)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            if proc.poll() is None:
                break
        if proc is None or proc.poll() is not None:
            pytest.fail(f"prometheus did not start:\n{(d / 'prometheus.log').read_text()[-3000:]}")
        yield url, started
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


@pytest.mark.integration
def test_prometheus_client_scraped_by_prometheus(exporter, prometheus_scraping, lake: Lake, tmp_path: Path) -> None:
    target, expected = exporter
    url, started = prometheus_scraping
    deadline = time.monotonic() + 30
    while True:  # two successful scrapes at least
        res = requests.get(f"{url}/api/v1/query", params={"query": 'sum_over_time(up{job="akidb"}[1m])'},
                           timeout=5).json()["data"]["result"]
        if res and float(res[0]["value"][1]) >= 2:
            break
        assert time.monotonic() < deadline, "Prometheus did not scrape the exporter twice in 30 s"
        time.sleep(0.2)

    # The way the project pulls Prometheus: range queries per hour partition, written as OpenMetrics, ingested.
    names = sorted({m for m, _ in expected})
    queries = tmp_path / "queries.yaml"
    queries.write_text("step_seconds: 1\nqueries:\n" + "".join(f"  - {{name: {n}, expr: '{n}'}}\n" for n in names))
    keys = hour_partitions(started, datetime.now(timezone.utc) + timedelta(seconds=1))
    src = AwsApis(prometheus_url=url, queries_file=str(queries))
    fetched = src.fetch("prom", keys, tmp_path)
    rep = ingest_files("prom", list(fetched), lake, batch=src.batch, partition_of=fetched)
    assert rep.conserved and rep.records_quarantined == 0 and rep.duplicates_dropped == 0, rep.to_dict()
    df = read_batch(lake, rep.table, rep.batch, keys)
    assert len(df) == rep.records_stored > 0

    labels = df["labels"].map(lambda m: dict(m))
    assert (labels.map(lambda d: d.get("job")) == "akidb").all()
    assert (labels.map(lambda d: d.get("instance")) == target).all()
    assert (df["service"] == "akidb-rest").all()
    df["series"] = list(zip(df["metric"], labels.map(
        lambda d: tuple(sorted((k, v) for k, v in d.items() if k not in ("job", "instance"))))))
    assert set(df["series"]) == set(expected)
    for series, g in df.groupby("series"):
        assert (g["value"] == expected[series]).all(), (series, sorted(set(g["value"])))
        # one sample per 1 s step (a scrape missed under load leaves a gap, never a second value)
        ts = g["ts"].sort_values()
        assert len(ts) >= 2 and ts.is_unique and (ts.dt.microsecond == 0).all(), series
