"""Response-tick policies on hand-made alerts (no lake data needed): flap suppression, the optional low-urgency
PagerDuty event for tickets, silences' matchers, and the root-cause type rules."""

from __future__ import annotations

import dataclasses as dc
from datetime import datetime, timedelta, timezone

import pytest

from akidb_pipelines.alerting.correlate import Alert, Incident, ServiceMap
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import Inputs, RespondConfig, respond
from akidb_pipelines.alerting.rootcause import RootCauseConfigError, classify, load_cause_types, severity_floor
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.silences import SilenceError, SilenceStore, parse_matchers
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.storage import Lake

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)  # a Wednesday, 12:00 in Tokyo (business hours)


def _alert(minute: int, length: int, sev: str = "P0", rule: str = "errors", comp: str = "akidb-rest") -> Alert:
    return Alert("static", rule, comp, sev, T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute + length))


def _tick(tmp_path, alerts, now_min: int, box=None, **kw):  # noqa: ANN001, ANN202
    inputs = Inputs([], load_forecast_config(), kw.pop("policy", load_routing()))
    box = box or Outbox(tmp_path / "o.sqlite")
    rep = respond(Lake(tmp_path / "empty-lake"), T0 + timedelta(minutes=now_min), inputs, box, ServiceMap(set()),
                  RespondConfig(**kw), extra_alerts=alerts)
    return rep, box


def test_a_recurrence_of_the_same_root_is_flapping_and_pages_only_if_it_persists(tmp_path):
    first = _alert(0, 5)
    blip = _alert(40, 2)        # the same root 35 min after the first ended: flapping, cleared within 10 min
    rep, box = _tick(tmp_path, [first, blip], 45)
    by_start = {r["first_alert"]: r for r in rep.incidents}
    assert by_start[first.start]["decision"] == "page"
    held = by_start[blip.start]
    assert held["decision"] == "hold" and "flapping" in held["reason"] and held["flap_of"] == by_start[first.start]["id"]
    rep, _ = _tick(tmp_path, [first, blip], 55, box)  # after the 10-minute hold: it cleared, so suppressed
    blip_row = next(r for r in rep.incidents if r["first_alert"] == blip.start)
    assert blip_row["decision"] == "suppressed" and blip_row["id"] in rep.flapping
    assert not any(k.startswith(blip_row["id"]) for k in box.keys())  # never paged
    lasting = _alert(40, 30)     # the same recurrence, but it persists past the hold: paged
    rep, box2 = _tick(tmp_path / "b", [first, lasting], 55)
    row = next(r for r in rep.incidents if r["first_alert"] == lasting.start)
    assert row["decision"] == "page" and "persisted" in row["reason"] and f"{row['id']}:trigger" in box2.keys()
    later = _alert(5 + 61 + 5, 2)  # more than the flap window (60 min) after the first ended: a new incident
    rep, _ = _tick(tmp_path / "c", [first, later], 80)
    assert next(r for r in rep.incidents if r["first_alert"] == later.start)["flap_of"] is None
    worse = _alert(40, 2, sev="P0", rule="errors")
    rep, _ = _tick(tmp_path / "d", [_alert(0, 5, sev="P1"), worse], 45)  # more severe than before: not a flap
    assert next(r for r in rep.incidents if r["first_alert"] == worse.start)["flap_of"] is None


def test_tickets_can_also_send_a_low_urgency_pagerduty_event(tmp_path):
    ticket = _alert(0, 5, sev="P2")
    rep, box = _tick(tmp_path, [ticket], 30)
    assert rep.tickets and box.keys() == set()  # shipped policy: a ticket only
    base = load_routing()
    low = dc.replace(base, severities={**base.severities, "P2": dc.replace(base.severities["P2"], low_urgency_event=True)})
    rep, box = _tick(tmp_path / "low", [ticket], 30, policy=low)
    (tid,) = rep.tickets
    assert f"{tid}:trigger" in box.keys() and f"{tid}:resolve" in box.keys()
    import json

    ev = json.loads(next(r["event"] for r in box.rows() if r["idempotency_key"] == f"{tid}:trigger"))
    assert ev["severity"] == "warning"


