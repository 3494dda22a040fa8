"""Load ``dbt_like_sql/``: one model per ``.sql`` file, dependencies from its markers, tests from ``schema.yml``.

A model file is plain DuckDB SQL. Its leading ``--`` comment lines are its description; ``{{ ref('name') }}``
reads another model and ``{{ source('raw', 'xray_spans') }}`` a lake table. Markers were chosen over parsing table
names because they are explicit, survive CTEs and aliases, and are what dbt users already write. A ``-- config:``
header line sets options (``time_column: minute``). Each folder's ``schema.yml`` declares column tests.

Everything is checked at load: duplicate names, a ref to a missing model, an unknown source, a cycle, SQL that
does not parse, and malformed tests; each error names the file and line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

MARKER = re.compile(r"\{\{\s*(ref|source)\s*\(\s*([^)]*?)\s*\)\s*\}\}")
_ARG = re.compile(r"""^\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*$""")
TEST_KINDS = ("not_null", "unique", "accepted_values", "range")


class ModelGraphError(ValueError):
    """A problem in ``dbt_like_sql/``; the message starts with ``<file>:<line>:``."""


@dataclass(frozen=True)
class ColumnTest:
    model: str
    column: str          # for unique over several columns: "a,b,c"
    kind: str            # not_null | unique | accepted_values | range
    args: tuple = ()     # accepted values, or (min, max) with None for open ends

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.column.replace(',', '_')}"


@dataclass
class Model:
    name: str
    folder: str
    path: Path
    sql: str
    description: str
    refs: list[tuple[str, int]] = field(default_factory=list)               # (model, line)
    sources: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # ((layer, table), line)
    config: dict[str, str] = field(default_factory=dict)
    tests: list[ColumnTest] = field(default_factory=list)

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    @property
    def table(self) -> str:
        """Lake table of the model's output."""
        return f"models/{self.folder}/{self.name}"

    @property
    def time_column(self) -> str:
        return self.config.get("time_column", "minute")

    def render(self, ref_sql, source_sql) -> str:  # noqa: ANN001 - callables name -> SQL relation
        """The SQL with every marker replaced by a relation (a parenthesised SELECT or a table function)."""

        def sub(m: re.Match) -> str:
            args = [a.group(2) for a in (_ARG.match(x) for x in m.group(2).split(","))]
            return ref_sql(args[0]) if m.group(1) == "ref" else source_sql(args[0], args[1])

        return MARKER.sub(sub, self.sql)


@dataclass
class ModelGraph:
    models: dict[str, Model]
    order: list[str]  # topological: every model after the models it refs

    def upstream(self, name: str) -> list[str]:
        return [r for r, _ in self.models[name].refs]


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse_model(path: Path, root: Path, known_sources: set[tuple[str, str]] | None) -> Model:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root.parent) if root.parent in path.parents else path
    desc_lines, config = [], {}
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("--"):
            if s:
                break
            continue
        body = s[2:].strip()
        if body.lower().startswith("config:"):
            for item in body[7:].split(","):
                if ":" not in item:
                    raise ModelGraphError(f"{rel}:{_line_of(text, text.index(line))}: config expects 'key: value'")
                k, v = item.split(":", 1)
                config[k.strip()] = v.strip()
        elif body:
            desc_lines.append(body)
    model = Model(path.stem, path.parent.name, path, text, " ".join(desc_lines), config=config)
    for m in MARKER.finditer(text):
        line = _line_of(text, m.start())
        args = [_ARG.match(x) for x in m.group(2).split(",")]
        want = 1 if m.group(1) == "ref" else 2
        if len(args) != want or not all(args):
            raise ModelGraphError(f"{rel}:{line}: {m.group(1)}() takes {want} quoted name(s), got ({m.group(2)})")
        names = [a.group(2) for a in args]
        if m.group(1) == "ref":
            model.refs.append((names[0], line))
        else:
            src = (names[0], names[1])
            if known_sources is not None and src not in known_sources:
                raise ModelGraphError(f"{rel}:{line}: unknown source {src[0]}.{src[1]} "
                                      f"(known: {', '.join(sorted('.'.join(s) for s in known_sources))})")
            model.sources.append((src, line))
    # Parse the SQL with stand-ins for the markers, so syntax errors are found at load time with their line.
    probe = MARKER.sub(lambda m: "(SELECT 1)", text)
    try:
        stmts = duckdb.connect().extract_statements(probe)
    except duckdb.Error as e:
        msg = str(e).split("\n")[0]
        lm = re.search(r"LINE (\d+):", str(e))
        line = int(lm.group(1)) if lm else len(text.rstrip().splitlines())
        raise ModelGraphError(f"{rel}:{line}: invalid SQL: {msg}") from None
    if len(stmts) != 1:
        raise ModelGraphError(f"{rel}:1: a model is exactly one SELECT statement, found {len(stmts)}")
    return model


