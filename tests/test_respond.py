"""A response tick on real pipeline output (the 2.5-day dataset: SLO burn rates plus Prophet anomalies of the
incident day) through correlation, routing and the outbox to the local PagerDuty stand-in over HTTPS."""

from __future__ import annotations

import dataclasses as dc
import json
from datetime import timedelta

import pandas as pd
import pytest

from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import (
    DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, Inputs, respond, write_incidents)
from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.clients.pagerduty import EventsClient
from akidb_pipelines.testing.pagerduty_standin import PagerDutyStandIn
from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.storage import Lake
from tests.conftest import DAYS_START
from tests.sensor_context import evaluate

KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
DAY3 = DAYS_START + timedelta(days=2)
SPOT, STORM = DAY3 + timedelta(hours=6), DAY3 + timedelta(hours=7)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scored(scored_lake):
    return scored_lake


def _inputs(cfg, **kw) -> Inputs:
    slos, _ = load_specs()
    return dc.replace(Inputs(slos, cfg, load_routing(), cause_types=load_cause_types()), **kw)


def _clock(box_time: list[float]):
    return lambda: box_time[0]


def test_each_incident_pages_once_with_its_root_and_nothing_else_pages(scored, tmp_path):
    lake, cfg, smap, promoted = scored
    assert {"akidb-rest.latency_p95_ms", "lambda-edge.NRT57.emf_latency_p95_ms"} <= set(promoted)
    box = Outbox(tmp_path / "outbox.sqlite")
    now = DAY3 + timedelta(hours=12)
    with PagerDutyStandIn() as pd_:
        client = EventsClient(KEY, pd_.base_url, str(pd_.ca_file))
        rep = respond(lake, now, _inputs(cfg), box, smap)
        assert box.deliver(client.send).dead == 0
        again = respond(lake, now, _inputs(cfg), box, smap)  # the next sensor tick: nothing new
        assert again.enqueued == [] and box.deliver(client.send).sent == 0
        df = write_incidents(lake, rep, box)
        paged = df[df.pages_sent == 1].sort_values("first_alert")
        spot = paged[(paged.first_alert >= SPOT - timedelta(minutes=5)) & (paged.first_alert < SPOT + timedelta(minutes=10))]
        storm = paged[(paged.first_alert >= STORM - timedelta(minutes=5)) & (paged.first_alert < STORM + timedelta(minutes=15))]
        assert len(spot) == 1 and len(storm) == 1, df[["first_alert", "severity", "root_rule", "decision"]]
        s, t = spot.iloc[0], storm.iloc[0]
        assert s.severity == "P0" and s.root_component == "akidb-rest" and "latency" in (s.root_rule + s.related)
        # the type of fault, from the golden signals around the onset (spot instances reclaimed; edge cold starts)
        assert s.cause == "spot_interruption" and "instances_spot fell" in s.cause_evidence
        assert t.cause == "edge_cold_start_storm" and "cold_starts / requests rose" in t.cause_evidence
        others = df[~df.id.isin([s.id, t.id])]
        assert not others.cause.isin(["spot_interruption", "edge_cold_start_storm"]).any(), others[["first_alert", "severity", "root_rule", "cause", "cause_evidence", "decision"]].to_string()
        # the storm burns its edge location's latency SLO fast: a P0 page (was P1 on the anomaly alone)
        assert t.severity == "P0" and t.root_component == "lambda-edge" and t.team == "apac"  # Wed 16:00 in Tokyo
        # every page belongs to an injected incident (the LSTM cascade at 08:00 may page too: it is one)
        lstm = (paged.first_alert >= DAY3 + timedelta(hours=8) - timedelta(minutes=5)) & (
            paged.first_alert < DAY3 + timedelta(hours=10))
        assert len(paged) == 2 + int(lstm.sum())
        assert len(pd_.incidents) == len(paged)  # one PagerDuty incident per paged incident, no storm of pages
        assert all("R0UT1NGKEY" not in str(v) for v in df.astype(str).to_numpy().ravel())
        # both still burn their SLOs' slow (3-day) tier at noon: latency after the spot cascade, edge latency after
        # the storm; the lone anomalies are no page, and a ticket only if they lasted
        assert pd_.incidents[s.id].status == "triggered" and pd_.incidents[t.id].status == "triggered"
        assert set(rep.tickets) == set(df[df.decision == "ticket"].id)
        lone = df[df.decision.isin(["ticket", "digest"])]
        assert len(lone) and set(rep.digested) == set(df[df.decision == "digest"].id)
        blips = lone[lone.decision == "digest"]
        assert (blips.root_source == "anomaly").all() and blips.reason.str.contains("below the ticket threshold").all()
        assert blips.digest.notna().all() and lone[lone.decision == "ticket"].digest.isna().all()
        trig = next(e for e in pd_.events if e["dedup_key"] == s.id and e["event_action"] == "trigger")
        assert trig["payload"]["custom_details"]["root_context"]["burn_rate_1h"] is not None
        assert trig["payload"]["custom_details"]["root_cause"]["type"] == "spot_interruption"
    # the decision ledger: every alert's grouping, every routing decision, every event enqueued and delivered
    dec = pd.read_parquet(__import__("io").BytesIO(lake.read_bytes(DECISIONS_OBJECT)))
    mine = dec[dec.incident == s.id]
    assert {"alert", "cause", "route", "enqueue", "delivered"} <= set(mine.kind)
    assert (mine[mine.kind == "alert"].detail.str.startswith("root:")).sum() == 1
    assert len(dec[dec.kind == "route"]) == len(df)  # one routing decision per incident (ticks do not repeat rows)
    tickets = pd.read_parquet(__import__("io").BytesIO(lake.read_bytes(TICKETS_OBJECT)))
    assert set(tickets.id) == set(df[df.decision == "ticket"].id)  # day 3 is not over at noon: no digest yet
    assert (tickets.kind == "incident").all()


