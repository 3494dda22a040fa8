"""Every ``akidb`` command on hostile input (issue 13): quotes, ``;``, ``../``, glob characters, NaN/inf/huge numbers,
wrong YAML types, unknown keys, corrupt state files (incidents.parquet, silences.sqlite, pagerduty-outbox.sqlite).

For each refused case: exit 2 (bad argument or configuration) or 66 (missing or unreadable input), exactly one
non-empty line on stderr and no traceback, and nothing written outside ``AKIDB_HOME``: the folders around it (a
sentinel tree, the inputs, the working directory) are snapshotted before and after. Ingest cases with hostile
*records* are accepted (exit 0) and lose nothing: records in = stored + quarantined + counted duplicates.

Commands run in-process through ``akidb_pipelines.cli.main`` (fast); a few run as ``python -m akidb_pipelines.cli``
to catch what the interpreter itself would print (a traceback, a warning).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tests.test_cli import run as run_in_process

EMF_MS = 1_793_577_660_000  # 2026-11-02T00:01:00Z
SLO_SPECS = Path(__file__).resolve().parents[1] / "akidb_pipelines" / "slo" / "specs"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Layout:
    """``root/outside`` is the sentinel tree; AKIDB_HOME and the working directory sit three levels below it, so
    a ``../../../x`` escape lands in the sentinel; inputs are written to ``root/inputs`` (read, never written)."""

    root: Path

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def home(self) -> Path:
        return self.outside / "d1" / "d2" / "d3" / "home"

    @property
    def cwd(self) -> Path:
        return self.outside / "d1" / "d2" / "d3" / "cwd"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    def sub(self, text: str) -> str:
        return text.replace("{in}", str(self.inputs)).replace("{home}", str(self.home))


@dataclass
class Case:
    argv: list[str]
    code: int                                               # 2 or 66
    files: dict[str, str | bytes] = field(default_factory=dict)  # under {in}
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Layout], None] | None = None
    in_err: str = ""                                         # expected in the stderr line


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p == skip or skip in p.parents:
            continue
        out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    lay = Layout(tmp_path)
    for d in (lay.home, lay.cwd, lay.inputs, lay.outside / "keep"):
        d.mkdir(parents=True)
    (lay.outside / "keep" / "outbox-combined.sqlite").write_bytes(b"someone else's outbox")
    (lay.outside / "runbook-audit-static.sqlite").write_bytes(b"someone else's audit log")
    (lay.outside / "d1" / "notes.txt").write_text("sentinel")
    monkeypatch.setenv("AKIDB_HOME", str(lay.home))
    monkeypatch.chdir(lay.cwd)
    for var in ("PAGERDUTY_ROUTING_KEY", "AKIDB_PAGERDUTY_URL", "AKIDB_PAGERDUTY_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    return lay


def prepare(case: Case, lay: Layout, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name, content in case.files.items():
        p = lay.inputs / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup:
        case.setup(lay)
    for k, v in case.env.items():
        monkeypatch.setenv(k, lay.sub(v))
    return [lay.sub(a) for a in case.argv]


def check_refused(case: Case, code: int, err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert code == case.code, f"exit {code}, expected {case.code}: {lines[0]}"
    assert case.in_err in lines[0], lines[0]


# -- state files and inputs the cases need ---------------------------------------------------------------------------

def _write(p: Path, data: bytes) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def corrupt_silences(lay: Layout) -> None:
    _write(lay.home / "silences.sqlite", b"SQLite format 3\x00" + b"\xff" * 200)


def bad_silence_row(lay: Layout) -> None:  # as an older version stored it: no grammar then
    from akidb_pipelines.alerting.silences import SilenceStore

    SilenceStore(lay.home / "silences.sqlite")
    with sqlite3.connect(lay.home / "silences.sqlite") as con:
        con.execute("INSERT INTO silences VALUES ('sil-0000000000', 'component=a;b', '2026-01-01T00:00:00+00:00', "
                    "'2099-01-01T00:00:00+00:00', 'm', 'old', '2026-01-01T00:00:00+00:00')")


def corrupt_ledger(lay: Layout) -> None:
    _write(lay.home / "lake" / "alerting" / "incidents.parquet", b"PAR1" + b"\x00garbage" * 20 + b"PAR1")


def foreign_parquet_ledger(lay: Layout) -> None:
    buf = io.BytesIO()
    pd.DataFrame({"minute": [1], "value": [float("nan")]}).to_parquet(buf)
    _write(lay.home / "lake" / "alerting" / "incidents.parquet", buf.getvalue())


def corrupt_outbox(lay: Layout) -> None:
    _write(lay.home / "pagerduty-outbox.sqlite", b"\x00" * 4096)


def paged_inc1(lay: Layout) -> None:
    from akidb_pipelines.alerting.outbox import Outbox
    from akidb_pipelines.clients.pagerduty import Event

    Outbox(lay.home / "pagerduty-outbox.sqlite").enqueue(Event("trigger", "inc-1", summary="s", source="x"),
                                                         "inc-1:trigger")


def chaos_work_is_a_file(lay: Layout) -> None:
    _write(lay.home / "work-file", b"x")


def bad_specs(change: Callable[[str], str]) -> Callable[[Layout], None]:
    def setup(lay: Layout) -> None:
        shutil.copytree(SLO_SPECS, lay.inputs / "specs")
        p = lay.inputs / "specs" / "latency.yaml"
        p.write_text(change(p.read_text()))
    return setup


def nab_data(lay: Layout) -> None:
    _write(lay.inputs / "nab" / "a" / "x.csv", b"timestamp,value\nfoo,bar\n2020-01-01 00:00:00,nan\n")
    _write(lay.inputs / "labels.json", json.dumps({"a/x.csv": []}).encode())


CHAOS_OK = "days: 2\ntrain_days: 1\nincidents: []\n"
SPOT = ("incidents: [{type: spot_interruption_cascade, start: '%s', duration_minutes: %s, "
        "magnitude: {error_rate: %s, instances_lost: 4}}]\n")


def chaos(text: str, code: int = 2, in_err: str = "") -> Case:
    return Case(["chaos", "--scenario", "{in}/sc.yaml", "--no-publish"], code, {"sc.yaml": text}, in_err=in_err)


def generate_sc(text: str | bytes, in_err: str = "") -> Case:
    return Case(["generate", "--scenario", "{in}/sc.yaml", "--out", "{home}/gen", "--days", "0.01"], 2,
                {"sc.yaml": text}, in_err=in_err)


def silence_add(*extra: str, code: int = 2, in_err: str = "") -> Case:
    return Case(["silence", "add", *extra], code, in_err=in_err)


XFAIL_A = "helper A (ingest hostile input)"
XFAIL_B = "helper B (strict configuration)"

CASES = {
    # -- the command line itself
    "no command": Case([], 2),
    "unknown command": Case(["frobnicate;rm"], 2),
    # -- generate
    "live --port 99999": Case(["live", "--port", "99999"], 2, in_err="1 .. 65535"),
    "live --port 0": Case(["live", "--port", "0"], 2, in_err="1 .. 65535"),
    "live --port abc": Case(["live", "--port", "abc"], 2, in_err="not a port"),
    "generate --days nan": Case(["generate", "--days", "nan"], 2, in_err="finite"),
    "generate --days inf": Case(["generate", "--days", "inf"], 2, in_err="finite"),
    "generate --days 1e9": Case(["generate", "--days", "1e9"], 2, in_err="at most"),
    "generate --seed -1": Case(["generate", "--seed", "-1"], 2),
    "generate --seed abc": Case(["generate", "--seed", "abc"], 2),
    "generate --traces-per-minute nan": Case(["generate", "--traces-per-minute", "nan"], 2),
    "generate --corrupt-fraction inf": Case(["generate", "--corrupt-fraction", "inf"], 2),
    "generate --start year 9999": Case(["generate", "--start", "9999-12-31T23:59"], 2),
    "generate --start with a quote": Case(["generate", "--start", "2026-11-20'; DROP TABLE x; --"], 2),
    "generate --scenario missing": Case(["generate", "--scenario", "{in}/none.yaml"], 66),
    "generate --scenario a folder": Case(["generate", "--scenario", "{in}"], 66),
    "generate --scenario ../ path": Case(["generate", "--scenario", "../../../none.yaml"], 66),
    "generate --scenario glob": Case(["generate", "--scenario", "{in}/*.yaml"], 66, {"a.yaml": "incidents: []\n"}),
    "generate --out is a file": Case(["generate", "--out", "{in}/f", "--days", "0.01"], 2, {"f": "x"}),
    "generate --openmetrics is a folder": Case(["generate", "--out", "{home}/g", "--openmetrics", "{in}",
                                                "--days", "0.01"], 2),
    "scenario unknown key": generate_sc("incidents: []\ncolour: red\n", "colour"),
    "scenario incidents not a list": generate_sc("incidents: 5\n"),
    "scenario nan magnitude": generate_sc(SPOT % ("0d 00:01", 5, ".nan"), "error_rate"),
    "scenario huge duration": generate_sc(SPOT % ("0d 00:01", 10**12, 0.05), "duration_minutes"),
    "scenario overflowing start": generate_sc(SPOT % ("99999999d 00:00", 5, 0.05), "start"),
    "scenario components not a list": generate_sc(SPOT.replace("}}]", "}, components: 5}]") % ("0d 00:01", 5, 0.05)),
    "scenario deploys wrong type": generate_sc("incidents: []\ndeploys: {latency_factor: abc}\n", "latency_factor"),
    "scenario binary": generate_sc(b"\xff\xfe\x00\x01garbage", "UTF-8"),
    "scenario python tag": generate_sc("incidents: !!python/object/apply:os.system ['touch pwned']\n", "YAML"),
    "scenario top-level list": generate_sc("- 1\n- 2\n"),
    # -- ingest (helper A's defects: batch names, globs, partitions)
    "ingest missing file": Case(["ingest", "emf", "{in}/none.ndjson"], 66),
    "ingest glob path": pytest.param(Case(["ingest", "emf", "{in}/*.ndjson"], 66, {"a.ndjson": "{}\n"}),
                                     id="ingest glob path"),
    "ingest a folder": Case(["ingest", "emf", "{in}"], 66),
    "ingest --batch with a quote": Case(["ingest", "emf", "{in}/a.ndjson", "--batch", "x'; DROP TABLE y; --"], 2,
                                        {"a.ndjson": "{}\n"}),
    "ingest --batch ../": Case(["ingest", "emf", "{in}/a.ndjson", "--batch", "../../../escaped"], 2,
                               {"a.ndjson": "{}\n"}),
    "ingest --batch glob": Case(["ingest", "emf", "{in}/a.ndjson", "--batch", "*"], 2, {"a.ndjson": "{}\n"}),
    "ingest --partition 9999-12-31T23": Case(["ingest", "emf", "{in}/a.ndjson", "--partition", "9999-12-31T23"], 2,
                                             {"a.ndjson": "{}\n"}),
    "ingest --partition with a quote": Case(["ingest", "emf", "{in}/a.ndjson", "--partition", "2026-11-20T05'"], 2,
                                            {"a.ndjson": "{}\n"}),
    "ingest unknown kind": Case(["ingest", "logs;rm", "{in}/a.ndjson"], 2),
    # -- rules
    "rules --specs missing": Case(["rules", "--specs", "{in}/none"], 66),
    "rules --specs a file": Case(["rules", "--specs", "{in}/f"], 66, {"f": "x"}),
    "rules spec nan target": Case(["rules", "--specs", "{in}/specs"], 2,
                                  setup=bad_specs(lambda t: t.replace("target: 0.999", "target: .nan"))),
    "rules spec unknown key": Case(["rules", "--specs", "{in}/specs"], 2,
                                   setup=bad_specs(lambda t: t.replace("kind: SLO", "kind: SLO\ncolour: red"))),
    "rules spec wrong type": Case(["rules", "--specs", "{in}/specs"], 2,
                                  setup=bad_specs(lambda t: t.replace("value: 30", "value: [30]"))),
    "rules --out is a folder": Case(["rules", "--out", "{in}"], 2),
    # -- nab-eval
    "nab-eval --data missing": Case(["nab-eval", "--data", "{in}/none", "--labels", "{in}/l.json", "--out",
                                     "{home}/n"], 66),
    "nab-eval --labels missing": Case(["nab-eval", "--data", "{in}", "--labels", "{in}/none.json", "--out",
                                       "{home}/n"], 66),
    "nab-eval --labels not JSON": Case(["nab-eval", "--data", "{in}", "--labels", "{in}/l.json", "--out",
                                        "{home}/n"], 66, {"l.json": "{'a': NaN"}),
    "nab-eval --labels a list": Case(["nab-eval", "--data", "{in}", "--labels", "{in}/l.json", "--out", "{home}/n"],
                                     66, {"l.json": "[1, 2]"}),
    "nab-eval --config unknown key": Case(["nab-eval", "--data", "{in}", "--labels", "{in}/l.json", "--out",
                                           "{home}/n", "--config", "{in}/d.yaml"], 2,
                                          {"l.json": "{}", "d.yaml": "threshold: 0.5\n"}),
    "nab-eval --config nan": Case(["nab-eval", "--data", "{in}", "--labels", "{in}/l.json", "--out", "{home}/n",
                                   "--config", "{in}/d.yaml"], 2,
                                  {"l.json": "{}", "d.yaml": "detector: {threshold: .nan}\n"}),
    "nab-eval garbage timestamps": Case(["nab-eval", "--data", "{in}/nab", "--labels", "{in}/labels.json", "--out",
                                         "{home}/n", "--quiet"], 66, setup=nab_data),
    "nab-eval --out is a file": Case(["nab-eval", "--data", "{in}/nab", "--labels", "{in}/labels.json", "--out",
                                      "{in}/f"], 2, {"f": "x"}, setup=nab_data),
    # -- chaos (scenario names, numbers, times)
    "chaos scenario missing": Case(["chaos", "--scenario", "{in}/none.yaml"], 66),
    "chaos name ../../../x": chaos("name: ../../../x\n" + CHAOS_OK, in_err="name"),
    "chaos name absolute": chaos("name: /tmp/x\n" + CHAOS_OK, in_err="name"),
    "chaos name glob": chaos("name: '*'\n" + CHAOS_OK, in_err="name"),
    "chaos name with a quote": chaos("name: \"a'; rm -rf /\"\n" + CHAOS_OK, in_err="name"),
    "chaos seed abc": chaos("seed: abc\n" + CHAOS_OK, in_err="seed"),
    "chaos days .nan": chaos("days: .nan\ntrain_days: 1\n", in_err="days"),
    "chaos days 1e9": chaos("days: 1e9\ntrain_days: 1\n", in_err="days"),
    "chaos traces_per_minute .inf": chaos("traces_per_minute: .inf\n" + CHAOS_OK, in_err="traces_per_minute"),
    "chaos start wrong type": chaos("start: [1]\n" + CHAOS_OK, in_err="start"),
    "chaos series wrong type": chaos("series: 5\n" + CHAOS_OK, in_err="series"),
    "chaos incident after its days": chaos("days: 2\ntrain_days: 1\n" + SPOT % ("5d 10:00", 8, 0.05),
                                           in_err="outside"),
    "chaos unknown key": chaos("colour: red\n" + CHAOS_OK, in_err="colour"),
    "chaos binary file": chaos("\x00\x01", in_err="YAML"),
    "chaos a list": chaos("[1, 2]\n"),
    "chaos --detectors": Case(["chaos", "--detectors", "static;rm"], 2),
    "chaos --cycle-seconds nan": Case(["chaos", "--cycle-seconds", "nan"], 2),
    "chaos --workdir is a file": Case(["chaos", "--scenario", "{in}/sc.yaml", "--workdir", "{home}/work-file"], 2,
                                      {"sc.yaml": CHAOS_OK}, setup=chaos_work_is_a_file),
    "chaos --json is a folder": Case(["chaos", "--scenario", "{in}/sc.yaml", "--json", "{in}"], 2,
                                     {"sc.yaml": CHAOS_OK}),
    "gameday --workdir is a file": Case(["gameday", "--workdir", "{home}/work-file"], 2, setup=chaos_work_is_a_file,
                                        in_err="not a folder"),
    "gameday --json is a folder": Case(["gameday", "--json", "{home}"], 2, in_err="is a folder"),
    "gameday --scenarios 0": Case(["gameday", "--scenarios", "0"], 2),
    # -- incidents and the PagerDuty outbox
    "incidents without a ledger": Case(["incidents"], 66),
    "incidents corrupt ledger": Case(["incidents"], 66, setup=corrupt_ledger, in_err="incidents.parquet"),
    "incidents --json foreign parquet": Case(["incidents", "--json"], 66, setup=foreign_parquet_ledger,
                                             in_err="not an incident ledger"),
    "incidents --ack never paged, quoted": Case(["incidents", "--ack", "x'; DROP TABLE outbox; --"], 66,
                                                setup=paged_inc1),
    "incidents --ack corrupt outbox": Case(["incidents", "--ack", "inc-1"], 66, setup=corrupt_outbox,
                                           in_err="pagerduty-outbox.sqlite"),
    "incidents --ack http URL": Case(["incidents", "--ack", "inc-1"], 2, setup=paged_inc1,
                                     env={"PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789abcdefABCDEF",
                                          "AKIDB_PAGERDUTY_URL": "http://127.0.0.1:9"}, in_err="https"),
    "incidents --ack missing CA file": Case(["incidents", "--ack", "inc-1"], 2, setup=paged_inc1,
                                            env={"PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789abcdefABCDEF",
                                                 "AKIDB_PAGERDUTY_CA_FILE": "{in}/none.pem"}, in_err="CA_FILE"),
    # -- silences
    "silence add ;": silence_add("component=a;b", "--comment", "x", in_err="matcher"),
    "silence add quote": silence_add("rule=x'y", "--comment", "x", in_err="matcher"),
    "silence add ../": silence_add("component=../x", "--comment", "x", in_err="matcher"),
    "silence add unknown key": silence_add("colour=red", "--comment", "x", in_err="matcher"),
    "silence add component=*": silence_add("component=*", "--comment", "x", in_err="--all"),
    "silence add empty comment": silence_add("component=x", "--comment", "", in_err="comment"),
    "silence add blank comment": silence_add("component=x", "--comment", "   ", in_err="comment"),
    "silence add --duration nan": silence_add("component=x", "--comment", "x", "--duration", "nan"),
    "silence add --duration inf": silence_add("component=x", "--comment", "x", "--duration", "inf"),
    "silence add --duration 1e9": silence_add("component=x", "--comment", "x", "--duration", "1e9"),
    "silence add --start year 9999": silence_add("component=x", "--comment", "x", "--start", "9999-12-31T23:00"),
    "silence add corrupt store": Case(["silence", "add", "component=x", "--comment", "x"], 66,
                                      setup=corrupt_silences, in_err="silences.sqlite"),
    "silence list corrupt store": Case(["silence", "list"], 66, setup=corrupt_silences, in_err="silences.sqlite"),
    "silence expire corrupt store": Case(["silence", "expire", "sil-1"], 66, setup=corrupt_silences),
    "silence delete corrupt store": Case(["silence", "delete", "sil-1"], 66, setup=corrupt_silences),
    "silence expire unknown, quoted": Case(["silence", "expire", "sil-'; DROP TABLE silences; --"], 66),
    "silence delete unknown, glob": Case(["silence", "delete", "sil-*"], 66, setup=bad_silence_row),
    # -- demo arguments
    "demo --days nan": Case(["demo", "--days", "nan"], 2),
    "demo --days 1e9": Case(["demo", "--days", "1e9"], 2),
    "demo --seed -1": Case(["demo", "--seed", "-1"], 2),
    # -- gameday arguments (its work is issue 14's)
    "gameday --cycle-seconds nan": Case(["gameday", "--cycle-seconds", "nan"], 2),
    "gameday --seed -1": Case(["gameday", "--seed", "-1"], 2),
    "gameday --scenarios 0": Case(["gameday", "--scenarios", "0"], 2),
    "gameday --only out of the suite": Case(["gameday", "--scenarios", "3", "--only", "3"], 2,
                                            in_err="--only: a scenario number from 0 to 2, got 3"),
    "gameday --only not a number": Case(["gameday", "--only", "x"], 2),
    # -- configuration (helper B's defects)
    "config check routing typo": Case(["config", "check"], 2, {"r.yaml": "severitys: {}\n"},
                                      env={"AKIDB_ROUTING_CONFIG": "{in}/r.yaml"}, in_err="severitys"),
    "config check AKIDB_SOURCE=kafka": Case(["config", "check"], 2, env={"AKIDB_SOURCE": "kafka"}, in_err="kafka"),
    "incidents AKIDB_HOME=s3://": Case(["incidents"], 2, env={"AKIDB_HOME": "s3://bucket/x"}, in_err="AKIDB_HOME"),
    "silence list AKIDB_HOME=s3://": Case(["silence", "list"], 2, env={"AKIDB_HOME": "s3://bucket/x"}),
    "chaos AKIDB_SOURCE=kafka": Case(["chaos", "--scenario", "{in}/sc.yaml", "--no-publish"], 2,
                                     {"sc.yaml": CHAOS_OK}, env={"AKIDB_SOURCE": "kafka"}),
}


def _params(cases: dict) -> list:
    return [c if isinstance(c, type(pytest.param(None))) else pytest.param(c, id=name) for name, c in cases.items()]


@pytest.mark.parametrize("case", _params(CASES))
def test_a_refused_input_is_one_line_exit_2_or_66_and_writes_nothing_outside_home(case, layout, monkeypatch,
                                                                                   capsys):
    argv = prepare(case, layout, monkeypatch)
    before = snapshot(layout.root, layout.home)
    code, _, err = run_in_process(argv, capsys)
    check_refused(case, code, err)
    assert snapshot(layout.root, layout.home) == before, "something was written outside AKIDB_HOME"


def test_an_old_bad_silence_row_is_listed_as_invalid_not_a_traceback(layout, monkeypatch, capsys):
    bad_silence_row(layout)
    code, out, err = run_in_process(["silence", "list"], capsys)
    assert code == 0 and err == "" and out.startswith("invalid sil-0000000000")


# -- ingest: hostile records are quarantined or stored, never lost ---------------------------------------------------

def _emf(value: object = 1.0, service: object = "akidb-rest", **extra: object) -> str:
    ev = {"_aws": {"Timestamp": EMF_MS, "CloudWatchMetrics": [
        {"Namespace": "AkiDB", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": service, "Latency": value, **extra}
    return json.dumps(ev)


EMF_LINES = [
    _emf(), _emf(), _emf(float("nan")), _emf(float("inf")), _emf(-float("inf")), "x" + _emf(), _emf(1e308 * 10),
    _emf("abc"), _emf([1, 2]), _emf({"a": 1}), _emf(True), _emf(None), _emf(10**400),
    _emf(1.0, "akidb-rest'; DROP TABLE emf; --"), _emf(1.0, "../../../etc/passwd"), _emf(1.0, "*"), _emf(1.0, ""),
    _emf(1.0, ["x"]), json.dumps({"_aws": 5, "Service": "a", "Latency": 1}), json.dumps({"_aws": {"Timestamp": "x"}}),
    json.dumps({"_aws": {"Timestamp": 10**30, "CloudWatchMetrics": []}, "Latency": 1}), '{"_aws":', "[]", "null",
    "\x00\x01\x02", "NaN", '"a string"', _emf(1.0, "a" * 100_000), _emf(1.0, "line\u2028sep"),
]
PROM_LINES = [
    "# TYPE akidb_requests_total counter",
    "akidb_requests_total{service=\"akidb-rest\"} 1 1793577660000",
    "akidb_requests_total{service=\"akidb-rest\"} NaN 1793577660000",
    "akidb_requests_total{service=\"akidb-rest\"} +Inf 1793577660000",
    "akidb_requests_total{service=\"a\\\"; DROP TABLE prom; --\"} 1 1793577660000",
    "akidb_requests_total{service=\"../../x\"} 1 1793577660000",
    "akidb_requests_total{service=\"akidb-rest\"} 1 99999999999999999999999",
    "akidb_requests_total{service=\"akidb-rest\"} 1e999 1793577660000",
    "akidb_requests_total{service=\"akidb-rest\" 1 1793577660000",
    "akidb_requests_total{service=\"akidb-rest\"} abc 1793577660000",
    "*{}=1",
]
XRAY_LINES = [
    json.dumps({"trace_id": "1-6907a0bc-0123456789abcdef01234567", "id": "0123456789abcdef", "name": "akidb-rest",
                "start_time": 1793577660.0, "end_time": 1793577660.1}),
    json.dumps({"trace_id": "'; DROP TABLE spans; --", "id": "../x", "name": "*", "start_time": float("nan"),
                "end_time": float("inf")}),
    json.dumps({"trace_id": "1-6907a0bc-0123456789abcdef01234567", "id": "0123456789abcdef", "name": ["x"],
                "start_time": "yesterday", "end_time": None}),
    json.dumps({"trace_id": 5, "id": 5, "name": 5, "start_time": 1e300, "end_time": -1e300, "subsegments": 5}),
    '{"trace_id": ', "[]", "\x00",
]
OTLP_LINES = ['{"resourceSpans": 5}', '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "\'; --", '
              '"startTimeUnixNano": "NaN", "endTimeUnixNano": "1e999"}]}]}]}', "{", "[]"]


@pytest.mark.parametrize(("kind", "lines"), [("emf", EMF_LINES), ("prom", PROM_LINES), ("xray", XRAY_LINES),
                                             ("otlp", OTLP_LINES)])
def test_hostile_records_are_stored_or_quarantined_never_lost(kind, lines, layout, monkeypatch, capsys):
    f = layout.inputs / f"hostile-{kind}.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(layout.root, layout.home)
    code, out, err = run_in_process(["ingest", kind, str(f), "--json"], capsys)
    assert code == 0 and "Traceback" not in err and err.strip() == "", err
    rep = json.loads(out)
    assert rep["records_read"] == rep["records_stored"] + rep["records_quarantined"] + rep["duplicates_dropped"], rep
    assert rep["records_quarantined"] > 0, rep
    assert snapshot(layout.root, layout.home) == before


# -- through the interpreter: what it would print on its own -----------------------------------------------------------

SUBPROCESS = {
    "silence list corrupt store": CASES["silence list corrupt store"],
    "silence add ;": CASES["silence add ;"],
    "incidents corrupt ledger": CASES["incidents corrupt ledger"],
    "chaos name ../../../x": CASES["chaos name ../../../x"],
    "generate --days nan": CASES["generate --days nan"],
    "nab-eval garbage timestamps": CASES["nab-eval garbage timestamps"],
}


@pytest.mark.parametrize("case", _params(SUBPROCESS))
def test_through_python_dash_m_no_traceback_reaches_the_user(case, layout, monkeypatch):
    argv = prepare(case, layout, monkeypatch)
    before = snapshot(layout.root, layout.home)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "default"}
    r = subprocess.run([sys.executable, "-m", "akidb_pipelines.cli", *argv], cwd=layout.cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    check_refused(case, r.returncode, r.stderr)
    assert snapshot(layout.root, layout.home) == before
