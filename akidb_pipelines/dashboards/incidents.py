"""Incidents: a timeline of the incident ledger (``alerting/incidents.parquet``): first alert, first page,
resolution, severity, root, routing decision and runbook actions, with MTTD (first page - first alert) and MTTR
(resolved - first alert) per incident. The ledger is read by column name: columns it gains later are shown in the
tooltips, columns it lacks read as empty. Cause, acknowledgement (MTTA) and escalation are shown where the ledger has
them (the response tick writes them since issue 5)."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd

from akidb_pipelines.dashboards.data import LakeReader
from akidb_pipelines.dashboards.page import Page, esc, ms
from akidb_pipelines.dashboards.summary import Summary

LEDGER = "alerting/incidents.parquet"
KNOWN = ("id", "severity", "root_component", "root_source", "root_rule", "first_alert", "last_alert", "alerts",
         "inhibited", "related", "decision", "team", "page_due", "reason", "runbook_actions", "resolved",
         "first_page", "resolved_at", "pages_sent", "cause", "acknowledged_at", "escalated_at")
TIMES = ("first_alert", "last_alert", "first_page", "resolved_at", "page_due", "acknowledged_at", "escalated_at")
SEVERITY_COLORS = {"P0": "#d62728", "P1": "#f28e2b", "P2": "#e5c04b"}
MAX_ROWS = 80


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Every known column present (missing ones empty), times as UTC timestamps, one id per row."""
    df = df.copy()
    for c in KNOWN:
        if c not in df.columns:
            df[c] = pd.NaT if c in TIMES else None
    for c in TIMES:
        df[c] = pd.to_datetime(df[c], utc=True, errors="coerce")
    if df["id"].isna().any():
        df["id"] = [i if isinstance(i, str) and i else f"row-{n}" for n, i in enumerate(df["id"])]
    df["mttd"] = df["first_page"] - df["first_alert"]
    df["mttr"] = df["resolved_at"] - df["first_alert"]
    df["mtta"] = df["acknowledged_at"] - df["first_page"]
    return df


