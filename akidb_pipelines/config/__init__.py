"""Every read of the environment, in one place; the shipped YAML configuration files live in this folder.

``Settings`` is the whole deployment at once; the small functions below are the single reads the rest of the
package makes where it needs one value (a configuration file's path, the S3 endpoint, the working folder). Each
takes an optional mapping instead of ``os.environ`` (``Settings.from_env`` passes its own). The AWS credentials are
read only to hand them to DuckDB's S3 secret; boto3 finds them itself. ``config.loader`` reads the YAML files.

This module imports nothing from the project: every other layer may depend on it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("synthetic", "files", "aws")
CONFIG_DIR = Path(__file__).resolve().parent   # the shipped configuration files
DEFAULT_PAGERDUTY_URL = "https://events.pagerduty.com"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def akidb_home(env: Mapping[str, str] | None = None) -> Path:
    """``$AKIDB_HOME``, the working folder (default ``./.akidb``), user-expanded but not resolved."""
    return Path(_env(env).get("AKIDB_HOME") or ".akidb").expanduser()


def config_path(var: str, default: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """The file named by the environment variable ``var`` when it is set and not empty, else ``default``."""
    return Path(_env(env).get(var) or default)


def shipped_config(name: str) -> Path:
    """A configuration file shipped in this folder (``routing.yaml``, ...)."""
    return CONFIG_DIR / name


def s3_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (moto, MinIO, LocalStack); None when neither is set."""
    e = _env(env)
    return e.get("AWS_ENDPOINT_URL_S3") or e.get("AWS_ENDPOINT_URL")


def aws_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_ENDPOINT_URL``, the endpoint of every AWS service (None when not set)."""
    return _env(env).get("AWS_ENDPOINT_URL")


def aws_region(env: Mapping[str, str] | None = None, *, default_region: bool = True) -> str:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (skipped with ``default_region=False``), else us-east-1."""
    e = _env(env)
    return e.get("AWS_REGION") or (e.get("AWS_DEFAULT_REGION") if default_region else None) or "us-east-1"


def aws_static_credentials(env: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """(access key id, secret access key, session token) from the environment, '' for each one not set."""
    e = _env(env)
    return e.get("AWS_ACCESS_KEY_ID", ""), e.get("AWS_SECRET_ACCESS_KEY", ""), e.get("AWS_SESSION_TOKEN", "")


def staging_base(env: Mapping[str, str] | None = None) -> Path:
    """Where the lake stages files before moving them into place: ``$AKIDB_STAGING_DIR`` or the temp folder."""
    return Path(_env(env).get("AKIDB_STAGING_DIR") or tempfile.gettempdir())


def dagster_home(akidb_home_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where the Dagster instance keeps its runs: ``$DAGSTER_HOME`` or ``$AKIDB_HOME/dagster``."""
    return Path(_env(env).get("DAGSTER_HOME") or akidb_home_dir / "dagster")


@dataclass(frozen=True)
class PagerDutyEnv:
    routing_key: str | None  # PAGERDUTY_ROUTING_KEY (None: events wait in the outbox)
    base_url: str            # AKIDB_PAGERDUTY_URL (default the PagerDuty Events API)
    ca_file: str | None      # AKIDB_PAGERDUTY_CA_FILE: a private CA (the local stand-in's certificate)


def pagerduty_env(env: Mapping[str, str] | None = None) -> PagerDutyEnv:
    e = _env(env)
    return PagerDutyEnv(e.get("PAGERDUTY_ROUTING_KEY") or None, e.get("AKIDB_PAGERDUTY_URL") or DEFAULT_PAGERDUTY_URL,
                        e.get("AKIDB_PAGERDUTY_CA_FILE") or None)


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
        e = _env(env)
        home = akidb_home(e).resolve()
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
            s3_endpoint_url=s3_endpoint(e) or None,
            aws_region=aws_region(e),
        )
