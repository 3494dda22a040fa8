"""``akidb``: one command line for the pipeline's stages, so a stage can run on files without the UI.

One module per command (``generate``, ``ingest``, ``rules``, ``nab_eval``, ``chaos``, ``incidents``, ``silence``,
``demo``), each with a ``run(args)``; ``parser`` holds every command's arguments. Only the chosen command's module is
imported, so ``akidb ingest`` does not pay for Dagster, which only the demo needs. With the composition root
(``akidb_pipelines/definitions.py``) this package is the core's Dagster-facing edge.

Exit codes (``args``): 0 success (bad records are quarantined, not errors), 1 a stage failed, 2 bad arguments,
66 an input file is missing or unreadable (sysexits EX_NOINPUT).
"""

from __future__ import annotations

import importlib
import sys

from akidb_pipelines.cli.args import EX_FAIL
from akidb_pipelines.cli.parser import build_parser

COMMANDS = {"generate": "generate", "ingest": "ingest", "rules": "rules", "nab-eval": "nab_eval",
            "incidents": "incidents", "silence": "silence", "chaos": "chaos", "demo": "demo"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return importlib.import_module(f"{__name__}.{COMMANDS[args.command]}").run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EX_FAIL

