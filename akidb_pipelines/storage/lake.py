"""Hive-partitioned Parquet tables under one root: ``<root>/<table>/date=YYYY-MM-DD/hour=HH/<batch>-<pub>-<i>.parquet``.

A *batch* is one source's output (``landing`` for the scheduled ingest of the landing zone, ``file-<hash>`` for files
given on the command line, ``model`` for a SQL model). Publishing a batch replaces that batch's files in the
partitions it owns and nothing else, so re-running is idempotent and different sources can feed one partition.
Files are staged first, moved into the lake under names no reader looks at yet, and made visible all at once by a
commit record (``storage/commits.py``): readers see a batch whole, the old version or the new one.

Reading goes through DuckDB: :meth:`Lake.connect` is an in-memory connection set up for the lake (UTC, httpfs and
the credentials when it lives in S3), :meth:`Lake.query_table` the rows of one query over one table's committed
files, :meth:`Lake.relation_sql` the same rows as SQL text for a persistent view.
"""

from __future__ import annotations

import glob
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import duckdb

from akidb_pipelines.config import aws_region, aws_static_credentials, staging_base
from akidb_pipelines.config import s3_endpoint as env_s3_endpoint
from akidb_pipelines.storage.commits import (
    COMMITS,
    Record,
    dead_tmp,
    legacy_records,
    parse_record,
    part_of,
    stage_name,
    tmp_suffix,
    visible_files,
)
from akidb_pipelines.storage.commits import adopt_legacy
from akidb_pipelines.storage.commits import cleanup as cleanup_tables
from akidb_pipelines.storage.commits import publish as publish_tables
from akidb_pipelines.storage.partition import PartitionKey, hour_partitions  # noqa: F401 - re-exported
from akidb_pipelines.storage.sqltext import duckdb_path, sql_literal

