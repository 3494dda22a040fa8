"""Where an ingest's time goes (not part of ``make bench``): ``python -m tests.benchmarks.ingest_stages``.

For each of the benchmark inputs of ``bench_ingest`` (generated once under $AKIDB_HOME/bench), the bare DuckDB parse
and then one full ``ingest_files`` with its stages timed: reading and splitting the lines into DuckDB
(``load_lines``), the format's parse and checks (``parse_emf`` / ``parse_xray``), the partition check and the Parquet
write and publish (``_publish``); the rest is counting and bookkeeping. Seconds vary by 1.5x on a shared machine:
read the stages as shares of one run.

The last column is the floor of this design, whatever its checks cost: the lines loaded as ingest loads them (so a
bad line can be quarantined with its bytes), ONE JSON parse of every line into a map of its members, and the parsed
table written as Parquet, nothing validated or flattened. It says how close to the bare parse any ingest that keeps
per-line quarantine can come.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

import akidb_pipelines.ingest as ingest
from akidb_pipelines.storage import Lake
from akidb_pipelines.telemetry.lines import load_lines
from tests.benchmarks.bench_ingest import bare_parse, prepare

STAGES = ("load_lines", "parse_emf", "parse_xray", "_quarantine_outside", "_publish")


def timed_stages(kind: str, path: Path, work: Path) -> tuple[float, dict[str, float]]:
    spent: dict[str, float] = {}
    originals = {name: getattr(ingest, name) for name in STAGES}

    def wrap(name, fn):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        return timed

    for name, fn in originals.items():
        setattr(ingest, name, wrap(name, fn))
    try:
        t = time.perf_counter()
        ingest.ingest_files(kind, [str(path)], Lake(work / "lake"), batch="bench")
        total = time.perf_counter() - t
    finally:
        for name, fn in originals.items():
            setattr(ingest, name, fn)
        shutil.rmtree(work / "lake", ignore_errors=True)
    return total, spent


def design_floor(path: Path, work: Path) -> float:
    """Seconds to load the lines, parse each once into a map of JSON members and write that as Parquet."""
    t = time.perf_counter()
    with duckdb.connect() as con:
        load_lines(con, [str(path)])
        con.execute("""COPY (SELECT rec_id, json_transform_strict(raw, '"MAP(VARCHAR, JSON)"') AS m FROM lines)
                       TO $out (FORMAT parquet, COMPRESSION zstd)""", {"out": str(work / "floor.parquet")})
    (work / "floor.parquet").unlink()
    return time.perf_counter() - t


def main() -> int:
    files = prepare(Path(os.environ.get("AKIDB_HOME", ".akidb")).resolve())
    print("| input | bare parse | full ingest | load_lines | parse + checks | write + publish | other | design floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("emf", "xray"):
            t0 = time.perf_counter()
            bare_parse(files[name])
            bare = time.perf_counter() - t0
            total, s = timed_stages(name, files[name], Path(tmp))
            parse = s.get("parse_emf", 0.0) + s.get("parse_xray", 0.0)
            other = total - sum(s.values())
            floor = design_floor(files[name], Path(tmp))
            print(f"| {name} | {bare:.2f} s | {total:.2f} s ({total / bare:.1f}x) | {s['load_lines']:.2f} s | "
                  f"{parse:.2f} s | {s['_publish']:.2f} s | {other:.2f} s | {floor:.2f} s ({floor / bare:.1f}x) |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
