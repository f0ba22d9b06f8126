"""LangChain: give any chat model or agent Runnable a memory, without changing it.

:func:`with_memory` wraps a Runnable (a chat model, a chain, a compiled ``create_agent``
graph, ...). On every ``invoke`` it

1. renders the memory relevant to the request (:func:`~automem_sdk.adapters.context.memory_context`)
   and puts it in front of the input as a system message (or, for a dict input without
   ``messages``, under the ``memory`` key for your prompt template);
2. invokes the wrapped Runnable, unchanged, and returns its output as is;
3. runs automem's LOG routine on the exchange: the memory model records what matters
   with memory ops, logged to a trace if one is open.

:class:`LangChainLLM` adapts a LangChain chat model to automem's ``LLMClient`` protocol,
so the same chat model (or a small one) can be the memory model.

Requires the ``[langchain]`` extra (``langchain-core``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig

from automem_sdk.agent import MemoryAgent
from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage, as_messages
from automem_sdk.ops import OpResult
from automem_sdk.scaffold import Scaffold

from .context import memory_context, prompt

if TYPE_CHECKING:
    from automem_sdk.env import Decider
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = [
    "LangChainLLM",
    "MemoryRunnable",
    "inject_context",
    "request_text",
    "response_text",
    "with_memory",
]

_PART_CHARS = 400


class LangChainLLM:
    """A LangChain chat model (or any Runnable returning a message) as an ``LLMClient``.

    Args:
        model: the chat model.
        name: the model name reported in completions and traces.

    Any exception the model raises becomes :class:`~automem_sdk.errors.LLMError`, which
    the memory agent turns into an observation instead of crashing.
    """

    def __init__(self, model: Runnable[Any, Any], name: str | None = None) -> None:
        self.runnable = model
        self.model: str = name or str(
            getattr(model, "model_name", None)
            or getattr(model, "model", None)
            or type(model).__name__
        )

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Send ``messages`` to the chat model and return its text reply.

        Raises:
            LLMError: the model raised.
        """
        lc: list[BaseMessage] = []
        for m in as_messages(messages):
            if m.role == "system":
                lc.append(SystemMessage(content=m.content))
            elif m.role == "assistant":
                lc.append(AIMessage(content=m.content))
            else:
                lc.append(HumanMessage(content=m.content))
        t0 = time.perf_counter()
        try:
            out = self.runnable.invoke(lc, **opts)
        except Exception as exc:  # a provider error is the model failing, not our bug
            raise LLMError(f"{self.model}: {type(exc).__name__}: {exc}") from exc
        text = out.text if isinstance(out, BaseMessage) else str(out)
        meta = getattr(out, "usage_metadata", None) or {}
        return Completion(
            text=text,
            model=self.model,
            usage=Usage(
                prompt_tokens=int(meta.get("input_tokens", 0) or 0),
                completion_tokens=int(meta.get("output_tokens", 0) or 0),
            ),
            latency_s=time.perf_counter() - t0,
        )


def _messages_of(value: Any) -> list[BaseMessage] | None:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, list | tuple):
        try:
            return convert_to_messages(list(value))
        except (ValueError, TypeError, NotImplementedError):
            return None
    return None


def _text(message: BaseMessage) -> str:
    return message.text if isinstance(message.content, str | list) else str(message.content)


