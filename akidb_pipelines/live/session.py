"""``akidb live``: the pipeline beside a live synthetic AkiDB, under the real Dagster daemon.

1. **Bootstrap** (:func:`bootstrap`): generate ``days`` of history ending at the current hour, ingest and model it,
   train and promote the forecast models, write the change calendar an SRE team keeps (past and scheduled deploys),
   and point the feed at the current hour. A home whose feed stopped less than ``RESUME_HOURS`` ago is resumed.
2. **Services** (:class:`Services`): the local PagerDuty Events API v2 stand-in, the AWS sandbox (moto) the runbooks
   act on, and Dagster (``dagster dev`` with the UI, or ``dagster-daemon run`` without), all on 127.0.0.1, with the
   environment pointing the code location at this home.
3. **The loop** (:func:`run_loop`): every closed minute goes into the landing zone; scheduled injections are
   queued when due; ``akidb inject`` queues more from another shell.

No Dagster import here: the command line (``cli/live.py``) reads the runs for the report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines import pipeline
from akidb_pipelines.change_calendar import CalendarEntry, from_ground_truth, write_calendar
from akidb_pipelines.live.feed import TRACES_PER_MINUTE, LiveFeed, floor_hour, live_scenario
from akidb_pipelines.live.injections import enqueue, make_injection
from akidb_pipelines.live.minute_files import last_values, read_hour
from akidb_pipelines.synthetic.minute_model import build_model

RESUME_HOURS = 3
LOCAL_ROUTING_KEY = "akidblivestandinroutingkey000001"   # the stand-in's: not a secret, not a real key
SESSION = "live.json"
OWNED = ("lake", "landing", "feed", "gen", "akidb.duckdb", "pagerduty-outbox.sqlite", "runbook-audit.sqlite",
         "injections.jsonl", "dagster", "change_calendar.yaml", SESSION, "staging")
REPO = Path(__file__).resolve().parents[2]
DAGSTER_YAML = """\
telemetry: {enabled: false}
nux: {enabled: false}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
    dequeue_interval_seconds: 1
    tag_concurrency_limits:
      - {key: akidb/ledger, value: incidents, limit: 1}
      - {key: akidb/kind, value: runbook, limit: 1}
"""


@dataclass
class Bootstrap:
    origin: datetime
    seconds: float
    resumed: bool


def _calendar(gt: dict, seed: int, h0: datetime) -> list[CalendarEntry]:
    """The history's deploys and incidents, and the deploys scheduled for the coming week (a team knows them)."""
    ahead = build_model(h0, 7, seed, live_scenario([], h0))
    planned = [CalendarEntry(f"deploy-planned-{n}", "deploy", ahead.minute_time(a), ahead.minute_time(b),
                             ("akidb-rest",), "weekday deploy (scheduled)")
               for n, (a, b) in enumerate(ahead.deploy_minutes)]
    return from_ground_truth(gt) + planned


def bootstrap(home: Path, days: float, seed: int, fresh: bool, say: Callable[[str], None],
              now: datetime | None = None) -> Bootstrap:
    now = now or datetime.now(timezone.utc)
    t = time.perf_counter()
    session = home / SESSION
    feed_state = home / "feed" / "state.json"
    if not fresh and session.exists() and feed_state.exists():
        doc = json.loads(session.read_text())
        nxt = datetime.fromisoformat(json.loads(feed_state.read_text())["next"])
        if now - nxt < timedelta(hours=RESUME_HOURS) and doc.get("seed") == seed:
            say(f"resuming {home}: the feed continues at {nxt:%H:%M} UTC (use --fresh to start over)")
            return Bootstrap(datetime.fromisoformat(doc["origin"]), time.perf_counter() - t, True)
    for name in OWNED:
        p = home / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    h0 = floor_hour(now)
    start = h0 - timedelta(days=days)
    say(f"bootstrap: {days:g} days of history {start:%Y-%m-%d %H:%M} .. {h0:%Y-%m-%d %H:%M} UTC: generated, "
        "ingested, modelled, trained")
    run = pipeline.run(home, start, days, seed, live_scenario([], start), TRACES_PER_MINUTE,
                       h0 - timedelta(hours=1), calendar=lambda gt: [e for e in from_ground_truth(gt) if e.end <= h0],
                       say=say)
    write_calendar(home / "change_calendar.yaml", _calendar(run.ground_truth, seed, h0))
    last = home / "gen" / "landing" / "prom" / f"date={h0 - timedelta(hours=1):%Y-%m-%d}" / \
        f"hour={h0 - timedelta(hours=1):%H}" / "metrics.om"
    LiveFeed(home, start, seed).start_at(h0, last_values(read_hour("prom", last)))
    session.write_text(json.dumps({"origin": start.isoformat(), "seed": seed, "days": days}))
    return Bootstrap(start, time.perf_counter() - t, False)


