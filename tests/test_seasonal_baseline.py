"""The seasonal baseline (forecast/seasonal_baseline.py) and the scoring of series without a promoted model.

Expected medians and MADs are worked out by hand from the hand-made values; the scoring tests run on a tiny lake
of hand-made 1-minute golden signals (no generator, no ingest)."""

from __future__ import annotations

import dataclasses as dc
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest

from akidb_pipelines.forecast.config import BaselineConfig, ForecastConfigError, SeriesSpec, load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.model import ProphetParams
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.forecast.scoring import COLUMNS, score_window
from akidb_pipelines.forecast.seasonal_baseline import seasonal_band
from akidb_pipelines.forecast.train import train_series
from akidb_pipelines.storage import Lake, hour_partitions

Z95 = 1.959963984540054  # the two-sided 95% normal quantile (tables)
CFG = BaselineConfig(lookback_days=14, min_days=2, neighbour_minutes=2)
MONDAY = pd.Timestamp("2026-11-09")  # 2026-11-09 is a Monday


def _series(values: dict[pd.Timestamp, float]) -> pd.DataFrame:
    return pd.DataFrame({"ds": list(values), "y": list(values.values())})


# -- the band -----------------------------------------------------------------------------------------------------

def test_the_band_is_the_median_and_mad_of_the_same_minute_on_earlier_days():
    # Mon, Tue, Wed at 10:00 -/+ 2 minutes: 1..5, 6..10, 11..15; the band is asked for Thursday 10:00.
    at = MONDAY + pd.Timedelta(days=3, hours=10)
    vals = {}
    for day in range(3):
        for j in range(-2, 3):
            vals[MONDAY + pd.Timedelta(days=day, hours=10, minutes=j)] = 5 * day + j + 3
    vals[MONDAY + pd.Timedelta(days=1, hours=10, minutes=3)] = 1e6  # three minutes off: not pooled
    band = seasonal_band(_series(vals), [at], CFG, Z95).iloc[0]
    # fifteen values 1..15: median 8; |x - 8| = 0,1,1,...,7,7 sorted, the 8th of fifteen is 4 (MAD); their mean is
    # 2 * (1 + ... + 7) / 15 = 56 / 15. sigma = max(1.4826 * 4, 1.2533 * 56 / 15) = 5.9304; three days of median
    half = Z95 * 1.4826 * 4 * (1 + np.pi / 6) ** 0.5
    assert band["yhat"] == 8.0 and band["days"] == 3
    assert band["yhat_upper"] == pytest.approx(8 + half) and band["yhat_lower"] == pytest.approx(8 - half)


def test_values_that_mostly_tie_still_get_a_spread():
    # an error rate at 0 most minutes: Mon..Thu at 03:00 -/+ 2, twenty values, four of them 10 (one a day)
    vals = {MONDAY + pd.Timedelta(days=d, hours=3, minutes=j): 10.0 if j == 0 else 0.0
            for d in range(4) for j in range(-2, 3)}
    band = seasonal_band(_series(vals), [MONDAY + pd.Timedelta(days=4, hours=3)], CFG, Z95).iloc[0]
    # median 0 and MAD 0 (16 of 20 at 0); mean absolute deviation 40 / 20 = 2: sigma = 1.2533 * 2; four days
    assert band["yhat"] == 0.0 and band["days"] == 4
    assert band["yhat_upper"] == pytest.approx(Z95 * 1.2533 * 2 * (1 + np.pi / 8) ** 0.5)


def test_weekdays_and_weekends_get_their_own_median_and_the_lookback_is_in_days():
    # two weeks from Monday 2026-11-02: weekdays at 100 + day index, weekend days at 70 + day index, every minute
    ds = pd.date_range("2026-11-02", "2026-11-16", freq="1min", inclusive="left")
    day = (ds - ds[0]).days.to_numpy()
    y = np.where(ds.day_of_week >= 5, 70.0, 100.0) + day
    hist = pd.DataFrame({"ds": ds, "y": y})
    monday, saturday = pd.Timestamp("2026-11-16 12:00"), pd.Timestamp("2026-11-14 12:00")
    band = seasonal_band(hist, [monday, saturday], CFG, Z95).set_index("ds")
    # Monday: the ten earlier weekdays (day indexes 0-4 and 7-11): values 100..104, 107..111 (5 each): median 105.5
    assert band.loc[monday, "days"] == 10 and band.loc[monday, "yhat"] == 105.5
    # Saturday 14th: the weekend days before it in 14 days: 7th, 8th (indexes 5, 6): 75, 76: median 75.5
    assert band.loc[saturday, "days"] == 2 and band.loc[saturday, "yhat"] == 75.5
    # a lookback of 7 days on Monday: weekdays 9th..13th only (indexes 7..11): median 109
    week = seasonal_band(hist, [monday], dc.replace(CFG, lookback_days=7), Z95).iloc[0]
    assert week["days"] == 5 and week["yhat"] == 109.0


