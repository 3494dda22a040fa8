"""``akidb``: one command line for the pipeline's stages, so a stage can run on files without the UI.

Exit codes: 0 success (bad records are quarantined, not errors), 1 a stage failed, 2 bad arguments,
66 an input file is missing or unreadable (sysexits EX_NOINPUT).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

EX_OK, EX_FAIL, EX_USAGE, EX_NOINPUT = 0, 1, 2, 66


def _date(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date/time: {text!r} (use e.g. 2026-11-20 or 2026-11-20T06:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text!r}")
    return v


def default_start(days: float) -> datetime:
    """Synthetic history ends at today's midnight UTC, so every hour of it is a closed partition."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="akidb",
        description="AkiDB observability pipelines: generate synthetic telemetry, ingest raw files into the "
                    "Parquet lake, run the whole pipeline. Settings come from AKIDB_* environment variables "
                    "(see README); the lake defaults to ./.akidb/lake.",
        epilog="Exit codes: 0 ok (bad records are quarantined, not errors), 1 failure, 2 bad arguments, "
               "66 input file missing or unreadable.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    g = sub.add_parser("generate", help="write seeded synthetic AkiDB telemetry (X-Ray, EMF, Prometheus) with incidents",
                       description="Write a landing zone of synthetic telemetry plus ground_truth.json.")
    g.add_argument("--out", type=Path, default=None, help="output folder (default $AKIDB_HOME)")
    g.add_argument("--days", type=_positive, default=7.0, help="days of history (default 7)")
    g.add_argument("--start", type=_date, default=None, help="first minute, UTC (default: DAYS before today 00:00)")
    g.add_argument("--seed", type=int, default=42, help="random seed: same seed, same bytes (default 42)")
    g.add_argument("--scenario", type=Path, default=None, help="incident scenario YAML (default: the three from history)")
    g.add_argument("--traces-per-minute", type=_positive, default=4.0, help="sampled X-Ray traces per minute (default 4)")
    g.add_argument("--gzip", action="store_true", help="gzip the NDJSON files")
    g.add_argument("--corrupt-fraction", type=_fraction, default=0.0,
                   help="share of EMF/X-Ray lines to damage on purpose, to exercise the quarantine (default 0)")
    g.add_argument("--openmetrics", type=Path, default=None,
                   help="also write the whole range as one OpenMetrics file (for promtool backfill)")

    i = sub.add_parser("ingest", help="ingest raw files of one kind into the lake",
                       description="Parse the files, store good records as Parquet in the lake, quarantine bad "
                                   "ones with a reason, print the counts. Re-running the same files replaces "
                                   "their earlier result (idempotent).")
    i.add_argument("kind", choices=["xray", "otlp", "emf", "prom"],
                   help="xray: segment documents (NDJSON); otlp: OpenTelemetry OTLP/JSON traces, one "
                        "ExportTraceServiceRequest per line (into the X-Ray spans table); emf: CloudWatch EMF log "
                        "events (NDJSON); prom: Prometheus/OpenMetrics text with timestamps")
    i.add_argument("files", nargs="+", type=Path, help="input files (plain or .gz)")
    i.add_argument("--partition", default=None,
                   help="hour the files were delivered for (e.g. 2026-11-20T05); records outside it are quarantined. "
                        "Default: each record lands in the hour of its own timestamp")
    i.add_argument("--batch", default=None, help="batch name (default: derived from the file paths)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")

    r = sub.add_parser("rules", help="write Prometheus recording and alerting rules for the SLOs",
                       description="Generate Prometheus rules (multi-window multi-burn-rate alerts) from the same SLO "
                                   "specs and window table the SQL models use.")
    r.add_argument("--specs", type=Path, default=None, help="folder of SLO YAML (default: the shipped specs)")
    r.add_argument("--out", type=Path, default=None, help="output file (default: standard output)")

    ne = sub.add_parser("nab-eval", help="evaluate the anomaly detector online on NAB-format data (NAB score)",
                        description="Run the production detector (Prophet band + detector.yaml defaults) online over "
                                    "a folder of NAB CSVs (timestamp,value): learn on each file's probationary "
                                    "period, refit on trailing data only, write NAB result files and print the NAB "
                                    "score (standard, reward-low-FP, reward-low-FN) at the shipped threshold 0.5 "
                                    "and with the threshold swept.")
    ne.add_argument("--data", type=Path, required=True, help="folder of NAB data CSVs (e.g. NAB/data)")
    ne.add_argument("--labels", type=Path, required=True, help="NAB windows file (labels/combined_windows.json)")
    ne.add_argument("--out", type=Path, required=True, help="folder for the result files and report.txt")
    ne.add_argument("--config", type=Path, default=None, help="detector YAML (default: the shipped detector.yaml)")
    ne.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the report as JSON")
    ne.add_argument("--quiet", action="store_true", help="no per-file progress lines")

    ch = sub.add_parser("chaos", help="replay a chaos scenario through the pipeline and score the detectors",
                        description="Generate the scenario's telemetry, run the pipeline core over it (ingest, SQL "
                                    "models, Prophet training and scoring), replay the response layer on a simulated "
                                    "clock and report per incident and per detector (static, burn_rate, anomaly, "
                                    "combined): MTTD, MTTA, MTTR, pages and alerts per week, precision, recall. "
                                    "Exit 0 when every goal of the shipped detector is met, 1 when one is missed.")
    ch.add_argument("--scenario", type=Path, action="append", default=None,
                    help="chaos scenario YAML (repeatable; default: every shipped scenario)")
    ch.add_argument("--json", type=Path, default=None, help="write the reports as JSON to this file")
    ch.add_argument("--workdir", type=Path, default=None, help="where the scenario lakes go (default $AKIDB_HOME/chaos)")
    ch.add_argument("--cycle-seconds", type=float, default=None,
                    help="pipeline cycle time added to each detection: new minute -> page (default: measured by "
                         "`make bench` on this machine, $AKIDB_HOME/bench/cycle.json, else 60)")
    ch.add_argument("--no-publish", action="store_true",
                    help="do not write the reports and the chaos dashboard into the lake")
    ch.add_argument("--detectors", default="static,burn_rate,anomaly,combined", help="comma-separated")

    inc = sub.add_parser("incidents", help="list the incidents of the alert ledger",
                         description="The incidents the response ticks recorded (alerting/incidents.parquet in the "
                                     "lake): root cause, severity, first alert, first page, resolution, pages sent.")
    inc.add_argument("--json", action="store_true", help="print the incidents as JSON")
    inc.add_argument("--all", action="store_true", help="include tickets (P2), held, silenced and flapping ones")
    inc.add_argument("--ack", metavar="ID", default=None,
                     help="acknowledge incident ID: an acknowledge event to PagerDuty through the outbox (stops the "
                          "P0 escalation; the time is the MTTA)")
    inc.add_argument("--by", default="", help="who acknowledges (with --ack)")

    sil = sub.add_parser("silence", help="ad-hoc silences: mute matching alerts for a while",
                         description="Silences match alert labels (source, rule, component, edge_location, severity; "
                                     "shell patterns). An alert starting inside a silence's window neither pages nor "
                                     "joins an incident; the decision ledger records it.")
    ss = sil.add_subparsers(dest="silence_command", required=True)
    sa = ss.add_parser("add", help="add a silence")
    sa.add_argument("matchers", nargs="+", help="key=pattern, e.g. component=lambda-edge rule='lambda-edge.*'")
    sa.add_argument("--duration", type=_positive, default=2.0, help="hours (default 2)")
    sa.add_argument("--start", type=_date, default=None, help="start, UTC ISO time (default now)")
    sa.add_argument("--by", default="", help="who sets it")
    sa.add_argument("--comment", required=True, help="why (required: the ledger shows it)")
    ss.add_parser("list", help="list silences")
    se = ss.add_parser("expire", help="end a silence now")
    se.add_argument("id")

    d = sub.add_parser("demo", help="generate 7 days of telemetry and materialize the whole asset graph",
                       description="The main job on the embedded default: synthetic telemetry with the three "
                                   "incidents, ingested into a local lake through the Dagster assets; prints a summary.")
    d.add_argument("--days", type=_positive, default=7.0, help="days of history (default 7)")
    d.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    d.add_argument("--reuse", action="store_true", help="reuse existing generated data when present")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"generate": cmd_generate, "ingest": cmd_ingest, "rules": cmd_rules, "nab-eval": cmd_nab_eval,
                    "incidents": cmd_incidents, "silence": cmd_silence, "chaos": cmd_chaos}
        if args.command in commands:
            return commands[args.command](args)
        if args.command == "demo":
            from sensors.demo import run_demo

            return run_demo(days=args.days, seed=args.seed, reuse=args.reuse)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EX_FAIL
    return EX_USAGE


