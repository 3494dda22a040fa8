"""Where raw telemetry comes from: the landing zone (files, the synthetic default) or the live AWS/Prometheus APIs.

Each source turns a list of hour partitions into local files plus the partition each file belongs to, which is
what ``ingest_files`` needs. The same ingest code then runs whatever the source. The Prometheus queries pulled
from a live server are configuration (``config/prometheus_queries.yaml``, :func:`load_queries`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from akidb_pipelines.clients import aws as aws_client
from akidb_pipelines.clients.prometheus import PromQuery, fetch_to_openmetrics
from akidb_pipelines.config import shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, load_yaml
from akidb_pipelines.landing import download, list_partition
from akidb_pipelines.storage.lake import PartitionKey

DEFAULT_QUERIES = shipped_config("prometheus_queries.yaml")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class PrometheusQueriesError(ConfigError):
    pass


def load_queries(path: str | Path | None = None) -> tuple[list[PromQuery], int]:
    """The PromQL queries to pull and their step (``config/prometheus_queries.yaml``); every key is checked (an
    unknown one is refused) and PrometheusQueriesError names the file and the field."""
    p = Path(path) if path else DEFAULT_QUERIES
    doc = Fields(load_yaml(p, PrometheusQueriesError) or {}, str(p), PrometheusQueriesError,
                 ("step_seconds", "queries"), top=True)
    out = []
    for i, item in enumerate(doc.list("queries", non_empty=True)):
        q = Fields(item, f"{p}: queries[{i}]", PrometheusQueriesError, ("name", "expr"))
        name = q.str("name")
        if not METRIC_NAME.match(name) or name in {x.name for x in out}:
            raise PrometheusQueriesError(f"{q.at('name')}: expected a unique Prometheus metric name, got {name!r}")
        out.append(PromQuery(name, q.str("expr")))
    return out, doc.int("step_seconds", 60, minimum=1)


@dataclass
class LandingZone:
    """Files under ``<landing>/<kind>/date=/hour=/``."""

    landing: str
    batch: str = "landing"

    def fetch(self, kind: str, keys: list[PartitionKey], workdir: Path) -> dict[str, PartitionKey]:
        listed = [(f, k) for k in keys for f in list_partition(self.landing, kind, k)]
        local = download([f for f, _ in listed], workdir)
        return {local[f.path]: k for f, k in listed}


@dataclass
class AwsApis:
    """X-Ray and CloudWatch Logs through boto3; Prometheus over HTTP when a URL is configured."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    log_groups: list[str] = field(default_factory=lambda: ["/aws/lambda/us-east-1.akidb-edge-router", "/akidb/rest"])
    prometheus_url: str | None = None
    queries_file: str | None = None
    credentials: dict[str, str | None] = field(default_factory=dict)
    batch: str = "api"

    def fetch(self, kind: str, keys: list[PartitionKey], workdir: Path) -> dict[str, PartitionKey]:
        out: dict[str, PartitionKey] = {}
        if kind == "otlp":  # OTLP traces arrive as files (a Collector's file exporter), there is no API to poll
            return out
        for k in keys:
            p = workdir / f"{kind}-{k.start:%Y%m%dT%H}.{'om' if kind == 'prom' else 'ndjson'}"
            if kind == "xray":
                aws_client.fetch_xray_documents(self._client("xray"), k.start, k.end, p)
            elif kind == "emf":
                logs = self._client("logs")
                groups = [g for g in self.log_groups if _group_exists(logs, g)]
                aws_client.fetch_log_events(logs, groups, k.start, k.end, p)
            elif kind == "prom":
                if not self.prometheus_url:
                    continue
                queries, step = load_queries(self.queries_file)
                fetch_to_openmetrics(self.prometheus_url, queries, k.start, k.end, step, p)
            out[str(p)] = k
        return out

    def _client(self, service: str):  # noqa: ANN202
        return aws_client.client(service, self.region, self.endpoint_url, **self.credentials)


def _group_exists(logs, group: str) -> bool:  # noqa: ANN001
    resp = logs.describe_log_groups(logGroupNamePrefix=group)
    return any(g["logGroupName"] == group for g in resp.get("logGroups", []))
