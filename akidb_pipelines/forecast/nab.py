"""NAB (Numenta Anomaly Benchmark) scoring and the online evaluation behind ``akidb nab-eval``.

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

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

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
DEFAULT_THRESHOLD = 0.5


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


# -- data ----------------------------------------------------------------------------------------------------------

class NabInputError(Exception):
    """A data or labels file is missing, unreadable or inconsistent (the message names the file)."""


def read_nab_csv(path: Path) -> pd.DataFrame:
    """A NAB data file (timestamp,value) as columns ds, y."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise NabInputError(f"{path}: cannot read: {exc}") from exc
    if list(df.columns[:2]) != ["timestamp", "value"]:
        raise NabInputError(f"{path}: expected columns timestamp,value, found {list(df.columns)}")
    try:
        ds = pd.to_datetime(df["timestamp"])
    except (ValueError, TypeError) as exc:
        raise NabInputError(f"{path}: bad timestamp: {exc}") from exc
    if not ds.is_monotonic_increasing:
        raise NabInputError(f"{path}: timestamps are not in time order")
    return pd.DataFrame({"ds": ds, "y": pd.to_numeric(df["value"], errors="coerce").astype(float)})


def discover(data_dir: Path, windows: dict[str, list]) -> list[str]:
    """Relative paths (``category/file.csv``) of the CSVs under data_dir that the labels file knows."""
    found = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.csv"))
    return [f for f in found if f in windows]


# -- online forecasting --------------------------------------------------------------------------------------------

