"""A durable outbox for PagerDuty events: written before sent, delivered at least once, never lost.

SQLite (stdlib, WAL, one transaction per state change) rather than the DuckDB catalog: an outbox is a queue of
small row updates from concurrent runs, which is SQLite's strength and DuckDB's single-writer file lock's weakness.
Every event gets an idempotency key (incident fingerprint + action + revision): enqueuing the same key twice, as two
sensor ticks racing would, stores it once. ``deliver`` sends what is due, oldest first; a retryable failure (429,
5xx, timeout, network) schedules the next attempt with exponential backoff and jitter, a permanent one (400: the
event is invalid) moves the row to ``dead`` with the reason, for a person to look at. A process that dies after
``enqueue`` and before ``deliver`` leaves a pending row that the next run delivers; one that dies after PagerDuty
accepted and before the row was marked sent redelivers it, which the dedup_key makes harmless.

An outbox file that SQLite cannot read (not a database, a damaged page) raises :class:`OutboxError` naming the
file, from the constructor or the operation that met the damage: the file is left as it is, for a person to look at
(a tick that cannot page must fail loudly, not start an empty outbox and forget what was owed).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from akidb_pipelines.clients.pagerduty import DeliveryError, Event
from akidb_pipelines.storage.sqlite import SQLiteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    dedup_key TEXT NOT NULL,
    action TEXT NOT NULL,
    event TEXT NOT NULL,             -- JSON, without the routing key
    status TEXT NOT NULL,            -- pending | sent | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
"""


class OutboxError(OSError):
    """The outbox file cannot be opened or read; the message names it."""


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    dead: int
    errors: tuple[str, ...]


