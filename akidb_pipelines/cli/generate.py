"""``akidb generate``: seeded synthetic telemetry into a landing zone."""

from __future__ import annotations

import argparse

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE, default_start, fail
from akidb_pipelines.config import Settings
from akidb_pipelines.synthetic import ScenarioError, generate
from akidb_pipelines.synthetic.minute_model import build_model
from akidb_pipelines.synthetic.prom_writer import export_openmetrics
from akidb_pipelines.synthetic.scenario import load_scenario


def run(args: argparse.Namespace) -> int:
    if args.scenario is not None and not args.scenario.is_file():
        return fail("generate", f"{args.scenario}: scenario file not found", EX_NOINPUT)
    out = args.out or Settings.from_env().home
    for opt, path, folder in (("--out", out, True), ("--openmetrics", args.openmetrics, False)):
        if path is not None and path.exists() and path.is_dir() != folder:
            return fail("generate", f"{opt}: {path} is {'not a folder' if folder else 'a folder'}", EX_USAGE)
    start = args.start or default_start(args.days)
    try:
        res = generate(out, start, args.days, args.seed, args.scenario, args.traces_per_minute, args.gzip,
                       progress=lambda m: print(f"  {m}", flush=True), corrupt_fraction=args.corrupt_fraction)
        if args.openmetrics:
            sc = load_scenario(args.scenario, res.start)
            n = export_openmetrics(build_model(res.start, args.days, args.seed, sc), args.seed, args.openmetrics)
            print(f"openmetrics: {n} samples -> {args.openmetrics}")
    except ScenarioError as e:
        return fail("generate", e, EX_USAGE)
    print(f"generated {res.start:%Y-%m-%d %H:%M} .. {res.end:%Y-%m-%d %H:%M} UTC into {res.out_dir}")
    for kind, n in res.records.items():
        print(f"  {kind:5s} {n:>10,} records in {len(res.files[kind])} files")
    print(f"  ground truth: {res.ground_truth}")
    return EX_OK
