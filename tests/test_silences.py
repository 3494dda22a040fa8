"""Ad-hoc silences under hostile input (issue 13): one matcher grammar checked at ``add``, catch-all silences only
with ``--all``, a comment required, bounded durations, old bad rows shown as invalid and never matching, ``delete``,
and a corrupt store that stops neither ``list`` with a traceback nor a response tick's pages."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from akidb_pipelines.alerting.correlate import Alert, ServiceMap
from akidb_pipelines.alerting.outbox import Outbox
from akidb_pipelines.alerting.respond import DECISIONS_OBJECT, Inputs, respond, write_incidents
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.silences import (
    SilenceError, SilenceStore, active_silences, default_path, parse_matchers, silenced_by)
from akidb_pipelines.cli.args import EX_NOINPUT, EX_OK, EX_USAGE
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.storage import Lake
from tests.test_cli import run

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def edge_alert(minute: int = 5, component: str = "lambda-edge") -> Alert:
    return Alert("anomaly", "lambda-edge.NRT57.emf_latency_p95_ms", component, "P0", T0 + timedelta(minutes=minute),
                 T0 + timedelta(minutes=minute + 10), "NRT57")


def store_raw_row(path, sid: str, matchers: str, start: str = T0.isoformat(),  # noqa: ANN001
                  end: str = (T0 + timedelta(hours=2)).isoformat()) -> None:
    """A row as an older version stored it (no grammar then)."""
    SilenceStore(path)  # the schema
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO silences VALUES (?, ?, ?, ?, 'mallory', 'old row', ?)",
                    (sid, matchers, start, end, T0.isoformat()))


def tick(tmp_path, silences, alerts):  # noqa: ANN001, ANN201
    inputs = Inputs([], load_forecast_config(), load_routing(), silences=silences)
    box = Outbox(tmp_path / "outbox.sqlite")
    lake = Lake(tmp_path / "lake")
    rep = respond(lake, T0 + timedelta(minutes=30), inputs, box, ServiceMap(set()), extra_alerts=alerts)
    write_incidents(lake, rep, box)
    return rep, pd.read_parquet(io.BytesIO(lake.read_bytes(DECISIONS_OBJECT)))


# -- the grammar at add --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("matcher", [
    "component=a;b", "component=lambda-edge;rule=x", "rule=x'y", 'rule=x"y', "component=a b", "component=../x",
    "component=$(id)", "component=a=b", "component=[abc", "component=a]", "colour=red", "=x", "component=", "component",
    "component=" + "a" * 200, "component=a\nb",
])
def test_a_matcher_outside_the_grammar_is_refused_at_add(matcher, capsys):
    with pytest.raises(SilenceError):
        parse_matchers([matcher])
    code, out, err = run(["silence", "add", matcher, "--comment", "why"], capsys)
    assert code == EX_USAGE and "matcher" in one_line(err)
    assert not default_path().exists() or SilenceStore(default_path()).all() == []


@pytest.mark.parametrize("matchers", [["component=lambda-edge", "rule=lambda-edge.*"], ["rule=lambda-edge.NRT5?.*"],
                                      ["edge_location=[NS]*", "component=lambda-edge"], ["edge_location=[!N]*",
                                                                                          "source=anomaly"],
                                      ["severity=P2"], ["rule=akidb-rest.latency_p95_ms"]])
def test_matchers_of_the_grammar_are_accepted(matchers):
    assert len(parse_matchers(matchers)) == len(matchers)


def test_a_key_given_twice_is_refused():
    with pytest.raises(SilenceError, match="twice"):
        parse_matchers(["component=a", "component=b"])


@pytest.mark.parametrize("matchers", [["component=*"], ["rule=**"], ["edge_location=?*"], ["severity=P*"],
                                      ["source=*"], ["component=lambda-edge", "rule=*"]])
def test_a_catch_all_matcher_needs_all(matchers, capsys):
    with pytest.raises(SilenceError, match="--all"):
        parse_matchers(matchers)
    code, _, err = run(["silence", "add", *matchers, "--comment", "why"], capsys)
    assert code == EX_USAGE and "--all" in one_line(err)
    code, out, _ = run(["silence", "add", *matchers, "--comment", "planned outage", "--all"], capsys)
    assert code == EX_OK and out.startswith("silence sil-")


@pytest.mark.parametrize("comment", ["", "   ", "\t", "two\nlines"])
def test_an_empty_blank_or_multi_line_comment_is_refused(comment, capsys):
    code, _, err = run(["silence", "add", "component=lambda-edge", "--comment", comment], capsys)
    assert code == EX_USAGE and "comment" in one_line(err)


@pytest.mark.parametrize("duration", ["nan", "inf", "-inf", "1e9", "0", "-1", "721", "abc"])
def test_a_duration_that_is_not_finite_positive_and_at_most_30_days_is_refused(duration, capsys):
    code, _, err = run(["silence", "add", "component=lambda-edge", "--comment", "x", "--duration", duration], capsys)
    assert code == EX_USAGE and "--duration" in one_line(err)


def test_the_longest_silence_is_30_days(capsys):
    code, out, _ = run(["silence", "add", "component=lambda-edge", "--comment", "x", "--duration", "720"], capsys)
    assert code == EX_OK
    with pytest.raises(SilenceError, match="30 days"):
        SilenceStore(default_path()).add(parse_matchers(["component=x"]), T0, T0 + timedelta(days=31), "", "why")


# -- old bad rows: shown as invalid, never matching, deletable -----------------------------------------------------

def test_an_old_row_with_a_semicolon_is_listed_as_invalid_never_matches_and_can_be_deleted(tmp_path, capsys):
    store_raw_row(default_path(), "sil-0123456789", "component=a;b")
    store_raw_row(default_path(), "sil-aaaaaaaaaa", "component=lambda-edge")
    code, out, err = run(["silence", "list"], capsys)
    assert code == EX_OK and err == ""
    bad = next(ln for ln in out.splitlines() if "sil-0123456789" in ln)
    assert bad.startswith("invalid") and "delete" in bad
    sils = active_silences()
    assert len(sils) == 2
    invalid = next(s for s in sils if s.id == "sil-0123456789")
    assert not invalid.valid and not invalid.matches(edge_alert()) and not invalid.matches(edge_alert(component="a"))
    assert silenced_by(edge_alert(), sils).id == "sil-aaaaaaaaaa"  # the good row still works
    rep, dec = tick(tmp_path, sils, [edge_alert(), edge_alert(component="a")])
    warn = dec[dec.kind == "warning"]
    assert list(warn.subject) == ["sil-0123456789"] and "ignored" in warn.detail.iloc[0]
    assert len(rep.silenced_alerts) == 1 and len(rep.incidents) == 1  # component=a pages: the bad row mutes nothing
    code, out, _ = run(["silence", "delete", "sil-0123456789"], capsys)
    assert code == EX_OK and "deleted" in out
    assert [s.id for s in active_silences()] == ["sil-aaaaaaaaaa"]
    code, _, err = run(["silence", "delete", "sil-0123456789"], capsys)
    assert code == EX_NOINPUT and "sil-0123456789" in one_line(err)


@pytest.mark.parametrize(("matchers", "start", "end"), [
    ("", T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()),
    ("component", T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()),
    ("colour=red", T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()),
    ("component=lambda-edge", "yesterday", (T0 + timedelta(hours=1)).isoformat()),
    ("component=lambda-edge", T0.isoformat(), "2026-11-25T05:00:00"),  # naive: compared with aware times raises
])
def test_any_unusable_row_is_invalid_and_never_raises(matchers, start, end, capsys):
    store_raw_row(default_path(), "sil-bad", matchers, start, end)
    (sil,) = active_silences()
    assert not sil.valid and not sil.matches(edge_alert()) and sil.describe()
    code, out, err = run(["silence", "list"], capsys)
    assert code == EX_OK and out.startswith("invalid") and err == ""


def test_expire_and_delete_of_an_unknown_id_exit_66(capsys):
    for cmd in ("expire", "delete"):
        code, _, err = run(["silence", cmd, "sil-'; DROP TABLE silences; --"], capsys)
        assert code == EX_NOINPUT and "DROP TABLE" in one_line(err)


# -- a corrupt store -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["silence", "list"], ["silence", "add", "component=x", "--comment", "y"],
                                  ["silence", "expire", "sil-1"], ["silence", "delete", "sil-1"]])
def test_a_corrupt_store_is_one_clear_error_exit_66(argv, capsys):
    default_path().parent.mkdir(parents=True)
    default_path().write_bytes(b"this is not a database" * 100)
    code, _, err = run(argv, capsys)
    line = one_line(err)
    assert code == EX_NOINPUT and "silences.sqlite" in line and "unreadable" in line
    assert default_path().read_bytes() == b"this is not a database" * 100  # left as it was, for a person to look at


def test_a_tick_with_a_corrupt_store_pages_as_if_there_were_no_silences_and_records_a_warning(tmp_path):
    default_path().parent.mkdir(parents=True)
    default_path().write_bytes(b"garbage")
    sils = active_silences()  # never raises
    assert all(not s.valid for s in sils)
    rep, dec = tick(tmp_path, sils, [edge_alert()])
    assert len(rep.incidents) == 1 and rep.incidents[0]["decision"] == "page"  # fail-safe: the page goes out
    warn = dec[dec.kind == "warning"]
    assert len(warn) == 1 and "silences.sqlite" in warn.detail.iloc[0]
