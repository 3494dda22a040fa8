"""A game-day suite's results: per scenario (injected incidents, pages, strict matches, tickets) and for the suite
(recall, MTTD p50/p90, cause accuracy, false pages per clean week, pages and tickets per week), each figure with a
90% bootstrap interval over scenarios, and the goals of issue 14 met or missed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
import json
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from akidb_pipelines.alerting.digest import tickets_opened
from akidb_pipelines.chaos.matching import Injected, Page, bootstrap_interval, match, percentile

GOALS = {"recall": 0.95, "mttd_p90_s": 180.0, "cause_accuracy": 0.90, "false_pages_quiet": 0,
         "pages_tickets_per_week": 10.0}


@dataclass
class ScenarioResult:
    name: str
    kind: str
    weeks: float
    injected: list[dict[str, Any]]
    pages: list[dict[str, Any]]
    tickets: int
    matched: dict[str, float] = field(default_factory=dict)    # injected id -> MTTD seconds (strict match)
    time_only: list[str] = field(default_factory=list)         # injected ids paged in time with a wrong root/cause
    false_pages: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ts(v: object) -> datetime | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime()


def scenario_result(name: str, kind: str, weeks: float, injected: Sequence[Injected],
                    ledger: pd.DataFrame | None, sent: Sequence[Page] | None = None) -> ScenarioResult:
    """Strictly match the pages of one replay to what was injected: ``sent``, the pages as they were sent (root
    component and cause as the trigger named them: ``sent_pages``), else the incident ledger's paged rows (root
    and cause as the last tick saw them); tickets from the ledger."""
    rows = ledger if ledger is not None else pd.DataFrame(columns=["id", "decision", "first_page"])
    if sent is not None:
        pages = list(sent)
    else:
        paged = rows[(rows["decision"] == "page") & rows["first_page"].notna()] if len(rows) else rows
        pages = [Page(str(r["id"]), _ts(r["first_page"]), str(r.get("root_component")), r.get("cause"))
                 for _, r in paged.iterrows()]
    m = match(pages, injected)
    by_id = {i.id: i for i in injected}
    first: dict[str, Page] = {}  # one page per incident: its first trigger (updates are not pages)
    for p in sorted(pages, key=lambda p: p.sent):
        first.setdefault(p.incident, p)
    return ScenarioResult(
        name, kind, weeks,
        [{"id": i.id, "type": i.type, "onset": i.onset.isoformat(), "end": i.end.isoformat(),
          "components": list(i.components)} for i in injected],
        [{"incident": p.incident, "sent": p.sent.isoformat(), "root": p.root_component, "cause": p.cause}
         for p in first.values()],
        sum(tickets_opened(rows).values()) if len(rows) else 0,  # incident tickets and daily digests
        {k: (p.sent - by_id[k].onset).total_seconds() for k, p in m.matched.items()},
        sorted(m.time_only), len({p.incident for p in m.false_pages}))


def sent_pages(outbox_rows: list[dict]) -> list[tuple[datetime, Page]]:
    """(first alert, page) of every trigger an outbox delivered (``Outbox.rows()``), the page's updates included
    (``<id>:update:...``) and escalations aside: the root component and the cause are those each trigger named
    when sent (the person paged read this; an update that names the cause later counts from its own time). The
    low-urgency notice of a P1 held to business hours (``<id>:held``, ``alerting/events.py``) counts from its own
    time too: PagerDuty has the incident, its root and its cause then; the phone rings at the opening."""
    out = []
    for r in outbox_rows:
        key = r["idempotency_key"]  # the page, its updates, its held notice; escalations aside
        if r["status"] != "sent" or not (key.endswith((":trigger", ":held")) or ":update:" in key):
            continue
        details = json.loads(r["event"]).get("custom_details") or {}
        root = details.get("root_cause") or {}
        out.append((datetime.fromisoformat(details["first_alert"]),
                    Page(r["dedup_key"].removesuffix("-held"), datetime.fromtimestamp(r["sent_at"], tz=timezone.utc),
                         str(root.get("component")), root.get("type"))))
    return out


def _ratio(num: Sequence[float], den: Sequence[float]):  # noqa: ANN202 - a statistic over pooled pairs
    return sum(num) / sum(den) if sum(den) else None


def summarize(results: Sequence[ScenarioResult], seed: int = 0) -> dict[str, Any]:
    """The suite's figures with 90% intervals (scenarios resampled whole), and the goals."""
    inc = [r for r in results if r.injected]
    quiet = [r for r in results if not r.injected]
    n_inj = sum(len(r.injected) for r in inc)
    hits = [[1.0 if i["id"] in r.matched else 0.0 for i in r.injected] for r in inc]
    mttd = [list(r.matched.values()) for r in inc]
    cause = [[1.0] * len(r.matched) + [0.0] * len(r.time_only) for r in inc]
    load = [[(len(r.pages) + r.tickets) / r.weeks] for r in results]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    p = lambda q: (lambda xs: percentile(xs, q))  # noqa: E731
    flat = lambda gs: [x for g in gs for x in g]  # noqa: E731
    out = {
        "scenarios": len(results), "with_incidents": len(inc), "quiet_weeks": len(quiet), "injected": n_inj,
        "recall": mean(flat(hits)), "recall_90": bootstrap_interval(hits, mean, seed=seed),
        "mttd_p50_s": percentile(flat(mttd), 0.5), "mttd_p50_90": bootstrap_interval(mttd, p(0.5), seed=seed),
        "mttd_p90_s": percentile(flat(mttd), 0.9), "mttd_p90_90": bootstrap_interval(mttd, p(0.9), seed=seed),
        "cause_accuracy": mean(flat(cause)), "cause_accuracy_90": bootstrap_interval(cause, mean, seed=seed),
        "false_pages_quiet": sum(r.false_pages for r in quiet),
        "false_pages_per_quiet_week": _ratio([r.false_pages for r in quiet], [r.weeks for r in quiet]),
        "pages_per_week": _ratio([len(r.pages) for r in results], [r.weeks for r in results]),
        "tickets_per_week": _ratio([r.tickets for r in results], [r.weeks for r in results]),
        "pages_tickets_per_week_90": bootstrap_interval(load, mean, seed=seed),
        "quiet_pages_tickets_per_week": _ratio([len(r.pages) + r.tickets for r in quiet], [r.weeks for r in quiet]),
    }
    out["goals"] = [
        {"goal": "recall >= 95%", "met": (out["recall"] or 0) >= GOALS["recall"]} if inc else None,
        {"goal": "MTTD p90 <= 3 min", "met": out["mttd_p90_s"] is not None
         and out["mttd_p90_s"] <= GOALS["mttd_p90_s"]} if inc else None,
        {"goal": "cause named right >= 90%", "met": (out["cause_accuracy"] or 0) >= GOALS["cause_accuracy"]}
        if inc else None,
        {"goal": "0 false pages in clean and noisy weeks", "met": out["false_pages_quiet"] == 0} if quiet else None,
        {"goal": "pages + tickets <= 10 a week in clean and noisy weeks",
         "met": (out["quiet_pages_tickets_per_week"] or 0) <= GOALS["pages_tickets_per_week"]} if quiet else None,
    ]
    out["goals"] = [g for g in out["goals"] if g is not None]
    return out


