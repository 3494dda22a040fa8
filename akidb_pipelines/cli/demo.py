"""``akidb demo`` / ``make demo``: the main job on the embedded default, run in-process against a persistent Dagster
instance.

Generates synthetic telemetry (with the three historical incidents and a few damaged records), materializes the
whole asset graph one day of hourly partitions per run (so progress shows), replays the week's response on a
simulated clock (``akidb_pipelines.response_replay``, shared with the chaos replay) and prints a summary. The runs
are recorded in ``$DAGSTER_HOME`` (default ``$AKIDB_HOME/dagster``), so ``make ui`` shows them afterwards.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from akidb_pipelines.alerting.respond import DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, collect_alerts
from akidb_pipelines.chaos.run import measured_cycle
from akidb_pipelines.change_calendar import from_ground_truth, write_calendar
from akidb_pipelines.cli.demo_summary import print_summary
from akidb_pipelines.clients.pagerduty import EventsClient
from akidb_pipelines.config import Settings, dagster_home, pagerduty_env
from akidb_pipelines.definitions import defs
from akidb_pipelines.forecast.registry import Registry
from akidb_pipelines.response_inputs import load_inputs
from akidb_pipelines.response_replay import RESPOND, RUNBOOKS, live_ticks, replay_response, runbook_ticks
from akidb_pipelines.runbooks.actuator import Actuator
from akidb_pipelines.runbooks.audit import AuditLog
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic import generate
from akidb_pipelines.testing import aws_sandbox
from akidb_pipelines.testing.pagerduty_standin import PagerDutyStandIn
from assets.forecast import forecast_cfg
from assets.partitions import hourly

DEMO_CORRUPT_FRACTION = 0.0002
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
DEMO_ROUTING_KEY = "demo0000000000000000000000000000"  # placeholder for the local stand-in (32 characters)
TRAIN_DAYS = 4  # days of history the demo's models train on (the storm and the LSTM cascade come after)
ACK_AFTER = timedelta(minutes=4)  # the on-call engineer acknowledges each page this long after it is sent


def run(args: argparse.Namespace) -> int:
    return run_demo(days=args.days, seed=args.seed, reuse=args.reuse)


def ensure_dagster_home(settings: Settings) -> Path:
    home = dagster_home(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def demo_start(days: float, today: datetime | None = None) -> datetime:
    """The demo's history ends at the most recent Friday midnight UTC (today's, on a Friday). The generated
    telemetry depends on the weekday and the hour, not on the date, so every run shows the same week: the same
    incidents, alerts and pages whatever day it runs. With a start that moved with the calendar, the weekday
    deploys and the incidents landed on other days each day, and a Saturday run paged on a deploy blip that the
    Friday run did not."""
    today = (today or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(hour=0, minute=0, second=0,
                                                                                    microsecond=0)
    return today - timedelta(days=(today.weekday() - 4) % 7) - timedelta(days=days)


def run_demo(days: float = 7.0, seed: int = 42, reuse: bool = False, out=sys.stdout) -> int:  # noqa: ANN001
    t_all = time.perf_counter()
    settings = Settings.from_env()
    say = lambda m: print(m, file=out, flush=True)  # noqa: E731
    say(f"akidb demo: {days:g} days of synthetic AkiDB telemetry -> {settings.home}")
    gt_path = settings.home / "ground_truth.json"
    start = demo_start(days)
    if reuse and gt_path.exists():
        say(f"[1/5] reusing generated data ({gt_path})")
    else:
        say("[1/5] generating telemetry (X-Ray segments, EMF events, Prometheus samples) ...")
        t = time.perf_counter()
        res = generate(settings.home, start, days, seed, None, progress=lambda m: say(f"      {m}"),
                       corrupt_fraction=DEMO_CORRUPT_FRACTION)
        say(f"      done in {time.perf_counter() - t:.0f}s: " + ", ".join(f"{k} {v:,}" for k, v in res.records.items()))
    gt = json.loads(gt_path.read_text())

    dagster_home = ensure_dagster_home(settings)
    # PagerDuty: no real account is reachable here, so pages go to the local Events API v2 stand-in (HTTPS on
    # 127.0.0.1) under a placeholder routing key, unless the environment names a real one.
    standin = None
    if not pagerduty_env().routing_key:
        standin = PagerDutyStandIn(settings.home / "pagerduty-standin").start()
        atexit.register(standin.close)
        os.environ.update({"PAGERDUTY_ROUTING_KEY": DEMO_ROUTING_KEY, "AKIDB_PAGERDUTY_URL": standin.base_url,
                           "AKIDB_PAGERDUTY_CA_FILE": str(standin.ca_file)})
        (settings.home / "pagerduty-outbox.sqlite").unlink(missing_ok=True)  # a fresh demo week
    definitions = defs()
    job = definitions.resolve_job_def("akidb_main")
    instance = dg.DagsterInstance.get()
    # The change calendar an SRE would keep: the incidents (post-mortems) and deploys, left out of training.
    write_calendar(settings.home / "change_calendar.yaml", from_ground_truth(gt))
    os.environ.setdefault("AKIDB_CHANGE_CALENDAR", str(settings.home / "change_calendar.yaml"))
    start_ts, end = _ts(gt["start"]), _ts(gt["end"])
    # Models train on the first days (a fresh install has no history); the rest is scored against them.
    train_at = start_ts + 86400 * min(TRAIN_DAYS, max(1, int((end - start_ts) // 86400) - 1))
    say(f"[2/5] materializing the asset graph (akidb_main), one day of hourly partitions per run "
        f"(Dagster home {dagster_home})")
    stats = {"passed": 0, "total": 0, "failed": [], "warned": []}
    n = 0
    day = start_ts
    while day < end:
        if day == train_at:
            say(f"[3/5] training the forecast models as of {_iso(train_at)} (train_models, one run for every series)")
            _train(definitions, instance, _iso(train_at), Lake.from_settings(settings), say)
            say("      scoring resumes with the promoted models:")
        n += 1
        if not _run_day(job, instance, day, min(day + 86400, end), n, stats, say):
            return 1
        day += 86400

    say("[4/5] replaying the week's response at the sensors' cadence: alerts -> incidents -> routing -> PagerDuty")
    _respond_week(definitions, instance, start_ts, end, standin, say)

    say("[5/5] summary")
    print_summary(settings, gt, _iso(train_at), end - start_ts, standin, stats, say)
    _dashboards(definitions, instance, say)
    say(f"      lake: {settings.lake_root}   DuckDB: {settings.duckdb_path}")
    say(f"      done in {time.perf_counter() - t_all:.0f}s. Open the UI with 'make ui' (http://127.0.0.1:3000).")
    return 0 if not stats["failed"] else 1


def _run_day(job, instance, day: float, until: float, n: int, stats: dict, say) -> bool:  # noqa: ANN001
    t = time.perf_counter()
    k0 = hourly.get_partition_key_for_timestamp(day)
    k1 = hourly.get_partition_key_for_timestamp(until - 3600)
    result = job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": k0, "dagster/asset_partition_range_end": k1,
              "akidb/trigger": "demo"},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    for e in result.get_asset_check_evaluations():
        stats["total"] += 1
        stats["passed"] += e.passed
        if not e.passed:
            name = f"{e.asset_key.to_user_string()}:{e.check_name}"
            (stats["warned"] if e.severity == dg.AssetCheckSeverity.WARN else stats["failed"]).append(name)
    status = "ok" if result.success else "FAILED"
    rows = _rows(result)
    scored = [ev.event_specific_data.materialization.metadata for ev in result.get_asset_materialization_events()
              if ev.event_specific_data.materialization.asset_key.path == ["forecast", "anomaly_scores"]]
    extra = (f"  scored {scored[-1]['series_scored'].value} series, anomalies {scored[-1]['anomalies'].value}"
             if scored and scored[-1]["series_scored"].value else "  (no promoted models yet)" if scored else "")
    say(f"      day {n}: {k0[:10]}  {status}  " + "  ".join(f"{k} {v:,}" for k, v in rows.items())
        + extra + f"  ({time.perf_counter() - t:.0f}s)")
    if not result.success:
        say("      the run failed; see the Dagster UI (make ui) for the step logs")
    return result.success


def _train(definitions, instance, as_of: str, lake: Lake, say) -> None:  # noqa: ANN001
    """One run over every series partition, as the weekly schedule launches it; each series' verdict from the
    registry (the run's metadata holds them as one table)."""
    job = definitions.resolve_job_def("train_models")
    ids = forecast_cfg.ids
    t = time.perf_counter()
    result = job.execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"akidb/trigger": "demo", "dagster/asset_partition_range_start": ids[0],
              "dagster/asset_partition_range_end": ids[-1]},
        run_config={"ops": {"forecast__prophet_model": {"config": {"as_of": as_of}}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if not result.success:
        say("        the training run FAILED (see the UI)")
        return
    registry = Registry(lake)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for sid in ids:
        versions = registry.versions(sid)
        if not versions:
            say(f"        {sid:40s} skipped (too little history)")
            continue
        meta = registry.meta(sid, versions[-1])
        val = meta.get("validation", {})
        status = "promoted" if meta.get("promoted") else "rejected"
        say(f"        {sid:40s} {status:9s} {val.get('measure', 'error')} {fmt(val.get('error'))}  coverage "
            f"{fmt(val.get('coverage'))}" + (f"  ({'; '.join(val['reasons'])})" if val.get("reasons") else ""))
    say(f"      trained {len(ids)} series in {time.perf_counter() - t:.0f}s (one run, fitted together)")


def _respond_week(definitions, instance, start_ts: float, end: float, standin, say) -> None:  # noqa: ANN001
    """The response week in simulated time through the core (what the alert and runbook sensors' runs do), at the
    cadence they run live: a response tick one minute after each alert's onset plus the pipeline's cycle (measured
    by `make bench`, else the 60 s sensor interval), then every minute for 15 minutes, and 30 and 60 minutes
    later, and every hour (``response_replay.live_ticks``: the pages, and the MTTD, a tick every minute gives);
    the runbook lifecycle every minute for 90 minutes after a page. An on-call engineer acknowledges each page 4
    minutes after it is sent. The runbooks act for real on a local AWS sandbox (moto server on 127.0.0.1), all
    enabled. Then one run of the ``respond`` job so the UI shows the ledger asset."""
    t = time.perf_counter()
    settings = Settings.from_env()
    lake = Lake.from_settings(settings)
    if standin is not None and not lake.is_s3:
        for obj in (INCIDENTS_OBJECT, DECISIONS_OBJECT, TICKETS_OBJECT):  # a fresh demo week, like the outbox
            Path(f"{lake.root}/{obj}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (settings.home / f"runbook-audit.sqlite{suffix}").unlink(missing_ok=True)
    client = EventsClient.from_env()  # the demo sets the stand-in's key, URL and CA
    srv = aws_sandbox.start_server()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ids = aws_sandbox.seed_akidb(endpoint)
    runbooks = aws_sandbox.sandbox_runbooks(ids, settings.home / "runbooks.demo.yaml")  # every runbook enabled
    inputs = dataclasses.replace(load_inputs(), runbooks=runbooks)
    actuator = Actuator(endpoint_url=endpoint, access_key_id="testing", secret_access_key="testing")
    audit = AuditLog(settings.home / "runbook-audit.sqlite")
    start, stop = datetime.fromtimestamp(start_ts, tz=timezone.utc), datetime.fromtimestamp(end, tz=timezone.utc)

    cycle, cycle_source = measured_cycle(settings.home)
    alerts = collect_alerts(lake, inputs, start, stop)
    ticks = [(at, RESPOND) for at in live_ticks([a.start for a in alerts], start, stop, cycle)]
    try:
        sim = replay_response(lake, inputs, start, ticks, settings.home / "pagerduty-outbox.sqlite",
                              client.send, ack_after=ACK_AFTER, ack_by="on-call (demo)",
                              after_page=lambda now: runbook_ticks(now, stop),
                              runbooks=runbooks, actuator=actuator, audit=audit)
    finally:
        srv.stop()
    outbox = sim.outbox
    job = definitions.resolve_job_def("respond")
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags={"akidb/trigger": "demo"},
                                    run_config={"ops": {"alerting__incidents": {"config": {"now": _iso(end)}}},
                                                "loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    say(f"      pipeline cycle {cycle:.1f} s ({cycle_source})")
    say(f"      {sim.ticks[RESPOND]} response ticks (a minute after each alert's onset plus the cycle, then every "
        f"minute for 15 min; hourly otherwise), {sim.ticks[RUNBOOKS]} runbook evaluations and the respond job "
        f"({'ok' if result.success else 'FAILED'}) in {time.perf_counter() - t:.0f}s; outbox: "
        f"{sum(r['status'] == 'sent' for r in outbox.rows())} sent, {outbox.pending()} pending"
        + (f"; PagerDuty stand-in at {standin.base_url}" if standin else "") + f"; AWS sandbox (moto) at {endpoint}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _rows(result) -> dict[str, int]:  # noqa: ANN001
    out = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        key = mat.asset_key.path[-1]
        if mat.asset_key.path[:2] == ["lake", "raw"]:  # a range run reports the range's total on each event
            out[key.split("_")[0]] = int(mat.metadata["rows_stored"].value)
    return out


def _dashboards(definitions, instance, say) -> None:  # noqa: ANN001
    """The dashboards job after the alerting tick: every page into the lake, one summary line with their paths."""
    t = time.perf_counter()
    result = definitions.resolve_job_def("dashboards").execute_in_process(
        instance=instance, raise_on_error=False, tags={"akidb/trigger": "demo"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    pages = {ev.event_specific_data.materialization.asset_key.path[-1]: ev.event_specific_data.materialization.metadata
             for ev in result.get_asset_materialization_events()}
    say(f"      dashboards ({'ok' if result.success else 'FAILED'}, {time.perf_counter() - t:.0f}s): "
        + ", ".join(f"{n} ({m['charts'].value} charts)" for n, m in pages.items()))
    for n, m in pages.items():
        say(f"        {n:15s} {m['path'].value}"
            + (f"  (missing: {m['missing_inputs'].value})" if m["missing_inputs"].value != "none" else ""))
