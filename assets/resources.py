"""Resources: the lake (local folder or S3) and the telemetry source (landing zone or AWS APIs).

Each is a thin configurable wrapper over a core object; ``build_resources`` picks the implementations from the
environment in one place. Secrets reach the AWS source only through ``dg.EnvVar``.
"""


from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_aws.utils import ResourceWithBoto3Configuration

from akidb_pipelines.config import DEFAULT_PAGERDUTY_URL, Settings, aws_endpoint, aws_static_credentials, pagerduty_env
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.telemetry.fetch import AwsApis, LandingZone


class LakeResource(dg.ConfigurableResource):
    """Parquet lake root (folder or s3://bucket/prefix) and the DuckDB catalog file serving views over it. A lake on
    S3 reaches S3 through ``s3``, dagster-aws's ``S3Resource`` (region, endpoint, credentials as ``EnvVar``)."""

    lake_root: str
    duckdb_path: str
    s3_endpoint_url: str | None = None
    s3: S3Resource | None = None

    def lake(self) -> Lake:
        return Lake(self.lake_root, s3_endpoint=self.s3_endpoint_url,
                    s3_client=self.s3.get_client if self.s3 is not None else None)

    def catalog(self) -> Catalog:
        return Catalog(self.duckdb_path, self.lake())


class TelemetrySource(dg.ConfigurableResource):
    """Interface: turn hour partitions into local raw files (path -> partition)."""

    def fetch(self, kind: str, keys: list[PartitionKey], workdir: Path) -> dict[str, PartitionKey]:
        raise NotImplementedError

    @property
    def batch(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class LandingZoneSource(TelemetrySource):
    """Raw files under ``<landing>/<kind>/date=YYYY-MM-DD/hour=HH/`` (the synthetic generator writes this layout)."""

    landing: str

    def fetch(self, kind: str, keys: list[PartitionKey], workdir: Path) -> dict[str, PartitionKey]:
        return LandingZone(self.landing).fetch(kind, keys, workdir)

    @property
    def batch(self) -> str:
        return "landing"

    def describe(self) -> str:
        return f"landing zone {self.landing}"


class AwsTelemetrySource(TelemetrySource, ResourceWithBoto3Configuration):
    """Live AWS X-Ray and CloudWatch Logs (boto3, configured like dagster-aws's resources: region, endpoint,
    credentials), plus a Prometheus server when ``prometheus_url`` is set."""

    region_name: str | None = "us-east-1"
    log_group_names: list[str] = ["/aws/lambda/us-east-1.akidb-edge-router", "/akidb/rest"]
    prometheus_url: str | None = None
    prometheus_queries_file: str | None = None

    def fetch(self, kind: str, keys: list[PartitionKey], workdir: Path) -> dict[str, PartitionKey]:
        return AwsApis(
            region=self.region_name, endpoint_url=self.endpoint_url, log_groups=list(self.log_group_names),
            prometheus_url=self.prometheus_url, queries_file=self.prometheus_queries_file,
            credentials={"aws_access_key_id": self.aws_access_key_id,
                         "aws_secret_access_key": self.aws_secret_access_key},
        ).fetch(kind, keys, workdir)

    @property
    def batch(self) -> str:
        return "api"

    def describe(self) -> str:
        return f"AWS APIs in {self.region_name}" + (f" + Prometheus {self.prometheus_url}" if self.prometheus_url else "")


class PagerDutyResource(dg.ConfigurableResource):
    """PagerDuty Events API v2 and the durable outbox in front of it. The routing key comes only from the
    environment (``PAGERDUTY_ROUTING_KEY`` through ``dg.EnvVar``); without one, events wait in the outbox."""

    routing_key: str | None = None
    base_url: str = DEFAULT_PAGERDUTY_URL
    ca_file: str | None = None           # a private CA (the local stand-in's certificate)
    outbox_path: str

    def outbox(self):  # noqa: ANN201
        from akidb_pipelines.alerting.outbox import Outbox

        return Outbox(self.outbox_path)

    def client(self):  # noqa: ANN201 - None when no routing key is configured
        from akidb_pipelines.clients.pagerduty import EventsClient

        return EventsClient(self.routing_key, self.base_url, self.ca_file) if self.routing_key else None


class RunbookResource(ResourceWithBoto3Configuration):
    """The AWS account the runbooks act on (dagster-aws's boto3 configuration: region, endpoint, credentials), and
    their append-only audit log. Credentials come only from the environment (``dg.EnvVar``); without them boto3's
    own chain applies (an instance or task role)."""

    region_name: str | None = "us-east-1"
    audit_path: str

    def actuator(self):  # noqa: ANN201
        from akidb_pipelines.runbooks.actuator import Actuator

        return Actuator(self.region_name, self.endpoint_url, self.aws_access_key_id, self.aws_secret_access_key)

    def audit(self):  # noqa: ANN201
        from akidb_pipelines.runbooks.audit import AuditLog

        return AuditLog(self.audit_path)


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The one place that maps the environment to resource implementations."""
    s = settings or Settings.from_env()
    key_id, secret_key, _ = aws_static_credentials()
    has_keys = bool(key_id and secret_key)
    s3 = S3Resource(region_name=s.aws_region, endpoint_url=s.s3_endpoint_url,
                    aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID") if has_keys else None,
                    aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY") if has_keys else None)
    lake = LakeResource(lake_root=s.lake_root, duckdb_path=str(s.duckdb_path), s3_endpoint_url=s.s3_endpoint_url,
                        s3=s3 if s.lake_root.startswith("s3://") else None)
    if s.source == "aws":
        source: TelemetrySource = AwsTelemetrySource(
            region_name=s.aws_region,
            endpoint_url=s.s3_endpoint_url,
            prometheus_url=s.prometheus_url,
            aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
    else:  # synthetic (the generator fills the landing zone) and files (someone else does) read the same way
        source = LandingZoneSource(landing=s.landing)
    pd_env = pagerduty_env()
    pagerduty = PagerDutyResource(
        routing_key=dg.EnvVar("PAGERDUTY_ROUTING_KEY") if pd_env.routing_key else None,
        base_url=pd_env.base_url,
        ca_file=pd_env.ca_file,
        outbox_path=str(s.home / "pagerduty-outbox.sqlite"),
    )
    runbooks = RunbookResource(
        region_name=s.aws_region or "us-east-1",
        endpoint_url=aws_endpoint() or None,
        aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID") if has_keys else None,
        aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY") if has_keys else None,
        audit_path=str(s.home / "runbook-audit.sqlite"),
    )
    return {"lake": lake, "telemetry": source, "pagerduty": pagerduty, "runbooks": runbooks}
