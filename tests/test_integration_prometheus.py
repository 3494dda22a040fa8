"""The Prometheus source against a real Prometheus 2.42 (Debian) with the short dataset backfilled by promtool.

See /work/shared/RECIPES.md section 2: backfill with the hidden ``--max-block-duration`` (else promtool re-reads
the file once per 2-hour block), pass a long retention (retention counts from the newest block), and keep
query_range under 11,000 points per series.
"""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from akidb_pipelines.clients.prometheus import MAX_POINTS, chunks, query_range
from akidb_pipelines.ingest import ingest_files, read_batch
from akidb_pipelines.telemetry.fetch import AwsApis
from akidb_pipelines.storage import Lake
from akidb_pipelines.storage.lake import PartitionKey, hour_partitions
from akidb_pipelines.synthetic.minute_model import build_model
from akidb_pipelines.synthetic.prom_writer import export_openmetrics
from akidb_pipelines.synthetic.scenario import load_scenario

from .conftest import DATA, SHORT_HOURS, SHORT_START, require_binary

PROM_TABLE = "raw/prometheus_samples"
SERIES = 'akidb_requests_total{service="akidb-rest",status="200"}'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    """A Prometheus on 127.0.0.1 serving the three hours of ``short_dataset`` (same model, seed and scenario)."""
    promtool, prom_bin = require_binary("promtool"), require_binary("prometheus")
    d = tmp_path_factory.mktemp("prometheus")
    om = d / "history.om"
    scenario = load_scenario(DATA / "scenario_short.yaml", SHORT_START)
    samples = export_openmetrics(build_model(SHORT_START, SHORT_HOURS / 24, seed=7, scenario=scenario), 7, om)
    assert samples > 0
    data = d / "data"
    r = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h",
                        str(om), str(data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert any(data.glob("*/meta.json")), "promtool wrote no blocks"
    cfg = d / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n")
    log = open(d / "prometheus.log", "w")  # noqa: SIM115 - closed in the teardown
    proc, url = None, None
    try:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            proc = subprocess.Popen(
                [prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                 "--storage.tsdb.retention.time=400d", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, cwd=d)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            if proc.poll() is None:
                break
        if proc is None or proc.poll() is not None:
            pytest.fail(f"prometheus did not start:\n{(d / 'prometheus.log').read_text()[-3000:]}")
        if requests.get(f"{url}/-/ready", timeout=2).status_code != 200:
            pytest.fail(f"prometheus not ready after 30 s:\n{(d / 'prometheus.log').read_text()[-3000:]}")
        yield url
    finally:
        if proc is not None:
            _stop(proc)
        log.close()


def _samples(lake: Lake, batch: str, key: PartitionKey) -> pd.DataFrame:
    df = read_batch(lake, PROM_TABLE, batch, [key], "metric, service, labels, ts, value")
    df["labels"] = df["labels"].map(lambda m: tuple(sorted(dict(m).items())))
    return df.sort_values(["metric", "labels", "ts"]).reset_index(drop=True)


@pytest.mark.integration
def test_prometheus_api_ingest_matches_file_ingest(prometheus: str, short_dataset, tmp_path: Path) -> None:
    keys = hour_partitions(SHORT_START, SHORT_START + timedelta(hours=SHORT_HOURS))
    src = AwsApis(prometheus_url=prometheus)
    fetched = src.fetch("prom", keys, tmp_path)
    assert sorted(fetched.values()) == keys
    api_lake, file_lake = Lake(tmp_path / "api-lake"), Lake(tmp_path / "file-lake")
    rep_api = ingest_files("prom", list(fetched), api_lake, batch=src.batch, partition_of=fetched)
    files = {str(f): k for f in short_dataset.files["prom"] for k in keys if k.path in f.as_posix()}
    assert sorted(files.values()) == keys
    rep_file = ingest_files("prom", list(files), file_lake, batch="file", partition_of=files)
    for rep in (rep_api, rep_file):
        assert rep.conserved and rep.records_quarantined == 0 and rep.duplicates_dropped == 0, rep.to_dict()
    assert rep_api.records_stored == rep_file.records_stored

    for key in keys:
        a, f = _samples(api_lake, src.batch, key), _samples(file_lake, "file", key)
        assert len(f) > 0
        # Every series, every minute of the hour: same timestamps and values (query_range at step 60 aligned to
        # the minute returns the backfilled sample stamped exactly at each step).
        pd.testing.assert_frame_equal(a, f, check_dtype=False)
        one = a[(a["metric"] == "akidb_requests_total")
                & a["labels"].map(lambda t: dict(t).get("service") == "akidb-rest" and dict(t).get("status") == "200")]
        assert len(one) == 60
        assert list(one["ts"]) == [pd.Timestamp(key.start) + pd.Timedelta(minutes=m) for m in range(60)]
        assert one["value"].is_monotonic_increasing


def test_chunks_respect_the_point_limit() -> None:
    """Unit test (no server): a 30-day range at 60 s needs 4 requests of at most 11,000 points each."""
    start = 60.0 * 29_966_667  # 2026-12-23T04:27Z, a multiple of 60
    end = start + 30 * 86400
    cs = chunks(start, end, 60)
    assert len(cs) == 4
    assert cs[0][0] == start and cs[-1][1] == end
    for s, e in cs:
        assert s % 60 == 0 and e % 60 == 0 and s <= e
        assert (e - s) / 60 + 1 <= MAX_POINTS
    for (_, e0), (s1, _) in zip(cs, cs[1:]):
        assert s1 == e0 + 60  # contiguous: no step missing, none asked twice
    assert sum((e - s) / 60 + 1 for s, e in cs) == 30 * 1440 + 1
    # An unaligned start moves up to the next step (Prometheus then evaluates at s, s + step, ... <= e); a range
    # shorter than one step may yield nothing.
    cs = chunks(start + 7, start + 7 + 3600, 60)
    assert cs == [(start + 60, start + 3607)]
    cs = chunks(start + 7, start + 7 + 30 * 86400, 60)
    assert cs[0][0] == start + 60 and cs[-1][1] == start + 7 + 30 * 86400
    assert all((e - s) // 60 + 1 <= MAX_POINTS for s, e in cs)
    assert sum((e - s) // 60 + 1 for s, e in cs) == 30 * 1440
    assert chunks(start + 1, start + 59, 60) == []
    assert all((e - s) / 1 + 1 <= MAX_POINTS for s, e in chunks(start, start + 4 * 3600, 1))


@pytest.mark.integration
def test_query_range_over_point_limit_is_chunked(prometheus: str, short_dataset) -> None:
    t0 = SHORT_START.timestamp()
    t1 = t0 + 4 * 3600  # 14,401 points at step 1: over the 11,000 limit
    r = requests.get(f"{prometheus}/api/v1/query_range",
                     params={"query": SERIES, "start": t0, "end": t1, "step": 1}, timeout=30)
    assert r.status_code == 400 and "11,000" in r.json()["error"]

    (res,) = query_range(prometheus, SERIES, t0, t1, 1)
    metric, values = res
    assert metric["__name__"] == "akidb_requests_total" and metric["status"] == "200"
    ts = [t for t, _ in values]
    assert ts == sorted(set(ts)), "chunks overlap or are out of order"
    last_sample = t0 + SHORT_HOURS * 3600 - 60
    # Every second of the data range is there (no gap at the chunk seams); after the last sample the 5-minute
    # lookback keeps returning it for a while and then the series ends.
    inside = [t for t in ts if t <= last_sample]
    assert inside == [t0 + i for i in range(int(last_sample - t0) + 1)]
    assert max(ts) <= last_sample + 300

    # Each value is the sample at or before that second, i.e. the landing files' value of that minute.
    minute_value: dict[float, float] = {}
    for p in short_dataset.files["prom"]:
        for line in p.read_text().splitlines():
            if line.startswith(SERIES + " "):
                _, v, t = line.rsplit(" ", 2)
                minute_value[float(t)] = float(v)
    assert len(minute_value) == SHORT_HOURS * 60
    for t, v in values:
        assert float(v) == minute_value[t0 + (t - t0) // 60 * 60 if t <= last_sample else last_sample], t


@pytest.mark.integration
def test_the_ingest_asset_pulls_prometheus_through_the_api_source(prometheus: str, short_dataset, tmp_path: Path):
    """The Dagster asset, wired to the API source, queries the real server and stores what the files hold."""
    import dagster as dg

    from assets.ingest import build_ingest_asset
    from assets.resources import AwsTelemetrySource, LakeResource

    res = dg.materialize(
        [build_ingest_asset("prom")],
        resources={"lake": LakeResource(lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "a.duckdb")),
                   "telemetry": AwsTelemetrySource(prometheus_url=prometheus)},
        partition_key="2026-11-02-01:00", instance=dg.DagsterInstance.ephemeral(),
    )
    assert res.success and all(e.passed for e in res.get_asset_check_evaluations())
    key = PartitionKey.parse("2026-11-02T01")
    file_lake = Lake(tmp_path / "file-lake")
    f = [p for p in short_dataset.files["prom"] if key.path in p.as_posix()]
    ingest_files("prom", [str(p) for p in f], file_lake, batch="file", partition_of=key)
    pd.testing.assert_frame_equal(_samples(Lake(tmp_path / "lake"), "api", key), _samples(file_lake, "file", key),
                                  check_dtype=False)
