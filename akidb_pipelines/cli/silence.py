"""``akidb silence``: add, list, expire and delete ad-hoc silences."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

from akidb_pipelines.alerting.silences import (
    SilenceError, SilenceStore, SilenceStoreError, default_path, parse_matchers)
from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE, fail


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except SilenceStoreError as exc:  # a corrupt or unreadable silences.sqlite: left as it is, for a person
        return fail("silence", exc, EX_NOINPUT)


def _run(args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    if args.silence_command == "add":
        try:  # the arguments first: a refused silence does not create the store
            matchers = parse_matchers(args.matchers, allow_all=args.all)
            start = args.start or now
            try:
                end = start + timedelta(hours=args.duration)
            except OverflowError:
                raise SilenceError("--start plus --duration is outside the supported dates") from None
            sil = SilenceStore(default_path()).add(matchers, start, end, args.by, args.comment)
        except SilenceError as exc:
            return fail("silence", exc, EX_USAGE)
        print(f"silence {sil.describe()}")
        return EX_OK
    if args.silence_command in ("expire", "delete"):
        store = SilenceStore(default_path())
        done = store.expire(args.id, now) if args.silence_command == "expire" else store.delete(args.id)
        if not done:
            what = "active silence" if args.silence_command == "expire" else "silence"
            return fail("silence", f"no {what} {args.id!r} (`akidb silence list` shows them)", EX_NOINPUT)
        print(f"silence {args.id} {args.silence_command}d")
        return EX_OK
    for sil in SilenceStore(default_path()).all():
        state = ("invalid " if not sil.valid else "active  " if sil.start <= now < sil.end
                 else "expired " if sil.end <= now else "pending ")
        print(state + sil.describe())
    return EX_OK
