"""The state one :class:`~automem_sdk.agent.MemoryAgent` shares between its parts.

The prompt builder, the routine runner, the mode policies and the trace recorder all
read and update one :class:`AgentContext`: the store and scaffold, the episode's
instruction and actions, the step counter, token usage, op count, and the notes
(feedback) waiting for the model's next turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automem_sdk.llm.base import Usage
from automem_sdk.ops import OpResult, error_result

if TYPE_CHECKING:
    from automem_sdk.scaffold import Scaffold
    from automem_sdk.store import MemoryStore

__all__ = ["AgentContext", "clean_text"]


def clean_text(text: str) -> str:
    """Replace what UTF-8 cannot carry (lone surrogates) so text can be stored and logged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass
class AgentContext:
    """Shared, mutable state of one agent (one episode at a time).

    Attributes:
        store: where memory lives.
        scaffold: the memory scaffolding (prompts, files, ops, limits, messages).
        memory_on: ``False`` for the no-memory baseline.
        instruction: the task description.
        actions: the allowed task actions (``None``: any string).
        step_index: the current env step.
        usage: tokens used this episode.
        n_ops: memory ops run this episode.
        feedback: notes for the model's next turn.
        last_action: the action taken at the previous step (``""`` before the first).
    """

    store: MemoryStore
    scaffold: Scaffold
    memory_on: bool = True
    instruction: str = ""
    actions: list[str] | None = None
    step_index: int = 0
    usage: Usage = field(default_factory=Usage)
    n_ops: int = 0
    feedback: list[str] = field(default_factory=list)
    last_action: str = ""

    def text(self, name: str, **values: Any) -> str:
        """One of the agent's texts (``Scaffold.message``)."""
        return self.scaffold.message(name, **values)

    def error(self, op: str, message: str, **values: Any) -> OpResult:
        """An ``ok=False`` result whose message is the agent text ``message``."""
        return error_result(op, self.text(message, **values))

    def actions_text(self) -> str:
        """The allowed actions as prompt text."""
        return ", ".join(self.actions) if self.actions else self.text("any_action")

    def take_feedback(self) -> str:
        """The pending notes as prompt text; clears them."""
        text = "\n".join(self.text("note", text=f) for f in self.feedback)
        self.feedback = []
        return text

    def resolve_action(self, name: str) -> str | None:
        """``name`` as one of the allowed actions (case-insensitive), or ``None``."""
        if self.actions is None:
            return name
        if name in self.actions:
            return name
        lowered = {a.lower(): a for a in self.actions}
        return lowered.get(name.strip().lower())

    def add_usage(self, usage: Usage) -> None:
        """Count a completion's tokens."""
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens + usage.completion_tokens,
        )

    def new_episode(self) -> None:
        """Reset the per-episode counters and notes."""
        self.step_index = 0
        self.usage = Usage()
        self.n_ops = 0
        self.feedback = []
        self.last_action = ""
