"""bench-speed: ``--quick`` prints its rows (no timing assertions)."""

from __future__ import annotations

import pytest
from automem_sdk.benchmarks.harness.speed import run_speed
from rich.console import Console

from automem_sdk.errors import AutomemError

pytest.importorskip("minihack", reason="minihack is not installed")


@pytest.mark.games
def test_quick_prints_a_row_per_game() -> None:
    console = Console(record=True, width=160)
    rows = run_speed(["minihack", "nethack"], quick=True, console=console)
    text = console.export_text()
    assert [r.game for r in rows] == ["minihack", "nethack"]
    for r in rows:
        assert r.raw_sps > 0 and r.wrapped_sps > 0
        assert r.ratio == pytest.approx(r.wrapped_sps / r.raw_sps)
        assert r.game in text and r.target in text
    assert "wrapped / raw" in text and "--quick" in text


def test_unknown_game_is_an_error() -> None:
    with pytest.raises(AutomemError, match="unknown game"):
        run_speed(["pong"], quick=True, console=Console(record=True))


@pytest.mark.games
@pytest.mark.parametrize("env_name", ["nethack", "minihack/MazeWalk-9x9"])
def test_bare_env_replays_the_wrappers_game(env_name: str) -> None:
    """The raw side of the ratio plays the very game the wrapper played."""
    import random

    import numpy as np
    from automem_sdk.benchmarks.registry import make_env

    env = make_env(env_name, max_steps=10**9)
    try:
        rng = random.Random(3)
        names = [rng.choice(env.actions) for _ in range(40)]
        env.key_log = []
        env.reset(seed=5)
        taken = 0
        for n in names:
            r = env.step(n)
            taken += 1
            assert not (r.terminated or r.truncated)
        keys, env.key_log = env.key_log, None
        wrapped = [a.copy() for a in env.raw_env.unwrapped.last_observation]
        assert keys[0] == -1 and len(keys) - 1 >= taken == len(names)  # reset marker, then keys
        steps, spent = env.replay_raw(keys, seed=5)
        assert steps == len(keys) - keys.count(-1) and spent > 0
        replayed = env.raw_env.unwrapped.last_observation
        assert all(np.array_equal(a, b) for a, b in zip(wrapped, replayed, strict=True))
        # a different seed is a different game
        env.replay_raw(keys, seed=6)
        other = env.raw_env.unwrapped.last_observation
        assert not all(np.array_equal(a, b) for a, b in zip(wrapped, other, strict=True))
    finally:
        env.close()
