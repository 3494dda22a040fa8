"""The demo's closing summary: rows stored and quarantined per source, the worst minute per tier, the SLOs' budgets
and alert minutes, anomalies beside the injected incidents, the incidents paged, the asset checks."""

from __future__ import annotations

import io
import json
from collections import Counter

import pandas as pd

from akidb_pipelines.alerting.digest import tickets_opened
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT
from akidb_pipelines.storage import Catalog, Lake
from akidb_pipelines.telemetry.conventions import QUARANTINE_TABLES, RAW_TABLES


def print_summary(settings, gt: dict, scored_from: str, seconds: float, standin, stats: dict,  # noqa: ANN001
                  say) -> None:  # noqa: ANN001
    """Everything the demo prints at its end, before the dashboards (``stats``: the runs' asset checks)."""
    catalog = Catalog.from_settings(settings)
    for kind in ("xray", "emf", "prom"):
        raw, bad = RAW_TABLES[kind].replace("/", "."), QUARANTINE_TABLES[kind].replace("/", ".")
        stored = _count(catalog, raw)
        quarantined = _count(catalog, bad)
        reasons = _reasons(catalog, bad)
        injected = gt.get("corrupted_records", {}).get(kind, 0)
        say(f"      {raw:26s} {stored:>12,} rows   quarantined {quarantined:>5,} (injected damage: {injected})"
            + (f"  {reasons}" if reasons else ""))
    for view in ("staging.stg_xray_spans", "staging.stg_emf_metrics", "staging.stg_prometheus_samples",
                 "marts.golden_signals_1m"):
        say(f"      {view:34s} {_count(catalog, view):>12,} rows")
    try:
        worst = catalog.query(
            "SELECT tier, max(error_rate) AS e, max(latency_p95_ms) AS l, max(emf_latency_p95_ms) AS el "
            "FROM marts.golden_signals_1m WHERE edge_location = 'all' GROUP BY tier ORDER BY tier")
        say("      worst minute per tier (golden signals): "
            + "; ".join(f"{r.tier} errors {100 * (r.e or 0):.1f}% p95 {max(r.l or 0, r.el or 0):.0f} ms"
                        for r in worst.itertuples()))
    except Exception:  # noqa: BLE001 - the summary never hides the run's own result
        pass
    try:
        slo = catalog.query(
            "SELECT slo, arg_max(budget_remaining, minute) AS remaining, "
            "count(*) FILTER (WHERE alert_state = 'fast') AS fast, count(*) FILTER (WHERE alert_state = 'medium') AS medium, "
            "count(*) FILTER (WHERE alert_state = 'slow') AS slow, count(*) FILTER (WHERE alert_state = 'no_data') AS no_data "
            "FROM marts.slo_burn_rates_1m GROUP BY slo ORDER BY slo")
        say("      SLOs (budget remaining at the end; minutes in each alert tier):")
        for r in slo.itertuples():
            say(f"        {r.slo:14s} budget {100 * r.remaining:6.1f}%   fast/P0 {r.fast:>4} min   "
                f"medium/P1 {r.medium:>4} min   slow/P2 {r.slow:>5} min   no data {r.no_data:>4} min")
    except Exception:  # noqa: BLE001 - the summary never hides the run's own result
        pass
    _anomaly_summary(catalog, gt, scored_from, say)
    _incident_summary(settings, gt, seconds, standin, say)
    say(f"      asset checks passed: {stats['passed']}/{stats['total']}"
        + (f"  FAILED: {stats['failed']}" if stats["failed"] else "")
        + (f"  warnings: {_counted(stats['warned'])}" if stats["warned"] else ""))
    say("      incidents in the data (ground truth):")
    for inc in gt["incidents"]:
        say(f"        {inc['id']:30s} {inc['start']} .. {inc['end']}  {','.join(inc['components'])}"
            + (f" @ {','.join(inc['edge_locations'])}" if inc["edge_locations"] else ""))


