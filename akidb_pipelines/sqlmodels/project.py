"""This project's model graph: ``dbt_like_sql/`` with the SLO macros filled in from the SLO specs (the Dagster
assets and the chaos replay run the same graph)."""

from pathlib import Path

from akidb_pipelines.slo.spec import load_policy, load_specs
from akidb_pipelines.slo.sql import budget_events_sql, burn_rates_sql, sli_events_sql
from akidb_pipelines.sqlmodels import ModelGraph, load_models
from akidb_pipelines.sqlmodels.runner import KNOWN_SOURCES

SQL_ROOT = Path(__file__).resolve().parents[2] / "dbt_like_sql"


def project_graph() -> ModelGraph:
    slos, windows = load_specs()
    return load_models(SQL_ROOT, KNOWN_SOURCES, macros={
        "slo_sli_events": sli_events_sql(slos), "slo_burn_rates": burn_rates_sql(slos, windows),
        "slo_budget_events": budget_events_sql(load_policy())})
