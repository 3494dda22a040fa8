"""Lake behaviour of ``ingest_files``: idempotent batches, partition ownership and replacement, the partition
tolerance, gzip input, the catalog views, the conservation check against what is really in the lake, and two
processes ingesting into one lake and one catalog at the same time."""

from __future__ import annotations

import gzip
import json
import math
import multiprocessing
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from akidb_pipelines.ingest import TIME_COLUMN, IngestReport, ingest_files, read_batch, verify_batch
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES, Reason

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
K0 = PartitionKey(T0)
K1 = PartitionKey(T0 + timedelta(hours=1))
K2 = PartitionKey(T0 + timedelta(hours=2))
TRACE = "1-6906a000-0123456789abcdef01234567"
EMF, EMF_Q = RAW_TABLES["emf"], QUARANTINE_TABLES["emf"]


# -- record makers: one good record of each kind at a given time ---------------------------------------------------

def emf_line(t: datetime, value: float | list = 1.0, service: str = "akidb-rest", **extra) -> str:
    ev = {"_aws": {"Timestamp": int(t.timestamp() * 1000), "CloudWatchMetrics": [
        {"Namespace": "AkiDB", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": service, "Latency": value}
    ev.update(extra)
    return json.dumps(ev, separators=(",", ":"))


def xray_line(t: datetime, n: int = 1, **extra) -> str:
    s = t.timestamp()
    doc = {"trace_id": TRACE, "id": f"{n:016x}", "name": "akidb-rest", "start_time": s, "end_time": s + 0.25,
           "subsegments": [{"id": f"{n + 10_000:016x}", "name": "db", "start_time": s, "end_time": s + 0.1}]}
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":"))


def prom_line(t: datetime, n: int = 1) -> str:
    return f'req_total{{service="akidb-rest",n="{n}"}} {n} {t.timestamp():.3f}'


def record(kind: str, t: datetime, i: int = 1) -> str:
    """One good record of ``kind`` at ``t``; ``i`` makes it distinct (EMF value, X-Ray id, Prometheus series)."""
    if kind == "emf":
        return emf_line(t, float(i))
    return xray_line(t, n=i) if kind == "xray" else prom_line(t, n=i)


def write(path: Path, lines: list[str | bytes], kind: str | None = None, gz: bool = False) -> str:
    data = b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)
    if kind == "prom":
        data += b"# EOF\n"   # OpenMetrics: timestamps in seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return str(path)


def keys_of(report: IngestReport) -> list[PartitionKey]:
    out = []
    for rel in report.partitions:
        d, h = rel.split("/")
        out.append(PartitionKey(datetime.strptime(f"{d[5:]} {h[5:]}", "%Y-%m-%d %H").replace(tzinfo=timezone.utc)))
    return out


def count(lake: Lake, table: str, where: str = "true") -> int:
    if not lake.list_files(table):
        return 0
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {where}", [lake.glob(table)]).fetchone()[0]
    finally:
        con.close()


def rel_files(lake: Lake, table: str) -> list[str]:
    """The table's committed files relative to it, each publish's version id left out
    (``<batch>-<pub>-<i>.parquet`` -> ``<batch>-<i>.parquet``)."""
    base = lake.table_uri(table)
    return sorted(unversioned(os.path.relpath(f, base)) for f in lake.list_files(table))


def unversioned(name: str) -> str:
    return re.sub(r"-[0-9a-f]{22}-(\d+)\.parquet$", r"-\1.parquet", name)


def assert_conserved(r: IngestReport) -> None:
    assert r.records_read == r.records_stored + r.records_quarantined + r.duplicates_dropped, r.to_dict()


# -- idempotency -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["emf", "xray", "prom"])
@pytest.mark.parametrize(
    "partition_of",
    [pytest.param(None, id="each record in the hour of its own time"),
     pytest.param(K0, id="all files delivered for one PartitionKey")],
)
def test_ingesting_the_same_files_twice_with_the_same_batch_changes_nothing(tmp_path, lake, kind, partition_of):
    lines = [record(kind, T0 + timedelta(minutes=m), m + 1) for m in range(0, 50, 5)] + ["not a record at all {"]
    f = write(tmp_path / f"in.{kind}", lines, kind)
    first = ingest_files(kind, [f], lake, batch="b1", partition_of=partition_of)
    files_1 = rel_files(lake, RAW_TABLES[kind]) + rel_files(lake, QUARANTINE_TABLES[kind])
    n_1 = (count(lake, RAW_TABLES[kind]), count(lake, QUARANTINE_TABLES[kind]))
    second = ingest_files(kind, [f], lake, batch="b1", partition_of=partition_of)
    files_2 = rel_files(lake, RAW_TABLES[kind]) + rel_files(lake, QUARANTINE_TABLES[kind])
    n_2 = (count(lake, RAW_TABLES[kind]), count(lake, QUARANTINE_TABLES[kind]))
    assert (first.records_read, first.records_stored, first.records_quarantined) == (11, 10, 1)
    assert n_1 == n_2 == (first.rows_stored, 1)
    assert files_1 == files_2
    assert all(os.path.basename(p).startswith("b1-") for p in files_2)
    assert first.partitions == second.partitions


def test_without_a_batch_name_the_same_paths_give_the_same_batch_and_replace_it(tmp_path, lake):
    f = write(tmp_path / "a.ndjson", [emf_line(T0 + timedelta(minutes=1), [1, 2, 3])])
    r1 = ingest_files("emf", [f], lake)
    r2 = ingest_files("emf", [f], lake)
    assert r1.batch == r2.batch and r1.batch.startswith("file-")
    assert count(lake, EMF) == 3
    assert rel_files(lake, EMF) == [f"date=2026-11-02/hour=00/{r1.batch}-0.parquet"]


# -- partition ownership -----------------------------------------------------------------------------------------

def _hour_files(tmp_path: Path) -> dict[PartitionKey, str]:
    out = {}
    for i, k in enumerate((K0, K1, K2)):
        lines = [emf_line(k.start + timedelta(minutes=m), float(i)) for m in (5, 25, 45)] + ["{bad"]
        out[k] = write(tmp_path / "landing" / "emf" / k.path / "events.ndjson", lines)
    return out


def test_reingesting_with_one_hour_file_removed_empties_that_owned_partition(tmp_path, lake):
    files = _hour_files(tmp_path)
    r = ingest_files("emf", list(files.values()), lake, batch="landing", partition_of={f: k for k, f in files.items()})
    assert r.records_stored == 9 and r.records_quarantined == 3
    assert [count(lake, EMF, f"value = {i}") for i in range(3)] == [3, 3, 3]
    assert len(lake.batch_files(EMF, K1, "landing")) == 1
    assert len(lake.batch_files(EMF_Q, K1, "landing")) == 1

    kept = {K0: files[K0], K2: files[K2]}
    r = ingest_files("emf", list(kept.values()), lake, batch="landing", partition_of={f: k for k, f in kept.items()},
                     owned=[K0, K1, K2])
    assert r.records_stored == 6
    assert [count(lake, EMF, f"value = {i}") for i in range(3)] == [3, 0, 3]
    assert lake.batch_files(EMF, K1, "landing") == []
    assert lake.batch_files(EMF_Q, K1, "landing") == []
    assert count(lake, EMF_Q) == 2
    assert r.window == (K0.start.isoformat(), K2.end.isoformat())


def test_a_partition_not_owned_by_the_rerun_keeps_its_rows(tmp_path, lake):
    files = _hour_files(tmp_path)
    ingest_files("emf", list(files.values()), lake, batch="landing", partition_of={f: k for k, f in files.items()})
    ingest_files("emf", [files[K0]], lake, batch="landing", partition_of={files[K0]: K0})
    assert [count(lake, EMF, f"value = {i}") for i in range(3)] == [3, 3, 3]


def test_a_rerun_of_one_batch_leaves_other_batches_in_the_partition_alone(tmp_path, lake):
    a = write(tmp_path / "a.ndjson", [emf_line(T0 + timedelta(minutes=m), 1.0) for m in range(10)])
    b = write(tmp_path / "b.ndjson", [emf_line(T0 + timedelta(minutes=m), 2.0) for m in range(4)])
    ingest_files("emf", [a], lake, batch="batch-a", partition_of=K0)
    ingest_files("emf", [b], lake, batch="batch-b", partition_of=K0)
    assert rel_files(lake, EMF) == ["date=2026-11-02/hour=00/batch-a-0.parquet",
                                    "date=2026-11-02/hour=00/batch-b-0.parquet"]
    assert (count(lake, EMF, "value = 1"), count(lake, EMF, "value = 2")) == (10, 4)
    a2 = write(tmp_path / "a2.ndjson", [emf_line(T0 + timedelta(minutes=m), 3.0) for m in range(2)])
    ingest_files("emf", [a2], lake, batch="batch-a", partition_of=K0)
    assert (count(lake, EMF, "value = 1"), count(lake, EMF, "value = 2"), count(lake, EMF, "value = 3")) == (0, 4, 2)
    assert sorted(read_batch(lake, EMF, "batch-b", [K0], "value")["value"]) == [2.0] * 4


# -- partition tolerance -----------------------------------------------------------------------------------------

OFFSETS = [  # seconds relative to the start of K0, and whether the record is kept
    (-301, False), (-299, True), (0, True), (1800, True), (3600 + 299, True), (3600 + 301, False),
]


@pytest.mark.parametrize("kind", ["emf", "xray", "prom"])
def test_records_more_than_300_s_outside_their_file_partition_are_quarantined(tmp_path, lake, kind):
    lines = [record(kind, T0 + timedelta(seconds=s), i + 1) for i, (s, _) in enumerate(OFFSETS)]
    f = write(tmp_path / f"hour.{kind}", lines, kind)
    r = ingest_files(kind, [f], lake, batch="landing", partition_of={f: K0})
    assert_conserved(r)
    assert (r.records_read, r.records_stored, r.records_quarantined) == (6, 4, 2)
    assert r.quarantine_by_reason == {Reason.OUTSIDE_PARTITION: 2}
    # Kept records land in the file's partition even when their own time is in the hour before or after.
    assert r.partitions == ["date=2026-11-02/hour=00"]
    assert rel_files(lake, RAW_TABLES[kind]) == ["date=2026-11-02/hour=00/landing-0.parquet"]
    assert rel_files(lake, QUARANTINE_TABLES[kind]) == ["date=2026-11-02/hour=00/landing-0.parquet"]
    stored = read_batch(lake, RAW_TABLES[kind], "landing", [K0], f"DISTINCT rec_id, epoch({TIME_COLUMN[kind]}) AS t")
    if kind == "xray":  # the subsegment starts with its segment in this corpus
        stored = stored.drop_duplicates("rec_id")
    assert sorted(round(t - T0.timestamp()) for t in stored["t"]) == [s for s, kept in OFFSETS if kept]


def test_an_outside_partition_emf_record_is_quarantined_with_its_time_and_raw(tmp_path, lake):
    late = emf_line(T0 + timedelta(hours=2), 9.0)
    f = write(tmp_path / "hour.ndjson", [emf_line(T0 + timedelta(minutes=1)), late])
    ingest_files("emf", [f], lake, batch="landing", partition_of={f: K0})
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    rows = con.execute("SELECT reason, detail, raw, record_ts FROM read_parquet(?)", [lake.glob(EMF_Q)]).fetchall()
    assert rows == [(Reason.OUTSIDE_PARTITION,
                     "time 2026-11-02T02:00:00Z outside partition 2026-11-02T00 (tolerance 300s)", late,
                     T0 + timedelta(hours=2))]


def test_a_tolerance_of_zero_quarantines_a_record_one_second_early(tmp_path, lake):
    f = write(tmp_path / "hour.ndjson", [emf_line(T0 - timedelta(seconds=1)), emf_line(T0)])
    r = ingest_files("emf", [f], lake, partition_of=K0, tolerance_s=0)
    assert (r.records_stored, r.quarantine_by_reason) == (1, {Reason.OUTSIDE_PARTITION: 1})


def test_without_a_partition_each_row_lands_in_the_hour_of_its_own_time(tmp_path, lake):
    f = write(tmp_path / "mixed.ndjson", [emf_line(T0 + timedelta(minutes=m)) for m in (10, 70, 130, 131)])
    r = ingest_files("emf", [f], lake, batch="x")
    assert r.partitions == ["date=2026-11-02/hour=00", "date=2026-11-02/hour=01", "date=2026-11-02/hour=02"]
    assert [len(read_batch(lake, EMF, "x", [k])) for k in (K0, K1, K2)] == [1, 1, 2]


# -- gzip --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["emf", "xray", "prom"])
def test_gzip_input_gives_the_same_rows_and_quarantine_as_plain(tmp_path, lake, kind):
    lines = [record(kind, T0 + timedelta(minutes=m), m) for m in (1, 2, 3)] + ["garbage {"]
    if kind == "emf":
        lines.append(emf_line(T0 + timedelta(minutes=4), [1.5, math.pi, -2]))
    plain = write(tmp_path / "plain" / f"in.{kind}", lines, kind)
    packed = write(tmp_path / "gz" / f"in.{kind}.gz", lines, kind, gz=True)
    r1 = ingest_files(kind, [plain], lake, batch="plain")
    r2 = ingest_files(kind, [packed], lake, batch="packed")
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k not in ("batch", "sources", "seconds")}  # noqa: E731
    assert strip(r1) == strip(r2)
    assert r1.records_stored >= 3 and r1.records_quarantined == 1
    keys = keys_of(r1)
    for table in (RAW_TABLES[kind], QUARANTINE_TABLES[kind]):
        cols = "* EXCLUDE (source, ingest_batch, date, hour" + (", ingested_at)" if "quarantine" in table else ")")
        a = read_batch(lake, table, "plain", keys, cols)
        b = read_batch(lake, table, "packed", keys, cols)
        assert len(a) == len(b) > 0
        assert a.sort_values(list(a.columns[:3])).to_json(date_format="iso") == b.sort_values(list(b.columns[:3])).to_json(date_format="iso")


