"""Evidence for a root-cause type: did a golden signal change around an incident's onset, relative to what is normal
for that time of day?

A condition (``config/root_causes.yaml``: tier, metric, change, by, aggregate, at_least) holds when the signal's
level around the onset (the window [onset - 5 min, onset + 15 min]) differs from its **expected** level in the
stated direction, both by a minimal relative change (``by``) and by :data:`Z` times the baseline's own spread:

* **expected**: the median of the same time of day (the onset +/- :data:`SPAN`) on those of the :data:`DAYS` days
  before that are of the onset's day type (weekday or weekend, UTC) and have data; with none (a fresh lake, a first
  weekend), the hour before the window;
* **spread**: 1.4826 x the median absolute deviation of those same values (a robust standard deviation), so a
  signal that is noisy at that hour needs a larger change than one that is steady;
* **level around the onset**: the largest (for a rise) or smallest (for a drop) median of :data:`SUSTAIN`
  consecutive minutes of the window, so a one-minute flicker is not a change while a fault of a few minutes is.

While a window is still open (a live tick knows the minutes before its ``until`` only) and fewer than
:data:`SUSTAIN` minutes after the onset have closed, :func:`check_edge` asks whether every one of those minutes
shows the change: the first closed minute of a fault can name it, where waiting for a third minute costs every page of an anomaly-only
fault a minute (``rootcause.classify`` takes such evidence only when no type before it in the file is partly seen).

Several conditions of one type must hold in the same :data:`SUSTAIN` minutes. The rules this replaces (a fixed ratio
to the hour before) could not type an over-provisioning at night, where the capacity ratio is already near 3, and
took the autoscaler's scale-in on a traffic dip for a spot interruption. The constants are few and each has a reason
(docs/root-causes.md); none is fitted to a scenario.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from akidb_pipelines.alerting.golden_columns import GOLDEN
from akidb_pipelines.storage import Lake, PartitionKey
from akidb_pipelines.storage.sqltext import duckdb_path

BEFORE, AFTER = timedelta(minutes=5), timedelta(minutes=15)  # the window around the onset
DAYS = 7                        # earlier days looked at: a week holds both day types
SPAN = timedelta(minutes=30)    # +/- the onset's time of day on each earlier day (symmetric: a ramp's median is the
                                # level at the onset itself, and 61 values a day make a spread that can be trusted)
HOUR = timedelta(minutes=60)    # with no earlier day: the hour before the window
MIN_VALUES = 10                 # values a baseline needs (fewer: no evidence either way)
SUSTAIN = 3                     # minutes: the level around the onset is a median of this many consecutive minutes
Z = 4.0                         # robust z: a change must be this many spreads from the expected level
MAD_TO_SD = 1.4826              # the median absolute deviation of a normal distribution times this is its sd
CHANGES = ("drop", "rise")
AGGREGATES = ("sum", "max")

Series = Mapping[datetime, float]


@dataclass(frozen=True)
class Condition:
    tier: str
    metric: str                 # a golden-signal column or arithmetic of columns (``golden_columns.metric_expr``)
    change: str                 # drop | rise
    by: float                   # drop: least share lost (0.2 = 20%); rise: least factor (1.5 = +50%)
    aggregate: str = "sum"      # over the tier's rows of a minute (its edge locations)
    at_least: float | None = None  # a rise must also reach this value

    @property
    def key(self) -> tuple[str, str, str]:
        return self.tier, self.metric, self.aggregate


@dataclass(frozen=True)
class Baseline:
    expected: float
    spread: float
    values: int
    basis: str                  # what the expectation is made of, for the evidence text


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _weekend(t: datetime) -> bool:
    return t.weekday() >= 5


def _values(series: Series, start: datetime, end: datetime) -> list[float]:
    """The values of the minutes in [start, end], in time order."""
    out, t = [], _minute(start)
    while t <= end:
        v = series.get(t)
        if v is not None and math.isfinite(v):
            out.append(v)
        t += timedelta(minutes=1)
    return out


def baseline(series: Series, onset: datetime) -> Baseline | None:
    """What ``series`` is expected to be at ``onset`` (module docstring), or None without enough values."""
    onset = _minute(onset)
    days: list[tuple[datetime, list[float]]] = []
    for d in range(1, DAYS + 1):
        at = onset - timedelta(days=d)
        vals = _values(series, at - SPAN, at + SPAN)
        if len(vals) >= MIN_VALUES:
            days.append((at, vals))
    same = [v for at, v in days if _weekend(at) == _weekend(onset)]
    if same:
        kind = "weekend" if _weekend(onset) else "weekday"
        pool = [x for v in same for x in v]
        basis = f"{onset:%H:%M} +/- {SPAN.seconds // 60} min on {len(same)} earlier {kind}(s)"
    else:
        pool, basis = _values(series, onset - BEFORE - HOUR, onset - BEFORE - timedelta(minutes=1)), "the hour before"
    if len(pool) < MIN_VALUES:
        return None
    med = statistics.median(pool)
    spread = MAD_TO_SD * statistics.median(abs(x - med) for x in pool)
    return Baseline(med, spread, len(pool), basis)


def _baseline(frame: Mapping, key: tuple[str, str, str], series: Series, onset: datetime) -> Baseline | None:
    """:func:`baseline`, remembered in the frame's ``baselines`` dict when it has one: the values a baseline reads
    all precede the onset's window, so a frame whose data does not change (a replay's) computes each once."""
    memo = getattr(frame, "baselines", None)
    if memo is None:
        return baseline(series, onset)
    k = (key, _minute(onset))
    if k not in memo:
        memo[k] = baseline(series, onset)
    return memo[k]


def _holds(cond: Condition, base: Baseline, level: float) -> bool:
    exp, spread = base.expected, base.spread
    if cond.change == "rise":
        delta = level - exp
        ok = level > 0 and level >= max(exp, 0.0) * cond.by and (cond.at_least is None or level >= cond.at_least)
    else:
        delta = exp - level
        ok = exp > 0 and level <= exp * (1 - cond.by)
    return ok and delta > 0 and (spread == 0 or delta >= Z * spread)


def _window(series: Series, onset: datetime) -> dict[datetime, float]:
    out, t = {}, _minute(onset - BEFORE)
    while t <= onset + AFTER:
        v = series.get(t)
        if v is not None and math.isfinite(v):
            out[t] = v
        t += timedelta(minutes=1)
    return out


def _bases_and_windows(conds: list[Condition], frame: Mapping[tuple[str, str, str], Series], onset: datetime
                       ) -> tuple[list[Baseline], list[dict[datetime, float]]] | None:
    """Each condition's baseline and its signal's window around ``onset``; None when a baseline cannot be told."""
    bases, windows = [], []
    for c in conds:
        series = frame.get(c.key, {})
        base = _baseline(frame, c.key, series, onset)
        if base is None:
            return None
        bases.append(base)
        windows.append(_window(series, onset))
    return bases, windows


def check(conditions: list[Condition] | Condition, frame: Mapping[tuple[str, str, str], Series],
          onset: datetime) -> str | None:
    """Why ``conditions`` hold together around ``onset`` (the evidence, in words), or None when they do not (or
    cannot be told). Together: in the same :data:`SUSTAIN` minutes of the window, so two signals that each moved
    at a different moment (a one-instance flicker before a traffic surge) are not read as one fault."""
    conds = [conditions] if isinstance(conditions, Condition) else list(conditions)
    got = _bases_and_windows(conds, frame, onset) if conds else None
    if got is None:
        return None
    bases, windows = got
    minutes = sorted(set.intersection(*(set(w) for w in windows)))
    if len(minutes) < SUSTAIN:
        return None
    best: list[float | None] = [None] * len(conds)
    for i in range(len(minutes) - SUSTAIN + 1):
        span = minutes[i:i + SUSTAIN]
        levels = [statistics.median(w[t] for t in span) for w in windows]
        if all(_holds(c, b, lv) for c, b, lv in zip(conds, bases, levels, strict=True)):
            for k, (c, lv) in enumerate(zip(conds, levels, strict=True)):
                far = best[k] is None or (lv > best[k] if c.change == "rise" else lv < best[k])
                best[k] = lv if far else best[k]
    if best[0] is None:
        return None
    return "; ".join(_describe(c, b, lv) for c, b, lv in zip(conds, bases, best, strict=True))


def _open_edge(conds: list[Condition], frame: Mapping[tuple[str, str, str], Series], onset: datetime,
               until: datetime | None) -> tuple[list[Baseline], list[float], int] | None:
    """(baselines, levels, minutes) of the minutes from the onset to the open end of its window, when the window
    is still open at ``until`` and fewer than :data:`SUSTAIN` of its minutes from the onset have data."""
    onset = _minute(onset)
    if until is None or until > onset + AFTER or not conds:
        return None
    got = _bases_and_windows(conds, frame, onset)
    if got is None:
        return None
    bases, windows = got
    after = sorted(t for t in set.intersection(*(set(w) for w in windows)) if t >= onset)
    if not 0 < len(after) < SUSTAIN:
        return None
    # every minute so far must show the change: the least of them for a rise, the most for a drop
    levels = [(min if c.change == "rise" else max)(w[t] for t in after) for c, w in zip(conds, windows, strict=True)]
    return bases, levels, len(after)


def check_edge(conditions: list[Condition] | Condition, frame: Mapping[tuple[str, str, str], Series],
               onset: datetime, until: datetime | None) -> str | None:
    """Why ``conditions`` hold together on the minutes from ``onset`` to the open end of its window (the module
    docstring), or None when they do not, or the window is closed or already holds :data:`SUSTAIN` such minutes
    (then :func:`check` decides)."""
    conds = [conditions] if isinstance(conditions, Condition) else list(conditions)
    got = _open_edge(conds, frame, onset, until)
    if got is None:
        return None
    bases, levels, n = got
    if not all(_holds(c, b, lv) for c, b, lv in zip(conds, bases, levels, strict=True)):
        return None
    return "; ".join(_describe(c, b, lv) for c, b, lv in zip(conds, bases, levels, strict=True)) + (
        f" (the first {n} minute{'s' if n > 1 else ''} since the onset, as far as the tick knows)")


def seen_in_part(conditions: list[Condition], frame: Mapping[tuple[str, str, str], Series], onset: datetime,
                 until: datetime | None) -> bool:
    """Whether any one of ``conditions`` holds on the minutes since ``onset`` at the open edge: the fault may be of
    this type and its other signals not have moved yet. Only since the onset: the window also holds the five minutes
    before it, where a one-instance flicker of the spot fleet (5 -> 4 at 09:03, a fault at 09:08) is no sign of
    this fault."""
    return any(check_edge(c, frame, onset, until) is not None for c in conditions)


def how_far(c: Condition, frame: Mapping[tuple[str, str, str], Series], onset: datetime) -> str:
    """How far ``c``'s signal went in its direction around ``onset`` (its most extreme level of :data:`SUSTAIN`
    minutes) against what ``c`` needs: what an on-call reads when a type was seen only in part."""
    want = (f"a fall of {c.by:.0%}" if c.change == "drop" else f"a rise to {c.by:g}x") + f" and {Z:g} spreads"
    got = _bases_and_windows([c], frame, onset)
    minutes = sorted(got[1][0]) if got else []
    if len(minutes) < SUSTAIN:
        return f"{c.tier} {c.metric}: too few values to tell (needs {want})"
    (base,), (w,) = got
    levels = [statistics.median(w[t] for t in minutes[i:i + SUSTAIN]) for i in range(len(minutes) - SUSTAIN + 1)]
    level = max(levels) if c.change == "rise" else min(levels)
    if (level - base.expected) * (1 if c.change == "rise" else -1) <= 0:
        extreme = "highest" if c.change == "rise" else "lowest"
        return (f"{c.tier} {c.metric} did not {c.change.replace('drop', 'fall')}: {extreme} {level:.4g} against "
                f"{base.expected:.4g} expected ({base.basis}); needs {want}")
    return f"{_describe(c, base, level)}; needs {want}"


def _describe(c: Condition, b: Baseline, level: float) -> str:
    delta = abs(level - b.expected)
    z = "inf" if b.spread == 0 else f"{delta / b.spread:.1f}"
    verb = "rose" if c.change == "rise" else "fell"
    return (f"{c.tier} {c.metric} {verb} from {b.expected:.4g} to {level:.4g} (expected: {b.basis}; {z} spreads "
            f"of {b.spread:.2g})")


def ranges(onset: datetime) -> list[tuple[datetime, datetime]]:
    """The [start, end) spans of minutes that evidence around ``onset`` reads: the window and the hour before it,
    and the same time of day on each of the :data:`DAYS` days before."""
    onset = _minute(onset)
    one = timedelta(minutes=1)
    out = [(onset - BEFORE - HOUR, onset + AFTER + one)]
    out += [(onset - timedelta(days=d) - SPAN, onset - timedelta(days=d) + SPAN + one) for d in range(1, DAYS + 1)]
    return out


def merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """``spans`` sorted, overlapping or touching ones joined."""
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _hours(spans: list[tuple[datetime, datetime]]) -> list[datetime]:
    out: set[datetime] = set()
    for a, b in spans:
        h = a.replace(minute=0, second=0, microsecond=0)
        while h < b:
            out.add(h)
            h += timedelta(hours=1)
    return sorted(out)


def fetch(lake: Lake, conditions: list[Condition], spans: list[tuple[datetime, datetime]]
          ) -> dict[tuple[str, str, str], dict[datetime, float]]:
    """{condition key: {minute: value}} of every condition's signal over ``spans``: one query over the committed
    files of the hours the spans touch only (reading every file of a two-week table costs a tick seconds), every
    value bound (the metric expressions were checked token by token at load, ``golden_columns.metric_expr``)."""
    wanted = sorted({c.key for c in conditions})
    out: dict[tuple[str, str, str], dict[datetime, float]] = {k: {} for k in wanted}
    spans = merged(spans)
    files = [f for h in _hours(spans) for f in lake.list_files(GOLDEN, PartitionKey.of(h))]
    if not wanted or not files:
        return out
    metrics = sorted({(m, agg) for _, m, agg in wanted})
    tiers = sorted({t for t, _, _ in wanted})
    where = " OR ".join(["(minute >= ? AND minute < ?)"] * len(spans))
    with lake.connect() as con:
        con.execute("SET VARIABLE akidb_evidence_files = ?", [[duckdb_path(f) for f in files]])
        rows = con.execute(f"""
            SELECT tier, minute, {', '.join(f'{agg}({m}) AS m{i}' for i, (m, agg) in enumerate(metrics))}
            FROM read_parquet(getvariable('akidb_evidence_files'), union_by_name = true)
            WHERE ({where}) AND tier IN ({', '.join('?' * len(tiers))})
            GROUP BY ALL""", [x for span in spans for x in span] + tiers).fetchall()
    for tier, minute, *values in rows:
        for (m, agg), v in zip(metrics, values, strict=True):
            if (tier, m, agg) in out and v is not None:
                out[(tier, m, agg)][_minute(minute)] = float(v)
    return out


class EvidenceFrame(Mapping):
    """The evidence signals of a tick, read from the lake only around the onsets asked about (a tick with no
    incident to type reads nothing) and, with ``until``, only before it (a tick at ``now`` knows nothing later,
    even where the lake holds it: a replay): a mapping of condition key to {minute: value}. :meth:`prefetch` reads the
    spans of many onsets in one query; :meth:`around` makes sure one onset is covered."""

    def __init__(self, lake: Lake, conditions: list[Condition], until: datetime | None = None) -> None:
        self._lake, self._conditions, self._until = lake, list(conditions), until
        self.until = until          # the end of what the tick knows (``check_edge``)
        self._data: dict[tuple[str, str, str], dict[datetime, float]] = {c.key: {} for c in self._conditions}
        self._done: set[datetime] = set()

    def prefetch(self, onsets: list[datetime]) -> EvidenceFrame:
        todo = sorted({_minute(t) for t in onsets} - self._done)
        spans = [(a, b if self._until is None else min(b, self._until)) for t in todo for a, b in ranges(t)]
        spans = [(a, b) for a, b in spans if a < b]
        if spans and self._conditions:
            got = fetch(self._lake, self._conditions, spans)
            for k, v in got.items():
                self._data.setdefault(k, {}).update(v)
        self._done.update(todo)
        return self

    def around(self, onset: datetime) -> EvidenceFrame:
        return self.prefetch([onset])

    def __getitem__(self, key: tuple[str, str, str]) -> dict[datetime, float]:
        return self._data[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
