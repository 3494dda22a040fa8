"""The incident ledger as plain records: what ``akidb incidents --json`` prints."""

from __future__ import annotations

import io
import json

import pandas as pd

# the columns every ledger has had; later ones (cause, acknowledged_at, ...) are optional
REQUIRED_COLUMNS = ("id", "severity", "root_component", "root_source", "root_rule", "decision", "team",
                    "first_alert", "first_page", "resolved", "resolved_at", "pages_sent", "related")


class LedgerError(ValueError):
    """The incident ledger cannot be read (not Parquet, damaged, not a ledger); the message names it."""


def read_ledger(data: bytes, name: str) -> pd.DataFrame:
    """The ledger DataFrame from its Parquet bytes; :class:`LedgerError` naming ``name`` when it cannot be used."""
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ValueError... for damage
        raise LedgerError(f"{name}: unreadable incident ledger ({' '.join(str(exc).split())[:200]})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise LedgerError(f"{name}: not an incident ledger (missing column(s) {missing})")
    return df


def incident_records(df) -> list[dict]:  # noqa: ANN001 - the ledger DataFrame
    """The ledger as plain records (what ``akidb incidents --json`` prints); a row that cannot be read (a damaged
    value) raises :class:`LedgerError` naming the incident."""
    def ts(v: object) -> str | None:
        return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat()

    try:
        rows = list(df.sort_values("first_alert").itertuples())
    except (TypeError, ValueError) as exc:
        raise LedgerError(f"unreadable incident ledger: first_alert ({' '.join(str(exc).split())[:200]})") from None
    out = []
    for r in rows:
        g = lambda name: getattr(r, name, None)  # noqa: E731 - ledgers written before a column existed lack it
        try:
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
        except (TypeError, ValueError, OverflowError) as exc:
            raise LedgerError(f"incident {r.id!r}: unreadable ledger row ({' '.join(str(exc).split())[:200]})") from None
    return out
