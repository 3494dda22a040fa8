"""A fault paged once is not paged again when a later tick groups its alerts otherwise.

Held-out game day seed 84092, scenario 026: a storm at an edge location at 16:27 and a spot cascade at 16:32. At
16:33:20 the spot cascade's alerts and the storm's were one incident (first alert 16:27, root akidb-rest's latency
SLO, cause spot_interruption) and it paged; at 16:34:20 the storm's alerts were split off, the spot cascade's
incident had a new first alert (16:32), so a new id, and paged a second time with the same root and cause."""

from __future__ import annotations

from datetime import timedelta

from akidb_pipelines.alerting.flapping import paged_as_another
from akidb_pipelines.alerting.outbox import Outbox, paged_causes, said_by_triggers
from akidb_pipelines.alerting.respond import Inputs, respond
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.clients.pagerduty import Event
from akidb_pipelines.forecast.config import load_forecast_config
from tests.test_rootcause_relative import DAY, SMAP, SPOT, TYPES, alert, golden_lake, telemetry


def test_the_same_cause_paged_under_an_id_no_tick_has_any_more_is_continued_not_paged_again(tmp_path):
    at = DAY + timedelta(hours=16, minutes=32)
    lake = golden_lake(tmp_path, telemetry(seed=4, spot_lost=((at, 10, 3),)))
    slo = alert("akidb-rest", at, 10, source="slo", rule="latency", severity="P0")
    storm = alert("lambda-edge", at - timedelta(minutes=3), 5, rule="lambda-edge.LHR62.emf_latency_p95_ms",
                  edge="LHR62")
    inputs = Inputs([], load_forecast_config(), load_routing(), cause_types=TYPES, sources=())
    clock = [0.0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: clock[0])

    def tick(minutes: float, alerts):  # noqa: ANN001, ANN202
        now = at + timedelta(minutes=minutes)
        clock[0] = now.timestamp()
        rep = respond(lake, now, inputs, box, SMAP, extra_alerts=alerts)
        box.deliver(lambda ev: ev.dedup_key)
        return rep

    (first,) = tick(1 + 1 / 3, [slo, storm]).incidents        # one incident from the storm's first minute
    assert first["cause"] == SPOT and first["decision"] == "page" and first["first_alert"] == storm.start
    # a runbook's escalation is a trigger of the same dedup key that names no cause: it must not hide the page's
    box.enqueue(Event("trigger", first["id"], summary="escalated: runbook rb: verify failed"),
                f"{first['id']}:escalate:rb:verify")
    (again,) = tick(2 + 1 / 3, [slo]).incidents                # the storm's alert grouped elsewhere: a new id
    assert again["id"] != first["id"] and again["cause"] == SPOT
    assert again["decision"] == "suppressed" and again["flap_of"] == first["id"]
    assert "grouped otherwise" in again["reason"]
    triggers = [r["idempotency_key"] for r in box.rows() if r["action"] == "trigger"]
    assert triggers == [f"{first['id']}:trigger", f"{first['id']}:escalate:rb:verify"]   # one page for one fault
    # once the fault is over, the page that no tick has any more is resolved with it
    tick(30, [slo])
    assert {r["idempotency_key"] for r in box.rows() if r["action"] == "resolve"} == {f"{first['id']}:resolve"}


def test_only_a_page_of_the_same_root_and_cause_near_in_time_and_gone_from_the_tick_is_continued(tmp_path):
    at = DAY + timedelta(hours=16, minutes=32)
    lake = golden_lake(tmp_path, telemetry(seed=4, spot_lost=((at, 10, 3),)))
    inputs = Inputs([], load_forecast_config(), load_routing(), cause_types=TYPES, sources=())
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: (at + timedelta(minutes=2)).timestamp())
    (inc,) = respond(lake, at + timedelta(minutes=1, seconds=20), inputs, box, SMAP,
                     extra_alerts=[alert("akidb-rest", at, 10, source="slo", rule="latency", severity="P0")]).incidents
    rows = box.rows()
    assert said_by_triggers(rows)[inc["id"]] == ("akidb-rest", SPOT)
    pages = paged_causes(rows)
    assert pages == {inc["id"]: (at, {("akidb-rest", SPOT)})}
    box.enqueue(Event("trigger", inc["id"], summary="escalated: runbook rb: verify failed"),
                f"{inc['id']}:escalate:rb:verify")
    assert said_by_triggers(box.rows())[inc["id"]] == ("akidb-rest", SPOT)  # a runbook's trigger names no cause
    assert paged_causes(box.rows()) == pages

    class Later:  # the same fault seen by a later tick under another id
        def __init__(self, start, component="akidb-rest", cause=SPOT, id_="inc-other"):  # noqa: ANN001
            self.id, self.start, self.cause = id_, start, cause
            self.root = alert(component, start, 1)

    assert paged_as_another(pages, Later(at + timedelta(minutes=5)), timedelta(minutes=15), set()) == inc["id"]
    assert paged_as_another(pages, Later(at + timedelta(minutes=16)), timedelta(minutes=15), set()) is None
    assert paged_as_another(pages, Later(at, component="lambda-edge"), timedelta(minutes=15), set()) is None
    assert paged_as_another(pages, Later(at, cause="unclassified"), timedelta(minutes=15), set()) is None
    assert paged_as_another(pages, Later(at), timedelta(minutes=15), {inc["id"]}) is None   # still there


