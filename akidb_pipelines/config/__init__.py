"""Every read of the environment, in one place; the shipped YAML configuration files live in this folder.

``Settings`` is the whole deployment at once; the small functions below are the single reads the rest of the
package makes where it needs one value (a configuration file's path, the S3 endpoint, the working folder). Each
takes an optional mapping instead of ``os.environ`` (``Settings.from_env`` passes its own). The AWS credentials are
read only to hand them to DuckDB's S3 secret; boto3 finds them itself. ``config.loader`` reads the YAML files.

Values are checked where they are read: a working folder that is a URL, a lake or landing zone that is neither a
folder nor ``s3://bucket/prefix``, an unknown source, an S3 lake with no AWS credentials anywhere raise
:class:`SettingsError`, one line naming the variable, what is wrong and how to fix it (the command line prints it
and exits 2; the code location fails to load with it).

This module imports nothing from the project but ``config.loader``: every other layer may depend on it.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from akidb_pipelines.config.loader import ConfigError

SOURCES = ("synthetic", "files", "aws")
CONFIG_DIR = Path(__file__).resolve().parent   # the shipped configuration files
DEFAULT_PAGERDUTY_URL = "https://events.pagerduty.com"


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")  # a scheme of two letters or more: s3://, s3:/, gs://, http://
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class SettingsError(ConfigError):
    """An environment variable whose value cannot be used; the message names it, says why and how to fix it."""


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def local_folder(var: str, value: str) -> Path:
    """``value`` of ``var`` as a local path: a URL is refused (``s3://bucket/prefix`` would become a folder named
    ``s3:``)."""
    if _URL.match(value):
        hint = (" (to keep the lake on S3, set AKIDB_LAKE_ROOT=s3://bucket/prefix and leave AKIDB_HOME local)"
                if var == "AKIDB_HOME" else "")
        raise SettingsError(f"{var}={value}: must be a local path, not a URL{hint}")
    return Path(value).expanduser()


def folder_or_s3(var: str, value: str) -> str:
    """``value`` of ``var`` when it is a local folder or ``s3://bucket[/prefix]``; any other URL, ``s3://`` without
    a bucket or a bucket name S3 does not allow is refused."""
    m = _URL.match(value)
    if not m:
        return value
    u = urlparse(value)
    if u.scheme != "s3" or not value.startswith("s3://"):
        raise SettingsError(f"{var}={value}: use a local folder or s3://bucket/prefix (no other URL is supported)")
    if not u.netloc:
        raise SettingsError(f"{var}={value}: names no bucket; use s3://bucket/prefix")
    if not _BUCKET.match(u.netloc):
        raise SettingsError(f"{var}={value}: {u.netloc!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
                            "'.' and '-')")
    return value


def http_url(var: str, value: str | None) -> str | None:
    """``value`` of ``var`` when it is an http(s) URL with a host (None stays None)."""
    if value and (urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc):
        raise SettingsError(f"{var}={value}: expected an http:// or https:// URL with a host")
    return value or None


def akidb_home(env: Mapping[str, str] | None = None) -> Path:
    """``$AKIDB_HOME``, the working folder (default ``./.akidb``), user-expanded but not resolved; a URL is
    refused (SettingsError)."""
    return local_folder("AKIDB_HOME", _env(env).get("AKIDB_HOME") or ".akidb")


def config_path(var: str, default: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """The file named by the environment variable ``var`` when it is set and not empty, else ``default``."""
    return Path(_env(env).get(var) or default)


def config_file(var: str, default: str | os.PathLike[str], path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> tuple[Path, str | None]:
    """The configuration file to load: ``path`` when given, else ``$var`` when set, else ``default``; and ``var``
    when the file came from the variable (a loader names it when the file cannot be read)."""
    if path:
        return Path(path), None
    named = _env(env).get(var)
    return (Path(named), var) if named else (Path(default), None)


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


def partitions_start(env: Mapping[str, str] | None = None) -> str:
    """``$AKIDB_PARTITIONS_START``, the first hourly partition (``YYYY-MM-DD-HH:MM``, default 2026-06-01-00:00)."""
    v = _env(env).get("AKIDB_PARTITIONS_START") or "2026-06-01-00:00"
    try:
        datetime.strptime(v, "%Y-%m-%d-%H:%M")
    except ValueError:
        raise SettingsError(f"AKIDB_PARTITIONS_START={v}: expected YYYY-MM-DD-HH:MM, e.g. 2026-06-01-00:00") from None
    return v


def freshness_fail_minutes(env: Mapping[str, str] | None = None) -> int:
    """``$AKIDB_FRESHNESS_FAIL_MINUTES``, a positive number of minutes (default 120)."""
    v = (_env(env).get("AKIDB_FRESHNESS_FAIL_MINUTES") or "120").strip()
    if not v.isdigit() or int(v) <= 0:
        raise SettingsError(f"AKIDB_FRESHNESS_FAIL_MINUTES={v}: expected a positive whole number of minutes")
    return int(v)


def quarantine_warn_share(env: Mapping[str, str] | None = None) -> float:
    """``$AKIDB_QUARANTINE_WARN_SHARE``: the share of a partition's records in quarantine above which the ingest
    asset's ``quarantine_share`` check warns, a number in (0, 1] (default 0.05)."""
    v = (_env(env).get("AKIDB_QUARANTINE_WARN_SHARE") or "0.05").strip()
    try:
        share = float(v)
    except ValueError:
        share = math.nan
    if not 0 < share <= 1:  # NaN fails too
        raise SettingsError(f"AKIDB_QUARANTINE_WARN_SHARE={v}: expected a share in (0, 1], e.g. 0.05")
    return share


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
        """The settings from the environment; a value that cannot be used raises SettingsError (one line)."""
        e = _env(env)
        home = akidb_home(e).resolve()
        source = (e.get("AKIDB_SOURCE") or "synthetic").strip().lower()
        if source not in SOURCES:
            raise SettingsError(f"AKIDB_SOURCE={e.get('AKIDB_SOURCE')}: not a source; use one of "
                                f"{', '.join(SOURCES)} (or leave it unset for synthetic)")
        for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            http_url(var, e.get(var))
        settings = cls(
            home=home,
            lake_root=folder_or_s3("AKIDB_LAKE_ROOT", e.get("AKIDB_LAKE_ROOT") or str(home / "lake")),
            duckdb_path=local_folder("AKIDB_DUCKDB_PATH", e.get("AKIDB_DUCKDB_PATH") or str(home / "akidb.duckdb")),
            source=source,
            landing=folder_or_s3("AKIDB_LANDING", e.get("AKIDB_LANDING") or str(home / "landing")),
            prometheus_url=http_url("AKIDB_PROMETHEUS_URL", e.get("AKIDB_PROMETHEUS_URL")),
            s3_endpoint_url=s3_endpoint(e) or None,
            aws_region=aws_region(e),
        )
        for var, where in (("AKIDB_LAKE_ROOT", settings.lake_root), ("AKIDB_LANDING", settings.landing)):
            if where.startswith("s3://"):
                check_s3_credentials(var, where, e)
        return settings


def _local_endpoint(url: str | None) -> bool:
    host = urlparse(url).hostname if url else None
    return host in ("localhost", "127.0.0.1", "::1") or bool(host and host.startswith("127."))


def check_s3_credentials(var: str, value: str, env: Mapping[str, str] | None = None) -> None:
    """SettingsError when ``value`` (of ``var``) is on S3 and boto3's credential chain finds nothing (environment,
    shared files, SSO, container or instance role), unless the S3 endpoint is a local one (moto, MinIO on this
    machine), which may take any key."""
    e = _env(env)
    if _local_endpoint(s3_endpoint(e)):
        return
    key_id, secret, _ = aws_static_credentials(e)
    if key_id and secret:
        return
    import boto3  # only for an S3 lake or landing zone

    if boto3.Session().get_credentials() is None:
        raise SettingsError(f"{var}={value}: no AWS credentials found (checked AWS_ACCESS_KEY_ID/"
                            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, an SSO session, a task or instance "
                            "role); set them, or point AWS_ENDPOINT_URL_S3 at a local S3 (moto, MinIO)")
