"""How much of a partition's input went to quarantine, against a limit: the ingest's own health signal.

The quarantine keeps a bad record with its reason, so nothing is lost; but when a producer changes its log format,
most of a source's records land there and every signal built on that source goes blind without an error. The
ingest asset reports this as its ``quarantine_share`` check (a warning): the share of each source kind's records
read that were quarantined, the limit (``AKIDB_QUARANTINE_WARN_SHARE``, default 5%), and the reasons that dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from akidb_pipelines.ingest import IngestReport


@dataclass(frozen=True)
class QuarantineShare:
    passed: bool
    metadata: dict[str, Any]


def quarantine_share(reports: Sequence[IngestReport], limit: float) -> QuarantineShare:
    """Passes when, for every source kind with records, quarantined / read is at most ``limit``."""
    per_kind: dict[str, dict[str, Any]] = {}
    for r in reports:
        k = per_kind.setdefault(r.kind, {"records_read": 0, "records_quarantined": 0, "by_reason": {}})
        k["records_read"] += r.records_read
        k["records_quarantined"] += r.records_quarantined
        for reason, n in r.quarantine_by_reason.items():
            k["by_reason"][reason] = k["by_reason"].get(reason, 0) + n
    over = []
    for kind, k in per_kind.items():
        k["share"] = round(k["records_quarantined"] / k["records_read"], 6) if k["records_read"] else 0.0
        k["by_reason"] = dict(sorted(k["by_reason"].items(), key=lambda kv: (-kv[1], kv[0])))
        if k["share"] > limit:
            top = next(iter(k["by_reason"]), "")
            over.append(f"{kind}: {k['records_quarantined']} of {k['records_read']} records quarantined "
                        f"({k['share']:.1%}), mostly {top}")
    return QuarantineShare(not over, {"limit": limit, "over_limit": "; ".join(over) or "none", "by_kind": per_kind})