def online_forecast(df: pd.DataFrame, config: Any, *, cache_dir: Path | None = None,
                    exclude: Callable[[pd.DataFrame], np.ndarray] | None = None) -> pd.DataFrame:
    """Run Prophet online over one series: the first fit sees the probationary rows only, then the model is refit
    every ``online.refit_every_hours`` on the trailing ``online.train_window_days`` of data before the refit time
    (never later rows) and forecasts until the next refit. The probationary rows themselves get the first model's
    in-sample fit (context for the detector's robust scaling; they are never scored). Returns ds, y, yhat,
    yhat_lower, yhat_upper, fit_id."""
    from akidb_pipelines.forecast.model import fit_prophet, predict

    on = config.online
    params = on.prophet_params()
    key = None
    if cache_dir is not None and exclude is None:
        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(df[["ds", "y"]], index=False).values.tobytes())
        h.update(json.dumps({k: v for k, v in asdict(on).items() if k != "exclude_anomalies"}, sort_keys=True,
                            default=str).encode())
        key = cache_dir / f"fc_{h.hexdigest()[:24]}.parquet"
        if key.exists():
            return pd.read_parquet(key)
    n = len(df)
    p = probationary_length(n)
    ds = df["ds"].reset_index(drop=True)
    y = df["y"].reset_index(drop=True).copy()
    out = np.full((n, 3), np.nan)
    fit_id = np.full(n, -1)
    start = max(p, min(on.min_train_rows, n))
    step = pd.Timedelta(hours=on.refit_every_hours)
    train = pd.Timedelta(days=on.train_window_days)
    i, fid = start, 0
    while i < n:
        t0 = ds.iloc[i]
        j = int(np.searchsorted(ds.to_numpy(), (t0 + step).to_datetime64(), side="left"))
        j = max(j, i + 1)
        lo = int(np.searchsorted(ds.to_numpy(), (t0 - train).to_datetime64(), side="left"))
        hist = pd.DataFrame({"ds": ds.iloc[lo:i], "y": y.iloc[lo:i]})
        if exclude is not None and fid > 0:
            mask = exclude(pd.DataFrame({"ds": ds.iloc[:i], "y": y.iloc[:i], "yhat": out[:i, 0],
                                         "yhat_lower": out[:i, 1], "yhat_upper": out[:i, 2]}))
            hist.loc[mask[lo:i], "y"] = np.nan
        model = fit_prophet(hist, params)
        if fid == 0:
            ins = predict(model, ds.iloc[:i], seed=on.seed)
            out[:i] = ins[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
        fc = predict(model, ds.iloc[i:j], seed=on.seed + fid + 1)
        out[i:j] = fc[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
        fit_id[i:j] = fid
        fid += 1
        i = j
    res = pd.DataFrame({"ds": ds, "y": y, "yhat": out[:, 0], "yhat_lower": out[:, 1], "yhat_upper": out[:, 2],
                        "fit_id": fit_id})
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        res.to_parquet(key)
    return res


# -- evaluation ----------------------------------------------------------------------------------------------------

@dataclass
class EvalReport:
    files: int
    windows: int
    rows: int
    seconds: float
    fits: int
    at_default: dict[str, dict[str, float]]   # profile -> {raw, null, perfect, score}
    swept: dict[str, dict[str, float]]        # profile -> {threshold, raw, null, perfect, score}
    events: dict[str, Any]                    # at the default threshold
    events_swept: dict[str, Any]              # at the standard profile's swept threshold
    per_file: list[dict[str, Any]]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _event_stats(results: list[tuple[str, pd.DataFrame, FileLabels, pd.Timestamp | None]], threshold: float,
                 label_points: dict[str, list[pd.Timestamp]]) -> dict[str, Any]:
    detected = total = fp_rows = fp_episodes = 0
    delays_rows: list[int] = []
    delays_min: list[float] = []
    label_delays_min: list[float] = []
    for name, res, labels, _ in results:
        a = res["anomaly_score"].to_numpy()
        fs = score_file(a, labels, PROFILES["standard"], threshold)
        detected += fs.detected_windows
        total += fs.windows
        fp_rows += fs.fp_rows
        ids = labels.window_ids()
        det = (a >= threshold) & (ids == OUTSIDE)
        fp_episodes += int(np.sum(det & ~np.concatenate([[False], det[:-1]])))
        ds = res["ds"]
        for k, row in fs.first_detection.items():
            s = max(labels.windows[k][0], labels.probation)
            delays_rows.append(row - s)
            delays_min.append((ds.iloc[row] - ds.iloc[s]).total_seconds() / 60)
            s_t, e_t = ds.iloc[labels.windows[k][0]], ds.iloc[labels.windows[k][1]]
            pts = [p for p in label_points.get(name, []) if s_t <= p <= e_t]
            if pts:
                label_delays_min.append((ds.iloc[row] - pts[0]).total_seconds() / 60)
    med = (lambda xs: float(np.median(xs)) if xs else None)  # noqa: E731
    return {"threshold": threshold, "windows_detected": detected, "windows": total,
            "recall": detected / total if total else None, "fp_rows_outside_windows": fp_rows,
            "fp_episodes_outside_windows": fp_episodes, "median_delay_rows_from_window_start": med(delays_rows),
            "median_delay_minutes_from_window_start": med(delays_min),
            "median_delay_minutes_from_labelled_point": med(label_delays_min)}


def evaluate(data_dir: str | Path, labels_file: str | Path, out_dir: str | Path | None, config: Any, *,
             cache_dir: str | Path | None = None, progress: Callable[[str], None] | None = None,
             files: Sequence[str] | None = None) -> EvalReport:
    """Run the detector online over every labelled NAB CSV under ``data_dir``, write NAB result files
    (``out_dir/<category>/akidb_<file>.csv``: timestamp,value,anomaly_score,label) and score them."""
    from akidb_pipelines.forecast.detector import score_points

    t_start = time.monotonic()
    data_dir, labels_file = Path(data_dir), Path(labels_file)
    try:
        windows = json.loads(labels_file.read_text())
    except (OSError, ValueError) as exc:
        raise NabInputError(f"{labels_file}: cannot read labels: {exc}") from exc
    label_points: dict[str, list[pd.Timestamp]] = {}
    lp = labels_file.parent / "combined_labels.json"
    if lp.is_file():
        label_points = {k: [pd.Timestamp(x) for x in v] for k, v in json.loads(lp.read_text()).items()}
    names = list(files) if files is not None else discover(data_dir, windows)
    if not names:
        raise NabInputError(f"{data_dir}: no CSV file listed in {labels_file}")
    results = []
    fits = 0
    exclude = None
    if config.online.exclude_anomalies:
        def exclude(ctx: pd.DataFrame) -> np.ndarray:
            return score_points(ctx, config)["is_anomaly"].to_numpy()
    for name in names:
        df = read_nab_csv(data_dir / name)
        try:
            labels = FileLabels(len(df), window_rows(df["ds"], windows[name]), probationary_length(len(df)))
        except ValueError as exc:
            raise NabInputError(f"{labels_file}: {name}: {exc}") from exc
        fc = online_forecast(df, config, cache_dir=Path(cache_dir) if cache_dir else None, exclude=exclude)
        fits += int(fc["fit_id"].max()) + 1
        res = score_points(fc, config)
        res.loc[: labels.probation - 1, "anomaly_score"] = 0.0  # learning only: never an alert
        res["label"] = (labels.window_ids() >= 0).astype(int)
        if out_dir is not None:
            path = Path(out_dir) / Path(name).parent / f"akidb_{Path(name).name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"timestamp": res["ds"].dt.strftime("%Y-%m-%d %H:%M:%S"), "value": df["y"],
                          "anomaly_score": res["anomaly_score"].round(6), "label": res["label"]}
                         ).to_csv(path, index=False)
        results.append((name, res, labels, None))
        if progress:
            fs = score_file(res["anomaly_score"].to_numpy(), labels, PROFILES["standard"], DEFAULT_THRESHOLD)
            progress(f"{name}: {fs.detected_windows}/{fs.windows} windows, {fs.fp_rows} FP rows, "
                     f"raw {fs.raw:+.2f} ({time.monotonic() - t_start:.0f}s)")
    at_default, swept = {}, {}
    pairs = [(r[1]["anomaly_score"].to_numpy(), r[2]) for r in results]
    for pname, prof in PROFILES.items():
        null = sum(null_score(lb, prof) for _, lb in pairs)
        perf = sum(perfect_score(lb, prof) for _, lb in pairs)
        raw = sum(score_file(a, lb, prof, DEFAULT_THRESHOLD).raw for a, lb in pairs)
        at_default[pname] = {"raw": raw, "null": null, "perfect": perf, "score": normalized(raw, null, perf)}
        t, best = sweep_threshold(pairs, prof)
        swept[pname] = {"threshold": t, "raw": best, "null": null, "perfect": perf,
                        "score": normalized(best, null, perf)}
    per_file = []
    for name, res, labels, _ in results:
        fs = score_file(res["anomaly_score"].to_numpy(), labels, PROFILES["standard"], DEFAULT_THRESHOLD)
        per_file.append({"file": name, "windows": fs.windows, "detected": fs.detected_windows, "fp_rows": fs.fp_rows,
                         "raw_standard": fs.raw})
    ev = _event_stats(results, DEFAULT_THRESHOLD, label_points)
    ev_s = _event_stats(results, swept["standard"]["threshold"], label_points)
    return EvalReport(files=len(results), windows=sum(lb.scored_windows().__len__() for _, lb in pairs),
                      rows=sum(lb.rows for _, lb in pairs), seconds=time.monotonic() - t_start, fits=fits,
                      at_default=at_default, swept=swept, events=ev, events_swept=ev_s, per_file=per_file,
                      config=asdict(config))


