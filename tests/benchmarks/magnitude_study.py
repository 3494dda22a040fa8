"""Where detection stops: the game day with incidents smaller than its own draws (not part of ``make bench``).

The game day draws spot cascades of 2-10% errors and 2-6 instances, cold-start storms of P95 1-6 s and LSTM
over-provisioning of 80-300% (``chaos/gameday.py``). This study replays the same suites (same backgrounds, onsets,
durations, edge locations and kinds) with every incident's magnitude drawn from a smaller band instead, so the
report says how small an incident may be and still page with its cause, and what the pipeline does below that:

    python -m tests.benchmarks.magnitude_study --band low --scenarios 24 --seed S [--json FILE]

Bands (chosen before any run, from the SLOs' own thresholds, not fitted): ``low`` is 0.5-2% errors with 1-2
instances lost (the availability SLO's fast tier needs 0.72% of an hour's requests), P95 350-1000 ms (the edge
SLO's line is 300 ms) and 30-80% over-provisioning (the evidence rule is a rise of half); ``tiny`` is below those
lines: 0.1-0.5% errors with 1 instance, P95 150-300 ms, 10-30% - where no page is the expected answer and tickets
are what a team would want. The summary per band is the game day's (recall, MTTD, cause, pages and tickets a week);
the per-incident lines give type, magnitude and what was sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import akidb_pipelines.chaos.gameday as gameday
from akidb_pipelines.chaos.gameday_report import summary_table
from akidb_pipelines.chaos.gameday_run import run_gameday

BANDS = {
    "low": {"error_rate": (0.005, 0.02), "instances_lost": (1, 2), "p95_ms": (350, 1000), "overprovision_pct": (30, 80)},
    "tiny": {"error_rate": (0.001, 0.005), "instances_lost": (1, 1), "p95_ms": (150, 300),
             "overprovision_pct": (10, 30)},
}


def smaller(band: dict):  # noqa: ANN201
    """``gameday._incident`` with the magnitude redrawn from ``band`` (everything else as drawn)."""
    original = gameday._incident

    def draw(rng, itype, ident, onset_min):  # noqa: ANN001, ANN202
        inc = original(rng, itype, ident, onset_min)
        mag = inc["magnitude"]
        for key in mag:
            lo, hi = band[key]
            mag[key] = rng.randint(lo, hi) if isinstance(lo, int) else round(rng.uniform(lo, hi), 4)
        return inc

    return draw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--band", choices=sorted(BANDS), default="low")
    ap.add_argument("--scenarios", type=int, default=24)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--cycle-seconds", type=float, default=20.0)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", type=int, action="append", help="replay scenario K of the suite alone (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep each scenario's lake, outbox and ledger")
    args = ap.parse_args(argv)
    gameday._incident = smaller(BANDS[args.band])
    home = Path(os.environ.get("AKIDB_HOME", ".akidb"))
    work = args.workdir or home / "magnitude" / f"{args.band}-{args.seed}"
    report = run_gameday(args.scenarios, args.seed, work, args.cycle_seconds, "given (--cycle-seconds)",
                         lambda m: print(m, flush=True), keep=args.keep, only=args.only)
    report["band"] = {"name": args.band, **BANDS[args.band]}
    print(f"band {args.band}: {BANDS[args.band]}")
    print(summary_table(report["summary"]))
    print("scenario | type | magnitude | minutes | paged with cause after | pages | tickets")
    drawn_suite = [sc for k, sc in enumerate(gameday.draw_suite(args.scenarios, args.seed))
                   if args.only is None or k in args.only]
    for sc, drawn in zip(report["scenarios"], drawn_suite):
        for inc in drawn.doc["incidents"]:
            mttd = sc["matched"].get(inc["id"])
            print(f"{sc['name']} | {inc['type']} | {inc['magnitude']} | {inc['duration_minutes']} | "
                  f"{'-' if mttd is None else f'{mttd / 60:.1f} min'} | {len(sc['pages'])} | {sc['tickets']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