def test_the_alert_sensor_runs_on_alerts_newer_than_the_last_tick_saw_and_explains_its_skips(scored):
    import dagster as dg

    from akidb_pipelines.alerting.alert_sources import newest_alert_minutes
    from assets.alerting import INCIDENTS
    from assets.resources import LakeResource
    from sensors.alerting import alert_sensor

    lake, *_ = scored
    res = LakeResource(lake_root=lake.root, duckdb_path=str(lake.root) + "/../akidb.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    first = evaluate(alert_sensor, resources={"lake": res}, instance=instance)
    assert isinstance(first, dg.RunRequest) and first.tags["akidb/reason"].startswith("new ")
    newest = newest_alert_minutes(lake)
    assert newest["burn"] and newest["anomaly"]
    # a tick (here recorded as the incidents asset's materialization, as a detection run leaves it) saw them all
    instance.report_runless_asset_event(dg.AssetMaterialization(INCIDENTS, metadata={
        "alerts_seen": dg.MetadataValue.json(newest)}))
    again = evaluate(alert_sensor, resources={"lake": res}, instance=instance)
    assert isinstance(again, dg.SkipReason) and "nothing new since the last tick" in again.skip_message
    # a tick that saw only older anomalies: the newer ones are new
    instance.report_runless_asset_event(dg.AssetMaterialization(INCIDENTS, metadata={
        "alerts_seen": dg.MetadataValue.json({**newest, "anomaly": "2000-01-01T00:00:00+00:00"})}))
    late = evaluate(alert_sensor, resources={"lake": res}, instance=instance)
    assert isinstance(late, dg.RunRequest) and late.tags["akidb/reason"] == "new anomalies"


def test_the_incidents_asset_pages_through_the_outbox_and_reports_in_metadata(scored, tmp_path):
    import dagster as dg

    from assets.alerting import incidents
    from assets.resources import LakeResource, PagerDutyResource, RunbookResource

    lake, *_ = scored
    with PagerDutyStandIn() as pd_:
        resources = {"lake": LakeResource(lake_root=lake.root, duckdb_path=str(tmp_path / "akidb.duckdb")),
                     "pagerduty": PagerDutyResource(routing_key=KEY, base_url=pd_.base_url, ca_file=str(pd_.ca_file),
                                                    outbox_path=str(tmp_path / "outbox.sqlite")),
                     "runbooks": RunbookResource(audit_path=str(tmp_path / "audit.sqlite"))}
        now = (DAY3 + timedelta(hours=12)).isoformat()
        res = dg.materialize([incidents], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                             run_config={"ops": {"alerting__incidents": {"config": {"now": now}}}})
        assert res.success
        meta = res.asset_materializations_for_node("alerting__incidents")[0].metadata
        # the forecast config here holds every shipped series, but only the six trained ones have anomalies
        assert meta["pages_enqueued"].value >= 2 and meta["delivered"].value == len(pd_.events)
        assert meta["waiting_in_outbox"].value == 0
        from akidb_pipelines.alerting.alert_sources import service_map
        from akidb_pipelines.response_inputs import load_inputs

        same = respond(lake, DAY3 + timedelta(hours=12), load_inputs(), Outbox(tmp_path / "again.sqlite"),
                       service_map(lake))  # the tick the asset ran: its tickets are the ones reported
        assert meta["tickets"].value == len(same.tickets)
        assert len({e["dedup_key"] for e in pd_.events if e["event_action"] == "trigger"}) == meta["pages_enqueued"].value


def test_akidb_incidents_lists_the_ledger(scored, tmp_path, monkeypatch, capsys):
    import json

    from akidb_pipelines.cli import main

    lake, cfg, smap, _ = scored
    home = tmp_path / "home"
    monkeypatch.setenv("AKIDB_HOME", str(home))
    box = Outbox(home / "pagerduty-outbox.sqlite")
    with PagerDutyStandIn() as pd_:
        rep = respond(lake, DAY3 + timedelta(hours=12), _inputs(cfg), box, smap)
        box.deliver(EventsClient(KEY, pd_.base_url, str(pd_.ca_file)).send)
        write_incidents(lake, rep, box)
        monkeypatch.setenv("AKIDB_LAKE_ROOT", lake.root)
        assert main(["incidents", "--json"]) == 0
        records = json.loads(capsys.readouterr().out)
        assert records and all(r["pages_sent"] == 1 and r["first_page"] for r in records)
        assert {r["root_cause"]["component"] for r in records} >= {"akidb-rest", "lambda-edge"}
        assert {r["root_cause"]["type"] for r in records} >= {"spot_interruption", "edge_cold_start_storm"}
        # the on-call engineer acknowledges from the terminal: PagerDuty gets the acknowledge, the ledger the time
        first = records[0]["id"]
        monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
        monkeypatch.setenv("AKIDB_PAGERDUTY_URL", pd_.base_url)
        monkeypatch.setenv("AKIDB_PAGERDUTY_CA_FILE", str(pd_.ca_file))
        assert main(["incidents", "--ack", first, "--by", "alice"]) == 0
        assert "acknowledged in PagerDuty" in capsys.readouterr().out
        assert any(e["event_action"] == "acknowledge" and e["dedup_key"] == first for e in pd_.events)
        assert main(["incidents", "--ack", first]) == 0 and "already acknowledged" in capsys.readouterr().out
        assert main(["incidents", "--ack", "inc-never-paged"]) == 66
        capsys.readouterr()
    write_incidents(lake, respond(lake, DAY3 + timedelta(hours=12), _inputs(cfg), box, smap), box)
    assert main(["incidents", "--json"]) == 0
    acked = {r["id"]: r["acknowledged"] for r in json.loads(capsys.readouterr().out)}
    assert acked[first] is not None and sum(v is not None for v in acked.values()) == 1
    assert main(["incidents", "--all"]) == 0
    out = capsys.readouterr().out
    assert "root cause" in out and "lambda-edge" in out
    monkeypatch.setenv("AKIDB_LAKE_ROOT", str(tmp_path / "empty"))
    assert main(["incidents"]) == 66 and "no incident ledger yet" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"junk", b"PAR1" + b"\0" * 64 + b"PAR1", "parquet of another table"])