def test_a_weekend_minute_is_never_judged_against_weekdays():
    # Monday..Friday only, then a Saturday: no earlier weekend day, so no band (weekday traffic is not a weekend's)
    ds = pd.date_range("2026-11-09", "2026-11-14", freq="1min", inclusive="left")
    hist = pd.DataFrame({"ds": ds, "y": 100.0 + (ds - ds[0]).days.to_numpy()})  # 100..104
    band = seasonal_band(hist, [pd.Timestamp("2026-11-14 03:00"), pd.Timestamp("2026-11-13 03:00")], CFG, Z95)
    sat, fri = band.iloc[0], band.iloc[1]
    assert sat["days"] == 0 and np.isnan(sat["yhat"]) and np.isnan(sat["yhat_upper"])
    assert fri["days"] == 4 and fri["yhat"] == 101.5  # Monday..Thursday: median of 100, 101, 102, 103


def test_a_series_without_a_weekend_pattern_pools_every_earlier_day():
    # the same Monday..Friday history: a Saturday minute of a series declared without a weekend pattern
    # (weekend_profile: off) rests on all five weekdays; a Friday one on Monday..Thursday as before
    ds = pd.date_range("2026-11-09", "2026-11-14", freq="1min", inclusive="left")
    hist = pd.DataFrame({"ds": ds, "y": 100.0 + (ds - ds[0]).days.to_numpy()})  # 100..104
    band = seasonal_band(hist, [pd.Timestamp("2026-11-14 03:00"), pd.Timestamp("2026-11-13 03:00")], CFG, Z95,
                         by_day_type=False)
    sat, fri = band.iloc[0], band.iloc[1]
    assert sat["days"] == 5 and sat["yhat"] == 102.0  # median of 100..104
    assert fri["days"] == 4 and fri["yhat"] == 101.5


def test_a_flat_history_gives_a_narrow_band_not_a_zero_one():
    ds = pd.date_range("2026-11-09", periods=3 * 1440, freq="1min")
    band = seasonal_band(pd.DataFrame({"ds": ds, "y": 50.0}), [ds[-1] + pd.Timedelta(minutes=1)], CFG, Z95).iloc[0]
    assert band["yhat"] == 50.0 and band["yhat_upper"] - band["yhat"] == pytest.approx(0.5)  # 1% of the level


def test_less_than_min_days_of_history_gives_no_band():
    ds = pd.date_range("2026-11-09", periods=1440 + 600, freq="1min")  # one day and ten hours
    band = seasonal_band(pd.DataFrame({"ds": ds, "y": 1.0}), [ds[-1]], CFG, Z95).iloc[0]
    assert band["days"] == 1 and np.isnan(band["yhat"]) and np.isnan(band["yhat_upper"])


def test_the_baseline_settings_are_checked_at_load(tmp_path):
    p = tmp_path / "forecast.yaml"
    p.write_text("series: [{id: a, metric: m, tier: t}]\nbaseline: {lookback_days: 3, min_days: 5}\n")
    with pytest.raises(ForecastConfigError, match=r"baseline\.min_days: 5 earlier days cannot fit"):
        load_forecast_config(p)
    p.write_text("series: [{id: a, metric: m, tier: t}]\nbaseline: {lookback_days: two}\n")
    with pytest.raises(ForecastConfigError, match=r"baseline\.lookback_days"):
        load_forecast_config(p)
    assert load_forecast_config().baseline == BaselineConfig(lookback_days=14, min_days=2, neighbour_minutes=2)


# -- scoring series without a promoted model ------------------------------------------------------------------------

START = datetime(2026, 11, 9, tzinfo=timezone.utc)  # a Monday
TABLE = "models/marts/golden_signals_1m"
SPEC = SeriesSpec(id="t.requests", metric="requests", tier="t")
OTHER = SeriesSpec(id="u.requests", metric="requests", tier="u")


def _daily(n: int, seed: int) -> np.ndarray:
    t = np.arange(n)
    return 1000 + 300 * np.sin(2 * np.pi * t / 1440) + np.random.default_rng(seed).normal(0, 10, n)


