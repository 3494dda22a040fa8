"""Ingest throughput (``make bench``): the full ingest beside a bare DuckDB parse and a naive Python loop.

Generates (once, cached under $AKIDB_HOME/bench) 1,000,000 EMF events shaped as Lambda@Edge writes them per
invocation (~4.2 values per event, as the issue specifies) and about 200,000 X-Ray segment documents from the
synthetic generator, then for plain and gzip input measures in the same run:

* bare parse: DuckDB ``read_json`` of the file into a table (the floor for any JSON ingest),
* full ingest: ``akidb_pipelines.ingest.ingest_files`` (parse, flatten, validate, quarantine, write Parquet),
* naive: ``json.loads`` per line, flatten in Python, pandas DataFrame, Parquet.

Reported as rows/s, MB/s and ratios within the run (the machine is shared; absolute seconds vary by 1.7x).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic import generate
from tests.benchmarks import results as bench_results
from tests.benchmarks.results import timed

EMF_TARGET = int(os.environ.get("BENCH_EMF_EVENTS", 1_000_000))
XRAY_TARGET = int(os.environ.get("BENCH_XRAY_DOCS", 200_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 1))


def _concat(files: list[Path], out: Path, limit: int) -> int:
    n = 0
    with open(out, "wb") as dst:
        for f in sorted(files):
            with open(f, "rb") as src:
                for line in src:
                    dst.write(line)
                    n += 1
                    if n >= limit:
                        return n
    return n


def write_emf_invocations(path: Path, n: int, seed: int = 1) -> None:
    """EMF as Lambda@Edge writes it per invocation (the issue's benchmark shape: ~540 bytes, ~4.2 values/event).

    Scalars mostly; one event in five carries InferenceLatency as an array (the logger flushed several puts), so a
    metric is a number on one line and an array on another, as in real EMF.
    """
    import numpy as np

    from akidb_pipelines.synthetic import topology as topo

    rng = np.random.default_rng(seed)
    t0 = int(datetime(2026, 9, 1, tzinfo=timezone.utc).timestamp() * 1000)
    ts = t0 + np.cumsum(rng.integers(0, 40, n))
    edge = rng.integers(0, len(topo.EDGE_LOCATIONS), n)
    model = rng.integers(0, len(topo.MODELS), n)
    lat = np.round(rng.lognormal(np.log(28.0), 0.29, n), 2)
    arr = rng.random(n) < 0.2
    hit = rng.random(n) < 0.35
    cold = rng.random(n) < 0.002
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            doc = {
                "_aws": {"Timestamp": int(ts[i]), "CloudWatchMetrics": [{
                    "Namespace": "AkiDB/Edge", "Dimensions": [["EdgeLocation", "Model"], ["EdgeLocation"]],
                    "Metrics": [{"Name": "InferenceLatency", "Unit": "Milliseconds"}, {"Name": "RequestCount", "Unit": "Count"},
                                {"Name": "CacheHit", "Unit": "Count"}, {"Name": "ColdStart", "Unit": "Count"}]}]},
                "EdgeLocation": topo.EDGE_LOCATIONS[edge[i]], "Model": topo.MODELS[model[i]], "Service": "lambda-edge",
                "InferenceLatency": [float(lat[i]), float(lat[(i + 1) % n])] if arr[i] else float(lat[i]),
                "RequestCount": 1, "CacheHit": int(hit[i]), "ColdStart": int(cold[i]),
                "requestId": f"{rng.bytes(16).hex()}", "traceId": f"1-{int(ts[i]) // 1000:08x}-{rng.bytes(12).hex()}",
                "functionVersion": "42", "memorySize": "128", "path": "/v1/search",
            }
            fh.write(json.dumps(doc, separators=(",", ":")) + "\n")


def prepare(home: Path) -> dict[str, Path]:
    d = home / "bench"
    d.mkdir(parents=True, exist_ok=True)
    emf, xray = d / "emf.ndjson", d / "xray.ndjson"
    if not emf.exists() or not xray.exists():
        print(f"generating {EMF_TARGET:,} EMF events (one per Lambda@Edge invocation) ...", flush=True)
        write_emf_invocations(emf, EMF_TARGET)
        # X-Ray at 12 traces/min, ~3.4 documents each -> ~3.5 days for 200k
        days_x = XRAY_TARGET / (12 * 3.4) / 1440 + 0.1
        print(f"generating {XRAY_TARGET:,} X-Ray documents ({days_x:.1f} days) ...", flush=True)
        g = generate(d / "gen-xray", datetime(2026, 9, 1, tzinfo=timezone.utc), days_x, seed=2, sources=("xray",),
                     traces_per_minute=12)
        _concat(g.files["xray"], xray, XRAY_TARGET)
        shutil.rmtree(d / "gen-xray")
    for p in (emf, xray):
        gz = p.with_suffix(p.suffix + ".gz")
        if not gz.exists():
            with open(p, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
    return {"emf": emf, "xray": xray, "emf.gz": emf.with_suffix(".ndjson.gz"), "xray.gz": xray.with_suffix(".ndjson.gz")}


def bare_parse(path: Path) -> int:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar=false")
    con.execute("CREATE TABLE t AS SELECT * FROM read_json(?, format='newline_delimited')", [str(path)])
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return n


def full_ingest(kind: str, path: Path, work: Path) -> int:
    lake = Lake(work / "lake")
    r = ingest_files(kind, [str(path)], lake, batch="bench")
    assert r.conserved
    shutil.rmtree(work / "lake", ignore_errors=True)
    return r.rows_stored


def _flatten_xray(doc: dict, trace_id: str | None, parent: str | None, depth: int, out: list) -> None:
    http = doc.get("http") or {}
    out.append({
        "trace_id": doc.get("trace_id") or trace_id, "id": doc.get("id"), "parent_id": doc.get("parent_id") or parent,
        "name": doc.get("name"), "start_time": doc.get("start_time"), "end_time": doc.get("end_time"),
        "duration_ms": ((doc.get("end_time") or 0) - (doc.get("start_time") or 0)) * 1000, "depth": depth,
        "http_status": (http.get("response") or {}).get("status"), "fault": bool(doc.get("fault")),
        "error": bool(doc.get("error")), "throttle": bool(doc.get("throttle")),
        "annotations": json.dumps(doc.get("annotations") or {}),
    })
    for s in doc.get("subsegments") or []:
        _flatten_xray(s, doc.get("trace_id") or trace_id, doc.get("id"), depth + 1, out)


def naive(kind: str, path: Path, work: Path) -> int:
    """The obvious script: json.loads per line, flatten in Python into column lists, pandas, Parquet."""
    cols: dict[str, list] = {}

    def add(row: dict) -> None:
        for k, v in row.items():
            cols.setdefault(k, []).append(v)

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if kind == "xray":
                rows: list[dict] = []
                _flatten_xray(doc, None, None, 0, rows)
                for r in rows:
                    add(r)
                continue
            aws = doc["_aws"]
            for d in aws["CloudWatchMetrics"]:
                dims = json.dumps({k: doc[k] for s in d["Dimensions"] for k in s})
                for m in d["Metrics"]:
                    v = doc[m["Name"]]
                    for i, x in enumerate(v if isinstance(v, list) else [v]):
                        add({"ts": aws["Timestamp"], "namespace": d["Namespace"], "metric_name": m["Name"],
                             "unit": m.get("Unit"), "value": float(x), "value_index": i, "dimensions": dims})
    df = pd.DataFrame(cols)
    df.to_parquet(work / "naive.parquet")
    return len(df)


def main() -> int:
    home = Path(os.environ.get("AKIDB_HOME", ".akidb")).resolve()
    files = prepare(home)
    load = bench_results.load_avg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("emf", "emf.gz", "xray", "xray.gz"):
            kind = name.split(".")[0]
            path = files[name]
            mb = files[kind].stat().st_size / 1e6
            print(f"{name}: {mb:.0f} MB uncompressed ({path.stat().st_size / 1e6:.0f} MB on disk)", flush=True)
            tb, nb = timed(bare_parse, path, repeat=REPEAT)
            tf, nf = timed(full_ingest, kind, path, work, repeat=REPEAT)
            tn, nn = timed(naive, kind, path, work, repeat=REPEAT)
            assert nf == nn, f"full ingest rows {nf} != naive rows {nn}"
            results.append((name, mb, nb, nf, tb, tf, tn))
            print(f"  bare {tb:.2f}s  full {tf:.2f}s  naive {tn:.2f}s", flush=True)
    print()
    print("| input | MB | records | rows out | bare DuckDB parse | full ingest | naive loop | full/bare | naive/full |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, mb, nb, nf, tb, tf, tn in results:
        print(f"| {name} | {mb:.0f} | {nb:,} | {nf:,} | {tb:.2f} s | {tf:.2f} s ({nf / tf / 1e6:.2f} M rows/s, "
              f"{mb / tf:.0f} MB/s) | {tn:.2f} s | {tf / tb:.2f}x | {tn / tf:.1f}x |")
    print("\ngoal: full/bare <= 2 (moonshot 1.5) and naive/full >= 4")
    rows = []
    for name, mb, nb, nf, tb, tf, tn in results:
        size = files[name].stat().st_size
        rows.append(bench_results.compared(f"{name} full ingest (parse, validate, quarantine, write)",
                                           "bare DuckDB read_json into a table", tb, tf, 2.0, rows=nb, bytes=size))
        rows.append(bench_results.compared(f"{name} full ingest", "naive json.loads loop -> pandas -> Parquet", tn, tf,
                                           0.25, rows=nb, bytes=size))
    print(f"results: {bench_results.record('bench_ingest', rows, load)}")
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