def summary_table(s: dict[str, Any]) -> str:
    """The suite's figures as the command prints them."""
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    def iv(pair: tuple, f) -> str:  # noqa: ANN001
        lo, hi = pair
        return "" if lo is None else f" (90%: {f(lo)} .. {f(hi)})"

    mins = lambda v: "-" if v is None else f"{v / 60:.1f} min"  # noqa: E731
    num = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    lines = [f"game day: {s['scenarios']} scenarios ({s['with_incidents']} with {s['injected']} incidents, "
             f"{s['quiet_weeks']} clean or noisy)",
             f"  recall (strict: root + cause)  {pct(s['recall'])}{iv(s['recall_90'], pct)}",
             f"  MTTD p50                       {mins(s['mttd_p50_s'])}{iv(s['mttd_p50_90'], mins)}",
             f"  MTTD p90                       {mins(s['mttd_p90_s'])}{iv(s['mttd_p90_90'], mins)}",
             f"  cause named right              {pct(s['cause_accuracy'])}{iv(s['cause_accuracy_90'], pct)}",
             f"  false pages, clean/noisy weeks {s['false_pages_quiet']} "
             f"({num(s['false_pages_per_quiet_week'])} per week)",
             f"  pages + tickets per week       {num((s['pages_per_week'] or 0) + (s['tickets_per_week'] or 0))}"
             f"{iv(s['pages_tickets_per_week_90'], num)}; clean/noisy weeks "
             f"{num(s['quiet_pages_tickets_per_week'])}"]
    lines += [f"  goal {'met   ' if g['met'] else 'MISSED'} {g['goal']}" for g in s["goals"]]
    return "\n".join(lines)
