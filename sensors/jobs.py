"""Jobs over the asset graph."""

import dagster as dg


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest X-Ray, EMF and Prometheus telemetry for the selected hours.",
)

# The main job: the whole asset graph (later issues add models, forecasts, alerts downstream of ingest).
main_job = dg.define_asset_job(
    "akidb_main",
    selection=dg.AssetSelection.all(),
    description="Everything: ingest and all downstream assets for the selected hours.",
)


def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[ingest_job, main_job])
