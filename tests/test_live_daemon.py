"""End to end under the real Dagster daemon: `akidb live` bootstraps a week of history, starts the PagerDuty
stand-in, the AWS sandbox and `dagster-daemon run`, feeds a minute of telemetry a minute, and a spot interruption
cascade is injected. The stand-in must receive the page within the MTTD goal (2 minutes from onset) and, on the
same incident, the right root and cause; every detection run succeeds, one per minute at most, and the page
arrives within 30 s of the minute it was detected on closing. About 6 minutes (the wall clock is the point)."""

import json
import os
import subprocess
import sys

from akidb_pipelines.live.report import MTTD_GOAL_S

# The cause is usually named on the first page (the open-edge evidence, docs/root-causes.md); when the first closed
# minute does not show it, the three-minute evidence names it a minute later (docs/live.md): the bound allows that.
CAUSE_GOAL_S = MTTD_GOAL_S + 60


def test_a_spot_cascade_injected_into_the_live_feed_pages_within_the_goal_through_the_daemon(tmp_path):
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKIDB_", "DAGSTER_", "PAGERDUTY_"))}
    env["AKIDB_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "akidb_pipelines.cli", "live", "--no-ui", "--days", "7", "--duration", "5",
         "--inject", "spot@+1", "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=480)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    rep = json.loads(report.read_text())

    (inj,) = rep["injections"]
    assert inj["type"] == "spot_interruption_cascade"
    assert inj["mttd_s"] is not None and 60 <= inj["mttd_s"] <= MTTD_GOAL_S, inj  # the onset minute must close first
    assert inj["cause_right"] and inj["root"] == "akidb-rest" and inj["cause"] == "spot_interruption", inj
    assert inj["mttd_right_cause_s"] <= CAUSE_GOAL_S, inj
    assert inj["run_ids"], "the page is not from a detection run"
    assert rep["false_pages"] == [], rep["false_pages"]

    runs = rep["detect_runs"]
    assert runs["launched"] >= 4 and runs["succeeded"] == runs["launched"], rep["cycles"]
    assert runs["minutes_with_more_than_one_run"] == 0, rep["cycles"]
    assert rep["minute_close_to_page_s"]["p95"] <= 30, rep["minute_close_to_page_s"]
    assert rep["start_to_first_live_minute_s"] <= 180
