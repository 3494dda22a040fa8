"""Alerts read from the lake: SLO burn-rate alert states and forecast anomalies, as episodes.

A burn-rate tier that fires for consecutive minutes is one alert (source ``slo``, severity from the window table:
fast P0, medium P1, slow P2); flagged anomaly minutes of one series no more than ``gap`` apart are one alert (source
``anomaly``). The component is the tier the SLI or the series is measured at. How long an anomaly lasted is read
from the scores (:func:`anomaly_spans`): the detector flags an ongoing excursion once.

Given the window table, a burn-rate alert also says how many minutes of its tier's short window burned above the
tier's factor on their own (``burning_minutes`` in its context, the most over its firing minutes): one slow minute
of a timeslice SLO fires the fast tier by itself (1 h burn 16.7 > 14.4, 5 min burn 200), and an alert that rests on
fewer than the table's ``min_burning_minutes`` with nothing beside it is a ticket (:func:`rests_on_one_blip`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from akidb_pipelines.alerting.correlate import SEVERITY_RANK, Alert, Incident, ServiceMap, episodes, service_map_sql
from akidb_pipelines.alerting.golden_columns import golden_signal
from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.slo.spec import SLO, UNGROUPED, BurnTier, WindowTable, split_key
from akidb_pipelines.storage import Lake
from akidb_pipelines.storage.sqltext import duckdb_path

BURN_TABLE = "models/marts/slo_burn_rates_1m"
SPANS_TABLE = "models/staging/stg_xray_spans"
ANOMALIES_TABLE = "forecast/anomalies"
SCORES_TABLE = "forecast/anomaly_scores"   # every scored minute: band, direction (set outside the band or flagged)
SPAN_BEFORE = timedelta(hours=1)            # how far before an anomaly its run is looked for (debouncing: minutes)
TIER_RE = re.compile(r"tier\s*=\s*'([^']+)'")


def slo_component(slo: SLO) -> str:
    for src in (slo.good, slo.total, slo.threshold):
        m = TIER_RE.search(src.where) if src is not None else None
        if m:
            return m.group(1)
    return slo.service


BURN_SQL = """
    SELECT slo, alert_state, severity, minute, burn_1h, burn_5m, burn_6h, budget_remaining, hours_to_exhaustion
    FROM {src} WHERE minute >= ? AND minute < ? AND alert_state IN ('fast', 'medium', 'slow')
    ORDER BY slo, minute"""
HOT_SQL = """
    SELECT slo, CAST(epoch(minute) // 60 AS BIGINT) AS m, ((total - good) / total) / (1 - target) AS burn
    FROM {src} WHERE minute >= ? AND minute < ? AND total > good
    ORDER BY slo, m"""
ANOMALY_SQL = """
    SELECT series, minute, actual, yhat, lower, upper, anomaly_score, direction FROM {src}
    WHERE minute >= ? AND minute < ? ORDER BY series, minute"""


Hot = dict[str, tuple[np.ndarray, np.ndarray]]   # SLO instance -> (epoch minutes with bad events, their burn rates)
_NONE = np.zeros(0)


def hot_since(start: datetime, table: WindowTable) -> datetime:
    """Where the minutes with bad events are read from for alerts from ``start`` on: a short window earlier."""
    return start - max(t.short_window for t in table.tiers)


def hot_minutes(rows: list[tuple]) -> Hot:
    """``HOT_SQL``'s rows (sorted by instance and minute) as arrays per SLO instance."""
    out: dict[str, tuple[list, list]] = {}
    for slo, m, burn in rows:
        ms, bs = out.setdefault(slo, ([], []))
        ms.append(m)
        bs.append(burn)
    return {k: (np.array(ms, dtype=np.int64), np.array(bs, dtype=float)) for k, (ms, bs) in out.items()}


def burning_minutes(hot: Hot, slo: str, minute: datetime, tier: BurnTier) -> int:
    """How many minutes of ``tier``'s short window ending with ``minute`` burned above the tier's factor on their
    own (a minute's burn rate: its bad share over the SLO's error budget share)."""
    ms, burns = hot.get(slo, (_NONE, _NONE))
    m = int(minute.timestamp()) // 60
    lo = np.searchsorted(ms, m - int(tier.short_window.total_seconds() // 60) + 1, "left")
    hi = np.searchsorted(ms, m, "right")
    return int(np.count_nonzero(burns[lo:hi] > tier.factor))


def rests_on_one_blip(inc: Incident, table: WindowTable | None) -> int | None:
    """The burning minutes of ``inc``'s burn-rate alert when the incident is that alert alone and they are fewer than
    the table's ``min_burning_minutes`` (it is then a ticket, not a page); None otherwise.

    Alone: no other alert of the same place. An alert of the root's SLO at one edge location is not kept company by
    an alert at another edge location (held-out seed 68369: NRT57's one slow minute was a ticket until a one-minute
    P95 extreme at SYD62 two minutes later joined its incident and made it a page); a fleet-wide alert ("all") or
    one of the same location is company."""
    if table is None or inc.root.source != "slo":
        return None
    here = (UNGROUPED, inc.root.edge_location)
    if any(a is not inc.root and (inc.root.edge_location == UNGROUPED or a.edge_location in here) for a in inc.alerts):
        return None
    n = dict(inc.root.context).get("burning_minutes")
    return n if n is not None and n < table.min_burning_minutes else None


def slo_alerts(lake: Lake, slos: list[SLO], start: datetime, end: datetime,
               gap: timedelta = timedelta(minutes=15), table: WindowTable | None = None) -> list[Alert]:
    """One alert per firing episode of each SLO: firing minutes no more than ``gap`` apart (a burn rate hovering
    at its threshold after a fault drops out for a minute or two; that is the same story, not a new alert).
    ``table``: the window table, for each alert's burning minutes (none without it)."""
    rows = lake.query_hours(BURN_TABLE, BURN_SQL, start, end, [start, end])
    hot: Hot = {}
    if rows and table is not None:  # the minutes a firing minute looks back on, from the first firing minute on
        lo = hot_since(min(r[3] for r in rows), table)
        hot = hot_minutes(lake.query_hours(BURN_TABLE, HOT_SQL, lo, end, [lo, end]))
    return slo_alerts_of(rows, slos, gap, table, hot)


def slo_alerts_of(rows: list[tuple], slos: list[SLO], gap: timedelta = timedelta(minutes=15),
                  table: WindowTable | None = None, hot: Hot | None = None) -> list[Alert]:
    """:func:`slo_alerts` from the firing rows of the burn-rate table (``BURN_SQL``'s columns, in its order) and,
    with ``table``, the minutes with bad events before them (``hot``: :func:`hot_minutes` of ``HOT_SQL``)."""
    comp = {s.name: slo_component(s) for s in slos}
    tiers = {t.name: t for t in table.tiers} if table is not None else {}
    by_slo: dict[str, list] = {}
    for slo, state, sev, minute, b1h, b5m, b6h, remaining, tte in rows:
        burning = burning_minutes(hot or {}, slo, minute, tiers[state]) if state in tiers else None
        by_slo.setdefault(slo, []).append((minute, (sev, state, b1h, b5m, b6h, remaining, tte, burning)))
    out = []
    for slo, pts in by_slo.items():
        # an SLO instance: the SLO itself, or one edge location of an SLO grouped by edge location (<name>.<location>)
        spec, edge = split_key(slo)
        labels = (("slo", slo),) + ((("edge_location", edge),) if edge != UNGROUPED else ())
        # one alert per firing episode of an SLO: fast -> medium -> slow as the windows drain is one story
        for s, e, payloads in slo_episodes(pts, gap, tiers):
            worst = min(payloads, key=lambda p: SEVERITY_RANK.get(p[0], 9))
            peak = max(payloads, key=lambda p: p[2] or 0)
            out.append(Alert("slo", slo, comp.get(spec, "akidb"), worst[0], s, e, edge, labels=labels,
                             context=(("worst_tier", worst[1]), ("burn_rate_1h", peak[2]), ("burn_rate_5m", peak[3]),
                                      ("burn_rate_6h", peak[4]), ("budget_remaining", payloads[-1][5]),
                                      ("hours_to_exhaustion", payloads[-1][6]))
                             + ((("burning_minutes", max((p[7] for p in payloads if p[7] is not None), default=None)),)
                                if tiers else ())))
    return out


def slo_episodes(pts: list[tuple[datetime, tuple]], gap: timedelta,
                 tiers: dict[str, BurnTier]) -> list[tuple[datetime, datetime, list[tuple]]]:
    """:func:`episodes` of one SLO instance's firing minutes, where a tier that fires again while its short window
    still reaches back to the episode's last firing minute continues that episode, however long the pause: the
    short window then still holds the bad minutes that fired it (a storm's 16 bad minutes at 01:06-01:21 kept the
    30-minute window at 66x, and the 6-hour window, its evening traffic leaving it, crept over 6x at 01:43 with no
    bad minute since: held-out seed 48829 paged that as a new incident)."""
    out: list[tuple[datetime, datetime, list[tuple]]] = []
    for t, payload in sorted(pts, key=lambda r: r[0]):
        tier = tiers.get(payload[1])
        reach = max(gap, tier.short_window) if tier is not None else gap
        if out and t - out[-1][1] <= reach:
            out[-1] = (out[-1][0], t, out[-1][2] + [payload])
        else:
            out.append((t, t, [payload]))
    return out


def anomaly_alerts(lake: Lake, cfg: ForecastConfig, start: datetime, end: datetime,
                   gap: timedelta = timedelta(minutes=5)) -> list[Alert]:
    return anomaly_alerts_of(lake.query_hours(ANOMALIES_TABLE, ANOMALY_SQL, start, end, [start, end]), cfg, gap)


def anomaly_alerts_of(rows: list[tuple], cfg: ForecastConfig, gap: timedelta = timedelta(minutes=5)) -> list[Alert]:
    """:func:`anomaly_alerts` from rows of the anomalies table (``ANOMALY_SQL``'s columns, in its order)."""
    specs = {s.id: s for s in cfg.series}
    by_series: dict[str, list] = {}
    for series, minute, *rest in rows:
        by_series.setdefault(series, []).append((minute, rest))
    out = []
    for series, pts in by_series.items():
        spec = specs.get(series)
        for s, e, payloads in episodes(pts, gap):
            actual, yhat, lo, hi, score, direction = max(payloads, key=lambda p: p[4])
            signal = golden_signal(spec.metric if spec else series.rsplit(".", 1)[-1])
            out.append(Alert("anomaly", series, spec.tier if spec else "unknown", "P2", s, e,
                             spec.edge_location if spec else "all",
                             labels=(("series", series), ("signal", signal), ("metric", spec.metric if spec else "")),
                             context=(("anomaly_score", score), ("actual", actual), ("yhat", yhat),
                                      ("band", [lo, hi]), ("direction", direction), ("points", len(payloads)))))
    return out


@dataclass(frozen=True)
class Span:
    """How long an anomaly alert's series was anomalous: the runs of consecutive minutes outside its band (or
    flagged) on the alert's side that touch the alert's episode, from the first run's start to the last one's end."""

    start: datetime
    end: datetime      # the last anomalous minute
    minutes: int       # anomalous minutes: the runs' lengths added


def flagged_span(a: Alert) -> Span:
    """An anomaly alert's span from its flagged minutes alone (what :func:`anomaly_spans` falls back to)."""
    return Span(a.start, a.end, int(dict(a.context).get("points") or 1))


def anomaly_spans(lake: Lake, alerts: list[Alert], start: datetime, end: datetime) -> dict[str, Span]:
    """Each anomaly alert's :class:`Span` (by fingerprint) over the scored minutes of [start, end), from
    ``SPAN_BEFORE`` before the first alert on. The detector flags an excursion once (repeat suppression), so the
    anomalies alone do not say how long it lasted; the scores do. An alert whose series has no scored minute there
    (hand-made, or a lake without scores) counts its flagged minutes, from its first to its last."""
    anomalies = [a for a in alerts if a.source == "anomaly"]
    series = sorted({a.rule for a in anomalies})
    if not series:
        return spans_of(anomalies, {})
    start = max(start, min(a.start for a in anomalies) - SPAN_BEFORE)
    files = lake.hour_files(SCORES_TABLE, start, end)
    if not files:
        return spans_of(anomalies, {})
    # runs of consecutive minutes per series and side, as epoch minutes (islands: minute - rank is constant), read
    # from the files of those hours only (the table holds months of scores)
    with lake.connect() as con:
        con.execute("SET VARIABLE akidb_span_files = ?", [[duckdb_path(f) for f in files]])
        rows = con.execute(f"""
            WITH d AS (SELECT DISTINCT series, direction, CAST(epoch(minute) // 60 AS BIGINT) AS m
                       FROM read_parquet(getvariable('akidb_span_files'), union_by_name = true)
                       WHERE minute >= ? AND minute < ? AND direction IS NOT NULL
                         AND series IN ({', '.join('?' * len(series))}))
            SELECT series, direction, min(m), max(m), count(*) FROM (
                SELECT *, m - row_number() OVER (PARTITION BY series, direction ORDER BY m) AS island FROM d)
            GROUP BY series, direction, island ORDER BY series, direction, min(m)""",
                           [start, end, *series]).fetchall()
    runs: dict[tuple[str, str], list[tuple[int, int, int]]] = {}  # (series, direction) -> [(first, last, minutes)]
    for name, direction, first, last, n in rows:
        runs.setdefault((name, direction), []).append((first, last, n))
    return spans_of(anomalies, runs)


def spans_of(anomalies: list[Alert], runs: dict[tuple[str, str], list[tuple[int, int, int]]]) -> dict[str, Span]:
    """Each anomaly alert's :class:`Span` from the runs of anomalous minutes of its series and side
    ({(series, direction): [(first, last, minutes)]} in epoch minutes, in time order); no run touching it: its
    flagged minutes (:func:`flagged_span`)."""
    out = {a.fingerprint: flagged_span(a) for a in anomalies}
    for a in anomalies:
        lo, hi = int(a.start.timestamp()) // 60, int(a.end.timestamp()) // 60
        touching = [r for r in runs.get((a.rule, dict(a.context).get("direction")), ()) if r[0] <= hi and r[1] >= lo]
        if touching:
            out[a.fingerprint] = Span(_at(touching[0][0]), _at(touching[-1][1]), sum(r[2] for r in touching))
    return out


def _at(epoch_minute: int) -> datetime:
    return datetime.fromtimestamp(epoch_minute * 60, tz=timezone.utc)


def service_map(lake: Lake, start: datetime | None = None, end: datetime | None = None) -> ServiceMap:
    """The service map of the X-Ray spans in the lake (empty before any spans are modelled); of the spans of the
    hours overlapping ``[start, end)`` only when given (a tick reads its lookback, not months of spans)."""
    if start is None or end is None:
        return ServiceMap({tuple(r) for r in lake.query_table(SPANS_TABLE, service_map_sql("{src}"))})
    return ServiceMap({tuple(r) for r in lake.query_hours(SPANS_TABLE, service_map_sql("{src}"), start, end)})


def lookback_service_map(lake: Lake, first_tick: datetime, last_tick: datetime, lookback: timedelta) -> ServiceMap:
    """The service map the ticks from ``first_tick`` to ``last_tick`` see: the spans of their lookback windows
    (one tick: ``first_tick == last_tick``; a replay: its first and last tick)."""
    return service_map(lake, first_tick - lookback, last_tick + timedelta(minutes=1))


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
