"""Names shared by every stage: lake tables, quarantine reasons, schema of the quarantine table."""

from __future__ import annotations

RAW_TABLES = {
    "xray": "raw/xray_spans",
    "otlp": "raw/xray_spans",  # OpenTelemetry OTLP/JSON traces feed the same spans table (telemetry/otlp.py)
    "emf": "raw/emf_metrics",
    "prom": "raw/prometheus_samples",
}
QUARANTINE_TABLES = {kind: f"quarantine/{t.split('/')[1]}" for kind, t in RAW_TABLES.items()}

# A line longer than this is quarantined unparsed (CloudWatch Logs caps an event at 256 KiB, X-Ray a document at 64 KiB).
MAX_RECORD_BYTES = 1024 * 1024
# An OTLP/JSON line is a whole ExportTraceServiceRequest: the Collector's file exporter writes one per batch, and a
# batch of the batch processor's default 8192 spans is several MiB. Such a line is data, not garbage.
MAX_OTLP_LINE_BYTES = 64 * 1024 * 1024
LINE_LIMITS = {"xray": MAX_RECORD_BYTES, "emf": MAX_RECORD_BYTES, "otlp": MAX_OTLP_LINE_BYTES}
# EMF specification limits.
EMF_MAX_VALUES = 100
EMF_MAX_METRICS = 100
EMF_MAX_DIMENSIONS = 30
# Records whose timestamp is this far outside the partition being ingested are quarantined as outside_partition.
PARTITION_TOLERANCE_S = 300

QUARANTINE_COLUMNS = (
    "source VARCHAR, line BIGINT, reason VARCHAR, detail VARCHAR, raw VARCHAR, record_ts TIMESTAMPTZ"
)


class Reason:
    """Quarantine reasons (the ``reason`` column); ``detail`` carries the field or value at fault."""

    INVALID_UTF8 = "invalid_utf8"
    LINE_TOO_LONG = "line_too_long"
    UNREADABLE_LINE = "unreadable_line"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    NON_FINITE = "non_finite_value"
    MISSING_AWS = "missing_aws_metadata"
    INVALID_AWS = "invalid_aws_metadata"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    MISSING_DIMENSION = "missing_dimension"
    MISSING_METRIC_VALUE = "missing_metric_value"
    TOO_MANY_VALUES = "too_many_values"
    LIMIT_EXCEEDED = "limit_exceeded"
    OUTSIDE_PARTITION = "outside_partition"
    NEGATIVE_DURATION = "negative_duration"
    INVALID_ID = "invalid_id"
    INVALID_STATUS = "invalid_status"
    INVALID_SAMPLE = "invalid_sample"
    INVALID_ATTRIBUTE = "invalid_attribute"
