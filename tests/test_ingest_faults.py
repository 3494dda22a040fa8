"""Fault test (issue 13): ``akidb ingest``'s core killed with SIGKILL at random moments, many times, on a batch
big enough that publishing takes a while (two days of EMF in 96 partitions of rows and quarantine rows).

After every kill, each view (``raw.emf_metrics`` and ``quarantine.emf_metrics`` through the catalog, and the same
tables through ``Lake.query_table``) shows one whole version of the batch (never a mix, never a part); the
leftovers of the killed process are removed by the next run (half of the time by an explicit cleanup, which is
what every publish starts with, and checked right away; the other half by the next run itself); and a final
re-run ends with exactly the rows of a clean run, and nothing else in the lake or the staging folder.

The kills are seeded; two thirds of them wait for the driver to reach publishing (it says so on stdout), so they
land while files are moved and committed. No assertion depends on time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.storage import Catalog, Lake
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
EMF, EMF_Q = RAW_TABLES["emf"], QUARANTINE_TABLES["emf"]
REPO = Path(__file__).resolve().parents[1]
KILLS = 14
SEED = 13

DRIVER = textwrap.dedent("""
    import sys, time
    import akidb_pipelines.ingest as ingest
    from akidb_pipelines.storage import Catalog, Lake
    root, path, catalog = sys.argv[1:4]
    publish = ingest._publish
    def announced(*a, **k):
        print("publishing", flush=True)
        t = time.perf_counter()
        out = publish(*a, **k)
        print(f"published {time.perf_counter() - t:.3f}", flush=True)
        return out
    ingest._publish = announced
    lake = Lake(root)
    r = ingest.ingest_files("emf", [path], lake, batch="faults", catalog=Catalog(catalog, lake))
    assert r.conserved
    print("done", flush=True)
