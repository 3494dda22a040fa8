"""``akidb live`` and ``akidb inject``: the pipeline under the real Dagster daemon beside a live synthetic feed.

``akidb live`` bootstraps (history, models, change calendar), starts the PagerDuty stand-in, the AWS sandbox and
Dagster (UI and daemon, or the daemon alone with ``--no-ui``), then writes every closed minute into the landing
zone; the detection sensor launches one run a minute. With ``--duration`` it stops after that many minutes and, with
``--report``, writes what happened as JSON: per injection the wall-clock MTTD as the stand-in received the page, the
cause named and the runs; per detection run its minute and how long after the minute closed it ended.
``akidb inject TYPE`` queues an incident for the running feed from another shell, starting at the next minute.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK
from akidb_pipelines.config import akidb_home
from akidb_pipelines.live.feed import LiveFeed
from akidb_pipelines.live.injections import enqueue, make_injection, parse_schedule, read_queue
from akidb_pipelines.live.report import DetectRun, Received, build_report
from akidb_pipelines.live.session import Services, bootstrap, run_loop
from akidb_pipelines.microbatch import LATE_TELEMETRY
from akidb_pipelines.synthetic.scenario import ScenarioError


def live_home(args) -> Path:  # noqa: ANN001
    return Path(args.home) if getattr(args, "home", None) else akidb_home() / "live"


def _detect_runs(dagster_home: Path, since: datetime) -> list[DetectRun]:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name="detect", created_after=since))
    finally:
        instance.dispose()

    def ts(x: float | None) -> datetime | None:
        return datetime.fromtimestamp(x, timezone.utc) if x else None

    return sorted((DetectRun(r.dagster_run.run_id, r.dagster_run.status.value, r.create_timestamp.astimezone(
        timezone.utc), ts(r.start_time), ts(r.end_time), r.dagster_run.tags.get("dagster/partition", ""),
        r.dagster_run.tags.get("akidb/trigger") == LATE_TELEMETRY)
        for r in records), key=lambda r: r.created)


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args) -> int:  # noqa: ANN001
    return run_inject(args) if args.command == "inject" else run_live(args)


def run_inject(args) -> int:  # noqa: ANN001
    home = live_home(args)
    if not (home / "feed" / "state.json").exists():
        print(f"akidb inject: no live feed in {home} (start it with `akidb live` or `make live`)", file=sys.stderr)
        return EX_NOINPUT
    magnitude = {}
    for item in args.magnitude or []:
        k, sep, v = item.partition("=")
        try:
            magnitude[k] = float(v)
        except ValueError:
            sep = ""
        if not sep:
            raise ScenarioError(f"--magnitude {item!r}: write KEY=NUMBER, e.g. error_rate=0.05")
    edges = [e.strip() for e in args.edges.split(",") if e.strip()] if args.edges else None
    inj = make_injection(args.type, datetime.now(timezone.utc), magnitude, int(args.duration) if args.duration else None,
                         edges)
    enqueue(home, inj)
    print(f"queued {inj.type} ({inj.id}): onset {inj.onset:%H:%M} UTC, {inj.duration_minutes} min, "
          f"magnitude {inj.magnitude}" + (f", edges {','.join(inj.edge_locations)}" if inj.edge_locations else ""))
    return EX_OK


def run_live(args) -> int:  # noqa: ANN001
    home = live_home(args)
    schedule = [parse_schedule(s) for s in args.inject or []]
    started = datetime.now(timezone.utc)
    boot = bootstrap(home, args.days, args.seed, args.fresh, _say)
    _say(f"bootstrap: {boot.seconds:.0f}s" + (" (resumed)" if boot.resumed else ""))
    feed = LiveFeed(home, boot.origin, args.seed)
    with Services(home, ui=not args.no_ui, port=args.port, say=_say) as svc:
        live_from = datetime.now(timezone.utc)
        _say(f"live from {live_from:%H:%M:%S} UTC: feed -> {home / 'landing'}; Dagster "
             + (f"UI http://127.0.0.1:{args.port} (daemon included)" if not args.no_ui else "daemon (no UI)")
             + f", log {home / 'dagster.log'}; PagerDuty stand-in {svc.pd.base_url}; "
             f"inject from another shell with `akidb inject spot|storm|lstm --home {home}`")
        until = live_from + timedelta(minutes=args.duration) if args.duration else None
        try:
            loop = run_loop(feed, home, until, schedule, live_from, _say, alive=lambda: svc.proc.poll() is None)
        except KeyboardInterrupt:
            _say("stopping")
            loop = None
        if svc.proc.poll() is not None:
            print(f"akidb live: Dagster exited (code {svc.proc.returncode}); see {home / 'dagster.log'}",
                  file=sys.stderr)
            return EX_FAIL
        if args.report and loop is not None:
            deadline = time.time() + 90  # the last minute's detection run finishes and delivers
            while time.time() < deadline and any(r.ended is None for r in _detect_runs(home / "dagster", started)):
                time.sleep(2)
            received = [Received(datetime.fromtimestamp(at, timezone.utc), ev)
                        for at, ev in zip(list(svc.pd.arrivals), list(svc.pd.events))]
            runs = _detect_runs(home / "dagster", started)
            done = [r.ended for r in runs if r.status == "SUCCESS" and r.ended]
            report = build_report([i for i in read_queue(home) if i.requested_at >= started], received, runs,
                                  loop.written, started, min(done) if done else None, boot.seconds,
                                  {"home": str(home), "ui": not args.no_ui, "resumed": boot.resumed})
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
            _summary(report)
            _say(f"report: {args.report}")
    return EX_OK


def _summary(rep: dict) -> None:
    _say(f"start -> first live minute processed: {rep['start_to_first_live_minute_s']} s "
         f"(bootstrap {rep['bootstrap_s']} s)")
    for r in rep["injections"]:
        _say(f"  {r['id']}: onset {r['onset'][11:16]}, first page "
             + (f"after {r['mttd_s']:.0f} s ({r['urgency']}), cause {r['cause']} "
                f"({'right' if r['cause_right'] else 'WRONG'})" if r["mttd_s"] is not None else "NONE"))
    d = rep["detect_runs"]
    _say(f"detection runs: {d['launched']} launched, {d['succeeded']} succeeded, {d['minutes_written']} minutes "
         f"written, {d['minutes_with_more_than_one_run']} minutes with more than one run (and {d['late_hour_runs']} "
         f"catch-up runs of an older hour); minute close -> run end "
         f"p50 {d['minute_close_to_run_end_s']['p50']} s, p95 {d['minute_close_to_run_end_s']['p95']} s")
    c = rep["minute_close_to_page_s"]
    _say(f"minute close -> PagerDuty: p50 {c['p50']} s, p95 {c['p95']} s over {c['n']} page(s); "
         f"false pages {len(rep['false_pages'])}")
