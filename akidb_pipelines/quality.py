"""Data-quality suites (Great Expectations 1.x) for the lake tables, as data plus one validation function.

The parsers already quarantine what breaks these rules, so a failing suite means a parser bug or a schema change
upstream; the Dagster layer reports each suite as an asset check. Importing Great Expectations costs seconds, so
it happens on first use and the context is shared by the process.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

TIERS = ["cloudfront", "lambda-edge", "alb", "akidb-rest"]


def suite_spec(kind: str, lo: datetime | None, hi: datetime | None) -> list[tuple[str, dict[str, Any]]]:
    """Expectations per table: (GX expectation class name, its arguments)."""
    between_t = {"min_value": lo.isoformat(), "max_value": hi.isoformat()} if lo and hi else None
    if kind == "xray":
        spec = [
            ("ExpectColumnValuesToNotBeNull", {"column": "trace_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "start_time"}),
            ("ExpectColumnValuesToMatchRegex", {"column": "trace_id", "regex": r"^1-[0-9a-f]{8}-[0-9a-f]{24}$"}),
            ("ExpectColumnValuesToMatchRegex", {"column": "id", "regex": r"^[0-9a-f]{16}$"}),
            ("ExpectCompoundColumnsToBeUnique", {"column_list": ["trace_id", "id"]}),
            ("ExpectColumnValuesToBeBetween", {"column": "duration_ms", "min_value": 0}),
            ("ExpectColumnValuesToBeBetween", {"column": "http_status", "min_value": 100, "max_value": 599}),
            ("ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": ["segment", "subsegment"]}),
        ]
        tcol = "start_time"
    elif kind == "emf":
        spec = [
            ("ExpectColumnValuesToNotBeNull", {"column": "ts"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "namespace"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "metric_name"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "value"}),
            ("ExpectColumnValuesToBeBetween", {"column": "value_index", "min_value": 0, "max_value": 99}),
            ("ExpectColumnValuesToBeInSet", {"column": "storage_resolution", "value_set": [1, 60]}),
        ]
        tcol = "ts"
    elif kind == "prom":
        spec = [
            ("ExpectColumnValuesToNotBeNull", {"column": "ts"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "metric"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "value"}),
            ("ExpectColumnValuesToMatchRegex", {"column": "metric", "regex": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"}),
        ]
        tcol = "ts"
    else:
        raise ValueError(f"no suite for {kind!r}")
    if between_t:
        spec.append(("ExpectColumnValuesToBeBetween", {"column": tcol, **between_t}))
    return spec


def required_columns(kind: str) -> list[str]:
    """The columns a suite reads (the rest need not be loaded)."""
    spec = suite_spec(kind, None, None) + [("", {"column": {"xray": "start_time"}.get(kind, "ts")})]
    return sorted({kw["column"] for _, kw in spec if kw.get("column")}
                  | {c for _, kw in spec for c in kw.get("column_list", [])})


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    sample: list[Any] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    kind: str
    rows: int
    outcomes: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


@functools.lru_cache(maxsize=1)
def _context():  # noqa: ANN202
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx, ctx.data_sources.add_pandas("akidb_lake")


def validate(kind: str, df: pd.DataFrame, lo: datetime | None = None, hi: datetime | None = None) -> SuiteOutcome:
    """Run the table's suite on ``df``; ``[lo, hi]`` bounds the time column when given."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx, source = _context()
    name = f"{kind}_{len(source.assets)}"
    batch_def = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for cls, kwargs in suite_spec(kind, lo, hi):
        suite.add_expectation(getattr(gxe, cls)(**kwargs))
    # GX compares timestamps best as tz-aware pandas values; Arrow-backed maps/lists are not needed by any rule.
    frame = df[[c for c in required_columns(kind) if c in df.columns]].copy()
    res = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    outcomes = []
    for r in res.results:
        cfg = r.expectation_config
        kw = cfg.kwargs
        result = r.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=kw.get("column") or ",".join(kw.get("column_list") or []),
                success=bool(r.success),
                unexpected_count=int(result.get("unexpected_count") or 0),
                sample=[str(v) for v in (result.get("partial_unexpected_list") or [])[:5]],
            )
        )
    try:
        source.delete_asset(name)
    except Exception:  # noqa: BLE001 - cleanup of an ephemeral asset; never worth failing a check over
        pass
    return SuiteOutcome(kind, len(df), outcomes)
