"""Recovery from an injected incident: read from the telemetry (the verification metric of the runbook answering
its type back under its bound), or modelled (the runbook's apply time plus its action's assumed time); and the
scenario with the runbooks' actions fed back (the closed loop)."""

from __future__ import annotations

import copy
import dataclasses
import math
from datetime import datetime, timedelta, timezone

from akidb_pipelines.alerting.golden_columns import GOLDEN
from akidb_pipelines.chaos.results import DetectorResult, IncidentResult
from akidb_pipelines.chaos.scenario import EXPECTED_CAUSE, ChaosScenario
from akidb_pipelines.runbooks.verify import bound
from akidb_pipelines.storage import Lake

# minutes from the runbook's launch until the metric recovers (assumptions of the model, see the package docstring)
MITIGATION_MINUTES = {"autoscaling_step": 4, "ssm_flag": 5, "cloudfront_bypass_edge": 5,
                      "lambda_provisioned_concurrency": 3}


def health_spec(incident_type: str, runbooks: list):  # noqa: ANN201 - a runbooks.config.Verify or None
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
    limit, _ = bound(lake, spec, inc.onset)  # the verification's bound (relative ones: at the onset's time of day)
    if limit is None:
        return None
    rows = lake.query_table(GOLDEN, f"""SELECT minute, {spec.metric} FROM {{src}}
        WHERE tier = ? AND edge_location = ? AND minute >= ? AND minute < ? ORDER BY minute""",
                            [spec.tier, spec.edge_location, inc.onset, until])
    seen_bad, run_start, run = False, None, 0
    for minute, v in rows:
        minute = minute.astimezone(timezone.utc) if minute.tzinfo else minute.replace(tzinfo=timezone.utc)
        if v is not None and v >= limit:
            seen_bad, run_start, run = True, None, 0
            continue
        if not seen_bad:
            continue
        run_start = run_start or minute
        run += 1
        if run >= spec.minutes:
            return run_start
    return None


def measure_recovery(lake: Lake, res: DetectorResult, runbooks: list, only_unmitigated: bool = False) -> None:
    for inc in res.incidents:
        if only_unmitigated and inc.recovery_source != "injected end":
            continue
        spec = health_spec(inc.type, runbooks)
        if spec is None:
            continue
        at = telemetry_recovery(lake, inc, spec, max(inc.end, inc.recovery or inc.end) + timedelta(hours=2))
        if at is not None:
            _, how = bound(lake, spec, inc.onset)
            inc.recovery = at
            inc.recovery_source = (f"telemetry: {spec.tier} {spec.metric} < {how} for {spec.minutes} min "
                                   f"({spec.edge_location})")


def mitigated(sc: ChaosScenario, ends: dict[str, datetime], onsets: dict[str, datetime]) -> ChaosScenario:
    """The scenario with each incident in ``ends`` over at that time (what its runbook's action did)."""
    doc = copy.deepcopy(sc.generator_doc)
    for inc in doc.get("incidents", []):
        if inc.get("id") in ends:
            minutes = (ends[inc["id"]] - onsets[inc["id"]]).total_seconds() / 60
            inc["duration_minutes"] = max(1, min(int(inc["duration_minutes"]), math.ceil(minutes)))
    return dataclasses.replace(sc, generator_doc=doc)
