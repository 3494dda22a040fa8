"""Forecasting core on real data: config validation, the change calendar, Prophet JSON round trips, training with
the validation gate and the registry, warm starts, calendar exclusions, and scoring against the promoted band.

Uses the 2.5-day dataset (incidents on the third day, from 06:00); models train on the first two days."""

from __future__ import annotations

import dataclasses as dc
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from akidb_pipelines.change_calendar import CalendarEntry, CalendarError, exclusions, from_ground_truth, load_calendar
from akidb_pipelines.forecast.config import ForecastConfigError, load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.model import ProphetParams, fit_prophet, from_json, predict, to_json
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.scoring import ANOMALIES_TABLE, SCORES_TABLE, score_window, write_scores
from akidb_pipelines.forecast.series import read_series
from akidb_pipelines.forecast.train import train_many, train_series
from akidb_pipelines.storage import Lake, hour_partitions
from tests.conftest import DAYS_START

AS_OF = DAYS_START + timedelta(days=2)          # training ends where the incident day begins
INCIDENT_DAY = DAYS_START + timedelta(days=2)
SERIES = ["akidb-rest.latency_p95_ms", "lambda-edge.NRT57.emf_latency_p95_ms", "lambda-edge.SIN52.emf_latency_p95_ms"]


def _cfg(tmp_path: Path, series: list[str] = SERIES, **validation):  # noqa: ANN202
    """The shipped config restricted to a few series, with a back-test that fits two days of history."""
    cfg = load_forecast_config()
    v = dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=2, min_initial_hours=24, **validation)
    return dc.replace(cfg, series=tuple(cfg.get(s) for s in series), validation=v)


def _write_cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "forecast.yaml"
    p.write_text(text)
    return p


# -- configuration ----------------------------------------------------------------------------------------------

def test_the_shipped_config_expands_one_series_per_edge_location():
    cfg = load_forecast_config()
    edges = [s for s in cfg.series if s.tier == "lambda-edge"]
    assert len(edges) == 12 and {s.edge_location for s in edges} >= {"NRT57", "SIN52", "SYD62"}
    assert cfg.get("lambda-edge.NRT57.emf_latency_p95_ms").metric == "emf_latency_p95_ms"
    assert cfg.get("cloudfront.error_rate").accuracy == "smape"  # near zero: MAPE means nothing there
    assert cfg.training.prophet.interval_width == 0.95 and cfg.resolution_minutes == 5


@pytest.mark.parametrize("text, message", [
    ("series: [{id: a, metric: m, tier: t, colour: red}]", "series[0]: unknown field(s) ['colour']"),
    ("series: [{id: a, metric: m, tier: t, accuracy: r2}]", "series[0].accuracy: must be one of"),
    ("series: [{id: a, metric: m, tier: t}, {id: a, metric: m, tier: t}]", "series id 'a' appears twice"),
    ("series: [{id: 'a b', metric: m, tier: t}]", "series[0].id:"),
    ("series: [{id: a, tier: t}]", "series[0].metric: required"),
    ("resolution_minutes: 7\nseries: [{id: a, metric: m, tier: t}]", "resolution_minutes: expected a divisor of 60"),
    ("series: [{id: a, metric: m, tier: t}]\ntraining: {prophet: {interval_width: 2}}", "training.prophet: interval_width"),
    ("series: [{id: a, metric: m, tier: t}]\nvalidation: {coverage: [0.99, 0.9]}", "validation.coverage: expected [low, high]"),
    ("series: [{id: a, metric: m, tier: t}]\ntraining: {window_days: many}", "training.window_days: expected a positive number"),
])
def test_invalid_forecast_config_names_file_and_field(tmp_path, text, message):
    p = _write_cfg(tmp_path, text)
    with pytest.raises(ForecastConfigError) as e:
        load_forecast_config(p)
    assert str(p) in str(e.value) and message in str(e.value)


# -- change calendar --------------------------------------------------------------------------------------------

