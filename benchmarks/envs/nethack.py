"""NetHack as a text environment: the NetHack Challenge setting, but seedable.

Upstream ``NetHackChallenge-v0`` refuses seeds. :func:`seeded_challenge_class` builds an
equivalent env on NLE's ``NetHackScore`` with the challenge's settings (full keyboard
action space, random character ``@``, all y/n questions and menus passed to the agent, no
step penalty, the challenge's observation keys and no-progress abort) whose NetHack RNGs
(core, disp and the level generator ``lgen``) are seeded from the episode seed, with
anti-TAS reseeding off and the moon phase derived from the seed, so that the same seed
and actions give the same game.

Progression follows BALROG: the maximum over the episode of the dungeon-level and
experience-level progression table (``data/balrog_progression.json``, MIT, BALROG Team).
Episode settings follow BALROG's config: 100 000 steps, abort after 150 steps without
the game clock moving, ``--More--`` pages skipped.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .nle_text import (
    ActionSet,
    NLETextEnv,
    action_names_of,
    nle_text_data,
)

__all__ = [
    "CHALLENGE_OBSERVATION_KEYS",
    "NETHACK_MAX_STEPS",
    "NetHackTextEnv",
    "game_seeds",
    "load_progression_table",
    "make_nethack",
    "nethack_action_names",
    "nethack_progression",
    "seeded_challenge_class",
]

#: BALROG's step limit for NetHack episodes.
NETHACK_MAX_STEPS = 100_000
#: Observation keys of ``NetHackChallenge-v0``.
CHALLENGE_OBSERVATION_KEYS = (
    "glyphs",
    "chars",
    "colors",
    "specials",
    "blstats",
    "message",
    "inv_glyphs",
    "inv_strs",
    "inv_letters",
    "inv_oclasses",
    "tty_chars",
    "tty_colors",
    "tty_cursor",
    "misc",
)


@lru_cache(maxsize=1)
def load_progression_table() -> dict[str, float]:
    """BALROG's NetHack progression table: ``"Dlvl:N"`` / ``"Xp:N"`` -> fraction of 1."""
    path = resources.files("automem_sdk.benchmarks.data").joinpath("balrog_progression.json")
    table: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
    return table


def nethack_progression(blstats: Any, table: dict[str, float] | None = None) -> float:
    """Progression of one state: max of the table's ``Dlvl:<depth>`` and ``Xp:<level>``.

    Args:
        blstats: NLE blstats (a sequence; depth at index 12, experience level at 18).
        table: the progression table (default: BALROG's).

    Returns:
        The progression in [0, 1]; 0 for levels missing from the table.
    """
    t = table if table is not None else load_progression_table()
    depth = int(blstats[12])
    xlvl = int(blstats[18])
    return max(t.get(f"Dlvl:{depth}", 0.0), t.get(f"Xp:{xlvl}", 0.0))


def game_seeds(seed: int) -> tuple[int, int, int]:
    """The (core, disp, lgen) NetHack seeds derived from one episode seed."""
    state = np.random.SeedSequence(int(seed)).generate_state(3, dtype=np.uint64)
    core, disp, lgen = (int(v) >> 1 for v in state)
    return core, disp, lgen


@lru_cache(maxsize=1)
def seeded_challenge_class() -> type:
    """The seedable NetHack Challenge env class (built on first use; imports NLE)."""
    from nle import nethack
    from nle.env.tasks import NetHackScore

    class SeededNetHackChallenge(NetHackScore):  # type: ignore[misc]
        """``NetHackChallenge-v0`` settings on ``NetHackScore``, accepting seeds.

        Call ``seed(core, disp, reseed=False, lgen=...)`` before ``reset()``.
        """

        def __init__(
            self,
            *args: Any,
            character: str = "@",
            allow_all_yn_questions: bool = True,
            allow_all_modes: bool = True,
            penalty_mode: str = "constant",
            penalty_step: float = -0.00,
            penalty_time: float = -0.0,
            max_episode_steps: int = int(1e6),
            observation_keys: tuple[str, ...] = CHALLENGE_OBSERVATION_KEYS,
            no_progress_timeout: int = 10_000,
            fix_moon_phase: bool = True,
            **kwargs: Any,
        ) -> None:
            kwargs["wizard"] = False
            super().__init__(
                *args,
                actions=nethack.ACTIONS,
                character=character,
                allow_all_yn_questions=allow_all_yn_questions,
                allow_all_modes=allow_all_modes,
                penalty_mode=penalty_mode,
                penalty_step=penalty_step,
                penalty_time=penalty_time,
                max_episode_steps=max_episode_steps,
                observation_keys=observation_keys,
                fix_moon_phase=fix_moon_phase,
                **kwargs,
            )
            self.no_progress_timeout = no_progress_timeout
            self._turns: int | None = None
            self._no_progress_count = 0

        def reset(self, *args: Any, **kwargs: Any) -> Any:
            self._turns = None
            self._no_progress_count = 0
            return super().reset(*args, **kwargs)

        def _check_abort(self, observation: Any) -> bool:
            turns = observation[self._blstats_index][nethack.NLE_BL_TIME]
            if self._turns == turns:
                self._no_progress_count += 1
            else:
                self._turns = turns
                self._no_progress_count = 0
            return bool(
                self._steps >= self._max_episode_steps
                or self._no_progress_count >= self.no_progress_timeout
            )

    return SeededNetHackChallenge


