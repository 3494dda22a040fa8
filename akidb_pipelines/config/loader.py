"""Reading YAML configuration files, and the checks every loader makes, in one place.

A configuration error is a :class:`ConfigError` (a ValueError) whose message names the file and the field path,
``routing.yaml: escalation.p0_ack_timeout_minutes: expected a positive number, got -1``. Each loader has its own
subclass (``RoutingConfigError``, ``SpecError``, ...) so callers can tell them apart; the helpers take it as
``error``. ``where`` is always the place being checked, as the message prints it (``<file>: <field path>``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field path."""


def parse_yaml(text: str, name: str, error: type[ConfigError] = ConfigError) -> Any:
    """The YAML document in ``text`` (None when empty); a syntax error is one line naming ``name`` and the line:
    ``<name>:<line>: not valid YAML (<what>, column <n>)``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(_yaml_problem(exc, name)) from None


def load_yaml(path: str | os.PathLike[str], error: type[ConfigError] = ConfigError, name: str | None = None) -> Any:
    """The YAML document in the file (None when empty). A file that cannot be read or parsed raises ``error``
    naming it (``name``, default the path), in one line."""
    p = Path(path)
    name = str(p) if name is None else name
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_yaml(text, name, error)


def _yaml_problem(exc: yaml.YAMLError, name: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    what = ", ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x)
    if not what:
        what = " ".join(str(exc).split())
    if mark is None:
        return f"{name}: not valid YAML ({what})"
    return f"{name}:{mark.line + 1}: not valid YAML ({what}, column {mark.column + 1})"


def _got(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def expect_mapping(doc: Any, where: str, error: type[ConfigError] = ConfigError, what: str = "a mapping") -> dict:
    """``doc`` when it is a mapping, else ``error``: ``<where>: expected a mapping, got a list``."""
    if not isinstance(doc, dict):
        raise error(f"{where}: expected {what}, got {_got(doc)}")
    return doc


def expect_list(v: Any, where: str, error: type[ConfigError] = ConfigError, non_empty: bool = False) -> list:
    if not isinstance(v, list) or (non_empty and not v):
        raise error(f"{where}: expected a {'non-empty ' if non_empty else ''}list, got {_got(v)}")
    return v


def refuse_unknown(mapping: Mapping, allowed: Iterable[str], where: str,
                   error: type[ConfigError] = ConfigError) -> None:
    """``<where>: unknown field(s) ['colour']; known: [...]`` when ``mapping`` has a key outside ``allowed``."""
    allowed = set(allowed)
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        raise error(f"{where}: unknown field(s) {unknown}; known: {sorted(allowed)}")


def expect_one_of(v: Any, choices: Collection, where: str, error: type[ConfigError] = ConfigError) -> Any:
    if v not in choices:
        raise error(f"{where}: must be one of {tuple(choices)}, got {_got(v)}")
    return v


def expect_number(v: Any, where: str, error: type[ConfigError] = ConfigError, positive: bool = False) -> float | int:
    """An int or a float (not a boolean), greater than 0 with ``positive``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (positive and v <= 0):
        raise error(f"{where}: expected a {'positive ' if positive else ''}number, got {_got(v)}")
    return v


def expect_int(v: Any, where: str, error: type[ConfigError] = ConfigError, minimum: int | None = None) -> int:
    """An integer (not a boolean), at least ``minimum`` when given."""
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise error(f"{where}: expected {what}, got {_got(v)}")
    return v


def expect_bool(v: Any, where: str, error: type[ConfigError] = ConfigError) -> bool:
    if not isinstance(v, bool):
        raise error(f"{where}: expected true or false, got {_got(v)}")
    return v


def expect_str(v: Any, where: str, error: type[ConfigError] = ConfigError) -> str:
    """A non-empty string: ``<where>: required (a non-empty string)`` when missing."""
    if v is None:
        raise error(f"{where}: required (a non-empty string)")
    if not isinstance(v, str) or not v:
        raise error(f"{where}: expected a non-empty string, got {_got(v)}")
    return v
