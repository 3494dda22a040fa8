"""SLO maths and specs: exact values, edges (zero traffic, all errors, window boundaries, 30-day roll-over)."""

from datetime import timedelta

import pytest
import yaml

from akidb_pipelines.slo.maths import alert_state, burn_rate, error_budget, policy_crossings, window_sums
from akidb_pipelines.slo.spec import SpecError, load_specs, parse_slo, parse_windows

M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
SLOS, TABLE = load_specs()


def test_the_shipped_specs_give_the_workbook_factors_and_our_five_slos():
    assert [(t.name, t.severity, t.factor) for t in TABLE.tiers] == [
        ("fast", "P0", 14.4), ("medium", "P1", 6.0), ("slow", "P2", 1.0)]
    assert {s.name: (s.budgeting, s.target, s.group_by) for s in SLOS} == {
        "availability": ("Occurrences", 0.9995, None), "error-rate": ("Occurrences", 0.999, None),
        "latency": ("Timeslices", 0.999, None), "edge-latency": ("Timeslices", 0.999, None),
        "edge-location-latency": ("Occurrences", 0.996, "edge_location")}
    latency = next(s for s in SLOS if s.name == "latency")
    assert (latency.op, latency.value, latency.threshold.expr) == ("lt", 30.0, "emf_latency_p95_ms")


@pytest.mark.parametrize(
    "bad, total, target, expected",
    [
        (0, 1000, 0.999, 0.0),
        (1, 1000, 0.999, 1.0),                 # exactly the budget's pace
        (144, 10_000, 0.999, 14.4),            # the fast-burn threshold
        (1000, 1000, 0.999, 1000.0),           # all errors
        (5, 100, 0.9995, 100.0),
        (0, 0, 0.999, None),                   # zero traffic: no burn rate, not zero
    ],
)
def test_burn_rate(bad, total, target, expected):
    got = burn_rate(bad, total, target)
    assert got == pytest.approx(expected) if expected is not None else got is None


@pytest.mark.parametrize(
    "values, minutes, expected",
    [
        ([1, 2, 3, 4], 2, [1, 3, 5, 7]),
        ([1, None, 3, None], 2, [1, 1, 3, 3]),          # a missing minute adds nothing but does not blank the window
        ([None, None, 5], 2, [None, None, 5]),          # a window with no data at all is None
        ([1, 1, 1, 1, 1], 5, [1, 2, 3, 4, 5]),          # the window fills up to its length
        ([1, 1, 1, 1, 1, 1], 5, [1, 2, 3, 4, 5, 5]),    # and then slides: minute 0 leaves at minute 5
    ],
)
def test_window_sums(values, minutes, expected):
    assert window_sums(values, minutes) == expected


def _counts(rate_by_window: dict[timedelta, float], total: float = 100_000.0, target: float = 0.999):
    bad = {w: r * (1 - target) * total for w, r in rate_by_window.items()}
    return bad, {w: total for w in rate_by_window}


ALL = [5 * M, 30 * M, H, 6 * H, 3 * D]


@pytest.mark.parametrize(
    "rates, expected_state, expected_suppressed",
    [
        ({5 * M: 20, 30 * M: 20, H: 15, 6 * H: 7, 3 * D: 2}, "fast", ("medium", "slow")),
        ({5 * M: 20, 30 * M: 20, H: 14.4, 6 * H: 7, 3 * D: 2}, "medium", ("slow",)),  # exactly 14.4 is not over
        ({5 * M: 0.5, 30 * M: 7, H: 15, 6 * H: 7, 3 * D: 2}, "medium", ("slow",)),  # short window clean: no fast page
        ({5 * M: 0, 30 * M: 0.5, H: 1, 6 * H: 1.5, 3 * D: 1.2}, "slow", ()),
        ({5 * M: 0, 30 * M: 0, H: 0, 6 * H: 0.9, 3 * D: 0.99}, "ok", ()),
    ],
)
def test_alert_state_fires_the_fastest_tier_and_suppresses_the_slower(rates, expected_state, expected_suppressed):
    bad, total = _counts(rates)
    st = alert_state(bad, total, 0.999, TABLE)
    assert (st.state, st.suppressed) == (expected_state, expected_suppressed)
    assert st.severity == {"fast": "P0", "medium": "P1", "slow": "P2"}.get(expected_state)


