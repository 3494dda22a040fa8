"""SLOs: per SLO the error budget remaining (with the budget policy's levels), the burn rate of every window with
the alert tiers' thresholds drawn as lines and the firing minutes shaded, and the time to exhaustion, from
``models/marts/slo_burn_rates_1m`` and the specs in ``akidb_pipelines/slo/specs``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from akidb_pipelines.dashboards.data import LakeReader, coarsen, window_for
from akidb_pipelines.dashboards.page import Page, esc, line_spec, ms
from akidb_pipelines.dashboards.summary import Summary, sparkline
from akidb_pipelines.slo.spec import UNGROUPED, load_policy, load_specs, split_key
from akidb_pipelines.slo.sql import label

TABLE = "models/marts/slo_burn_rates_1m"
MAX_POINTS_PER_CHART = 8000
TIER_COLORS = {"fast": "#d62728", "medium": "#f28e2b", "slow": "#edc948"}
WINDOW_COLORS = ["#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b", "#54278f"]


def build(reader: LakeReader, days: float = 7.0, specs_dir: str | None = None) -> tuple[Page, Summary]:
    page = Page("slo", "SLOs", "error budgets, burn rates and multi-window alerts")
    summary = Summary()
    slos, table = load_specs(specs_dir)
    policy = load_policy(specs_dir)
    windows = [label(x) for x in table.windows]
    if not reader.has(TABLE):
        page.missing_input(TABLE, f"The burn-rate model has no files in the lake ({reader.lake.root}). Materialize "
                                  "duckdb/marts/slo_burn_rates_1m (make demo does) and render again.")
        page.add(_spec_section(page, slos, table))
        return page, summary
    first, last = reader.span(TABLE)
    w = window_for(last, first, days)
    page.subtitle = w.describe()
    burn_cols = [c for c in (f"burn_{lb}" for lb in windows) if c in reader.columns(TABLE)]
    tier_rank = {t.name: len(table.tiers) - i for i, t in enumerate(table.tiers)}
    rel = reader.relation(TABLE)
    df = reader.df(
        f"SELECT time_bucket(INTERVAL '{w.bucket} minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS t, slo, "
        f"min({reader.col(TABLE, 'budget_remaining')}) AS budget_remaining, "
        f"min({reader.col(TABLE, 'hours_to_exhaustion')}) AS hours_to_exhaustion"
        + "".join(f", max({c}) AS {c}" for c in burn_cols)
        + f" FROM {rel} WHERE minute >= ? AND minute < ? GROUP BY ALL ORDER BY t", [w.start, w.end])
    states = "', '".join(tier_rank)
    episodes = reader.df(
        f"""SELECT slo, alert_state, min(minute) AS start, max(minute) + INTERVAL 1 MINUTE AS "end", count(*) AS minutes
            FROM (SELECT slo, minute, alert_state,
                         minute - to_minutes(row_number() OVER (PARTITION BY slo, alert_state ORDER BY minute)) AS grp
                  FROM {rel} WHERE minute >= ? AND minute < ? AND alert_state IN ('{states}'))
            GROUP BY slo, alert_state, grp ORDER BY start""", [w.start, w.end])
    latest = reader.df(  # the newest row as a whole (arg_max would skip NULLs: a stale severity or exhaustion time)
        f"SELECT slo, budget_remaining, {reader.col(TABLE, 'hours_to_exhaustion')} AS hours_to_exhaustion, "
        f"alert_state, {reader.col(TABLE, 'severity', 'VARCHAR')} AS severity, minute AS at FROM {rel} "
        "WHERE minute < ? QUALIFY row_number() OVER (PARTITION BY slo ORDER BY minute DESC) = 1", [w.end])
    latest = {r.slo: r for r in latest.itertuples()}
    # an SLO, or one edge location of an SLO grouped by edge location (<name>.<location>), in the specs' order
    order = {s.name: i for i, s in enumerate(slos)}
    names = sorted(latest, key=lambda k: (order.get(split_key(k)[0], len(order)), k))
    by_name = {s.name: s for s in slos}

    k = max(1, math.ceil(len(burn_cols) * w.n / MAX_POINTS_PER_CHART))
    wc = w.coarser(k)
    rows = []
    for name in names:
        (base, edge), now = split_key(name), latest[name]
        spec = by_name.get(base)
        g = df[df["slo"] == name]
        budget = w.grid(g, "budget_remaining")
        eps = episodes[episodes["slo"] == name]
        spans = [{"start": ms(e.start), "end": ms(e.end), "color": TIER_COLORS.get(e.alert_state, "#f4c7c3"),
                  "opacity": 0.3, "label": f"{e.alert_state} ({e.minutes} min) from {e.start:%m-%d %H:%M}Z"}
                 for e in eps.itertuples()]
        levels = [{"value": lv.remaining * 100, "label": f"{lv.action} at {lv.remaining:.0%}", "color": "#b54708"}
                  for lv in policy]
        budget_chart = line_spec(f"{name}: error budget remaining (30-day rolling)", w,
                                 [("budget remaining %", budget * 100, {"color": "#4e79a7", "width": 2})], "pct100",
                                 thresholds=levels, spans=spans)
        burn_series = [(c.replace("burn_", "") + " window", coarsen(w.grid(g, c), k, "max"),
                        {"color": WINDOW_COLORS[i % len(WINDOW_COLORS)]}) for i, c in enumerate(burn_cols)]
        thresholds = [{"value": t.factor, "color": TIER_COLORS.get(t.name, "#d62728"),
                       "label": f"{t.name} {t.factor:g}× ({t.severity}: {label(t.long_window)} & {label(t.short_window)})"}
                      for t in table.tiers]
        burn_chart = line_spec(f"{name}: burn rate per window (max per {wc.bucket} min)", wc, burn_series, "x",
                               thresholds=thresholds, spans=spans, ylog=True, ylog_floor=0.1, height=260,
                               note="A tier fires when the burn over both its long and its short window is above "
                                    "its line; shaded: minutes in an alert state.")
        tte = line_spec(f"{name}: time to exhaustion at the 1 h burn rate", w,
                        [("hours to exhaustion", w.grid(g, "hours_to_exhaustion"), {"color": "#b07aa1"})], "h",
                        thresholds=[{"value": 24, "label": "1 day", "color": "#d62728"},
                                    {"value": 72, "label": "3 days", "color": "#f28e2b"}],
                        ylog=True, ylog_floor=1, spans=spans, yticks=[1, 6, 24, 72, 168, 720, 2160, 8760])
        remaining = float(now.budget_remaining) if pd.notna(now.budget_remaining) else None
        hours = float(now.hours_to_exhaustion) if pd.notna(now.hours_to_exhaustion) else None
        state = "bad" if remaining is not None and remaining <= 0.25 else "warn" if remaining is not None and \
            remaining <= 0.5 else "good"
        title = (spec.display_name + (f" at {edge}" if edge != UNGROUPED else "")) if spec else name
        sev = now.severity if isinstance(now.severity, str) else None
        minutes = {t.name: int(eps.loc[eps["alert_state"] == t.name, "minutes"].sum()) for t in table.tiers}
        body = Page.cards([
            ("budget remaining", _pct(remaining), f"of the 30-day budget · objective {_target(spec)}", state),
            ("alert state now", str(now.alert_state), f"{sev or 'no alert'} at {now.at:%m-%d %H:%M}Z",
             "bad" if sev in ("P0", "P1") else "warn" if sev == "P2" else "good"),
            ("time to exhaustion", _hours(hours), "at the current 1 h burn rate",
             "bad" if hours is not None and hours < 24 else "warn" if hours is not None and hours < 72 else ""),
            ("minutes alerting in window", " / ".join(str(minutes[t]) for t in minutes),
             " / ".join(f"{t} ({next(x.severity for x in table.tiers if x.name == t)})" for t in minutes), ""),
        ])
        charts = [page.chart(c) for c in (budget_chart, burn_chart, tte) if c is not None]
        page.add(page.section(f"{title} ({name})", body + f'<div class="grid2">{"".join(charts)}</div>',
                              spec.description if spec else "no spec file for this SLO", data_slo=name))
        rows.append([name, _pct(remaining), now.alert_state, _hours(hours),
                     " / ".join(str(v) for v in minutes.values()), sparkline(budget)])
    missing_specs = [s.name for s in slos if s.name not in {split_key(k)[0] for k in latest}]
    if missing_specs:
        page.add(f'<div class="missing" data-missing="{esc(",".join(missing_specs))}"><h2>No burn rates for '
                 f'{esc(", ".join(missing_specs))}</h2>These SLOs have a spec but no rows in {esc(TABLE)} yet.</div>')
    page.add(_spec_section(page, slos, table))
    summary.tables["slos"] = Summary.md(["slo", "budget remaining", "state now", "time to exhaustion",
                                         "minutes " + "/".join(t.name for t in table.tiers), "budget"], rows)
    summary.values.update({"slos": len(names), "bucket_minutes": w.bucket})
    return page, summary


def _spec_section(page: Page, slos: list, table) -> str:  # noqa: ANN001
    rows = [[s.name, s.display_name, _target(s), s.budgeting,
             (f"{s.threshold.model}: {s.threshold.expr} {s.op} {s.value:g}" if s.threshold else
              f"{s.good.model}: {s.good.expr} / {s.total.expr}") if (s.threshold or s.good) else ""]
            for s in slos]
    tiers = [[t.name, t.severity, f"{t.factor:g}×", label(t.long_window), label(t.short_window)] for t in table.tiers]
    return page.section(
        "Specifications", Page.table(["slo", "name", "objective", "budgeting", "SLI"], rows)
        + "<br>" + Page.table(["tier", "severity", "burn-rate threshold", "long window", "short window"], tiers),
        f"akidb_pipelines/slo/specs (OpenSLO v1); low-traffic guard: {table.min_events} events in the long window")


def _target(spec) -> str:  # noqa: ANN001
    return "n/a" if spec is None else f"{spec.target * 100:g}%"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _hours(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "not burning"
    return f"{v / 24:.1f} days" if v >= 48 else f"{v:.1f} h"
