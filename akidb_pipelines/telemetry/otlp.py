"""OpenTelemetry OTLP/JSON traces -> the same span rows as the X-Ray parser (table ``raw/xray_spans``).

Input: what an OpenTelemetry Collector's ``file`` exporter writes, one ``ExportTraceServiceRequest`` per line
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): ``resourceSpans[].resource.attributes[]``,
``scopeSpans[].spans[]``; ids are hex strings, times are nanosecond integers (usually JSON strings), enums are
integers (their ``SPAN_KIND_*`` / ``STATUS_CODE_*`` names are accepted too), attribute values are ``AnyValue``
objects (``stringValue``, ``intValue`` as a string, ``doubleValue``, ``boolValue``, ``arrayValue``, ...).

The record is the **span**: records read = spans found + lines quarantined whole, and each bad span is one
quarantine row (its ``raw`` is a one-span ``ExportTraceServiceRequest`` with its resource and scope, so it can be
replayed). A line is quarantined whole only when the envelope is broken (not JSON, not an object, no
``resourceSpans`` array, a non-object where an object belongs, malformed resource attributes). A well-formed line
without spans holds no record and is counted with the blank lines. Duplicate spans (same trace and span id) keep
the first copy and are counted as duplicates, like duplicate X-Ray documents.

Mapping to the X-Ray columns (``XRAY_COLUMNS``; chosen so that both sources give the same rows):

* ``trace_id``: the 32 hex digits in X-Ray form, ``1-<first 8>-<last 24>`` (what the AWS X-Ray exporter and the
  X-Ray propagator do; the first 8 digits are not checked to be an epoch). ``id`` = ``spanId``, ``parent_id`` =
  ``parentSpanId`` (hex lower-cased; empty means none).
* Segments and subsegments: a span is a **segment** (``kind = 'segment'``, ``depth = 0``, ``segment_id`` = its own
  id) when it is where a service is entered: it has no parent, or its kind is SERVER or CONSUMER, or its ``flags``
  say the parent is remote, or its parent (in this ingest) belongs to another ``service.name``. This is the X-Ray
  segment document: one per service hop, the depth-0 rows the golden signals count. Every other span is a
  **subsegment**: ``depth`` = hops below its segment, ``segment_id`` = that segment, found by following
  ``parentSpanId`` through the spans of the same ingest (one hour partition). When the chain breaks (an ancestor
  was not delivered in this ingest, was quarantined, or the links loop), the span stays a subsegment: ``depth`` counts
  the hops to the missing ancestor (so at least 1), ``segment_id`` is NULL, and it is never counted as a segment.
  (X-Ray's independent subsegment documents get depth 0 instead; an orphan OTLP span is no service entry.)
* ``name``: a segment is named after its service (``service.name``, as the X-Ray exporter names segments), a
  subsegment after the span. ``tier``: the segment's ``tier`` attribute, else the resource's ``tier`` attribute,
  else the origin (CloudFront -> ``cloudfront``, Lambda -> ``lambda-edge``, ELB -> ``alb``), else ``service.name``;
  subsegments inherit their segment's tier (orphans use their resource's). ``origin`` (segments only) from
  ``cloud.platform``: ``aws_ec2``, ``aws_ecs``, ``aws_eks``, ``aws_elastic_beanstalk``, ``aws_lambda``,
  ``aws_app_runner`` as the X-Ray exporter maps them, plus the custom values ``aws_cloudfront`` and ``aws_elb``.
  ``namespace``: ``aws`` for CLIENT/PRODUCER spans with ``rpc.system = aws-api``, ``remote`` for other
  CLIENT/PRODUCER spans, else NULL (X-Ray's ``local`` has no OTLP counterpart).
* ``annotations``: the span attributes whose key is a valid X-Ray annotation key (letters, digits, underscore:
  ``tier``, ``edge_location``, ``instance_lifecycle``, ...) with a scalar value, as text; dotted semantic-convention
  keys are not annotations (NULL when none). ``edge_location``, ``model``, ``instance_lifecycle`` are those
  annotations; on a segment they fall back to resource attributes of the same name (a host's lifecycle is
  usually a resource attribute).
* HTTP: ``http_method`` = ``http.request.method`` (or the older ``http.method``), ``http_url`` = ``url.full`` (or
  ``http.url``), ``http_status`` = ``http.response.status_code`` (or ``http.status_code``), an integer in 100..599
  else the span is quarantined (``invalid_status``).
* Flags, as the X-Ray SDKs and exporter set them: ``fault`` = 5xx, or status ERROR without a 4xx status;
  ``error`` = 4xx; ``throttle`` = 429. ``in_progress`` is always false (OTLP exports ended spans).
* Times: ``start_time``/``end_time`` rounded to the microsecond (like ``to_timestamp`` of X-Ray's seconds),
  ``duration_ms`` from the exact nanoseconds.

Quarantine reasons, first match wins: ``invalid_json``, ``not_an_object``, ``missing_field`` (``resourceSpans``)
and ``wrong_type``/``invalid_attribute`` (envelope) per line; per span ``wrong_type`` (not an object, kind, status,
times not integers), ``missing_field`` (traceId, spanId, name, start or end time), ``invalid_id`` (not 32/16 hex
digits, all zeros, parent = itself), ``invalid_attribute`` (malformed or duplicate keys), ``negative_duration``
(end before start), ``invalid_status``, ``outside_partition`` (start outside the ingest's sane window; the
partition check itself is in ``ingest``).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from akidb_pipelines.telemetry.conventions import Reason

MAX_DEPTH = 64
_ATTRS = '[{"key":"VARCHAR","value":"JSON"}]'
_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
          "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
ORIGINS = {
    "aws_ec2": "AWS::EC2::Instance",
    "aws_ecs": "AWS::ECS::Container",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
    "aws_lambda": "AWS::Lambda::Function",
    "aws_app_runner": "AWS::AppRunner::Service",
    "aws_cloudfront": "AWS::CloudFront::Distribution",
    "aws_elb": "AWS::ElasticLoadBalancingV2::LoadBalancer",
}


@dataclass
class OtlpParse:
    records: int          # spans found in well-formed lines + lines quarantined whole
    duplicates: int       # spans dropped as re-deliveries of a stored span
    empty_lines: int      # well-formed requests without any span (no record)


def _enum(expr: str, names: dict[str, int], hi: int) -> str:
    """SQL: an OTLP enum given as integer or name -> INTEGER; NULL when absent, -1 when invalid."""
    expr = f"({expr})"
    by_name = " ".join(f"WHEN '{k}' THEN {v}" for k, v in names.items())
    return (f"CASE WHEN {expr} IS NULL THEN NULL "
            f"WHEN json_type({expr}) IN ('BIGINT', 'UBIGINT') AND TRY_CAST({expr} AS BIGINT) BETWEEN 0 AND {hi} "
            f"THEN TRY_CAST({expr} AS INTEGER) "
            f"WHEN json_type({expr}) = 'VARCHAR' THEN coalesce(CASE {expr}->>'$' {by_name} END, -1) ELSE -1 END")


def _nanos(expr: str) -> str:
    """SQL: a fixed64 nanosecond time (JSON string or number) -> HUGEINT; NULL when absent or not an integer."""
    expr = f"({expr})"
    return (f"CASE WHEN json_type({expr}) IN ('VARCHAR', 'BIGINT', 'UBIGINT') "
            f"AND regexp_full_match({expr}->>'$', '[0-9]{{1,20}}') THEN TRY_CAST({expr}->>'$' AS HUGEINT) END")


def _ts(ns: str) -> str:
    return f"(to_timestamp(0) + to_microseconds((({ns} + 500) // 1000)::BIGINT))"


def parse_otlp(con: duckdb.DuckDBPyConnection, lo_s: float, hi_s: float) -> OtlpParse:
    """From ``lines`` build ``otlp_rows`` (X-Ray columns), ``otlp_bad`` (quarantine shape) and the view
    ``otlp_records(rec_id, source, raw, line)`` (one replayable request per stored span and the number of its line, for
    later quarantines)."""
    con.execute("DROP TABLE IF EXISTS ot_lines; DROP TABLE IF EXISTS ot_rs; DROP TABLE IF EXISTS ot_ss; "
                "DROP TABLE IF EXISTS ot_sp; DROP TABLE IF EXISTS ot_line_bad; DROP TABLE IF EXISTS ot_span; "
                "DROP TABLE IF EXISTS ot_good; DROP TABLE IF EXISTS ot_keep; DROP TABLE IF EXISTS ot_walk; "
                "DROP TABLE IF EXISTS otlp_rows; DROP TABLE IF EXISTS otlp_bad")
    con.execute("DROP VIEW IF EXISTS otlp_records")
    con.execute(
        """CREATE OR REPLACE TEMP MACRO ot_scalar(v) AS
           CASE WHEN json_type(v, '$.stringValue') = 'VARCHAR' THEN v->>'$.stringValue'
                WHEN json_type(v, '$.boolValue') = 'BOOLEAN' THEN v->>'$.boolValue'
                WHEN json_type(v, '$.intValue') IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                    THEN TRY_CAST(v->>'$.intValue' AS BIGINT)::VARCHAR
                WHEN json_type(v, '$.doubleValue') IN ('DOUBLE', 'BIGINT', 'UBIGINT', 'VARCHAR')
                    THEN v->>'$.doubleValue' END"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP MACRO ot_attrs_ok(a) AS
           a IS NOT NULL AND NOT list_contains(list_transform(a, x -> x IS NULL OR x.key IS NULL OR x.key = ''
                                                           OR NOT coalesce(starts_with(x.value, '{'), true)), true)
           AND len(list_distinct(list_transform(a, x -> x.key))) = len(a)"""
    )
    con.execute(
        """CREATE TEMP TABLE ot_lines AS
        SELECT rec_id, source, raw, json_valid(raw) AS valid, starts_with(ltrim(raw), '{') AS is_object,
               CASE WHEN json_valid(raw) THEN json_type(raw, '$.resourceSpans') END AS rs_type
        FROM lines"""
    )
    # The envelope, level by level: resourceSpans -> scopeSpans -> spans (each element with its index).
    con.execute(
        """CREATE TEMP TABLE ot_rs AS
        SELECT rec_id, unnest(l) AS rs, unnest(range(len(l))) AS ri
        FROM (SELECT rec_id, json_extract(raw, '$.resourceSpans[*]') AS l FROM ot_lines
              WHERE valid AND is_object AND rs_type = 'ARRAY')"""
    )
    con.execute(
        f"""ALTER TABLE ot_rs ADD COLUMN res_attrs STRUCT(key VARCHAR, value JSON)[];
        UPDATE ot_rs SET res_attrs = try(json_transform(rs->'$.resource.attributes', '{_ATTRS}'))
        WHERE json_type(rs, '$.resource.attributes') = 'ARRAY';
        ALTER TABLE ot_rs ADD COLUMN resource JSON;
        UPDATE ot_rs SET resource = rs->'$.resource' WHERE json_type(rs) = 'OBJECT'"""
    )
    con.execute(
        """CREATE TEMP TABLE ot_ss AS
        SELECT rec_id, ri, unnest(l) AS ss, unnest(range(len(l))) AS si
        FROM (SELECT rec_id, ri, json_extract(rs, '$.scopeSpans[*]') AS l FROM ot_rs
              WHERE json_type(rs) = 'OBJECT' AND json_type(rs, '$.scopeSpans') = 'ARRAY')"""
    )
    # Each envelope's resource and scope are taken out once: a span row must not carry (nor parse again) the text of
    # its whole resourceSpans / scopeSpans, which holds every span of the batch (8192 spans of a 3 MB line took
    # 19 GB and died that way).
    con.execute("ALTER TABLE ot_ss ADD COLUMN scope JSON; UPDATE ot_ss SET scope = ss->'$.scope' WHERE json_type(ss) = 'OBJECT'")
    con.execute(
        """CREATE TEMP TABLE ot_sp AS
        SELECT rec_id, ri, si, unnest(l) AS sp, unnest(range(len(l))) AS pi
        FROM (SELECT rec_id, ri, si, json_extract(ss, '$.spans[*]') AS l FROM ot_ss
              WHERE json_type(ss) = 'OBJECT' AND json_type(ss, '$.spans') = 'ARRAY')"""
    )
    wt, ia = Reason.WRONG_TYPE, Reason.INVALID_ATTRIBUTE
    con.execute(
        f"""CREATE TEMP TABLE ot_line_bad AS
        SELECT rec_id, min_by(reason, o) AS reason, min_by(detail, o) AS detail FROM (
          SELECT rec_id, ri * 1000000 AS o, CASE
                   WHEN json_type(rs) <> 'OBJECT' THEN '{wt}'
                   WHEN json_type(rs, '$.resource') NOT IN ('OBJECT', 'NULL') THEN '{wt}'
                   WHEN json_type(rs, '$.resource.attributes') NOT IN ('ARRAY', 'NULL') THEN '{wt}'
                   WHEN json_type(rs, '$.resource.attributes') = 'ARRAY' AND NOT ot_attrs_ok(res_attrs) THEN '{ia}'
                   WHEN json_type(rs, '$.scopeSpans') NOT IN ('ARRAY', 'NULL') THEN '{wt}' END AS reason,
                 'resourceSpans[' || ri || ']' || CASE
                   WHEN json_type(rs) <> 'OBJECT' THEN ' is not an object'
                   WHEN json_type(rs, '$.resource') NOT IN ('OBJECT', 'NULL') THEN '.resource is not an object'
                   WHEN json_type(rs, '$.resource.attributes') NOT IN ('ARRAY', 'NULL')
                       THEN '.resource.attributes is not an array'
                   WHEN json_type(rs, '$.scopeSpans') NOT IN ('ARRAY', 'NULL') THEN '.scopeSpans is not an array'
                   ELSE '.resource.attributes: each needs a non-empty unique key' END AS detail
          FROM ot_rs
          UNION ALL
          SELECT rec_id, ri * 1000000 + si + 1, CASE
                   WHEN json_type(ss) <> 'OBJECT' THEN '{wt}'
                   WHEN json_type(ss, '$.scope') NOT IN ('OBJECT', 'NULL') THEN '{wt}'
                   WHEN json_type(ss, '$.spans') NOT IN ('ARRAY', 'NULL') THEN '{wt}' END,
                 'resourceSpans[' || ri || '].scopeSpans[' || si || ']' || CASE
                   WHEN json_type(ss) <> 'OBJECT' THEN ' is not an object'
                   WHEN json_type(ss, '$.scope') NOT IN ('OBJECT', 'NULL') THEN '.scope is not an object'
                   ELSE '.spans is not an array' END
          FROM ot_ss
        ) WHERE reason IS NOT NULL GROUP BY rec_id
        UNION ALL
        SELECT rec_id,
               CASE WHEN NOT valid THEN '{Reason.INVALID_JSON}' WHEN NOT is_object THEN '{Reason.NOT_AN_OBJECT}'
                    WHEN rs_type IS NULL OR rs_type = 'NULL' THEN '{Reason.MISSING_FIELD}' ELSE '{wt}' END,
               CASE WHEN NOT valid OR NOT is_object THEN NULL
                    WHEN rs_type IS NULL OR rs_type = 'NULL' THEN 'resourceSpans missing'
                    ELSE 'resourceSpans is not an array' END
        FROM ot_lines WHERE NOT valid OR NOT is_object OR rs_type IS NULL OR rs_type <> 'ARRAY'"""
    )
    # One row per span of a well-formed line, with its checks.
    kind = _enum("sp->'$.kind'", _KINDS, 5)
    code = _enum("sp->'$.status.code'", _CODES, 2)
    st, en = _nanos("sp->'$.startTimeUnixNano'"), _nanos("sp->'$.endTimeUnixNano'")
    con.execute(
        f"""CREATE TEMP TABLE ot_span AS
        SELECT row_number() OVER (ORDER BY p.rec_id, p.ri, p.si, p.pi) AS span_rec, p.rec_id AS line_id,
               'resourceSpans[' || p.ri || '].scopeSpans[' || p.si || '].spans[' || p.pi || ']' AS pos,
               p.sp, r.resource, s.scope, r.res_attrs,
               json_type(p.sp) = 'OBJECT' AS is_object,
               CASE WHEN json_type(p.sp, '$.traceId') = 'VARCHAR' THEN lower(p.sp->>'$.traceId') END AS tid,
               CASE WHEN json_type(p.sp, '$.spanId') = 'VARCHAR' THEN lower(p.sp->>'$.spanId') END AS sid,
               CASE WHEN json_type(p.sp, '$.parentSpanId') = 'VARCHAR' THEN nullif(lower(p.sp->>'$.parentSpanId'), '')
               END AS psid,
               json_type(p.sp, '$.traceId') AS tid_type, json_type(p.sp, '$.spanId') AS sid_type,
               json_type(p.sp, '$.parentSpanId') AS psid_type,
               CASE WHEN json_type(p.sp, '$.name') = 'VARCHAR' THEN p.sp->>'$.name' END AS name,
               {kind} AS kind, {code} AS code, p.sp->>'$.status.message' AS status_message,
               TRY_CAST(p.sp->>'$.flags' AS UBIGINT) AS flags,
               p.sp->'$.startTimeUnixNano' AS st_raw, p.sp->'$.endTimeUnixNano' AS en_raw,
               {st} AS start_ns, {en} AS end_ns,
               json_type(p.sp, '$.attributes') AS attrs_type,
               try(json_transform(p.sp->'$.attributes', '{_ATTRS}')) AS attrs
        FROM ot_sp p
        JOIN ot_rs r USING (rec_id, ri) JOIN ot_ss s USING (rec_id, ri, si)
        WHERE p.rec_id NOT IN (SELECT rec_id FROM ot_line_bad)"""
    )
    con.execute(
        """ALTER TABLE ot_span ADD COLUMN status_json JSON;
        UPDATE ot_span SET status_json = coalesce(
            list_filter(attrs, a -> a.key = 'http.response.status_code')[1].value,
            list_filter(attrs, a -> a.key = 'http.status_code')[1].value)
        WHERE attrs IS NOT NULL"""
    )
    lo, hi = float(lo_s) * 1e9, float(hi_s) * 1e9
    checks = [
        ("NOT is_object", Reason.WRONG_TYPE, "'span is not an object'"),
        ("tid_type IS NULL OR tid_type = 'NULL' OR tid = ''", Reason.MISSING_FIELD, "'traceId missing'"),
        ("tid_type <> 'VARCHAR' OR NOT regexp_full_match(tid, '[0-9a-f]{32}') OR tid = repeat('0', 32)",
         Reason.INVALID_ID, "'traceId ' || (sp->'$.traceId') || ' is not 32 hex digits (nor all zeros)'"),
        ("sid_type IS NULL OR sid_type = 'NULL' OR sid = ''", Reason.MISSING_FIELD, "'spanId missing'"),
        ("sid_type <> 'VARCHAR' OR NOT regexp_full_match(sid, '[0-9a-f]{16}') OR sid = repeat('0', 16)",
         Reason.INVALID_ID, "'spanId ' || (sp->'$.spanId') || ' is not 16 hex digits (nor all zeros)'"),
        ("psid_type NOT IN ('VARCHAR', 'NULL') OR NOT regexp_full_match(psid, '[0-9a-f]{16}') OR psid = repeat('0', 16)",
         Reason.INVALID_ID, "'parentSpanId ' || (sp->'$.parentSpanId') || ' is not 16 hex digits (nor all zeros)'"),
        ("psid = sid", Reason.INVALID_ID, "'parentSpanId equals spanId ' || sid"),
        ("name IS NULL OR name = ''", Reason.MISSING_FIELD, "'name missing'"),
        ("st_raw IS NULL OR json_type(st_raw) = 'NULL'", Reason.MISSING_FIELD, "'startTimeUnixNano missing'"),
        ("en_raw IS NULL OR json_type(en_raw) = 'NULL'", Reason.MISSING_FIELD, "'endTimeUnixNano missing'"),
        ("start_ns IS NULL OR end_ns IS NULL", Reason.WRONG_TYPE,
         "'startTimeUnixNano/endTimeUnixNano ' || st_raw || '/' || en_raw || ' is not an integer of nanoseconds'"),
        ("kind = -1", Reason.WRONG_TYPE, "'kind ' || (sp->'$.kind') || ' is not a SpanKind'"),
        ("json_type(sp, '$.status') NOT IN ('OBJECT', 'NULL')", Reason.WRONG_TYPE,
         "'status is ' || json_type(sp, '$.status') || ', not an object'"),
        ("code = -1", Reason.WRONG_TYPE, "'status.code ' || (sp->'$.status.code') || ' is not a StatusCode'"),
        ("json_type(sp, '$.flags') <> 'NULL' AND flags IS NULL", Reason.WRONG_TYPE,
         "'flags ' || (sp->'$.flags') || ' is not an unsigned integer'"),
        ("attrs_type NOT IN ('ARRAY', 'NULL') OR (attrs_type = 'ARRAY' AND NOT ot_attrs_ok(attrs))",
         Reason.INVALID_ATTRIBUTE,
         "'attributes: not a list of {key, value} with non-empty unique keys and AnyValue objects'"),
        ("end_ns < start_ns", Reason.NEGATIVE_DURATION,
         "'endTimeUnixNano ' || end_ns || ' before startTimeUnixNano ' || start_ns"),
        ("status_json IS NOT NULL AND NOT coalesce(json_type(status_json, '$.intValue') IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
         " AND TRY_CAST(status_json->>'$.intValue' AS BIGINT) BETWEEN 100 AND 599, false)",
         Reason.INVALID_STATUS, "'http status ' || status_json || ' is not an HTTP status (intValue 100..599)'"),
        ("start_ns < $lo_ns OR start_ns >= $hi_ns", Reason.OUTSIDE_PARTITION,
         "'startTimeUnixNano ' || start_ns || ' outside the ingest window'"),
    ]
    reason = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r, _ in checks) + " END"
    detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
    con.execute("ALTER TABLE ot_span ADD COLUMN reason VARCHAR; ALTER TABLE ot_span ADD COLUMN detail VARCHAR")
    # the checks are our own SQL; the ingest window travels as parameters
    con.execute(f"UPDATE ot_span SET reason = {reason}, detail = pos || ': ' || {detail}", {"lo_ns": lo, "hi_ns": hi})
    con.execute(
        f"""CREATE TEMP TABLE otlp_bad AS
        SELECT l.source, line_of(l.rec_id) AS line, b.reason, b.detail, l.raw,
               NULL::TIMESTAMPTZ AS record_ts
        FROM ot_line_bad b JOIN ot_lines l USING (rec_id)
        UNION ALL
        SELECT l.source, line_of(l.rec_id), s.reason, s.detail, {_one_span_request("s")},
               CASE WHEN s.start_ns BETWEEN 0 AND 253402300799000000000 THEN {_ts("s.start_ns")} END
        FROM ot_span s JOIN ot_lines l ON l.rec_id = s.line_id WHERE s.reason IS NOT NULL"""
    )
    # Good spans, de-duplicated (the first copy wins), with the resource facts they need.
    con.execute(
        """CREATE TEMP TABLE ot_good AS
        SELECT s.span_rec, l.source, s.line_id, s.sp, s.resource, s.scope,
               '1-' || s.tid[1:8] || '-' || s.tid[9:32] AS trace_id, s.sid AS id, s.psid AS parent_id,
               coalesce(s.kind, 0) AS kind, coalesce(s.code, 0) AS code,
               coalesce((s.flags & 768) = 768, false) AS parent_remote,
               s.name, s.start_ns, s.end_ns, s.status_json,
               CASE WHEN s.attrs IS NOT NULL AND len(s.attrs) > 0
                    THEN map_from_entries(list_transform(s.attrs, a -> {'key': a.key, 'value': a.value})) END AS amap,
               CASE WHEN s.res_attrs IS NOT NULL AND len(s.res_attrs) > 0
                    THEN map_from_entries(list_transform(s.res_attrs, a -> {'key': a.key, 'value': a.value})) END
                   AS rmap,
               row_number() OVER (PARTITION BY s.tid, s.sid ORDER BY s.span_rec) AS rk
        FROM ot_span s JOIN ot_lines l ON l.rec_id = s.line_id WHERE s.reason IS NULL"""
    )
    dups = con.execute("SELECT count(*) FROM ot_good WHERE rk > 1").fetchone()[0]
    con.execute("DELETE FROM ot_good WHERE rk > 1")
    origins = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ORIGINS.items())
    con.execute(
        f"""CREATE TEMP TABLE ot_keep AS
        SELECT g.*, ot_scalar(g.rmap['service.name']) AS service,
               CASE ot_scalar(g.rmap['cloud.platform']) {origins} END AS platform_origin,
               p.id IS NOT NULL AS parent_found,
               ot_scalar(p.rmap['service.name']) AS parent_service,
               CASE WHEN len(ann) > 0 THEN map_from_entries(ann) END AS annotations
        FROM (SELECT *, list_filter(
                  list_transform(map_entries(amap), e -> {{'key': e.key, 'value': ot_scalar(e.value)}}),
                  e -> e.value IS NOT NULL AND regexp_full_match(e.key, '[A-Za-z0-9_]+')) AS ann
              FROM ot_good) g
        LEFT JOIN ot_good p ON p.trace_id = g.trace_id AND p.id = g.parent_id"""
    )
    con.execute(
        """ALTER TABLE ot_keep ADD COLUMN is_entry BOOLEAN;
        UPDATE ot_keep SET is_entry = parent_id IS NULL OR kind IN (2, 5) OR parent_remote
                                      OR (parent_found AND parent_service IS DISTINCT FROM service)"""
    )
    con.execute(
        """ALTER TABLE ot_keep ADD COLUMN res_tier VARCHAR;
        UPDATE ot_keep SET res_tier = coalesce(
            ot_scalar(rmap['tier']),
            CASE WHEN platform_origin LIKE 'AWS::CloudFront%' THEN 'cloudfront'
                 WHEN platform_origin LIKE 'AWS::Lambda%' THEN 'lambda-edge'
                 WHEN platform_origin LIKE 'AWS::ElasticLoadBalancing%' THEN 'alb' END,
            service, name)"""
    )
    # Segments (and the tops of broken chains) first, then their children level by level.
    con.execute(
        f"""CREATE TEMP TABLE ot_walk AS
        WITH RECURSIVE walk(span_rec, trace_id, id, segment_id, depth, tier) AS (
            SELECT span_rec, trace_id, id, CASE WHEN is_entry THEN id END, CASE WHEN is_entry THEN 0 ELSE 1 END,
                   CASE WHEN is_entry THEN coalesce(annotations['tier'], res_tier) ELSE res_tier END
            FROM ot_keep WHERE is_entry OR NOT parent_found
            UNION ALL
            SELECT c.span_rec, c.trace_id, c.id, w.segment_id, w.depth + 1, w.tier
            FROM walk w JOIN ot_keep c ON c.trace_id = w.trace_id AND c.parent_id = w.id
            WHERE NOT c.is_entry AND c.parent_found AND w.depth < {MAX_DEPTH}
        )
        SELECT span_rec, any_value(segment_id) AS segment_id, min(depth) AS depth, any_value(tier) AS tier
        FROM walk GROUP BY span_rec"""
    )
    http = "TRY_CAST(k.status_json->>'$.intValue' AS INTEGER)"
    con.execute(
        f"""CREATE TEMP TABLE otlp_rows AS
        SELECT k.span_rec AS rec_id, k.source, k.trace_id, k.id, k.parent_id, w.segment_id,
               CASE WHEN k.is_entry THEN 'segment' ELSE 'subsegment' END AS kind,
               w.depth::INTEGER AS depth,
               CASE WHEN k.is_entry THEN coalesce(k.service, k.name) ELSE k.name END AS name,
               CASE WHEN k.is_entry THEN k.platform_origin END AS origin,
               CASE WHEN k.kind IN (3, 4) THEN
                   CASE WHEN ot_scalar(k.amap['rpc.system']) = 'aws-api' THEN 'aws' ELSE 'remote' END END AS namespace,
               coalesce(w.tier, k.res_tier) AS tier,
               {_ts("k.start_ns")} AS start_time, {_ts("k.end_ns")} AS end_time,
               ((k.end_ns - k.start_ns) / 1e6)::DOUBLE AS duration_ms,
               false AS in_progress,
               coalesce(ot_scalar(k.amap['http.request.method']), ot_scalar(k.amap['http.method'])) AS http_method,
               coalesce(ot_scalar(k.amap['url.full']), ot_scalar(k.amap['http.url'])) AS http_url,
               {http} AS http_status,
               coalesce({http} BETWEEN 400 AND 499, false) AS error,
               coalesce({http} >= 500, false) OR (k.code = 2 AND NOT coalesce({http} BETWEEN 400 AND 499, false))
                   AS fault,
               coalesce({http} = 429, false) AS throttle,
               k.annotations,
               coalesce(k.annotations['edge_location'],
                        CASE WHEN k.is_entry THEN ot_scalar(k.rmap['edge_location']) END) AS edge_location,
               coalesce(k.annotations['model'], CASE WHEN k.is_entry THEN ot_scalar(k.rmap['model']) END) AS model,
               coalesce(k.annotations['instance_lifecycle'],
                        CASE WHEN k.is_entry THEN ot_scalar(k.rmap['instance_lifecycle']) END) AS instance_lifecycle
        FROM ot_keep k LEFT JOIN ot_walk w USING (span_rec)"""
    )
    con.execute(
        f"""CREATE TEMP VIEW otlp_records AS
        SELECT k.span_rec AS rec_id, k.source, {_one_span_request("k")} AS raw, line_of(k.line_id) AS line FROM ot_keep k"""
    )
    records = con.execute(
        "SELECT (SELECT count(*) FROM ot_span) + (SELECT count(*) FROM ot_line_bad)").fetchone()[0]
    empty = con.execute(
        """SELECT count(*) FROM ot_lines WHERE rec_id NOT IN (SELECT rec_id FROM ot_line_bad)
           AND rec_id NOT IN (SELECT line_id FROM ot_span)""").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS ot_rs; DROP TABLE IF EXISTS ot_ss; DROP TABLE IF EXISTS ot_sp; "
                "DROP TABLE IF EXISTS ot_line_bad; DROP TABLE IF EXISTS ot_span; DROP TABLE IF EXISTS ot_good; "
                "DROP TABLE IF EXISTS ot_walk")
    return OtlpParse(int(records), int(dups), int(empty))


def _one_span_request(t: str) -> str:
    """SQL: a one-span ``ExportTraceServiceRequest`` (resource, scope, span) as a JSON line."""
    return (f"""'{{"resourceSpans":[{{"resource":' || coalesce({t}.resource::VARCHAR, '{{}}') || """
            f"""',"scopeSpans":[{{"scope":' || coalesce({t}.scope::VARCHAR, '{{}}') || """
            f"""',"spans":[' || {t}.sp::VARCHAR || ']}}]}}]}}'""")
