"""The live run's report: per injection, when PagerDuty heard of it and with which cause; per detection run, how
long after its minute closed it ended; the goals of the live mode checked against both.

Inputs are plain data: the injections, the events the PagerDuty stand-in received with their arrival times, the
minutes the feed wrote with the times it wrote them, and the detection runs (read from the Dagster instance by the
command line, the one place that imports Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from akidb_pipelines.chaos.scenario import EXPECTED_CAUSE
from akidb_pipelines.live.injections import Injection

MTTD_GOAL_S = 120.0          # onset -> first page, p95, per incident type
CLOSE_TO_PAGE_GOAL_S = 30.0  # minute close -> PagerDuty event, p95
ATTRIBUTION = timedelta(minutes=15)  # a page this long after an injection's end is not about it


@dataclass(frozen=True)
class Received:
    at: datetime
    event: dict[str, Any]

    @property
    def incident(self) -> str:
        dk = self.event.get("dedup_key") or ""
        for suffix in ("-held", "-escalation"):
            dk = dk.removesuffix(suffix)
        return dk

    @property
    def cause(self) -> str:
        return ((self.event.get("payload") or {}).get("class")) or "unclassified"

    @property
    def root(self) -> str:
        return ((self.event.get("payload") or {}).get("component")) or ""


@dataclass(frozen=True)
class DetectRun:
    run_id: str
    status: str
    created: datetime
    started: datetime | None
    ended: datetime | None
    partition: str
    late: bool = False    # ingest, models and scores of an older hour whose files changed late (no response tick)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds") if t else None


def minute_of(run: DetectRun, written: list[tuple[datetime, datetime]]) -> datetime | None:
    """The newest minute the feed had written when ``run`` was created (what it detects on)."""
    done = [m for m, at in written if at <= run.created]
    return max(done) if done else None


def run_at(runs: list[DetectRun], t: datetime) -> DetectRun | None:
    """The detection run that was going at ``t`` (the one that sent an event received then)."""
    return next((r for r in runs if r.started and r.ended and r.started <= t <= r.ended + timedelta(seconds=2)), None)


def triggers(received: list[Received]) -> list[Received]:
    return [r for r in received if r.event.get("event_action") == "trigger"
            and not (r.event.get("dedup_key") or "").startswith("pipeline:")]


def per_injection(injections: list[Injection], received: list[Received], runs: list[DetectRun]
                  ) -> tuple[list[dict], set[str]]:
    """One row per injection and the incident ids they claimed (the other pages are false or background)."""
    pages = triggers(received)
    claimed: set[str] = set()
    rows = []
    for inj in sorted(injections, key=lambda i: i.onset):
        end = inj.onset + timedelta(minutes=inj.duration_minutes) + ATTRIBUTION
        first = next((r for r in pages if inj.onset <= r.at < end and r.incident not in claimed), None)
        row: dict[str, Any] = {"id": inj.id, "type": inj.type, "onset": _iso(inj.onset),
                               "duration_minutes": inj.duration_minutes, "magnitude": inj.magnitude,
                               "edge_locations": list(inj.edge_locations), "first_page": None, "mttd_s": None,
                               "expected_cause": EXPECTED_CAUSE.get(inj.type), "cause": None, "cause_right": False, "mttd_right_cause_s": None, "incident": None,
                               "run_ids": []}
        if first is not None:
            claimed.add(first.incident)
            mine = [r for r in pages if r.incident == first.incident]
            want = EXPECTED_CAUSE.get(inj.type)
            right = next((r for r in mine if r.cause == want and r.root in inj.components), None)
            row.update(first_page=_iso(first.at), mttd_s=round((first.at - inj.onset).total_seconds(), 1),
                       incident=first.incident, cause=mine[-1].cause, root=mine[-1].root,
                       cause_right=mine[-1].cause == want and mine[-1].root in inj.components,
                       summary=(first.event.get("payload") or {}).get("summary"), urgency=(
                           "low (held notice)" if (first.event.get("dedup_key") or "").endswith("-held") else "page"),
                       mttd_right_cause_s=round((right.at - inj.onset).total_seconds(), 1) if right else None)
            sender = run_at(runs, first.at)
            row["run_ids"] = [sender.run_id] if sender else []
        rows.append(row)
    return rows, claimed


def build_report(injections: list[Injection], received: list[Received], runs: list[DetectRun],
                 written: list[tuple[datetime, datetime]], started: datetime, first_live: datetime | None,
                 bootstrap_s: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rows, claimed = per_injection(injections, received, runs)
    by_type: dict[str, list[float]] = {}
    for r in rows:
        by_type.setdefault(r["type"], []).append(r["mttd_s"] if r["mttd_s"] is not None else float("inf"))
    cycles = []
    for run in runs:
        m = minute_of(run, written)
        cycles.append({"run_id": run.run_id, "status": run.status, "partition": run.partition,
                       "minute": _iso(m), "late_hour": run.late, "created": _iso(run.created),
                       "started": _iso(run.started),
                       "ended": _iso(run.ended),
                       "run_seconds": round((run.ended - run.started).total_seconds(), 2)
                       if run.started and run.ended else None,
                       "minute_close_to_end_s": round((run.ended - m - timedelta(minutes=1)).total_seconds(), 1)
                       if m and run.ended else None})
    close_to_end = [c["minute_close_to_end_s"] for c in cycles if c["minute_close_to_end_s"] is not None]
    close_to_page = []
    for p in triggers(received):
        run = run_at(runs, p.at)
        m = minute_of(run, written) if run else None
        base = (m + timedelta(minutes=1)) if m else p.at.replace(second=0, microsecond=0)
        close_to_page.append(round((p.at - base).total_seconds(), 1))
    minutes_written = sorted({m for m, _ in written})
    runs_by_minute: dict[str, int] = {}
    for c in cycles:  # the detection cadence: runs of the newest hour (a late hour's catch-up is counted apart)
        if c["created"] and not c["late_hour"]:
            k = c["created"][:16]
            runs_by_minute[k] = runs_by_minute.get(k, 0) + 1
    mttd = {t: {"n": len(v), "p50_s": pct(v, 0.5), "p95_s": pct(v, 0.95),
                "met": bool(v) and (pct(v, 0.95) or float("inf")) <= MTTD_GOAL_S} for t, v in by_type.items()}
    c2p = pct(close_to_page, 0.95)
    return {
        "started": _iso(started), "first_live_minute_processed": _iso(first_live),
        "bootstrap_s": round(bootstrap_s, 1),
        "start_to_first_live_minute_s": round((first_live - started).total_seconds(), 1) if first_live else None,
        "injections": rows,
        "false_pages": [{"at": _iso(p.at), "incident": p.incident, "summary": (p.event.get("payload") or {}).get(
            "summary")} for p in triggers(received) if p.incident not in claimed],
        "mttd_by_type": mttd,
        "minute_close_to_page_s": {"n": len(close_to_page), "values": close_to_page,
                                   "p50": pct(close_to_page, 0.5), "p95": c2p,
                                   "goal": CLOSE_TO_PAGE_GOAL_S, "met": c2p is not None and c2p <= CLOSE_TO_PAGE_GOAL_S},
        "detect_runs": {"launched": len(cycles), "succeeded": sum(c["status"] == "SUCCESS" for c in cycles),
                        "minutes_written": len(minutes_written),
                        "minutes_with_more_than_one_run": sum(n > 1 for n in runs_by_minute.values()),
                        "late_hour_runs": sum(c["late_hour"] for c in cycles),
                        "minute_close_to_run_end_s": {"p50": pct(close_to_end, 0.5), "p95": pct(close_to_end, 0.95)},
                        "run_seconds": {"p50": pct([c["run_seconds"] for c in cycles if c["run_seconds"]], 0.5),
                                        "p95": pct([c["run_seconds"] for c in cycles if c["run_seconds"]], 0.95)}},
        "cycles": cycles,
        **(extra or {}),
    }
