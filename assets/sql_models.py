"""``dbt_like_sql/`` as Dagster assets: one asset per SQL model, one asset check per column test.

The core loader reads the folder (and fails the code location, naming file and line, on a broken model); this
module turns the graph into ``AssetSpec``s (key ``duckdb/<folder>/<model>``, group = folder, description from
the header comment, ``code_version`` = SQL hash, deps from ``ref()``/``source()``) executed by one subsettable
multi-asset in topological order.
"""


import dagster as dg

from akidb_pipelines.slo.spec import load_specs
from akidb_pipelines.sql_models import Model, ModelGraph
from akidb_pipelines.sql_models.project import SQL_ROOT, project_graph
from akidb_pipelines.sql_models.runner import run_model, run_tests
from akidb_pipelines.storage import hour_partitions
from assets.partitions import freshness, hourly, ingest_backfill_policy
from assets.resources import LakeResource

OWNERS = ["team:sre"]


def model_key(model: Model) -> dg.AssetKey:
    return dg.AssetKey(["duckdb", model.folder, model.name])


def source_key(layer: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", layer, table])


def build_sql_models(graph: ModelGraph) -> dg.AssetsDefinition:
    specs, checks = [], []
    for name in graph.order:
        m = graph.models[name]
        deps = [model_key(graph.models[r]) for r, _ in m.refs] + [source_key(*s) for s, _ in m.sources]
        specs.append(dg.AssetSpec(
            model_key(m), deps=list(dict.fromkeys(deps)), description=m.description, group_name=m.folder,
            code_version=m.code_version, kinds={"duckdb", "sql", "parquet"}, owners=OWNERS,
            metadata={"dagster/table_name": f"{m.folder}.{m.name}", "sql_file": str(m.path.relative_to(SQL_ROOT.parent))},
            skippable=True, freshness_policy=freshness,
        ))
        checks += [dg.AssetCheckSpec(t.name, asset=model_key(m), description=f"{t.kind} on {t.column}"
                                     + (f" {list(t.args)}" if t.args else "")) for t in m.tests]

    @dg.multi_asset(
        name="sql_models", specs=specs, check_specs=checks, can_subset=True, partitions_def=hourly,
        backfill_policy=ingest_backfill_policy, pool="lake_writer",
    )
    def _sql_models(context: dg.AssetExecutionContext, lake: LakeResource):
        window = context.partition_time_window
        keys = hour_partitions(window.start, window.end)
        the_lake, catalog = lake.lake(), lake.catalog()
        selected_checks = context.selected_asset_check_keys
        for name in graph.order:
            m = graph.models[name]
            key = model_key(m)
            if key not in context.selected_asset_keys:
                continue
            res = run_model(m, graph, the_lake, keys)
            catalog.register(m.table, schema=m.folder, view=m.name)
            context.log.info(f"{m.folder}.{m.name}: {res.rows} rows in {res.seconds:.2f}s")
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": res.rows,
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name=c, type=t) for c, t in res.columns]),
                "sql": dg.MetadataValue.md(f"```sql\n{m.sql}\n```"),
                "seconds": res.seconds,
            })
            for outcome in run_tests(m, the_lake, keys):
                ck = dg.AssetCheckKey(key, outcome.test.name)
                if ck in selected_checks:
                    yield dg.AssetCheckResult(
                        asset_key=key, check_name=outcome.test.name, passed=outcome.passed,
                        metadata={"failing_rows": outcome.failures, "sample": ", ".join(outcome.sample) or "none"},
                    )

    return _sql_models


slos, windows = load_specs()
graph = project_graph()
sql_models = build_sql_models(graph)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[sql_models])
