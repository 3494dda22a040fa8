"""SQL for the SLO models, generated from the specs and the window table (so a new SLO is only YAML).

``sli_events_sql``: per minute and SLO instance, good and total events (one slice per minute for Timeslices SLOs);
an instance is an SLO, or one value of a grouped SLO's column (``<name>.<value>``, see ``spec.instance_key``).
``burn_rates_sql``: per minute and SLO instance (with its ``spec`` and ``edge_location``), window sums on a gap-free
minute grid (running sums differenced with LAG at fixed offsets, the fastest exact method measured here), burn rates,
the 30-day budget and the alert state with the faster-tier suppression, the low-traffic guard and ``no_data`` as a
state of its own. Both mirror ``akidb_pipelines.slo.maths``, which the tests hold them to.
"""

from __future__ import annotations

from datetime import timedelta

from akidb_pipelines.slo.spec import KEY_SEP, OPS, SLO, UNGROUPED, PolicyLevel, WindowTable, instance_key


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key(s: SLO, column: str | None = None) -> tuple[str, str]:
    """The ``slo`` key expression and the extra GROUP BY column of an SLO: a grouped SLO has one key per value of
    its column (``column``: the expression that reads the value, default the column itself)."""
    if s.group_by is None:
        return _q(s.name), ""
    return f"{_q(instance_key(s.name, ''))} || {column or s.group_by}", f", {s.group_by}"


def sli_events_sql(slos: list[SLO]) -> str:
    parts = []
    for s in slos:
        key, by = _key(s)
        if s.threshold is not None:  # Timeslices, threshold: a minute is good when the metric meets the objective
            m = s.threshold
            parts.append(
                f"SELECT minute, {key} AS slo, "
                f"CASE WHEN max({m.expr}) {OPS[s.op]} {s.value!r} THEN 1.0 ELSE 0.0 END AS good, 1.0 AS total "
                f"FROM {{{{ ref('{m.model}') }}}} WHERE ({m.where}) AND ({m.expr}) IS NOT NULL GROUP BY minute{by}")
        elif s.budgeting == "Timeslices":  # Timeslices, ratio: a minute is good when its ratio reaches the target
            g, t = s.good, s.total
            parts.append(
                f"SELECT minute, {key} AS slo, CASE WHEN sum({g.expr}) / nullif(sum({t.expr}), 0) >= "
                f"{s.slice_target!r} THEN 1.0 ELSE 0.0 END AS good, 1.0 AS total "
                f"FROM {{{{ ref('{g.model}') }}}} WHERE ({t.where}) GROUP BY minute{by} HAVING sum({t.expr}) > 0")
        else:
            g, t = s.good, s.total
            if (g.model, g.where) == (t.model, t.where):
                parts.append(
                    f"SELECT minute, {key} AS slo, sum({g.expr})::DOUBLE AS good, sum({t.expr})::DOUBLE AS total "
                    f"FROM {{{{ ref('{g.model}') }}}} WHERE ({g.where}) GROUP BY minute{by} "
                    f"HAVING sum({t.expr}) IS NOT NULL")
            else:
                key, _ = _key(s, f"coalesce(a.{s.group_by}, b.{s.group_by})" if by else None)
                parts.append(
                    f"SELECT coalesce(a.minute, b.minute) AS minute, {key} AS slo, a.good, b.total FROM "
                    f"(SELECT minute{by}, sum({g.expr})::DOUBLE AS good FROM {{{{ ref('{g.model}') }}}} "
                    f"WHERE ({g.where}) GROUP BY minute{by}) a FULL JOIN (SELECT minute{by}, sum({t.expr})::DOUBLE "
                    f"AS total FROM {{{{ ref('{t.model}') }}}} WHERE ({t.where}) GROUP BY minute{by}) b "
                    f"USING (minute{by})")
    return "\nUNION ALL\n".join(parts)


