"""LangChain: give any chat model or agent Runnable a memory, without changing it.

:func:`with_memory` wraps a Runnable (a chat model, a chain, a compiled ``create_agent``
graph, ...). On every call it

1. picks the memory of the call's namespace (``namespace="users/{user_id}"`` filled
   from the call's ``configurable``, ``metadata`` or runtime ``context``; one sandboxed
   store per namespace, see :class:`~automem_sdk.scopes.StoreScopes`);
2. renders the memory relevant to the request
   (:func:`~automem_sdk.adapters.context.memory_context`) and puts it in front of this
   call's input only: a system message for a chat model or chain; for an agent graph
   (a LangGraph ``Pregel`` with ``messages`` state) a message just before the request
   that is never written into the graph's state (checkpoints are saved without it and
   outputs and stream chunks come back without it), so a thread never accumulates
   memory and no prompt gets a second, non-consecutive system message;
3. invokes or streams the wrapped Runnable, unchanged, passing its output and chunks
   through as they come;
4. runs automem's LOG routine on the exchange (after the stream ends), in the request
   or, with ``background=True``, on a worker thread that is flushed by :meth:`finish`.

Every other attribute (``get_state``, ``bind_tools``, ``checkpointer``, ...) is the
wrapped Runnable's; methods that return a new Runnable (``bind_tools``,
``with_structured_output``) return it wrapped with the same memory.

:class:`LangChainLLM` adapts a LangChain chat model to automem's ``LLMClient`` protocol,
so the same chat model (or a small one) can be the memory model; its calls are child
runs of the caller's callbacks (an ``automem_log`` chain run per LOG routine).

Requires the ``[langchain]`` extra (``langchain-core``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
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
from langchain_core.runnables.config import get_callback_manager_for_config

from automem_sdk.agent import MemoryAgent
from automem_sdk.deciders import ExternalPolicy
from automem_sdk.errors import AutomemError, LLMError
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage, as_messages
from automem_sdk.ops import OpResult
from automem_sdk.outcomes import conversation_id_of, record_conversation
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.scopes import StoreScopes, context_values

from .context import memory_context, prompt

if TYPE_CHECKING:
    from automem_sdk.env import Decider
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = [
    "MEMORY_MESSAGE_PREFIX",
    "BackgroundLog",
    "LangChainLLM",
    "MemoryRunnable",
    "MemoryScopes",
    "inject_context",
    "request_text",
    "response_text",
    "with_memory",
]

_PART_CHARS = 400
_log = logging.getLogger(__name__)

MEMORY_MESSAGE_PREFIX = "automem-memory-"
"""Id prefix of the per-call memory message put into an agent graph's input."""

#: The config of the LOG run in progress (its callbacks make memory-model calls children).
_LOG_CONFIG: contextvars.ContextVar[RunnableConfig | None] = contextvars.ContextVar(
    "automem_log_config", default=None
)


class LangChainLLM:
    """A LangChain chat model (or any Runnable returning a message) as an ``LLMClient``.

    Args:
        model: the chat model.
        name: the model name reported in completions and traces.

    Any exception the model raises becomes :class:`~automem_sdk.errors.LLMError`, which
    the memory agent turns into an observation instead of crashing. Inside a LOG routine
    started by an adapter, the call is a child run of the caller's callbacks.
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
        config = _LOG_CONFIG.get()
        t0 = time.perf_counter()
        try:
            out = self.runnable.invoke(lc, config, **opts)
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


# ------------------------------------------------------------------ text helpers
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


def _is_memory_message(message: Any) -> bool:
    mid = getattr(message, "id", None)
    return isinstance(message, BaseMessage) and str(mid or "").startswith(MEMORY_MESSAGE_PREFIX)


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
        msgs = [m for m in msgs if not _is_memory_message(m)]
        humans = [m for m in msgs if isinstance(m, HumanMessage)]
        if humans or msgs:
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
            msgs = [m for m in _messages_of(output["messages"]) or [] if not _is_memory_message(m)]
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


def memory_message(context: str) -> HumanMessage:
    """The per-call memory message put into an agent graph's input (never kept in state)."""
    return HumanMessage(content=context, id=f"{MEMORY_MESSAGE_PREFIX}{uuid.uuid4().hex}")