def _regrouping(tmp_path, at, severity: str):  # noqa: ANN001, ANN202
    """An outbox, a tick function (minutes after ``at``, alerts; delivers what it enqueues) and two alerts: an SLO
    alert of ``severity`` at ``at`` and an earlier anomaly seen late, which regroups the SLO alert's incident."""
    lake = golden_lake(tmp_path, telemetry(seed=4))
    slo = alert("akidb-rest", at, 10, source="slo", rule="availability", severity=severity)
    earlier = alert("akidb-rest", at - timedelta(minutes=4), 14, rule="akidb-rest.errors")  # seen late, began earlier
    inputs = Inputs([], load_forecast_config(), load_routing(), cause_types=TYPES, sources=())
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: at.timestamp())

    def tick(minutes: float, alerts):  # noqa: ANN001, ANN202
        rep = respond(lake, at + timedelta(minutes=minutes), inputs, box, SMAP, extra_alerts=alerts)
        box.deliver(lambda ev: ev.dedup_key)
        return rep

    return box, tick, slo, earlier


def test_a_page_whose_incident_no_tick_has_any_more_is_resolved_when_the_incidents_around_it_are_quiet(tmp_path):
    """An untyped page (no cause to be continued by) whose alerts a later tick groups under another first alert:
    its id is gone from every later tick, and before, its PagerDuty alert stayed open forever."""
    box, tick, slo, earlier = _regrouping(tmp_path, DAY + timedelta(hours=16, minutes=32), "P0")
    (first,) = tick(1, [slo]).incidents
    assert first["decision"] == "page" and first["cause"] == "unclassified"
    (later,) = tick(3, [slo, earlier]).incidents
    assert later["id"] != first["id"]                                   # regrouped: the first id is gone
    resolves = lambda: {r["dedup_key"] for r in box.rows() if r["action"] == "resolve"}  # noqa: E731
    tick(20, [slo, earlier])                                         # the alerts ended at 16:42: not quiet yet
    assert first["id"] not in resolves()
    rep = tick(30, [slo, earlier])                                   # quiet for 15 minutes
    assert first["id"] in resolves() and later["id"] in resolves()
    assert any(d["kind"] == "resolve" and d["incident"] == first["id"] for d in rep.decisions)
    tick(31, [slo, earlier])
    assert [r["idempotency_key"] for r in box.rows()].count(f"{first['id']}:resolve") == 1


def test_a_held_page_whose_incident_no_tick_has_any_more_has_its_notice_resolved(tmp_path):
    """A P1 on a Saturday is held to Monday's opening and PagerDuty gets its low-urgency notice (``<id>-held``) at
    once; when a later tick groups its alerts under another first alert, that notice too must be resolved once the
    incidents around it are quiet (before, only pages were)."""
    at = DAY - timedelta(days=2) + timedelta(hours=16, minutes=32)  # Saturday: every team is closed
    box, tick, slo, earlier = _regrouping(tmp_path, at, "P1")
    (first,) = tick(1, [slo]).incidents
    assert first["decision"] == "hold"
    assert [r["dedup_key"] for r in box.rows() if r["action"] == "trigger"] == [f"{first['id']}-held"]
    (later,) = tick(3, [slo, earlier]).incidents
    assert later["id"] != first["id"]
    resolves = lambda: {r["dedup_key"] for r in box.rows() if r["action"] == "resolve"}  # noqa: E731
    tick(20, [slo, earlier])
    assert f"{first['id']}-held" not in resolves()
    tick(30, [slo, earlier])
    assert {f"{first['id']}-held", f"{later['id']}-held"} <= resolves()
    assert first["id"] not in resolves()                             # it never paged: nothing else to resolve
    tick(31, [slo, earlier])
    assert [r["idempotency_key"] for r in box.rows()].count(f"{first['id']}:held-resolve") == 1
