"""NetHack text env: seedable challenge setting, determinism, BALROG progression."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nle")

from automem_sdk.benchmarks.envs.nethack import (
    NetHackTextEnv,
    game_seeds,
    load_progression_table,
    make_nethack,
    nethack_progression,
    seeded_challenge_class,
)

from automem_sdk.env import TextEnv

pytestmark = pytest.mark.games

ACTIONS = ["north", "east", "search", "south", "west", "far east", "wait", "i", "esc"] * 3


def _play(env: NetHackTextEnv, seed: int, actions: list[str]) -> list[str]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        res = env.step(a)
        out.append(res.observation)
        if res.terminated or res.truncated:
            break
    return out


@pytest.fixture(scope="module")
def env() -> NetHackTextEnv:
    e = make_nethack(max_steps=200)
    yield e
    e.close()


def _blstats(depth: int, xlvl: int) -> np.ndarray:
    b = np.zeros(27, dtype=np.int64)
    b[12], b[18] = depth, xlvl
    return b


def test_progression_table_is_balrogs() -> None:
    t = load_progression_table()
    assert t["Dlvl:1"] == 0.0 and t["Xp:1"] == 0.0
    assert t["Dlvl:2"] == pytest.approx(0.015392269075361172)
    assert t["Xp:2"] == pytest.approx(0.01847840456172601)
    assert t["You ascend t"] == 1.0
    dl = [t[f"Dlvl:{i}"] for i in range(1, 51)]
    xp = [t[f"Xp:{i}"] for i in range(1, 31)]
    assert dl == sorted(dl) and xp == sorted(xp)


def test_progression_function_at_known_points() -> None:
    t = load_progression_table()
    assert nethack_progression(_blstats(1, 1)) == 0.0
    assert nethack_progression(_blstats(2, 1)) == pytest.approx(t["Dlvl:2"])
    assert nethack_progression(_blstats(1, 2)) == pytest.approx(t["Xp:2"])
    assert nethack_progression(_blstats(2, 2)) == pytest.approx(max(t["Dlvl:2"], t["Xp:2"]))
    assert nethack_progression(_blstats(10, 3)) == pytest.approx(t["Dlvl:10"])
    assert nethack_progression(_blstats(0, 0)) == 0.0  # game over: blstats zeroed


def test_progression_is_the_max_over_the_episode(env: NetHackTextEnv) -> None:
    env.reset(seed=0)
    t = load_progression_table()
    stats = [0] * 27
    stats[12], stats[18] = 3, 1
    assert env._progress(stats, {})["progression"] == pytest.approx(t["Dlvl:3"])
    stats[12], stats[18] = 1, 1  # back up to level 1: progression keeps its max
    assert env._progress(stats, {})["progression"] == pytest.approx(t["Dlvl:3"])
    stats[12], stats[18] = 1, 2  # experience level 2 is worth more than Dlvl 3
    out = env._progress(stats, {})
    assert out["progression"] == pytest.approx(max(t["Dlvl:3"], t["Xp:2"]))
    assert out["achievements"] == ["Dlvl:1", "Xp:1", "Dlvl:3", "Xp:2"]  # reached, in order


def test_settings_match_netHack_challenge() -> None:
    import gymnasium as gym

    ours = seeded_challenge_class()()
    ref = gym.make("NetHackChallenge-v0").unwrapped
    try:
        assert tuple(ours.actions) == tuple(ref.actions)
        assert ours.character == ref.character == "@"
        assert ours._allow_all_yn_questions and ref._allow_all_yn_questions
        assert ours._allow_all_modes and ref._allow_all_modes
        assert ours.penalty_step == ref.penalty_step and ours.penalty_time == ref.penalty_time
        assert ours._original_observation_keys == ref._original_observation_keys
        assert ours.nethack.options == ref.nethack.options
        with pytest.raises(RuntimeError):
            ref.seed(1, 2, False)
        ours.seed(1, 2, False)  # accepted
    finally:
        ours.close()
        ref.close()


def test_text_env_protocol_and_observation(env: NetHackTextEnv) -> None:
    assert isinstance(env, TextEnv)
    assert env.name == "nethack"
    assert {"north", "far east", "search", "pickup", "apply", "kick", "eat", "up", "down"} <= set(
        env.actions
    )
    assert {"a", "Z", "0", "9"} <= set(env.actions)
    assert "search: search for hidden doors and passages" in env.instruction
    obs, info = env.reset(seed=3)
    for part in ("message:", "language observation:", "map (", "status:", "inventory:"):
        assert part in obs
    assert "Dlvl:1" in obs and "@" in obs
    assert info["dlvl"] == 1 and info["xlvl"] >= 1 and info["progression"] == 0.0
    assert info["around_kinds"][4] == "m" and len(info["around_kinds"]) == 9  # "m": you
    assert isinstance(env.action_id("north"), int)
    assert env.raw_env.actions[env.action_id("north")] == env.raw_env.actions[env.action_id("k")]


def test_same_seed_same_game_different_seed_different_game(env: NetHackTextEnv) -> None:
    a = _play(env, 11, ACTIONS)
    b = _play(env, 11, ACTIONS)
    c = _play(env, 12, ACTIONS)
    assert a == b
    assert a[0] != c[0]
    other = make_nethack(max_steps=200)  # a second process-level game gives the same
    try:
        assert _play(other, 11, ACTIONS) == a
    finally:
        other.close()


def test_game_seeds_are_distinct_and_stable() -> None:
    assert game_seeds(5) == game_seeds(5)
    assert game_seeds(5) != game_seeds(6)
    assert all(0 <= s < 2**63 for s in game_seeds(123))


def test_invalid_action_maps_to_esc_with_feedback(env: NetHackTextEnv) -> None:
    env.reset(seed=1)
    res = env.step("do a little dance")
    assert res.info["invalid_action"] is True
    assert res.info["action"] == "esc"
    assert "not a valid action" in res.observation and "'esc'" in res.observation
    res = env.step("search")
    assert res.info["invalid_action"] is False


def test_changed_flag(env: NetHackTextEnv) -> None:
    env.reset(seed=2)
    assert env.step("esc").info["changed"] is False  # nothing to escape from
    assert env.step("search").info["changed"] in (True, False)
    moved = False
    for a in ("north", "south", "east", "west", "northeast", "southwest"):
        res = env.step(a)
        moved = moved or res.info["changed"]
    assert moved


def test_episode_runs_to_its_step_limit() -> None:
    env = make_nethack(max_steps=15)
    try:
        env.reset(seed=4)
        rng = np.random.default_rng(0)
        moves = [a for a in env.actions if a in ("north", "south", "east", "west", "search")]
        steps = 0
        while True:
            res = env.step(str(rng.choice(moves)))
            steps += 1
            if res.terminated or res.truncated:
                break
        assert steps <= 15
        assert res.truncated or res.terminated
        assert 0.0 <= res.info["progression"] <= 1.0
        with pytest.raises(Exception, match="episode is over"):
            env.step("north")
    finally:
        env.close()
