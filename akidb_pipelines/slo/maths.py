"""Error budgets, burn rates and multi-window alert states: pure functions, the reference for the SQL models.

Burn rate over a window = (bad / total) / (1 - target): 1 spends the budget exactly over the period, 14.4 spends
2% of a 30-day budget in one hour. A window with no events has no burn rate (None), which is "no data", not
"healthy"; a long window with fewer than ``min_events`` events is "low traffic" and does not page. An instance of a
grouped SLO (an edge location, which may appear at any time) warms up: a tier judges it only once it has had data
for the tier's whole long window (before that, its first minutes would be the whole "hour": one slow minute among
its first 17 is more than 5.76% of it), and it is "warm_up" until the fastest tier can judge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from akidb_pipelines.slo.spec import WindowTable


def burn_rate(bad: float, total: float, target: float) -> float | None:
    if total <= 0:
        return None
    return (bad / total) / (1.0 - target)


def window_sums(values: list[float | None], minutes: int) -> list[float | None]:
    """Trailing sums over ``minutes`` on a gap-free minute grid (None marks a minute without data).

    A window sums the minutes that have data; it is None when none of them has any.
    """
    out: list[float | None] = []
    run, have = [0.0], [0]
    for v in values:
        run.append(run[-1] + (v or 0.0))
        have.append(have[-1] + (v is not None))
    for i in range(1, len(values) + 1):
        j = max(0, i - minutes)
        out.append(run[i] - run[j] if have[i] - have[j] else None)
    return out


@dataclass(frozen=True)
class AlertState:
    state: str                 # fast / medium / slow (a tier name), ok, low_traffic, no_data or warm_up
    severity: str | None       # P0 / P1 / P2 when a tier fires
    burn_rates: dict[str, float | None]
    suppressed: tuple[str, ...] = ()   # slower tiers also over threshold, suppressed by the firing one


def alert_state(bad: dict[timedelta, float | None], total: dict[timedelta, float | None], target: float,
                table: WindowTable, guarded: bool = True, history: timedelta | None = None) -> AlertState:
    """The state of one SLO at one instant from its bad/total counts per window.

    ``guarded=False`` skips the low-traffic guard (Timeslices SLOs: every event is a whole minute). ``history``:
    for an SLO that warms up (an instance of a grouped SLO), how long it has had data, this minute included; a
    tier whose long window is longer does not judge it yet. None: no warm-up.
    """
    rates = {_label(w): (burn_rate(bad[w] or 0.0, total[w], target) if total.get(w) is not None else None)
             for w in table.windows}
    firing = []
    low_traffic = False
    eligible = [t for t in table.tiers if history is None or history >= t.long_window]
    for tier in eligible:
        long_total = total.get(tier.long_window)
        r_long, r_short = rates[_label(tier.long_window)], rates[_label(tier.short_window)]
        if r_long is None or r_short is None:
            continue
        if guarded and long_total is not None and long_total < table.min_events:
            low_traffic = True
            continue
        if r_long > tier.factor and r_short > tier.factor:
            firing.append(tier)
    if firing:
        top = firing[0]  # tiers are ordered fastest first
        return AlertState(top.name, top.severity, rates, tuple(t.name for t in firing[1:]))
    if not eligible:
        return AlertState("warm_up", None, rates)
    if all(v is None for v in rates.values()):
        return AlertState("no_data", None, rates)
    if low_traffic:
        return AlertState("low_traffic", None, rates)
    return AlertState("ok", None, rates)


@dataclass(frozen=True)
class Budget:
    consumed: float            # share of the period's budget spent (may exceed 1)
    remaining: float           # 1 - consumed
    exhaustion_hours: float | None  # at the given burn rate; None when not burning or already exhausted


def error_budget(bad: float, total: float, target: float, period: timedelta, current_burn: float | None) -> Budget:
    """Budget over the rolling period from its bad/total counts; time to exhaustion at ``current_burn``."""
    if total <= 0:
        return Budget(0.0, 1.0, None)
    consumed = round((bad / total) / (1.0 - target), 12)  # 1 - 0.999 is not exactly 0.001 in binary
    remaining = round(1.0 - consumed, 12)
    hours = None
    if current_burn and current_burn > 0 and remaining > 0:
        hours = remaining * (period.total_seconds() / 3600.0) / current_burn
    return Budget(consumed, remaining, hours)


def policy_crossings(previous_remaining: float | None, remaining: float, levels: list[float]) -> list[float]:
    """Budget-policy levels crossed downwards since the previous evaluation (e.g. 0.5, 0.25, 0.0)."""
    if previous_remaining is None:
        return [lv for lv in sorted(levels, reverse=True) if remaining <= lv]
    return [lv for lv in sorted(levels, reverse=True) if remaining <= lv < previous_remaining]


def _label(w: timedelta) -> str:
    m = int(w.total_seconds() // 60)
    if m % 1440 == 0:
        return f"{m // 1440}d"
    if m % 60 == 0:
        return f"{m // 60}h"
    return f"{m}m"
