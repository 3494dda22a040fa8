"""The columns of ``golden_signals_1m`` and the one check that lets a configured metric reach SQL.

Configs name metrics as a column (``error_rate``) or arithmetic of columns (``cold_starts / requests``). Such an
expression is written into SQL text, so it is checked token by token at load: every name must be a golden-signal
column, everything else a number, an operator or a parenthesis. Function calls, quotes and any other name are refused.
"""

from __future__ import annotations

import re

from akidb_pipelines.config.loader import ConfigError

GOLDEN = "models/marts/golden_signals_1m"
GOLDEN_COLUMNS = (
    "requests", "errors_5xx", "throttles", "error_rate", "spans", "span_faults", "span_throttles",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "emf_latency_p50_ms", "emf_latency_p95_ms",
    "emf_latency_p99_ms", "cpu_utilization_pct", "concurrency", "provisioned_concurrency", "cold_starts",
    "provisioned_capacity_rps", "used_capacity_rps", "predicted_load_rps", "capacity_ratio",
    "load_forecast_ratio", "instances_spot",
    "instances_on_demand", "cost_per_request",
)
SYMPTOMS = ("latency", "errors")   # what users feel; traffic and saturation follow demand


def golden_signal(metric: str) -> str:
    """Which of the four golden signals (latency, traffic, errors, saturation) ``metric`` measures, by its name:
    latency in it: latency; error, fault, 5xx or throttle: errors; requests or spans: traffic; else saturation
    (CPU, concurrency, capacity, instances, cost)."""
    m = metric.lower()
    if "latency" in m:
        return "latency"
    if any(k in m for k in ("error", "fault", "5xx", "throttle")):
        return "errors"
    if m in ("requests", "spans"):
        return "traffic"
    return "saturation"


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>\d+(?:\.\d+)?)|(?P<op>[-+*/()]))")


def metric_expr(v: object, where: str, error: type[ConfigError]) -> str:
    """``v`` when it is a golden-signal column or arithmetic of columns and numbers; else ``error`` naming ``where``."""
    if not isinstance(v, str) or not v.strip():
        raise error(f"{where}: expected a golden-signal column or arithmetic of columns, got {v!r}")
    pos, depth, names, prev = 0, 0, 0, ""
    while pos < len(v.rstrip()):
        m = _TOKEN.match(v, pos)
        if m is None:
            raise error(f"{where}: {v!r}: unexpected {v[pos:].strip()[:20]!r} (only columns, numbers, + - * / and "
                        f"parentheses)")
        name, op = m.group("name"), m.group("op")
        if name is not None:
            if name not in GOLDEN_COLUMNS:
                raise error(f"{where}: {name!r} is not a golden-signal column (one of {', '.join(GOLDEN_COLUMNS)})")
            names += 1
        if op == "(":
            if prev == "name":
                raise error(f"{where}: {v!r}: function calls are not allowed")
            depth += 1
        elif op == ")":
            depth -= 1
            if depth < 0:
                raise error(f"{where}: {v!r}: unbalanced parentheses")
        prev = "name" if name is not None else (op or "num")
        pos = m.end()
    if depth != 0 or names == 0:
        raise error(f"{where}: {v!r}: " + ("unbalanced parentheses" if depth else "names no golden-signal column"))
    return v.strip()
