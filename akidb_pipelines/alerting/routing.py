"""Severity routing as policy (``config/routing.yaml``): who gets paged, now or later, or a ticket.

Time-zone aware through ``zoneinfo`` (daylight saving included): a P1 raised outside every team's business hours
is held until the next opening of any team (follow-the-sun) and paged then, unless it escalates to P0 first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from akidb_pipelines.config import config_path, shipped_config
from akidb_pipelines.config.loader import ConfigError, expect_number, expect_one_of, load_yaml

DEFAULT_PATH = shipped_config("routing.yaml")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIONS = ("page", "page_in_business_hours", "ticket")
PD_SEVERITIES = ("critical", "error", "warning", "info")


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
    try:
        return time.fromisoformat(str(v))
    except ValueError:
        raise RoutingConfigError(f"{where}: expected HH:MM, got {v!r}") from None


def load_routing(path: str | os.PathLike[str] | None = None) -> RoutingPolicy:
    p = Path(path) if path else config_path("AKIDB_ROUTING_CONFIG", DEFAULT_PATH)
    data = load_yaml(p, RoutingConfigError) or {}
    teams = []
    for i, t in enumerate(data.get("teams") or []):
        w = f"{p}: teams[{i}]"
        try:
            tz = ZoneInfo(str(t.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            raise RoutingConfigError(f"{w}.timezone: unknown time zone {t.get('timezone')!r}") from None
        days = t.get("days") or []
        bad = [d for d in days if d not in DAYS]
        if bad or not days:
            raise RoutingConfigError(f"{w}.days: expected some of {list(DAYS)}, got {days!r}")
        start, end = _time(t.get("start"), f"{w}.start"), _time(t.get("end"), f"{w}.end")
        if end <= start:
            raise RoutingConfigError(f"{w}: end {end} is not after start {start}")
        teams.append(Team(str(t.get("name") or f"team-{i}"), tz, frozenset(DAYS.index(d) for d in days), start, end))
    if not teams:
        raise RoutingConfigError(f"{p}: teams: at least one team is needed")
    sev = {}
    for name, r in (data.get("severities") or {}).items():
        w = f"{p}: severities.{name}"
        expect_one_of(r.get("action") if isinstance(r, dict) else None, ACTIONS, f"{w}.action", RoutingConfigError)
        expect_one_of(r.get("pagerduty_severity"), PD_SEVERITIES, f"{w}.pagerduty_severity", RoutingConfigError)
        sev[str(name)] = SeverityRule(r["action"], r["pagerduty_severity"], bool(r.get("low_urgency_event", False)))
    for needed in ("P0", "P1", "P2"):
        if needed not in sev:
            raise RoutingConfigError(f"{p}: severities: {needed} is missing")
    esc = expect_number((data.get("escalation") or {}).get("p0_ack_timeout_minutes", 15),
                        f"{p}: escalation.p0_ack_timeout_minutes", RoutingConfigError, positive=True)
    return RoutingPolicy(tuple(teams), sev, timedelta(minutes=esc))
