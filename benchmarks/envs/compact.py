"""Shorter NLE text observations for small models: :class:`CompactObservation`."""

from __future__ import annotations

import dataclasses
from typing import Any

from automem_sdk.env import StepResult, TextEnv

__all__ = ["CompactObservation"]

_DROP_SECTIONS = ("status:", "inventory:")


class CompactObservation:
    """A :class:`~automem_sdk.env.TextEnv` wrapper for NLE text observations.

    Drops the ``status:`` and ``inventory:`` sections (keeps the message, language
    observation and map), so prompts fit a 135M-parameter model, and remembers the
    cells the player stood on (``visited``, from ``info["x"]`` / ``info["y"]``) so a
    study can score the memory's map against them.

    Args:
        env: a MiniHack/NetHack text env.
    """

    def __init__(self, env: TextEnv) -> None:
        self.env = env
        self.name: str = env.name
        self.actions: list[str] = env.actions
        self.instruction: str = env.instruction
        self.visited: set[tuple[int, int]] = set()

    @staticmethod
    def compact(observation: str) -> str:
        """The observation without its status and inventory sections."""
        blocks = observation.split("\n\n")
        return "\n\n".join(b for b in blocks if not b.lstrip().startswith(_DROP_SECTIONS))

    def _see(self, info: dict[str, Any]) -> None:
        if "x" in info and "y" in info:
            self.visited.add((int(info["x"]), int(info["y"])))

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Reset the wrapped env."""
        obs, info = self.env.reset(seed=seed)
        self.visited = set()
        self._see(info)
        return self.compact(obs), info

    def step(self, action: str) -> StepResult:
        """Step the wrapped env."""
        res = self.env.step(action)
        self._see(res.info)
        return dataclasses.replace(res, observation=self.compact(res.observation))

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()
