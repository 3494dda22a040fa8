"""The live feed and its injections, without Dagster: minute files that ingest like the generator's hours, counters
that continue across windows, injections that change only the minutes after their onset; the report's attribution."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from akidb_pipelines.cli import main
from akidb_pipelines.ingest import ingest_files
from akidb_pipelines.live.feed import LiveFeed
from akidb_pipelines.live.injections import enqueue, make_injection, parse_schedule, read_queue
from akidb_pipelines.live.minute_files import SAMPLE
from akidb_pipelines.live.report import DetectRun, Received, build_report
from akidb_pipelines.storage import Lake, PartitionKey
from akidb_pipelines.synthetic.scenario import ScenarioError

H = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)  # a Wednesday


def _files(landing: Path, kind: str) -> dict[str, PartitionKey]:
    return {str(p): PartitionKey.parse(str(p).split("date=")[1][:10] + "T" + str(p).split("hour=")[1][:2])
            for p in sorted((landing / kind).rglob("*.*"))}


def _counter(landing: Path, series: str) -> list[tuple[int, float]]:
    out = []
    for p in sorted((landing / "prom").rglob("*.om")):
        for line in p.read_text().splitlines():
            m = SAMPLE.match(line)
            if m and m["key"] == series:
                out.append((int(m["ts"]), float(m["value"])))
    return sorted(out)


@pytest.fixture()
def feed(tmp_path):
    f = LiveFeed(tmp_path / "live", origin=H - timedelta(days=7), seed=3)
    f.start_at(H + timedelta(minutes=55), {})
    return f


def test_the_feed_writes_each_closed_minute_once_as_files_that_ingest_without_loss(feed, tmp_path):
    assert feed.step(H + timedelta(minutes=55, seconds=59)) == []           # the minute has not closed
    written = feed.step(H + timedelta(minutes=58, seconds=1))
    assert written == [H + timedelta(minutes=m) for m in (55, 56, 57)]
    assert feed.step(H + timedelta(minutes=58, seconds=30)) == []           # nothing twice
    assert [m.strftime("%H:%M") for m in feed.step(H + timedelta(hours=1, minutes=2))] == [
        "10:58", "10:59", "11:00", "11:01"]
    names = sorted(p.name for p in (feed.landing / "emf").rglob("*.*"))
    assert names == sorted([f"events-{m:02d}.ndjson" for m in range(55, 60)] + ["events-00.ndjson", "events-01.ndjson"])
    assert not list(feed.landing.rglob(".*"))                               # no half-written file left
    lake = Lake(tmp_path / "lake")
    for kind in ("xray", "emf", "prom"):
        files = _files(feed.landing, kind)
        rep = ingest_files(kind, list(files), lake, batch="landing", partition_of=files)
        assert rep.records_read > 0 and rep.records_quarantined == 0
        assert rep.records_read == rep.records_stored + rep.records_quarantined + rep.duplicates_dropped


def test_counters_continue_across_windows_and_restarts(feed):
    feed.step(H + timedelta(hours=1, minutes=3))
    again = LiveFeed(feed.home, feed.origin, feed.seed)                    # a restarted feed: state from disk
    again.step(H + timedelta(hours=1, minutes=6))
    series = 'akidb_requests_total{service="cloudfront",status="200"}'
    values = _counter(feed.landing, series)
    assert [t for t, _ in values] == [int((H + timedelta(minutes=m)).timestamp()) for m in range(55, 66)]
    steps = [b - a for (_, a), (_, b) in zip(values, values[1:])]
    assert all(s > 1000 for s in steps)  # a minute's requests at cloudfront, also across 11:00 (new window)


def test_an_injection_changes_only_the_minutes_from_its_onset(tmp_path):
    a = LiveFeed(tmp_path / "a", origin=H - timedelta(days=7), seed=3)
    b = LiveFeed(tmp_path / "b", origin=H - timedelta(days=7), seed=3)
    for f in (a, b):
        f.start_at(H + timedelta(minutes=10), {})
        f.step(H + timedelta(minutes=12, seconds=5))
    inj = make_injection("spot", H + timedelta(minutes=12, seconds=5))
    assert inj.onset == H + timedelta(minutes=13)
    enqueue(b.home, inj)
    assert [i.id for i in read_queue(b.home)] == [inj.id]
    for f in (a, b):
        f.step(H + timedelta(minutes=16, seconds=1))

    def errors(f: LiveFeed, minute: int) -> int:
        p = next((f.landing / "prom").rglob(f"metrics-{minute:02d}.om"))
        prev = next((f.landing / "prom").rglob(f"metrics-{minute - 1:02d}.om"))
        key = 'akidb_requests_total{service="akidb-rest",status="503"}'
        val = {m["key"]: float(m["value"]) for m in map(SAMPLE.match, p.read_text().splitlines()) if m}
        before = {m["key"]: float(m["value"]) for m in map(SAMPLE.match, prev.read_text().splitlines()) if m}
        return val[key] - before[key]

    for m in (11, 12):  # before the onset: X-Ray and EMF are generated minute by minute, so the same bytes
        for kind, name in (("emf", "events"), ("xray", "segments")):
            pa = next((a.landing / kind).rglob(f"{name}-{m:02d}.ndjson"))
            pb = next((b.landing / kind).rglob(f"{name}-{m:02d}.ndjson"))
            assert pa.read_bytes() == pb.read_bytes()
    # Prometheus series are drawn a series at a time: minute 12 (written after the injection) has other noise, but
    # no incident; minute 11 was written before it and is what it was
    assert errors(a, 11) == errors(b, 11) and errors(a, 12) < 10 and errors(b, 12) < 10
    # 503s shed by the survivors, from the onset minute on (about 5% of akidb-rest's requests, 90% of them 503s)
    assert all(errors(a, m) < 10 and errors(b, m) > 50 for m in (13, 14, 15))


def test_injections_are_validated_like_scenario_files():
    now = H + timedelta(minutes=5, seconds=30)
    storm = make_injection("storm", now, {"p95_ms": 3000}, 10, ["NRT57"])
    assert (storm.type, storm.edge_locations, storm.duration_minutes, storm.magnitude["p95_ms"]) == (
        "lambda_edge_cold_start_storm", ("NRT57",), 10, 3000)
    with pytest.raises(ScenarioError, match="edge"):
        make_injection("storm", now, edges=["XXX99"])
    with pytest.raises(ScenarioError, match="error_rate"):
        make_injection("spot", now, {"error_rate": 7})
    with pytest.raises(ScenarioError, match="choose from"):
        make_injection("meteor", now)
    assert parse_schedule("lstm@+2.5") == ("lstm_false_positive_cascade", 2.5)
    for bad in ("spot", "spot@3", "spot@+x", "spot@+-1"):
        with pytest.raises(ScenarioError):
            parse_schedule(bad)


def test_inject_without_a_running_feed_and_with_a_bad_magnitude_is_one_line(tmp_path, capsys):
    assert main(["inject", "spot", "--home", str(tmp_path / "none")]) == 66
    assert "no live feed" in capsys.readouterr().err
    LiveFeed(tmp_path / "live", H).start_at(H, {})
    assert main(["inject", "spot", "--home", str(tmp_path / "live"), "--magnitude", "error_rate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KEY=NUMBER" in err
    assert main(["inject", "storm", "--home", str(tmp_path / "live"), "--edges", "NRT57,SIN52"]) == 0
    (inj,) = read_queue(tmp_path / "live")
    assert inj.edge_locations == ("NRT57", "SIN52")


def _trigger(dk: str, cls: str, component: str = "akidb-rest") -> dict:
    return {"event_action": "trigger", "dedup_key": dk, "payload": {"class": cls, "component": component,
                                                                   "summary": dk}}


def test_the_report_attributes_pages_to_injections_and_measures_from_the_minute_close():
    onset = H + timedelta(minutes=20)
    inj = make_injection("spot", onset - timedelta(seconds=30))
    t = onset + timedelta(seconds=78)
    received = [Received(onset - timedelta(minutes=9), _trigger("pipeline:detect", "pipeline_failure")),
                Received(t, _trigger("inc-1", "unclassified")),
                Received(t + timedelta(seconds=60), _trigger("inc-1", "spot_interruption")),
                Received(t + timedelta(minutes=40), _trigger("inc-2", "unclassified"))]
    written = [(onset + timedelta(minutes=k), onset + timedelta(minutes=k + 1, seconds=1)) for k in range(-5, 60)]
    runs = [DetectRun(f"r{k}", "SUCCESS", onset + timedelta(minutes=k + 1, seconds=5),
                      onset + timedelta(minutes=k + 1, seconds=8), onset + timedelta(minutes=k + 1, seconds=20),
                      "2026-12-02-10:00") for k in range(-5, 50)]
    rep = build_report([inj], received, runs, written, H, H + timedelta(minutes=1), 30.0)
    (row,) = rep["injections"]
    assert (row["mttd_s"], row["mttd_right_cause_s"], row["cause"], row["cause_right"]) == (
        78.0, 138.0, "spot_interruption", True)
    assert row["run_ids"] == ["r0"]  # the run of the onset minute: launched when it had closed, ended at +1:20
    assert [p["incident"] for p in rep["false_pages"]] == ["inc-2"]  # the pipeline's own page is not counted
    assert rep["minute_close_to_page_s"]["p50"] == 18.0  # received 18 s after the minute it detected on closed
    assert rep["mttd_by_type"]["spot_interruption_cascade"]["met"] is True
    assert rep["detect_runs"]["minutes_with_more_than_one_run"] == 0


def test_a_late_hours_catch_up_beside_the_newest_hours_run_is_not_a_second_run_that_minute():
    """Resuming after an hour boundary, one sensor evaluation asks for the newest hour's whole chain and for the
    older hour's late files (ingest, models, scores): the cadence counts only the first, the other is counted apart.
    Two runs of the newest hour in one minute still count."""
    onset = H + timedelta(minutes=20)
    written = [(onset + timedelta(minutes=k), onset + timedelta(minutes=k + 1, seconds=1)) for k in range(-5, 5)]

    def run(k: int, sec: int, late: bool) -> DetectRun:
        at = onset + timedelta(minutes=k + 1, seconds=sec)
        return DetectRun(f"r{k}-{sec}", "SUCCESS", at, at + timedelta(seconds=2), at + timedelta(seconds=9),
                         "2026-12-02-10:00", late)

    rep = build_report([], [], [run(0, 5, True), run(0, 6, False), run(1, 5, False)], written, H, H, 30.0)
    assert rep["detect_runs"]["minutes_with_more_than_one_run"] == 0
    assert rep["detect_runs"]["late_hour_runs"] == 1
    assert [c["late_hour"] for c in rep["cycles"]] == [True, False, False]
    rep = build_report([], [], [run(0, 5, False), run(0, 30, False)], written, H, H, 30.0)
    assert rep["detect_runs"]["minutes_with_more_than_one_run"] == 1
    assert rep["detect_runs"]["late_hour_runs"] == 0
