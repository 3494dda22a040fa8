"""The NAB scorer against hand-computed cases (NAB v1.1's published rules; constants worked out by hand below).

Layout used by most cases: 20 rows, probationary period 2 rows, one window on rows 10..14 (width 5).
S(x) = 2 / (1 + exp(5x)) - 1 is NAB's scaled sigmoid:
  S(-1)   = 2 / (1 + e^-5)   - 1 = 0.9866143   (first row of a window; the weight there is tp exactly)
  S(-0.2) = 2 / (1 + e^-1)   - 1 = 0.4621172   (last row of a width-5 window: position -(1)/5)
  S(-0.6) = 2 / (1 + e^-3)   - 1 = 0.9051483   (row 12: position -(14 - 12 + 1)/5)
  S(0.5)  = 2 / (1 + e^2.5)  - 1 = -0.8482836  (two rows after the window: |14 - 16| / (5 - 1))
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from akidb_pipelines.forecast.nab_scoring import (PROFILES, FileLabels, normalized, null_score, perfect_score,
                                                  probationary_length, row_weights, scaled_sigmoid, score_file,
                                                  sweep_threshold, window_rows)

STD, LOW_FP, LOW_FN = PROFILES["standard"], PROFILES["reward_low_FP_rate"], PROFILES["reward_low_FN_rate"]
LAYOUT = FileLabels(rows=20, windows=((10, 14),), probation=2)


def detections(*rows: int, n: int = 20) -> np.ndarray:
    a = np.zeros(n)
    a[list(rows)] = 1.0
    return a


def test_profiles_are_nab_v11():
    assert STD == {"tp": 1.0, "fp": 0.11, "fn": 1.0, "tn": 1.0}
    assert LOW_FP == {"tp": 1.0, "fp": 0.22, "fn": 1.0, "tn": 1.0}
    assert LOW_FN == {"tp": 1.0, "fp": 0.11, "fn": 2.0, "tn": 1.0}


def test_probationary_period_is_15_percent_capped_at_750():
    assert probationary_length(4032) == 604   # floor(604.8)
    assert probationary_length(1243) == 186   # floor(186.45)
    assert probationary_length(5000) == 750
    assert probationary_length(10000) == 750  # 1500 capped


def test_scaled_sigmoid_values():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.9866143, abs=1e-7)
    assert scaled_sigmoid(-0.2) == pytest.approx(0.4621172, abs=1e-7)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(0.5) == pytest.approx(-0.8482836, abs=1e-7)
    assert scaled_sigmoid(3.0) == -1.0 and scaled_sigmoid(7.0) == -1.0


def test_detection_at_the_start_of_the_window_scores_tp_exactly():
    assert score_file(detections(10), LAYOUT, STD, 0.5).raw == pytest.approx(1.0, abs=1e-12)


def test_late_detection_scores_little():
    # last row of the window: S(-0.2) / S(-1) = 0.4621172 / 0.9866143
    assert score_file(detections(14), LAYOUT, STD, 0.5).raw == pytest.approx(0.4683868, abs=1e-6)


def test_only_the_first_detection_of_a_window_counts():
    # rows 12, 13, 14 fire: row 12 counts, S(-0.6) / S(-1) = 0.9051483 / 0.9866143; the others add nothing
    assert score_file(detections(12, 13, 14), LAYOUT, STD, 0.5).raw == pytest.approx(0.9174287, abs=1e-6)


def test_no_detection_is_a_false_negative():
    assert score_file(np.zeros(20), LAYOUT, STD, 0.5).raw == -1.0
    assert score_file(np.zeros(20), LAYOUT, LOW_FN, 0.5).raw == -2.0


def test_false_positive_before_any_window_costs_the_full_fp_weight():
    # -0.11 for the FP at row 5, -1 for the missed window
    assert score_file(detections(5), LAYOUT, STD, 0.5).raw == pytest.approx(-1.11, abs=1e-12)
    assert score_file(detections(5), LAYOUT, LOW_FP, 0.5).raw == pytest.approx(-1.22, abs=1e-12)


def test_false_positive_just_after_a_window_costs_less():
    # row 16: position |14 - 16| / (5 - 1) = 0.5, weight 0.11 * S(0.5) = -0.0933112; plus the missed window
    fs = score_file(detections(16), LAYOUT, STD, 0.5)
    assert fs.raw == pytest.approx(-1.0 - 0.0933112, abs=1e-6)
    assert fs.fp_rows == 1 and fs.detected_windows == 0
    # a detection in the window and one right after it: 1.0 - 0.0933112
    assert score_file(detections(10, 16), LAYOUT, STD, 0.5).raw == pytest.approx(0.9066888, abs=1e-6)


def test_false_positive_far_after_a_window_costs_the_full_weight():
    layout = FileLabels(rows=40, windows=((10, 14),), probation=2)
    # row 30: position 16 / 4 = 4 >= 3, S = -1
    assert score_file(detections(10, 30, n=40), layout, STD, 0.5).raw == pytest.approx(1.0 - 0.11, abs=1e-12)


def test_probationary_rows_are_never_scored():
    assert score_file(detections(0, 1), LAYOUT, STD, 0.5).raw == -1.0
    assert score_file(detections(0, 1), LAYOUT, STD, 0.5).fp_rows == 0


def test_threshold_is_inclusive():
    a = np.zeros(20)
    a[10] = 0.5
    assert score_file(a, LAYOUT, STD, 0.5).raw == pytest.approx(1.0)
    assert score_file(a, LAYOUT, STD, 0.5000001).raw == -1.0


def test_null_and_perfect_detectors_normalize_to_0_and_100():
    layout = FileLabels(rows=60, windows=((10, 14), (30, 39)), probation=3)
    for prof in PROFILES.values():
        null, perfect = null_score(layout, prof), perfect_score(layout, prof)
        assert null == -2 * prof["fn"]
        assert perfect == pytest.approx(2 * prof["tp"])
        assert normalized(null, null, perfect) == 0.0
        assert normalized(perfect, null, perfect) == pytest.approx(100.0)
    # one window at its start, the other missed: raw 0 -> 50 in the standard profile
    raw = score_file(detections(10, n=60), layout, STD, 0.5).raw
    assert raw == pytest.approx(0.0, abs=1e-12)
    assert normalized(raw, -2.0, 2.0) == pytest.approx(50.0)


def test_row_weights_follow_the_sigmoid_inside_and_after_the_window():
    w = row_weights(LAYOUT, STD)
    assert w[0] == w[1] == 0.0                          # probationary
    assert w[5] == pytest.approx(-0.11)                 # before any window
    assert list(np.diff(w[10:15]) < 0) == [True] * 4    # earlier in the window is worth more
    assert w[10] == pytest.approx(1.0) and w[14] == pytest.approx(0.4683868, abs=1e-6)
    assert w[16] == pytest.approx(-0.0933112, abs=1e-6)


def test_sweep_picks_the_best_corpus_threshold():
    # file A: FP at 0.95 (row 5), window start at 0.9 (row 10), another FP at 0.3 (row 18, far: 4/4 = 1 -> S(1))
    a = np.zeros(20)
    a[5], a[10], a[18] = 0.95, 0.9, 0.3
    # file B: no window, an FP at 0.6
    b = np.zeros(20)
    b[7] = 0.6
    layout_b = FileLabels(rows=20, windows=(), probation=2)
    # thresholds: never -> -1; 0.95 -> -1.11; 0.9 -> 0.89; 0.6 -> 0.78; 0.3 -> 0.78 + 0.11 * S(1)
    t, best = sweep_threshold([(a, LAYOUT), (b, layout_b)], STD)
    assert t == 0.9
    assert best == pytest.approx(0.89, abs=1e-12)
    total_at_t = score_file(a, LAYOUT, STD, t).raw + score_file(b, layout_b, STD, t).raw
    assert total_at_t == pytest.approx(best, abs=1e-12)


def test_sweep_prefers_never_firing_when_everything_is_a_false_positive():
    # 0.7 on rows 3..7 (before the window); threshold 0 would fire on the window start (+1) but also on the
    # ~180 rows outside it (each -0.11 or nearly)
    layout = FileLabels(rows=200, windows=((10, 14),), probation=2)
    a = np.zeros(200)
    a[3:8] = 0.7
    t, best = sweep_threshold([(a, layout)], STD)
    assert math.isinf(t) and best == -1.0
    assert score_file(a, layout, STD, 0.0).raw < -10


def test_window_rows_maps_timestamps_and_rejects_unknown_ones():
    import pandas as pd

    ts = pd.date_range("2014-04-01", periods=10, freq="5min")
    assert window_rows(ts, [["2014-04-01 00:10:00.000000", "2014-04-01 00:20:00.000000"]]) == ((2, 4),)
    with pytest.raises(ValueError, match="timestamps of the file"):
        window_rows(ts, [["2014-04-01 00:11:00", "2014-04-01 00:20:00"]])


# -- leave-one-category-out cross-validation (forecast/nab_cv.py) -------------------------------------------------

def test_cross_validation_chooses_on_the_other_categories_and_scores_the_held_out_one(monkeypatch):
    """The selection arithmetic, with the detector's raw scores given (the detector is tested elsewhere). Three
    categories: X (two files, a window each), Y (one file, one window), Z (one file, no window); a grid of two
    settings c0 (threshold 1.0) and c1 (threshold 2.0). Every window: null -1, perfect +1.

        raw        X1     X2     Y      Z
        c0        1.0    0.5   -1.0  -0.22
        c1       -1.0    0.8    0.9   0.0

    Hold X out: on Y+Z (null -1, perfect 1) c0 = 100 * (-1.22 + 1) / 2 = -11, c1 = 100 * (0.9 + 1) / 2 = 95:
      c1; on X (null -2, perfect 2): 100 * (-0.2 + 2) / 4 = 45.
    Hold Y out: on X+Z c0 = 100 * (1.28 + 2) / 4 = 82, c1 = 100 * (-0.2 + 2) / 4 = 45: c0; on Y: 0.
    Hold Z out: on X+Y c0 = 100 * (0.5 + 3) / 6 = 58.3, c1 = 100 * (0.7 + 3) / 6 = 61.7: c1; no window, raw 0.
    Pooled held-out: raw -0.2 - 1 + 0 = -1.2 over null -3, perfect 3: 100 * 1.8 / 6 = 30.
    On everything: c0 = 100 * (0.28 + 3) / 6 = 54.7, c1 = 100 * (0.7 + 3) / 6 = 61.7: c1."""
    from akidb_pipelines.forecast import nab_cv
    from akidb_pipelines.forecast.detector import DetectorConfig

    win, none = FileLabels(rows=20, windows=((10, 14),), probation=2), FileLabels(rows=20, windows=(), probation=2)
    files = [nab_cv.NabFile(n, n.split("/")[0], lb, None) for n, lb in
             (("X/1.csv", win), ("X/2.csv", win), ("Y/1.csv", win), ("Z/1.csv", none))]
    table = {1.0: [1.0, 0.5, -1.0, -0.22], 2.0: [-1.0, 0.8, 0.9, 0.0]}
    monkeypatch.setattr(nab_cv, "raw_scores",
                        lambda fs, cfg: (np.array(table[cfg.threshold]), np.array([0, 0, 0, 2 * (cfg.threshold == 1)])))
    rep = nab_cv.cross_validate(files, DetectorConfig(), {"threshold": (1.0, 2.0)})
    folds = {f.held_out: f for f in rep.folds}
    assert [f.chosen["threshold"] for f in rep.folds] == [2.0, 1.0, 2.0]  # X, Y, Z in order
    assert folds["X"].train_score == pytest.approx(95.0) and folds["X"].held_out_score == pytest.approx(45.0)
    assert folds["Y"].train_score == pytest.approx(82.0) and folds["Y"].held_out_score == pytest.approx(0.0)
    assert folds["Z"].train_score == pytest.approx(370 / 6) and folds["Z"].held_out_score is None
    assert folds["Z"].held_out_raw == 0.0 and folds["Z"].held_out_fp_rows == 0
    assert (folds["X"].held_out_windows, folds["Y"].held_out_windows, folds["Z"].held_out_windows) == (2, 1, 0)
    assert rep.pooled_held_out == pytest.approx(30.0)
    assert rep.chosen_on_all == {"threshold": 2.0} and rep.score_on_all == pytest.approx(370 / 6)
    assert rep.best_by_value == {"threshold": {"1.0": pytest.approx(328 / 6), "2.0": pytest.approx(370 / 6)}}


def test_cross_validation_grid_and_refusal():
    import pandas as pd

    from akidb_pipelines.forecast import nab_cv
    from akidb_pipelines.forecast.detector import DetectorConfig

    configs = nab_cv.grid_configs(DetectorConfig(), {"threshold": (1.0, 1.1), "suppress": ("0m", "3h", "12h")})
    assert len(configs) == 6 and configs[0][0] == {"threshold": 1.0, "suppress": "0m"}
    assert configs[-1][1].threshold == 1.1 and configs[-1][1].suppress == pd.Timedelta(hours=12)
    base = dataclasses.replace(DetectorConfig(), online=dataclasses.replace(DetectorConfig().online,
                                                                            exclude_anomalies=True))
    with pytest.raises(ValueError, match="exclude_anomalies"):
        nab_cv.load_corpus(Path("."), Path("x.json"), base, None)
