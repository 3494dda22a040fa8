"""Ad-hoc silences: an on-call engineer mutes matching alerts for a while (``akidb silence add``).

A silence has matchers on the alert's labels (``source``, ``rule``, ``component``, ``edge_location``,
``severity``; values are shell-style patterns such as ``lambda-edge.*``), a start, an end, who set it and why.
An alert whose onset falls inside an active silence's window and whose labels match every matcher is silenced:
it is recorded in the decision ledger with the silence id, and it neither pages nor joins an incident. Alerts
that start after the silence ends page as usual. Silences are kept in SQLite next to the outbox
(``$AKIDB_HOME/silences.sqlite``); expiring one early keeps its row (the ledger still explains past decisions),
deleting one removes it (for a row that should never have been stored).

The matcher grammar, checked at ``add`` (:func:`parse_matchers`), one matcher per argument::

    matcher  := key "=" pattern          key: source | rule | component | edge_location | severity (once each)
    pattern  := (char | "*" | "?" | "[" "!"? char+ "]"){1,128 characters}
    char     := A-Z a-z 0-9 . _ -

so a stored ``key=pattern;key=pattern`` row is unambiguous. A matcher that matches every value of its label
(``component=*``, ``severity=P*``) needs ``allow_all`` (``akidb silence add --all``). A silence lasts at most
:data:`MAX_DURATION` and needs a one-line, non-blank comment.

A row that does not parse (stored by an older version, or edited by hand) is loaded as an *invalid* silence: it is
listed as such, matches nothing and never raises; an unreadable store file is one invalid silence naming the file
(:func:`active_silences`), so a response tick pages as if there were no silences and records a warning: a broken
silence store must not suppress pages. The CLI reports an unreadable store as :class:`SilenceStoreError`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.alerting.correlate import SEVERITY_RANK, Alert
from akidb_pipelines.config import akidb_home
from akidb_pipelines.storage.sqlite import SQLiteFile

log = logging.getLogger(__name__)

MATCHER_KEYS = ("source", "rule", "component", "edge_location", "severity")
# labels with a closed set of values: a pattern matching all of them is a silence of everything of that label
KNOWN_VALUES = {"source": ("slo", "anomaly", "static", "pipeline"), "severity": tuple(SEVERITY_RANK)}
MAX_DURATION = timedelta(days=30)
MAX_PATTERN = 128
MAX_TEXT = 500  # comment and author
_CHAR = r"[A-Za-z0-9._-]"
PATTERN = re.compile(rf"(?:{_CHAR}|\*|\?|\[!?{_CHAR}+\])+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, start TEXT NOT NULL, end TEXT NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at TEXT NOT NULL);
"""


class SilenceError(ValueError):
    """A silence that cannot be added (bad matcher, duration, comment); the message says which."""


class SilenceStoreError(OSError):
    """The silence store file cannot be opened or read (not a database, a damaged table, permissions)."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[tuple[str, str], ...]
    start: datetime
    end: datetime
    created_by: str = ""
    comment: str = ""
    problem: str = ""   # why a stored row is unusable: such a silence matches nothing

    @property
    def valid(self) -> bool:
        return not self.problem

    def matches(self, a: Alert) -> bool:
        if self.problem:
            return False
        labels = {"source": a.source, "rule": a.rule, "component": a.component, "edge_location": a.edge_location,
                  "severity": a.severity}
        return (self.start <= a.start < self.end
                and all(fnmatch.fnmatchcase(str(labels.get(k, "")), v) for k, v in self.matchers))

    def describe(self) -> str:
        if self.problem:
            return f"{self.id} (ignored: {self.problem})"
        m = ", ".join(f"{k}={v}" for k, v in self.matchers)
        return f"{self.id} ({m}; until {self.end:%Y-%m-%d %H:%M}Z by {self.created_by or '?'}: {self.comment})"


def _matcher_problem(key: str, value: str) -> str | None:
    if key not in MATCHER_KEYS:
        return f"key must be one of {', '.join(MATCHER_KEYS)}"
    if not value:
        return "expected key=pattern"
    if len(value) > MAX_PATTERN:
        return f"pattern longer than {MAX_PATTERN} characters"
    if not PATTERN.fullmatch(value):
        return ("pattern may hold only letters, digits, '.', '_', '-' and the wildcards *, ? and [...] "
                "(no quotes, spaces, ';', '=' or '/')")
    return None


def catches_all(key: str, pattern: str) -> bool:
    """Whether ``pattern`` matches every value of label ``key``: only wildcards (``*``, ``?*``), or every value
    of a label with a closed set (``severity=P*``)."""
    if "*" in pattern and not pattern.strip("*?"):
        return True
    known = KNOWN_VALUES.get(key)
    return bool(known) and all(fnmatch.fnmatchcase(v, pattern) for v in known)


def parse_matchers(items: list[str], allow_all: bool = False) -> tuple[tuple[str, str], ...]:
    """``["component=lambda-edge", "rule=lambda-edge.*"]`` -> matchers, in the grammar above (each error names
    the matcher); a matcher that matches every value of its label needs ``allow_all``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        problem = "expected key=pattern" if not sep else _matcher_problem(key, value)
        if problem:
            raise SilenceError(f"matcher {item!r}: {problem}")
        if key in out:
            raise SilenceError(f"matcher {item!r}: key {key!r} given twice (one pattern per label)")
        if not allow_all and catches_all(key, value):
            raise SilenceError(f"matcher {item!r} matches every {key}: narrow it, drop it, or pass --all to "
                               "silence everything it covers")
        out[key] = value
    if not out:
        raise SilenceError("a silence needs at least one matcher (a silence of everything is a maintenance window)")
    return tuple(sorted(out.items()))


