"""Chaos validation: the game-day reports (``chaos/report.json`` in the lake, written by ``akidb chaos`` / ``make
chaos`` and by the ``validation/chaos_report`` asset). Per scenario: the goals met or missed, the detectors side by
side (alerts and pages a week, false pages, precision, recall) and each injected incident on its own clock from
the onset: first detection, first page (MTTD), acknowledgement and recovery (MTTR), per detector."""

from __future__ import annotations

import json
from datetime import datetime

from akidb_pipelines.chaos.report import REPORT_OBJECT as REPORT
from akidb_pipelines.dashboards.data import LakeReader
from akidb_pipelines.dashboards.page import Page
from akidb_pipelines.dashboards.summary import Summary

DETECTOR_COLORS = {"static": "#8c96a8", "burn_rate": "#4e79a7", "anomaly": "#b07aa1", "combined": "#f28e2b"}


def _min(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def build(reader: LakeReader, days: float = 7.0) -> tuple[Page, Summary]:  # noqa: ARG001 - same signature as the others
    page = Page("chaos", "Chaos validation", "game days on replayed telemetry: MTTD, MTTR, pages, precision, recall")
    summary = Summary()
    data = reader.lake.read_bytes(REPORT)
    if data is None:
        page.missing_input(REPORT, "No chaos report in the lake: `make chaos` (akidb chaos) or the chaos job writes it.")
        return page, summary
    try:
        reports = json.loads(data)
    except ValueError as exc:
        page.missing_input(REPORT, f"The chaos report does not parse: {exc}")
        return page, summary
    reports = reports if isinstance(reports, list) else [reports]
    goals = [(r["scenario"], g) for r in reports for g in r.get("goals", [])]
    missed = [(s, g) for s, g in goals if not g["met"]]
    comb = [d for r in reports for d in r.get("detectors", []) if d["detector"] == "combined"]
    incidents = [i for d in comb for i in d["incidents"]]
    mttd = [i["mttd_seconds"] for i in incidents if i.get("mttd_seconds") is not None]
    mttr = [i["mttr_seconds"] for i in incidents if i.get("mttr_seconds") is not None and i.get("runbooks")]
    false_pages = sum(d["false_pages"] for d in comb)
    page.add(Page.cards([
        ("scenarios", str(len(reports)), ", ".join(r["scenario"] for r in reports)[:80], ""),
        ("goals met", f"{len(goals) - len(missed)}/{len(goals)}", f"{len(missed)} missed",
         "bad" if missed else "good"),
        ("worst MTTD", _min(max(mttd)) if mttd else "n/a", f"goal 2 min, {len(mttd)} paged incidents",
         "bad" if mttd and max(mttd) > 120 else "good"),
        ("worst MTTR (runbook)", _min(max(mttr)) if mttr else "n/a", "goal 10 min",
         "bad" if mttr and max(mttr) > 600 else "good"),
        ("false pages", str(false_pages), "combined detector, all scenarios", "bad" if false_pages else "good"),
    ]))
    rows = [[s, '<span class="pill" style="background:{}">{}</span>'.format(
        "#227a3b" if g["met"] else "#d62728", "met" if g["met"] else "MISSED"), g["goal"], g["detail"]]
        for s, g in goals]
    page.add(page.section("Goals (the shipped detector: burn rates + anomalies)",
                          Page.table(["scenario", "", "goal", "measured"], rows, raw={1},
                                     row_class=["" if g["met"] else "bad" for _, g in goals])))
    for r in reports:
        det_rows = []
        for d in r.get("detectors", []):
            det_rows.append([d["detector"], f"{d['alerts_per_week']:.1f}", str(d["pages"]),
                             f"{d['pages_per_week']:.1f}", str(d["false_pages"]), _pct(d.get("precision")),
                             _pct(d.get("recall"))])
        parts = [Page.table(["detector", "alerts/week", "pages", "pages/week", "false pages", "precision", "recall"],
                            det_rows, num={1, 2, 3, 4, 5, 6})]
        spec = _timeline(r)
        if spec is not None:
            parts.append(page.chart(spec))
        fp = [(d["detector"], f) for d in r.get("detectors", []) for f in d.get("false_page_details", [])]
        if fp:
            parts.append(Page.table(["detector", "first alert", "severity", "root", "cause"],
                                    [[dn, f["first_alert"][:16], f["severity"], f["root"], f.get("cause") or ""]
                                     for dn, f in fp]))
        note = (f"replayed {r['replay_start'][:16]} .. {r['replay_end'][:16]} UTC; pipeline cycle "
                f"{r.get('cycle_seconds', 0):.0f} s ({r.get('cycle_source', 'given')}); the on-call acknowledges "
                f"{r.get('simulated_ack_minutes', 0):g} min after a page; recovery: "
                f"{r.get('recovery_model', 'runbook action time assumed (mitigation_minutes_assumed)')}")
        page.add(page.section(f"Scenario {r['scenario']}", "".join(parts), note, data_scenario=r["scenario"]))
    summary.tables.update(report_tables(reports))
    summary.values.update({"scenarios": len(reports), "goals": len(goals), "goals_missed": len(missed),
                           "false_pages_combined": false_pages,
                           "worst_mttd_min": round(max(mttd) / 60, 1) if mttd else None,
                           "worst_mttr_min": round(max(mttr) / 60, 1) if mttr else None})
    return page, summary


def report_tables(reports: list[dict]) -> dict[str, str]:
    """Markdown tables of chaos reports (the page's summary and the chaos asset's metadata): ``detectors`` per
    scenario, ``incidents_combined`` (the shipped detector per incident), ``goals``."""
    det = [[r["scenario"], d["detector"], f"{d['alerts_per_week']:.1f}", f"{d['pages_per_week']:.1f}", d["false_pages"],
            _pct(d.get("precision")), _pct(d.get("recall"))] for r in reports for d in r.get("detectors", [])]
    inc = [[r["scenario"], i["id"], _min(i.get("mttd_seconds")), _min(i.get("mttr_seconds")),
            i.get("root_cause_named") or "-", ", ".join(i.get("runbooks") or []) or "-"]
           for r in reports for d in r.get("detectors", []) if d["detector"] == "combined" for i in d["incidents"]]
    goals = [[r["scenario"], g["goal"], "yes" if g["met"] else "NO", g["detail"]]
             for r in reports for g in r.get("goals", [])]
    return {"detectors": Summary.md(["scenario", "detector", "alerts/wk", "pages/wk", "false pages", "precision",
                                     "recall"], det),
            "incidents_combined": Summary.md(["scenario", "incident", "MTTD", "MTTR", "cause named", "runbooks"], inc),
            "goals": Summary.md(["scenario", "goal", "met", "measured"], goals)}


def _timeline(report: dict) -> dict | None:
    """Each (detector, incident) on its own clock from the onset: bar to recovery, marks for detection, page,
    acknowledgement; a detector that never paged shows a dashed bar to the injected end."""
    rows, longest = [], 0
    for d in report.get("detectors", []):
        for i in d.get("incidents", []):
            def off(key: str, inc: dict = i) -> int | None:
                v = inc.get(key)
                if not v:
                    return None
                t0 = datetime.fromisoformat(inc["onset"].replace("Z", "+00:00"))
                return int((datetime.fromisoformat(v.replace("Z", "+00:00")) - t0).total_seconds() * 1000)

            marks = []
            for key, label, shape, color in (("first_detection", "first alert", "circle", "#667085"),
                                             ("first_page", "page (MTTD)", "diamond", "#1f2430"),
                                             ("acknowledged", "acknowledged", "circle", "#4e79a7"),
                                             ("recovery", "recovered (MTTR)", "tick", "#227a3b")):
                t = off(key)
                if t is not None:
                    marks.append({"t": t, "label": label, "shape": shape, "color": color})
            paged = i.get("first_page") is not None
            end = off("recovery") if paged else None
            longest = max([longest, off("end") or 0] + [m["t"] for m in marks])
            rows.append({"label": f"{d['detector']} · {i['id']} · MTTD {_min(i.get('mttd_seconds'))}"
                                  f" · MTTR {_min(i.get('mttr_seconds'))}",
                         "start": 0, "end": end, "color": DETECTOR_COLORS.get(d["detector"], "#8c96a8"),
                         "marks": marks,
                         "tip": f"{i['id']} ({i['type']}) under {d['detector']}: cause named "
                                f"{i.get('root_cause_named') or '-'}; runbooks {', '.join(i.get('runbooks') or []) or '-'}"})
    if not rows:
        return None
    return {"type": "timeline", "relative": True, "title": "Minutes from the injected onset, per detector",
            "t0": 0, "t1": int(max(longest * 1.15, 20 * 60_000)), "rows": rows,
            "legend": [{"label": k, "color": c, "kind": "box"} for k, c in DETECTOR_COLORS.items()]
            + [{"label": "first alert", "color": "#667085", "kind": "dot"},
               {"label": "page", "color": "#1f2430", "kind": "dot"},
               {"label": "recovered", "color": "#227a3b", "kind": "box"}]}
