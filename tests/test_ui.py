"""The UI serves the code location: start `dg dev` (what `make ui` runs) on a loopback port and ask GraphQL."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
QUERY = """query { workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename
    ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } jobs { name } sensors { name } } }
    ... on PythonError { message } } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_dg_dev_serves_the_location_with_every_asset_job_and_sensor(tmp_path):
    port = _free_port()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home), VIRTUAL_ENV=str(venv_bin.parent),
               PATH=f"{venv_bin}:{os.environ['PATH']}")
    log = open(tmp_path / "dg.log", "w")
    proc = subprocess.Popen(
        [str(venv_bin / "dg"), "dev", "--use-active-venv", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        entries = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dg.log").read_text()[-3000:]
            try:
                body = requests.post(f"{base}/graphql", json={"query": QUERY}, timeout=10).json()
                entries = body["data"]["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    break
            except (requests.RequestException, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        assert entries, "the webserver never answered GraphQL"
        (entry,) = entries
        assert entry["name"] == "akidb" and entry["loadStatus"] == "LOADED"
        loc = entry["locationOrLoadError"]
        assert loc["__typename"] == "RepositoryLocation", loc.get("message")
        (repo,) = loc["repositories"]
        keys = {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]}
        assert keys >= {"lake/raw/xray_spans", "lake/raw/emf_metrics", "lake/raw/prometheus_samples",
                        "lake/quarantine/xray_spans", "lake/quarantine/emf_metrics",
                        "lake/quarantine/prometheus_samples", "duckdb/marts/golden_signals_1m"}
        assert {"akidb_main", "ingest_job"} <= {j["name"] for j in repo["jobs"]}
        assert "detect_sensor" in {s["name"] for s in repo["sensors"]}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