def test_a_gzip_file_is_recognised_by_its_magic_bytes_without_the_gz_suffix(tmp_path, lake):
    f = write(tmp_path / "events.ndjson", [emf_line(T0 + timedelta(minutes=1), [1, 2])], gz=True)
    r = ingest_files("emf", [f], lake)
    assert (r.records_read, r.records_stored, r.rows_stored) == (1, 1, 2)


# -- catalog views -----------------------------------------------------------------------------------------------

def test_the_catalog_views_count_what_the_ingests_stored(tmp_path, lake, catalog):
    a = write(tmp_path / "a.ndjson", [emf_line(T0 + timedelta(minutes=m), [1, 2]) for m in range(5)] + ["nope"])
    b = write(tmp_path / "b.ndjson", [emf_line(T0 + timedelta(hours=1, minutes=m), 7) for m in range(3)])
    r1 = ingest_files("emf", [a], lake, catalog=catalog)
    df = catalog.query("SELECT count(*) AS n FROM raw.emf_metrics")
    assert int(df["n"][0]) == r1.rows_stored == 10
    assert int(catalog.query("SELECT count(*) AS n FROM quarantine.emf_metrics")["n"][0]) == 1
    ingest_files("emf", [b], lake, catalog=catalog)
    df = catalog.query("SELECT hour, count(*) AS n FROM raw.emf_metrics GROUP BY hour ORDER BY hour")
    assert [(int(h), int(n)) for h, n in zip(df["hour"], df["n"])] == [(0, 10), (1, 3)]
    df = catalog.query("SELECT DISTINCT reason FROM quarantine.emf_metrics")
    assert list(df["reason"]) == [Reason.INVALID_JSON]


