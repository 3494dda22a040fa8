"""``akidb ingest``: raw files of one kind into the lake, bad records quarantined."""

from __future__ import annotations

import argparse
import json
import sys

from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.config import Settings
from akidb_pipelines.ingest import ingest_files, write_manifest
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.storage.sqltext import InvalidBatchName, check_batch_name
from akidb_pipelines.telemetry.lines import SourceFileError


def _fail(message: str, code: int) -> int:
    print(f"akidb ingest: {' '.join(str(message).split())}", file=sys.stderr)  # one line, whatever the message
    return code


def run(args: argparse.Namespace) -> int:
    try:
        key = PartitionKey.parse(args.partition) if args.partition else None
    except ValueError as e:
        return _fail(f"--partition: {e}", EX_USAGE)
    if args.batch is not None:
        try:
            check_batch_name(args.batch)
        except InvalidBatchName as e:
            return _fail(f"--batch: {e}", EX_USAGE)
    try:
        settings = Settings.from_env()
        lake = Lake.from_settings(settings)
    except ValueError as e:  # a setting (AKIDB_HOME, AKIDB_LAKE_ROOT, ...) the lake cannot use
        return _fail(e, EX_USAGE)
    try:
        # Files given by hand are one batch: its whole earlier output is replaced, whatever partition it was in.
        report = ingest_files(args.kind, [str(f) for f in args.files], lake, batch=args.batch, partition_of=key,
                              catalog=Catalog.from_settings(settings), replace_all=True)
        write_manifest(settings.home, report)
    except SourceFileError as e:
        return _fail(e, EX_NOINPUT)
    except (ValueError, OSError) as e:
        return _fail(e, EX_FAIL if isinstance(e, OSError) else EX_USAGE)
    except Exception as e:  # noqa: BLE001 - no traceback reaches the user; the one line says what failed
        return _fail(f"ingest failed: {type(e).__name__}: {e}", EX_FAIL)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return EX_OK
    print(f"{args.kind}: {report.records_read} records read from {len(args.files)} file(s)")
    print(f"  stored       {report.records_stored:>10} records ({report.rows_stored} rows) in {report.table}")
    print(f"  quarantined  {report.records_quarantined:>10}")
    for reason, n in report.quarantine_by_reason.items():
        print(f"    {reason:26s} {n}")
    print(f"  duplicates   {report.duplicates_dropped:>10} dropped")
    print(f"  partitions   {len(report.partitions):>10}    lake: {settings.lake_root}   ({report.seconds:.1f}s)")
    return EX_OK
