"""``akidb nab-eval``: the anomaly detector online on NAB-format data, scored like NAB."""

from __future__ import annotations

import argparse
import json
import sys

from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.nab_eval import NabInputError, evaluate, report_text


def run(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        print(f"akidb nab-eval: {args.data}: no such folder", file=sys.stderr)
        return EX_NOINPUT
    if args.config is not None and not args.config.is_file():
        print(f"akidb nab-eval: {args.config}: detector config not found", file=sys.stderr)
        return EX_NOINPUT
    try:
        labels = json.loads(args.labels.read_text())
    except OSError as e:
        print(f"akidb nab-eval: {args.labels}: cannot read labels: {e.strerror or e}", file=sys.stderr)
        return EX_NOINPUT
    except ValueError as e:
        print(f"akidb nab-eval: {args.labels}: not valid JSON: {e}", file=sys.stderr)
        return EX_NOINPUT
    if not isinstance(labels, dict):
        print(f"akidb nab-eval: {args.labels}: expected a mapping of file -> windows", file=sys.stderr)
        return EX_NOINPUT
    try:
        config = load_detector_config(args.config)
    except ValueError as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_USAGE
    try:
        report = evaluate(args.data, args.labels, args.out, config,
                          progress=None if args.quiet else (lambda m: print(f"  {m}", flush=True)))
    except NabInputError as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_NOINPUT
    except (ValueError, RuntimeError) as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_FAIL
    text = report_text(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    print(text, end="")
    return EX_OK
