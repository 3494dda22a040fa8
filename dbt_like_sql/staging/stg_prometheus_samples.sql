-- Prometheus samples with the labels the models use (status, le, lifecycle) pulled out as columns.
-- config: time_column: ts
SELECT
    ts,
    date_trunc('minute', ts) AS minute,
    metric,
    value,
    service,
    labels['status'] AS status,
    labels['le'] AS le,
    labels['lifecycle'] AS lifecycle
FROM {{ source('raw', 'prometheus_samples') }}
