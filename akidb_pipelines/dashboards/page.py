"""One self-contained HTML page: inline CSS, the inline charting module (``charts.js``), the chart data as JSON.

Nothing is fetched when the page opens (no CDN, no web fonts), so it works from a file, from S3 or from an e-mail
attachment. Charts are declared here as plain dicts (see the header of ``charts.js`` for the two kinds) and drawn
by the page's JavaScript into ``<div class="chart" data-chart=ID>`` placeholders.
"""

from __future__ import annotations

import html as _html
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
NAV = (("golden_signals", "Golden signals"), ("slo", "SLOs"), ("anomaly", "Anomalies"), ("incidents", "Incidents"),
       ("chaos", "Chaos validation"))

# Installed before anything else on the page: any script error (ours or the browser's) is counted on <html> and
# shown in a banner, so a broken chart never goes unnoticed (the tests read data-js-errors after the JS ran).
ERROR_COLLECTOR = """window.__dashErrors = [];
window.addEventListener('error', function (e) {
  window.__dashErrors.push(String(e.message) + ' (' + (e.lineno || 0) + ':' + (e.colno || 0) + ')');
  document.documentElement.setAttribute('data-js-errors', window.__dashErrors.length);
  var b = document.getElementById('js-errors');
  if (b) { b.hidden = false; b.textContent = 'Script errors: ' + window.__dashErrors.join(' | '); }
});"""


def esc(text: Any) -> str:
    return _html.escape("" if text is None else str(text), quote=True)


def values(a: Any, digits: int = 4) -> list[float | None]:
    """JSON-ready numbers (None for NaN/inf), rounded to ``digits`` significant digits to keep pages small."""
    arr = np.asarray(a, dtype=float)
    out: list[float | None] = []
    for v in arr.tolist():
        if v is None or not math.isfinite(v):
            out.append(None)
        elif v == 0:
            out.append(0)
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def ms(t: Any) -> int:
    """Epoch milliseconds of a timestamp (naive values are UTC)."""
    import pandas as pd

    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


@dataclass
class Page:
    name: str
    title: str
    subtitle: str = ""
    body: list[str] = field(default_factory=list)
    charts: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    generated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    # -- building blocks -----------------------------------------------------------------------------------------
    def chart(self, spec: dict) -> str:
        cid = f"c{len(self.charts)}"
        self.charts[cid] = spec
        return f'<div class="chart" data-chart="{cid}" data-kind="{esc(spec.get("type", "line"))}"></div>'

    def add(self, fragment: str) -> None:
        self.body.append(fragment)

    def section(self, title: str, content: str, note: str = "", **attrs: str) -> str:
        extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
        return (f"<section{extra}><h2>{esc(title)}</h2>" + (f'<div class="note">{esc(note)}</div>' if note else "")
                + content + "</section>")

    def missing_input(self, what: str, detail: str) -> None:
        """Say which input is missing instead of failing (the page still renders)."""
        self.missing.append(what)
        self.body.append(f'<div class="missing" data-missing="{esc(what)}"><h2>No data: <code>{esc(what)}</code></h2>'
                         f"{esc(detail)}</div>")

    @staticmethod
    def cards(items: list[tuple[str, str, str, str]]) -> str:
        """(label, value, sub, state) with state '', 'good', 'warn' or 'bad'."""
        return '<div class="cards">' + "".join(
            f'<div class="card {esc(state)}"><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
            f'<div class="sub">{esc(sub)}</div></div>' for label, value, sub, state in items) + "</div>"

    @staticmethod
    def table(columns: list[str], rows: list[list[Any]], num: set[int] = frozenset(), raw: set[int] = frozenset(),
              row_class: list[str] | None = None) -> str:
        """An HTML table; columns in ``num`` are right-aligned, cells in ``raw`` columns are trusted HTML."""
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = []
        for i, r in enumerate(rows):
            cls = f' class="{esc(row_class[i])}"' if row_class and row_class[i] else ""
            cells = "".join(f'<td{" class=num" if j in num else ""}>{v if j in raw else esc(v)}</td>'
                            for j, v in enumerate(r))
            body.append(f"<tr{cls}>{cells}</tr>")
        return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

    # -- the page ------------------------------------------------------------------------------------------------
    @property
    def points(self) -> int:
        n = 0
        for spec in self.charts.values():
            if spec.get("type") == "timeline":
                n += sum(1 + len(r.get("marks", [])) for r in spec.get("rows", []))
                continue
            n += sum(sum(v is not None for v in s["values"]) for s in spec.get("series", []))
            n += sum(sum(v is not None for v in b["upper"]) for b in spec.get("bands", []))
            n += len(spec.get("markers", []))
        return n

    def render(self) -> str:
        css = (HERE / "charts.css").read_text(encoding="utf-8")
        js = (HERE / "charts.js").read_text(encoding="utf-8")
        data = json.dumps(self.charts, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        nav = "".join(f'<a href="{n}.html" class="{"here" if n == self.name else ""}">{esc(t)}</a>' for n, t in NAV)
        missing = f' data-missing="{esc(",".join(self.missing))}"' if self.missing else ""
        return f"""<!DOCTYPE html>
<html lang="en" data-dashboard="{esc(self.name)}"{missing}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AkiDB · {esc(self.title)}</title>
<script>{ERROR_COLLECTOR}</script>
<style>{css}</style>
</head>
<body>
<header><h1>AkiDB · {esc(self.title)}</h1>
<div class="sub">{esc(self.subtitle)} · generated {self.generated:%Y-%m-%d %H:%M}Z · times in UTC</div>
<nav>{nav}</nav></header>
<main>
<div id="js-errors" hidden></div>
{"".join(self.body)}
</main>
<footer>akidb-pipelines dashboards · self-contained page (no network access needed) · hover a chart for values,
click a legend entry to hide a series</footer>
<script type="application/json" id="dash-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


def line_spec(title: str, window: Any, series: list[tuple[str, Any, dict]], unit: str = "num", **opts: Any) -> dict | None:
    """A line chart on ``window``'s grid (``t0_ms``, ``step_ms``, ``n``); series without a single value are left
    out, and a chart without any series is None (the caller says there is nothing to draw)."""
    kept = [(name, np.asarray(v, dtype=float), o) for name, v, o in series]
    kept = [(name, v, o) for name, v, o in kept if np.isfinite(v).any()]
    if not kept and not opts.get("bands"):
        return None
    return {"type": "line", "title": title, "unit": unit, "t0": window.t0_ms, "step": window.step_ms,
            "n": window.n, "series": [{"name": name, "values": values(v), **o} for name, v, o in kept], **opts}
