"""The composition root: merge each area's Definitions and bind resources chosen from the environment."""

import dagster as dg

import assets.alerting
import assets.chaos
import assets.dashboards
import assets.forecast
import assets.gameday
import assets.ingest
import assets.sql_models
import sensors.alerting
import sensors.detect
import sensors.forecast
import sensors.jobs
from assets.resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        assets.ingest.defs(),
        assets.sql_models.defs(),
        assets.forecast.defs(),
        assets.alerting.defs(),
        assets.dashboards.defs(),
        assets.chaos.defs(),
        assets.gameday.defs(),
        sensors.jobs.defs(),
        sensors.detect.defs(),
        sensors.forecast.defs(),
        sensors.alerting.defs(),
        dg.Definitions(resources=build_resources()),
    )
