"""Wall-clock MTTD through the real Dagster daemon: ``N`` injections of each seed incident type into the live feed,
each in its own `akidb live --no-ui` session (its own Dagster instance, PagerDuty stand-in and AWS sandbox, so an
incident still open from the one before cannot absorb the next), all sessions resuming one bootstrapped home (a
week of history and its models, copied) so every injection meets the same models.

Per type: the first page's MTTD (p50, p95) as the PagerDuty stand-in received it, the MTTD of the update naming
the right root and cause, minute close -> page. Beside it, the replay's figure for the same incidents: the
replay's clock (``akidb chaos``/``akidb gameday``) pages at the close of the minute the detector first flags plus
its cycle time, so for each incident the live run's detected minute + 1 min + the replay's cycle
(``chaos.run.measured_cycle``) is what the replay would have reported. Their difference is what the daemon adds.

The result goes to ``$AKIDB_HOME/bench/live.json``.

    python -m tests.benchmarks.bench_live [--per-type 5] [--minutes 4] [--types spot,storm,lstm] [--keep-slow]
                                                                           (~4.5 min a session; 15 sessions here)
    python -m tests.benchmarks.bench_live --summarize                      (the reports already written, again)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.chaos.run import measured_cycle
from akidb_pipelines.live.report import CLOSE_TO_PAGE_GOAL_S, MTTD_GOAL_S, pct
from akidb_pipelines.live.session import bootstrap
from tests.benchmarks import results as bench_results

TYPES = ("spot", "storm", "lstm")


def session_rows(report: Path, cycle_s: float) -> list[dict]:
    """The rows of one session's report: one per injection, with the replay's clock for it."""
    rep = json.loads(report.read_text())
    rows = []
    run_minutes = {c["run_id"]: c["minute"] for c in rep["cycles"]}
    for inj in rep["injections"]:
        detected = next((run_minutes[r] for r in inj["run_ids"] if run_minutes.get(r)), None)
        replay = None
        if detected:
            d = datetime.fromisoformat(detected)
            replay = (d + timedelta(minutes=1) - datetime.fromisoformat(inj["onset"])).total_seconds() + cycle_s
        rows.append({**{k: inj[k] for k in ("type", "onset", "mttd_s", "mttd_right_cause_s", "cause", "cause_right",
                                              "urgency") if k in inj},
                     "session": report.stem, "detected_minute": detected, "replay_mttd_s": replay,
                     "minute_close_to_page_s": rep["minute_close_to_page_s"], "false_pages": len(rep["false_pages"])})
    return rows


def summarize(rows: list[dict], args: argparse.Namespace, cycle_s: float, cycle_src: str, total_s: float) -> dict:
    summary = {}
    for kind in sorted({r["type"] for r in rows}):
        mine = [r for r in rows if r["type"] == kind]
        found = [r["mttd_s"] for r in mine if r.get("mttd_s") is not None]
        cause = [r["mttd_right_cause_s"] for r in mine if r.get("mttd_right_cause_s") is not None]
        replay = [r["replay_mttd_s"] for r in mine if r.get("replay_mttd_s") is not None]
        summary[kind] = {"injections": len(mine), "paged": len(found), "right_cause": len(cause),
                         "mttd_s_p50": pct(found, 0.5), "mttd_s_p95": pct(found, 0.95),
                         "right_cause_s_p50": pct(cause, 0.5), "right_cause_s_p95": pct(cause, 0.95),
                         "replay_mttd_s_p50": pct(replay, 0.5), "replay_mttd_s_p95": pct(replay, 0.95),
                         "goal_mttd_p95_s": MTTD_GOAL_S,
                         "met": len(found) == len(mine) and (pct(found, 0.95) or 1e9) <= MTTD_GOAL_S}
    every = [v for r in rows for v in r.get("minute_close_to_page_s", {}).get("values", [])]
    return {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]},
            "per_type": args.per_type, "session_minutes": args.minutes, "history_days": args.days,
            "replay_cycle_s": cycle_s, "replay_cycle_source": cycle_src, "summary": summary,
            # every page of every session: what the replays use as their cycle (chaos.run.measured_cycle)
            "minute_close_to_page_p95_s": pct(every, 0.95), "minute_close_to_page_p50_s": pct(every, 0.5),
            "pages": len(every), "goal_minute_close_to_page_p95_s": CLOSE_TO_PAGE_GOAL_S,
            "false_pages": sum(r.get("false_pages", 0) for r in rows), "rows": rows, "total_s": round(total_s, 1)}


def result_rows(result: dict) -> list[bench_results.Row]:
    """The summary as benchmark rows: per type the live first-page p95 against the replay's clock for the same
    incidents, and the minute close -> PagerDuty p95 of every page."""
    out = []
    for kind, s in result["summary"].items():
        live, replay = s["mttd_s_p95"], s["replay_mttd_s_p95"]
        if live is None:
            continue
        out.append(bench_results.Row(
            f"{kind}: wall-clock MTTD p95 through the daemon ({s['paged']}/{s['injections']} paged)",
            "the replay's clock for the same incidents (p95)", replay, live,
            None if not replay else live / replay, f"ours_s <= {MTTD_GOAL_S:g}", s["met"], rows=s["injections"]))
    p95 = result["minute_close_to_page_p95_s"]
    if p95 is not None:
        out.append(bench_results.Row("minute close -> PagerDuty event p95 under the daemon", "", None, p95, None,
                                     f"ours_s <= {CLOSE_TO_PAGE_GOAL_S:g}", p95 <= CLOSE_TO_PAGE_GOAL_S,
                                     rows=result["pages"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-type", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=4.0, help="each session's live minutes (default 4)")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--summarize", action="store_true", help="only summarize the session reports already written")
    ap.add_argument("--types", default=",".join(TYPES), help=f"comma-separated, of {', '.join(TYPES)} (default all)")
    ap.add_argument("--keep-slow", action="store_true",
                    help="keep the home of a session whose first page came later than the goal (or never), to look")
    args = ap.parse_args(argv)
    kinds = [k for k in args.types.split(",") if k]
    if not kinds or set(kinds) - set(TYPES):
        ap.error(f"--types: choose from {', '.join(TYPES)}")
    home = Path(os.environ.get("AKIDB_HOME", ".akidb")).resolve()
    base = home / "bench" / "live"
    out = home / "bench" / "live.json"
    t0 = time.perf_counter()
    load = bench_results.load_avg()
    cycle_s, cycle_src = measured_cycle(home)
    rows: list[dict] = []
    if args.summarize:
        for report in sorted(base.glob("*-*.json")):
            rows += session_rows(report, cycle_s)
    else:
        shutil.rmtree(base, ignore_errors=True)
        template = base / "template"
        boot = bootstrap(template, args.days, 42, True, lambda m: print(m, flush=True))
        print(f"bootstrap once: {boot.seconds:.0f}s", flush=True)
        for i in range(args.per_type):
            for kind in kinds:
                run_home = base / f"{kind}-{i}"
                # the catalog's views name the template's files: each session builds its own
                shutil.copytree(template, run_home, ignore=shutil.ignore_patterns("akidb.duckdb*", "gen"))
                report = base / f"{kind}-{i}.json"
                env = {k: v for k, v in os.environ.items() if not k.startswith(("AKIDB_", "DAGSTER_", "PAGERDUTY_"))}
                env["AKIDB_HOME"] = str(home)
                proc = subprocess.run([sys.executable, "-m", "akidb_pipelines.cli", "live", "--home", str(run_home),
                                       "--no-ui", "--duration", str(args.minutes), "--inject", f"{kind}@+0",
                                       "--report", str(report)], env=env, capture_output=True, text=True)
                if proc.returncode != 0 or not report.exists():
                    shutil.rmtree(run_home, ignore_errors=True)
                    print(f"{kind} #{i}: akidb live failed ({proc.returncode}): {proc.stderr[-500:]}", flush=True)
                    continue
                got = session_rows(report, cycle_s)
                if args.keep_slow and any(r["mttd_s"] is None or r["mttd_s"] > MTTD_GOAL_S for r in got):
                    print(f"{kind} #{i}: slow, home kept in {run_home}", flush=True)
                else:
                    shutil.rmtree(run_home, ignore_errors=True)
                for r in got:
                    rows.append(r)
                    print(f"{kind} #{i}: onset {r['onset'][11:16]}, first page {r['mttd_s']} s ({r.get('urgency')}), "
                          f"right cause {r['mttd_right_cause_s']} s, replay clock {r['replay_mttd_s']} s, "
                          f"false pages {r['false_pages']}", flush=True)
    result = summarize(rows, args, cycle_s, cycle_src, time.perf_counter() - t0)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for kind, s in result["summary"].items():
        print(f"{kind}: paged {s['paged']}/{s['injections']}, first page p50 {s['mttd_s_p50']} s p95 "
              f"{s['mttd_s_p95']} s (goal {MTTD_GOAL_S:g}), right cause {s['right_cause']}/{s['injections']} p50 "
              f"{s['right_cause_s_p50']} s p95 {s['right_cause_s_p95']} s; replay clock p50 {s['replay_mttd_s_p50']} s")
    print(f"minute close -> PagerDuty over {result['pages']} pages: p50 {result['minute_close_to_page_p50_s']} s, "
          f"p95 {result['minute_close_to_page_p95_s']} s (goal {CLOSE_TO_PAGE_GOAL_S:g}); "
          f"false pages {result['false_pages']}")
    print(f"written to {out}")
    if not args.summarize:
        print(f"results: {bench_results.record('bench_live', result_rows(result), load)}")
    return 0 if result["summary"] and all(s["met"] for s in result["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