def _lake(tmp_path, days: float, spike_at: datetime | None = None) -> Lake:  # noqa: ANN001
    """1-minute golden signals of tiers t and u from START: a daily sine, noise, and one spike on tier t."""
    n = int(days * 1440)
    minutes = pd.date_range(START, periods=n, freq="1min")
    frames = []
    for tier, seed in (("t", 1), ("u", 2)):
        y = _daily(n, seed)
        if tier == "t" and spike_at is not None:
            y[int((spike_at - START) / timedelta(minutes=1))] *= 3
        frames.append(pd.DataFrame({"minute": minutes, "tier": tier, "edge_location": "all", "requests": y}))
    lake = Lake(tmp_path / "lake")
    staged = lake.staging_dir()
    with duckdb.connect() as con:
        con.register("g", pd.concat(frames, ignore_index=True))
        con.execute("COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h FROM g) "
                    "TO $path (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)", {"path": str(staged)})
    lake.publish(TABLE, "test", staged, hour_partitions(START, START + timedelta(minutes=n)))
    return lake


def _cfg(*specs: SeriesSpec):  # noqa: ANN202
    cfg = load_forecast_config()
    return dc.replace(cfg, source=TABLE, series=specs or (SPEC,))


def test_a_series_without_a_promoted_model_is_scored_against_the_baseline_every_minute(tmp_path):
    spike = START + timedelta(days=3, hours=10, minutes=17)
    lake = _lake(tmp_path, 3.5, spike)
    scores, report = score_window(lake, _cfg(), load_detector_config(), spike - timedelta(hours=1),
                                  spike + timedelta(hours=1))
    assert list(scores.columns) == COLUMNS
    assert report.scored == {SPEC.id: 120} and not report.unscored
    assert report.baseline == {SPEC.id: "no promoted model: none trained yet"}
    assert (scores["model_version"] == "seasonal-baseline").all()
    # the same minute on Mon, Tue, Wed: yhat close to the noiseless sine there, not to the spike
    row = scores.set_index("minute").loc[pd.Timestamp(spike)]
    truth = 1000 + 300 * np.sin(2 * np.pi * ((10 * 60 + 17) % 1440) / 1440)
    assert abs(row["yhat"] - truth) < 15 and row["lower"] < row["yhat"] < row["upper"]
    assert row["is_anomaly"] and row["direction"] == "up" and row["actual"] > row["upper"]
    assert scores["is_anomaly"].sum() <= 3  # the spike and at most a stray minute or two of plain noise


def test_with_under_two_earlier_days_the_series_stays_unscored_with_the_reason(tmp_path):
    lake = _lake(tmp_path, 1.5)
    t = START + timedelta(days=1, hours=6)
    scores, report = score_window(lake, _cfg(), load_detector_config(), t, t + timedelta(minutes=10))
    assert scores.empty and not report.scored and not report.baseline
    why = report.unscored[SPEC.id]
    assert why.startswith("no promoted model: none trained yet") and "needs 2 earlier days" in why
    assert "found 1" in why


def test_a_one_minute_tick_on_the_baseline_gives_the_values_a_longer_run_gives(tmp_path):
    lake = _lake(tmp_path, 3.2)
    det, t = load_detector_config(), START + timedelta(days=3, hours=2, minutes=5)
    long, _ = score_window(lake, _cfg(SPEC, OTHER), det, t - timedelta(hours=2), t + timedelta(minutes=1))
    tick, _ = score_window(lake, _cfg(SPEC, OTHER), det, t, t + timedelta(minutes=1))
    pd.testing.assert_frame_equal(long[long.minute == t].reset_index(drop=True), tick.reset_index(drop=True))
    assert len(tick) == 2


def test_a_model_failing_the_gate_leaves_the_previous_one_in_use_and_a_never_promoted_series_on_the_baseline(
        tmp_path):
    lake = _lake(tmp_path, 3.2)
    cfg = _cfg(SPEC, OTHER)
    fast = dc.replace(cfg.training.prophet, uncertainty_samples=50)
    cfg = dc.replace(cfg, resolution_minutes=15, training=dc.replace(cfg.training, prophet=fast),
                     # a gate on accuracy only: 24 back-test points make the coverage test a coin toss
                     validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=1,
                                           coverage=(0.0, 1.0)))
    strict = dc.replace(cfg, validation=dc.replace(cfg.validation, max_error=1e-6))
    as_of = START + timedelta(days=2)
    first = train_series(lake, cfg, SPEC, as_of)
    assert first.status == "promoted", first.reasons
    later = train_series(lake, strict, SPEC, as_of + timedelta(hours=12))
    never = train_series(lake, strict, OTHER, as_of)
    assert later.status == never.status == "rejected" and later.in_use == first.version
    reg = Registry(lake)
    assert reg.promoted(SPEC.id).version == first.version and reg.promoted(OTHER.id) is None
    assert reg.versions(SPEC.id) == sorted([first.version, later.version])
    t = START + timedelta(days=3, hours=3)
    scores, report = score_window(lake, cfg, load_detector_config(), t, t + timedelta(minutes=30))
    by = scores.groupby("series")["model_version"].unique().to_dict()
    assert list(by[SPEC.id]) == [first.version] and list(by[OTHER.id]) == ["seasonal-baseline"]
    assert set(report.baseline) == {OTHER.id} and "none passed the validation gate" in report.baseline[OTHER.id]
    assert "is not below 1e-06" in report.baseline[OTHER.id] and report.scored == {SPEC.id: 30, OTHER.id: 30}


