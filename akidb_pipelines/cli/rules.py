"""``akidb rules``: Prometheus recording and alerting rules for the SLOs."""

from __future__ import annotations

import argparse
import sys

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.slo.promrules import render_rules
from akidb_pipelines.slo.spec import SpecError, load_specs


def run(args: argparse.Namespace) -> int:
    if args.specs is not None and not args.specs.is_dir():
        print(f"akidb rules: {args.specs}: no such folder", file=sys.stderr)
        return EX_NOINPUT
    try:
        slos, table = load_specs(args.specs)
    except SpecError as e:
        print(f"akidb rules: {e}", file=sys.stderr)
        return EX_USAGE
    text = render_rules(slos, table)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return EX_OK
