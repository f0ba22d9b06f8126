"""OpenAI-style tool calling: memory ops as tools, and a dispatcher for tool calls.

Works with any chat-completions response (OpenAI, vLLM, llama.cpp, Ollama and other
compatible servers), as a plain dict or as an SDK object with ``model_dump()``:

>>> from automem_sdk import MemoryStore
>>> d = ToolDispatcher(MemoryStore("memory://doc-dispatch"))
>>> msg = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
...        "function": {"name": "memory_append", "arguments": '{"path": "n.md", "content": "hi"}'}}]}
>>> d.dispatch(msg)
[{'role': 'tool', 'tool_call_id': 'c1', 'content': 'appended to n.md'}]

Every malformed call (bad JSON, wrong argument types, an unknown tool, an oversized
payload) comes back as a tool message with the error text, so the model can correct
itself and the loop goes on.

With ``namespace="users/{user_id}"`` each dispatch uses the store of the namespace filled
from its ``scope`` (``d.dispatch(response, scope={"user_id": "alice"})``, or the
dispatcher's default ``scope``); a missing key raises, never falls back to shared memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import AutomemError
from automem_sdk.ops import ActionOp, MemoryOp, OpResult, execute_op
from automem_sdk.outcomes import conversation_id_of
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.scopes import StoreScopes
from automem_sdk.tools import op_from_tool_call, openai_tool_schemas

if TYPE_CHECKING:
    from automem_sdk.adapters.mcp_trace import CallRecorder

    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = [
    "DispatchedCall",
    "ToolDispatcher",
    "is_memory_tool",
    "run_tool_loop",
    "tool_calls_of",
]

DEFAULT_RESULT_CHARS = 20_000

ExtraTool = Callable[[dict[str, Any]], str]
"""A non-memory tool the dispatcher also runs: ``fn(arguments) -> text``."""


def is_memory_tool(name: str) -> bool:
    """Whether a tool name belongs to automem (``memory_*`` or ``action``)."""
    return name == "action" or name.startswith("memory_")


def _as_dict(obj: Any) -> Any:
    """Plain data from a dict or an SDK object (``model_dump()``/``to_dict()``)."""
    for attr in ("model_dump", "to_dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            return fn()
    return obj


def tool_calls_of(response: Any) -> list[dict[str, Any]]:
    """The tool calls in a chat-completions response, an assistant message, or a list.

    Args:
        response: a full response (``{"choices": [{"message": ...}]}``), one message
            (``{"role": "assistant", "tool_calls": [...]}``), a list of tool calls, or
            SDK objects of those shapes.

    Returns:
        The tool calls as dicts (possibly malformed; :class:`ToolDispatcher` reports
        those back to the model).
    """
    data = _as_dict(response)
    if isinstance(data, list):
        return [_as_dict(c) for c in data]
    if not isinstance(data, dict):
        return []
    if "choices" in data:
        choices = data.get("choices") or []
        if not choices:
            return []
        data = _as_dict(choices[0]).get("message") or {}
        data = _as_dict(data)
    calls = data.get("tool_calls") if isinstance(data, dict) else None
    return [_as_dict(c) for c in calls or []]


@dataclass
class DispatchedCall:
    """One tool call and what it did."""

    id: str
    name: str
    arguments: Any
    result: OpResult
    op: MemoryOp | None = None
    content: str = ""

    @property
    def action(self) -> str | None:
        """The task action committed by an ``action`` call."""
        return self.op.name if isinstance(self.op, ActionOp) and self.result.ok else None

    def message(self) -> dict[str, Any]:
        """The ``{"role": "tool", ...}`` message to send back to the model."""
        return {"role": "tool", "tool_call_id": self.id, "content": self.content}


@dataclass
class ToolDispatcher:
    """Runs memory tool calls against a store and answers with tool messages.

    Args:
        store: the memory store, an fsspec URL, or a :class:`~automem_sdk.scopes.StoreScopes`.
        scaffold: enabled ops and custom ops (a Scaffold, a built-in name or a path);
            ``None`` enables every primitive op.
        actions: the task actions offered through the ``action`` tool (``None`` =
            any string; an empty list leaves the ``action`` tool out).
        extra_tools: your agent's own tools, ``name -> fn(arguments) -> text``; they
            are dispatched too, so one call handles a whole assistant message (a name of
            your own such as ``memory_lookup`` is yours; only the names of the memory
            tools this dispatcher offers are routed to memory).
        storage_options: fsspec options when ``store`` is a URL.
        max_result_chars: longer tool results are cut (with a note) to this length.
        namespace: e.g. ``"users/{user_id}"``: each dispatch uses the store of the
            namespace filled from its ``scope`` (needs a URL or a StoreScopes).
        scope: the default values that fill the namespace.
        trace: a trace URL (or writer): every memory call becomes one turn there (as the
            MCP server records them), with the conversation id of the dispatch's scope
            (``conversation_id`` / ``thread_id``) so outcomes find it; call
            :meth:`finish` at the end.
        trace_storage_options: fsspec options for the trace URL.

    Attributes:
        history: every call dispatched so far, in order.

    Raises:
        ValueError: an extra tool has the name of a memory tool.
        AutomemError: ``namespace`` with a store object.
    """

    store: MemoryStore | StoreScopes | str
    scaffold: Scaffold | str | None = None
    actions: Sequence[str] | None = None
    extra_tools: Mapping[str, ExtraTool] = field(default_factory=dict)
    storage_options: dict[str, Any] | None = None
    max_result_chars: int = DEFAULT_RESULT_CHARS
    history: list[DispatchedCall] = field(default_factory=list)
    namespace: str | None = None
    scope: Mapping[str, Any] | None = None
    trace: str | TraceWriter | None = None
    trace_storage_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.scaffold, str):
            self.scaffold = load_scaffold(self.scaffold)
        self._scopes: StoreScopes | None = None
        if isinstance(self.store, str) and self.namespace:
            self._scopes = StoreScopes(
                self.store, self.namespace, storage_options=self.storage_options
            )
        elif self.namespace:
            raise AutomemError(
                "namespace= needs the store's URL (and storage_options) or a StoreScopes, "
                "so each namespace is opened as its own store"
            )
        elif isinstance(self.store, StoreScopes):
            self._scopes = self.store
        elif isinstance(self.store, str):
            from automem_sdk.store import MemoryStore

            self.store = MemoryStore(self.store, self.storage_options)
        self._recorder: CallRecorder | None = None
        if self.trace is not None:
            from automem_sdk.adapters.mcp_trace import CallRecorder

            self._recorder = CallRecorder(
                self.trace,
                self._scaffold() or load_scaffold("generic"),
                str(getattr(self.store, "url", self.store)),
                config={"adapter": "tool_dispatcher", "namespace": self.namespace or ""},
                storage_options=self.trace_storage_options,
            )
        taken = sorted(set(self.extra_tools) & self._memory_names())
        if taken:
            raise ValueError(
                f"extra tool(s) {', '.join(taken)} have the name of a memory tool; "
                "rename them (or disable that op in the scaffold)"
            )

    @property
    def scoped(self) -> bool:
        """Whether memory is split by namespace."""
        return self._scopes is not None and self._scopes.scoped

    @property
    def memory(self) -> MemoryStore:
        """The store for the default ``scope`` (resolved from a URL if one was given).

        Raises:
            AutomemError: a namespace key is missing from the default scope.
        """
        return self.store_for(None)

    def store_for(self, scope: Mapping[str, Any] | None) -> MemoryStore:
        """The store for ``scope`` (the default ``scope`` fills what it lacks).

        Raises:
            AutomemError: a namespace key is missing.
        """
        if self._scopes is not None:
            return self._scopes.get({**(self.scope or {}), **(scope or {})})
        assert not isinstance(self.store, str | StoreScopes)
        return self.store

    def _scaffold(self) -> Scaffold | None:
        assert not isinstance(self.scaffold, str)
        return self.scaffold

    def _memory_names(self) -> set[str]:
        return {s["function"]["name"] for s in self.tools()}

    def tools(self, extra: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """Tool schemas for ``tools=[...]``: memory ops, ``action``, then ``extra``."""
        include_action = self.actions is None or len(self.actions) > 0
        specs = openai_tool_schemas(
            self._scaffold(), self.actions or None, include_action=include_action
        )
        return [*specs, *extra]

    def execute(
        self,
        name: str,
        arguments: str | dict[str, Any] | None,
        *,
        scope: Mapping[str, Any] | None = None,
    ) -> OpResult:
        """Run one memory tool call; never raises for a bad call.

        Raises:
            AutomemError: a namespace key is missing from ``scope``.
        """
        op = op_from_tool_call(name, arguments, self._scaffold())
        return self._run(op, self.store_for(scope))

    def _run(self, op: MemoryOp, store: MemoryStore) -> OpResult:
        if isinstance(op, ActionOp) and self.actions and op.name not in self.actions:
            msg = f"unknown action '{op.name}'; choose one of: {', '.join(self.actions)}"
            return OpResult(op="action", ok=False, text=f"ERROR (action): {msg}", error=msg)
        return execute_op(store, op, self._scaffold())

    def _one(self, call: Any, store: MemoryStore) -> DispatchedCall:
        call = _as_dict(call)
        if not isinstance(call, dict):
            call = {}
        call_id = str(call.get("id") or "")
        fn = _as_dict(call.get("function"))
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            err = "malformed tool call: expected {'function': {'name': ..., 'arguments': ...}}"
            res = OpResult(op="invalid", ok=False, text=f"PARSE ERROR: {err}", error=err)
            return DispatchedCall(call_id, "", None, res, None, res.text)
        name: str = fn["name"]
        arguments = fn.get("arguments")
        op: MemoryOp | None = None
        if name in self.extra_tools:
            result = self._run_extra(name, arguments)
        else:
            op = op_from_tool_call(name, arguments, self._scaffold())
            result = self._run(op, store)
        text = result.text
        if len(text) > self.max_result_chars:
            cut = len(text) - self.max_result_chars
            text = text[: self.max_result_chars] + f"\n[... {cut} more chars]"
        return DispatchedCall(call_id, name, arguments, result, op, text)

    def _run_extra(self, name: str, arguments: Any) -> OpResult:
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
        except json.JSONDecodeError as exc:
            msg = f"tool '{name}': arguments are not valid JSON ({exc.msg} at char {exc.pos})"
            return OpResult(op=name, ok=False, text=f"PARSE ERROR: {msg}", error=msg)
        if not isinstance(args, dict):
            msg = f"tool '{name}': arguments must be a JSON object"
            return OpResult(op=name, ok=False, text=f"PARSE ERROR: {msg}", error=msg)
        return OpResult(op=name, ok=True, text=str(self.extra_tools[name](args)))

    def handle(
        self, response: Any, *, scope: Mapping[str, Any] | None = None
    ) -> list[DispatchedCall]:
        """Dispatch every tool call in ``response``; record and return them.

        Raises:
            AutomemError: a namespace key is missing from ``scope`` (before any call runs).
        """
        calls = tool_calls_of(response)
        store = self.store_for(scope) if calls else None
        out = [self._one(c, store) for c in calls] if store is not None else []
        self.history.extend(out)
        if self._recorder is not None and out:
            values = {**(self.scope or {}), **(scope or {})}
            ns = self._scopes.namespace(values) if self._scopes is not None else ""
            cid = conversation_id_of(values)
            for c in out:
                if c.op is not None:  # memory calls (the agent's own tools are not memory)
                    args = c.arguments if isinstance(c.arguments, dict) else {"raw": c.arguments}
                    self._recorder.record(
                        c.name, args, "dispatcher", ns, c.op, c.result, conversation_id=cid
                    )
        return out

    def finish(self) -> None:
        """Write the trace footer and close a trace this dispatcher opened (idempotent)."""
        if self._recorder is not None:
            self._recorder.close()

    def dispatch(
        self, response: Any, *, scope: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Dispatch every tool call in ``response`` and return the tool messages."""
        return [c.message() for c in self.handle(response, scope=scope)]