def _text(value: str, what: str, required: bool) -> str:
    value = value or ""
    if required and not value.strip():
        raise SilenceError(f"{what}: required, and not blank (the ledger shows it)")
    if len(value) > MAX_TEXT:
        raise SilenceError(f"{what}: longer than {MAX_TEXT} characters")
    if any(not c.isprintable() for c in value):
        raise SilenceError(f"{what}: one line of printable text (no newline or control character)")
    return value.strip()


def _time(text: str, what: str) -> datetime:
    t = datetime.fromisoformat(str(text))
    if t.tzinfo is None:
        raise ValueError(f"{what} {text!r} has no time zone")
    return t.astimezone(timezone.utc)


def _from_row(row: tuple) -> Silence:
    """A stored row as a silence; an unusable one as an invalid silence (never raises)."""
    sid = str(row[0])
    try:
        matchers = []
        for item in str(row[1]).split(";"):
            key, sep, value = item.partition("=")
            problem = "no key=pattern" if not sep else _matcher_problem(key, value)
            if problem:
                raise ValueError(f"matcher {item!r}: {problem}")
            matchers.append((key, value))
        start, end = _time(row[2], "start"), _time(row[3], "end")
        return Silence(sid, tuple(matchers), start, end, str(row[4] or ""), str(row[5] or ""))
    except (ValueError, TypeError, OverflowError) as exc:
        return Silence(sid, (), _EPOCH, _EPOCH, problem=f"stored row unusable ({exc}); delete it with "
                                                        f"`akidb silence delete {sid}`")


class SilenceStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.db = SQLiteFile(path, SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> SilenceStoreError:
        return SilenceStoreError(f"{self.path}: unreadable silence store ({exc}); move it aside to start an "
                                 "empty one (its silences are then lost)")

    def add(self, matchers: tuple[tuple[str, str], ...], start: datetime, end: datetime, created_by: str = "",
            comment: str = "") -> Silence:
        if end <= start:
            raise SilenceError(f"the silence ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        if end - start > MAX_DURATION:
            raise SilenceError(f"a silence lasts at most {MAX_DURATION.days} days (got {end - start})")
        comment, created_by = _text(comment, "comment", True), _text(created_by, "by", False)
        if not matchers:
            raise SilenceError("a silence needs at least one matcher")
        for key, value in matchers:
            problem = _matcher_problem(key, value)
            if problem:
                raise SilenceError(f"matcher {key}={value!r}: {problem}")
        try:
            start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        except OverflowError:
            raise SilenceError("the silence's window is outside the supported dates") from None
        sid = "sil-" + hashlib.sha256(f"{matchers}|{start.isoformat()}|{end.isoformat()}".encode()).hexdigest()[:10]
        try:
            with self.db.transaction() as con:
                con.execute("INSERT OR IGNORE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (sid, ";".join(f"{k}={v}" for k, v in matchers), start.isoformat(), end.isoformat(),
                             created_by, comment, datetime.now(timezone.utc).isoformat()))
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None
        return Silence(sid, matchers, start, end, created_by, comment)

    def expire(self, sid: str, at: datetime) -> bool:
        at_s = at.astimezone(timezone.utc).isoformat()
        try:
            with self.db.transaction() as con:
                return con.execute("UPDATE silences SET end = ? WHERE id = ? AND end > ?", (at_s, sid, at_s)).rowcount == 1
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None

    def delete(self, sid: str) -> bool:
        """Remove the row (``expire`` keeps it): for a silence that should never have been stored."""
        try:
            with self.db.transaction() as con:
                return con.execute("DELETE FROM silences WHERE id = ?", (sid,)).rowcount == 1
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None

    def all(self) -> list[Silence]:
        """Every stored silence, unusable rows as invalid silences (see :func:`_from_row`)."""
        try:
            with self.db.connection() as con:
                rows = con.execute("SELECT id, matchers, start, end, created_by, comment FROM silences "
                                   "ORDER BY start, id").fetchall()
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None
        return [_from_row(r) for r in rows]


def default_path() -> Path:
    return akidb_home() / "silences.sqlite"


def active_silences(path: str | Path | None = None) -> list[Silence]:
    """Every stored silence (expired ones match nothing new: their window is in the past); none without a store.
    Never raises: an unreadable store is one invalid silence naming the file (a tick then pages as if there were no
    silences, and records the warning), an unusable row an invalid silence."""
    p = Path(path) if path else default_path()
    if not p.exists():
        return []
    try:
        sils = SilenceStore(p).all()
    except SilenceStoreError as exc:
        log.warning("silences ignored: %s", exc)
        return [Silence("silence-store", (), _EPOCH, _EPOCH, problem=str(exc))]
    for s in sils:
        if not s.valid:
            log.warning("silence %s ignored: %s", s.id, s.problem)
    return sils


def silenced_by(a: Alert, silences: list[Silence]) -> Silence | None:
    return next((s for s in silences if s.matches(a)), None)
