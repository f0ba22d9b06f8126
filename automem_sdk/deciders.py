"""Who writes a routine turn: the :class:`Decider` protocol and its adapters.

A decider turns a :class:`RoutineRequest` (the chat context and structured state of one
LOG, PLAN or act turn) into a :class:`~automem_sdk.llm.base.Completion`. LLM clients,
plain ``fn(observation, memory_context) -> action`` policies and scripted players all
become deciders; :class:`ExternalPolicy` stands for a policy that acts outside the agent
(observe mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, LLMClient, Message
from automem_sdk.llm.options import supports_option

__all__ = [
    "CallablePolicy",
    "Decider",
    "ExternalPolicy",
    "LLMDecider",
    "RoutineRequest",
    "as_decider",
]


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


class LLMDecider:
    """Adapts any :class:`~automem_sdk.llm.base.LLMClient` to the :class:`Decider` protocol.

    Args:
        client: the model.
        constrain_ops: pass each turn's ``allowed_ops`` as ``grammar=`` so the model can
            only write ops the agent accepts there (clients with a restricted op grammar:
            :class:`~automem_sdk.llm.local.LocalTransformersClient`,
            :class:`~automem_sdk.llm.llamacpp_server.LlamaServerClient`).
        **chat_opts: passed to every ``chat`` call.

    Raises:
        LLMError: ``constrain_ops=True`` for a client that takes no ``grammar`` option.
    """

    def __init__(self, client: LLMClient, *, constrain_ops: bool = False, **chat_opts: Any) -> None:
        if constrain_ops and not supports_option(client, "grammar"):
            raise LLMError(
                f"constrain_ops=True needs a client with an op grammar (grammar=); "
                f"{type(client).__name__} ({client.model}) has none"
            )
        self.client = client
        self.constrain_ops = constrain_ops
        self.chat_opts = chat_opts
        self.name = client.model

    def decide(self, request: RoutineRequest) -> Completion:
        """Send the routine's messages to the model."""
        opts = dict(self.chat_opts)
        if self.constrain_ops and request.allowed_ops:
            opts["grammar"] = list(request.allowed_ops)
        return self.client.chat(request.messages, **opts)


class CallablePolicy:
    """Adapts ``fn(observation, memory_context) -> str`` to the :class:`Decider` protocol.

    The function returns an action name (or op tokens); it is your existing policy.
    """

    def __init__(self, fn: Callable[[str, str], str], name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "policy"))

    def decide(self, request: RoutineRequest) -> Completion:
        """Call the policy with the observation and memory context."""
        return Completion(
            text=self.fn(request.observation, request.memory_context), model=self.name
        )


class ExternalPolicy:
    """The task policy of an observe-mode agent whose actions are chosen elsewhere.

    It names that policy in trace headers; asking it to decide is a bug (call
    :meth:`~automem_sdk.agent.MemoryAgent.observe` with the action it took instead).
    """

    def __init__(self, name: str = "external") -> None:
        self.name = name

    def decide(self, request: RoutineRequest) -> Completion:
        """Raise: this policy acts outside the agent.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError(
            f"the external policy {self.name!r} acts outside the agent: "
            "call MemoryAgent.observe(observation, action) instead of step()"
        )


def as_decider(obj: Decider | LLMClient | Callable[[str, str], str]) -> Decider:
    """Turn a Decider, an LLM client or a plain callable into a Decider.

    Raises:
        TypeError: ``obj`` is none of those.
    """
    if isinstance(obj, Decider):
        return obj
    if isinstance(obj, LLMClient):
        return LLMDecider(obj)
    if callable(obj):
        return CallablePolicy(obj)
    raise TypeError(
        f"expected a Decider, an LLM client or a callable policy, got {type(obj).__name__}"
    )
