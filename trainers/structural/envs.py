"""Resolve env names and decider specs into objects (the run's string shortcuts).

``toy/maze-N`` is the built-in :class:`~automem_sdk.trainers.structural.toy.ToyMazeEnv`;
any other name goes to the benchmarks registry (extra ``[games]``). The decider
``"explorer"`` is the env's keyless explorer; anything else is an LLM client spec.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from automem_sdk.trainers.structural.errors import StructuralError

from automem_sdk.env import Decider, TextEnv
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import LLMClient
from automem_sdk.scaffold import Scaffold, load_scaffold

__all__ = ["DEMO_SCAFFOLDS", "load_start_scaffold", "make_decider", "make_env"]

#: Scaffolds shipped with the trainer for demos and tests (deliberately poor ones).
DEMO_SCAFFOLDS: tuple[str, ...] = ("cramped-map", "cramped-minihack")

_TOY = re.compile(r"^toy/maze-(\d+)$")


def make_env(name: str, max_steps: int | None = None) -> TextEnv:
    """Build the env called ``name``.

    Args:
        name: ``toy/maze-N`` or a benchmarks registry name (``minihack/MazeWalk-9x9``,
            ``nethack``, ``crafter``).
        max_steps: the env's step limit (None = its default).

    Raises:
        StructuralError: unknown name, or the games extra is not installed.
    """
    m = _TOY.match(name)
    if m:
        from .toy import ToyMazeEnv

        return ToyMazeEnv(int(m.group(1)), max_steps=max_steps or 80)
    registry = _registry(name)
    try:
        env: TextEnv = registry.make_env(name, max_steps=max_steps)
    except KeyError as exc:
        raise StructuralError(f"cannot make env {name!r}: {exc}") from exc
    return env


def _registry(name: str) -> Any:
    try:
        return importlib.import_module("automem_sdk.benchmarks.registry")
    except ModuleNotFoundError as exc:
        raise StructuralError(
            f"env {name!r} needs the benchmarks package and the games extra "
            f"(pip install 'automem-sdk[games]'): {exc}"
        ) from exc


def make_decider(spec: str, env_name: str, seed: int = 0) -> Decider | LLMClient:
    """Build a fresh decider for one episode.

    Args:
        spec: ``"explorer"`` (the env's keyless explorer) or an LLM client spec.
        env_name: the env the decider will play.
        seed: tie-breaking seed for keyless explorers (decisions stay deterministic).

    Raises:
        StructuralError: no keyless explorer exists for ``env_name``.
    """
    if spec != "explorer":
        from automem_sdk.llm import make_client

        return make_client(spec)
    if _TOY.match(env_name):
        from .toy import MapExplorer

        return MapExplorer()
    registry = _registry(env_name)
    try:
        decider: Decider = registry.make_explorer(env_name, memory=True, seed=seed)
    except (AutomemError, AttributeError, KeyError) as exc:
        raise StructuralError(f"no keyless explorer for env {env_name!r}: {exc}") from exc
    return decider


def load_start_scaffold(spec: str) -> Scaffold:
    """Resolve a starting scaffold: a demo name (:data:`DEMO_SCAFFOLDS`), a built-in name
    or a YAML/JSON path.

    Raises:
        ScaffoldError: unknown or invalid.
    """
    if spec in DEMO_SCAFFOLDS:
        from importlib import resources

        text = resources.files("automem_sdk.trainers.structural").joinpath(f"{spec}.yaml")
        return Scaffold.from_yaml(text.read_text(encoding="utf-8"))
    return load_scaffold(spec)
