"""LangChain v1: memory as an ``AgentMiddleware`` for ``create_agent``.

>>> from langchain.agents import create_agent                      # doctest: +SKIP
>>> agent = create_agent(model, tools=my_tools,                     # doctest: +SKIP
...                      middleware=[MemoryMiddleware("file://./memory", llm=memory_model)])

The middleware

- registers the memory tools (``memory_read``, ``memory_append``, ...) with the agent;
- before every model call, adds the relevant memory to the system message;
- routes every ``memory_*`` tool call to the store itself (bad arguments and unknown
  memory tools come back as error tool messages; the agent goes on);
- after the agent finishes a request, runs automem's LOG routine on the exchange when a
  memory model is given.

Requires the ``langchain`` package (v1), which brings ``create_agent``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage, ToolMessage
from langchain_core.runnables import Runnable

from automem_sdk.agent import MemoryAgent
from automem_sdk.llm.base import Completion
from automem_sdk.ops import OpResult
from automem_sdk.scaffold import Scaffold, load_scaffold

from .context import memory_context, prompt
from .langchain_tools import memory_tools, run_memory_tool
from .langchain_wrapper import LangChainLLM, request_text, response_text
from .openai_tools import is_memory_tool

if TYPE_CHECKING:
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.runtime import Runtime
    from langgraph.types import Command

    from automem_sdk.env import Decider
    from automem_sdk.llm.base import LLMClient
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = ["MemoryMiddleware"]


class _NoPolicy:
    name = "create_agent"

    def decide(self, request: Any) -> Completion:
        return Completion(text="", model=self.name)


def _with_context(system: SystemMessage | None, context: str) -> SystemMessage:
    if system is None:
        return SystemMessage(content=context)
    content = system.content
    if isinstance(content, str):
        return SystemMessage(content=f"{content}\n\n{context}" if content else context)
    return SystemMessage(content=[*content, {"type": "text", "text": context}])


class MemoryMiddleware(AgentMiddleware):
    """Memory for a ``create_agent`` agent (see the module docstring).

    Args:
        memory: a :class:`MemoryStore` or an fsspec URL.
        llm: the memory model for the LOG routine after each request (an automem LLM
            client, a LangChain chat model or a Decider); ``None`` leaves memory
            writing to the agent's own memory tool calls.
        scaffold: the memory scaffolding (built-in name, path or object).
        storage_options: fsspec options when ``memory`` is a URL.
        expose_tools: register the memory tools with the agent.
        inject: add the memory context to the system message before each model call.
        max_context_chars: budget for that context.
        trace: a trace URL or writer for the LOG turns (call :meth:`finish` at the end).

    Attributes:
        store: the memory store.
        tools: the memory tools registered with the agent.
        routed: every memory tool call this middleware answered, as op results.
    """

    def __init__(
        self,
        memory: MemoryStore | str,
        *,
        llm: LLMClient | Decider | BaseChatModel | None = None,
        scaffold: Scaffold | str = "generic",
        storage_options: dict[str, Any] | None = None,
        expose_tools: bool = True,
        inject: bool = True,
        max_context_chars: int = 4_000,
        trace: str | TraceWriter | None = None,
    ) -> None:
        from automem_sdk.store import MemoryStore

        super().__init__()
        self.store = MemoryStore(memory, storage_options) if isinstance(memory, str) else memory
        self.scaffold = load_scaffold(scaffold)
        self.tools = memory_tools(self.store, self.scaffold) if expose_tools else []
        self.inject = inject
        self.max_context_chars = max_context_chars
        self.routed: list[OpResult] = []
        self._log_lock = threading.Lock()
        self.agent: MemoryAgent | None = None
        if llm is not None:
            client = LangChainLLM(llm) if isinstance(llm, Runnable) else llm
            self.agent = MemoryAgent(
                self.store, self.scaffold, client, mode="observe", task_decider=_NoPolicy()
            )
            self.agent.reset()
            if trace is not None:
                self.agent.start_trace(trace, env="create_agent")
        elif trace is not None:
            raise ValueError("a trace records the LOG routine: pass llm=<memory model>")

    @property
    def name(self) -> str:
        """The middleware's name in the agent graph."""
        return "AutomemMemory"

    # ------------------------------------------------------------ model calls
    def _request(self, request: ModelRequest) -> ModelRequest:
        if not self.inject:
            return request
        query = request_text({"messages": request.messages})
        context = memory_context(
            self.store, self.scaffold, query=query, max_chars=self.max_context_chars
        )
        return request.override(system_message=_with_context(request.system_message, context))

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse:
        """Add the memory context to the system message, then call the model."""
        return handler(self._request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async :meth:`wrap_model_call`."""
        prepared = await asyncio.to_thread(self._request, request)
        return await handler(prepared)

    # ------------------------------------------------------------- tool calls
    def _route(self, request: ToolCallRequest) -> ToolMessage | None:
        call = request.tool_call
        name = str(call.get("name", ""))
        if not is_memory_tool(name) or name == "action":
            return None
        result = run_memory_tool(self.store, name, call.get("args"), self.scaffold)
        self.routed.append(result)
        return ToolMessage(
            content=result.text,
            tool_call_id=str(call.get("id") or ""),
            name=name,
            status="success" if result.ok else "error",
        )

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Answer ``memory_*`` calls from the store; pass every other call on."""
        routed = self._route(request)
        return routed if routed is not None else handler(request)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async :meth:`wrap_tool_call`."""
        routed = await asyncio.to_thread(self._route, request)
        return routed if routed is not None else await handler(request)

    # ------------------------------------------------------------------- LOG
    def log_exchange(self, state: AgentState[Any]) -> list[OpResult]:
        """Run the LOG routine on the last request and answer in ``state``."""
        if self.agent is None:
            return []
        observation = prompt(
            "log_observation",
            request=request_text({"messages": state["messages"]}),
            response=response_text({"messages": state["messages"]}),
        )
        with self._log_lock:
            results = self.agent.log(observation, {})
            self.agent.step_index += 1
            return results

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Run LOG after the agent answered (no state change)."""
        self.log_exchange(state)
        return None

    async def aafter_agent(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        await asyncio.to_thread(self.log_exchange, state)
        return None

    def finish(self) -> None:
        """Write the trace footer and close a trace this middleware opened."""
        if self.agent is not None:
            self.agent.finish()
