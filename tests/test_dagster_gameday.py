"""The game-day suite as a Dagster asset: the report lands in the lake, the summary in the metadata, and the check
fails when a goal is missed (the suite itself is replaced by a fixed report: it takes an hour)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

import assets.gameday as gameday_assets
from akidb_pipelines.chaos.gameday_report import ScenarioResult, summarize
from akidb_pipelines.storage import Lake
from assets.resources import LakeResource

ONSET = "2026-03-02T10:00:00+00:00"


def _report(caught: bool) -> dict:
    inc = ScenarioResult("s-incident", "incident", 3 / 7,
                         [{"id": "i", "type": "spot_interruption_cascade", "onset": ONSET, "end": ONSET,
                           "components": ["akidb-rest"]}], [], 0, {"i": 60.0} if caught else {})
    quiet = ScenarioResult("s-clean", "clean", 3 / 7, [], [], 0)
    return {"seed": 1000, "split": "held out", "summary": summarize([inc, quiet], 1000), "scenarios": []}


@pytest.mark.parametrize("caught", [True, False])
def test_the_gameday_asset_publishes_its_report_and_checks_the_goals(tmp_path, monkeypatch, caught):
    calls = []

    def fake(n, seed, work, cycle, source, say, keep=False):  # noqa: ANN001, ANN202
        calls.append((n, seed, cycle, source))
        return _report(caught)

    monkeypatch.setattr(gameday_assets, "run_gameday", fake)
    res = dg.materialize([gameday_assets.gameday_report], resources={"lake": LakeResource(
        lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "akidb.duckdb"))}, run_config={"ops": {
            "validation__gameday_report": {"config": {"scenarios": 16, "seed": 1001, "cycle_seconds": 12.0}}}})
    assert res.success
    assert calls == [(16, 1001, 12.0, "given (run config)")]
    stored = json.loads(Lake(tmp_path / "lake").read_bytes("chaos/gameday.json"))
    assert stored["summary"]["recall"] == (1.0 if caught else 0.0)
    (mat,) = res.asset_materializations_for_node("validation__gameday_report")
    assert mat.metadata["recall"].value == (1.0 if caught else 0.0)
    (check,) = res.get_asset_check_evaluations()
    assert check.check_name == "gameday_goals_met" and check.passed is caught
    if not caught:
        assert "recall >= 95%" in check.description