def request_text(value: Any) -> str:
    """The user's request in a Runnable input (the last human message, or the text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "messages" in value:
            return request_text(value["messages"])
        return "\n".join(f"{k}: {v}" for k, v in value.items() if isinstance(v, str))
    msgs = _messages_of(value)
    if msgs:
        humans = [m for m in msgs if isinstance(m, HumanMessage)]
        return _text(humans[-1] if humans else msgs[-1])
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= _PART_CHARS else text[:_PART_CHARS] + " [...]"


def _describe(message: BaseMessage) -> list[str]:
    out: list[str] = []
    if isinstance(message, ToolMessage):
        return [f"(tool {message.name or message.tool_call_id} returned: {_cut(_text(message))})"]
    text = _text(message)
    if text.strip():
        out.append(_cut(text))
    for call in getattr(message, "tool_calls", None) or []:
        args = json.dumps(call.get("args", {}), ensure_ascii=False, default=str)
        out.append(f"(called tool {call.get('name')} {_cut(args)})")
    return out


def response_text(output: Any) -> str:
    """What a Runnable answered, as text for the LOG routine (tool calls included)."""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return "\n".join(_describe(output))
    if isinstance(output, dict):
        if "messages" in output:
            msgs = _messages_of(output["messages"]) or []
            last_human = max(
                (i for i, m in enumerate(msgs) if isinstance(m, HumanMessage)), default=-1
            )
            lines = [line for m in msgs[last_human + 1 :] for line in _describe(m)]
            return "\n".join(lines)
        if "output" in output:
            return str(output["output"])
    return str(output)


def _merge_system(msgs: list[BaseMessage], context: str) -> list[BaseMessage]:
    if msgs and isinstance(msgs[0], SystemMessage) and isinstance(msgs[0].content, str):
        first = SystemMessage(content=f"{msgs[0].content}\n\n{context}")
        return [first, *msgs[1:]]
    return [SystemMessage(content=context), *msgs]


def inject_context(value: Any, context: str, *, context_key: str = "memory") -> Any:
    """A copy of a Runnable input with the memory context added (the input is not changed).

    - text, message lists and prompt values: a system message in front (merged into a
      leading system message if there is one);
    - ``{"messages": [...]}`` (agent state): the same, inside ``messages``;
    - any other dict: ``context`` under ``context_key`` (unless the key is set);
    - anything else: returned unchanged.
    """
    if isinstance(value, str):
        return [SystemMessage(content=context), HumanMessage(content=value)]
    if isinstance(value, dict):
        if "messages" in value:
            msgs = _messages_of(value["messages"])
            if msgs is None:
                return value
            return {**value, "messages": _merge_system(msgs, context)}
        if context_key not in value:
            return {**value, context_key: context}
        return value
    msgs = _messages_of(value)
    if msgs is not None:
        return _merge_system(msgs, context)
    return value


class _NoPolicy:
    """The task policy slot of an observe-mode agent whose actions come from elsewhere."""

    name = "wrapped-runnable"

    def decide(self, request: Any) -> Completion:
        return Completion(text="", model=self.name)


class MemoryRunnable(Runnable[Any, Any]):
    """A Runnable that adds memory around another one (see :func:`with_memory`).

    Attributes:
        bound: the wrapped Runnable (never modified).
        store: the memory store.
        agent: the observe-mode :class:`MemoryAgent` that runs LOG (``None`` without a
            memory model).
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        store: MemoryStore,
        *,
        llm: LLMClient | Decider | None,
        scaffold: Scaffold | str = "generic",
        inject: bool = True,
        context_key: str = "memory",
        max_context_chars: int = 4_000,
        name: str = "langchain",
    ) -> None:
        self.bound = runnable
        self.store = store
        self.inject = inject
        self.context_key = context_key
        self.max_context_chars = max_context_chars
        self.env_name = name
        self.agent: MemoryAgent | None = None
        if llm is not None:
            self.agent = MemoryAgent(store, scaffold, llm, mode="observe", task_decider=_NoPolicy())
            self.agent.reset()  # creates the scaffold's memory files that are missing
            self.scaffold = self.agent.scaffold
        else:
            from automem_sdk.scaffold import load_scaffold

            self.scaffold = load_scaffold(scaffold)
        self.last_results: list[OpResult] = []
        self._log_lock = threading.Lock()  # batch() runs invoke() in threads

    def __repr__(self) -> str:
        return f"MemoryRunnable({self.bound!r}, store={self.store.url!r})"

    @property
    def InputType(self) -> Any:
        """The wrapped Runnable's input type."""
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        """The wrapped Runnable's output type."""
        return self.bound.OutputType

    def context(self, value: Any) -> str:
        """The memory context for one input."""
        return memory_context(
            self.store, self.scaffold, query=request_text(value), max_chars=self.max_context_chars
        )

    def _prepare(self, value: Any) -> Any:
        if not self.inject:
            return value
        return inject_context(value, self.context(value), context_key=self.context_key)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Inject memory, invoke the wrapped Runnable, then run LOG on the exchange."""
        output = self.bound.invoke(self._prepare(input), config, **kwargs)
        self.log_step(input, output)
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke` (store and memory-model calls run in a worker thread)."""
        prepared = await asyncio.to_thread(self._prepare, input)
        output = await self.bound.ainvoke(prepared, config, **kwargs)
        await asyncio.to_thread(self.log_step, input, output)
        return output

    def log_step(self, input: Any, output: Any) -> list[OpResult]:
        """Run the LOG routine on one exchange; return the op results (empty without a model)."""
        if self.agent is None:
            return []
        answer = response_text(output)
        observation = prompt("log_observation", request=request_text(input), response=answer)
        with self._log_lock:
            self.last_results = self.agent.log(observation, {})
            self.agent.step_index += 1
            return self.last_results

    def start_trace(
        self, trace: str | TraceWriter, *, storage_options: dict[str, Any] | None = None
    ) -> None:
        """Log every LOG turn to a trace (URL or writer); call :meth:`finish` at the end.

        Raises:
            ValueError: there is no memory model, so there is nothing to trace.
        """
        if self.agent is None:
            raise ValueError("a trace needs a memory model: pass llm=...")
        self.agent.start_trace(trace, env=self.env_name, storage_options=storage_options)

    def finish(self) -> None:
        """Write the trace footer and close a trace opened by :meth:`start_trace`."""
        if self.agent is not None:
            self.agent.finish()