def test_calendar_loads_validates_and_selects_windows_per_tier(tmp_path):
    p = tmp_path / "cal.yaml"
    p.write_text("entries:\n"
                 "  - {id: d1, kind: deploy, start: 2026-11-10T14:00:00Z, end: 2026-11-10T14:10:00Z, tiers: [akidb-rest]}\n"
                 "  - {id: i1, kind: incident, start: 2026-11-10T01:00:00Z, end: 2026-11-10T02:00:00Z}\n")
    entries = load_calendar(p)
    assert [e.id for e in entries] == ["d1", "i1"]
    assert len(exclusions(entries, "akidb-rest")) == 2 and len(exclusions(entries, "lambda-edge")) == 1
    assert load_calendar(tmp_path / "missing.yaml") == []
    p.write_text("entries:\n  - {kind: outage, start: 2026-11-10T01:00:00Z, end: 2026-11-10T02:00:00Z}\n")
    with pytest.raises(CalendarError, match=r"entries\[0\]\.kind"):
        load_calendar(p)
    p.write_text("entries:\n  - {kind: incident, start: 2026-11-10T02:00:00Z, end: 2026-11-10T01:00:00Z}\n")
    with pytest.raises(CalendarError, match="is not after start"):
        load_calendar(p)


# -- Prophet models ---------------------------------------------------------------------------------------------

def _toy(days: float = 4, seed: int = 0) -> pd.DataFrame:
    ds = pd.date_range("2026-06-01", periods=int(days * 288), freq="5min")
    t = np.arange(len(ds))
    y = 20 + 5 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(seed).normal(0, 0.5, len(ds))
    return pd.DataFrame({"ds": ds, "y": y})


def test_a_model_round_trips_through_json_with_identical_forecasts():
    model = fit_prophet(_toy(), ProphetParams(uncertainty_samples=50))
    text = to_json(model)
    assert json.loads(text)["interval_width"] == 0.95  # set explicitly (Prophet's own default is 0.80)
    again = from_json(text)
    at = pd.date_range("2026-06-05", periods=12, freq="1min")
    pd.testing.assert_frame_equal(predict(model, at), predict(again, at))
    a = predict(model, at)
    assert (a["yhat_lower"] < a["yhat"]).all() and (a["yhat"] < a["yhat_upper"]).all()
    assert abs(a["yhat"].iloc[0] - 20) < 1.5  # daily sine crosses 20 at midnight


def test_excluded_windows_are_not_learned():
    hist = _toy()
    hist.loc[(hist.ds >= "2026-06-03 10:00") & (hist.ds < "2026-06-03 14:00"), "y"] += 500  # an outage
    window = [(datetime(2026, 6, 3, 10, tzinfo=timezone.utc), datetime(2026, 6, 3, 14, tzinfo=timezone.utc))]
    clean = fit_prophet(hist, ProphetParams(uncertainty_samples=0), exclusions=window)
    dirty = fit_prophet(hist, ProphetParams(uncertainty_samples=0))
    at = ["2026-06-05 12:00"]
    assert abs(predict(clean, at)["yhat"][0] - 20) < 1.5
    assert predict(dirty, at)["yhat"][0] > predict(clean, at)["yhat"][0] + 3  # the outage leaked into the fit


# -- training, validation gate, registry ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(days_lake, tmp_path_factory):
    """A copy-free view: the shared lake plus a module-private registry root (models go under the lake)."""
    lake, data = days_lake
    cfg = _cfg(tmp_path_factory.mktemp("cfg"))
    outcomes = {s: train_series(lake, cfg, cfg.get(s), AS_OF) for s in SERIES}
    return lake, cfg, outcomes, data


def test_training_backtests_stores_json_and_promotes_valid_models(trained):
    lake, cfg, outcomes, _ = trained
    reg = Registry(lake)
    for sid, o in outcomes.items():
        assert o.status == "promoted", (sid, o.reasons)
        val = o.meta["validation"]
        assert val["passed"] and val["mape"] < 0.15 and val["coverage"] >= 0.90
        assert len(val["cutoffs"]) == 2 and val["points"] > 100
        assert reg.promoted(sid).version == o.version
        meta = reg.meta(sid, o.version)
        assert meta["training_end"] < str(AS_OF.replace(tzinfo=None)) and meta["params"]["interval_width"] == 0.95
        model = reg.load(sid, o.version)  # JSON, not pickle
        assert model.interval_width == 0.95 and set(model.seasonalities) == {"daily"}  # two days: no weekly
        band = reg.band(sid, o.version)
        assert band["ds"].min() < pd.Timestamp(AS_OF.replace(tzinfo=None)) <= band["ds"].max()
        assert band["ds"].diff().dropna().eq(pd.Timedelta(minutes=1)).all()
    table = reg.table()
    assert set(table["series"]) == set(SERIES) and table["promoted"].all()


