"""JSON that DuckDB's reader accepts and RFC 8259 does not: a comma right before ``}`` or ``]``.

DuckDB parses with yyjson allowing trailing commas (``json_valid('{"a":1,}')`` is true), so ``{"Latency":1,}``
would be stored as if it were JSON. The lines that may hold one are found in SQL (a comma, blanks, a closing
bracket: rare in real telemetry, 0.2 s a million lines) and only those are parsed again by Python's strict
parser; a line it refuses is quarantined as ``invalid_json`` with the parser's message, before any format parser
sees it. NaN and Infinity literals are not judged here: the formats quarantine them as ``non_finite_value``.

Duplicate member names (``{"Latency":1,"Latency":2}``) are valid JSON by the grammar (RFC 8259 4 says names
SHOULD be unique); the parsers keep the first. Detecting them costs about 1 s a million EMF events (the member
names of every line hashed), so they are not checked.
"""

from __future__ import annotations

import json

import duckdb

from akidb_pipelines.telemetry.conventions import Reason
from akidb_pipelines.telemetry.lines import LineStats

MAYBE_TRAILING_COMMA = r",\s*[\]}]"


def _constant(name: str) -> float:
    return float("nan")  # NaN / Infinity literals: the formats' own rule (non_finite_value) judges them


def reject_lenient_json(con: duckdb.DuckDBPyConnection, stats: LineStats) -> int:
    """Move the lines of ``lines`` that only a lenient parser reads to ``line_rejects`` (``invalid_json``) and
    count them in ``stats`` as rejected lines; returns how many."""
    bad = []
    for rec_id, source, raw, line in con.execute(
            "SELECT rec_id, source, raw, line_of(rec_id) FROM lines WHERE regexp_matches(raw, $re)",
            {"re": MAYBE_TRAILING_COMMA}).fetchall():
        try:
            json.loads(raw, parse_constant=_constant)
        except json.JSONDecodeError as e:
            bad.append((rec_id, source, line, raw, f"not JSON by RFC 8259: {e.msg} at character {e.pos + 1}"))
        except RecursionError:  # nested deeper than Python parses; DuckDB read it, its grammar is not in question
            continue
    if not bad:
        return 0
    con.executemany("INSERT INTO line_rejects VALUES (?, ?, ?, ?, ?)",
                    [(source, line, Reason.INVALID_JSON, detail, raw) for _, source, line, raw, detail in bad])
    con.execute("DELETE FROM lines WHERE rec_id IN (SELECT unnest($ids::BIGINT[]))", {"ids": [b[0] for b in bad]})
    stats.lines -= len(bad)
    stats.rejected += len(bad)
    return len(bad)
