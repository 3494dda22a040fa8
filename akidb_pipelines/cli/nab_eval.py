"""``akidb nab-eval``: the anomaly detector online on NAB-format data, scored like NAB."""

from __future__ import annotations

import argparse
import json
import warnings

from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK, EX_USAGE, fail, one_line
from akidb_pipelines.forecast.detector import load_detector_config
from akidb_pipelines.forecast.nab_eval import NabInputError, evaluate, report_text


def run(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        return fail("nab-eval", f"{args.data}: no such folder", EX_NOINPUT)
    if args.config is not None and not args.config.is_file():
        return fail("nab-eval", f"{args.config}: detector config not found", EX_NOINPUT)
    try:
        labels = json.loads(args.labels.read_text())
    except OSError as e:
        return fail("nab-eval", f"{args.labels}: cannot read labels: {e.strerror or e}", EX_NOINPUT)
    except ValueError as e:
        return fail("nab-eval", f"{args.labels}: not valid JSON: {one_line(e)}", EX_NOINPUT)
    if not isinstance(labels, dict):
        return fail("nab-eval", f"{args.labels}: expected a mapping of file -> windows", EX_NOINPUT)
    try:
        config = load_detector_config(args.config)
    except ValueError as e:
        return fail("nab-eval", one_line(e), EX_USAGE)
    if args.out.exists() and not args.out.is_dir():
        return fail("nab-eval", f"--out: {args.out} is not a folder", EX_USAGE)
    try:
        with warnings.catch_warnings():  # pandas' note before an unparsable timestamp: the one-line error says it
            warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
            report = evaluate(args.data, args.labels, args.out, config,
                              progress=None if args.quiet else (lambda m: print(f"  {m}", flush=True)))
    except NabInputError as e:
        return fail("nab-eval", one_line(e), EX_NOINPUT)
    except (ValueError, RuntimeError) as e:
        return fail("nab-eval", one_line(e), EX_FAIL)
    text = report_text(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    print(text, end="")
    return EX_OK
