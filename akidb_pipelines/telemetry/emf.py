"""CloudWatch Embedded Metric Format (EMF) log events -> one row per metric value, by the EMF specification.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
Each event is a JSON object whose ``_aws`` member holds ``Timestamp`` (epoch ms) and ``CloudWatchMetrics``: a list of
directives, each with a ``Namespace``, ``Dimensions`` (a list of dimension sets, each a list of member names) and
``Metrics`` (``Name``, optional ``Unit`` and ``StorageResolution``). A metric's value is the root member with its name:
a number or an array of at most 100 numbers; dimension values are root members holding strings.

The whole event is the record: if any part breaks the specification the event is quarantined with the first reason,
otherwise every value becomes a row carrying all the event's dimensions and dimension sets (as JSON text: a MAP
column made the Parquet write twice as slow), with Service, EdgeLocation and Model also as columns.
The work runs as DuckDB SQL over the ``lines`` table (one JSON parse per line into a map of members).
"""

from __future__ import annotations

import duckdb

from akidb_pipelines.telemetry.conventions import (
    EMF_MAX_DIMENSIONS,
    EMF_MAX_METRICS,
    EMF_MAX_VALUES,
    Reason,
)

_AWS_TYPE = (
    '{"Timestamp":"JSON","CloudWatchMetrics":[{"Namespace":"VARCHAR","Dimensions":[["VARCHAR"]],'
    '"Metrics":[{"Name":"VARCHAR","Unit":"VARCHAR","StorageResolution":"INTEGER"}]}]}'
)

# The directives are read leniently (a Name 5 would be the text '5', a dimension set "Model" no set at all), so a
# strict look is needed; it costs a second parse of `_aws`, so only events whose `_aws` text (as DuckDB
# re-serialised it: no blanks) shows a non-string Namespace, Name or Unit, a StorageResolution that is no integer, or
# an array element that is neither a string, an array nor an object get it. A dimension set that is not an array
# reads as NULL and is caught without it.
_SUSPECT = (r'"(Namespace|Name|Unit)":[^"]|"StorageResolution":([^0-9n]|[0-9]+[.eE])|[\[,][^"\[{\]]'
            r'|"(Metrics|Dimensions)":[^\[]|"(CloudWatchMetrics|Metrics)":\[[^{\]]|\},"')
_AWS_LEAVES = (
    '{"CloudWatchMetrics":[{"Namespace":"JSON","Dimensions":[["JSON"]],'
    '"Metrics":[{"Name":"JSON","Unit":"JSON","StorageResolution":"JSON"}]}]}'
)
# A directive or a metric that is no object, Metrics or Dimensions that are no array: the typed read above takes
# each for absent ("Namespace missing"), but it is there, of the wrong type.
_SHAPE = (
    "list_filter(flatten(list_transform(json_transform(aws_json, '{\"CloudWatchMetrics\":[\"JSON\"]}')"
    ".CloudWatchMetrics, d -> CASE WHEN json_type(d) <> 'OBJECT' "
    "THEN ['a directive is ' || json_type(d) || ', not an object'] ELSE "
    "[CASE WHEN json_type(d, '$.Metrics') NOT IN ('ARRAY', 'NULL') "
    "THEN 'Metrics is ' || json_type(d, '$.Metrics') || ', not an array' "
    "WHEN json_type(d, '$.Dimensions') NOT IN ('ARRAY', 'NULL') "
    "THEN 'Dimensions is ' || json_type(d, '$.Dimensions') || ', not an array' END] "
    "|| list_transform(CASE WHEN json_type(d, '$.Metrics') = 'ARRAY' THEN json_extract(d, '$.Metrics[*]') ELSE []::JSON[] END, "
    "x -> CASE WHEN json_type(x) <> 'OBJECT' THEN 'a metric is ' || json_type(x) || ', not an object' END) END)), "
    "v -> v IS NOT NULL)[1]"
)
_NOT = "json_type({v}) NOT IN ({ok})"
_NAME = "json_extract_string(x.Name, '$')"
_WRONG_TYPED = (  # the first wrong-typed member of a suspect event's directives, described; NULL when none
    "list_filter(flatten(list_transform(json_transform(aws_json, '" + _AWS_LEAVES + "').CloudWatchMetrics, d -> "
    "[CASE WHEN " + _NOT.format(v="d.Namespace", ok="'VARCHAR', 'NULL'")
    + " THEN 'Namespace is ' || json_type(d.Namespace) || ', not a string' END] "
    "|| list_transform(flatten(d.Dimensions), k -> CASE WHEN " + _NOT.format(v="k", ok="'VARCHAR'")
    + " THEN 'a dimension name is ' || json_type(k) || ', not a string' END) "
    "|| list_transform(d.Metrics, x -> CASE "
    "WHEN " + _NOT.format(v="x.Name", ok="'VARCHAR', 'NULL'")
    + " THEN 'Name is ' || json_type(x.Name) || ', not a string' "
    "WHEN " + _NOT.format(v="x.Unit", ok="'VARCHAR', 'NULL'")
    + " THEN 'Unit of ' || " + _NAME + " || ' is ' || json_type(x.Unit) || ', not a string' "
    "WHEN " + _NOT.format(v="x.StorageResolution", ok="'BIGINT', 'UBIGINT', 'NULL'")
    + " THEN 'StorageResolution of ' || " + _NAME + " || ' is ' || json_type(x.StorageResolution) "
    "|| ', not an integer' END))), v -> v IS NOT NULL)[1]"
)

