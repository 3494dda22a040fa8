"""Ad-hoc silences: an on-call engineer mutes matching alerts for a while (``akidb silence add``).

A silence has matchers on the alert's labels (``source``, ``rule``, ``component``, ``edge_location``,
``severity``; values are shell-style patterns such as ``lambda-edge.*``), a start, an end, who set it and why.
An alert whose onset falls inside an active silence's window and whose labels match every matcher is silenced:
it is recorded in the decision ledger with the silence id, and it neither pages nor joins an incident. Alerts
that start after the silence ends page as usual. Silences are kept in SQLite next to the outbox
(``$AKIDB_HOME/silences.sqlite``); expiring one early keeps its row (the ledger still explains past decisions).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from akidb_pipelines.alerting.correlate import Alert
from akidb_pipelines.config import akidb_home
from akidb_pipelines.storage.sqlite import SQLiteFile

MATCHER_KEYS = ("source", "rule", "component", "edge_location", "severity")

SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, start TEXT NOT NULL, end TEXT NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at TEXT NOT NULL);
"""


class SilenceError(ValueError):
    pass


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[tuple[str, str], ...]
    start: datetime
    end: datetime
    created_by: str = ""
    comment: str = ""

    def matches(self, a: Alert) -> bool:
        labels = {"source": a.source, "rule": a.rule, "component": a.component, "edge_location": a.edge_location,
                  "severity": a.severity}
        return (self.start <= a.start < self.end
                and all(fnmatch.fnmatchcase(str(labels[k]), v) for k, v in self.matchers))

    def describe(self) -> str:
        m = ", ".join(f"{k}={v}" for k, v in self.matchers)
        return f"{self.id} ({m}; until {self.end:%Y-%m-%d %H:%M}Z by {self.created_by or '?'}: {self.comment})"


def parse_matchers(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``["component=lambda-edge", "rule=lambda-edge.*"]`` -> matchers; unknown keys and empty values are errors."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise SilenceError(f"matcher {item!r}: expected key=pattern")
        if key not in MATCHER_KEYS:
            raise SilenceError(f"matcher {item!r}: key must be one of {MATCHER_KEYS}")
        out.append((key, value))
    if not out:
        raise SilenceError("a silence needs at least one matcher (a silence of everything is a maintenance window)")
    return tuple(sorted(out))


class SilenceStore:
    def __init__(self, path: str | Path):
        self.db = SQLiteFile(path, SCHEMA)
        self.path = self.db.path

    def add(self, matchers: tuple[tuple[str, str], ...], start: datetime, end: datetime, created_by: str = "",
            comment: str = "") -> Silence:
        if end <= start:
            raise SilenceError(f"the silence ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        sid = "sil-" + hashlib.sha256(f"{matchers}|{start.isoformat()}|{end.isoformat()}".encode()).hexdigest()[:10]
        with self.db.transaction() as con:
            con.execute("INSERT OR IGNORE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (sid, ";".join(f"{k}={v}" for k, v in matchers), start.isoformat(), end.isoformat(),
                         created_by, comment, datetime.now(timezone.utc).isoformat()))
        return Silence(sid, matchers, start, end, created_by, comment)

    def expire(self, sid: str, at: datetime) -> bool:
        with self.db.transaction() as con:
            cur = con.execute("UPDATE silences SET end = ? WHERE id = ? AND end > ?",
                              (at.astimezone(timezone.utc).isoformat(), sid, at.astimezone(timezone.utc).isoformat()))
            return cur.rowcount == 1

    def all(self) -> list[Silence]:
        with self.db.connection() as con:
            rows = con.execute("SELECT id, matchers, start, end, created_by, comment FROM silences ORDER BY start")
            return [Silence(r[0], tuple(tuple(m.split("=", 1)) for m in r[1].split(";")),  # type: ignore[misc]
                            datetime.fromisoformat(r[2]), datetime.fromisoformat(r[3]), r[4], r[5]) for r in rows]


def default_path() -> Path:
    return akidb_home() / "silences.sqlite"


def active_silences(path: str | Path | None = None) -> list[Silence]:
    """Every stored silence (expired ones match nothing new: their window is in the past); none without a store."""
    p = Path(path) if path else default_path()
    return SilenceStore(p).all() if p.exists() else []


def silenced_by(a: Alert, silences: list[Silence]) -> Silence | None:
    return next((s for s in silences if s.matches(a)), None)
