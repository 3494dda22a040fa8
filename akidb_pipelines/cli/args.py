"""Argument types and exit codes shared by the commands."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

# 0 success (bad records are quarantined, not errors), 1 a stage failed, 2 bad arguments,
# 66 an input file is missing or unreadable (sysexits EX_NOINPUT)
EX_OK, EX_FAIL, EX_USAGE, EX_NOINPUT = 0, 1, 2, 66


def date_arg(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date/time: {text!r} (use e.g. 2026-11-20 or 2026-11-20T06:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text!r}")
    return v


def default_start(days: float) -> datetime:
    """Synthetic history ends at today's midnight UTC, so every hour of it is a closed partition."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)
