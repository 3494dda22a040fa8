"""A replay's reads served from memory (``FrozenReads``) give every tick what querying the lake at that tick gives
(``LakeReads``): the same alerts, anomaly spans, root-cause evidence and so the same incidents and decisions; and a
tick never sees a minute at or after its own time, even though the lake holds it."""

from __future__ import annotations

import dataclasses as dc
from datetime import timedelta

import pytest

from akidb_pipelines.alerting.evidence import AFTER, check
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import Inputs, RespondConfig, collect_alerts, respond
from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.tick_reads import FrozenReads, LakeReads, closed
from akidb_pipelines.slo.spec import load_specs
from tests.conftest import DAYS_START

DAY3 = DAYS_START + timedelta(days=2)
SPOT = DAY3 + timedelta(hours=6)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(scored_lake):
    lake, cfg, smap, _ = scored_lake
    slos, table = load_specs()
    inputs = Inputs(slos, cfg, load_routing(), cause_types=load_cause_types(), sources=("slo", "anomaly"),
                    windows=table)
    frozen = FrozenReads(lake, list(inputs.cause_types), DAY3 + timedelta(hours=5), DAY3 + timedelta(hours=12),
                         RespondConfig().lookback)
    return lake, smap, inputs, frozen


# ticks before, inside and after the three incidents (06:00 spot, 07:00 storm, 08:00 LSTM), off the minute too
TICKS = [DAY3 + timedelta(hours=5, minutes=59), SPOT + timedelta(minutes=2, seconds=10),
         DAY3 + timedelta(hours=7, minutes=4), DAY3 + timedelta(hours=8, minutes=3), DAY3 + timedelta(hours=9, minutes=30),
         DAY3 + timedelta(hours=12)]


@pytest.mark.parametrize("now", TICKS, ids=lambda t: f"{t:%H%M%S}")
def test_alerts_and_spans_are_the_lakes(setup, now):
    lake, _, inputs, frozen = setup
    start = now - RespondConfig().lookback
    # a tick sees the minutes closed before it: off the minute, what the lake gives at that minute's start
    live = collect_alerts(lake, inputs, start, closed(now), LakeReads(lake))
    served = collect_alerts(lake, inputs, start, now, frozen)
    assert served == live   # burn-rate alerts with their burning minutes (from the minutes before each firing one)
    assert any(a.source == "slo" for a in live) and any(a.source == "anomaly" for a in live) or now < SPOT
    assert any(dict(a.context)["burning_minutes"] >= 1 for a in live if a.source == "slo") or now < SPOT
    anomalies = [a for a in live if a.source == "anomaly"]
    assert frozen.anomaly_spans(anomalies, start, now) == LakeReads(lake).anomaly_spans(anomalies, start, closed(now))


@pytest.mark.parametrize("minutes_after", [0, 2, 4, 10, 30])
def test_evidence_sees_only_minutes_before_the_tick(setup, minutes_after):
    lake, _, inputs, frozen = setup
    now = SPOT + timedelta(minutes=minutes_after)
    live, served = LakeReads(lake).evidence(list(inputs.cause_types), now), frozen.evidence(list(inputs.cause_types), now)
    live.prefetch([SPOT])  # the lake's frame reads around the onsets it is asked about
    for t in inputs.cause_types:
        if t.evidence:
            assert check(list(t.evidence), served, SPOT) == check(list(t.evidence), live, SPOT), t.type
    key = inputs.cause_types[0].evidence[0].key
    assert all(m < now for m in served[key]) and all(m < now for m in live[key])
    last = now - timedelta(minutes=1)
    assert max(served[key]) == last  # the minute before the tick is the newest either way
    assert max(live[key]) == min(last, SPOT + AFTER)  # the lake's frame reads to the window's end only


def test_spot_cause_is_not_known_before_its_minutes_exist(setup):
    """At the minute of the onset nothing of the fault is in the lake yet: no cause; a few minutes on, it is."""
    lake, _, inputs, frozen = setup
    spot = next(t for t in inputs.cause_types if t.type == "spot_interruption")
    assert check(list(spot.evidence), frozen.evidence([spot], SPOT), SPOT) is None
    assert check(list(spot.evidence), frozen.evidence([spot], SPOT + timedelta(minutes=10)), SPOT) is not None


def test_a_tick_decides_the_same_either_way(setup, tmp_path):
    lake, smap, inputs, frozen = setup
    for k, now in enumerate(t for t in TICKS if t == closed(t)):
        reps = [respond(lake, now, inputs, Outbox(tmp_path / f"{k}-{name}.sqlite", clock=lambda: now.timestamp()),
                        smap, reads=reads) for name, reads in (("live", LakeReads(lake)), ("frozen", frozen))]
        live, served = ([dc.replace(r, decisions=[d for d in r.decisions]) for r in reps])
        assert served.incidents == live.incidents
        assert served.decisions == live.decisions
        assert served.enqueued == live.enqueued
    assert any(r["decision"] == "page" for r in live.incidents)
