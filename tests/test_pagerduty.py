"""PagerDuty delivery over real HTTPS: the `pagerduty` client against the local Events API v2 stand-in, through the
durable outbox. Failures are injected in the server; time is a controlled clock for the backoff."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.clients.pagerduty import DeliveryError, EventsClient, Event
from akidb_pipelines.testing.pagerduty_standin import PagerDutyStandIn, validate

KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like a real integration key
pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def pd():
    with PagerDutyStandIn() as server:
        yield server


def _client(pd: PagerDutyStandIn, timeout_s: float = 5.0) -> EventsClient:
    return EventsClient(KEY, base_url=pd.base_url, ca_file=str(pd.ca_file), timeout_s=timeout_s)


def _trigger(dk: str = "inc-1", summary: str = "akidb-rest P95 over SLO") -> Event:
    return Event("trigger", dk, summary=summary, source="akidb-pipelines", severity="critical", component="akidb-rest",
                 group="akidb", event_class="slo_burn", timestamp="2026-11-27T10:00:00Z",
                 custom_details={"burn_rate_1h": 21.3, "budget_remaining": 0.42},
                 links=({"href": "http://127.0.0.1:3000/assets/forecast", "text": "Dagster"},))


def test_trigger_acknowledge_resolve_reach_pagerduty_with_context(pd, tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    client = _client(pd)
    for i, ev in enumerate([_trigger(), Event("acknowledge", "inc-1"), Event("resolve", "inc-1")]):
        assert box.enqueue(ev, f"inc-1:{ev.action}:{i}")
    rep = box.deliver(client.send)
    assert (rep.sent, rep.retrying, rep.dead) == (3, 0, 0)
    inc = pd.incidents["inc-1"]
    assert inc.status == "resolved" and [a for a, _ in inc.history] == ["trigger", "acknowledge", "resolve"]
    first = pd.events[0]
    assert first["routing_key"] == KEY and first["payload"]["custom_details"]["burn_rate_1h"] == 21.3
    assert first["payload"]["component"] == "akidb-rest" and first["payload"]["class"] == "slo_burn"
    assert first["links"][0]["href"].startswith("http://127.0.0.1:3000")
    assert {r["status"] for r in box.rows()} == {"sent"}


def test_enqueue_is_idempotent_per_key(pd, tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box.enqueue(_trigger(), "inc-1:trigger:0") is True
    assert box.enqueue(_trigger(), "inc-1:trigger:0") is False  # a second sensor tick for the same decision
    assert box.deliver(_client(pd).send).sent == 1 and len(pd.events) == 1


def test_server_errors_and_rate_limits_are_retried_with_backoff_until_delivered_once(pd, tmp_path):
    clock = Clock()
    box = Outbox(tmp_path / "outbox.sqlite", base_backoff_s=2, clock=clock)
    client = _client(pd)
    box.enqueue(_trigger(), "inc-1:trigger:0")
    box.enqueue(Event("acknowledge", "inc-1"), "inc-1:acknowledge:1")
    pd.failures[:] = [500, 429, 503]
    delays = []
    for _ in range(3):
        rep = box.deliver(client.send)
        assert rep.sent == 0 and rep.retrying == 1  # the acknowledge waits behind its incident's trigger
        row = box.rows()[0]
        delays.append(row["next_attempt_at"] - clock.t)
        assert box.deliver(client.send).sent == 0  # not due yet: nothing is sent early
        clock.t = row["next_attempt_at"]
    assert 1.6 <= delays[0] <= 2.4 and 3.2 <= delays[1] <= 4.8 and 6.4 <= delays[2] <= 9.6  # exponential
    rep = box.deliver(client.send)
    assert rep.sent == 2 and box.pending() == 0
    assert [e["event_action"] for e in pd.events] == ["trigger", "acknowledge"]
    assert [r["status"] for r in pd.requests] == [500, 429, 503, 202, 202]
    assert pd.incidents["inc-1"].status == "acknowledged" and len(pd.incidents) == 1


def test_a_timeout_is_retried_and_the_redelivery_is_harmless(pd, tmp_path):
    clock = Clock()
    box = Outbox(tmp_path / "outbox.sqlite", clock=clock)
    client = _client(pd, timeout_s=0.5)
    box.enqueue(_trigger(), "inc-1:trigger:0")
    pd.failures[:] = [1.5]  # the server answers after the client gave up (and does process the event)
    rep = box.deliver(client.send)
    assert rep.retrying == 1 and "unreachable" in rep.errors[0]
    clock.t = box.rows()[0]["next_attempt_at"]
    assert box.deliver(client.send).sent == 1
    inc = pd.incidents["inc-1"]
    assert len(pd.incidents) == 1 and inc.status == "triggered"  # delivered at least once, one incident


def test_an_invalid_event_goes_to_dead_letters_with_the_reason_and_does_not_block_others(pd, tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue(_trigger("bad", summary=""), "bad:trigger:0")
    box.enqueue(_trigger("good"), "good:trigger:0")
    rep = box.deliver(_client(pd).send)
    assert (rep.sent, rep.dead) == (1, 1)
    bad = next(r for r in box.rows() if r["dedup_key"] == "bad")
    assert bad["status"] == "dead" and "HTTP 400" in bad["last_error"] and "summary" in bad["last_error"]


def test_an_event_written_by_a_process_that_died_before_sending_is_delivered_by_the_next_run(pd, tmp_path):
    db = tmp_path / "outbox.sqlite"
    code = textwrap.dedent(f"""
        import os
        from akidb_pipelines.alerting.outbox import Outbox
        from akidb_pipelines.clients.pagerduty import Event
        Outbox({str(db)!r}).enqueue(Event("trigger", "inc-9", summary="spot cascade", source="akidb-pipelines"),
                                    "inc-9:trigger:0")
        os._exit(9)  # killed between the write and the send
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert pd.events == []
    rep = Outbox(db).deliver(_client(pd).send)
    assert rep.sent == 1 and pd.incidents["inc-9"].summary == "spot cascade"


