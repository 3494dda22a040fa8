"""A game-day scenario regenerates only the hours it touches: which hours, and Prometheus counters that continue
across the seam (every increment after the regenerated hours is the background's)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from akidb_pipelines.chaos.gameday import draw_suite
from akidb_pipelines.chaos.gameday_inject import continue_counters, touched_hours

H = datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)


def _om(root: Path, hour: datetime, samples: dict[str, list[float]], gauge: list[float]) -> None:
    """One hour file: a counter family with the given series, and a gauge."""
    lines = ["# HELP akidb_requests Requests.", "# TYPE akidb_requests counter"]
    for key, values in samples.items():
        lines += [f"{key} {v:g} {int((hour + timedelta(minutes=i)).timestamp())}" for i, v in enumerate(values)]
    lines += ["# HELP akidb_cpu CPU.", "# TYPE akidb_cpu gauge"]
    lines += [f'akidb_cpu{{service="akidb-rest"}} {v:g} {int((hour + timedelta(minutes=i)).timestamp())}'
              for i, v in enumerate(gauge)]
    p = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}" / "metrics.om"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines + ["# EOF"]) + "\n")


def _values(path: Path, prefix: str) -> list[float]:
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.startswith(prefix)]


def test_counters_after_the_regenerated_hours_continue_from_their_last_value(tmp_path: Path) -> None:
    ok, err = 'akidb_requests_total{service="cloudfront",status="200"}', 'akidb_requests_total{status="503"}'
    bg, win, out = tmp_path / "bg", tmp_path / "win", tmp_path / "out"
    # the background: cumulative from its own start; the regenerated hour starts from zero (a fresh generation)
    _om(bg, H, {ok: [1000, 1010, 1020], err: [50, 50, 51]}, [40, 41, 42])
    _om(bg, H + timedelta(hours=1), {ok: [1030, 1045, 1050], err: [51, 53, 53]}, [43, 44, 45])
    _om(bg, H + timedelta(hours=2), {ok: [1060], err: [54]}, [46])
    _om(win, H, {ok: [12, 30, 47], err: [9, 20, 28]}, [90, 91, 92])
    files = continue_counters(bg, win, H + timedelta(hours=1), H + timedelta(hours=3), out)
    assert sorted(k.start for k in files.values()) == [H + timedelta(hours=1), H + timedelta(hours=2)]
    first, second = (out / f"date={H:%Y-%m-%d}" / f"hour={h:02d}" / "metrics.om" for h in (11, 12))
    # shifted by (47 - 1020) and (28 - 51): the increments 10, 15, 5, 10 and 0, 2, 0, 1 are the background's
    assert _values(first, ok) == [57, 72, 77] and _values(second, ok) == [87]
    assert _values(first, err) == [28, 30, 30] and _values(second, err) == [31]
    assert _values(first, "akidb_cpu") == [43, 44, 45]  # gauges are left as they are
    assert first.read_text().splitlines()[-1] == "# EOF"


def test_a_scenario_regenerates_the_whole_hours_from_its_first_onset_to_its_last_end() -> None:
    for sc in draw_suite(24, seed=3):
        if sc.kind == "clean":
            continue
        parsed = sc.parsed()
        spans = [(x.start, x.end) for x in list(parsed.incidents) + list(parsed.events)]
        w0, w1 = touched_hours(sc)
        assert w0.minute == 0 and w1.minute == 0 and w0 < w1 <= sc.background.end
        assert w0 <= min(s for s, _ in spans) < w0 + timedelta(hours=1)
        assert max(e for _, e in spans) <= w1 < max(e for _, e in spans) + timedelta(hours=1)


def test_a_scenario_week_is_its_window_replay_inside_and_its_background_outside() -> None:
    import pandas as pd

    from akidb_pipelines.chaos.gameday_run import merge_ledgers

    at = lambda h: pd.Timestamp(H + timedelta(hours=h))  # noqa: E731
    background = pd.DataFrame({"id": ["b-before", "b-inside", "b-after"], "first_alert": [at(-5), at(1), at(9)],
                               "decision": ["ticket", "page", "ticket"]})
    window = pd.DataFrame({"id": ["w-old", "w-storm", "w-flap"], "first_alert": [at(-30), at(1.5), at(3.9)],
                           "decision": ["page", "page", "ticket"]})
    week = merge_ledgers(background, window, H, H + timedelta(hours=4))
    # the window's replay re-pages an old background incident at its first tick: not counted (it began before w0)
    assert sorted(week["id"]) == ["b-after", "b-before", "w-flap", "w-storm"]
    assert merge_ledgers(None, None, H, H) is None
    assert sorted(merge_ledgers(background, None, H, H + timedelta(hours=4))["id"]) == ["b-after", "b-before"]


def test_a_scenario_pages_are_its_window_replay_inside_and_its_background_outside() -> None:
    from akidb_pipelines.chaos.gameday_run import _window_pages
    from akidb_pipelines.chaos.matching import Page

    def page(name: str, h: float) -> tuple:
        at = H + timedelta(hours=h)
        return at, Page(name, at + timedelta(minutes=2), "akidb-rest", None)

    background = [page("b-before", -5), page("b-inside", 1), page("b-after", 9)]
    window = [page("w-old", -30), page("w-storm", 1.5), page("w-late", 4)]
    got = _window_pages(background, window, H, H + timedelta(hours=4))
    assert sorted(p.incident for p in got) == ["b-after", "b-before", "w-storm"]
