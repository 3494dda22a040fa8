"""Dashboards as self-contained HTML pages in the lake (``dashboards/<name>.html``), rendered from the lake with
DuckDB: Golden Signals, SLOs, Anomalies, Incidents and the chaos validation. Every page inlines its styles, its charting script
(``charts.js``, SVG) and its data, so it opens offline; an input that is missing is named on the page.

    from akidb_pipelines.dashboards import publish_all
    for d in publish_all(lake):
        print(d.name, d.uri, d.charts, d.missing)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from akidb_pipelines.dashboards import anomaly, chaos, golden, incidents, slo
from akidb_pipelines.dashboards.data import LakeReader
from akidb_pipelines.dashboards.page import Page
from akidb_pipelines.dashboards.summary import Summary, sparkline
from akidb_pipelines.storage import Lake

PREFIX = "dashboards"
BUILDERS = {"golden_signals": golden.build, "slo": slo.build, "anomaly": anomaly.build, "incidents": incidents.build,
            "chaos": chaos.build}
DASHBOARDS = tuple(BUILDERS)
INPUTS = {  # lake tables and objects each page reads
    "golden_signals": (golden.TABLE,),
    "slo": (slo.TABLE,),
    "anomaly": (anomaly.SCORES, anomaly.ANOMALIES, anomaly.REGISTRY),
    "incidents": (incidents.LEDGER,),
    "chaos": (chaos.REPORT,),
}


@dataclass
class Dashboard:
    name: str
    title: str
    html: str
    charts: int                  # charts declared on the page (all scopes)
    points: int                  # data points embedded in them
    missing: list[str]           # inputs that had no data (named on the page)
    summary: Summary = field(default_factory=Summary)
    uri: str | None = None       # where it was written

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.name}.html"

    @property
    def url(self) -> str | None:
        """A link to open: file:// for a local lake, the s3:// URI otherwise."""
        if self.uri is None:
            return None
        return self.uri if "://" in self.uri else f"file://{self.uri}"


def render(name: str, lake: Lake, days: float = 7.0, now: datetime | None = None) -> Dashboard:
    """Build one page from the lake (nothing is written). ``days``: the trailing window shown."""
    if name not in BUILDERS:
        raise ValueError(f"unknown dashboard {name!r}: one of {', '.join(DASHBOARDS)}")
    with LakeReader(lake) as reader:
        page, summary = BUILDERS[name](reader, days=days)
    if now is not None:
        page.generated = now
    summary.values.setdefault("charts", len(page.charts))
    return Dashboard(name, page.title, page.render(), len(page.charts), page.points, list(page.missing), summary)


def publish(lake: Lake, dashboard: Dashboard) -> Dashboard:
    """Write the page to ``dashboards/<name>.html`` in the lake (atomic locally, one PUT on S3)."""
    dashboard.uri = lake.write_bytes(dashboard.path, dashboard.html.encode("utf-8"))
    return dashboard


def publish_all(lake: Lake, names: tuple[str, ...] = DASHBOARDS, days: float = 7.0) -> list[Dashboard]:
    return [publish(lake, render(n, lake, days)) for n in names]


__all__ = ["DASHBOARDS", "INPUTS", "PREFIX", "Dashboard", "Page", "Summary", "publish", "publish_all", "render",
           "sparkline"]
