"""The online evaluation behind ``akidb nab-eval``: read NAB data files, forecast each series online with Prophet,
score the points with the detector, write NAB result files and score them with the NAB scorer (``nab_scoring``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.nab_scoring import (OUTSIDE, PROFILES, FileLabels, normalized, null_score,
                                                  perfect_score, probationary_length, score_file, sweep_threshold,
                                                  window_rows)

DEFAULT_THRESHOLD = 0.5


# -- data ----------------------------------------------------------------------------------------------------------

class NabInputError(Exception):
    """A data or labels file is missing, unreadable or inconsistent (the message names the file)."""


def read_nab_csv(path: Path, warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """A NAB data file (timestamp,value) as columns ds, y, in time order with one row per timestamp. Real files
    are not always so: rows out of time order are sorted (stable) and a repeated timestamp keeps its first row;
    ``warn`` hears about each repair (the evaluation goes on)."""
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
    out = pd.DataFrame({"ds": ds, "y": pd.to_numeric(df["value"], errors="coerce").astype(float)})
    if not out["ds"].is_monotonic_increasing:
        back = int((out["ds"].diff() < pd.Timedelta(0)).sum())
        out = out.sort_values("ds", kind="stable").reset_index(drop=True)
        if warn:
            warn(f"{path}: {back} timestamp(s) out of time order: rows sorted by time")
    dup = out["ds"].duplicated()
    if dup.any():
        out = out[~dup].reset_index(drop=True)
        if warn:
            warn(f"{path}: {int(dup.sum())} repeated timestamp(s): the first row of each kept")
    return out


def discover(data_dir: Path, windows: dict[str, list]) -> list[str]:
    """Relative paths (``category/file.csv``) of the CSVs under data_dir that the labels file knows; category
    folders may be symbolic links (followed, each real folder once)."""
    found, seen = [], set()
    for root, dirs, files in os.walk(data_dir, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        found += [Path(root, f).relative_to(data_dir).as_posix() for f in files if f.endswith(".csv")]
    return [f for f in sorted(found) if f in windows]


# -- online forecasting --------------------------------------------------------------------------------------------

def _history(ds: pd.Series, y: pd.Series, lo: int, i: int, train: pd.Timedelta, min_rows: int) -> int:
    """The first row of the training history ending before row ``i``: ``lo`` (the trailing window), or, when the
    window holds fewer than ``min_rows`` values (a gap in the data longer than the window), the window's length
    of data before the gap (and at least the last ``min_rows`` values, however old)."""
    valid = np.flatnonzero(y.iloc[:i].notna().to_numpy())
    if int(np.sum(valid >= lo)) >= min_rows or len(valid) == 0:
        return lo
    last = ds.iloc[int(valid[-1])]
    first = int(np.searchsorted(ds.to_numpy(), (last - train).to_datetime64(), side="left"))
    return min(first, int(valid[max(0, len(valid) - min_rows)]))


def _forecaster_fingerprint() -> bytes:
    """What the cached forecasts depend on besides the data and the online settings: the model code and the
    Prophet version."""
    import prophet

    from akidb_pipelines.forecast import model

    return Path(model.__file__).read_bytes() + str(getattr(prophet, "__version__", "")).encode()


def online_forecast(df: pd.DataFrame, config: Any, *, cache_dir: Path | None = None,
                    exclude: Callable[[pd.DataFrame], np.ndarray] | None = None,
                    warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run Prophet online over one series: the first fit sees the probationary rows only, then the model is refit
    every ``online.refit_every_hours`` on the trailing ``online.train_window_days`` of data before the refit time
    (never later rows) and forecasts until the next refit. The probationary rows themselves get the first model's
    in-sample fit (context for the detector's robust scaling; they are never scored). Returns ds, y, yhat,
    yhat_lower, yhat_upper, fit_id.

    A gap in the data longer than the training window does not stop it: the refit after the gap trains on the
    window's length of data before the gap (``warn`` says so); a stretch with fewer than two values to learn
    from keeps the previous model, or is left unforecast (NaN: never scored) before the first one."""
    from akidb_pipelines.forecast.model import fit_prophet, predict

    on = config.online
    params = on.prophet_params()
    key = None
    if cache_dir is not None and exclude is None:
        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(df[["ds", "y"]], index=False).values.tobytes())
        h.update(json.dumps({k: v for k, v in asdict(on).items() if k != "exclude_anomalies"}, sort_keys=True,
                            default=str).encode())
        h.update(_forecaster_fingerprint())  # a change of the model code or of Prophet invalidates the cache
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
    i, fid, model = start, 0, None
    while i < n:
        t0 = ds.iloc[i]
        j = int(np.searchsorted(ds.to_numpy(), (t0 + step).to_datetime64(), side="left"))
        j = max(j, i + 1)
        lo = int(np.searchsorted(ds.to_numpy(), (t0 - train).to_datetime64(), side="left"))
        first = _history(ds, y, lo, i, train, on.min_train_rows)
        if first < lo and warn:
            warn(f"refit at {t0}: fewer than {on.min_train_rows} values in the last {on.train_window_days:g} days "
                 f"(a gap in the data): trained on the data before the gap, from {ds.iloc[first]}")
        lo = first
        hist = pd.DataFrame({"ds": ds.iloc[lo:i], "y": y.iloc[lo:i]})
        if exclude is not None and fid > 0:
            mask = exclude(pd.DataFrame({"ds": ds.iloc[:i], "y": y.iloc[:i], "yhat": out[:i, 0],
                                         "yhat_lower": out[:i, 1], "yhat_upper": out[:i, 2]}))
            hist.loc[mask[lo:i], "y"] = np.nan
        refit = int(hist["y"].notna().sum()) >= 2
        if not refit and model is None:  # nothing to learn from yet: left unforecast
            i = j
            continue
        if refit:
            model = fit_prophet(hist, params)
            if fid == 0:
                ins = predict(model, ds.iloc[:i], seed=on.seed)
                out[:i] = ins[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
        fc = predict(model, ds.iloc[i:j], seed=on.seed + fid + 1)
        out[i:j] = fc[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
        fit_id[i:j] = fid if refit else fid - 1  # no refit: the previous model goes on
        fid += refit
        i = j
    res = pd.DataFrame({"ds": ds, "y": y, "yhat": out[:, 0], "yhat_lower": out[:, 1], "yhat_upper": out[:, 2],
                        "fit_id": fit_id})
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        res.to_parquet(key)
    return res


# -- evaluation ----------------------------------------------------------------------------------------------------

def seen_resolution(ds: pd.Series, probation: int) -> pd.Timedelta:
    """The series' resolution as the detector may know it online: the median spacing of the probationary rows
    (data it learns from before scoring anything), at least the first two rows; never the rows still to come."""
    from akidb_pipelines.forecast.detector_config import infer_resolution

    return infer_resolution(ds.iloc[: max(probation, 2)])


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
    warnings: list[str] = field(default_factory=list)  # data repaired on the way (order, duplicates, gaps)

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
        def exclude(ctx: pd.DataFrame) -> np.ndarray:  # the rows before a refit: all seen already
            return score_points(ctx, config)["is_anomaly"].to_numpy()
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        if progress:
            progress(f"warning: {msg}")

    for name in names:
        df = read_nab_csv(data_dir / name, warn)
        try:
            labels = FileLabels(len(df), window_rows(df["ds"], windows[name]), probationary_length(len(df)))
        except ValueError as exc:
            raise NabInputError(f"{labels_file}: {name}: {exc}") from exc
        fc = online_forecast(df, config, cache_dir=Path(cache_dir) if cache_dir else None, exclude=exclude,
                             warn=lambda m, name=name: warn(f"{name}: {m}"))
        fits += int(fc["fit_id"].max()) + 1
        res = score_points(fc, config, resolution=seen_resolution(fc["ds"], labels.probation))
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
                      config=config.to_dict(), warnings=warnings)


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
    if rep.warnings:
        lines += ["", f"warnings ({len(rep.warnings)}: data repaired, evaluation went on):"]
        lines += [f"  {w}" for w in rep.warnings]
    return "\n".join(lines) + "\n"


def ev_t(rep: EvalReport) -> str:
    t = rep.swept["standard"]["threshold"]
    return "never" if not math.isfinite(t) else f"{t:.4f}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


__all__ = ["read_nab_csv", "NabInputError", "online_forecast", "seen_resolution", "EvalReport", "evaluate",
           "report_text"]