def test_no_view_is_created_for_a_table_without_files(tmp_path, lake, catalog):
    f = write(tmp_path / "good.ndjson", [emf_line(T0 + timedelta(minutes=1))])
    ingest_files("emf", [f], lake, catalog=catalog)
    views = catalog.query("SELECT schema_name || '.' || view_name AS v FROM duckdb_views() WHERE NOT internal")
    assert sorted(views["v"]) == ["raw.emf_metrics"]


# -- the bad-input corpus ----------------------------------------------------------------------------------------

def _ev(t_min: int = 1, **kw) -> dict:
    ev = json.loads(emf_line(T0 + timedelta(minutes=t_min), [1.0, 2.0]))
    ev.update(kw)
    return ev


def _corpus() -> tuple[list[bytes], int, int, dict[str, int]]:
    """Good events mixed with one of every bad kind; returns lines, good events, good rows, reasons."""
    j = lambda d: json.dumps(d).encode()  # noqa: E731
    aws = lambda **kw: {**_ev()["_aws"], **kw}  # noqa: E731
    d0 = _ev()["_aws"]["CloudWatchMetrics"][0]
    bad = {
        Reason.INVALID_JSON: b'{"_aws": {',
        Reason.NOT_AN_OBJECT: b"[1, 2, 3]",
        Reason.INVALID_UTF8: j(_ev(Service="caf__")).replace(b"caf__", b"caf\xe9"),
        Reason.LINE_TOO_LONG: j(_ev(Padding="p" * 5000)),
        Reason.MISSING_AWS: j({k: v for k, v in _ev().items() if k != "_aws"}),
        Reason.INVALID_AWS: j(_ev(_aws=aws(Timestamp="soon"))),
        Reason.MISSING_FIELD: j(_ev(_aws=aws(CloudWatchMetrics=[{**d0, "Namespace": ""}]))),
        Reason.LIMIT_EXCEEDED: j(_ev(_aws=aws(CloudWatchMetrics=[{**d0, "Dimensions": [[f"D{i}" for i in range(31)]]}]),
                                     **{f"D{i}": "x" for i in range(31)})),
        Reason.MISSING_DIMENSION: j({k: v for k, v in _ev().items() if k != "Service"}),
        Reason.WRONG_TYPE: j(_ev(Service=5)),
        Reason.MISSING_METRIC_VALUE: j({k: v for k, v in _ev().items() if k != "Latency"}),
        Reason.NON_FINITE: j(_ev(Latency=[1.0, float("nan")])),
        Reason.TOO_MANY_VALUES: j(_ev(Latency=list(range(101)))),
        Reason.OUTSIDE_PARTITION: j(_ev(t_min=24 * 60)),
    }
    good = [j(_ev(t_min=2 + i)) for i in range(len(bad))]
    lines: list[bytes] = []
    for i, (g, b) in enumerate(zip(good, bad.values())):
        lines += [g, b] + ([b""] if i % 4 == 0 else [])
    n_good = len(good)
    return lines, n_good, 2 * n_good, {k: 1 for k in bad}