class Outbox:
    def __init__(self, path: str | Path, base_backoff_s: float = 2.0, max_backoff_s: float = 300.0,
                 max_attempts: int = 50, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.base, self.cap, self.max_attempts, self.clock = base_backoff_s, max_backoff_s, max_attempts, clock
        with self._readable():
            # autocommit: every statement is its own transaction; synchronous=FULL: an accepted enqueue survives
            # a crash
            self.db = SQLiteFile(path, SCHEMA, autocommit=True, pragmas=("journal_mode=WAL", "synchronous=FULL"))

    @contextmanager
    def _readable(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"{self.path}: unreadable PagerDuty outbox ({exc}); left as it is: move it aside to "
                              "start an empty one (events still in it are then not delivered)") from None

    def enqueue(self, ev: Event, idempotency_key: str) -> bool:
        """Store the event for delivery; False when this idempotency key is already stored."""
        return self._insert(ev, idempotency_key, "pending", None)

    def dead_letter(self, ev: Event, idempotency_key: str, reason: str) -> bool:
        """Store the event as a dead letter at once (never sent), with the reason; False when the key is stored."""
        return self._insert(ev, idempotency_key, "dead", reason[:500])

    def give_up(self, idempotency_key: str, reason: str) -> bool:
        """Move a pending event to the dead letters with the reason (it will not be sent); False if not pending."""
        with self._readable(), self.db.connection() as con:
            return con.execute("UPDATE outbox SET status = 'dead', last_error = ? WHERE idempotency_key = ? "
                               "AND status = 'pending'", (reason[:500], idempotency_key)).rowcount == 1

    def _insert(self, ev: Event, idempotency_key: str, status: str, error: str | None) -> bool:
        now = self.clock()
        with self._readable(), self.db.connection() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO outbox (idempotency_key, dedup_key, action, event, status, created_at, "
                "next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (idempotency_key, ev.dedup_key, ev.action, json.dumps(ev.to_dict()), status, now, now, error))
            return cur.rowcount == 1

    def deliver(self, send: Callable[[Event], str], limit: int = 100) -> DeliveryReport:
        """Send the due events (oldest first) with ``send`` (one attempt each). Events of the same incident go
        in order: a later one waits while an earlier one of the same dedup_key is still pending."""
        now = self.clock()
        sent = retrying = dead = 0
        errors: list[str] = []
        with self._readable(), self.db.connection() as con:
            rows = con.execute("SELECT id, dedup_key, event, attempts, next_attempt_at FROM outbox "
                               "WHERE status = 'pending' ORDER BY id").fetchall()
            blocked: set[str] = set()  # incidents whose earlier event is not delivered yet: keep their order
            for row_id, dedup_key, event, attempts, due in rows:
                if dedup_key in blocked:
                    continue
                if due > now or sent + retrying + dead >= limit:
                    blocked.add(dedup_key)
                    continue
                ev = Event.from_dict(json.loads(event))
                try:
                    send(ev)
                except DeliveryError as exc:
                    attempts += 1
                    errors.append(f"{ev.action} {dedup_key}: {exc}")
                    blocked.add(dedup_key)
                    if exc.retryable and attempts < self.max_attempts:
                        delay = min(self.cap, self.base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
                        con.execute("UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                                    (attempts, str(exc)[:500], self.clock() + delay, row_id))
                        retrying += 1
                    else:
                        con.execute("UPDATE outbox SET attempts = ?, last_error = ?, status = 'dead' WHERE id = ?",
                                    (attempts, str(exc)[:500], row_id))
                        dead += 1
                    continue
                con.execute("UPDATE outbox SET attempts = attempts + 1, status = 'sent', sent_at = ?, "
                            "last_error = NULL WHERE id = ?", (self.clock(), row_id))
                sent += 1
        return DeliveryReport(sent, retrying, dead, tuple(errors))

    def rows(self) -> list[dict]:
        with self._readable(), self.db.connection(rows=True) as con:
            return [dict(r) for r in con.execute("SELECT * FROM outbox ORDER BY id").fetchall()]

    def row(self, idempotency_key: str) -> dict | None:
        """The row of this key (status, attempts, last_error, ...), or None."""
        with self._readable(), self.db.connection(rows=True) as con:
            r = con.execute("SELECT * FROM outbox WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
            return dict(r) if r is not None else None

    def keys(self) -> set[str]:
        """The idempotency keys stored (whatever their delivery state)."""
        with self._readable(), self.db.connection() as con:
            return {r[0] for r in con.execute("SELECT idempotency_key FROM outbox")}

    def pending(self) -> int:
        with self._readable(), self.db.connection() as con:
            return con.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]


def _pages_and_updates(rows: list[dict]):  # noqa: ANN202 - an iterator of (incident, is the page, custom details)
    """The outbox rows that are an incident's page (``<id>:trigger``) or an update of it (``<id>:update:...``), in
    the order they were stored, with their details. Other triggers of the same dedup key are left out: a P0's
    escalation and a runbook's (``<id>:escalate:...``) name no root or cause."""
    for r in rows:
        incident, key = r["dedup_key"], r["idempotency_key"]
        if key == f"{incident}:trigger" or key.startswith(f"{incident}:update:"):
            yield incident, key == f"{incident}:trigger", json.loads(r["event"]).get("custom_details") or {}


def said_by_triggers(rows: list[dict]) -> dict[str, tuple[str | None, str | None]]:
    """{incident: (root component, cause)} as its page or newest update in the outbox named them."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for incident, _, details in _pages_and_updates(rows):
        root = details.get("root_cause") or {}
        out[incident] = (root.get("component"), root.get("type"))
    return out


def paged_causes(rows: list[dict]) -> dict[str, tuple[datetime, set[tuple]]]:
    """{incident: (its first alert, the (root component, cause) pairs its page and its updates named)} for every
    page in the outbox ``rows`` (read once a tick)."""
    first: dict[str, datetime] = {}
    named: dict[str, set[tuple]] = {}
    for incident, is_page, details in _pages_and_updates(rows):
        root = details.get("root_cause") or {}
        named.setdefault(incident, set()).add((root.get("component"), root.get("type")))
        if is_page and details.get("first_alert"):
            first[incident] = datetime.fromisoformat(details["first_alert"])
    return {k: (t, named[k]) for k, t in first.items()}


def held_notices(rows: list[dict]) -> dict[str, tuple[datetime, set[tuple]]]:
    """{incident: (its first alert, no causes)} for every held page's low-urgency notice in the outbox ``rows``
    (dedup key ``<id>-held``): what a tick must resolve when no incident carries the id any more."""
    out: dict[str, tuple[datetime, set[tuple]]] = {}
    for r in rows:
        incident = r["dedup_key"].removesuffix("-held")
        if r["idempotency_key"] == f"{incident}:held":
            first = (json.loads(r["event"]).get("custom_details") or {}).get("first_alert")
            if first:
                out[incident] = (datetime.fromisoformat(first), set())
    return out
