"""A response tick on real pipeline output (the 2.5-day dataset: SLO burn rates plus Prophet anomalies of the
incident day) through correlation, routing and the outbox to the local PagerDuty stand-in over HTTPS."""

from __future__ import annotations

import dataclasses as dc
import json
from datetime import timedelta

import pandas as pd
import pytest

from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT, respond, write_incidents
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.sources import service_map
from akidb_pipelines.clients.pagerduty import EventsClient
from akidb_pipelines.clients.pagerduty_standin import PagerDutyStandIn
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.scoring import score_window, write_scores
from akidb_pipelines.forecast.train import train_series
from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.storage import Lake, hour_partitions
from tests.conftest import DAYS_START

KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
DAY3 = DAYS_START + timedelta(days=2)
SPOT, STORM = DAY3 + timedelta(hours=6), DAY3 + timedelta(hours=7)
SERIES = ["akidb-rest.latency_p95_ms", "akidb-rest.cpu_utilization_pct", "akidb-rest.capacity_ratio",
          "lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge.SIN52.emf_latency_p95_ms",
          "lambda-edge.SYD62.emf_latency_p95_ms"]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scored(days_lake, tmp_path_factory):
    src, _ = days_lake
    root = tmp_path_factory.mktemp("respond") / "lake"
    import shutil

    for table in ("models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m", "models/staging/stg_xray_spans"):
        shutil.copytree(f"{src.root}/{table}", root / table)
    lake = Lake(root)
    cfg = load_forecast_config()
    cfg = dc.replace(cfg, series=tuple(cfg.get(s) for s in SERIES),
                     validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=2))
    promoted = [s for s in SERIES if train_series(lake, cfg, cfg.get(s), DAY3).status == "promoted"]
    end = DAY3 + timedelta(hours=12)
    scores, _ = score_window(lake, cfg, load_detector_config(), DAY3, end)
    write_scores(lake, scores, hour_partitions(DAY3, end))
    smap = service_map(lake)
    return lake, cfg, smap, promoted


def test_each_incident_pages_once_with_its_root_and_nothing_else_pages(scored, tmp_path):
    lake, cfg, smap, promoted = scored
    assert {"akidb-rest.latency_p95_ms", "lambda-edge.NRT57.emf_latency_p95_ms"} <= set(promoted)
    slos, _ = load_specs()
    policy, box = load_routing(), Outbox(tmp_path / "outbox.sqlite")
    now = DAY3 + timedelta(hours=12)
    with PagerDutyStandIn() as pd_:
        client = EventsClient(KEY, pd_.base_url, str(pd_.ca_file))
        rep = respond(lake, now, slos, cfg, policy, box, smap)
        assert box.deliver(client.send).dead == 0
        again = respond(lake, now, slos, cfg, policy, box, smap)  # the next sensor tick: nothing new
        assert again.enqueued == [] and box.deliver(client.send).sent == 0
        df = write_incidents(lake, rep, box)
        paged = df[df.pages_sent == 1].sort_values("first_alert")
        spot = paged[(paged.first_alert >= SPOT - timedelta(minutes=5)) & (paged.first_alert < SPOT + timedelta(minutes=10))]
        storm = paged[(paged.first_alert >= STORM - timedelta(minutes=5)) & (paged.first_alert < STORM + timedelta(minutes=15))]
        assert len(spot) == 1 and len(storm) == 1, df[["first_alert", "severity", "root_rule", "decision"]]
        s, t = spot.iloc[0], storm.iloc[0]
        assert s.severity == "P0" and s.root_component == "akidb-rest" and "latency" in (s.root_rule + s.related)
        assert t.severity == "P1" and t.root_component == "lambda-edge" and t.team == "apac"  # Wed 16:00 in Tokyo
        # every page belongs to an injected incident (the LSTM cascade at 08:00 may page too: it is one)
        lstm = (paged.first_alert >= DAY3 + timedelta(hours=8) - timedelta(minutes=5)) & (
            paged.first_alert < DAY3 + timedelta(hours=10))
        assert len(paged) == 2 + int(lstm.sum())
        assert len(pd_.incidents) == len(paged)  # one PagerDuty incident per paged incident, no storm of pages
        assert all("R0UT1NGKEY" not in str(v) for v in df.astype(str).to_numpy().ravel())
        # the storm ended hours before: resolved; tickets for the lone anomalies, no page
        assert pd_.incidents[t.id].status == "resolved" and pd.notna(t.resolved_at)
        assert pd_.incidents[s.id].status == "triggered"  # the latency SLO still burns (slow tier) at noon
        assert set(rep.tickets) == set(df[df.decision == "ticket"].id)
        trig = next(e for e in pd_.events if e["dedup_key"] == s.id and e["event_action"] == "trigger")
        assert trig["payload"]["custom_details"]["root_context"]["burn_rate_1h"] is not None
    assert lake.read_bytes(INCIDENTS_OBJECT) is not None


def test_the_alert_sensor_runs_on_new_alert_rows_and_explains_its_skips(scored):
    import dagster as dg

    from assets.resources import LakeResource
    from sensors.alerting import alert_sensor

    lake, *_ = scored
    res = LakeResource(lake_root=lake.root, duckdb_path=str(lake.root) + "/../akidb.duckdb")
    ctx = dg.build_sensor_context(resources={"lake": res})
    first = alert_sensor(ctx)
    assert isinstance(first, dg.RunRequest) and first.tags["akidb/reason"].startswith("new ")
    ctx2 = dg.build_sensor_context(resources={"lake": res}, cursor=ctx.cursor)
    again = alert_sensor(ctx2)
    assert isinstance(again, dg.SkipReason) and "nothing new since the last tick" in again.skip_message


