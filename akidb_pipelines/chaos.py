"""Game days on replayed telemetry: a scenario through the whole pipeline, then the response layer on a simulated
clock, scored per detector against the scenario's ground truth.

A chaos scenario is a generator scenario (incidents, non-incident events such as traffic surges and holiday
dips, deploys) plus how to replay it::

    name: spot-alone
    description: ...
    start: 2026-11-13T00:00:00Z     # default: the Friday two weeks back (training then spans a weekend)
    days: 7                          # telemetry generated
    train_days: 4                    # the forecast models are trained on the first days; the rest is replayed
    seed: 42
    traces_per_minute: 2
    incidents: [...]                 # as in synthetic/scenarios/default.yaml
    events: [...]                    # traffic_surge / holiday_dip: not incidents, must not page

:func:`build` runs the pipeline core over it (generate -> ingest -> every SQL model -> Prophet training at
``train_days`` with the change calendar -> anomaly scoring of the rest). Every stage is causal (a minute's burn
rate, golden signals and anomaly score use only earlier minutes), so computing them in one pass gives the same rows
a minute-by-minute micro-batch would; what the replay adds is *when* each decision happens. :func:`replay` runs
the response tick at the cadence the sensors would: one minute after each alert onset (the minute must close)
plus the pipeline's cycle time, then 5, 10, 15, 30 and 60 minutes later (holds, flaps, escalations, resolutions)
and every hour,
with the outbox on the simulated clock and a simulated on-call acknowledging each page after ``ack_minutes``.

Detectors: ``static`` (the shipped static threshold rules, all enabled: our old baseline), ``burn_rate`` (SLO
multi-window burn rates only), ``anomaly`` (Prophet anomalies only), ``combined`` (burn rates + anomalies: what
ships). Per injected incident: first detection (an alert of the detector overlapping it), first page, MTTD
(onset -> page), MTTA (page -> acknowledgement), MTTR (onset -> recovery), whether the root cause type was named.

Runbooks act for real: each replay runs against a fresh moto sandbox (``aws_sandbox.Sandbox``) with every runbook
enabled; the ledger is written after each response tick and the runbook lifecycle (apply, verify, restore) runs
every minute for 90 minutes after a page, starting a minute after it (the runbook sensor's next evaluation).
Recovery, per incident (``recovery_source``):

- ``telemetry``: the first minute from which the verification metric of the runbook that answers the incident's
  type (spot: akidb-rest error rate < 1%; storm: edge P95 < 200 ms; LSTM: provisioned/used < 3) stays below its
  bound for the verification's minutes, read from the golden signals;
- for the shipped detector (combined) the loop is closed: an incident whose runbook was applied ends
  ``MITIGATION_MINUTES`` of the action after the apply (the time the action takes to bite: an assumption, stated in
  the report), the scenario's telemetry is generated again with that end, run through the whole pipeline, the
  response and the runbooks are replayed on it (the runbook's own verification then checks the real curve), and
  the recovery is read from that telemetry;
- ``modelled`` (the other detectors, whose actions are not fed back): the apply time plus the action's time.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from akidb_pipelines.storage import Lake

SCENARIO_DIR = Path(__file__).resolve().parent / "synthetic" / "scenarios" / "chaos"
DETECTORS = ("static", "burn_rate", "anomaly", "combined")
SOURCES = {"static": ("static",), "burn_rate": ("slo",), "anomaly": ("anomaly",), "combined": ("slo", "anomaly")}
# minutes from the runbook's launch until the metric recovers (assumptions of the model, see the module docstring)
MITIGATION_MINUTES = {"autoscaling_step": 4, "ssm_flag": 5, "cloudfront_bypass_edge": 5,
                      "lambda_provisioned_concurrency": 3}
EXPECTED_CAUSE = {"spot_interruption_cascade": "spot_interruption",
                  "lambda_edge_cold_start_storm": "edge_cold_start_storm",
                  "lstm_false_positive_cascade": "predictive_over_provisioning"}
MATCH_BEFORE = timedelta(minutes=5)   # a page whose first alert is this early still belongs to the incident
FOLLOW_UP_MINUTES = (0, 5, 10, 15, 30, 60)  # ticks after an alert's first tick: holds, flaps, escalation, resolve
RUNBOOK_WATCH_MINUTES = 90  # the runbook lifecycle runs every minute this long after a page (apply, verify, restore)
CHAOS_KEYS = {"start", "days", "train_days", "seed", "traces_per_minute", "series"}


class ChaosError(ValueError):
    pass


@dataclass(frozen=True)
class ChaosScenario:
    name: str
    description: str
    start: datetime
    days: float
    train_days: float
    seed: int
    traces_per_minute: float
    generator_doc: dict[str, Any]       # what synthetic.scenario.parse_scenario reads
    series: tuple[str, ...] = ()         # forecast series to train and score (default: every configured one)
    path: str = "<memory>"

    @property
    def replay_start(self) -> datetime:
        return self.start + timedelta(days=self.train_days)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def _friday() -> datetime:
    """A Friday at least a week back: four training days from it include a weekend, so the replayed weekdays
    are not scored against a model that never saw the weekly shape (a Monday start paged on the weekend)."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=(today.weekday() - 4) % 7 + 7)