def test_the_routing_key_never_appears_in_errors_or_repr(pd, tmp_path):
    client = _client(pd)
    assert KEY not in repr(client)
    pd.failures[:] = [400]
    with pytest.raises(DeliveryError) as e:
        client.send(_trigger())
    assert KEY not in str(e.value) and not e.value.retryable and e.value.status == 400
    unreachable = EventsClient(KEY, base_url="https://127.0.0.1:9", ca_file=str(pd.ca_file), timeout_s=1)
    with pytest.raises(DeliveryError) as e:
        unreachable.send(_trigger())
    assert e.value.retryable and KEY not in str(e.value)
    box = Outbox(tmp_path / "o.sqlite")
    box.enqueue(_trigger(), "k")
    assert KEY not in (tmp_path / "o.sqlite").read_bytes().decode("latin-1")  # not stored either


@pytest.mark.parametrize("event, error", [
    ({"routing_key": "short", "event_action": "trigger"}, "routing_key must be 32 characters"),
    ({"routing_key": KEY, "event_action": "resolve"}, "dedup_key is required"),
    ({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "fatal"}},
     "payload.severity"),
    ({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"},
      "colour": 1}, "unknown fields"),
])
def test_the_stand_in_validates_like_the_events_api(event, error):
    assert any(error in e for e in validate(event))


# -- the client's configuration and `akidb incidents --ack` (issue 13) ----------------------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "ftp://events.example", "events.pagerduty.com", "https://",
                                 "https://user:secret@events.example"])
def test_a_url_that_is_not_plain_https_is_a_configuration_error_naming_the_variable(url):
    from akidb_pipelines.clients.pagerduty import PagerDutyConfigError

    with pytest.raises(PagerDutyConfigError, match="AKIDB_PAGERDUTY_URL") as e:
        EventsClient(KEY, base_url=url)
    assert KEY not in str(e.value) and "secret" not in str(e.value)


