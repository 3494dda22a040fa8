"""The few places where a value has to become SQL text, and the batch-name rule.

Values reach DuckDB as bound parameters (``?``/``$name``, ``SET VARIABLE`` + ``getvariable()``) wherever DuckDB
allows one. Two cases cannot take a parameter: a persistent view (the catalog's views over the lake) and an
extension path in ``LOAD``; there a value becomes a literal through :func:`sql_literal` and nothing else.

DuckDB's file readers (``read_parquet``, ``read_json``, ``read_csv``) expand ``*``, ``?`` and ``[...]`` in every
path they are given, so a path that names one file goes through :func:`duckdb_path` first: each glob character
is wrapped in brackets (``[*]``), which DuckDB 1.5 reads back as the literal character without listing the folder.
"""

from __future__ import annotations

import re

GLOB_CHARS = frozenset("*?[")

# A batch name becomes part of file and object names in the lake: letters, digits, dot, underscore and dash,
# starting with a letter or digit (so never '.', '..' or a hidden name), at most 128 characters.
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidBatchName(ValueError):
    """A batch name that could leave the lake's folders or is not a plain name."""


def check_batch_name(name: str) -> str:
    if not isinstance(name, str) or not BATCH_NAME.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise InvalidBatchName(
            f"invalid batch name {shown}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def sql_literal(value: str) -> str:
    """``value`` as a SQL string literal: single quotes doubled, NUL refused (it would end the text early)."""
    value = str(value)
    if "\x00" in value:
        raise ValueError("a NUL character cannot be part of a SQL string literal")
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled)."""
    if "\x00" in name:
        raise ValueError("a NUL character cannot be part of a SQL identifier")
    return '"' + name.replace('"', '""') + '"'


def duckdb_path(path: str) -> str:
    """``path`` in the form DuckDB's file readers take as exactly that file (glob characters escaped).

    DuckDB treats a backslash as a path separator when a path holds glob characters, so a path with both cannot be
    expressed: ValueError (the lake refuses such a root; input files never reach DuckDB by name).
    """
    path = str(path)
    if not GLOB_CHARS.intersection(path):
        return path
    if "\\" in path:
        raise ValueError(f"{path!r}: DuckDB cannot read a path holding both a backslash and one of * ? [")
    return "".join(f"[{c}]" if c in GLOB_CHARS else c for c in path)