def test_a_p1_held_to_business_hours_reaches_pagerduty_at_once_at_low_urgency_and_pages_at_the_opening(tmp_path):
    import json

    sat = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)  # a Saturday: no team opens before Monday 00:00Z (Tokyo)
    p1 = Alert("static", "over", "akidb-rest", "P1", sat, sat + timedelta(minutes=30))
    inputs = Inputs([], load_forecast_config(), load_routing())
    box = Outbox(tmp_path / "o.sqlite")

    def tick(now: datetime):  # noqa: ANN202
        return respond(Lake(tmp_path / "lake"), now, inputs, box, ServiceMap(set()), extra_alerts=[p1])

    rep = tick(sat + timedelta(minutes=2))
    (row,) = rep.incidents
    assert rep.held == [row["id"]] and row["page_due"] == datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)
    assert box.keys() == {f"{row['id']}:held"}                     # the notice, not the page
    ev = json.loads(box.rows()[0]["event"])
    assert ev["dedup_key"] == f"{row['id']}-held" and ev["severity"] == "warning"
    assert ev["summary"].startswith("[held until Mon 00:00Z for apac] [P1] akidb-rest")
    tick(sat + timedelta(minutes=3))                               # idempotent: one notice
    assert len(box.rows()) == 1
    tick(sat + timedelta(hours=1))                                  # over: the notice is resolved, still no page
    assert box.keys() == {f"{row['id']}:held", f"{row['id']}:held-resolve"}
    silent_hold = dc.replace(load_routing(), severities={**load_routing().severities, "P1": dc.replace(
        load_routing().severities["P1"], low_urgency_event=False)})
    quiet = respond(Lake(tmp_path / "lake"), sat + timedelta(minutes=2), dc.replace(inputs, policy=silent_hold),
                    Outbox(tmp_path / "q.sqlite"), ServiceMap(set()), extra_alerts=[p1])
    assert quiet.held and not quiet.enqueued                       # without it, the hold is silent until Monday


def test_silence_matchers_and_store(tmp_path):
    store = SilenceStore(tmp_path / "s.sqlite")
    sil = store.add(parse_matchers(["component=lambda-edge", "rule=lambda-edge.*"]), T0, T0 + timedelta(hours=1),
                    "alice", "known vendor issue")
    edge = Alert("anomaly", "lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge", "P2", T0 + timedelta(minutes=5),
                 T0 + timedelta(minutes=9), "NRT57")
    assert sil.matches(edge)
    assert not sil.matches(dc.replace(edge, component="akidb-rest"))
    assert not sil.matches(dc.replace(edge, start=T0 + timedelta(hours=2)))  # starts after the silence
    rep, box = _tick(tmp_path, [edge, _alert(5, 10)], 30, )
    assert len(rep.incidents) == 2
    inputs_rep = respond(Lake(tmp_path / "l"), T0 + timedelta(minutes=30),
                         Inputs([], load_forecast_config(), load_routing(), silences=store.all()),
                         Outbox(tmp_path / "o2.sqlite"), ServiceMap(set()), extra_alerts=[edge, _alert(5, 10)])
    assert len(inputs_rep.incidents) == 1 and inputs_rep.silenced_alerts == [edge.fingerprint]
    assert store.expire(sil.id, T0 + timedelta(minutes=10)) and not store.expire(sil.id, T0 + timedelta(minutes=20))
    assert store.all()[0].end == T0 + timedelta(minutes=10)
    for bad in (["component"], ["colour=red"], []):
        with pytest.raises(SilenceError):
            parse_matchers(bad)
    with pytest.raises(SilenceError, match="before it starts"):
        store.add(parse_matchers(["rule=x"]), T0, T0 - timedelta(hours=1))


