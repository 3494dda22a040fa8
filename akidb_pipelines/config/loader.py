"""Reading YAML configuration files, and the checks every loader makes, in one place.

A configuration error is a :class:`ConfigError` (a ValueError) whose message names the file and the field path,
``routing.yaml: escalation.p0_ack_timeout_minutes: expected a positive number, got -1``. Each loader has its own
subclass (``RoutingConfigError``, ``SpecError``, ...) so callers can tell them apart; the helpers take it as
``error``. ``where`` is always the place being checked, as the message prints it (``<file>: <field path>``).

Every loader is strict: an unknown key at any level is refused (a typo must not leave a default in force), every
value's type and range is checked when the file is loaded (not when the value is first used), and a file that a
variable names must exist. :class:`Fields` reads one mapping that way: unknown keys are refused when it is made,
and each getter checks one key and names it (``at`` builds the paths).
"""

from __future__ import annotations

import math
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


def load_yaml(path: str | os.PathLike[str], error: type[ConfigError] = ConfigError, name: str | None = None,
              named_by: str | None = None) -> Any:
    """The YAML document in the file (None when empty). A file that cannot be read or parsed raises ``error``
    naming it (``name``, default the path), in one line; ``named_by``: the environment variable that named it."""
    p = Path(path)
    name = str(p) if name is None else name
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        by = f"; named by {named_by}" if named_by else ""
        raise error(f"{name}: cannot read ({exc.strerror or exc}{by})") from None
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
        return "a list" if v else "an empty list"
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


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo:g}, {hi:g}]"
    return f" >= {lo:g}" if lo is not None else f" <= {hi:g}" if hi is not None else ""


def expect_number(v: Any, where: str, error: type[ConfigError] = ConfigError, positive: bool = False,
                  minimum: float | None = None, maximum: float | None = None) -> float | int:
    """A finite int or float (not a boolean): greater than 0 with ``positive``, within [minimum, maximum]."""
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0)
            or (minimum is not None and v < minimum) or (maximum is not None and v > maximum)):
        what = "a positive number" if positive else f"a number{_range(minimum, maximum)}"
        raise error(f"{where}: expected {what}, got {_got(v)}")
    return v


def expect_int(v: Any, where: str, error: type[ConfigError] = ConfigError, minimum: int | None = None,
               maximum: int | None = None) -> int:
    """An integer (not a boolean), within [minimum, maximum] when given."""
    if (isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum)
            or (maximum is not None and v > maximum)):
        what = ({None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(minimum)
                if maximum is None else None) or f"an integer{_range(minimum, maximum)}"
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


def expect_str_list(v: Any, where: str, error: type[ConfigError] = ConfigError, non_empty: bool = False) -> list[str]:
    """A list of non-empty strings."""
    expect_list(v, where, error, non_empty)
    for i, x in enumerate(v):
        expect_str(x, f"{where}[{i}]", error)
    return v


def at(where: str, key: str | int, top: bool = False) -> str:
    """The place of ``key`` inside ``where``: ``<file>: key`` at the top of a file (``top``), ``<where>.key``
    below it, ``<where>[i]`` for a list item."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}: {key}" if top else f"{where}.{key}"


REQUIRED: Any = object()  # a getter's default: the key must be present


class Fields:
    """One mapping of a configuration file, read key by key. Made from ``doc`` (``expected a mapping`` otherwise),
    it refuses keys outside ``known`` at once; each getter checks one key's type and range and names it in the
    error. ``top``: ``doc`` is the whole file and ``where`` its name (paths then read ``<file>: key``). A getter
    returns ``default`` when the key is absent (``REQUIRED``: the key must be there); a key present with an empty
    value (``key:``) is checked like any other value, so it fails unless the getter allows None (``nullable``)."""

    def __init__(self, doc: Any, where: str, error: type[ConfigError], known: Iterable[str], top: bool = False):
        self.where, self.error, self.top = where, error, top
        self.data = expect_mapping(doc, where, error, "a mapping at the top" if top else "a mapping")
        refuse_unknown(self.data, known, where, error)

    def at(self, key: str | int) -> str:
        return at(self.where, key, self.top)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any) -> tuple[bool, Any]:
        if key not in self.data:
            if default is REQUIRED:
                raise self.error(f"{self.at(key)}: required")
            return False, default
        return True, self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._get(key, default)[1]

    def str(self, key: str, default: Any = REQUIRED, nullable: bool = False) -> Any:
        found, v = self._get(key, default)
        return v if not found or (nullable and v is None) else expect_str(v, self.at(key), self.error)

    def int(self, key: str, default: Any = REQUIRED, minimum: int | None = None, maximum: int | None = None,
            nullable: bool = False) -> Any:
        found, v = self._get(key, default)
        return v if not found or (nullable and v is None) else expect_int(v, self.at(key), self.error, minimum,
                                                                          maximum)

    def number(self, key: str, default: Any = REQUIRED, positive: bool = False, minimum: float | None = None,
               maximum: float | None = None) -> Any:
        found, v = self._get(key, default)
        return expect_number(v, self.at(key), self.error, positive, minimum, maximum) if found else v

    def bool(self, key: str, default: Any = REQUIRED) -> Any:
        found, v = self._get(key, default)
        return expect_bool(v, self.at(key), self.error) if found else v

    def one_of(self, key: str, choices: Collection, default: Any = REQUIRED) -> Any:
        found, v = self._get(key, default)
        return expect_one_of(v, choices, self.at(key), self.error) if found else v

    def list(self, key: str, default: Any = REQUIRED, non_empty: bool = False) -> Any:
        found, v = self._get(key, default)
        return expect_list(v, self.at(key), self.error, non_empty) if found else v

    def str_list(self, key: str, default: Any = REQUIRED, non_empty: bool = False) -> Any:
        found, v = self._get(key, default)
        return expect_str_list(v, self.at(key), self.error, non_empty) if found else v

    def fields(self, key: str, known: Iterable[str], default: Any = REQUIRED) -> Any:
        """The mapping under ``key``, as Fields (``default`` when absent)."""
        found, v = self._get(key, default)
        return Fields(v, self.at(key), self.error, known) if found else v
