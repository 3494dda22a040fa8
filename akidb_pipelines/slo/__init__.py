"""SLOs as data (OpenSLO v1 YAML and a burn-rate window table) plus the pure maths of budgets and burn rates."""
