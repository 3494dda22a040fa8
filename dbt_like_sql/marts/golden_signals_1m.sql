-- Golden signals per minute for each tier (edge_location 'all') and each edge location of the edge tiers:
-- traffic (requests), errors (5xx, faults, throttles), latency (p50/p95/p99 from X-Ray spans and from EMF)
-- and saturation (CPU, concurrency, provisioned vs used capacity, instances, cost per request).
-- config: time_column: minute, lookback_minutes: 1
WITH
counters AS (  -- per-minute increase of each request counter, with Prometheus's reset rule
    SELECT minute, service AS tier, status,
           CASE WHEN value < lag(value) OVER w THEN value ELSE value - lag(value) OVER w END AS inc
    FROM {{ ref('stg_prometheus_samples') }}
    WHERE metric = 'akidb_requests_total'
    WINDOW w AS (PARTITION BY service, status ORDER BY ts)
),
traffic AS (
    SELECT minute, tier, 'all' AS edge_location,
           sum(inc) AS requests,
           coalesce(sum(inc) FILTER (WHERE status LIKE '5%'), 0) AS errors_5xx,
           coalesce(sum(inc) FILTER (WHERE status = '429'), 0) AS throttles
    FROM counters WHERE inc IS NOT NULL
    GROUP BY ALL
),
emf AS (SELECT * FROM {{ ref('stg_emf_metrics') }}),
edge_traffic AS (  -- Lambda@Edge reports its own traffic per edge location through EMF
    SELECT minute, 'lambda-edge' AS tier, edge_location,
           sum(value) FILTER (WHERE metric_name = 'RequestCount') AS requests,
           sum(value) FILTER (WHERE metric_name = 'ColdStart') AS cold_starts,
           sum(value) FILTER (WHERE metric_name = 'ConcurrentExecutions') AS concurrency,
           sum(value) FILTER (WHERE metric_name = 'ProvisionedConcurrency') AS provisioned_concurrency
    FROM emf WHERE namespace = 'AkiDB/Edge'
    GROUP BY ALL
),
emf_samples AS (  -- the sampled latencies of a minute, sorted, per tier and per edge location
    SELECT minute,
           CASE namespace WHEN 'AkiDB/Edge' THEN 'lambda-edge' ELSE 'akidb-rest' END AS tier,
           coalesce(edge_location, 'all') AS edge_location,
           list_sort(list(value)) AS v, count(*) AS n
    FROM emf
    WHERE metric_name = 'InferenceLatency' AND namespace IN ('AkiDB/Edge', 'AkiDB/Rest')
    GROUP BY GROUPING SETS ((minute, namespace), (minute, namespace, edge_location))
    HAVING NOT (GROUPING(edge_location) = 0 AND edge_location IS NULL)
),
-- Percentiles by the "lower" rank, value number 1 + floor(q * (n - 1)), not interpolated towards the next one: an
-- edge location logs 13-20 sampled latencies a minute at night, and interpolation made one cold start among 13 the
-- minute's P95 (0.4 of the way to the maximum: 900 ms -> P95 over 300 ms), so single cold starts burnt the edge
-- SLOs and made P95 "anomalies" at several locations at once. With the lower rank a P95 of fewer than 21 values is
-- the second largest: a storm (a third of requests cold) still shows in its first minute.
emf_latency AS (
    SELECT minute, tier, edge_location,
           v[1 + floor(0.50 * (n - 1))::BIGINT] AS emf_latency_p50_ms,
           v[1 + floor(0.95 * (n - 1))::BIGINT] AS emf_latency_p95_ms,
           v[1 + floor(0.99 * (n - 1))::BIGINT] AS emf_latency_p99_ms
    FROM emf_samples
),
saturation AS (
    SELECT minute, 'akidb-rest' AS tier, 'all' AS edge_location,
           avg(value) FILTER (WHERE metric_name = 'CPUUtilization') AS cpu_utilization_pct,
           avg(value) FILTER (WHERE metric_name = 'ProvisionedCapacity') AS provisioned_capacity_rps,
           avg(value) FILTER (WHERE metric_name = 'UsedCapacity') AS used_capacity_rps,
           avg(value) FILTER (WHERE metric_name = 'PredictedLoad') AS predicted_load_rps,
           avg(value) FILTER (WHERE metric_name = 'CostPerRequest') AS cost_per_request,
           sum(value) FILTER (WHERE metric_name = 'InstanceCount' AND lifecycle = 'spot') AS instances_spot,
           sum(value) FILTER (WHERE metric_name = 'InstanceCount' AND lifecycle = 'on-demand') AS instances_on_demand
    FROM emf WHERE namespace = 'AkiDB/Capacity'
    GROUP BY ALL
),
span_stats AS (
    SELECT minute, tier, coalesce(edge_location, 'all') AS edge_location,
           count(*) AS spans,
           sum(fault::INTEGER) AS span_faults,
           sum(throttle::INTEGER) AS span_throttles,
           quantile_cont(duration_ms, 0.50) AS latency_p50_ms,
           quantile_cont(duration_ms, 0.95) AS latency_p95_ms,
           quantile_cont(duration_ms, 0.99) AS latency_p99_ms
    FROM {{ ref('stg_xray_spans') }}
    WHERE depth = 0
    GROUP BY GROUPING SETS ((minute, tier), (minute, tier, edge_location))
    HAVING NOT (GROUPING(edge_location) = 0 AND edge_location IS NULL)
),
grain AS (
    SELECT minute, tier, edge_location FROM traffic
    UNION SELECT minute, tier, edge_location FROM edge_traffic
    UNION SELECT minute, tier, edge_location FROM emf_latency
    UNION SELECT minute, tier, edge_location FROM saturation
    UNION SELECT minute, tier, edge_location FROM span_stats
)
SELECT
    g.minute, g.tier, g.edge_location,
    coalesce(t.requests, e.requests) AS requests,
    t.errors_5xx,
    t.throttles,
    t.errors_5xx / nullif(t.requests, 0) AS error_rate,
    s.spans, s.span_faults, s.span_throttles,
    s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms,
    l.emf_latency_p50_ms, l.emf_latency_p95_ms, l.emf_latency_p99_ms,
    sat.cpu_utilization_pct,
    e.concurrency, e.provisioned_concurrency, e.cold_starts,
    sat.provisioned_capacity_rps, sat.used_capacity_rps, sat.predicted_load_rps,
    sat.provisioned_capacity_rps / nullif(sat.used_capacity_rps, 0) AS capacity_ratio,
    sat.predicted_load_rps / nullif(sat.used_capacity_rps, 0) AS load_forecast_ratio,
    sat.instances_spot, sat.instances_on_demand, sat.cost_per_request
FROM grain g
LEFT JOIN traffic t USING (minute, tier, edge_location)
LEFT JOIN edge_traffic e USING (minute, tier, edge_location)
LEFT JOIN emf_latency l USING (minute, tier, edge_location)
LEFT JOIN saturation sat USING (minute, tier, edge_location)
LEFT JOIN span_stats s USING (minute, tier, edge_location)