def _load_tests(path: Path, root: Path, models: dict[str, Model]) -> None:
    rel = path.relative_to(root.parent)
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ModelGraphError(f"{rel}:{(mark.line + 1) if mark else 1}: invalid YAML ({e})") from None

    def line_of(key: str) -> int:
        m = re.search(rf"^\s*{re.escape(key)}\s*:", text, re.M)
        return _line_of(text, m.start()) if m else 1

    for name, spec in (doc.get("models") or {}).items():
        if name not in models:
            raise ModelGraphError(f"{rel}:{line_of(name)}: tests for unknown model {name!r}")
        model = models[name]
        for column, tests in ((spec or {}).get("columns") or {}).items():
            for t in tests or []:
                kind, args = (t, ()) if isinstance(t, str) else next(iter(t.items()))
                if kind not in TEST_KINDS:
                    raise ModelGraphError(f"{rel}:{line_of(column)}: {name}.{column}: unknown test {kind!r} "
                                          f"(use {', '.join(TEST_KINDS)})")
                if kind == "accepted_values":
                    if not isinstance(args, list) or not args:
                        raise ModelGraphError(f"{rel}:{line_of(column)}: {name}.{column}: accepted_values needs a list")
                    args = tuple(args)
                elif kind == "range":
                    if not isinstance(args, dict) or not set(args) <= {"min", "max"} or not args:
                        raise ModelGraphError(f"{rel}:{line_of(column)}: {name}.{column}: range needs min and/or max")
                    args = (args.get("min"), args.get("max"))
                else:
                    args = ()
                model.tests.append(ColumnTest(name, column, kind, args))
        for cols in (spec or {}).get("unique") or []:
            model.tests.append(ColumnTest(name, ",".join(cols), "unique"))


def load_models(root: str | Path, known_sources: set[tuple[str, str]] | None = None) -> ModelGraph:
    """Read every ``<root>/<folder>/*.sql`` and ``schema.yml``; raise ModelGraphError on the first problem."""
    root = Path(root)
    models: dict[str, Model] = {}
    for path in sorted(root.glob("*/*.sql")):
        m = parse_model(path, root, known_sources)
        if m.name in models:
            raise ModelGraphError(f"{path.relative_to(root.parent)}:1: model {m.name!r} is also defined in "
                                  f"{models[m.name].path.relative_to(root.parent)}")
        models[m.name] = m
    for m in models.values():
        for ref, line in m.refs:
            if ref not in models:
                raise ModelGraphError(f"{m.path.relative_to(root.parent)}:{line}: ref('{ref}') names no model")
    for path in sorted(root.glob("*/schema.yml")):
        _load_tests(path, root, models)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cyc = stack[stack.index(name):] + [name]
            src = models[stack[-1]]
            line = next(ln for r, ln in src.refs if r == name)
            raise ModelGraphError(f"{src.path.relative_to(root.parent)}:{line}: cycle {' -> '.join(cyc)}")
        state[name] = 1
        for ref, _ in models[name].refs:
            visit(ref, stack + [name])
        state[name] = 2
        order.append(name)

    for name in sorted(models):
        visit(name, [])
    return ModelGraph(models, order)


def describe_tests(tests: list[ColumnTest]) -> list[dict[str, Any]]:
    return [{"column": t.column, "test": t.kind, "args": list(t.args)} for t in tests]
