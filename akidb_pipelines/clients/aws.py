"""Pull raw telemetry from AWS into NDJSON files the ingest stage reads: X-Ray documents and EMF log events.

X-Ray: GetTraceSummaries (paginated, 6-hour windows at most) then BatchGetTraces in groups of 5 ids; every segment
``Document`` becomes one line. CloudWatch Logs: FilterLogEvents (paginated) over the configured log groups; every
message becomes one line. Throttling is retried by botocore's adaptive retry mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

RETRY = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
XRAY_MAX_WINDOW = timedelta(hours=6)


def client(service: str, region: str, endpoint_url: str | None = None, **creds: Any):  # noqa: ANN201
    kw = {k: v for k, v in creds.items() if v}
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url or None, config=RETRY, **kw)


def xray_trace_ids(xray, start: datetime, end: datetime) -> Iterator[str]:  # noqa: ANN001 - boto3 client
    t = start
    while t < end:
        t1 = min(end, t + XRAY_MAX_WINDOW)
        for page in xray.get_paginator("get_trace_summaries").paginate(StartTime=t, EndTime=t1, TimeRangeType="TraceId"):
            for s in page.get("TraceSummaries", []):
                if s.get("Id"):
                    yield s["Id"]
        t = t1


def fetch_xray_documents(xray, start: datetime, end: datetime, out: Path) -> int:  # noqa: ANN001
    """Write every segment document of traces in [start, end) to ``out``; returns documents written."""
    ids = list(dict.fromkeys(xray_trace_ids(xray, start, end)))
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for i in range(0, len(ids), 5):
            token = None
            while True:
                kw = {"TraceIds": ids[i:i + 5]}
                if token:
                    kw["NextToken"] = token
                resp = xray.batch_get_traces(**kw)
                for trace in resp.get("Traces", []):
                    for seg in trace.get("Segments", []):
                        doc = seg.get("Document")
                        if doc is not None:
                            fh.write(doc.replace("\n", " ") + "\n")
                            n += 1
                token = resp.get("NextToken")
                if not token:
                    break
    return n


def fetch_log_events(logs, groups: list[str], start: datetime, end: datetime, out: Path) -> int:  # noqa: ANN001
    """Write the message of every log event in [start, end) of ``groups`` to ``out``; returns events written."""
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for group in groups:
            pag = logs.get_paginator("filter_log_events")
            for page in pag.paginate(logGroupName=group, startTime=int(start.timestamp() * 1000),
                                     endTime=int(end.timestamp() * 1000) - 1):
                for ev in page.get("events", []):
                    fh.write(ev["message"].replace("\n", " ") + "\n")
                    n += 1
    return n


def put_emf_events(logs, group: str, stream: str, lines: list[str]) -> None:  # noqa: ANN001
    """Ship EMF lines as log events (chronological, in batches of 10,000), creating the group and stream."""
    for call, kw in ((logs.create_log_group, {"logGroupName": group}),
                     (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream})):
        try:
            call(**kw)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
    events = sorted(({"timestamp": json.loads(x)["_aws"]["Timestamp"], "message": x} for x in lines),
                    key=lambda e: e["timestamp"])
    for i in range(0, len(events), 10_000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[i:i + 10_000])