def test_the_incidents_asset_pages_through_the_outbox_and_reports_in_metadata(scored, tmp_path):
    import dagster as dg

    from assets.alerting import incidents
    from assets.resources import LakeResource, PagerDutyResource

    lake, *_ = scored
    with PagerDutyStandIn() as pd_:
        resources = {"lake": LakeResource(lake_root=lake.root, duckdb_path=str(tmp_path / "akidb.duckdb")),
                     "pagerduty": PagerDutyResource(routing_key=KEY, base_url=pd_.base_url, ca_file=str(pd_.ca_file),
                                                    outbox_path=str(tmp_path / "outbox.sqlite"))}
        now = (DAY3 + timedelta(hours=12)).isoformat()
        res = dg.materialize([incidents], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                             run_config={"ops": {"alerting__incidents": {"config": {"now": now}}}})
        assert res.success
        meta = res.asset_materializations_for_node("alerting__incidents")[0].metadata
        # the forecast config here holds every shipped series, but only the six trained ones have anomalies
        assert meta["pages_enqueued"].value >= 2 and meta["delivered"].value == len(pd_.events)
        assert meta["waiting_in_outbox"].value == 0 and meta["tickets"].value >= 1
        assert len({e["dedup_key"] for e in pd_.events if e["event_action"] == "trigger"}) == meta["pages_enqueued"].value


def test_akidb_incidents_lists_the_ledger(scored, tmp_path, monkeypatch, capsys):
    import json

    from akidb_pipelines.cli import main

    lake, cfg, smap, _ = scored
    slos, _ = load_specs()
    box = Outbox(tmp_path / "outbox.sqlite")
    with PagerDutyStandIn() as pd_:
        rep = respond(lake, DAY3 + timedelta(hours=12), slos, cfg, load_routing(), box, smap)
        box.deliver(EventsClient(KEY, pd_.base_url, str(pd_.ca_file)).send)
    write_incidents(lake, rep, box)
    monkeypatch.setenv("AKIDB_LAKE_ROOT", lake.root)
    assert main(["incidents", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["pages_sent"] == 1 and r["first_page"] for r in records)
    assert {r["root_cause"]["component"] for r in records} >= {"akidb-rest", "lambda-edge"}
    assert main(["incidents", "--all"]) == 0
    out = capsys.readouterr().out
    assert "root cause" in out and "lambda-edge" in out
    monkeypatch.setenv("AKIDB_LAKE_ROOT", str(tmp_path / "empty"))
    assert main(["incidents"]) == 66 and "no incident ledger yet" in capsys.readouterr().err


def test_paged_incidents_run_their_runbooks_once_and_record_the_actions(scored, tmp_path, aws_env):
    import boto3

    from akidb_pipelines.runbooks.engine import Actuator, AuditLog, load_runbooks

    lake, cfg, smap, _ = scored
    asg = boto3.client("autoscaling")
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId="ami-12345678", InstanceType="t3.small")
    asg.create_auto_scaling_group(AutoScalingGroupName="akidb-rest-ondemand", LaunchConfigurationName="lc",
                                  MinSize=0, MaxSize=12, DesiredCapacity=2, AvailabilityZones=["us-east-1a"])
    rb_file = tmp_path / "runbooks.yaml"
    from akidb_pipelines.runbooks.engine import DEFAULT_PATH

    rb_file.write_text(DEFAULT_PATH.read_text().replace("enabled: false", "enabled: true", 1))  # the spot runbook on
    runbooks = load_runbooks(rb_file)
    actuator, audit = Actuator(endpoint_url=aws_env), AuditLog(tmp_path / "audit.sqlite")
    slos, _ = load_specs()
    box = Outbox(tmp_path / "outbox.sqlite")
    with PagerDutyStandIn() as pd_:
        client = EventsClient(KEY, pd_.base_url, str(pd_.ca_file))
        for minutes in (2, 3):  # two ticks while the spot cascade is live
            rep = respond(lake, SPOT + timedelta(minutes=minutes), slos, cfg, load_routing(), box, smap,
                          runbooks=runbooks, actuator=actuator, audit=audit)
            box.deliver(client.send)
        trig = next(e for e in pd_.events if e["event_action"] == "trigger")
        assert trig["payload"]["custom_details"]["runbooks"] == ["spot-cascade-on-demand"]
    rows = audit.rows()
    assert [(r["runbook"], r["status"]) for r in rows] == [("spot-cascade-on-demand", "applied")]  # once
    assert actuator.read({"type": "autoscaling_step", "group": "akidb-rest-ondemand"})["desired"] == 4
    spot = next(r for r in rep.incidents if r["first_alert"] == SPOT)
    assert json.loads(spot["runbook_actions"]) == ["spot-cascade-on-demand: applied"]


def test_a_maintenance_window_silences_the_incidents_rooted_in_its_tier(scored, tmp_path):
    from akidb_pipelines.calendar import CalendarEntry

    lake, cfg, smap, _ = scored
    slos, _ = load_specs()
    window = [CalendarEntry("edge-maint", "maintenance", STORM - timedelta(minutes=30), STORM + timedelta(hours=1),
                            ("lambda-edge",))]
    box = Outbox(tmp_path / "outbox.sqlite")
    rep = respond(lake, DAY3 + timedelta(hours=12), slos, cfg, load_routing(), box, smap, calendar=window)
    storm = next(r for r in rep.incidents if r["root_component"] == "lambda-edge" and r["first_alert"] >= STORM)
    spot = next(r for r in rep.incidents if r["first_alert"] == SPOT)
    assert storm["decision"] == "silenced" and "edge-maint" in storm["reason"] and storm["id"] in rep.silenced
    assert spot["decision"] == "page"
    assert [k for k in rep.enqueued if k.startswith(storm["id"])] == []
    assert f"{spot['id']}:trigger" in rep.enqueued