def report_text(rep: EvalReport) -> str:
    """The report ``akidb nab-eval`` prints."""
    lines = [f"NAB evaluation: {rep.files} files, {rep.windows} windows, {rep.rows:,} rows, {rep.fits} Prophet fits, "
             f"{rep.seconds:.0f}s",
             "",
             f"{'profile':22s} {'score @0.5':>10s} {'raw':>8s}   {'swept score':>11s} {'raw':>8s} {'threshold':>10s}"]
    for p in PROFILES:
        d, s = rep.at_default[p], rep.swept[p]
        t = "never" if not math.isfinite(s["threshold"]) else f"{s['threshold']:.4f}"
        lines.append(f"{p:22s} {d['score']:10.1f} {d['raw']:8.2f}   {s['score']:11.1f} {s['raw']:8.2f} {t:>10s}")
    lines.append(f"(null detector: {rep.at_default['standard']['null']:.1f} raw = 0; perfect: "
                 f"{rep.at_default['standard']['perfect']:.1f} raw = 100; standard profile)")
    for title, ev in (("at the shipped default (anomaly_score >= 0.5)", rep.events),
                      (f"at the swept standard threshold ({ev_t(rep)})", rep.events_swept)):
        lines += ["", f"events {title}:",
                  f"  recall             {ev['windows_detected']}/{ev['windows']} windows"
                  + (f" ({100 * ev['recall']:.0f}%)" if ev['recall'] is not None else ""),
                  f"  false positives    {ev['fp_rows_outside_windows']} rows outside windows "
                  f"({ev['fp_episodes_outside_windows']} episodes)",
                  f"  median delay       {_fmt(ev['median_delay_minutes_from_window_start'])} min from window start "
                  f"({_fmt(ev['median_delay_rows_from_window_start'])} rows), "
                  f"{_fmt(ev['median_delay_minutes_from_labelled_point'])} min from the labelled point"]
    return "\n".join(lines) + "\n"


def ev_t(rep: EvalReport) -> str:
    t = rep.swept["standard"]["threshold"]
    return "never" if not math.isfinite(t) else f"{t:.4f}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


__all__ = ["PROFILES", "probationary_length", "scaled_sigmoid", "FileLabels", "window_rows", "row_weights",
           "FileScore", "score_file", "null_score", "perfect_score", "normalized", "sweep_threshold",
           "read_nab_csv", "NabInputError", "online_forecast", "EvalReport", "evaluate", "report_text"]
