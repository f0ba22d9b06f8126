"""LangChain v1: memory as an ``AgentMiddleware`` for ``create_agent``.

>>> from langchain.agents import create_agent                      # doctest: +SKIP
>>> agent = create_agent(model, tools=my_tools,                     # doctest: +SKIP
...                      middleware=[MemoryMiddleware("file://./memory", llm=memory_model)])

The middleware

- registers its memory tools (``memory_read``, ``memory_append``, ...; another prefix
  per instance when an agent has several memories) with the agent; the agent's tool
  node runs them, so every memory tool call is a tool run in tracing; tools it did not
  register (a ``memory_lookup`` of your own) are never touched, and with
  ``expose_tools=False`` no memory tool exists, so none runs;
- before every model call, adds the relevant memory to the system message (per call,
  never into the agent's state);
- after the agent finishes a request, runs automem's LOG routine on the exchange when a
  memory model is given (in the request or, with ``background=True``, on a worker
  thread flushed by :meth:`MemoryMiddleware.finish`).

With ``namespace="users/{user_id}"`` every model call, tool call and LOG routine uses
the store of the namespace filled from the run's config (``configurable``) or runtime
context (``create_agent(context_schema=...)``, ``invoke(..., context=...)``); a missing
key is an error, never a fall back to shared memory.

Requires the ``langchain`` package (v1), which brings ``create_agent``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from automem_sdk.ops import OpResult
from automem_sdk.scaffold import Scaffold

from .context import memory_context, prompt
from .langchain_tools import memory_tools
from .langchain_wrapper import LangChainLLM, MemoryScopes, request_text, response_text

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from automem_sdk.env import Decider
    from automem_sdk.llm.base import LLMClient
    from automem_sdk.scopes import StoreScopes
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = ["MemoryMiddleware"]

DEFAULT_NAME = "AutomemMemory"


def _current_config() -> RunnableConfig | None:
    try:
        from langgraph.config import get_config

        return get_config()
    except RuntimeError:  # outside a graph run
        return None


def _values(runtime: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
    from automem_sdk.scopes import context_values

    config = config if config is not None else _current_config()
    values = context_values(config, getattr(runtime, "context", None))
    return {k: v for k, v in values.items() if not k.startswith("__pregel_")}


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
        memory: a :class:`MemoryStore`, an fsspec URL or a :class:`StoreScopes`.
        llm: the memory model for the LOG routine after each request (an automem LLM
            client, a LangChain chat model or a Decider); ``None`` leaves memory
            writing to the agent's own memory tool calls.
        namespace: e.g. ``"users/{user_id}"``, filled per run from config or context.
        scaffold: the memory scaffolding (built-in name, path or object).
        storage_options: fsspec options when ``memory`` is a URL.
        expose_tools: register the memory tools with the agent.
        inject: add the memory context to the system message before each model call.
        max_context_chars: budget for that context.
        trace: a trace URL or writer for the LOG turns (call :meth:`finish` at the end);
            with a namespace, a URL with a ``{namespace}`` placeholder.
        name: the middleware's name in the agent graph; give each instance its own.
        tool_prefix: the memory tools' name prefix (default ``memory_``, or
            ``<name>_`` for a named instance).
        background: run LOG on a worker thread, off the request path.
        debounce_s: in background mode, the per-namespace debounce.

    Attributes:
        memory: the stores, LOG agents and traces (:class:`MemoryScopes`).
        tools: the memory tools registered with the agent.
        routed: every memory tool call this middleware's tools answered, as op results.

    Raises:
        ValueError: a trace without a memory model, or a name that is not an
            identifier.
    """

    def __init__(
        self,
        memory: MemoryStore | StoreScopes | str,
        *,
        llm: LLMClient | Decider | BaseChatModel | None = None,
        namespace: str | None = None,
        scaffold: Scaffold | str = "generic",
        storage_options: dict[str, Any] | None = None,
        expose_tools: bool = True,
        inject: bool = True,
        max_context_chars: int = 4_000,
        trace: str | TraceWriter | None = None,
        name: str | None = None,
        tool_prefix: str | None = None,
        background: bool = False,
        debounce_s: float = 0.0,
    ) -> None:
        super().__init__()
        if name is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ValueError(f"middleware name {name!r}: use letters, digits and '_'")
        self._name = name or DEFAULT_NAME
        if tool_prefix is None:
            tool_prefix = "memory_" if name is None else f"{name.lower()}_"
        self.tool_prefix = tool_prefix
        client = LangChainLLM(llm) if isinstance(llm, Runnable) else llm
        self.memory = MemoryScopes(
            memory,
            namespace=namespace,
            storage_options=storage_options,
            llm=client,
            scaffold=scaffold,
            trace=trace,
            env_name="create_agent",
            background=background,
            debounce_s=debounce_s,
        )
        self.scaffold = self.memory.scaffold
        self.routed: list[OpResult] = []
        self.tools = (
            memory_tools(
                self.memory, self.scaffold, prefix=tool_prefix, on_result=self.routed.append
            )
            if expose_tools
            else []
        )
        self.inject = inject
        self.max_context_chars = max_context_chars
        if client is not None and not self.memory.scoped:
            self.memory.agent({})  # creates the scaffold's files now

    @property
    def name(self) -> str:
        """The middleware's name in the agent graph."""
        return self._name

    @property
    def store(self) -> MemoryStore:
        """The store of an unscoped middleware.

        Raises:
            AutomemError: the middleware is scoped (use ``memory.store(values)``).
        """
        return self.memory.store({})

    # ------------------------------------------------------------ model calls
    def _request(self, request: ModelRequest) -> ModelRequest:
        store = self.memory.store(_values(request.runtime))  # a missing key fails here
        if not self.inject:
            return request
        query = request_text({"messages": request.messages})
        context = memory_context(
            store, self.scaffold, query=query, max_chars=self.max_context_chars
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

    # ------------------------------------------------------------------- LOG
    def log_exchange(
        self,
        state: AgentState[Any],
        runtime: Any = None,
        config: RunnableConfig | None = None,
    ) -> list[OpResult]:
        """Run (or queue) the LOG routine on the last request and answer in ``state``."""
        if self.memory.llm is None:
            return []
        config = config if config is not None else _current_config()
        observation = prompt(
            "log_observation",
            request=request_text({"messages": state["messages"]}),
            response=response_text({"messages": state["messages"]}),
        )
        return self.memory.log(_values(runtime, config), observation, config)

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Run LOG after the agent answered (no state change)."""
        self.log_exchange(state, runtime)
        return None

    async def aafter_agent(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        config = _current_config()
        await asyncio.to_thread(self.log_exchange, state, runtime, config)
        return None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background LOG routines (``True`` when none is left)."""
        return self.memory.flush(timeout)

    def finish(self) -> None:
        """Flush background LOG, write trace footers and close traces opened here."""
        self.memory.finish()