def test_a_corpus_of_every_bad_emf_kind_is_fully_accounted_for(tmp_path, lake):
    lines, n_good, n_rows, reasons = _corpus()
    f = tmp_path / "corpus.ndjson"
    f.write_bytes(b"\n".join(lines) + b"\n")
    r = ingest_files("emf", [str(f)], lake, batch="corpus", partition_of=K0, max_record_bytes=4096)
    assert_conserved(r)
    assert r.records_read == n_good + len(reasons) == len([x for x in lines if x])
    assert r.records_stored == n_good
    assert r.rows_stored == n_rows
    assert r.records_quarantined == len(reasons)
    assert r.duplicates_dropped == 0
    assert r.blank_lines == len([x for x in lines if not x])
    assert r.quarantine_by_reason == reasons
    assert count(lake, EMF) == n_rows
    assert count(lake, EMF_Q) == len(reasons)
    v = verify_batch(lake, r, [K0])
    assert (v.records_read, v.records_in_lake, v.quarantine_in_lake, v.conserved) == (
        r.records_read, n_good, len(reasons), True)


# -- verify_batch ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["emf", "xray", "prom"])
def test_verify_batch_recounts_the_lake_and_finds_a_deleted_file(tmp_path, lake, kind):
    lines = [record(kind, T0 + timedelta(minutes=m), m) for m in (1, 2, 3, 61, 62)] + ["{{{"]
    f = write(tmp_path / f"in.{kind}", lines, kind)
    r = ingest_files(kind, [f], lake, batch="v")
    keys = keys_of(r)
    v = verify_batch(lake, r, keys)
    assert v.conserved is True
    assert v.missing_columns == []
    assert (v.records_read, v.records_in_lake, v.quarantine_in_lake, v.duplicates_dropped) == (6, 5, 1, 0)
    # Delete the batch's file for hour 01 (two records): the recount no longer adds up.
    [gone] = lake.batch_files(RAW_TABLES[kind], K1, "v")
    os.remove(gone)
    v = verify_batch(lake, r, keys)
    assert v.conserved is False
    assert (v.records_in_lake, v.quarantine_in_lake) == (3, 1)


