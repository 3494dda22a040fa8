"""Dashboards: each page rendered from pipeline output and opened in headless Chromium (the JS runs without
errors, the charts are drawn with data, screenshots are kept), missing inputs named on the page, the ledger read
tolerantly, pages written through the Lake API (local and S3), and the Dagster assets materialized.

Screenshots go to $AKIDB_TEST_ARTIFACTS (default tests/artifacts/, gitignored)."""

from __future__ import annotations

import dataclasses as dc
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from akidb_pipelines.chaos.report import publish_reports
from akidb_pipelines.dashboards import DASHBOARDS, publish, publish_all, render
from akidb_pipelines.dashboards.data import bucket_minutes, window_for
from akidb_pipelines.dashboards.incidents import LEDGER
from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.storage import Lake, hour_partitions
from tests.conftest import DAYS_START, require_binary

DAY3 = DAYS_START + timedelta(days=2)
SERIES = ["akidb-rest.latency_p95_ms", "akidb-rest.capacity_ratio", "lambda-edge.SIN52.emf_latency_p95_ms"]
ARTIFACTS = Path(os.environ.get("AKIDB_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")


def _ledger() -> pd.DataFrame:
    """A ledger shaped like the response tick's (alerting/respond.py), with the incidents of the 2.5-day data."""
    t = lambda h, m: pd.Timestamp(DAY3 + timedelta(hours=h, minutes=m))  # noqa: E731
    nat = pd.NaT
    rows = [
        ("spot", "P0", "akidb-rest", "slo", "latency", t(6, 1), t(6, 12), 3, "page", t(6, 4), t(6, 40), True,
         ["spot-cascade-on-demand: planned (dry run)"]),
        ("storm", "P1", "lambda-edge", "anomaly", "lambda-edge.SIN52.emf_latency_p95_ms", t(7, 2), t(7, 15), 2, "page",
         t(7, 9), t(7, 45), True, []),
        ("lstm", "P1", "akidb-rest", "anomaly", "akidb-rest.capacity_ratio", t(8, 0), t(10, 0), 4, "page", t(8, 5), nat,
         False, ["lstm-cascade-disable-predictive: executed"]),
        ("tkt", "P2", "cloudfront", "anomaly", "cloudfront.requests", t(-20, 30), t(-20, 31), 1, "ticket", nat, nat,
         True, []),
    ]
    return pd.DataFrame([{
        "id": f"inc-{i}", "severity": sev, "root_component": comp, "root_source": src, "root_rule": rule,
        "first_alert": fa, "last_alert": la, "alerts": n, "inhibited": 0, "related": "[]", "decision": dec,
        "team": "tokyo", "page_due": fa if dec == "page" else nat, "reason": "test", "runbook_actions": json.dumps(acts),
        "resolved": res, "first_page": fp, "resolved_at": ra, "pages_sent": int(fp is not nat),
        "cause": {"spot": "spot_interruption", "storm": "edge_cold_start_storm"}.get(i),
        "acknowledged_at": fp + timedelta(minutes=3) if fp is not nat else nat, "escalated_at": nat}
        for i, sev, comp, src, rule, fa, la, n, dec, fp, ra, res, acts in rows])


def _write_ledger(lake: Lake, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    lake.write_bytes(LEDGER, buf.getvalue())


@pytest.fixture(scope="module")
def dash_lake(days_lake, tmp_path_factory):
    """The 2.5-day marts, three Prophet models trained and promoted as of the third day, twelve hours scored
    through the production detector, and an incident ledger."""
    from akidb_pipelines.forecast.config import load_forecast_config
    from akidb_pipelines.forecast.detector import load_detector_config
    from akidb_pipelines.forecast.scoring import score_window, write_scores
    from akidb_pipelines.forecast.train import train_series

    src, _ = days_lake
    root = tmp_path_factory.mktemp("dash") / "lake"
    for table in ("models/marts/golden_signals_1m", "models/marts/slo_burn_rates_1m"):
        shutil.copytree(f"{src.root}/{table}", root / table)
    lake = Lake(root)
    cfg = load_forecast_config()
    cfg = dc.replace(cfg, series=tuple(cfg.get(s) for s in SERIES),
                     validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=2))
    for s in SERIES:
        train_series(lake, cfg, cfg.get(s), DAY3)
    end = DAY3 + timedelta(hours=12)
    scores, _ = score_window(lake, cfg, load_detector_config(), DAY3, end)
    write_scores(lake, scores, hour_partitions(DAY3, end))
    _write_ledger(lake, _ledger())
    publish_reports(lake, [_chaos_report()])
    return lake


def _chaos_report() -> dict:
    """A chaos report as ChaosReport.to_dict writes it: the spot cascade paged in 2 minutes by the combined detector
    and missed by the static rules (the real replay's page is tested in test_chaos)."""
    from akidb_pipelines.chaos.report import ChaosReport
    from akidb_pipelines.chaos.results import DetectorResult, IncidentResult

    onset = DAY3 + timedelta(hours=6)
    m = lambda k: onset + timedelta(minutes=k)  # noqa: E731
    paged = IncidentResult("spot", "spot_interruption_cascade", onset, m(8), m(0), m(2), m(5), m(7),
                           ["spot-cascade-on-demand"], "spot_interruption", True)
    missed = IncidentResult("spot", "spot_interruption_cascade", onset, m(8), recovery=m(8))
    dets = [DetectorResult("static", [missed], 3, 0, [], 12 / 168, 10),
            DetectorResult("combined", [paged], 5, 2, [{"incident": "inc-x", "first_alert": m(200).isoformat(),
                                                        "severity": "P1", "root": "cloudfront: requests",
                                                        "cause": None}], 12 / 168, 20)]
    return ChaosReport("dash", DAY3, DAY3 + timedelta(hours=12), dets, 60.0, 3.0, "given").to_dict()


# -- headless Chromium -------------------------------------------------------------------------------------------
def _chromium(url: str, screenshot: Path | None = None, height: int = 1600) -> str:
    """The DOM after the page's JS ran (--dump-dom), or a screenshot; a fresh profile per run."""
    exe = require_binary("chromium")
    profile = tempfile.mkdtemp(prefix="akidb-chromium-")
    try:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size=1400,{height}", "--hide-scrollbars",
               "--virtual-time-budget=10000"]
        cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class _Elements(HTMLParser):
    """Every start tag with its attributes (the dumped DOM is plain HTML)."""

    def __init__(self) -> None:
        super().__init__()
        self.els: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.els.append((tag, {k: (v or "") for k, v in attrs}))

    def find(self, tag: str, **attrs: str) -> list[dict]:
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.els if t == tag and all(
            (v is True and k in a) or (v is not True and v in a.get(k, "").split() if k == "class" else a.get(k) == v)
            for k, v in want.items())]


