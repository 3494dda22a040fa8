"""A quiet on-call (issue 14, item 6): an incident of anomalies only opens a ticket when it persists or is
corroborated; the others are lines of one digest ticket a day; pages are never held back.

Each test writes a small scored lake by hand (``forecast/anomaly_scores`` and ``forecast/anomalies`` through
``write_scores``): a blip is a series flagged at one minute (the detector flags an excursion once) and outside its
band for ``outside`` consecutive minutes from there. Expected values come from those inputs and the test's own
ticket policy."""

from __future__ import annotations

import dataclasses as dc
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from akidb_pipelines.alerting.alert_sources import anomaly_alerts, anomaly_spans
from akidb_pipelines.alerting.correlate import Alert, ServiceMap
from akidb_pipelines.alerting.digest import tickets_opened
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import (
    DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, Inputs, respond, write_incidents)
from akidb_pipelines.alerting.routing import TicketPolicy, load_routing
from akidb_pipelines.forecast.config import SeriesSpec, load_forecast_config
from akidb_pipelines.forecast.scoring import COLUMNS, write_scores
from akidb_pipelines.storage import Lake, hour_partitions

UTC = timezone.utc
DAY = datetime(2026, 11, 25, tzinfo=UTC)   # a Wednesday; 03:00 UTC is 12:00 in Tokyo (business hours)
NEXT = DAY + timedelta(days=1)
LAT, REQ = "akidb-rest.latency_p95_ms", "akidb-rest.requests"
CF_REQ, CF_ERR, SYD = "cloudfront.requests", "cloudfront.error_rate", "lambda-edge.SYD62.emf_latency_p95_ms"
SPECS = (SeriesSpec(LAT, "latency_p95_ms", "akidb-rest"), SeriesSpec(REQ, "requests", "akidb-rest"),
         SeriesSpec(CF_REQ, "requests", "cloudfront"), SeriesSpec(CF_ERR, "error_rate", "cloudfront"),
         SeriesSpec(SYD, "emf_latency_p95_ms", "lambda-edge", "SYD62"))
TIER = {s.id: s.tier for s in SPECS}
CHAIN = ServiceMap({("cloudfront", "lambda-edge"), ("lambda-edge", "akidb-rest")})  # who calls whom
POLICY = TicketPolicy(anomaly_min_minutes=5, digest_hour_utc=0)


@dataclass(frozen=True)
class Blip:
    series: str
    at: datetime
    outside: int = 1           # consecutive minutes outside the band from ``at``, on ``direction``'s side
    peak: float = 0.8          # anomaly_score of the flagged minute
    direction: str = "up"


def scored_lake(path, blips: list[Blip], pad: int = 10) -> Lake:  # noqa: ANN001
    """Scores of every series of ``blips`` from ``pad`` minutes before each to ``pad`` after: inside the band
    except each blip's minutes; flagged (is_anomaly) only at ``at``."""
    rows: dict[tuple[str, datetime], dict] = {}
    for b in blips:
        for k in range(-pad, b.outside + pad):
            m = b.at + timedelta(minutes=k)
            out, flag = 0 <= k < b.outside, k == 0
            sign = 1 if b.direction == "up" else -1
            row = {"series": b.series, "minute": pd.Timestamp(m), "actual": 100.0 + sign * (40.0 if out else 0.0),
                   "yhat": 100.0, "lower": 90.0, "upper": 110.0, "score": 3.0 if out else 0.0,
                   "direction": b.direction if out else None, "anomaly_score": b.peak if flag else 0.05,
                   "confidence": 0.9, "is_anomaly": flag, "model_version": "hand-made"}
            if (b.series, m) not in rows or out:
                rows[(b.series, m)] = row
    df = pd.DataFrame(list(rows.values()), columns=COLUMNS)
    lake = Lake(path)
    write_scores(lake, df, hour_partitions(df.minute.min().to_pydatetime(), df.minute.max().to_pydatetime()
                                           + timedelta(minutes=1)))
    return lake


