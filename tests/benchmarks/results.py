"""Benchmark results as data: every benchmark appends its rows to ``$AKIDB_HOME/bench/results.json``.

The file is a JSON list of objects, one per measured comparison::

    {"name", "baseline", "baseline_s", "ours_s", "ratio", "goal", "met", "rows", "bytes",
     "load_avg_at_start", "commit", "benchmark", "measured_at"}

``ratio`` is always ``ours_s / baseline_s``, both measured in the same run (0.25: ours takes a quarter of the
baseline's time, i.e. is 4x faster; 1.8: ours takes 1.8 times the baseline's), and ``goal`` says which ratio meets it
("ratio <= 0.25"); ``met`` is that comparison. A benchmark replaces its own earlier rows (same ``benchmark``) and keeps every other
benchmark's, so ``make bench`` builds the whole file and ``python -m tests.benchmarks.<name>`` refreshes one part.
The README's figures are read from this file (``python -m tests.benchmarks.results`` prints it as a table).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

def timed(fn, *args, repeat: int = 1) -> tuple[float, object]:  # noqa: ANN001 - any callable
    """The median wall time of ``repeat`` calls of ``fn(*args)`` and the last call's result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


FIELDS = ("name", "baseline", "baseline_s", "ours_s", "ratio", "goal", "met", "rows", "bytes", "load_avg_at_start",
          "commit")


@dataclass
class Row:
    name: str                  # what ours is (one line)
    baseline: str              # what it is compared with, measured in the same run
    baseline_s: float | None
    ours_s: float
    ratio: float | None        # ours_s / baseline_s
    goal: str                  # e.g. "ratio <= 0.25" (4x faster than the baseline), "ours_s < 1"
    met: bool | None           # None: no goal to meet (a figure reported for context)
    rows: int | None = None    # records/rows the work handled
    bytes: int | None = None   # input bytes, where it means something
    load_avg_at_start: float | None = None
    commit: str | None = None


def compared(name: str, baseline: str, baseline_s: float, ours_s: float, at_most: float | None, **kw: object) -> Row:
    """A row whose goal is ``ours_s / baseline_s <= at_most`` (None: reported without a goal)."""
    ratio = ours_s / baseline_s if baseline_s else None
    goal = "" if at_most is None else f"ratio <= {at_most:g}"
    met = None if at_most is None or ratio is None else ratio <= at_most
    return Row(name, baseline, baseline_s, ours_s, ratio, goal, met, **kw)  # type: ignore[arg-type]


def path() -> Path:
    return Path(os.environ.get("AKIDB_HOME", ".akidb")).resolve() / "bench" / "results.json"


def commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parents[2])
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           timeout=10, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def read(file: Path | None = None) -> list[dict]:
    file = file or path()
    if not file.exists():
        return []
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return data if isinstance(data, list) else []


def record(benchmark: str, rows: list[Row], load: float | None, file: Path | None = None) -> Path:
    """Replace ``benchmark``'s rows in the results file with ``rows`` (written atomically); returns the file."""
    file = file or path()
    file.parent.mkdir(parents=True, exist_ok=True)
    sha = commit()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    kept = [r for r in read(file) if r.get("benchmark") != benchmark]
    new = []
    for r in rows:
        d = asdict(r)
        d["load_avg_at_start"] = load if r.load_avg_at_start is None else r.load_avg_at_start
        d["commit"] = r.commit or sha
        d["ratio"] = None if r.ratio is None else round(r.ratio, 3)
        d["baseline_s"] = None if r.baseline_s is None else round(r.baseline_s, 3)
        d["ours_s"] = round(r.ours_s, 4)
        d.update(benchmark=benchmark, measured_at=stamp)
        new.append(d)
    tmp = file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(kept + new, indent=1) + "\n")
    tmp.replace(file)
    return file


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | work | baseline (same run) | baseline | ours | ratio | goal | met | load | commit |",
             "|---|---|---|---:|---:|---:|---|---|---:|---|"]
    for r in rows:
        b = "" if r.get("baseline_s") is None else f"{r['baseline_s']:.2f} s"
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
        lines.append(f"| {r.get('benchmark')} | {r.get('name')} | {r.get('baseline')} | {b} | {r['ours_s']:.3f} s | "
                     f"{ratio} | {r.get('goal')} | {met} | {r.get('load_avg_at_start')} | {r.get('commit')} |")
    return "\n".join(lines)


def main() -> int:
    rows = read()
    if not rows:
        print(f"no benchmark results in {path()} (run make bench, or python -m tests.benchmarks.<name>)")
        return 66
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