def actions(v: object) -> list[str]:
    """Runbook actions as a list, whether stored as JSON text, a list or nothing."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, (list, tuple, np.ndarray)):
        return [str(x) for x in v]
    try:
        parsed = json.loads(str(v))
    except ValueError:
        return [str(v)] if str(v) else []
    return [str(x) for x in parsed] if isinstance(parsed, list) else [str(parsed)]


def build(reader: LakeReader, days: float = 7.0) -> tuple[Page, Summary]:
    page = Page("incidents", "Incidents", "the incident ledger: alerts, pages, resolution, MTTD and MTTR")
    summary = Summary()
    raw = reader.read_object(LEDGER)
    if raw is None:
        page.missing_input(LEDGER, f"No incident ledger in the lake ({reader.lake.root}): the response tick "
                                   "(alerting/incidents, job respond) writes it.")
        return page, summary
    extra = [c for c in raw.columns if c not in KNOWN]
    absent = [c for c in KNOWN if c not in raw.columns]
    df = normalize(raw)
    if not len(df):
        page.add(page.section("Incidents", '<div class="note" data-empty="ledger">The ledger has no incidents yet.</div>'))
        summary.values["incidents"] = 0
        return page, summary
    if df["first_alert"].isna().all():
        page.missing_input(f"{LEDGER}: first_alert", "The ledger has no first_alert times, so there is no timeline; "
                                                      "the table below lists what it holds.")
        page.add(page.section("Ledger", _table(df)))
        return page, summary
    df = df[df["first_alert"].notna()].sort_values("first_alert")
    end_all = pd.concat([df[c] for c in TIMES]).max()
    start = end_all - timedelta(days=days)
    shown = df[df["first_alert"] >= start]
    paged = shown[shown["first_page"].notna()]
    mttd, mttr, mtta = _minutes(shown["mttd"]), _minutes(shown["mttr"]), _minutes(shown["mtta"])
    open_ = shown[shown["resolved"].fillna(False).astype(bool) == False]  # noqa: E712 - pandas mask
    page.add(Page.cards([
        ("incidents", str(len(shown)), f"{len(df)} in the ledger", ""),
        ("paged", str(len(paged)), f"{int((shown['decision'] == 'ticket').sum())} tickets", "warn" if len(paged) else "good"),
        ("open", str(len(open_)), "not resolved", "bad" if len(open_) else "good"),
        ("MTTD (median)", _dur(np.median(mttd)) if len(mttd) else "n/a", f"first page - first alert, {len(mttd)} paged", ""),
        ("MTTA (median)", _dur(np.median(mtta)) if len(mtta) else "n/a",
         f"acknowledged - first page, {len(mtta)} acknowledged", ""),
        ("MTTR (median)", _dur(np.median(mttr)) if len(mttr) else "n/a", f"resolved - first alert, {len(mttr)} resolved", ""),
    ]))
    if absent:
        page.add(f'<div class="note" data-absent="{esc(",".join(absent))}">The ledger has no column '
                 f'{esc(", ".join(absent))}: shown as empty.</div>')
    # the timeline: paged incidents first, then the newest others, up to MAX_ROWS rows
    rows_df = pd.concat([shown[shown["first_page"].notna() | shown["severity"].isin(["P0", "P1"])],
                         shown[~(shown["first_page"].notna() | shown["severity"].isin(["P0", "P1"]))].tail(MAX_ROWS)])
    rows_df = rows_df.drop_duplicates("id").head(MAX_ROWS).sort_values("first_alert")
    first = rows_df["first_alert"].min()
    pad = max(timedelta(minutes=30), (end_all - first) * 0.03)
    t0, t1 = ms(max(start, first - pad)), ms(end_all + pad)
    page.subtitle = f"{max(start, first - pad):%Y-%m-%d %H:%M} – {end_all:%Y-%m-%d %H:%M} UTC"
    rows = [_row(r, extra) for r in rows_df.to_dict("records")]
    timeline = {"type": "timeline", "title": f"Timeline ({len(rows)} of {len(shown)} incidents: paged ones and "
                                              "the newest others)", "t0": t0, "t1": t1, "rows": rows,
                "legend": [{"label": "P0", "color": SEVERITY_COLORS["P0"], "kind": "box"},
                           {"label": "P1", "color": SEVERITY_COLORS["P1"], "kind": "box"},
                           {"label": "P2 / ticket", "color": SEVERITY_COLORS["P2"], "kind": "box"},
                           {"label": "silenced", "color": "#98a2b3", "kind": "box"},
                           {"label": "first page", "color": "#1f2430", "kind": "dot"},
                           {"label": "resolved", "color": "#227a3b", "kind": "box"}]}
    page.add(page.section("Timeline", page.chart(timeline),
                          "bar: first alert to resolution (dashed outline: still open); diamond: first page; green "
                          "tick: resolved; hover a bar for root, decision and runbook actions"))
    if len(paged):
        page.add(page.section("Response per paged incident", page.chart(_response(paged)),
                              "each row on its own clock from the first alert: diamond = first page (MTTD), green tick "
                              "= resolved (MTTR), dot = last alert; dashed bar: not resolved yet"))
    page.add(page.section("Incidents", _table(shown.iloc[::-1]),
                          "newest first; MTTD = first page - first alert, MTTR = resolved - first alert"
                          + (f"; further ledger columns: {', '.join(extra)}" if extra else "")))
    summary.tables["paged"] = Summary.md(
        ["first alert", "severity", "root", "cause", "decision", "MTTD", "MTTA", "MTTR", "runbooks"],
        [[f"{r.first_alert:%m-%d %H:%M}", r.severity, _root(r._asdict()), r.cause or "", r.decision, _dur_td(r.mttd),
          _dur_td(r.mtta), _dur_td(r.mttr),
          "; ".join(actions(r.runbook_actions))] for r in paged.itertuples()])
    summary.values.update({"incidents": len(shown), "paged": len(paged), "open": len(open_),
                           "mttd_median_min": round(float(np.median(mttd)), 1) if len(mttd) else None,
                           "mttr_median_min": round(float(np.median(mttr)), 1) if len(mttr) else None,
                           "mtta_median_min": round(float(np.median(mtta)), 1) if len(mtta) else None})
    return page, summary


def _minutes(s: pd.Series) -> np.ndarray:
    return (s.dropna().dt.total_seconds() / 60).to_numpy()


def _dur(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _dur_td(td: object) -> str:
    return "" if td is None or pd.isna(td) else _dur(pd.Timedelta(td).total_seconds() / 60)


def _root(r: dict) -> str:
    comp, rule, src = r.get("root_component"), r.get("root_rule"), r.get("root_source")
    text = f"{comp or '?'}: {rule or '?'}"
    return text + (f" ({src})" if src else "")


def _color(r: dict) -> str:
    if r.get("decision") == "silenced":
        return "#98a2b3"
    return SEVERITY_COLORS.get(str(r.get("severity")), "#8c96a8")


def _response(paged: pd.DataFrame) -> dict:
    """A timeline relative to each incident's first alert (t = 0), so MTTD and MTTR of short incidents show."""
    rows, longest = [], 0
    for r in paged.sort_values("first_alert").to_dict("records"):
        off = lambda t: int((t - r["first_alert"]).total_seconds() * 1000)  # noqa: E731
        end = off(r["resolved_at"]) if pd.notna(r["resolved_at"]) else None
        marks = [{"t": off(r["first_page"]), "label": f"first page (MTTD {_dur_td(r['mttd'])})", "shape": "diamond",
                  "color": "#1f2430"}]
        if pd.notna(r["last_alert"]):
            marks.append({"t": off(r["last_alert"]), "label": "last alert", "shape": "circle", "color": "#667085"})
        if pd.notna(r["acknowledged_at"]):
            marks.append({"t": off(r["acknowledged_at"]), "label": f"acknowledged (MTTA {_dur_td(r['mtta'])})",
                          "shape": "circle", "color": "#4e79a7"})
        if pd.notna(r["escalated_at"]):
            marks.append({"t": off(r["escalated_at"]), "label": "escalated (not acknowledged)", "shape": "circle",
                          "color": "#d62728"})
        if end is not None:
            marks.append({"t": end, "label": f"resolved (MTTR {_dur_td(r['mttr'])})", "shape": "tick", "color": "#227a3b"})
        longest = max([longest] + [m["t"] for m in marks])
        rows.append({"label": f"{r.get('severity') or '?'} {r['first_alert']:%m-%d %H:%M} {r.get('root_component') or '?'}"
                              f" · {_dur_td(r['mttd']) or 'n/a'} / {_dur_td(r['mttr']) or 'open'}",
                     "start": 0, "end": end, "color": _color(r), "marks": marks,
                     "tip": f"{r['id']}: {_root(r)}"})
    span = max(longest * 1.15, 30 * 60_000)
    return {"type": "timeline", "relative": True, "title": "Minutes from first alert", "t0": 0, "t1": int(span),
            "rows": rows, "legend": [{"label": "first page", "color": "#1f2430", "kind": "dot"},
                                     {"label": "acknowledged", "color": "#4e79a7", "kind": "dot"},
                                     {"label": "resolved", "color": "#227a3b", "kind": "box"},
                                     {"label": "last alert", "color": "#667085", "kind": "dot"}]}


