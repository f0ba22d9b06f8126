"""The sabotage suite: its sabotages are valid scaffolds that differ from stock, and (slow)
one silent sabotage is repaired by the keyless loop on fresh MiniHack seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from automem_sdk.trainers.structural.suite import SABOTAGES, run_suite, sabotaged, table
from automem_sdk.trainers.structural.validate import validate_candidate

from automem_sdk.scaffold import load_scaffold


def test_sabotages_are_valid_and_cover_silent_and_loud() -> None:
    stock = load_scaffold("minihack")
    kinds = [s.kind for s in SABOTAGES.values()]
    assert kinds.count("silent") >= 3 and kinds.count("loud") >= 3
    ids = set()
    for name in SABOTAGES:
        s = sabotaged(name)
        assert validate_candidate(s) == [], name
        assert s.id != stock.id and s.parent is None and s.name.startswith(name)
        ids.add(s.id)
    assert len(ids) == len(SABOTAGES)


@pytest.mark.games
@pytest.mark.slow
def test_suite_repairs_a_silent_sabotage(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    rows = run_suite(
        tmp_path / "suite",
        tasks=["minihack/MazeWalk-9x9"],
        sabotages=["log_turns_1"],
        beyond=[],
        iterations=2,
        final_seeds=list(range(5000, 5012)),
        budget_episodes=200,
    )
    (row,) = rows
    assert row.kind == "silent" and row.n == 12
    assert row.changes and row.changes[0].startswith("log_budget: max_log_turns 1->2")
    assert row.accepted >= row.start
    assert row.verdict in ("repaired", "no measurable harm")
    assert "log_turns_1" in table(rows)
    assert (tmp_path / "suite" / "suite.md").is_file()
    # Resumable: a second call reuses the finished row.
    again = run_suite(
        tmp_path / "suite",
        tasks=["minihack/MazeWalk-9x9"],
        sabotages=["log_turns_1"],
        beyond=[],
        final_seeds=list(range(5000, 5012)),
    )
    assert again[0].accepted == row.accepted and again[0].wall_s == row.wall_s