def test_a_model_failing_the_gate_is_stored_not_promoted_and_the_previous_stays_in_use(trained, tmp_path):
    lake, cfg, outcomes, _ = trained
    sid = SERIES[0]
    strict = dc.replace(cfg, validation=dc.replace(cfg.validation, max_error=0.001))
    o = train_series(lake, strict, strict.get(sid), AS_OF + timedelta(hours=1))
    assert o.status == "rejected" and any("is not below 0.001" in r for r in o.reasons)
    reg = Registry(lake)
    assert reg.promoted(sid).version == outcomes[sid].version == o.in_use
    assert o.version in reg.versions(sid) and reg.meta(sid, o.version)["promoted"] is False
    assert reg.band(sid, o.version) is None


def test_the_stan_fitters_weekly_refit_warm_starts_from_the_promoted_model(trained):
    lake, cfg, outcomes, _ = trained
    sid = SERIES[1]
    stan = dc.replace(cfg, training=dc.replace(cfg.training, fitter="stan"))
    o = train_series(lake, stan, stan.get(sid), AS_OF + timedelta(hours=2))
    assert o.meta["warm_started_from"] == outcomes[sid].version and o.meta["fitter"] == "stan"
    cold = dc.replace(stan, training=dc.replace(stan.training, warm_start=False))
    assert train_series(lake, cold, cold.get(sid), AS_OF + timedelta(hours=2)).meta["warm_started_from"] is None
    # the batch fitter solves the MAP directly: nothing to warm-start
    batch = train_series(lake, cfg, cfg.get(sid), AS_OF + timedelta(hours=2))
    assert batch.meta["fitter"] == "batch" and batch.meta["warm_started_from"] is None


def test_calendar_windows_are_left_out_of_training(trained):
    lake, cfg, _, data = trained
    entries = from_ground_truth(json.loads(Path(data.ground_truth).read_text()))
    assert {e.kind for e in entries} == {"incident", "deploy"}
    entries.append(CalendarEntry("m", "maintenance", DAYS_START + timedelta(hours=40), DAYS_START + timedelta(hours=41)))
    sid = SERIES[0]
    o = train_series(lake, cfg, cfg.get(sid), AS_OF + timedelta(hours=3), entries)
    assert o.meta["excluded_points"] >= 12 - 2  # an hour at 5-minute resolution (a bucket may be missing anyway)
    assert any(w[0].startswith(str((DAYS_START + timedelta(hours=40)).date())) for w in o.meta["excluded_windows"])


def test_short_history_is_skipped_with_a_reason(trained):
    lake, cfg, _, _ = trained
    o = train_series(lake, cfg, cfg.get(SERIES[0]), DAYS_START + timedelta(hours=5))
    assert o.status == "skipped" and "needs 24 h" in o.reasons[0]


def test_the_stan_fitters_train_many_in_two_processes_matches_sequential(days_lake, tmp_path):
    lake_src, _ = days_lake
    cfg = _cfg(tmp_path, series=SERIES[:2])
    cfg = dc.replace(cfg, training=dc.replace(cfg.training, fitter="stan"))
    # a private registry: the models land under a fresh root that reads the same golden signals
    lake = Lake(tmp_path / "lake")
    shutil.copytree(Path(lake_src.root) / cfg.source, tmp_path / "lake" / cfg.source)
    par = train_many(lake, cfg, SERIES[:2], AS_OF, processes=2)
    assert [o.series for o in par] == SERIES[:2] and all(o.status in ("promoted", "rejected") for o in par)
    seq = train_series(lake, cfg, cfg.get(SERIES[0]), AS_OF)
    # same data, same deterministic MAP fit: the same back-test numbers
    assert seq.meta["validation"]["cutoffs"] == par[0].meta["validation"]["cutoffs"]


