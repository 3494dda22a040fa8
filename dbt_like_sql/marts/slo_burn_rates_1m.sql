-- Per SLO instance and minute (slo: the key of sli_events_1m; spec: the SLO's name; edge_location: 'all', or the
-- location of a per-location SLO): burn rates over 5m, 30m, 1h, 6h and 3d, the rolling 30-day error budget
-- (consumed, remaining, hours to exhaustion at the 1h burn) and the multi-window multi-burn-rate alert state: fast
-- (P0), medium (P1), slow (P2), ok, low_traffic, no_data or warm_up (an edge location's first hour, before any tier
-- judges it). Generated from the SLO specs and burn_rate_windows.yaml.
-- Runs from a stored state, hour by hour (config incremental: burn_rates; akidb_pipelines/sql_models/burn_incremental.py),
-- with the same rows as this SQL, which stays the reference (AKIDB_BURN_RATES=sql runs it every time).
-- config: time_column: minute, lookback_minutes: 43200, incremental: burn_rates
{{ slo_burn_rates() }}
