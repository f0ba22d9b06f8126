"""Env names -> text environments, and agent names -> deciders.

Env names: ``crafter``, ``nethack``, ``minihack/<Task>`` (BALROG's eight MiniHack tasks).
Groups: ``crafter``, ``minihack`` (all eight), ``nethack``, ``all``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from automem_sdk.env import Decider, TextEnv
from automem_sdk.errors import AutomemError

__all__ = ["ENV_GROUPS", "KEYLESS_AGENTS", "env_names", "make_env", "make_explorer"]

KEYLESS_AGENTS: tuple[str, ...] = ("random", "explorer", "explorer-nomem", "explorer-trunc")


def _minihack_tasks() -> tuple[str, ...]:
    from automem_sdk.benchmarks.minihack import MINIHACK_TASKS

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


def make_env(
    name: str, *, max_steps: int | None = None, levels_dir: str | os.PathLike[str] | None = None
) -> TextEnv:
    """Build the text env called ``name``.

    Raises:
        KeyError: unknown env name.
    """
    family, _, task = name.partition("/")
    kw: dict[str, Any] = {} if max_steps is None else {"max_steps": max_steps}
    if family == "minihack" and task:
        from automem_sdk.benchmarks.minihack import make_minihack

        minihack: TextEnv = make_minihack(task, levels_dir=levels_dir, **kw)
        return minihack
    if name == "nethack":
        from automem_sdk.benchmarks.nethack import make_nethack

        nethack: TextEnv = make_nethack(**kw)
        return nethack
    if name == "crafter":
        from automem_sdk.benchmarks.crafter_text import make_crafter

        env: TextEnv = make_crafter(**kw)
        return env
    raise KeyError(f"unknown env {name!r}; use crafter, nethack or minihack/<Task>")


def make_explorer(env_name: str, *, memory: bool = True, seed: int = 0) -> Decider:
    """The keyless explorer for ``env_name``.

    Raises:
        AutomemError: no explorer exists for that env.
    """
    if env_name == "crafter":
        try:
            mod = importlib.import_module("automem_sdk.benchmarks.explorers.crafter_memory")
        except ModuleNotFoundError as exc:
            raise AutomemError(f"no keyless explorer for crafter in this build: {exc}") from exc
        crafter: Decider = mod.CrafterExplorer(memory=memory, seed=seed)
        return crafter
    from automem_sdk.benchmarks.explorers.nle_explorer import NLEExplorer

    nle: Decider = NLEExplorer(memory=memory, seed=seed)
    return nle
