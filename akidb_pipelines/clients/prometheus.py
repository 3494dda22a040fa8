"""Prometheus HTTP API: range queries chunked under the 11,000-points-per-series limit, written as OpenMetrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

MAX_POINTS = 11_000


@dataclass(frozen=True)
class PromQuery:
    name: str     # becomes the metric name when the expression has no __name__ (e.g. a rate())
    expr: str


def chunks(start: float, end: float, step: int, max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Split [start, end] (aligned to ``step``) so that no request asks for more than ``max_points`` per series."""
    s = math.ceil(start / step) * step
    out = []
    while s <= end:
        e = min(end, s + (max_points - 1) * step)
        out.append((s, e))
        s = e + step
    return out


def query_range(base_url: str, expr: str, start: float, end: float, step: int, timeout: float = 60.0,
                session: requests.Session | None = None) -> list[tuple[dict[str, str], list[tuple[float, str]]]]:
    http = session or requests.Session()
    series: dict[tuple, tuple[dict[str, str], list]] = {}
    for s, e in chunks(start, end, step):
        r = http.get(f"{base_url.rstrip('/')}/api/v1/query_range",
                     params={"query": expr, "start": s, "end": e, "step": step}, timeout=timeout)
        try:
            body = r.json()
        except ValueError:
            r.raise_for_status()
            raise RuntimeError(f"Prometheus answered {r.status_code} without JSON") from None
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query failed ({r.status_code}): {body.get('error', body)}")
        for res in body["data"]["result"]:
            key = tuple(sorted(res["metric"].items()))
            series.setdefault(key, (res["metric"], []))[1].extend((float(t), v) for t, v in res["values"])
    return list(series.values())


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fetch_to_openmetrics(base_url: str, queries: list[PromQuery], start: datetime, end: datetime, step: int,
                         out: Path) -> int:
    """Run each query over [start, end) and write the samples as OpenMetrics text (timestamps in seconds)."""
    n = 0
    t0, t1 = start.timestamp(), end.timestamp() - step
    with open(out, "w", encoding="utf-8") as fh:
        for q in queries:
            for metric, values in query_range(base_url, q.expr, t0, t1, step):
                labels = {k: v for k, v in metric.items() if k != "__name__"}
                name = metric.get("__name__") or q.name
                lt = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}" if labels else ""
                for t, v in values:
                    fh.write(f"{name}{lt} {v} {t:.3f}\n")
                    n += 1
        fh.write("# EOF\n")
    return n
