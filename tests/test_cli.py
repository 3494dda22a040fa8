"""The ``akidb`` command line: exit codes (0 ok, 2 bad arguments, 66 unreadable input), messages that name the file
at fault, the printed ingest counts, and seeded generation that writes the same bytes twice."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from akidb_pipelines.cli import main
from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE, default_start
from akidb_pipelines.storage import Catalog

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
EVENT_MS = int(T0.timestamp() * 1000) + 60_000
REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``akidb argv`` in-process; argparse's SystemExit becomes the exit code."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def emf(value=1.0, minute: int = 1, **extra) -> str:
    ev = {"_aws": {"Timestamp": EVENT_MS + (minute - 1) * 60_000, "CloudWatchMetrics": [
        {"Namespace": "AkiDB", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": "akidb-rest", "Latency": value}
    ev.update(extra)
    return json.dumps(ev)


def files_under(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# -- help and argument errors ------------------------------------------------------------------------------------

def test_help_exits_0_and_names_every_subcommand(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for sub in ("generate", "ingest", "demo"):
        assert re.search(rf"^\s+{sub}\s", out, re.M), f"{sub} missing from --help:\n{out}"
    assert "66" in out  # the exit codes are documented


def test_ingest_help_lists_the_four_kinds(capsys):
    code, out, _ = run(["ingest", "--help"], capsys)
    assert code == 0
    assert "{xray,otlp,emf,prom}" in out and "--partition" in out


def test_python_dash_m_runs_the_cli_and_returns_its_exit_code(tmp_path):
    help_ = subprocess.run([sys.executable, "-m", "akidb_pipelines.cli", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "generate" in help_.stdout and "ingest" in help_.stdout
    missing = tmp_path / "missing.ndjson"
    r = subprocess.run([sys.executable, "-m", "akidb_pipelines.cli", "ingest", "emf", str(missing)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == EX_NOINPUT
    assert str(missing) in r.stderr


@pytest.mark.parametrize(
    ("argv", "in_stderr"),
    [
        pytest.param([], "required", id="no subcommand is a usage error"),
        pytest.param(["ingest", "logs", "x.ndjson"], "invalid choice: 'logs'", id="an unknown kind is a usage error"),
        pytest.param(["ingest", "emf"], "files", id="ingest without files is a usage error"),
        pytest.param(["frobnicate"], "invalid choice", id="an unknown subcommand is a usage error"),
        pytest.param(["generate", "--days", "0"], "must be positive", id="zero days is a usage error"),
        pytest.param(["generate", "--days", "abc"], "not a number", id="non-numeric days is a usage error"),
        pytest.param(["generate", "--corrupt-fraction", "1"], "must be in [0, 1)", id="a corrupt fraction of 1 is a usage error"),
        pytest.param(["generate", "--start", "yesterday"], "not a date/time", id="an unparsable start is a usage error"),
        pytest.param(["generate", "--days", "nan"], "finite", id="nan days is a usage error"),
        pytest.param(["generate", "--days", "inf"], "finite", id="infinite days is a usage error"),
        pytest.param(["generate", "--days", "1e9"], "at most 366", id="a billion days is a usage error"),
        pytest.param(["generate", "--seed", "-1"], "must be in 0", id="a negative seed is a usage error"),
        pytest.param(["generate", "--traces-per-minute", "nan"], "finite", id="nan traces per minute is a usage error"),
        pytest.param(["generate", "--start", "0001-01-01"], "outside 1970", id="year 1 is a usage error"),
        pytest.param(["generate", "--start", "9999-12-31T23:59"], "outside 1970", id="year 9999 is a usage error"),
        pytest.param(["demo", "--days", "nan"], "finite", id="demo nan days is a usage error"),
        pytest.param(["chaos", "--cycle-seconds", "inf"], "finite", id="infinite cycle seconds is a usage error"),
        pytest.param(["silence", "add", "rule=x", "--comment", "y", "--duration", "nan"], "finite",
                     id="a nan silence duration is a usage error"),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, in_stderr):
    code, _, err = run(argv, capsys)
    assert code == EX_USAGE
    assert in_stderr in err
    assert len(err.strip().splitlines()) == 1, err  # one line, pointing at --help (no usage block)


@pytest.mark.parametrize("partition", ["nonsense", "2026-13-01T05", "2026-11-20T25", "2026-11-20"])
def test_an_unparsable_partition_exits_2_and_says_why(tmp_path, capsys, partition):
    f = tmp_path / "ok.ndjson"
    f.write_text(emf() + "\n")
    code, out, err = run(["ingest", "emf", str(f), "--partition", partition], capsys)
    assert code == EX_USAGE
    assert "--partition" in err and repr(partition) in err
    assert out == ""


# -- unreadable input --------------------------------------------------------------------------------------------

def _truncated_gzip(p: Path) -> None:
    data = gzip.compress("".join(emf(i, minute=1 + i % 50) + "\n" for i in range(3000)).encode())
    p.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "in_stderr"),
    [
        pytest.param(lambda p: None, "no such file", id="a missing file exits 66"),
        pytest.param(lambda p: p.mkdir(), "is a directory", id="a directory instead of a file exits 66"),
        pytest.param(lambda p: p.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10), "cannot be read",
                     id="a file with gzip magic but garbage after it exits 66"),
        pytest.param(lambda p: p.write_bytes(b"\x1f\x8b"), "cannot be read", id="a two-byte gzip header exits 66"),
        pytest.param(_truncated_gzip, "cannot be read", id="a truncated gzip stream exits 66"),
    ],
)
@pytest.mark.parametrize("kind", ["emf", "xray", "prom"])
def test_unreadable_input_exits_66_and_names_the_file(tmp_path, capsys, make, in_stderr, kind):
    target = tmp_path / "input.ndjson.gz"
    make(target)
    good = tmp_path / "good.ndjson"
    good.write_text(emf() + "\n")
    code, out, err = run(["ingest", kind, str(good), str(target)], capsys)
    assert code == EX_NOINPUT
    assert str(target) in err and in_stderr in err
    assert out == ""
    # Nothing of the good file was published: the run stopped before parsing.
    assert not (Path(os.environ["AKIDB_HOME"]) / "lake").exists()


def test_a_gz_suffix_on_a_plain_file_exits_66(tmp_path, capsys):
    f = tmp_path / "plain.ndjson.gz"
    f.write_text(emf() + "\n")
    code, _, err = run(["ingest", "emf", str(f)], capsys)
    assert code == EX_NOINPUT
    assert f"{f}: cannot be read" in err


# -- ingest counts -----------------------------------------------------------------------------------------------

def _mixed_file(tmp_path: Path) -> Path:
    f = tmp_path / "mixed.ndjson"
    f.write_text("\n".join([
        emf([1, 2, 3]), emf(4, minute=2), "", emf(5, minute=70),   # 3 good events, 5 values, 2 hours
        "not json", "[1]", emf("fast"), emf(float("nan")),        # 4 bad
    ]) + "\n")
    return f


def test_ingest_with_some_bad_records_exits_0_and_prints_the_counts(tmp_path, capsys):
    f = _mixed_file(tmp_path)
    code, out, err = run(["ingest", "emf", str(f), "--batch", "mixed"], capsys)
    assert code == EX_OK, err
    lines = out.splitlines()
    assert lines[0] == "emf: 7 records read from 1 file(s)"
    assert re.fullmatch(r"\s+stored\s+3 records \(5 rows\) in raw/emf_metrics", lines[1])
    assert re.fullmatch(r"\s+quarantined\s+4", lines[2])
    assert [tuple(x.split()) for x in lines[3:7]] == [
        ("invalid_json", "1"), ("non_finite_value", "1"), ("not_an_object", "1"), ("wrong_type", "1")]
    assert re.fullmatch(r"\s+duplicates\s+0 dropped", lines[7])
    home = Path(os.environ["AKIDB_HOME"])
    assert re.match(rf"\s+partitions\s+3\s+lake: {re.escape(str(home / 'lake'))}", lines[8])
    manifest = json.loads((home / "manifests" / "raw__emf_metrics" / "mixed.json").read_text())
    assert (manifest["records_read"], manifest["records_stored"], manifest["records_quarantined"],
            manifest["conserved"]) == (7, 3, 4, True)


def test_ingest_json_prints_the_report(tmp_path, capsys):
    f = _mixed_file(tmp_path)
    code, out, _ = run(["ingest", "emf", str(f), "--json", "--partition", "2026-11-02T00"], capsys)
    assert code == EX_OK
    rep = json.loads(out)
    assert rep["records_read"] == 7
    assert rep["records_stored"] == 2                      # the 01:10 event is outside 00:00 + 300 s
    assert rep["rows_stored"] == 4
    assert rep["quarantine_by_reason"] == {"invalid_json": 1, "non_finite_value": 1, "not_an_object": 1,
                                           "outside_partition": 1, "wrong_type": 1}
    assert rep["blank_lines"] == 1
    assert rep["conserved"] is True
    assert rep["window"] == ["2026-11-02T00:00:00+00:00", "2026-11-02T01:00:00+00:00"]
    assert rep["partitions"] == ["date=2026-11-02/hour=00"]


def test_ingesting_the_same_file_twice_from_the_cli_stores_it_once(tmp_path, capsys):
    f = _mixed_file(tmp_path)
    assert run(["ingest", "emf", str(f)], capsys)[0] == EX_OK
    assert run(["ingest", "emf", str(f)], capsys)[0] == EX_OK
    from akidb_pipelines.config import Settings

    df = Catalog.from_settings(Settings.from_env()).query("SELECT count(*) AS n FROM raw.emf_metrics")
    assert int(df["n"][0]) == 5


# -- generate ----------------------------------------------------------------------------------------------------

def _generate(out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run(["generate", "--days", "0.05", "--out", str(out), "--seed", "1", *extra], capsys)


def test_generate_writes_the_landing_zone_and_ground_truth_and_is_byte_identical_when_rerun(tmp_path, capsys):
    for _attempt in range(2):  # a rerun straddling midnight UTC would start on another day: try once more
        day = default_start(0.05)
        r1 = _generate(tmp_path / "one", capsys)
        r2 = _generate(tmp_path / "two", capsys)
        if default_start(0.05) == day:
            break
    assert r1[0] == r2[0] == EX_OK, r1[2] + r2[2]
    one, two = files_under(tmp_path / "one"), files_under(tmp_path / "two")
    assert sorted({k.split("/")[1] for k in one if k.startswith("landing/")}) == ["emf", "prom", "xray"]
    assert "ground_truth.json" in one
    for kind, name in (("emf", "events.ndjson"), ("xray", "segments.ndjson"), ("prom", "metrics.om")):
        assert any(re.fullmatch(rf"landing/{kind}/date=\d{{4}}-\d\d-\d\d/hour=\d\d/{name}", k) for k in one), kind
    assert one.keys() == two.keys()
    assert [k for k in one if one[k] != two[k]] == []
    gt = json.loads(one["ground_truth.json"])
    assert gt["seed"] == 1
    start = datetime.fromisoformat(gt["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(gt["end"].replace("Z", "+00:00"))
    assert end - start == timedelta(minutes=72)
    assert (end.hour, end.minute) == (0, 0)  # history ends at midnight UTC, so every hour is closed
    emf_lines = sum(v.count(b"\n") for k, v in one.items() if k.startswith("landing/emf/"))
    assert gt["records"]["emf"] == emf_lines > 0
    assert f"into {tmp_path / 'one'}" in r1[1]


def test_generate_with_another_seed_writes_other_bytes(tmp_path, capsys):
    start = ["--start", "2026-11-02T00:00"]
    assert _generate(tmp_path / "a", capsys, *start)[0] == EX_OK
    assert run(["generate", "--days", "0.05", "--out", str(tmp_path / "b"), "--seed", "2", *start], capsys)[0] == EX_OK
    a, b = files_under(tmp_path / "a"), files_under(tmp_path / "b")
    assert a.keys() == b.keys()
    key = "landing/emf/date=2026-11-02/hour=00/events.ndjson"
    assert key in a and a[key] != b[key]


def test_generated_files_ingest_without_quarantine(tmp_path, capsys):
    assert _generate(tmp_path / "g", capsys, "--start", "2026-11-02T00:00")[0] == EX_OK
    for kind in ("emf", "xray", "prom"):
        files = sorted(str(p) for p in (tmp_path / "g" / "landing" / kind).rglob("*") if p.is_file())
        code, out, err = run(["ingest", kind, *files, "--json"], capsys)
        assert code == EX_OK, err
        rep = json.loads(out)
        assert rep["records_quarantined"] == 0 and rep["duplicates_dropped"] == 0, rep
        assert rep["records_stored"] == rep["records_read"] > 0


def test_generate_with_a_missing_scenario_exits_66_and_names_it(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    code, out, err = _generate(tmp_path / "out", capsys, "--scenario", str(missing))
    assert code == EX_NOINPUT
    assert f"{missing}: scenario file not found" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("incidents:\n  - type: spot_interruption_cascade\n    start: '0d 00:10'\n    duration_minutes: -5\n"
                     "    magnitude: {error_rate: 0.1, instances_lost: 2}\n",
                     "incidents[0].duration_minutes", id="a negative duration names incidents[0].duration_minutes"),
        pytest.param("incidents:\n  - type: meteor_strike\n    start: '0d 00:10'\n    duration_minutes: 5\n",
                     "incidents[0].type", id="an unknown incident type names incidents[0].type"),
        pytest.param("incidents:\n  - type: spot_interruption_cascade\n    start: '0d 00:10'\n    duration_minutes: 5\n"
                     "    magnitude: {error_rate: 7, instances_lost: 2}\n",
                     "incidents[0].magnitude.error_rate", id="an error_rate of 7 names the magnitude field"),
        pytest.param("incidents:\n  - type: lambda_edge_cold_start_storm\n    start: '0d 00:10'\n    duration_minutes: 5\n"
                     "    magnitude: {p95_ms: 900}\n    edge_locations: [ATLANTIS1]\n",
                     "incidents[0].edge_locations", id="an unknown edge location names incidents[0].edge_locations"),
        pytest.param("incidents:\n  - type: spot_interruption_cascade\n    start: '0d 25:10'\n    duration_minutes: 5\n"
                     "    magnitude: {error_rate: 0.1, instances_lost: 2}\n",
                     "incidents[0].start", id="hour 25 names incidents[0].start"),
        pytest.param("incidents: []\nsurprise: 1\n", "surprise", id="an unknown top-level field is named"),
        pytest.param("incidents: [\n", "not valid YAML", id="broken YAML is reported as such"),
    ],
)
def test_a_scenario_with_a_bad_field_exits_2_naming_the_file_and_field(tmp_path, capsys, text, field):
    sc = tmp_path / "bad_scenario.yaml"
    sc.write_text(text)
    code, out, err = _generate(tmp_path / "out", capsys, "--scenario", str(sc))
    assert code == EX_USAGE
    assert err.startswith(f"akidb generate: {sc}")
    assert field in err


def test_the_demo_week_is_the_same_whichever_day_it_runs():
    from datetime import datetime, timedelta, timezone

    from akidb_pipelines.cli.demo import demo_start

    fri = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)  # a Friday afternoon
    starts = {demo_start(7, fri + timedelta(days=k)) for k in range(7)}  # Friday .. Thursday
    assert starts == {datetime(2026, 11, 20, tzinfo=timezone.utc)}
    assert demo_start(7, fri + timedelta(days=7)) == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert demo_start(7, fri).weekday() == 4 and demo_start(2.5, fri) == datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
