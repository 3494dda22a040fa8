"""``make demo``: the main job on the embedded default, run in-process against a persistent Dagster instance.

Generates synthetic telemetry (with the three historical incidents and a few damaged records), materializes the
whole asset graph one day of hourly partitions per run (so progress shows), and prints a summary. The runs are
recorded in ``$DAGSTER_HOME`` (default ``$AKIDB_HOME/dagster``), so ``make ui`` shows them afterwards.
"""

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.config import Settings
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES

DEMO_CORRUPT_FRACTION = 0.0002
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def ensure_dagster_home(settings: Settings) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster")
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
        from akidb_pipelines.synthetic import generate

        t = time.perf_counter()
        res = generate(settings.home, start, days, seed, None, progress=lambda m: say(f"      {m}"),
                       corrupt_fraction=DEMO_CORRUPT_FRACTION)
        say(f"      done in {time.perf_counter() - t:.0f}s: " + ", ".join(f"{k} {v:,}" for k, v in res.records.items()))
    gt = json.loads(gt_path.read_text())

    dagster_home = ensure_dagster_home(settings)
    import dagster as dg

    from akidb_pipelines.definitions import defs

    # PagerDuty: no real account is reachable here, so pages go to the local Events API v2 stand-in (HTTPS on
    # 127.0.0.1) under a placeholder routing key, unless the environment names a real one.
    from akidb_pipelines.clients.pagerduty_standin import PagerDutyStandIn

    standin = None
    if not os.environ.get("PAGERDUTY_ROUTING_KEY"):
        standin = PagerDutyStandIn(settings.home / "pagerduty-standin").start()
        import atexit

        atexit.register(standin.close)
        os.environ.update({"PAGERDUTY_ROUTING_KEY": DEMO_ROUTING_KEY, "AKIDB_PAGERDUTY_URL": standin.base_url,
                           "AKIDB_PAGERDUTY_CA_FILE": str(standin.ca_file)})
        (settings.home / "pagerduty-outbox.sqlite").unlink(missing_ok=True)  # a fresh demo week
    definitions = defs()
    job = definitions.resolve_job_def("akidb_main")
    instance = dg.DagsterInstance.get()
    # The change calendar an SRE would keep: the incidents (post-mortems) and deploys, left out of training.
    from akidb_pipelines.calendar import from_ground_truth, write_calendar

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
            say(f"[3/5] training the forecast models as of {_iso(train_at)} (train_models, one run per series)")
            _train(definitions, instance, _iso(train_at), say)
            say("      scoring resumes with the promoted models:")
        n += 1
        if not _run_day(job, instance, day, min(day + 86400, end), n, stats, say):
            return 1
        day += 86400

    say("[4/5] replaying the week's response ticks (hourly): alerts -> incidents -> routing -> PagerDuty")
    _respond_week(definitions, instance, start_ts, end, standin, say)

    say("[5/5] summary")
    catalog = settings.catalog()
    for kind in ("xray", "emf", "prom"):
        raw, bad = RAW_TABLES[kind].replace("/", "."), QUARANTINE_TABLES[kind].replace("/", ".")
        stored = _count(catalog, raw)
        quarantined = _count(catalog, bad)
        reasons = _reasons(catalog, bad)
        injected = gt.get("corrupted_records", {}).get(kind, 0)
        say(f"      {raw:26s} {stored:>12,} rows   quarantined {quarantined:>5,} (injected damage: {injected})"
            + (f"  {reasons}" if reasons else ""))
    for view in ("staging.stg_xray_spans", "staging.stg_emf_metrics", "staging.stg_prometheus_samples",
                 "marts.golden_signals_1m"):
        say(f"      {view:34s} {_count(catalog, view):>12,} rows")
    try:
        worst = catalog.query(
            "SELECT tier, max(error_rate) AS e, max(latency_p95_ms) AS l, max(emf_latency_p95_ms) AS el "
            "FROM marts.golden_signals_1m WHERE edge_location = 'all' GROUP BY tier ORDER BY tier")
        say("      worst minute per tier (golden signals): "
            + "; ".join(f"{r.tier} errors {100 * (r.e or 0):.1f}% p95 {max(r.l or 0, r.el or 0):.0f} ms"
                        for r in worst.itertuples()))
    except Exception:  # noqa: BLE001 - the summary never hides the run's own result
        pass
    try:
        slo = catalog.query(
            "SELECT slo, arg_max(budget_remaining, minute) AS remaining, "
            "count(*) FILTER (WHERE alert_state = 'fast') AS fast, count(*) FILTER (WHERE alert_state = 'medium') AS medium, "
            "count(*) FILTER (WHERE alert_state = 'slow') AS slow, count(*) FILTER (WHERE alert_state = 'no_data') AS no_data "
            "FROM marts.slo_burn_rates_1m GROUP BY slo ORDER BY slo")
        say("      SLOs (budget remaining at the end; minutes in each alert tier):")
        for r in slo.itertuples():
            say(f"        {r.slo:14s} budget {100 * r.remaining:6.1f}%   fast/P0 {r.fast:>4} min   "
                f"medium/P1 {r.medium:>4} min   slow/P2 {r.slow:>5} min   no data {r.no_data:>4} min")
    except Exception:  # noqa: BLE001 - the summary never hides the run's own result
        pass
    _anomaly_summary(catalog, gt, _iso(train_at), say)
    _incident_summary(settings, gt, end - start_ts, standin, say)
    say(f"      asset checks passed: {stats['passed']}/{stats['total']}"
        + (f"  FAILED: {stats['failed']}" if stats["failed"] else "")
        + (f"  warnings: {_counted(stats['warned'])}" if stats["warned"] else ""))
    say("      incidents in the data (ground truth):")
    for inc in gt["incidents"]:
        say(f"        {inc['id']:30s} {inc['start']} .. {inc['end']}  {','.join(inc['components'])}"
            + (f" @ {','.join(inc['edge_locations'])}" if inc["edge_locations"] else ""))
    _dashboards(definitions, instance, say)
    say(f"      lake: {settings.lake_root}   DuckDB: {settings.duckdb_path}")
    say(f"      done in {time.perf_counter() - t_all:.0f}s. Open the UI with 'make ui' (http://127.0.0.1:3000).")
    return 0 if not stats["failed"] else 1


