"""A game-day scenario's ledger is matched strictly against what was injected, and the suite's figures and goals
follow from the per-scenario results."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from akidb_pipelines.chaos.gameday import draw
from akidb_pipelines.chaos.gameday_report import ScenarioResult, scenario_result, summarize, summary_table

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def _ledger(*rows: tuple, digests: tuple = ()) -> pd.DataFrame:
    df = pd.DataFrame([{"id": i, "decision": d, "first_page": T0 + timedelta(minutes=m) if m is not None else None,
                        "root_component": root, "cause": cause} for i, d, m, root, cause in rows])
    df["digest"] = list(digests) + [None] * (len(df) - len(digests))  # the daily digest a blip is a line of
    return df


def test_injected_incidents_come_with_their_absolute_times():
    sc = next(s for s in (draw(5, i) for i in range(8)) if s.name.endswith("overlap"))
    incs = sc.injected()
    bg = sc.background
    assert len(incs) == 2 and all(bg.replay_start <= i.onset < i.end <= bg.end for i in incs)
    assert {i.components for i in incs} == {("akidb-rest",), ("lambda-edge",)}


def test_a_scenario_result_counts_strict_matches_time_only_pages_tickets_and_false_pages():
    from akidb_pipelines.chaos.matching import Injected

    spot = Injected("spot", "spot_interruption_cascade", T0, T0 + timedelta(minutes=10), ("akidb-rest",))
    storm = Injected("storm", "lambda_edge_cold_start_storm", T0 + timedelta(minutes=4), T0 + timedelta(minutes=20),
                     ("lambda-edge",))
    ledger = _ledger(("inc-a", "page", 2, "akidb-rest", "spot_interruption"),
                     ("inc-b", "page", 9, "akidb-rest", "spot_interruption"),   # the storm, typed spot
                     ("inc-c", "ticket", None, "alb", None), ("inc-d", "hold", None, "alb", None),
                     ("inc-e", "page", 300, "alb", None),                       # hours later: false
                     ("inc-f", "digest", None, "alb", None), ("inc-g", "digest", None, "cloudfront", None),
                     digests=(None, None, None, None, None, "digest-day-1", "digest-day-1"))
    r = scenario_result("s", "overlap", 3 / 7, [spot, storm], ledger)
    assert r.matched == {"spot": 120.0}
    # one incident ticket and one digest ticket (two lines of the same day's digest)
    assert r.time_only == ["storm"] and r.false_pages == 2 and r.tickets == 2 and len(r.pages) == 3
    assert scenario_result("q", "clean", 3 / 7, [], None).pages == []


def test_pages_are_judged_by_what_the_trigger_said_when_it_was_sent(tmp_path):
    """The incident ledger keeps what the last tick saw; the person paged read the trigger. A page rooted at the
    wrong tier when sent is not credited because a later tick rooted it right."""
    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.chaos.gameday_report import sent_pages
    from akidb_pipelines.chaos.matching import Injected
    from akidb_pipelines.clients.pagerduty import Event

    clock = [T0.timestamp()]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: clock[0])

    def trigger(inc: str, minute: int, root: str, cause: str) -> None:
        clock[0] = (T0 + timedelta(minutes=minute)).timestamp()
        box.enqueue(Event("trigger", inc, custom_details={"first_alert": T0.isoformat(), "root_cause": {
            "component": root, "type": cause}}), f"{inc}:trigger")
        box.deliver(lambda ev: ev.dedup_key)

    trigger("inc-a", 2, "akidb-rest", "edge_cold_start_storm")     # the storm, rooted at the wrong tier
    trigger("inc-b", 3, "akidb-rest", "spot_interruption")
    box.enqueue(Event("trigger", "inc-b-escalation"), "inc-b:escalation")
    box.enqueue(Event("trigger", "inc-b", custom_details={"runbook": "x"}), "inc-b:escalate:x:verify")  # runbook
    box.enqueue(Event("acknowledge", "inc-b"), "inc-b:acknowledge")
    box.deliver(lambda ev: ev.dedup_key)
    got = sent_pages(box.rows())
    assert [(t, p.incident, p.sent, p.root_component, p.cause) for t, p in got] == [
        (T0, "inc-a", T0 + timedelta(minutes=2), "akidb-rest", "edge_cold_start_storm"),
        (T0, "inc-b", T0 + timedelta(minutes=3), "akidb-rest", "spot_interruption")]
    storm = Injected("storm", "lambda_edge_cold_start_storm", T0, T0 + timedelta(minutes=20), ("lambda-edge",))
    ledger = _ledger(("inc-a", "page", 2, "lambda-edge", "edge_cold_start_storm"))   # the last tick's view
    assert scenario_result("s", "incident", 3 / 7, [storm], ledger).matched == {"storm": 120.0}
    r = scenario_result("s", "incident", 3 / 7, [storm], ledger, [p for _, p in got])
    assert r.matched == {} and r.time_only == ["storm"] and r.false_pages == 2
    # a P1 held to business hours: its low-urgency notice is when PagerDuty has it (the page follows at the opening)
    clock[0] = (T0 + timedelta(minutes=4)).timestamp()
    box.enqueue(Event("trigger", "inc-c-held", custom_details={"first_alert": T0.isoformat(), "root_cause": {
        "component": "akidb-rest", "type": "predictive_over_provisioning"}}), "inc-c:held")
    box.enqueue(Event("resolve", "inc-c-held"), "inc-c:held-resolve")
    box.deliver(lambda ev: ev.dedup_key)
    assert [(p.incident, p.sent, p.cause) for _, p in sent_pages(box.rows())][2:] == [
        ("inc-c", T0 + timedelta(minutes=4), "predictive_over_provisioning")]  # one incident, its page later


def _result(kind: str, matched: dict, time_only=(), injected_n: int = 1, pages: int = 1, tickets: int = 0,
            false: int = 0) -> ScenarioResult:
    return ScenarioResult(kind, kind, 3 / 7, [{"id": f"i{k}"} for k in range(injected_n)],
                          [{}] * pages, tickets, matched, list(time_only), false)


def test_the_summary_and_its_goals():
    results = [_result("incident", {"i0": 60.0}), _result("incident", {"i0": 120.0}),
               _result("incident", {}, time_only=["i0"]),                       # paged in time, wrong cause
               _result("overlap", {"i0": 100.0, "i1": 400.0}, injected_n=2, pages=2),
               ScenarioResult("c", "clean", 3 / 7, [], [], 1, {}, [], 0),
               ScenarioResult("n", "noisy", 3 / 7, [], [{}], 2, {}, [], 1)]
    s = summarize(results)
    assert s["injected"] == 5 and s["recall"] == 4 / 5
    # of 60, 100, 120, 400: p50 halfway between 100 and 120; p90 at rank 2.7, 120 + 0.7 x (400 - 120)
    assert s["mttd_p50_s"] == 110.0 and s["mttd_p90_s"] == pytest.approx(316.0)
    assert s["cause_accuracy"] == 4 / 5
    assert s["false_pages_quiet"] == 1 and s["quiet_pages_tickets_per_week"] == (1 + 3) / (6 / 7)
    lo, hi = s["recall_90"]
    assert lo <= s["recall"] <= hi
    assert {g["goal"]: g["met"] for g in s["goals"]} == {
        "recall >= 95%": False, "MTTD p90 <= 3 min": False, "cause named right >= 90%": False,
        "0 false pages in clean and noisy weeks": False, "pages + tickets <= 10 a week in clean and noisy weeks": True}
    text = summary_table(s)
    assert "recall (strict: root + cause)  80%" in text and "goal MISSED recall >= 95%" in text
