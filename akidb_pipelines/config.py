"""Settings from the environment, in one place. Nothing here is secret: credentials stay with boto3 and EnvVar."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from akidb_pipelines.storage import Catalog, Lake

SOURCES = ("synthetic", "files", "aws")


@dataclass(frozen=True)
class Settings:
    home: Path               # AKIDB_HOME: working folder (default ./.akidb)
    lake_root: str           # AKIDB_LAKE_ROOT: folder or s3://bucket/prefix (default $AKIDB_HOME/lake)
    duckdb_path: Path        # AKIDB_DUCKDB_PATH: the catalog of views (default $AKIDB_HOME/akidb.duckdb)
    source: str              # AKIDB_SOURCE: synthetic (default) | files | aws
    landing: str             # AKIDB_LANDING: landing zone of raw files (default $AKIDB_HOME/landing)
    prometheus_url: str | None  # AKIDB_PROMETHEUS_URL: pull samples from this Prometheus (optional)
    s3_endpoint_url: str | None  # AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (moto, MinIO, LocalStack)
    aws_region: str = "us-east-1"  # AWS_REGION / AWS_DEFAULT_REGION

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        home = Path(e.get("AKIDB_HOME") or ".akidb").expanduser().resolve()
        source = (e.get("AKIDB_SOURCE") or "synthetic").strip().lower()
        if source not in SOURCES:
            raise ValueError(f"AKIDB_SOURCE={source!r} is not one of {', '.join(SOURCES)}")
        return cls(
            home=home,
            lake_root=e.get("AKIDB_LAKE_ROOT") or str(home / "lake"),
            duckdb_path=Path(e.get("AKIDB_DUCKDB_PATH") or home / "akidb.duckdb"),
            source=source,
            landing=e.get("AKIDB_LANDING") or str(home / "landing"),
            prometheus_url=e.get("AKIDB_PROMETHEUS_URL") or None,
            s3_endpoint_url=e.get("AWS_ENDPOINT_URL_S3") or e.get("AWS_ENDPOINT_URL") or None,
            aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
        )

    def lake(self) -> Lake:
        return Lake(self.lake_root, s3_endpoint=self.s3_endpoint_url)

    def catalog(self) -> Catalog:
        return Catalog(self.duckdb_path, self.lake())
