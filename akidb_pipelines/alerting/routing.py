"""Severity routing as policy (``config/routing.yaml``): who gets paged, now or later, or a ticket.

Time-zone aware through ``zoneinfo`` (daylight saving included): a P1 raised outside every team's business hours
is held until the next opening of any team (follow-the-sun) and paged then, unless it escalates to P0 first.
What a ticket needs, and when the daily digest of the rest is written (``tickets``), is :class:`TicketPolicy`;
``alerting.digest`` applies it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from akidb_pipelines.config import config_file, shipped_config
from akidb_pipelines.config.loader import ConfigError, Fields, load_yaml

DEFAULT_PATH = shipped_config("routing.yaml")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIONS = ("page", "page_in_business_hours", "ticket")
PD_SEVERITIES = ("critical", "error", "warning", "info")
SEVERITIES = ("P0", "P1", "P2")
TEAM_FIELDS = ("name", "timezone", "days", "start", "end")
RULE_FIELDS = ("action", "pagerduty_severity", "low_urgency_event")
TICKET_FIELDS = ("anomaly_min_minutes", "digest_hour_utc")


class RoutingConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class Team:
    name: str
    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time

    def open_at(self, t: datetime) -> bool:
        local = t.astimezone(self.tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_opening(self, t: datetime) -> datetime:
        """The first moment at or after ``t`` inside this team's hours (UTC)."""
        if self.open_at(t):
            return t
        local = t.astimezone(self.tz)
        for d in range(0, 8):
            day = (local + timedelta(days=d)).date()
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=self.tz)
            if opening >= local:
                return opening.astimezone(timezone.utc)
        raise RoutingConfigError(f"team {self.name} has no business hours")


@dataclass(frozen=True)
class SeverityRule:
    action: str
    pagerduty_severity: str
    low_urgency_event: bool = False


@dataclass(frozen=True)
class TicketPolicy:
    """What an incident routed to a ticket needs to open one of its own; the others are listed in one digest ticket
    a day (``alerting.digest``). Defaults, and why, in ``config/routing.yaml`` and docs/alerting.md."""

    anomaly_min_minutes: int = 5   # anomaly-only: one series anomalous this many minutes (else corroboration)
    digest_hour_utc: int = 0       # the digest covers the 24 hours up to this hour (UTC) and is written then


@dataclass(frozen=True)
class Decision:
    action: str            # page | hold | ticket
    at: datetime           # when to page (now for page; the next opening for hold)
    team: str | None       # who is on call then (None for tickets)
    pagerduty_severity: str
    reason: str


@dataclass(frozen=True)
class RoutingPolicy:
    teams: tuple[Team, ...]
    severities: dict[str, SeverityRule]
    p0_ack_timeout: timedelta
    tickets: TicketPolicy = TicketPolicy()

    def on_call(self, t: datetime) -> str | None:
        for team in self.teams:
            if team.open_at(t):
                return team.name
        return None

    def route(self, severity: str, now: datetime) -> Decision:
        if severity not in self.severities:
            raise KeyError(f"no routing rule for severity {severity!r} (have {sorted(self.severities)})")
        rule, now = self.severities[severity], now.astimezone(timezone.utc)
        if rule.action == "ticket":
            return Decision("ticket", now, None, rule.pagerduty_severity, f"{severity}: ticket")
        team = self.on_call(now)
        if rule.action == "page":
            return Decision("page", now, team or self.teams[0].name, rule.pagerduty_severity,
                            f"{severity}: page now" + ("" if team else " (outside business hours)"))
        if team:
            return Decision("page", now, team, rule.pagerduty_severity, f"{severity}: page in {team} business hours")
        t, who = min((tm.next_opening(now), tm.name) for tm in self.teams)
        return Decision("hold", t, who, rule.pagerduty_severity,
                        f"{severity}: outside business hours, held until {t:%a %H:%M}Z ({who})")

    def escalate_at(self, paged_at: datetime) -> datetime:
        return paged_at + self.p0_ack_timeout


def _time(v: object, where: str) -> time:
    if not isinstance(v, str):  # YAML reads an unquoted 9:00 as the number 540
        raise RoutingConfigError(f"{where}: expected HH:MM in quotes (\"09:00\"), got {v!r}")
    try:
        return time.fromisoformat(v)
    except ValueError:
        raise RoutingConfigError(f"{where}: expected HH:MM, got {v!r}") from None


def _team(doc: object, w: str, i: int) -> Team:
    t = Fields(doc, w, RoutingConfigError, TEAM_FIELDS)
    zone = t.str("timezone")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RoutingConfigError(f"{w}.timezone: unknown time zone {zone!r}") from None
    days = t.list("days", non_empty=True)
    if any(not isinstance(d, str) or d not in DAYS for d in days):
        raise RoutingConfigError(f"{w}.days: expected some of {list(DAYS)}, got {days!r}")
    start, end = _time(t.get("start"), f"{w}.start"), _time(t.get("end"), f"{w}.end")
    if end <= start:
        raise RoutingConfigError(f"{w}: end {end} is not after start {start}")
    return Team(t.str("name", f"team-{i}"), tz, frozenset(DAYS.index(d) for d in days), start, end)


def load_routing(path: str | os.PathLike[str] | None = None) -> RoutingPolicy:
    """The routing policy (``path``, else ``$AKIDB_ROUTING_CONFIG``, else the shipped file); every key is checked
    (an unknown one is refused) and a problem raises RoutingConfigError naming the file and the field."""
    p, var = config_file("AKIDB_ROUTING_CONFIG", DEFAULT_PATH, path)
    doc = Fields(load_yaml(p, RoutingConfigError, named_by=var) or {}, str(p), RoutingConfigError,
                 ("teams", "severities", "escalation", "tickets"), top=True)
    items = doc.list("teams", [], non_empty=True)
    if not items:
        raise RoutingConfigError(f"{p}: teams: at least one team is needed")
    teams = [_team(t, f"{p}: teams[{i}]", i) for i, t in enumerate(items)]
    names = [t.name for t in teams]
    if len(set(names)) < len(names):
        raise RoutingConfigError(f"{p}: teams: team names must be unique, got {names}")
    sevs = doc.fields("severities", SEVERITIES, {})
    sev = {}
    for name in SEVERITIES:
        if sevs == {} or name not in sevs:
            raise RoutingConfigError(f"{p}: severities: {name} is missing")
        r = sevs.fields(name, RULE_FIELDS)
        sev[name] = SeverityRule(r.one_of("action", ACTIONS), r.one_of("pagerduty_severity", PD_SEVERITIES),
                                 r.bool("low_urgency_event", False))
    esc = doc.fields("escalation", ("p0_ack_timeout_minutes",), None)
    minutes = esc.number("p0_ack_timeout_minutes", 15, positive=True) if esc is not None else 15
    return RoutingPolicy(tuple(teams), sev, timedelta(minutes=minutes), _tickets(doc))


def _tickets(doc: Fields) -> TicketPolicy:
    """The ``tickets`` section (absent: the defaults). Whole minutes and hours: the anomalies are 1-minute points."""
    t, default = doc.fields("tickets", TICKET_FIELDS, None), TicketPolicy()
    if t is None:
        return default
    return TicketPolicy(t.int("anomaly_min_minutes", default.anomaly_min_minutes, minimum=1, maximum=1440),
                        t.int("digest_hour_utc", default.digest_hour_utc, minimum=0, maximum=23))
