"""``akidb chaos``: replay chaos scenarios and score the detectors (exit 1 when a goal of the shipped detector is
missed)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from akidb_pipelines.chaos.replay import DETECTORS
from akidb_pipelines.chaos.report import publish_reports
from akidb_pipelines.chaos.run import measured_cycle, run_scenarios
from akidb_pipelines.chaos.scenario import ChaosError, shipped_scenarios
from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK, EX_USAGE, fail
from akidb_pipelines.config import Settings
from akidb_pipelines.storage import Lake
from akidb_pipelines.dashboards import publish, render
from akidb_pipelines.testing.aws_sandbox import SandboxUnavailable


def run(args: argparse.Namespace) -> int:
    paths = args.scenario or shipped_scenarios()
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        return fail("chaos", f"{missing[0]}: scenario file not found", EX_NOINPUT)
    unreadable = [p for p in paths if not os.access(p, os.R_OK)]
    if unreadable:
        return fail("chaos", f"{unreadable[0]}: scenario file not readable", EX_NOINPUT)
    for opt, path in (("--workdir", args.workdir), ("--json", args.json)):
        if path is not None and path.exists() and (path.is_dir() if opt == "--json" else not path.is_dir()):
            return fail("chaos", f"{opt}: {path} is {'a folder' if opt == '--json' else 'not a folder'}", EX_USAGE)
    detectors = tuple(d.strip() for d in args.detectors.split(",") if d.strip())
    if not detectors or set(detectors) - set(DETECTORS):
        return fail("chaos", f"--detectors: choose from {','.join(DETECTORS)}", EX_USAGE)
    settings = Settings.from_env()
    work = args.workdir or settings.home / "chaos"
    if args.cycle_seconds is None:
        cycle, source = measured_cycle(settings.home)
    else:
        cycle, source = args.cycle_seconds, "given (--cycle-seconds)"
    print(f"pipeline cycle {cycle:.1f} s: {source}", flush=True)
    try:
        done = run_scenarios(paths, work, detectors, cycle, source, say=lambda m: print(m, flush=True))
    except ChaosError as exc:
        return fail("chaos", exc, EX_USAGE)
    except SandboxUnavailable as exc:
        return fail("chaos", exc, EX_FAIL)
    reports = [r.to_dict() for r in done]
    ok = all(met for r in done for _, met, _ in r.goals())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2, default=str) + "\n")
        print(f"reports written to {args.json}")
    if not args.no_publish:
        lake = Lake.from_settings(settings)
        uri, stored = publish_reports(lake, reports)
        page = publish(lake, render("chaos", lake))
        print(f"lake: {uri} ({len(stored)} scenario report(s)); dashboard: {page.url}")
    return EX_OK if ok else EX_FAIL
