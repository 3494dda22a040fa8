"""Forecasting as assets: one Prophet model per configured series (a partition each, so training fans out across
runs and workers) with its validation gate as an asset check, and the minute-by-minute anomaly scoring.

The core does the work (``akidb_pipelines.forecast``); this module only maps it onto Dagster.
"""

import warnings
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.scoring import ANOMALIES_TABLE, SCORES_TABLE, score_window, write_scores
from akidb_pipelines.forecast.train import train_series
from akidb_pipelines.storage import hour_partitions
from assets.partitions import freshness, hourly, ingest_backfill_policy
from assets.resources import LakeResource

OWNERS = ["team:sre"]
forecast_cfg = load_forecast_config()
detector_cfg = load_detector_config()
series_partitions = dg.StaticPartitionsDefinition(forecast_cfg.ids)
GOLDEN = dg.AssetKey(["duckdb", "marts", "golden_signals_1m"])
MODEL = dg.AssetKey(["forecast", "prophet_model"])
SCORES = dg.AssetKey(["forecast", "anomaly_scores"])


# Models refit weekly: one older than 8 days means the schedule stopped (warned a day before).
model_freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))


class TrainConfig(dg.Config):
    as_of: str = ""  # ISO time the training window ends at (default: the start of the current hour)


def _fmt(x: float | None, pct: bool = True) -> str:
    return "n/a" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.3f}")


@dg.asset(
    key=MODEL, partitions_def=series_partitions, group_name="forecast", owners=OWNERS, kinds={"prophet", "json"},
    deps=[dg.AssetDep(GOLDEN, partition_mapping=dg.AllPartitionMapping())], freshness_policy=model_freshness,
    check_specs=[dg.AssetCheckSpec("validation_gate", asset=MODEL, description=(
        "Back-test accuracy (MAPE, or sMAPE/MASE for near-zero series) below the bound and 95%-band coverage "
        "inside the configured range. A model that fails is stored but not promoted."))],
    description="Prophet model of one series (daily and weekly seasonality, 95% band), trained on the trailing "
                "window with the change calendar's windows left out, warm-started from the promoted model, "
                "back-tested, stored as JSON in the lake registry and promoted only when it passes the gate.",
)
def prophet_model(context: dg.AssetExecutionContext, config: TrainConfig, lake: LakeResource):
    spec = forecast_cfg.get(context.partition_key)
    end = (datetime.fromisoformat(config.as_of.replace("Z", "+00:00")) if config.as_of
           else datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0))
    end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
    outcome = train_series(lake.lake(), forecast_cfg, spec, end, load_calendar())
    val = outcome.meta.get("validation", {})
    measure = val.get("measure", spec.accuracy)
    context.log.info(f"{spec.id}: {outcome.status}" + (f" ({'; '.join(outcome.reasons)})" if outcome.reasons else ""))
    yield dg.MaterializeResult(metadata={
        "status": outcome.status, "version": outcome.version or "none", "in_use": outcome.in_use or "none",
        "reasons": "; ".join(outcome.reasons) or "none",
        measure: dg.MetadataValue.float(val["error"]) if val.get("error") is not None else "n/a",
        "coverage_95": dg.MetadataValue.float(val["coverage"]) if val.get("coverage") is not None else "n/a",
        "backtest_cutoffs": len(val.get("cutoffs", [])), "backtest_points": val.get("points", 0),
        "training_start": outcome.meta.get("training_start", "n/a"),
        "training_end": outcome.meta.get("training_end", "n/a"),
        "excluded_points": outcome.meta.get("excluded_points", 0),
        "warm_started_from": outcome.meta.get("warm_started_from") or "none",
        "fit_seconds": outcome.meta.get("fit_seconds", 0.0),
    })
    yield dg.AssetCheckResult(
        check_name="validation_gate", passed=outcome.status == "promoted",
        severity=dg.AssetCheckSeverity.WARN,
        description=("promoted" if outcome.status == "promoted" else
                     f"not promoted: {'; '.join(outcome.reasons)}; in use: {outcome.in_use or 'no model'}"),
        metadata={measure: _fmt(val.get("error"), measure != "mase"), "coverage_95": _fmt(val.get("coverage")),
                  "max_error": val.get("max_error", spec.max_error or forecast_cfg.validation.max_error)},
    )


def _build_anomaly_scores() -> dg.AssetsDefinition:
    # backfill_policy on @asset is flagged beta (it is stable on @multi_asset, which the SQL models use); the
    # warning would print on every load of the code location
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        @dg.asset(
            key=SCORES, partitions_def=hourly, group_name="forecast", owners=OWNERS, kinds={"prophet", "parquet"},
            deps=[GOLDEN, dg.AssetDep(MODEL, partition_mapping=dg.AllPartitionMapping())],
            backfill_policy=ingest_backfill_policy, pool="lake_writer", freshness_policy=freshness,
            check_specs=[dg.AssetCheckSpec("every_series_scored", asset=SCORES, description=(
                "Every configured series with data is scored, against its promoted model or the seasonal baseline; "
                "the ones that could not be scored are listed."))],
            description="Each minute of the hour against the promoted model's 95% band through the anomaly detector: "
                        "actual, yhat, band, normalized score, direction, calibrated anomaly score and confidence, the "
                        "debounced decision. Writes forecast/anomaly_scores (all points) and forecast/anomalies (flagged).",
        )
        def anomaly_scores(context: dg.AssetExecutionContext, lake: LakeResource):
            window = context.partition_time_window
            keys = hour_partitions(window.start, window.end)
            the_lake = lake.lake()
            scores, report = score_window(the_lake, forecast_cfg, detector_cfg, window.start, window.end)
            written = write_scores(the_lake, scores, keys)
            catalog = lake.catalog()
            for table in (SCORES_TABLE, ANOMALIES_TABLE):
                catalog.register(table, schema="forecast")
            flagged = scores[scores["is_anomaly"]] if len(scores) else scores
            top = flagged.sort_values("anomaly_score", ascending=False).head(10) if len(flagged) else flagged
            table_md = "| series | minute | actual | band | score |\n|---|---|---:|---|---:|\n" + "".join(
                f"| {r.series} | {r.minute:%Y-%m-%d %H:%M} | {r.actual:.4g} | {r.lower:.4g} .. {r.upper:.4g} | "
                f"{r.anomaly_score:.2f} |\n" for r in top.itertuples()) if len(top) else "no anomalies"
            yield dg.MaterializeResult(metadata={
                "dagster/row_count": written[SCORES_TABLE], "anomalies": written[ANOMALIES_TABLE],
                "series_scored": len(report.scored), "series_unscored": len(report.unscored),
                "series_on_baseline": len(report.baseline),
                "on_baseline": dg.MetadataValue.md(
                    "\n".join(f"- `{k}`: {v}" for k, v in sorted(report.baseline.items())) or "none"),
                "top_anomalies": dg.MetadataValue.md(table_md),
                "predicted_on_the_spot": sum(report.predicted_on_the_spot.values()),
            })
            yield dg.AssetCheckResult(
                check_name="every_series_scored", passed=not report.unscored, severity=dg.AssetCheckSeverity.WARN,
                description="all configured series scored" if not report.unscored else
                f"{len(report.unscored)} series not scored",
                metadata={"unscored": dg.MetadataValue.md(
                    "\n".join(f"- `{k}`: {v}" for k, v in sorted(report.unscored.items())) or "none")},
            )

        return anomaly_scores


anomaly_scores = _build_anomaly_scores()


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[prophet_model, anomaly_scores])
