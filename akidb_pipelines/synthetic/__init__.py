"""Seeded synthetic AkiDB telemetry: the embedded default source (X-Ray, EMF, Prometheus) with injected incidents."""

from akidb_pipelines.synthetic.generator import GenerationResult, generate
from akidb_pipelines.synthetic.scenario import Incident, Scenario, ScenarioError, load_scenario

__all__ = ["GenerationResult", "Incident", "Scenario", "ScenarioError", "generate", "load_scenario"]