@dataclass
class Services:
    """The stand-in, the AWS sandbox and Dagster, started in this order and stopped in reverse."""
    home: Path
    ui: bool = True
    port: int = 3000
    say: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=dict)
    pd: object = None
    sandbox: object = None
    proc: subprocess.Popen | None = None

    def __enter__(self) -> Services:
        from akidb_pipelines.testing.aws_sandbox import Sandbox, require_moto
        from akidb_pipelines.testing.pagerduty_standin import PagerDutyStandIn

        require_moto()
        self.pd = PagerDutyStandIn(self.home / "pagerduty").start()
        self.sandbox = Sandbox(self.home / "aws").__enter__()
        dagster_home = self.home / "dagster"
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
        workspace = self.home / "workspace.yaml"
        workspace.write_text(json.dumps({"load_from": [{"python_module": {
            "module_name": "akidb_pipelines.definitions", "working_directory": str(REPO), "location_name": "akidb"}}]}))
        self.env = {**os.environ, "AKIDB_HOME": str(self.home), "DAGSTER_HOME": str(dagster_home),
                    "AKIDB_CHANGE_CALENDAR": str(self.home / "change_calendar.yaml"),
                    "PAGERDUTY_ROUTING_KEY": LOCAL_ROUTING_KEY, "AKIDB_PAGERDUTY_URL": self.pd.base_url,
                    "AKIDB_PAGERDUTY_CA_FILE": str(self.pd.ca_file), "AWS_ENDPOINT_URL": self.sandbox.endpoint,
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AKIDB_RUNBOOKS_CONFIG": str(self.home / "aws" / "runbooks.sandbox.yaml")}
        for var in ("AKIDB_LAKE_ROOT", "AKIDB_LANDING", "AKIDB_DUCKDB_PATH", "AKIDB_SOURCE", "AWS_ENDPOINT_URL_S3"):
            self.env.pop(var, None)  # this home's lake and landing zone, whatever the shell says
        bin_dir = Path(sys.executable).parent
        cmd = ([str(bin_dir / "dagster"), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(self.port)]
               if self.ui else [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)])
        log = open(self.home / "dagster.log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            try:  # a code server child can outlive the main process
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.sandbox is not None:
            self.sandbox.__exit__(None, None, None)
        if self.pd is not None:
            self.pd.close()


@dataclass
class LoopResult:
    written: list[tuple[datetime, datetime]]   # (minute, when the feed wrote it)
    injected: list[str]


def run_loop(feed: LiveFeed, home: Path, until: datetime | None, schedule: list[tuple[str, float]],
             live_from: datetime, say: Callable[[str], None], alive: Callable[[], bool] = lambda: True,
             tick: float = 0.5) -> LoopResult:
    """Write closed minutes as they close, queue the scheduled injections (type, minutes after ``live_from``)
    when due, until ``until`` (None: until interrupted) or ``alive()`` says stop."""
    written: list[tuple[datetime, datetime]] = []
    pending = sorted(schedule, key=lambda s: s[1])
    injected: list[str] = []
    while alive() and (until is None or datetime.now(timezone.utc) < until):
        now = datetime.now(timezone.utc)
        while pending and now >= live_from + timedelta(minutes=pending[0][1]):
            kind, _ = pending.pop(0)
            inj = make_injection(kind, now)
            enqueue(home, inj)
            injected.append(inj.id)
            say(f"{now:%H:%M:%S} injected {inj.type} ({inj.id}), onset {inj.onset:%H:%M}")
        for m in feed.step(now):
            written.append((m, datetime.now(timezone.utc)))
        time.sleep(tick)
    return LoopResult(written, injected)
