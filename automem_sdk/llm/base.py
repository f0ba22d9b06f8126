"""The one small protocol every LLM client implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

__all__ = ["Completion", "LLMClient", "Message", "Usage", "as_messages"]

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    """One chat message."""

    role: Role
    content: str


class Usage(BaseModel):
    """Token accounting for one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class Completion(BaseModel):
    """A model reply with usage and latency."""

    text: str
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    finish_reason: str | None = None
    attempts: int = 1
    cached: bool = False


@runtime_checkable
class LLMClient(Protocol):
    """Anything that turns chat messages into a :class:`Completion`.

    Implementations: :class:`~automem_sdk.llm.OpenAICompatClient` (OpenAI, vLLM, llama.cpp,
    Ollama), :class:`~automem_sdk.llm.AnthropicClient`, :class:`~automem_sdk.llm.ScriptedClient`
    and the local in-process provider.
    """

    model: str

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Return the model's reply to ``messages``.

        Raises:
            LLMError: the request failed after all retries.
            LLMTimeoutError: the request timed out after all retries.
        """
        ...


def as_messages(messages: Sequence[Message | dict[str, Any]]) -> list[Message]:
    """Normalise dicts and :class:`Message` objects into a list of messages."""
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in messages]