# -- scoring ----------------------------------------------------------------------------------------------------

def test_scoring_flags_the_cold_start_storm_at_its_edges_and_scores_a_series_without_a_model_on_the_baseline(
        trained):
    lake, cfg, outcomes, _ = trained
    det = load_detector_config()
    storm = INCIDENT_DAY + timedelta(hours=7)
    full = dc.replace(cfg, series=tuple(list(cfg.series) + [load_forecast_config().get("akidb-rest.requests")]))
    scores, report = score_window(lake, full, det, storm - timedelta(hours=1), storm + timedelta(minutes=30))
    # never trained: scored against the seasonal baseline (Monday and Tuesday before the Wednesday), not blind
    assert report.baseline == {"akidb-rest.requests": "no promoted model: none trained yet"} and not report.unscored
    assert set(report.scored) == set(SERIES) | {"akidb-rest.requests"}
    # every minute with data in the window is scored, the baseline series' minutes included
    have = read_series(lake, full, list(full.series), storm - timedelta(hours=1), storm + timedelta(minutes=30))
    assert report.scored == have.groupby("series").size().to_dict()
    versions = scores.groupby("series")["model_version"].unique().to_dict()
    assert list(versions["akidb-rest.requests"]) == ["seasonal-baseline"]
    assert all(list(versions[s]) == [Registry(lake).promoted(s).version] for s in SERIES)
    for edge in ("NRT57", "SIN52"):
        s = scores[scores.series == f"lambda-edge.{edge}.emf_latency_p95_ms"]
        during = s[(s.minute >= storm) & (s.minute < storm + timedelta(minutes=15))]
        assert during["is_anomaly"].any(), edge
        first = during[during.is_anomaly].minute.min()
        assert first - storm <= timedelta(minutes=5), (edge, first)
        assert (during["direction"][during.is_anomaly] == "up").all()
    assert scores["anomaly_score"].between(0, 1).all()
    assert ((scores["anomaly_score"] >= 0.5) == scores["is_anomaly"]).all()


def test_a_one_minute_tick_gives_the_values_a_longer_run_gives(trained):
    lake, cfg, _, _ = trained
    det = load_detector_config()
    cfg = dc.replace(cfg, series=tuple(list(cfg.series) + [load_forecast_config().get("akidb-rest.requests")]))
    t = INCIDENT_DAY + timedelta(hours=7, minutes=3)
    long, _ = score_window(lake, cfg, det, t - timedelta(hours=2), t + timedelta(minutes=1))
    tick, _ = score_window(lake, cfg, det, t, t + timedelta(minutes=1))
    a = long[long.minute == t].sort_values("series").reset_index(drop=True)
    b = tick.sort_values("series").reset_index(drop=True)
    assert len(b) == len(SERIES) + 1 and (b["model_version"] == "seasonal-baseline").sum() == 1  # the baseline too
    pd.testing.assert_frame_equal(a, b)


def test_scores_are_written_per_hour_and_a_rerun_replaces_them(trained, tmp_path):
    lake_src, cfg, _, _ = trained
    det = load_detector_config()
    start = INCIDENT_DAY + timedelta(hours=7)
    scores, _ = score_window(lake_src, cfg, det, start, start + timedelta(hours=1))
    lake = Lake(tmp_path / "out")
    keys = hour_partitions(start, start + timedelta(hours=1))
    first = write_scores(lake, scores, keys)
    again = write_scores(lake, scores, keys)
    assert first == again and first[SCORES_TABLE] == len(scores) and first[ANOMALIES_TABLE] == int(scores.is_anomaly.sum())
    assert len(lake.list_files(SCORES_TABLE)) == 1
    back = pd.read_parquet(lake.list_files(SCORES_TABLE)[0])
    assert len(back) == len(scores) and set(back.columns) >= {"series", "minute", "yhat", "lower", "upper", "score",
                                                              "direction", "anomaly_score", "confidence"}