def _ack(settings, incident: str, by: str) -> int:  # noqa: ANN001
    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.alerting.respond import acknowledge
    from akidb_pipelines.clients.pagerduty import EventsClient

    outbox = Outbox(settings.home / "pagerduty-outbox.sqlite")
    if f"{incident}:trigger" not in outbox.keys():
        print(f"akidb incidents: {incident} was never paged (nothing to acknowledge)", file=sys.stderr)
        return EX_NOINPUT
    if not acknowledge(outbox, incident, by):
        print(f"{incident} was already acknowledged")
        return EX_OK
    client = EventsClient.from_env()
    if client is not None:
        rep = outbox.deliver(client.send)
        print(f"{incident} acknowledged ({rep.sent} event(s) delivered, {rep.retrying} waiting to retry)")
    else:
        print(f"{incident} acknowledged; the event waits in the outbox (no PAGERDUTY_ROUTING_KEY)")
    return EX_OK


def incident_records(df) -> list[dict]:  # noqa: ANN001 - the ledger DataFrame
    """The ledger as plain records (what ``akidb incidents --json`` prints)."""
    import json as _json

    import pandas as pd

    def ts(v: object) -> str | None:
        return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat()

    out = []
    for r in df.sort_values("first_alert").itertuples():
        g = lambda name: getattr(r, name, None)  # noqa: E731 - ledgers written before a column existed lack it
        out.append({"id": r.id, "severity": r.severity,
                    "root_cause": {"component": r.root_component, "type": g("cause") or "unclassified",
                                   "evidence": g("cause_evidence") or "", "alert": f"{r.root_source}:{r.root_rule}"},
                    "decision": r.decision, "reason": g("reason"), "team": r.team,
                    "first_alert": ts(r.first_alert), "first_page": ts(r.first_page),
                    "acknowledged": ts(g("acknowledged_at")), "escalated": ts(g("escalated_at")),
                    "resolved": ts(r.resolved_at) if r.resolved else None,
                    "pages_sent": int(r.pages_sent), "related_alerts": _json.loads(r.related),
                    "flap_of": g("flap_of"),
                    "runbooks_planned": _json.loads(g("runbooks_planned") or "[]"),
                    "runbook_actions": _json.loads(g("runbook_actions") or "[]")})
    return out


