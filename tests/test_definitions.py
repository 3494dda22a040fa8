"""The code location loads, its shape is what the UI shows, and the core stays free of Dagster."""

import ast
from pathlib import Path

import dagster as dg

from akidb_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ASSETS = {
    "lake/raw/xray_spans": "ingest",
    "lake/raw/emf_metrics": "ingest",
    "lake/raw/prometheus_samples": "ingest",
    "lake/quarantine/xray_spans": "ingest",
    "lake/quarantine/emf_metrics": "ingest",
    "lake/quarantine/prometheus_samples": "ingest",
    "duckdb/staging/stg_xray_spans": "staging",
    "duckdb/staging/stg_emf_metrics": "staging",
    "duckdb/staging/stg_prometheus_samples": "staging",
    "duckdb/marts/golden_signals_1m": "marts",
    "duckdb/marts/sli_events_1m": "marts",
    "duckdb/marts/slo_burn_rates_1m": "marts",
    "duckdb/marts/slo_budget_events": "marts",
    "forecast/prophet_model": "forecast",
    "forecast/anomaly_scores": "forecast",
    "alerting/incidents": "alerting",
    **{f"dashboards/{n}": "dashboards" for n in ("golden_signals", "slo", "anomaly", "incidents", "chaos")},
    "validation/chaos_report": "validation",
    "validation/gameday_report": "validation",
}
FORECAST_KINDS = {"forecast/prophet_model": {"prophet", "json"}, "forecast/anomaly_scores": {"prophet", "parquet"},
                  "alerting/incidents": {"pagerduty", "parquet"},
                  "validation/chaos_report": {"python", "json"}, "validation/gameday_report": {"python", "json"},
                  **{f"dashboards/{n}": {"html"} for n in ("golden_signals", "slo", "anomaly", "incidents", "chaos")}}


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs())


def test_asset_keys_groups_kinds_and_owners_are_as_documented():
    graph = defs().resolve_asset_graph()
    seen = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        seen[key.to_user_string()] = node.group_name
        assert node.owners == ["team:sre"], key
        assert FORECAST_KINDS.get(key.to_user_string(), {"parquet", "duckdb"}) <= set(node.kinds), key
        assert node.description, key
    assert seen == EXPECTED_ASSETS


def test_every_raw_table_carries_blocking_conservation_and_schema_checks():
    d = defs()
    checks = {(k.asset_key.to_user_string(), k.name): spec.blocking
              for a in d.resolve_asset_graph().assets_defs for k, spec in
              ((s.key, s) for s in a.check_specs)}
    for t in ("xray_spans", "emf_metrics", "prometheus_samples"):
        assert checks[(f"lake/raw/{t}", "records_conserved")] is True
        assert checks[(f"lake/raw/{t}", "schema_matches")] is True
        assert checks[(f"lake/raw/{t}", "great_expectations")] is False
        assert checks[(f"lake/raw/{t}", "quarantine_share")] is False


def test_jobs_and_sensors_are_registered():
    d = defs()
    assert {j.name for j in d.resolve_all_job_defs()} >= {"ingest_job", "akidb_main", "train_models", "detect",
                                                           "respond", "chaos", "gameday"}
    assert {s.name for s in d.sensors} >= {"detect_sensor", "alert_sensor", "pipeline_failure_sensor",
                                           "pipeline_recovery_sensor"}
    # one evaluator a minute for detection: no minute schedule, no automation sensor over the SQL models
    assert {s.name for s in d.schedules} == {"weekly_training"}
    assert "sql_models_automation" not in {s.name for s in d.sensors}


def test_the_detection_job_is_the_whole_chain_in_one_process():
    from assets.alerting import INCIDENTS
    from assets.forecast import SCORES

    job = defs().resolve_job_def("detect")
    keys = job.asset_layer.selected_asset_keys
    assert {INCIDENTS, SCORES, dg.AssetKey(["lake", "raw", "emf_metrics"]),
            dg.AssetKey(["duckdb", "marts", "golden_signals_1m"])} <= keys
    assert job.executor_def.name == "in_process"
    assert job.partitions_def is not None


EDGE = ("akidb_pipelines/definitions.py", "akidb_pipelines/cli/")  # the core's Dagster-facing edge


