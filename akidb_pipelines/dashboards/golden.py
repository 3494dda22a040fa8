"""Golden Signals: latency percentiles, traffic, errors and saturation per tier and per edge location, from
``models/marts/golden_signals_1m``. A scope selector switches between the overview, one tier, the edge
locations compared, and one edge location (CloudFront + Lambda@Edge there)."""

from __future__ import annotations

import math

import numpy as np

from akidb_pipelines.dashboards.data import LakeReader, Window, coarsen, window_for
from akidb_pipelines.dashboards.page import Page, esc, line_spec
from akidb_pipelines.dashboards.summary import Summary, sparkline

TABLE = "models/marts/golden_signals_1m"
TIERS = ("cloudfront", "lambda-edge", "alb", "akidb-rest")
TIER_COLORS = {"cloudfront": "#4e79a7", "lambda-edge": "#f28e2b", "alb": "#59a14f", "akidb-rest": "#e15759"}
MAX_POINTS_PER_CHART = 8000  # multi-series comparisons are coarsened to stay under this

METRICS = {  # output column -> aggregate over the bucket's minutes
    "p50": "avg({latency_p50_ms})", "p95": "avg({latency_p95_ms})", "p99": "avg({latency_p99_ms})",
    "emf_p50": "avg({emf_latency_p50_ms})", "emf_p95": "avg({emf_latency_p95_ms})",
    "emf_p99": "avg({emf_latency_p99_ms})",
    "requests": "avg({requests})",  # per minute
    "error_rate": "sum({errors_5xx}) / nullif(sum({requests}) FILTER (WHERE {errors_5xx} IS NOT NULL), 0)",
    "fault_rate": "sum({span_faults}) / nullif(sum({spans}), 0)",
    "throttles": "avg({throttles})",
    "cpu": "avg({cpu_utilization_pct})", "capacity_ratio": "avg({capacity_ratio})",
    "concurrency": "avg({concurrency})", "provisioned": "avg({provisioned_concurrency})",
    "cold_starts": "avg({cold_starts})",
    "spot": "avg({instances_spot})", "on_demand": "avg({instances_on_demand})",
}
SOURCE_COLUMNS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "emf_latency_p50_ms", "emf_latency_p95_ms",
                  "emf_latency_p99_ms", "requests", "errors_5xx", "span_faults", "spans", "throttles",
                  "cpu_utilization_pct", "capacity_ratio", "concurrency", "provisioned_concurrency", "cold_starts",
                  "instances_spot", "instances_on_demand")


def build(reader: LakeReader, days: float = 7.0) -> tuple[Page, Summary]:
    page = Page("golden_signals", "Golden signals", "latency, traffic, errors and saturation per tier and edge location")
    summary = Summary()
    if not reader.has(TABLE):
        page.missing_input(TABLE, f"The golden signals model has no files in the lake ({reader.lake.root}). "
                                  "Materialize duckdb/marts/golden_signals_1m (make demo does) and render again.")
        return page, summary
    first, last = reader.span(TABLE)
    w = window_for(last, first, days)
    page.subtitle = w.describe()
    cols = {c: reader.col(TABLE, c) for c in SOURCE_COLUMNS}
    aggs = ", ".join(f"{expr.format(**cols)} AS {name}" for name, expr in METRICS.items())
    df = reader.df(
        f"SELECT time_bucket(INTERVAL '{w.bucket} minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS t, "
        f"tier, edge_location, {aggs} FROM {reader.relation(TABLE)} "
        "WHERE minute >= ? AND minute < ? GROUP BY ALL ORDER BY t", [w.start, w.end])
    groups = {k: g for k, g in df.groupby(["tier", "edge_location"], sort=True)}

    def s(tier: str, edge: str, metric: str) -> np.ndarray:
        g = groups.get((tier, edge))
        return w.grid(g, metric) if g is not None else np.full(w.n, np.nan)

    tiers = [t for t in TIERS if (t, "all") in groups] + sorted({t for t, e in groups if e == "all"} - set(TIERS))
    edges = sorted({e for _, e in groups if e != "all"})

    # cards and the metadata table: one line per tier
    cards, rows = [], []
    for t in tiers:
        p95 = _prefer(s(t, "all", "p95"), s(t, "all", "emf_p95"))
        err = s(t, "all", "error_rate")
        req = s(t, "all", "requests")
        worst, med, peak = _nanmax(p95), _nanmedian(p95), _nanmax(err)
        state = "bad" if peak is not None and peak > 0.01 else "warn" if peak is not None and peak > 0.001 else "good"
        cards.append((t, _ms(med), f"median P95 · worst {_ms(worst)} · peak errors {_pct(peak)}", state))
        rows.append([t, _ms(med), _ms(worst), _num(_nanmean(req)), _pct(peak), sparkline(p95)])
    summary.tables["golden_signals"] = Summary.md(
        ["tier", "median P95", "worst P95", "requests/min", "peak 5xx rate", f"P95 ({w.bucket}-min buckets)"], rows)
    summary.values.update({"tiers": len(tiers), "edge_locations": len(edges), "bucket_minutes": w.bucket})

    scopes: list[tuple[str, str, str]] = [("overview", "Overview: every tier", _overview(page, w, s, tiers, edges))]
    for t in tiers:
        scopes.append((f"tier:{t}", f"Tier {t}", _tier(page, w, s, t, edges)))
    if edges:
        scopes.append(("edges", "Edge locations compared", _edges(page, w, s, edges)))
        for e in edges:
            scopes.append((f"edge:{e}", f"Edge location {e}", _edge(page, w, s, e)))
    page.add(Page.cards(cards))
    options = "".join(f'<option value="{esc(k)}">{esc(label)}</option>' for k, label, _ in scopes)
    page.add(f'<div class="toolbar"><label for="scope-select">Scope</label><select id="scope-select">{options}</select>'
             f'<span class="note">{len(tiers)} tiers, {len(edges)} edge locations · {esc(w.describe())}</span></div>')
    for i, (key, label, body) in enumerate(scopes):
        page.add(f'<div data-scope="{esc(key)}"{"" if i == 0 else " hidden"}>{body}</div>')
    return page, summary