def test_under_two_weeks_weekends_get_their_own_daily_profile():
    """Four days spanning a weekend, weekend traffic 30% lower: the weekend profile forecasts Monday from
    Friday, not from Sunday; with it off, the model (no weekly seasonality possible) misses Monday badly."""
    ds = pd.date_range("2026-11-20", periods=4 * 288, freq="5min")  # Fri..Mon
    t = np.arange(len(ds))
    level = np.where(ds.day_of_week >= 5, 0.7, 1.0)
    y = 100 * level * (1 + 0.3 * np.sin(2 * np.pi * t / 288)) + np.random.default_rng(1).normal(0, 1, len(ds))
    hist = pd.DataFrame({"ds": ds, "y": y})
    tuesday = pd.date_range("2026-11-24", periods=288, freq="5min")
    truth = 100 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(4 * 288, 5 * 288) / 288))
    auto = fit_prophet(hist, ProphetParams(uncertainty_samples=0))
    off = fit_prophet(hist, ProphetParams(uncertainty_samples=0, weekend_profile="off"))
    assert {"daily_weekday", "daily_weekend"} <= set(auto.seasonalities) and "weekend_level" in auto.extra_regressors
    mape = lambda m: float(np.mean(np.abs(predict(m, tuesday)["yhat"] - truth) / truth))  # noqa: E731
    assert mape(auto) < 0.03 < mape(off)
    again = from_json(to_json(auto))  # the calendar columns are rebuilt at prediction time after a round trip
    assert np.allclose(predict(again, tuesday)["yhat"], predict(auto, tuesday)["yhat"])


def test_two_weeks_of_history_keep_the_weekend_profile_and_forecast_as_well_as_four_days():
    """Issue 14: at two weeks the model used to switch to Prophet's Fourier weekly seasonality, which smears the
    weekend step, and the back-test MAPE went from 2% to 12-50%. The weekday/weekend profile now holds at any span:
    fourteen days forecast Monday (after a weekend) at least as well as four days do."""
    def week_shape(ds: pd.DatetimeIndex) -> np.ndarray:  # weekends 30% lower; the daily sine in every day
        t = (ds - pd.Timestamp("2026-11-02")) / pd.Timedelta(days=1)
        return 100 * np.where(ds.day_of_week >= 5, 0.7, 1.0) * (1 + 0.3 * np.sin(2 * np.pi * t))

    monday = pd.date_range("2026-11-30", periods=288, freq="5min")
    truth = week_shape(monday)

    def fit(days: int, profile: str):  # noqa: ANN202
        ds = pd.date_range(monday[0] - pd.Timedelta(days=days), monday[0], freq="5min", inclusive="left")
        y = week_shape(ds) + np.random.default_rng(days).normal(0, 1, len(ds))
        m = fit_prophet(pd.DataFrame({"ds": ds, "y": y}), ProphetParams(uncertainty_samples=0, weekend_profile=profile))
        return m, float(np.mean(np.abs(predict(m, monday)["yhat"] - truth) / truth))

    two_weeks, mape14 = fit(14, "auto")
    _, mape4 = fit(4, "auto")
    off, mape_off = fit(14, "off")
    assert {"daily_weekday", "daily_weekend"} <= set(two_weeks.seasonalities)
    assert "weekly" not in two_weeks.seasonalities and "weekly" in off.seasonalities
    assert mape14 < 0.03 and mape14 <= mape4 + 0.005  # as good as four days (within noise)
    assert mape_off > 2 * mape14  # the Fourier weekly seasonality misses the Monday after the weekend


def test_per_series_prophet_overrides_apply_and_are_validated(tmp_path):
    cfg = load_forecast_config()
    edge = cfg.get("lambda-edge.NRT57.emf_latency_p95_ms")
    assert edge.params(cfg.training.prophet).weekend_profile == "off"
    assert cfg.get("akidb-rest.requests").params(cfg.training.prophet).weekend_profile == "auto"
    p = _write_cfg(tmp_path, "series: [{id: a, metric: m, tier: t, prophet: {growth: sideways}}]")
    with pytest.raises(ForecastConfigError, match=r"series\[0\]\.prophet\.growth: must be one of"):
        load_forecast_config(p)