def test_akidb_incidents_with_a_corrupt_ledger_is_one_line_exit_66(content, tmp_path, monkeypatch, capsys):
    from akidb_pipelines.cli import main

    lake = Lake(tmp_path / "lake")
    if isinstance(content, str):
        buf = __import__("io").BytesIO()
        pd.DataFrame({"minute": [1, 2], "value": [0.5, 0.7]}).to_parquet(buf)
        content = buf.getvalue()
    lake.write_bytes(INCIDENTS_OBJECT, content)
    monkeypatch.setenv("AKIDB_LAKE_ROOT", lake.root)
    for argv in (["incidents"], ["incidents", "--json"], ["incidents", "--all"]):
        assert main(argv) == 66
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "incidents.parquet" in err


def test_a_maintenance_window_silences_the_incidents_rooted_in_its_tier(scored, tmp_path):
    from akidb_pipelines.change_calendar import CalendarEntry

    lake, cfg, smap, _ = scored
    window = [CalendarEntry("edge-maint", "maintenance", STORM - timedelta(minutes=30), STORM + timedelta(hours=1),
                            ("lambda-edge",))]
    box = Outbox(tmp_path / "outbox.sqlite")
    rep = respond(lake, DAY3 + timedelta(hours=12), _inputs(cfg, calendar=window), box, smap)
    storm = next(r for r in rep.incidents if r["root_component"] == "lambda-edge" and r["first_alert"] >= STORM)
    spot = next(r for r in rep.incidents if r["first_alert"] == SPOT)
    assert storm["decision"] == "silenced" and "edge-maint" in storm["reason"] and storm["id"] in rep.silenced
    assert spot["decision"] == "page"
    assert [k for k in rep.enqueued if k.startswith(storm["id"])] == []
    assert f"{spot['id']}:trigger" in rep.enqueued