def with_memory(
    runnable: Runnable[Any, Any],
    memory: MemoryStore | str,
    *,
    llm: LLMClient | Decider | BaseChatModel | None = None,
    scaffold: Scaffold | str = "generic",
    storage_options: dict[str, Any] | None = None,
    trace: str | TraceWriter | None = None,
    inject: bool = True,
    context_key: str = "memory",
    max_context_chars: int = 4_000,
) -> MemoryRunnable:
    """Wrap a chat model or agent Runnable with a file-based memory.

    Args:
        runnable: your chat model, chain or agent (not modified).
        memory: a :class:`MemoryStore` or an fsspec URL.
        llm: the memory model that runs LOG after each step: an automem LLM client, a
            LangChain chat model, or a Decider. Defaults to ``runnable`` itself when it is
            a chat model; for other Runnables, without ``llm`` memory is only read.
        scaffold: the memory scaffolding (built-in name, path or object).
        storage_options: fsspec options when ``memory`` is a URL.
        trace: a trace URL or writer for the LOG turns (call ``finish()`` at the end).
        inject: put the memory context in front of each input.
        context_key: where the context goes for dict inputs without ``messages``.
        max_context_chars: budget for the injected context.

    Returns:
        A Runnable with the same input and output as ``runnable``.
    """
    from automem_sdk.store import MemoryStore

    store = MemoryStore(memory, storage_options) if isinstance(memory, str) else memory
    if llm is None and isinstance(runnable, BaseChatModel):
        llm = runnable
    client: LLMClient | Decider | None
    client = LangChainLLM(llm) if isinstance(llm, Runnable) else llm
    wrapped = MemoryRunnable(
        runnable,
        store,
        llm=client,
        scaffold=scaffold,
        inject=inject,
        context_key=context_key,
        max_context_chars=max_context_chars,
    )
    if trace is not None:
        wrapped.start_trace(trace)
    return wrapped
