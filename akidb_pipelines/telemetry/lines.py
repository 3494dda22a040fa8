"""Read line-oriented input files (plain or gzip) into DuckDB as one row per line.

Each path names exactly one regular file: it is opened by Python and never handed to DuckDB as a path, so a name
holding ``*``, ``?`` or ``[`` is that file and nothing else. Only ``\\n`` ends a line, and one ``\\r`` right before it
belongs to the line break (CRLF files); a lone ``\\r`` is an ordinary byte of its line. A UTF-8 byte order mark at the
start of a file is not part of its first line. Lines that are not valid UTF-8, or longer than the record limit, are
not lost: they become quarantine rows with their line number and their bytes (bad bytes backslash-escaped).

The split is vectorised: numpy finds the line breaks of a chunk of the file and builds an Arrow ``binary_view``
array over the chunk's bytes (no copy per line), Arrow checks the UTF-8 of all lines at once, DuckDB copies them in.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from akidb_pipelines.telemetry.conventions import MAX_RECORD_BYTES, Reason

CHUNK_BYTES = 1 << 30      # most files are one chunk: no carry-over copy (Arrow views address < 2 GiB per buffer)
MAX_LINE_BYTES = 1 << 30   # a "line" longer than this means the file is not line-oriented
BOM = b"\xef\xbb\xbf"       # a UTF-8 byte order mark, dropped at the start of a file
_SCAN_BYTES = 1 << 22      # newlines are searched block by block through one reused mask (no 1-byte-per-byte array)
_COPY_ROWS = 1 << 17       # DuckDB copies an Arrow table in one batch per thread: batches this long keep both busy


class SourceFileError(OSError):
    """A source file is missing or unreadable; the message names it."""


@dataclass
class LineStats:
    lines: int          # non-blank lines read as text
    blank: int          # empty lines (not records)
    rejected: int       # lines that are not text or too long (quarantined)


def check_readable(paths: list[str]) -> None:
    """Each path must be an existing regular file we may read (not a folder, a device or a pipe)."""
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise SourceFileError(f"{p}: no such file") from None
        except OSError as e:
            raise SourceFileError(f"{p}: cannot be read ({e.strerror or e})") from None
        if stat.S_ISDIR(st.st_mode):
            raise SourceFileError(f"{p}: is a directory, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise SourceFileError(f"{p}: is not a regular file")
        try:
            with open(p, "rb"):
                pass
        except OSError as e:
            raise SourceFileError(f"{p}: cannot be read ({e.strerror or e})") from None


def is_gzip(p: str) -> bool:
    if p.endswith(".gz"):
        return True
    with open(p, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_bytes(p: str) -> bytes:
    """The whole (decompressed) content of one input file."""
    return b"".join(_chunks(p))


def _chunks(p: str) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks, without a UTF-8 byte order mark at its start (RFC 8259 8.1 lets a
    reader ignore it; editors on Windows write one, and it would make the first record unreadable)."""
    try:
        with (gzip.open(p, "rb") if is_gzip(p) else open(p, "rb")) as fh:
            first = fh.read(CHUNK_BYTES)
            while len(first) < len(BOM) and (more := fh.read(CHUNK_BYTES)):
                first += more
            if first.startswith(BOM):
                first = first[len(BOM):]
            if first:
                yield first
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
    except (OSError, EOFError, zlib.error) as e:  # a truncated or damaged gzip stream, an I/O error
        raise SourceFileError(f"{p}: cannot be read ({e})") from None


def split_lines(p: str) -> Iterator[tuple[np.ndarray, np.ndarray, bytes]]:
    """(line starts, line lengths, bytes) per chunk of ``p``: every line of the file once, terminators removed."""
    carry = b""
    for chunk in _chunks(p):
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            if len(carry) > MAX_LINE_BYTES:
                raise SourceFileError(f"{p}: a line longer than {MAX_LINE_BYTES >> 20} MiB (not a line-oriented file?)")
            continue
        carry = data[cut + 1:]
        yield _split(data, cut + 1)
    if carry:
        yield _split(carry, len(carry))


