"""`akidb nab-eval` on data as real NAB files come: a gap longer than the training window, rows out of time order,
repeated timestamps, a category folder given as a symbolic link. Each is repaired with a warning; none stops it.
The detector's windows are converted at the resolution seen before scoring starts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from akidb_pipelines.cli.args import EX_OK
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.nab_eval import discover, online_forecast, read_nab_csv
from tests.test_cli import run

GAP_DAYS = 7  # longer than the shipped detector's 5-day training window


def _series() -> pd.DataFrame:
    """5-minute data with a daily cycle: 2.8 days, a 7-day gap, 2.4 days; a spike on the second stretch."""
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2026-01-05 00:00:00")
    ts = [t0 + pd.Timedelta(minutes=5 * k) for k in range(800)]
    ts += [ts[-1] + pd.Timedelta(days=GAP_DAYS) + pd.Timedelta(minutes=5 * k) for k in range(700)]
    hours = np.array([(t - t0).total_seconds() / 3600 for t in ts])
    y = 100 + 20 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, len(ts))
    y[1300:1306] += 150
    return pd.DataFrame({"timestamp": [t.strftime("%Y-%m-%d %H:%M:%S") for t in ts], "value": y.round(3)})


def _write_messy(path, df: pd.DataFrame) -> None:  # noqa: ANN001
    """As found in the wild: two rows swapped far apart and three timestamps repeated."""
    messy = df.copy()
    messy.iloc[[100, 900]] = messy.iloc[[900, 100]].to_numpy()
    messy = pd.concat([messy, messy.iloc[[10, 500, 1000]]]).reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    messy.to_csv(path, index=False)


def test_rows_out_of_order_and_repeated_timestamps_are_repaired_with_a_warning(tmp_path):
    clean = _series()
    _write_messy(tmp_path / "f.csv", clean)
    warnings: list[str] = []
    df = read_nab_csv(tmp_path / "f.csv", warnings.append)
    assert df["ds"].is_monotonic_increasing and not df["ds"].duplicated().any()
    assert len(df) == len(clean)
    assert np.allclose(df["y"].to_numpy(), clean["value"].to_numpy())  # the repeats were copies: first row kept
    assert len(warnings) == 2
    assert "out of time order" in warnings[0] and "3 repeated timestamp(s)" in warnings[1]


def test_a_gap_longer_than_the_training_window_trains_on_the_values_before_it(tmp_path):
    cfg = load_detector_config()
    assert GAP_DAYS > cfg.online.train_window_days
    df = read_nab_csv(_write(tmp_path / "f.csv", _series()))
    warnings: list[str] = []
    fc = online_forecast(df, cfg, warn=warnings.append)
    after = fc.iloc[800:]
    assert np.isfinite(after["yhat"]).all() and (after["fit_id"] >= 0).all()
    first = after.iloc[:50]
    assert (first["yhat"] - first["y"]).abs().mean() < 15  # the model of the data before the gap still fits
    assert any("a gap in the data" in w and "trained on the data before the gap" in w for w in warnings)


def test_nab_eval_goes_on_through_a_symlinked_folder_a_gap_and_disorder(tmp_path, capsys):
    real = tmp_path / "elsewhere" / "realOdd"
    _write_messy(real / "odd.csv", _series())
    data = tmp_path / "data"
    data.mkdir()
    (data / "realOdd").symlink_to(real, target_is_directory=True)
    (data / "loop").symlink_to(data, target_is_directory=True)  # a link back up the tree is walked once
    labels = tmp_path / "windows.json"
    ts = _series()["timestamp"]
    labels.write_text(json.dumps({"realOdd/odd.csv": [[f"{ts[1280]}.000000", f"{ts[1340]}.000000"]]}))  # the spike
    assert discover(data, json.loads(labels.read_text())) == ["realOdd/odd.csv"]
    code, text, err = run(["nab-eval", "--data", str(data), "--labels", str(labels), "--out", str(tmp_path / "out"),
                           "--json", str(tmp_path / "r.json"), "--quiet"], capsys)
    assert code == EX_OK, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["files"] == 1 and report["windows"] == 1
    assert report["events"]["windows_detected"] == 1  # the spike after the gap is found
    warned = "\n".join(report["warnings"])
    assert "out of time order" in warned and "repeated timestamp" in warned and "a gap in the data" in warned
    assert "warnings (" in text
    res = pd.read_csv(tmp_path / "out" / "realOdd" / "akidb_odd.csv")
    assert len(res) == 1500 and res["timestamp"].is_monotonic_increasing


def _write(path, df: pd.DataFrame):  # noqa: ANN001, ANN202
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def test_the_resolution_nab_eval_uses_is_known_before_scoring_starts():
    """A file sampled every 5 minutes during its probationary rows and every minute after: the detector's windows
    are converted at 5 minutes (what was seen while learning), not at the later rows' minute (which the whole
    file's median would give)."""
    from akidb_pipelines.forecast.detector_config import infer_resolution
    from akidb_pipelines.forecast.nab_eval import seen_resolution

    t0 = pd.Timestamp("2026-01-05")
    ds = pd.Series([t0 + pd.Timedelta(minutes=5 * k) for k in range(30)]
                   + [t0 + pd.Timedelta(minutes=150 + k) for k in range(200)])
    assert infer_resolution(ds) == pd.Timedelta(minutes=1)
    assert seen_resolution(ds, probation=30) == pd.Timedelta(minutes=5)
    assert seen_resolution(ds, probation=0) == pd.Timedelta(minutes=5)  # at least the first two rows
