"""A burn-rate tier that fires again while its short window still reaches back to its last firing minute is the
same alert, not a new one (held-out game day seed 48829, scenario 013: a storm at SYD62 paged at 01:10; its
16 bad minutes kept the medium tier's 30-minute window burning, and as the night's traffic let the 6-hour window creep
over 6x the medium tier fired at 01:43, with no bad minute since 01:21, and was held as a new P1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from akidb_pipelines.alerting.alert_sources import slo_alerts_of, slo_episodes
from akidb_pipelines.slo.spec import load_specs

SLOS, TABLE = load_specs()
TIERS = {t.name: t for t in TABLE.tiers}
T0 = datetime(2026, 8, 8, 1, 0, tzinfo=timezone.utc)
GAP = timedelta(minutes=15)


def minutes(first: int, last: int, state: str) -> list[tuple[datetime, tuple]]:
    sev = {"fast": "P0", "medium": "P1", "slow": "P2"}[state]
    return [(T0 + timedelta(minutes=m), (sev, state, 30.0, 50.0, 6.0, 0.9, None, 3)) for m in range(first, last + 1)]


def spans(pts: list, tiers: dict) -> list[tuple[int, int]]:
    return [(int((s - T0).total_seconds() // 60), int((e - T0).total_seconds() // 60))
            for s, e, _ in slo_episodes(pts, GAP, tiers)]


def test_a_tier_firing_again_within_its_short_window_continues_the_episode():
    storm_then_tail = minutes(9, 25, "fast") + minutes(43, 50, "medium")   # 18 min apart, short window 30 min
    assert spans(storm_then_tail, TIERS) == [(9, 50)]
    assert spans(storm_then_tail, {}) == [(9, 25), (43, 50)]                 # without the table: the 15-min gap


def test_beyond_its_short_window_a_tier_firing_again_is_a_new_episode():
    assert TIERS["medium"].short_window == timedelta(minutes=30) and TIERS["fast"].short_window < GAP
    assert spans(minutes(9, 25, "fast") + minutes(56, 60, "medium"), TIERS) == [(9, 25), (56, 60)]
    assert spans(minutes(9, 25, "fast") + minutes(41, 45, "fast"), TIERS) == [(9, 25), (41, 45)]  # 16 > 15 min


def test_the_alerts_of_the_lake_rows_follow_the_episodes():
    rows = [("edge-location-latency.SYD62", p[1], p[0], t, *p[2:7]) for t, p in
            minutes(9, 25, "fast") + minutes(43, 50, "medium")]
    (a,) = slo_alerts_of(rows, SLOS, table=TABLE, hot={})
    assert (a.start, a.end, a.severity) == (T0 + timedelta(minutes=9), T0 + timedelta(minutes=50), "P0")
    assert len(slo_alerts_of(rows, SLOS)) == 2   # no window table: as before
