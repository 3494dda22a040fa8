"""Running chaos scenarios: build a scenario's lake with the pipeline, replay every detector with the runbooks acting
on a local AWS sandbox, close the loop for the shipped detector; a batch of scenarios; the replay's cycle time."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from akidb_pipelines import pipeline
from akidb_pipelines.change_calendar import from_ground_truth
from akidb_pipelines.chaos.recovery import measure_recovery, mitigated
from akidb_pipelines.chaos.replay import DETECTORS, replay
from akidb_pipelines.chaos.report import ChaosReport
from akidb_pipelines.chaos.scenario import ChaosError, ChaosScenario, load_chaos
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.storage import Lake
from akidb_pipelines.synthetic.scenario import parse_scenario
from akidb_pipelines.testing.aws_sandbox import Sandbox, require_moto

DEFAULT_CYCLE_SECONDS = 60.0
CYCLE_BENCH = Path("bench") / "cycle.json"   # under $AKIDB_HOME, written by `make bench` (tests/benchmarks/bench_cycle)
LIVE_BENCH = Path("bench") / "live.json"     # under $AKIDB_HOME, written by `make bench` (tests/benchmarks/bench_live)
SENSOR_LOOK_SECONDS = 10.0  # detect_sensor's interval: a minute that lands waits at most this long to be seen


def build(sc: ChaosScenario, workdir: str | os.PathLike[str], say=print) -> tuple[Lake, dict]:  # noqa: ANN001
    """The pipeline over the scenario's telemetry (trained on its first ``train_days`` with the change calendar
    of what ended by then, scored after): returns the lake and the ground truth."""
    if sc.series:
        unknown = [s for s in sc.series if s not in {x.id for x in load_forecast_config().series}]
        if unknown:
            raise ChaosError(f"{sc.path}: series: unknown {unknown}")
    run = pipeline.run(workdir, sc.start, sc.days, sc.seed, parse_scenario(sc.generator_doc, sc.start, sc.path),
                       sc.traces_per_minute, sc.replay_start, sc.series,
                       calendar=lambda gt: [e for e in from_ground_truth(gt) if e.end <= sc.replay_start], say=say)
    return run.lake, run.ground_truth


def run_chaos(sc: ChaosScenario, workdir: str | os.PathLike[str], detectors: tuple[str, ...] = DETECTORS,
              cycle_seconds: float = 60.0, ack_minutes: float = 3.0, say=print,  # noqa: ANN001
              cycle_source: str = "given", closed_loop: bool = True) -> ChaosReport:
    """Build, replay every detector with the runbooks acting on a moto sandbox, then close the loop for the
    shipped detector: the runbook actions it took end their incidents in a second generation of the telemetry,
    which goes through the whole pipeline and the response again; its recoveries are read from that telemetry."""
    work = Path(workdir)
    lake, gt = build(sc, work, say)
    loop: dict[str, Any] | None = None
    with Sandbox(work / "aws") as sb:
        results = [replay(lake, gt, sc.replay_start, sc.end, d, work, cycle_seconds, ack_minutes, sandbox=sb)
                   for d in detectors]
        for r in results:  # an incident no runbook ended recovers when its telemetry does
            measure_recovery(lake, r, sb.runbooks, only_unmitigated=True)
        ci = next((k for k, r in enumerate(results) if r.detector == "combined"), None)
        if closed_loop and ci is not None:
            first = results[ci]
            ends = {i.id: i.recovery for i in first.incidents if i.recovery_source.startswith("modelled")}
            if ends:
                say(f"  closed loop: {', '.join(f'{k} ended at {v:%H:%M}' for k, v in ends.items())} by its runbooks; "
                    "telemetry generated again and replayed")
                lake2, _ = build(mitigated(sc, ends, {i.id: i.onset for i in first.incidents}), work / "closed-loop",
                                 say)
                second = replay(lake2, gt, sc.replay_start, sc.end, "combined", work / "closed-loop", cycle_seconds,
                                ack_minutes, sandbox=sb)
                measure_recovery(lake2, second, sb.runbooks)
                for inc in second.incidents:  # that telemetry was generated with the assumed end: not a measurement
                    if inc.id in ends and inc.recovery_source.startswith("telemetry"):
                        inc.recovery_source = ("modelled (closed loop): runbook applied + its action's assumed time, "
                                               "fed back into the telemetry; " + inc.recovery_source)
                loop = {"mitigated": {k: v.isoformat() for k, v in ends.items()},
                        "pages_as_first_pass": [i.first_page for i in second.incidents]
                        == [i.first_page for i in first.incidents],
                        "first_pass": first.to_dict()}
                results[ci] = second
    return ChaosReport(sc.name, sc.replay_start, sc.end, results, cycle_seconds, ack_minutes, cycle_source, loop)


def run_scenarios(paths: Sequence[str | os.PathLike[str]], workdir: str | os.PathLike[str],
                  detectors: Sequence[str] = DETECTORS, cycle_seconds: float = DEFAULT_CYCLE_SECONDS,
                  cycle_source: str = "given", say: Callable[[str], None] = print) -> list[ChaosReport]:
    """Every scenario file of ``paths`` (all validated first: a bad file stops the batch before any work), each
    in ``workdir/<name>``; ``say`` gets the progress and each report's table."""
    detectors = tuple(detectors)
    if not detectors or set(detectors) - set(DETECTORS):
        raise ChaosError(f"detectors: choose from {', '.join(DETECTORS)} (got {', '.join(detectors) or 'none'})")
    scenarios = [load_chaos(p) for p in paths]
    seen: dict[str, str] = {}
    for sc in scenarios:  # one folder per name: two scenarios of one name would replay into each other's lakes
        if sc.name in seen:
            raise ChaosError(f"{sc.path}: name: {sc.name!r} is also the name of {seen[sc.name]}")
        seen[sc.name] = sc.path
    require_moto()  # before any scenario is built: every replay runs its runbooks on the sandbox
    reports = []
    for sc in scenarios:
        say(f"chaos scenario {sc.name}: {sc.description}")
        rep = run_chaos(sc, scenario_dir(workdir, sc), detectors, cycle_seconds, say=say, cycle_source=cycle_source)
        say(rep.table())
        reports.append(rep)
    return reports


