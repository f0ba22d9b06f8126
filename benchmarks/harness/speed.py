"""``automem bench-speed``: raw env steps/s vs steps/s through our text wrapper.

For each game a random action sequence is played through the wrapper (``env.step(name)``:
rendering, ``--More--`` skipping, info) and on the bare env, in interleaved rounds so
that noise from a shared machine hits both alike. Only ``step`` calls are timed
(resets, i.e. world generation, are not). The table shows median steps/s of each and
their ratio measured in this one run.

Same game on both sides: for NetHack and MiniHack the bare env replays the exact key
stream the wrapper sent (:attr:`~automem_sdk.benchmarks.envs.nle_text.NLETextEnv.key_log`,
the Enter presses that dismiss ``--More--`` included) from the same seeds, so both sides
do the same game work and the ratio is the wrapper's own cost. (Feeding the random
names straight to the bare env is cheaper and not comparable: at a ``--More--`` or a
menu the game ignores most keys, so many of those steps do nothing.) The "raw steps/s"
column counts agent steps, i.e. the wrapper's steps per second of bare-env time, so
that the two columns divide. Crafter maps one action to one env step on both sides. Targets: the wrapper keeps >= 50% of raw
speed for NetHack/MiniHack, and runs Crafter at >= 400 steps/s (BALROG's wrappers
manage about 2,450 steps/s for NLE and about 107 for Crafter on a similar machine).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from automem_sdk.tables import print_whole

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "SPEED_GAMES",
    "SpeedRow",
    "measure_speed",
    "run_speed",
]

#: game label -> env name measured.
SPEED_GAMES: dict[str, str] = {
    "minihack": "minihack/MazeWalk-15x15",
    "nethack": "nethack",
    "crafter": "crafter",
}
#: Targets: ratio of raw speed (NLE games) or absolute wrapper steps/s (crafter).
RATIO_TARGET = 0.5
CRAFTER_TARGET_SPS = 400.0


class SpeedRow(BaseModel):
    """One game's measurement."""

    game: str
    env: str
    raw_sps: float
    wrapped_sps: float
    ratio: float
    rounds: int
    steps: int
    target: str
    meets: bool


def _reset_raw(raw: Any) -> None:
    raw.reset()


def _raw_round(raw: Any, ids: list[int]) -> float:
    """Steps/s of the raw env; resets (world generation) are not timed."""
    _reset_raw(raw)
    spent = 0.0
    clock = time.perf_counter
    for a in ids:
        t0 = clock()
        out = raw.step(a)
        spent += clock() - t0
        if bool(out[2]) or (len(out) > 4 and bool(out[3])):
            _reset_raw(raw)
    return len(ids) / spent


def _replay_round(env: Any, keys: list[int], n_steps: int, seed: int) -> float:
    """Agent steps/s of the bare env replaying the wrapper's key stream."""
    _, spent = env.replay_raw(keys, seed)
    return n_steps / float(spent)


def _record_keys(env: Any, names: list[str], seed: int) -> list[int]:
    """The raw key stream the wrapper sends for ``names`` (resets marked ``-1``)."""
    env.key_log = []
    try:
        _wrapped_round(env, names, seed)
        return list(env.key_log)
    finally:
        env.key_log = None


def _wrapped_round(env: Any, names: list[str], seed: int) -> float:
    """Steps/s through the text wrapper; resets are not timed."""
    env.reset(seed=seed)
    spent = 0.0
    clock = time.perf_counter
    for n in names:
        t0 = clock()
        r = env.step(n)
        spent += clock() - t0
        if r.terminated or r.truncated:
            env.reset(seed=seed)
    return len(names) / spent


