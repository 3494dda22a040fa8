"""Running a game-day suite: backgrounds built once, each scenario injected into a copy of its background, the
shipped detector's response replayed on the simulated clock (runbooks acting on the sandbox), the pages it sent
(root and cause as each trigger named them) strictly matched against what was injected, and the suite summarized.

A clean scenario is its background's own replay. A scenario's response is replayed from its first regenerated hour
to three hours after its last (the injected incidents, their flaps and holds); the incidents that began outside
that window are its background's. MTTR is not measured here (no closed loop: an injected incident
ends when the scenario says; the chaos replay of the shipped scenarios measures recovery).
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT
from akidb_pipelines.chaos.gameday import HELD_OUT_FROM, GameDayScenario, draw_suite
from akidb_pipelines.chaos.gameday_background import BuiltBackground, build_arm, build_base, link_copy
from akidb_pipelines.chaos.gameday_inject import inject
from akidb_pipelines.chaos.gameday_report import ScenarioResult, scenario_result, sent_pages, summarize
from akidb_pipelines.chaos.matching import Injected, Page
from akidb_pipelines.chaos.replay import replay
from akidb_pipelines.storage import Lake
from akidb_pipelines.testing.aws_sandbox import Sandbox, require_moto


def ledger_of(lake: Lake) -> pd.DataFrame | None:
    data = lake.read_bytes(INCIDENTS_OBJECT)
    return pd.read_parquet(io.BytesIO(data)) if data is not None else None


def pages_of(outbox: Path) -> list[tuple[datetime, Page]]:
    """The pages a replay sent (``outbox-combined.sqlite`` of its folder), with their incidents' first alerts."""
    return sent_pages(Outbox(outbox).rows()) if outbox.exists() else []


def _window_pages(background: list[tuple[datetime, Page]], window: list[tuple[datetime, Page]], w0: datetime,
                  until: datetime) -> list[Page]:
    """As :func:`merge_ledgers`, for pages: the window's incidents that began in it, the background's others."""
    return ([p for t, p in background if not w0 <= t < until] + [p for t, p in window if w0 <= t < until])


def _ground_truth(injected: list[Injected]) -> dict[str, Any]:
    return {"incidents": [{"id": i.id, "type": i.type, "start": i.onset.isoformat(), "end": i.end.isoformat()}
                          for i in injected]}


OUTBOX = "outbox-combined.sqlite"   # where chaos.replay leaves a replay's outbox (the combined detector's)
AFTER = timedelta(hours=3)   # the response replayed this long after a scenario's regenerated hours (flaps, holds)