def inputs(policy: TicketPolicy = POLICY) -> Inputs:
    cfg = dc.replace(load_forecast_config(), series=SPECS)
    return Inputs([], cfg, dc.replace(load_routing(), tickets=policy))


def tick(lake: Lake, now: datetime, box: Outbox, policy: TicketPolicy = POLICY, smap: ServiceMap = ServiceMap(set()),
         extra: list[Alert] = (), write: bool = True):  # noqa: ANN201
    rep = respond(lake, now, inputs(policy), box, smap, extra_alerts=list(extra))
    if write:
        write_incidents(lake, rep, box)
    return rep


def table(lake: Lake, obj: str) -> pd.DataFrame:
    data = lake.read_bytes(obj)
    return pd.read_parquet(io.BytesIO(data)) if data is not None else pd.DataFrame()


def by_start(rep) -> dict[datetime, dict]:  # noqa: ANN001
    return {r["first_alert"]: r for r in rep.incidents}


# -- single-minute spikes ------------------------------------------------------------------------------------------

def test_a_one_minute_anomaly_opens_no_ticket_and_is_a_line_of_that_days_digest(tmp_path):
    blip = Blip(LAT, DAY + timedelta(hours=10), outside=1, peak=0.83)
    lake, box = scored_lake(tmp_path / "lake", [blip]), Outbox(tmp_path / "o.sqlite")
    rep = tick(lake, blip.at + timedelta(minutes=30), box)
    (row,) = rep.incidents
    assert row["decision"] == "digest" and "below the ticket threshold" in row["reason"]
    assert rep.tickets == [] and rep.digested == [row["id"]] and box.keys() == set()
    assert rep.digests == []  # the day is not over: no digest yet
    tickets = table(lake, TICKETS_OBJECT)
    assert len(tickets) == 0
    # the first tick after midnight UTC (digest_hour_utc 0) writes the day's digest, listing the blip
    rep = tick(lake, NEXT + timedelta(minutes=5), box)
    (d,) = rep.digests
    tickets = table(lake, TICKETS_OBJECT)
    assert list(tickets.kind) == ["digest"] and tickets.iloc[0].id == d["id"]
    assert tickets.iloc[0].opened == pd.Timestamp(NEXT)
    (line,) = json.loads(tickets.iloc[0]["items"])
    assert (line["series"], line["component"], pd.Timestamp(line["at"]), line["minutes"], line["peak_score"]) == \
        (LAT, "akidb-rest", pd.Timestamp(blip.at), 1, 0.83)
    assert line["incident"] == row["id"] and box.keys() == set()
    dec = table(lake, DECISIONS_OBJECT)
    assert dec[(dec.incident == row["id"]) & (dec.kind == "route")].subject.tolist() == ["digest"]


def test_a_six_minute_anomaly_opens_one_ticket_once_it_has_lasted(tmp_path):
    blip = Blip(LAT, DAY + timedelta(hours=10), outside=6)  # flagged once, outside its band for 6 minutes
    lake, box = scored_lake(tmp_path / "lake", [blip]), Outbox(tmp_path / "o.sqlite")
    early = tick(lake, blip.at + timedelta(minutes=3), box)  # 3 minutes seen so far: not yet persistent
    assert [r["decision"] for r in early.incidents] == ["digest"]
    for minutes in (10, 30, 30):  # later ticks (one rerun): one ticket, the same incident
        rep = tick(lake, blip.at + timedelta(minutes=minutes), box)
        (row,) = rep.incidents
        assert row["decision"] == "ticket" and rep.tickets == [row["id"]] and f"for {blip.outside} min" in row["reason"]
    tickets = table(lake, TICKETS_OBJECT)
    assert tickets.id.tolist() == [row["id"]] and tickets.kind.tolist() == ["incident"]
    assert box.keys() == set()  # a ticket, not a page
    rep = tick(lake, NEXT + timedelta(minutes=5), box)  # it is no line of the day's digest
    assert rep.digests == [] and (table(lake, TICKETS_OBJECT).kind == "digest").sum() == 0


