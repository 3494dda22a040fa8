"""The runbooks' audit log: append-only (SQLite, like the outbox; UPDATE and DELETE are refused by triggers), one
row per decision or action: what, why, before, after, result. The guardrails read it (idempotency, cooldown, rate
limit) and the runbook lifecycle derives its next steps from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from akidb_pipelines.runbooks.config import Runbook
from akidb_pipelines.storage.sqlite import SQLiteFile


@dataclass
class Outcome:
    runbook: str
    incident: str
    target: str
    status: str   # dry_run | applied | blocked | needs_approval | failed | duplicate | verified | not_recovered
    reason: str   #   | rolled_back | restored
    before: Any = None
    after: Any = None
    escalate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, runbook TEXT NOT NULL, incident TEXT NOT NULL,
    target TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    before TEXT, after TEXT);
CREATE TRIGGER IF NOT EXISTS audit_append_only_u BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_d BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
"""


class AuditLog:
    def __init__(self, path: str | Path):
        self.db = SQLiteFile(path, AUDIT_SCHEMA)
        self.path = self.db.path

    def write(self, at: datetime, rb: Runbook, o: Outcome) -> None:
        with self.db.transaction() as con:
            con.execute("INSERT INTO audit (at, runbook, incident, target, action, status, reason, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (at.isoformat(), rb.id, o.incident, o.target, json.dumps(rb.action), o.status, o.reason,
                         json.dumps(o.before), json.dumps(o.after)))

    def rows(self, incident: str | None = None) -> list[dict]:
        with self.db.connection(rows=True) as con:
            sql, args = "SELECT * FROM audit", ()
            if incident is not None:
                sql, args = sql + " WHERE incident = ?", (incident,)
            return [dict(r) for r in con.execute(sql + " ORDER BY id", args)]