def scenario_dir(workdir: str | os.PathLike[str], sc: ChaosScenario) -> Path:
    """``workdir/<name>``, checked to stay inside ``workdir`` (the name is validated at load; this is the
    guard for a scenario made in code): the replay clears outboxes and audit logs in it."""
    base = Path(workdir).resolve()
    if (base / sc.name).resolve().parent != base:
        raise ChaosError(f"{sc.path}: name: {sc.name!r} is not a folder name inside {base}")
    return Path(workdir) / sc.name


def measured_cycle(home: str | os.PathLike[str]) -> tuple[float, str]:
    """The replay's pipeline cycle time (minute close -> PagerDuty), the best measurement on this machine first:
    the live benchmark's p95 under the Dagster daemon; else the cycle benchmark's in-process p95 plus what the
    daemon adds (the sensor's look interval, one run start-up loading the code location); else 60 s."""
    live = Path(home) / LIVE_BENCH
    try:
        doc = json.loads(live.read_text())
        p95, n = float(doc["minute_close_to_page_p95_s"]), int(doc["pages"])
        return p95, (f"measured {doc.get('measured_at', '?')} under the Dagster daemon: minute close -> PagerDuty "
                     f"p95 {p95:.1f} s over {n} pages ({live})")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    path = Path(home) / CYCLE_BENCH
    try:
        doc = json.loads(path.read_text())
        p95, load = float(doc["cycle_seconds_p95"]), float(doc["code_location_load_seconds_median"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CYCLE_SECONDS, "assumed: the 60 s sensor interval (run `make bench` to measure it)"
    total = p95 + load + SENSOR_LOOK_SECONDS
    return total, (f"measured {doc.get('measured_at', '?')}: cycle p95 {p95:.1f} s + a run start-up {load:.1f} s + "
                   f"the sensor's look interval {SENSOR_LOOK_SECONDS:.0f} s ({path})")