def _minutes(w: timedelta) -> int:
    return int(w.total_seconds() // 60)


def label(w: timedelta) -> str:
    m = _minutes(w)
    return f"{m // 1440}d" if m % 1440 == 0 else f"{m // 60}h" if m % 60 == 0 else f"{m}m"


def specs_values(slos: list[SLO]) -> str:
    """The rows of ``burn_rates_sql``'s ``specs(spec, target, guarded, warmup)``: the targets are SQL literals (DECIMAL
    in DuckDB, so ``1 - target`` is exact); ``akidb_pipelines.slo.incremental`` reads its parameters from the same
    rows."""
    return ", ".join(f"({_q(s.name)}, {s.target!r}, {str(s.budgeting == 'Occurrences').lower()}, "
                     f"{str(s.group_by is not None).lower()})" for s in slos)


def burn_rates_sql(slos: list[SLO], table: WindowTable) -> str:
    # The instances come from the data: an SLO's own key, or one key per value of a grouped SLO's column (so a
    # new edge location is an SLO instance from its first event). Windows partition by a small integer per
    # instance (cheaper to sort than names); the table maps it back. The low-traffic guard counts events; a
    # Timeslices SLO's events are whole minutes, so it does not apply.
    # An instance of a grouped SLO warms up: a tier judges it once its data covers the tier's long window (maths).
    specs = specs_values(slos)
    sep, ungrouped = _q(KEY_SEP), _q(UNGROUPED)  # the group value is an edge location: GROUP_COLUMNS has no other
    windows = table.windows + [table.period]
    lagged = []
    for w in windows:
        n, lb = _minutes(w), label(w)
        for col in ("good", "total"):
            lagged.append(f"run_{col} - coalesce(lag(run_{col}, {n}) OVER w, 0) AS {col}_{lb}")
    rates = []
    for w in table.windows:
        lb = label(w)
        rates.append(f"CASE WHEN total_{lb} > 0 "  # no events in the window: no burn rate (not zero)
                     f"THEN ((total_{lb} - good_{lb}) / total_{lb}) / (1 - target) END AS burn_{lb}")
    def judged(t) -> str:  # noqa: ANN001 - the tier judges this minute (warm-up over, or none)
        return f"(NOT warmup OR age >= {_minutes(t.long_window)})"

    fire = []
    for t in table.tiers:
        lo, sh = label(t.long_window), label(t.short_window)
        fire.append(f"WHEN burn_{lo} > {t.factor!r} AND burn_{sh} > {t.factor!r} "
                    f"AND (NOT guarded OR total_{lo} >= {table.min_events}) AND {judged(t)} THEN '{t.name}'")
    sev = " ".join(f"WHEN '{t.name}' THEN '{t.severity}'" for t in table.tiers)
    low = " OR ".join(f"(guarded AND burn_{label(t.long_window)} IS NOT NULL AND burn_{label(t.short_window)} IS NOT NULL "
                      f"AND total_{label(t.long_window)} < {table.min_events} AND {judged(t)})" for t in table.tiers)
    warming = " AND ".join(f"NOT {judged(t)}" for t in table.tiers)
    nodata = " AND ".join(f"burn_{label(w)} IS NULL" for w in table.windows)
    p = label(table.period)
    hours = table.period.total_seconds() / 3600.0
    fast = label(table.tiers[0].long_window)
    return f"""WITH specs(spec, target, guarded, warmup) AS (VALUES {specs}),
keys AS (  -- every instance in the data whose SLO has a spec: <name> or <name>.<group value>
    SELECT k.slo, k.spec, k.edge_location, s.target, s.guarded, s.warmup, row_number() OVER (ORDER BY k.slo) AS sid
    FROM (SELECT DISTINCT slo, split_part(slo, {sep}, 1) AS spec,
                 CASE WHEN strpos(slo, {sep}) > 0 THEN substr(slo, strpos(slo, {sep}) + 1) ELSE {ungrouped} END
                     AS edge_location
          FROM {{{{ ref('sli_events_1m') }}}}) k
    JOIN specs s USING (spec)
),
ev AS (
    SELECT (epoch(e.minute) // 60)::BIGINT AS m, k.sid, e.good, e.total
    FROM {{{{ ref('sli_events_1m') }}}} e JOIN keys k USING (slo)
),
bounds AS (SELECT sid, min(m) AS lo FROM ev GROUP BY sid),
grid AS (  -- every minute of every instance (as integer minutes), so fixed LAG offsets are exact windows with gaps
    SELECT b.sid, b.lo, unnest(range(b.lo, (epoch({{{{ window_end }}}}) // 60)::BIGINT)) AS m FROM bounds b
),
runs AS (
    SELECT g.sid, g.m, g.m - g.lo + 1 AS age, e.good, e.total,
           sum(coalesce(e.good, 0)) OVER o AS run_good,
           sum(coalesce(e.total, 0)) OVER o AS run_total
    FROM grid g LEFT JOIN ev e USING (sid, m)
    WINDOW o AS (PARTITION BY g.sid ORDER BY g.m ROWS UNBOUNDED PRECEDING)
),
sums AS (
    SELECT sid, to_timestamp(m * 60) AS minute, age, good, total,
           {(','+chr(10)+'           ').join(lagged)}
    FROM runs
    WINDOW w AS (PARTITION BY sid ORDER BY m)
),
rates AS (
    SELECT s.*, k.slo, k.spec, k.edge_location, k.target, k.guarded, k.warmup, {(','+chr(10)+'           ').join(rates)},
           CASE WHEN total_{p} > 0 THEN ((total_{p} - good_{p}) / total_{p}) / (1 - target) ELSE 0 END
               AS budget_consumed
    FROM sums s JOIN keys k USING (sid)
),
states AS (
    SELECT *,
           CASE {' '.join(fire)}
                WHEN {warming} THEN 'warm_up'
                WHEN {nodata} THEN 'no_data'
                WHEN {low} THEN 'low_traffic'
                ELSE 'ok' END AS alert_state
    FROM rates
)
SELECT minute, slo, spec, edge_location, target, good, total,
       {', '.join(f'total_{label(w)}' for w in windows)},  -- events per window (the low-traffic guard reads them)
       {', '.join(f'burn_{label(w)}' for w in table.windows)},
       budget_consumed, 1 - budget_consumed AS budget_remaining,
       CASE WHEN burn_{fast} > 0 AND budget_consumed < 1 THEN (1 - budget_consumed) * {hours!r} / burn_{fast} END
           AS hours_to_exhaustion,
       alert_state,
       CASE alert_state {sev} END AS severity
FROM states"""


def budget_events_sql(levels: tuple[PolicyLevel, ...]) -> str:
    """One row each time an SLO's remaining budget falls through a policy level (first minute at or below it)."""
    values = ", ".join(f"({lv.remaining!r}, {_q(lv.action)})" for lv in levels)
    return f"""WITH b AS (
    SELECT minute, slo, budget_remaining, hours_to_exhaustion, alert_state,
           lag(budget_remaining) OVER (PARTITION BY slo ORDER BY minute) AS previous
    FROM {{{{ ref('slo_burn_rates_1m') }}}}
),
levels(level, action) AS (VALUES {values})
SELECT b.minute, b.slo, l.level, l.action, b.previous AS remaining_before, b.budget_remaining AS remaining_after,
       b.hours_to_exhaustion, b.alert_state,
       b.slo || ':' || l.action || ':' || strftime(b.minute, '%Y-%m-%dT%H:%M') AS event_id
FROM b JOIN levels l ON b.budget_remaining <= l.level AND coalesce(b.previous, 1.0) > l.level"""
