"""``akidb ingest``: raw files of one kind into the lake, bad records quarantined."""

from __future__ import annotations

import argparse
import json
import sys

from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.config import Settings
from akidb_pipelines.ingest import ingest_files, write_manifest
from akidb_pipelines.storage import Catalog, Lake, PartitionKey
from akidb_pipelines.telemetry.lines import SourceFileError


def run(args: argparse.Namespace) -> int:
    try:
        key = PartitionKey.parse(args.partition) if args.partition else None
    except ValueError as e:
        print(f"akidb ingest: --partition: {e}", file=sys.stderr)
        return EX_USAGE
    settings = Settings.from_env()
    try:
        report = ingest_files(args.kind, [str(f) for f in args.files], Lake.from_settings(settings), batch=args.batch,
                              partition_of=key, catalog=Catalog.from_settings(settings))
    except SourceFileError as e:
        print(f"akidb ingest: {e}", file=sys.stderr)
        return EX_NOINPUT
    write_manifest(settings.home, report)
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
