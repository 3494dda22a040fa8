"""The ingest's health signal: the share of the records read that went to quarantine, per source kind, against a
limit (``akidb_pipelines.quarantine_share``), and the ingest asset's ``quarantine_share`` check built on it."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from akidb_pipelines.config import SettingsError, quarantine_warn_share
from akidb_pipelines.ingest import IngestReport
from akidb_pipelines.quarantine_share import quarantine_share
from akidb_pipelines.synthetic import generate
from assets.ingest import ingest_assets
from tests.test_dagster_ingest import _resources


def report(kind: str, read: int, quarantined: int, **reasons: int) -> IngestReport:
    r = IngestReport(kind=kind, table="t", batch="b", sources=[], window=None)
    r.records_read, r.records_quarantined = read, quarantined
    r.records_stored = read - quarantined
    r.quarantine_by_reason = reasons or ({"invalid_json": quarantined} if quarantined else {})
    return r


def test_a_share_at_the_limit_passes_and_one_record_more_warns_naming_the_kind_and_its_main_reason():
    at = quarantine_share([report("emf", 1000, 50)], 0.05)
    assert at.passed and at.metadata["by_kind"]["emf"]["share"] == 0.05 and at.metadata["over_limit"] == "none"
    over = quarantine_share([report("emf", 1000, 51, missing_aws_metadata=40, invalid_json=11)], 0.05)
    assert not over.passed
    assert over.metadata["over_limit"] == "emf: 51 of 1000 records quarantined (5.1%), mostly missing_aws_metadata"
    assert list(over.metadata["by_kind"]["emf"]["by_reason"]) == ["missing_aws_metadata", "invalid_json"]


def test_each_source_kind_is_judged_on_its_own_records():
    """X-Ray documents and OTLP spans share one table: a broken OTLP feed must not hide behind plenty of X-Ray."""
    r = quarantine_share([report("xray", 100_000, 10), report("otlp", 200, 150, wrong_type=150)], 0.05)
    assert not r.passed and r.metadata["over_limit"].startswith("otlp: 150 of 200")
    assert r.metadata["by_kind"]["xray"]["share"] == 0.0001


def test_no_records_is_no_warning():
    assert quarantine_share([report("prom", 0, 0)], 0.05).passed
    assert quarantine_share([], 0.05).passed


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5", "nan", "five percent", "inf"])
def test_the_limit_must_be_a_share(value):
    with pytest.raises(SettingsError, match=f"AKIDB_QUARANTINE_WARN_SHARE={value}: expected a share in"):
        quarantine_warn_share({"AKIDB_QUARANTINE_WARN_SHARE": value})


def test_the_limit_defaults_to_five_percent_and_one_is_allowed():
    assert quarantine_warn_share({}) == 0.05
    assert quarantine_warn_share({"AKIDB_QUARANTINE_WARN_SHARE": "1"}) == 1.0


def test_an_hour_of_mostly_damaged_records_warns_but_fails_nothing(tmp_path):
    data = generate(tmp_path / "d", datetime(2026, 11, 3, tzinfo=timezone.utc), 1 / 24, seed=3, scenario=None,
                    corrupt_fraction=0.3)
    res = dg.materialize(ingest_assets, resources=_resources(tmp_path, data.out_dir / "landing"),
                         partition_key="2026-11-03-00:00", instance=dg.DagsterInstance.ephemeral())
    assert res.success  # a warning: the good records are stored, the run goes on
    checks = {(e.asset_key.path[-1], e.check_name): e for e in res.get_asset_check_evaluations()}
    for table in ("emf_metrics", "xray_spans"):
        share = checks[(table, "quarantine_share")]
        assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN
        assert share.metadata["over_limit"].text.split(":")[0] in ("emf", "xray")
        assert checks[(table, "records_conserved")].passed
