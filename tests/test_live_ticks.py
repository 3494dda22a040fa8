"""The response ticks a replay runs instead of one every minute (``response_replay.live_ticks``): the cadence the
alert sensor has live, so a replayed page goes out when a live one would."""

from datetime import datetime, timedelta, timezone

from akidb_pipelines.response_replay import live_ticks

T0 = datetime(2026, 11, 18, 0, 0, tzinfo=timezone.utc)
M = timedelta(minutes=1)


def test_an_alert_is_ticked_once_its_minute_has_closed_and_the_cycle_ran_then_every_minute_for_a_quarter_hour():
    onset = T0 + timedelta(hours=10, minutes=17)
    ticks = live_ticks([onset], T0, T0 + timedelta(hours=13), cycle_seconds=20)
    first = onset + M + timedelta(seconds=20)                 # 10:18:20: the onset minute closed, one cycle later
    after = [t for t in ticks if t > onset]
    assert after[:16] == [first + k * M for k in range(16)]   # every minute to 10:33:20
    assert first + 30 * M in ticks and first + 60 * M in ticks  # holds, flaps, escalation, resolve
    hourly = [T0 + timedelta(hours=h) for h in range(1, 13)]
    assert set(hourly) <= set(ticks) and T0 + timedelta(hours=13) not in ticks  # the end itself is not ticked
    assert ticks == sorted(set(ticks)) and len(ticks) == 12 + 18


def test_ticks_stay_inside_the_replayed_stretch():
    late = T0 + timedelta(hours=2, minutes=50)
    ticks = live_ticks([T0 - timedelta(minutes=30), late], T0, T0 + timedelta(hours=3), cycle_seconds=60)
    assert all(T0 < t <= T0 + timedelta(hours=3) for t in ticks)
    assert late + 2 * M in ticks and late + 11 * M not in ticks  # 02:52, and nothing past 03:00
