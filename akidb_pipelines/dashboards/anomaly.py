"""Anomalies: per scored series the actual values against the promoted model's 95% band and forecast, the flagged
points as markers (``forecast/anomaly_scores`` and ``forecast/anomalies``), and the validation metrics of every
promoted model from the registry's ``meta.json``."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from akidb_pipelines.dashboards.data import LakeReader, coarsen, window_for
from akidb_pipelines.dashboards.page import Page, esc, line_spec, ms
from akidb_pipelines.dashboards.summary import Summary, sparkline
from akidb_pipelines.forecast.registry import ROOT as REGISTRY
from akidb_pipelines.forecast.scoring import ANOMALIES_TABLE as ANOMALIES
from akidb_pipelines.forecast.scoring import SCORES_TABLE as SCORES

MAX_POINTS_PER_PAGE = 250_000   # all series together (actual, forecast, band lower and upper)
MAX_MARKERS_PER_CHART = 400


def build(reader: LakeReader, days: float = 7.0) -> tuple[Page, Summary]:
    page = Page("anomaly", "Anomalies", "actual vs forecast band per series, flagged points, model validation")
    summary = Summary()
    models = _promoted_models(reader)
    flagged_total = 0
    if not reader.has(SCORES):
        page.missing_input(SCORES, f"No anomaly scores in the lake ({reader.lake.root}): scoring needs promoted "
                                   "models (train_models) and then forecast/anomaly_scores runs.")
    else:
        first, last = reader.span(SCORES)
        w = window_for(last, first, days)
        page.subtitle = w.describe()
        rel = reader.relation(SCORES)
        df = reader.df(
            f"SELECT series, time_bucket(INTERVAL '{w.bucket} minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') "
            "AS t, arg_max(actual, abs(actual - coalesce(yhat, actual))) AS actual, avg(yhat) AS yhat, "
            "avg(lower) AS lower, avg(upper) AS upper, max(anomaly_score) AS score, count(*) AS points "
            f"FROM {rel} WHERE minute >= ? AND minute < ? GROUP BY ALL ORDER BY t", [w.start, w.end])
        if reader.has(ANOMALIES):
            flags = reader.df(f"SELECT series, minute, actual, anomaly_score, direction FROM "
                              f"{reader.relation(ANOMALIES)} WHERE minute >= ? AND minute < ? ORDER BY minute",
                              [w.start, w.end])
            flag_note = f"markers: {ANOMALIES}"
        else:  # no point was ever flagged (the table gets files with the first anomaly): the scores say the same
            flags = reader.df(f"SELECT series, minute, actual, anomaly_score, direction FROM {rel} "
                              "WHERE is_anomaly AND minute >= ? AND minute < ? ORDER BY minute", [w.start, w.end])
            flag_note = f"markers: is_anomaly in {SCORES} ({ANOMALIES} has no files yet)"
        flagged_total = len(flags)
        counts = flags.groupby("series").size().to_dict() if len(flags) else {}
        series = sorted(df["series"].unique(), key=lambda s: (-counts.get(s, 0), s))
        k = max(1, math.ceil(len(series) * 4 * w.n / MAX_POINTS_PER_PAGE))
        wc = w.coarser(k)
        page.add(Page.cards([
            ("series scored", str(len(series)), f"{len(models)} promoted models", ""),
            ("flagged points", str(flagged_total), "in the window", "warn" if flagged_total else "good"),
            ("series with flags", str(len(counts)), ", ".join(list(counts)[:3]) + ("…" if len(counts) > 3 else ""), ""),
        ]))
        charts, rows = [], []
        for sid in series:
            g = df[df["series"] == sid]
            f = flags[flags["series"] == sid]
            actual = coarsen(w.grid(g, "actual"), k, "max")
            markers = [{"t": ms(r.minute), "v": _f(r.actual),
                        "label": f"score {r.anomaly_score:.2f} {r.direction or ''}".strip()}
                       for r in f.tail(MAX_MARKERS_PER_CHART).itertuples() if pd.notna(r.actual)]
            unit = "ms" if sid.endswith("_ms") else "pct" if sid.endswith("error_rate") else \
                "pct100" if sid.endswith("_pct") else "num"
            spec = line_spec(f"{sid}", wc, [
                ("actual", actual, {"color": "#1f2430", "width": 1.2}),
                ("forecast (yhat)", coarsen(w.grid(g, "yhat"), k), {"color": "#4e79a7", "dash": True})], unit,
                bands=[{"name": "95% band", "color": "#4e79a7", "lower": _vals(coarsen(w.grid(g, "lower"), k)),
                        "upper": _vals(coarsen(w.grid(g, "upper"), k))}],
                markers=markers, markers_label=f"flagged ({len(f)})",
                note=f"{len(f)} flagged · model {models.get(sid, {}).get('version', 'n/a')}")
            if spec is not None:
                charts.append(page.chart(spec))
            rows.append([sid, len(f), int(g["points"].sum()), sparkline(actual)])
        page.add(page.section(
            "Actual vs forecast band", f'<div class="grid2">{"".join(charts)}</div>' if charts else
            '<div class="note">no scored points in this window</div>',
            f"{wc.bucket}-minute buckets: the band and forecast averaged, the actual value the bucket's point "
            f"farthest from the forecast (so a spike stays visible); {flag_note}; series with flags first"))
        summary.tables["series"] = Summary.md(["series", "flagged", "points scored", "actual"], rows)
    summary.values.update({"flagged": flagged_total, "promoted_models": len(models)})
    page.add(_validation_section(page, reader, models))
    summary.tables["models"] = Summary.md(
        ["series", "version", "measure", "error", "coverage"],
        [[s, m.get("version"), _v(m).get("measure"), _num(_v(m).get("error")), _pct(_v(m).get("coverage"))]
         for s, m in models.items()])
    return page, summary


def _v(meta: dict) -> dict:
    return meta.get("validation") or {}


def _promoted_models(reader: LakeReader) -> dict[str, dict]:
    """series -> meta.json of its promoted version (also 'latest' when a newer version was rejected)."""
    lake = reader.lake
    objects = lake.list_objects(REGISTRY)
    series = sorted({p.split("/")[2] for p in objects if p.count("/") >= 3})
    out = {}
    for s in series:
        raw = lake.read_bytes(f"{REGISTRY}/{s}/promoted.json")
        if raw is None:
            continue
        version = json.loads(raw).get("version")
        meta = lake.read_bytes(f"{REGISTRY}/{s}/{version}/meta.json")
        if meta is None:
            continue
        m = json.loads(meta)
        m.setdefault("version", version)
        versions = sorted({p.split("/")[3] for p in objects if p.startswith(f"{REGISTRY}/{s}/") and p.endswith("/meta.json")})
        if versions and versions[-1] != version:
            latest = lake.read_bytes(f"{REGISTRY}/{s}/{versions[-1]}/meta.json")
            if latest is not None:
                lm = json.loads(latest)
                m["_latest"] = {"version": versions[-1], "reasons": _v(lm).get("reasons", [])}
        out[s] = m
    return out


def _validation_section(page: Page, reader: LakeReader, models: dict[str, dict]) -> str:
    if not models:
        page.missing_input(f"{REGISTRY}/*/promoted.json",
                           f"No promoted model in the registry ({reader.lake.root}/{REGISTRY}): train_models "
                           "promotes a model only when it passes the validation gate.")
        return ""
    rows = []
    for s, m in models.items():
        v = _v(m)
        err, bound = v.get("error"), v.get("max_error")
        cov, band = v.get("coverage"), v.get("coverage_band") or [None, None]
        latest = m.get("_latest")
        rows.append([
            esc(s), esc(m.get("version")),
            esc(f"{str(m.get('training_start', ''))[:16]} – {str(m.get('training_end', ''))[:16]}"),
            esc(m.get("points", "")), esc(v.get("measure", "")),
            f"{esc(_num(err))} <span class=meter title='bound {esc(_num(bound))}'>{_meter(err, (bound or 0) * 1.5, [bound])}</span>",
            f"{esc(_pct(cov))} <span class=meter title='range {esc(_pct(band[0]))} – {esc(_pct(band[1]))}'>"
            f"{_meter(cov, 1.0, list(band))}</span>",
            esc(len(v.get("cutoffs") or [])), esc(m.get("warm_started_from") or "cold"),
            esc(f"{latest['version']} rejected: {'; '.join(latest['reasons'])}" if latest else "this one")])
    table = Page.table(["series", "version", "trained on", "points", "measure", "error (bar: bound)",
                        "95% band coverage (bar: range)", "back-test cutoffs", "warm start", "newest version"],
                       rows, num={3}, raw=set(range(10)))
    return page.section("Promoted models: validation", table,
                        f"from {REGISTRY}/<series>/<version>/meta.json (rolling-origin back-test); "
                        "red marks on the bars are the gate's bounds")


def _meter(v: float | None, scale: float | None, marks: list) -> str:
    """A small bar for ``v`` on [0, scale] with red ticks at ``marks`` (the gate's bounds)."""
    scale = max([scale or 0, v or 0, 1e-9])
    fill = "" if v is None else f"<b style='width:{min(100.0, 100 * v / scale):.0f}%'></b>"
    return fill + "".join(f"<u style='left:{min(100.0, 100 * x / scale):.0f}%'></u>" for x in marks if x is not None)


def _vals(a: np.ndarray) -> list:
    from akidb_pipelines.dashboards.page import values

    return values(a)


def _f(v: object) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _num(v: object) -> str:
    f = _f(v)
    return "n/a" if f is None else f"{f:.3f}"


def _pct(v: object) -> str:
    f = _f(v)
    return "n/a" if f is None else f"{100 * f:.1f}%"