def _before_request(msgs: list[BaseMessage], context: str) -> list[BaseMessage]:
    at = max((i for i, m in enumerate(msgs) if isinstance(m, HumanMessage)), default=len(msgs))
    return [*msgs[:at], memory_message(context), *msgs[at:]]


def inject_context(
    value: Any, context: str, *, context_key: str = "memory", graph: bool = False
) -> Any:
    """A copy of a Runnable input with the memory context added (the input is not changed).

    - text, message lists and prompt values: a system message in front (merged into a
      leading system message if there is one);
    - ``{"messages": [...]}`` (agent state): the same, inside ``messages``; with
      ``graph=True`` (an agent graph whose state keeps messages) a memory message just
      before the request instead, which :class:`MemoryRunnable` keeps out of the state;
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
            merged = _before_request(msgs, context) if graph else _merge_system(msgs, context)
            return {**value, "messages": merged}
        if context_key not in value:
            return {**value, context_key: context}
        return value
    msgs = _messages_of(value)
    if msgs is not None:
        return _merge_system(msgs, context)
    return value


def strip_memory(value: Any) -> Any:
    """``value`` without the per-call memory messages (in lists, tuples and dicts, nested)."""
    if isinstance(value, list):
        return [strip_memory(v) for v in value if not _is_memory_message(v)]
    if isinstance(value, tuple):
        if type(value) is not tuple:  # a named tuple keeps its type
            return value
        return tuple(strip_memory(v) for v in value if not _is_memory_message(v))
    if isinstance(value, dict):
        return {k: strip_memory(v) for k, v in value.items()}
    return value


# ------------------------------------------------------- graph state without memory
@cache
def _saver_class() -> type[Any]:
    """A checkpointer that saves checkpoints and writes without the memory messages."""
    from langgraph.checkpoint.base import BaseCheckpointSaver

    class MemoryFreeSaver(BaseCheckpointSaver[Any]):
        """Delegates to ``inner``; what it saves never holds the per-call memory message."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.serde = inner.serde

        def __getattr__(self, name: str) -> Any:
            if name == "inner" or name.startswith("__"):
                raise AttributeError(name)
            return getattr(self.inner, name)

        @property
        def config_specs(self) -> Any:
            return self.inner.config_specs

        def _clean(self, checkpoint: Any) -> Any:
            values = checkpoint.get("channel_values") or {}
            return {**checkpoint, "channel_values": strip_memory(dict(values))}

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            return self.inner.put(config, self._clean(checkpoint), metadata, new_versions)

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            return await self.inner.aput(config, self._clean(checkpoint), metadata, new_versions)

        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            self.inner.put_writes(config, strip_memory(list(writes)), task_id, task_path)

        async def aput_writes(
            self, config: Any, writes: Any, task_id: str, task_path: str = ""
        ) -> None:
            await self.inner.aput_writes(config, strip_memory(list(writes)), task_id, task_path)

    def delegate(name: str) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.inner, name)(*args, **kwargs)

        method.__name__ = name
        return method

    for name in (
        "get",
        "get_tuple",
        "list",
        "get_next_version",
        "delete_thread",
        "copy_thread",
        "prune",
        "delete_for_runs",
        "get_delta_channel_history",
        "aget",
        "aget_tuple",
        "alist",
        "adelete_thread",
        "acopy_thread",
        "aprune",
        "adelete_for_runs",
        "aget_delta_channel_history",
    ):
        if hasattr(BaseCheckpointSaver, name):
            setattr(MemoryFreeSaver, name, delegate(name))
    return MemoryFreeSaver


