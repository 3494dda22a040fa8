-- Finished X-Ray segments and subsegments with their minute, tier and error flags; in-progress ones wait.
-- config: time_column: ts
SELECT
    start_time AS ts,
    date_trunc('minute', start_time) AS minute,
    trace_id,
    id,
    parent_id,
    segment_id,
    kind,
    depth,
    name,
    tier,
    duration_ms,
    http_status,
    error,
    fault,
    throttle,
    edge_location,
    model,
    instance_lifecycle
FROM {{ source('raw', 'xray_spans') }}
WHERE NOT in_progress