@pytest.mark.parametrize("minutes", [POLICY.anomaly_min_minutes - 1, POLICY.anomaly_min_minutes])
def test_the_threshold_is_minutes_outside_the_band(tmp_path, minutes):
    blip = Blip(SYD, DAY + timedelta(hours=4), outside=minutes, direction="down")
    lake = scored_lake(tmp_path / "lake", [blip])
    (row,) = tick(lake, blip.at + timedelta(hours=1), Outbox(tmp_path / "o.sqlite")).incidents
    assert row["decision"] == ("ticket" if minutes >= POLICY.anomaly_min_minutes else "digest")


def test_the_span_counts_consecutive_minutes_on_the_flagged_side_only(tmp_path):
    at = DAY + timedelta(hours=2)
    # up 3 minutes (flag 0.9), down 4 (flag 0.6: the other side), a missing minute, up 2 again (flag 0.7); the
    # flags are at most 5 minutes apart, so one alert, on the side of its peak (up)
    lake = scored_lake(tmp_path / "lake", [Blip(LAT, at, outside=3, peak=0.9),
                                           Blip(LAT, at + timedelta(minutes=3), outside=4, peak=0.6, direction="down"),
                                           Blip(LAT, at + timedelta(minutes=8), outside=2, peak=0.7)], pad=0)
    (a,) = anomaly_alerts(lake, dc.replace(load_forecast_config(), series=SPECS), DAY, NEXT)
    assert (a.start, a.end, dict(a.context)["direction"]) == (at, at + timedelta(minutes=8), "up")
    span = anomaly_spans(lake, [a], DAY, NEXT)[a.fingerprint]
    assert (span.start, span.end, span.minutes) == (at, at + timedelta(minutes=9), 3 + 2)
    # a tick sees the scores before it only: at +2 minutes, two minutes of the first run
    assert anomaly_spans(lake, [a], DAY, at + timedelta(minutes=2))[a.fingerprint].minutes == 2
    # an alert of a series without scores (hand-made) counts its flagged minutes
    bare = dc.replace(a, rule=CF_ERR, context=(("points", 2), ("direction", "up")))
    assert anomaly_spans(lake, [bare], DAY, NEXT)[bare.fingerprint].minutes == 2


# -- corroboration -------------------------------------------------------------------------------------------------

def test_a_long_excursion_flagged_again_is_one_ticket_open_until_its_series_is_back_in_band(tmp_path):
    """The detector flags an excursion once, and again after its repeat suppression while it lasts (a latency
    excursion of hours): the incident lasts as long as the series stays outside its band, so the second flag is a
    recurrence of an open ticket, not a second ticket; the ticket closes once the series is back."""
    start = DAY + timedelta(hours=1)
    dip = [Blip(LAT, start, outside=300, direction="up"),
           Blip(LAT, start + timedelta(minutes=200), outside=1, direction="up")]  # flagged again, same run
    lake, box = scored_lake(tmp_path / "lake", dip), Outbox(tmp_path / "o.sqlite")
    rep = tick(lake, start + timedelta(minutes=230), box)
    first, again = sorted(rep.incidents, key=lambda r: r["first_alert"])
    assert first["decision"] == "ticket" and not first["resolved"]
    assert first["last_alert"] == start + timedelta(minutes=229)  # the newest minute outside its band so far
    assert again["decision"] == "suppressed" and again["flap_of"] == first["id"]
    assert rep.tickets == [first["id"]]
    done = tick(lake, start + timedelta(minutes=330), box)  # back in band at +300, quiet 15 minutes later
    first = next(r for r in done.incidents if r["id"] == first["id"])
    assert first["resolved"] and first["last_alert"] == start + timedelta(minutes=299)
    assert table(lake, TICKETS_OBJECT).status.tolist() == ["closed"]


