"""Generate seeded AkiDB telemetry in the raw formats the real sources produce.

Writes a landing zone laid out like the production one (one folder per source and hour), which the ingest
stage reads exactly as it reads real data:

    <out>/landing/xray/date=YYYY-MM-DD/hour=HH/segments.ndjson[.gz]   X-Ray segment documents, one per line
    <out>/landing/otlp/date=YYYY-MM-DD/hour=HH/traces.ndjson[.gz]     the same traces as OTLP/JSON (optional)
    <out>/landing/emf/date=YYYY-MM-DD/hour=HH/events.ndjson[.gz]      CloudWatch EMF log events, one per line
    <out>/landing/prom/date=YYYY-MM-DD/hour=HH/metrics.om             OpenMetrics text with timestamps (seconds)
    <out>/ground_truth.json                                           incidents and deploys, exact to the minute

The per-minute model is in ``minute_model``; each source has its writer (``emf_writer``, ``xray_writer`` with
``otlp_writer``, ``prom_writer``), writing through the hourly ``sink``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from akidb_pipelines.synthetic.emf_writer import write_emf
from akidb_pipelines.synthetic.minute_model import Progress, build_model
from akidb_pipelines.synthetic.prom_writer import write_prometheus
from akidb_pipelines.synthetic.scenario import Scenario, load_scenario
from akidb_pipelines.synthetic.sink import HourlySink
from akidb_pipelines.synthetic.xray_writer import write_xray


@dataclass
class GenerationResult:
    out_dir: Path
    start: datetime
    end: datetime
    files: dict[str, list[Path]]
    records: dict[str, int]
    ground_truth: Path
    corrupted: dict[str, int] = field(default_factory=dict)


def generate(
    out_dir: str | Path,
    start: datetime,
    days: float = 7.0,
    seed: int = 42,
    scenario: Scenario | str | Path | None = None,
    traces_per_minute: float = 4.0,
    compress: bool = False,
    sources: tuple[str, ...] = ("xray", "emf", "prom"),
    progress: Progress | None = None,
    corrupt_fraction: float = 0.0,
    origin: datetime | None = None,
) -> GenerationResult:
    """Write ``days`` of telemetry from ``start`` (UTC, minute-aligned) into ``out_dir``; same seed, same bytes.

    ``corrupt_fraction`` of the EMF and X-Ray lines are damaged on purpose (truncated, a renamed member, a NaN or
    negative number) so the quarantine has something to catch; their count is written to the ground truth.
    ``origin``: where the traffic's growth starts (default ``start``; see ``minute_model.build_model``).
    ``sources`` may name ``otlp``: the same traces as OpenTelemetry OTLP/JSON under ``landing/otlp/`` (instead of,
    or beside, ``xray``; both at once in one landing zone would store every span twice).
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    start = start.astimezone(timezone.utc).replace(second=0, microsecond=0)
    if days <= 0:
        raise ValueError("days must be positive")
    unknown = set(sources) - {"xray", "otlp", "emf", "prom"}
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from xray, otlp, emf, prom")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, start)
    out = Path(out_dir)
    landing = out / "landing"
    model = build_model(start, days, seed, sc, origin)
    files: dict[str, list[Path]] = {}
    records: dict[str, int] = {}
    corrupted: dict[str, int] = {"prom": 0}
    if "prom" in sources:
        f, n = write_prometheus(model, landing / "prom", np.random.default_rng([seed, 3]), progress)
        files["prom"], records["prom"] = f, n
    if "emf" in sources:
        sink = HourlySink(landing / "emf", "events.ndjson", compress, corrupt_fraction=corrupt_fraction,
                          rng=np.random.default_rng([seed, 11]))
        write_emf(model, sink, np.random.default_rng([seed, 1]), progress)
        files["emf"], records["emf"], corrupted["emf"] = sink.files, sink.records, sink.corrupted
    if "xray" in sources or "otlp" in sources:
        sink = otlp_sink = None
        if "xray" in sources:
            sink = HourlySink(landing / "xray", "segments.ndjson", compress, corrupt_fraction=corrupt_fraction,
                              rng=np.random.default_rng([seed, 12]))
        if "otlp" in sources:
            otlp_sink = HourlySink(landing / "otlp", "traces.ndjson", compress, corrupt_fraction=corrupt_fraction,
                                   rng=np.random.default_rng([seed, 13]))
        n_spans = write_xray(model, sink, np.random.default_rng([seed, 2]), traces_per_minute, progress, otlp_sink)
        if sink is not None:
            files["xray"], records["xray"], corrupted["xray"] = sink.files, sink.records, sink.corrupted
        if otlp_sink is not None:  # a record is a span; a damaged line is one quarantined record
            files["otlp"], corrupted["otlp"] = otlp_sink.files, otlp_sink.corrupted
            records["otlp"] = n_spans
    end = start + timedelta(minutes=model.minutes)
    gt = {
        "generator": "akidb_pipelines.synthetic",
        "seed": seed,
        "scenario": sc.name,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "incidents": [i.to_ground_truth() for i in sc.incidents if i.start < end and i.end > start],
        "deploys": [
            {"start": model.minute_time(a).isoformat().replace("+00:00", "Z"),
             "end": model.minute_time(b).isoformat().replace("+00:00", "Z"), "components": ["akidb-rest"],
             "incident": False}
            for a, b in model.deploy_minutes
        ],
        "events": [e.to_ground_truth() for e in sc.events if e.start < end and e.end > start],
        "records": records,
        "corrupted_records": corrupted,
    }
    out.mkdir(parents=True, exist_ok=True)
    gt_path = out / "ground_truth.json"
    gt_path.write_text(json.dumps(gt, indent=2) + "\n", encoding="utf-8")
    return GenerationResult(out, start, end, files, records, gt_path, corrupted)
