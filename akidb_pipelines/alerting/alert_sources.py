"""Alerts read from the lake: SLO burn-rate alert states and forecast anomalies, as episodes.

A burn-rate tier that fires for consecutive minutes is one alert (source ``slo``, severity from the window table:
fast P0, medium P1, slow P2); flagged anomaly minutes of one series no more than ``gap`` apart are one alert (source
``anomaly``). The component is the tier the SLI or the series is measured at.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from akidb_pipelines.alerting.correlate import SEVERITY_RANK, Alert, ServiceMap, episodes, service_map_sql
from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.slo.spec import SLO
from akidb_pipelines.storage import Lake

BURN_TABLE = "models/marts/slo_burn_rates_1m"
SPANS_TABLE = "models/staging/stg_xray_spans"
ANOMALIES_TABLE = "forecast/anomalies"
TIER_RE = re.compile(r"tier\s*=\s*'([^']+)'")


def slo_component(slo: SLO) -> str:
    for src in (slo.good, slo.total, slo.threshold):
        m = TIER_RE.search(src.where) if src is not None else None
        if m:
            return m.group(1)
    return slo.service


def slo_alerts(lake: Lake, slos: list[SLO], start: datetime, end: datetime,
               gap: timedelta = timedelta(minutes=15)) -> list[Alert]:
    """One alert per firing episode of each SLO: firing minutes no more than ``gap`` apart (a burn rate hovering
    at its threshold after a fault drops out for a minute or two; that is the same story, not a new alert)."""
    rows = lake.query_table(BURN_TABLE, """
        SELECT slo, alert_state, severity, minute, burn_1h, burn_5m, burn_6h, budget_remaining, hours_to_exhaustion
        FROM {src} WHERE minute >= ? AND minute < ? AND alert_state IN ('fast', 'medium', 'slow')
        ORDER BY slo, minute""", [start, end])
    comp = {s.name: slo_component(s) for s in slos}
    by_slo: dict[str, list] = {}
    for slo, state, sev, minute, b1h, b5m, b6h, remaining, tte in rows:
        by_slo.setdefault(slo, []).append((minute, (sev, state, b1h, b5m, b6h, remaining, tte)))
    out = []
    for slo, pts in by_slo.items():
        # one alert per firing episode of an SLO: fast -> medium -> slow as the windows drain is one story
        for s, e, payloads in episodes(pts, gap):
            worst = min(payloads, key=lambda p: SEVERITY_RANK.get(p[0], 9))
            peak = max(payloads, key=lambda p: p[2] or 0)
            out.append(Alert("slo", slo, comp.get(slo, "akidb"), worst[0], s, e, labels=(("slo", slo),),
                             context=(("worst_tier", worst[1]), ("burn_rate_1h", peak[2]), ("burn_rate_5m", peak[3]),
                                      ("burn_rate_6h", peak[4]), ("budget_remaining", payloads[-1][5]),
                                      ("hours_to_exhaustion", payloads[-1][6]))))
    return out


def anomaly_alerts(lake: Lake, cfg: ForecastConfig, start: datetime, end: datetime,
                   gap: timedelta = timedelta(minutes=5)) -> list[Alert]:
    rows = lake.query_table(ANOMALIES_TABLE, """
        SELECT series, minute, actual, yhat, lower, upper, anomaly_score, direction FROM {src}
        WHERE minute >= ? AND minute < ? ORDER BY series, minute""", [start, end])
    specs = {s.id: s for s in cfg.series}
    by_series: dict[str, list] = {}
    for series, minute, *rest in rows:
        by_series.setdefault(series, []).append((minute, rest))
    out = []
    for series, pts in by_series.items():
        spec = specs.get(series)
        for s, e, payloads in episodes(pts, gap):
            actual, yhat, lo, hi, score, direction = max(payloads, key=lambda p: p[4])
            out.append(Alert("anomaly", series, spec.tier if spec else "unknown", "P2", s, e,
                             spec.edge_location if spec else "all", labels=(("series", series),),
                             context=(("anomaly_score", score), ("actual", actual), ("yhat", yhat),
                                      ("band", [lo, hi]), ("direction", direction), ("points", len(payloads)))))
    return out


def service_map(lake: Lake) -> ServiceMap:
    """The service map of the X-Ray spans in the lake (empty before any spans are modelled)."""
    return ServiceMap({tuple(r) for r in lake.query_table(SPANS_TABLE, service_map_sql("{src}"))})


def newest_alert_minutes(lake: Lake) -> dict[str, str]:
    """The newest minute with a firing burn-rate tier and the newest anomaly (ISO strings; '' when none): what the
    alert sensor's cursor follows."""
    out = {}
    for key, table, where in (("burn", BURN_TABLE, "alert_state IN ('fast', 'medium', 'slow')"),
                              ("anomaly", ANOMALIES_TABLE, "true")):
        rows = lake.query_table(table, f"SELECT max(minute) FROM {{src}} WHERE {where}")
        v = rows[0][0] if rows else None
        out[key] = v.astimezone(timezone.utc).isoformat() if v else ""
    return out