def test_an_ad_hoc_silence_mutes_the_matching_alerts_and_the_ledger_says_why(scored, tmp_path):
    from akidb_pipelines.alerting.silences import SilenceStore, parse_matchers

    lake, cfg, smap, _ = scored
    store = SilenceStore(tmp_path / "silences.sqlite")
    store.add(parse_matchers(["component=lambda-edge"]), STORM - timedelta(minutes=10), STORM + timedelta(hours=1),
              "alice", "edge vendor incident, we know")
    box = Outbox(tmp_path / "outbox.sqlite")
    rep = respond(lake, DAY3 + timedelta(hours=12), _inputs(cfg, silences=store.all()), box, smap)
    assert rep.silenced_alerts  # the storm's edge alerts
    assert not any(r["root_component"] == "lambda-edge" and STORM <= r["first_alert"] < STORM + timedelta(hours=1)
                   for r in rep.incidents)
    assert any(r["first_alert"] == SPOT and r["decision"] == "page" for r in rep.incidents)  # other alerts page
    write_incidents(lake, rep, box)
    dec = pd.read_parquet(__import__("io").BytesIO(lake.read_bytes(DECISIONS_OBJECT)))
    muted = dec[dec.kind == "silenced"]
    assert len(muted) == len(rep.silenced_alerts) and muted.detail.str.contains("alice: edge vendor incident").all()
    # after the silence: an alert starting later pages as usual (the silence covers onsets inside its window)
    assert store.expire(store.all()[0].id, STORM + timedelta(minutes=1))


