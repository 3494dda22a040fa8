"""``akidb config check``: load every configuration in use and list what is wrong (like ``promtool check config``).

One ``ok <what> <file>`` line per configuration that loads (standard output), one ``error <what>: <problem>``
line per configuration that does not (standard error, the problem naming the file and the field). Exit 0 when
everything loads, 2 otherwise. Dagster is not imported.
"""

from __future__ import annotations

import argparse
import sys

from akidb_pipelines.cli.args import EX_OK, EX_USAGE


def run(args: argparse.Namespace) -> int:
    from akidb_pipelines.config.check import check_all

    results = check_all()
    for r in results:
        if r.problem is None:
            print(f"ok {r.what} {r.file}" + (f" ({r.note})" if r.note else ""))
        else:
            print(f"error {r.what}: {r.problem}", file=sys.stderr)
    return EX_USAGE if any(r.problem for r in results) else EX_OK
