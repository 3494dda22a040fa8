"""Forecasting as assets: one Prophet model per configured series (a partition each; the weekly run trains every
partition in one run, fitted together) with its validation gate as an asset check, and the minute-by-minute anomaly scoring.

The core does the work (``akidb_pipelines.forecast``); this module only maps it onto Dagster.
"""

import warnings
from datetime import datetime, timedelta, timezone

import dagster as dg

from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.scoring import ANOMALIES_TABLE, SCORES_TABLE, score_window, write_scores
from akidb_pipelines.forecast.train import train_many
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


def prophet_model(context: dg.AssetExecutionContext, config: TrainConfig, lake: LakeResource):
    ids = list(context.partition_keys)
    end = (datetime.fromisoformat(config.as_of.replace("Z", "+00:00")) if config.as_of
           else datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0))
    end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
    outcomes = train_many(lake.lake(), forecast_cfg, ids, end, load_calendar())
    rows = []
    for o in outcomes:
        val = o.meta.get("validation", {})
        measure = val.get("measure", forecast_cfg.get(o.series).accuracy)
        context.log.info(f"{o.series}: {o.status}" + (f" ({'; '.join(o.reasons)})" if o.reasons else ""))
        rows.append(f"| {o.series} | {o.status} | {o.in_use or 'none'} | {measure} {_fmt(val.get('error'), measure != 'mase')} "
                    f"| {_fmt(val.get('coverage'))} | {'; '.join(o.reasons) or ''} |")
    failed = [o for o in outcomes if o.status != "promoted"]
    first = outcomes[0]
    val = first.meta.get("validation", {})
    measure = val.get("measure", forecast_cfg.get(first.series).accuracy)
    yield dg.MaterializeResult(metadata={
        # a run of one series (one partition) reads as before; a run of many adds the table
        "series": len(outcomes), "promoted": sum(o.status == "promoted" for o in outcomes),
        "status": first.status if len(outcomes) == 1 else f"{len(outcomes) - len(failed)}/{len(outcomes)} promoted",
        "version": first.version or "none" if len(outcomes) == 1 else "see models",
        "in_use": first.in_use or "none" if len(outcomes) == 1 else "see models",
        "reasons": "; ".join(f"{o.series}: {'; '.join(o.reasons)}" if len(outcomes) > 1 else "; ".join(o.reasons)
                             for o in failed if o.reasons) or "none",
        measure: dg.MetadataValue.float(val["error"]) if len(outcomes) == 1 and val.get("error") is not None else "n/a",
        "models": dg.MetadataValue.md("| series | status | in use | back-test error | 95% coverage | reasons |\n"
                                      "|---|---|---|---|---|---|\n" + "\n".join(rows)),
        "training_end": first.meta.get("training_end", "n/a"),
        "fitter": first.meta.get("fitter", forecast_cfg.training.fitter),
        "fit_seconds": first.meta.get("fit_seconds", 0.0),
        "validation_seconds": first.meta.get("validation_seconds", 0.0),
    })
    yield dg.AssetCheckResult(
        check_name="validation_gate", passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        description=("promoted" if not failed else "; ".join(
            f"{o.series} not promoted: {'; '.join(o.reasons)}; in use: {o.in_use or 'no model'}" for o in failed)),
        metadata={"not_promoted": len(failed), "series": len(outcomes),
                  "max_error": forecast_cfg.validation.max_error},
    )


# backfill_policy on @asset is flagged beta (stable on @multi_asset); the warning would print on every load
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    prophet_model = dg.asset(
        key=MODEL, partitions_def=series_partitions, group_name="forecast", owners=OWNERS, kinds={"prophet", "json"},
        deps=[dg.AssetDep(GOLDEN, partition_mapping=dg.AllPartitionMapping())], freshness_policy=model_freshness,
        # a run over several series fits them together (the batch fitter: one solve for all, forecast.yaml's fitter)
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("validation_gate", asset=MODEL, description=(
            "Back-test accuracy (MAPE, or sMAPE/MASE for near-zero series) below the bound and 95%-band coverage "
            "inside the configured range, for every series of the run. A model that fails is stored but not "
            "promoted; the previous promoted model stays in use."))],
        description="Prophet model of each series (daily and weekday/weekend profiles, 95% band), trained on the trailing "
                    "window with the change calendar's windows left out, every series of the run fitted together "
                    "(exact MAP, prophet-batch), back-tested, stored as JSON in the lake registry and promoted only "
                    "when it passes the gate.",
    )(prophet_model)


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
