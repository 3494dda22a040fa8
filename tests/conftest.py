"""Shared fixtures: a small seeded dataset, a temporary lake, and real servers on 127.0.0.1 (moto)."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from akidb_pipelines.storage import Catalog, Lake
from akidb_pipelines.synthetic import generate

DATA = Path(__file__).parent / "data"
SHORT_START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
SHORT_HOURS = 3


@pytest.fixture(scope="session")
def short_dataset(tmp_path_factory: pytest.TempPathFactory):
    """Three hours of telemetry with all three incident types inside them (tests/data/scenario_short.yaml)."""
    out = tmp_path_factory.mktemp("short")
    return generate(out, SHORT_START, SHORT_HOURS / 24, seed=7, scenario=DATA / "scenario_short.yaml",
                    traces_per_minute=4)


DAYS_START = datetime(2026, 11, 9, tzinfo=timezone.utc)  # a Monday
DAYS = 2.5


@pytest.fixture(scope="session")
def days_lake(tmp_path_factory: pytest.TempPathFactory):
    """2.5 days of telemetry ingested and modelled (every SQL model), the three incidents on the third day
    (tests/data/scenario_days.yaml: spot 06:00, storm 07:00, LSTM cascade 08:00). Returns (lake, generated)."""
    from akidb_pipelines.pipeline import model_lake

    tmp = tmp_path_factory.mktemp("days")
    data = generate(tmp / "gen", DAYS_START, DAYS, seed=11, scenario=DATA / "scenario_days.yaml", traces_per_minute=1)
    lake = Lake(tmp / "lake")
    model_lake(lake, data)
    return lake, data


@pytest.fixture()
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture()
def catalog(tmp_path: Path, lake: Lake) -> Catalog:
    return Catalog(tmp_path / "akidb.duckdb", lake)


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto in server mode over HTTP on a random loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    import tests.moto_ext  # noqa: F401 - Lambda provisioned concurrency, missing from moto 5.2.5

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture()
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at moto (fresh state per test) with throwaway credentials."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(k, v)
    return moto_endpoint


def require_binary(name: str) -> str:
    """Integration tests need the Debian binaries that `make test` installs; missing ones are an error, not a skip."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} not found on PATH: run the tests through `make test`, which installs it")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the developer's ./.akidb."""
    monkeypatch.setenv("AKIDB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AKIDB_LAKE_ROOT", raising=False)
    monkeypatch.delenv("AKIDB_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("AKIDB_SOURCE", raising=False)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TZ", "UTC")


SCORED_SERIES = ["akidb-rest.latency_p95_ms", "akidb-rest.cpu_utilization_pct", "akidb-rest.capacity_ratio",
                 "lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge.SIN52.emf_latency_p95_ms",
                 "lambda-edge.SYD62.emf_latency_p95_ms"]


@pytest.fixture(scope="session")
def scored_lake(days_lake, tmp_path_factory):
    """The 2.5-day lake's marts and spans copied, six series trained on the first two days and the third day's
    first 12 hours scored (the three incidents at 06:00, 07:00, 08:00). Returns (lake, cfg, service map,
    promoted series). Tests that write ledgers into it write alerting/* only."""
    import dataclasses as dc
    import shutil
    from datetime import timedelta

    from akidb_pipelines.alerting.alert_sources import service_map
    from akidb_pipelines.forecast.config import load_forecast_config
    from akidb_pipelines.forecast.detector import load_detector_config
    from akidb_pipelines.forecast.scoring import score_window, write_scores
    from akidb_pipelines.forecast.train import train_series
    from akidb_pipelines.storage import hour_partitions

    src, _ = days_lake
    root = tmp_path_factory.mktemp("scored") / "lake"
    for table in ("models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m", "models/staging/stg_xray_spans"):
        shutil.copytree(f"{src.root}/{table}", root / table)
    lake = Lake(root)
    day3 = DAYS_START + timedelta(days=2)
    cfg = load_forecast_config()
    cfg = dc.replace(cfg, series=tuple(cfg.get(s) for s in SCORED_SERIES),
                     validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=2))
    promoted = [s for s in SCORED_SERIES if train_series(lake, cfg, cfg.get(s), day3).status == "promoted"]
    end = day3 + timedelta(hours=12)
    scores, _ = score_window(lake, cfg, load_detector_config(), day3, end)
    write_scores(lake, scores, hour_partitions(day3, end))
    return lake, cfg, service_map(lake), promoted
