"""Atomic publishing: a batch's new files become visible all at once, and replace its earlier output.

Beside the data of a table ``<root>/<table>/`` the lake keeps:

* ``date=YYYY-MM-DD/hour=HH/<batch>-<pub>-<i>.parquet``: data files. ``pub`` is new for every publish (time-ordered
  hex), so a file is written once and never overwritten in place.
* ``_commits/<batch>-<pub>.json``: a **commit record** ``{"batch", "pub", "scope", "files"}``. ``scope`` lists the
  partitions the publish owns (every partition it wrote, plus the ones it was asked to replace), ``files`` its
  files, relative to the table. Writing the record (one atomic rename locally, one PUT on S3) is the commit.
* ``_pending/<pub>.json``: written before the first file lands and removed after the commit: who is publishing
  (host, pid) and the files it is about to write, so a later run can remove what a killed one left.

What readers see: for every batch and partition, the files of the newest record (highest ``pub``) whose scope holds
the partition. A batch's earlier files in those partitions are thereby replaced at the moment of the commit, all
partitions at once, and then deleted (with the records nothing is visible from any more). Files that no record
lists are invisible: a publish killed before its commit leaves nothing readers can see. No lock is needed: two
publishes of one batch at once each commit their own record, and the newer one wins where their scopes overlap.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from akidb_pipelines.storage.partition import PartitionKey
from akidb_pipelines.storage.sqltext import check_batch_name

# ``lake`` below is a storage.lake.Lake, which calls these functions with itself (storage.lake imports this module,
# not the reverse, so the annotation stays a name).

COMMITS, PENDING = "_commits", "_pending"
STAGE_PREFIX = "akidb-stage-"
_STAGE = re.compile(r"akidb-stage-([0-9a-f]{8})-(\d+)-(\d+)-[0-9a-f]+")
_TMP = re.compile(r"\.tmp-(\d+)-[0-9a-f]+$")
FOREIGN_STALE_S = 6 * 3600   # a publish by another host unfinished after this long is taken as dead
LEGACY_STALE_S = 3600        # staging folders named before pids were recorded in them


@dataclass(frozen=True)
class Record:
    batch: str
    pub: str
    scope: tuple[str, ...]   # partition paths date=YYYY-MM-DD/hour=HH
    files: tuple[str, ...]   # relative to the table: <partition>/<name>.parquet
    name: str                # the record's object name under _commits/

    def to_json(self) -> bytes:
        return (json.dumps({"format": 1, "batch": self.batch, "pub": self.pub, "scope": list(self.scope),
                            "files": list(self.files)}, indent=1) + "\n").encode()


def parse_record(name: str, data: bytes | None) -> Record | None:
    try:
        d = json.loads(data) if data is not None else None
        return Record(str(d["batch"]), str(d["pub"]), tuple(map(str, d["scope"])), tuple(map(str, d["files"])), name)
    except (ValueError, TypeError, KeyError):
        return None  # deleted meanwhile, or not a record of ours


def visible(records: list[Record]) -> dict[tuple[str, str], Record]:
    """(batch, partition) -> the record readers see there: the newest whose scope holds the partition."""
    out: dict[tuple[str, str], Record] = {}
    for r in records:
        for p in r.scope:
            cur = out.get((r.batch, p))
            if cur is None or r.pub > cur.pub:
                out[(r.batch, p)] = r
    return out


def part_of(rel: str) -> str:
    return rel.rsplit("/", 1)[0]


def visible_files(records: list[Record], part: str | None = None, batch: str | None = None) -> list[str]:
    vis = visible(records)
    return sorted(f for r in records if batch is None or r.batch == batch for f in r.files
                  if vis.get((r.batch, part_of(f))) is r and (part is None or part_of(f) == part))


LEGACY_PUB = "0" * 22   # older than any publish: what a lake from before commit records holds
_LEGACY = re.compile(r"(?P<batch>[A-Za-z0-9][A-Za-z0-9._-]{0,127})-\d+\.parquet")
_VERSIONED = re.compile(r".*-[0-9a-f]{22}-\d+\.parquet")


def legacy_records(files: list[str]) -> list[Record]:
    """Records for the files of a table written before commit records existed (``<batch>-<i>.parquet``), one per
    batch. Versioned files without a record are a publish that never committed: not among them."""
    by_batch: dict[str, list[str]] = {}
    for f in files:
        m = _LEGACY.fullmatch(f.rsplit("/", 1)[-1])
        if m and not _VERSIONED.fullmatch(f.rsplit("/", 1)[-1]):
            by_batch.setdefault(m.group("batch"), []).append(f)
    return [Record(b, LEGACY_PUB, tuple(sorted({part_of(f) for f in fs})), tuple(sorted(fs)), f"{b}-{LEGACY_PUB}.json")
            for b, fs in sorted(by_batch.items())]


def adopt_legacy(lake: Lake, table: str) -> None:
    """Write the records of a table from before commit records (nothing to do once it has any)."""
    if lake.list_names(f"{table}/{COMMITS}"):
        return
    for rec in legacy_records(lake.legacy_files(table)):
        lake.write_bytes(f"{table}/{COMMITS}/{rec.name}", rec.to_json())


def new_pub() -> str:
    return f"{time.time_ns():016x}{secrets.randbits(24):06x}"


# -- who is publishing, and is it still alive -----------------------------------------------------------------------

def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def owner() -> dict:
    pid = os.getpid()
    return {"host": _host(), "pid": pid, "start": _proc_start(pid) or "0", "since": time.time()}


def pid_alive(pid: int, start: str | None = None) -> bool:
    if pid <= 0:
        return False
    if os.path.isdir("/proc"):
        now = _proc_start(pid)
        return now is not None and (not start or start == "0" or start == now)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(o: dict) -> bool:
    if o.get("host") != _host():
        return time.time() - float(o.get("since") or 0) < FOREIGN_STALE_S
    return pid_alive(int(o.get("pid") or 0), str(o.get("start") or ""))


def stage_name() -> str:
    o = owner()
    return f"{STAGE_PREFIX}{o['host']}-{o['pid']}-{o['start']}-{secrets.token_hex(4)}"


def tmp_suffix() -> str:
    return f".tmp-{os.getpid()}-{secrets.token_hex(4)}"


def dead_tmp(name: str) -> bool:
    """A ``.tmp-<pid>-<hex>`` file whose writer (on this host) is gone."""
    m = _TMP.search(name)
    return bool(m) and not pid_alive(int(m.group(1)))


def clean_staging(base: Path) -> list[str]:
    """Remove staging folders whose process is gone (what a killed run left in the temp folder)."""
    removed = []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(STAGE_PREFIX)]
    except OSError:
        return removed
    for e in entries:
        try:
            if not e.is_dir(follow_symlinks=False):
                continue
            m = _STAGE.fullmatch(e.name)
            mtime = e.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if m:
            alive = owner_alive({"host": m.group(1), "pid": int(m.group(2)), "start": m.group(3), "since": mtime})
        else:
            alive = time.time() - mtime < LEGACY_STALE_S
        if not alive:
            shutil.rmtree(e.path, ignore_errors=True)
            removed.append(e.path)
    return removed


# -- publishing ----------------------------------------------------------------------------------------------------

@dataclass
class _Plan:
    table: str
    scope: set[str]
    moves: list[tuple[Path, str]]   # staged file -> relative name in the table
    needed: bool                    # anything to write or to replace


def _staged_parts(staged: Path) -> dict[str, list[Path]]:
    """Staged ``_h=<hours since epoch>/*.parquet`` files by partition path."""
    out: dict[str, list[Path]] = {}
    for f in sorted(staged.rglob("*.parquet")):
        hours = int(f.parent.name.split("=", 1)[1])
        out.setdefault(PartitionKey(datetime.fromtimestamp(hours * 3600, tz=timezone.utc)).path, []).append(f)
    return out


def publish(lake: Lake, batch: str, staged: dict[str, Path], partitions: list[PartitionKey],
            replace_all: bool = False) -> dict[str, dict[str, int]]:
    """Publish the staged files of each table as one new version of ``batch``; returns files per partition path
    for every partition of the scope (0 where the batch now has nothing).

    The scope is ``partitions`` plus every partition with a staged file; with ``replace_all`` also every partition
    where the batch is visible now, so its whole earlier output is replaced.
    """
    check_batch_name(batch)
    for table in staged:
        adopt_legacy(lake, table)
    cleanup(lake, list(staged))
    mine_by_table = {table: [r for r in lake.records(table) if r.batch == batch] for table in staged}
    pub = new_pub()
    newest = max((r.pub for rs in mine_by_table.values() for r in rs), default="")
    if pub <= newest:  # the clock went back: still newer than what it replaces
        pub = f"{int(newest[:16], 16) + 1:016x}{secrets.randbits(24):06x}"
    plans = []
    for table, d in staged.items():
        parts = _staged_parts(d)
        mine = mine_by_table[table]
        scope = {k.path for k in partitions} | set(parts)
        if replace_all:
            scope |= {p for (_, p) in visible(mine)}
        moves = [(f, f"{p}/{batch}-{pub}-{i}.parquet") for p, fs in sorted(parts.items()) for i, f in enumerate(fs)]
        plans.append(_Plan(table, scope, moves, bool(moves) or any(scope.intersection(r.scope) for r in mine)))
    committed: set[str] = set()
    try:
        for pl in plans:
            if pl.needed:
                lake.write_bytes(f"{pl.table}/{PENDING}/{pub}.json", json.dumps(
                    {"pub": pub, "batch": batch, "owner": owner(), "files": [rel for _, rel in pl.moves]}).encode())
        for pl in plans:
            for src, rel in pl.moves:
                lake.put_file(src, f"{lake.table_uri(pl.table)}/{rel}")
        for pl in plans:  # the commit: one record per table
            if pl.needed:
                rec = Record(batch, pub, tuple(sorted(pl.scope)), tuple(rel for _, rel in pl.moves), f"{batch}-{pub}.json")
                lake.write_bytes(f"{pl.table}/{COMMITS}/{rec.name}", rec.to_json())
                committed.add(pl.table)
    except BaseException:
        for pl in plans:  # an error (not a kill): take back what was not committed, then re-raise
            if pl.needed and pl.table not in committed:
                _discard(lake, pl.table, [rel for _, rel in pl.moves])
                lake.delete_object(f"{lake.table_uri(pl.table)}/{PENDING}/{pub}.json")
        raise
    for pl in plans:
        if pl.needed:
            gc(lake, pl.table, batch)
            lake.delete_object(f"{lake.table_uri(pl.table)}/{PENDING}/{pub}.json")
    for d in staged.values():
        shutil.rmtree(d, ignore_errors=True)
    out = {}
    for pl in plans:
        counts = {p: 0 for p in pl.scope}
        for _, rel in pl.moves:
            counts[part_of(rel)] += 1
        out[pl.table] = counts
    return out


def gc(lake: Lake, table: str, batch: str) -> None:
    """Delete the batch's files that no reader can see any more, then the records they were visible from."""
    mine = [r for r in lake.records(table) if r.batch == batch]
    vis = visible(mine)
    base = lake.table_uri(table)
    for r in sorted(mine, key=lambda r: r.pub):
        keep = {p for p in r.scope if vis.get((batch, p)) is r}
        for f in r.files:
            if part_of(f) not in keep:
                lake.delete_object(f"{base}/{f}")
        if not keep:
            lake.delete_object(f"{base}/{COMMITS}/{r.name}")


def _discard(lake: Lake, table: str, rels: list[str]) -> None:
    base = lake.table_uri(table)
    for rel in rels:
        lake.delete_object(f"{base}/{rel}")
        if not lake.is_s3:  # a file being copied in when the writer died
            for tmp in Path(f"{base}/{rel}").parent.glob(glob.escape(Path(rel).name) + ".tmp-*"):
                tmp.unlink(missing_ok=True)


def cleanup(lake: Lake, tables: list[str]) -> list[str]:
    """Remove what dead publishes left in ``tables`` (uncommitted files, pending notes, half-written records,
    superseded files of a publish killed after its commit) and in the staging folder. Returns what was removed."""
    from akidb_pipelines.config import staging_base

    removed = clean_staging(staging_base())
    for table in tables:
        base = lake.table_uri(table)
        for d in (COMMITS, PENDING):
            for name in lake.list_names(f"{table}/{d}"):
                if ".tmp-" in name and dead_tmp(name):
                    lake.delete_object(f"{base}/{d}/{name}")
                    removed.append(f"{base}/{d}/{name}")
        for name in lake.list_names(f"{table}/{PENDING}"):
            if not name.endswith(".json"):
                continue
            try:
                note = json.loads(lake.read_bytes(f"{table}/{PENDING}/{name}") or b"null")
                if not isinstance(note, dict) or owner_alive(note.get("owner") or {}):
                    continue
                pub, batch, files = str(note["pub"]), str(note["batch"]), [str(f) for f in note["files"]]
            except (ValueError, TypeError, KeyError):
                continue
            if not any(r.pub == pub for r in lake.records(table)):
                _discard(lake, table, files)
                removed += [f"{base}/{f}" for f in files]
            gc(lake, table, batch)
            lake.delete_object(f"{base}/{PENDING}/{name}")
            removed.append(f"{base}/{PENDING}/{name}")
    return removed
