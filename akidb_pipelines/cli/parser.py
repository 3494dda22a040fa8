"""The ``akidb`` command line's arguments: every command and its options (no work is imported here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from akidb_pipelines.cli.args import MAX_DAYS, MAX_SILENCE_HOURS, bounded, date_arg, fraction, port_arg, seed_arg


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an argument error is one line on stderr (exit 2), pointing at ``--help`` for the usage."""

    def error(self, message: str):  # noqa: ANN201 - NoReturn
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
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
    g.add_argument("--days", type=bounded(MAX_DAYS, "days"), default=7.0, help="days of history (default 7)")
    g.add_argument("--start", type=date_arg, default=None, help="first minute, UTC (default: DAYS before today 00:00)")
    g.add_argument("--seed", type=seed_arg, default=42, help="random seed: same seed, same bytes (default 42)")
    g.add_argument("--scenario", type=Path, default=None, help="incident scenario YAML (default: the three from history)")
    g.add_argument("--traces-per-minute", type=bounded(1000), default=4.0, help="sampled X-Ray traces per minute (default 4)")
    g.add_argument("--gzip", action="store_true", help="gzip the NDJSON files")
    g.add_argument("--corrupt-fraction", type=fraction, default=0.0,
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
    ch.add_argument("--cycle-seconds", type=bounded(3600, "seconds"), default=None,
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
    sa.add_argument("matchers", nargs="+",
                    help="key=pattern, e.g. component=lambda-edge rule='lambda-edge.*': keys source, rule, component, "
                         "edge_location, severity (once each); patterns of letters, digits, . _ - and the wildcards "
                         "* ? [...]")
    sa.add_argument("--duration", type=bounded(MAX_SILENCE_HOURS, "hours"), default=2.0,
                    help="hours, at most 720 (30 days; default 2)")
    sa.add_argument("--start", type=date_arg, default=None, help="start, UTC ISO time (default now)")
    sa.add_argument("--by", default="", help="who sets it")
    sa.add_argument("--comment", required=True, help="why (required, one non-blank line: the ledger shows it)")
    sa.add_argument("--all", action="store_true",
                    help="allow a matcher that matches every value of its label (component='*', severity='P*')")
    ss.add_parser("list", help="list silences (a stored row that cannot be used is listed as invalid)")
    se = ss.add_parser("expire", help="end a silence now (its row stays: the ledger explains past decisions)")
    se.add_argument("id")
    sd = ss.add_parser("delete", help="remove a silence's row (e.g. one listed as invalid)")
    sd.add_argument("id")

    cf = sub.add_parser("config", help="check the configuration: settings and every YAML file in use",
                        description="Configuration commands. `akidb config check` loads every configuration in use "
                                    "(the files the AKIDB_* variables name, else the shipped ones, and the settings "
                                    "from the environment) and prints `ok <what> <file>` per configuration, or one "
                                    "line per problem naming the file and the field (all of them). Exit 0 when "
                                    "everything loads, 2 otherwise.")
    cfs = cf.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    cfs.add_parser("check", help="load every configuration in use and list every problem (exit 2 if any)")

    gd = sub.add_parser("gameday", help="a randomized game-day suite: drawn scenarios replayed, strictly matched",
                        description="Draw scenarios (start weekday, training history, incident types, magnitudes, "
                                    "onsets, overlaps, clean and noisy weeks) from the suite SEED, replay each "
                                    "through the pipeline and the shipped detector's response, match pages to "
                                    "injected incidents by time, root component and cause, and report recall, MTTD "
                                    "p50/p90, cause accuracy, false pages and pages + tickets per week with 90% "
                                    "intervals. Seeds below 1000 are the development split, from 1000 held out. "
                                    "Exit 1 when a goal is missed.")
    gd.add_argument("--scenarios", type=int, default=40, help="how many scenarios to draw (default 40)")
    gd.add_argument("--seed", type=seed_arg, default=1000, help="the suite's seed (default 1000, held out)")
    gd.add_argument("--json", type=Path, default=None, help="write the report as JSON to this file")
    gd.add_argument("--workdir", type=Path, default=None, help="where the scenario lakes go "
                                                               "(default $AKIDB_HOME/gameday/seed-SEED)")
    gd.add_argument("--cycle-seconds", type=bounded(3600, "seconds"), default=None,
                    help="pipeline cycle time (default: measured by `make bench`, else 60)")
    gd.add_argument("--keep", action="store_true", help="keep each scenario's telemetry and raw tables")
    gd.add_argument("--only", type=int, action="append", default=None, metavar="K",
                    help="replay only scenario K of the suite (0-based, as in its name; repeatable): a scenario is "
                         "drawn from the seed and its number alone, so it replays as in the whole suite")

    d = sub.add_parser("demo", help="generate 7 days of telemetry and materialize the whole asset graph",
                       description="The main job on the embedded default: synthetic telemetry with the three "
                                   "incidents, ingested into a local lake through the Dagster assets; prints a summary.")
    d.add_argument("--days", type=bounded(MAX_DAYS, "days"), default=7.0, help="days of history (default 7)")
    d.add_argument("--seed", type=seed_arg, default=42, help="random seed (default 42)")
    d.add_argument("--reuse", action="store_true", help="reuse existing generated data when present")

    lv = sub.add_parser("live", help="the pipeline under the Dagster daemon beside a live synthetic feed",
                        description="Bootstrap history and models, start the PagerDuty stand-in, the AWS sandbox and "
                                    "Dagster, then write each closed minute of telemetry into the landing zone; the "
                                    "detection sensor runs the chain once a minute. Ctrl-C stops everything.")
    lv.add_argument("--home", type=Path, default=None, help="working folder (default $AKIDB_HOME/live)")
    lv.add_argument("--days", type=bounded(MAX_DAYS, "days"), default=7.0, help="days of history (default 7)")
    lv.add_argument("--seed", type=seed_arg, default=42, help="random seed of the feed (default 42)")
    lv.add_argument("--duration", type=bounded(24 * 60, "minutes"), default=None,
                    help="stop after this many minutes (default: run until Ctrl-C)")
    lv.add_argument("--inject", action="append", metavar="TYPE@+MIN",
                    help="inject an incident MIN minutes after the feed goes live (repeatable), e.g. spot@+2; "
                         "TYPE: spot, storm, lstm or a scenario type name")
    lv.add_argument("--report", type=Path, default=None, help="with --duration: write the run's report (JSON) here")
    lv.add_argument("--no-ui", action="store_true", help="the Dagster daemon only, no webserver")
    lv.add_argument("--port", type=port_arg, default=3000, help="the UI's port on 127.0.0.1 (default 3000)")
    lv.add_argument("--fresh", action="store_true", help="bootstrap again even when the home could be resumed")

    ij = sub.add_parser("inject", help="inject an incident into the running live feed, from the next minute",
                        description="Queue an incident for `akidb live`: it starts at the next whole minute, with "
                                    "the seed incident's magnitude and duration unless given.")
    ij.add_argument("type", help="spot, storm, lstm, or spot_interruption_cascade, lambda_edge_cold_start_storm, "
                                 "lstm_false_positive_cascade")
    ij.add_argument("--magnitude", action="append", metavar="KEY=VALUE",
                    help="e.g. error_rate=0.08, instances_lost=6, p95_ms=3000, overprovision_pct=150 (repeatable)")
    ij.add_argument("--duration", type=bounded(24 * 60, "minutes"), default=None, help="minutes (default: the seed's)")
    ij.add_argument("--edges", default=None, help="edge locations for a storm, comma-separated (e.g. NRT57,SIN52)")
    ij.add_argument("--home", type=Path, default=None, help="the live feed's folder (default $AKIDB_HOME/live)")
    return p
