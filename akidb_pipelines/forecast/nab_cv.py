"""Leave-one-category-out cross-validation of the detector's settings on NAB-format data (issue 14).

The Prophet forecasts do not depend on the detector's settings (``online.exclude_anomalies`` aside, which the CV
refuses), so each file is forecast online once (the same :func:`~akidb_pipelines.forecast.nab_eval.online_forecast`
``akidb nab-eval`` runs, cached as Parquet) and only the cheap detector is rerun for every point of a small grid.

For each category held out, the grid point with the best NAB standard score (at the shipped decision,
``anomaly_score >= 0.5``) on the *other* categories is chosen and scored on the held-out one. The CV figure is the
pooled held-out score: every file scored with settings chosen without its category, normalised over the whole
corpus like ``akidb nab-eval`` does. (A category without windows, such as ``artificialNoAnomaly``, has no normalised
score of its own: its held-out result is its raw score, false positives only.) The shipped defaults are the grid
point the same procedure picks on all categories; ties go to the first in grid order, which lists the shorter
windows first (less context to rescore each tick).

    python -m akidb_pipelines.forecast.nab_cv --data ../shared/nab/data \\
        --labels ../shared/nab/labels/combined_windows.json [--json OUT] [--cache DIR]

Not run by the test suite (the forecasts take minutes); docs/nab.md records its output.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.detector import score_points
from akidb_pipelines.forecast.detector_config import DetectorConfig, load_detector_config
from akidb_pipelines.forecast.nab_eval import (NabInputError, discover, online_forecast, read_nab_csv,
                                              seen_resolution)
from akidb_pipelines.forecast.nab_scoring import (PROFILES, FileLabels, normalized, null_score, perfect_score,
                                                  probationary_length, score_file, window_rows)

# The settings that move the score most, a few values each (the others stay as the base config has them).
GRID: dict[str, tuple[Any, ...]] = {
    "threshold": (1.0, 1.05, 1.1, 1.2, 1.3, 1.5),
    "scale_window": ("1d", "2d", "4d", "7d"),
    "suppress": ("0m", "3h", "12h", "24h"),
    "evidence": ("robust", "max"),
}
DECISION = 0.5  # the shipped decision: anomaly_score >= 0.5


@dataclass(frozen=True)
class NabFile:
    name: str            # category/file.csv
    category: str
    labels: FileLabels
    forecast: pd.DataFrame

    @property
    def null(self) -> float:
        return null_score(self.labels, PROFILES["standard"])

    @property
    def perfect(self) -> float:
        return perfect_score(self.labels, PROFILES["standard"])


def load_corpus(data_dir: Path, labels_file: Path, base: DetectorConfig, cache_dir: Path | None,
                progress: Callable[[str], None] | None = None) -> list[NabFile]:
    """Every labelled file under ``data_dir`` with its online forecast (computed once, then read from the cache)."""
    if base.online.exclude_anomalies:
        raise ValueError("online.exclude_anomalies: the forecasts would depend on the detector; the CV needs false")
    try:
        windows = json.loads(labels_file.read_text())
    except (OSError, ValueError) as exc:
        raise NabInputError(f"{labels_file}: cannot read labels: {exc}") from exc
    names = discover(data_dir, windows)
    if not names:
        raise NabInputError(f"{data_dir}: no CSV file listed in {labels_file}")
    out = []
    t0 = time.monotonic()
    for name in names:
        df = read_nab_csv(data_dir / name, progress)
        labels = FileLabels(len(df), window_rows(df["ds"], windows[name]), probationary_length(len(df)))
        fc = online_forecast(df, base, cache_dir=cache_dir, warn=progress)
        out.append(NabFile(name, name.split("/")[0], labels, fc))
        if progress:
            progress(f"forecast {name} ({time.monotonic() - t0:.0f}s)")
    return out


def grid_configs(base: DetectorConfig, grid: dict[str, Sequence[Any]] = GRID) -> list[tuple[dict, DetectorConfig]]:
    """Every combination of the grid's values on top of ``base``, in grid order (``itertools.product``)."""
    keys = list(grid)
    return [(dict(zip(keys, values)), dataclasses.replace(base, **dict(zip(keys, values))))
            for values in itertools.product(*(grid[k] for k in keys))]


