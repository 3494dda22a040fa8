"""deploy/: the example Dagster instance configuration and the example environment.

dagster-postgres is not installed here, so the storage sections are checked against the schemas Dagster 1.13
itself ships (the Postgres config schema lives in dagster, the instance schema too). dagster-aws is a dependency
(the ECS run launcher of the example): the launcher section is loaded by its module and class names with the
installed dagster-aws and built from the file's config (no AWS call: its ECS client is made on first use). The run
queue is checked by building a real instance from the file's run_coordinator section.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._config.field_utils import Shape
from dagster._core.instance.config import dagster_instance_config_schema
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._core.storage.config import pg_config

ROOT = Path(__file__).resolve().parent.parent
DAGSTER_YAML = ROOT / "deploy" / "dagster.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
CODE_DIRS = ("akidb_pipelines", "assets", "sensors")

@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(DAGSTER_YAML.read_text())


def _code_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def _env_names_in_yaml(node) -> set[str]:  # noqa: ANN001
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_names_in_yaml(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_env_names_in_yaml(v) for v in node)) if node else set()
    return set()


def test_the_file_is_a_valid_dagster_instance_config(doc: dict) -> None:
    res = validate_config(dagster_instance_config_schema(), doc)
    assert res.success, [e.message for e in res.errors]


@pytest.mark.parametrize("section, module, cls", [
    ("run_storage", "dagster_postgres.run_storage", "PostgresRunStorage"),
    ("event_log_storage", "dagster_postgres.event_log", "PostgresEventLogStorage"),
    ("schedule_storage", "dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
])
def test_storage_is_postgres_with_credentials_from_the_environment(doc: dict, section: str, module: str, cls: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s = doc[section]
    assert (s["module"], s["class"]) == (module, cls)
    assert "storage" not in doc  # the three sections above, not the shorthand as well
    db = s["config"]["postgres_db"]
    for field in ("hostname", "port", "db_name", "username", "password"):
        assert set(db[field]) == {"env"}, f"{section}.postgres_db.{field} must come from env:"
    env = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "6543", "DAGSTER_PG_DB": "dagster",
           "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "not-a-real-password"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    res = process_config(Shape(pg_config()), s["config"])  # dagster_postgres' config_type is dagster's pg_config
    assert res.success, [e.message for e in res.errors]
    assert res.value["postgres_db"]["port"] == 6543 and res.value["postgres_db"]["hostname"] == "db.internal"
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    assert not process_config(Shape(pg_config()), s["config"]).success  # really read from the environment


def test_run_launcher_is_ecs_with_known_keys_and_k8s_is_the_commented_alternative(doc: dict, monkeypatch) -> None:
    from dagster._serdes.config_class import ConfigurableClassData
    from dagster_aws.ecs import EcsRunLauncher

    rl = doc["run_launcher"]
    assert (rl["module"], rl["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    cfg = rl["config"]
    names = _env_names_in_yaml(cfg)
    for name in names:  # the deployment sets these; placeholders here (the launcher's client makes no call yet)
        monkeypatch.setenv(name, f"arn:aws:iam::123456789012:role/{name.lower()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    res = process_config(EcsRunLauncher.config_type(), cfg)
    assert res.success, [e.message for e in res.errors]
    launcher = ConfigurableClassData(rl["module"], rl["class"], yaml.safe_dump(cfg)).rehydrate(EcsRunLauncher)
    assert isinstance(launcher, EcsRunLauncher) and launcher.run_resources == {"cpu": "1024", "memory": "4096"}
    assert launcher.task_definition_dict["task_role_arn"].endswith("akidb_ecs_task_role_arn")
    monkeypatch.delenv(sorted(names)[0])
    assert not process_config(EcsRunLauncher.config_type(), cfg).success  # really read from the environment
    assert "cluster" in cfg["run_task_kwargs"] and "overrides" not in cfg["run_task_kwargs"]
    assert all(isinstance(v, str) for v in cfg["run_resources"].values())  # ECS wants "1024", not 1024
    assert all(set(s) == {"name", "valueFrom"} for s in cfg["secrets"])
    code = _code_text()
    for name in cfg["env_vars"]:
        assert f'"{name}"' in code, f"run_launcher.env_vars passes {name}, which the code never reads"

    # The Kubernetes alternative is there, commented, and is valid YAML once uncommented.
    text = DAGSTER_YAML.read_text()
    block = re.search(r"^# run_launcher:\n((?:#   .*\n)+)", text, re.M)
    assert block, "the commented K8sRunLauncher block is missing"
    k8s = yaml.safe_load("run_launcher:\n" + "".join(line[2:] + "\n" for line in block.group(1).splitlines()))
    assert (k8s["run_launcher"]["module"], k8s["run_launcher"]["class"]) == ("dagster_k8s.launcher", "K8sRunLauncher")
    assert {"job_namespace", "service_account_name", "instance_config_map"} <= set(k8s["run_launcher"]["config"])


def test_run_queue_limits_training_fan_out_and_dagster_accepts_it(doc: dict, tmp_path: Path) -> None:
    rc = doc["run_coordinator"]
    assert (rc["module"], rc["class"]) == ("dagster.core.run_coordinator", "QueuedRunCoordinator")
    assert process_config(QueuedRunCoordinator.config_type(), rc["config"]).success

    # Build a real Dagster 1.13 instance from the queue section (storage and launcher need the missing libraries).
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(
        {k: doc[k] for k in ("run_coordinator", "run_monitoring", "telemetry")}))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        limits = {(lim["key"], str(lim.get("value"))): lim["limit"] for lim in queue.tag_concurrency_limits}
        assert queue.max_concurrent_runs == rc["config"]["max_concurrent_runs"]
    finally:
        instance.dispose()

    from akidb_pipelines.definitions import defs
    from assets.forecast import forecast_cfg

    d = defs()
    # Every train_models run carries the tag the limit names, whoever launches it.
    train = d.resolve_job_def("train_models")
    assert train.tags.get("akidb/kind") == "training"
    n_train = limits[("akidb/kind", "training")]
    assert 1 < n_train < len(forecast_cfg.ids) <= queue.max_concurrent_runs + n_train
    assert n_train < queue.max_concurrent_runs  # training never takes every worker
    # The other limits name things that exist.
    assert d.resolve_job_def("runbook").tags.get("akidb/kind") == "runbook" and limits[("akidb/kind", "runbook")] == 1
    # Both jobs that write the incident ledger carry the tag of its limit of one.
    assert limits[("akidb/ledger", "incidents")] == 1
    assert [d.resolve_job_def(j).tags.get("akidb/ledger") for j in ("detect", "respond")] == ["incidents"] * 2


def _env_example() -> tuple[set[str], set[str], dict[str, str]]:
    """(names read by the code, names read by dagster.yaml, name -> value for the uncommented ones)."""
    code_part, yaml_part = ENV_EXAMPLE.read_text().split("# == Read by deploy/dagster.yaml")
    pat = re.compile(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", re.M)
    values = {m.group(1): m.group(2).strip() for m in re.finditer(r"^([A-Z][A-Z0-9_]+)=(.*)$",
                                                                 ENV_EXAMPLE.read_text(), re.M)}
    return {m.group(1) for m in pat.finditer(code_part)}, {m.group(1) for m in pat.finditer(yaml_part)}, values


def test_env_example_names_only_variables_that_are_read(doc: dict) -> None:
    code_names, yaml_names, _ = _env_example()
    assert "AKIDB_LAKE_ROOT" in code_names and "PAGERDUTY_ROUTING_KEY" in code_names
    code = _code_text()
    unread = sorted(n for n in code_names if not re.search(rf"[\"']{n}[\"']", code))
    assert unread == [], f"deploy/env.example lists variables no code reads: {unread}"
    in_yaml = _env_names_in_yaml(doc)
    assert yaml_names == in_yaml, (sorted(yaml_names - in_yaml), sorted(in_yaml - yaml_names))
    assert not code_names & yaml_names


def test_env_example_lists_every_variable_the_code_reads() -> None:
    code_names, _, _ = _env_example()
    read = set(re.findall(r"(?:environ(?:\.get)?\(|environ\[|getenv\(|EnvVar\(|\be\.get\()\s*\"([A-Z][A-Z0-9_]+)\"",
                          _code_text()))
    assert {"AKIDB_LAKE_ROOT", "AWS_SECRET_ACCESS_KEY", "PAGERDUTY_ROUTING_KEY"} <= read  # the scan itself works
    assert sorted(read - code_names) == []


def test_env_example_holds_no_secret_values() -> None:
    _, _, values = _env_example()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PAGERDUTY_ROUTING_KEY",
                 "DAGSTER_PG_PASSWORD"):
        assert name not in values, f"{name} must stay commented out and empty in deploy/env.example"
    text = ENV_EXAMPLE.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)  # an AWS access key id
    assert not re.search(r"^# ?(AWS_SECRET_ACCESS_KEY|PAGERDUTY_ROUTING_KEY|DAGSTER_PG_PASSWORD)=\S", text, re.M)
    assert values["AKIDB_LAKE_ROOT"].startswith("s3://")


def test_aws_clients_come_from_dagster_aws_resources_with_credentials_only_from_the_environment(tmp_path) -> None:
    from dagster_aws.s3 import S3Resource
    from dagster_aws.utils import ResourceWithBoto3Configuration

    from akidb_pipelines.config import Settings
    from assets.resources import build_resources

    env = {"AKIDB_HOME": str(tmp_path), "AKIDB_LAKE_ROOT": "s3://akidb-lake/prod", "AWS_ENDPOINT_URL":
           "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        res = build_resources(Settings.from_env())
        s3 = res["lake"].s3
        assert isinstance(s3, S3Resource) and s3.endpoint_url == "http://127.0.0.1:9"
        # an EnvVar, not the value: the key never sits in the resource's config (nor in the UI that shows it)
        assert isinstance(s3.aws_access_key_id, dg.EnvVar) and "not-a-secret" not in repr(s3)
        assert isinstance(res["runbooks"], ResourceWithBoto3Configuration)
        assert isinstance(res["runbooks"].aws_secret_access_key, dg.EnvVar)
        mp.setenv("AKIDB_SOURCE", "aws")
        api = build_resources(Settings.from_env())["telemetry"]
        assert isinstance(api, ResourceWithBoto3Configuration) and isinstance(api.aws_access_key_id, dg.EnvVar)
        mp.setenv("AKIDB_LAKE_ROOT", str(tmp_path / "lake"))
        assert build_resources(Settings.from_env())["lake"].s3 is None  # a local lake needs no S3 client
