"""Game-day draws follow the issue's distributions and are valid scenarios; strict matching credits a page only for
the right root, cause and time; intervals resample whole scenarios."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from akidb_pipelines.chaos.gameday import KINDS, PER_BACKGROUND, REPLAY_DAYS, draw, draw_suite
from akidb_pipelines.chaos.matching import Injected, Page, bootstrap_interval, match, percentile

SUITE = draw_suite(160, seed=7)


def _incidents(sc):  # noqa: ANN001, ANN202
    return sc.parsed().incidents


def test_every_draw_is_a_valid_scenario_with_its_incidents_inside_the_replayed_days():
    for sc in SUITE:
        parsed = sc.parsed()  # the generator's own validation
        bg = sc.background
        assert (bg.end - bg.replay_start).days == REPLAY_DAYS and sc.history_days in (4, 14)
        assert (bg.replay_start - bg.start).days >= sc.history_days  # the history the models are trained on exists
        for inc in list(parsed.incidents) + list(parsed.events):
            assert bg.replay_start <= inc.start and inc.end <= bg.end, (sc.name, inc)


def test_scenarios_share_backgrounds_eight_at_a_time_with_every_kind_on_each():
    by_bg: dict[str, list] = {}
    for sc in SUITE:
        by_bg.setdefault(sc.background.name, []).append(sc)
    assert len(by_bg) == 160 // PER_BACKGROUND
    for scs in by_bg.values():
        assert Counter(sc.kind for sc in scs) == Counter(KINDS)
        assert len({sc.background for sc in scs}) == 1
    assert len({sc.seed for sc in SUITE}) == len(SUITE)  # each scenario regenerates its hours with its own noise


def test_the_suite_covers_what_the_issue_asks_for():
    kinds = Counter(sc.kind for sc in SUITE)
    assert kinds == {k: 160 * KINDS.count(k) // len(KINDS) for k in set(KINDS)}
    assert kinds["overlap"] / len(SUITE) >= 0.10
    assert {sc.background.start.weekday() for sc in SUITE} == set(range(7))
    assert {sc.history_days for sc in SUITE} == {4, 14}
    incs = [i for sc in SUITE for i in _incidents(sc)]
    hours = {i.start.hour for i in incs}
    assert len(hours) >= 20  # nights included
    assert any(i.start.weekday() >= 5 for i in incs)  # weekends included
    by_type = {t: [i for i in incs if i.type == t] for t in {i.type for i in incs}}
    spot = by_type["spot_interruption_cascade"]
    assert all(0.02 <= i.magnitude["error_rate"] <= 0.10 and 2 <= i.magnitude["instances_lost"] <= 6
               and 5 <= i.duration_minutes <= 20 for i in spot)
    storm = by_type["lambda_edge_cold_start_storm"]
    assert all(1000 <= i.magnitude["p95_ms"] <= 6000 and 1 <= len(i.edge_locations) <= 4
               and 8 <= i.duration_minutes <= 25 for i in storm)
    assert len({e for i in storm for e in i.edge_locations}) == 12  # any of the 12 edge locations
    lstm = by_type["lstm_false_positive_cascade"]
    assert all(80 <= i.magnitude["overprovision_pct"] <= 300 and 45 <= i.duration_minutes <= 180 for i in lstm)
    in_deploy = [i for i in incs if i.start.weekday() < 5 and (i.start.hour, i.start.minute) in ((14, 0), (14, 1))]
    assert in_deploy  # some incidents start inside a deploy blip
    for sc in SUITE:
        if sc.kind == "overlap":
            a, b = _incidents(sc)
            assert {a.components[0], b.components[0]} == {"akidb-rest", "lambda-edge"}
            assert abs((b.start - a.start).total_seconds()) <= 600
        if sc.kind == "noisy":
            ev = {e.type: e.factor for e in sc.parsed().events}
            assert 1.5 <= ev["traffic_surge"] <= 3.0 and 0.4 <= ev["holiday_dip"] <= 0.7


def test_a_seed_gives_one_suite_and_another_seed_another():
    assert [draw(7, i) for i in range(5)] == SUITE[:5]
    assert all(draw(1000, i).doc != draw(7, i).doc or draw(1000, i).background != draw(7, i).background
               for i in range(5))
    with pytest.raises(ValueError, match="at least 1"):
        draw_suite(0, 1)


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
SPOT = Injected("spot", "spot_interruption_cascade", T0, T0 + timedelta(minutes=10), ("akidb-rest",))
STORM = Injected("storm", "lambda_edge_cold_start_storm", T0 + timedelta(minutes=4), T0 + timedelta(minutes=20),
                 ("lambda-edge",))


def _page(i: str, minutes: float, root: str, cause: str | None) -> Page:
    return Page(i, T0 + timedelta(minutes=minutes), root, cause)


@pytest.mark.parametrize(("pages", "matched", "time_only", "false"), [
    # each incident paged by its own root and cause
    ([_page("a", 2, "akidb-rest", "spot_interruption"), _page("b", 6, "lambda-edge", "edge_cold_start_storm")],
     {"spot": "a", "storm": "b"}, {}, []),
    # one incident rooted at akidb-rest typed spot: it cannot also answer the storm (one page, one incident)
    ([_page("a", 2, "akidb-rest", "spot_interruption")], {"spot": "a"}, {}, []),
    # the storm "paged" two minutes before its onset with the spot's cause: not a detection of the storm
    ([_page("a", 2, "lambda-edge", "spot_interruption")], {}, {"spot": "a"}, ["a"]),
    # right time, wrong cause: counted for cause accuracy, not for recall, and a false page
    ([_page("a", 7, "lambda-edge", "spot_interruption")], {}, {"spot": "a"}, ["a"]),
    # a page before the onset of the only incident it could answer
    ([_page("a", -1, "akidb-rest", "spot_interruption")], {}, {}, ["a"]),
    # late but within the grace after the end; after it: false
    ([_page("a", 39, "akidb-rest", "spot_interruption"), _page("b", 60, "lambda-edge", "edge_cold_start_storm")],
     {"spot": "a"}, {}, ["b"]),
])
def test_strict_matching(pages, matched, time_only, false):
    m = match(pages, [SPOT, STORM])
    assert {k: p.incident for k, p in m.matched.items()} == matched
    assert {k: p.incident for k, p in m.time_only.items()} == time_only
    assert [p.incident for p in m.false_pages] == false


def test_percentiles_and_a_bootstrap_over_whole_scenarios():
    assert percentile([], 0.5) is None
    assert percentile([1, 2, 3, 4], 0.5) == 2.5 and percentile([5], 0.9) == 5
    assert percentile([0, 10], 0.9) == 9
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    lo, hi = bootstrap_interval([[1.0]] * 50, mean)
    assert lo == hi == 1.0  # no spread, no interval
    lo, hi = bootstrap_interval([[1.0]] * 25 + [[0.0]] * 25, mean, seed=3)
    assert 0.3 < lo < 0.5 < hi < 0.7
    assert bootstrap_interval([], mean) == (None, None)