if TYPE_CHECKING:
    from akidb_pipelines.config import Settings


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
    con.execute(f"LOAD {sql_literal(str(ext))}")  # LOAD takes no parameter
    ep = urlparse(lake.s3_endpoint) if lake.s3_endpoint else None
    key, secret, token = aws_static_credentials()

    q = sql_literal  # CREATE SECRET takes no parameters
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

    def __init__(self, root: str | os.PathLike[str], s3_endpoint: str | None = None, s3_region: str | None = None,
                 s3_client=None):  # noqa: ANN001 - a callable returning a boto3 S3 client (dagster-aws S3Resource)
        root = str(root)
        self._s3_client = s3_client
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
            if "\\" in self.root:  # DuckDB reads a backslash in a glob as a path separator
                raise ValueError(f"lake root {self.root!r}: a backslash in the path is not supported")

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lake_root, s3_endpoint=settings.s3_endpoint_url)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- paths ---------------------------------------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        return f"{self.root}/{table}"

    def glob(self, table: str) -> str:
        """Every Parquet file of the table, committed or not (a publish in progress, superseded files not yet
        deleted): readers use :meth:`list_files`, :meth:`query_table` or :meth:`relation_sql` instead."""
        return f"{self.table_uri(table)}/*/*/*.parquet"

    def partition_uri(self, table: str, key: PartitionKey) -> str:
        return f"{self.table_uri(table)}/{key.path}"

    # -- queries -------------------------------------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection that can read the lake; close it, or use it in ``with``."""
        return duckdb_connection(self)

    def query_table(self, table: str, sql: str, params: list | tuple = ()) -> list[tuple]:
        """Rows of ``sql`` with ``{src}`` standing for the table's committed rows (none while it has no files).

        The file list travels as a bound value (a session variable), never inside the SQL text."""
        return self._query_files(self.list_files(table), sql, params)

    def query_hours(self, table: str, sql: str, start: datetime, end: datetime, params: list | tuple = ()) -> list[tuple]:
        """:meth:`query_table` over the files of the hour partitions overlapping ``[start, end)`` only.

        For a table partitioned by the hour of its time column (a model's output, the forecasts) and ``sql`` keeping
        to rows of ``[start, end)``, the rows are the same; the read opens only those hours, so what a live tick
        pays does not grow with months of history (DuckDB reads the footer of every file it is given)."""
        return self._query_files(self.hour_files(table, start, end), sql, params)

    def hour_files(self, table: str, start: datetime, end: datetime) -> list[str]:
        """The committed files of the hour partitions overlapping ``[start, end)``, as URIs."""
        hours = {k.path for k in hour_partitions(start, end)}
        return [f for f in self.list_files(table) if "/".join(f.split("/")[-3:-1]) in hours]

    def _query_files(self, files: list[str], sql: str, params: list | tuple) -> list[tuple]:
        if not files:
            return []
        with self.connect() as con:
            con.execute("SET VARIABLE akidb_src_files = ?", [[duckdb_path(f) for f in files]])
            src = "read_parquet(getvariable('akidb_src_files'), union_by_name = true)"
            return con.execute(sql.format(src=src), list(params)).fetchall()

    def relation_sql(self, table: str) -> str:
        """SQL text of the table's committed rows (with ``date``/``hour`` from the path), for a persistent view.

        A view cannot hold bound parameters, so the lake's paths are quoted literals here (:func:`sql_literal`).
        The view reads the commit records at query time: it shows every batch whole, as of its latest commit."""
        t = self.table_uri(table)
        data = sql_literal(duckdb_path(t) + "/*/*/*.parquet")
        commits = sql_literal(duckdb_path(t) + f"/{COMMITS}/*.json")
        base = sql_literal(t + "/")
        return (
            f"SELECT * EXCLUDE (filename) FROM read_parquet({data}, filename = true, hive_partitioning = true, "
            f"hive_types = {{'date': DATE, 'hour': INTEGER}}, union_by_name = true) WHERE filename IN ("
            f"WITH r AS (SELECT batch, pub, scope, files FROM read_json({commits}, columns = {{batch: 'VARCHAR', "
            f"pub: 'VARCHAR', scope: 'VARCHAR[]', files: 'VARCHAR[]'}})), "
            f"v AS (SELECT batch, p, max(pub) AS pub FROM (SELECT batch, pub, unnest(scope) AS p FROM r) "
            f"GROUP BY batch, p), "
            f"f AS (SELECT batch, pub, unnest(files) AS f FROM r) "
            f"SELECT {base} || f.f FROM f JOIN v ON v.batch = f.batch AND v.pub = f.pub "
            f"AND v.p = regexp_extract(f.f, '^(.*)/[^/]*$', 1))"
        )

    # -- S3 ------------------------------------------------------------------------------------------------------
    def _s3(self):  # noqa: ANN202 - boto3 client
        if self._s3_client is not None:  # the Dagster resource's client (S3Resource.get_client)
            return self._s3_client()
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name=self.s3_region)

    def _key(self, uri: str) -> str:
        return uri[len(f"s3://{self.bucket}/"):]

    # -- committed files -----------------------------------------------------------------------------------------
    def records(self, table: str) -> list[Record]:
        """The table's commit records (each read once per process: a record is never rewritten)."""
        cache = _RECORDS.setdefault((self.root, table), {})
        names = [n for n in self.list_names(f"{table}/{COMMITS}") if n.endswith(".json")]
        for gone in set(cache) - set(names):
            del cache[gone]
        for n in names:
            if n not in cache:
                rec = parse_record(n, self.read_bytes(f"{table}/{COMMITS}/{n}"))
                if rec is None:
                    continue
                cache[n] = rec
        if not names:  # no record at all: a table from before commit records, or a table never written
            return legacy_records(self.legacy_files(table))
        return [cache[n] for n in names if n in cache]

    def legacy_files(self, table: str) -> list[str]:
        """Parquet files of the table relative to it, as a lake written before commit records holds them."""
        base = self.table_uri(table)
        if self.is_s3:
            out, pag = [], self._s3().get_paginator("list_objects_v2")
            for page in pag.paginate(Bucket=self.bucket, Prefix=self._key(base) + "/"):
                out += [o["Key"][len(self._key(base)) + 1:] for o in page.get("Contents", [])]
        else:
            out = [str(f.relative_to(base)) for f in Path(base).glob("*/*/*.parquet")] if os.path.isdir(base) else []
        return sorted(f for f in out if f.count("/") == 2 and f.endswith(".parquet"))

    def list_files(self, table: str, key: PartitionKey | None = None) -> list[str]:
        """The committed files of the table (or of one partition), as URIs."""
        base = self.table_uri(table)
        return [f"{base}/{f}" for f in visible_files(self.records(table), key.path if key else None)]

    def has_data(self, table: str) -> bool:
        return bool(self.list_files(table))

    def batch_files(self, table: str, key: PartitionKey, batch: str) -> list[str]:
        """The committed files of one batch in one partition."""
        base = self.table_uri(table)
        return [f"{base}/{f}" for f in visible_files(self.records(table), key.path, batch)]

    def batch_partitions(self, table: str, batch: str) -> list[str]:
        """The partition paths where ``batch`` has committed files."""
        return sorted({part_of(f) for f in visible_files(self.records(table), None, batch)})

    # -- writing -------------------------------------------------------------------------------------------------
    def staging_dir(self) -> Path:
        """A new private folder to stage Parquet in (named after this process, so a later run can tell that the
        process died and remove it)."""
        d = staging_base() / stage_name()
        d.mkdir(parents=True, mode=0o700)
        return d

    def publish(self, table: str, batch: str, staged: Path, partitions: list[PartitionKey],
                replace_all: bool = False) -> dict[str, int]:
        """Publish staged ``_h=<hours since epoch>/*.parquet`` files as the new version of ``batch`` in ``table``.

        ``partitions`` lists every partition this batch owns: those without new files lose the batch's old files,
        so a re-run that yields nothing for an hour leaves nothing stale behind (``replace_all``: every partition
        the batch had). Readers see the old version or the new one, whole (``storage/commits.py``). Returns files
        per partition path."""
        return publish_tables(self, batch, {table: staged}, partitions, replace_all)[table]

    def publish_many(self, batch: str, staged: dict[str, Path], partitions: list[PartitionKey],
                     replace_all: bool = False) -> dict[str, dict[str, int]]:
        """:meth:`publish` for several tables written by one batch (each table's commit is atomic)."""
        return publish_tables(self, batch, staged, partitions, replace_all)

    def adopt_legacy(self, table: str) -> None:
        """Give a table from before commit records its records (its files stay visible, now as committed ones)."""
        adopt_legacy(self, table)

    def cleanup(self, tables: list[str]) -> list[str]:
        """Remove what killed publishes left in ``tables`` and in the staging folder (done by every publish)."""
        return cleanup_tables(self, tables)

    # -- small objects (model files, manifests, commit records) -------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> str:
        """Write ``<root>/<rel>`` in one step (atomic rename locally, one PUT on S3); returns its URI."""
        uri = f"{self.root}/{rel}"
        if self.is_s3:
            self._s3().put_object(Bucket=self.bucket, Key=self._key(uri), Body=data)
            return uri
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        tmp = uri + tmp_suffix()
        try:
            Path(tmp).write_bytes(data)
            os.replace(tmp, uri)
        finally:
            Path(tmp).unlink(missing_ok=True)
        for left in Path(uri).parent.glob(glob.escape(Path(uri).name) + ".tmp-*"):
            if dead_tmp(left.name):  # what a writer of this object left when it was killed
                left.unlink(missing_ok=True)
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
        try:
            return p.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

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

    def list_names(self, rel_dir: str) -> list[str]:
        """Names of the objects directly in ``<root>/<rel_dir>/`` (temporary files included), sorted."""
        base = f"{self.root}/{rel_dir.strip('/')}"
        if self.is_s3:
            prefix = self._key(base) + "/"
            out, pag = [], self._s3().get_paginator("list_objects_v2")
            for page in pag.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                out += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
            return sorted(out)
        try:
            return sorted(e.name for e in os.scandir(base) if e.is_file(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def put_file(self, src: Path, dst: str) -> None:
        """Move a staged file to the URI ``dst`` (local: through a temporary name, then one rename)."""
        if self.is_s3:
            self._s3().upload_file(str(src), self.bucket, self._key(dst))
            return
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        tmp = dst + tmp_suffix()
        try:
            shutil.copyfile(src, tmp) if _cross_device(src, Path(dst).parent) else os.replace(src, tmp)
            os.replace(tmp, dst)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def exists(self, uri: str) -> bool:
        if not self.is_s3:
            return os.path.isfile(uri)
        try:
            self._s3().head_object(Bucket=self.bucket, Key=self._key(uri))
            return True
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError; 404 means absent
            if "404" in str(exc) or "Not Found" in str(exc) or "NoSuchKey" in str(exc):
                return False
            raise

    def delete_object(self, uri: str) -> None:
        if self.is_s3:
            self._s3().delete_object(Bucket=self.bucket, Key=self._key(uri))
        else:
            Path(uri).unlink(missing_ok=True)


# (root, table) -> {record name: record}; records are immutable once written, names unique per publish
_RECORDS: dict[tuple[str, str], dict[str, Record]] = {}


def _cross_device(src: Path, dst_dir: Path) -> bool:
    try:
        return os.stat(src).st_dev != os.stat(dst_dir).st_dev
    except OSError:
        return True