@pytest.mark.parametrize(
    "history, rates, expected",
    [
        (59 * M, {5 * M: 20, 30 * M: 20, H: 20, 6 * H: 20, 3 * D: 20}, "warm_up"),   # no tier has its long window yet
        (H, {5 * M: 20, 30 * M: 20, H: 20, 6 * H: 20, 3 * D: 20}, "fast"),          # the fast tier's hour is full
        (2 * H, {5 * M: 0, 30 * M: 7, H: 5, 6 * H: 7, 3 * D: 2}, "ok"),              # medium would fire: not judged
        (6 * H, {5 * M: 0, 30 * M: 7, H: 5, 6 * H: 7, 3 * D: 2}, "medium"),
        (6 * H, {5 * M: 0, 30 * M: 0.5, H: 1, 6 * H: 1.5, 3 * D: 1.2}, "ok"),         # slow would fire: 3 days needed
        (None, {5 * M: 0, 30 * M: 0.5, H: 1, 6 * H: 1.5, 3 * D: 1.2}, "slow"),        # an SLO that does not warm up
    ],
)
def test_an_instance_that_warms_up_is_judged_by_a_tier_once_its_data_covers_the_long_window(history, rates, expected):
    bad, total = _counts(rates)
    assert alert_state(bad, total, 0.999, TABLE, history=history).state == expected


def test_no_events_in_any_window_is_no_data_not_healthy():
    st = alert_state({w: None for w in ALL}, {w: None for w in ALL}, 0.999, TABLE)
    assert st.state == "no_data" and st.severity is None


def test_tiny_counts_do_not_page_even_at_a_huge_ratio():
    bad = {w: 3.0 for w in ALL}
    total = {w: 10.0 for w in ALL}           # 30% errors, burn 300x, but 10 events < min_events 100
    st = alert_state(bad, total, 0.999, TABLE)
    assert st.state == "low_traffic" and st.burn_rates["1h"] == pytest.approx(300.0)


@pytest.mark.parametrize(
    "bad, total, target, burn, consumed, remaining, hours",
    [
        (0, 1_000_000, 0.999, None, 0.0, 1.0, None),
        (500, 1_000_000, 0.999, 1.0, 0.5, 0.5, 360.0),       # half spent; at 1x, 15 days (360 h) to go
        (500, 1_000_000, 0.999, 14.4, 0.5, 0.5, 25.0),       # at 14.4x: 25 hours
        (1000, 1_000_000, 0.999, 2.0, 1.0, 0.0, None),       # exhausted
        (2000, 1_000_000, 0.999, 2.0, 2.0, -1.0, None),      # overspent
        (0, 0, 0.999, None, 0.0, 1.0, None),                 # no traffic yet
    ],
)
def test_error_budget(bad, total, target, burn, consumed, remaining, hours):
    b = error_budget(bad, total, target, timedelta(days=30), burn)
    assert (b.consumed, b.remaining) == (pytest.approx(consumed), pytest.approx(remaining))
    assert b.exhaustion_hours == (pytest.approx(hours) if hours is not None else None)


def test_the_rolling_budget_recovers_when_a_bad_day_leaves_the_30_day_window():
    # 31 days of 1000 events/day (one value per day for brevity); day 0 had 50 bad, the rest none.
    bad_days = [50.0] + [0.0] * 30
    bad_30 = window_sums(bad_days, 30)
    tot_30 = window_sums([1000.0] * 31, 30)
    before = error_budget(bad_30[29], tot_30[29], 0.999, timedelta(days=30), None)
    after = error_budget(bad_30[30], tot_30[30], 0.999, timedelta(days=30), None)
    assert before.remaining == pytest.approx(1 - (50 / 30000) / 0.001)
    assert after.remaining == 1.0


