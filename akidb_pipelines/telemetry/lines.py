"""Read NDJSON files (plain or gzip, local or fetched from S3) into DuckDB as one row per line.

Lines DuckDB cannot take as text (bad UTF-8, longer than the record limit) are not lost: they come back from
DuckDB's reject tables with file, line number and byte offset, and become quarantine rows.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from akidb_pipelines.telemetry.conventions import MAX_RECORD_BYTES, Reason


class SourceFileError(OSError):
    """A source file is missing or unreadable; the message names it."""


@dataclass
class LineStats:
    lines: int          # non-blank lines read as text
    blank: int          # empty lines (not records)
    rejected: int       # lines DuckDB could not read as text (quarantined)


def check_readable(paths: list[str]) -> None:
    for p in paths:
        if not os.path.exists(p):
            raise SourceFileError(f"{p}: no such file")
        if os.path.isdir(p):
            raise SourceFileError(f"{p}: is a directory, expected a file")
        try:
            with open(p, "rb") as fh:
                head = fh.read(2)
                if p.endswith(".gz") or head == b"\x1f\x8b":
                    with gzip.open(p, "rb") as gz:
                        while gz.read(1 << 20):  # to the end: a truncated or damaged stream raises here
                            pass
        except (OSError, EOFError) as e:
            raise SourceFileError(f"{p}: cannot be read ({e})") from None


def load_lines(con: duckdb.DuckDBPyConnection, paths: list[str], max_record_bytes: int = MAX_RECORD_BYTES) -> LineStats:
    """Create temp tables ``lines(rec_id, source, raw)`` and ``line_rejects`` (quarantine shape) from ``paths``."""
    check_readable(paths)
    con.execute("DROP TABLE IF EXISTS lines; DROP TABLE IF EXISTS line_rejects")
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    if not paths:
        con.execute("CREATE TEMP TABLE lines (rec_id BIGINT, source VARCHAR, raw VARCHAR)")
        con.execute("CREATE TEMP TABLE line_rejects (source VARCHAR, line BIGINT, reason VARCHAR, detail VARCHAR, raw VARCHAR)")
        return LineStats(0, 0, 0)
    gz = [p for p in paths if _is_gzip(p)]
    plain = [p for p in paths if p not in gz]
    parts = []
    for group, comp in ((plain, "none"), (gz, "gzip")):
        if group:
            parts.append(
                f"SELECT filename AS source, raw FROM read_csv({_sql_list(group)}, columns={{'raw': 'VARCHAR'}}, "
                f"header=false, delim=chr(1), quote='', escape='', auto_detect=false, new_line='\\n', "
                f"compression='{comp}', store_rejects=true, strict_mode=false, filename=true, "
                f"max_line_size={int(max_record_bytes)})"
            )
    # Rejects accumulate across the scans of this statement.
    con.execute(
        "CREATE TEMP TABLE lines_all AS SELECT row_number() OVER () AS rec_id, source, raw FROM ("
        + " UNION ALL ".join(parts) + ")"
    )
    con.execute("CREATE TEMP TABLE lines AS SELECT * FROM lines_all WHERE raw IS NOT NULL")
    blank = con.execute("SELECT (SELECT count(*) FROM lines_all) - (SELECT count(*) FROM lines)").fetchone()[0]
    con.execute("DROP TABLE lines_all")
    con.execute(
        f"""CREATE TEMP TABLE line_rejects AS
        SELECT s.file_path AS source, e.line AS line,
               CASE WHEN e.error_type = 'LINE SIZE OVER MAXIMUM' THEN '{Reason.LINE_TOO_LONG}'
                    WHEN e.error_type = 'INVALID ENCODING' THEN '{Reason.INVALID_UTF8}'
                    ELSE '{Reason.UNREADABLE_LINE}' END AS reason,
               e.error_type || ' at byte ' || e.byte_position AS detail,
               e.csv_line AS raw, e.byte_position AS byte_position
        FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)"""
    )
    lines = con.execute("SELECT count(*) FROM lines").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM line_rejects").fetchone()[0]
    if rejected:
        _restore_exact_bytes(con, plain)
    con.execute("ALTER TABLE line_rejects DROP COLUMN byte_position")
    return LineStats(int(lines), int(blank), int(rejected))


def _restore_exact_bytes(con: duckdb.DuckDBPyConnection, plain: list[str]) -> None:
    """Keep the original line of every rejected record (nothing is lost): DuckDB's copy of a line with bad UTF-8
    has the bytes replaced, and it keeps no copy at all of an over-long line. Bad bytes are backslash-escaped."""
    rows = con.execute("SELECT rowid, source, byte_position FROM line_rejects ORDER BY source, byte_position").fetchall()
    plain_set = set(plain)
    for rowid, src, pos in rows:
        opener = open if src in plain_set else gzip.open  # gzip seeks in the decompressed stream
        with opener(src, "rb") as fh:
            fh.seek(max(int(pos) - 1, 0))  # DuckDB byte_position is 1-based
            raw = fh.readline().rstrip(b"\n")
        con.execute("UPDATE line_rejects SET raw = ? WHERE rowid = ?", [raw.decode("utf-8", "backslashreplace"), rowid])


def _is_gzip(p: str) -> bool:
    if p.endswith(".gz"):
        return True
    with open(p, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + str(Path(p)).replace("'", "''") + "'" for p in paths) + "]"
