"""One game-day scenario on a copy of its background: only the hours it touches are generated again.

The hours from the first incident's (or event's) onset to the last one's end are generated anew with the scenario
(same noise model, the background's traffic level: ``origin`` = the background's start), ingested, modelled and
scored; the later hours that are replayed are modelled and scored again (burn-rate windows and the detector's
history now hold the incident); hours after those keep the background's models and scores, which nothing reads. Prometheus counters are cumulative: the background's later samples are shifted, series by
series, so they continue from where the regenerated hours end (every increment after them is the background's).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines import pipeline
from akidb_pipelines.chaos.gameday import TRACES_PER_MINUTE, GameDayScenario
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.storage import Lake, PartitionKey, hour_partitions
from akidb_pipelines.synthetic import generate

_SAMPLE = re.compile(r"^(?P<key>[A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?) (?P<value>\S+)(?P<rest>.*)$")
CUMULATIVE = ("counter", "histogram", "summary")


def _hour_file(root: Path, hour: datetime) -> Path:
    return root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}" / "metrics.om"


def _last_values(path: Path) -> dict[str, float]:
    """The last sample of every cumulative series in one OpenMetrics file."""
    out: dict[str, float] = {}
    cumulative = False
    for line in path.read_text().splitlines():
        if line.startswith("# TYPE "):
            cumulative = line.split()[-1] in CUMULATIVE
            continue
        m = _SAMPLE.match(line) if cumulative and not line.startswith("#") else None
        if m:
            out[m["key"]] = float(m["value"])
    return out


def _shifted(path: Path, delta: dict[str, float]) -> str:
    lines, cumulative = [], False
    for line in path.read_text().splitlines():
        if line.startswith("# TYPE "):
            cumulative = line.split()[-1] in CUMULATIVE
        m = _SAMPLE.match(line) if cumulative and not line.startswith("#") else None
        if m and m["key"] in delta:
            v = float(m["value"]) + delta[m["key"]]
            line = f"{m['key']} {v:.17g}{m['rest']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def continue_counters(background: Path, window: Path, w1: datetime, end: datetime, out: Path) -> dict[str, PartitionKey]:
    """The background's Prometheus files of the hours [w1, end), each cumulative series shifted by (its last value
    in the regenerated hour before ``w1``) - (its last value in the background's hour before ``w1``), written under
    ``out``; returns them with their hour partitions."""
    before = w1 - timedelta(hours=1)
    new, old = _last_values(_hour_file(window, before)), _last_values(_hour_file(background, before))
    delta = {k: new[k] - old[k] for k in new.keys() & old.keys()}
    files: dict[str, PartitionKey] = {}
    for key in hour_partitions(w1, end):
        src = _hour_file(background, key.start)
        if not src.exists():
            continue
        dst = _hour_file(out, key.start)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(_shifted(src, delta))
        files[str(dst)] = key
    return files


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def touched_hours(sc: GameDayScenario) -> tuple[datetime, datetime]:
    """[w0, w1): the whole hours from the first onset to the last end of what the scenario injects."""
    parsed = sc.parsed()
    spans = [(x.start, x.end) for x in list(parsed.incidents) + list(parsed.events)]
    w0 = _floor_hour(min(s for s, _ in spans))
    last = max(e for _, e in spans)
    w1 = _floor_hour(last) + (timedelta(hours=1) if last != _floor_hour(last) else timedelta(0))
    return w0, min(w1, sc.background.end)


def inject(sc: GameDayScenario, lake: Lake, background_prom: Path, work: Path,
           after: timedelta | None = None) -> tuple[datetime, datetime]:
    """Regenerate, ingest, model and score ``sc``'s hours in ``lake`` (a copy of its background's arm), and model
    and score again the hours after them that are replayed: ``after`` of them (to the replay's end by default).
    Returns the regenerated hours [w0, w1)."""
    bg = sc.background
    w0, w1 = touched_hours(sc)
    until = bg.end if after is None else min(bg.end, w1 + after)
    data = generate(work / "gen", w0, (w1 - w0) / timedelta(days=1), sc.seed, sc.parsed(), TRACES_PER_MINUTE,
                    origin=bg.start)
    files = pipeline.landing_partitions(data)
    if w1 < until:
        files.setdefault("prom", {}).update(
            continue_counters(background_prom, work / "gen" / "landing" / "prom", w1, until, work / "after" / "prom"))
    pipeline.ingest_hours(lake, files)
    pipeline.run_models(lake, hour_partitions(w0, until))
    pipeline.score(lake, load_forecast_config(), max(w0, bg.replay_start).astimezone(timezone.utc), until)
    return w0, w1