def load_chaos(path: str | os.PathLike[str]) -> ChaosScenario:
    from akidb_pipelines.synthetic.scenario import ScenarioError, parse_scenario

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ChaosError(f"{p}: cannot read ({exc})") from None
    if not isinstance(doc, dict):
        raise ChaosError(f"{p}: expected a mapping")
    start = doc.get("start")
    if start is None:
        start = _friday()
    elif isinstance(start, str):
        try:
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise ChaosError(f"{p}: start: not an ISO time: {start!r}") from None
    start = (start if start.tzinfo else start.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    days, train = doc.get("days", 7), doc.get("train_days", 4)
    for k, v in (("days", days), ("train_days", train)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ChaosError(f"{p}: {k}: expected a positive number of days")
    if train >= days:
        raise ChaosError(f"{p}: train_days ({train}) must be less than days ({days}): nothing would be replayed")
    gen = {k: v for k, v in doc.items() if k not in CHAOS_KEYS}
    try:
        parse_scenario(gen, start, str(p))  # validate now: errors name the file and the field
    except ScenarioError as exc:
        raise ChaosError(str(exc)) from None
    return ChaosScenario(str(doc.get("name") or p.stem), str(doc.get("description", "")), start, float(days),
                         float(train), int(doc.get("seed", 42)), float(doc.get("traces_per_minute", 2)), gen,
                         tuple(doc.get("series") or ()), str(p))


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def scenario_paths(names: list[str]) -> list[Path]:
    """Scenario files from shipped names (``spot-alone``) or YAML paths; none: every shipped scenario."""
    if not names:
        return shipped_scenarios()
    out = []
    for n in names:
        p = Path(n) if n.endswith((".yaml", ".yml")) else SCENARIO_DIR / f"{n}.yaml"
        if not p.is_file():
            known = ", ".join(s.stem for s in shipped_scenarios())
            raise ChaosError(f"chaos scenario {n!r}: no such file (shipped: {known})")
        out.append(p)
    return out


def build(sc: ChaosScenario, workdir: str | os.PathLike[str], say=print) -> tuple[Lake, dict]:  # noqa: ANN001
    """The pipeline over the scenario's telemetry: returns the lake and the ground truth."""
    import time

    from akidb_pipelines.calendar import from_ground_truth
    from akidb_pipelines.forecast.config import load_forecast_config
    from akidb_pipelines.forecast.detector import load_detector_config
    from akidb_pipelines.forecast.scoring import score_window, write_scores
    from akidb_pipelines.forecast.train import train_many
    from akidb_pipelines.storage import hour_partitions
    from akidb_pipelines.synthetic import generate
    from akidb_pipelines.synthetic.scenario import parse_scenario

    work = Path(workdir)
    t = time.perf_counter()
    scenario = parse_scenario(sc.generator_doc, sc.start, sc.path)
    data = generate(work / "gen", sc.start, sc.days, sc.seed, scenario, sc.traces_per_minute)
    gt = json.loads(Path(data.ground_truth).read_text())
    lake = Lake(work / "lake")
    model_lake(lake, data)
    say(f"  pipeline: {sc.days:g} days generated, ingested and modelled in {time.perf_counter() - t:.0f}s")
    t = time.perf_counter()
    cfg = load_forecast_config()
    if sc.series:
        unknown = [s for s in sc.series if s not in {x.id for x in cfg.series}]
        if unknown:
            raise ChaosError(f"{sc.path}: series: unknown {unknown}")
        cfg = dataclasses.replace(cfg, series=tuple(cfg.get(s) for s in sc.series))
    calendar = [e for e in from_ground_truth(gt) if e.end <= sc.replay_start]
    outcomes = train_many(lake, cfg, [s.id for s in cfg.series], sc.replay_start, calendar)
    promoted = sum(o.status == "promoted" for o in outcomes)
    scores, _ = score_window(lake, cfg, load_detector_config(), sc.replay_start, sc.end)
    write_scores(lake, scores, hour_partitions(sc.replay_start, sc.end))
    say(f"  forecasts: {promoted}/{len(outcomes)} series promoted, {sc.end - sc.replay_start} scored in "
        f"{time.perf_counter() - t:.0f}s")
    return lake, gt


def model_lake(lake: Lake, data) -> None:  # noqa: ANN001 - a synthetic GenerationResult
    """Ingest generated telemetry into ``lake`` by hour and run every SQL model over it."""
    from akidb_pipelines.storage import PartitionKey, hour_partitions

    files = {kind: {str(f): PartitionKey.parse(str(f).split("date=")[1][:10] + "T" + str(f).split("hour=")[1][:2])
                    for f in paths} for kind, paths in data.files.items()}
    model_hours(lake, files, hour_partitions(data.start, data.end))


def model_hours(lake: Lake, files: dict[str, dict[str, Any]], keys: list, graph=None) -> None:  # noqa: ANN001
    """The landing batch for ``files`` (kind -> {file: hour partition}; it replaces the batch's rows of those hours)
    and every SQL model over the hours ``keys``: the main job's work for those hours, and one micro-batch cycle when
    ``keys`` is the open hour."""
    from akidb_pipelines.ingest import ingest_files
    from akidb_pipelines.sqlmodels.project import project_graph
    from akidb_pipelines.sqlmodels.runner import run_model

    for kind, part in files.items():
        ingest_files(kind, list(part), lake, batch="landing", partition_of=part)
    graph = graph or project_graph()
    for name in graph.order:
        run_model(graph.models[name], graph, lake, keys)


@dataclass
class IncidentResult:
    id: str
    type: str
    onset: datetime
    end: datetime
    first_detection: datetime | None = None
    first_page: datetime | None = None
    acknowledged: datetime | None = None
    recovery: datetime | None = None
    runbooks: list[str] = field(default_factory=list)
    cause_named: str | None = None
    root_cause_ok: bool = False
    actions: list[dict] = field(default_factory=list)   # the runbook audit log of its incident: at, runbook, status
    recovery_source: str = "injected end"               # or "modelled: ..." or "telemetry: ..."

    def seconds(self, t: datetime | None, since: datetime | None = None) -> float | None:
        base = since or self.onset
        return None if t is None or base is None else (t - base).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        iso = lambda v: v.isoformat().replace("+00:00", "Z") if v else None  # noqa: E731
        return {"id": self.id, "type": self.type, "onset": iso(self.onset), "end": iso(self.end),
                "first_detection": iso(self.first_detection), "first_page": iso(self.first_page),
                "acknowledged": iso(self.acknowledged), "recovery": iso(self.recovery),
                "root_cause_named": self.cause_named, "root_cause_ok": self.root_cause_ok, "runbooks": self.runbooks,
                "runbook_actions": self.actions, "recovery_source": self.recovery_source,
                "mttd_seconds": self.seconds(self.first_page), "mtta_seconds": self.seconds(self.acknowledged,
                                                                                            self.first_page),
                "mttr_seconds": self.seconds(self.recovery)}


@dataclass
class DetectorResult:
    detector: str
    incidents: list[IncidentResult]
    alerts: int
    pages: int
    false_pages: list[dict]
    weeks: float
    ticks: int

    @property
    def precision(self) -> float | None:
        return None if not self.pages else (self.pages - len(self.false_pages)) / self.pages

    @property
    def recall(self) -> float | None:
        return None if not self.incidents else sum(i.first_page is not None for i in self.incidents) / len(self.incidents)

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "alerts": self.alerts, "alerts_per_week": self.alerts / self.weeks,
                "pages": self.pages, "pages_per_week": self.pages / self.weeks, "false_pages": len(self.false_pages),
                "false_page_details": self.false_pages, "precision": self.precision, "recall": self.recall,
                "response_ticks": self.ticks, "incidents": [i.to_dict() for i in self.incidents]}


def _inputs(detector: str, runbooks: list):  # noqa: ANN202
    from akidb_pipelines.alerting.respond import load_inputs
    from akidb_pipelines.alerting.static_rules import load_static_rules

    base = load_inputs()
    static = [dataclasses.replace(r, enabled=True) for r in load_static_rules(include_disabled=True)]
    return dataclasses.replace(base, sources=SOURCES[detector], static_rules=static if detector == "static" else [],
                               silences=[], calendar=[], runbooks=runbooks)


def _alerts(lake: Lake, inputs, start: datetime, end: datetime) -> list:  # noqa: ANN001
    from akidb_pipelines.alerting.respond import collect_alerts

    return collect_alerts(lake, inputs, start, end)


def replay(lake: Lake, gt: dict, start: datetime, end: datetime, detector: str, workdir: str | os.PathLike[str],
           cycle_seconds: float = 60.0, ack_minutes: float = 3.0, runbooks: list | None = None,
           sandbox=None) -> DetectorResult:  # noqa: ANN001 - an aws_sandbox.Sandbox
    """The response layer over [start, end) on a simulated clock, for one detector (see the module docstring).

    With a ``sandbox`` (``aws_sandbox.Sandbox``) the runbooks act for real on it: the incident ledger is written
    after every response tick and the runbook lifecycle (apply, verify, restore) runs every minute for 90 minutes
    after each page, as the runbook sensor would; the audit log gives each incident its actions."""
    import heapq

    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.alerting.respond import (
        DECISIONS_OBJECT, INCIDENTS_OBJECT, TICKETS_OBJECT, acknowledge, respond, write_incidents)
    from akidb_pipelines.alerting.sources import service_map
    from akidb_pipelines.runbooks import lifecycle
    from akidb_pipelines.runbooks.engine import AuditLog, load_runbooks

    if detector not in DETECTORS:
        raise ChaosError(f"unknown detector {detector!r} (one of {DETECTORS})")
    audit = None
    Path(workdir).mkdir(parents=True, exist_ok=True)
    if sandbox is not None:
        sandbox.reset()
        runbooks = sandbox.runbooks
        audit_path = Path(workdir) / f"runbook-audit-{detector}.sqlite"
        audit_path.unlink(missing_ok=True)
        audit = AuditLog(audit_path)
        for obj in (INCIDENTS_OBJECT, DECISIONS_OBJECT, TICKETS_OBJECT):  # this replay's ledgers only
            Path(f"{lake.root}/{obj}").unlink(missing_ok=True)  # chaos lakes are local folders
    runbooks = [dataclasses.replace(r, enabled=True) for r in (load_runbooks() if runbooks is None else runbooks)]
    inputs = _inputs(detector, runbooks)
    alerts = _alerts(lake, inputs, start, end)
    lag = timedelta(minutes=1, seconds=cycle_seconds)
    ticks: set[datetime] = set()
    t = start + timedelta(hours=1)
    while t < end:
        ticks.add(t)
        t += timedelta(hours=1)
    for a in alerts:
        first = (a.start + lag).replace(second=0, microsecond=0) + timedelta(minutes=1 if lag.seconds % 60 else 0)
        ticks.update(first + timedelta(minutes=k) for k in FOLLOW_UP_MINUTES)
    queue = [(x, "respond") for x in ticks if start < x <= end]
    heapq.heapify(queue)
    clock = [start.timestamp()]
    box_path = Path(workdir) / f"outbox-{detector}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{box_path}{suffix}").unlink(missing_ok=True)
    box = Outbox(box_path, clock=lambda: clock[0])
    smap = service_map(lake)
    seen: dict[str, dict] = {}
    acks: dict[str, float] = {}
    done: set[tuple[datetime, str]] = set()
    n_ticks = 0
    while queue:
        now, kind = heapq.heappop(queue)
        if (now, kind) in done:
            continue
        done.add((now, kind))
        n_ticks += 1
        for inc, due in list(acks.items()):
            if due <= now.timestamp():
                clock[0] = due
                acknowledge(box, inc, "simulated on-call")
                del acks[inc]
        clock[0] = now.timestamp()
        if kind == "respond":
            rep = respond(lake, now, inputs, box, smap)
            box.deliver(lambda ev: ev.dedup_key)
            for row in rep.incidents:
                seen.setdefault(row["id"], {}).update(row)
            for key in rep.enqueued:
                if key.endswith(":trigger"):
                    acks[key.split(":")[0]] = now.timestamp() + ack_minutes * 60
                    if audit is not None:  # the runbook sensor, every minute while the runbooks may act
                        for k in range(1, RUNBOOK_WATCH_MINUTES + 1):
                            if now + timedelta(minutes=k) <= end:
                                heapq.heappush(queue, (now + timedelta(minutes=k), "runbooks"))
            if audit is not None:
                write_incidents(lake, rep, box, audit)
        if audit is not None and kind == "runbooks":  # the runbook sensor's evaluations, from a minute after a page
            lifecycle.tick(lake, runbooks, sandbox.actuator, audit, box, now)
            box.deliver(lambda ev: ev.dedup_key)
    rows = box.rows()
    sent = {r["idempotency_key"]: datetime.fromtimestamp(r["sent_at"], tz=timezone.utc)
            for r in rows if r["status"] == "sent"}
    acked = {r["idempotency_key"]: datetime.fromtimestamp(r["created_at"], tz=timezone.utc) for r in rows
             if r["action"] == "acknowledge"}
    paged = sorted(((sent[f"{i}:trigger"], r) for i, r in seen.items() if f"{i}:trigger" in sent
                    and r["decision"] == "page"), key=lambda x: x[0])
    audit_rows = audit.rows() if audit is not None else []
    results, matched = [], set()
    by_id = {rb.id: rb for rb in runbooks}
    for g in gt.get("incidents", []):
        onset = datetime.fromisoformat(g["start"].replace("Z", "+00:00"))
        g_end = datetime.fromisoformat(g["end"].replace("Z", "+00:00"))
        if not (start <= onset < end):
            continue
        res = IncidentResult(g["id"], g["type"], onset, g_end, recovery=g_end)
        # an alert that starts with the incident detects it (one already firing for an earlier cause does not)
        hits = [a for a in alerts if onset - MATCH_BEFORE <= a.start <= g_end]
        res.first_detection = min((max(a.start, onset) for a in hits), default=None)
        mine = [(t, r) for t, r in paged if onset - MATCH_BEFORE <= r["first_alert"] <= g_end]
        if mine:
            t_page, row = mine[0]
            ids = {r["id"] for _, r in mine}
            matched.update(ids)
            res.first_page, res.acknowledged = t_page, acked.get(f"{row['id']}:acknowledge")
            res.cause_named = row.get("cause")
            res.root_cause_ok = row.get("cause") == EXPECTED_CAUSE.get(g["type"])
            res.runbooks = json.loads(row.get("runbooks_planned") or "[]")
            res.actions = [{"at": a["at"], "runbook": a["runbook"], "status": a["status"], "reason": a["reason"]}
                           for a in audit_rows if a["incident"] in ids]
            if audit is not None:  # the real apply times
                applied = [(datetime.fromisoformat(a["at"]), a["runbook"]) for a in res.actions
                           if a["status"] == "applied"]
            else:  # launched at the runbook sensor's next evaluation
                applied = [(t_page + timedelta(minutes=1), r) for r in res.runbooks]
            mitigated = [at + timedelta(minutes=MITIGATION_MINUTES[by_id[r].action["type"]])
                         for at, r in applied if r in by_id]
            if mitigated and max(mitigated) < g_end:
                res.recovery = max(mitigated)
                res.recovery_source = "modelled: runbook applied + its action's assumed time"
        results.append(res)
    false_pages = [{"incident": r["id"], "first_alert": r["first_alert"].isoformat(), "severity": r["severity"],
                    "root": f"{r['root_component']}: {r['root_rule']}", "cause": r.get("cause")}
                   for _, r in paged if r["id"] not in matched]
    weeks = max((end - start).total_seconds() / (7 * 86400), 1e-9)
    return DetectorResult(detector, results, len(alerts), len(paged), false_pages, weeks, n_ticks)


