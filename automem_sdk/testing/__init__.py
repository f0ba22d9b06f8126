"""Everything for keyless tests and demos, in one namespace.

- :func:`local_s3`: moto's S3 server on 127.0.0.1 (extra ``[dev]``: ``moto[server]``,
  ``s3fs``).
- :class:`FakeOpenAIAPI`, :class:`FakeAnthropicAPI`: scripted model servers as HTTP
  mock-transport handlers that the real client libraries talk to, with
  :func:`openai_tool_call` and :func:`memory_call` to script tool calls.
- :class:`FakeToolChatModel`: a scripted LangChain chat model that accepts tools (extra
  ``[langchain]``).
- :class:`ScriptedClient`: an :class:`~automem_sdk.llm.base.LLMClient` that replays
  fixed replies (``make_client("scripted:...")``).

Each name is imported on first use, so importing this module needs no extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem_sdk.lazy import lazy_exports

if TYPE_CHECKING:
    from automem_sdk.llm.scripted import ScriptedClient

    from .http import FakeAnthropicAPI, FakeOpenAIAPI, memory_call, openai_tool_call
    from .langchain import FakeToolChatModel
    from .s3 import local_s3

__all__ = [
    "FakeAnthropicAPI",
    "FakeOpenAIAPI",
    "FakeToolChatModel",
    "ScriptedClient",
    "local_s3",
    "memory_call",
    "openai_tool_call",
]

_LAZY: dict[str, str] = {
    "FakeAnthropicAPI": "automem_sdk.testing.http",
    "FakeOpenAIAPI": "automem_sdk.testing.http",
    "memory_call": "automem_sdk.testing.http",
    "openai_tool_call": "automem_sdk.testing.http",
    "FakeToolChatModel": "automem_sdk.testing.langchain",
    "ScriptedClient": "automem_sdk.llm.scripted",
    "local_s3": "automem_sdk.testing.s3",
}
_EXTRAS: dict[str, str] = {"automem_sdk.testing.langchain": "langchain"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, extras=_EXTRAS)
