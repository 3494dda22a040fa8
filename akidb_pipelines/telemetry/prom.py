"""Prometheus samples from text files (OpenMetrics or the classic exposition format, with timestamps).

OpenMetrics files end with ``# EOF`` and carry timestamps in seconds; the classic text format carries them in
milliseconds. A sample line is ``name{label="value",...} value [timestamp] [# exemplar]``. Bad lines are
quarantined with a reason; a repeated (series, timestamp) keeps the first value: the same value again is counted as a
duplicate, another value is quarantined (Prometheus refuses it as a "duplicate sample for timestamp").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pyarrow as pa

from akidb_pipelines.telemetry.conventions import Reason

_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?[ \t]+(?P<value>\S+)'
    r"(?:[ \t]+(?P<ts>[^\s#]+))?"
    r"(?:[ \t]+#.*)?[ \t]*$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_UNESCAPE = re.compile(r"\\(.)")
_INT_MS = re.compile(r"-?[0-9]+")   # the classic format's timestamp: integer milliseconds (Prometheus: ParseInt)
_MS_AS_S = 1e11 * 1000  # an OpenMetrics timestamp of 1e11 s or more (year 5138) was written in milliseconds

PROM_SCHEMA = pa.schema(
    [
        ("rec_id", pa.int64()),
        ("source", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("service", pa.string()),
        ("labels", pa.map_(pa.string(), pa.string())),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),
        ("record_ts", pa.timestamp("ms", tz="UTC")),
    ]
)


@dataclass
class PromParse:
    rows: dict[str, list] = field(default_factory=lambda: {n: [] for n in PROM_SCHEMA.names})
    bad: dict[str, list] = field(default_factory=lambda: {n: [] for n in QUARANTINE_SCHEMA.names})
    records: int = 0
    duplicates: int = 0
    blank: int = 0
    comments: int = 0

    label_sets: list[dict[str, str]] = field(default_factory=list)   # distinct label sets
    label_index: dict[str, int] = field(default_factory=dict)        # label text -> position in label_sets

    def tables(self) -> tuple[pa.Table, pa.Table]:
        cols = dict(self.rows)
        distinct = pa.array([list(d.items()) for d in self.label_sets], type=PROM_SCHEMA.field("labels").type)
        cols["labels"] = distinct.take(pa.array(cols["labels"], type=pa.int32())) if cols["labels"] else pa.array(
            [], type=PROM_SCHEMA.field("labels").type)
        return (pa.table(cols, schema=PROM_SCHEMA), pa.table(self.bad, schema=QUARANTINE_SCHEMA))


def _unescape(v: str) -> str:
    return _UNESCAPE.sub(lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), "\\" + m.group(1)), v)


def _parse_labels(text: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            return None
        k = m.group(1)
        if k in out:
            return None
        out[k] = _unescape(m.group(2)) if "\\" in m.group(2) else m.group(2)
        pos = m.end()
    return out


def parse_prometheus_bytes(
    data: bytes, source: str, lo_ms: int, hi_ms: int, into: PromParse | None = None, max_line: int = 1 << 20
) -> PromParse:
    """Parse one file's bytes; samples outside ``[lo_ms, hi_ms)`` are quarantined as outside_partition."""
    out = into or PromParse()
    openmetrics = b"\n# EOF" in data or data.startswith(b"# EOF")
    ts_scale = 1000.0 if openmetrics else 1.0
    seen: dict[tuple[str, tuple, int], float] = {}   # (series, ms) -> the value stored
    # label text -> (labels, canonical key) or None when malformed; a series is its name and label set, whatever
    # the order the labels were written in
    label_cache: dict[str, tuple[dict[str, str], tuple] | None] = {}
    label_index, label_sets = out.label_index, out.label_sets
    rows, bad = out.rows, out.bad
    r_rec, r_src, r_ts, r_metric, r_val, r_svc, r_lab = (rows[n] for n in PROM_SCHEMA.names)

    def quarantine(lineno: int, reason: str, detail: str, raw: str, ts_ms: float | None = None) -> None:
        bad["source"].append(source)
        bad["line"].append(lineno)
        bad["reason"].append(reason)
        bad["detail"].append(detail)
        bad["raw"].append(raw)
        bad["record_ts"].append(int(ts_ms) if ts_ms is not None and -6.2e13 < ts_ms < 2.5e14 else None)

    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":  # the newline ending the last line does not start a blank line
        chunks.pop()
    for lineno, bline in enumerate(chunks, start=1):
        if not bline.strip():
            out.blank += 1
            continue
        if bline.startswith(b"#"):
            out.comments += 1
            continue
        out.records += 1
        if len(bline) > max_line:
            quarantine(lineno, Reason.LINE_TOO_LONG, f"{len(bline)} bytes", bline.decode("utf-8", "backslashreplace"))
            continue
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            quarantine(lineno, Reason.INVALID_UTF8, str(e), bline.decode("utf-8", "backslashreplace"))
            continue
        line = line.rstrip("\r")
        m = _SAMPLE.match(line)
        if not m:
            quarantine(lineno, Reason.INVALID_SAMPLE, "not 'name{labels} value timestamp'", line)
            continue
        name, ltxt, vtxt, tstxt = m.group("name", "labels", "value", "ts")
        ltxt = ltxt or ""
        if ltxt not in label_cache:
            parsed = _parse_labels(ltxt)
            label_cache[ltxt] = None if parsed is None else (parsed, tuple(sorted(parsed.items())))
        cached = label_cache[ltxt]
        if cached is None:
            quarantine(lineno, Reason.INVALID_SAMPLE, "malformed label set", line)
            continue
        labels, canon = cached
        try:
            if "_" in vtxt:  # Python reads 1_000 as a number; Prometheus does not
                raise ValueError
            value = float(vtxt)
        except ValueError:
            quarantine(lineno, Reason.WRONG_TYPE, f"value {vtxt!r} is not a number", line)
            continue
        if tstxt is None:
            quarantine(lineno, Reason.MISSING_FIELD, "sample has no timestamp", line)
            continue
        if not openmetrics and not _INT_MS.fullmatch(tstxt):
            quarantine(lineno, Reason.WRONG_TYPE, f"timestamp {tstxt!r} is not an integer of milliseconds", line)
            continue
        try:
            if "_" in tstxt:
                raise ValueError
            ts_ms = float(tstxt) * ts_scale
        except ValueError:
            quarantine(lineno, Reason.WRONG_TYPE, f"timestamp {tstxt!r} is not a number", line)
            continue
        if not math.isfinite(ts_ms):
            quarantine(lineno, Reason.NON_FINITE, f"timestamp {tstxt}", line)
            continue
        if not math.isfinite(value):
            quarantine(lineno, Reason.NON_FINITE, f"value {vtxt}", line, ts_ms)
            continue
        if not lo_ms <= ts_ms < hi_ms:
            hint = (" (OpenMetrics timestamps are seconds: this looks like milliseconds)"
                    if openmetrics and abs(ts_ms) >= _MS_AS_S else "")
            quarantine(lineno, Reason.OUTSIDE_PARTITION, f"timestamp {tstxt}{hint}", line, ts_ms)
            continue
        key = (name, canon, int(ts_ms))
        if key in seen:
            first = seen[key]
            if first == value:  # the same sample again: a re-delivery
                out.duplicates += 1
            else:  # what Prometheus refuses as "duplicate sample for timestamp": which one is true is unknown
                quarantine(lineno, Reason.INVALID_SAMPLE,
                           f"the series already has value {first!r} at this timestamp (first kept)", line, ts_ms)
            continue
        seen[key] = value
        r_rec.append(out.records)
        r_src.append(source)
        r_ts.append(int(ts_ms))
        r_metric.append(name)
        r_val.append(value)
        r_svc.append(labels.get("service"))
        li = label_index.get(ltxt)
        if li is None:
            li = label_index[ltxt] = len(label_sets)
            label_sets.append(labels)
        r_lab.append(li)
    return out
