"""A tiny dbt: SQL files with ``{{ ref() }}`` / ``{{ source() }}`` markers become a graph of models."""

from akidb_pipelines.sql_models.loader import ColumnTest, Model, ModelGraph, ModelGraphError, load_models

__all__ = ["ColumnTest", "Model", "ModelGraph", "ModelGraphError", "load_models"]
