"""Every configuration is strict (issue 13): an unknown key at any level, a wrong type, an out-of-range value, a
top-level list, invalid YAML or a missing file named by a variable is one line naming the file and the field, at
load time. A runbook whose configuration cannot be read does not act; ``akidb config check`` lists every problem.

The tables below start from a valid document per file and break one thing per row."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.static_rules import load_static_rules
from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.config import Settings, SettingsError
from akidb_pipelines.config.loader import ConfigError
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.runbooks.config import load_runbooks
from akidb_pipelines.slo.spec import SPEC_DIR, load_policy, load_specs
from akidb_pipelines.sql_models import load_models
from akidb_pipelines.sql_models.runner import KNOWN_SOURCES
from akidb_pipelines.telemetry.fetch import load_queries
from tests.test_cli import run as run_cli
from tests.sensor_context import evaluate

TEAM = {"name": "emea", "timezone": "Europe/Dublin", "days": ["mon"], "start": "09:00", "end": "17:00"}
BASES = {
    "routing.yaml": {"teams": [TEAM],
                     "severities": {"P0": {"action": "page", "pagerduty_severity": "critical"},
                                    "P1": {"action": "page_in_business_hours", "pagerduty_severity": "error"},
                                    "P2": {"action": "ticket", "pagerduty_severity": "warning",
                                           "low_urgency_event": False}},
                     "escalation": {"p0_ack_timeout_minutes": 15},
                     "tickets": {"anomaly_min_minutes": 5, "digest_hour_utc": 0}},
    "root_causes.yaml": {"types": [{"type": "spot", "description": "d", "components": ["akidb-rest"],
                                    "alerts": [{"source": "slo"}], "min_severity": "P1",
                                    "evidence": {"tier": "akidb-rest", "metric": "instances_spot", "change": "drop",
                                                 "by": 0.2}}]},
    "runbooks.yaml": {"runbooks": [{"id": "x", "description": "d", "trigger": [{"cause": "spot"}],
                                    "action": {"type": "autoscaling_step", "group": "g", "step": 3},
                                    "guardrails": {"allow": ["g"], "max_step": 4, "approval_above_step": 2,
                                                   "cooldown_minutes": 30},
                                    "verify": {"tier": "akidb-rest", "metric": "error_rate", "below": 0.01},
                                    "restore_after_minutes": 30, "enabled": False}]},
    "static_rules.yaml": {"rules": [{"id": "r", "tier": "akidb-rest", "metric": "latency_p95_ms", "op": ">",
                                     "threshold": 100, "for_minutes": 5, "severity": "P1", "enabled": False}]},
    "forecast.yaml": {"series": [{"id": "a", "metric": "m", "tier": "t"}],
                      "training": {"window_days": 90, "processes": 2, "prophet": {"growth": "linear"}},
                      "validation": {"max_cutoffs": 3}, "scoring": {"band_days": 8}},
    "detector.yaml": {"detector": {"threshold": 1.05, "scale_window": "4d", "suppress": "12h"},
                      "online": {"seed": 0, "prophet": {"growth": "linear"}}},
    "prometheus_queries.yaml": {"step_seconds": 60, "queries": [{"name": "up", "expr": "up"}]},
    "change_calendar.yaml": {"entries": [{"id": "d", "kind": "deploy", "start": "2026-11-10T14:00:00Z",
                                          "end": "2026-11-10T14:10:00Z", "tiers": ["akidb-rest"], "note": "n"}]},
    "availability.yaml": yaml.safe_load((SPEC_DIR / "availability.yaml").read_text()),
    "burn_rate_windows.yaml": yaml.safe_load((SPEC_DIR / "burn_rate_windows.yaml").read_text()),
    "budget_policy.yaml": yaml.safe_load((SPEC_DIR / "budget_policy.yaml").read_text()),
    "schema.yml": {"models": {"x": {"columns": {"minute": ["not_null", {"range": {"min": 0, "max": 10}}]},
                                    "unique": [["minute"]]}}},
}
ENV = {"routing.yaml": "AKIDB_ROUTING_CONFIG", "root_causes.yaml": "AKIDB_ROOT_CAUSES",
       "runbooks.yaml": "AKIDB_RUNBOOKS_CONFIG", "static_rules.yaml": "AKIDB_STATIC_RULES",
       "forecast.yaml": "AKIDB_FORECAST_CONFIG", "change_calendar.yaml": "AKIDB_CHANGE_CALENDAR"}


def _specs(tmp: Path, name: str, text: str) -> Path:
    d = tmp / "specs"
    shutil.copytree(SPEC_DIR, d)
    (d / name).write_text(text)
    return d / name


def _schema(tmp: Path, text: str) -> Path:
    (tmp / "sql" / "a").mkdir(parents=True)
    (tmp / "sql" / "a" / "x.sql").write_text("SELECT 1 AS minute\n")
    (tmp / "sql" / "a" / "schema.yml").write_text(text)
    return tmp / "sql" / "a" / "schema.yml"


def load(name: str, tmp: Path, text: str) -> tuple[Path, object]:
    """Write ``text`` as the file ``name`` and load it with its loader; (the file, what the loader returned)."""
    if name in ("availability.yaml", "burn_rate_windows.yaml"):
        p = _specs(tmp, name, text)
        return p, load_specs(p.parent)
    if name == "budget_policy.yaml":
        p = _specs(tmp, name, text)
        return p, load_policy(p.parent)
    if name == "schema.yml":
        p = _schema(tmp, text)
        return p, load_models(tmp / "sql", KNOWN_SOURCES)
    p = tmp / name
    p.write_text(text)
    loader = {"routing.yaml": load_routing, "root_causes.yaml": load_cause_types, "runbooks.yaml": load_runbooks,
              "static_rules.yaml": load_static_rules, "forecast.yaml": load_forecast_config,
              "detector.yaml": load_detector_config, "prometheus_queries.yaml": load_queries,
              "change_calendar.yaml": load_calendar}[name]
    return p, loader(p)


def edit(name: str, path: str, value: object) -> str:
    """The base document of ``name`` with ``value`` set at ``path`` (dotted; digits index lists), as YAML."""
    doc = copy.deepcopy(BASES[name])
    cur = doc
    parts = path.split(".")
    for part in parts[:-1]:
        cur = cur[int(part)] if part.isdigit() else cur[part]
    cur[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return yaml.safe_dump(doc, sort_keys=False)


def broken(name: str, tmp: Path, text: str) -> str:
    with pytest.raises(ConfigError) as e:
        load(name, tmp, text)
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert name in msg, msg
    return msg


@pytest.mark.parametrize("name", list(BASES))
def test_the_valid_base_documents_load(tmp_path, name):
    load(name, tmp_path, yaml.safe_dump(BASES[name], sort_keys=False))


# (file, path set, value, expected part of the message: the field path and the problem)
CASES = [
    # routing
    ("routing.yaml", "escalaton", {"p0_ack_timeout_minutes": 5}, "unknown field(s) ['escalaton']"),
    ("routing.yaml", "teams.0.timezon", "UTC", "teams[0]: unknown field(s) ['timezon']"),
    ("routing.yaml", "severities.P3", {"action": "page", "pagerduty_severity": "info"},
     "severities: unknown field(s) ['P3']"),
    ("routing.yaml", "severities.P2.low_urgency_evnt", True, "severities.P2: unknown field(s) ['low_urgency_evnt']"),
    ("routing.yaml", "escalation.p0_ack_timeout", 5, "escalation: unknown field(s) ['p0_ack_timeout']"),
    ("routing.yaml", "severities.P2.low_urgency_event", "yes",
     "severities.P2.low_urgency_event: expected true or false, got 'yes'"),
    ("routing.yaml", "teams.0.start", 540, "teams[0].start: expected HH:MM"),
    ("routing.yaml", "teams", {"emea": TEAM}, "teams: expected a non-empty list, got a mapping"),
    ("routing.yaml", "escalation.p0_ack_timeout_minutes", -1,
     "escalation.p0_ack_timeout_minutes: expected a positive number, got -1"),
    ("routing.yaml", "tickets.anomaly_min_minute", 5, "tickets: unknown field(s) ['anomaly_min_minute']"),
    ("routing.yaml", "tickets.anomaly_min_minutes", 0,
     "tickets.anomaly_min_minutes: expected an integer in [1, 1440], got 0"),
    ("routing.yaml", "tickets.anomaly_min_minutes", 2.5,
     "tickets.anomaly_min_minutes: expected an integer in [1, 1440], got 2.5"),
    ("routing.yaml", "tickets.anomaly_min_minutes", "5m",
     "tickets.anomaly_min_minutes: expected an integer in [1, 1440], got '5m'"),
    ("routing.yaml", "tickets.digest_hour_utc", 24, "tickets.digest_hour_utc: expected an integer in [0, 23], got 24"),
    ("routing.yaml", "tickets.digest_hour_utc", "09:00",
     "tickets.digest_hour_utc: expected an integer in [0, 23], got '09:00'"),
    ("routing.yaml", "tickets", [5], "tickets: expected a mapping, got a list"),
    # root causes
    ("root_causes.yaml", "type", [], "unknown field(s) ['type']"),
    ("root_causes.yaml", "types.0.componets", ["x"], "types[0]: unknown field(s) ['componets']"),
    ("root_causes.yaml", "types.0.evidence.agregate", "max", "types[0].evidence: unknown field(s) ['agregate']"),
    ("root_causes.yaml", "types.0.alerts.0.sorce", "slo", "types[0].alerts[0]: unknown field(s) ['sorce']"),
    ("root_causes.yaml", "types.0.components", "akidb-rest", "types[0].components: expected a list"),
    ("root_causes.yaml", "types.0.evidence.by", "a lot", "types[0].evidence.by: expected a positive number"),
    ("root_causes.yaml", "types.0.evidence.by", -1, "types[0].evidence.by: expected a positive number, got -1"),
    ("root_causes.yaml", "types.0.evidence.change", "sideways", "types[0].evidence.change: must be one of"),
    # a configured metric reaches SQL text: only golden-signal columns, numbers, + - * / and parentheses
    ("root_causes.yaml", "types.0.evidence.metric", "instances_spot FROM t; COPY x TO 'y'",
     "types[0].evidence.metric: 'FROM' is not a golden-signal column"),
    ("root_causes.yaml", "types.0.evidence.metric", "getenv(home)", "types[0].evidence.metric: 'getenv' is not a"),
    ("root_causes.yaml", "types.0.evidence.metric", "cold_starts / (requests", "unbalanced parentheses"),
    ("root_causes.yaml", "types.0.evidence.metric", "requests'", "unexpected \"'\""),
    ("root_causes.yaml", "types.0.evidence.metric", "2 * 3", "names no golden-signal column"),
    ("root_causes.yaml", "types.0.evidence", [], "types[0].evidence: expected a non-empty list"),
    ("root_causes.yaml", "types.0.evidence.at_least", 1, "types[0].evidence.at_least: only a rise has a least value"),
    ("root_causes.yaml", "types.0.evidence", [{"tier": "t", "metric": "requests", "change": "rise", "by": 2},
                                              {"tier": "t", "metric": "requests", "change": "drop", "by": 2}],
     "types[0].evidence[1].by: a drop is a share up to 1"),
    ("runbooks.yaml", "runbooks.0.verify.metric", "error_rate; x", "runbooks[0].verify.metric: 'error_rate; x': "
     "unexpected '; x'"),
    ("runbooks.yaml", "runbooks.0.verify.metric", "latency_p95_ms(1)", "function calls are not allowed"),
    ("static_rules.yaml", "rules.0.metric", "latency_p95_ms + 1", "rules[0].metric: must be a golden-signal column"),
    # runbooks and their guardrails
    ("runbooks.yaml", "runbook", [], "unknown field(s) ['runbook']"),
    ("runbooks.yaml", "runbooks.0.enabeld", True, "runbooks[0]: unknown field(s) ['enabeld']"),
    ("runbooks.yaml", "runbooks.0.action.stpe", 1, "runbooks[0].action: unknown field(s) ['stpe']"),
    ("runbooks.yaml", "runbooks.0.guardrails.max_stp", 1, "runbooks[0].guardrails: unknown field(s) ['max_stp']"),
    ("runbooks.yaml", "runbooks.0.guardrails.approval_above_stp", 1,
     "runbooks[0].guardrails: unknown field(s) ['approval_above_stp']"),
    ("runbooks.yaml", "runbooks.0.guardrails.approval_above", 1,  # concurrency's bound: a step runbook ignores it
     "runbooks[0].guardrails: unknown field(s) ['approval_above']"),
    ("runbooks.yaml", "runbooks.0.trigger.0.caus", "x", "runbooks[0].trigger[0]: unknown field(s) ['caus']"),
    ("runbooks.yaml", "runbooks.0.verify.belwo", 1, "runbooks[0].verify: unknown field(s) ['belwo']"),
    ("runbooks.yaml", "runbooks.0.guardrails.max_step", "four",
     "runbooks[0].guardrails.max_step: expected a positive integer, got 'four'"),
    ("runbooks.yaml", "runbooks.0.enabled", "yes", "runbooks[0].enabled: expected true or false, got 'yes'"),
    ("runbooks.yaml", "runbooks.0.guardrails.allow", "g", "runbooks[0].guardrails.allow: expected a list"),
    ("runbooks.yaml", "runbooks.0.action", {"type": "ssm_flag", "parameter": "/p", "value": False},
     "runbooks[0].action.value: expected a non-empty string, got False"),
    ("runbooks.yaml", "runbooks.0.action.step", 0, "runbooks[0].action.step: expected a positive integer, got 0"),
    ("runbooks.yaml", "runbooks.0.guardrails.cooldown_minutes", -5,
     "runbooks[0].guardrails.cooldown_minutes: expected a number >= 0, got -5"),
    ("runbooks.yaml", "runbooks.0.verify.minutes", 0, "runbooks[0].verify.minutes: expected a positive integer"),
    ("runbooks.yaml", "runbooks.0.verify.relative", "yes", "runbooks[0].verify.relative: expected true or false"),
    ("runbooks.yaml", "runbooks.0.verify.relative", True,  # below 0.01 of normal: a factor above 1 is needed
     "runbooks[0].verify.below: with relative: true, a factor of the normal level above 1"),
    # a runbook runs only for the root-cause type it answers
    ("runbooks.yaml", "runbooks.0.trigger.0", {"rule": "latency"}, "runbooks[0].trigger[0].cause: missing"),
    ("runbooks.yaml", "runbooks.0.trigger.0.cause", "unclassified",
     "runbooks[0].trigger[0].cause: 'unclassified' is no cause"),
    # static rules
    ("static_rules.yaml", "rule", [], "unknown field(s) ['rule']"),
    ("static_rules.yaml", "rules.0.enable", True, "rules[0]: unknown field(s) ['enable']"),
    ("static_rules.yaml", "rules.0.enabled", "no", "rules[0].enabled: expected true or false, got 'no'"),
    ("static_rules.yaml", "rules.0.threshold", "high", "rules[0].threshold: expected a number, got 'high'"),
    ("static_rules.yaml", "rules.0.for_minutes", 0, "rules[0].for_minutes: expected a positive integer, got 0"),
    # forecast
    ("forecast.yaml", "seires", [], "unknown field(s) ['seires']"),
    ("forecast.yaml", "series.0.colour", "red", "series[0]: unknown field(s) ['colour']"),
    ("forecast.yaml", "training.window_dys", 3, "training: unknown field(s) ['window_dys']"),
    ("forecast.yaml", "training.prophet.growht", "flat", "training.prophet: unknown field(s) ['growht']"),
    ("forecast.yaml", "validation.horizon", 3, "validation: unknown field(s) ['horizon']"),
    ("forecast.yaml", "scoring.band", 3, "scoring: unknown field(s) ['band']"),
    ("forecast.yaml", "training.warm_start", "yes", "training.warm_start: expected true or false, got 'yes'"),
    ("forecast.yaml", "training.processes", 2.5, "training.processes: expected a non-negative integer, got 2.5"),
    ("forecast.yaml", "training.prophet.daily_seasonality", "yes",
     "training.prophet.daily_seasonality: expected true or false, got 'yes'"),
    ("forecast.yaml", "validation.max_cutoffs", 0, "validation.max_cutoffs: expected a positive integer, got 0"),
    ("forecast.yaml", "training.window_days", 0, "training.window_days: expected a positive number, got 0"),
    # detector
    ("detector.yaml", "detectr", {}, "unknown field(s) ['detectr']"),
    ("detector.yaml", "detector.treshold", 3, "detector: unknown field(s) ['treshold']"),
    ("detector.yaml", "online.refit_every", 3, "online: unknown field(s) ['refit_every']"),
    ("detector.yaml", "online.prophet.growht", "flat", "online.prophet: unknown field(s) ['growht']"),
    ("detector.yaml", "detector.scale_window", "big",
     "detector.scale_window: expected a duration such as 30m, 12h or 4d, got 'big'"),
    ("detector.yaml", "detector.suppress", 144,
     "detector.suppress: expected a duration such as 30m, 12h or 4d (a duration, not a row count), got 144"),
    ("detector.yaml", "detector.suppress_rows", 144, "detector: unknown field(s) ['suppress_rows']"),
    ("detector.yaml", "detector.min_scale_history", "5d",
     "detector.min_scale_history: must be longer than 0 and at most scale_window, got '5d'"),
    ("detector.yaml", "detector.debounce_hold", "20m", "detector.debounce_hold: must be at most debounce_within"),
    ("detector.yaml", "detector.threshold", -1, "detector.threshold: must be a positive number"),
    ("detector.yaml", "online.min_train_rows", 1, "online.min_train_rows: must be at least 2"),
    # Prometheus queries
    ("prometheus_queries.yaml", "step_second", 60, "unknown field(s) ['step_second']"),
    ("prometheus_queries.yaml", "queries.0.exprr", "up", "queries[0]: unknown field(s) ['exprr']"),
    ("prometheus_queries.yaml", "step_seconds", True, "step_seconds: expected a positive integer, got True"),
    ("prometheus_queries.yaml", "queries.0.expr", 5, "queries[0].expr: expected a non-empty string, got 5"),
    ("prometheus_queries.yaml", "step_seconds", 0, "step_seconds: expected a positive integer, got 0"),
    # change calendar
    ("change_calendar.yaml", "entrys", [], "unknown field(s) ['entrys']"),
    ("change_calendar.yaml", "entries.0.tier", "x", "entries[0]: unknown field(s) ['tier']"),
    ("change_calendar.yaml", "entries.0.tiers", "akidb-rest", "entries[0].tiers: expected a list"),
    ("change_calendar.yaml", "entries.0.start", 5, "entries[0].start: expected an ISO timestamp, got 5"),
    ("change_calendar.yaml", "entries.0.end", "2026-11-10T13:00:00Z", "entries[0]: end"),
    # SLO files (OpenSLO), the window table and the budget policy
    ("availability.yaml", "metdata", {}, "unknown field(s) ['metdata']"),
    ("availability.yaml", "metadata.displayname", "x", "metadata: unknown field(s) ['displayname']"),
    ("availability.yaml", "spec.alertPolicies", [], "spec: unknown field(s) ['alertPolicies']"),
    ("availability.yaml", "spec.timeWindow.0.rolling", True, "spec.timeWindow[0]: unknown field(s) ['rolling']"),
    ("availability.yaml", "spec.indicator.spec.ratioMetric.totl", {},
     "spec.indicator.spec.ratioMetric: unknown field(s) ['totl']"),
    ("availability.yaml", "spec.indicator.spec.ratioMetric.good.metricSource.spec.filter", "x",
     "spec.indicator.spec.ratioMetric.good.metricSource.spec: unknown field(s) ['filter']"),
    ("availability.yaml", "spec.objectives.0.targt", 0.9, "spec.objectives[0]: unknown field(s) ['targt']"),
    ("availability.yaml", "spec.indicator.spec.ratioMetric.counter", "no",
     "spec.indicator.spec.ratioMetric.counter: expected true or false, got 'no'"),
    ("availability.yaml", "spec.indicator.spec.ratioMetric.counter", True,
     "spec.indicator.spec.ratioMetric.counter: only false is supported"),
    ("availability.yaml", "metadata.displayName", 5, "metadata.displayName: expected a non-empty string, got 5"),
    ("availability.yaml", "spec.objectives.0.target", 1.5, "spec.objectives[0].target: a number between 0 and 1"),
    ("burn_rate_windows.yaml", "min_event", 1, "unknown field(s) ['min_event']"),
    ("burn_rate_windows.yaml", "tiers.0.factr", 1, "tiers[0]: unknown field(s) ['factr']"),
    ("burn_rate_windows.yaml", "min_events", "many", "min_events: a non-negative integer, got 'many'"),
    ("burn_rate_windows.yaml", "tiers.2.factor", -2, "tiers[2].factor: a positive number, got -2"),
    ("budget_policy.yaml", "level", [], "unknown field(s) ['level']"),
    ("budget_policy.yaml", "levels.0.acton", "x", "levels[0]: unknown field(s) ['acton']"),
    ("budget_policy.yaml", "levels.0.remaining", 2, "levels[0].remaining: a share of the budget in [-1, 1), got 2"),
    # the SQL models' schema files
    ("schema.yml", "model", {}, "schema.yml:1: unknown field(s) ['model']"),
    ("schema.yml", "models.x.colums", {}, "x: unknown field(s) ['colums']"),
    ("schema.yml", "models.x.columns.minute.1", {"range": {"mn": 0}}, "x.minute.range: unknown field(s) ['mn']"),
    ("schema.yml", "models.x.columns", ["minute"], "x.columns: expected a mapping, got a list"),
    ("schema.yml", "models.x.columns.minute.1", {"range": {"min": "zero"}},
     "x.minute.range.min: expected a number, got 'zero'"),
    ("schema.yml", "models.x.columns.minute.1", {"range": {"min": 5, "max": 1}},
     "x.minute.range: min 5 is above max 1"),
    ("schema.yml", "models.x.unique", ["minute"], "x.unique[0]: expected a list"),
]


@pytest.mark.parametrize("name, path, value, expected", CASES, ids=[f"{c[0]}:{c[1]}={c[2]!r}"[:60] for c in CASES])
def test_a_broken_field_is_one_line_naming_the_file_and_the_field(tmp_path, name, path, value, expected):
    msg = broken(name, tmp_path, edit(name, path, value))
    assert expected in msg, msg
    if name != "schema.yml":
        assert msg.startswith(str(tmp_path)), msg


@pytest.mark.parametrize("name", list(BASES))
def test_a_top_level_list_is_one_line_naming_the_file(tmp_path, name):
    msg = broken(name, tmp_path, "- a\n- b\n")
    assert "expected a mapping at the top, got a list" in msg, msg


@pytest.mark.parametrize("name", list(BASES))
def test_invalid_yaml_is_one_line_naming_the_file_and_line(tmp_path, name):
    msg = broken(name, tmp_path, "a: [b,\nc: d\n")
    assert "not valid YAML" in msg and f"{name}:" in msg, msg


@pytest.mark.parametrize("name, var", list(ENV.items()))
def test_a_missing_file_named_by_a_variable_is_an_error_naming_both(tmp_path, monkeypatch, name, var):
    monkeypatch.setenv(var, str(tmp_path / "nowhere" / name))
    loader = {"routing.yaml": load_routing, "root_causes.yaml": load_cause_types, "runbooks.yaml": load_runbooks,
              "static_rules.yaml": load_static_rules, "forecast.yaml": load_forecast_config,
              "change_calendar.yaml": load_calendar}[name]
    with pytest.raises(ConfigError) as e:
        loader()
    assert str(e.value) == f"{tmp_path / 'nowhere' / name}: cannot read (No such file or directory; named by {var})"


def test_the_default_change_calendar_may_be_absent():
    assert load_calendar() == []  # $AKIDB_HOME/change_calendar.yaml, not written yet


# -- the environment ---------------------------------------------------------------------------------------------

@pytest.fixture()
def no_aws_credentials(tmp_path, monkeypatch):
    """No AWS credentials anywhere boto3 looks (and no instance metadata lookup)."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
              "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("env, expected", [
    ({"AKIDB_HOME": "s3://bucket/prefix"}, "AKIDB_HOME=s3://bucket/prefix: must be a local path, not a URL"),
    ({"AKIDB_LAKE_ROOT": "s3://"}, "AKIDB_LAKE_ROOT=s3://: names no bucket; use s3://bucket/prefix"),
    ({"AKIDB_LAKE_ROOT": "s3:/bucket/lake"}, "AKIDB_LAKE_ROOT=s3:/bucket/lake: use a local folder or s3://"),
    ({"AKIDB_LAKE_ROOT": "gs://bucket/lake"}, "AKIDB_LAKE_ROOT=gs://bucket/lake: use a local folder or s3://"),
    ({"AKIDB_LANDING": "s3://Not_A_Bucket/x"}, "'Not_A_Bucket' is not an S3 bucket name"),
    ({"AKIDB_SOURCE": "kafka"}, "AKIDB_SOURCE=kafka: not a source; use one of synthetic, files, aws"),
    ({"AKIDB_PROMETHEUS_URL": "prometheus:9090"}, "AKIDB_PROMETHEUS_URL=prometheus:9090: expected an http"),
    ({"AKIDB_LAKE_ROOT": "s3://akidb-lake/prod"}, "AKIDB_LAKE_ROOT=s3://akidb-lake/prod: no AWS credentials found"),
])
def test_unusable_settings_are_one_line_naming_the_variable(no_aws_credentials, env, expected):
    with pytest.raises(SettingsError) as e:
        Settings.from_env(env)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_an_s3_lake_on_a_local_endpoint_or_with_keys_needs_nothing_else(no_aws_credentials):
    assert Settings.from_env({"AKIDB_LAKE_ROOT": "s3://akidb-lake/prod",
                              "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}).lake_root == "s3://akidb-lake/prod"
    assert Settings.from_env({"AKIDB_LAKE_ROOT": "s3://akidb-lake/prod", "AWS_ACCESS_KEY_ID": "k",
                              "AWS_SECRET_ACCESS_KEY": "s"}).lake_root == "s3://akidb-lake/prod"


@pytest.mark.parametrize("var, value, argv", [
    ("AKIDB_HOME", "s3://bucket/prefix", ["generate", "--days", "0.01"]),
    ("AKIDB_SOURCE", "kafka", ["ingest", "emf", "x.ndjson"]),
    ("AKIDB_LAKE_ROOT", "s3://", ["incidents"]),
])
def test_the_command_line_says_what_is_wrong_with_the_environment_in_one_line(tmp_path, monkeypatch, capsys, var,
                                                                               value, argv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, value)
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and f"{var}={value}" in err and "Traceback" not in err, err
    assert not (tmp_path / "s3:").exists()  # no local folder named after the URL


# -- a runbook whose configuration cannot be read does not act ---------------------------------------------------

class RecordingActuator:
    def __init__(self):
        self.calls = []

    def read(self, action):
        self.calls.append(("read", action))
        return {"desired": 2, "max": 12}

    def write(self, action, state):
        self.calls.append(("write", action, state))


def test_guardrails_that_cannot_be_read_block_the_action_without_touching_aws(tmp_path):
    from akidb_pipelines.runbooks.audit import AuditLog
    from akidb_pipelines.runbooks.config import Runbook
    from akidb_pipelines.runbooks.guardrails import run

    rb = Runbook("x", "d", ({"cause": "spot"},), {"type": "autoscaling_step", "group": "g", "step": 3},
                 {"allow": ["g"], "max_step": "four"}, enabled=True)
    act = RecordingActuator()
    out = run(rb, "inc", act, AuditLog(tmp_path / "audit.sqlite"))
    assert out.status == "blocked" and out.escalate, out
    assert "guardrails" in out.reason and "max_step" in out.reason, out.reason
    assert act.calls == []
    typo = Runbook("x", "d", ({"cause": "spot"},), {"type": "autoscaling_step", "group": "g", "step": 3},
                   {"allow": ["g"], "max_stp": 1, "approval_above_stp": 1}, enabled=True)
    out = run(typo, "inc-2", act, AuditLog(tmp_path / "audit.sqlite"))
    assert out.status == "blocked" and "max_stp" in out.reason and act.calls == []


@pytest.fixture()
def broken_runbooks(tmp_path, monkeypatch) -> Path:
    p = tmp_path / "runbooks.yaml"
    p.write_text(edit("runbooks.yaml", "runbooks.0.guardrails.max_stp", 1))
    monkeypatch.setenv("AKIDB_RUNBOOKS_CONFIG", str(p))
    return p


def test_the_response_tick_reads_its_inputs_without_runbooks_when_their_file_is_broken(broken_runbooks):
    from akidb_pipelines.response_inputs import load_inputs

    problems: list[str] = []
    inputs = load_inputs(problems)
    assert list(inputs.runbooks) == []  # no runbook is planned, so none acts
    assert problems == [f"{broken_runbooks}: runbooks[0].guardrails: unknown field(s) ['max_stp']; known: "
                        "['allow', 'approval_above_step', 'cooldown_minutes', 'max_actions_per_hour', 'max_capacity', "
                        "'max_step']"]
    assert inputs.policy.teams  # the rest of the tick is unaffected: incidents still page


def test_the_runbook_sensor_launches_nothing_and_says_why_when_the_runbooks_are_broken(tmp_path, broken_runbooks):
    import dagster as dg

    from assets.resources import LakeResource, RunbookResource
    from sensors.alerting import runbook_sensor

    res = {"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "a.duckdb")),
           "runbooks": RunbookResource(audit_path=str(tmp_path / "audit.sqlite"))}
    skip = evaluate(runbook_sensor, resources=res)
    assert isinstance(skip, dg.SkipReason), skip
    assert "no runbook acts" in skip.skip_message and "max_stp" in skip.skip_message, skip.skip_message


def test_a_runbook_step_already_launched_fails_on_the_broken_file_before_touching_aws(tmp_path, broken_runbooks):
    from assets.resources import LakeResource, PagerDutyResource, RunbookResource
    from sensors.alerting import runbook_job

    res = {"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "a.duckdb")),
           "pagerduty": PagerDutyResource(outbox_path=str(tmp_path / "outbox.sqlite")),
           "runbooks": RunbookResource(audit_path=str(tmp_path / "audit.sqlite"))}
    conf = {"ops": {"runbook_step": {"config": {"runbook": "x", "incident": "inc", "step": "apply"}}}}
    result = runbook_job.execute_in_process(run_config=conf, resources=res, raise_on_error=False)
    assert not result.success  # a failed run: the pipeline-failure sensor pages
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "max_stp" in failure.event_specific_data.user_failure_data.description
    from akidb_pipelines.runbooks.audit import AuditLog

    assert AuditLog(tmp_path / "audit.sqlite").rows() == []  # nothing decided, nothing done


def test_the_incidents_asset_fails_its_runbook_config_check_and_still_runs(tmp_path, broken_runbooks):
    import dagster as dg

    from assets.alerting import incidents
    from assets.resources import LakeResource, PagerDutyResource, RunbookResource

    res = {"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "a.duckdb")),
           "pagerduty": PagerDutyResource(outbox_path=str(tmp_path / "outbox.sqlite")),
           "runbooks": RunbookResource(audit_path=str(tmp_path / "audit.sqlite"))}
    result = dg.materialize([incidents], resources=res, raise_on_error=False)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "runbook_config" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert "max_stp" in check.description and str(broken_runbooks) in check.description


# -- akidb config check ------------------------------------------------------------------------------------------

WHATS = ("settings", "slo", "burn-rate-windows", "budget-policy", "routing", "root-causes", "runbooks",
         "static-rules", "forecast", "detector", "prometheus-queries", "change-calendar", "sql-models")


def test_config_check_passes_on_the_shipped_configuration(capsys):
    code, out, err = run_cli(["config", "check"], capsys)
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert all(line.startswith("ok ") for line in lines), out
    assert {line.split()[1] for line in lines} == set(WHATS)
    assert "ok routing " + str(Path("akidb_pipelines/config/routing.yaml").resolve()) in lines
    # one line per SLO file: availability, error rate, latency, and the two edge latency SLOs
    assert sum(line.startswith("ok slo ") for line in lines) == 5


def test_config_check_lists_every_broken_configuration_and_exits_2(tmp_path, monkeypatch, capsys):
    broken_files = {
        "AKIDB_ROUTING_CONFIG": ("routing.yaml", edit("routing.yaml", "escalaton", {})),
        "AKIDB_ROOT_CAUSES": ("root_causes.yaml", "- a\n"),
        "AKIDB_RUNBOOKS_CONFIG": ("runbooks.yaml", edit("runbooks.yaml", "runbooks.0.guardrails.max_step", "four")),
        "AKIDB_STATIC_RULES": ("static_rules.yaml", "rules: [\n"),
        "AKIDB_FORECAST_CONFIG": ("forecast.yaml", edit("forecast.yaml", "training.window_dys", 3)),
    }
    for var, (name, text) in broken_files.items():
        (tmp_path / name).write_text(text)
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("AKIDB_CHANGE_CALENDAR", str(tmp_path / "missing_calendar.yaml"))
    monkeypatch.setenv("AKIDB_SOURCE", "kafka")
    code, out, err = run_cli(["config", "check"], capsys)
    assert code == 2
    errors = err.splitlines()
    assert len(errors) == 7, err
    for name, _ in broken_files.values():
        assert sum(str(tmp_path / name) in line for line in errors) == 1, (name, err)
    assert any("missing_calendar.yaml: cannot read" in line and "AKIDB_CHANGE_CALENDAR" in line for line in errors)
    assert any("AKIDB_SOURCE=kafka" in line for line in errors)
    assert "runbooks[0].guardrails.max_step: expected a positive integer, got 'four'" in err
    assert "Traceback" not in err
    oks = {line.split()[1] for line in out.splitlines()}
    assert oks == {"slo", "burn-rate-windows", "budget-policy", "detector", "prometheus-queries", "sql-models"}


def test_check_all_reports_each_broken_file_it_is_pointed_at(tmp_path):
    from akidb_pipelines.config.check import check_all

    specs = tmp_path / "specs"
    shutil.copytree(SPEC_DIR, specs)
    (specs / "latency.yaml").write_text("- a\n")
    (specs / "budget_policy.yaml").write_text(edit("budget_policy.yaml", "levels.0.acton", "x"))
    (tmp_path / "detector.yaml").write_text(edit("detector.yaml", "detector.treshold", 1))
    (tmp_path / "queries.yaml").write_text(edit("prometheus_queries.yaml", "queries.0.exprr", "up"))
    results = check_all(paths={"slo": specs, "detector": tmp_path / "detector.yaml",
                               "prometheus-queries": tmp_path / "queries.yaml"})
    problems = {r.what: r.problem for r in results if r.problem}
    assert set(problems) == {"slo", "budget-policy", "detector", "prometheus-queries"}, problems
    assert problems["slo"].startswith(f"{specs / 'latency.yaml'}: expected a mapping at the top")
    assert "levels[0]: unknown field(s) ['acton']" in problems["budget-policy"]
    assert "detector: unknown field(s) ['treshold']" in problems["detector"]
    assert "queries[0]: unknown field(s) ['exprr']" in problems["prometheus-queries"]
    assert {r.file for r in results if r.what == "slo" and not r.problem} == {
        str(specs / f) for f in ("availability.yaml", "error_rate.yaml", "edge_latency.yaml",
                                 "edge_location_latency.yaml")}


def test_config_check_reports_every_environment_problem_and_a_trigger_on_an_unknown_cause(tmp_path, monkeypatch,
                                                                                           capsys):
    monkeypatch.setenv("AKIDB_PARTITIONS_START", "yesterday")
    monkeypatch.setenv("AKIDB_FRESHNESS_FAIL_MINUTES", "0")
    monkeypatch.setenv("AKIDB_QUARANTINE_WARN_SHARE", "nan")
    monkeypatch.setenv("AKIDB_SOURCE", "kafka")
    rb = tmp_path / "runbooks.yaml"
    rb.write_text(edit("runbooks.yaml", "runbooks.0.trigger.0.cause", "spot_interuption"))  # a typo: never matches
    monkeypatch.setenv("AKIDB_RUNBOOKS_CONFIG", str(rb))
    code, out, err = run_cli(["config", "check"], capsys)
    assert code == 2
    assert err.splitlines() == [
        "error settings: AKIDB_SOURCE=kafka: not a source; use one of synthetic, files, aws (or leave it unset for "
        "synthetic)",
        "error settings: AKIDB_PARTITIONS_START=yesterday: expected YYYY-MM-DD-HH:MM, e.g. 2026-06-01-00:00",
        "error settings: AKIDB_FRESHNESS_FAIL_MINUTES=0: expected a positive whole number of minutes",
        "error settings: AKIDB_QUARANTINE_WARN_SHARE=nan: expected a share in (0, 1], e.g. 0.05",
        f"error runbooks: {rb}: runbooks[0].trigger[0].cause: 'spot_interuption' is not a root-cause type of "
        f"{Path('akidb_pipelines/config/root_causes.yaml').resolve()} (known: ['dependency_fault', "
        "'edge_cold_start_storm', 'pipeline_failure', 'predictive_over_provisioning', 'spot_interruption', "
        "'unclassified'])"]


def test_the_golden_signal_columns_a_config_may_name_are_the_models_columns(days_lake) -> None:
    """The list that lets configured metrics into SQL text is the model's own output, no more and no less."""
    from akidb_pipelines.alerting.golden_columns import GOLDEN, GOLDEN_COLUMNS

    lake, _ = days_lake
    cols = [r[0] for r in lake.query_table(GOLDEN, "DESCRIBE SELECT * FROM {src}")]
    assert set(GOLDEN_COLUMNS) == set(cols) - {"minute", "tier", "edge_location", "date", "hour"}  # the key and partition
