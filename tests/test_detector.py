"""The anomaly detector: configuration (windows as durations), the series' resolution taken from its timestamps
and the same decisions at the same times whether it is sampled every minute or every five, 12 hours of repeat
suppression at both, strict causality (rescoring a trailing context gives the same values), missing points and
zero-width bands, the 0.5 calibration boundary, debouncing, a stable result on one real NAB file (tests/data/nab,
MIT licence notice beside it) with fixed seeds, and ``akidb nab-eval`` end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.forecast.detector import DetectorConfig, load_detector_config, score_points
from akidb_pipelines.forecast.detector_config import (DetectorConfigError, format_duration, infer_resolution,
                                                      parse_duration)
from akidb_pipelines.forecast.nab_eval import online_forecast, read_nab_csv
from akidb_pipelines.forecast.nab_scoring import (PROFILES, FileLabels, probationary_length, score_file,
                                                  window_rows)

NAB = Path(__file__).parent / "data" / "nab"
NAB_FILE = "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv"
MIN, FIVE = pd.Timedelta(minutes=1), pd.Timedelta(minutes=5)


@pytest.fixture(scope="module")
def shipped() -> DetectorConfig:
    return load_detector_config()


@pytest.fixture(scope="module")
def nab_forecast(shipped: DetectorConfig) -> pd.DataFrame:
    """The online Prophet forecast of the shipped NAB file (1,243 rows, ~5 fits, a couple of seconds)."""
    return online_forecast(read_nab_csv(NAB / "data" / NAB_FILE), shipped)


def synthetic(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-11-02", periods=n, freq="5min")
    yhat = 100 + 10 * np.sin(np.arange(n) / 288 * 2 * np.pi)
    y = yhat + rng.normal(0, 2, n)
    y[[150, 151, 152, 400]] += [40, 45, 50, -60]
    return pd.DataFrame({"ds": ds, "y": y, "yhat": yhat, "yhat_lower": yhat - 4, "yhat_upper": yhat + 4})


# -- configuration -------------------------------------------------------------------------------------------------

def test_shipped_config_loads_and_documents_every_setting(shipped):
    text = (Path(__file__).resolve().parents[1] / "akidb_pipelines" / "config" / "detector.yaml").read_text()
    for f in dataclasses.fields(DetectorConfig):
        if f.name != "online":
            assert f"\n  {f.name}:" in text, f"{f.name} missing from detector.yaml"
    assert "online:" in text and "refit_every_hours" in text and "train_window_days" in text
    # production scores 1-minute rows: context_rows counts minutes (two scale windows for the quantile scale's
    # median and quantile, the debounce window, the suppression window, the row itself)
    minutes = lambda td: int(td / MIN)  # noqa: E731
    assert shipped.context_rows == (2 * minutes(shipped.scale_window) + max(1, minutes(shipped.debounce_within))
                                    + minutes(shipped.suppress) + 1)


@pytest.mark.parametrize("data,field", [
    ({"treshold": 3}, "treshold"),
    ({"debounce_hold": "20m", "debounce_within": "15m"}, "debounce_hold"),
    ({"threshold": -1}, "threshold"),
    ({"evidence": "magic"}, "evidence"),
    ({"scale_window": "big"}, "scale_window"),
    ({"scale_window": 1152}, "scale_window"),
    ({"suppress_rows": 144}, "suppress_rows"),
    ({"min_scale_history": "5d", "scale_window": "4d"}, "min_scale_history"),
    ({"online": {"refit_every": 3}}, "refit_every"),
    ({"online": {"prophet": {"interval_width": 2}}}, "interval_width"),
])
def test_bad_config_names_where_and_the_field(data, field):
    with pytest.raises(ValueError) as exc:
        DetectorConfig.from_mapping(data, "my/detector.yaml")
    assert "my/detector.yaml" in str(exc.value) and field in str(exc.value)


@pytest.mark.parametrize("text,expected", [
    ("30m", pd.Timedelta(minutes=30)), ("12h", pd.Timedelta(hours=12)), ("4d", pd.Timedelta(days=4)),
    ("2w", pd.Timedelta(days=14)), ("90s", pd.Timedelta(seconds=90)), ("0m", pd.Timedelta(0)),
    (" 3h ", pd.Timedelta(hours=3)),
])
def test_durations_parse(text, expected):
    assert parse_duration(text, "x") == expected


@pytest.mark.parametrize("value", ["4 days", "1.5h", "-3h", "h", "12", "", "4d2h", None, True, 2.5, 1152])
def test_a_bad_duration_is_one_line_naming_the_field(value):
    with pytest.raises(DetectorConfigError) as exc:
        parse_duration(value, "detector.yaml: detector.suppress")
    msg = str(exc.value)
    assert msg.startswith("detector.yaml: detector.suppress: expected a duration such as 30m, 12h or 4d")
    assert "\n" not in msg
    if value == 1152:
        assert "not a row count" in msg


def test_durations_print_back_in_the_largest_whole_unit():
    for text in ("4d", "12h", "90m", "2w", "45s", "0m"):
        assert format_duration(parse_duration(text, "x")) == text
    assert format_duration(pd.Timedelta(hours=48)) == "2d" and format_duration(pd.Timedelta(minutes=120)) == "2h"


def test_a_config_made_in_code_takes_duration_strings(shipped):
    cfg = dataclasses.replace(shipped, suppress="3h", scale_window="1d")
    assert cfg.suppress == pd.Timedelta(hours=3) and cfg.scale_window == pd.Timedelta(days=1)
    assert cfg.to_dict()["suppress"] == "3h" and cfg.to_dict()["online"]["seed"] == shipped.online.seed


def test_unknown_section_in_yaml_is_rejected(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("detector: {}\ndetectr: {}\n")
    with pytest.raises(ValueError, match="detectr"):
        load_detector_config(p)


# -- windows in time ----------------------------------------------------------------------------------------------

def test_resolution_is_the_median_spacing_of_the_timestamps():
    five = pd.date_range("2026-11-02", periods=300, freq="5min")
    assert infer_resolution(five) == FIVE
    # a two-hour gap, a jittered row and a repeated timestamp do not move it
    messy = five.delete(range(100, 124)).insert(50, five[50] + pd.Timedelta(seconds=70))
    messy = messy.sort_values().append(pd.DatetimeIndex([five[-1]]))
    assert infer_resolution(messy) == FIVE
    assert infer_resolution(pd.date_range("2026-11-02", periods=90, freq="1min")) == MIN
    assert infer_resolution(pd.date_range("2026-11-02", periods=48, freq="h")) == pd.Timedelta(hours=1)
    # no spacing to measure: production's minute
    assert infer_resolution(five[:1]) == MIN and infer_resolution([]) == MIN


def test_windows_become_rows_at_the_series_resolution():
    cfg = DetectorConfig(scale_window="4d", min_scale_history="2h", debounce_hold="10m", debounce_within="15m",
                         suppress="12h")
    at5, at1 = cfg.rows(FIVE), cfg.rows(MIN)
    # 4 days = 4 * 24 * 12 five-minute rows = 4 * 24 * 60 minutes; 12 h = 144 / 720; 2 h = 24 / 120
    assert (at5.scale, at5.suppress, at5.min_scale) == (1152, 144, 24)
    assert (at1.scale, at1.suppress, at1.min_scale) == (5760, 720, 120)
    # debouncing: 10 of the last 15 minutes = 2 of 3 five-minute rows, 10 of 15 one-minute rows
    assert (at5.debounce_k, at5.debounce_n) == (2, 3) and (at1.debounce_k, at1.debounce_n) == (10, 15)
    assert at1.context == 2 * 5760 + 15 + 720 + 1 == cfg.context_rows
    # coarse data: windows shorter than a row still span at least one row (the scale at least two)
    hourly = cfg.rows(pd.Timedelta(hours=1))
    assert (hourly.scale, hourly.min_scale, hourly.debounce_k, hourly.debounce_n) == (96, 2, 1, 1)
    daily = DetectorConfig(scale_window="1d", min_scale_history="1h").rows(pd.Timedelta(days=1))
    assert (daily.scale, daily.min_scale) == (2, 1)
    off = DetectorConfig(suppress="0m").rows(FIVE)
    assert off.suppress == 0 and (off.debounce_k, off.debounce_n) == (1, 1)


def minutes_series(days: float, bumps: list[tuple[str, float, int]]) -> pd.DataFrame:
    """A 1-minute series whose residual against the forecast is a 20-minute sine of amplitude 1.5 (so the largest
    past deviation is 1.5 whether sampled every minute or every five: the 5-minute samples hit its peaks), plus
    ``bumps``: (start, height, minutes) excursions on the 5-minute grid. Band +-4 around a daily cycle."""
    ds = pd.date_range("2026-11-02", periods=int(days * 1440), freq="1min")
    t = np.arange(len(ds))
    yhat = 100 + 10 * np.sin(2 * np.pi * t / 1440)
    y = yhat + 1.5 * np.sin(2 * np.pi * t / 20)
    for start, height, length in bumps:
        at = (ds >= pd.Timestamp(start)) & (ds < pd.Timestamp(start) + pd.Timedelta(minutes=length))
        y[at] += height
    return pd.DataFrame({"ds": ds, "y": y, "yhat": yhat, "yhat_lower": yhat - 4, "yhat_upper": yhat + 4})


def alerts(frame: pd.DataFrame, cfg: DetectorConfig) -> list[pd.Timestamp]:
    out = score_points(frame, cfg)
    return list(out.loc[out["is_anomaly"], "ds"])


def every_five(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["ds"].dt.minute % 5 == 0].reset_index(drop=True)


# (start, height, minutes, alerts with a 4-day scale window): each alerting incident is larger than every earlier
# one by far (a new extreme); the second is smaller than the first and 30 hours after it, so inside 4 days of it
# (no alert) but outside 1152 one-minute rows, what "4 days" meant when windows were rows at 5 minutes
INCIDENTS = [("2026-11-04 10:00", 8.0, 30, True), ("2026-11-05 16:00", 6.0, 30, False),
             ("2026-11-06 03:00", -16.0, 20, True), ("2026-11-07 15:00", 30.0, 10, True)]


@pytest.mark.parametrize("which", ["shipped", "4d-12h"])
def test_the_same_series_at_1_and_5_minutes_gets_the_same_decisions_at_the_same_times(shipped, which):
    cfg = shipped if which == "shipped" else dataclasses.replace(shipped, scale_window="4d", suppress="12h")
    one = minutes_series(6.5, [i[:3] for i in INCIDENTS])
    at1, at5 = alerts(one, cfg), alerts(every_five(one), cfg)
    assert len(at1) == len(at5) and all(abs(a - b) <= FIVE for a, b in zip(at1, at5)), (at1, at5)
    onsets = [pd.Timestamp(i[0]) for i in INCIDENTS]
    assert all(min(abs(a - o) for o in onsets) <= FIVE for a in at1 + at5), (at1, at5)  # nothing else alerts
    big = [pd.Timestamp(i[0]) for i in INCIDENTS if i[3]]
    assert all(any(abs(a - o) <= FIVE for a in at1) for o in big), (at1, big)
    if which == "4d-12h":
        assert at1 == at5 == big


def test_debouncing_holds_for_a_duration_at_1_minute(shipped):
    """10 of the last 15 minutes, on 1-minute rows: a 9-minute excursion is not enough, a 10-minute one alerts at
    its 10th minute and for as long as 10 of the last 15 minutes were outside (until its 15th minute)."""
    ds = pd.date_range("2026-11-02", periods=1440, freq="1min")
    y = np.full(len(ds), 100.0)
    y[(ds >= "2026-11-02 06:00") & (ds < "2026-11-02 06:09")] += 20   # 9 minutes
    y[(ds >= "2026-11-02 18:00") & (ds < "2026-11-02 18:10")] += 20   # 10 minutes
    frame = pd.DataFrame({"ds": ds, "y": y, "yhat": 100.0, "yhat_lower": 96.0, "yhat_upper": 104.0})
    cfg = dataclasses.replace(shipped, evidence="band", debounce_hold="10m", debounce_within="15m", suppress="0m")
    assert alerts(frame, cfg) == list(pd.date_range("2026-11-02 18:09", "2026-11-02 18:14", freq="1min"))


def test_repeats_are_suppressed_for_12_hours_of_time_at_1_and_5_minutes(shipped):
    # scale window 1 h: the robust scale has forgotten each bump before the next, only the suppression remembers
    cfg = dataclasses.replace(shipped, threshold=1.05, evidence="robust", scale="quantile", scale_quantile=1.0,
                              scale_window="1h", min_scale_history="30m", debounce_hold="0m", debounce_within="0m",
                              suppress="12h", suppress_ratio=1.0)
    a, b, c = "2026-11-02 06:00", "2026-11-02 12:00", "2026-11-03 02:00"   # b: 6 h after a; c: 13.5 h after b
    d, e = "2026-11-03 13:00", "2026-11-04 02:00"                          # d: 11 h after c; e: 12.5 h after d
    one = minutes_series(2.5, [(a, 5.0, 30), (b, 3.0, 30), (c, 3.0, 30), (d, 2.5, 30), (e, 2.5, 30)])
    expected = [pd.Timestamp(a), pd.Timestamp(c), pd.Timestamp(e)]  # b and d come within 12 h of a bigger one
    assert alerts(one, cfg) == expected
    assert alerts(every_five(one), cfg) == expected
    # the suppression is what mutes b and d: with 2 hours of it, every bump alerts at both resolutions
    short = dataclasses.replace(cfg, suppress="2h")
    everyone = [pd.Timestamp(x) for x in (a, b, c, d, e)]
    assert alerts(one, short) == everyone and alerts(every_five(one), short) == everyone


# -- properties ----------------------------------------------------------------------------------------------------

def test_output_columns_and_ranges(shipped):
    out = score_points(synthetic(), shipped)
    assert {"score", "direction", "anomaly_score", "confidence", "is_anomaly"} <= set(out.columns)
    assert out["anomaly_score"].between(0, 1).all() and out["confidence"].between(0, 1).all()
    assert (out["score"] >= 0).all()
    assert (out["is_anomaly"] == (out["anomaly_score"] >= 0.5)).all()
    assert set(out["direction"].dropna()) <= {"up", "down"}
    # the injected spike is flagged, upwards; the dip downwards
    assert out.loc[150, "is_anomaly"] and out.loc[150, "direction"] == "up"
    assert out.loc[400, "is_anomaly"] and out.loc[400, "direction"] == "down"
    # band exceedance in half-widths: 40 + noise above yhat, band half-width 4 -> about (40 - 4) / 4 = 9
    assert 7 < out.loc[150, "score"] < 11


def test_iqr_scale_is_a_rolling_robust_z(shipped):
    # noise sd 2: IQR / 1.349 is about 2, so the +40 spike is a z of about 20 and the -60 dip 30; the noise
    # (a 5-sigma excursion in 600 rows is unlikely) stays under the threshold of 5
    cfg = dataclasses.replace(shipped, scale="iqr", threshold=5.0, suppress="0m")
    out = score_points(synthetic(), cfg)
    assert out.loc[150, "is_anomaly"] and out.loc[400, "is_anomaly"]
    assert set(np.flatnonzero(out["is_anomaly"].to_numpy())) <= {150, 151, 152, 400}


def test_strictly_causal_on_prefixes(shipped, nab_forecast):
    full = score_points(nab_forecast, shipped)
    for k in (50, 400, 777, len(nab_forecast) - 1):
        part = score_points(nab_forecast.iloc[:k], shipped)
        pd.testing.assert_frame_equal(part, full.iloc[:k])


def test_rescoring_a_trailing_context_gives_the_same_newest_rows(shipped, nab_forecast):
    # the shipped context may be longer than the test file: same detector, windows of 200, 60 and 2 of 3 rows
    cfg = dataclasses.replace(shipped, scale_window="1000m", suppress="300m", debounce_hold="10m",
                              debounce_within="15m")
    full = score_points(nab_forecast, cfg)
    ctx = cfg.rows(FIVE).context
    assert ctx == 2 * 200 + 3 + 60 + 1
    n = len(nab_forecast)
    assert n > ctx + 20, "the test file must be longer than the detector's context"
    for end in (ctx + 20, n - 100, n):
        keep = 10
        tail = score_points(nab_forecast.iloc[end - keep - ctx + 1:end], cfg)
        pd.testing.assert_frame_equal(tail.iloc[-keep:], full.iloc[end - keep:end])
    # and the context really is needed: far too short a context changes the values somewhere
    short = score_points(nab_forecast.iloc[n - 60:], cfg)
    assert not np.allclose(short["anomaly_score"].to_numpy()[-40:], full["anomaly_score"].to_numpy()[-40:])


def test_missing_points_are_not_anomalies_and_do_not_break_neighbours(shipped):
    frame = synthetic()
    frame.loc[[10, 151, 300, 301, 302], "y"] = np.nan
    out = score_points(frame, shipped)
    gone = out.loc[[10, 151, 300, 301, 302]]
    assert (gone["score"] == 0).all() and not gone["is_anomaly"].any() and gone["direction"].isna().all()
    assert (gone["anomaly_score"] == 0).all()
    assert np.isfinite(out[["score", "anomaly_score", "confidence"]].to_numpy()).all()
    assert out.loc[150, "is_anomaly"] and out.loc[400, "is_anomaly"]


def test_zero_width_band(shipped):
    frame = synthetic()
    frame["yhat_lower"] = frame["yhat_upper"] = frame["yhat"]
    out = score_points(frame, shipped)
    assert np.isfinite(out[["score", "anomaly_score", "confidence"]].to_numpy()).all()
    assert out.loc[150, "is_anomaly"]
    flat = frame.assign(y=frame["yhat"])  # exactly on the forecast: nothing to report
    quiet = score_points(flat, shipped)
    assert (quiet["score"] == 0).all() and not quiet["is_anomaly"].any()


def boundary_frame(config: DetectorConfig, last: float) -> pd.DataFrame:
    """Residuals alternate +-1 around a forecast of 0, then one point ``last`` above the forecast. After two full
    scale windows every past window has an even count, median 0, so every past deviation is exactly 1."""
    n = 2 * config.rows(FIVE).scale + 10
    dev = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    dev[-1] = last
    ds = pd.date_range("2026-11-02", periods=n, freq="5min")
    return pd.DataFrame({"ds": ds, "y": dev, "yhat": 0.0, "yhat_lower": -10.0, "yhat_upper": 10.0})


def test_calibration_boundary_is_exactly_one_half(shipped):
    cfg = dataclasses.replace(shipped, scale="quantile", scale_quantile=1.0, debounce_hold="0m",
                              debounce_within="0m", min_scale_rel=0.0, band_sigma_floor=0.0)
    at = score_points(boundary_frame(cfg, cfg.threshold), cfg).iloc[-1]
    assert at["anomaly_score"] == 0.5 and at["is_anomaly"]
    below = score_points(boundary_frame(cfg, cfg.threshold * (1 - 1e-9)), cfg).iloc[-1]
    assert below["anomaly_score"] < 0.5 and not below["is_anomaly"]
    above = score_points(boundary_frame(cfg, cfg.threshold * 3), cfg).iloc[-1]
    assert 0.5 < above["anomaly_score"] < 1 and above["is_anomaly"]


def test_debouncing_10_of_15_minutes(shipped):
    # at 5 minutes: 2 of the last 3 rows
    cfg = dataclasses.replace(shipped, scale="quantile", scale_quantile=1.0, debounce_hold="10m",
                              debounce_within="15m", suppress="0m", min_scale_rel=0.0, band_sigma_floor=0.0)
    n = 2 * cfg.rows(FIVE).scale + 20
    dev = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    one = dev.copy()
    one[-5] = 10.0                       # one isolated excursion: not enough
    two = dev.copy()
    two[-5], two[-3] = 10.0, 20.0        # two within three rows (each beyond every earlier one): flagged at the second
    ds = pd.date_range("2026-11-02", periods=n, freq="5min")
    frame = lambda d: pd.DataFrame({"ds": ds, "y": 100 + d, "yhat": 100.0,  # noqa: E731
                                    "yhat_lower": 90.0, "yhat_upper": 110.0})
    assert not score_points(frame(one), cfg)["is_anomaly"].any()
    flagged = np.flatnonzero(score_points(frame(two), cfg)["is_anomaly"].to_numpy())
    assert list(flagged) == [n - 3]


# -- stability on a real NAB file ----------------------------------------------------------------------------------

def test_score_on_a_nab_file_is_stable(shipped, nab_forecast):
    """Fixed seeds: the same forecast band and the same detector output on every run and machine (values recorded
    from the shipped configuration; a change of detector or defaults must update them knowingly)."""
    df = read_nab_csv(NAB / "data" / NAB_FILE)
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())[NAB_FILE]
    labels = FileLabels(len(df), window_rows(df["ds"], windows), probationary_length(len(df)))
    again = online_forecast(df, shipped)
    pd.testing.assert_frame_equal(again, nab_forecast)
    out = score_points(nab_forecast, shipped)
    a = out["anomaly_score"].to_numpy().copy()
    a[: labels.probation] = 0.0
    fs = score_file(a, labels, PROFILES["standard"], 0.5)
    assert int(nab_forecast["fit_id"].max()) + 1 == EXPECTED["fits"]
    assert float(nab_forecast["yhat"].iloc[-1]) == pytest.approx(EXPECTED["last_yhat"], rel=1e-6)
    assert (fs.detected_windows, fs.fp_rows) == (EXPECTED["detected"], EXPECTED["fp_rows"])
    assert fs.raw == pytest.approx(EXPECTED["raw"], abs=1e-6)
    assert float(a.sum()) == pytest.approx(EXPECTED["sum_anomaly_score"], rel=1e-6)


# recorded with weekend_profile: auto (the file's 4-day trailing windows span a weekend)
EXPECTED = {"fits": 4, "last_yhat": 4371524.038222831, "detected": 0, "fp_rows": 2, "raw": -2.22,
            "sum_anomaly_score": 100.2974444265466}  # suppress 3h (12h gave 93.773): repeats mute for less time


# -- the command ---------------------------------------------------------------------------------------------------

from tests.test_cli import run  # noqa: E402 - ``akidb argv`` in-process, argparse's exit as the code


def test_nab_eval_command_on_a_tiny_folder(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(NAB / "data", data)
    out = tmp_path / "results"
    code, text, err = run(["nab-eval", "--data", str(data), "--labels", str(NAB / "labels" / "combined_windows.json"),
                           "--out", str(out), "--json", str(tmp_path / "r.json"), "--quiet"], capsys)
    assert code == EX_OK, err
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert profile in text
    assert "recall" in text and "false positives" in text and "median delay" in text
    res = pd.read_csv(out / "realAWSCloudwatch" / "akidb_iio_us-east-1_i-a2eb1cd9_NetworkIn.csv")
    assert list(res.columns) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(res) == 1243 and res["anomaly_score"].between(0, 1).all()
    assert res["label"].sum() == 63 + 63  # the two windows' rows
    assert (res["anomaly_score"].iloc[:186] == 0).all()  # probationary period: learning only
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["files"] == 1 and report["windows"] == 2
    assert set(report["swept"]) == set(PROFILES)
    assert (out / "report.txt").read_text() == text


def test_nab_eval_missing_inputs_exit_66_naming_the_file(tmp_path, capsys):
    labels = NAB / "labels" / "combined_windows.json"
    code, _, err = run(["nab-eval", "--data", str(tmp_path / "nope"), "--labels", str(labels),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == EX_NOINPUT and "nope" in err
    code, _, err = run(["nab-eval", "--data", str(NAB / "data"), "--labels", str(tmp_path / "missing.json"),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == EX_NOINPUT and "missing.json" in err
    bad = tmp_path / "bad" / "realAWSCloudwatch"
    bad.mkdir(parents=True)
    (bad / Path(NAB_FILE).name).write_text("time,val\n1,2\n")
    code, _, err = run(["nab-eval", "--data", str(tmp_path / "bad"), "--labels", str(labels),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == EX_NOINPUT and Path(NAB_FILE).name in err


def test_nab_eval_bad_config_exits_2(tmp_path, capsys):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("detector:\n  threshold: -3\n")
    code, _, err = run(["nab-eval", "--data", str(NAB / "data"), "--labels",
                        str(NAB / "labels" / "combined_windows.json"), "--out", str(tmp_path / "o"),
                        "--config", str(cfg)], capsys)
    assert code == EX_USAGE and "threshold" in err and "d.yaml" in err
