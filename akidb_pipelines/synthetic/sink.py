"""The hourly output sink the writers write lines through, and the corruption it can inject into them."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np


class HourlySink:
    """Writes lines into ``<root>/date=YYYY-MM-DD/hour=HH/<name>``, one file per hour, opened lazily."""

    def __init__(self, root: Path, name: str, compress: bool, header: str = "", footer: str = "",
                 corrupt_fraction: float = 0.0, rng: np.random.Generator | None = None):
        self.root, self.name, self.compress = root, name + (".gz" if compress else ""), compress
        self.header, self.footer = header, footer
        self.corrupt_fraction, self.rng = corrupt_fraction, rng or np.random.default_rng(0)
        self.corrupted = 0
        self.current: tuple[str, IO[str]] | None = None
        self.files: list[Path] = []
        self.records = 0

    def _open(self, hour: datetime) -> IO[str]:
        key = hour.strftime("%Y-%m-%d/%H")
        if self.current and self.current[0] == key:
            return self.current[1]
        self.close()
        d = self.root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / self.name
        fh: IO[str] = (
            gzip.open(p, "wt", encoding="utf-8", compresslevel=1) if self.compress else open(p, "w", encoding="utf-8")
        )
        if self.header:
            fh.write(self.header)
        self.files.append(p)
        self.current = (key, fh)
        return fh

    def write(self, hour: datetime, lines: Iterable[str]) -> None:
        fh = self._open(hour)
        for line in lines:
            if self.corrupt_fraction and self.rng.random() < self.corrupt_fraction:
                line = corrupt_line(line, int(self.rng.integers(0, 3)))
                self.corrupted += 1
            fh.write(line)
            fh.write("\n")
            self.records += 1

    def close(self) -> None:
        if self.current:
            if self.footer:
                self.current[1].write(self.footer)
            self.current[1].close()
            self.current = None


def corrupt_line(line: str, variant: int) -> str:
    """What real pipelines see now and then: a truncated write, a renamed member, a non-finite number."""
    if variant == 0:
        return line[: max(1, len(line) // 2)]
    if variant == 1 and '"_aws"' in line:
        return line.replace('"_aws"', '"_aws_"', 1)
    if variant == 1:
        return line.replace('"start_time":', '"start_time_":', 1) if '"start_time":' in line else line[:-1]
    if '"RequestCount":' in line:
        head, tail = line.split('"RequestCount":', 1)
        return head + '"RequestCount":NaN' + tail[tail.index(","):]
    return line.replace('"end_time":', '"end_time":-', 1) if '"end_time":' in line else line[:-1]