def cmd_chaos(args: argparse.Namespace) -> int:
    import json as _json

    from akidb_pipelines.chaos import (
        DETECTORS, ChaosError, load_chaos, measured_cycle, publish_reports, run_chaos, shipped_scenarios)
    from akidb_pipelines.config import Settings

    paths = args.scenario or shipped_scenarios()
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        print(f"akidb chaos: {missing[0]}: scenario file not found", file=sys.stderr)
        return EX_NOINPUT
    detectors = tuple(d.strip() for d in args.detectors.split(",") if d.strip())
    if not detectors or set(detectors) - set(DETECTORS):
        print(f"akidb chaos: --detectors: choose from {','.join(DETECTORS)}", file=sys.stderr)
        return EX_USAGE
    try:
        scenarios = [load_chaos(p) for p in paths]
    except ChaosError as exc:
        print(f"akidb chaos: {exc}", file=sys.stderr)
        return EX_USAGE
    settings = Settings.from_env()
    work = args.workdir or settings.home / "chaos"
    if args.cycle_seconds is None:
        cycle, source = measured_cycle(settings.home)
    else:
        cycle, source = args.cycle_seconds, "given (--cycle-seconds)"
    print(f"pipeline cycle {cycle:.1f} s: {source}", flush=True)
    reports, ok = [], True
    for sc in scenarios:
        print(f"chaos scenario {sc.name}: {sc.description}", flush=True)
        rep = run_chaos(sc, work / sc.name, detectors, cycle, say=lambda m: print(m, flush=True), cycle_source=source)
        print(rep.table(), flush=True)
        reports.append(rep.to_dict())
        ok &= all(met for _, met, _ in rep.goals())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(_json.dumps(reports, indent=2, default=str) + "\n")
        print(f"reports written to {args.json}")
    if not args.no_publish:
        from akidb_pipelines.dashboards import publish, render

        lake = settings.lake()
        uri, stored = publish_reports(lake, reports)
        page = publish(lake, render("chaos", lake))
        print(f"lake: {uri} ({len(stored)} scenario report(s)); dashboard: {page.url}")
    return EX_OK if ok else EX_FAIL


