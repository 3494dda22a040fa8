"""``akidb gameday``: a randomized game-day suite through the replay, strictly matched (exit 1 when a goal is
missed)."""

from __future__ import annotations

import argparse
import json
import sys

from akidb_pipelines.chaos.gameday_report import summary_table
from akidb_pipelines.chaos.gameday_run import run_gameday
from akidb_pipelines.chaos.run import measured_cycle
from akidb_pipelines.cli.args import EX_FAIL, EX_OK, EX_USAGE, fail
from akidb_pipelines.config import Settings
from akidb_pipelines.testing.aws_sandbox import SandboxUnavailable


def run(args: argparse.Namespace) -> int:
    if args.scenarios < 1:
        print(f"akidb gameday: --scenarios: must be at least 1, got {args.scenarios}", file=sys.stderr)
        return EX_USAGE
    bad = [k for k in args.only or () if not 0 <= k < args.scenarios]
    if bad:
        print(f"akidb gameday: --only: a scenario number from 0 to {args.scenarios - 1}, got {bad[0]}", file=sys.stderr)
        return EX_USAGE
    for opt, path in (("--workdir", args.workdir), ("--json", args.json)):
        if path is not None and path.exists() and (path.is_dir() if opt == "--json" else not path.is_dir()):
            return fail("gameday", f"{opt}: {path} is {'a folder' if opt == '--json' else 'not a folder'}", EX_USAGE)
    settings = Settings.from_env()
    if args.cycle_seconds is None:
        cycle, source = measured_cycle(settings.home)
    else:
        cycle, source = args.cycle_seconds, "given (--cycle-seconds)"
    work = args.workdir or settings.home / "gameday" / f"seed-{args.seed}"
    try:
        report = run_gameday(args.scenarios, args.seed, work, cycle, source, lambda m: print(m, flush=True),
                             keep=args.keep, only=args.only)
    except SandboxUnavailable as exc:
        print(f"akidb gameday: {exc}", file=sys.stderr)
        return EX_FAIL
    print(f"seed {args.seed} ({report['split']} split)")
    print(summary_table(report["summary"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"report written to {args.json}")
    return EX_OK if all(g["met"] for g in report["summary"]["goals"]) else EX_FAIL