@dataclass
class ChaosReport:
    scenario: str
    replay_start: datetime
    replay_end: datetime
    detectors: list[DetectorResult]
    cycle_seconds: float
    ack_minutes: float
    cycle_source: str = "given"
    closed_loop: dict[str, Any] | None = None

    def goals(self) -> list[tuple[str, bool, str]]:
        """(goal, met, detail) for the shipped detector (combined)."""
        comb = next((d for d in self.detectors if d.detector == "combined"), None)
        if comb is None:
            return []
        out = []
        for i in comb.incidents:
            mttd = i.seconds(i.first_page)
            out.append((f"MTTD <= 2 min: {i.id}", mttd is not None and mttd <= 120,
                        "not paged" if mttd is None else f"{mttd / 60:.1f} min"))
            if i.runbooks:
                mttr = i.seconds(i.recovery)
                out.append((f"MTTR <= 10 min (runbook): {i.id}", mttr is not None and mttr <= 600,
                            f"{mttr / 60:.1f} min" if mttr is not None else "-"))
        if not comb.incidents:
            out.append(("no page in a week without incidents", comb.pages == 0, f"{comb.pages} page(s)"))
        out.append(("< 10 pages a week", comb.pages / comb.weeks < 10, f"{comb.pages / comb.weeks:.1f}/week"))
        if comb.pages:
            out.append(("precision >= 90%", (comb.precision or 0) >= 0.9, f"{comb.precision:.0%}"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "replay_start": self.replay_start.isoformat(),
                "replay_end": self.replay_end.isoformat(), "cycle_seconds": self.cycle_seconds,
                "cycle_source": self.cycle_source,
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "recovery_model": "per incident (recovery_source): telemetry = the runbook verification metric "
                                  "back below its bound for its minutes; modelled = runbook applied + the "
                                  "action's assumed time (mitigation_minutes_assumed); the shipped detector's "
                                  "runbook actions are fed back into the generated telemetry (closed_loop)",
                "closed_loop": self.closed_loop,
                "simulated_ack_minutes": self.ack_minutes, "mitigation_minutes_assumed": MITIGATION_MINUTES,
                "detectors": [d.to_dict() for d in self.detectors],
                "goals": [{"goal": g, "met": m, "detail": d} for g, m, d in self.goals()]}

    def table(self) -> str:
        lines = [f"scenario {self.scenario}: replayed {self.replay_start:%Y-%m-%d %H:%M} .. {self.replay_end:%Y-%m-%d %H:%M}"
                 f" (cycle {self.cycle_seconds:.0f}s, on-call acks after {self.ack_minutes:g} min)",
                 f"  pipeline cycle: {self.cycle_source}",
                 f"  {'detector':10s} {'alerts/wk':>9s} {'pages':>5s} {'pages/wk':>8s} {'false':>5s} "
                 f"{'precision':>9s} {'recall':>6s}"]
        fmt = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
        for d in self.detectors:
            lines.append(f"  {d.detector:10s} {d.alerts / d.weeks:9.1f} {d.pages:5d} {d.pages / d.weeks:8.1f} "
                         f"{len(d.false_pages):5d} {fmt(d.precision):>9s} {fmt(d.recall):>6s}")
        mins = lambda s: "-" if s is None else f"{s / 60:.1f}m"  # noqa: E731
        for d in self.detectors:
            for i in d.incidents:
                lines.append(f"  {d.detector:10s} {i.id:30s} detect {mins(i.seconds(i.first_detection)):>6s} "
                             f"MTTD {mins(i.seconds(i.first_page)):>6s} MTTA "
                             f"{mins(i.seconds(i.acknowledged, i.first_page)):>5s} MTTR {mins(i.seconds(i.recovery)):>6s}"
                             f" ({i.recovery_source.split(':')[0]})"
                             f"  cause {i.cause_named or '-'}{'' if i.root_cause_ok or not i.first_page else ' (WRONG)'}"
                             + (f"  runbooks {','.join(i.runbooks)}" if i.runbooks else ""))
        if self.closed_loop:
            lines.append(f"  closed loop (combined): runbooks ended {', '.join(self.closed_loop['mitigated'])}; "
                         "telemetry generated again, replayed; pages "
                         + ("as in the first pass" if self.closed_loop["pages_as_first_pass"] else
                            "DIFFER from the first pass"))
        for g, met, detail in self.goals():
            lines.append(f"  goal {'met   ' if met else 'MISSED'} {g}: {detail}")
        return "\n".join(lines)


def health_spec(incident_type: str, runbooks: list):  # noqa: ANN201 - a runbooks.engine.Verify or None
    """How recovery from an incident type shows in the golden signals: the verification of the runbook that
    answers its root-cause type (spot: akidb-rest error rate < 1%; storm: edge P95 < 200 ms; LSTM cascade:
    provisioned/used capacity < 3)."""
    cause = EXPECTED_CAUSE.get(incident_type)
    for rb in runbooks:
        if rb.verify is not None and any(t.get("cause") == cause for t in rb.trigger):
            return rb.verify
    return None


def telemetry_recovery(lake: Lake, inc: IncidentResult, spec, until: datetime) -> datetime | None:  # noqa: ANN001
    """The first minute after the onset from which ``spec``'s metric stays below its bound for ``spec.minutes``
    minutes, after having been at or above it (None: it never was, or never recovered before ``until``)."""
    from akidb_pipelines.alerting.sources import query_table
    from akidb_pipelines.runbooks.lifecycle import GOLDEN

    rows = query_table(lake, GOLDEN, f"""SELECT minute, {spec.metric} FROM {{src}}
        WHERE tier = ? AND edge_location = ? AND minute >= ? AND minute < ? ORDER BY minute""",
                       [spec.tier, spec.edge_location, inc.onset, until])
    seen_bad, run_start, run = False, None, 0
    for minute, v in rows:
        minute = minute.astimezone(timezone.utc) if minute.tzinfo else minute.replace(tzinfo=timezone.utc)
        if v is not None and v >= spec.below:
            seen_bad, run_start, run = True, None, 0
            continue
        if not seen_bad:
            continue
        run_start = run_start or minute
        run += 1
        if run >= spec.minutes:
            return run_start
    return None


def _measure(lake: Lake, res: DetectorResult, runbooks: list, only_unmitigated: bool = False) -> None:
    for inc in res.incidents:
        if only_unmitigated and inc.recovery_source != "injected end":
            continue
        spec = health_spec(inc.type, runbooks)
        if spec is None:
            continue
        at = telemetry_recovery(lake, inc, spec, max(inc.end, inc.recovery or inc.end) + timedelta(hours=2))
        if at is not None:
            inc.recovery = at
            inc.recovery_source = (f"telemetry: {spec.tier} {spec.metric} < {spec.below:g} for {spec.minutes} min "
                                   f"({spec.edge_location})")


def mitigated(sc: ChaosScenario, ends: dict[str, datetime], onsets: dict[str, datetime]) -> ChaosScenario:
    """The scenario with each incident in ``ends`` over at that time (what its runbook's action did)."""
    import copy
    import math

    doc = copy.deepcopy(sc.generator_doc)
    for inc in doc.get("incidents", []):
        if inc.get("id") in ends:
            minutes = (ends[inc["id"]] - onsets[inc["id"]]).total_seconds() / 60
            inc["duration_minutes"] = max(1, min(int(inc["duration_minutes"]), math.ceil(minutes)))
    return dataclasses.replace(sc, generator_doc=doc)


def run_chaos(sc: ChaosScenario, workdir: str | os.PathLike[str], detectors: tuple[str, ...] = DETECTORS,
              cycle_seconds: float = 60.0, ack_minutes: float = 3.0, say=print,  # noqa: ANN001
              cycle_source: str = "given", closed_loop: bool = True) -> ChaosReport:
    """Build, replay every detector with the runbooks acting on a moto sandbox, then close the loop for the
    shipped detector: the runbook actions it took end their incidents in a second generation of the telemetry,
    which goes through the whole pipeline and the response again; its recoveries are read from that telemetry."""
    from akidb_pipelines.synthetic.aws_sandbox import Sandbox

    work = Path(workdir)
    lake, gt = build(sc, work, say)
    loop: dict[str, Any] | None = None
    with Sandbox(work / "aws") as sb:
        results = [replay(lake, gt, sc.replay_start, sc.end, d, work, cycle_seconds, ack_minutes, sandbox=sb)
                   for d in detectors]
        for r in results:  # an incident no runbook ended recovers when its telemetry does
            _measure(lake, r, sb.runbooks, only_unmitigated=True)
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
                _measure(lake2, second, sb.runbooks)
                loop = {"mitigated": {k: v.isoformat() for k, v in ends.items()},
                        "pages_as_first_pass": [i.first_page for i in second.incidents]
                        == [i.first_page for i in first.incidents],
                        "first_pass": first.to_dict()}
                results[ci] = second
    return ChaosReport(sc.name, sc.replay_start, sc.end, results, cycle_seconds, ack_minutes, cycle_source, loop)


DEFAULT_CYCLE_SECONDS = 60.0
CYCLE_BENCH = Path("bench") / "cycle.json"   # under $AKIDB_HOME, written by `make bench` (tests/benchmarks/bench_cycle)
RUNS_PER_CYCLE = 4  # ingest -> models -> scoring -> response: each a run that loads the code location first


def measured_cycle(home: str | os.PathLike[str]) -> tuple[float, str]:
    """The replay's pipeline cycle time: from the cycle benchmark when it has run on this machine (p95 of the
    in-process cycle plus one code-location load per run of the chain), else the 60 s sensor interval."""
    path = Path(home) / CYCLE_BENCH
    try:
        doc = json.loads(path.read_text())
        p95, load = float(doc["cycle_seconds_p95"]), float(doc["code_location_load_seconds_median"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CYCLE_SECONDS, "assumed: the 60 s sensor interval (run `make bench` to measure it)"
    total = p95 + RUNS_PER_CYCLE * load
    return total, (f"measured {doc.get('measured_at', '?')}: cycle p95 {p95:.1f} s + {RUNS_PER_CYCLE} run start-ups "
                   f"x {load:.1f} s ({path})")


REPORT_OBJECT = "chaos/report.json"


def publish_reports(lake: Lake, reports: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Merge ``reports`` into the lake's ``chaos/report.json`` (a scenario replaces its earlier report, others are
    kept) for the chaos dashboard; returns the URI and every report now stored."""
    old = lake.read_bytes(REPORT_OBJECT)
    try:
        stored = json.loads(old) if old else []
    except ValueError:
        stored = []
    names = {r["scenario"] for r in reports}
    merged = [r for r in (stored if isinstance(stored, list) else []) if r.get("scenario") not in names] + reports
    merged.sort(key=lambda r: r["scenario"])
    uri = lake.write_bytes(REPORT_OBJECT, (json.dumps(merged, indent=2, default=str) + "\n").encode())
    return uri, merged
