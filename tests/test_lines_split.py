"""The line splitter over chunk and scan-block boundaries: every line once, terminators removed, as bytes.split says."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from akidb_pipelines.telemetry import lines as L


def _expected(data: bytes) -> list[bytes]:
    """Only \\n ends a line; one \\r right before it is part of the break; an unterminated last line keeps its \\r."""
    *ended, last = data.split(b"\n")
    out = [x[:-1] if x.endswith(b"\r") else x for x in ended]
    return out + [last] if last else out


def _got(path: str) -> list[bytes]:
    got = []
    for starts, sizes, data in L.split_lines(path):
        got += [bytes(data[s:s + n]) for s, n in zip(starts.tolist(), sizes.tolist())]
    return got


@pytest.mark.parametrize("chunk,scan", [(1 << 30, 1 << 22), (7, 3), (64, 5), (1, 1), (1000, 16)])
@pytest.mark.parametrize("gz", [False, True])
def test_split_matches_bytes_split_across_boundaries(tmp_path, monkeypatch, chunk, scan, gz) -> None:
    rng = np.random.default_rng(7)
    pieces = [b"{\"a\":1}", b"", b"\r", b"x\ry", b"long" * 40, b"\xff\xfe", b"last\r"]
    data = b"".join(pieces[i] + (b"\r\n" if rng.random() < 0.3 else b"\n") for i in rng.integers(0, len(pieces), 300))
    data += b"no newline at the end\r"
    p = tmp_path / ("f.ndjson.gz" if gz else "f.ndjson")
    p.write_bytes(gzip.compress(data) if gz else data)
    monkeypatch.setattr(L, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(L, "_SCAN_BYTES", scan)
    assert _got(str(p)) == _expected(data)


def test_newlines_finds_every_break_in_any_block_size() -> None:
    rng = np.random.default_rng(1)
    buf = rng.choice(np.array([10, 65, 13], np.uint8), 10_001)
    want = np.flatnonzero(buf == 10)
    for block in (1, 2, 3, 4096, 1 << 22):
        old = L._SCAN_BYTES
        try:
            L._SCAN_BYTES = block
            assert np.array_equal(L._newlines(buf), want)
        finally:
            L._SCAN_BYTES = old


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 1 << 30])
def test_a_byte_order_mark_is_dropped_at_the_start_only_whatever_the_chunk_size(tmp_path, monkeypatch, chunk):
    bom = b"\xef\xbb\xbf"
    p = tmp_path / "bom.ndjson"
    p.write_bytes(bom + b"a\n" + bom + b"b\n")
    monkeypatch.setattr(L, "CHUNK_BYTES", chunk)
    assert _got(str(p)) == [b"a", bom + b"b"]
    p.write_bytes(bom[:2] + b"x\n")  # not a whole mark: kept
    assert _got(str(p)) == [bom[:2] + b"x"]
    p.write_bytes(bom)  # a file of only the mark has no lines
    assert _got(str(p)) == []


@pytest.mark.parametrize("copy_rows", [1, 3, 1 << 17])
def test_lines_reach_duckdb_once_in_file_order_whatever_the_copy_batch(tmp_path, monkeypatch, copy_rows):
    import duckdb

    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    a.write_bytes(b"".join(b"a%d\n" % i for i in range(7)) + b"\n\xff\n" + b"a-last\n")
    b.write_bytes(b"\n".join(b"b%d" % i for i in range(5)))
    monkeypatch.setattr(L, "CHUNK_BYTES", 9)  # several chunks per file, so several batches to slice
    monkeypatch.setattr(L, "_COPY_ROWS", copy_rows)
    with duckdb.connect() as con:
        stats = L.load_lines(con, [str(a), str(b)])
        got = con.execute("SELECT rec_id, source, raw FROM lines").fetchall()
        rejected = con.execute("SELECT line, reason FROM line_rejects").fetchall()
    want = [(i + 1, str(a), f"a{i}") for i in range(7)] + [(10, str(a), "a-last")]
    want += [(11 + i, str(b), f"b{i}") for i in range(5)]
    assert got == want
    assert rejected == [(9, "invalid_utf8")]
    assert (stats.lines, stats.blank, stats.rejected) == (13, 1, 1)
