"""Strict matching of pages to injected incidents, and the game-day figures with their 90% intervals.

A page counts for an injected incident only if it was sent at or after the onset (a page before the onset is not a
detection) and before the incident's end plus :data:`LATE`, its root component is one the incident hit, and the
cause it names is the incident type's. A page and its updates share the page's incident id: an update that names the
right root and cause answers from its own time. One page matches at most one incident, one incident at most one
page (the first). A page that matches nothing is a false page, whatever it names.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from akidb_pipelines.chaos.scenario import EXPECTED_CAUSE

LATE = timedelta(minutes=30)  # a page this long after the injected end still answers the incident


@dataclass(frozen=True)
class Injected:
    id: str
    type: str
    onset: datetime
    end: datetime
    components: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    incident: str        # the ledger's incident id
    sent: datetime       # when the trigger left the outbox
    root_component: str
    cause: str | None


@dataclass
class Matching:
    matched: dict[str, Page] = field(default_factory=dict)        # injected id -> its page
    time_only: dict[str, Page] = field(default_factory=dict)      # injected id -> a page in its time, wrong root/cause
    false_pages: list[Page] = field(default_factory=list)         # pages that match no injected incident


def _in_time(p: Page, inc: Injected) -> bool:
    return inc.onset <= p.sent <= inc.end + LATE


def match(pages: Sequence[Page], incidents: Sequence[Injected]) -> Matching:
    """Pages to incidents by the strict rule (module docstring), earliest page first, incidents by onset."""
    out = Matching()
    used: set[str] = set()
    for inc in sorted(incidents, key=lambda i: i.onset):
        for p in sorted(pages, key=lambda p: p.sent):
            if p.incident in used or not _in_time(p, inc):
                continue
            if p.root_component in inc.components and p.cause == EXPECTED_CAUSE.get(inc.type):
                out.matched[inc.id] = p
                used.add(p.incident)
                break
    taken = set(used)
    for inc in sorted(incidents, key=lambda i: i.onset):  # what a time-only rule would credit (one page each)
        if inc.id not in out.matched:
            hit = next((p for p in sorted(pages, key=lambda p: p.sent) if p.incident not in taken
                        and _in_time(p, inc)), None)
            if hit is not None:
                out.time_only[inc.id] = hit
                taken.add(hit.incident)
    out.false_pages = [p for p in pages if p.incident not in used]   # a page's updates share its incident
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def bootstrap_interval(groups: Sequence[Sequence[float]], stat, level: float = 0.90, draws: int = 2000,  # noqa: ANN001
                       seed: int = 0) -> tuple[float | None, float | None]:
    """A percentile bootstrap interval of ``stat(values)`` resampling whole scenarios (``groups``: the values of
    each scenario), so incidents of one scenario move together. None where the statistic is undefined."""
    rng = random.Random(seed)
    n = len(groups)
    if n == 0:
        return None, None
    stats = []
    for _ in range(draws):
        sample = [v for _ in range(n) for v in groups[rng.randrange(n)]]
        s = stat(sample)
        if s is not None:
            stats.append(s)
    a = (1 - level) / 2
    return percentile(stats, a), percentile(stats, 1 - a)