def test_an_unacknowledged_p0_escalates_after_the_ack_timeout_and_an_ack_prevents_it(scored, tmp_path):
    from akidb_pipelines.alerting.respond import acknowledge

    lake, cfg, smap, _ = scored
    clock = [0.0]
    for acked in (False, True):
        box = Outbox(tmp_path / f"outbox-{acked}.sqlite", clock=_clock(clock))
        with PagerDutyStandIn() as pd_:
            client = EventsClient(KEY, pd_.base_url, str(pd_.ca_file))
            first = SPOT + timedelta(minutes=2)
            clock[0] = first.timestamp()
            rep = respond(lake, first, _inputs(cfg), box, smap)
            box.deliver(client.send)
            spot = next(r for r in rep.incidents if r["first_alert"] == SPOT)
            assert spot["severity"] == "P0" and f"{spot['id']}:trigger" in rep.enqueued
            if acked:
                acknowledge(box, spot["id"], "bob")
            for minutes in (10, 18):  # before and after the 15-minute ack timeout; the incident is still live
                now = first + timedelta(minutes=minutes)
                clock[0] = now.timestamp()
                rep = respond(lake, now, _inputs(cfg), box, smap)
                box.deliver(client.send)
                assert (spot["id"] in rep.escalated) == (minutes == 18 and not acked)
            esc = [e for e in pd_.events if e["dedup_key"] == f"{spot['id']}-escalation"]
            assert len(esc) == (0 if acked else 1)
            if not acked:
                assert esc[0]["payload"]["summary"].startswith("[ESCALATED: not acknowledged in 15 min]")
                assert esc[0]["payload"]["severity"] == "critical"
            df = write_incidents(lake, rep, box)
            row = df[df.id == spot["id"]].iloc[0]
            assert pd.isna(row.escalated_at) == acked and pd.isna(row.acknowledged_at) != acked
            assert row.first_page == pd.Timestamp(first)  # the outbox clock: first page = the tick that sent it


def test_static_threshold_rules_fire_after_their_for_duration(scored, tmp_path):
    from akidb_pipelines.alerting.static_rules import StaticRule, StaticRuleError, load_static_rules, static_alerts

    lake, cfg, smap, _ = scored
    assert load_static_rules() == [] and len(load_static_rules(include_disabled=True)) == 4  # shipped disabled
    rule = StaticRule("errors-over-1pct", "akidb-rest", "error_rate", ">", 0.01, for_minutes=3, severity="P0")
    alerts = static_alerts(lake, [rule], DAY3, DAY3 + timedelta(hours=12))
    assert alerts and all(a.source == "static" and a.severity == "P0" for a in alerts)
    (a,) = [a for a in alerts if SPOT <= a.start <= SPOT + timedelta(minutes=10)]  # the spot cascade's 5xx
    assert a.start == SPOT + timedelta(minutes=2) and a.end == SPOT + timedelta(minutes=7)  # fired after 3 minutes
    never = StaticRule("errors-for-a-day", "akidb-rest", "error_rate", ">", 0.01, for_minutes=1440)
    assert static_alerts(lake, [never], DAY3, DAY3 + timedelta(hours=12)) == []
    longer = StaticRule("errors-5m", "akidb-rest", "error_rate", ">", 0.01, for_minutes=5)
    assert [x.start for x in static_alerts(lake, [longer], SPOT, SPOT + timedelta(hours=1))] == [a.start + timedelta(minutes=2)]
    rep = respond(lake, SPOT + timedelta(minutes=30), _inputs(cfg, static_rules=[rule]), Outbox(tmp_path / "o.sqlite"),
                  smap)
    spot = next(r for r in rep.incidents if r["first_alert"] <= SPOT + timedelta(minutes=3) <= r["last_alert"])
    assert "static:errors-over-1pct" in spot["related"] or spot["root_source"] == "static"  # grouped, no 2nd page
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules: [{id: x, tier: akidb-rest, metric: latency_p95_ms, op: '=>', threshold: 1}]")
    with pytest.raises(StaticRuleError, match=r"rules\[0\]\.op"):
        load_static_rules(bad)


