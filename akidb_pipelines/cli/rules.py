"""``akidb rules``: Prometheus recording and alerting rules for the SLOs."""

from __future__ import annotations

import argparse
import sys

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE, fail
from akidb_pipelines.slo.promrules import render_rules
from akidb_pipelines.slo.spec import SpecError, load_specs


def run(args: argparse.Namespace) -> int:
    if args.specs is not None and not args.specs.is_dir():
        return fail("rules", f"{args.specs}: no such folder", EX_NOINPUT)
    try:
        slos, table = load_specs(args.specs)
    except SpecError as e:
        return fail("rules", e, EX_USAGE)
    text = render_rules(slos, table)
    if args.out:
        try:
            args.out.write_text(text)
        except OSError as e:
            return fail("rules", f"--out: cannot write {args.out} ({e.strerror or e})", EX_USAGE)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return EX_OK
