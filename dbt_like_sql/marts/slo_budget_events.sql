-- Error budget policy events: one row when an SLO's remaining 30-day budget falls through a level of
-- akidb_pipelines/slo/specs/budget_policy.yaml (notify at 50%, review at 25%, freeze at 0%), for routing to act on.
-- config: time_column: minute, lookback_minutes: 1
{{ slo_budget_events() }}
