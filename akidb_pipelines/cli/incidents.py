"""``akidb incidents``: list the incident ledger, or acknowledge a paged incident (``--ack``)."""

from __future__ import annotations

import argparse
import json

from akidb_pipelines.alerting.ledger import LedgerError, incident_records, read_ledger
from akidb_pipelines.alerting.outbox import Outbox, OutboxError
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT, acknowledge
from akidb_pipelines.cli.args import EX_FAIL, EX_NOINPUT, EX_OK, EX_USAGE, fail, one_line
from akidb_pipelines.clients.pagerduty import Event, EventsClient, PagerDutyConfigError
from akidb_pipelines.config import Settings
from akidb_pipelines.storage import Lake


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.ack:
        try:
            return _ack(settings, args.ack, args.by)
        except OutboxError as exc:
            return fail("incidents", exc, EX_NOINPUT)
    lake = Lake.from_settings(settings)
    data = lake.read_bytes(INCIDENTS_OBJECT)
    if data is None:
        return fail("incidents", f"no incident ledger yet ({lake.root}/{INCIDENTS_OBJECT}); the response tick "
                                 "(job 'respond', or make demo) writes it", EX_NOINPUT)
    try:
        df = read_ledger(data, f"{lake.root}/{INCIDENTS_OBJECT}")
        if not args.all and len(df):
            df = df[df["decision"] == "page"]
        records = incident_records(df) if len(df) else []
    except LedgerError as exc:
        return fail("incidents", exc, EX_NOINPUT)
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
    """Acknowledge ``incident`` and say what really happened: delivered to PagerDuty, waiting (behind its trigger,
    or without a routing key), or impossible because the trigger never reached PagerDuty."""
    try:  # before anything is queued: a rerun with a fixed setting must still deliver
        client = EventsClient.from_env()
    except PagerDutyConfigError as exc:
        return fail("incidents", f"{exc}; nothing was queued", EX_USAGE)
    outbox = Outbox(settings.home / "pagerduty-outbox.sqlite")
    trigger = outbox.row(f"{incident}:trigger")
    if trigger is None:
        return fail("incidents", f"{incident!r} was never paged (nothing to acknowledge)", EX_NOINPUT)
    key = f"{incident}:acknowledge"
    if trigger["status"] == "dead":
        # PagerDuty has no such incident: record the acknowledgement (the MTTA, no escalation) as a dead letter
        reason = f"not sent: the trigger was dead-lettered ({trigger['last_error']})"
        if not outbox.dead_letter(Event("acknowledge", incident, custom_details={"by": by} if by else None), key,
                                  reason):
            outbox.give_up(key, reason)  # one queued before the trigger died
        return fail("incidents", f"{incident}: its trigger never reached PagerDuty (dead-lettered: "
                                 f"{one_line(trigger['last_error'], 200)}), so there is nothing to acknowledge there; "
                                 "the acknowledgement is recorded here (no escalation) and dead-lettered too", EX_FAIL)
    ack = outbox.row(key)
    if ack is not None and ack["status"] == "sent":
        print(f"{incident} was already acknowledged")
        return EX_OK
    if ack is not None and ack["status"] == "dead":
        return fail("incidents", f"{incident}: the acknowledgement was dead-lettered "
                                 f"({one_line(ack['last_error'], 200)})", EX_FAIL)
    if ack is None:
        acknowledge(outbox, incident, by)
    if client is None:
        print(f"{incident} acknowledgement queued; the event waits in the outbox (no PAGERDUTY_ROUTING_KEY)")
        return EX_OK
    outbox.deliver(client.send)
    ack, trigger = outbox.row(key), outbox.row(f"{incident}:trigger")
    if ack["status"] == "sent":
        print(f"{incident} acknowledged in PagerDuty")
        return EX_OK
    if ack["status"] == "dead":
        return fail("incidents", f"{incident}: PagerDuty refused the acknowledgement "
                                 f"({one_line(ack['last_error'], 200)}); dead-lettered", EX_FAIL)
    behind = trigger["status"] == "pending"
    why = trigger["last_error"] if behind else ack["last_error"]
    print(f"{incident} acknowledgement queued, not delivered yet: "
          + (f"it waits behind its trigger, which has not reached PagerDuty ({trigger['attempts']} attempt(s), last: "
             if behind else f"{ack['attempts']} attempt(s), last: ")
          + f"{one_line(why, 200)}); the next response tick or `akidb incidents --ack {incident}` "
            "retries it")
    return EX_OK