def test_the_band_width_matches_the_prophet_interval_width():
    from akidb_pipelines.forecast.seasonal_baseline import z_for

    assert z_for(ProphetParams().interval_width) == pytest.approx(Z95)
    assert z_for(0.80) == pytest.approx(1.2815515655446004)  # the 90th percentile of the normal (tables)


def test_minutes_of_a_day_type_the_model_never_saw_are_scored_against_the_baseline(tmp_path):
    """A model trained on four weekdays knows nothing of weekends: a weekend at 60% of weekday traffic was outside
    its band every minute. Its weekend minutes go to the seasonal baseline (earlier weekends in the lake), its
    weekday minutes stay its own."""
    days = 14
    n = days * 1440
    minutes = pd.date_range(START, periods=n, freq="1min")
    y = _daily(n, 3) * np.where(minutes.day_of_week >= 5, 0.6, 1.0)
    lake = Lake(tmp_path / "lake")
    staged = lake.staging_dir()
    with duckdb.connect() as con:
        con.register("g", pd.DataFrame({"minute": minutes, "tier": "t", "edge_location": "all", "requests": y}))
        con.execute("COPY (SELECT *, (epoch(date_trunc('hour', minute)) // 3600)::BIGINT AS _h FROM g) "
                    "TO $path (FORMAT parquet, PARTITION_BY (_h), OVERWRITE_OR_IGNORE)", {"path": str(staged)})
    lake.publish(TABLE, "test", staged, hour_partitions(START, START + timedelta(days=days)))
    cfg = _cfg(SPEC)
    fast = dc.replace(cfg.training.prophet, uncertainty_samples=50)
    cfg = dc.replace(cfg, resolution_minutes=15,
                     training=dc.replace(cfg.training, prophet=fast, window_days=4.0),
                     validation=dc.replace(cfg.validation, horizon_hours=6, period_hours=6, max_cutoffs=1,
                                           coverage=(0.0, 1.0)))
    friday = START + timedelta(days=11)                       # Friday of the second week; trained Mon-Thu
    trained = train_series(lake, cfg, SPEC, friday)
    assert trained.status == "promoted", trained.reasons
    scores, report = score_window(lake, cfg, load_detector_config(), friday + timedelta(hours=22),
                                  friday + timedelta(days=1, hours=2))
    weekend = scores["minute"].dt.day_of_week >= 5
    assert set(scores[~weekend]["model_version"]) == {trained.version} and (~weekend).sum() == 120
    assert set(scores[weekend]["model_version"]) == {"seasonal-baseline"} and weekend.sum() == 120
    assert "trained on no weekend day" in report.baseline[SPEC.id]
    assert scores[weekend]["direction"].notna().sum() <= 12   # the weekend's level is no anomaly


def test_a_series_declared_without_a_weekend_pattern_keeps_its_model_on_days_it_never_saw(tmp_path):
    """weekend_profile: off says the series has no weekend pattern (the edge latencies): its model serves the
    weekend too and, without a model, its baseline pools weekdays and weekends alike."""
    lake = _lake(tmp_path, 6)  # Monday..Saturday
    flat = dc.replace(SPEC, prophet=(("weekend_profile", "off"),))
    saturday = START + timedelta(days=5, hours=3)
    scores, report = score_window(lake, _cfg(flat), load_detector_config(), saturday, saturday + timedelta(hours=1))
    assert len(scores) == 60 and set(scores["model_version"]) == {"seasonal-baseline"}
    assert SPEC.id not in report.unscored
    # the same series with a weekend pattern has no earlier Saturday or Sunday to go by: unscored, with the reason
    _, typed = score_window(lake, _cfg(SPEC), load_detector_config(), saturday, saturday + timedelta(hours=1))
    assert "found 0" in typed.unscored[SPEC.id]
