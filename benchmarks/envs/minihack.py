"""MiniHack tasks as text environments (BALROG's eight tasks, seedable).

Tasks: Boxoban-Hard, Boxoban-Medium, MazeWalk-9x9, MazeWalk-15x15, Corridor-R3,
CorridorBattle-Dark, Quest-Easy, Quest-Medium. Settings follow BALROG's config
(random character ``@``, 100 steps, step penalty -0.01, autopickup off, ``--More--``
skipped); progression is 1 if the episode is won, else 0.

Every episode is reproducible from its seed: NetHack's RNGs (core, disp, level
generator) are seeded from it, and Boxoban's level is drawn from the level files with a
``random.Random(seed)`` instead of the global RNG. Boxoban levels are read from a local
directory in the DeepMind boxoban-levels layout (``hard/``, ``medium/train/``) and never
downloaded: by default the 300-level subsets shipped as package data
(``benchmarks/data/boxoban``, Apache-2.0), else ``levels_dir`` or
``$AUTOMEM_BOXOBAN_LEVELS``. Boxoban-Medium reads ``medium/train`` as upstream MiniHack
does; a folder without it is an error, never a silent switch to another split.
"""

from __future__ import annotations

import os
import random
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from .nethack import game_seeds
from .nle_text import (
    ActionSet,
    GameSetupError,
    NLETextEnv,
    action_names_of,
    nle_text_data,
)

__all__ = [
    "BOXOBAN_LEVELS_ENV",
    "MINIHACK_MAX_STEPS",
    "MINIHACK_OBSERVATION_KEYS",
    "MINIHACK_TASKS",
    "MiniHackTextEnv",
    "boxoban_level_path",
    "default_levels_dir",
    "load_boxoban_levels",
    "make_minihack",
    "minihack_env_id",
    "packaged_levels_dir",
    "seeded_boxoban_class",
]

#: The eight MiniHack tasks of BALROG (short names).
MINIHACK_TASKS: tuple[str, ...] = (
    "Boxoban-Hard",
    "Boxoban-Medium",
    "MazeWalk-9x9",
    "MazeWalk-15x15",
    "Corridor-R3",
    "CorridorBattle-Dark",
    "Quest-Easy",
    "Quest-Medium",
)
#: BALROG's step limit for MiniHack episodes.
MINIHACK_MAX_STEPS = 100
#: Environment variable naming the boxoban-levels directory (used when no levels_dir).
BOXOBAN_LEVELS_ENV = "AUTOMEM_BOXOBAN_LEVELS"
#: Observation keys requested from MiniHack.
MINIHACK_OBSERVATION_KEYS = (
    "glyphs",
    "chars",
    "blstats",
    "message",
    "tty_chars",
    "tty_cursor",
    "inv_letters",
    "inv_strs",
    "misc",
)
# Boxoban per-task settings of upstream MiniHack (level set, split, reward shaping).
_BOXOBAN = {
    "Boxoban-Hard": ("hard", ("",)),
    "Boxoban-Medium": ("medium", ("train",)),
}


def minihack_env_id(task: str) -> str:
    """Gymnasium id of a task: ``"MazeWalk-9x9"`` -> ``"MiniHack-MazeWalk-9x9-v0"``.

    Raises:
        GameSetupError: not one of :data:`MINIHACK_TASKS`.
    """
    short = task.removeprefix("MiniHack-").removesuffix("-v0")
    if short not in MINIHACK_TASKS:
        raise GameSetupError(f"unknown MiniHack task {task!r}; choose one of {MINIHACK_TASKS}")
    return f"MiniHack-{short}-v0"


def _short(task: str) -> str:
    return minihack_env_id(task).removeprefix("MiniHack-").removesuffix("-v0")


def packaged_levels_dir() -> Path:
    """The Boxoban level subsets shipped with the package (300 levels per set)."""
    from importlib import resources

    return Path(str(resources.files("automem_sdk.benchmarks.data").joinpath("boxoban")))


def default_levels_dir() -> Path:
    """Where Boxoban levels are looked for when no ``levels_dir`` is given.

    ``$AUTOMEM_BOXOBAN_LEVELS`` if set, else the packaged subsets
    (:func:`packaged_levels_dir`), so the default never depends on what folders happen
    to lie beside the working directory.
    """
    env = os.environ.get(BOXOBAN_LEVELS_ENV)
    if env:
        return Path(env)
    return packaged_levels_dir()


