"""Runbooks against moto in server mode (Auto Scaling, SSM): dry run by default, guardrails, audit, rollback,
fail-safe on AWS errors."""

from __future__ import annotations

import dataclasses as dc
from datetime import datetime, timedelta, timezone

import pytest

from akidb_pipelines.alerting.correlate import Alert, Incident
from akidb_pipelines.change_calendar import CalendarEntry
from akidb_pipelines.runbooks.actuator import Actuator
from akidb_pipelines.runbooks.audit import AuditLog
from akidb_pipelines.runbooks.config import RunbookConfigError, load_runbooks
from akidb_pipelines.runbooks.guardrails import rollback, run
from akidb_pipelines.testing.aws_sandbox import seed_akidb

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
GROUP = "akidb-rest-ondemand"
FLAG = "/akidb/autoscaling/predictive-enabled"


def _incident(iid: str = "inc-spot", rule: str = "latency", source: str = "slo", direction: str | None = None,
              cause: str = "spot_interruption"):
    a = Alert(source, rule, "akidb-rest", "P0", NOW, NOW + timedelta(minutes=8),
              context=(("direction", direction),) if direction else ())
    return Incident(iid, a, [a], "P0", a.start, a.end, cause=cause)


@pytest.fixture()
def aws(aws_env):
    """The resources the shipped runbooks name, on moto: the on-demand group (desired 2, max 12), the predictive
    flag ('true'), the CloudFront distribution with the edge function on /v1/*, the regional function alias."""
    act = Actuator(endpoint_url=aws_env)
    act.distribution = seed_akidb(aws_env)["distribution"]
    return act


def _desired(aws: Actuator) -> int:
    return aws.read({"type": "autoscaling_step", "group": GROUP})["desired"]


def test_the_shipped_runbooks_are_dry_runs_that_change_nothing(aws, tmp_path):
    spot = next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand")
    audit = AuditLog(tmp_path / "audit.sqlite")
    out = run(spot, "inc-spot", aws, audit, NOW)
    assert out.status == "dry_run" and "would set" in out.reason and _desired(aws) == 2
    (row,) = audit.rows()
    assert row["status"] == "dry_run" and '"desired": 2' in row["before"] and '"desired": 4' in row["after"]


def test_an_enabled_runbook_acts_once_per_incident_within_cooldown_and_rolls_back(aws, tmp_path):
    spot = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    assert spot.matches(_incident()) and not spot.matches(_incident(cause="unclassified"))  # a deploy blip: no
    out = run(spot, "inc-spot", aws, audit, NOW)
    assert out.status == "applied" and _desired(aws) == 4
    assert run(spot, "inc-spot", aws, audit, NOW + timedelta(minutes=1)).status == "duplicate"
    other = run(spot, "inc-2", aws, audit, NOW + timedelta(minutes=5))
    assert other.status == "blocked" and "cooldown" in other.reason and _desired(aws) == 4
    back = rollback(spot, "inc-spot", aws, audit, NOW + timedelta(minutes=20))
    assert back.status == "rolled_back" and _desired(aws) == 2
    assert [r["status"] for r in audit.rows()] == ["applied", "duplicate", "blocked", "rolled_back"]


def test_guardrails_allowlist_capacity_freeze_and_approval(aws, tmp_path):
    base = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    not_allowed = dc.replace(base, guardrails={**base.guardrails, "allow": ["some-other-group"]})
    assert run(not_allowed, "a", aws, audit, NOW).status == "blocked"
    freeze = [CalendarEntry("freeze", "maintenance", NOW - timedelta(hours=1), NOW + timedelta(hours=1))]
    out = run(base, "b", aws, audit, NOW, calendar=freeze)
    assert out.status == "blocked" and "change freeze" in out.reason
    big = dc.replace(base, action={**base.action, "step": 3}, guardrails={**base.guardrails, "approval_above_step": 2})
    assert run(big, "c", aws, audit, NOW).status == "needs_approval"
    capped = dc.replace(base, action={**base.action, "step": 4}, guardrails={**base.guardrails, "max_capacity": 3})
    out = run(capped, "d", aws, audit, NOW)
    assert out.status == "applied" and _desired(aws) == 3  # bounded by max_capacity, not by moto (which accepts 50)
    assert _desired(aws) == 3 and len(audit.rows()) == 4


def test_the_lstm_runbook_flips_the_feature_flag_and_restores_it(aws, tmp_path):
    lstm = dc.replace(next(r for r in load_runbooks() if r.id == "lstm-cascade-disable-predictive"), enabled=True)
    inc = _incident("inc-lstm", rule="akidb-rest.capacity_ratio", source="anomaly", direction="up",
                    cause="predictive_over_provisioning")
    assert lstm.matches(inc) and not lstm.matches(_incident("x", cause="spot_interruption"))
    audit = AuditLog(tmp_path / "audit.sqlite")
    assert run(lstm, inc.id, aws, audit, NOW).status == "applied"
    assert aws.read(lstm.action) == "false"
    assert rollback(lstm, inc.id, aws, audit, NOW + timedelta(hours=2)).status == "rolled_back"
    assert aws.read(lstm.action) == "true"