def test_root_cause_types_need_every_condition(tmp_path):
    types = load_cause_types()
    assert [t.type for t in types][:3] == ["spot_interruption", "edge_cold_start_storm", "predictive_over_provisioning"]
    a = _alert(0, 5)
    inc = Incident("i", a, [a], "P0", a.start, a.end)
    spot, cap = (c.key for c in types[0].evidence)   # spot instances; capacity per request served
    hour = range(-65, -5)                                # no earlier day: the hour before the window is the baseline
    frame = {spot: {T0 + timedelta(minutes=m): 6.0 for m in hour}, cap: {T0 + timedelta(minutes=m): 1.5 for m in hour}}
    for m in range(-5, 16):                              # 2 of 6 spot instances gone, capacity per request down a third
        frame[spot][T0 + timedelta(minutes=m)] = 4.0 if m >= 1 else 6.0
        frame[cap][T0 + timedelta(minutes=m)] = 1.0 if m >= 1 else 1.5
    cause, why = classify(inc, types, frame)
    assert cause == "spot_interruption" and "instances_spot fell from 6 to 4 (expected: the hour before" in why
    for m in range(1, 16):                               # less than 20% down: not spot
        frame[spot][T0 + timedelta(minutes=m)] = 5.5
    assert classify(inc, types, frame)[0] == "unclassified"
    lstm = dc.replace(a, source="anomaly", rule="akidb-rest.capacity_ratio", context=(("direction", "up"),))
    lstm_inc = Incident("j", lstm, [lstm], "P2", a.start, a.end)
    assert classify(lstm_inc, types, frame)[0] == "unclassified"  # no evidence: the anomaly alone names nothing
    (fc,) = types[2].evidence                            # the forecast over the load served
    frame[fc.key] = {T0 + timedelta(minutes=m): (2.2 if m >= 2 else 1.0) for m in range(-65, 16)}
    cause, why = classify(lstm_inc, types, frame)
    assert cause == "predictive_over_provisioning" and f"akidb-rest {fc.metric} rose from 1 to 2.2" in why
    assert severity_floor("predictive_over_provisioning", types) == "P1"  # confirmed: pages, not a ticket
    assert severity_floor("dependency_fault", types) is None
    sq = dc.replace(a, component="sqlite")
    assert classify(Incident("l", sq, [sq], "P1", a.start, a.end), types, {})[0] == "dependency_fault"
    bad = tmp_path / "rc.yaml"
    bad.write_text("types: [{type: x, evidence: {tier: a, metric: b, change: sideways, by: 1}}]")
    with pytest.raises(RootCauseConfigError, match=r"types\[0\]\.evidence"):
        load_cause_types(bad)
    bad.write_text("types: [{type: x, evidence: {tier: a, metric: 'b; DROP TABLE x', change: rise, by: 1}}]")
    with pytest.raises(RootCauseConfigError, match=r"types\[0\]\.evidence"):
        load_cause_types(bad)
    bad.write_text("types: [{type: x, components: [a], min_severity: P0}]")  # raising a page needs evidence
    with pytest.raises(RootCauseConfigError, match=r"types\[0\]\.min_severity"):
        load_cause_types(bad)

def test_an_alert_already_firing_at_the_lookback_start_is_not_a_new_incident(tmp_path):
    from datetime import timedelta as td

    old = _alert(0, 200)   # firing from T0 for hours: the tick at T0 + 3 h with a 3 h lookback sees it cut off
    rep, box = _tick(tmp_path, [old, _alert(150, 5, rule="cpu")], 180, lookback=td(hours=3))
    assert [r["root_rule"] for r in rep.incidents] == ["cpu"] and f"{rep.incidents[0]['id']}:trigger" in box.keys()
    assert [d["kind"] for d in rep.decisions if d["subject"] == old.fingerprint] == ["ongoing"]
    rep, _ = _tick(tmp_path / "b", [old], 180, lookback=td(hours=4))  # inside the lookback: its own incident
    assert [r["first_alert"] for r in rep.incidents] == [old.start]
