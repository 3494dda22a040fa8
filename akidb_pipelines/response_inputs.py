"""Everything a response tick reads besides the lake, loaded from the configuration files (each honours its
``AKIDB_*`` override) and the silence store: SLO specs, forecast series, routing policy, static rules, silences,
the change calendar, runbooks and root-cause types.

It sits above both ``alerting`` and ``runbooks``: the response tick (``alerting.respond``) lists the runbooks that
match an incident, and the runbook lifecycle (``runbooks.lifecycle``) reads the ledger the tick writes, so the
dependency goes one way: runbooks -> alerting, and this module -> both.

Fail closed for runbooks, open for pages: a runbooks file that does not load leaves the tick without runbooks (no
incident plans one, so none acts), the tick still correlates, routes and pages, and the error goes to ``problems``
and the log (the incidents asset reports it as its failed ``runbook_config`` check). Every other file that does
not load stops the tick (its run fails, and the pipeline-failure sensor pages).
"""

from __future__ import annotations

import logging

from akidb_pipelines.alerting.respond import Inputs
from akidb_pipelines.alerting.rootcause import load_cause_types
from akidb_pipelines.alerting.routing import load_routing
from akidb_pipelines.alerting.silences import active_silences
from akidb_pipelines.alerting.static_rules import load_static_rules
from akidb_pipelines.change_calendar import load_calendar
from akidb_pipelines.forecast.config import load_forecast_config
from akidb_pipelines.runbooks.config import runbooks_or_error
from akidb_pipelines.slo.spec import load_specs


def load_inputs(problems: list[str] | None = None) -> Inputs:
    """Every policy a tick reads, from the configuration files and the silence store. A runbooks file that does
    not load gives no runbooks, its error appended to ``problems`` (and logged); any other raises its ConfigError."""
    slos, windows = load_specs()
    runbooks, error = runbooks_or_error()
    if error is not None:
        logging.getLogger(__name__).error("runbooks not loaded, no runbook acts: %s", error)
        if problems is not None:
            problems.append(str(error))
    return Inputs(slos, load_forecast_config(), load_routing(), load_static_rules(), active_silences(),
                  load_calendar(), runbooks, load_cause_types(), windows=windows)