def raw_scores(files: Sequence[NabFile], config: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per file: the NAB standard raw score at the shipped decision, and the false-positive rows."""
    raw, fp = np.zeros(len(files)), np.zeros(len(files), dtype=int)
    for i, f in enumerate(files):
        a = score_points(f.forecast, config, resolution=seen_resolution(f.forecast["ds"], f.labels.probation)
                         )["anomaly_score"].to_numpy().copy()
        a[: f.labels.probation] = 0.0  # learning only, as in akidb nab-eval
        fs = score_file(a, f.labels, PROFILES["standard"], DECISION)
        raw[i], fp[i] = fs.raw, fs.fp_rows
    return raw, fp


@dataclass
class Fold:
    held_out: str
    chosen: dict[str, Any]
    train_score: float
    held_out_score: float | None      # normalised; None for a category without windows
    held_out_raw: float
    held_out_fp_rows: int
    held_out_windows: int


@dataclass
class CVReport:
    grid: dict[str, list]
    files: int
    categories: dict[str, int]          # category -> files
    folds: list[Fold]
    pooled_held_out: float              # every file scored with settings chosen without its category
    chosen_on_all: dict[str, Any]
    score_on_all: float                 # in-sample: the chosen settings on the whole corpus
    top_on_all: list[tuple[dict[str, Any], float]]
    best_by_value: dict[str, dict[str, float]]  # setting -> value -> best score on all categories with that value
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cross_validate(files: Sequence[NabFile], base: DetectorConfig, grid: dict[str, Sequence[Any]] = GRID,
                   progress: Callable[[str], None] | None = None) -> CVReport:
    t0 = time.monotonic()
    configs = grid_configs(base, grid)
    raw = np.zeros((len(configs), len(files)))
    fp = np.zeros((len(configs), len(files)), dtype=int)
    for c, (params, cfg) in enumerate(configs):
        raw[c], fp[c] = raw_scores(files, cfg)
        if progress and (c + 1) % 12 == 0:
            progress(f"grid {c + 1}/{len(configs)} ({time.monotonic() - t0:.0f}s)")
    null = np.array([f.null for f in files])
    perfect = np.array([f.perfect for f in files])
    cats = np.array([f.category for f in files])

    def score(c: int | np.ndarray, mask: np.ndarray) -> Any:
        return 100.0 * (raw[c][..., mask].sum(-1) - null[mask].sum()) / (perfect[mask].sum() - null[mask].sum())

    folds, pooled_raw = [], 0.0
    for cat in sorted(set(cats)):
        test = cats == cat
        train_scores = score(np.arange(len(configs)), ~test)
        best = int(np.argmax(train_scores))  # the first of equal scores: grid order
        has_windows = perfect[test].sum() != null[test].sum()
        folds.append(Fold(cat, configs[best][0], float(train_scores[best]),
                          float(score(best, test)) if has_windows else None, float(raw[best, test].sum()),
                          int(fp[best, test].sum()), sum(len(f.labels.scored_windows()) for f, t in zip(files, test)
                                                         if t)))
        pooled_raw += float(raw[best, test].sum())
    everything = np.ones(len(files), dtype=bool)
    all_scores = score(np.arange(len(configs)), everything)
    best = int(np.argmax(all_scores))
    order = np.argsort(-all_scores, kind="stable")[:10]
    by_value = {k: {str(v): float(max(s for (p, _), s in zip(configs, all_scores) if p[k] == v)) for v in vals}
                for k, vals in grid.items()}
    return CVReport(grid={k: list(v) for k, v in grid.items()}, files=len(files),
                    categories={k: int((cats == k).sum()) for k in sorted(set(cats))}, folds=folds,
                    pooled_held_out=normalized(pooled_raw, float(null.sum()), float(perfect.sum())),
                    chosen_on_all=configs[best][0], score_on_all=float(all_scores[best]),
                    top_on_all=[(configs[i][0], float(all_scores[i])) for i in order], best_by_value=by_value,
                    seconds=time.monotonic() - t0)


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in p.items())


def report_text(rep: CVReport) -> str:
    lines = [f"Leave-one-category-out CV: {rep.files} files in {len(rep.categories)} categories "
             f"({', '.join(f'{k} {v}' for k, v in rep.categories.items())}); grid of "
             f"{int(np.prod([len(v) for v in rep.grid.values()]))} settings ({rep.seconds:.0f}s)",
             "grid: " + "; ".join(f"{k} {v}" for k, v in rep.grid.items()), "",
             "held out               chosen on the other categories                         train   held-out (raw, FP rows)"]
    for f in rep.folds:
        held = "n/a (no windows)" if f.held_out_score is None else f"{f.held_out_score:.1f}"
        lines.append(f"{f.held_out:22s} {_params(f.chosen):54s} {f.train_score:5.1f}   {held} "
                     f"({f.held_out_raw:+.2f}, {f.held_out_fp_rows})")
    lines += ["", f"pooled held-out NAB standard score (each file scored with settings not chosen on its category): "
                  f"{rep.pooled_held_out:.1f}",
              f"chosen on all categories: {_params(rep.chosen_on_all)} (in-sample {rep.score_on_all:.1f})",
              "", "best ten on all categories:"]
    lines += [f"  {s:5.1f}  {_params(p)}" for p, s in rep.top_on_all]
    lines += ["", "best score on all categories with each value (the other settings free):"]
    lines += [f"  {k:14s} " + ", ".join(f"{v} {s:.1f}" for v, s in vals.items())
              for k, vals in rep.best_by_value.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from akidb_pipelines.config import akidb_home

    ap = argparse.ArgumentParser(prog="python -m akidb_pipelines.forecast.nab_cv", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="NAB data folder (category folders of CSVs)")
    ap.add_argument("--labels", type=Path, required=True, help="NAB combined_windows.json")
    ap.add_argument("--config", type=Path, default=None, help="detector.yaml to start from (default: shipped)")
    ap.add_argument("--cache", type=Path, default=None, help="forecast cache (default $AKIDB_HOME/nab-cv/forecasts)")
    ap.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    progress = None if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    try:
        base = load_detector_config(args.config)
        files = load_corpus(args.data, args.labels, base, args.cache or akidb_home() / "nab-cv" / "forecasts",
                            progress)
    except (NabInputError, ValueError) as exc:
        print(f"nab_cv: {exc}", file=sys.stderr)
        return 2
    rep = cross_validate(files, base, GRID, progress)
    text = report_text(rep)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps(rep.to_dict(), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["GRID", "NabFile", "load_corpus", "grid_configs", "raw_scores", "cross_validate", "CVReport", "Fold",
           "report_text", "main"]