def test_demand_alone_is_a_digest_line_however_long_it_lasts(tmp_path):
    """A traffic dip of hours the service absorbs (requests down, nothing slower, no errors) is news for capacity
    planning, not a ticket; the same hours with the latency up open one."""
    start = DAY + timedelta(hours=1)
    lake = scored_lake(tmp_path / "lake", [Blip(REQ, start, outside=120, direction="down")])
    rep = tick(lake, start + timedelta(minutes=150), Outbox(tmp_path / "o.sqlite"))
    (row,) = rep.incidents
    assert row["decision"] == "digest" and "demand only" in row["reason"] and not rep.tickets
    lake = scored_lake(tmp_path / "lake2", [Blip(REQ, start, outside=120, direction="down"),
                                            Blip(LAT, start, outside=120, direction="up")])
    rep = tick(lake, start + timedelta(minutes=150), Outbox(tmp_path / "o2.sqlite"))
    assert [r["decision"] for r in rep.incidents] == ["ticket"] and len(rep.tickets) == 1


def test_two_anomalies_of_different_quantities_at_once_on_different_components_open_a_ticket(tmp_path):
    at = DAY + timedelta(hours=14)
    lake = scored_lake(tmp_path / "lake", [Blip(LAT, at), Blip(CF_ERR, at)])
    rep = tick(lake, at + timedelta(minutes=30), Outbox(tmp_path / "o.sqlite"), smap=CHAIN)
    (row,) = rep.incidents  # one incident (cloudfront calls akidb-rest), P2: different components
    assert row["severity"] == "P2" and row["alerts"] == 2
    assert row["decision"] == "ticket" and "at the same time" in row["reason"] and rep.tickets == [row["id"]]


def test_anomalies_that_do_not_corroborate_are_digest_lines(tmp_path):
    at = DAY + timedelta(hours=14)
    # the same quantity at two tiers of one call chain (one traffic blip seen twice); two quantities 3 minutes
    # apart (one incident: the second began within 5 minutes of the first's end, but not anomalous together); and
    # 10 minutes apart (two incidents: the first was over long before)
    lake = scored_lake(tmp_path / "lake", [Blip(REQ, at), Blip(CF_REQ, at),
                                           Blip(LAT, at + timedelta(hours=2)),
                                           Blip(CF_ERR, at + timedelta(hours=2, minutes=3)),
                                           Blip(LAT, at + timedelta(hours=4)),
                                           Blip(CF_ERR, at + timedelta(hours=4, minutes=10))])
    rep = tick(lake, at + timedelta(hours=5), Outbox(tmp_path / "o.sqlite"), smap=CHAIN)
    assert [(r["alerts"], r["decision"]) for r in rep.incidents] == [(2, "digest"), (2, "digest"), (1, "digest"),
                                                                     (1, "digest")]
    assert rep.tickets == [] and len(rep.digest_items) == 6


# -- the daily digest ----------------------------------------------------------------------------------------------

def blips_of_a_day(n: int) -> list[Blip]:
    """``n`` one-minute blips scattered over DAY, on rotating series, 2 h 40 min apart (separate incidents)."""
    series = (LAT, SYD, CF_ERR, REQ)
    return [Blip(series[k % len(series)], DAY + timedelta(minutes=7 + 160 * k), peak=round(0.6 + k / 100, 2))
            for k in range(n)]


def test_a_day_of_scattered_blips_makes_exactly_one_digest_listing_each(tmp_path):
    blips = blips_of_a_day(9)
    assert blips[-1].at < NEXT
    late = Blip(LAT, NEXT + timedelta(minutes=30))  # the next day's: not in this digest
    lake, box = scored_lake(tmp_path / "lake", blips + [late]), Outbox(tmp_path / "o.sqlite")
    rep = tick(lake, NEXT + timedelta(hours=1), box)
    assert rep.tickets == [] and box.keys() == set()
    assert len(rep.digested) == len(blips) + 1
    (d,) = rep.digests
    tickets = table(lake, TICKETS_OBJECT)
    assert tickets.kind.tolist() == ["digest"]
    lines = json.loads(tickets.iloc[0]["items"])
    assert [(x["series"], pd.Timestamp(x["at"]), x["peak_score"]) for x in lines] == \
        [(b.series, pd.Timestamp(b.at), b.peak) for b in blips]
    assert {x["component"] for x in lines} == {TIER[b.series] for b in blips}
    assert str(len(blips)) in d["title"]
    assert tickets_opened(table(lake, INCIDENTS_OBJECT)) == {"incident": 0, "digest": 2}  # the next day's is due


