"""What a replay found: per injected incident (detection, page, acknowledgement, recovery, cause) and per detector
(alerts, pages, false pages, precision, recall)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class IncidentResult:
    id: str
    type: str
    onset: datetime
    end: datetime
    first_detection: datetime | None = None
    first_page: datetime | None = None
    acknowledged: datetime | None = None
    recovery: datetime | None = None
    runbooks: list[str] = field(default_factory=list)
    cause_named: str | None = None
    root_cause_ok: bool = False
    actions: list[dict] = field(default_factory=list)   # the runbook audit log of its incident: at, runbook, status
    recovery_source: str = "injected end"               # or "modelled: ..." or "telemetry: ..."

    def seconds(self, t: datetime | None, since: datetime | None = None) -> float | None:
        base = since or self.onset
        return None if t is None or base is None else (t - base).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        iso = lambda v: v.isoformat().replace("+00:00", "Z") if v else None  # noqa: E731
        return {"id": self.id, "type": self.type, "onset": iso(self.onset), "end": iso(self.end),
                "first_detection": iso(self.first_detection), "first_page": iso(self.first_page),
                "acknowledged": iso(self.acknowledged), "recovery": iso(self.recovery),
                "root_cause_named": self.cause_named, "root_cause_ok": self.root_cause_ok, "runbooks": self.runbooks,
                "runbook_actions": self.actions, "recovery_source": self.recovery_source,
                "mttd_seconds": self.seconds(self.first_page), "mtta_seconds": self.seconds(self.acknowledged,
                                                                                            self.first_page),
                "mttr_seconds": self.seconds(self.recovery)}


@dataclass
class DetectorResult:
    detector: str
    incidents: list[IncidentResult]
    alerts: int
    pages: int
    false_pages: list[dict]
    weeks: float
    ticks: int

    @property
    def precision(self) -> float | None:
        return None if not self.pages else (self.pages - len(self.false_pages)) / self.pages

    @property
    def recall(self) -> float | None:
        return None if not self.incidents else sum(i.first_page is not None for i in self.incidents) / len(self.incidents)

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "alerts": self.alerts, "alerts_per_week": self.alerts / self.weeks,
                "pages": self.pages, "pages_per_week": self.pages / self.weeks, "false_pages": len(self.false_pages),
                "false_page_details": self.false_pages, "precision": self.precision, "recall": self.recall,
                "response_ticks": self.ticks, "incidents": [i.to_dict() for i in self.incidents]}