def test_runbooks_launch_verify_and_scale_back_through_their_lifecycle(scored, tmp_path, aws_env):
    from akidb_pipelines.runbooks.actuator import Actuator
    from akidb_pipelines.runbooks.audit import AuditLog
    from akidb_pipelines.runbooks.config import DEFAULT_PATH, load_runbooks
    from akidb_pipelines.testing.aws_sandbox import seed_akidb
    from akidb_pipelines.runbooks.lifecycle import due_steps, read_ledger, tick

    lake, cfg, smap, _ = scored
    lake = Lake(tmp_path / "lake-copy")  # a ledger of its own
    import shutil

    for table in ("models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m", "models/staging/stg_xray_spans",
                  "forecast"):
        shutil.copytree(f"{scored[0].root}/{table}", f"{lake.root}/{table}")
    seed_akidb(aws_env)
    rb_file = tmp_path / "runbooks.yaml"
    rb_file.write_text(DEFAULT_PATH.read_text().replace("enabled: false", "enabled: true", 1))  # the spot runbook on
    runbooks = [r for r in load_runbooks(rb_file) if r.id == "spot-cascade-on-demand"]
    actuator, audit = Actuator(endpoint_url=aws_env), AuditLog(tmp_path / "audit.sqlite")
    desired = lambda: actuator.read({"type": "autoscaling_step", "group": "akidb-rest-ondemand"})["desired"]  # noqa: E731
    clock = [0.0]
    box = Outbox(tmp_path / "outbox.sqlite", clock=_clock(clock))
    inputs = _inputs(cfg, runbooks=runbooks)
    with PagerDutyStandIn() as pd_:
        client = EventsClient(KEY, pd_.base_url, str(pd_.ca_file))
        statuses = []
        for minutes in range(2, 90, 5):  # response ticks, then the runbook sensor's steps, every 5 minutes
            now = SPOT + timedelta(minutes=minutes)
            clock[0] = now.timestamp()
            rep = respond(lake, now, inputs, box, smap)
            box.deliver(client.send)
            write_incidents(lake, rep, box, audit)
            for step, out in tick(lake, runbooks, actuator, audit, box, now):
                statuses.append((minutes, step.step, out.status, desired()))
        trig = next(e for e in pd_.events if e["event_action"] == "trigger")
        assert trig["payload"]["custom_details"]["runbooks"] == ["spot-cascade-on-demand"]
    # applied once while live, verified 10 min later (akidb-rest 5xx back under 1%), scaled back 30 min after that
    assert [s[:3] for s in statuses] == [(2, "apply", "applied"), (12, "verify", "verified"),
                                         (42, "restore", "restored")], statuses
    assert statuses[0][3] == 4 and statuses[-1][3] == 2
    rows = [r for r in audit.rows() if r["runbook"] == "spot-cascade-on-demand"]
    assert {r["incident"] for r in rows} == {next(r["id"] for r in rep.incidents if r["first_alert"] == SPOT)}
    ledger = read_ledger(lake)
    acts = json.loads(ledger[ledger.first_alert == SPOT].iloc[0].runbook_actions)
    assert [a.split(": ")[1].split(" ")[0] for a in acts] == ["applied", "verified", "restored"]
    assert due_steps(ledger, runbooks, audit, SPOT + timedelta(days=1)) == []  # nothing left to do