def _is_graph(runnable: Any) -> bool:
    try:
        from langgraph.pregel import Pregel
    except ImportError:  # pragma: no cover - langgraph comes with langchain v1
        return False
    return isinstance(runnable, Pregel)


def _memory_free_graph(graph: Any) -> Any:
    """A copy of ``graph`` whose checkpointer saves without the memory messages."""
    from langgraph.checkpoint.base import BaseCheckpointSaver

    saver = getattr(graph, "checkpointer", None)
    if not isinstance(saver, BaseCheckpointSaver):
        return graph
    return graph.copy(update={"checkpointer": _saver_class()(saver)})


# ----------------------------------------------------------------- background LOG
@dataclass
class _Pending:
    run: Callable[[list[str]], object]
    observations: list[str] = field(default_factory=list)
    since: float = 0.0


class BackgroundLog:
    """Runs LOG routines on a worker thread, debounced per namespace.

    Exchanges submitted for one namespace while its LOG waits are merged into one LOG
    routine (in order). :meth:`flush` waits until every submitted exchange is logged;
    an interpreter that exits flushes first.

    Args:
        debounce_s: wait this long after a namespace's last exchange before logging it
            (``0``: as soon as the worker is free).
    """

    def __init__(self, debounce_s: float = 0.0) -> None:
        self.debounce_s = debounce_s
        self.errors: list[BaseException] = []
        self._pending: dict[str, _Pending] = {}
        self._busy = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda w: w.flush() if w is not None else None)(ref())
        atexit.register(self._atexit)

    def submit(self, key: str, observation: str, run: Callable[[list[str]], object]) -> None:
        """Queue one exchange of namespace ``key``; ``run(observations)`` logs a batch."""
        with self._cond:
            if self._closed:
                raise AutomemError("the background LOG worker is closed")
            entry = self._pending.get(key)
            if entry is None:
                entry = self._pending[key] = _Pending(run)
            entry.run = run
            entry.observations.append(observation)
            entry.since = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="automem-background-log", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Exchanges submitted and not yet logged."""
        with self._cond:
            return sum(len(p.observations) for p in self._pending.values()) + self._busy

    def _next(self) -> tuple[str, _Pending] | None:
        with self._cond:
            while True:
                if not self._pending:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                now = time.monotonic()
                key, entry = min(self._pending.items(), key=lambda kv: kv[1].since)
                wait = entry.since + self.debounce_s - now
                if wait > 0 and not self._closed and not self._flushing:
                    self._cond.wait(wait)
                    continue
                del self._pending[key]
                self._busy += len(entry.observations)
                return key, entry

    _flushing = False

    def _work(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            _key, entry = job
            try:
                entry.run(entry.observations)
            except BaseException as exc:  # keep the worker alive; report at flush()
                _log.exception("background LOG routine failed")
                self.errors.append(exc)
            finally:
                with self._cond:
                    self._busy -= len(entry.observations)
                    self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Log everything pending now (debounce skipped); return whether it all finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            try:
                while self._pending or self._busy:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._flushing = False
        return True

    def close(self) -> None:
        """Flush, then stop the worker thread."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        atexit.unregister(self._atexit)


