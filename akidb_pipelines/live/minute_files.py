"""One minute of generated telemetry as the files a collector would deliver: X-Ray and EMF lines of the minute, and
an OpenMetrics document of the minute's samples whose counters continue the ones already delivered.

The generator writes an hour per file; a collector flushes an object a minute. :func:`read_hour` indexes a generated
hour file by minute; :func:`prom_minute` renders one minute of an indexed OpenMetrics hour, each cumulative series
(counter, histogram, summary) shifted so that it continues from the last value delivered (what the running process
would expose: its counters do not restart when our generator starts a new window).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from akidb_pipelines.landing import line_time

SAMPLE = re.compile(r"^(?P<key>[A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?) (?P<value>\S+) (?P<ts>\S+)$")
CUMULATIVE = ("counter", "histogram", "summary")
NAMES = {"xray": "segments-{mm}.ndjson", "emf": "events-{mm}.ndjson", "prom": "metrics-{mm}.om"}


@dataclass
class Family:
    header: list[str]
    cumulative: bool
    samples: dict[int, list[tuple[str, float]]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Hour:
    """A generated hour, indexed by minute (epoch seconds of the minute's start)."""
    lines: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))   # xray, emf
    families: list[Family] = field(default_factory=list)                             # prom


def read_hour(kind: str, path: Path) -> Hour:
    out = Hour()
    if not path.exists():
        return out
    text = path.read_text(encoding="utf-8").splitlines()
    if kind != "prom":
        last = 0.0
        for line in text:
            if line:
                last = line_time(kind, line, last)
                out.lines[int(last // 60) * 60].append(line)
        return out
    fam: Family | None = None
    for line in text:
        if line.startswith("# HELP "):
            fam = Family([line], False)
            out.families.append(fam)
        elif line.startswith("# TYPE ") and fam is not None:
            fam.header.append(line)
            fam.cumulative = line.split()[-1] in CUMULATIVE
        elif not line.startswith("#") and fam is not None:
            m = SAMPLE.match(line)
            if m:
                fam.samples[int(float(m["ts"]))].append((m["key"], float(m["value"])))
    return out


def last_values(hour: Hour) -> dict[str, float]:
    """The last sample of every cumulative series of an indexed OpenMetrics hour."""
    out: dict[str, float] = {}
    for fam in hour.families:
        if fam.cumulative:
            for ts in sorted(fam.samples):
                out.update(dict(fam.samples[ts]))
    return out


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def prom_minute(hours: list[Hour], minute: int, delivered: dict[str, float]) -> str:
    """The OpenMetrics document of ``minute`` (epoch s) from ``hours`` (the minute's hour last; the hour before
    it first, for the previous sample of each series). ``delivered`` (series -> last value delivered) is updated."""
    now_hour = hours[-1]
    prev: dict[str, float] = {}
    for h in hours:
        for fam in h.families:
            if fam.cumulative:
                prev.update(dict(fam.samples.get(minute - 60, ())))
    out = []
    for fam in now_hour.families:
        rows = fam.samples.get(minute)
        if not rows:
            continue
        out += fam.header
        for key, v in rows:
            if fam.cumulative:
                if key in delivered and key in prev:
                    v = delivered[key] + max(v - prev[key], 0.0)
                delivered[key] = v
            out.append(f"{key} {_fmt(v)} {minute}")
    out.append("# EOF")
    return "\n".join(out) + "\n"
