"""Adapters: automem memory inside agents you already have.

- LangChain (extra ``[langchain]``): :func:`memory_tools` (one ``StructuredTool`` per
  op), :func:`with_memory` (wrap any chat model or agent Runnable: memory in front of
  the input, the LOG routine after each step), :class:`MemoryMiddleware` (an
  ``AgentMiddleware`` for ``create_agent``; needs ``langchain`` v1),
  :class:`LangChainLLM` (a chat model as an automem LLM client).
- LangGraph (extra ``[langchain]``): :class:`AutomemStore`, a ``BaseStore`` over a
  memory store for ``create_agent(store=...)``, ``runtime.store`` and LangMem's tools.
- Anthropic (extra ``[anthropic]``): :class:`AutomemMemoryTool`, a backend for the
  Messages API memory tool (``memory_20250818``) on any store, for
  ``client.beta.messages.tool_runner``; :func:`automem_op_tools` (automem's ops as
  runnable tools).
- OpenAI-style tool calling (no extra): :class:`ToolDispatcher` runs the tool calls of
  a chat-completions response (OpenAI, vLLM, llama.cpp, Ollama, ...) and answers with
  tool messages; :func:`run_tool_loop`.
- Keyless runs: the scripted model servers and chat model are in
  :mod:`automem_sdk.testing`.

Every name is imported on first use, so ``import automem_sdk.adapters`` pulls in
neither LangChain nor Anthropic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem_sdk.errors import MissingExtraError
from automem_sdk.lazy import lazy_exports

if TYPE_CHECKING:
    from .anthropic_memory import (
        AsyncAutomemMemoryTool,
        AutomemMemoryTool,
        AutomemOpTool,
        automem_op_tools,
    )
    from .context import memory_context
    from .langchain_middleware import MemoryMiddleware
    from .langchain_tools import memory_tools
    from .langchain_wrapper import LangChainLLM, MemoryRunnable, with_memory
    from .langgraph_store import AutomemStore
    from .openai_tools import (
        DispatchedCall,
        ToolDispatcher,
        run_tool_loop,
        tool_calls_of,
    )

_LAZY: dict[str, str] = {
    "AsyncAutomemMemoryTool": "automem_sdk.adapters.anthropic_memory",
    "AutomemMemoryTool": "automem_sdk.adapters.anthropic_memory",
    "AutomemOpTool": "automem_sdk.adapters.anthropic_memory",
    "automem_op_tools": "automem_sdk.adapters.anthropic_memory",
    "memory_context": "automem_sdk.adapters.context",
    "MemoryMiddleware": "automem_sdk.adapters.langchain_middleware",
    "memory_tools": "automem_sdk.adapters.langchain_tools",
    "LangChainLLM": "automem_sdk.adapters.langchain_wrapper",
    "MemoryRunnable": "automem_sdk.adapters.langchain_wrapper",
    "with_memory": "automem_sdk.adapters.langchain_wrapper",
    "AutomemStore": "automem_sdk.adapters.langgraph_store",
    "DispatchedCall": "automem_sdk.adapters.openai_tools",
    "ToolDispatcher": "automem_sdk.adapters.openai_tools",
    "run_tool_loop": "automem_sdk.adapters.openai_tools",
    "tool_calls_of": "automem_sdk.adapters.openai_tools",
}

#: The extra that provides each adapter module's dependency.
EXTRAS: dict[str, str] = {
    "automem_sdk.adapters.anthropic_memory": "anthropic",
    "automem_sdk.adapters.langchain_middleware": "langchain",
    "automem_sdk.adapters.langchain_tools": "langchain",
    "automem_sdk.adapters.langchain_wrapper": "langchain",
    "automem_sdk.adapters.langgraph_store": "langchain",
}

__all__ = [
    "EXTRAS",
    "AsyncAutomemMemoryTool",
    "AutomemMemoryTool",
    "AutomemOpTool",
    "AutomemStore",
    "DispatchedCall",
    "LangChainLLM",
    "MemoryMiddleware",
    "MemoryRunnable",
    "MissingExtraError",
    "ToolDispatcher",
    "automem_op_tools",
    "memory_context",
    "memory_tools",
    "run_tool_loop",
    "tool_calls_of",
    "with_memory",
]


__getattr__, __dir__ = lazy_exports(
    __name__,
    _LAZY,
    extras=EXTRAS,
    hints={"langchain": "pip install 'langchain>=1.0' (create_agent middleware)"},
)