def _prefer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a if np.isfinite(a).sum() >= np.isfinite(b).sum() else b


def _charts(page: Page, title: str, specs: list[dict | None], empty: str, note: str = "") -> str:
    drawn = [page.chart(c) for c in specs if c is not None]
    body = f'<div class="grid2">{"".join(drawn)}</div>' if drawn else f'<div class="note">{esc(empty)}</div>'
    return page.section(title, body, note)


def _overview(page: Page, w: Window, s, tiers: list[str], edges: list[str]) -> str:  # noqa: ANN001
    col = lambda t: {"color": TIER_COLORS.get(t)}  # noqa: E731
    lat = line_spec("P95 latency per tier (X-Ray root segments)", w,
                    [(t, s(t, "all", "p95"), col(t)) for t in tiers], "ms", ylog=True, ylog_floor=1)
    traffic = line_spec("Traffic: requests per minute", w, [(t, s(t, "all", "requests"), col(t)) for t in tiers])
    errors = line_spec("Errors: 5xx rate", w, [(t, s(t, "all", "error_rate"), col(t)) for t in tiers], "pct")
    conc = _edge_sum(s, edges, "concurrency")
    prov = _edge_sum(s, edges, "provisioned")
    with np.errstate(all="ignore"):
        util = np.where(prov > 0, 100 * conc / prov, np.nan)
    sat = line_spec("Saturation", w, [("akidb-rest CPU %", s("akidb-rest", "all", "cpu"), col("akidb-rest")),
                                      ("Lambda@Edge concurrency, % of provisioned", util, col("lambda-edge"))],
                    "pct100", thresholds=[{"value": 80, "label": "80%", "color": "#b54708"}])
    return _charts(page, "Every tier", [lat, traffic, errors, sat], "no golden signals in this window")


def _edge_sum(s, edges: list[str], metric: str) -> np.ndarray:  # noqa: ANN001
    if not edges:
        return np.full(0, np.nan)
    arr = np.vstack([s("lambda-edge", e, metric) for e in edges])
    out = np.nansum(arr, axis=0)
    out[~np.isfinite(arr).any(axis=0)] = np.nan
    return out


def _tier(page: Page, w: Window, s, t: str, edges: list[str]) -> str:  # noqa: ANN001
    lat = line_spec(f"{t}: latency percentiles", w, [
        ("P50 (X-Ray)", s(t, "all", "p50"), {"color": "#59a14f"}), ("P95 (X-Ray)", s(t, "all", "p95"), {"color": "#f28e2b"}),
        ("P99 (X-Ray)", s(t, "all", "p99"), {"color": "#e15759"}),
        ("P95 (EMF)", s(t, "all", "emf_p95"), {"color": "#4e79a7", "dash": True})], "ms", ylog=True, ylog_floor=1)
    traffic = line_spec(f"{t}: traffic", w, [("requests/min", s(t, "all", "requests"), {}),
                                             ("throttled (429)/min", s(t, "all", "throttles"), {"color": "#b07aa1"})])
    errors = line_spec(f"{t}: errors", w, [("5xx rate (counters)", s(t, "all", "error_rate"), {"color": "#e15759"}),
                                           ("fault rate (X-Ray)", s(t, "all", "fault_rate"), {"color": "#9c755f",
                                                                                               "dash": True})], "pct")
    sats: list[dict | None] = []
    if t == "akidb-rest":
        sats.append(line_spec("akidb-rest: CPU", w, [("CPU %", s(t, "all", "cpu"), {})], "pct100",
                              thresholds=[{"value": 80, "label": "80%", "color": "#b54708"}]))
        sats.append(line_spec("akidb-rest: capacity (provisioned / used)", w,
                              [("capacity ratio", s(t, "all", "capacity_ratio"), {})], "x",
                              thresholds=[{"value": 1, "label": "1× (no headroom)", "color": "#d62728"}]))
        sats.append(line_spec("akidb-rest: instances", w, [("spot", s(t, "all", "spot"), {}),
                                                           ("on-demand", s(t, "all", "on_demand"), {})]))
    elif t == "lambda-edge":
        sats.append(line_spec("Lambda@Edge: concurrency (all edge locations)", w, [
            ("concurrent executions", _edge_sum(s, edges, "concurrency"), {}),
            ("provisioned concurrency", _edge_sum(s, edges, "provisioned"), {"dash": True}),
            ("cold starts/min", _edge_sum(s, edges, "cold_starts"), {"color": "#e15759"})]))
    return _charts(page, f"Tier {t}", [lat, traffic, errors, *sats], f"no data for tier {t} in this window",
                   "" if sats else f"no saturation signal is recorded for {t}")


