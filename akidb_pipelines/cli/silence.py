"""``akidb silence``: add, list and expire ad-hoc silences."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone

from akidb_pipelines.alerting.silences import SilenceError, SilenceStore, default_path, parse_matchers
from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE


def run(args: argparse.Namespace) -> int:
    store = SilenceStore(default_path())
    now = datetime.now(timezone.utc)
    if args.silence_command == "add":
        try:
            start = args.start or now
            sil = store.add(parse_matchers(args.matchers), start, start + timedelta(hours=args.duration), args.by,
                            args.comment)
        except SilenceError as exc:
            print(f"akidb silence: {exc}", file=sys.stderr)
            return EX_USAGE
        print(f"silence {sil.describe()}")
        return EX_OK
    if args.silence_command == "expire":
        if not store.expire(args.id, now):
            print(f"akidb silence: no active silence {args.id}", file=sys.stderr)
            return EX_NOINPUT
        print(f"silence {args.id} expired")
        return EX_OK
    for sil in store.all():
        print(("active  " if sil.start <= now < sil.end else "expired " if sil.end <= now else "pending ")
              + sil.describe())
    return EX_OK
