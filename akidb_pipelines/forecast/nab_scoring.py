"""NAB (Numenta Anomaly Benchmark) scoring; the online evaluation behind ``akidb nab-eval`` is in ``nab_eval``.

The scorer follows NAB v1.1's published description (numenta/NAB: ``nab/sweeper.py``, ``config/profiles.json``),
written from scratch here:

* The first ``min(floor(0.15 * rows), 750)`` rows of a file are the probationary period and are not scored.
* Every row gets a weight. Inside a window ``[s, e]`` (width ``w = e - s + 1``) the row ``i`` sits at the relative
  position ``p = -(e - i + 1) / w`` (-1 at the window's first row, close to 0 at its last); its weight is
  ``tp * S(p) / S(-1)`` where ``S(x) = 2 / (1 + exp(5x)) - 1`` is the scaled sigmoid (so the first row of a window
  is worth exactly ``tp``). Outside windows the weight is ``fp * S(p)`` with ``p = |e_prev - i| / (w_prev - 1)``
  measured from the end of the preceding window (``S = -1`` when ``p >= 3`` or there is no preceding window):
  a false positive just after a window costs less.
* At a threshold ``t`` the rows with ``anomaly_score >= t`` are detections. Each window scores the weight of its
  first detection (the largest, since weights fall through the window) or ``-fn`` when it has none; each detection
  outside a window adds its (negative) weight.
* The corpus score is the sum over files; it is normalised against the null detector (never fires: ``-fn`` per
  window) and the perfect detector (fires on each window's first row: ``tp`` per window):
  ``100 * (raw - null) / (perfect - null)``.
* The threshold sweep picks, per profile, the single corpus-wide threshold that maximises the summed raw score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0, "tn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0, "tn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0, "tn": 1.0},
}
PROBATION_FRACTION = 0.15
PROBATION_CAP = 750
OUTSIDE = -1       # window id of a scored row outside every window
PROBATION = -2     # window id of a row in the probationary period (never scored)


# -- scorer (pure functions) ---------------------------------------------------------------------------------------

def probationary_length(rows: int, fraction: float = PROBATION_FRACTION, cap: int = PROBATION_CAP) -> int:
    """Rows at the start of a file that are only learned from, never scored."""
    return int(min(math.floor(fraction * rows), cap))


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 2*sigmoid(-5x) - 1; S(-1) = 0.98661, S(0) = 0, and -1 from x >= 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True)
class FileLabels:
    """One file's scoring layout: the weight inputs per row."""

    rows: int
    windows: tuple[tuple[int, int], ...]  # inclusive row indices, in time order, not overlapping
    probation: int

    def window_ids(self) -> np.ndarray:
        ids = np.full(self.rows, OUTSIDE, dtype=int)
        for k, (s, e) in enumerate(self.windows):
            ids[s:e + 1] = k
        ids[: self.probation] = PROBATION
        return ids

    def scored_windows(self) -> list[int]:
        """Windows with at least one scored row (NAB drops windows inside the probationary period)."""
        return [k for k, (s, e) in enumerate(self.windows) if e >= self.probation]


def window_rows(timestamps: Sequence[Any], windows: Sequence[Sequence[Any]]) -> tuple[tuple[int, int], ...]:
    """Map ``[start, end]`` timestamp windows to inclusive row indices (both ends must be timestamps of the file)."""
    ts = pd.to_datetime(pd.Series(list(timestamps)))
    pos = {t: i for i, t in enumerate(ts)}
    out = []
    for w in windows:
        s, e = pd.Timestamp(w[0]), pd.Timestamp(w[1])
        if s not in pos or e not in pos:
            raise ValueError(f"window {w[0]} .. {w[1]}: both ends must be timestamps of the file")
        out.append((pos[s], pos[e]))
    out.sort()
    for (s1, e1), (s2, _e2) in zip(out, out[1:]):
        if s2 <= e1:
            raise ValueError("windows overlap")
    return tuple(out)


def row_weights(labels: FileLabels, profile: dict[str, float]) -> np.ndarray:
    """Each row's contribution if it is a detection (the first one of its window, for rows inside a window).
    Probationary rows get 0 (they are never scored)."""
    max_tp = scaled_sigmoid(-1.0)
    w = np.zeros(labels.rows)
    starts = {s: (s, e) for s, e in labels.windows}
    cur: tuple[int, int] | None = None
    prev: tuple[int, int] | None = None
    for i in range(labels.rows):
        if cur is None and i in starts:
            cur = starts[i]
        if cur is not None:
            s, e = cur
            width = e - s + 1
            w[i] = scaled_sigmoid(-(e - i + 1) / width) * profile["tp"] / max_tp
            if i == e:
                prev, cur = cur, None
        else:
            if prev is None or prev[1] - prev[0] < 1:
                p = 3.0
            else:
                p = abs(prev[1] - i) / (prev[1] - prev[0])  # width - 1
            w[i] = scaled_sigmoid(p) * profile["fp"]
    w[: labels.probation] = 0.0
    return w


