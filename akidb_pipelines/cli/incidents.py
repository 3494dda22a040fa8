"""``akidb incidents``: list the incident ledger, or acknowledge a paged incident (``--ack``)."""

from __future__ import annotations

import argparse
import io
import json
import sys

import pandas as pd

from akidb_pipelines.alerting.ledger import incident_records
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT, acknowledge
from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK
from akidb_pipelines.clients.pagerduty import EventsClient
from akidb_pipelines.config import Settings
from akidb_pipelines.storage import Lake


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    lake = Lake.from_settings(settings)
    if args.ack:
        return _ack(settings, args.ack, args.by)
    data = lake.read_bytes(INCIDENTS_OBJECT)
    if data is None:
        print(f"akidb incidents: no incident ledger yet ({lake.root}/{INCIDENTS_OBJECT}); the response tick "
              "(job 'respond', or make demo) writes it", file=sys.stderr)
        return EX_NOINPUT
    df = pd.read_parquet(io.BytesIO(data))
    if not args.all and len(df):
        df = df[df["decision"] == "page"]
    records = incident_records(df) if len(df) else []
    if args.json:
        print(json.dumps(records, indent=2))
        return EX_OK
    if not records:
        print("no incidents" + ("" if args.all else " paged (--all shows tickets and held ones)"))
        return EX_OK
    print(f"{'id':18s} {'sev':3s} {'root cause':44s} {'first alert':17s} {'first page':17s} {'resolved':17s} pages related")
    for r in records:
        fmt = lambda v: v[:16].replace("T", " ") if v else "-"  # noqa: E731
        root = f"{r['root_cause']['component']}: {r['root_cause']['type']}"
        print(f"{r['id']:18s} {r['severity']:3s} {root[:44]:44s} {fmt(r['first_alert']):17s} "
              f"{fmt(r['first_page']):17s} {fmt(r['resolved']):17s} {r['pages_sent']:5d} {len(r['related_alerts'])}")
    return EX_OK


def _ack(settings, incident: str, by: str) -> int:  # noqa: ANN001
    outbox = Outbox(settings.home / "pagerduty-outbox.sqlite")
    if f"{incident}:trigger" not in outbox.keys():
        print(f"akidb incidents: {incident} was never paged (nothing to acknowledge)", file=sys.stderr)
        return EX_NOINPUT
    if not acknowledge(outbox, incident, by):
        print(f"{incident} was already acknowledged")
        return EX_OK
    client = EventsClient.from_env()
    if client is not None:
        rep = outbox.deliver(client.send)
        print(f"{incident} acknowledged ({rep.sent} event(s) delivered, {rep.retrying} waiting to retry)")
    else:
        print(f"{incident} acknowledged; the event waits in the outbox (no PAGERDUTY_ROUTING_KEY)")
    return EX_OK
