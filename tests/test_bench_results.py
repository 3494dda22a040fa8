"""Benchmark results as data: rows merge per benchmark into $AKIDB_HOME/bench/results.json."""

from __future__ import annotations

import json

from tests.benchmarks import results


def test_a_benchmark_replaces_its_own_rows_and_keeps_the_others(tmp_path):
    f = tmp_path / "bench" / "results.json"
    results.record("bench_a", [results.compared("a1", "base", 10.0, 2.0, 0.25, rows=5)], 0.5, f)
    results.record("bench_b", [results.compared("b1", "base", 4.0, 3.0, 0.5)], 0.7, f)
    results.record("bench_a", [results.compared("a2", "base", 10.0, 4.0, 0.25)], 1.5, f)
    rows = json.loads(f.read_text())
    assert [(r["benchmark"], r["name"]) for r in rows] == [("bench_b", "b1"), ("bench_a", "a2")]
    b, a = rows
    assert set(results.FIELDS) <= set(a)
    # ratio is ours / baseline; the goal is met when it is at most the bound
    assert (a["ratio"], a["goal"], a["met"], a["load_avg_at_start"]) == (0.4, "ratio <= 0.25", False, 1.5)
    assert (b["ratio"], b["met"], b["load_avg_at_start"]) == (0.75, False, 0.7)


def test_a_row_without_a_goal_is_neither_met_nor_missed(tmp_path):
    f = tmp_path / "results.json"
    results.record("bench_c", [results.compared("c", "base", 2.0, 1.0, None)], None, f)
    (row,) = results.read(f)
    assert (row["ratio"], row["goal"], row["met"]) == (0.5, "", None)
    assert "| bench_c | c | base | 2.00 s | 1.000 s | 0.50x |" in results.table([row])


def test_an_unreadable_results_file_reads_as_empty(tmp_path):
    f = tmp_path / "results.json"
    f.write_text("{not json")
    assert results.read(f) == []
    results.record("bench_d", [results.compared("d", "base", 1.0, 1.0, 2)], None, f)
    assert [r["name"] for r in results.read(f)] == ["d"]