def test_rerunning_ticks_does_not_duplicate_the_digest(tmp_path):
    blips = blips_of_a_day(4)
    lake, box = scored_lake(tmp_path / "lake", blips), Outbox(tmp_path / "o.sqlite")
    for now in (NEXT + timedelta(minutes=1), NEXT + timedelta(minutes=1), NEXT + timedelta(hours=6),
                NEXT + timedelta(days=2)):
        tick(lake, now, box)
    tickets = table(lake, TICKETS_OBJECT)
    assert len(tickets) == 1 and tickets.kind.tolist() == ["digest"]
    assert len(json.loads(tickets.iloc[0]["items"])) == len(blips)
    dec = table(lake, DECISIONS_OBJECT)
    assert (dec.kind == "digest").sum() == 1
    # once the lookback (4 days) starts inside the day, the tick sees only part of it: the digest stays as written
    rep = tick(lake, blips[1].at + timedelta(days=4), box)
    assert len(rep.incidents) == len(blips) - 2 and table(lake, TICKETS_OBJECT).equals(tickets)
    rep = tick(lake, NEXT + timedelta(days=5), box)
    assert rep.incidents == [] and table(lake, TICKETS_OBJECT).equals(tickets)


def test_the_digest_hour_sets_the_period_and_when_it_is_written(tmp_path):
    policy = TicketPolicy(anomaly_min_minutes=5, digest_hour_utc=9)
    before, after = Blip(LAT, DAY + timedelta(hours=8, minutes=50)), Blip(SYD, DAY + timedelta(hours=9, minutes=10))
    lake, box = scored_lake(tmp_path / "lake", [before, after]), Outbox(tmp_path / "o.sqlite")
    assert tick(lake, DAY + timedelta(hours=8, minutes=59), box, policy).digests == []  # 08:59: not yet
    (d,) = tick(lake, DAY + timedelta(hours=9, minutes=30), box, policy).digests  # the period up to 09:00 ended
    assert [x["series"] for x in json.loads(d["items"])] == [LAT] and d["opened"] == pd.Timestamp(DAY + timedelta(hours=9))
    rep = tick(lake, NEXT + timedelta(hours=9), box, policy)  # the next period, written at 09:00 the next day
    assert [[line["series"] for line in json.loads(d["items"])] for d in rep.digests] == [[LAT], [SYD]]
    assert len(table(lake, TICKETS_OBJECT)) == 2


def test_a_line_that_grows_into_a_ticket_after_the_period_leaves_the_digest(tmp_path):
    blip = Blip(LAT, NEXT - timedelta(minutes=2), outside=7)  # 23:58 to 00:04
    lake, box = scored_lake(tmp_path / "lake", [blip]), Outbox(tmp_path / "o.sqlite")
    (d,) = tick(lake, NEXT, box).digests  # at midnight it has lasted 2 minutes: a digest line
    assert len(json.loads(d["items"])) == 1 and len(table(lake, TICKETS_OBJECT)) == 1
    rep = tick(lake, NEXT + timedelta(minutes=10), box)
    assert rep.tickets and rep.digests == []
    assert table(lake, TICKETS_OBJECT).kind.tolist() == ["incident"]  # the period has no line left: no digest