# --------------------------------------------------------------- scoped LOG routine
class MemoryScopes:
    """The memory behind one adapter: stores per namespace, their LOG agents, traces.

    Args:
        memory: a :class:`MemoryStore`, an fsspec URL or a :class:`StoreScopes`.
        namespace: a template such as ``"users/{user_id}"`` (needs a URL or scopes).
        storage_options: fsspec options when ``memory`` is a URL.
        llm: the memory model (``None``: memory is only read).
        scaffold: the memory scaffolding.
        trace: a trace URL or writer for the LOG turns; with a namespace, a URL with a
            ``{namespace}`` placeholder (one trace per namespace).
        env_name: the ``env`` recorded in trace headers.
        background: run LOG on a :class:`BackgroundLog` worker.
        debounce_s: the worker's debounce, per namespace (per conversation within it when
            calls carry a conversation id, so a batch never mixes conversations).

    Raises:
        AutomemError: a namespace with a store object, or a scoped trace without a
            ``{namespace}`` placeholder.
        ValueError: a trace without a memory model.
    """

    def __init__(
        self,
        memory: MemoryStore | StoreScopes | str,
        *,
        namespace: str | None = None,
        storage_options: dict[str, Any] | None = None,
        llm: LLMClient | Decider | None = None,
        scaffold: Scaffold | str = "generic",
        trace: str | TraceWriter | None = None,
        env_name: str = "langchain",
        background: bool = False,
        debounce_s: float = 0.0,
    ) -> None:
        from automem_sdk.store import MemoryStore

        self._fixed: MemoryStore | None = None
        if isinstance(memory, StoreScopes):
            if namespace is not None:
                raise AutomemError("pass the namespace to StoreScopes or here, not both")
            self.scopes = memory
        elif isinstance(memory, MemoryStore):
            if namespace:
                raise AutomemError(
                    "namespace= needs the store's URL (and storage_options) or a StoreScopes, "
                    "so each namespace can be opened as its own store"
                )
            self.scopes = StoreScopes(memory.url)
            self._fixed = memory
        else:
            self.scopes = StoreScopes(memory, namespace, storage_options=storage_options)
        self.scaffold = load_scaffold(scaffold) if isinstance(scaffold, str) else scaffold
        self.llm = llm
        if trace is not None and llm is None:
            raise ValueError("a trace records the LOG routine: pass llm=<memory model>")
        scoped_trace = isinstance(trace, str) and "{namespace}" in trace
        if trace is not None and self.scopes.scoped and not scoped_trace:
            raise AutomemError(
                "with a namespace, trace= must be a URL with a {namespace} placeholder "
                "(one trace per namespace)"
            )
        self.trace = trace
        self.env_name = env_name
        self.background = BackgroundLog(debounce_s) if background else None
        self._agents: dict[str, MemoryAgent] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def scoped(self) -> bool:
        """Whether memory is split by namespace."""
        return self.scopes.scoped

    def namespace(self, values: Mapping[str, Any]) -> str:
        """The namespace for the call values (``""`` when unscoped)."""
        return self.scopes.namespace(values)

    def store(self, values: Mapping[str, Any] | None = None) -> MemoryStore:
        """The store for the call values.

        Raises:
            AutomemError: a namespace key is missing or unsafe.
        """
        if self._fixed is not None:
            return self._fixed
        return self.scopes.get(values or {})

    def agent(self, values: Mapping[str, Any] | None = None) -> MemoryAgent | None:
        """The LOG agent of the call's namespace (``None`` without a memory model)."""
        if self.llm is None:
            return None
        store = self.store(values)
        ns = self.namespace(values or {})
        with self._lock:
            agent = self._agents.get(ns)
            if agent is None:
                agent = MemoryAgent(
                    store,
                    self.scaffold,
                    self.llm,
                    mode="observe",
                    task_decider=ExternalPolicy("wrapped-runnable"),
                )
                agent.reset()  # creates the scaffold's memory files that are missing
                if self.trace is not None:
                    trace = self.trace
                    if isinstance(trace, str) and "{namespace}" in trace:
                        trace = trace.replace("{namespace}", ns.replace("/", "-") or "shared")
                    agent.start_trace(trace, env=self.env_name)
                self._agents[ns] = agent
                self._locks[ns] = threading.Lock()
            return agent

    def agents(self) -> dict[str, MemoryAgent]:
        """The LOG agents opened so far, by namespace."""
        with self._lock:
            return dict(self._agents)

    def log(
        self,
        values: Mapping[str, Any],
        observation: str,
        config: RunnableConfig | None = None,
        on_results: Callable[[list[OpResult]], None] | None = None,
    ) -> list[OpResult]:
        """Run (or, in background mode, queue) the LOG routine on one exchange.

        Returns:
            The op results (empty without a memory model or when queued).
        """
        agent = self.agent(values)
        if agent is None:
            return []
        ns = self.namespace(values)
        conversation = conversation_id_of(values)

        def run(observations: list[str]) -> list[OpResult]:
            text = observations[0] if len(observations) == 1 else "\n\n".join(observations)
            results = self._run_log(ns, agent, text, config, conversation)
            if on_results is not None:
                on_results(results)
            return results

        if self.background is not None:
            # batches never mix conversations, so each logged step keeps its conversation id
            key = ns if conversation is None else f"{ns}\x00{conversation}"
            self.background.submit(key, observation, run)
            return []
        return run([observation])

    def _run_log(
        self,
        ns: str,
        agent: MemoryAgent,
        observation: str,
        config: RunnableConfig | None,
        conversation: str | None = None,
    ) -> list[OpResult]:
        manager = get_callback_manager_for_config(config or {})
        run = manager.on_chain_start(
            None, {"observation": observation, "namespace": ns}, name="automem_log"
        )
        token = _LOG_CONFIG.set(
            {"callbacks": run.get_child(), "tags": ["automem"], "metadata": {"namespace": ns}}
        )
        try:
            with self._locks[ns]:
                results = agent.log(observation, {})
                # ties this step of the trace to the call's conversation (for outcomes)
                record_conversation(
                    agent.recorder.writer, step=agent.step_index, conversation_id=conversation
                )
                agent.step_index += 1
        except BaseException as exc:
            run.on_chain_error(exc)
            raise
        finally:
            _LOG_CONFIG.reset(token)
        run.on_chain_end({"ops": [r.text for r in results]})
        return results

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for queued background LOG routines (``True`` when none is left)."""
        return True if self.background is None else self.background.flush(timeout)

    def finish(self) -> None:
        """Flush background LOG routines, then write trace footers and close traces.

        Raises:
            AutomemError: a background LOG routine failed (the first error is chained).
        """
        if self.background is not None:
            self.background.flush()
        for agent in self.agents().values():
            agent.finish()
        if self.background is not None and self.background.errors:
            errors, self.background.errors = self.background.errors, []
            raise AutomemError(f"{len(errors)} background LOG routine(s) failed") from errors[0]


def call_values(config: RunnableConfig | None, context: Any = None) -> dict[str, Any]:
    """The values a namespace is filled from: ``config`` (``configurable``, ``metadata``),
    then the runtime ``context`` (a mapping or an object with attributes)."""
    return context_values(config, context)


# ------------------------------------------------------------------ the wrapper
_REWRAP = frozenset({"bind_tools", "with_structured_output"})


class MemoryRunnable(Runnable[Any, Any]):
    """A Runnable that adds memory around another one (see :func:`with_memory`).

    Attributes:
        bound: the wrapped Runnable (never modified).
        memory: the stores, LOG agents and traces (:class:`MemoryScopes`).
        last_results: the op results of the last LOG routine run in the request.
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        memory: MemoryScopes,
        *,
        inject: bool = True,
        context_key: str = "memory",
        max_context_chars: int = 4_000,
    ) -> None:
        self.bound = runnable
        self.memory = memory
        self.inject = inject
        self.context_key = context_key
        self.max_context_chars = max_context_chars
        self.scaffold = memory.scaffold
        self.last_results: list[OpResult] = []
        self._graph = _is_graph(runnable)
        self._runner: Runnable[Any, Any] = _memory_free_graph(runnable) if self._graph else runnable

    def __repr__(self) -> str:
        return f"MemoryRunnable({self.bound!r}, memory={self.memory.scopes.url!r})"

    def __getattr__(self, name: str) -> Any:
        bound = self.__dict__.get("bound")
        if bound is None or name.startswith("__"):
            raise AttributeError(name)
        value = getattr(bound, name)
        if name in _REWRAP and callable(value):

            def rewrapped(*args: Any, **kwargs: Any) -> Any:
                out = value(*args, **kwargs)
                return self._rewrap(out) if isinstance(out, Runnable) else out

            return rewrapped
        return value

    def _rewrap(self, runnable: Runnable[Any, Any]) -> MemoryRunnable:
        return MemoryRunnable(
            runnable,
            self.memory,
            inject=self.inject,
            context_key=self.context_key,
            max_context_chars=self.max_context_chars,
        )

    # --------------------------------------------------------- pass-throughs
    @property
    def store(self) -> MemoryStore:
        """The store of an unscoped wrapper.

        Raises:
            AutomemError: the wrapper is scoped (use ``memory.store(values)``).
        """
        return self.memory.store({})

    @property
    def agent(self) -> MemoryAgent | None:
        """The LOG agent of an unscoped wrapper (``None`` without a memory model)."""
        return None if self.memory.scoped else self.memory.agent({})

    @property
    def InputType(self) -> Any:
        """The wrapped Runnable's input type."""
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        """The wrapped Runnable's output type."""
        return self.bound.OutputType

    @property
    def config_specs(self) -> Any:
        """The wrapped Runnable's configurable fields."""
        return self.bound.config_specs

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        """The wrapped Runnable's input schema."""
        return self.bound.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> Any:
        """The wrapped Runnable's output schema."""
        return self.bound.get_output_schema(config)

    def get_graph(self, config: RunnableConfig | None = None) -> Any:
        """The wrapped Runnable's graph."""
        return self.bound.get_graph(config)

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """The wrapped Runnable's name."""
        return self.bound.get_name(suffix, name=name)

    # ------------------------------------------------------------- memory
    def context(self, value: Any, values: Mapping[str, Any] | None = None) -> str:
        """The memory context for one input (``values`` fill the namespace)."""
        return memory_context(
            self.memory.store(values or {}),
            self.scaffold,
            query=request_text(value),
            max_chars=self.max_context_chars,
        )

    def _prepare(self, value: Any, values: Mapping[str, Any]) -> Any:
        self.memory.store(values)  # a missing namespace key fails before the call
        if not self.inject or not self._injectable(value):
            return value
        graph = self._graph and isinstance(value, dict) and "messages" in value
        return inject_context(
            value, self.context(value, values), context_key=self.context_key, graph=graph
        )

    def _injectable(self, value: Any) -> bool:
        try:
            from langgraph.types import Command
        except ImportError:  # pragma: no cover
            return True
        return not isinstance(value, Command) and value is not None

    def log_step(
        self,
        input: Any,
        output: Any,
        config: RunnableConfig | None = None,
        context: Any = None,
    ) -> list[OpResult]:
        """Run the LOG routine on one exchange; return the op results.

        Empty without a memory model, and in background mode (the routine is queued).
        """
        values = call_values(config, context)
        observation = prompt(
            "log_observation", request=request_text(input), response=response_text(output)
        )

        def keep(results: list[OpResult]) -> None:
            self.last_results = results

        return self.memory.log(values, observation, config, keep)

    # -------------------------------------------------------------- invoke
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Inject memory, invoke the wrapped Runnable, then run LOG on the exchange."""
        values = call_values(config, kwargs.get("context"))
        output = self._runner.invoke(self._prepare(input, values), config, **kwargs)
        output = strip_memory(output)
        self.log_step(input, output, config, kwargs.get("context"))
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke` (store and memory-model calls run in a worker thread)."""
        values = call_values(config, kwargs.get("context"))
        prepared = await asyncio.to_thread(self._prepare, input, values)
        output = strip_memory(await self._runner.ainvoke(prepared, config, **kwargs))
        await asyncio.to_thread(self.log_step, input, output, config, kwargs.get("context"))
        return output

    # -------------------------------------------------------------- stream
    def _stream_plan(self, kwargs: dict[str, Any]) -> _StreamPlan:
        if not self._graph:
            return _StreamPlan(graph=False, kwargs=kwargs)
        mode = kwargs.get("stream_mode")
        if mode is None:
            mode = getattr(self.bound, "stream_mode", "values")
        multi = not isinstance(mode, str)
        modes: list[Any] = [mode] if isinstance(mode, str) else list(mode or ())
        added = "values" not in modes
        inner = dict(kwargs)
        if added:
            inner["stream_mode"] = [*modes, "values"]
        return _StreamPlan(
            graph=True,
            kwargs=inner,
            multi=multi,
            added=added,
            v2=kwargs.get("version") == "v2",
            subgraphs=bool(kwargs.get("subgraphs")),
            single_values=not multi and not added,
        )

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Stream the wrapped Runnable's chunks as they come; LOG after the last one."""
        values = call_values(config, kwargs.get("context"))
        plan = self._stream_plan(kwargs)
        prepared = self._prepare(input, values)
        for chunk in self._runner.stream(prepared, config, **plan.kwargs):
            out = plan.take(chunk)
            if out is not _SKIP:
                yield out
        self.log_step(input, plan.final, config, kwargs.get("context"))

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async :meth:`stream`."""
        values = call_values(config, kwargs.get("context"))
        plan = self._stream_plan(kwargs)
        prepared = await asyncio.to_thread(self._prepare, input, values)
        async for chunk in self._runner.astream(prepared, config, **plan.kwargs):
            out = plan.take(chunk)
            if out is not _SKIP:
                yield out
        await asyncio.to_thread(self.log_step, input, plan.final, config, kwargs.get("context"))

    # langchain-core >= 1.8 overloads this by ``version`` (v3 returns an awaitable); the
    # wrapper streams v1/v2 events and passes every other keyword through.
    async def astream_events(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """The wrapped Runnable's events as they come; LOG on the root run's output."""
        values = call_values(config, kwargs.get("context"))
        prepared = await asyncio.to_thread(self._prepare, input, values)
        final: Any = None
        async for event in self._runner.astream_events(prepared, config, **kwargs):
            event = strip_memory(event)
            if not event.get("parent_ids") and str(event.get("event", "")).endswith("_end"):
                final = (event.get("data") or {}).get("output")
            yield event
        await asyncio.to_thread(self.log_step, input, final, config, kwargs.get("context"))

    # ------------------------------------------------------------ lifecycle
    def start_trace(
        self, trace: str | TraceWriter, *, storage_options: dict[str, Any] | None = None
    ) -> None:
        """Log every LOG turn of an unscoped wrapper to a trace; call :meth:`finish` at the end.

        Raises:
            ValueError: there is no memory model, so there is nothing to trace.
            AutomemError: the wrapper is scoped (pass ``trace=`` to :func:`with_memory`).
        """
        if self.memory.llm is None:
            raise ValueError("a trace needs a memory model: pass llm=...")
        if self.memory.scoped:
            raise AutomemError("a scoped wrapper takes trace= with a {namespace} placeholder")
        agent = self.memory.agent({})
        assert agent is not None
        agent.start_trace(trace, env=self.memory.env_name, storage_options=storage_options)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background LOG routines (``True`` when none is left)."""
        return self.memory.flush(timeout)

    def finish(self) -> None:
        """Flush background LOG, write trace footers and close traces opened here."""
        self.memory.finish()


