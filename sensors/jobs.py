"""Jobs over the asset graph."""

import dagster as dg


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest X-Ray, EMF and Prometheus telemetry for the selected hours.",
)

# The main job: every hourly asset (ingest, SQL models, anomaly scoring). The per-series Prophet models have
# partitions of their own and train in the train_models job; the response tick (alerting) runs in `respond`.
main_job = dg.define_asset_job(
    "akidb_main",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(dg.AssetKey(["forecast", "prophet_model"]))
    - dg.AssetSelection.groups("alerting") - dg.AssetSelection.groups("dashboards")
    - dg.AssetSelection.groups("validation"),
    description="Everything hourly: ingest, the SQL models and the anomaly scoring for the selected hours.",
)


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[ingest_job, main_job])
