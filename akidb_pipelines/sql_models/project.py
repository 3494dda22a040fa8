"""This project's model graph: ``dbt_like_sql/`` with the SLO macros filled in from the SLO specs (the Dagster
assets and the chaos replay run the same graph).

``dbt_like_sql`` is a package of its own (its ``.sql`` and ``schema.yml`` files are package data), found through
the import system: the source tree in an editable install, site-packages in a wheel install.
"""

from importlib.resources import files
from pathlib import Path

from akidb_pipelines.slo.spec import load_policy, load_specs
from akidb_pipelines.slo.sql import budget_events_sql, burn_rates_sql, sli_events_sql
from akidb_pipelines.sql_models import ModelGraph, load_models
from akidb_pipelines.sql_models.runner import KNOWN_SOURCES


def _sql_root() -> Path:
    root = files("dbt_like_sql")
    if not isinstance(root, Path):  # e.g. imported from a zip: the loader needs real files
        raise RuntimeError(f"dbt_like_sql must be installed as files on disk, not {root!r}")
    return root.resolve()


SQL_ROOT = _sql_root()


def project_graph() -> ModelGraph:
    slos, windows = load_specs()
    return load_models(SQL_ROOT, KNOWN_SOURCES, macros={
        "slo_sli_events": sli_events_sql(slos), "slo_burn_rates": burn_rates_sql(slos, windows),
        "slo_budget_events": budget_events_sql(load_policy())})
