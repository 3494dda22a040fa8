"""A scenario's report: every detector's results, the goals of the shipped detector, a text table, JSON, and the
lake's ``chaos/report.json`` the chaos dashboard reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from akidb_pipelines.chaos.recovery import MITIGATION_MINUTES
from akidb_pipelines.chaos.results import DetectorResult
from akidb_pipelines.storage import Lake


@dataclass
class ChaosReport:
    scenario: str
    replay_start: datetime
    replay_end: datetime
    detectors: list[DetectorResult]
    cycle_seconds: float
    ack_minutes: float
    cycle_source: str = "given"
    closed_loop: dict[str, Any] | None = None

    def goals(self) -> list[tuple[str, bool, str]]:
        """(goal, met, detail) for the shipped detector (combined)."""
        comb = next((d for d in self.detectors if d.detector == "combined"), None)
        if comb is None:
            return []
        out = []
        for i in comb.incidents:
            mttd = i.seconds(i.first_page)
            out.append((f"MTTD <= 2 min: {i.id}", mttd is not None and mttd <= 120,
                        "not paged" if mttd is None else f"{mttd / 60:.1f} min"))
            if i.runbooks:
                mttr = i.seconds(i.recovery)
                how = i.recovery_source.split(":")[0].split(" (")[0]  # telemetry | modelled | injected end
                out.append((f"MTTR <= 10 min (runbook, {how}): {i.id}", mttr is not None and mttr <= 600,
                            f"{mttr / 60:.1f} min ({i.recovery_source.split(':')[0]})" if mttr is not None else "-"))
        if not comb.incidents:
            out.append(("no page in a week without incidents", comb.pages == 0, f"{comb.pages} page(s)"))
        out.append(("< 10 pages a week", comb.pages / comb.weeks < 10, f"{comb.pages / comb.weeks:.1f}/week"))
        if comb.pages:
            out.append(("precision >= 90%", (comb.precision or 0) >= 0.9, f"{comb.precision:.0%}"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "replay_start": self.replay_start.isoformat(),
                "replay_end": self.replay_end.isoformat(), "cycle_seconds": self.cycle_seconds,
                "cycle_source": self.cycle_source,
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "recovery_model": "per incident (recovery_source): telemetry = the runbook verification metric "
                                  "back below its bound for its minutes, where nothing assumed shaped that "
                                  "telemetry; modelled = a runbook answering the injected cause applied + the "
                                  "action's assumed time (mitigation_minutes_assumed); modelled (closed loop) = "
                                  "the same assumption fed back into the generated telemetry and read back "
                                  "(closed_loop): it checks the chain, it does not measure the action",
                "closed_loop": self.closed_loop,
                "simulated_ack_minutes": self.ack_minutes, "mitigation_minutes_assumed": MITIGATION_MINUTES,
                "detectors": [d.to_dict() for d in self.detectors],
                "goals": [{"goal": g, "met": m, "detail": d} for g, m, d in self.goals()]}

    def table(self) -> str:
        lines = [f"scenario {self.scenario}: replayed {self.replay_start:%Y-%m-%d %H:%M} .. {self.replay_end:%Y-%m-%d %H:%M}"
                 f" (cycle {self.cycle_seconds:.0f}s, on-call acks after {self.ack_minutes:g} min)",
                 f"  pipeline cycle: {self.cycle_source}",
                 f"  {'detector':10s} {'alerts/wk':>9s} {'pages':>5s} {'pages/wk':>8s} {'false':>5s} "
                 f"{'precision':>9s} {'recall':>6s}"]
        fmt = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
        for d in self.detectors:
            lines.append(f"  {d.detector:10s} {d.alerts / d.weeks:9.1f} {d.pages:5d} {d.pages / d.weeks:8.1f} "
                         f"{len(d.false_pages):5d} {fmt(d.precision):>9s} {fmt(d.recall):>6s}")
        mins = lambda s: "-" if s is None else f"{s / 60:.1f}m"  # noqa: E731
        for d in self.detectors:
            for i in d.incidents:
                lines.append(f"  {d.detector:10s} {i.id:30s} detect {mins(i.seconds(i.first_detection)):>6s} "
                             f"MTTD {mins(i.seconds(i.first_page)):>6s} MTTA "
                             f"{mins(i.seconds(i.acknowledged, i.first_page)):>5s} MTTR {mins(i.seconds(i.recovery)):>6s}"
                             f" ({i.recovery_source.split(':')[0]})"
                             f"  cause {i.cause_named or '-'}{'' if i.root_cause_ok or not i.first_page else ' (WRONG)'}"
                             + (f"  runbooks {','.join(i.runbooks)}" if i.runbooks else ""))
        if self.closed_loop:
            lines.append(f"  closed loop (combined): runbooks ended {', '.join(self.closed_loop['mitigated'])}; "
                         "telemetry generated again, replayed; pages "
                         + ("as in the first pass" if self.closed_loop["pages_as_first_pass"] else
                            "DIFFER from the first pass"))
        for g, met, detail in self.goals():
            lines.append(f"  goal {'met   ' if met else 'MISSED'} {g}: {detail}")
        return "\n".join(lines)


REPORT_OBJECT = "chaos/report.json"


def publish_reports(lake: Lake, reports: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Merge ``reports`` into the lake's ``chaos/report.json`` (a scenario replaces its earlier report, others are
    kept) for the chaos dashboard; returns the URI and every report now stored."""
    old = lake.read_bytes(REPORT_OBJECT)
    try:
        stored = json.loads(old) if old else []
    except ValueError:
        stored = []
    names = {r["scenario"] for r in reports}
    merged = [r for r in (stored if isinstance(stored, list) else []) if r.get("scenario") not in names] + reports
    merged.sort(key=lambda r: r["scenario"])
    uri = lake.write_bytes(REPORT_OBJECT, (json.dumps(merged, indent=2, default=str) + "\n").encode())
    return uri, merged