def test_verify_batch_notices_a_deleted_quarantine_file(tmp_path, lake):
    f = write(tmp_path / "in.ndjson", [emf_line(T0 + timedelta(minutes=1)), "bad"])
    r = ingest_files("emf", [f], lake, batch="v", partition_of=K0)
    assert verify_batch(lake, r, [K0]).conserved is True
    [q] = lake.batch_files(EMF_Q, K0, "v")
    os.remove(q)
    v = verify_batch(lake, r, [K0])
    assert (v.conserved, v.records_in_lake, v.quarantine_in_lake) == (False, 1, 0)


# -- concurrency -------------------------------------------------------------------------------------------------

def _concurrent_worker(lake_root: str, catalog_path: str, files: list[str], batch: str, barrier, rounds: int) -> None:
    lake = Lake(lake_root)
    catalog = Catalog(catalog_path, lake, lock_timeout_s=60)
    barrier.wait(timeout=60)
    for i in range(rounds):
        r = ingest_files("emf", files, lake, batch=f"{batch}-{i}", catalog=catalog)
        if not r.conserved or r.records_quarantined:
            raise SystemExit(3)
        catalog.query("SELECT count(*) FROM raw.emf_metrics")


def test_two_processes_ingest_into_one_lake_and_catalog_at_the_same_time(tmp_path, lake, catalog):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    rounds = 3
    fa = write(tmp_path / "a.ndjson", [emf_line(T0 + timedelta(minutes=m), [1, 2, 3], "svc-a") for m in range(20)])
    fb = write(tmp_path / "b.ndjson", [emf_line(T0 + timedelta(minutes=m), 5, "svc-b") for m in range(30)])
    procs = [ctx.Process(target=_concurrent_worker, args=(lake.root, str(catalog.path), [f], name, barrier, rounds))
             for f, name in ((fa, "a"), (fb, "b"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    df = catalog.query("SELECT service, count(*) AS n FROM raw.emf_metrics GROUP BY service ORDER BY service")
    assert list(zip(df["service"], (int(n) for n in df["n"]))) == [("svc-a", 60 * rounds), ("svc-b", 30 * rounds)]