def _imports(py: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_dagster_is_imported_only_at_the_edge_of_the_core():
    """Neither dagster nor the Dagster-facing packages (assets/, sensors/) are imported by the core, at module level
    or inside a function, except by the composition root and the command line (which runs the demo's jobs)."""
    offenders = []
    for py in sorted((ROOT / "akidb_pipelines").rglob("*.py")):
        rel = py.relative_to(ROOT).as_posix()
        if rel.startswith(EDGE):
            continue
        offenders += [f"{rel}: {n}" for n in _imports(py)
                      if n.split(".")[0] in ("dagster", "assets", "sensors") or n.startswith("dagster_")]
    assert offenders == []
    assert any(n == "dagster" for n in _imports(ROOT / "akidb_pipelines" / "cli" / "demo.py"))  # the guard sees it


def test_sensors_hold_only_sensors_schedules_and_jobs():
    import importlib

    for py in sorted((ROOT / "sensors").glob("*.py")):
        if py.name == "__init__.py":
            continue
        d = importlib.import_module(f"sensors.{py.stem}").defs()
        assert not list(d.assets or []) and not list(d.asset_checks or []), py.name
        assert list(d.sensors or []) or list(d.schedules or []) or list(d.jobs or []), py.name


def test_hourly_partitions_reach_back_90_days_and_include_the_open_hour():
    from datetime import datetime, timedelta, timezone

    from assets.partitions import hourly

    now = datetime.now(timezone.utc)
    keys = hourly.get_partition_keys(current_time=now)
    assert (now - timedelta(days=90)).strftime("%Y-%m-%d-%H:00") in keys
    assert now.strftime("%Y-%m-%d-%H:00") == keys[-1]  # end_offset=1: micro-batches can fill the current hour


def test_aws_credentials_reach_the_source_only_as_env_vars(monkeypatch):
    from akidb_pipelines.config import Settings
    from assets.resources import build_resources

    monkeypatch.setenv("AKIDB_SOURCE", "aws")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    source = build_resources(Settings.from_env())["telemetry"]
    fields = source.__dict__.get("_Resource__resource_config") or source.model_dump()
    for name in ("aws_access_key_id", "aws_secret_access_key"):
        v = getattr(source, name)
        assert isinstance(v, dg.EnvVar), f"{name} must be an EnvVar, not a plain value"
        assert v.env_var_name == name.upper()
    assert "very-secret-value" not in source.describe() and "very-secret-value" not in repr(fields)


def test_every_asset_carries_the_global_freshness_policy():
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).freshness_policy
        # runs when alerts arrive (a quiet week is not stale); game days run on demand
        if key.to_user_string() in ("alerting/incidents", "validation/chaos_report", "validation/gameday_report"):
            assert policy is None
            continue
        # hourly data: 2 hours; the weekly-trained models: 8 days
        want = 8 * 86400 if key.to_user_string() == "forecast/prophet_model" else 7200
        assert policy is not None and policy.fail_window.to_timedelta().total_seconds() == want, key


def test_the_pagerduty_routing_key_reaches_the_resource_only_as_an_env_var(monkeypatch):
    from akidb_pipelines.config import Settings
    from assets.resources import build_resources

    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY", raising=False)
    assert build_resources(Settings.from_env())["pagerduty"].routing_key is None  # events then wait in the outbox
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UT1NGKEY0123456789abcdefABCDEF")
    pd = build_resources(Settings.from_env())["pagerduty"]
    assert isinstance(pd.routing_key, dg.EnvVar) and pd.routing_key.env_var_name == "PAGERDUTY_ROUTING_KEY"


def _core_import_graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports (at module level or inside a function); a package's import of
    ``pkg.mod`` or ``from pkg import mod`` counts as an import of that module."""
    core = {".".join(py.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): py
            for py in (ROOT / "akidb_pipelines").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, py in core.items():
        deps = set()
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in core else node.module
                         for a in node.names}
        graph[mod] = {d for d in deps if d in core and d != mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_the_core_has_no_import_cycle_not_even_inside_functions():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]  # the finder finds
    assert _cycles(_core_import_graph()) == []


def test_no_core_module_is_over_about_400_lines():
    long = {py.relative_to(ROOT).as_posix(): n for py in (ROOT / "akidb_pipelines").rglob("*.py")
            if (n := len(py.read_text().splitlines())) > 420}
    assert long == {}
