"""MiniHack text envs: BALROG's 8 tasks, determinism, win detection, Boxoban levels."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("minihack")

from automem_sdk.benchmarks.envs.minihack import (
    MINIHACK_TASKS,
    MiniHackTextEnv,
    boxoban_level_path,
    default_levels_dir,
    load_boxoban_levels,
    make_minihack,
    minihack_env_id,
    packaged_levels_dir,
)
from automem_sdk.benchmarks.envs.nle_text import GameSetupError

from automem_sdk.env import TextEnv

pytestmark = pytest.mark.games

LEVELS = default_levels_dir()

_LEVEL_A = """##########
#@ $  .  #
##########
##########
##########
##########
##########
##########
##########
##########
"""
_LEVEL_B = _LEVEL_A.replace("#@ $  .  #", "#  . $ @ #")


def _play(env: MiniHackTextEnv, seed: int, n: int) -> list[str]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rng = random.Random(99)
    for _ in range(n):
        res = env.step(rng.choice(env.actions))
        out.append(res.observation)
        if res.terminated or res.truncated:
            break
    return out


def _map_of(obs: str) -> str:
    """The map rows of an observation (without the coordinates header)."""
    part = obs.split("\nmap (", 1)[1].split("\n\nstatus:", 1)[0]
    return part.split("\n", 1)[1]


def test_task_names() -> None:
    assert len(MINIHACK_TASKS) == 8
    assert minihack_env_id("MazeWalk-9x9") == "MiniHack-MazeWalk-9x9-v0"
    assert minihack_env_id("MiniHack-Quest-Easy-v0") == "MiniHack-Quest-Easy-v0"
    with pytest.raises(GameSetupError, match="unknown MiniHack task"):
        make_minihack("MazeWalk-99x99")


@pytest.mark.parametrize("task", MINIHACK_TASKS)
def test_every_task_runs_an_episode(task: str) -> None:
    env = make_minihack(task, max_steps=8)
    try:
        assert isinstance(env, TextEnv)
        assert env.name == f"minihack/{task}" and env.task == task
        assert env.actions and env.instruction
        assert {"north", "east", "south", "west"} <= set(env.actions)
        obs, info = env.reset(seed=1)
        assert "map (" in obs and "language observation:" in obs
        assert info["progression"] == 0.0 and info["won"] is False
        steps = 0
        rng = random.Random(0)
        while True:
            res = env.step(rng.choice(env.actions))
            steps += 1
            if res.terminated or res.truncated:
                break
        assert steps <= 8
        assert res.info["progression"] in (0.0, 1.0)
        assert res.info["progression"] == (1.0 if res.info["won"] else 0.0)
    finally:
        env.close()


@pytest.mark.parametrize("task", ["MazeWalk-15x15", "Quest-Medium"])
def test_same_seed_same_world(task: str) -> None:
    env = make_minihack(task, max_steps=30)
    try:
        a = _play(env, 7, 25)
        b = _play(env, 7, 25)
        c = _play(env, 8, 25)
        assert a == b
        assert a[0] != c[0]
    finally:
        env.close()


def test_win_detection_mazewalk() -> None:
    env = make_minihack("MazeWalk-9x9", max_steps=20)
    dirs = {1: "north", 3: "west", 5: "east", 7: "south"}
    try:
        for seed in range(60):
            _, info = env.reset(seed=seed)
            near = [d for i, d in dirs.items() if info["around_kinds"][i] == ">"]
            if near:
                res = env.step(near[0])
                assert res.terminated
                assert res.info["won"] is True
                assert res.info["progression"] == 1.0
                assert res.info["end_status"] == "TASK_SUCCESSFUL"
                assert res.info["achievements"] == ["won"]
                return
        pytest.fail("no seed in 0..59 starts next to the stairs")
    finally:
        env.close()


def test_a_lost_episode_has_zero_progression() -> None:
    env = make_minihack("MazeWalk-15x15", max_steps=5)
    try:
        env.reset(seed=0)
        for _ in range(5):
            res = env.step("wait" if "wait" in env.actions else "north")
        assert res.truncated and not res.info["won"] and res.info["progression"] == 0.0
    finally:
        env.close()


def test_invalid_action_becomes_north_with_feedback() -> None:
    env = make_minihack("Corridor-R3", max_steps=10)
    try:
        env.reset(seed=0)
        res = env.step("fly away")
        assert res.info["invalid_action"] and res.info["action"] == "north"
        assert "'fly away' is not a valid action; 'north' was taken instead" in res.observation
    finally:
        env.close()


def test_boxoban_reads_levels_from_a_given_folder(tmp_path: Path) -> None:
    hard = tmp_path / "hard"
    hard.mkdir()
    (hard / "000.txt").write_text(f"; 0\n{_LEVEL_A}\n; 1\n{_LEVEL_B}\n", encoding="utf-8")
    assert load_boxoban_levels(str(hard)) == (_LEVEL_A, _LEVEL_B)
    env = make_minihack("Boxoban-Hard", levels_dir=tmp_path, max_steps=5)
    try:
        first = {}
        for seed in range(6):
            random.seed(1000 + seed)  # the global RNG must not matter
            first[seed] = env.reset(seed=seed)[0]
        random.seed(0)
        assert all(env.reset(seed=s)[0] == first[s] for s in range(6))
        maps = {_map_of(obs) for obs in first.values()}
        assert len(maps) == 2  # both levels appear (the characters differ per seed)
        assert "boulder" in first[0] and "fountain" in first[0]
    finally:
        env.close()
    with pytest.raises(GameSetupError, match="no Boxoban level files"):
        make_minihack("Boxoban-Medium", levels_dir=tmp_path)


def test_boxoban_levels_ship_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder beside the clone is needed: the default is the packaged subset."""
    monkeypatch.delenv("AUTOMEM_BOXOBAN_LEVELS", raising=False)
    root = packaged_levels_dir()
    assert default_levels_dir() == root
    assert (root / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    for task, sub in (("Boxoban-Hard", "hard"), ("Boxoban-Medium", "medium/train")):
        path = boxoban_level_path(task)
        assert path == root / sub
        levels = load_boxoban_levels(str(path))
        assert len(levels) == 300 and all(len(lv.splitlines()) == 10 for lv in levels)
    assert len(load_boxoban_levels(str(root / "medium" / "valid"))) == 300


def test_boxoban_medium_never_falls_back_to_another_split(tmp_path: Path) -> None:
    valid = tmp_path / "medium" / "valid"
    valid.mkdir(parents=True)
    (valid / "000.txt").write_text(f"; 0\n{_LEVEL_A}\n", encoding="utf-8")
    with pytest.raises(GameSetupError, match=r"medium/train"):
        boxoban_level_path("Boxoban-Medium", tmp_path)


def test_boxoban_shared_levels_are_reproducible() -> None:
    env = make_minihack("Boxoban-Medium", levels_dir=LEVELS, max_steps=10)
    try:
        a = _play(env, 3, 6)
        assert a == _play(env, 3, 6)
        assert a[0] != _play(env, 4, 0)[0]
        assert env.actions == ["north", "east", "south", "west"]
    finally:
        env.close()


def test_changed_flag_on_walls() -> None:
    env = make_minihack("Corridor-R3", max_steps=30)
    dirs = {1: "north", 3: "west", 5: "east", 7: "south"}
    try:
        _, info = env.reset(seed=0)
        wall = next(d for i, d in dirs.items() if info["around_kinds"][i] == "w")
        free = next(d for i, d in dirs.items() if info["around_kinds"][i] == "f")
        assert env.step(wall).info["changed"] is False  # bumping into a wall
        seen = [env.step(free).info["changed"] for _ in range(12)]
        assert seen[0] is True  # the first step moves
        assert seen[-1] is False  # walked up to the far wall: nothing changes any more
    finally:
        env.close()