def _row(r: dict, extra: list[str]) -> dict:
    resolved = bool(r.get("resolved")) if r.get("resolved") is not None and not pd.isna(r.get("resolved")) else False
    end = r["resolved_at"] if pd.notna(r["resolved_at"]) else r["last_alert"] if resolved and pd.notna(r["last_alert"]) \
        else None
    marks = []
    if pd.notna(r["first_page"]):
        marks.append({"t": ms(r["first_page"]), "label": "first page", "shape": "diamond", "color": "#1f2430"})
    if pd.notna(r["resolved_at"]):
        marks.append({"t": ms(r["resolved_at"]), "label": "resolved", "shape": "tick", "color": "#227a3b"})
    if pd.notna(r["page_due"]) and pd.isna(r["first_page"]) and r.get("decision") not in ("ticket", "silenced"):
        marks.append({"t": ms(r["page_due"]), "label": "page due", "shape": "circle", "color": "#b54708"})
    tip = [f"{r['id']}  {r.get('severity') or ''}  {_root(r)}",
           f"first alert {r['first_alert']:%m-%d %H:%M}Z, {r.get('alerts') or '?'} alert(s)",
           f"decision {r.get('decision') or '?'}" + (f" ({r['reason']})" if r.get("reason") else ""),
           f"MTTD {_dur_td(r['mttd']) or 'n/a'} · MTTR {_dur_td(r['mttr']) or 'n/a'}"]
    if r.get("cause"):
        tip.insert(1, f"cause {r['cause']}")
    acts = actions(r.get("runbook_actions"))
    if acts:
        tip.append("runbooks: " + "; ".join(acts))
    tip += [f"{c}: {r.get(c)}" for c in extra if r.get(c) is not None and not _isna(r.get(c))]
    label = f"{r.get('severity') or '?'} {r['first_alert']:%m-%d %H:%M} {r.get('root_component') or '?'}: " \
            f"{r.get('root_rule') or '?'}"
    return {"label": label, "start": ms(r["first_alert"]), "end": ms(end) if end is not None else None,
            "color": _color(r), "marks": marks, "tip": "\n".join(tip)}


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _table(df: pd.DataFrame) -> str:
    rows, classes = [], []
    for r in df.head(300).to_dict("records"):
        sev = str(r.get("severity") or "")
        pill = f'<span class="pill" style="background:{_color(r)}">{esc(sev or "?")}</span>'
        acts = actions(r.get("runbook_actions"))
        rows.append([
            esc("" if pd.isna(r["first_alert"]) else f"{r['first_alert']:%m-%d %H:%M}"), pill, esc(_root(r)),
            esc(r.get("cause") or ""),
            esc(r.get("decision") or ""), esc(r.get("alerts") if r.get("alerts") is not None else ""),
            esc("" if pd.isna(r["first_page"]) else f"{r['first_page']:%m-%d %H:%M}"),
            esc("" if pd.isna(r["resolved_at"]) else f"{r['resolved_at']:%m-%d %H:%M}"),
            esc(_dur_td(r["mttd"])), esc(_dur_td(r["mttr"])), esc("; ".join(acts)), esc(r["id"])])
        classes.append("bad" if pd.notna(r["first_page"]) else "")
    return Page.table(["first alert", "sev", "root", "cause", "decision", "alerts", "first page", "resolved", "MTTD",
                       "MTTR", "runbook actions", "id"], rows, num={5, 8, 9}, raw=set(range(12)), row_class=classes)