@pytest.mark.parametrize(
    "previous, now, expected",
    [(None, 0.6, []), (None, 0.4, [0.5]), (0.6, 0.45, [0.5]), (0.45, 0.2, [0.25]), (0.6, -0.1, [0.5, 0.25, 0.0]),
     (0.4, 0.3, []), (0.25, 0.25, [])],
)
def test_budget_policy_events_fire_once_per_level_crossed(previous, now, expected):
    assert policy_crossings(previous, now, [0.5, 0.25, 0.0]) == expected


BASE = yaml.safe_load(open("akidb_pipelines/slo/specs/availability.yaml"))


def _mutate(path: str, value):
    import copy

    doc = copy.deepcopy(BASE)
    cur = doc
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    if value is KeyError:
        del cur[parts[-1]]
    else:
        cur[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return doc


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("apiVersion", "openslo/v2", "apiVersion"),
        ("spec.budgetingMethod", "RatioTimeslices", "spec.budgetingMethod"),
        ("spec.objectives.0.target", 1.5, "spec.objectives[0].target"),
        ("spec.timeWindow.0.duration", "a month", "spec.timeWindow[0].duration"),
        ("spec.timeWindow.0.isRolling", False, "spec.timeWindow[0].isRolling"),
        ("spec.indicator.spec.ratioMetric.good", KeyError, "ratioMetric: good is missing"),
        ("metadata.name", "Availability!", "metadata.name"),
    ],
)
def test_invalid_slo_specs_name_the_file_and_field(path, value, message):
    with pytest.raises(SpecError) as e:
        parse_slo(_mutate(path, value), "slos/availability.yaml")
    assert str(e.value).startswith("slos/availability.yaml: ") and message in str(e.value)


def test_adding_an_slo_is_adding_yaml(tmp_path):
    import shutil

    from akidb_pipelines.slo.spec import SPEC_DIR

    shutil.copytree(SPEC_DIR, tmp_path / "specs")
    doc = _mutate("metadata.name", "edge-availability")
    doc["spec"]["indicator"]["spec"]["ratioMetric"]["total"]["metricSource"]["spec"]["where"] = "tier = 'lambda-edge'"
    (tmp_path / "specs" / "edge.yaml").write_text(yaml.safe_dump(doc))
    slos, _ = load_specs(tmp_path / "specs")
    assert "edge-availability" in {s.name for s in slos}


def test_window_table_errors_name_the_field():
    with pytest.raises(SpecError, match=r"w.yaml: tiers\[0\]: give exactly one of factor or budget_consumed"):
        parse_windows({"period": "30d", "tiers": [{"name": "x", "severity": "P0", "long_window": "1h",
                                                   "short_window": "5m", "factor": 2, "budget_consumed": 0.1}]},
                      "w.yaml")


def test_akidb_rules_writes_rules_that_promtool_accepts(tmp_path, capsys):
    import shutil
    import subprocess

    from akidb_pipelines.cli import main
    from akidb_pipelines.slo.spec import SPEC_DIR
    from tests.conftest import require_binary

    out = tmp_path / "rules.yml"
    assert main(["rules", "--out", str(out)]) == 0
    check = subprocess.run([require_binary("promtool"), "check", "rules", str(out)], capture_output=True, text=True)
    # availability and error-rate: 5 windows x (ratio + events) recordings + 3 tiers + no-data = 14 each; latency and
    # edge-latency: slice + 5 ratio recordings + 3 tiers + no-data = 10 each; edge-location-latency: skipped
    assert check.returncode == 0 and "SUCCESS: 48 rules found" in check.stdout, check.stdout + check.stderr
    text = out.read_text()
    assert 'slo:sli_error:ratio_rate1h{slo="availability"} > 0.0072' in text        # 14.4 x 0.05%
    assert "unless on(slo)" in text and "AkidbSLONoData" in text
    assert main(["rules", "--specs", str(tmp_path / "nope")]) == 66
    shutil.copytree(SPEC_DIR, tmp_path / "specs")
    (tmp_path / "specs" / "availability.yaml").write_text(
        (tmp_path / "specs" / "availability.yaml").read_text().replace("target: 0.9995", "target: 9.995"))
    assert main(["rules", "--specs", str(tmp_path / "specs")]) == 2
    assert "spec.objectives[0].target" in capsys.readouterr().err
