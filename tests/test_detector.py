"""The anomaly detector: configuration, strict causality (rescoring a trailing context gives the same values),
missing points and zero-width bands, the 0.5 calibration boundary, k-of-n debouncing, a stable result on one
real NAB file (tests/data/nab, MIT licence notice beside it) with fixed seeds, and ``akidb nab-eval`` end to end."""

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
from akidb_pipelines.forecast.nab_eval import online_forecast, read_nab_csv
from akidb_pipelines.forecast.nab_scoring import (PROFILES, FileLabels, probationary_length, score_file,
                                                  window_rows)

NAB = Path(__file__).parent / "data" / "nab"
NAB_FILE = "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv"


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
    assert shipped.context_rows > shipped.scale_window


@pytest.mark.parametrize("data,field", [
    ({"treshold": 3}, "treshold"),
    ({"debounce_k": 4, "debounce_n": 3}, "debounce_k"),
    ({"threshold": -1}, "threshold"),
    ({"evidence": "magic"}, "evidence"),
    ({"scale_window": "big"}, "scale_window"),
    ({"online": {"refit_every": 3}}, "refit_every"),
    ({"online": {"prophet": {"interval_width": 2}}}, "interval_width"),
])
def test_bad_config_names_where_and_the_field(data, field):
    with pytest.raises(ValueError) as exc:
        DetectorConfig.from_mapping(data, "my/detector.yaml")
    assert "my/detector.yaml" in str(exc.value) and field in str(exc.value)


def test_unknown_section_in_yaml_is_rejected(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("detector: {}\ndetectr: {}\n")
    with pytest.raises(ValueError, match="detectr"):
        load_detector_config(p)


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


def test_strictly_causal_on_prefixes(shipped, nab_forecast):
    full = score_points(nab_forecast, shipped)
    for k in (50, 400, 777, len(nab_forecast) - 1):
        part = score_points(nab_forecast.iloc[:k], shipped)
        pd.testing.assert_frame_equal(part, full.iloc[:k])


def test_rescoring_a_trailing_context_gives_the_same_newest_rows(shipped, nab_forecast):
    # the shipped context (2 x 4 days + suppression) is longer than the test file: same detector, shorter windows
    cfg = dataclasses.replace(shipped, scale_window=200, suppress_rows=60, debounce_k=2, debounce_n=3)
    full = score_points(nab_forecast, cfg)
    ctx = cfg.context_rows
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
    n = 2 * config.scale_window + 10
    dev = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    dev[-1] = last
    ds = pd.date_range("2026-11-02", periods=n, freq="5min")
    return pd.DataFrame({"ds": ds, "y": dev, "yhat": 0.0, "yhat_lower": -10.0, "yhat_upper": 10.0})


def test_calibration_boundary_is_exactly_one_half(shipped):
    cfg = dataclasses.replace(shipped, scale="quantile", scale_quantile=1.0, debounce_k=1, debounce_n=1,
                              min_scale_rel=0.0, band_sigma_floor=0.0)
    at = score_points(boundary_frame(cfg, cfg.threshold), cfg).iloc[-1]
    assert at["anomaly_score"] == 0.5 and at["is_anomaly"]
    below = score_points(boundary_frame(cfg, cfg.threshold * (1 - 1e-9)), cfg).iloc[-1]
    assert below["anomaly_score"] < 0.5 and not below["is_anomaly"]
    above = score_points(boundary_frame(cfg, cfg.threshold * 3), cfg).iloc[-1]
    assert 0.5 < above["anomaly_score"] < 1 and above["is_anomaly"]


def test_k_of_n_debouncing(shipped):
    cfg = dataclasses.replace(shipped, scale="quantile", scale_quantile=1.0, debounce_k=2, debounce_n=3,
                              suppress_rows=0, min_scale_rel=0.0, band_sigma_floor=0.0)
    n = 2 * cfg.scale_window + 20
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
            "sum_anomaly_score": 93.77317225746818}


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