EMF_COLUMNS = (
    "rec_id", "source", "ts", "namespace", "metric_name", "unit", "storage_resolution", "value", "value_index",
    "service", "edge_location", "model", "dimensions", "dimension_sets",
)


def parse_emf(con: duckdb.DuckDBPyConnection, lo_ms: int, hi_ms: int) -> int:
    """From ``lines`` build ``emf_good`` (valid events), ``emf_bad`` (quarantine shape) and the view ``emf_rows``;
    returns the number of duplicate events dropped.

    ``[lo_ms, hi_ms)`` is the accepted timestamp range; outside it an event is quarantined as ``outside_partition``.
    All checks run per event on nested lists (one row per event); only the output view unnests to one row per
    value, and it is evaluated once, by the Parquet writer. ``emf_good(rec_id, source, t, n_rows)`` is what the
    ingest counts and what a later partition check may delete from. A valid event whose line repeats an earlier
    valid line exactly is a re-delivery: it is dropped and counted, as duplicate X-Ray documents and OTLP spans are.
    The accepted time range is a bound parameter; everything else formatted into the SQL is our own constants.
    """
    con.execute("DROP TABLE IF EXISTS emf_good; DROP TABLE IF EXISTS emf_bad; DROP TABLE IF EXISTS emf_p1; "
                "DROP TABLE IF EXISTS emf_p2")
    con.execute("DROP VIEW IF EXISTS emf_rows")
    # 1. One parse per line into a map of root members; everything else reads small member values from the map.
    # The map holds each member as DuckDB re-serialised it (no leading blanks), so `_aws` is an object exactly when its
    # text starts with '{': json_type() would parse 250 bytes a line again (0.5 s a million events).
    con.execute(
        f"""CREATE TEMP TABLE emf_p1 AS
        WITH p AS (
            SELECT rec_id, source, raw, try(json_transform_strict(raw, '"MAP(VARCHAR, JSON)"')) AS m FROM lines
        ), a AS (
            SELECT rec_id, source, raw, m, m['_aws'] AS aws_json, json_transform(m['_aws'], '{_AWS_TYPE}') AS aws,
                   regexp_matches(m['_aws'], $suspect) AS suspect
            FROM p
        ), b AS (
            SELECT *, list_distinct(flatten(flatten(list_transform(aws.CloudWatchMetrics, d -> d.Dimensions))))
                      AS dim_keys,
                   json_type(aws.Timestamp) AS ts_type, TRY_CAST(aws.Timestamp AS BIGINT) AS ts_ms
            FROM a
        ), c AS (
            SELECT *, list_transform(dim_keys, k -> m[k]) AS dim_vals FROM b
        )
        SELECT rec_id, source,
            CASE
                WHEN m IS NULL AND NOT json_valid(raw) THEN '{Reason.INVALID_JSON}'
                WHEN m IS NULL THEN '{Reason.NOT_AN_OBJECT}'
                WHEN aws_json IS NULL THEN '{Reason.MISSING_AWS}'
                WHEN NOT starts_with(aws_json, '{{') THEN '{Reason.INVALID_AWS}'
                WHEN ts_ms IS NULL OR ts_type NOT IN ('BIGINT', 'UBIGINT') THEN '{Reason.INVALID_AWS}'
                WHEN aws.CloudWatchMetrics IS NULL OR len(aws.CloudWatchMetrics) = 0 THEN '{Reason.INVALID_AWS}'
                WHEN ts_ms < $lo_ms OR ts_ms >= $hi_ms THEN '{Reason.OUTSIDE_PARTITION}'
            END AS reason0,
            CASE
                WHEN m IS NULL THEN NULL
                WHEN aws_json IS NULL THEN 'no _aws member'
                WHEN NOT starts_with(aws_json, '{{') THEN '_aws is ' || json_type(aws_json)
                WHEN ts_ms IS NULL OR ts_type NOT IN ('BIGINT', 'UBIGINT') THEN '_aws.Timestamp missing or not an integer'
                WHEN aws.CloudWatchMetrics IS NULL OR len(aws.CloudWatchMetrics) = 0
                    THEN '_aws.CloudWatchMetrics missing, empty or malformed'
                WHEN ts_ms < $lo_ms OR ts_ms >= $hi_ms THEN 'Timestamp ' || ts_ms
            END AS detail0,
            ts_ms,
            CASE WHEN suspect AND starts_with(aws_json, '{{') THEN coalesce({_SHAPE}, {_WRONG_TYPED}) END AS wrong_typed,
            list_bool_or(list_transform(aws.CloudWatchMetrics, d -> list_bool_or(list_transform(d.Dimensions,
                s -> s IS NULL)))) AS set_not_array,
            list_filter(dim_keys, (k, i) -> dim_vals[i] IS NULL) AS dim_missing,
            list_filter(dim_keys, (k, i) -> NOT starts_with(dim_vals[i], '"')) AS dim_not_string,
            map(dim_keys, list_transform(dim_vals, v -> json_extract_string(v, '$'))) AS dims,
            list_transform(aws.CloudWatchMetrics, d -> {{
                'ns': d.Namespace, 'sets': d.Dimensions, 'has_metrics': d.Metrics IS NOT NULL,
                'metrics': list_transform(d.Metrics, x -> {{
                    'name': x.Name, 'unit': x.Unit, 'res': x.StorageResolution, 'vj': m[x.Name]}})}}) AS dirs
        FROM c""", {"lo_ms": int(lo_ms), "hi_ms": int(hi_ms), "suspect": _SUSPECT}
    )
    # 2. Directive, dimension and value checks per event; the first failing rule names the reason.
    bad_metric = (
        "list_filter(flatten(list_transform(dirs, d -> d.metrics)), x -> x.vj IS NULL OR x.vals IS NULL "
        f"OR len(x.vals) = 0 OR len(x.vals) > {EMF_MAX_VALUES} "
        "OR list_bool_or(list_transform(x.vals, v -> v IS NULL OR isnan(v) OR isinf(v))) "
        "OR (x.res IS NOT NULL AND x.res NOT IN (1, 60)))[1]"
    )
    con.execute(
        f"""CREATE TEMP TABLE emf_p2 AS
        WITH v AS (
            SELECT * REPLACE (list_transform(dirs, d -> {{
                'ns': d.ns, 'sets': d.sets, 'has_metrics': d.has_metrics,
                'metrics': list_transform(d.metrics, x -> {{
                    'name': x.name, 'unit': x.unit, 'res': x.res, 'vj': x.vj,
                    'vals': CASE WHEN regexp_matches(x.vj, '"|true|false|null') THEN NULL  -- numbers only
                                 WHEN starts_with(x.vj, '[') THEN TRY_CAST(x.vj::JSON AS DOUBLE[])
                                 ELSE [TRY_CAST(x.vj::JSON AS DOUBLE)] END}})}}) AS dirs)
            FROM emf_p1 WHERE reason0 IS NULL
        ), c AS (
            SELECT *,
                list_bool_or(list_transform(dirs, d -> d.ns IS NULL OR d.ns = '')) AS no_ns,
                list_bool_or(list_transform(dirs, d -> NOT d.has_metrics OR d.sets IS NULL)) AS no_parts,
                list_bool_or(list_transform(dirs, d -> len(d.metrics) > {EMF_MAX_METRICS}
                    OR list_bool_or(list_transform(d.sets, s -> len(s) > {EMF_MAX_DIMENSIONS})))) AS over_limit,
                list_bool_or(list_transform(dirs, d -> list_bool_or(list_transform(d.metrics, x -> x.name IS NULL))))
                    AS unnamed,
                {bad_metric} AS bm
            FROM v
        )
        SELECT rec_id,
            CASE WHEN wrong_typed IS NOT NULL OR set_not_array THEN '{Reason.WRONG_TYPE}'
                 WHEN no_ns THEN '{Reason.MISSING_FIELD}'
                 WHEN no_parts THEN '{Reason.MISSING_FIELD}'
                 WHEN over_limit THEN '{Reason.LIMIT_EXCEEDED}'
                 WHEN unnamed THEN '{Reason.MISSING_FIELD}'
                 WHEN len(dim_missing) > 0 THEN '{Reason.MISSING_DIMENSION}'
                 WHEN len(dim_not_string) > 0 THEN '{Reason.WRONG_TYPE}'
                 WHEN bm.vj IS NULL AND bm.name IS NOT NULL THEN '{Reason.MISSING_METRIC_VALUE}'
                 WHEN bm.vals IS NULL AND bm.name IS NOT NULL THEN '{Reason.WRONG_TYPE}'
                 WHEN len(bm.vals) = 0 THEN '{Reason.WRONG_TYPE}'
                 WHEN list_bool_or(list_transform(bm.vals, v -> v IS NULL)) THEN '{Reason.WRONG_TYPE}'
                 WHEN len(bm.vals) > {EMF_MAX_VALUES} THEN '{Reason.TOO_MANY_VALUES}'
                 WHEN list_bool_or(list_transform(bm.vals, v -> isnan(v) OR isinf(v))) THEN '{Reason.NON_FINITE}'
                 WHEN bm.name IS NOT NULL THEN '{Reason.WRONG_TYPE}'
            END AS reason,
            CASE WHEN wrong_typed IS NOT NULL THEN 'CloudWatchMetrics: ' || wrong_typed
                 WHEN set_not_array THEN 'CloudWatchMetrics: a dimension set is not an array'
                 WHEN no_ns THEN 'Namespace missing in a CloudWatchMetrics directive'
                 WHEN no_parts THEN 'Metrics or Dimensions missing in a CloudWatchMetrics directive'
                 WHEN over_limit THEN 'more than {EMF_MAX_METRICS} metrics or {EMF_MAX_DIMENSIONS} dimensions in a set'
                 WHEN unnamed THEN 'a metric without Name'
                 WHEN len(dim_missing) > 0 THEN 'dimension ' || dim_missing[1] || ' has no member'
                 WHEN len(dim_not_string) > 0 THEN 'dimension ' || dim_not_string[1] || ' is not a string'
                 WHEN bm.vj IS NULL AND bm.name IS NOT NULL THEN 'metric ' || bm.name || ' has no member'
                 WHEN (bm.vals IS NULL OR list_bool_or(list_transform(bm.vals, v -> v IS NULL))) AND bm.name IS NOT NULL
                     THEN 'metric ' || bm.name || ' is ' || json_type(bm.vj::JSON) || ', not a number or number array'
                 WHEN len(bm.vals) = 0 THEN 'metric ' || bm.name || ' is an empty array'
                 WHEN len(bm.vals) > {EMF_MAX_VALUES} THEN 'metric ' || bm.name || ' has ' || len(bm.vals) || ' values'
                 WHEN list_bool_or(list_transform(bm.vals, v -> isnan(v) OR isinf(v)))
                     THEN 'metric ' || bm.name || ' holds NaN or Infinity'
                 WHEN bm.name IS NOT NULL
                     THEN 'metric ' || bm.name || ' StorageResolution ' || bm.res || ' is not 1 or 60'
            END AS detail,
            source, make_timestamptz(ts_ms * 1000) AS t, ts_ms,
            list_sum(list_transform(dirs, d -> list_sum(list_transform(d.metrics, x -> len(x.vals))))) AS n_rows,
            dims['Service'] AS service, dims['EdgeLocation'] AS edge_location, dims['Model'] AS model,
            to_json(dims)::VARCHAR AS dimensions, dirs
        FROM c"""
    )
    con.execute(
        """CREATE TEMP TABLE emf_bad AS
        SELECT l.source, line_of(l.rec_id) AS line, b.reason, b.detail, l.raw,
               CASE WHEN b.ts_ms BETWEEN -62135596800000 AND 253402300799000
                    THEN make_timestamptz(b.ts_ms * 1000) END AS record_ts
        FROM (SELECT rec_id, reason0 AS reason, detail0 AS detail, ts_ms FROM emf_p1 WHERE reason0 IS NOT NULL
              UNION ALL
              SELECT rec_id, reason, detail, ts_ms FROM emf_p2 WHERE reason IS NOT NULL) b
        JOIN lines l USING (rec_id)"""
    )
    # What is left in emf_p2 are the good events, already shaped for the output view.
    con.execute("DELETE FROM emf_p2 WHERE reason IS NOT NULL")
    con.execute("ALTER TABLE emf_p2 RENAME TO emf_good")
    con.execute("DROP TABLE emf_p1")
    # Exact re-deliveries: the same line again (the first copy is kept). Lines are compared whole only where their
    # 64-bit hashes collide, which is three times cheaper than partitioning every line by its text.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE emf_dup AS
        WITH h AS (SELECT g.rec_id, hash(l.raw) AS h FROM emf_good g JOIN lines l USING (rec_id))
        SELECT rec_id FROM (
            SELECT h.rec_id, row_number() OVER (PARTITION BY l.raw ORDER BY h.rec_id) AS rk
            FROM h JOIN lines l USING (rec_id) WHERE h.h IN (SELECT h FROM h GROUP BY h HAVING count(*) > 1))
        WHERE rk > 1"""
    )
    dups = con.execute("SELECT count(*) FROM emf_dup").fetchone()[0]
    if dups:
        con.execute("DELETE FROM emf_good WHERE rec_id IN (SELECT rec_id FROM emf_dup)")
    con.execute("DROP TABLE emf_dup")
    con.execute(
        """CREATE TEMP VIEW emf_rows AS
        WITH d AS (
            SELECT rec_id, source, t, service, edge_location, model, dimensions, unnest(dirs) AS d FROM emf_good
        ), x AS (
            SELECT rec_id, source, t, service, edge_location, model, dimensions, d.ns AS namespace,
                   to_json(d.sets)::VARCHAR AS dimension_sets, unnest(d.metrics) AS x
            FROM d
        )
        SELECT rec_id, source, t AS ts, namespace, x.name AS metric_name, coalesce(x.unit, 'None') AS unit,
               coalesce(x.res, 60)::INTEGER AS storage_resolution,
               unnest(x.vals) AS value, unnest(range(len(x.vals)))::INTEGER AS value_index,
               service, edge_location, model, dimensions, dimension_sets
        FROM x"""
    )
    return int(dups)
