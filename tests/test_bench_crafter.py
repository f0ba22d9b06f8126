"""Crafter text env and its keyless memory explorer."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("crafter")

from automem_sdk.benchmarks.envs.crafter_text import (
    CRAFTER_ACHIEVEMENTS,
    CRAFTER_ACTIONS,
    CrafterSetupError,
    CrafterTextEnv,
    make_crafter,
)
from automem_sdk.benchmarks.players.crafter_memory import (
    CrafterExplorer,
    choose_goal,
    parse_resources,
)

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.env import RoutineRequest, TextEnv
from automem_sdk.ops import OpResult
from automem_sdk.store import MemoryStore

pytestmark = pytest.mark.games


@pytest.fixture(scope="module")
def env() -> CrafterTextEnv:
    return make_crafter(max_steps=200)


def _play(env: CrafterTextEnv, seed: int, n: int) -> list[str]:
    obs, _ = env.reset(seed)
    rng = random.Random(1234)
    out = [obs]
    for _ in range(n):
        res = env.step(rng.choice(env.actions))
        out.append(res.observation)
        if res.terminated or res.truncated:
            break
    return out


def test_protocol_and_actions(env: CrafterTextEnv) -> None:
    import crafter.constants

    as_protocol: object = env
    assert isinstance(as_protocol, TextEnv)
    assert env.name == "crafter"
    assert tuple(env.actions) == CRAFTER_ACTIONS == tuple(crafter.constants.actions)
    assert set(CRAFTER_ACHIEVEMENTS) == set(crafter.constants.achievements)
    assert len(CRAFTER_ACHIEVEMENTS) == 22
    assert env.action_id("do") == 5 and env.action_id("bogus") == 0
    assert "Crafter" in env.instruction


def test_same_seed_same_observations_different_seed_different_world(
    env: CrafterTextEnv,
) -> None:
    a = _play(env, 0, 60)
    b = _play(env, 0, 60)  # restored from the world cache
    fresh = _play(make_crafter(max_steps=200, world_cache=0), 0, 60)  # regenerated
    assert a == b == fresh
    env.reset(1)
    other = env.raw_env._world._mat_map.copy()
    env.reset(0)
    assert (env.raw_env._world._mat_map != other).any()


def test_step_matches_crafter_with_rendering(env: CrafterTextEnv) -> None:
    """The rendering-free step plays exactly like crafter.Env rendering its images."""
    import crafter

    class Reference(crafter.Env):  # type: ignore[misc]
        def _balance_chunk(self, chunk: Any, objs: Any) -> None:
            m = self._world._obj_map
            ordered = sorted(objs, key=lambda o: int(m[o.pos[0], o.pos[1]]))
            super()._balance_chunk(chunk, ordered)

    ref = Reference(length=10_000, seed=0)
    ref._episode = 0
    ref.reset()
    env.reset(0)
    rng = random.Random(5)
    for i in range(320):  # past nightfall (the night noise draws from the world RNG)
        name = rng.choice([a for a in env.actions if a != "sleep"])
        _, _, done, info = ref.step(env.action_id(name))
        res = env.step(name)
        assert (info["semantic"] == env.raw_env._sem_view()).all(), i
        assert info["inventory"] == env.raw_env._player.inventory, i
        if done or res.terminated or res.truncated:
            break


def test_collect_wood_counts_an_achievement(env: CrafterTextEnv) -> None:
    _, info = env.reset(0)
    assert info["progression"] == 0.0 and info["achievements"] == []
    explorer = CrafterExplorer(seed=0)
    before = 0.0
    for _ in range(150):
        name = "do" if info["facing_kind"] == "tree" else explorer.choose(info, {}, env.actions)
        res = env.step(name)
        info = res.info
        assert info["progression"] == len(info["achievements"]) / 22
        if "collect_wood" in info["achievements"]:
            assert name == "do"
            assert info["inventory"].get("wood", 0) >= 1
            assert info["progression"] == pytest.approx(before + 1 / 22)
            assert "collect_wood" in res.observation
            break
        before = info["progression"]
    else:
        pytest.fail("no wood collected in 150 steps")


def test_invalid_action_and_info(env: CrafterTextEnv) -> None:
    obs, info = env.reset(0)
    assert "You see" in obs and "Your status" in obs and "You face" in obs
    assert set(info["status"]) == {"health", "food", "drink", "energy"}
    x, y = info["x"], info["y"]
    for kind, (kx, ky) in info["nearest"].items():
        assert abs(kx - x) <= 4 and abs(ky - y) <= 3, kind
    res = env.step("fly")
    assert res.info["invalid_action"] is True and res.info["action"] == "noop"
    assert "'fly' is not a valid action" in res.observation
    assert env.step("noop").info["invalid_action"] is False
    with pytest.raises(CrafterSetupError):
        make_crafter().step("noop")


def test_parse_resources_and_goal() -> None:
    assert parse_resources("tree: 12,30\nwater: none\njunk\ntable: 3, 4\n") == {
        "tree": (12, 30),
        "table": (3, 4),
    }
    assert choose_goal({}, []) == ("wood", "tree")
    assert choose_goal({"wood": 5}, []) == ("table", "place")
    assert choose_goal({"wood": 1}, ["place_table"]) == ("wood_pickaxe", "table")
    assert choose_goal({"wood": 1, "wood_pickaxe": 1, "wood_sword": 1}, []) == ("stone", "stone")


def _request(routine: str, turn: int, info: dict[str, Any], results: list[Any]) -> RoutineRequest:
    return RoutineRequest(
        routine=routine,  # type: ignore[arg-type]
        step=3,
        turn=turn,
        messages=[],
        observation="",
        actions=list(CRAFTER_ACTIONS),
        info=info,
        last_results=results,
    )


def test_explorer_decide_reads_memory_and_walks_to_remembered_tree() -> None:
    info = {
        "x": 10,
        "y": 10,
        "facing": (0, 1),
        "facing_kind": "grass",
        "inventory": {},
        "status": {"health": 9, "food": 9, "drink": 9, "energy": 9},
        "achievements": [],
        "nearest": {"water": (12, 10)},
        "around": {
            "move_left": "grass",
            "move_right": "grass",
            "move_up": "grass",
            "move_down": "grass",
        },
    }
    ex = CrafterExplorer(seed=0)
    assert ex.decide(_request("plan", 0, info, [])).text == "<|READ|>resources.md<|END|>"
    read = OpResult(op="read", ok=True, text="tree: 30,10\n", path="resources.md")
    assert ex.decide(_request("plan", 1, info, [read])).text == "<|ACTION|>move_right<|END|>"
    # LOG: read, then remember the water in view, then done.
    assert ex.decide(_request("log", 0, info, [])).text == "<|READ|>resources.md<|END|>"
    log = ex.decide(_request("log", 1, info, [read])).text
    assert "<|UPSERT|>resources.md|water|12,10<|END|>" in log and log.endswith("<|DONE|>")
    # Memory off: the read fails, nothing is known, it explores.
    failed = OpResult(op="read", ok=False, text="ERROR: memory is disabled", error="off")
    act = ex.decide(_request("plan", 1, info, [failed])).text
    assert act.startswith("<|ACTION|>move_")
    assert ex.decide(_request("log", 1, info, [failed])).text == "<|DONE|>"


def test_episode_with_memory_agent(env: CrafterTextEnv, tmp_path: Path) -> None:
    store = MemoryStore((tmp_path / "mem").as_uri())
    agent = MemoryAgent(store, "crafter", CrafterExplorer(seed=0))
    result = run_episode(env, agent, 0, max_steps=50, trace=str(tmp_path / "t.jsonl.gz"))
    assert result.steps == 50
    assert 0.0 <= result.progression <= 1.0
    known = parse_resources(store.read("resources.md"))
    assert known, store.read("resources.md")
    assert (tmp_path / "t.jsonl.gz").exists()
