"""Hour partitions of the lake: ``date=YYYY-MM-DD/hour=HH``, UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import ClassVar


@dataclass(frozen=True, order=True)
class PartitionKey:
    """One hour of data, UTC."""

    start: datetime

    # The hours a partition key may name: the Unix epoch (where quarantined records without a time go) up to a
    # day before the end of year 9999, so the hour's end plus any tolerance is still a date.
    MIN: ClassVar[datetime] = datetime(1970, 1, 1, tzinfo=timezone.utc)
    MAX: ClassVar[datetime] = datetime(9999, 12, 30, 23, tzinfo=timezone.utc)

    @classmethod
    def of(cls, t: datetime) -> PartitionKey:
        t = t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)
        return cls(t.replace(minute=0, second=0, microsecond=0))

    @classmethod
    def parse(cls, text: str) -> PartitionKey:
        """Accepts Dagster's hourly key ``2026-11-20-05:00`` and ISO forms like ``2026-11-20T05``."""
        s = text.strip()
        for fmt in ("%Y-%m-%d-%H:%M", "%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                key = cls.of(datetime.strptime(s, fmt).replace(tzinfo=timezone.utc))
            except ValueError:
                continue
            if not cls.MIN <= key.start <= cls.MAX:
                raise ValueError(f"hour partition {text!r} is out of range "
                                 f"({cls.MIN:%Y-%m-%dT%H} .. {cls.MAX:%Y-%m-%dT%H})")
            return key
        raise ValueError(f"not an hour partition: {text!r} (expected e.g. 2026-11-20-05:00 or 2026-11-20T05)")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    @property
    def path(self) -> str:
        return f"date={self.start:%Y-%m-%d}/hour={self.start:%H}"

    @property
    def dagster_key(self) -> str:
        return self.start.strftime("%Y-%m-%d-%H:%M")

    def __str__(self) -> str:
        return self.dagster_key


def hour_partitions(start: datetime, end: datetime) -> list[PartitionKey]:
    """Every hour partition that overlaps [start, end)."""
    out, k = [], PartitionKey.of(start)
    while k.start < end:
        out.append(k)
        k = PartitionKey(k.end)
    return out