def test_a_recurring_blip_is_another_line_and_a_later_lasting_anomaly_still_opens_a_ticket(tmp_path):
    at = DAY + timedelta(hours=10)
    blips = [Blip(LAT, at), Blip(LAT, at + timedelta(minutes=25)), Blip(LAT, at + timedelta(minutes=50), outside=8)]
    lake = scored_lake(tmp_path / "lake", blips)
    rep = tick(lake, at + timedelta(hours=2), Outbox(tmp_path / "o.sqlite"))
    rows = by_start(rep)
    assert [rows[b.at]["decision"] for b in blips] == ["digest", "digest", "ticket"]  # no ticket was open to flap on


# -- pages are never held back -------------------------------------------------------------------------------------

def test_p0_slo_alerts_still_page_at_once_and_pages_do_not_depend_on_the_ticket_policy(tmp_path):
    at = DAY + timedelta(hours=3)  # 12:00 in Tokyo
    slo_p0 = Alert("slo", "akidb-rest-availability", "akidb-rest", "P0", at, at + timedelta(minutes=1))
    slo_p1 = Alert("slo", "akidb-rest-latency", "akidb-rest", "P1", at + timedelta(hours=2), at + timedelta(hours=2))
    slo_p2 = Alert("slo", "cloudfront-availability", "cloudfront", "P2", at + timedelta(hours=4),
                   at + timedelta(hours=4))
    lake = scored_lake(tmp_path / "lake", [Blip(LAT, at + timedelta(minutes=1)), Blip(SYD, at + timedelta(hours=6))])
    box = Outbox(tmp_path / "o.sqlite")
    rep = tick(lake, at + timedelta(minutes=1), box, extra=[slo_p0], write=False)  # the minute it starts
    page = next(r for r in rep.incidents if r["root_source"] == "slo")
    assert page["decision"] == "page" and rep.enqueued == [f"{page['id']}:trigger"]
    now = at + timedelta(hours=7)
    results = {}
    for n, policy in ((1, TicketPolicy(1, 0)), (5, POLICY), (60, TicketPolicy(60, 0))):
        rep = tick(lake, now, Outbox(tmp_path / f"o{n}.sqlite"), policy, extra=[slo_p0, slo_p1, slo_p2], write=False)
        results[n] = rep
    pages = {n: [(r["id"], r["decision"], r["page_due"]) for r in rep.incidents if r["severity"] != "P2"]
             for n, rep in results.items()}
    assert pages[1] == pages[5] == pages[60] and len(pages[1]) == 2
    keys = {n: sorted(k for k in rep.enqueued) for n, rep in results.items()}
    assert keys[1] == keys[5] == keys[60] and any(k.endswith(":trigger") for k in keys[1])
    slow = {n: next(r["decision"] for r in rep.incidents if r["root_rule"] == "cloudfront-availability")
            for n, rep in results.items()}
    assert slow == {1: "ticket", 5: "ticket", 60: "ticket"}  # an SLO burning is a ticket at once, not a digest line
    lone = {n: next(r["decision"] for r in rep.incidents if r["root_rule"] == SYD) for n, rep in results.items()}
    assert lone == {1: "ticket", 5: "digest", 60: "digest"}  # 1 minute turns the digest off


def test_old_ticket_tables_and_ledgers_still_read(tmp_path):
    blip = Blip(LAT, DAY + timedelta(hours=10))
    lake, box = scored_lake(tmp_path / "lake", [blip]), Outbox(tmp_path / "o.sqlite")
    old = pd.DataFrame({"id": ["inc-old"], "opened": [pd.Timestamp(DAY)], "severity": ["P2"], "component": ["alb"],
                        "cause": [None], "title": ["alb: x (anomaly)"], "status": ["open"], "closed": [pd.NaT]})
    buf = io.BytesIO()
    old.to_parquet(buf, index=False)
    lake.write_bytes(TICKETS_OBJECT, buf.getvalue())  # a tickets table from before the digest: no kind, no items
    tick(lake, NEXT + timedelta(minutes=5), box)
    t = table(lake, TICKETS_OBJECT).set_index("id")
    assert "inc-old" in t.index and t.kind.dropna().tolist() == ["digest"]
