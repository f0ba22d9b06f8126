"""Task policies of two-model evaluation act on what memory returned, and only on that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from automem_sdk.benchmarks.players.history import BlankMemoryModel, HistoryExplorer
from automem_sdk.benchmarks.players.task_policy import (
    CrafterMemoryPlanner,
    NLEMapPlanner,
    context_lines,
)
from automem_sdk.benchmarks.registry import make_task_policy

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.codec import parse_ops
from automem_sdk.env import RoutineRequest
from automem_sdk.errors import AutomemError
from automem_sdk.ops import ActionOp, DoneOp
from automem_sdk.store import MemoryStore

MOVES = ["north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest"]


def _req(memory_context: str, *, x: int = 11, y: int = 6, **info: Any) -> RoutineRequest:
    base = {
        "x": x,
        "y": y,
        # only east and west are open from here
        "around_kinds": "www" + "f@f" + "www",
        "game": "minihack",
        "dlvl": 1,
        "message": "",
        "action": None,
        "changed": True,
    }
    base.update(info)
    return RoutineRequest(
        routine="act",
        step=3,
        turn=0,
        messages=[],
        observation="message:\n(no message)\n",
        actions=list(MOVES),
        info=base,
        memory_context=memory_context,
    )


def _action(text: str) -> str:
    ops = parse_ops(text)
    assert len(ops) == 1 and isinstance(ops[0], ActionOp), ops
    return ops[0].name


def test_context_lines_strip_search_and_line_number_prefixes() -> None:
    ctx = "[search map.md]\nmap.md:3: 12,6: visited exits=w\n[head map.md]\n1: 2:4,4: visited"
    assert context_lines(ctx) == [
        "[search map.md]",
        "12,6: visited exits=w",
        "[head map.md]",
        "2:4,4: visited",
    ]


def test_planner_goes_where_the_remembered_map_leads() -> None:
    planner = NLEMapPlanner(seed=0)
    # West was visited and is a dead end; east is unexplored: go east.
    ctx = "[read map.md]\n11,6: visited exits=e,w\n10,6: visited exits=e dead_end\n"
    assert _action(planner.decide(_req(ctx)).text) == "east"
    # The same view, but memory says east is the dead end: go west.
    ctx = "[read map.md]\n11,6: visited exits=e,w\n12,6: visited exits=w dead_end\n"
    assert _action(planner.decide(_req(ctx)).text) == "west"


def test_planner_follows_remembered_stairs_through_search_hits() -> None:
    planner = NLEMapPlanner(seed=0)
    ctx = (
        "[search map.md]\nmap.md:1: 11,6: visited exits=e,w\n"
        "map.md:2: 10,6: visited exits=e,w\nmap.md:3: 9,6: visited exits=e\n"
        "map.md:4: stairs: 9,6\n"
    )
    know = planner.knowledge(_req(ctx))
    assert know is not None and know.stairs == (9, 6)
    assert _action(planner.decide(_req(ctx)).text) == "west"


def test_planner_without_map_lines_has_no_knowledge() -> None:
    planner = NLEMapPlanner(seed=0)
    assert planner.knowledge(_req("--- plan.md ---\ngo east")) is None
    # and it still moves through an open direction of the current view
    assert _action(planner.decide(_req("")).text) in ("east", "west")


def test_planner_ignores_info_beyond_the_current_view() -> None:
    """Private state is impossible: the same context gives the same choice."""
    a, b = NLEMapPlanner(seed=1), NLEMapPlanner(seed=1)
    ctx = "[read map.md]\n11,6: visited exits=e,w\n10,6: visited exits=e dead_end\n"
    for _ in range(3):
        b.decide(_req("[read map.md]\n11,6: visited exits=e,w\n12,6: visited exits=w dead_end"))
    assert a.decide(_req(ctx)).text == b.decide(_req(ctx)).text


def test_crafter_planner_walks_to_a_remembered_tree() -> None:
    planner = CrafterMemoryPlanner(seed=0)
    around = {"move_left": "grass", "move_right": "grass", "move_up": "grass", "move_down": "grass"}
    info = {
        "x": 30,
        "y": 30,
        "inventory": {},
        "status": {"health": 9, "food": 9, "drink": 9, "energy": 9},
        "nearest": {},
        "around": around,
        "facing_kind": "grass",
        "facing": (0, 1),
        "achievements": [],
    }
    req = RoutineRequest(
        routine="act",
        step=5,
        turn=0,
        messages=[],
        observation="",
        actions=["noop", "move_left", "move_right", "move_up", "move_down", "do"],
        info=info,
        memory_context="--- resources.md ---\ntree: 20,30\nwater: none\n",
    )
    assert planner.knowledge(req) == {"tree": (20, 30)}
    assert _action(planner.decide(req).text) == "move_left"
    req.memory_context = "--- resources.md ---\ntree: 40,30\n"
    assert _action(planner.decide(req).text) == "move_right"


def test_make_task_policy_per_env_and_unknown_env() -> None:
    assert isinstance(make_task_policy("minihack/MazeWalk-9x9"), NLEMapPlanner)
    assert isinstance(make_task_policy("nethack"), NLEMapPlanner)
    with pytest.raises(AutomemError, match="no keyless player"):
        make_task_policy("pong")


def test_blank_memory_model_writes_nothing() -> None:
    blank = BlankMemoryModel()
    log = RoutineRequest(
        routine="log", step=0, turn=0, messages=[], observation="", actions=["north"]
    )
    assert isinstance(parse_ops(blank.decide(log).text)[0], DoneOp)
    log.routine = "plan"
    assert isinstance(parse_ops(blank.decide(log).text)[0], ActionOp)


def test_history_window_forgets_cells_older_than_the_window() -> None:
    hist = HistoryExplorer("minihack/MazeWalk-9x9", window=2, seed=0)
    for i, x in enumerate((5, 6, 7, 8)):
        req = _req("", x=x)
        req.routine = "plan"
        req.step = i
        hist.decide(req)
    assert [s.info["x"] for s in hist._past] == [7, 8]
    with pytest.raises(ValueError, match=">= 0"):
        HistoryExplorer("minihack/MazeWalk-9x9", window=-1)


def _two_model(memory: Any, env_name: str, seed: int, tmp: Path) -> float:
    from automem_sdk.benchmarks.registry import make_env

    env = make_env(env_name)
    agent = MemoryAgent(
        MemoryStore(str(tmp / f"{memory.name}-{seed}")),
        "minihack",
        memory,
        mode="two-model",
        task_decider=make_task_policy(env_name, seed=seed),
    )
    try:
        return run_episode(env, agent, seed).progression
    finally:
        env.close()


@pytest.mark.games
def test_sensitivity_blank_vs_perfect_map_keeper_on_mazewalk_15x15(tmp_path: Path) -> None:
    """The acceptance check: with the planner as task policy, what memory holds matters.

    A memory model that writes nothing and the scripted map keeper (the explorer) must
    differ by at least 0.3 progression on MazeWalk-15x15.
    """
    pytest.importorskip("minihack")
    from automem_sdk.benchmarks.registry import make_explorer

    env_name = "minihack/MazeWalk-15x15"
    seeds = range(16)
    blank = [_two_model(BlankMemoryModel(), env_name, s, tmp_path) for s in seeds]
    keeper = [_two_model(make_explorer(env_name, seed=s), env_name, s, tmp_path) for s in seeds]
    mean_blank, mean_keeper = sum(blank) / len(blank), sum(keeper) / len(keeper)
    assert mean_keeper - mean_blank >= 0.3, (mean_blank, mean_keeper)