def nethack_action_names() -> list[str]:
    """BALROG's NetHack action names: NLE's useful commands, letters and digits."""
    from nle import nethack

    names = action_names_of(nethack.USEFUL_ACTIONS)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    letters += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    digits = [str(d) for d in range(10)]
    seen: set[str] = set()
    out = []
    for n in names + letters + digits:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


class NetHackTextEnv(NLETextEnv):
    """NetHack (challenge setting, seedable) as a :class:`~automem_sdk.env.TextEnv`.

    ``info`` carries ``progression`` (BALROG table, max so far), ``achievements`` (the
    ``Dlvl:N``/``Xp:N`` entries reached), ``dlvl``, ``xlvl``, ``x``, ``y``, ``changed``,
    ``invalid_action`` and the rest of :class:`~automem_sdk.benchmarks.envs.nle_text.NLETextEnv`'s
    fields.

    Args:
        max_steps: agent steps per episode (BALROG: 100 000).
        no_progress_timeout: abort after this many raw steps without the clock moving
            (BALROG: 150).
        character: NetHack character (``@`` = random role, race, gender, alignment).
        obs: observation style (``default``, ``balrog``: BALROG's full-screen text, or
            ``automem``: as default; NetHack's autopickup is on in every style).
    """

    name = "nethack"

    def __init__(
        self,
        *,
        max_steps: int = NETHACK_MAX_STEPS,
        no_progress_timeout: int = 150,
        character: str = "@",
        obs: str = "default",
    ) -> None:
        cls = seeded_challenge_class()
        env = cls(
            character=character,
            max_episode_steps=max(int(max_steps) * 4, int(max_steps) + 1000),
            no_progress_timeout=no_progress_timeout,
            savedir=None,
            save_ttyrec_every=0,
        )
        data = nle_text_data()
        action_set = ActionSet(
            env.actions,
            nethack_action_names(),
            data["nethack"]["default_action"],
            data["nethack"]["descriptions"],
        )
        super().__init__(env, action_set, max_steps=max_steps, game="nethack", obs=obs)
        self.instruction = data["instructions"]["nethack"].format(actions=action_set.describe())
        self._table = load_progression_table()
        self._reached: list[str] = []
        self._levels = (-1, -1)

    def _seed_game(self, seed: int) -> None:
        core, disp, lgen = game_seeds(seed)
        self._env.seed(core, disp, reseed=False, lgen=lgen)
        self._reached = []
        self._levels = (-1, -1)

    def _progress(self, stats: list[int], raw_info: dict[str, Any]) -> dict[str, Any]:
        b = stats
        levels = (b[12], b[18])
        if levels != self._levels:
            self._levels = levels
            for key in (f"Dlvl:{levels[0]}", f"Xp:{levels[1]}"):
                if key in self._table and key not in self._reached:
                    self._reached.append(key)
            self._progression = max(self._progression, nethack_progression(b, self._table))
        return {"progression": self._progression, "achievements": list(self._reached)}


def make_nethack(
    *, max_steps: int = NETHACK_MAX_STEPS, no_progress_timeout: int = 150, obs: str = "default"
) -> NetHackTextEnv:
    """NetHack in the challenge setting (seedable), BALROG progression.

    Args:
        max_steps: agent steps per episode (BALROG: 100 000).
        no_progress_timeout: raw steps without the game clock moving before the episode
            is aborted (BALROG: 150).
        obs: observation style (``default``, ``balrog`` or ``automem``).

    Returns:
        The text environment; ``reset(seed)`` gives a reproducible game.
    """
    return NetHackTextEnv(max_steps=max_steps, no_progress_timeout=no_progress_timeout, obs=obs)
