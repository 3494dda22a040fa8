"""Fitting and back-testing many Prophet models at once with prophet-batch's exact MAP solvers.

Stock Prophet runs one Stan L-BFGS optimisation per series (about 95% of a fit). For linear or flat growth with
additive components (ours: daily or weekday/weekend profiles, a weekend level regressor), the MAP is a convex problem;
``prophet_batch.fit_many`` solves it exactly for all series together, sharing design matrices between series with the
same dates, and returns ordinary Prophet objects (JSON, ``predict``, ``cross_validation`` as before). Its optimum is
at least as good as Stan's, so the forecasts agree to about 1e-4 of the level and the back-test error to the fourth
digit (``tests/test_forecast_batch.py``; measured in ``tests.benchmarks.bench_forecast``). A warm start has nothing to
start: the solver does not iterate from an initial point.

Each model is built by :func:`akidb_pipelines.forecast.model.prepare_prophet`, the same builder the Stan fitter
uses. A series the batch cannot fit (prophet-batch raises for it) is fitted by Stan, one by one, and says so.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from akidb_pipelines.forecast.model import _quiet

ID = "akidb_series"
SEED = 0  # the back-test's interval draws, per (series, cutoff): reproducible


def _quiet_batch() -> None:
    _quiet()
    logging.getLogger("prophet_batch").setLevel(logging.ERROR)


def fit_models(prepared: Mapping[str, tuple[Any, pd.DataFrame]]) -> tuple[dict[str, Any], list[str]]:
    """Fit every ``{series: (unfitted model, frame)}`` together; returns ({series: fitted model}, the series the
    batch could not fit and Stan fitted instead)."""
    from prophet_batch import fit_many

    _quiet_batch()
    if not prepared:
        return {}, []
    frames = [df.assign(**{ID: sid}) for sid, (_, df) in prepared.items()]
    long = pd.concat(frames, ignore_index=True)
    # make_model must hand out a fresh unfitted model on every call; a deep copy of the prepared one is that
    models = fit_many(long, id_col=ID, make_model=lambda sid: copy.deepcopy(prepared[sid][0]), n_jobs=1,
                      on_error="skip")
    fallback = []
    for sid, (model, df) in prepared.items():
        if sid not in models:
            m = copy.deepcopy(model)
            m.fit(df)
            models[sid] = m
            fallback.append(sid)
    return {sid: models[sid] for sid in prepared}, fallback


def cross_validate(models: Mapping[str, Any], cutoffs: Mapping[str, list[pd.Timestamp]],
                   horizon: pd.Timedelta) -> dict[str, pd.DataFrame]:
    """Rolling-origin back-tests of many models (stock ``cross_validation``'s output per series): the refits of
    every series and cutoff are solved together; series with the same cutoffs go in one call."""
    from prophet_batch import cross_validation_many

    _quiet_batch()
    groups: dict[tuple, dict[str, Any]] = {}
    for sid, m in models.items():
        if cutoffs.get(sid):
            groups.setdefault(tuple(cutoffs[sid]), {})[sid] = m
    out: dict[str, pd.DataFrame] = {}
    for cuts, group in groups.items():
        state = np.random.get_state()
        try:
            out.update(cross_validation_many(group, horizon=horizon, cutoffs=list(cuts), seed=SEED, n_jobs=1))
        finally:
            np.random.set_state(state)
    return out
