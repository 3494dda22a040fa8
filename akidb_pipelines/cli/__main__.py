"""``python -m akidb_pipelines.cli``: the same as ``akidb``."""

import sys

from akidb_pipelines.cli import main

sys.exit(main())
