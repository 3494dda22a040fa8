"""``akidb``: one command line for the pipeline's stages, so a stage can run on files without the UI.

One module per command (``generate``, ``ingest``, ``rules``, ``nab_eval``, ``chaos``, ``incidents``, ``silence``,
``demo``, ``config_check``), each with a ``run(args)``; ``parser`` holds every command's arguments. Only the chosen
command's module is imported, so ``akidb ingest`` does not pay for Dagster, which only the demo needs. With the
composition root (``akidb_pipelines/definitions.py``) this package is the core's Dagster-facing edge.

Exit codes (``args``): 0 success (bad records are quarantined, not errors), 1 a stage failed, 2 bad arguments (a
setting or a configuration file that cannot be used too: ``main`` prints its ConfigError in one line), 66 an input
file is missing or unreadable (sysexits EX_NOINPUT).
"""

from __future__ import annotations

import importlib
import sys

from akidb_pipelines.cli.args import EX_FAIL, EX_USAGE
from akidb_pipelines.cli.parser import build_parser
from akidb_pipelines.config.loader import ConfigError

COMMANDS = {"generate": "generate", "ingest": "ingest", "rules": "rules", "nab-eval": "nab_eval",
            "incidents": "incidents", "silence": "silence", "chaos": "chaos", "demo": "demo",
            "config": "config_check", "gameday": "gameday", "live": "live", "inject": "live"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return importlib.import_module(f"{__name__}.{COMMANDS[args.command]}").run(args)
    except ConfigError as e:  # a setting or a configuration file that cannot be used: one line, no traceback
        print(f"akidb {args.command}: {' '.join(str(e).split())}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EX_FAIL

