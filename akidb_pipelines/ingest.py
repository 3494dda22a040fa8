"""One ingest: raw files of one kind -> lake partitions (rows + quarantine), with a full record count.

Conservation holds for every batch and is recorded: ``records_read = records_stored + records_quarantined +
duplicates_dropped``. A batch's output (rows and quarantine rows) replaces that batch's earlier output in every
partition it owns, atomically: readers see the old version or the new one, whole (``storage/commits.py``).
Re-running is idempotent. The parsing runs in an in-memory DuckDB, so concurrent ingests never contend for the
catalog file; only the view refresh at the end takes the catalog lock.

Values reach SQL as bound parameters; what is formatted into SQL text here is our own table and column names and
constants (quarantine reasons, limits), never input.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from akidb_pipelines.storage.catalog import Catalog
from akidb_pipelines.storage.lake import Lake, PartitionKey, duckdb_connection
from akidb_pipelines.storage.sqltext import check_batch_name, duckdb_path
from akidb_pipelines.telemetry.conventions import (
    LINE_LIMITS,
    Reason,
    PARTITION_TOLERANCE_S,
    QUARANTINE_TABLES,
    RAW_TABLES,
)
from akidb_pipelines.telemetry.emf import EMF_COLUMNS, parse_emf
from akidb_pipelines.telemetry.lines import check_readable, load_lines, read_bytes
from akidb_pipelines.telemetry.otlp import parse_otlp
from akidb_pipelines.telemetry.prom import PROM_SCHEMA, PromParse, parse_prometheus_bytes
from akidb_pipelines.telemetry.strict_json import reject_lenient_json
from akidb_pipelines.telemetry.xray import XRAY_COLUMNS, parse_xray

KINDS = tuple(RAW_TABLES)
TIME_COLUMN = {"xray": "start_time", "otlp": "start_time", "emf": "ts", "prom": "ts"}
# Timestamps outside this range are implausible for telemetry and are quarantined even without a partition window.
SANE_FROM = datetime(2000, 1, 1, tzinfo=timezone.utc)
# Quarantined records whose time is unknown go to this partition, so a re-run lands them in the same place.
UNKNOWN_TIME_PARTITION = PartitionKey(datetime(1970, 1, 1, tzinfo=timezone.utc))


@dataclass
class IngestReport:
    kind: str
    table: str
    batch: str
    sources: list[str]
    window: tuple[str, str] | None
    records_read: int = 0
    records_stored: int = 0
    rows_stored: int = 0
    records_quarantined: int = 0
    duplicates_dropped: int = 0
    blank_lines: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def conserved(self) -> bool:
        return self.records_read == self.records_stored + self.records_quarantined + self.duplicates_dropped

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conserved"] = self.conserved
        return d

    def merge(self, other: IngestReport) -> None:
        for f in ("records_read", "records_stored", "rows_stored", "records_quarantined", "duplicates_dropped",
                  "blank_lines"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, v in other.quarantine_by_reason.items():
            self.quarantine_by_reason[k] = self.quarantine_by_reason.get(k, 0) + v
        self.sources += other.sources
        self.partitions = sorted(set(self.partitions) | set(other.partitions))
        self.seconds += other.seconds


def batch_id_for(paths: list[str]) -> str:
    """A stable batch name for files given by hand: the same files give the same batch (and replace it)."""
    h = hashlib.sha1("\n".join(sorted(os.path.abspath(p) for p in paths)).encode()).hexdigest()[:12]
    return f"file-{h}"


def ingest_files(
    kind: str,
    paths: list[str],
    lake: Lake,
    batch: str | None = None,
    partition_of: dict[str, PartitionKey] | PartitionKey | None = None,
    owned: list[PartitionKey] | None = None,
    catalog: Catalog | None = None,
    tolerance_s: int = PARTITION_TOLERANCE_S,
    now: datetime | None = None,
    max_record_bytes: int | None = None,
    replace_all: bool | None = None,
) -> IngestReport:
    """Parse ``paths`` (all of one ``kind``) and publish rows and quarantine rows to ``lake``.

    ``partition_of`` maps each file to the hour partition it was delivered for (the landing zone's layout), or
    gives one partition for all files. A record whose time is more than ``tolerance_s`` outside its file's
    partition is quarantined as ``outside_partition``. Without it, each row lands in the hour of its own time.
    ``owned`` lists the partitions this batch is responsible for: their old files of the batch are replaced even
    when no file arrived for them (so a re-run never leaves stale rows behind).

    Which earlier output of the batch is replaced (``replace_all``): files delivered per hour (``partition_of`` a
    mapping, the landing zone) or explicit ``owned`` hours replace the batch in those hours only, so one hour can
    be re-ingested alone; files given by hand (``partition_of`` one key or None) replace everything the batch
    stored before, in every partition, quarantine included.

    ``max_record_bytes``: a longer line is quarantined unparsed (``line_too_long``); by default 1 MiB for an EMF
    event or an X-Ray document, 64 MiB for an OTLP/JSON line (a whole export batch): ``LINE_LIMITS``.

    ``batch`` must match :data:`~akidb_pipelines.storage.sqltext.BATCH_NAME` (ValueError otherwise).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown telemetry kind {kind!r}; choose from {', '.join(KINDS)}")
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    if batch is not None:
        check_batch_name(batch)
    if replace_all is None:
        replace_all = owned is None and not isinstance(partition_of, dict)
    check_readable(paths)
    batch = batch or batch_id_for(paths)
    now = now or datetime.now(timezone.utc)
    if isinstance(partition_of, PartitionKey):
        partition_of = {p: partition_of for p in paths}
    owned = sorted(set(owned or []) | set((partition_of or {}).values()))
    report = IngestReport(kind, RAW_TABLES[kind], batch, paths, None)
    if owned:
        report.window = (owned[0].start.isoformat(), owned[-1].end.isoformat())
    lo, hi = SANE_FROM, now + timedelta(days=1)
    if owned:
        lo = min(lo, owned[0].start - timedelta(seconds=tolerance_s))
        hi = max(hi, owned[-1].end + timedelta(seconds=tolerance_s))
    with duckdb_connection() as con:
        # Each parser leaves: good_recs(rec_id, source, t, n_rows), the view rows_out over the good records,
        # and bad_out (quarantine shape). Counting and the partition check work on records, not rows.
        if kind == "prom":
            _parse_prom(con, paths, lo, hi, partition_of, tolerance_s, report)
            con.execute("CREATE TEMP TABLE good_recs AS SELECT rec_id, source, ts AS t, 1 AS n_rows FROM prom_rows")
            con.execute("CREATE TEMP VIEW rows_out AS SELECT * FROM prom_rows")
        else:
            good_table, raw_table = "good_recs", "lines"
            stats = load_lines(con, paths, LINE_LIMITS[kind] if max_record_bytes is None else max_record_bytes)
            reject_lenient_json(con, stats)  # e.g. {"a":1,}: DuckDB reads it, RFC 8259 does not
            records = stats.lines
            report.blank_lines = stats.blank
            if kind == "emf":
                report.duplicates_dropped = parse_emf(con, int(lo.timestamp() * 1000), int(hi.timestamp() * 1000))
                good_table = "emf_good"  # the rows view reads it directly: deleting a record there removes its rows
                con.execute("CREATE TEMP VIEW good_recs AS SELECT rec_id, source, t, n_rows FROM emf_good")
                con.execute("CREATE TEMP VIEW rows_out AS SELECT * FROM emf_rows")
                con.execute("ALTER TABLE emf_bad RENAME TO bad_out")
            else:  # spans: X-Ray documents (a record per line) or OTLP/JSON (a record per span)
                t = "xray"
                if kind == "xray":
                    report.duplicates_dropped = parse_xray(con, lo.timestamp(), hi.timestamp())
                else:
                    ot = parse_otlp(con, lo.timestamp(), hi.timestamp())
                    records, raw_table, t = ot.records, "otlp_records", "otlp"
                    report.duplicates_dropped = ot.duplicates
                    report.blank_lines += ot.empty_lines
                # t is "xray" or "otlp": the parser's table names, ours
                con.execute(f"""CREATE TEMP TABLE good_recs AS SELECT rec_id, any_value(source) AS source,
                               min(start_time) AS t, count(*) AS n_rows FROM {t}_rows GROUP BY rec_id""")
                con.execute(
                    f"CREATE TEMP VIEW rows_out AS SELECT * FROM {t}_rows WHERE rec_id IN (SELECT rec_id FROM good_recs)")
                con.execute(f"ALTER TABLE {t}_bad RENAME TO bad_out")
            con.execute("INSERT INTO bad_out SELECT source, line, reason, detail, raw, NULL FROM line_rejects")
            report.records_read = records + stats.rejected
            if partition_of:
                _quarantine_outside(con, partition_of, tolerance_s, good_table, raw_table)
        report.records_stored, report.rows_stored = (
            int(v or 0) for v in con.execute("SELECT count(*), sum(n_rows) FROM good_recs").fetchone())
        report.records_quarantined = con.execute("SELECT count(*) FROM bad_out").fetchone()[0]
        report.quarantine_by_reason = dict(
            con.execute("SELECT reason, count(*) FROM bad_out GROUP BY reason ORDER BY reason").fetchall()
        )
        report.partitions = _publish(con, lake, kind, batch, partition_of, owned, now, replace_all)
    if not report.conserved:  # a bug, never bad input: refuse to report success
        raise AssertionError(f"record count not conserved: {report.to_dict()}")
    if catalog is not None:
        catalog.register(RAW_TABLES[kind])
        catalog.register(QUARANTINE_TABLES[kind])
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _source_partitions(con: duckdb.DuckDBPyConnection, partition_of: dict[str, PartitionKey]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE src_part (source VARCHAR, p TIMESTAMPTZ)")
    con.executemany("INSERT INTO src_part VALUES (?, ?)", [[s, k.start] for s, k in partition_of.items()])


def _quarantine_outside(con: duckdb.DuckDBPyConnection, partition_of: dict[str, PartitionKey],
                        tolerance_s: int, good_table: str, raw_table: str = "lines") -> None:
    """Move records whose time lies outside their file's partition (beyond the tolerance) to quarantine.

    ``raw_table(rec_id, source, raw)`` gives each record's raw text (a line, or one OTLP span as a request); a raw
    table other than ``lines`` also gives its record's line number (``line``).
    ``good_table`` and ``raw_table`` are names of our own temp tables; the tolerance is a parameter."""
    _source_partitions(con, partition_of)
    tol = {"tol": int(tolerance_s)}
    line = "line_of(l.rec_id)" if raw_table == "lines" else "l.line"
    con.execute(
        """CREATE OR REPLACE TEMP TABLE outside AS
        SELECT g.rec_id, g.t, s.p
        FROM good_recs g JOIN src_part s USING (source)
        WHERE g.t < s.p - to_seconds($tol::BIGINT)
           OR g.t >= s.p + INTERVAL 1 HOUR + to_seconds($tol::BIGINT)""", tol)
    con.execute(
        f"""INSERT INTO bad_out
        SELECT l.source, {line}, '{Reason.OUTSIDE_PARTITION}',
               'time ' || strftime(o.t, '%Y-%m-%dT%H:%M:%S') || 'Z outside partition ' || strftime(o.p, '%Y-%m-%dT%H')
               || ' (tolerance ' || $tol || 's)', l.raw, o.t
        FROM outside o JOIN {raw_table} l USING (rec_id)""", tol)
    con.execute(f"DELETE FROM {good_table} WHERE rec_id IN (SELECT rec_id FROM outside)")


def _parse_prom(con: duckdb.DuckDBPyConnection, paths: list[str], lo: datetime, hi: datetime,
                partition_of: dict[str, PartitionKey] | None, tolerance_s: int, report: IngestReport) -> None:
    out = PromParse()
    tol = timedelta(seconds=tolerance_s)
    for p in paths:
        data = read_bytes(p)  # exactly the named file (SourceFileError when it cannot be read)
        f_lo, f_hi = lo, hi
        if partition_of and p in partition_of:
            f_lo, f_hi = partition_of[p].start - tol, partition_of[p].end + tol
        parse_prometheus_bytes(data, p, int(f_lo.timestamp() * 1000), int(f_hi.timestamp() * 1000), out)
    rows, bad = out.tables()
    con.register("prom_rows_arrow", rows)
    con.register("prom_bad_arrow", bad)
    con.execute("CREATE TEMP TABLE prom_rows AS SELECT * FROM prom_rows_arrow")
    con.execute("CREATE TEMP TABLE bad_out AS SELECT * FROM prom_bad_arrow")
    con.unregister("prom_rows_arrow")
    con.unregister("prom_bad_arrow")
    report.records_read = out.records
    report.duplicates_dropped = out.duplicates
    report.blank_lines = out.blank


def _publish(con: duckdb.DuckDBPyConnection, lake: Lake, kind: str, batch: str,
             partition_of: dict[str, PartitionKey] | None, owned: list[PartitionKey], now: datetime,
             replace_all: bool) -> list[str]:
    """Assign each row and quarantine row an hour partition, write Parquet by partition, publish atomically.

    With ``partition_of`` a row belongs to its file's partition; an hourly run (one partition) writes one file
    with no partitioning work at all. Without it, a row belongs to the hour of its own timestamp. Both tables of
    the batch are published together (``Lake.publish_many``), each replacing the batch's earlier output.
    """
    join, single, part_params = "", None, {}
    if partition_of:
        _source_partitions(con, partition_of)
        fallback = {"fallback": owned[0].start}
        parts = con.execute(
            """SELECT DISTINCT coalesce(sp.p, $fallback::TIMESTAMPTZ) FROM
                (SELECT DISTINCT source FROM good_recs UNION SELECT DISTINCT source FROM bad_out) x
                LEFT JOIN src_part sp USING (source)""", fallback).fetchall()
        if len(parts) == 1:
            single = PartitionKey.of(parts[0][0])
        else:
            row_part = bad_part = "coalesce(sp.p, $fallback::TIMESTAMPTZ)"
            join, part_params = "LEFT JOIN src_part sp ON sp.source = x.source", fallback
    else:
        row_part = f"date_trunc('hour', x.{TIME_COLUMN[kind]})"  # a column name of ours
        bad_part = ("CASE WHEN x.record_ts >= $sane_from AND x.record_ts < $sane_to "
                    "THEN date_trunc('hour', x.record_ts) ELSE $unknown END")
    staged: dict[str, Path] = {}
    try:
        for table, source, sql_from, expr, extra in (
            (RAW_TABLES[kind], "rows_out", "rows_out", None if single else row_part, {}),
            (QUARANTINE_TABLES[kind], "bad_out", "(SELECT *, $kind AS kind, now() AS ingested_at FROM bad_out)",
             None if single else bad_part, {"kind": kind}),
        ):
            staged[table] = d = lake.staging_dir()
            if not con.execute(f"SELECT EXISTS (SELECT 1 FROM {source})").fetchone()[0]:
                continue
            params = {"batch": batch, **extra}
            if single is not None:  # staged as <staged>/_h=<epoch hour>/data_0.parquet, like PARTITION_BY would
                out = d / f"_h={int(single.start.timestamp()) // 3600}"
                out.mkdir()
                con.execute(f"""COPY (SELECT x.*, $batch AS ingest_batch FROM {sql_from} x)
                                TO $path (FORMAT parquet, COMPRESSION zstd)""",
                            {**params, "path": str(out / "data_0.parquet")})
                continue
            if "$sane_from" in expr:
                params.update(sane_from=SANE_FROM, sane_to=now + timedelta(days=1),
                              unknown=UNKNOWN_TIME_PARTITION.start)
            if "$fallback" in expr:
                params.update(part_params)
            con.execute(
                f"""COPY (SELECT x.*, $batch AS ingest_batch, (epoch({expr}) // 3600)::BIGINT AS _h
                          FROM {sql_from} x {join})
                    TO $path (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)""",
                {**params, "path": str(d)})
        written = lake.publish_many(batch, staged, owned, replace_all=replace_all)
    finally:
        for d in staged.values():
            shutil.rmtree(d, ignore_errors=True)
    return sorted({p for counts in written.values() for p, n in counts.items() if n})


def write_manifest(lake_home: Path, report: IngestReport) -> Path:
    """Keep the report beside the lake (JSON per table and batch) for audits and the conservation check.

    Written whole or not at all (a temporary file, then one rename)."""
    d = lake_home / "manifests" / report.table.replace("/", "__")
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{check_batch_name(report.batch)}.json"
    tmp = p.with_name(p.name + f".tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


EXPECTED_COLUMNS = {
    "xray": XRAY_COLUMNS,
    "otlp": XRAY_COLUMNS,
    "emf": EMF_COLUMNS,
    "prom": tuple(n for n in PROM_SCHEMA.names),
}


def batch_files(lake: Lake, table: str, batch: str, keys: list[PartitionKey]) -> list[str]:
    """The batch's committed files in ``keys``."""
    return [f for k in keys for f in lake.batch_files(table, k, batch)]


def read_batch(lake: Lake, table: str, batch: str, keys: list[PartitionKey], columns: str = "*"):  # noqa: ANN201
    """The rows one batch stored in ``keys`` as a pandas DataFrame (empty when it stored none). ``columns`` is
    SQL text chosen by the caller (column names of ours), the file list a parameter."""
    files = batch_files(lake, table, batch, keys)
    with lake.connect() as con:
        if not files:
            return con.execute("SELECT NULL WHERE false").df()
        return con.execute(f"SELECT {columns} FROM read_parquet(?, union_by_name = true)",
                           [[duckdb_path(f) for f in files]]).df()


@dataclass
class Verification:
    records_read: int
    records_in_lake: int
    quarantine_in_lake: int
    duplicates_dropped: int
    missing_columns: list[str]

    @property
    def conserved(self) -> bool:
        return self.records_read == self.records_in_lake + self.quarantine_in_lake + self.duplicates_dropped


def verify_batch(lake: Lake, report: IngestReport, keys: list[PartitionKey]) -> Verification:
    """Recount what the batch left in the lake (not what the parser believed it wrote) and check the schema."""
    with lake.connect() as con:
        # the files the commit lists and that are really there (a file deleted behind the lake's back is missed)
        raw = [duckdb_path(f) for f in batch_files(lake, report.table, report.batch, keys) if lake.exists(f)]
        bad = [duckdb_path(f) for f in batch_files(lake, QUARANTINE_TABLES[report.kind], report.batch, keys)
               if lake.exists(f)]
        stored = con.execute("SELECT count(DISTINCT rec_id) FROM read_parquet(?)", [raw]).fetchone()[0] if raw else 0
        quarantined = con.execute("SELECT count(*) FROM read_parquet(?)", [bad]).fetchone()[0] if bad else 0
        cols = ({r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [raw[:1]]).fetchall()}
                if raw else set(EXPECTED_COLUMNS[report.kind]))
    missing = [c for c in EXPECTED_COLUMNS[report.kind] if c not in cols]
    return Verification(report.records_read, int(stored), int(quarantined), report.duplicates_dropped, missing)