""")


def _version(path: Path, value: float, n_hours: int, per_hour: int) -> None:
    """``n_hours`` of EMF events of ``value``; one event in 20 breaks the EMF specification (a string metric),
    so the quarantine has rows in every hour too; plus two lines that are not JSON."""
    lines = []
    for h in range(n_hours):
        for i in range(per_hour):
            t = T0 + timedelta(hours=h, seconds=i * 3600 // per_hour)
            latency = "slow" if i % 20 == 7 else value
            lines.append(json.dumps({
                "_aws": {"Timestamp": int(t.timestamp() * 1000), "CloudWatchMetrics": [{
                    "Namespace": "AkiDB/Edge", "Dimensions": [["Service", "EdgeLocation"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Count"}]}]},
                "Service": "lambda-edge", "EdgeLocation": f"E{i % 7}", "Latency": latency, "Count": [1, 2, 3],
                "requestId": f"{h:04d}-{i:06d}-{value}"}, separators=(",", ":")))
    lines += [f'{{"not json": {value}', "\x00\x01 binary"]
    path.write_text("\n".join(lines) + "\n")


def _fingerprints(lake: Lake, catalog: Catalog) -> dict[str, list]:
    """Per view: (value, hour, rows) for the raw table, (reason, hour, rows) for the quarantine."""
    raw = "SELECT value, epoch(date_trunc('hour', ts))::BIGINT AS h, count(*) AS n FROM {src} GROUP BY ALL ORDER BY ALL"
    bad = ("SELECT reason, coalesce(epoch(date_trunc('hour', record_ts))::BIGINT, -1) AS h, count(*) AS n FROM {src} "
           "GROUP BY ALL ORDER BY ALL")
    out = {"lake raw": [tuple(r) for r in lake.query_table(EMF, raw)],
           "lake quarantine": [tuple(r) for r in lake.query_table(EMF_Q, bad)]}
    for name, table, sql in (("catalog raw", "raw.emf_metrics", raw), ("catalog quarantine", "quarantine.emf_metrics",
                                                                        bad)):
        df = catalog.query(sql.format(src=table))
        out[name] = [tuple(x.item() if hasattr(x, "item") else x for x in row) for row in df.itertuples(index=False)]
    return out


def _start(lake: Lake, data: Path, catalog: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, lake.root, str(data), str(catalog)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(lake: Lake, data: Path, catalog: Path, env: dict) -> float:
    """A complete run; returns how long its publishing took (to aim the kills)."""
    p = _start(lake, data, catalog, env)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return float(next(x for x in out.splitlines() if x.startswith("published")).split()[1])


def _leftovers(lake: Lake, staging: Path) -> list[str]:
    """What is in the lake or the staging folder besides committed data and commit records."""
    committed = set(lake.list_files(EMF) + lake.list_files(EMF_Q))
    out = [str(p) for p in Path(lake.root).rglob("*") if p.is_file()
           and str(p) not in committed and not (p.parent.name == "_commits" and p.suffix == ".json")]
    return sorted(out + [str(p) for p in staging.iterdir()])


def _rows(lake: Lake) -> tuple[list, list]:
    raw = lake.query_table(EMF, "SELECT * EXCLUDE (source) FROM {src} ORDER BY ALL")
    bad = lake.query_table(EMF_Q, "SELECT * EXCLUDE (source, ingested_at) FROM {src} ORDER BY ALL")
    return raw, bad


def test_sigkill_at_random_points_of_a_publish_never_shows_a_partial_batch(tmp_path, monkeypatch):
    rnd = random.Random(SEED)
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("AKIDB_STAGING_DIR", str(staging))  # for the drivers and for the cleanup run here
    env = dict(os.environ)
    versions = {}
    for name, value, n_hours in (("a", 1.0, 48), ("b", 2.0, 40)):
        versions[name] = tmp_path / f"{name}.ndjson"
        _version(versions[name], value, n_hours, per_hour=400)
    data = tmp_path / "events.ndjson"   # the file the batch reads; rewritten with a or b before each run

    # Clean runs: the expected views of each version.
    expected, publish_s = {}, []
    for name, src in versions.items():
        clean = Lake(tmp_path / f"clean-{name}")
        data.write_bytes(src.read_bytes())
        publish_s.append(_run(clean, data, tmp_path / f"clean-{name}.duckdb", env))
        expected[name] = _fingerprints(clean, Catalog(tmp_path / f"clean-{name}.duckdb", clean))
    whole = {view: [v[view] for v in expected.values()] for view in expected["a"]}
    assert expected["a"] != expected["b"] and all(len(x) > 40 for x in expected["a"].values())

    lake, cat_path = Lake(tmp_path / "lake"), tmp_path / "lake.duckdb"
    catalog = Catalog(cat_path, lake)
    data.write_bytes(versions["a"].read_bytes())
    _run(lake, data, cat_path, env)
    assert _fingerprints(lake, catalog) == expected["a"]

    aim = max(publish_s) * 1.2
    killed_in_publish = 0
    for i in range(KILLS):
        data.write_bytes(versions["ab"[(i + 1) % 2]].read_bytes())
        p = _start(lake, data, cat_path, env)
        out = ""
        if i % 3:  # wait until it publishes, then kill somewhere inside
            out = p.stdout.readline()
            assert out.strip() == "publishing", (out, p.stderr.read() if p.poll() is not None else "")
            time.sleep(rnd.uniform(0, aim))
        else:      # anywhere in the run: starting, parsing, publishing, registering the views
            time.sleep(rnd.uniform(0.2, 3.0))
        p.send_signal(signal.SIGKILL)
        out += p.communicate(timeout=60)[0]
        killed_in_publish += p.returncode == -signal.SIGKILL and "publishing" in out and "published" not in out

        seen = _fingerprints(lake, catalog)
        for view, fp in seen.items():
            assert fp in whole[view], f"kill {i}: {view} shows part of a batch"
        if i % 2:  # what the next run's first step does, checked right away (the others: by the next run)
            lake.cleanup([EMF, EMF_Q])
            assert _leftovers(lake, staging) == [], f"kill {i}: leftovers after the cleanup"
            assert _fingerprints(lake, catalog) == seen, "the cleanup changed what readers see"

    print(f"\n{killed_in_publish} of {KILLS} kills landed while publishing")
    assert killed_in_publish >= KILLS // 3, "too few kills landed while publishing"
    # The final re-run ends equal to a clean run, with nothing else left behind.
    data.write_bytes(versions["b"].read_bytes())
    _run(lake, data, cat_path, env)
    assert _fingerprints(lake, catalog) == expected["b"]
    assert _rows(lake) == _rows(Lake(tmp_path / "clean-b"))
    assert _leftovers(lake, staging) == []
