"""CloudWatch Embedded Metric Format (EMF) log events -> one row per metric value, by the EMF specification.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
Each event is a JSON object whose ``_aws`` member holds ``Timestamp`` (epoch ms) and ``CloudWatchMetrics``: a list of
directives, each with a ``Namespace``, ``Dimensions`` (a list of dimension sets, each a list of member names) and
``Metrics`` (``Name``, optional ``Unit`` and ``StorageResolution``). A metric's value is the root member with its name:
a number or an array of at most 100 numbers; dimension values are root members holding strings.

The whole event is the record: if any part breaks the specification the event is quarantined with the first reason,
otherwise every value becomes a row carrying all the event's dimensions (a map) and its dimension sets.
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
    '{"Timestamp":"BIGINT","CloudWatchMetrics":[{"Namespace":"VARCHAR","Dimensions":[["VARCHAR"]],'
    '"Metrics":[{"Name":"VARCHAR","Unit":"VARCHAR","StorageResolution":"INTEGER"}]}]}'
)

EMF_COLUMNS = (
    "rec_id", "source", "ts", "namespace", "metric_name", "unit", "storage_resolution", "value", "value_index",
    "service", "edge_location", "model", "dimensions", "dimension_sets",
)


def parse_emf(con: duckdb.DuckDBPyConnection, lo_ms: int, hi_ms: int) -> None:
    """From ``lines`` build ``emf_rows`` (good values) and ``emf_bad`` (quarantined events, quarantine shape).

    ``[lo_ms, hi_ms)`` is the accepted timestamp range (the partition plus tolerance); outside it an event is
    quarantined as ``outside_partition``.
    """
    con.execute("DROP TABLE IF EXISTS emf_recs; DROP TABLE IF EXISTS emf_rows; DROP TABLE IF EXISTS emf_bad")
    # 1. One parse per line: a map of root members, then the small _aws member typed.
    con.execute(
        f"""CREATE TEMP TABLE emf_recs AS
        WITH p AS (
            SELECT rec_id, source, raw, try(json_transform_strict(raw, '"MAP(VARCHAR, JSON)"')) AS m FROM lines
        ), a AS (
            SELECT *, m['_aws'] AS aws_json, json_transform(m['_aws'], '{_AWS_TYPE}') AS aws FROM p
        )
        SELECT rec_id, source, raw, m, aws,
            list_distinct(flatten(flatten(list_transform(aws.CloudWatchMetrics, d -> d.Dimensions)))) AS dim_keys,
            CASE
                WHEN m IS NULL AND NOT json_valid(raw) THEN '{Reason.INVALID_JSON}'
                WHEN m IS NULL THEN '{Reason.NOT_AN_OBJECT}'
                WHEN aws_json IS NULL THEN '{Reason.MISSING_AWS}'
                WHEN json_type(aws_json) <> 'OBJECT' THEN '{Reason.INVALID_AWS}'
                WHEN aws.Timestamp IS NULL OR json_type(aws_json, '$.Timestamp') NOT IN ('BIGINT', 'UBIGINT') THEN '{Reason.INVALID_AWS}'
                WHEN aws.CloudWatchMetrics IS NULL OR len(aws.CloudWatchMetrics) = 0 THEN '{Reason.INVALID_AWS}'
                WHEN aws.Timestamp < {int(lo_ms)} OR aws.Timestamp >= {int(hi_ms)} THEN '{Reason.OUTSIDE_PARTITION}'
            END AS reason,
            CASE
                WHEN m IS NULL THEN NULL
                WHEN aws_json IS NULL THEN 'no _aws member'
                WHEN json_type(aws_json) <> 'OBJECT' THEN '_aws is ' || json_type(aws_json)
                WHEN aws.Timestamp IS NULL OR json_type(aws_json, '$.Timestamp') NOT IN ('BIGINT', 'UBIGINT') THEN '_aws.Timestamp missing or not an integer'
                WHEN aws.CloudWatchMetrics IS NULL OR len(aws.CloudWatchMetrics) = 0
                    THEN '_aws.CloudWatchMetrics missing, empty or malformed'
                ELSE 'Timestamp ' || aws.Timestamp
            END AS detail
        FROM a"""
    )
    # 2. Directive-level and dimension checks on events that passed step 1.
    con.execute(
        f"""UPDATE emf_recs SET
            reason = CASE
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics, d -> d.Namespace IS NULL OR d.Namespace = ''))
                    THEN '{Reason.MISSING_FIELD}'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics, d -> d.Metrics IS NULL OR d.Dimensions IS NULL))
                    THEN '{Reason.MISSING_FIELD}'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics,
                        d -> len(d.Metrics) > {EMF_MAX_METRICS}
                             OR list_bool_or(list_transform(d.Dimensions, s -> len(s) > {EMF_MAX_DIMENSIONS}))))
                    THEN '{Reason.LIMIT_EXCEEDED}'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics,
                        d -> list_bool_or(list_transform(d.Metrics, x -> x.Name IS NULL))))
                    THEN '{Reason.MISSING_FIELD}'
                WHEN len(list_filter(dim_keys, k -> m[k] IS NULL)) > 0 THEN '{Reason.MISSING_DIMENSION}'
                WHEN len(list_filter(dim_keys, k -> json_type(m[k]) <> 'VARCHAR')) > 0 THEN '{Reason.WRONG_TYPE}'
            END,
            detail = CASE
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics, d -> d.Namespace IS NULL OR d.Namespace = ''))
                    THEN 'Namespace missing in a CloudWatchMetrics directive'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics, d -> d.Metrics IS NULL OR d.Dimensions IS NULL))
                    THEN 'Metrics or Dimensions missing in a CloudWatchMetrics directive'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics,
                        d -> len(d.Metrics) > {EMF_MAX_METRICS}
                             OR list_bool_or(list_transform(d.Dimensions, s -> len(s) > {EMF_MAX_DIMENSIONS}))))
                    THEN 'more than {EMF_MAX_METRICS} metrics or {EMF_MAX_DIMENSIONS} dimensions in a set'
                WHEN list_bool_or(list_transform(aws.CloudWatchMetrics,
                        d -> list_bool_or(list_transform(d.Metrics, x -> x.Name IS NULL))))
                    THEN 'a metric without Name'
                WHEN len(list_filter(dim_keys, k -> m[k] IS NULL)) > 0
                    THEN 'dimension ' || list_filter(dim_keys, k -> m[k] IS NULL)[1] || ' has no member'
                WHEN len(list_filter(dim_keys, k -> json_type(m[k]) <> 'VARCHAR')) > 0
                    THEN 'dimension ' || list_filter(dim_keys, k -> json_type(m[k]) <> 'VARCHAR')[1] || ' is not a string'
            END
        WHERE reason IS NULL"""
    )
    # 3. One row per metric with its value(s), then value checks.
    con.execute(
        f"""CREATE TEMP TABLE emf_metric AS
        WITH d AS (
            SELECT rec_id, aws.Timestamp AS ts_ms, unnest(aws.CloudWatchMetrics) AS d,
                   map_from_entries(list_transform(dim_keys, k -> {{'key': k, 'value': json_extract_string(m[k], '$')}}))
                       AS dims,
                   m
            FROM emf_recs WHERE reason IS NULL
        ), x AS (
            SELECT rec_id, ts_ms, d.Namespace AS namespace, d.Dimensions AS dimension_sets, dims,
                   unnest(list_transform(d.Metrics, x -> {{'name': x.Name, 'unit': x.Unit,
                        'res': x.StorageResolution, 'vj': m[x.Name]}})) AS x
            FROM d
        )
        SELECT rec_id, ts_ms, namespace, dimension_sets, dims, x.name AS metric_name, x.unit AS unit,
               x.res AS storage_resolution, json_type(x.vj) AS vt,
               CASE WHEN json_type(x.vj) = 'ARRAY' AND coalesce(list_bool_and(list_transform(json_type(x.vj, '$[*]'),
                             t -> t IN ('BIGINT', 'UBIGINT', 'DOUBLE'))), true)  -- no strings, booleans or nulls
                        THEN try(json_transform_strict(x.vj, '["DOUBLE"]'))
                    WHEN json_type(x.vj) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN [TRY_CAST(x.vj AS DOUBLE)]
               END AS vals
        FROM x"""
    )
    con.execute(
        f"""CREATE TEMP TABLE emf_metric_bad AS
        SELECT rec_id, min_by(reason, ord) AS reason, min_by(detail, ord) AS detail FROM (
            SELECT rec_id, metric_name,
                CASE WHEN vt IS NULL THEN '{Reason.MISSING_METRIC_VALUE}'
                     WHEN vals IS NULL THEN '{Reason.WRONG_TYPE}'
                     WHEN len(vals) = 0 THEN '{Reason.WRONG_TYPE}'
                     WHEN len(vals) > {EMF_MAX_VALUES} THEN '{Reason.TOO_MANY_VALUES}'
                     WHEN list_bool_or(list_transform(vals, v -> isnan(v) OR isinf(v))) THEN '{Reason.NON_FINITE}'
                     WHEN storage_resolution IS NOT NULL AND storage_resolution NOT IN (1, 60) THEN '{Reason.WRONG_TYPE}'
                END AS reason,
                CASE WHEN vt IS NULL THEN 'metric ' || metric_name || ' has no member'
                     WHEN vals IS NULL THEN 'metric ' || metric_name || ' is ' || vt || ', not a number or number array'
                     WHEN len(vals) = 0 THEN 'metric ' || metric_name || ' is an empty array'
                     WHEN len(vals) > {EMF_MAX_VALUES} THEN 'metric ' || metric_name || ' has ' || len(vals) || ' values'
                     WHEN list_bool_or(list_transform(vals, v -> isnan(v) OR isinf(v)))
                         THEN 'metric ' || metric_name || ' holds NaN or Infinity'
                     ELSE 'metric ' || metric_name || ' StorageResolution ' || storage_resolution || ' is not 1 or 60'
                END AS detail,
                row_number() OVER () AS ord
            FROM emf_metric
        ) WHERE reason IS NOT NULL GROUP BY rec_id"""
    )
    con.execute(
        """UPDATE emf_recs SET reason = b.reason, detail = b.detail FROM emf_metric_bad b
           WHERE emf_recs.rec_id = b.rec_id AND emf_recs.reason IS NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE emf_bad AS
        SELECT source, NULL::BIGINT AS line, reason, detail, raw,
               CASE WHEN aws.Timestamp BETWEEN -62135596800000 AND 253402300799000
                    THEN make_timestamptz(aws.Timestamp * 1000) END AS record_ts
        FROM emf_recs WHERE reason IS NOT NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE emf_rows AS
        SELECT m.rec_id, r.source, make_timestamptz(m.ts_ms * 1000) AS ts, m.namespace, m.metric_name,
               coalesce(m.unit, 'None') AS unit, coalesce(m.storage_resolution, 60)::INTEGER AS storage_resolution,
               unnest(m.vals) AS value, unnest(range(len(m.vals)))::INTEGER AS value_index,
               m.dims['Service'] AS service, m.dims['EdgeLocation'] AS edge_location, m.dims['Model'] AS model,
               m.dims AS dimensions, m.dimension_sets
        FROM emf_metric m JOIN emf_recs r ON r.rec_id = m.rec_id
        WHERE r.reason IS NULL"""
    )
    con.execute("DROP TABLE emf_metric; DROP TABLE emf_metric_bad")