def measure_speed(
    game: str, env_name: str, *, steps: int = 2000, rounds: int = 5, seed: int = 0
) -> SpeedRow:
    """Measure one game (only steps are timed, not resets; the env's step cap is raised).

    Args:
        game: label for the table.
        env_name: registry env name.
        steps: steps per round.
        rounds: interleaved raw/wrapped rounds (median reported).
        seed: seed of the random actions and the episodes.
    """
    from automem_sdk.benchmarks.registry import make_env

    env: Any = make_env(env_name, max_steps=10**9)
    try:
        rng = random.Random(seed)
        names = [rng.choice(env.actions) for _ in range(steps)]
        ids = [int(env.action_id(n)) for n in names]
        raw = env.raw_env
        env.reset(seed=seed)  # warm up both paths once
        if hasattr(env, "replay_raw"):
            keys = _record_keys(env, names, seed)

            def raw_round() -> float:
                return _replay_round(env, keys, len(names), seed)
        else:

            def raw_round() -> float:
                return _raw_round(raw, ids)

        raw_sps: list[float] = []
        wrapped_sps: list[float] = []
        for i in range(rounds):
            if i % 2 == 0:
                raw_sps.append(raw_round())
                wrapped_sps.append(_wrapped_round(env, names, seed))
            else:
                wrapped_sps.append(_wrapped_round(env, names, seed))
                raw_sps.append(raw_round())
    finally:
        close = getattr(env, "close", None)
        if close is not None:
            close()
    r, w = statistics.median(raw_sps), statistics.median(wrapped_sps)
    ratio = w / r if r else 0.0
    if game == "crafter":
        target, meets = f">= {CRAFTER_TARGET_SPS:.0f} steps/s", w >= CRAFTER_TARGET_SPS
    else:
        target, meets = f">= {RATIO_TARGET:.0%} of raw", ratio >= RATIO_TARGET
    return SpeedRow(
        game=game,
        env=env_name,
        raw_sps=r,
        wrapped_sps=w,
        ratio=ratio,
        rounds=rounds,
        steps=steps,
        target=target,
        meets=meets,
    )


def _crafter_available() -> bool:
    import importlib.util

    return (
        importlib.util.find_spec("crafter") is not None
        and importlib.util.find_spec("automem_sdk.benchmarks.envs.crafter_text") is not None
    )


def run_speed(
    games: list[str] | None = None,
    *,
    steps: int = 2000,
    rounds: int = 5,
    quick: bool = False,
    console: Console | None = None,
) -> list[SpeedRow]:
    """Measure every game and print the table.

    Args:
        games: labels from :data:`SPEED_GAMES` (default all; crafter only if its env
            imports).
        steps: steps per round.
        rounds: interleaved rounds.
        quick: 50 steps, 1 round (a smoke test; numbers are not meaningful).
        console: where to print.

    Returns:
        One row per game measured.
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if quick:
        steps, rounds = 50, 1
    wanted = games or list(SPEED_GAMES)
    unknown = [g for g in wanted if g not in SPEED_GAMES]
    if unknown:
        from automem_sdk.errors import AutomemError

        raise AutomemError(f"unknown game(s) {unknown}; choose from {', '.join(SPEED_GAMES)}")
    rows: list[SpeedRow] = []
    skipped: list[str] = []
    for g in wanted:
        if g == "crafter" and not _crafter_available():
            skipped.append("crafter (its env does not import here)")
            continue
        rows.append(measure_speed(g, SPEED_GAMES[g], steps=steps, rounds=rounds))
    t = Table(title=f"Env speed: raw vs text wrapper (median of {rounds} interleaved rounds)")
    for c in ("game", "env", "raw steps/s", "wrapped steps/s", "wrapped / raw", "target", "meets"):
        t.add_column(c, justify="left" if c in ("game", "env", "target") else "right", no_wrap=True)
    for r in rows:
        t.add_row(
            r.game,
            r.env,
            f"{r.raw_sps:,.0f}",
            f"{r.wrapped_sps:,.0f}",
            f"{r.ratio:.0%}",
            r.target,
            "yes" if r.meets else "NO",
        )
    print_whole(console, t)
    for s in skipped:
        console.print(f"skipped: {s}")
    if quick:
        console.print("--quick: tiny sample, numbers are not meaningful")
    return rows
