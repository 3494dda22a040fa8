-- EMF metric values with the dimensions the models use (service, edge location, model, lifecycle) as columns.
-- config: time_column: ts
SELECT
    ts,
    date_trunc('minute', ts) AS minute,
    namespace,
    metric_name,
    unit,
    value,
    service,
    edge_location,
    model,
    json_extract_string(dimensions, '$.Lifecycle') AS lifecycle
FROM {{ source('raw', 'emf_metrics') }}
