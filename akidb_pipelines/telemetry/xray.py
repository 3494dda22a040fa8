"""AWS X-Ray segment documents -> one row per segment and subsegment, any depth.

Document format: https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html
A line holds one segment document (or an independent subsegment document, ``"type": "subsegment"``). Nested
``subsegments`` are flattened level by level until none remain (at most ``MAX_DEPTH`` levels: a document nested
deeper is quarantined, not cut); each row keeps its parent's id, the id of the
document's root and its depth. The document is the record: one invalid node quarantines the whole document.
Duplicate documents (same trace id and id) keep the most complete copy (finished over in-progress) and are counted.
"""

from __future__ import annotations

import duckdb

from akidb_pipelines.telemetry.conventions import Reason

_NODE = (
    '{"id":"VARCHAR","name":"VARCHAR","trace_id":"VARCHAR","parent_id":"VARCHAR","type":"VARCHAR",'
    '"start_time":"DOUBLE","end_time":"DOUBLE","in_progress":"JSON","origin":"VARCHAR","namespace":"VARCHAR",'
    '"error":"JSON","fault":"JSON","throttle":"JSON",'
    '"http":{"request":{"method":"VARCHAR","url":"VARCHAR"},"response":{"status":"JSON"}},'
    '"annotations":"MAP(VARCHAR, VARCHAR)","subsegments":["JSON"]}'
)
# The flags are read as JSON and must be true, false or absent: DuckDB's lenient cast would read "yes" and 2.5 as
# true and [1] or {} as absent (a fault silently not counted).
FLAGS = ("error", "fault", "throttle", "in_progress")
_NOT_A_FLAG = " OR ".join(f"coalesce(json_type(n.{f}) NOT IN ('BOOLEAN', 'NULL'), false)" for f in FLAGS)
_BAD_FLAG = "list_filter([" + ", ".join(
    f"CASE WHEN coalesce(json_type(n.{f}) NOT IN ('BOOLEAN', 'NULL'), false) THEN '{f}' END" for f in FLAGS
) + "], x -> x IS NOT NULL)[1]"
# The node is read leniently: ``subsegments`` that is not an array (an object, a string) reads as no subsegments
# (whatever it holds lost without a word), a name 5 as the text '5', annotations that are a string as none, a start
# time "1700000000" as a number. A document whose text shows a member of the wrong JSON type somewhere (the regular
# expression; a key of the same name in its metadata may match too) keeps its nodes' texts, and only those are
# parsed a second time to check each member's type.
_SUSPECT = "|".join((
    r'"subsegments"\s*:\s*[^\s\[n]',
    r'"(id|parent_id|trace_id|name|origin|type|namespace|method|url)"\s*:\s*[^\s"n]',
    r'"(http|request|response|annotations)"\s*:\s*[^\s{n]',
    r'"(start_time|end_time)"\s*:\s*"',
    r'"annotations"\s*:\s*\{[^}]*:\s*[\[{]',
))
_TYPED = (  # (member, the JSON types it may have besides null)
    ("id", "VARCHAR"), ("parent_id", "VARCHAR"), ("trace_id", "VARCHAR"), ("name", "VARCHAR"),
    ("origin", "VARCHAR"), ("type", "VARCHAR"), ("namespace", "VARCHAR"),
    ("start_time", "DOUBLE BIGINT UBIGINT"), ("end_time", "DOUBLE BIGINT UBIGINT"), ("http", "OBJECT"),
    ("http.request", "OBJECT"), ("http.response", "OBJECT"), ("http.request.method", "VARCHAR"),
    ("http.request.url", "VARCHAR"), ("annotations", "OBJECT"),
)
_JT = "json_type(txt, [" + ", ".join(f"'$.{m}'" for m, _ in _TYPED) + "])"
_WRONG_MEMBER = "CASE " + " ".join(
    f"WHEN jt[{i}] NOT IN ({', '.join(repr(t) for t in ok.split())}, 'NULL') THEN '{m} is ' || jt[{i}]"
    for i, (m, ok) in enumerate(_TYPED, 1)
) + " WHEN ann_nested THEN 'an annotation value is an object or array' END"
_SUBSEGMENTS_NOT_A_LIST = ("txt IS NOT NULL AND n.subsegments IS NULL "
                           "AND coalesce(json_type(txt, '$.subsegments') NOT IN ('ARRAY', 'NULL'), false)")
MAX_DEPTH = 64   # levels of subsegments flattened; a document nested deeper is quarantined whole (limit_exceeded)

XRAY_COLUMNS = (
    "rec_id", "source", "trace_id", "id", "parent_id", "segment_id", "kind", "depth", "name", "origin", "namespace",
    "tier", "start_time", "end_time", "duration_ms", "in_progress", "http_method", "http_url", "http_status",
    "error", "fault", "throttle", "annotations", "edge_location", "model", "instance_lifecycle",
)