DEMO_ROUTING_KEY = "demo0000000000000000000000000000"  # placeholder for the local stand-in (32 characters)
TRAIN_DAYS = 4  # days of history the demo's models train on (the storm and the LSTM cascade come after)


def _run_day(job, instance, day: float, until: float, n: int, stats: dict, say) -> bool:  # noqa: ANN001
    import dagster as dg

    from assets.partitions import hourly

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


def _train(definitions, instance, as_of: str, say) -> None:  # noqa: ANN001
    from assets.forecast import forecast_cfg

    job = definitions.resolve_job_def("train_models")
    t = time.perf_counter()
    for sid in forecast_cfg.ids:
        result = job.execute_in_process(
            instance=instance, partition_key=sid, raise_on_error=False, tags={"akidb/trigger": "demo"},
            run_config={"ops": {"forecast__prophet_model": {"config": {"as_of": as_of}}},
                        "loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        mats = result.get_asset_materialization_events()
        if not result.success or not mats:
            say(f"        {sid:40s} run FAILED (see the UI)")
            continue
        m = mats[0].event_specific_data.materialization.metadata
        measure = next((k for k in ("mape", "smape", "mase") if k in m), "error")
        err = m.get(measure)
        cov = m.get("coverage_95")
        fmt = lambda v: f"{v.value:.3f}" if v is not None and hasattr(v.value, "__float__") else "n/a"  # noqa: E731
        say(f"        {sid:40s} {m['status'].value:9s} {measure} {fmt(err)}  coverage {fmt(cov)}"
            + (f"  ({m['reasons'].value})" if m["reasons"].value != "none" else ""))
    say(f"      trained {len(forecast_cfg.ids)} series in {time.perf_counter() - t:.0f}s")


def _anomaly_summary(catalog, gt: dict, scored_from: str, say) -> None:  # noqa: ANN001
    """Anomalies found next to the injected incidents (first flag, delay from onset, series), and outside them."""
    try:
        an = catalog.query("SELECT series, minute, anomaly_score, direction FROM forecast.anomalies ORDER BY minute")
    except Exception:  # noqa: BLE001 - no anomalies table yet: nothing scored
        say("      anomalies: none recorded (no promoted model scored any minute)")
        return
    import pandas as pd

    say(f"      anomalies (Prophet band + detector, scored from {scored_from}): {len(an)} flagged minutes")
    near = pd.Series(False, index=an.index)
    for inc in gt["incidents"]:
        s, e = pd.Timestamp(inc["start"]), pd.Timestamp(inc["end"])
        hit = an[(an.minute >= s - pd.Timedelta(minutes=5)) & (an.minute < e + pd.Timedelta(minutes=30))]
        near |= an.index.isin(hit.index)
        if s < pd.Timestamp(scored_from):
            say(f"        {inc['id']:30s} before the models existed (the SLO burn rates cover it)")
        elif hit.empty:
            say(f"        {inc['id']:30s} not flagged")
        else:
            first = hit.minute.min()
            say(f"        {inc['id']:30s} first flag {first:%m-%d %H:%M} ({(first - s).total_seconds() / 60:+.0f} min "
                f"from onset), {len(hit)} flags on {', '.join(sorted(hit.series.unique()))}")
    say(f"        outside any incident (false positives): {int((~near).sum())} flagged minutes")


def _respond_week(definitions, instance, start_ts: float, end: float, standin, say) -> None:  # noqa: ANN001
    """The response week in simulated time through the core (what the alert and runbook sensors' runs do): a tick
    every hour, and every five minutes for the 90 minutes after a tick that paged (acknowledgements, escalation,
    runbook verification and scale-back). An on-call engineer acknowledges each page 4 minutes after it is sent.
    The runbooks act for real on a local AWS sandbox (moto server on 127.0.0.1), all enabled. Then one run of the
    ``respond`` job so the UI shows the ledger asset."""
    from datetime import datetime, timedelta, timezone

    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.alerting.respond import DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, acknowledge
    from akidb_pipelines.alerting.respond import load_inputs, respond, write_incidents
    from akidb_pipelines.alerting.sources import service_map
    from akidb_pipelines.clients.pagerduty import EventsClient
    from akidb_pipelines.runbooks import lifecycle
    from akidb_pipelines.runbooks.engine import Actuator, AuditLog
    from akidb_pipelines.synthetic import aws_sandbox

    t = time.perf_counter()
    settings = Settings.from_env()
    lake = settings.lake()
    if standin is not None and not lake.is_s3:
        for obj in (INCIDENTS_OBJECT, DECISIONS_OBJECT, TICKETS_OBJECT):  # a fresh demo week, like the outbox
            Path(f"{lake.root}/{obj}").unlink(missing_ok=True)
    for f in ("runbook-audit.sqlite", "pagerduty-outbox.sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (settings.home / (f + suffix)).unlink(missing_ok=True)
    smap = service_map(lake)
    clock = [start_ts]
    outbox = Outbox(settings.home / "pagerduty-outbox.sqlite", clock=lambda: clock[0])
    client = EventsClient.from_env()  # the demo sets the stand-in's key, URL and CA
    srv = aws_sandbox.start_server()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ids = aws_sandbox.seed_akidb(endpoint)
    runbooks = aws_sandbox.sandbox_runbooks(ids, settings.home / "runbooks.demo.yaml")  # every runbook enabled
    inputs = load_inputs()
    import dataclasses

    inputs = dataclasses.replace(inputs, runbooks=runbooks)
    actuator = Actuator(endpoint_url=endpoint, access_key_id="testing", secret_access_key="testing")
    audit = AuditLog(settings.home / "runbook-audit.sqlite")
    ticks = sorted(set(range(int(start_ts) + 3600, int(end) + 1, 3600)))
    done, acks, n = set(), {}, 0
    try:
        while ticks:
            tick = ticks.pop(0)
            if tick in done:
                continue
            done.add(tick)
            n += 1
            now = datetime.fromtimestamp(tick, tz=timezone.utc)
            for inc, due in list(acks.items()):  # the on-call engineer acknowledges
                if due <= tick:
                    clock[0] = due
                    acknowledge(outbox, inc, "on-call (demo)")
                    del acks[inc]
            clock[0] = tick
            report = respond(lake, now, inputs, outbox, smap)
            outbox.deliver(client.send)
            for key in report.enqueued:
                if key.endswith(":trigger"):
                    acks[key.split(":")[0]] = tick + 240
                    ticks = sorted(set(ticks) | set(range(tick + 300, min(tick + 5400, int(end)) + 1, 300)))
            write_incidents(lake, report, outbox, audit)
            lifecycle.tick(lake, runbooks, actuator, audit, outbox, now)
            outbox.deliver(client.send)
    finally:
        srv.stop()
    job = definitions.resolve_job_def("respond")
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags={"akidb/trigger": "demo"},
                                    run_config={"ops": {"alerting__incidents": {"config": {"now": _iso(end)}}},
                                                "loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    say(f"      {n} response ticks (hourly, every 5 min after a page) and the respond job "
        f"({'ok' if result.success else 'FAILED'}) in {time.perf_counter() - t:.0f}s; outbox: "
        f"{sum(r['status'] == 'sent' for r in outbox.rows())} sent, {outbox.pending()} pending"
        + (f"; PagerDuty stand-in at {standin.base_url}" if standin else "") + f"; AWS sandbox (moto) at {endpoint}")


def _incident_summary(settings, gt: dict, seconds: float, standin, say) -> None:  # noqa: ANN001
    import io

    import pandas as pd

    from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT

    data = settings.lake().read_bytes(INCIDENTS_OBJECT)
    if data is None:
        say("      incidents: none recorded")
        return
    df = pd.read_parquet(io.BytesIO(data))
    weeks = max(seconds / (7 * 86400), 1e-9)
    paged = df[df["pages_sent"] > 0].sort_values("first_alert")
    tickets = df[df["decision"] == "ticket"]
    say(f"      incidents: {len(df)} ({len(paged)} paged, {len(tickets)} tickets, {int((df['decision'] == 'hold').sum())} "
        f"held); alerts {int(df['alerts'].sum())} ({df['alerts'].sum() / weeks:.0f}/week), pages {len(paged)} "
        f"({len(paged) / weeks:.1f}/week)")
    windows = [(pd.Timestamp(i["start"]), pd.Timestamp(i["end"]), i["id"]) for i in gt["incidents"]]
    for r in paged.itertuples():
        match = next((n for s, e, n in windows if s - pd.Timedelta(minutes=5) <= r.first_alert <= e), None)
        mins = lambda a, b: f"{(b - a).total_seconds() / 60:.0f}m" if pd.notna(a) and pd.notna(b) else "-"  # noqa: E731
        say(f"        {r.severity} {r.first_alert:%m-%d %H:%M}  {r.root_component}: {r.root_rule} ({r.root_source}), "
            f"cause {getattr(r, 'cause', '?')}, {r.alerts} alert(s)  -> {match or 'NOT an injected incident'}; "
            f"page +{mins(r.first_alert, r.first_page)}, ack +{mins(r.first_alert, getattr(r, 'acknowledged_at', None))}"
            + ("; resolved" if r.resolved else ""))
        for action in json.loads(getattr(r, "runbook_actions", None) or "[]"):
            say(f"           runbook {action}")
    missed = [n for s, e, n in windows if not any(s - pd.Timedelta(minutes=5) <= t <= e for t in paged.first_alert)]
    if missed:
        say(f"        not paged: {', '.join(missed)}")
    if standin is not None:
        say(f"      PagerDuty stand-in received {len(standin.events)} events for {len(standin.incidents)} incidents")
    say("      (pages go out at the replay's hourly ticks, so page delays here are up to an hour; minute-level MTTD "
        "comes with the chaos replay)")


def _counted(names: list[str]) -> str:
    from collections import Counter

    return ", ".join(f"{k} x{v}" for k, v in Counter(names).items())


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _rows(result) -> dict[str, int]:  # noqa: ANN001
    out = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        key = mat.asset_key.path[-1]
        if mat.asset_key.path[:2] == ["lake", "raw"]:  # a range run reports the range's total on each event
            out[key.split("_")[0]] = int(mat.metadata["rows_stored"].value)
    return out


def _count(catalog, view: str) -> int:  # noqa: ANN001
    try:
        return int(catalog.query(f"SELECT count(*) AS n FROM {view}")["n"][0])
    except Exception:  # noqa: BLE001 - a view exists only once its table has files
        return 0


def _reasons(catalog, view: str) -> dict[str, int]:  # noqa: ANN001
    try:
        df = catalog.query(f"SELECT reason, count(*) AS n FROM {view} GROUP BY reason ORDER BY reason")
    except Exception:  # noqa: BLE001
        return {}
    return dict(zip(df["reason"], df["n"].astype(int)))


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
