"""The bound a runbook's verification metric must be below: a fixed value, or (``relative: true``) a factor of what
the metric normally is at that time of day.

A fixed bound cannot verify a metric with a daily cycle: the capacity ratio (provisioned over used) is about 1.4 at
the afternoon peak and near 3 at night, where the on-demand floor keeps capacity above the little load there is, so
"ratio < 3" failed at night with no incident at all. Relative to normal, "below 1.5 x normal" means "no more than half
again the capacity this hour normally has", day or night. Normal is the evidence baseline (``alerting/evidence.py``):
the same time of day +/- 30 min on up to seven earlier days of the same day type, else the hour before the window.
"""

from __future__ import annotations

from datetime import datetime

from akidb_pipelines.alerting.evidence import baseline, merged, ranges
from akidb_pipelines.alerting.golden_columns import GOLDEN
from akidb_pipelines.storage import Lake


def normal(lake: Lake, tier: str, edge_location: str, metric: str, at: datetime):  # noqa: ANN201 - Baseline | None
    """The evidence baseline of ``metric`` (one row: ``tier`` at ``edge_location``) at ``at``'s time of day."""
    spans = merged(ranges(at))
    where = " OR ".join(["(minute >= ? AND minute < ?)"] * len(spans))
    rows = lake.query_table(GOLDEN, f"""SELECT minute, {metric} FROM {{src}}
        WHERE tier = ? AND edge_location = ? AND ({where})""",
                            [tier, edge_location, *[x for s in spans for x in s]])
    series = {m.replace(second=0, microsecond=0): float(v) for m, v in rows if v is not None}
    return baseline(series, at)


def bound(lake: Lake, v, at: datetime) -> tuple[float | None, str]:  # noqa: ANN001 - a runbooks.config.Verify
    """(the bound at ``at``, how it was made); (None, why) when a relative bound has no baseline to scale."""
    if not v.relative:
        return v.below, f"{v.below:g}"
    base = normal(lake, v.tier, v.edge_location, v.metric, at)
    if base is None:
        return None, f"no normal {v.tier} {v.metric} to compare with (no earlier day, no hour before)"
    return v.below * base.expected, f"{v.below:g} x normal {base.expected:.4g} ({base.basis})"
