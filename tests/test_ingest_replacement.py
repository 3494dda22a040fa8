"""Re-ingesting replaces a batch's earlier output everywhere it wrote (issue 13, defect 3), and publishing is atomic
(defect 4): a process killed while publishing leaves readers the previous version whole, and the next run removes
what it left behind.

The kills here are deterministic (``os._exit`` at a chosen step of the publish, in a child process);
``test_ingest_faults.py`` kills with SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from akidb_pipelines.cli import main
from akidb_pipelines.cli.args import EX_OK
from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES, Reason

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
K0, K1 = PartitionKey(T0), PartitionKey(T0 + timedelta(hours=1))
EMF, EMF_Q = RAW_TABLES["emf"], QUARANTINE_TABLES["emf"]
REPO = Path(__file__).resolve().parents[1]
TRACE = "1-6906a000-0123456789abcdef01234567"


def record(kind: str, t: datetime, i: float) -> str:
    if kind == "emf":
        return json.dumps({"_aws": {"Timestamp": int(t.timestamp() * 1000), "CloudWatchMetrics": [
            {"Namespace": "AkiDB", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency"}]}]},
            "Service": "akidb-rest", "Latency": float(i)})
    if kind == "xray":
        s = t.timestamp()
        return json.dumps({"trace_id": TRACE, "id": f"{i:016x}", "name": "akidb-rest", "start_time": s,
                           "end_time": s + 0.25})
    return f'req_total{{n="{i}"}} {i} {t.timestamp():.3f}'


def write(path: Path, lines: list[str], kind: str = "emf") -> str:
    data = "".join(x + "\n" for x in lines) + ("# EOF\n" if kind == "prom" else "")
    path.write_text(data)
    return str(path)


def rows(lake: Lake, table: str) -> int:
    return lake.query_table(table, "SELECT count(*) FROM {src}")[0][0] if lake.has_data(table) else 0


def hours(lake: Lake, table: str, col: str) -> list[int]:
    return [h for (h,) in lake.query_table(table, f"SELECT DISTINCT hour({col}) FROM {{src}} ORDER BY 1")] \
        if lake.has_data(table) else []


# -- 3. a batch's new output replaces its old output in every partition ------------------------------------------

@pytest.mark.parametrize("kind, col", [("emf", "ts"), ("xray", "start_time"), ("prom", "ts")])
def test_rewriting_a_file_with_fewer_hours_removes_the_hours_it_no_longer_has(tmp_path, lake, kind, col):
    f = tmp_path / f"in.{kind}"
    write(f, [record(kind, T0 + timedelta(minutes=30 + 60 * h), h + 1) for h in range(4)], kind)
    r1 = ingest_files(kind, [str(f)], lake)
    assert len(r1.partitions) == 4 and hours(lake, RAW_TABLES[kind], col) == [0, 1, 2, 3]
    write(f, [record(kind, T0 + timedelta(minutes=30 + 60 * h), h + 1) for h in range(2)], kind)
    r2 = ingest_files(kind, [str(f)], lake)
    assert r2.batch == r1.batch
    assert hours(lake, RAW_TABLES[kind], col) == [0, 1]
    assert rows(lake, RAW_TABLES[kind]) == r2.rows_stored


def test_emptying_a_file_removes_its_rows_and_its_quarantine(tmp_path, lake):
    f = tmp_path / "in.ndjson"
    write(f, [record("emf", T0 + timedelta(minutes=m), m) for m in range(5)] + ["{broken"])
    ingest_files("emf", [str(f)], lake)
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (5, 1)
    write(f, [])
    r = ingest_files("emf", [str(f)], lake)
    assert (r.records_read, rows(lake, EMF), rows(lake, EMF_Q)) == (0, 0, 0)


def test_fixing_a_bad_line_removes_it_from_the_quarantine(tmp_path, lake):
    f = tmp_path / "in.ndjson"
    good = [record("emf", T0 + timedelta(minutes=m), m) for m in range(3)]
    write(f, good + ['{"_aws": "oops"}'])
    ingest_files("emf", [str(f)], lake)
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (3, 1)
    write(f, good + [record("emf", T0 + timedelta(minutes=4), 4)])
    ingest_files("emf", [str(f)], lake)
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (4, 0)


def test_the_same_file_under_another_partition_replaces_its_earlier_result(tmp_path, capsys):
    f = write(tmp_path / "hour0.ndjson", [record("emf", T0 + timedelta(minutes=m), m) for m in range(10)])
    lake = Lake(Path(os.environ["AKIDB_HOME"]) / "lake")
    assert main(["ingest", "emf", f, "--partition", "2026-11-02T00"]) == EX_OK
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (10, 0)
    # Delivered for 01:00 instead: all ten records are outside that hour. Records in = stored + quarantined.
    assert main(["ingest", "emf", f, "--partition", "2026-11-02T01"]) == EX_OK
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (0, 10)
    assert lake.query_table(EMF_Q, "SELECT DISTINCT reason FROM {src}") == [(Reason.OUTSIDE_PARTITION,)]
    assert main(["ingest", "emf", f, "--partition", "2026-11-02T00"]) == EX_OK
    assert (rows(lake, EMF), rows(lake, EMF_Q)) == (10, 0)
    catalog = Catalog(Path(os.environ["AKIDB_HOME"]) / "akidb.duckdb", lake)
    assert int(catalog.query("SELECT count(*) AS n FROM raw.emf_metrics")["n"][0]) == 10
    capsys.readouterr()


def test_a_landing_batch_reingests_one_hour_without_touching_its_other_hours(tmp_path, lake):
    files = {}
    for k in (K0, K1):
        files[k] = write(tmp_path / f"{k.start:%H}.ndjson",
                         [record("emf", k.start + timedelta(minutes=m), m) for m in range(5)])
    ingest_files("emf", list(files.values()), lake, batch="landing", partition_of={f: k for k, f in files.items()})
    write(Path(files[K1]), [record("emf", K1.start + timedelta(minutes=1), 1)])
    ingest_files("emf", [files[K1]], lake, batch="landing", partition_of={files[K1]: K1})
    assert [len(lake.batch_files(EMF, k, "landing")) for k in (K0, K1)] == [1, 1]
    assert hours(lake, EMF, "ts") == [0, 1] and rows(lake, EMF) == 6


# -- 4. atomic publishing: a process dies while publishing --------------------------------------------------------

DRIVER = textwrap.dedent("""
    import os, sys
    from akidb_pipelines.ingest import ingest_files
    from akidb_pipelines.storage import Catalog, Lake
    import akidb_pipelines.storage.lake as lake_mod
    root, path, step, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = {"n": 0}
    def dying(orig):
        def f(*a, **k):
            calls["n"] += 1
            if calls["n"] > n:
                os._exit(9)   # what SIGKILL does: no cleanup, no finally
            return orig(*a, **k)
        return f
    if step == "put":
        name = "put_file" if hasattr(lake_mod.Lake, "put_file") else "_put"
        setattr(lake_mod.Lake, name, dying(getattr(lake_mod.Lake, name)))
    elif step == "delete":
        name = "delete_object" if hasattr(lake_mod.Lake, "delete_object") else "_delete"
        setattr(lake_mod.Lake, name, dying(getattr(lake_mod.Lake, name)))
    lake = Lake(root)
    ingest_files("emf", [path], lake, batch="b", catalog=Catalog(sys.argv[5], lake))
    print("finished")
