"""Load every configuration in use and say what is wrong with each: ``akidb config check`` (like ``promtool check
config``). "In use" is what the code location would load: the file an ``AKIDB_*`` variable names, else the shipped
one. Every configuration is loaded even when an earlier one fails, so one run lists every problem; each problem is
one line naming the file and the field (the loaders' own messages).

This module sits above every loader (it imports them all); nothing but the command line imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akidb_pipelines.config import Settings, akidb_home, config_file
from akidb_pipelines.config.loader import ConfigError, load_yaml


@dataclass(frozen=True)
class Result:
    what: str                  # settings, slo, routing, ... (one per configuration, one per SLO file)
    file: str                  # the file (or folder, or "environment") that was loaded
    problem: str | None = None  # one line naming the file and the field; None: it loads
    note: str = ""             # e.g. "absent: no entries" for a default change calendar not written yet


def _one(what: str, file: str | os.PathLike[str], load: Callable[[], Any], note: str = "") -> Result:
    try:
        load()
    except ConfigError as exc:
        return Result(what, str(file), " ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - a loader bug must not hide the other configurations' problems
        return Result(what, str(file), f"{file}: could not be loaded ({type(exc).__name__}: {exc})".splitlines()[0])
    return Result(what, str(file), None, note)


def _settings() -> list[Result]:
    """The environment: the settings, the Dagster partitions and freshness, the PagerDuty client's settings (a
    routing key is not required: without one events wait in the outbox); one Result per problem."""
    from akidb_pipelines.clients.pagerduty import EventsClient, PagerDutyConfigError
    from akidb_pipelines.config import freshness_fail_minutes, pagerduty_env, partitions_start, quarantine_warn_share

    def pagerduty() -> None:
        env = pagerduty_env()
        try:
            EventsClient(env.routing_key or "config-check", env.base_url, env.ca_file)  # checks, sends nothing
        except PagerDutyConfigError as exc:
            raise ConfigError(f"environment: {exc}") from None

    out = [_one("settings", "environment", load)
           for load in (Settings.from_env, partitions_start, freshness_fail_minutes, quarantine_warn_share, pagerduty)]
    return [r for r in out if r.problem] or [out[0]]


def _slo(folder: Path) -> list[Result]:
    from akidb_pipelines.slo.spec import POLICY_FILE, WINDOWS_FILE, SpecError, load_specs, parse_policy, \
        parse_slo, parse_windows

    out = [_one("burn-rate-windows", folder / WINDOWS_FILE,
                lambda: parse_windows(load_yaml(folder / WINDOWS_FILE, SpecError), str(folder / WINDOWS_FILE))),
           _one("budget-policy", folder / POLICY_FILE,
                lambda: parse_policy(load_yaml(folder / POLICY_FILE, SpecError), str(folder / POLICY_FILE)))]
    for p in sorted(folder.glob("*.yaml")):
        if p.name not in (WINDOWS_FILE, POLICY_FILE):
            out.append(_one("slo", p, lambda p=p: parse_slo(load_yaml(p, SpecError), str(p))))
    if not any(r.problem for r in out):  # each file is fine on its own: now the checks across files
        whole = _one("slo", folder, lambda: load_specs(folder))
        if whole.problem:
            out.append(whole)
    return out


def _sql_models(root: Path, specs: Path | None) -> None:
    from akidb_pipelines.slo.spec import SpecError, load_policy, load_specs
    from akidb_pipelines.slo.sql import budget_events_sql, burn_rates_sql, sli_events_sql
    from akidb_pipelines.sql_models import load_models
    from akidb_pipelines.sql_models.runner import KNOWN_SOURCES

    try:
        slos, windows = load_specs(specs)
        macros = {"slo_sli_events": sli_events_sql(slos), "slo_burn_rates": burn_rates_sql(slos, windows),
                  "slo_budget_events": budget_events_sql(load_policy(specs))}
    except SpecError:  # reported with the SLO files: the models are checked with stand-ins for the SLO SQL
        macros = {k: "SELECT 1 AS minute" for k in ("slo_sli_events", "slo_burn_rates", "slo_budget_events")}
    load_models(root, KNOWN_SOURCES, macros=macros)


def _trigger_causes(runbooks_file: Path, causes_file: Path) -> Result | None:
    """A runbook trigger naming a root-cause type that does not exist never matches: a typo across two files."""
    from akidb_pipelines.alerting.rootcause import UNCLASSIFIED, load_cause_types
    from akidb_pipelines.runbooks.config import load_runbooks

    try:
        known = {t.type for t in load_cause_types()} | {UNCLASSIFIED}
        runbooks = load_runbooks()
    except ConfigError:
        return None  # reported on its own
    for i, rb in enumerate(runbooks):
        for j, t in enumerate(rb.trigger):
            if "cause" in t and t["cause"] not in known:
                return Result("runbooks", str(runbooks_file),
                              f"{runbooks_file}: runbooks[{i}].trigger[{j}].cause: {t['cause']!r} is not a root-cause "
                              f"type of {causes_file} (known: {sorted(known)})")
    return None


def check_all(paths: Mapping[str, str | os.PathLike[str]] | None = None) -> list[Result]:
    """Every configuration in use, loaded: one Result per configuration (per file for the SLO specs), in a fixed
    order. ``paths`` replaces the files without an ``AKIDB_*`` variable: ``slo`` (the specs folder), ``detector``,
    ``prometheus-queries``, ``sql-models`` (the models' root folder)."""
    from akidb_pipelines.alerting import rootcause, routing, static_rules
    from akidb_pipelines.change_calendar import load_calendar
    from akidb_pipelines.forecast import config as forecast, detector
    from akidb_pipelines.runbooks import config as runbooks
    from akidb_pipelines.slo.spec import SPEC_DIR
    from akidb_pipelines.telemetry.fetch import DEFAULT_QUERIES, load_queries

    paths = {k: Path(v) for k, v in (paths or {}).items()}
    out = _settings()
    out += _slo(paths.get("slo", SPEC_DIR))
    for what, var, default, load in (
            ("routing", "AKIDB_ROUTING_CONFIG", routing.DEFAULT_PATH, routing.load_routing),
            ("root-causes", "AKIDB_ROOT_CAUSES", rootcause.DEFAULT_PATH, rootcause.load_cause_types),
            ("runbooks", "AKIDB_RUNBOOKS_CONFIG", runbooks.DEFAULT_PATH, runbooks.load_runbooks),
            ("static-rules", "AKIDB_STATIC_RULES", static_rules.DEFAULT_PATH,
             lambda: static_rules.load_static_rules(include_disabled=True)),
            ("forecast", "AKIDB_FORECAST_CONFIG", forecast.DEFAULT_PATH, forecast.load_forecast_config)):
        out.append(_one(what, config_file(var, default)[0], load))
        if what == "runbooks" and not out[-1].problem:
            cross = _trigger_causes(config_file(var, default)[0], config_file("AKIDB_ROOT_CAUSES",
                                                                              rootcause.DEFAULT_PATH)[0])
            out[-1] = cross or out[-1]
    det = paths.get("detector", detector.DEFAULT_CONFIG)
    out.append(_one("detector", det, lambda: detector.load_detector_config(det)))
    queries = paths.get("prometheus-queries", DEFAULT_QUERIES)
    out.append(_one("prometheus-queries", queries, lambda: load_queries(queries)))
    try:
        cal, var = config_file("AKIDB_CHANGE_CALENDAR", akidb_home() / "change_calendar.yaml")
    except ConfigError:  # AKIDB_HOME itself cannot be used: load_calendar says so below
        cal, var = Path("$AKIDB_HOME/change_calendar.yaml"), "AKIDB_HOME"
    absent = "absent: no entries" if var is None and not cal.exists() else ""
    out.append(_one("change-calendar", cal, load_calendar, absent))
    if "sql-models" in paths:
        root = paths["sql-models"]
    else:
        from akidb_pipelines.sql_models.project import SQL_ROOT

        root = SQL_ROOT
    out.append(_one("sql-models", root, lambda: _sql_models(root, paths.get("slo"))))
    return out


def problems(results: list[Result]) -> list[Result]:
    return [r for r in results if r.problem]