def test_a_runbook_that_does_not_help_is_rolled_back_and_escalates(scored, tmp_path, aws_env):
    from akidb_pipelines.runbooks.actuator import Actuator
    from akidb_pipelines.runbooks.audit import AuditLog
    from akidb_pipelines.runbooks.config import Verify, load_runbooks
    from akidb_pipelines.runbooks.lifecycle import Step, execute_step
    from akidb_pipelines.testing.aws_sandbox import seed_akidb

    lake, *_ = scored
    seed_akidb(aws_env)  # the predictive flag starts 'true'
    lstm = dc.replace(next(r for r in load_runbooks() if r.id == "lstm-cascade-disable-predictive"), enabled=True,
                      verify=Verify("akidb-rest", "latency_p95_ms", below=1.0, minutes=5))  # never met
    actuator, audit, box = Actuator(endpoint_url=aws_env), AuditLog(tmp_path / "a.sqlite"), Outbox(tmp_path / "o.sqlite")
    now = DAY3 + timedelta(hours=9)
    assert execute_step(Step(lstm.id, "inc-x", "apply", ""), [lstm], lake, actuator, audit, box, now).status == "applied"
    assert actuator.read(lstm.action) == "false"
    out = execute_step(Step(lstm.id, "inc-x", "verify", ""), [lstm], lake, actuator, audit, box,
                       now + timedelta(minutes=20))
    assert out.status == "not_recovered" and out.escalate and "rollback: rolled_back" in out.reason
    assert actuator.read(lstm.action) == "true"  # undone
    (esc,) = [r for r in box.rows() if r["idempotency_key"] == "inc-x:escalate:lstm-cascade-disable-predictive:verify"]
    assert json.loads(esc["event"])["severity"] == "critical"
    assert [r["status"] for r in audit.rows()] == ["applied", "rolled_back", "not_recovered"]


def test_the_runbook_sensor_launches_due_steps_once_with_config(scored, tmp_path, monkeypatch):
    import dagster as dg

    from akidb_pipelines.runbooks.config import DEFAULT_PATH
    from assets.resources import LakeResource, RunbookResource
    from sensors.alerting import runbook_sensor

    lake, cfg, smap, _ = scored
    own = Lake(tmp_path / "lake")
    box = Outbox(tmp_path / "o.sqlite")
    rb_file = tmp_path / "runbooks.yaml"
    rb_file.write_text(DEFAULT_PATH.read_text())
    monkeypatch.setenv("AKIDB_RUNBOOKS_CONFIG", str(rb_file))
    from akidb_pipelines.runbooks.config import load_runbooks

    # a ledger whose spot incident is paged and live *now* (the sensor uses the wall clock)
    rep = respond(lake, SPOT + timedelta(minutes=3), _inputs(cfg, runbooks=load_runbooks()), box, smap)
    box.deliver(lambda ev: ev.dedup_key)
    write_incidents(own, rep, box)
    from akidb_pipelines.runbooks.lifecycle import read_ledger

    df = read_ledger(own)
    shift = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timestamp(SPOT)
    df["first_alert"] += shift
    df["last_alert"] += shift
    import io as _io

    buf = _io.BytesIO()
    df.to_parquet(buf, index=False)
    own.write_bytes(INCIDENTS_OBJECT, buf.getvalue())
    res = {"lake": LakeResource(lake_root=own.root, duckdb_path=str(tmp_path / "a.duckdb")),
           "runbooks": RunbookResource(audit_path=str(tmp_path / "audit.sqlite"))}
    reqs = evaluate(runbook_sensor, resources=res)
    assert isinstance(reqs, list) and len(reqs) == 1, reqs
    (r,) = reqs
    spot_id = df[df.cause == "spot_interruption"].iloc[0].id
    assert r.run_key == f"runbook:{spot_id}:spot-cascade-on-demand:apply"
    conf = r.run_config["ops"]["runbook_step"]["config"]
    assert conf["runbook"] == "spot-cascade-on-demand" and conf["step"] == "apply" and conf["incident"] == spot_id
    empty = {"lake": LakeResource(lake_root=str(tmp_path / "none"), duckdb_path=str(tmp_path / "b.duckdb")),
             "runbooks": res["runbooks"]}
    skip = evaluate(runbook_sensor, resources=empty)
    assert isinstance(skip, dg.SkipReason) and "no runbook step is due" in skip.skip_message
