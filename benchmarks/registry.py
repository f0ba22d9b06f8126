"""Env names -> text environments, and agent names -> deciders.

The one registry of environments and keyless players. Env names: ``crafter``,
``nethack``, ``minihack/<Task>`` (BALROG's eight MiniHack tasks; these need the
``[games]`` extra), and the toy envs ``toy/maze-N`` and ``toy/keydoor-N`` (no extra).
Groups: ``crafter``, ``minihack`` (all eight), ``nethack``, ``all``.

Keyless players per env: the memory explorer (:func:`make_explorer`), its no-memory twin
with a BALROG-style history window (:func:`make_history_explorer`), and the task policy
of two-model evaluation that plans from what memory returned (:func:`make_task_policy`).
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

from automem_sdk.env import Decider, TextEnv
from automem_sdk.errors import AutomemError

__all__ = [
    "ENV_GROUPS",
    "KEYLESS_AGENTS",
    "OBS_STYLES",
    "OFFLINE_BENCHMARKS",
    "env_names",
    "make_env",
    "make_explorer",
    "make_history_explorer",
    "make_task_policy",
]

#: Keyless agents of ``automem bench`` (``explorer-hist<N>`` for any window N also works;
#: ``explorer-nomem`` is the deprecated name of ``explorer-stateless``).
KEYLESS_AGENTS: tuple[str, ...] = (
    "random",
    "explorer",
    "explorer-hist16",
    "explorer-stateless",
    "explorer-trunc",
)


def _minihack_tasks() -> tuple[str, ...]:
    from automem_sdk.benchmarks.envs.minihack import MINIHACK_TASKS

    tasks: tuple[str, ...] = MINIHACK_TASKS
    return tasks


def env_names(group: str) -> list[str]:
    """Expand a group (``crafter``, ``minihack``, ``nethack``, ``all``) or a single name."""
    if group == "minihack":
        return [f"minihack/{t}" for t in _minihack_tasks()]
    if group == "all":
        return ["crafter", *env_names("minihack"), "nethack"]
    return [group]


ENV_GROUPS: tuple[str, ...] = ("crafter", "minihack", "nethack", "all")
#: Benchmarks that are not games, run by ``automem bench --env NAME`` through their own
#: runner (name -> module): the keyless conversational memory benchmark.
OFFLINE_BENCHMARKS: dict[str, str] = {"conversation": "automem_sdk.benchmarks.conversation"}
#: Observation styles every env takes (``make_env(..., obs=...)``): ``default`` (ours),
#: ``balrog`` (BALROG's text: NetHack/MiniHack full screen and cursor) and ``automem``
#: (ours with MiniHack's autopickup on, as AutoMem's configs).
OBS_STYLES: tuple[str, ...] = ("default", "balrog", "automem")
_TOY = re.compile(r"^toy/(maze|keydoor)-(\d+)$")
_ENV_HINT = "crafter, nethack, minihack/<Task>, toy/maze-N or toy/keydoor-N"


def make_env(
    name: str,
    *,
    max_steps: int | None = None,
    levels_dir: str | os.PathLike[str] | None = None,
    obs: str = "default",
) -> TextEnv:
    """Build the text env called ``name``.

    Args:
        name: ``crafter``, ``nethack`` or ``minihack/<Task>``.
        max_steps: the step cap (None: the env's, BALROG's).
        levels_dir: Boxoban level folder (default: the packaged subsets).
        obs: observation style, one of :data:`OBS_STYLES`.

    Raises:
        KeyError: unknown env name.
        ValueError: unknown observation style.
    """
    if obs not in OBS_STYLES:
        raise ValueError(f"unknown observation style {obs!r}; choose from {', '.join(OBS_STYLES)}")
    toy = _TOY.match(name)
    if toy:
        from .envs.toy import KeyDoorEnv, ToyMazeEnv

        size = int(toy.group(2))
        if toy.group(1) == "maze":
            return ToyMazeEnv(size, max_steps=max_steps or 80)
        return KeyDoorEnv(size, max_steps or 20)
    family, _, task = name.partition("/")
    kw: dict[str, Any] = {} if max_steps is None else {"max_steps": max_steps}
    kw["obs"] = obs
    if family == "minihack" and task:
        from automem_sdk.benchmarks.envs.minihack import make_minihack

        minihack: TextEnv = make_minihack(task, levels_dir=levels_dir, **kw)
        return minihack
    if name == "nethack":
        from automem_sdk.benchmarks.envs.nethack import make_nethack

        nethack: TextEnv = make_nethack(**kw)
        return nethack
    if name == "crafter":
        from automem_sdk.benchmarks.envs.crafter_text import make_crafter

        env: TextEnv = make_crafter(**kw)
        return env
    raise KeyError(f"unknown env {name!r}; use {_ENV_HINT}")


def _check_env_name(name: str) -> None:
    family, _, task = name.partition("/")
    if name in ("crafter", "nethack") or (family == "minihack" and task):
        return
    raise AutomemError(
        f"no keyless player for env {name!r}; use crafter, nethack, minihack/<Task> "
        "or toy/maze-N (toy/keydoor-N: make_explorer only)"
    )


def make_explorer(env_name: str, *, memory: bool = True, seed: int = 0) -> Decider:
    """The keyless explorer for ``env_name``.

    Raises:
        AutomemError: no explorer exists for that env.
    """
    toy = _TOY.match(env_name)
    if toy:
        from .players.toy import KeyDoorExplorer, MapExplorer

        return MapExplorer() if toy.group(1) == "maze" else KeyDoorExplorer(seed)
    _check_env_name(env_name)
    if env_name == "crafter":
        try:
            mod = importlib.import_module("automem_sdk.benchmarks.players.crafter_memory")
        except ModuleNotFoundError as exc:
            raise AutomemError(f"no keyless explorer for crafter in this build: {exc}") from exc
        crafter: Decider = mod.CrafterExplorer(memory=memory, seed=seed)
        return crafter
    from automem_sdk.benchmarks.players.nle_explorer import NLEExplorer

    nle: Decider = NLEExplorer(memory=memory, seed=seed)
    return nle


def make_history_explorer(env_name: str, *, window: int = 16, seed: int = 0) -> Decider:
    """The explorer's no-memory twin that decides from the last ``window`` steps.

    Run it with the agent's memory off; ``window=16`` is BALROG's history length.

    Raises:
        AutomemError: no explorer exists for that env.
        ValueError: a negative window.
    """
    _check_env_name(env_name)
    from automem_sdk.benchmarks.players.history import HistoryExplorer

    hist: Decider = HistoryExplorer(env_name, window=window, seed=seed)
    return hist


def make_task_policy(env_name: str, *, seed: int = 0) -> Decider:
    """The scripted task policy for two-model evaluation of ``env_name``.

    It takes everything it knows about the past from the memory context the memory
    model's routine returned that step (see
    :mod:`automem_sdk.benchmarks.players.task_policy`), so a better memory model
    gives a better score.

    Raises:
        AutomemError: no task policy exists for that env.
    """
    _check_env_name(env_name)
    from automem_sdk.benchmarks.players.task_policy import CrafterMemoryPlanner, NLEMapPlanner

    policy: Decider = (
        CrafterMemoryPlanner(seed=seed) if env_name == "crafter" else NLEMapPlanner(seed=seed)
    )
    return policy