def _assistant_message(response: Any) -> dict[str, Any]:
    data = _as_dict(response)
    if isinstance(data, dict) and "choices" in data:
        choices = data.get("choices") or [{}]
        data = _as_dict(_as_dict(choices[0]).get("message") or {})
    if not isinstance(data, dict):
        return {"role": "assistant", "content": str(data)}
    msg: dict[str, Any] = {"role": "assistant", "content": data.get("content")}
    if data.get("tool_calls"):
        msg["tool_calls"] = data["tool_calls"]
    return msg


def run_tool_loop(
    send: Callable[[list[dict[str, Any]], list[dict[str, Any]]], Any],
    messages: list[dict[str, Any]],
    dispatcher: ToolDispatcher,
    *,
    extra_tool_schemas: Sequence[dict[str, Any]] = (),
    max_rounds: int = 8,
    scope: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Call the model and dispatch its tool calls until it answers or commits an action.

    Args:
        send: ``send(messages, tools) -> chat-completions response`` (a dict or an SDK
            object), e.g. a POST to ``/v1/chat/completions``.
        messages: the conversation so far (not modified).
        dispatcher: runs the tool calls.
        extra_tool_schemas: your own tool schemas, sent after the memory tools.
        max_rounds: model calls at most.
        scope: fills the dispatcher's namespace for this conversation.

    Returns:
        ``(messages with every assistant and tool message appended, action or None)``.
    """
    history = list(messages)
    tools = dispatcher.tools(extra_tool_schemas)
    for _ in range(max_rounds):
        response = send(history, tools)
        assistant = _assistant_message(response)
        history.append(assistant)
        calls = dispatcher.handle(response, scope=scope)
        if not calls:
            return history, None
        history.extend(c.message() for c in calls)
        action = next((c.action for c in calls if c.action is not None), None)
        if action is not None:
            return history, action
    return history, None
