"""What the agent loop needs from an environment, and from a non-LLM decision maker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from automem_sdk.llm.base import Completion, Message

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


@dataclass
class RoutineRequest:
    """Everything a decision maker may look at for one routine turn.

    ``messages`` is the exact chat context an LLM would see; ``info`` and
    ``last_results`` give structured access for scripted policies; ``allowed_ops`` the
    op token names the agent acts on in this turn (e.g. no ``ACTION`` in LOG), for a
    decider that constrains its output to them.
    """

    routine: Literal["log", "plan", "act"]
    step: int
    turn: int
    messages: list[Message]
    observation: str
    actions: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    last_results: list[Any] = field(default_factory=list)
    memory_context: str = ""
    allowed_ops: list[str] = field(default_factory=list)


@runtime_checkable
class Decider(Protocol):
    """Produces the text of one routine turn (op tokens), like an LLM would."""

    name: str

    def decide(self, request: RoutineRequest) -> Completion:
        """Return the turn's output text (and usage, if any)."""
        ...
