"""What a dashboard reports besides its page: key tables as Markdown and small Unicode sparklines (Dagster's
Markdown metadata renders neither scripts nor inline SVG, but block characters always show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(a: Any, width: int = 28) -> str:
    """``a`` resampled to ``width`` cells (max per cell, so spikes show), min..max mapped onto block characters;
    cells without data are blank."""
    arr = np.asarray(a, dtype=float)
    if not len(arr) or not np.isfinite(arr).any():
        return ""
    edges = np.linspace(0, len(arr), min(width, len(arr)) + 1).astype(int)
    cells = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        seg = arr[lo:max(hi, lo + 1)]
        seg = seg[np.isfinite(seg)]
        cells.append(float(seg.max()) if len(seg) else None)
    vals = [c for c in cells if c is not None]
    lo, hi = min(vals), max(vals)
    span = hi - lo
    return "".join(" " if c is None else BLOCKS[0 if span == 0 else min(7, int((c - lo) / span * 7.999))]
                   for c in cells)


@dataclass
class Summary:
    tables: dict[str, str] = field(default_factory=dict)    # name -> Markdown table
    values: dict[str, Any] = field(default_factory=dict)    # name -> number or text

    @staticmethod
    def md(columns: list[str], rows: list[list[Any]]) -> str:
        if not rows:
            return "_no rows_"
        clean = lambda v: str("" if v is None else v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        return ("| " + " | ".join(map(clean, columns)) + " |\n|" + "---|" * len(columns) + "\n"
                + "".join("| " + " | ".join(clean(v) for v in r) + " |\n" for r in rows))
