"""Runbooks against moto in server mode (Auto Scaling, SSM): dry run by default, guardrails, audit, rollback,
fail-safe on AWS errors."""

from __future__ import annotations

import dataclasses as dc
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from akidb_pipelines.alerting.correlate import Alert, Incident
from akidb_pipelines.calendar import CalendarEntry
from akidb_pipelines.runbooks.engine import Actuator, AuditLog, RunbookConfigError, load_runbooks, rollback, run

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
GROUP = "akidb-rest-ondemand"
FLAG = "/akidb/autoscaling/predictive-enabled"


def _incident(iid: str = "inc-spot", rule: str = "latency", source: str = "slo", direction: str | None = None):
    a = Alert(source, rule, "akidb-rest", "P0", NOW, NOW + timedelta(minutes=8),
              context=(("direction", direction),) if direction else ())
    return Incident(iid, a, [a], "P0", a.start, a.end)


@pytest.fixture()
def aws(aws_env):
    asg = boto3.client("autoscaling")
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId="ami-12345678", InstanceType="t3.small")
    asg.create_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchConfigurationName="lc", MinSize=0, MaxSize=12,
                                  DesiredCapacity=2, AvailabilityZones=["us-east-1a"])
    boto3.client("ssm").put_parameter(Name=FLAG, Value="true", Type="String")
    return Actuator(endpoint_url=aws_env)


def _desired(aws: Actuator) -> int:
    return aws.read({"type": "autoscaling_step", "group": GROUP})["desired"]


def test_the_shipped_runbooks_are_dry_runs_that_change_nothing(aws, tmp_path):
    spot = next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand")
    audit = AuditLog(tmp_path / "audit.sqlite")
    out = run(spot, _incident(), aws, audit, NOW)
    assert out.status == "dry_run" and "would set" in out.reason and _desired(aws) == 2
    (row,) = audit.rows()
    assert row["status"] == "dry_run" and '"desired": 2' in row["before"] and '"desired": 4' in row["after"]


def test_an_enabled_runbook_acts_once_per_incident_within_cooldown_and_rolls_back(aws, tmp_path):
    spot = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    assert spot.matches(_incident())
    out = run(spot, _incident(), aws, audit, NOW)
    assert out.status == "applied" and _desired(aws) == 4
    assert run(spot, _incident(), aws, audit, NOW + timedelta(minutes=1)).status == "duplicate"
    other = run(spot, _incident("inc-2"), aws, audit, NOW + timedelta(minutes=5))
    assert other.status == "blocked" and "cooldown" in other.reason and _desired(aws) == 4
    back = rollback(spot, _incident(), aws, audit, NOW + timedelta(minutes=20))
    assert back.status == "rolled_back" and _desired(aws) == 2
    assert [r["status"] for r in audit.rows()] == ["applied", "duplicate", "blocked", "rolled_back"]


def test_guardrails_allowlist_capacity_freeze_and_approval(aws, tmp_path):
    base = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    not_allowed = dc.replace(base, guardrails={**base.guardrails, "allow": ["some-other-group"]})
    assert run(not_allowed, _incident("a"), aws, audit, NOW).status == "blocked"
    freeze = [CalendarEntry("freeze", "maintenance", NOW - timedelta(hours=1), NOW + timedelta(hours=1))]
    out = run(base, _incident("b"), aws, audit, NOW, calendar=freeze)
    assert out.status == "blocked" and "change freeze" in out.reason
    big = dc.replace(base, action={**base.action, "step": 3}, guardrails={**base.guardrails, "approval_above_step": 2})
    assert run(big, _incident("c"), aws, audit, NOW).status == "needs_approval"
    capped = dc.replace(base, action={**base.action, "step": 4}, guardrails={**base.guardrails, "max_capacity": 3})
    out = run(capped, _incident("d"), aws, audit, NOW)
    assert out.status == "applied" and _desired(aws) == 3  # bounded by max_capacity, not by moto (which accepts 50)
    assert _desired(aws) == 3 and len(audit.rows()) == 4


def test_the_lstm_runbook_flips_the_feature_flag_and_restores_it(aws, tmp_path):
    lstm = dc.replace(next(r for r in load_runbooks() if r.id == "lstm-cascade-disable-predictive"), enabled=True)
    inc = _incident("inc-lstm", rule="akidb-rest.capacity_ratio", source="anomaly", direction="up")
    assert lstm.matches(inc) and not lstm.matches(_incident("x", rule="akidb-rest.capacity_ratio", source="anomaly",
                                                             direction="down"))
    audit = AuditLog(tmp_path / "audit.sqlite")
    assert run(lstm, inc, aws, audit, NOW).status == "applied"
    assert aws.read(lstm.action) == "false"
    assert rollback(lstm, inc, aws, audit, NOW + timedelta(hours=2)).status == "rolled_back"
    assert aws.read(lstm.action) == "true"


def test_aws_errors_fail_safe_with_an_audit_row_and_escalation(aws, tmp_path, monkeypatch):
    spot = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    gone = dc.replace(spot, action={**spot.action, "group": "missing-group"},
                      guardrails={**spot.guardrails, "allow": ["missing-group"]})
    out = run(gone, _incident(), aws, audit, NOW)
    assert out.status == "failed" and out.escalate and audit.rows()[-1]["status"] == "failed"
    dead = Actuator(endpoint_url="http://127.0.0.1:9")  # an endpoint that refuses connections
    dead.asg.meta.config.retries = {"max_attempts": 1}
    out = run(spot, _incident("e"), dead, audit, NOW)
    assert out.status == "failed" and out.escalate and _desired(aws) == 2


def test_audit_log_is_append_only(tmp_path):
    import sqlite3

    audit = AuditLog(tmp_path / "audit.sqlite")
    spot = load_runbooks()[0]
    from akidb_pipelines.runbooks.engine import Outcome

    audit.write(NOW, spot, Outcome(spot.id, "i", spot.target, "dry_run", "x"))
    with sqlite3.connect(tmp_path / "audit.sqlite") as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET status = 'applied'")


def test_invalid_runbook_config_names_file_and_field(tmp_path):
    p = tmp_path / "rb.yaml"
    p.write_text("runbooks: [{id: x, trigger: [{rule: a}], action: {type: reboot_everything}}]")
    with pytest.raises(RunbookConfigError, match=r"runbooks\[0\]\.action\.type"):
        load_runbooks(p)
