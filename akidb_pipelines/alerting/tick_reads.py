"""What a response tick reads from the lake: the alert sources (burn-rate alert states, anomalies, static rules), how
long anomalies lasted (the scores) and the root-cause evidence (the golden signals).

:class:`LakeReads` queries the lake as it is at each tick (the alert sensor's runs). :class:`FrozenReads` serves a
replay over telemetry that is already in the lake and does not change while it runs (the chaos replay, the game
day, the demo): it reads the rows of the whole replay once and gives each tick only the minutes that closed before
the tick's own time, so a tick knows what a live tick at that time would have known and nothing later. A tick that queried the
lake cost seconds (the commit records listed and the files read for every read); served from memory it costs
milliseconds, with the same alerts, spans and evidence (``tests/test_tick_reads.py`` compares the two).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone

import numpy as np

from akidb_pipelines.alerting.alert_sources import (
    ANOMALIES_TABLE, ANOMALY_SQL, BURN_SQL, BURN_TABLE, HOT_SQL, SCORES_TABLE, SPAN_BEFORE, Hot, Span,
    anomaly_alerts, anomaly_alerts_of, anomaly_spans, hot_minutes, hot_since, slo_alerts, slo_alerts_of, spans_of)
from akidb_pipelines.alerting.correlate import Alert
from akidb_pipelines.alerting.evidence import AFTER, BEFORE, DAYS, HOUR, SPAN, Condition, fetch
from akidb_pipelines.alerting.rootcause import CauseType, conditions_of, evidence_frame
from akidb_pipelines.alerting.static_rules import StaticRule, static_alerts
from akidb_pipelines.forecast.config import ForecastConfig
from akidb_pipelines.slo.spec import SLO, WindowTable
from akidb_pipelines.storage import Lake

Frame = Mapping[tuple[str, str, str], Mapping[datetime, float]]


def closed(t: datetime) -> datetime:
    """The end of the minutes a tick at ``t`` knows: those that closed before it (a tick at 10:21:20 sees minutes to
    10:20; the minute 10:21 is still being collected)."""
    return t.replace(second=0, microsecond=0)


class LakeReads:
    """Every read a query of the lake as it is now."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def slo_alerts(self, slos: list[SLO], start: datetime, end: datetime,
                   table: WindowTable | None = None) -> list[Alert]:
        return slo_alerts(self.lake, slos, start, end, table=table)

    def anomaly_alerts(self, cfg: ForecastConfig, start: datetime, end: datetime) -> list[Alert]:
        return anomaly_alerts(self.lake, cfg, start, end)

    def static_alerts(self, rules: list[StaticRule], start: datetime, end: datetime) -> list[Alert]:
        return static_alerts(self.lake, rules, start, end)

    def anomaly_spans(self, alerts: list[Alert], start: datetime, end: datetime) -> dict[str, Span]:
        return anomaly_spans(self.lake, alerts, start, end)

    def evidence(self, types: list[CauseType], now: datetime) -> Frame:
        # the closed minutes only, as a replay's tick sees them: a minute still being collected is no level
        return evidence_frame(self.lake, types, closed(now).astimezone(timezone.utc))


def _keyed(rows: list[tuple], minute: int) -> dict[str, tuple[list[datetime], list[tuple]]]:
    """Rows sorted by (key, minute), the key first and the minute at index ``minute`` -> {key: (minutes, rows)},
    for slicing by time in the rows' order."""
    out: dict[str, tuple[list[datetime], list[tuple]]] = {}
    for r in rows:
        minutes, got = out.setdefault(r[0], ([], []))
        minutes.append(r[minute])
        got.append(r)
    return out


def _slice(keyed: dict[str, tuple[list[datetime], list[tuple]]], start: datetime, end: datetime) -> list[tuple]:
    out: list[tuple] = []
    for minutes, rows in keyed.values():
        out += rows[bisect.bisect_left(minutes, start):bisect.bisect_left(minutes, end)]
    return out


