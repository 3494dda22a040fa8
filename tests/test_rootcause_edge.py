"""Naming a fault at the open edge of its window (issue 15: the wall-clock MTTD of an anomaly-only fault): while a
tick knows only the first closed minute(s) after the onset, every one of them showing a type's change names it,
unless a type before it in the file is partly seen. Windows that are closed are judged as before (three minutes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pytest

from akidb_pipelines.alerting.correlate import Incident, correlate
from akidb_pipelines.alerting.evidence import AFTER, Condition, check_edge
from akidb_pipelines.alerting.rootcause import UNCLASSIFIED, classify
from tests.test_rootcause_relative import (
    DAY, LSTM, M, SMAP, SPOT, START, TYPES, alert, frame, telemetry)


class Known(Mapping):
    """A tick's evidence frame: the minutes before ``until`` only."""

    def __init__(self, data: dict, until: datetime) -> None:
        self.until = until
        self._data = {k: {t: v for t, v in s.items() if t < until} for k, s in data.items()}

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        return self._data[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def cause_at(tel: dict, alerts: list, until: datetime) -> tuple[str, str]:
    (inc,) = correlate(alerts, SMAP)
    return classify(inc, TYPES, Known(frame(tel), until))


def test_an_over_provisioning_is_named_once_its_first_minute_has_closed():
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=2, over=((onset, 90, 2.0),))
    alerts = [alert("akidb-rest", onset, 60, rule="akidb-rest.load_forecast_ratio")]
    assert cause_at(tel, alerts, onset)[0] == UNCLASSIFIED           # the onset minute is still being collected
    cause, why = cause_at(tel, alerts, onset + M)
    assert cause == LSTM and "the first 1 minute since the onset" in why
    cause, why = cause_at(tel, alerts, onset + 3 * M)                # three minutes: the closed-window rule
    assert cause == LSTM and "since the onset" not in why


def test_a_spot_cascade_is_named_once_its_first_minute_has_closed():
    onset = DAY + timedelta(hours=15, minutes=7)
    tel = telemetry(seed=18, spot_lost=((onset, 8, 2),))
    alerts = [alert("akidb-rest", onset, 15, source="slo", rule="availability", severity="P0")]
    assert cause_at(tel, alerts, onset + M)[0] == SPOT


def test_a_one_minute_flicker_is_named_only_while_it_is_the_newest_minute():
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=2, over=((onset, 1, 2.0),))
    alerts = [alert("akidb-rest", onset, 5, rule="akidb-rest.load_forecast_ratio")]
    assert cause_at(tel, alerts, onset + M)[0] == LSTM                # the cost of naming at the first minute
    assert cause_at(tel, alerts, onset + 2 * M)[0] == UNCLASSIFIED    # the next minute is back to normal
    assert cause_at(tel, alerts, onset + AFTER + 2 * M)[0] == UNCLASSIFIED


def test_a_later_type_waits_while_a_type_before_it_is_partly_seen():
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=2, over=((onset, 90, 2.0),))
    i = int((onset - START) / M)
    rest = tel["akidb-rest"]
    alerts = [alert("akidb-rest", onset, 60, rule="akidb-rest.load_forecast_ratio")]
    assert cause_at(tel, alerts, onset + M)[0] == LSTM
    # the spot count falls at the same minute (a spot cascade's first sign) while capacity per request has not
    rest["instances_spot"] = rest["instances_spot"].copy()
    rest["instances_spot"][i:i + 90] = np.floor(rest["instances_spot"][i:i + 90] * 0.5)
    assert cause_at(tel, alerts, onset + M)[0] == UNCLASSIFIED        # not named LSTM in the meantime
    assert cause_at(tel, alerts, onset + 3 * M)[0] == LSTM            # three minutes: the closed-window rule


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_noise_at_the_open_edge_names_nothing(hour):
    tel = telemetry(seed=7)
    f = frame(tel)
    at = DAY + timedelta(hours=hour, minutes=13)
    a = alert("akidb-rest", at)
    e = alert("lambda-edge", at, edge="SYD62")
    for known in (at + M, at + 2 * M):
        assert classify(Incident("i", a, [a, e], "P2", a.start, a.end), TYPES, Known(f, known))[0] == UNCLASSIFIED


def test_the_edge_rule_needs_an_open_window_and_fewer_than_three_minutes():
    rise = Condition("akidb-rest", "x", "rise", 1.5)
    onset = START + timedelta(days=2, hours=9)
    base = {onset - timedelta(days=d) + timedelta(minutes=m): 2.0 + 0.01 * (m % 3)
            for d in (1, 2) for m in range(-30, 31)}
    series = base | {onset + timedelta(minutes=m): (4.0 if m >= 0 else 2.0) for m in range(-5, 16)}
    data = {rise.key: series}
    assert check_edge(rise, Known(data, onset + M), onset, onset + M) is not None
    assert check_edge(rise, Known(data, onset + 2 * M), onset, onset + 2 * M) is not None
    assert check_edge(rise, Known(data, onset + 3 * M), onset, onset + 3 * M) is None    # three: check() decides
    assert check_edge(rise, data, onset, None) is None                                   # no tick: closed
    assert check_edge(rise, data, onset, onset + AFTER + 2 * M) is None                  # the window has closed


def test_a_spot_cascade_pages_with_its_cause_at_the_first_tick_and_the_game_day_counts_80_s(tmp_path):
    """Through the response tick as the game day replays it: the first tick after the onset minute closed (20 s
    later) pages the burn with its cause already named; no update follows."""
    from akidb_pipelines.chaos.gameday_report import scenario_result, sent_pages
    from akidb_pipelines.chaos.matching import Injected
    from tests.test_rootcause_relative import golden_lake, respond_three_ticks

    at = DAY + timedelta(hours=10, minutes=17)
    lake = golden_lake(tmp_path, telemetry(seed=4, spot_lost=((at, 10, 3),)))
    row, causes, box = respond_three_ticks(tmp_path, lake, at)
    assert causes == [SPOT, SPOT, SPOT]
    assert [r["idempotency_key"] for r in box.rows()] == [f"{row['id']}:trigger"]
    pages = [p for _, p in sent_pages(box.rows())]
    spot = Injected("spot", "spot_interruption_cascade", at, at + timedelta(minutes=10), ("akidb-rest",))
    r = scenario_result("s", "incident", 3 / 7, [spot], None, pages)
    assert r.matched == {"spot": 80.0} and r.false_pages == 0


def test_a_spot_fleet_flicker_before_the_onset_does_not_hold_back_a_later_type():
    """Found live: the spot fleet went 5 -> 4 -> 5 at 09:03-09:05 (the autoscaler), an over-provisioning began at
    09:08; the flicker lies in the window's five minutes before the onset and is no sign of a spot cascade."""
    onset = DAY + timedelta(hours=15)
    tel = telemetry(seed=2, over=((onset, 90, 2.0),))
    i = int((onset - START) / M)
    spot = tel["akidb-rest"]["instances_spot"] = tel["akidb-rest"]["instances_spot"].copy()
    spot[i - 5:i - 3] = np.floor(spot[i - 5:i - 3] * 0.7)
    alerts = [alert("akidb-rest", onset, 60, rule="akidb-rest.load_forecast_ratio")]
    assert cause_at(tel, alerts, onset + M)[0] == LSTM
