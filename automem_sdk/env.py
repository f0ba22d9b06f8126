"""What the agent loop needs from an environment.

:class:`Decider` and :class:`RoutineRequest` (what a decision maker implements and
receives) live in :mod:`automem_sdk.deciders`; they are re-exported here for code that
imports them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from automem_sdk.deciders import Decider, RoutineRequest

__all__ = ["Decider", "RoutineRequest", "StepResult", "TextEnv"]


@dataclass
class StepResult:
    """What :meth:`TextEnv.step` returns."""

    observation: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TextEnv(Protocol):
    """A text environment for LLM agents (gymnasium-like, string actions).

    ``info`` may carry ``progression`` (0..1 so far), ``changed`` (did the action change
    the state), ``invalid_action`` (the action was replaced by the default) and any
    structured state a scripted policy can use.
    """

    name: str
    actions: list[str]
    instruction: str

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; return the first observation and info."""
        ...

    def step(self, action: str) -> StepResult:
        """Apply a named action."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...