def cmd_silence(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from akidb_pipelines.alerting.silences import SilenceError, SilenceStore, default_path, parse_matchers

    store = SilenceStore(default_path())
    now = datetime.now(timezone.utc)
    if args.silence_command == "add":
        try:
            start = args.start or now
            sil = store.add(parse_matchers(args.matchers), start, start + timedelta(hours=args.duration), args.by,
                            args.comment)
        except SilenceError as exc:
            print(f"akidb silence: {exc}", file=sys.stderr)
            return EX_USAGE
        print(f"silence {sil.describe()}")
        return EX_OK
    if args.silence_command == "expire":
        if not store.expire(args.id, now):
            print(f"akidb silence: no active silence {args.id}", file=sys.stderr)
            return EX_NOINPUT
        print(f"silence {args.id} expired")
        return EX_OK
    for sil in store.all():
        print(("active  " if sil.start <= now < sil.end else "expired " if sil.end <= now else "pending ")
              + sil.describe())
    return EX_OK


def cmd_incidents(args: argparse.Namespace) -> int:
    import io
    import json as _json

    import pandas as pd

    from akidb_pipelines.alerting.respond import INCIDENTS_OBJECT
    from akidb_pipelines.config import Settings

    settings = Settings.from_env()
    lake = settings.lake()
    if args.ack:
        return _ack(settings, args.ack, args.by)
    data = lake.read_bytes(INCIDENTS_OBJECT)
    if data is None:
        print(f"akidb incidents: no incident ledger yet ({lake.root}/{INCIDENTS_OBJECT}); the response tick "
              "(job 'respond', or make demo) writes it", file=sys.stderr)
        return EX_NOINPUT
    df = pd.read_parquet(io.BytesIO(data))
    if not args.all and len(df):
        df = df[df["decision"] == "page"]
    records = incident_records(df) if len(df) else []
    if args.json:
        print(_json.dumps(records, indent=2))
        return EX_OK
    if not records:
        print("no incidents" + ("" if args.all else " paged (--all shows tickets and held ones)"))
        return EX_OK
    print(f"{'id':18s} {'sev':3s} {'root cause':44s} {'first alert':17s} {'first page':17s} {'resolved':17s} pages related")
    for r in records:
        fmt = lambda v: v[:16].replace("T", " ") if v else "-"  # noqa: E731
        root = f"{r['root_cause']['component']}: {r['root_cause']['type']}"
        print(f"{r['id']:18s} {r['severity']:3s} {root[:44]:44s} {fmt(r['first_alert']):17s} "
              f"{fmt(r['first_page']):17s} {fmt(r['resolved']):17s} {r['pages_sent']:5d} {len(r['related_alerts'])}")
    return EX_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from akidb_pipelines.config import Settings
    from akidb_pipelines.synthetic import ScenarioError, generate
    from akidb_pipelines.synthetic.generator import build_model, export_openmetrics
    from akidb_pipelines.synthetic.scenario import load_scenario

    if args.scenario is not None and not args.scenario.is_file():
        print(f"akidb generate: {args.scenario}: scenario file not found", file=sys.stderr)
        return EX_NOINPUT
    out = args.out or Settings.from_env().home
    start = args.start or default_start(args.days)
    try:
        res = generate(out, start, args.days, args.seed, args.scenario, args.traces_per_minute, args.gzip,
                       progress=lambda m: print(f"  {m}", flush=True), corrupt_fraction=args.corrupt_fraction)
        if args.openmetrics:
            sc = load_scenario(args.scenario, res.start)
            n = export_openmetrics(build_model(res.start, args.days, args.seed, sc), args.seed, args.openmetrics)
            print(f"openmetrics: {n} samples -> {args.openmetrics}")
    except ScenarioError as e:
        print(f"akidb generate: {e}", file=sys.stderr)
        return EX_USAGE
    print(f"generated {res.start:%Y-%m-%d %H:%M} .. {res.end:%Y-%m-%d %H:%M} UTC into {res.out_dir}")
    for kind, n in res.records.items():
        print(f"  {kind:5s} {n:>10,} records in {len(res.files[kind])} files")
    print(f"  ground truth: {res.ground_truth}")
    return EX_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from akidb_pipelines.slo.promrules import render_rules
    from akidb_pipelines.slo.spec import SpecError, load_specs

    if args.specs is not None and not args.specs.is_dir():
        print(f"akidb rules: {args.specs}: no such folder", file=sys.stderr)
        return EX_NOINPUT
    try:
        slos, table = load_specs(args.specs)
    except SpecError as e:
        print(f"akidb rules: {e}", file=sys.stderr)
        return EX_USAGE
    text = render_rules(slos, table)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return EX_OK


def cmd_nab_eval(args: argparse.Namespace) -> int:
    from akidb_pipelines.forecast.detector import load_detector_config
    from akidb_pipelines.forecast.nab import NabInputError, evaluate, report_text

    if not args.data.is_dir():
        print(f"akidb nab-eval: {args.data}: no such folder", file=sys.stderr)
        return EX_NOINPUT
    if args.config is not None and not args.config.is_file():
        print(f"akidb nab-eval: {args.config}: detector config not found", file=sys.stderr)
        return EX_NOINPUT
    try:
        labels = json.loads(args.labels.read_text())
    except OSError as e:
        print(f"akidb nab-eval: {args.labels}: cannot read labels: {e.strerror or e}", file=sys.stderr)
        return EX_NOINPUT
    except ValueError as e:
        print(f"akidb nab-eval: {args.labels}: not valid JSON: {e}", file=sys.stderr)
        return EX_NOINPUT
    if not isinstance(labels, dict):
        print(f"akidb nab-eval: {args.labels}: expected a mapping of file -> windows", file=sys.stderr)
        return EX_NOINPUT
    try:
        config = load_detector_config(args.config)
    except ValueError as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_USAGE
    try:
        report = evaluate(args.data, args.labels, args.out, config,
                          progress=None if args.quiet else (lambda m: print(f"  {m}", flush=True)))
    except NabInputError as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_NOINPUT
    except (ValueError, RuntimeError) as e:
        print(f"akidb nab-eval: {e}", file=sys.stderr)
        return EX_FAIL
    text = report_text(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    print(text, end="")
    return EX_OK


def cmd_ingest(args: argparse.Namespace) -> int:
    from akidb_pipelines.config import Settings
    from akidb_pipelines.ingest import ingest_files, write_manifest
    from akidb_pipelines.storage import PartitionKey
    from akidb_pipelines.telemetry.lines import SourceFileError

    try:
        key = PartitionKey.parse(args.partition) if args.partition else None
    except ValueError as e:
        print(f"akidb ingest: --partition: {e}", file=sys.stderr)
        return EX_USAGE
    settings = Settings.from_env()
    try:
        report = ingest_files(args.kind, [str(f) for f in args.files], settings.lake(), batch=args.batch,
                              partition_of=key, catalog=settings.catalog())
    except SourceFileError as e:
        print(f"akidb ingest: {e}", file=sys.stderr)
        return EX_NOINPUT
    write_manifest(settings.home, report)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return EX_OK
    print(f"{args.kind}: {report.records_read} records read from {len(args.files)} file(s)")
    print(f"  stored       {report.records_stored:>10} records ({report.rows_stored} rows) in {report.table}")
    print(f"  quarantined  {report.records_quarantined:>10}")
    for reason, n in report.quarantine_by_reason.items():
        print(f"    {reason:26s} {n}")
    print(f"  duplicates   {report.duplicates_dropped:>10} dropped")
    print(f"  partitions   {len(report.partitions):>10}    lake: {settings.lake_root}   ({report.seconds:.1f}s)")
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