def _anomaly_summary(catalog, gt: dict, scored_from: str, say) -> None:  # noqa: ANN001
    """Anomalies found next to the injected incidents (first flag, delay from onset, series), and outside them."""
    try:
        an = catalog.query("SELECT series, minute, anomaly_score, direction FROM forecast.anomalies ORDER BY minute")
    except Exception:  # noqa: BLE001 - no anomalies table yet: nothing scored
        say("      anomalies: none recorded (no promoted model scored any minute)")
        return
    say(f"      anomalies (Prophet band + detector, scored from {scored_from}): {len(an)} flagged minutes")
    near = pd.Series(False, index=an.index)
    for inc in gt["incidents"]:
        s, e = pd.Timestamp(inc["start"]), pd.Timestamp(inc["end"])
        hit = an[(an.minute >= s - pd.Timedelta(minutes=5)) & (an.minute < e + pd.Timedelta(minutes=30))]
        near |= an.index.isin(hit.index)
        if s < pd.Timestamp(scored_from):
            say(f"        {inc['id']:30s} before the models existed (the SLO burn rates cover it)")
        elif hit.empty:
            say(f"        {inc['id']:30s} not flagged")
        else:
            first = hit.minute.min()
            say(f"        {inc['id']:30s} first flag {first:%m-%d %H:%M} ({(first - s).total_seconds() / 60:+.0f} min "
                f"from onset), {len(hit)} flags on {', '.join(sorted(hit.series.unique()))}")
    say(f"        outside any incident (false positives): {int((~near).sum())} flagged minutes")



def _incident_summary(settings, gt: dict, seconds: float, standin, say) -> None:  # noqa: ANN001
    data = Lake.from_settings(settings).read_bytes(INCIDENTS_OBJECT)
    if data is None:
        say("      incidents: none recorded")
        return
    df = pd.read_parquet(io.BytesIO(data))
    weeks = max(seconds / (7 * 86400), 1e-9)
    paged = df[df["pages_sent"] > 0].sort_values("first_alert")
    opened = tickets_opened(df)
    say(f"      incidents: {len(df)} ({len(paged)} paged, {opened['incident']} tickets, {opened['digest']} daily "
        f"digest(s) of {int((df['decision'] == 'digest').sum())} blips, {int((df['decision'] == 'hold').sum())} "
        f"held); alerts {int(df['alerts'].sum())} ({df['alerts'].sum() / weeks:.0f}/week), pages {len(paged)} "
        f"({len(paged) / weeks:.1f}/week)")
    windows = [(pd.Timestamp(i["start"]), pd.Timestamp(i["end"]), i["id"]) for i in gt["incidents"]]
    for r in paged.itertuples():
        match = next((n for s, e, n in windows if s - pd.Timedelta(minutes=5) <= r.first_alert <= e), None)
        mins = lambda a, b: f"{(b - a).total_seconds() / 60:.0f}m" if pd.notna(a) and pd.notna(b) else "-"  # noqa: E731
        say(f"        {r.severity} {r.first_alert:%m-%d %H:%M}  {r.root_component}: {r.root_rule} ({r.root_source}), "
            f"cause {getattr(r, 'cause', '?')}, {r.alerts} alert(s)  -> {match or 'NOT an injected incident'}; "
            f"page +{mins(r.first_alert, r.first_page)}, ack +{mins(r.first_alert, getattr(r, 'acknowledged_at', None))}"
            + ("; resolved" if r.resolved else ""))
        for action in json.loads(getattr(r, "runbook_actions", None) or "[]"):
            say(f"           runbook {action}")
    missed = [n for s, e, n in windows if not any(s - pd.Timedelta(minutes=5) <= t <= e for t in paged.first_alert)]
    if missed:
        say(f"        not paged: {', '.join(missed)}")
    if standin is not None:
        say(f"      PagerDuty stand-in received {len(standin.events)} events for {len(standin.incidents)} incidents")
    say("      (the replay ticks as the sensors would live: a page's delay here is the MTTD a live run would have, with "
        "the pipeline cycle printed in step 4)")



def _counted(names: list[str]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in Counter(names).items())



def _count(catalog, view: str) -> int:  # noqa: ANN001
    try:
        return int(catalog.query(f"SELECT count(*) AS n FROM {view}")["n"][0])
    except Exception:  # noqa: BLE001 - a view exists only once its table has files
        return 0


def _reasons(catalog, view: str) -> dict[str, int]:  # noqa: ANN001
    try:
        df = catalog.query(f"SELECT reason, count(*) AS n FROM {view} GROUP BY reason ORDER BY reason")
    except Exception:  # noqa: BLE001
        return {}
    return dict(zip(df["reason"], df["n"].astype(int)))
