"""dbt_like_sql: the loader's graph and errors (file and line), the models on synthetic incidents, the assets."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from akidb_pipelines.sql_models import ModelGraphError, load_models
from akidb_pipelines.sql_models.runner import KNOWN_SOURCES, run_model, run_tests
from akidb_pipelines.storage import Lake, hour_partitions
from assets.ingest import ingest_assets
from assets.resources import LakeResource, LandingZoneSource
from assets.sql_models import graph as SHIPPED, sql_models
from tests.conftest import SHORT_START

RANGE_TAGS = {"dagster/asset_partition_range_start": "2026-11-02-00:00",
              "dagster/asset_partition_range_end": "2026-11-02-02:00"}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sql"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_shipped_models_load_in_dependency_order():
    g = SHIPPED
    assert g.order.index("golden_signals_1m") > max(
        g.order.index(n) for n in ("stg_xray_spans", "stg_emf_metrics", "stg_prometheus_samples"))
    gs = g.models["golden_signals_1m"]
    assert sorted(r for r, _ in gs.refs) == ["stg_emf_metrics", "stg_prometheus_samples", "stg_xray_spans"]
    assert gs.config == {"time_column": "minute", "lookback_minutes": "1"}
    assert gs.description.startswith("Golden signals per minute")
    assert {t.name for t in gs.tests} >= {"not_null_minute", "unique_minute_tier_edge_location"}


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"a/x.sql": "-- x\nSELECT 1 AS minute\nFROM {{ ref('y') }}\n"}, "sql/a/x.sql:3: ref('y') names no model"),
        ({"a/x.sql": "SELECT * FROM {{ ref('y') }}\n", "b/y.sql": "-- y\n\nSELECT * FROM {{ ref('x') }}\n"},
         "cycle x -> y -> x"),
        ({"a/x.sql": "-- broken\nSELECT a,\n  b\nFORM t\n"}, "sql/a/x.sql:4: invalid SQL: Parser Error"),
        ({"a/x.sql": "SELECT * FROM {{ source('raw', 'nope') }}\n"}, "sql/a/x.sql:1: unknown source raw.nope"),
        ({"a/x.sql": "SELECT 1; SELECT 2\n"}, "sql/a/x.sql:1: a model is exactly one SELECT statement"),
        ({"a/x.sql": "SELECT 1 AS minute\n", "b/x.sql": "SELECT 2 AS minute\n"}, "model 'x' is also defined in"),
        ({"a/x.sql": "SELECT 1 AS minute\n", "a/schema.yml": "models:\n  x:\n    columns:\n      minute: [positive]\n"},
         "sql/a/schema.yml:4: x.minute: unknown test 'positive'"),
        ({"a/x.sql": "SELECT 1 AS minute\n", "a/schema.yml": "models:\n  z:\n    columns: {}\n"},
         "sql/a/schema.yml:2: tests for unknown model 'z'"),
        ({"a/x.sql": "-- x\n{{ nope() }}\n"}, "sql/a/x.sql:2: unknown macro nope()"),
    ],
    ids=["missing ref", "cycle", "syntax error", "unknown source", "two statements", "duplicate name",
         "unknown test", "tests for a missing model", "unknown macro"],
)
def test_broken_model_folders_fail_at_load_naming_file_and_line(tmp_path, files, expected):
    with pytest.raises(ModelGraphError) as e:
        load_models(_tree(tmp_path, files), KNOWN_SOURCES)
    assert expected in str(e.value)
    if expected.startswith("cycle"):
        assert str(e.value).startswith("sql/b/y.sql:3: ") or str(e.value).startswith("sql/a/x.sql:1: ")


@pytest.fixture(scope="module")
def modelled(short_dataset, tmp_path_factory):
    """Ingest the short dataset and materialize every model through the assets, as the main job does."""
    tmp = tmp_path_factory.mktemp("models")
    resources = {"lake": LakeResource(lake_root=str(tmp / "lake"), duckdb_path=str(tmp / "akidb.duckdb")),
                 "telemetry": LandingZoneSource(landing=str(short_dataset.out_dir / "landing"))}
    res = dg.materialize([*ingest_assets, sql_models], resources=resources,
                         instance=dg.DagsterInstance.ephemeral(), tags=RANGE_TAGS)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    lake = Lake(tmp / "lake")
    for t in ('models/marts/golden_signals_1m', 'models/marts/sli_events_1m', 'models/marts/slo_budget_events', 'models/marts/slo_burn_rates_1m', 'models/staging/stg_emf_metrics', 'raw/prometheus_samples'):  # the files as bound variables, never as SQL text
        con.execute(f"SET VARIABLE akidb_{t.split('/')[-1]} = ?", [lake.glob(t)])
    con.execute("CREATE VIEW gs AS SELECT * FROM read_parquet(getvariable('akidb_golden_signals_1m'))")
    return res, con, lake, tmp


def test_materializing_the_graph_runs_every_model_and_every_column_test_passes(modelled):
    res, con, _, tmp = modelled
    assert res.success
    mats = {m.asset_key.to_user_string() for m in res.get_asset_materialization_events() and
            [e.event_specific_data.materialization for e in res.get_asset_materialization_events()]}
    assert {"duckdb/staging/stg_xray_spans", "duckdb/marts/golden_signals_1m"} <= mats
    evals = [e for e in res.get_asset_check_evaluations() if e.asset_key.path[0] == "duckdb"]
    assert len(evals) == sum(len(m.tests) for m in SHIPPED.models.values())
    assert all(e.passed for e in evals), [e.check_name for e in evals if not e.passed]
    views = duckdb.connect(str(tmp / "akidb.duckdb"), read_only=True).execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2").fetchall()
    assert ("marts", "golden_signals_1m") in views and ("staging", "stg_emf_metrics") in views


def test_golden_signals_show_the_spot_cascade_at_akidb_rest_for_exactly_its_minutes(modelled):
    _, con, _, _ = modelled
    rows = con.execute("""SELECT minute, error_rate FROM gs WHERE tier = 'akidb-rest' AND edge_location = 'all'
                          ORDER BY minute""").fetchall()
    assert len(rows) == 180  # every minute of the three hours
    # Only the data's very first minute lacks an earlier counter sample; the hour boundaries read one minute back.
    assert [t for t, r in rows if r is None] == [SHORT_START]
    t0 = SHORT_START + timedelta(minutes=20)
    hot = [r for t, r in rows if t0 <= t < t0 + timedelta(minutes=8)]
    cold = [r for t, r in rows if r is not None and not t0 <= t < t0 + timedelta(minutes=8)]
    assert len(hot) == 8 and min(hot) > 0.03
    assert max(cold) < 0.01


def test_golden_signals_show_the_cold_start_storm_only_at_the_named_edges(modelled):
    _, con, _, _ = modelled
    p95 = con.execute("""SELECT edge_location, max(emf_latency_p95_ms) FILTER (WHERE minute >= ? AND minute < ?),
                                max(emf_latency_p95_ms) FILTER (WHERE minute < ? OR minute >= ?)
                         FROM gs WHERE tier = 'lambda-edge' AND edge_location <> 'all' GROUP BY 1""",
                      [SHORT_START + timedelta(minutes=65), SHORT_START + timedelta(minutes=80)] * 2).fetchall()
    storm = {e: (inside, outside) for e, inside, outside in p95}
    assert storm["NRT57"][0] > 2000 and storm["SIN52"][0] > 2000
    assert storm["IAD89"][0] < 500


def test_edge_percentiles_take_the_lower_rank_so_one_slow_sample_of_a_quiet_minute_is_not_its_p95(modelled):
    """numpy's ``method='lower'`` is the oracle: value number 1 + floor(q * (n - 1)) of the minute's samples."""
    import numpy as np
    _, con, lake, _ = modelled
    samples = con.execute(f"""SELECT minute, edge_location, list(value) FROM
                               read_parquet(getvariable('akidb_stg_emf_metrics'))
                               WHERE metric_name = 'InferenceLatency' AND namespace = 'AkiDB/Edge'
                               GROUP BY ALL""").fetchall()
    got = {(m, e): (p50, p95, p99) for m, e, p50, p95, p99 in con.execute(
        """SELECT minute, edge_location, emf_latency_p50_ms, emf_latency_p95_ms, emf_latency_p99_ms FROM gs
           WHERE tier = 'lambda-edge' AND edge_location <> 'all'""").fetchall()}
    assert len(samples) > 1000
    for m, e, values in samples:
        want = tuple(float(np.percentile(values, q, method="lower")) for q in (50, 95, 99))
        assert got[(m, e)] == pytest.approx(want), (m, e)
    # a quiet minute of 13 samples with one cold start: its P95 is the second largest, not 40% of the way to it
    assert np.percentile([50.0] * 12 + [900.0], 95, method="lower") == 50.0


def test_golden_signals_show_the_lstm_forecast_far_over_the_load_served(modelled):
    _, con, _, _ = modelled
    inside, outside = con.execute("""SELECT min(load_forecast_ratio) FILTER (WHERE minute >= ? AND minute < ?),
                                            max(abs(load_forecast_ratio - 1)) FILTER (WHERE minute < ? OR minute >= ?)
                                     FROM gs WHERE tier = 'akidb-rest' AND edge_location = 'all'""",
                                  [SHORT_START + timedelta(minutes=100), SHORT_START + timedelta(minutes=160)] * 2
                                  ).fetchone()
    assert inside > 1.5 and outside < 0.2


def test_golden_signals_show_the_lstm_over_provisioning(modelled):
    _, con, _, _ = modelled
    inside, outside = con.execute("""SELECT avg(capacity_ratio) FILTER (WHERE minute >= ? AND minute < ?),
                                            avg(capacity_ratio) FILTER (WHERE minute < ? OR minute >= ?)
                                     FROM gs WHERE tier = 'akidb-rest' AND edge_location = 'all'""",
                                  [SHORT_START + timedelta(minutes=100), SHORT_START + timedelta(minutes=160)] * 2
                                  ).fetchone()
    assert inside > 2 * outside


def test_rerunning_a_model_replaces_its_rows(modelled):
    _, con, lake, _ = modelled
    g = SHIPPED
    keys = hour_partitions(SHORT_START, SHORT_START + timedelta(hours=1))
    before = con.execute("SELECT count(*) FROM gs").fetchone()[0]
    again = run_model(g.models["golden_signals_1m"], g, lake, keys)
    assert again.rows == con.execute("SELECT count(*) FROM gs WHERE minute < ?", [keys[-1].end]).fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM gs").fetchone()[0] == before


def test_column_tests_report_failing_rows_with_a_sample(modelled, tmp_path):
    _, _, lake, _ = modelled
    root = _tree(tmp_path, {
        "marts/bad.sql": "-- bad\n-- config: time_column: ts\nSELECT ts, -value AS neg, 'x' AS tier, 1 AS k "
                         "FROM {{ source('raw', 'prometheus_samples') }}\n",
        "marts/schema.yml": "models:\n  bad:\n    columns:\n      neg: [{range: {min: 0}}]\n"
                            "      tier: [{accepted_values: [alb]}]\n      ts: [not_null]\n    unique: [[k]]\n",
    })
    g = load_models(root, KNOWN_SOURCES)
    keys = hour_partitions(SHORT_START, SHORT_START + timedelta(hours=1))
    res = run_model(g.models["bad"], g, lake, keys)
    outcomes = {o.test.name: o for o in run_tests(g.models["bad"], lake, keys)}
    assert outcomes["range_neg"].failures > 0 and len(outcomes["range_neg"].sample) == 5
    assert outcomes["accepted_values_tier"].failures == res.rows and outcomes["accepted_values_tier"].sample[0] == "x"
    assert outcomes["not_null_ts"].passed
    assert outcomes["unique_k"].failures == 1


def test_slo_burn_rates_equal_the_reference_maths_minute_by_minute(modelled):
    """The generated SQL and akidb_pipelines.slo.maths agree on every minute, window, budget and state."""
    from akidb_pipelines.slo.maths import alert_state, burn_rate, error_budget, window_sums
    from akidb_pipelines.slo.spec import split_key
    from akidb_pipelines.slo.sql import label
    from assets.sql_models import slos, windows

    _, con, lake, _ = modelled
    events = con.execute(f"SELECT slo, minute, good, total FROM read_parquet(getvariable('akidb_sli_events_1m'))"
                         ).fetchall()
    sql = {(r[0], r[1]): r for r in con.execute(
        f"SELECT slo, minute, burn_5m, burn_30m, burn_1h, burn_6h, burn_3d, budget_remaining, alert_state "
        f"FROM read_parquet(getvariable('akidb_slo_burn_rates_1m'))").fetchall()}
    checked = 0
    by_name = {s.name: s for s in slos}
    keys = sorted({e[0] for e in events})  # an SLO, or one edge location of a grouped SLO (<name>.<location>)
    assert {split_key(k)[0] for k in keys} == set(by_name)
    for key in keys:
        s = by_name[split_key(key)[0]]
        ev = {m: (g, t) for name, m, g, t in events if name == key}
        first, last = min(ev), SHORT_START + timedelta(hours=3) - timedelta(minutes=1)
        grid = [first + timedelta(minutes=i) for i in range(int((last - first).total_seconds() // 60) + 1)]
        good = [ev[m][0] if m in ev else None for m in grid]
        total = [ev[m][1] if m in ev else None for m in grid]
        ws = {w: (window_sums(good, int(w.total_seconds() // 60)), window_sums(total, int(w.total_seconds() // 60)))
              for w in windows.windows + [windows.period]}
        for i, m in enumerate(grid):
            bad = {w: (ws[w][1][i] - ws[w][0][i]) if ws[w][1][i] is not None else None for w in ws}
            tot = {w: ws[w][1][i] for w in ws}
            history = m - first + timedelta(minutes=1) if s.group_by else None  # an edge location warms up
            st = alert_state(bad, tot, s.target, windows, guarded=s.budgeting == "Occurrences", history=history)
            row = sql[(key, m)]
            for j, w in enumerate(windows.windows):
                ref = burn_rate(bad[w], tot[w], s.target) if tot[w] else None
                assert row[2 + j] == (pytest.approx(ref) if ref is not None else None), (key, m, label(w))
            b = error_budget(bad[windows.period] or 0, tot[windows.period] or 0, s.target, windows.period, None)
            assert row[7] == pytest.approx(b.remaining), (key, m)
            assert row[8] == st.state, (key, m)
            checked += 1
    assert checked == len(sql) and checked > 500


def test_the_spot_cascade_raises_the_error_rate_slo_from_ok_to_a_page(modelled):
    _, con, lake, _ = modelled
    states = dict(con.execute(
        f"SELECT minute, alert_state FROM read_parquet(getvariable('akidb_slo_burn_rates_1m')) "
        f"WHERE slo = 'error-rate' AND minute BETWEEN ? AND ?",
        [SHORT_START + timedelta(minutes=10), SHORT_START + timedelta(minutes=27)]).fetchall())
    before = [states[SHORT_START + timedelta(minutes=i)] for i in range(10, 20)]
    assert set(before) == {"ok"}
    assert states[SHORT_START + timedelta(minutes=27)] == "medium"  # P1 within the incident's 8 minutes


def test_budget_policy_events_are_the_level_crossings_of_the_remaining_budget(modelled):
    from akidb_pipelines.slo.maths import policy_crossings
    from akidb_pipelines.slo.spec import load_policy

    _, con, lake, _ = modelled
    levels = [lv.remaining for lv in load_policy()]
    rows = con.execute(f"SELECT slo, minute, budget_remaining FROM read_parquet(getvariable('akidb_slo_burn_rates_1m'))"
                       " ORDER BY slo, minute").fetchall()
    expected, previous = set(), {}
    for slo, minute, remaining in rows:
        for lv in policy_crossings(previous.get(slo), remaining, levels):
            expected.add((slo, minute, lv))
        previous[slo] = remaining
    got = set(con.execute(f"SELECT slo, minute, level FROM read_parquet(getvariable('akidb_slo_budget_events'))"
                          ).fetchall())
    assert got == expected and got


@pytest.mark.integration
def test_prometheus_rules_fire_the_same_tiers_as_the_sql_models(modelled, tmp_path):
    """promtool evaluates the generated rules on the very counters the models read, at minutes where our state is
    steady for two steps either side, and must raise exactly the tiers slo_burn_rates_1m holds."""
    import subprocess

    import yaml

    from akidb_pipelines.slo.promrules import render_rules, rule_groups
    from assets.sql_models import slos, windows
    from tests.conftest import require_binary

    promtool = require_binary("promtool")
    _, con, lake, _ = modelled
    occ = [s for s in slos if s.budgeting == "Occurrences" and s.promql]  # a grouped SLO has no rules
    (tmp_path / "rules.yml").write_text(render_rules(occ, windows))
    series = con.execute(
        f"""SELECT service, labels['status'], list(value ORDER BY ts), min(ts)
            FROM read_parquet(getvariable('akidb_prometheus_samples'))
            WHERE metric = 'akidb_requests_total' AND service IN ('cloudfront', 'akidb-rest') GROUP BY 1, 2""").fetchall()
    assert all(start == SHORT_START and len(v) == 180 for *_, v, start in series)
    states = {(r[0], r[1]): r[2] for r in con.execute(
        f"SELECT slo, minute, alert_state FROM read_parquet(getvariable('akidb_slo_burn_rates_1m'))").fetchall()}
    rules = {(a["labels"]["slo"], a["labels"].get("tier")): a for a in rule_groups(occ, windows)["groups"][1]["rules"]}
    tests, fired = [], 0
    for m in range(5, 178, 3):
        t = SHORT_START + timedelta(minutes=m)
        around = {(s.name, states.get((s.name, t + timedelta(minutes=d)))) for s in occ for d in (-2, -1, 0, 1, 2)}
        if len(around) != len(occ):
            continue  # the state changes near m: rule groups may see values one evaluation apart there
        exp = []
        for s in occ:
            st = states[(s.name, t)]
            if st in ("fast", "medium", "slow"):
                r = rules[(s.name, st)]
                exp.append({"exp_labels": dict(r["labels"]), "exp_annotations": dict(r["annotations"])})
        fired += len(exp)
        tests.append({"eval_time": f"{m}m", "alertname": "AkidbSLOBurnRate", "exp_alerts": exp})
    assert len(tests) > 30 and fired > 10
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": f'akidb_requests_total{{service="{svc}",status="{st}"}}',
                          "values": " ".join(repr(float(v)) for v in vals)} for svc, st, vals, _ in series],
        "alert_rule_test": tests}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    out = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # The cross-check can fail: drop one expected alert and promtool must object.
    first = next(x for x in tests if x["exp_alerts"])
    first["exp_alerts"] = first["exp_alerts"][1:]
    (tmp_path / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    bad = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and first["eval_time"] in bad.stdout + bad.stderr, bad.stdout[-2000:] + bad.stderr[-2000:]