def test_aws_errors_fail_safe_with_an_audit_row_and_escalation(aws, tmp_path, monkeypatch):
    spot = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    gone = dc.replace(spot, action={**spot.action, "group": "missing-group"},
                      guardrails={**spot.guardrails, "allow": ["missing-group"]})
    out = run(gone, "inc-spot", aws, audit, NOW)
    assert out.status == "failed" and out.escalate and audit.rows()[-1]["status"] == "failed"
    dead = Actuator(endpoint_url="http://127.0.0.1:9")  # an endpoint that refuses connections
    dead.asg.meta.config.retries = {"max_attempts": 1}
    out = run(spot, "e", dead, audit, NOW)
    assert out.status == "failed" and out.escalate and _desired(aws) == 2


def test_audit_log_is_append_only(tmp_path):
    import sqlite3

    audit = AuditLog(tmp_path / "audit.sqlite")
    spot = load_runbooks()[0]
    from akidb_pipelines.runbooks.audit import Outcome

    audit.write(NOW, spot, Outcome(spot.id, "i", spot.target, "dry_run", "x"))
    with sqlite3.connect(tmp_path / "audit.sqlite") as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET status = 'applied'")


def test_invalid_runbook_config_names_file_and_field(tmp_path):
    p = tmp_path / "rb.yaml"
    p.write_text("runbooks: [{id: x, trigger: [{rule: a}], action: {type: reboot_everything}}]")
    with pytest.raises(RunbookConfigError, match=r"runbooks\[0\]\.action\.type"):
        load_runbooks(p)


def test_the_edge_storm_runbooks_bypass_the_edge_function_and_warm_the_regional_alias(aws, tmp_path):
    dist = aws.distribution
    rbs = {r.id: r for r in load_runbooks()}
    bypass = rbs["edge-storm-bypass-edge-function"]
    bypass = dc.replace(bypass, enabled=True, action={**bypass.action, "distribution": dist},
                        guardrails={**bypass.guardrails, "allow": [f"{dist}:/v1/*"]})
    warm = dc.replace(rbs["edge-storm-warm-regional-alias"], enabled=True)
    storm = _incident("inc-storm", cause="edge_cold_start_storm")
    assert bypass.matches(storm) and warm.matches(storm) and not bypass.matches(_incident())
    audit = AuditLog(tmp_path / "audit.sqlite")
    assert aws.read(bypass.action)["target_origin"] == "akidb-alb"
    out = run(bypass, "inc-storm", aws, audit, NOW)
    assert out.status == "applied" and aws.read(bypass.action)["target_origin"] == "akidb-alb-direct"
    assert out.before["target_origin"] == "akidb-alb" and out.after["lambda_associations"] == {"Quantity": 0}
    assert aws.read(warm.action) == 0
    assert run(warm, "inc-storm", aws, audit, NOW).status == "applied" and aws.read(warm.action) == 50
    # a second storm incident within the cooldown does nothing; the restore puts both back as they were
    assert run(bypass, "inc-storm-2", aws, audit, NOW + timedelta(minutes=5)).status == "blocked"
    assert rollback(bypass, "inc-storm", aws, audit, NOW + timedelta(hours=1), status="restored").status == "restored"
    assert rollback(warm, "inc-storm", aws, audit, NOW + timedelta(hours=1), status="restored").status == "restored"
    assert aws.read(bypass.action)["target_origin"] == "akidb-alb" and aws.read(warm.action) == 0
    # a dry run reads the live state and says what it would do, changing nothing
    dry = dc.replace(bypass, enabled=False)
    out = run(dry, "inc-storm-3", aws, audit, NOW + timedelta(hours=3))
    assert out.status == "dry_run" and "akidb-alb-direct" in out.reason
    assert aws.read(bypass.action)["target_origin"] == "akidb-alb"
    # an unknown cache behaviour fails safe and escalates
    wrong = dc.replace(bypass, action={**bypass.action, "path_pattern": "/v2/*"},
                       guardrails={**bypass.guardrails, "allow": [f"{dist}:/v2/*"]})
    out = run(wrong, "inc-storm-4", aws, audit, NOW + timedelta(hours=4))
    assert out.status == "failed" and out.escalate and "/v2/*" in out.reason


def test_access_denied_and_throttling_fail_safe(aws, tmp_path):
    from botocore.exceptions import ClientError

    spot = dc.replace(next(r for r in load_runbooks() if r.id == "spot-cascade-on-demand"), enabled=True)
    audit = AuditLog(tmp_path / "audit.sqlite")
    for code in ("AccessDenied", "Throttling"):
        def refuse(*a, _code=code, **kw):  # noqa: ANN002, ANN003
            raise ClientError({"Error": {"Code": _code, "Message": "no"}}, "SetDesiredCapacity")

        aws.asg.set_desired_capacity = refuse  # reads work, the write is refused
        out = run(spot, f"inc-{code}", aws, audit, NOW + timedelta(hours=len(code)))
        assert out.status == "failed" and out.escalate and out.reason.startswith(code)
        assert _desired(aws) == 2
    assert [r["status"] for r in audit.rows()] == ["failed", "failed"]