def merge_ledgers(background: pd.DataFrame | None, window: pd.DataFrame | None, w0: datetime,
                  until: datetime) -> pd.DataFrame | None:
    """A scenario's week: the incidents of its replayed window [w0, until) that began in it, and the background's
    incidents that began outside it."""
    def part(df: pd.DataFrame | None, inside: bool) -> pd.DataFrame | None:
        if df is None or not len(df):
            return None
        t = pd.to_datetime(df["first_alert"], utc=True)
        keep = (t >= pd.Timestamp(w0)) & (t < pd.Timestamp(until))
        return df[keep if inside else ~keep]
    parts = [p for p in (part(background, False), part(window, True)) if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


class Suite:
    """The backgrounds and arms of one suite, built when first needed."""

    def __init__(self, workdir: Path, sandbox: Sandbox, cycle_seconds: float, say: Callable[[str], None]):
        self.workdir, self.sandbox, self.cycle, self.say = workdir, sandbox, cycle_seconds, say
        self.built: dict[str, BuiltBackground] = {}
        self.arms: dict[tuple[str, int], Lake] = {}
        self.clean: dict[tuple[str, int], pd.DataFrame | None] = {}
        self.clean_pages: dict[tuple[str, int], list[tuple[datetime, Page]]] = {}

    def arm(self, sc: GameDayScenario) -> tuple[BuiltBackground, Lake]:
        bg = sc.background
        if bg.name not in self.built:
            t = time.perf_counter()
            self.built[bg.name] = build_base(bg, self.workdir / "backgrounds", self.say)
            self.say(f"  {bg.name}: {bg.days} days from {bg.start:%a %Y-%m-%d} ready in {time.perf_counter() - t:.0f}s")
        built = self.built[bg.name]
        key = (bg.name, sc.history_days)
        if key not in self.arms:
            t = time.perf_counter()
            self.arms[key] = build_arm(built, sc.history_days)
            t1 = time.perf_counter()
            self._replay(self.arms[key], sc, [], built.arm(sc.history_days).parent)
            self.clean[key] = ledger_of(self.arms[key])
            self.clean_pages[key] = pages_of(built.arm(sc.history_days).parent / OUTBOX)
            self.say(f"  {bg.name}: trained on {sc.history_days} days and scored in {t1 - t:.0f}s, "
                     f"replayed in {time.perf_counter() - t1:.0f}s")
        return built, self.arms[key]

    def _replay(self, lake: Lake, sc: GameDayScenario, injected: list[Injected], work: Path) -> None:
        bg = sc.background
        replay(lake, _ground_truth(injected), bg.replay_start, bg.end, "combined", work, self.cycle,
               sandbox=self.sandbox)

    def run(self, sc: GameDayScenario, keep: bool = False) -> ScenarioResult:
        built, arm = self.arm(sc)
        bg = sc.background
        weeks = (bg.end - bg.replay_start) / timedelta(days=7)
        injected = sc.injected()
        key = (bg.name, sc.history_days)
        if sc.kind == "clean":
            return scenario_result(sc.name, sc.kind, weeks, injected, self.clean[key],
                                   [p for _, p in self.clean_pages[key]])
        work = self.workdir / "scenarios" / sc.name
        shutil.rmtree(work, ignore_errors=True)
        link_copy(built.arm(sc.history_days), work / "lake")
        lake = Lake(work / "lake")
        t = time.perf_counter()
        w0, w1 = inject(sc, lake, built.prometheus, work, AFTER)
        t1 = time.perf_counter()
        # the response replayed over the regenerated hours and what follows them; outside, the background's own week
        until = min(bg.end, w1 + AFTER)
        replay(lake, _ground_truth(injected), w0, until, "combined", work, self.cycle, sandbox=self.sandbox)
        self.say(f"      {(w1 - w0) / timedelta(hours=1):.0f} hours injected, modelled and scored in {t1 - t:.0f}s, "
                 f"{(until - w0) / timedelta(hours=1):.0f} hours replayed in {time.perf_counter() - t1:.0f}s")
        week = merge_ledgers(self.clean[key], ledger_of(lake), w0, until)
        pages = _window_pages(self.clean_pages[key], pages_of(work / OUTBOX), w0, until)
        res = scenario_result(sc.name, sc.kind, weeks, injected, week, pages)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        return res


def run_gameday(n: int, seed: int, workdir: str | Path, cycle_seconds: float, cycle_source: str = "given",
                say: Callable[[str], None] = print, keep: bool = False,
                only: list[int] | None = None) -> dict[str, Any]:
    """Draw ``n`` scenarios of suite ``seed``, replay each (``only``: those numbers), and return the report
    (JSON-ready)."""
    suite = [sc for k, sc in enumerate(draw_suite(n, seed)) if only is None or k in only]
    require_moto()
    work = Path(workdir)
    results = []
    t0 = time.perf_counter()
    with Sandbox(work / "aws") as sb:
        runner = Suite(work, sb, cycle_seconds, say)
        for k, sc in enumerate(suite, 1):
            say(f"[{k}/{len(suite)}] {sc.name}: {sc.description}")
            t = time.perf_counter()
            r = runner.run(sc, keep)
            say(f"      injected {len(r.injected)}, matched {len(r.matched)}, pages {len(r.pages)}, "
                f"tickets {r.tickets}, false pages {r.false_pages} ({time.perf_counter() - t:.0f}s)")
            results.append(r)
    return {"seed": seed, "split": "held out" if seed >= HELD_OUT_FROM else "development", "only": only,
            "cycle_seconds": cycle_seconds, "cycle_source": cycle_source,
            "elapsed_seconds": round(time.perf_counter() - t0, 1),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "summary": summarize(results, seed), "scenarios": [r.to_dict() for r in results]}
