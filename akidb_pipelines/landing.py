"""The landing zone: raw files laid out by source and hour, ``<landing>/<kind>/date=YYYY-MM-DD/hour=HH/*``.

Kinds: ``xray`` (segment documents), ``otlp`` (OpenTelemetry Collector ``file`` exporter output, OTLP/JSON; it
feeds the same spans table as ``xray``), ``emf`` and ``prom``.

This is how the synthetic generator writes and how production delivery (Firehose/S3 exports, log shippers) is
expected to arrive. Listing a partition gives the files to ingest and their signature, which the micro-batch
sensor compares with its cursor to decide what changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from akidb_pipelines.config import s3_endpoint
from akidb_pipelines.storage.lake import PartitionKey

SUFFIXES = {
    "xray": (".ndjson", ".json", ".ndjson.gz", ".json.gz", ".jsonl", ".jsonl.gz"),
    "otlp": (".ndjson", ".json", ".ndjson.gz", ".json.gz", ".jsonl", ".jsonl.gz"),
    "emf": (".ndjson", ".json", ".log", ".ndjson.gz", ".json.gz", ".log.gz", ".jsonl", ".jsonl.gz"),
    "prom": (".om", ".prom", ".txt", ".om.gz", ".prom.gz", ".txt.gz"),
}


@dataclass(frozen=True)
class LandedFile:
    path: str
    size: int
    mtime_ns: int


def partition_dir(landing: str | Path, kind: str, key: PartitionKey) -> Path:
    return Path(landing) / kind / key.path


def _s3_split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def _s3_client():  # noqa: ANN202
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint())


def list_partition(landing: str | Path, kind: str, key: PartitionKey) -> list[LandedFile]:
    """Files of one hour, local or under an ``s3://bucket/prefix`` landing zone (size and ETag-derived signature)."""
    if str(landing).startswith("s3://"):
        bucket, prefix = _s3_split(str(landing))
        base = "/".join(p for p in (prefix, kind, key.path) if p) + "/"
        out = []
        for page in _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for o in page.get("Contents", []):
                name = o["Key"].rsplit("/", 1)[-1]
                if name.endswith(SUFFIXES[kind]) and not name.startswith("."):
                    out.append(LandedFile(f"s3://{bucket}/{o['Key']}", o["Size"],
                                          int(o["LastModified"].timestamp() * 1e9)))
        return sorted(out, key=lambda f: f.path)
    d = partition_dir(landing, kind, key)
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.iterdir()):
        if f.is_file() and f.name.endswith(SUFFIXES[kind]) and not f.name.startswith("."):
            st = f.stat()
            out.append(LandedFile(str(f), st.st_size, st.st_mtime_ns))
    return out


def signature(files: list[LandedFile]) -> str:
    """Changes when a file is added, removed, rewritten or grows."""
    h = hashlib.sha1()
    for f in files:
        h.update(f"{os.path.basename(f.path)}:{f.size}:{f.mtime_ns};".encode())
    return h.hexdigest()[:16] if files else ""


def download(files: list[LandedFile], workdir: Path) -> dict[str, str]:
    """Local copies of S3 files (local files map to themselves): original path -> local path."""
    out, client = {}, None
    for i, f in enumerate(files):
        if not f.path.startswith("s3://"):
            out[f.path] = f.path
            continue
        client = client or _s3_client()
        bucket, key = _s3_split(f.path)
        local = workdir / f"{i:05d}-{key.rsplit('/', 1)[-1]}"
        client.download_file(bucket, key, str(local))
        out[f.path] = str(local)
    return out



def line_time(kind: str, line: str, last: float) -> float:
    """Event time of a landing line in epoch seconds (a line that does not parse keeps the time of the one before,
    so a corrupt line stays where the collector wrote it)."""
    import json

    try:
        if kind == "prom":
            return float(line.rsplit(" ", 1)[1]) if line and not line.startswith("#") else last
        doc = json.loads(line)
        return doc["_aws"]["Timestamp"] / 1000 if kind == "emf" else float(doc["start_time"])
    except (ValueError, KeyError, IndexError, TypeError):
        return last


def landing_as_of(path: str | Path, kind: str, upto_epoch: float, out: str | Path) -> Path:
    """A landing file of one hour as it stood at ``upto_epoch``: the lines whose event time is earlier (OpenMetrics
    comment lines kept), written uncompressed to ``out``. What a collector appending minute by minute had
    delivered by then; replays and the detection-cycle benchmark use it. ``xray``, ``emf`` and ``prom`` only."""
    import gzip

    if kind not in ("xray", "emf", "prom"):
        raise ValueError(f"landing_as_of: {kind!r} is not supported (xray, emf, prom)")
    p = Path(path)
    with (gzip.open(p, "rt", encoding="utf-8") if p.suffix == ".gz" else open(p, encoding="utf-8")) as fh:
        lines = fh.read().splitlines()
    keep, last = [], 0.0
    for line in lines:
        last = line_time(kind, line, last)
        if (kind == "prom" and line.startswith("#")) or last < upto_epoch:
            keep.append(line)
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(keep) + "\n" if keep else "", encoding="utf-8")
    return dest