def parse_xray(con: duckdb.DuckDBPyConnection, lo_s: float, hi_s: float) -> int:
    """From ``lines`` build ``xray_rows`` and ``xray_bad``; returns the number of duplicate documents dropped.

    The accepted time range is a bound parameter; what is formatted into the SQL is our own constants."""
    for t in ("xr_docs", "xr_nodes", "xray_rows", "xray_bad", "xr_level"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute(
        f"""CREATE TEMP TABLE xr_docs AS
        SELECT rec_id, source, raw, starts_with(ltrim(raw), '{{') AS is_object,  -- valid JSON that opens with a brace is an object
               try(json_transform(raw, '{_NODE}')) AS n,
               regexp_matches(raw, $suspect) AS suspect
        FROM lines""", {"suspect": _SUSPECT}
    )
    con.execute(
        """CREATE TEMP TABLE xr_level AS
        SELECT rec_id, 0 AS depth, n, n.trace_id AS trace_id, n.parent_id AS parent_id, n.id AS segment_id,
               suspect, CASE WHEN suspect THEN raw END AS txt,
               coalesce(n.annotations['tier'],
                        CASE WHEN n.origin LIKE 'AWS::CloudFront%' THEN 'cloudfront'
                             WHEN n.origin LIKE 'AWS::Lambda%' THEN 'lambda-edge'
                             WHEN n.origin LIKE 'AWS::ElasticLoadBalancing%' THEN 'alb'
                             ELSE n.name END) AS tier
        FROM xr_docs WHERE is_object AND n IS NOT NULL"""
    )
    con.execute("CREATE TEMP TABLE xr_nodes AS SELECT * EXCLUDE (n), n FROM xr_level WHERE false")
    depth = 0
    while True:
        con.execute("INSERT INTO xr_nodes BY NAME SELECT * FROM xr_level")
        if depth >= MAX_DEPTH:
            break
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE xr_next AS
            SELECT rec_id, depth + 1 AS depth,
                   CASE WHEN json_type(s) = 'OBJECT' THEN try(json_transform(s, '{_NODE}')) END AS n,
                   trace_id, parent_id, segment_id,
                   tier, suspect, CASE WHEN suspect THEN s END AS txt
            FROM (SELECT rec_id, depth, trace_id, n.id AS parent_id, segment_id, tier, suspect, unnest(n.subsegments) AS s
                  FROM xr_level WHERE len(n.subsegments) > 0)"""
        )
        con.execute("DROP TABLE xr_level; ALTER TABLE xr_next RENAME TO xr_level")
        if con.execute("SELECT count(*) FROM xr_level").fetchone()[0] == 0:
            break
        depth += 1
    con.execute("DROP TABLE IF EXISTS xr_level")
    # Node checks; the first failing node (shallowest) names the document's reason.
    con.execute(
        f"""CREATE TEMP TABLE xr_node_bad AS
        SELECT rec_id, min_by(reason, depth) AS reason, min_by(detail, depth) AS detail FROM (
          SELECT rec_id, depth,
            CASE WHEN n IS NULL THEN '{Reason.WRONG_TYPE}'
                 WHEN {_SUBSEGMENTS_NOT_A_LIST} THEN '{Reason.WRONG_TYPE}'
                 WHEN depth >= {MAX_DEPTH} AND len(n.subsegments) > 0 THEN '{Reason.LIMIT_EXCEEDED}'
                 WHEN wrong_member IS NOT NULL THEN '{Reason.WRONG_TYPE}'
                 WHEN n.id IS NULL THEN '{Reason.MISSING_FIELD}'
                 WHEN NOT regexp_full_match(n.id, '[0-9a-f]{{16}}') THEN '{Reason.INVALID_ID}'
                 WHEN depth = 0 AND n.trace_id IS NULL THEN '{Reason.MISSING_FIELD}'
                 WHEN depth = 0 AND NOT regexp_full_match(n.trace_id, '1-[0-9a-f]{{8}}-[0-9a-f]{{24}}') THEN '{Reason.INVALID_ID}'
                 WHEN depth = 0 AND n.type = 'subsegment' AND n.parent_id IS NULL THEN '{Reason.MISSING_FIELD}'
                 WHEN n.name IS NULL OR n.name = '' THEN '{Reason.MISSING_FIELD}'
                 WHEN {_NOT_A_FLAG} THEN '{Reason.WRONG_TYPE}'
                 WHEN n.start_time IS NULL THEN '{Reason.MISSING_FIELD}'
                 WHEN isnan(n.start_time) OR isinf(n.start_time) OR isnan(n.end_time) OR isinf(n.end_time)
                     THEN '{Reason.NON_FINITE}'
                 WHEN n.end_time IS NULL AND NOT coalesce(n.in_progress = 'true', false) THEN '{Reason.MISSING_FIELD}'
                 WHEN n.end_time < n.start_time THEN '{Reason.NEGATIVE_DURATION}'
                 WHEN n.http.response.status IS NOT NULL AND (
                      json_type(n.http.response.status) NOT IN ('BIGINT', 'UBIGINT')
                      OR NOT coalesce(TRY_CAST(n.http.response.status AS BIGINT) BETWEEN 100 AND 599, false)) THEN '{Reason.INVALID_STATUS}'
                 WHEN depth = 0 AND (n.start_time < $lo_s OR n.start_time >= $hi_s)
                     THEN '{Reason.OUTSIDE_PARTITION}'
            END AS reason,
            CASE WHEN n IS NULL THEN 'subsegment at depth ' || depth || ' is not an object'
                 WHEN {_SUBSEGMENTS_NOT_A_LIST}
                     THEN 'subsegments at depth ' || depth || ' is ' || json_type(txt, '$.subsegments') || ', not an array'
                 WHEN depth >= {MAX_DEPTH} AND len(n.subsegments) > 0
                     THEN 'subsegments nested deeper than {MAX_DEPTH} levels'
                 WHEN wrong_member IS NOT NULL THEN wrong_member || ' at depth ' || depth
                 WHEN n.id IS NULL THEN 'id missing at depth ' || depth
                 WHEN NOT regexp_full_match(n.id, '[0-9a-f]{{16}}') THEN 'id ' || n.id || ' is not 16 hex digits'
                 WHEN depth = 0 AND n.trace_id IS NULL THEN 'trace_id missing'
                 WHEN depth = 0 AND NOT regexp_full_match(n.trace_id, '1-[0-9a-f]{{8}}-[0-9a-f]{{24}}')
                     THEN 'trace_id ' || n.trace_id || ' is not 1-<8 hex>-<24 hex>'
                 WHEN depth = 0 AND n.type = 'subsegment' AND n.parent_id IS NULL THEN 'independent subsegment without parent_id'
                 WHEN n.name IS NULL OR n.name = '' THEN 'name missing at depth ' || depth
                 WHEN {_NOT_A_FLAG} THEN {_BAD_FLAG} || ' is not true or false at depth ' || depth
                 WHEN n.start_time IS NULL THEN 'start_time missing or not a number at depth ' || depth
                 WHEN isnan(n.start_time) OR isinf(n.start_time) OR isnan(n.end_time) OR isinf(n.end_time)
                     THEN 'start_time/end_time is NaN or Infinity at depth ' || depth
                 WHEN n.end_time IS NULL AND NOT coalesce(n.in_progress = 'true', false)
                     THEN 'end_time missing (and not in_progress) at depth ' || depth
                 WHEN n.end_time < n.start_time THEN 'end_time before start_time at depth ' || depth
                 WHEN n.http.response.status IS NOT NULL
                     THEN 'http.response.status ' || n.http.response.status || ' is not an HTTP status'
                 ELSE 'start_time ' || n.start_time
            END AS detail
          FROM (SELECT *, {_WRONG_MEMBER} AS wrong_member FROM (
                  SELECT *, {_JT} AS jt,
                         list_bool_or(list_transform(map_values(json_transform(
                             txt, '{{"annotations":"MAP(VARCHAR, JSON)"}}').annotations),
                             v -> json_type(v) IN ('OBJECT', 'ARRAY'))) AS ann_nested
                  FROM xr_nodes WHERE txt IS NOT NULL)
                UNION ALL BY NAME
                SELECT *, NULL AS wrong_member FROM xr_nodes WHERE txt IS NULL)
        ) WHERE reason IS NOT NULL GROUP BY rec_id""", {"lo_s": float(lo_s), "hi_s": float(hi_s)}
    )
    con.execute(
        f"""CREATE TEMP TABLE xr_doc_status AS
        SELECT d.rec_id,
            CASE WHEN d.n IS NULL AND NOT json_valid(d.raw) THEN '{Reason.INVALID_JSON}'
                 WHEN NOT d.is_object OR d.n IS NULL THEN '{Reason.NOT_AN_OBJECT}'
                 ELSE b.reason END AS reason,
            CASE WHEN d.n IS NULL OR NOT d.is_object THEN NULL ELSE b.detail END AS detail
        FROM xr_docs d LEFT JOIN xr_node_bad b USING (rec_id)"""
    )
    # Duplicates among good documents: keep the finished copy, then the first seen.
    con.execute(
        """CREATE TEMP TABLE xr_keep AS
        SELECT x.rec_id, row_number() OVER (
                   PARTITION BY x.n.trace_id, x.n.id
                   ORDER BY (x.n.end_time IS NULL), coalesce(len(x.n.subsegments), 0) DESC, x.rec_id) AS rk
        FROM xr_nodes x JOIN xr_doc_status s USING (rec_id)
        WHERE x.depth = 0 AND s.reason IS NULL"""
    )
    dups = con.execute("SELECT count(*) FROM xr_keep WHERE rk > 1").fetchone()[0]
    con.execute(
        """CREATE TEMP TABLE xray_bad AS
        SELECT d.source, line_of(d.rec_id) AS line, s.reason, s.detail, d.raw,
               CASE WHEN d.n.start_time BETWEEN 0 AND 253402300799 THEN to_timestamp(d.n.start_time) END AS record_ts
        FROM xr_docs d JOIN xr_doc_status s USING (rec_id) WHERE s.reason IS NOT NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE xray_rows AS
        SELECT x.rec_id, d.source, x.trace_id, x.n.id AS id,
               CASE WHEN x.depth = 0 THEN x.n.parent_id ELSE x.parent_id END AS parent_id,
               x.segment_id,
               CASE WHEN x.depth = 0 AND coalesce(x.n.type, 'segment') <> 'subsegment' THEN 'segment' ELSE 'subsegment' END
                   AS kind,
               x.depth::INTEGER AS depth, x.n.name AS name, x.n.origin AS origin, x.n.namespace AS namespace,
               x.tier,
               to_timestamp(x.n.start_time) AS start_time, to_timestamp(x.n.end_time) AS end_time,
               (x.n.end_time - x.n.start_time) * 1000.0 AS duration_ms,
               coalesce(x.n.in_progress = 'true', false) AS in_progress,
               x.n.http.request.method AS http_method, x.n.http.request.url AS http_url,
               TRY_CAST(x.n.http.response.status AS INTEGER) AS http_status,
               coalesce(x.n.error = 'true', false) AS error, coalesce(x.n.fault = 'true', false) AS fault,
               coalesce(x.n.throttle = 'true', false) AS throttle,
               x.n.annotations AS annotations,
               x.n.annotations['edge_location'] AS edge_location, x.n.annotations['model'] AS model,
               x.n.annotations['instance_lifecycle'] AS instance_lifecycle
        FROM xr_nodes x
        JOIN xr_doc_status s USING (rec_id)
        JOIN xr_keep k USING (rec_id)
        JOIN xr_docs d USING (rec_id)
        WHERE s.reason IS NULL AND k.rk = 1"""
    )
    _attach_streamed(con)
    for t in ("xr_node_bad", "xr_doc_status", "xr_keep", "xr_nodes", "xr_docs"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return int(dups)


def _attach_streamed(con: duckdb.DuckDBPyConnection) -> None:
    """Attach independent subsegment documents to their parents through ``parent_id``.

    The X-Ray SDK sends each subsegment as its own document once a segment holds more than its streaming threshold
    (always on Lambda). Such a document's nodes take the depth below their parent, the segment's id and its tier,
    following chains of streamed documents within the batch. A document whose parent is not in the batch stays a
    subsegment (depth 1 and below, no segment id, the tier only when annotated): it is never counted as a segment."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE xr_attach AS
        WITH RECURSIVE base(rec_id, add_depth, segment_id, tier) AS (
            SELECT rec_id, 0, any_value(segment_id), any_value(tier) FROM xray_rows
            WHERE depth = 0 AND kind = 'segment' GROUP BY rec_id
            UNION ALL
            SELECT s.rec_id, b.add_depth + p.depth + 1, b.segment_id, b.tier
            FROM base b
            JOIN xray_rows p ON p.rec_id = b.rec_id
            JOIN xray_rows s ON s.depth = 0 AND s.kind = 'subsegment' AND s.trace_id = p.trace_id AND s.parent_id = p.id
            WHERE b.add_depth + p.depth < {MAX_DEPTH}
        )
        SELECT rec_id, min(add_depth) AS add_depth, any_value(segment_id) AS segment_id, any_value(tier) AS tier
        FROM base WHERE add_depth > 0 GROUP BY rec_id"""
    )
    con.execute(
        """UPDATE xray_rows SET depth = xray_rows.depth + a.add_depth, segment_id = a.segment_id, tier = a.tier
        FROM xr_attach a WHERE xray_rows.rec_id = a.rec_id"""
    )
    con.execute(
        """UPDATE xray_rows SET depth = xray_rows.depth + 1, segment_id = NULL, tier = o.tier
        FROM (SELECT rec_id, any_value(annotations['tier']) AS tier FROM xray_rows
              WHERE depth = 0 AND kind = 'subsegment' GROUP BY rec_id) o
        WHERE xray_rows.rec_id = o.rec_id AND xray_rows.rec_id NOT IN (SELECT rec_id FROM xr_attach)"""
    )
    con.execute("DROP TABLE xr_attach")
