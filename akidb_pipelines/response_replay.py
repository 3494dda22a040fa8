"""The response layer on a simulated clock: what the alert and runbook sensors' runs would do, tick by tick, over a
stretch of telemetry already in the lake. Used by the chaos replay and the demo. The lake is read once for the
whole stretch (``alerting.tick_reads.FrozenReads``); each tick sees only the minutes before its own time.

Events are (time, kind): ``respond`` runs the response tick (alerts -> incidents -> routing -> outbox), delivers the
outbox and writes the ledgers; ``runbooks`` runs the runbook lifecycle (apply, verify, restore) and delivers. The
outbox's clock is the simulated one, so its timestamps (sent, acknowledged) are simulated times. A simulated
on-call engineer acknowledges each page ``ack_after`` after it is enqueued; ``after_page`` says which events a page
adds (follow-up ticks, runbook evaluations).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import Inputs, RespondConfig, acknowledge, respond, write_incidents
from akidb_pipelines.alerting.tick_reads import FrozenReads
from akidb_pipelines.alerting.alert_sources import lookback_service_map
from akidb_pipelines.runbooks import lifecycle
from akidb_pipelines.storage import Lake

RESPOND, RUNBOOKS = "respond", "runbooks"
Event = tuple[datetime, str]
# ticks after an alert's first tick: every minute for a quarter of an hour (the alert sensor runs whenever new alert
# minutes land, and while an incident is fresh they land every minute), then holds, flaps, escalation, resolve
FOLLOW_UP_MINUTES = tuple(range(16)) + (30, 60)
RUNBOOK_WATCH_MINUTES = 90  # the runbook lifecycle runs every minute this long after a page (apply, verify, restore)


def runbook_ticks(paged_at: datetime, end: datetime) -> list[Event]:
    """The runbook sensor's evaluations after a page (``after_page``): every minute for
    :data:`RUNBOOK_WATCH_MINUTES`, up to ``end``."""
    return [(paged_at + timedelta(minutes=k), RUNBOOKS) for k in range(1, RUNBOOK_WATCH_MINUTES + 1)
            if paged_at + timedelta(minutes=k) <= end]


def live_ticks(alert_starts: Iterable[datetime], start: datetime, end: datetime,
               cycle_seconds: float) -> list[datetime]:
    """The response ticks of (start, end] a live deployment would run, without replaying every minute: one minute
    after each alert's onset (its minute must close) plus the pipeline's cycle, then :data:`FOLLOW_UP_MINUTES`
    after that, and every hour. A tick at a minute with no new alert data would decide what the previous one did,
    so these ticks give the pages, and the MTTD, that a tick every minute gives."""
    ticks: set[datetime] = set()
    t = start + timedelta(hours=1)
    while t < end:
        ticks.add(t)
        t += timedelta(hours=1)
    lag = timedelta(minutes=1, seconds=cycle_seconds)
    for a in alert_starts:
        ticks.update(a + lag + timedelta(minutes=k) for k in FOLLOW_UP_MINUTES)
    return sorted(x for x in ticks if start < x <= end)


class SimulatedClock:
    """A clock the outbox reads (epoch seconds), moved by the replay."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now


@dataclass
class ResponseReplay:
    outbox: Outbox
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the newest ledger row of each tick
    ticks: dict[str, int] = field(default_factory=lambda: {RESPOND: 0, RUNBOOKS: 0})


def fresh_outbox(path: str | Path, clock: Callable[[], float]) -> Outbox:
    """An empty outbox at ``path`` (an earlier replay's file and its WAL are removed)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Outbox(path, clock=clock)


def replay_response(lake: Lake, inputs: Inputs, start: datetime, events: Iterable[Event], outbox_path: str | Path,
                    send: Callable, *, ack_after: timedelta, ack_by: str,  # noqa: ANN001 - send(event) -> dedup key
                    after_page: Callable[[datetime], Iterable[Event]] = lambda now: (),
                    runbooks: list | None = None, actuator=None, audit=None,  # noqa: ANN001
                    ledger: bool = True) -> ResponseReplay:
    """Run ``events`` (and those pages add) in time order on a simulated clock starting at ``start``.

    ``send`` delivers each outbox event (the PagerDuty client's ``send``, or ``lambda ev: ev.dedup_key`` to only
    mark it sent); ``ledger`` writes the incident ledgers after every response tick (with ``audit`` joined in);
    ``runbooks`` events need ``runbooks``, ``actuator`` and ``audit``."""
    clock = SimulatedClock(start)
    out = ResponseReplay(fresh_outbox(outbox_path, clock))
    box = out.outbox
    queue = list(events)
    heapq.heapify(queue)
    ticks = [t for t, kind in queue if kind == RESPOND]  # pages add runbook evaluations only
    # the telemetry is in the lake already and stays as it is: read once, each tick seeing only what precedes it
    last = max(ticks, default=start)
    reads = FrozenReads(lake, list(inputs.cause_types), start, last, RespondConfig().lookback)
    smap = lookback_service_map(lake, start, last, RespondConfig().lookback)  # as the ticks would
    acks: dict[str, float] = {}
    done: set[Event] = set()
    while queue:
        now, kind = heapq.heappop(queue)
        if (now, kind) in done:
            continue
        done.add((now, kind))
        out.ticks[kind] += 1
        for inc, due in list(acks.items()):  # the on-call engineer acknowledges
            if due <= now.timestamp():
                clock.now = due
                acknowledge(box, inc, ack_by)
                del acks[inc]
        clock.now = now.timestamp()
        if kind == RESPOND:
            rep = respond(lake, now, inputs, box, smap, reads=reads)
            box.deliver(send)
            for row in rep.incidents:
                out.incidents.setdefault(row["id"], {}).update(row)
            for key in rep.enqueued:
                if key.endswith(":trigger"):
                    acks[key.split(":")[0]] = now.timestamp() + ack_after.total_seconds()
                    for ev in after_page(now):
                        heapq.heappush(queue, ev)
            if ledger:
                write_incidents(lake, rep, box, audit)
        elif kind == RUNBOOKS:
            lifecycle.tick(lake, runbooks, actuator, audit, box, now)
            box.deliver(send)
        else:
            raise ValueError(f"unknown response event {kind!r}")
    return out