def _split(data: bytes, n: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Lines of ``data[:n]`` (which ends with a newline, unless it is the file's last line)."""
    buf = np.frombuffer(data, np.uint8, count=n)
    ends = _newlines(buf)
    if not len(ends) or ends[-1] != n - 1:
        ends = np.append(ends, n)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    cr = (ends > starts) & (ends < n) & (buf[np.maximum(ends - 1, 0)] == 13)  # \r\n; a final \r stays
    return starts, ends - starts - cr, data


def _newlines(buf: np.ndarray) -> np.ndarray:
    """Positions of every ``\\n`` in ``buf``."""
    mask = np.empty(min(len(buf), _SCAN_BYTES), bool)
    parts = [np.empty(0, np.int64)]
    for i in range(0, len(buf), _SCAN_BYTES):
        seg = buf[i:i + _SCAN_BYTES]
        m = mask[:len(seg)]
        np.equal(seg, 10, out=m)
        parts.append(np.flatnonzero(m) + i)
    return np.concatenate(parts)


def _views(starts: np.ndarray, sizes: np.ndarray, data: bytes) -> pa.Array:
    """An Arrow ``binary_view`` array of the lines (views into ``data``; short lines inline, as the format says)."""
    m, n = len(sizes), len(data)
    v = np.zeros((m, 4), np.int32)
    v[:, 0] = sizes
    vb = v.view(np.uint8).reshape(m, 16)
    idx = np.minimum(starts[:, None] + np.arange(12), max(n - 1, 0))
    head = np.frombuffer(data, np.uint8)[idx] if n else np.zeros((m, 12), np.uint8)
    short = sizes <= 12
    head[short] *= np.arange(12)[None, :] < sizes[short][:, None]
    vb[short, 4:16] = head[short]
    long_ = ~short
    vb[long_, 4:8] = head[long_, :4]
    v[long_, 3] = starts[long_]
    return pa.Array.from_buffers(pa.binary_view(), m, [None, pa.py_buffer(v), pa.py_buffer(data)])


def load_lines(con: duckdb.DuckDBPyConnection, paths: list[str], max_record_bytes: int = MAX_RECORD_BYTES) -> LineStats:
    """Create temp tables ``lines(rec_id, source, raw)`` and ``line_rejects`` (quarantine shape) from ``paths``.

    A line's ``rec_id`` counts lines over all the files in order, so the macro ``line_of(rec_id)`` (defined here over
    the table ``line_files`` of each file's ``rec_id`` range) gives its line number in its own file, for the
    quarantine rows of the parsers."""
    check_readable(paths)
    con.execute("DROP TABLE IF EXISTS lines; DROP TABLE IF EXISTS line_rejects")
    con.execute("CREATE OR REPLACE TEMP TABLE line_files (lo BIGINT, hi BIGINT)")
    con.execute("CREATE OR REPLACE TEMP MACRO line_of(r) AS (SELECT r - f.lo FROM line_files f WHERE r > f.lo AND r <= f.hi)")
    con.execute("CREATE TEMP TABLE line_rejects (source VARCHAR, line BIGINT, reason VARCHAR, detail VARCHAR, raw VARCHAR)")
    n_blank = 0
    rejects: list[tuple] = []
    batches: list[pa.RecordBatch] = []
    rec_base = 0
    file_ranges: list[tuple[int, int]] = []
    for p in paths:
        line_base = 0
        for starts, sizes, data in split_lines(p):
            bad = sizes > max_record_bytes
            text = None
            try:  # Arrow checks the UTF-8 of every line at once
                text = _views(starts, np.where(bad, 0, sizes), data).cast(pa.string_view())
            except pa.ArrowInvalid:  # some line is not UTF-8: find which, the rare slow way
                lines = _views(starts, np.where(bad, 0, sizes), data).to_pylist()
                bad |= np.array([not _is_utf8(b) for b in lines], bool)
            blank = sizes == 0
            for i in np.flatnonzero(bad):
                rejects.append(_reject(p, line_base + int(i) + 1, data[starts[i]:starts[i] + sizes[i]], max_record_bytes))
            keep = ~bad & ~blank
            if text is None or not keep.all():
                text = _views(starts[keep], sizes[keep], data).cast(pa.string_view())
            n = int(keep.sum())
            batches.append(pa.record_batch({
                "rec_id": pa.array(rec_base + line_base + 1 + np.flatnonzero(keep), pa.int64()),
                "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([p])),
                "raw": text}))
            n_blank += int(blank.sum())
            line_base += len(sizes)
        file_ranges.append((rec_base, rec_base + line_base))
        rec_base += line_base
    if batches:  # one statement over every chunk: DuckDB copies them in on all its threads
        parts = [b.slice(i, _COPY_ROWS) for b in batches for i in range(0, b.num_rows, _COPY_ROWS)]  # no copy
        con.register("akidb_lines", pa.Table.from_batches(parts, schema=batches[0].schema))
        con.execute("CREATE TEMP TABLE lines AS SELECT rec_id, source::VARCHAR AS source, raw FROM akidb_lines")
        con.unregister("akidb_lines")
    else:
        con.execute("CREATE TEMP TABLE lines (rec_id BIGINT, source VARCHAR, raw VARCHAR)")
    if rejects:
        con.executemany("INSERT INTO line_rejects VALUES (?, ?, ?, ?, ?)", rejects)
    if file_ranges:
        con.executemany("INSERT INTO line_files VALUES (?, ?)", file_ranges)
    n_lines = sum(b.num_rows for b in batches)
    return LineStats(n_lines, n_blank, len(rejects))


def _reject(p: str, line: int, raw: bytes, max_record_bytes: int) -> tuple:
    text = raw.decode("utf-8", "backslashreplace")
    if len(raw) > max_record_bytes:
        return p, line, Reason.LINE_TOO_LONG, f"line {line}: {len(raw)} bytes, over the limit of {max_record_bytes}", text
    return p, line, Reason.INVALID_UTF8, f"line {line}: invalid UTF-8 at byte {_utf8_error(raw)}", text


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_error(b: bytes) -> int:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start + 1
    return 0
