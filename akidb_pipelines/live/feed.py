"""The live synthetic feed: the generator in streaming form, writing each closed minute's X-Ray, EMF and Prometheus
files into the landing zone in wall-clock time.

Same formats, same noise model, same deploys at their hours as ``akidb generate`` (it is the generator, run on a
two-hour window around the hour being written, with the traffic level of the history it continues: ``origin``).
The landing zone gets one file per minute and kind (``<kind>/date=/hour=/<name>-MM.*``), written under a dot name
and renamed, so a reader never sees half a file and a written minute never changes. An injected incident reaches
the minutes not written yet: the window is generated again when the injections that overlap it change.

State (the next minute to write and the Prometheus counters delivered so far) is in ``<home>/feed/state.json``,
so a restarted feed continues where it stopped (minutes missed meanwhile are written at once, as a collector
catching up would).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from akidb_pipelines.live.injections import Injection, read_queue
from akidb_pipelines.live.minute_files import NAMES, Hour, prom_minute, read_hour
from akidb_pipelines.synthetic import generate
from akidb_pipelines.synthetic.scenario import DEFAULT_SCENARIO, Scenario, parse_scenario

KINDS = ("xray", "emf", "prom")
GEN_FILES = {"xray": "segments.ndjson", "emf": "events.ndjson", "prom": "metrics.om"}
TRACES_PER_MINUTE = 4.0
MINUTE = timedelta(minutes=1)


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def live_scenario(injections: list[Injection], start: datetime) -> Scenario:
    """The default scenario's deploys and noise events with ``injections`` as its incidents."""
    doc = yaml.safe_load(Path(DEFAULT_SCENARIO).read_text())
    doc = {**doc, "name": "live", "incidents": [i.incident_doc() for i in injections]}
    return parse_scenario(doc, start, "live")


def hour_seed(seed: int, hour: datetime) -> int:
    return seed * 1_000_003 + int(hour.timestamp() // 3600)


class LiveFeed:
    def __init__(self, home: str | os.PathLike[str], origin: datetime, seed: int = 42,
                 traces_per_minute: float = TRACES_PER_MINUTE):
        self.home = Path(home)
        self.landing = self.home / "landing"
        self.work = self.home / "feed"
        self.origin, self.seed, self.traces_per_minute = origin, seed, traces_per_minute
        self._windows: dict[datetime, tuple[tuple[str, ...], dict[str, list[Hour]]]] = {}
        self.state_path = self.work / "state.json"

    # -- state ---------------------------------------------------------------------------------------------------
    def start_at(self, minute: datetime, counters: dict[str, float]) -> None:
        """Begin (or begin again) at ``minute`` with the Prometheus counters delivered before it."""
        self._save({"next": minute.isoformat(), "counters": counters})

    def _load(self) -> dict:
        return json.loads(self.state_path.read_text())

    def _save(self, state: dict) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_path)

    def next_minute(self) -> datetime:
        return datetime.fromisoformat(self._load()["next"])

    # -- generation ----------------------------------------------------------------------------------------------
    def _window(self, hour: datetime, injections: list[Injection]) -> dict[str, list[Hour]]:
        """The generated hours [hour - 1 h, hour + 1 h) indexed by minute: [the hour before, the hour]."""
        w0, w1 = hour - timedelta(hours=1), hour + timedelta(hours=1)
        mine = [i for i in injections if i.onset < w1 and i.onset + i.duration_minutes * MINUTE > w0]
        key = tuple(sorted(i.id for i in mine))
        cached = self._windows.get(hour)
        if cached and cached[0] == key:
            return cached[1]
        out = self.work / f"gen-{hour:%Y%m%dT%H}"
        shutil.rmtree(out, ignore_errors=True)
        generate(out, w0, 2 / 24, hour_seed(self.seed, hour), live_scenario(mine, w0), self.traces_per_minute,
                 origin=self.origin)
        hours = {kind: [read_hour(kind, out / "landing" / kind / f"date={h:%Y-%m-%d}" / f"hour={h:%H}" /
                                  GEN_FILES[kind]) for h in (w0, hour)] for kind in KINDS}
        shutil.rmtree(out, ignore_errors=True)
        self._windows = {h: v for h, v in self._windows.items() if h >= hour - timedelta(hours=1)}
        self._windows[hour] = (key, hours)
        return hours

    # -- writing -------------------------------------------------------------------------------------------------
    def _publish(self, kind: str, minute: datetime, text: str) -> Path:
        d = self.landing / kind / f"date={minute:%Y-%m-%d}" / f"hour={minute:%H}"
        d.mkdir(parents=True, exist_ok=True)
        dest = d / NAMES[kind].format(mm=f"{minute:%M}")
        tmp = d / f".{dest.name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, dest)
        return dest

    def step(self, now: datetime | None = None) -> list[datetime]:
        """Write every minute that has closed by ``now`` and is not written yet; returns them."""
        now = now or datetime.now(timezone.utc)
        state = self._load()
        nxt = datetime.fromisoformat(state["next"])
        counters: dict[str, float] = state["counters"]
        written = []
        injections = read_queue(self.home) if nxt + MINUTE <= now else []
        while nxt + MINUTE <= now:
            hours = self._window(floor_hour(nxt), injections)
            epoch = int(nxt.timestamp())
            for kind in ("xray", "emf"):
                lines = hours[kind][-1].lines.get(epoch, [])
                self._publish(kind, nxt, "\n".join(lines) + "\n" if lines else "")
            self._publish("prom", nxt, prom_minute(hours["prom"], epoch, counters))
            written.append(nxt)
            nxt += MINUTE
            self._save({"next": nxt.isoformat(), "counters": counters})
        return written
