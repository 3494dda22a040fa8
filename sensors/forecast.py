"""Forecast jobs and schedules: the weekly training of every series, one run over every series partition (the
batch fitter fits them together in seconds; one run per series would spend most of its time starting up). A single
series is retrained by launching its partition alone. The open hour is scored by the detection run
(sensors/detect.py)."""

from datetime import timezone

import dagster as dg

from assets.forecast import MODEL, series_partitions

train_models_job = dg.define_asset_job(
    "train_models", selection=dg.AssetSelection.assets(MODEL), partitions_def=series_partitions,
    description="Train, back-test and (if it passes) promote the Prophet model of the selected series.",
    tags={"akidb/kind": "training"},  # the run queue's limit for training runs (deploy/dagster.yaml) keys on it
)


@dg.schedule(job=train_models_job, cron_schedule="0 3 * * 1", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Weekly refit (Monday 03:00 UTC) of every configured series on its trailing window.")
def weekly_training(context: dg.ScheduleEvaluationContext):
    week = context.scheduled_execution_time.strftime("%G-W%V")
    as_of = context.scheduled_execution_time.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    keys = series_partitions.get_partition_keys()
    yield dg.RunRequest(run_key=f"train:all:{week}",
                        tags={"dagster/asset_partition_range_start": keys[0],
                              "dagster/asset_partition_range_end": keys[-1]},
                        run_config={"ops": {"forecast__prophet_model": {"config": {"as_of": as_of.isoformat()}}}})


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[train_models_job], schedules=[weekly_training])