""")


def _emf_hours(path: Path, value: float, n_hours: int) -> str:
    lines = [record("emf", T0 + timedelta(hours=h, minutes=m), value) for h in range(n_hours) for m in range(0, 60, 6)]
    return write(path, lines + [f'{{"broken": {value}'] * 2)


def _die_while_publishing(tmp_path: Path, lake: Lake, f: str, step: str, after: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "AKIDB_STAGING_DIR": str(tmp_path / "staging")}
    return subprocess.run([sys.executable, "-c", DRIVER, lake.root, f, step, str(after), str(tmp_path / "c.duckdb")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _values(lake: Lake, catalog: Catalog) -> tuple[list, list, list]:
    """What readers see: the distinct values through Lake.query_table and through the catalog's view, and the
    quarantined raw lines."""
    via_lake = sorted(lake.query_table(EMF, "SELECT value, count(*) FROM {src} GROUP BY value"))
    df = catalog.query("SELECT value, count(*) AS n FROM raw.emf_metrics GROUP BY value ORDER BY value")
    via_catalog = [(float(v), int(n)) for v, n in zip(df["value"], df["n"])]
    bad = sorted(r for (r,) in lake.query_table(EMF_Q, "SELECT raw FROM {src}"))
    return via_lake, via_catalog, bad


@pytest.mark.parametrize("step, after", [("put", 0), ("put", 2), ("put", 3), ("delete", 0), ("delete", 3)])
def test_a_publish_killed_midway_leaves_the_previous_version_whole_and_the_next_run_cleans_up(
        tmp_path, step, after):
    (tmp_path / "staging").mkdir()
    lake = Lake(tmp_path / "lake")
    catalog = Catalog(tmp_path / "c.duckdb", lake)
    f = tmp_path / "events.ndjson"
    _emf_hours(f, 1.0, 4)   # version A: four hours of value 1.0
    ok = _die_while_publishing(tmp_path, lake, str(f), "none", 0)
    assert ok.returncode == 0, ok.stderr
    a = _values(lake, catalog)
    assert a[0] == a[1] == [(1.0, 40)] and len(a[2]) == 2

    _emf_hours(f, 2.0, 3)   # version B: three hours of value 2.0, published by a process that dies midway
    dead = _die_while_publishing(tmp_path, lake, str(f), step, after)
    assert dead.returncode == 9, dead.stderr
    seen = _values(lake, catalog)
    # readers see version A whole, or (a kill after the commit) version B whole; never a mix
    assert seen == a or (seen[0] == seen[1] == [(2.0, 30)] and seen[2] == ['{"broken": 2.0'] * 2), seen

    again = _die_while_publishing(tmp_path, lake, str(f), "none", 0)
    assert again.returncode == 0, again.stderr
    b = _values(lake, catalog)
    assert b[0] == b[1] == [(2.0, 30)] and b[2] == ['{"broken": 2.0'] * 2
    # nothing left behind: every Parquet file in the lake is a committed one, no temporary or pending file,
    # no staging folder
    on_disk = sorted(str(p) for p in Path(lake.root).rglob("*.parquet"))
    assert on_disk == sorted(lake.list_files(EMF) + lake.list_files(EMF_Q))
    assert [p for p in Path(lake.root).rglob("*") if ".tmp-" in p.name or "_pending" in p.parts and p.is_file()] == []
    assert list((tmp_path / "staging").iterdir()) == []
