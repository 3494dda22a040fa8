"""Everything a response tick reads besides the lake, loaded from the configuration files (each honours its
``AKIDB_*`` override) and the silence store: SLO specs, forecast series, routing policy, static rules, silences,
the change calendar, runbooks and root-cause types.

It sits above both ``alerting`` and ``runbooks``: the response tick (``alerting.respond``) lists the runbooks that
match an incident, and the runbook lifecycle (``runbooks.lifecycle``) reads the ledger the tick writes, so the
dependency goes one way: runbooks -> alerting, and this module -> both.
"""

from __future__ import annotations

from akidb_pipelines.alerting.respond import Inputs
from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.silences import active_silences
from akidb_pipelines.alerting.static_rules import load_static_rules
from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.runbooks.config import load_runbooks
from akidb_pipelines.slo.spec import load_specs


def load_inputs() -> Inputs:
    """Every policy a tick reads, from the configuration files and the silence store."""
    slos, _ = load_specs()
    return Inputs(slos, load_forecast_config(), load_routing(), load_static_rules(), active_silences(),
                  load_calendar(), load_runbooks(), load_cause_types())