def _dom(url: str) -> _Elements:
    p = _Elements()
    p.feed(_chromium(url))
    return p


def _open(lake: Lake, name: str, scope: str = "", shot: str | None = None, height: int = 1600) -> _Elements:
    """Publish the page into the lake, open it from there, keep a screenshot; the DOM after the JS ran."""
    d = publish(lake, render(name, lake))
    url = d.url + (f"#scope={scope}" if scope else "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"dashboard-{shot or name}.png"
    _chromium(url, png, height)
    assert png.stat().st_size > 10_000  # a blank page is a few KB
    dom = _dom(url)
    html_el = dom.find("html")[0]
    assert html_el.get("data-rendered") == "true", "the page's script did not finish"
    assert html_el.get("data-js-errors") == "0", [a for t, a in dom.els if t == "div" and a.get("id") == "js-errors"]
    return dom


def _path_points(d: str) -> int:
    return len(re.findall(r"[ML]", d))


def _visible_charts(html: str, scope: str | None) -> int:
    """Chart placeholders a reader sees: all, or those of one scope of the golden-signals page."""
    if scope is None:
        return html.count('class="chart" data-chart=')
    block = re.search(rf'<div data-scope="{re.escape(scope)}"[^>]*>(.*?)</div><div data-scope=|'
                      rf'<div data-scope="{re.escape(scope)}"[^>]*>(.*)$', html, re.S)
    return (block.group(1) or block.group(2)).count('class="chart" data-chart=')


# -- the pages in a browser --------------------------------------------------------------------------------------
def test_golden_signals_page_draws_every_tier_and_edge_location(dash_lake):
    lake = dash_lake
    dom = _open(lake, "golden_signals", shot="golden_signals-overview")
    drawn = dom.find("div", class_="chart", data_drawn="true")
    page = render("golden_signals", lake).html
    assert len(drawn) == _visible_charts(page, "overview") == 4
    svgs = dom.find("svg", class_="plot")
    assert len(svgs) == 4 and all(int(s["data-points"]) > 1000 for s in svgs)
    # one line per tier in each overview chart, drawn from the model's minutes (2.5 days in 2-minute buckets)
    con = duckdb.connect()
    tiers = {r[0] for r in con.execute("SELECT DISTINCT tier FROM read_parquet(?) WHERE edge_location = 'all'",
                                        [lake.glob("models/marts/golden_signals_1m")]).fetchall()}
    traffic = [p for p in dom.find("path", class_="series") if p.get("data-series") in tiers]
    assert {p["data-series"] for p in traffic} == tiers
    minutes = (pd.Timestamp(DAYS_START + timedelta(days=2.5)) - pd.Timestamp(DAYS_START)).total_seconds() / 60
    rest = [int(p["data-points"]) for p in traffic if p["data-series"] == "akidb-rest"]
    assert max(rest) >= 0.9 * minutes / bucket_minutes(timedelta(minutes=minutes))
    assert all(_path_points(p["d"]) == int(p["data-points"]) or "l1.5" in p["d"] for p in traffic)

    # another scope: one edge location, selected by the URL (charts of other scopes are drawn lazily)
    dom = _open(lake, "golden_signals", scope="edge:SIN52", shot="golden_signals-SIN52")
    titles = [a for t, a in dom.els if t == "svg" and "SIN52" in a.get("aria-label", "")]
    assert len(titles) == _visible_charts(page, "edge:SIN52") == 4
    dom = _open(lake, "golden_signals", scope="edges", shot="golden_signals-edges", height=1900)
    series = {p["data-series"] for p in dom.find("path", class_="series")}
    assert {"SIN52", "NRT57", "SYD62", "IAD89"} <= series


def test_slo_page_draws_budgets_burn_rates_thresholds_and_alert_spans(dash_lake):
    lake = dash_lake
    dom = _open(lake, "slo", height=3400)
    slos, table = load_specs()
    con = duckdb.connect()
    # one panel per SLO instance: each SLO, and each edge location of the per-location edge latency SLO
    burn_files = [lake.glob("models/marts/slo_burn_rates_1m")]
    keys = [r[0] for r in con.execute("SELECT DISTINCT slo FROM read_parquet(?)", burn_files).fetchall()]
    assert len(keys) == len(slos) - 1 + 12
    drawn = dom.find("div", class_="chart", data_drawn="true")
    assert len(drawn) == 3 * len(keys)
    # every burn-rate chart carries one threshold line per alert tier, plus the policy levels on the budget charts
    labels = [a for t, a in dom.els if t == "line" and "threshold" in a.get("class", "")]
    assert len(labels) >= len(keys) * len(table.tiers)
    # the latency SLO fired (the spot cascade): its minutes in an alert state are shaded on its charts
    fired = con.execute("SELECT count(*) FROM read_parquet(?) "
                        "WHERE slo = 'latency' AND alert_state IN ('fast', 'medium', 'slow')", burn_files).fetchone()[0]
    assert fired > 0 and len(dom.find("rect", class_="span")) >= 3
    windows = {f"{w} window" for w in ("5m", "30m", "1h", "6h", "3d")}
    burn = [p for p in dom.find("path", class_="series") if p.get("data-series") in windows]
    assert len(burn) == len(keys) * len(windows) and all(int(p["data-points"]) > 500 for p in burn)
    # the state cards show the newest minute as a whole (not the newest non-NULL severity)
    html = render("slo", lake).html
    for slo, state, sev in con.execute(
            "SELECT slo, alert_state, severity FROM read_parquet(?) "
            "QUALIFY row_number() OVER (PARTITION BY slo ORDER BY minute DESC) = 1", burn_files).fetchall():
        assert f'<div class="value">{state}</div><div class="sub">{sev or "no alert"} at ' in html, slo


def test_anomaly_page_draws_bands_and_the_flagged_points(dash_lake):
    lake = dash_lake
    dom = _open(lake, "anomaly", height=1500)
    con = duckdb.connect()
    scored = con.execute("SELECT count(DISTINCT series) FROM read_parquet(?)",
                         [lake.glob("forecast/anomaly_scores")]).fetchone()[0]
    flagged = con.execute("SELECT count(*) FROM read_parquet(?)", [lake.glob("forecast/anomalies")]).fetchone()[0] \
        if lake.has_data("forecast/anomalies") else 0
    assert scored >= 2
    assert len(dom.find("div", class_="chart", data_drawn="true")) == scored
    bands = dom.find("path", class_="band")
    assert len(bands) == scored and all(_path_points(b["d"]) > 100 for b in bands)
    assert len(dom.find("circle", class_="marker")) == flagged
    html = render("anomaly", lake).html
    for s in SERIES:  # the validation table lists every promoted model from its meta.json
        meta = json.loads(lake.read_bytes(f"registry/prophet/{s}/promoted.json"))
        assert meta["version"] in html


def test_incident_page_draws_the_timeline_with_pages_and_resolutions(dash_lake):
    lake = dash_lake
    dom = _open(lake, "incidents", height=1300)
    ledger = _ledger()
    paged = ledger[ledger["first_page"].notna()]
    bars = dom.find("rect", class_="bar")
    assert len(bars) == len(ledger) + len(paged)  # the timeline, then the response chart of the paged ones
    diamonds = [a for t, a in dom.els if t == "path" and "mark" in a.get("class", "")]
    assert len(diamonds) == 2 * len(paged)
    d = render("incidents", lake)
    mttd = (paged["first_page"] - paged["first_alert"]).dt.total_seconds().median() / 60
    mttr = (ledger["resolved_at"] - ledger["first_alert"]).dropna().dt.total_seconds().median() / 60
    assert d.summary.values["mttd_median_min"] == pytest.approx(mttd)
    assert d.summary.values["mttr_median_min"] == pytest.approx(mttr)
    assert d.summary.values["mtta_median_min"] == pytest.approx(3.0)
    assert "| spot_interruption |" in d.summary.tables["paged"] and "acknowledged (MTTA 3 min)" in d.html
    assert "spot-cascade-on-demand: planned (dry run)" in d.html and "lstm-cascade-disable-predictive" in d.html


def test_chaos_page_draws_goals_detectors_and_each_incident_on_its_clock(dash_lake):
    d = render("chaos", dash_lake)
    assert not d.missing and d.summary.values["goals_missed"] >= 1  # a false page: precision 50% < 90%
    dom = _open(dash_lake, "chaos", shot="chaos-dash", height=1200)
    bars = [a for t, a in dom.els if t == "rect" and "bar" in a.get("class", "")]
    assert len(bars) == 2  # static and combined, one incident
    assert 'data-scenario="dash"' in d.html and "MISSED" in d.html and "cloudfront: requests" in d.html
    (svg,) = dom.find("svg", class_="timeline")
    # two bars; detection, page, ack and recovery on the paged one, the injected end on the missed one
    assert int(svg["data-points"]) == 2 + 4 + 1


def test_empty_inputs_render_pages_that_name_them(tmp_path):
    lake = Lake(tmp_path / "empty")
    for name in DASHBOARDS:
        d = render(name, lake)
        assert d.missing, name
        assert f'data-missing="{d.missing[0]}"' in d.html
    dom = _open(lake, "golden_signals", shot="empty-golden_signals", height=500)
    assert dom.find("html")[0]["data-missing"] == "models/marts/golden_signals_1m"
    assert not dom.find("svg", class_="plot")
    assert _open(lake, "incidents", shot="empty-incidents", height=500).find("div", data_missing=LEDGER)


def test_the_ledger_may_gain_and_lose_columns(tmp_path):
    lake = Lake(tmp_path / "lake")
    df = _ledger().drop(columns=["first_page", "resolved_at", "runbook_actions", "decision"])
    df["chaos_run"] = "replay-7"  # a column added by a later version of the response tick
    _write_ledger(lake, df)
    d = render("incidents", lake)
    assert not d.missing and d.charts == 1  # no paged incidents without first_page: no response chart
    assert "first_page, resolved_at" in d.html.replace("decision, ", "")
    assert "chaos_run: replay-7" in d.html and d.summary.values["mttd_median_min"] is None
    assert _open(lake, "incidents", shot="ledger-columns", height=700).find("rect", class_="bar")
    _write_ledger(lake, df.iloc[0:0])
    assert 'data-empty="ledger"' in render("incidents", lake).html


def test_pages_are_self_contained_and_light(dash_lake):
    for name in DASHBOARDS:
        html = render(name, dash_lake).html
        assert not re.search(r"<script[^>]+src=|<link|@import|url\(", html), name
        assert not re.search(r"(src|href)=\"(https?:)?//", html), name
        data = json.loads(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
        for spec in data.values():
            if spec.get("type") == "line":
                assert spec["n"] <= 2100
                assert sum(len(s["values"]) for s in spec["series"]) <= 9000, spec["title"]
    assert bucket_minutes(timedelta(days=7)) == 5
    w = window_for(pd.Timestamp("2026-11-27 23:59", tz="UTC"), pd.Timestamp("2026-10-01", tz="UTC"), 7)
    assert w.bucket == 5 and w.n == 2016 and w.start == pd.Timestamp("2026-11-21", tz="UTC")


def mats_keys(mats: dict) -> list:
    import dagster as dg

    return [dg.AssetKey.from_user_string(k) for k in mats]


# -- S3 and Dagster ----------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_pages_render_from_and_into_an_s3_lake(aws_env, dash_lake):
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    s3.create_bucket(Bucket="akidb-dash")
    local = Path(dash_lake.root)
    for f in local.rglob("*"):
        if f.is_file() and (f.suffix == ".parquet" or f.name.endswith(".json")):
            s3.upload_file(str(f), "akidb-dash", f"lake/{f.relative_to(local).as_posix()}")
    lake = Lake("s3://akidb-dash/lake", s3_endpoint=aws_env)
    pages = publish_all(lake)
    assert [p.uri for p in pages] == [f"s3://akidb-dash/lake/dashboards/{n}.html" for n in DASHBOARDS]
    assert all(not p.missing and p.charts for p in pages), [(p.name, p.missing) for p in pages]
    body = s3.get_object(Bucket="akidb-dash", Key="lake/dashboards/slo.html")["Body"].read().decode()
    assert body == pages[1].html


def test_dagster_materializes_the_dashboard_assets(dash_lake, tmp_path):
    import dagster as dg

    from assets.dashboards import dashboard_assets
    from assets.resources import LakeResource
    from sensors.jobs import main_job

    res = dg.materialize(dashboard_assets, resources={"lake": LakeResource(
        lake_root=dash_lake.root, duckdb_path=str(tmp_path / "akidb.duckdb"))})
    assert res.success
    mats = {ev.event_specific_data.materialization.asset_key.to_user_string(): ev.event_specific_data.materialization
            for ev in res.get_asset_materialization_events()}
    assert set(mats) == {f"dashboards/{n}" for n in DASHBOARDS}
    for name in DASHBOARDS:
        meta = mats[f"dashboards/{name}"].metadata
        url = meta["page"].value
        assert url == f"file://{dash_lake.root}/dashboards/{name}.html" and Path(url[7:]).exists()
        assert meta["charts"].value > 0 and meta["missing_inputs"].value == "none"
        assert "charts" in meta["summary"].value
    assert "| akidb-rest |" in mats["dashboards/golden_signals"].metadata["golden_signals"].value
    assert re.search(r"[▁▂▃▄▅▆▇█]{10}", mats["dashboards/slo"].metadata["slos"].value)  # sparkline of the budget
    from akidb_pipelines.definitions import defs

    graph = defs().resolve_asset_graph()  # the hourly main job leaves the pages to the dashboards job and the demo
    assert not [k for k in main_job.selection.resolve(graph) if k.path[0] == "dashboards"]
    assert defs().resolve_job_def("dashboards").asset_layer.executable_asset_keys == set(mats_keys(mats))
