"""The sabotage suite: its sabotages are valid scaffolds that differ from stock, and (slow)
one silent sabotage is repaired by the keyless loop on fresh MiniHack seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from automem_sdk.trainers.structural.suite import (
    SABOTAGES,
    SuiteRow,
    run_suite,
    sabotaged,
    table,
)
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
@pytest.mark.parametrize(
    ("task", "sabotage", "change", "iterations", "verdicts"),
    [
        # on 9x9, 12 seeds are too few to show the sabotage's harm (76.7 vs 100 on 30)
        (
            "minihack/MazeWalk-9x9",
            "log_turns_1",
            "log_budget: max_log_turns 1->2",
            2,
            ("repaired", "no measurable harm"),
        ),
        ("nethack", "log_off", "log_budget: max_log_ops 0->2", 1, ("repaired",)),
    ],
)
def test_suite_repairs_a_silent_sabotage(
    tmp_path: Path,
    task: str,
    sabotage: str,
    change: str,
    iterations: int,
    verdicts: tuple[str, ...],
) -> None:
    pytest.importorskip("minihack" if task.startswith("minihack") else "nle")
    seeds = list(range(5000, 5012))
    rows = run_suite(
        tmp_path / "suite",
        tasks=[task],
        sabotages=[sabotage],
        beyond=[],
        iterations=iterations,
        final_seeds=seeds,
        budget_episodes=200,
    )
    (row,) = rows
    assert row.kind == "silent" and row.n == 12
    assert row.changes and row.changes[0].startswith(change)
    assert row.accepted > row.start  # the sabotage hurt and the loop undid it
    assert row.verdict in verdicts
    assert sabotage in table(rows)
    assert (tmp_path / "suite" / "suite.md").is_file()
    # Resumable: a second call reuses the finished row.
    again = run_suite(
        tmp_path / "suite", tasks=[task], sabotages=[sabotage], beyond=[], final_seeds=seeds
    )
    assert again[0].accepted == row.accepted and again[0].wall_s == row.wall_s


def test_each_game_is_sabotaged_from_its_own_stock_scaffold() -> None:
    from automem_sdk.trainers.structural.suite import stock_scaffold, task_steps

    assert stock_scaffold("nethack").name == "nethack"
    assert stock_scaffold("minihack/MazeWalk-9x9").name == "minihack"
    assert stock_scaffold("toy/maze-8").name == "minihack"
    assert task_steps("nethack") == 1000 and task_steps("minihack/MazeWalk-15x15") == 100
    stock = stock_scaffold("nethack")
    for name in SABOTAGES:
        s = sabotaged(name, stock)
        assert validate_candidate(s) == [], name
        assert s.name == f"{name}-nethack" and s.id != stock.id
        assert s.files[0].purpose == stock.files[0].purpose  # NetHack's own file schema


def _row(task: str, sabotage: str, stock: float, start: float, after: float) -> SuiteRow:
    return SuiteRow(
        task=task,
        sabotage=sabotage,
        kind="silent",
        n=30,
        stock=stock,
        start=start,
        accepted=after,
        diff_vs_stock=after - stock,
        ci_vs_stock=(-0.001, 0.0004),
        start_ci_vs_stock=(-0.02, -0.01),
        verdict="repaired",
        changes=["log_budget: max_log_ops 0->2 (why)"],
        iterations=2,
        episodes=100,
        wall_s=1.0,
    )


def test_table_and_plot_show_small_progressions(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from automem_sdk.trainers.structural.suite import figure, plot

    rows = [
        _row("minihack/MazeWalk-9x9", "log_off", 1.0, 0.77, 1.0),
        _row("nethack", "log_off", 0.0142, 0.0, 0.0148),
    ]
    text = table(rows)
    # progression in %: NetHack's 1.4 vs 0.0 is readable (at two decimals both were 0.01/0.00)
    assert "| nethack | log_off | silent | 30 | 1.4 | 0.0 | 1.5 | +0.1 [-0.1, +0.0] |" in text
    assert "| MazeWalk-9x9 | log_off | silent | 30 | 100.0 | 77.0 | 100.0 |" in text
    assert "log_budget: max_log_ops 0->2 |" in text
    path = plot(rows, tmp_path / "suite.png")
    assert path is not None and path.stat().st_size > 1000
    fig = figure(rows)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "minihack/MazeWalk-9x9 (n=30 fresh seeds per bar)",
        "nethack (n=30 fresh seeds per bar)",
    ]
    nethack = fig.axes[1]
    assert nethack.get_ylim()[1] < 2  # its own scale: 1.5 % is not a sliver under 100 %
    assert all(b.get_height() > 0 for b in nethack.patches)  # the 0.0 start bar shows