def boxoban_level_path(task: str, levels_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of level files for a Boxoban task.

    Raises:
        GameSetupError: no levels directory, or it lacks the task's level files.
    """
    short = _short(task)
    if short not in _BOXOBAN:
        raise GameSetupError(f"{task} is not a Boxoban task")
    root = Path(levels_dir) if levels_dir is not None else default_levels_dir()
    level_set, splits = _BOXOBAN[short]
    for split in splits:
        path = root / level_set / split if split else root / level_set
        if path.is_dir() and any(p.suffix == ".txt" for p in path.iterdir()):
            return path
    where = "/".join(p for p in (str(root), level_set, splits[0]) if p)
    raise GameSetupError(
        f"no Boxoban level files (*.txt) for {short} in {where} (levels are never downloaded)"
    )


@lru_cache(maxsize=4)
def load_boxoban_levels(path: str) -> tuple[str, ...]:
    """All levels of a folder of boxoban ``.txt`` files, in a fixed (sorted) order.

    Each level is the 10 map lines after its ``; N`` header, as one string ending in a
    newline (the format upstream MiniHack's Boxoban env consumes).
    """
    levels: list[str] = []
    for name in sorted(os.listdir(path)):
        if not name.endswith(".txt"):
            continue
        lines: list[str] = []
        with open(os.path.join(path, name), encoding="utf-8") as f:
            for line in [*f.readlines(), "\n"]:
                if line.strip():
                    lines.append(line if line.endswith("\n") else line + "\n")
                elif lines:
                    levels.append("".join(lines[1:]))
                    lines = []
    return tuple(lv for lv in levels if lv)


def _import_minihack() -> Any:
    """Import minihack (registers its envs) without its pkg_resources deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import minihack

    return minihack


@lru_cache(maxsize=1)
def seeded_boxoban_class() -> type:
    """MiniHack's BoxoHack reading levels from a given folder with a seeded level draw."""
    _import_minihack()
    from minihack import LevelGenerator, MiniHackNavigation
    from minihack.envs.boxohack import MOVE_ACTIONS, BoxoHack

    class SeededBoxoban(BoxoHack):  # type: ignore[misc]
        """Upstream BoxoHack with ``levels_path`` and ``seed_levels(seed)``."""

        def __init__(self, *args: Any, levels_path: str, **kwargs: Any) -> None:
            # Same as BoxoHack.__init__, but the level list comes from ``levels_path``.
            kwargs["max_episode_steps"] = kwargs.pop("max_episode_steps", 400)
            kwargs["actions"] = kwargs.pop("actions", MOVE_ACTIONS)
            self._time_penalty = kwargs.pop("penalty_time", 0)
            self._flags = tuple(kwargs.pop("flags", []))
            self._levels = list(load_boxoban_levels(str(levels_path)))
            if not self._levels:
                raise GameSetupError(f"no Boxoban levels in {levels_path}")
            self._reward_shaping_coefficient = kwargs.pop("reward_shaping_coefficient", 0)
            self._level_rng = random.Random(0)
            MiniHackNavigation.__init__(
                self, *args, des_file=self.get_lvl_gen().get_des(), **kwargs
            )

        def seed_levels(self, seed: int) -> None:
            """Draw the next levels from ``random.Random(seed)``."""
            self._level_rng = random.Random(seed)

        def reset(self, *args: Any, **kwargs: Any) -> Any:
            # Upstream sets the goal (fountain) positions only after NLE's reset, which
            # already asks _is_episode_end: a first reset fails and later ones compare
            # against the previous level's goals. Clear them while resetting.
            self.update(self.get_lvl_gen().get_des())
            self._goal_pos_set = None
            obs = MiniHackNavigation.reset(self, *args, **kwargs)
            self._goal_pos_set = self._object_positions(self.last_observation, "{")
            return obs

        def _is_episode_end(self, observation: Any) -> Any:
            if self._goal_pos_set is None:
                return self.StepStatus.RUNNING
            return super()._is_episode_end(observation)

        def get_lvl_gen(self) -> Any:
            level = self._level_rng.choice(self._levels).split("\n")
            level_map, info = self.get_env_map(level)
            flags = [*self._flags, "noteleport", "premapped"]
            gen = LevelGenerator(map=level_map, lit=True, flags=flags, solidfill=" ")
            for b in info["boulders"]:
                gen.add_boulder(b)
            for f in info["fountains"]:
                gen.add_fountain(f)
            gen.set_start_pos(info["player"])
            return gen

    return SeededBoxoban


def _balrog_kwargs(max_steps: int, autopickup: bool = False) -> dict[str, Any]:
    return {
        "character": "@",
        "max_episode_steps": max_steps,
        "penalty_step": -0.01,
        "penalty_time": 0.0,
        "penalty_mode": "constant",
        "savedir": None,
        "save_ttyrec_every": 0,
        "autopickup": autopickup,
        "observation_keys": MINIHACK_OBSERVATION_KEYS,
    }


def _instruction(task: str, action_set: ActionSet) -> str:
    ins = nle_text_data()["instructions"]
    goals = ins["minihack_goals"]
    low = task.lower()
    key = next((k for k in ("corridor", "quest", "boxoban") if k in low), "default")
    return str(ins["minihack"]).format(actions=action_set.describe(), goal=goals[key])


class MiniHackTextEnv(NLETextEnv):
    """One MiniHack task as a :class:`~automem_sdk.env.TextEnv`.

    ``info`` carries ``won`` and ``progression`` (1.0 once won), plus position
    ``x``/``y``, ``around_kinds`` (movement classes of the 3x3 cells centred on the player), ``changed``,
    ``invalid_action`` and the rest of the shared fields.

    Args:
        task: a short name from :data:`MINIHACK_TASKS` (or the full gymnasium id).
        levels_dir: the boxoban-levels folder (Boxoban tasks only; see
            :func:`default_levels_dir`).
        max_steps: agent steps per episode (BALROG: 100).
        obs: observation style (:data:`~automem_sdk.benchmarks.envs.nle_text.NLE_OBS_STYLES`):
            ``default``, ``balrog`` (BALROG's full-screen text) or ``automem``
            (autopickup on, as AutoMem's configs; BALROG's is off).
    """

    def __init__(
        self,
        task: str,
        *,
        levels_dir: str | os.PathLike[str] | None = None,
        max_steps: int = MINIHACK_MAX_STEPS,
        obs: str = "default",
    ) -> None:
        import gymnasium as gym

        _import_minihack()

        short = _short(task)
        kwargs = _balrog_kwargs(int(max_steps), autopickup=obs == "automem")
        if short in _BOXOBAN:
            cls = seeded_boxoban_class()
            env = cls(
                levels_path=str(boxoban_level_path(short, levels_dir)),
                reward_shaping_coefficient=0.1,
                **{**kwargs, "penalty_time": -0.001},
            )
        else:
            env = gym.make(minihack_env_id(short), disable_env_checker=True, **kwargs).unwrapped
        data = nle_text_data()["minihack"]
        names = [n for n in action_names_of(env.actions) if n in data["descriptions"]]
        default = data["default_action"] if data["default_action"] in names else names[0]
        action_set = ActionSet(env.actions, names, default, data["descriptions"])
        super().__init__(env, action_set, max_steps=max_steps, game="minihack", obs=obs)
        self.name = f"minihack/{short}"
        self.task = short
        self.instruction = _instruction(short, action_set)
        self._won = False
        self._success = int(getattr(env.StepStatus, "TASK_SUCCESSFUL", 2))

    def _seed_game(self, seed: int) -> None:
        core, disp, lgen = game_seeds(seed)
        self._env.seed(core, disp, reseed=False, lgen=lgen)
        if hasattr(self._env, "seed_levels"):
            self._env.seed_levels(seed)
        self._won = False

    def _progress(self, stats: list[int], raw_info: dict[str, Any]) -> dict[str, Any]:
        if raw_info.get("end_status") == self._success:
            self._won = True
        self._progression = 1.0 if self._won else 0.0
        return {
            "won": self._won,
            "progression": self._progression,
            "achievements": ["won"] if self._won else [],
        }


def make_minihack(
    task: str,
    *,
    levels_dir: str | os.PathLike[str] | None = None,
    max_steps: int = MINIHACK_MAX_STEPS,
    obs: str = "default",
) -> MiniHackTextEnv:
    """One of BALROG's MiniHack tasks as a seedable text environment.

    Args:
        task: a short name from :data:`MINIHACK_TASKS` (e.g. ``"MazeWalk-15x15"``).
        levels_dir: the boxoban-levels folder for the Boxoban tasks (default:
            :func:`default_levels_dir`); never downloaded.
        max_steps: agent steps per episode (BALROG: 100).
        obs: observation style (``default``, ``balrog`` or ``automem``).

    Returns:
        The text environment.

    Raises:
        GameSetupError: unknown task, or Boxoban level files not found.
    """
    return MiniHackTextEnv(task, levels_dir=levels_dir, max_steps=max_steps, obs=obs)
