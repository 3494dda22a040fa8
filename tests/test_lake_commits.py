"""The lake's commit records (``storage/commits.py``): what readers see, replacement by scope, concurrent publishes
of one batch, and the cleanup of what a dead publisher left (pending notes, uncommitted files, temporary files,
staging folders). Plus the SQL-text helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.storage.commits import PENDING, clean_staging, owner, stage_name
from akidb_pipelines.storage.sqltext import duckdb_path, sql_literal

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
K0, K1, K2 = (PartitionKey(T0 + timedelta(hours=h)) for h in range(3))
TABLE = "raw/things"


def stage(lake: Lake, rows: dict[PartitionKey, list[int]]) -> Path:
    """A staging folder as the writers make it: ``_h=<epoch hour>/data_0.parquet`` per partition."""
    d = lake.staging_dir()
    con = duckdb.connect()
    for k, values in rows.items():
        out = d / f"_h={int(k.start.timestamp()) // 3600}"
        out.mkdir()
        con.execute("COPY (SELECT unnest($v::INTEGER[]) AS v) TO $p (FORMAT parquet)",
                    {"v": values, "p": str(out / "data_0.parquet")})
    return d


def seen(lake: Lake) -> list[int]:
    return sorted(v for (v,) in lake.query_table(TABLE, "SELECT v FROM {src}"))


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_publish_replaces_its_batch_in_its_scope_and_leaves_other_batches(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.publish(TABLE, "a", stage(lake, {K0: [1], K1: [2]}), [])
    lake.publish(TABLE, "b", stage(lake, {K0: [10]}), [])
    assert seen(lake) == [1, 2, 10]
    lake.publish(TABLE, "a", stage(lake, {K0: [3]}), [])           # scope: K0 only
    assert seen(lake) == [2, 3, 10]
    lake.publish(TABLE, "a", stage(lake, {K2: [4]}), [K1])         # owns K1 (empty now) and K2
    assert seen(lake) == [3, 4, 10]
    written = lake.publish(TABLE, "a", stage(lake, {K1: [5]}), [], replace_all=True)
    assert seen(lake) == [5, 10] and written == {K0.path: 0, K1.path: 1, K2.path: 0}
    on_disk = sorted(str(p) for p in Path(lake.root).rglob("*.parquet"))
    assert on_disk == lake.list_files(TABLE)  # superseded files are deleted
    assert [r.batch for r in lake.records(TABLE)].count("a") == 1  # and the records nothing is visible from


def test_a_query_of_hours_opens_the_committed_files_of_the_hours_it_overlaps_and_no_other(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.publish(TABLE, "a", stage(lake, {K0: [1], K1: [2], K2: [3]}), [])
    lake.publish(TABLE, "b", stage(lake, {K1: [20]}), [])
    lake.publish(TABLE, "a", stage(lake, {K1: [4]}), [])  # replaces a's K1: its old file must not come back
    sql = "SELECT v FROM {src} ORDER BY v"
    assert lake.query_hours(TABLE, sql, K1.start, K1.end) == [(4,), (20,)]
    assert lake.query_hours(TABLE, sql, K0.start + timedelta(minutes=59), K1.start + timedelta(seconds=1)) == [
        (1,), (4,), (20,)]
    assert lake.query_hours(TABLE, sql, K0.start, K2.end) == lake.query_table(TABLE, sql)
    assert lake.query_hours(TABLE, sql, K2.end, K2.end + timedelta(hours=5)) == []
    assert lake.hour_files(TABLE, K2.start, K2.end) == lake.list_files(TABLE, K2)


def test_an_empty_publish_with_nothing_to_replace_writes_no_record(tmp_path):
    lake = Lake(tmp_path / "lake")
    assert lake.publish(TABLE, "a", stage(lake, {}), [K0]) == {K0.path: 0}
    assert not Path(lake.table_uri(TABLE)).exists()


def test_publishes_of_one_batch_resolve_by_version_not_by_commit_order(tmp_path, monkeypatch):
    """Two runs of one batch at once: the one that started later wins where their scopes overlap, even when the
    earlier one commits last; nothing of either is lost elsewhere or left behind."""
    import akidb_pipelines.storage.commits as commits

    lake = Lake(tmp_path / "lake")
    later = stage(lake, {K1: [2], K2: [2]})
    real_write = Lake.write_bytes
    interleaved = []

    def write_bytes(self, rel, data):  # the earlier run has chosen its version: the later one runs whole now
        if not interleaved:
            interleaved.append(rel)
            monkeypatch.setattr(commits, "new_pub", lambda: "0000000000000002bbbbbb")
            self.publish(TABLE, "landing", later, [])
        return real_write(self, rel, data)

    monkeypatch.setattr(Lake, "write_bytes", write_bytes)
    monkeypatch.setattr(commits, "new_pub", lambda: "0000000000000001aaaaaa")
    lake.publish(TABLE, "landing", stage(lake, {K0: [1], K1: [1]}), [])
    assert interleaved and seen(lake) == [1, 2, 2]
    assert sorted(str(p) for p in Path(lake.root).rglob("*.parquet")) == lake.list_files(TABLE)


def test_the_cleanup_removes_what_a_dead_publisher_left_and_nothing_of_a_live_one(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("AKIDB_STAGING_DIR", str(staging))
    lake = Lake(tmp_path / "lake")
    lake.publish(TABLE, "a", stage(lake, {K0: [1]}), [])
    base = Path(lake.table_uri(TABLE))
    pid = dead_pid()

    def leave(pub: str, who: dict) -> Path:
        f = base / K1.path / f"a-{pub}-0.parquet"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"PAR1 half")
        Path(f"{f}.tmp-{who['pid']}-0a0b").write_bytes(b"half a copy")
        lake.write_bytes(f"{TABLE}/{PENDING}/{pub}.json", json.dumps(
            {"pub": pub, "batch": "a", "owner": who, "files": [f"{K1.path}/{f.name}"]}).encode())
        return f

    dead = leave("0000000000000001dddddd", {**owner(), "pid": pid, "start": "1"})
    alive = leave("0000000000000002eeeeee", owner())
    (base / "_commits" / f"x.json.tmp-{pid}-0c0d").write_bytes(b"{")
    dead_stage = staging / f"akidb-stage-{owner()['host']}-{pid}-1-0a0a"
    live_stage = staging / stage_name()
    old_stage = staging / "akidb-stage-0123456789ab"   # named before pids were recorded: removed when an hour old
    for d in (dead_stage, live_stage, old_stage):
        d.mkdir()
    os.utime(old_stage, (time.time() - 7200, time.time() - 7200))
    assert seen(lake) == [1]  # no reader sees uncommitted files

    removed = lake.cleanup([TABLE])
    assert str(dead) in removed and not dead.exists() and not list(base.rglob(f"*{pid}-0a0b"))
    assert alive.exists() and (base / PENDING / "0000000000000002eeeeee.json").exists()
    assert not (base / PENDING / "0000000000000001dddddd.json").exists()
    assert not list((base / "_commits").glob("*.tmp-*"))
    assert [p.name for p in staging.iterdir()] == [live_stage.name]
    assert seen(lake) == [1]


def test_clean_staging_keeps_folders_of_live_processes_and_of_other_hosts(tmp_path):
    live = tmp_path / stage_name()
    other_host = tmp_path / "akidb-stage-ffffffff-1-1-00aa"
    unrelated = tmp_path / "something-else"
    for d in (live, other_host, unrelated):
        d.mkdir()
    assert clean_staging(tmp_path) == []
    assert live.exists() and other_host.exists() and unrelated.exists()


def test_write_bytes_removes_temporary_files_its_killed_writers_left(tmp_path):
    lake = Lake(tmp_path / "lake")
    p = Path(lake.root) / "models" / "m.json"
    p.parent.mkdir(parents=True)
    stale = Path(f"{p}.tmp-{dead_pid()}-00ff")
    stale.write_bytes(b"{")
    mine = Path(f"{p}.tmp-{os.getpid()}-11ee")
    mine.write_bytes(b"{")
    lake.write_bytes("models/m.json", b"{}")
    assert p.read_bytes() == b"{}" and not stale.exists() and mine.exists()
    assert lake.list_objects("models") == ["models/m.json"]


def test_catalog_view_follows_commits_without_being_registered_again(tmp_path):
    lake = Lake(tmp_path / "o'brien [lake]")
    catalog = Catalog(tmp_path / "c.duckdb", lake)
    lake.publish(TABLE, "a", stage(lake, {K0: [1, 2]}), [])
    assert catalog.register(TABLE)
    lake.publish(TABLE, "a", stage(lake, {K1: [7]}), [], replace_all=True)
    df = catalog.query("SELECT v, hour FROM raw.things")
    assert list(zip(df["v"], df["hour"])) == [(7, 1)]


@pytest.mark.parametrize("value", ["it's", "''", "a'); DROP TABLE x; --", "\\'", "plain"])
def test_sql_literal_round_trips_any_text(value):
    assert duckdb.connect().execute(f"SELECT {sql_literal(value)}").fetchone() == (value,)


def test_sql_literal_refuses_nul():
    with pytest.raises(ValueError):
        sql_literal("a\x00b")


@pytest.mark.parametrize("name", ["*", "a?b", "[x]", "[", "it's*", "**", "a]b"])
def test_duckdb_path_names_exactly_one_file(tmp_path, name):
    (tmp_path / name).write_text("one\n")
    for decoy in ("ab", "x", "a", "zzz"):
        (tmp_path / decoy).write_text("decoy\n")
    rows = duckdb.connect().execute("SELECT content FROM read_text(?)", [duckdb_path(str(tmp_path / name))]).fetchall()
    assert rows == [("one\n",)]


def test_a_lake_root_with_a_backslash_is_refused():
    with pytest.raises(ValueError, match="backslash"):
        Lake("/tmp/a\\b/lake")


def test_a_publish_after_the_clock_went_back_still_replaces_the_newer_looking_version(tmp_path, monkeypatch):
    import akidb_pipelines.storage.commits as commits

    lake = Lake(tmp_path / "lake")
    monkeypatch.setattr(commits, "new_pub", lambda: "00000000000000ff000000")
    lake.publish(TABLE, "a", stage(lake, {K0: [1]}), [])
    monkeypatch.setattr(commits, "new_pub", lambda: "0000000000000001000000")  # an earlier clock
    lake.publish(TABLE, "a", stage(lake, {K0: [2]}), [])
    assert seen(lake) == [2]
    assert [r.pub[:16] for r in lake.records(TABLE)] == ["0000000000000100"]


def test_a_lake_from_before_commit_records_stays_readable_and_is_adopted_by_its_first_publish(tmp_path):
    lake = Lake(tmp_path / "lake")
    base = Path(lake.table_uri(TABLE))
    con = duckdb.connect()
    for k, batch, v in ((K0, "landing", 1), (K1, "landing", 2), (K0, "file-abc", 3)):
        (base / k.path).mkdir(parents=True, exist_ok=True)
        con.execute("COPY (SELECT $v::INTEGER AS v) TO $p (FORMAT parquet)",
                    {"v": v, "p": str(base / k.path / f"{batch}-0.parquet")})
    con.execute("COPY (SELECT 99 AS v) TO $p (FORMAT parquet)",  # a publish that never committed: not legacy
                {"p": str(base / K1.path / "landing-18ed4c59cbcafcc0e91b41-0.parquet")})
    assert seen(lake) == [1, 2, 3]
    catalog = Catalog(tmp_path / "c.duckdb", lake)
    assert catalog.register(TABLE)
    assert sorted(catalog.query("SELECT v FROM raw.things")["v"]) == [1, 2, 3]
    lake.publish(TABLE, "landing", stage(lake, {K1: [5]}), [])
    assert seen(lake) == [1, 3, 5]
    assert not (base / K1.path / "landing-0.parquet").exists()
