"""Hive-partitioned Parquet tables under one root: ``<root>/<table>/date=YYYY-MM-DD/hour=HH/<batch>-<i>.parquet``.

A *batch* is one ingest of one source into one partition (``landing`` for the scheduled ingest of the landing zone,
``file-<hash>`` for a file given on the command line). Writing a batch replaces that batch's files in the partition
and nothing else, so re-running is idempotent and different sources can feed one partition. Files are written to a
staging folder first and moved into place with an atomic rename (local) or a single PUT each (S3).

Reading goes through DuckDB: :meth:`Lake.connect` is an in-memory connection set up for the lake (UTC, httpfs and
the credentials when it lives in S3), :meth:`Lake.query_table` the rows of one query over one table.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import duckdb

from akidb_pipelines.config import aws_region, aws_static_credentials, staging_base
from akidb_pipelines.config import s3_endpoint as env_s3_endpoint

if TYPE_CHECKING:
    from akidb_pipelines.config import Settings


@dataclass(frozen=True, order=True)
class PartitionKey:
    """One hour of data, UTC."""

    start: datetime

    @classmethod
    def of(cls, t: datetime) -> PartitionKey:
        t = t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)
        return cls(t.replace(minute=0, second=0, microsecond=0))

    @classmethod
    def parse(cls, text: str) -> PartitionKey:
        """Accepts Dagster's hourly key ``2026-11-20-05:00`` and ISO forms like ``2026-11-20T05``."""
        s = text.strip()
        for fmt in ("%Y-%m-%d-%H:%M", "%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                return cls.of(datetime.strptime(s, fmt).replace(tzinfo=timezone.utc))
            except ValueError:
                continue
        raise ValueError(f"not an hour partition: {text!r} (expected e.g. 2026-11-20-05:00 or 2026-11-20T05)")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    @property
    def path(self) -> str:
        return f"date={self.start:%Y-%m-%d}/hour={self.start:%H}"

    @property
    def dagster_key(self) -> str:
        return self.start.strftime("%Y-%m-%d-%H:%M")

    def __str__(self) -> str:
        return self.dagster_key


def hour_partitions(start: datetime, end: datetime) -> list[PartitionKey]:
    """Every hour partition that overlaps [start, end)."""
    out, k = [], PartitionKey.of(start)
    while k.start < end:
        out.append(k)
        k = PartitionKey(k.end)
    return out


def configure_connection(con: duckdb.DuckDBPyConnection, lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """UTC everywhere; S3 access through the offline httpfs extension when the lake lives in S3."""
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")
    if lake is not None and lake.is_s3:
        load_httpfs(con, lake)
    return con


def load_httpfs(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    import duckdb_extension_httpfs  # the PyPI wheel that carries the extension binary

    ext = next(Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))
    con.execute(f"LOAD '{ext}'")
    ep = urlparse(lake.s3_endpoint) if lake.s3_endpoint else None
    key, secret, token = aws_static_credentials()

    def q(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"

    parts = ["TYPE s3", f"KEY_ID {q(key)}", f"SECRET {q(secret)}", f"REGION {q(lake.s3_region)}"]
    if token:
        parts.append(f"SESSION_TOKEN {q(token)}")
    if ep:
        parts += [f"ENDPOINT {q(ep.netloc)}", "URL_STYLE 'path'", f"USE_SSL {'true' if ep.scheme == 'https' else 'false'}"]
    try:
        con.execute(f"CREATE OR REPLACE SECRET akidb_lake ({', '.join(parts)})")
    except duckdb.Error as e:  # never let the statement (with the credentials) travel in an error message
        raise RuntimeError(f"could not configure DuckDB S3 access for {lake.root}: {type(e).__name__}") from None


def duckdb_connection(lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection, configured (for ``lake`` when given); close it, or use it in ``with``."""
    return configure_connection(duckdb.connect(), lake)


class Lake:
    """Parquet tables under a local folder or an ``s3://bucket/prefix`` root."""

    def __init__(self, root: str | os.PathLike[str], s3_endpoint: str | None = None, s3_region: str | None = None):
        root = str(root)
        self.is_s3 = root.startswith("s3://")
        self.s3_endpoint = s3_endpoint or env_s3_endpoint()
        self.s3_region = s3_region or aws_region()
        if self.is_s3:
            u = urlparse(root)
            if not u.netloc:
                raise ValueError(f"lake root {root!r} has no bucket")
            self.bucket, self.prefix = u.netloc, u.path.strip("/")
            self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        else:
            self.root = str(Path(root).expanduser().resolve())

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lake_root, s3_endpoint=settings.s3_endpoint_url)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- paths ---------------------------------------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        return f"{self.root}/{table}"

    def glob(self, table: str) -> str:
        return f"{self.table_uri(table)}/*/*/*.parquet"

    def partition_uri(self, table: str, key: PartitionKey) -> str:
        return f"{self.table_uri(table)}/{key.path}"

    # -- queries -------------------------------------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection that can read the lake; close it, or use it in ``with``."""
        return duckdb_connection(self)

    def query_table(self, table: str, sql: str, params: list | tuple = ()) -> list[tuple]:
        """Rows of ``sql`` with ``{src}`` standing for the lake table (none while the table has no files)."""
        if not self.has_data(table):
            return []
        with self.connect() as con:
            src = f"read_parquet('{self.glob(table)}', union_by_name = true)"
            return con.execute(sql.format(src=src), list(params)).fetchall()

    # -- S3 ------------------------------------------------------------------------------------------------------
    def _s3(self):  # noqa: ANN202 - boto3 client
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name=self.s3_region)

    def _key(self, uri: str) -> str:
        return uri[len(f"s3://{self.bucket}/"):]

    # -- listing -------------------------------------------------------------------------------------------------
    def list_files(self, table: str, key: PartitionKey | None = None) -> list[str]:
        base = self.partition_uri(table, key) if key else self.table_uri(table)
        if self.is_s3:
            out, pag = [], self._s3().get_paginator("list_objects_v2")
            for page in pag.paginate(Bucket=self.bucket, Prefix=self._key(base) + "/"):
                out += [f"s3://{self.bucket}/{o['Key']}" for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
            return sorted(out)
        p = Path(base)
        return sorted(str(f) for f in p.rglob("*.parquet")) if p.exists() else []

    def has_data(self, table: str) -> bool:
        return bool(self.list_files(table))

    def batch_files(self, table: str, key: PartitionKey, batch: str) -> list[str]:
        """The batch's files ``<batch>-<i>.parquet`` in one partition (exactly: ``landing`` does not own the files of
        ``landing-otlp``)."""
        own = re.compile(re.escape(batch) + r"-\d+\.parquet")
        return [f for f in self.list_files(table, key) if own.fullmatch(os.path.basename(f))]

    # -- writing -------------------------------------------------------------------------------------------------
    def staging_dir(self) -> Path:
        d = staging_base() / f"akidb-stage-{uuid.uuid4().hex[:12]}"
        d.mkdir(parents=True)
        return d

    def publish(self, table: str, batch: str, staged: Path, partitions: list[PartitionKey]) -> dict[str, int]:
        """Move staged ``_h=<hours since epoch>/*.parquet`` files into place as ``<batch>-<i>.parquet``.

        ``partitions`` lists every partition this batch owns: those without new files lose the batch's old files,
        so a re-run that yields nothing for an hour leaves nothing stale behind. Returns files per partition path.
        """
        written: dict[str, int] = {}
        staged_parts: dict[str, list[Path]] = {}
        for f in sorted(staged.rglob("*.parquet")):
            hours = int(f.parent.name.split("=", 1)[1])
            key = PartitionKey(datetime.fromtimestamp(hours * 3600, tz=timezone.utc))
            staged_parts.setdefault(key.path, []).append(f)
        keys = {k.path: k for k in partitions}
        for rel in staged_parts:
            if rel not in keys:
                keys[rel] = _key_from_path(rel)
        for rel, key in sorted(keys.items()):
            new = staged_parts.get(rel, [])
            old = self.batch_files(table, key, batch)
            targets = [f"{self.partition_uri(table, key)}/{batch}-{i}.parquet" for i in range(len(new))]
            for src, dst in zip(new, targets):
                self._put(src, dst)
            for stale in set(old) - set(targets):
                self._delete(stale)
            written[rel] = len(new)
        shutil.rmtree(staged, ignore_errors=True)
        return written

    # -- small objects (model files, manifests) ------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> str:
        """Write ``<root>/<rel>`` in one step (atomic rename locally, one PUT on S3); returns its URI."""
        uri = f"{self.root}/{rel}"
        if self.is_s3:
            self._s3().put_object(Bucket=self.bucket, Key=self._key(uri), Body=data)
            return uri
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{uri}.tmp-{uuid.uuid4().hex[:8]}"
        Path(tmp).write_bytes(data)
        os.replace(tmp, uri)
        return uri

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        uri = f"{self.root}/{rel}"
        if self.is_s3:
            try:
                return self._s3().get_object(Bucket=self.bucket, Key=self._key(uri))["Body"].read()
            except Exception as exc:  # noqa: BLE001 - botocore's NoSuchKey is a dynamic class
                if type(exc).__name__ in ("NoSuchKey",) or "NoSuchKey" in str(exc) or "404" in str(exc):
                    return None
                raise
        p = Path(uri)
        return p.read_bytes() if p.exists() else None

    def list_objects(self, rel_prefix: str) -> list[str]:
        """Paths (relative to the root) of every object under ``rel_prefix``/, sorted."""
        base = f"{self.root}/{rel_prefix.strip('/')}"
        if self.is_s3:
            out, pag = [], self._s3().get_paginator("list_objects_v2")
            for page in pag.paginate(Bucket=self.bucket, Prefix=self._key(base) + "/"):
                out += [o["Key"][len(f"{self.prefix}/" if self.prefix else ""):] for o in page.get("Contents", [])]
            return sorted(out)
        p = Path(base)
        root = Path(self.root)
        return sorted(str(f.relative_to(root)) for f in p.rglob("*") if f.is_file() and ".tmp-" not in f.name) \
            if p.exists() else []

    def _put(self, src: Path, dst: str) -> None:
        if self.is_s3:
            self._s3().upload_file(str(src), self.bucket, self._key(dst))
            return
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{dst}.tmp-{uuid.uuid4().hex[:8]}"
        shutil.copyfile(src, tmp) if _cross_device(src, Path(dst).parent) else os.replace(src, tmp)
        os.replace(tmp, dst)

    def _delete(self, uri: str) -> None:
        if self.is_s3:
            self._s3().delete_object(Bucket=self.bucket, Key=self._key(uri))
        else:
            Path(uri).unlink(missing_ok=True)


def _key_from_path(rel: str) -> PartitionKey:
    d, h = rel.split("/")
    return PartitionKey(datetime.strptime(f"{d[5:]} {h[5:]}", "%Y-%m-%d %H").replace(tzinfo=timezone.utc))


def _cross_device(src: Path, dst_dir: Path) -> bool:
    try:
        return os.stat(src).st_dev != os.stat(dst_dir).st_dev
    except OSError:
        return True