def test_a_missing_ca_file_is_a_configuration_error(tmp_path):
    from akidb_pipelines.clients.pagerduty import PagerDutyConfigError

    with pytest.raises(PagerDutyConfigError, match="AKIDB_PAGERDUTY_CA_FILE"):
        EventsClient(KEY, base_url="https://127.0.0.1:9", ca_file=str(tmp_path / "nope.pem"))


def _ack(argv_id: str, capsys) -> tuple[int, str, str]:  # noqa: ANN001
    from akidb_pipelines.cli import main

    try:
        code = main(["incidents", "--ack", argv_id, "--by", "alice"])
    except SystemExit as e:  # pragma: no cover - argparse
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    return code, out, err


@pytest.fixture()
def paged(monkeypatch, pd):
    """inc-1 paged through the outbox of $AKIDB_HOME; the environment points at the stand-in."""
    from akidb_pipelines.config import akidb_home

    box = Outbox(akidb_home() / "pagerduty-outbox.sqlite")
    box.enqueue(_trigger("inc-1"), "inc-1:trigger")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.setenv("AKIDB_PAGERDUTY_URL", pd.base_url)
    monkeypatch.setenv("AKIDB_PAGERDUTY_CA_FILE", str(pd.ca_file))
    return box


def test_ack_with_an_http_url_is_refused_before_anything_is_queued_and_a_rerun_delivers(paged, pd, monkeypatch,
                                                                                         capsys):
    assert paged.deliver(_client(pd).send).sent == 1
    monkeypatch.setenv("AKIDB_PAGERDUTY_URL", pd.base_url.replace("https://", "http://"))
    code, out, err = _ack("inc-1", capsys)
    assert code == 2 and "AKIDB_PAGERDUTY_URL" in err and "https" in err
    assert "inc-1:acknowledge" not in paged.keys()  # nothing queued: the rerun is not "already acknowledged"
    monkeypatch.setenv("AKIDB_PAGERDUTY_URL", pd.base_url)
    code, out, err = _ack("inc-1", capsys)
    assert code == 0 and "acknowledged in PagerDuty" in out
    assert pd.incidents["inc-1"].status == "acknowledged"
    code, out, _ = _ack("inc-1", capsys)
    assert code == 0 and "already acknowledged" in out


def test_ack_after_a_dead_lettered_trigger_says_the_trigger_never_reached_pagerduty(paged, pd, capsys):
    pd.failures[:] = [400]
    assert paged.deliver(_client(pd).send).dead == 1
    for _ in range(2):  # a rerun says the same
        code, out, err = _ack("inc-1", capsys)
        assert code == 1 and "acknowledged (" not in out
        assert "never reached PagerDuty" in err and "dead-lettered" in err and "HTTP 400" in err
    assert "inc-1" not in pd.incidents and not any(e["event_action"] == "acknowledge" for e in pd.events)
    ack = next(r for r in paged.rows() if r["idempotency_key"] == "inc-1:acknowledge")
    assert ack["status"] == "dead" and "trigger" in ack["last_error"]  # recorded (stops the escalation), not sent


def test_ack_queued_behind_a_trigger_still_retrying_says_it_is_not_delivered_yet(paged, pd, capsys):
    pd.failures[:] = [503]
    assert paged.deliver(_client(pd).send).retrying == 1
    code, out, err = _ack("inc-1", capsys)
    assert code == 0 and "not delivered yet" in out and "HTTP 503" in out and "acknowledged (" not in out
    assert not any(e["event_action"] == "acknowledge" for e in pd.events)


def test_ack_without_a_routing_key_waits_in_the_outbox(paged, monkeypatch, capsys):
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY")
    code, out, _ = _ack("inc-1", capsys)
    assert code == 0 and "waits in the outbox" in out


def test_ack_with_a_corrupt_outbox_is_one_line_exit_66(monkeypatch, capsys):
    from akidb_pipelines.config import akidb_home

    akidb_home().mkdir(parents=True)
    (akidb_home() / "pagerduty-outbox.sqlite").write_bytes(b"not sqlite" * 50)
    code, _, err = _ack("inc-1", capsys)
    assert code == 66 and "pagerduty-outbox.sqlite" in err and "unreadable" in err