@dataclass
class FileScore:
    raw: float
    detected_windows: int
    windows: int
    fp_rows: int
    first_detection: dict[int, int] = field(default_factory=dict)  # window id -> row of its first detection


def score_file(anomaly_score: np.ndarray, labels: FileLabels, profile: dict[str, float],
               threshold: float) -> FileScore:
    """NAB raw score of one file at one threshold (detections: ``anomaly_score >= threshold``)."""
    a = np.asarray(anomaly_score, dtype=float)
    if len(a) != labels.rows:
        raise ValueError(f"{len(a)} anomaly scores for {labels.rows} rows")
    w = row_weights(labels, profile)
    ids = labels.window_ids()
    det = np.nan_to_num(a, nan=-np.inf) >= threshold
    raw = float(w[det & (ids == OUTSIDE)].sum())
    fp = int((det & (ids == OUTSIDE)).sum())
    first: dict[int, int] = {}
    found = 0
    scored = labels.scored_windows()
    for k in scored:
        hits = np.flatnonzero(det & (ids == k))
        if len(hits):
            first[k] = int(hits[0])
            raw += float(w[hits[0]])
            found += 1
        else:
            raw -= profile["fn"]
    return FileScore(raw, found, len(scored), fp, first)


def null_score(labels: FileLabels, profile: dict[str, float]) -> float:
    """The detector that never fires: a false negative per window."""
    return -profile["fn"] * len(labels.scored_windows())


def perfect_score(labels: FileLabels, profile: dict[str, float]) -> float:
    """The detector that fires exactly on the first scored row of each window (and nowhere else)."""
    a = np.zeros(labels.rows)
    for k in labels.scored_windows():
        s, _ = labels.windows[k]
        a[max(s, labels.probation)] = 1.0
    return score_file(a, labels, profile, 1.0).raw


def normalized(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def sweep_threshold(files: Sequence[tuple[np.ndarray, FileLabels]], profile: dict[str, float]
                    ) -> tuple[float, float]:
    """The corpus-wide threshold maximising the summed raw score, and that score. Candidate thresholds are the
    distinct anomaly scores of the scored rows (detections: ``>= t``) plus "never fire" (returned as +inf).
    Among equal scores the highest threshold wins."""
    parts_score, parts_win, parts_w, parts_out = [], [], [], []
    base = 0.0
    offset = 0
    for a, labels in files:
        w = row_weights(labels, profile)
        ids = labels.window_ids()
        keep = ids != PROBATION
        scored = set(labels.scored_windows())
        keep &= (ids == OUTSIDE) | np.isin(ids, list(scored))
        base -= profile["fn"] * len(scored)
        parts_score.append(np.nan_to_num(np.asarray(a, float), nan=-np.inf)[keep])
        parts_w.append(w[keep])
        gid = np.where(ids[keep] == OUTSIDE, -1, ids[keep] + offset)
        parts_win.append(gid)
        offset += len(labels.windows)
    if not parts_score:
        return math.inf, 0.0
    s = np.concatenate(parts_score)
    w = np.concatenate(parts_w)
    g = np.concatenate(parts_win)
    order = np.argsort(-s, kind="stable")
    s, w, g = s[order], w[order], g[order]
    best_t, best = math.inf, base
    total = base
    win_best: dict[int, float] = {}
    i, n = 0, len(s)
    while i < n:
        t = s[i]
        if t == -np.inf:
            break
        j = i
        while j < n and s[j] == t:
            k = int(g[j])
            if k < 0:
                total += w[j]
            else:
                old = win_best.get(k)
                if old is None:
                    total += w[j] + profile["fn"]
                    win_best[k] = w[j]
                elif w[j] > old:
                    total += w[j] - old
                    win_best[k] = w[j]
            j += 1
        if total > best + 1e-12:
            best, best_t = total, float(t)
        i = j
    return best_t, float(best)


__all__ = ["PROFILES", "probationary_length", "scaled_sigmoid", "FileLabels", "window_rows", "row_weights",
           "FileScore", "score_file", "null_score", "perfect_score", "normalized", "sweep_threshold"]