_SKIP = object()


@dataclass
class _StreamPlan:
    """How one stream call's chunks map back to the caller's ``stream_mode``."""

    graph: bool
    kwargs: dict[str, Any]
    multi: bool = False
    added: bool = False
    v2: bool = False
    subgraphs: bool = False
    single_values: bool = False
    final: Any = None

    def take(self, chunk: Any) -> Any:
        """Record what the final output needs; return the chunk for the caller, or _SKIP."""
        chunk = strip_memory(chunk)
        if not self.graph:
            if self.final is None:
                self.final = chunk
            else:
                try:
                    self.final = self.final + chunk
                except TypeError:
                    self.final = chunk
            return chunk
        if self.v2:
            if isinstance(chunk, dict) and chunk.get("type") == "values" and not chunk.get("ns"):
                self.final = chunk.get("data")
                if self.added:
                    return _SKIP
            return chunk
        if self.single_values:  # stream_mode="values": chunks are the values
            if self.subgraphs:
                ns, data = chunk
                if not ns:
                    self.final = data
            else:
                self.final = chunk
            return chunk
        if self.subgraphs:
            ns, mode, data = chunk
        else:
            ns, (mode, data) = (), chunk
        if mode == "values" and not ns:
            self.final = data
        if self.added and mode == "values":
            return _SKIP
        if self.multi:
            return chunk
        return (ns, data) if self.subgraphs else data


