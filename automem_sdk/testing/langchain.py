"""A scripted LangChain chat model that accepts tools, for keyless demos and tests.

LangChain's fake chat models raise on ``bind_tools``, which every agent calls; this one
returns itself, so ``create_agent`` and tool-calling chains run offline. It also records
every message list it was sent, so a test can see what the model saw (e.g. the injected
memory).

Requires the ``[langchain]`` extra (``langchain-core``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

__all__ = ["FakeToolChatModel"]

Reply = AIMessage | str
Responder = Callable[[list[BaseMessage]], Reply]


class FakeToolChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` whose ``bind_tools`` returns the model itself.

    Args:
        messages: the replies, in order (an iterator of ``AIMessage`` or ``str``).
        responder: instead of ``messages``, a function of the prompt messages.

    Attributes:
        seen: every list of prompt messages received, in order.
        bound_tools: the names of the tools last bound.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> m = FakeToolChatModel.scripted([AIMessage(content="hi")])
        >>> m.bind_tools([]).invoke("hello").content
        'hi'
    """

    messages: Any = Field(default_factory=lambda: iter(()))
    responder: Responder | None = None
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)

    @classmethod
    def scripted(cls, replies: Iterable[Reply]) -> FakeToolChatModel:
        """A model that gives ``replies`` in order (it raises once they run out)."""
        return cls(messages=iter(list(replies)))

    @classmethod
    def from_function(cls, responder: Responder) -> FakeToolChatModel:
        """A model whose reply is ``responder(messages)``."""
        return cls(responder=responder)

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        """Record the tool names and return the model itself (no real binding)."""
        self.bound_tools = [
            str(getattr(t, "name", None) or (t.get("name") if isinstance(t, dict) else t))
            for t in tools
        ]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        if self.responder is not None:
            reply: Reply = self.responder(list(messages))
        else:
            reply = next(self.messages)
        message = AIMessage(content=reply) if isinstance(reply, str) else reply
        return ChatResult(generations=[ChatGeneration(message=message)])
