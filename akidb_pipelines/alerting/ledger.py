"""The incident ledger as plain records: what ``akidb incidents --json`` prints."""

from __future__ import annotations

import json

import pandas as pd


def incident_records(df) -> list[dict]:  # noqa: ANN001 - the ledger DataFrame
    """The ledger as plain records (what ``akidb incidents --json`` prints)."""
    def ts(v: object) -> str | None:
        return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat()

    out = []
    for r in df.sort_values("first_alert").itertuples():
        g = lambda name: getattr(r, name, None)  # noqa: E731 - ledgers written before a column existed lack it
        out.append({"id": r.id, "severity": r.severity,
                    "root_cause": {"component": r.root_component, "type": g("cause") or "unclassified",
                                   "evidence": g("cause_evidence") or "", "alert": f"{r.root_source}:{r.root_rule}"},
                    "decision": r.decision, "reason": g("reason"), "team": r.team,
                    "first_alert": ts(r.first_alert), "first_page": ts(r.first_page),
                    "acknowledged": ts(g("acknowledged_at")), "escalated": ts(g("escalated_at")),
                    "resolved": ts(r.resolved_at) if r.resolved else None,
                    "pages_sent": int(r.pages_sent), "related_alerts": json.loads(r.related),
                    "flap_of": g("flap_of"),
                    "runbooks_planned": json.loads(g("runbooks_planned") or "[]"),
                    "runbook_actions": json.loads(g("runbook_actions") or "[]")})
    return out