def with_memory(
    runnable: Runnable[Any, Any],
    memory: MemoryStore | StoreScopes | str,
    *,
    llm: LLMClient | Decider | BaseChatModel | None = None,
    namespace: str | None = None,
    scaffold: Scaffold | str = "generic",
    storage_options: dict[str, Any] | None = None,
    trace: str | TraceWriter | None = None,
    inject: bool = True,
    context_key: str = "memory",
    max_context_chars: int = 4_000,
    background: bool = False,
    debounce_s: float = 0.0,
) -> MemoryRunnable:
    """Wrap a chat model or agent Runnable with a file-based memory.

    Args:
        runnable: your chat model, chain or agent (not modified).
        memory: a :class:`MemoryStore`, an fsspec URL or a :class:`StoreScopes`.
        llm: the memory model that runs LOG after each step: an automem LLM client, a
            LangChain chat model, or a Decider. Defaults to ``runnable`` itself when it is
            a chat model; for other Runnables, without ``llm`` memory is only read.
        namespace: e.g. ``"users/{user_id}"``: each call uses the memory of the
            namespace filled from its config (``configurable``/``metadata``) or runtime
            ``context``; a missing key raises :class:`~automem_sdk.errors.AutomemError`.
        scaffold: the memory scaffolding (built-in name, path or object).
        storage_options: fsspec options when ``memory`` is a URL.
        trace: a trace URL or writer for the LOG turns (call ``finish()`` at the end);
            with a namespace, a URL with a ``{namespace}`` placeholder.
        inject: put the memory context in front of each input.
        context_key: where the context goes for dict inputs without ``messages``.
        max_context_chars: budget for the injected context.
        background: run LOG on a worker thread, off the request path (``finish()``
            flushes it; so does interpreter exit).
        debounce_s: in background mode, wait this long after a namespace's last
            exchange and log the exchanges that arrived meanwhile together.

    Returns:
        A Runnable with the same input, output and chunks as ``runnable``.

    Raises:
        AutomemError: ``namespace`` with a store object (pass its URL), or a scoped
            trace without ``{namespace}``.
    """
    if llm is None and isinstance(runnable, BaseChatModel):
        llm = runnable
    client: LLMClient | Decider | None
    client = LangChainLLM(llm) if isinstance(llm, Runnable) else llm
    scopes = MemoryScopes(
        memory,
        namespace=namespace,
        storage_options=storage_options,
        llm=client,
        scaffold=scaffold,
        trace=trace,
        env_name="langchain",
        background=background,
        debounce_s=debounce_s,
    )
    if client is not None and not scopes.scoped:
        scopes.agent({})  # creates the scaffold's files now, as before the first call
    return MemoryRunnable(
        runnable,
        scopes,
        inject=inject,
        context_key=context_key,
        max_context_chars=max_context_chars,
    )