def _edges(page: Page, w: Window, s, edges: list[str]) -> str:  # noqa: ANN001
    k = max(1, math.ceil(len(edges) * w.n / MAX_POINTS_PER_CHART))
    wc = w.coarser(k)
    lat = line_spec("Lambda@Edge P95 latency per edge location (EMF)", wc,
                    [(e, coarsen(s("lambda-edge", e, "emf_p95"), k), {}) for e in edges], "ms", ylog=True,
                    ylog_floor=1, height=280)
    req = line_spec("Lambda@Edge requests per minute per edge location", wc,
                    [(e, coarsen(s("lambda-edge", e, "requests"), k), {}) for e in edges], height=280)
    cold = line_spec("Lambda@Edge cold starts per minute per edge location", wc,
                     [(e, coarsen(s("lambda-edge", e, "cold_starts"), k, "max"), {}) for e in edges], height=280)
    cf = line_spec("CloudFront P95 latency per edge location (X-Ray)", wc,
                   [(e, coarsen(s("cloudfront", e, "p95"), k), {}) for e in edges], "ms", ylog=True, ylog_floor=1,
                   height=280)
    rows = []
    for e in edges:
        p95 = s("lambda-edge", e, "emf_p95")
        rows.append([e, _ms(_nanmedian(p95)), _ms(_nanmax(p95)), _num(_nanmean(s("lambda-edge", e, "requests"))),
                     _num(_nansum(s("lambda-edge", e, "cold_starts")) * w.bucket),
                     _pct(_nanmax(s("cloudfront", e, "fault_rate")))])
    table = Page.table(["edge location", "Lambda@Edge median P95", "worst P95", "requests/min", "cold starts",
                        "CloudFront peak fault rate"], rows, num={1, 2, 3, 4, 5})
    note = f"{w.bucket * k}-minute buckets" + (" (coarsened to keep the charts light)" if k > 1 else "")
    return (_charts(page, "Edge locations compared", [lat, req, cold, cf], "no edge-location data", note)
            + page.section("Edge locations", table))


def _edge(page: Page, w: Window, s, e: str) -> str:  # noqa: ANN001
    lat = line_spec(f"{e}: latency", w, [
        ("Lambda@Edge P50 (EMF)", s("lambda-edge", e, "emf_p50"), {"color": "#59a14f"}),
        ("Lambda@Edge P95 (EMF)", s("lambda-edge", e, "emf_p95"), {"color": "#f28e2b"}),
        ("Lambda@Edge P99 (EMF)", s("lambda-edge", e, "emf_p99"), {"color": "#e15759"}),
        ("CloudFront P95 (X-Ray)", s("cloudfront", e, "p95"), {"color": "#4e79a7", "dash": True})], "ms",
        ylog=True, ylog_floor=1)
    traffic = line_spec(f"{e}: traffic", w, [("Lambda@Edge requests/min", s("lambda-edge", e, "requests"), {})])
    errors = line_spec(f"{e}: errors (X-Ray fault rate)", w, [
        ("CloudFront", s("cloudfront", e, "fault_rate"), {"color": TIER_COLORS["cloudfront"]}),
        ("Lambda@Edge", s("lambda-edge", e, "fault_rate"), {"color": TIER_COLORS["lambda-edge"]})], "pct")
    sat = line_spec(f"{e}: Lambda@Edge concurrency", w, [
        ("concurrent executions", s("lambda-edge", e, "concurrency"), {}),
        ("provisioned", s("lambda-edge", e, "provisioned"), {"dash": True}),
        ("cold starts/min", s("lambda-edge", e, "cold_starts"), {"color": "#e15759"})])
    return _charts(page, f"Edge location {e}", [lat, traffic, errors, sat], f"no data for {e} in this window")


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def _nanmax(a: np.ndarray) -> float | None:
    f = _finite(a)
    return float(f.max()) if len(f) else None


def _nanmean(a: np.ndarray) -> float | None:
    f = _finite(a)
    return float(f.mean()) if len(f) else None


def _nanmedian(a: np.ndarray) -> float | None:
    f = _finite(a)
    return float(np.median(f)) if len(f) else None


def _nansum(a: np.ndarray) -> float | None:
    f = _finite(a)
    return float(f.sum()) if len(f) else None


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2f}"



