"""Argument types and exit codes shared by the commands.

Every number is finite and bounded (``nan``, ``inf`` and ``1e9`` are argument errors, not tracebacks deep in the
work), every time is between :data:`MIN_TIME` and :data:`MAX_TIME`, and every error is one line (``parser``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

# 0 success (bad records are quarantined, not errors), 1 a stage failed, 2 bad arguments,
# 66 an input file is missing or unreadable (sysexits EX_NOINPUT)
EX_OK, EX_FAIL, EX_USAGE, EX_NOINPUT = 0, 1, 2, 66

MAX_DAYS = 366.0              # generate / demo / chaos: a year of telemetry at most
MAX_SILENCE_HOURS = 30 * 24.0  # a silence lasts 30 days at most
MAX_SEED = 2**32 - 1
MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)


def date_arg(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        ok = MIN_TIME <= t < MAX_TIME
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a date/time: {text!r} (use e.g. 2026-11-20 or 2026-11-20T06:00)") from None
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is outside {MIN_TIME:%Y} .. {MAX_TIME:%Y}")
    return t


def _number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    return v


def positive(text: str) -> float:
    v = _number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def bounded(maximum: float, what: str = "") -> Callable[[str], float]:
    """A positive finite number at most ``maximum`` (``what`` names the unit in the message)."""
    def parse(text: str) -> float:
        v = positive(text)
        if v > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}{' ' + what if what else ''}: {text!r}")
        return v
    parse.__name__ = "number"  # argparse names the type in "invalid <name> value" messages
    return parse


def seed_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0 .. {MAX_SEED}: {text!r}")
    return v


def port_arg(text: str) -> int:
    """A TCP port to listen on: 1 .. 65535."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 .. 65535: {text!r}")
    return v


def fraction(text: str) -> float:
    v = _number(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text!r}")
    return v


def one_line(exc: object, limit: int = 400) -> str:
    """An error message as one line: its first line (a library's advice after it is dropped), whitespace collapsed."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
    text = " ".join(lines[0].split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def printable(text: object) -> str:
    """``text`` with every character that is not printable (a newline in a file name) shown escaped (``\\n``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def fail(command: str, message: object, code: int) -> int:
    """Print ``akidb <command>: <message>`` as one line on stderr (control characters escaped); return ``code``."""
    print(f"akidb {command}: {printable(message)}", file=sys.stderr)
    return code


def default_start(days: float) -> datetime:
    """Synthetic history ends at today's midnight UTC, so every hour of it is a closed partition."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)
