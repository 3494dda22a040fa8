"""Severity routing with a controlled clock: P0 now, P1 in (follow-the-sun) business hours or held, P2 a ticket."""

from datetime import datetime, timedelta, timezone

import pytest

from akidb_pipelines.alerting.routing import RoutingConfigError, TicketPolicy, load_routing

UTC = timezone.utc


@pytest.fixture(scope="module")
def policy():
    return load_routing()


def test_p0_pages_now_whoever_is_on_call(policy):
    sat = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # Saturday: nobody's business hours
    d = policy.route("P0", sat)
    assert (d.action, d.at, d.pagerduty_severity) == ("page", sat, "critical")
    assert policy.escalate_at(d.at) == sat + timedelta(minutes=15)


@pytest.mark.parametrize("now, team", [
    (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), "apac"),   # Fri 10:00 in Tokyo
    (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), "emea"),  # Fri 10:00 in Dublin (GMT in winter)
    (datetime(2026, 11, 27, 18, 0, tzinfo=UTC), "amer"),  # Fri 10:00 in Los Angeles (PST)
])
def test_p1_pages_in_the_business_hours_of_the_team_on_call(policy, now, team):
    d = policy.route("P1", now)
    assert (d.action, d.team, d.at, d.pagerduty_severity) == ("page", team, now, "error")


def test_p1_outside_business_hours_waits_for_the_next_opening_anywhere(policy):
    sat = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    d = policy.route("P1", sat)
    # the first opening after the weekend is Monday 09:00 in Tokyo = Monday 00:00 UTC
    assert (d.action, d.team, d.at) == ("hold", "apac", datetime(2026, 11, 30, 0, 0, tzinfo=UTC))
    gap = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)  # Fri 17:30 Tokyo, 08:30 Dublin: before emea opens
    d = policy.route("P1", gap)
    assert (d.action, d.team, d.at) == ("hold", "emea", datetime(2026, 11, 27, 9, 0, tzinfo=UTC))


def test_daylight_saving_moves_the_opening_in_utc(policy):
    # Dublin is on IST (UTC+1) in summer: 09:00 local is 08:00 UTC
    d = policy.route("P1", datetime(2026, 7, 3, 7, 30, tzinfo=UTC))  # Friday, 16:30 Tokyo (open)
    assert d.team == "apac"
    d = policy.route("P1", datetime(2026, 7, 3, 8, 0, tzinfo=UTC))   # 17:00 Tokyo (closed), 09:00 Dublin (open)
    assert (d.action, d.team) == ("page", "emea")


def test_p2_is_a_ticket(policy):
    d = policy.route("P2", datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    assert (d.action, d.team, d.pagerduty_severity) == ("ticket", None, "warning")


TEAMS = "teams: [{name: x, timezone: UTC, days: [mon], start: '09:00', end: '17:00'}]\n"
SEVERITIES = ("severities: {P0: {action: page, pagerduty_severity: critical}, P1: {action: page, pagerduty_severity: "
              "error}, P2: {action: ticket, pagerduty_severity: warning}}\n")


def test_the_ticket_policy_is_read_from_the_tickets_section(tmp_path):
    p = tmp_path / "routing.yaml"
    p.write_text(TEAMS + SEVERITIES + "tickets: {anomaly_min_minutes: 7, digest_hour_utc: 9}\n")
    assert load_routing(p).tickets == TicketPolicy(anomaly_min_minutes=7, digest_hour_utc=9)
    p.write_text(TEAMS + SEVERITIES + "tickets: {digest_hour_utc: 23}\n")  # a field left out keeps its default
    assert load_routing(p).tickets == TicketPolicy(digest_hour_utc=23)
    p.write_text(TEAMS + SEVERITIES)  # a file from before the section: the defaults
    assert load_routing(p).tickets == TicketPolicy()


def test_the_shipped_policy_has_a_digest():
    t = load_routing().tickets
    assert t.anomaly_min_minutes > 1  # 1 would make every anomaly a ticket
    assert 0 <= t.digest_hour_utc <= 23


@pytest.mark.parametrize("text, message", [
    ("teams: [{name: x, timezone: Mars/Base, days: [mon], start: '09:00', end: '17:00'}]", "timezone: unknown"),
    ("teams: [{name: x, timezone: UTC, days: [funday], start: '09:00', end: '17:00'}]", "days: expected"),
    ("teams: [{name: x, timezone: UTC, days: [mon], start: '18:00', end: '17:00'}]", "is not after start"),
    ("teams: [{name: x, timezone: UTC, days: [mon], start: '09:00', end: '17:00'}]\nseverities: {P0: {action: shout}}",
     "severities.P0.action"),
    (TEAMS + SEVERITIES + "tickets: {anomaly_min_minutes: 0}", "tickets.anomaly_min_minutes: expected an integer"),
    (TEAMS + SEVERITIES + "tickets: {digest_hour: 9}", "tickets: unknown field(s) ['digest_hour']"),
])
def test_invalid_routing_policy_names_file_and_field(tmp_path, text, message):
    p = tmp_path / "routing.yaml"
    p.write_text(text)
    with pytest.raises(RoutingConfigError) as e:
        load_routing(p)
    assert str(p) in str(e.value) and message in str(e.value)
