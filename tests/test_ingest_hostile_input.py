"""Ingest under hostile input (issue 13): batch names that try SQL injection or path traversal, input paths that
look like glob patterns, paths with quotes in AKIDB_HOME and the temp folder, partition keys out of range, lone
carriage returns and exact duplicate EMF lines. Each ends in a clear one-line error (exit 2 or 66) or in counted,
quarantined or dropped records; nothing runs that the input wrote, nothing lands outside the lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES, Reason
from tests.test_cli import run

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
K0 = PartitionKey(T0)
EMF, EMF_Q = RAW_TABLES["emf"], QUARANTINE_TABLES["emf"]
REPO = Path(__file__).resolve().parents[1]


def emf_line(minute: int = 1, value: float = 1.0, service: str = "akidb-rest") -> str:
    ev = {"_aws": {"Timestamp": int((T0 + timedelta(minutes=minute)).timestamp() * 1000), "CloudWatchMetrics": [
        {"Namespace": "AkiDB", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": service, "Latency": value}
    return json.dumps(ev, separators=(",", ":"))


def write(path: Path, lines: list[str], end: bytes = b"\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(x.encode() + end for x in lines))
    return path


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def home() -> Path:
    return Path(os.environ["AKIDB_HOME"])


def all_files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def query(lake: Lake, table: str, sql: str) -> list[tuple]:
    return lake.query_table(table, sql)


# -- 1. the batch name --------------------------------------------------------------------------------------------

def test_a_batch_name_that_injects_sql_is_refused_with_one_line_and_runs_nothing(tmp_path, capsys):
    f = write(tmp_path / "in.ndjson", [emf_line()])
    pwned = tmp_path / "pwned.csv"
    evil = f"a' AS ingest_batch FROM rows_out x) TO '{pwned}' (FORMAT csv); COPY (SELECT 'a"
    code, out, err = run(["ingest", "emf", str(f), "--batch", evil, "--partition", "2026-11-02T00"], capsys)
    assert code == EX_USAGE
    assert one_line(err).startswith("akidb ingest: --batch: invalid batch name")
    assert not pwned.exists()
    assert not (home() / "lake").exists()
    with pytest.raises(ValueError, match="invalid batch name"):
        ingest_files("emf", [str(f)], Lake(tmp_path / "lake"), batch=evil, partition_of=K0)
    assert not pwned.exists() and not (tmp_path / "lake").exists()


@pytest.mark.parametrize("batch", ["../../../../../x", "..", ".hidden", "a/b", "a b", "", "x" * 129, "é", "a\nb",
                                   "-rf"])
def test_a_batch_name_that_is_not_a_plain_name_is_exit_2_and_writes_nothing(tmp_path, capsys, batch):
    f = write(tmp_path / "in.ndjson", [emf_line()])
    before = all_files(tmp_path)
    code, _, err = run(["ingest", "emf", str(f), f"--batch={batch}"], capsys)
    assert code == EX_USAGE, err
    assert "invalid batch name" in one_line(err)
    assert all_files(tmp_path) == before  # nothing new anywhere: no Parquet, no manifest, no catalog
    with pytest.raises(ValueError):
        ingest_files("emf", [str(f)], Lake(tmp_path / "lake"), batch=batch)


@pytest.mark.parametrize("batch", ["landing", "file-0123abcd", "b.1_x-2", "A" * 128])
def test_plain_batch_names_are_accepted(tmp_path, lake, batch):
    f = write(tmp_path / "in.ndjson", [emf_line()])
    r = ingest_files("emf", [str(f)], lake, batch=batch)
    assert r.records_stored == 1
    assert [Path(p).name.startswith(f"{batch}-") for p in lake.list_files(EMF)] == [True]


# -- 2. input paths are files, never patterns ---------------------------------------------------------------------

def _folder_with_a_star(tmp_path: Path) -> Path:
    d = tmp_path / "dir"
    write(d / "*", [emf_line(1, 1.0)])
    write(d / "other.ndjson", [emf_line(2, 2.0), emf_line(3, 3.0)])
    (d / "notes.txt").write_text("db password: hunter2\n")
    return d


def test_a_file_named_star_is_that_one_file_not_the_whole_folder(tmp_path, capsys):
    d = _folder_with_a_star(tmp_path)
    code, out, err = run(["ingest", "emf", str(d / "*"), "--json"], capsys)
    assert code == EX_OK, err
    r = json.loads(out)
    assert (r["records_read"], r["records_stored"], r["records_quarantined"]) == (1, 1, 0)
    lake = Lake(home() / "lake")
    assert query(lake, EMF, "SELECT value FROM {src}") == [(1.0,)]
    assert not lake.has_data(EMF_Q)  # notes.txt was never read, so its password is nowhere in the lake


@pytest.mark.parametrize("name, decoys", [
    ("a?.ndjson", ["ab.ndjson", "ax.ndjson"]),
    ("[ab].ndjson", ["a.ndjson", "b.ndjson"]),
    ("x[*]y.ndjson", ["x*y.ndjson", "xzy.ndjson"]),
    ("**", ["deep.ndjson"]),
    ("it's.ndjson", []),
])
def test_glob_characters_in_an_input_name_name_exactly_that_file(tmp_path, lake, name, decoys):
    d = tmp_path / "in"
    target = write(d / name, [emf_line(1, 1.0)])
    for i, other in enumerate(decoys):
        write(d / other, [emf_line(2, 9.0 + i)])
    (d / "sub").mkdir()
    write(d / "sub" / "deep.ndjson", [emf_line(3, 99.0)])
    r = ingest_files("emf", [str(target)], lake, partition_of=K0)
    assert (r.records_read, r.records_stored) == (1, 1)
    assert query(lake, EMF, "SELECT value, source FROM {src}") == [(1.0, str(target))]


@pytest.mark.parametrize("what, make, msg", [
    ("a pattern matching nothing", lambda d: d / "nothere*", "no such file"),
    ("a missing file", lambda d: d / "missing.ndjson", "no such file"),
    ("a directory", lambda d: d, "is a directory"),
    ("a device", lambda d: Path("/dev/null"), "not a regular file"),
])
def test_an_input_that_is_not_a_regular_file_is_exit_66_with_one_line(tmp_path, capsys, what, make, msg):
    d = tmp_path / "in"
    write(d / "good.ndjson", [emf_line()])
    target = make(d)
    code, _, err = run(["ingest", "emf", str(d / "good.ndjson"), str(target)], capsys)
    assert code == EX_NOINPUT, what
    line = one_line(err)
    assert str(target) in line and msg in line
    assert not (home() / "lake").exists()  # the good file was not published either


# -- quotes in AKIDB_HOME and in the temp folder ------------------------------------------------------------------

def test_quotes_and_brackets_in_the_home_and_the_staging_folder_are_just_characters(tmp_path, monkeypatch, capsys):
    odd = tmp_path / "it's [1] home"
    monkeypatch.setenv("AKIDB_HOME", str(odd))
    staging = tmp_path / "sta'ging*"
    staging.mkdir()
    monkeypatch.setenv("AKIDB_STAGING_DIR", str(staging))
    f = write(tmp_path / "in.ndjson", [emf_line(m, float(m)) for m in range(1, 6)] + ["{bad"])
    code, _, err = run(["ingest", "emf", str(f), "--batch", "odd"], capsys)
    assert code == EX_OK, err
    lake = Lake(odd / "lake")
    assert query(lake, EMF, "SELECT count(*) FROM {src}") == [(5,)]
    catalog = Catalog(odd / "akidb.duckdb", lake)
    assert int(catalog.query("SELECT count(*) AS n FROM raw.emf_metrics")["n"][0]) == 5
    assert int(catalog.query("SELECT count(*) AS n FROM quarantine.emf_metrics")["n"][0]) == 1
    assert list(staging.iterdir()) == []  # staged files moved into the lake, the staging folders removed
    # a SQL model over that lake (source relation, window, COPY into staging, the column tests)
    from akidb_pipelines.sql_models.project import project_graph
    from akidb_pipelines.sql_models.runner import run_model, run_tests

    graph = project_graph()
    model = graph.models["stg_emf_metrics"]
    res = run_model(model, graph, lake, [K0])
    assert res.rows > 0 and res.partitions == [K0.path]
    assert all(o.passed for o in run_tests(model, lake, [K0]))


def test_the_cli_with_a_quote_in_tmpdir_and_home_runs_clean_in_a_fresh_process(tmp_path):
    tmp = tmp_path / "t'mp"
    tmp.mkdir()
    odd_home = tmp_path / "h'ome"
    f = write(tmp_path / "in.ndjson", [emf_line(m) for m in range(1, 4)])
    env = {**os.environ, "TMPDIR": str(tmp), "AKIDB_HOME": str(odd_home)}
    env.pop("AKIDB_STAGING_DIR", None)
    r = subprocess.run([sys.executable, "-m", "akidb_pipelines.cli", "ingest", "emf", str(f), "--json"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records_stored"] == 3
    assert [p.name for p in tmp.iterdir() if p.name.startswith("akidb-")] == []


# -- 5. partition keys out of range -------------------------------------------------------------------------------

@pytest.mark.parametrize("partition", ["9999-12-31T23", "0001-01-01T00", "1969-12-31T23"])
def test_a_partition_key_out_of_range_is_exit_2_with_one_line(tmp_path, capsys, partition):
    f = write(tmp_path / "in.ndjson", [emf_line()])
    code, _, err = run(["ingest", "emf", str(f), "--partition", partition], capsys)
    assert code == EX_USAGE
    assert "out of range" in one_line(err)
    with pytest.raises(ValueError, match="out of range"):
        PartitionKey.parse(partition)


# -- 6. line breaks and duplicates ---------------------------------------------------------------------------------

def test_a_lone_carriage_return_does_not_end_a_line(tmp_path, lake):
    two_in_one = (emf_line(1) + "\r" + emf_line(2)).encode()
    f = tmp_path / "cr.ndjson"
    f.write_bytes(emf_line(3).encode() + b"\n" + two_in_one + b"\n" + b"\r\r\n" + emf_line(4).encode() + b"\r")
    r = ingest_files("emf", [str(f)], lake, partition_of=K0)
    # a good event; one line holding a \r inside (not JSON); "\r\r\n", a line of one \r (the other belongs to the
    # line break); the file's last bytes, a fourth line without a newline, whose trailing \r is JSON whitespace
    assert (r.records_read, r.records_stored, r.blank_lines) == (4, 2, 0)
    assert r.quarantine_by_reason == {Reason.INVALID_JSON: 2}
    raws = sorted(x for (x,) in query(lake, EMF_Q, "SELECT raw FROM {src}"))
    assert raws == sorted(["\r", two_in_one.decode()])


def test_crlf_line_endings_give_one_record_per_line_and_no_blank_lines(tmp_path, lake):
    f = write(tmp_path / "crlf.ndjson", [emf_line(m) for m in range(1, 4)], end=b"\r\n")
    r = ingest_files("emf", [str(f)], lake, partition_of=K0)
    assert (r.records_read, r.records_stored, r.blank_lines, r.records_quarantined) == (3, 3, 0, 0)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_byte_order_mark_at_the_start_of_a_file_is_not_part_of_its_first_record(tmp_path, lake, gz):
    import gzip

    bom = b"\xef\xbb\xbf"
    data = bom + emf_line(1).encode() + b"\n" + bom + emf_line(2).encode() + b"\n"
    f = tmp_path / ("bom.ndjson.gz" if gz else "bom.ndjson")
    f.write_bytes(gzip.compress(data) if gz else data)
    r = ingest_files("emf", [str(f)], lake, partition_of=K0)
    # the file's first line is a good event; a mark inside the file (line 2) is a byte of that line, not JSON
    assert (r.records_read, r.records_stored, r.records_quarantined) == (2, 1, 1)
    assert r.quarantine_by_reason == {Reason.INVALID_JSON: 1}
    assert query(lake, EMF, "SELECT value FROM {src}") == [(1.0,)]


def test_a_byte_order_mark_before_prometheus_text_is_not_part_of_its_first_line(tmp_path, lake):
    ts = int((T0 + timedelta(minutes=1)).timestamp() * 1000)
    f = tmp_path / "bom.prom"
    f.write_bytes(b"\xef\xbb\xbf# TYPE up gauge\n" + f'up{{job="a"}} 1 {ts}\n'.encode())
    r = ingest_files("prom", [str(f)], lake, partition_of=K0)
    assert (r.records_stored, r.records_quarantined) == (1, 0)


def test_a_binary_file_has_as_many_records_as_newlines(tmp_path, lake):
    import random

    rnd = random.Random(13)
    data = bytes(rnd.choice(b"\r\r\rxyz{}\"\x00\xff\xfe ") for _ in range(20_000))
    lines = [x for x in data.split(b"\n")]
    f = tmp_path / "noise.bin"
    f.write_bytes(b"\n".join(lines) + b"\n")
    r = ingest_files("emf", [str(f)], lake, partition_of=K0)
    n = len([x for x in lines if x.removesuffix(b"\r")])
    assert r.records_read == n and r.records_stored == 0 and r.records_quarantined == n
    assert r.blank_lines == len(lines) - n
    assert query(lake, EMF_Q, "SELECT count(*) FROM {src}") == [(n,)]


def test_exact_duplicate_emf_lines_are_counted_as_duplicates_not_stored_twice(tmp_path, lake):
    a, b = emf_line(1, 1.0), emf_line(2, 2.0)
    f = write(tmp_path / "dup.ndjson", [a, b, a, a, b, "not json", "not json"])
    r = ingest_files("emf", [str(f)], lake, partition_of=K0)
    assert (r.records_read, r.records_stored, r.duplicates_dropped, r.records_quarantined) == (7, 2, 3, 2)
    assert r.conserved
    assert sorted(query(lake, EMF, "SELECT value FROM {src}")) == [(1.0,), (2.0,)]
    # a duplicate across two files of one ingest is a re-delivery too
    g = write(tmp_path / "dup2.ndjson", [b])
    r = ingest_files("emf", [str(f), str(g)], lake, partition_of=K0)
    assert (r.records_stored, r.duplicates_dropped) == (2, 4)


def test_catalog_and_lake_read_a_table_whose_lake_root_holds_a_bracket(tmp_path):
    lake = Lake(tmp_path / "lake [x]")
    catalog = Catalog(tmp_path / "c.duckdb", lake)
    f = write(tmp_path / "in.ndjson", [emf_line(m) for m in range(1, 4)])
    ingest_files("emf", [str(f)], lake, catalog=catalog)
    assert int(catalog.query("SELECT count(*) AS n FROM raw.emf_metrics")["n"][0]) == 3
    assert query(lake, EMF, "SELECT count(*) FROM {src}") == [(3,)]
    con = duckdb.connect()
    assert con.execute("SELECT count(*) FROM read_parquet(?)", [lake.list_files(EMF)[0].replace("[", "[[]")]
                       ).fetchone() == (3,)


# -- no traceback reaches the user --------------------------------------------------------------------------------

def test_a_home_with_a_backslash_is_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AKIDB_HOME", str(tmp_path / "a\\b"))
    f = write(tmp_path / "in.ndjson", [emf_line()])
    code, _, err = run(["ingest", "emf", str(f)], capsys)
    assert code == EX_USAGE and "backslash" in one_line(err)


def test_a_lake_that_cannot_be_written_is_exit_1_with_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the home should be\n")
    monkeypatch.setenv("AKIDB_HOME", str(blocker / "home"))
    f = write(tmp_path / "in.ndjson", [emf_line()])
    code, _, err = run(["ingest", "emf", str(f)], capsys)
    assert code == 1 and one_line(err).startswith("akidb ingest: ")


XRAY_DOC = ('{"trace_id":"1-6907a0bc-0123456789abcdef01234567","id":"0123456789abcdef","name":"akidb-rest",'
            '"start_time":%s,"end_time":%s}' % (T0.timestamp() + 60, T0.timestamp() + 60.1))


@pytest.mark.parametrize(("kind", "good", "lenient"), [
    ("emf", emf_line(service="a,]"), emf_line()[:-1] + ",}"),
    ("emf", emf_line(service="b, }"), emf_line().replace('"Metrics":[{', '"Metrics":[{"Unit":"Count",').replace(
        '"Milliseconds"}]', '"Milliseconds"},]')),
    ("xray", XRAY_DOC.replace("akidb-rest", "x,}"), XRAY_DOC[:-1] + ",\t}"),
    ("otlp", '{"resourceSpans":[]}', '{"resourceSpans":[{"scopeSpans":[],}]}'),
])
def test_a_trailing_comma_is_invalid_json_though_duckdb_reads_it_and_one_inside_a_string_is_not(
        tmp_path, kind, good, lenient):
    """DuckDB's JSON reader accepts a comma before a closing bracket; RFC 8259 does not, so neither does ingest.
    The text ",]" inside a string value is no such comma."""
    assert duckdb.execute("SELECT json_valid(?)", [lenient]).fetchone()[0]  # what the check is for
    with pytest.raises(json.JSONDecodeError):
        json.loads(lenient)
    json.loads(good)
    lake = Lake(tmp_path / "lake")
    r = ingest_files(kind, [str(write(tmp_path / "in.ndjson", [good, lenient, good]))], lake, batch="b")
    assert r.conserved and r.records_quarantined == 1, r.to_dict()
    assert r.quarantine_by_reason == {Reason.INVALID_JSON: 1}
    assert r.records_read == r.records_stored + r.duplicates_dropped + 1  # every line but the lenient one kept
    (row,) = query(lake, QUARANTINE_TABLES[kind], "SELECT raw, detail FROM {src}")
    assert row[0] == lenient and row[1].startswith("not JSON by RFC 8259: ")