class _Before(Mapping):
    """One evidence signal as a tick at ``until`` sees it: the minutes before ``until`` only."""

    def __init__(self, series: dict[datetime, float], until: datetime) -> None:
        self._series, self._until = series, until

    def get(self, t: datetime, default: float | None = None) -> float | None:  # noqa: D102 - the hot path
        return self._series.get(t, default) if t < self._until else default

    def __getitem__(self, t: datetime) -> float:
        if t >= self._until:
            raise KeyError(t)
        return self._series[t]

    def __iter__(self) -> Iterator[datetime]:
        return (t for t in self._series if t < self._until)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _FrozenFrame(Mapping):
    """The evidence signals as a tick at ``until`` sees them; ``baselines``: the replay's baselines so far (each
    reads minutes before its onset's window only, the same at every tick: ``evidence._baseline``)."""

    def __init__(self, data: dict[tuple[str, str, str], dict[datetime, float]], until: datetime,
                 baselines: dict) -> None:
        self._data, self._until, self.baselines = data, until, baselines
        self.until = until          # the end of what the tick knows (``evidence.check_edge``)

    def __getitem__(self, key: tuple[str, str, str]) -> Mapping[datetime, float]:
        return _Before(self._data[key], self._until)

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class FrozenReads(LakeReads):
    """The reads of ticks in (start, end] over a lake that does not change meanwhile, each source read once.

    ``lookback``: how far before its time a tick looks for alerts (``RespondConfig.lookback``); the evidence is
    read from :data:`evidence.DAYS` days before that. Static rules are few and rarely enabled: they are queried."""

    def __init__(self, lake: Lake, cause_types: list[CauseType], start: datetime, end: datetime,
                 lookback: timedelta) -> None:
        super().__init__(lake)
        lo, hi = start - lookback, end + timedelta(minutes=1)
        self._lo, self._hi = lo, hi
        self._burn = _keyed(lake.query_hours(BURN_TABLE, BURN_SQL, lo, hi, [lo, hi]), 3)
        self._hot: Hot | None = None   # the minutes with bad events, read at the first tick given a window table
        self._anomalies = _keyed(lake.query_hours(ANOMALIES_TABLE, ANOMALY_SQL, lo, hi, [lo, hi]), 1)
        self._runs: dict[tuple[str, str], np.ndarray] = {}
        for series, direction, minutes in lake.query_hours(SCORES_TABLE, """
                SELECT series, direction, list(DISTINCT CAST(epoch(minute) // 60 AS BIGINT))
                FROM {src} WHERE minute >= ? AND minute < ? AND direction IS NOT NULL
                GROUP BY series, direction""", lo - SPAN_BEFORE, hi, [lo - SPAN_BEFORE, hi]):
            self._runs[(series, direction)] = np.array(sorted(minutes), dtype=np.int64)
        conditions: list[Condition] = conditions_of(cause_types)
        first = lo - timedelta(days=DAYS) - SPAN - BEFORE - HOUR
        self._golden = fetch(lake, conditions, [(first, hi + AFTER)]) if conditions else {}
        self._baselines: dict = {}

    def slo_alerts(self, slos: list[SLO], start: datetime, end: datetime,
                   table: WindowTable | None = None) -> list[Alert]:
        if table is not None and self._hot is None:  # a firing minute counts only minutes up to itself: causal
            since = hot_since(self._lo, table)
            self._hot = hot_minutes(self.lake.query_hours(BURN_TABLE, HOT_SQL, since, self._hi, [since, self._hi]))
        return slo_alerts_of(_slice(self._burn, start, closed(end)), slos, table=table, hot=self._hot)

    def anomaly_alerts(self, cfg: ForecastConfig, start: datetime, end: datetime) -> list[Alert]:
        return anomaly_alerts_of(_slice(self._anomalies, start, closed(end)), cfg)

    def anomaly_spans(self, alerts: list[Alert], start: datetime, end: datetime) -> dict[str, Span]:
        anomalies = [a for a in alerts if a.source == "anomaly"]
        if not anomalies:
            return {}
        end = closed(end)
        # epoch minutes m with start <= m * 60 s < end, as the lake's query reads them
        lo = math.ceil(max(start, min(a.start for a in anomalies) - SPAN_BEFORE).timestamp() / 60)
        hi = math.ceil(end.timestamp() / 60)
        runs: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        for key in {(a.rule, dict(a.context).get("direction")) for a in anomalies}:
            m = self._runs.get(key)
            if m is None:
                continue
            m = m[np.searchsorted(m, lo):np.searchsorted(m, hi)]
            if not len(m):
                continue
            cuts = np.flatnonzero(np.diff(m) != 1) + 1
            runs[key] = [(int(p[0]), int(p[-1]), len(p)) for p in np.split(m, cuts)]
        return spans_of(anomalies, runs)

    def evidence(self, types: list[CauseType], now: datetime) -> Frame:
        return _FrozenFrame(self._golden, closed(now).astimezone(timezone.utc), self._baselines)
