"""LangChain: memory ops as ``StructuredTool`` objects.

One tool per op the scaffold enables (``memory_read``, ``memory_append``, ...; custom ops
as ``memory_<name>``), each with an args schema derived from the op's pydantic model.
Errors the model makes — wrong argument types, a missing file, a limit — come back as
the tool's text with ``status="error"``; they never raise into the agent loop.

With ``namespace="users/{user_id}"`` each call uses the store of the namespace filled
from the call's config (``configurable``, ``metadata``) or the graph's runtime context,
so one tool list serves every user; a call without the key fails with a clear error
message (it never falls back to shared memory).

Requires the ``[langchain]`` extra (``langchain-core``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from automem_sdk import ops as _ops
from automem_sdk.errors import AutomemError
from automem_sdk.ops import MEMORY_OP_NAMES, OpResult, execute_op
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.scopes import StoreScopes, context_values
from automem_sdk.tools import op_from_tool_call, tool_name, tool_specs

if TYPE_CHECKING:
    from automem_sdk.store import MemoryStore

    from .langchain_wrapper import MemoryScopes

__all__ = ["config_values", "memory_tools", "op_args_model", "run_memory_tool"]

StoreFor = Callable[[dict[str, Any]], "MemoryStore"]
"""Resolves the store of one call from its namespace values."""


def config_values(config: RunnableConfig | None) -> dict[str, Any]:
    """Namespace values of a tool or model call: its config, then the graph's runtime context."""
    runtime = ((config or {}).get("configurable") or {}).get("__pregel_runtime")
    context = getattr(runtime, "context", None)
    values = context_values(config, context)
    return {k: v for k, v in values.items() if not k.startswith("__pregel_")}


@cache
def op_args_model(op_name: str) -> type[BaseModel]:
    """The arguments of a primitive op as a pydantic model (the op model minus ``op``).

    Raises:
        KeyError: ``op_name`` is not a primitive op.
    """
    if op_name not in MEMORY_OP_NAMES:
        raise KeyError(f"unknown op {op_name!r}; known: {list(MEMORY_OP_NAMES)}")
    model = _ops.op_spec(op_name).model  # the one op table
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name != "op"
    }
    return create_model(
        f"Memory{op_name.capitalize()}Args",
        __config__=ConfigDict(extra="forbid"),
        __doc__=model.__doc__,
        **fields,
    )


def _custom_args_model(name: str, params: list[str], description: str) -> type[BaseModel]:
    fields: dict[str, Any] = {p: (str, Field(description=p)) for p in params}
    return create_model(
        f"Memory{name.title().replace('_', '')}Args",
        __config__=ConfigDict(extra="forbid"),
        __doc__=description or f"custom op {name}",
        **fields,
    )


def run_memory_tool(
    store: MemoryStore,
    name: str,
    arguments: str | dict[str, Any] | None,
    scaffold: Scaffold | None = None,
) -> OpResult:
    """Run one memory tool call (``memory_*``) against ``store``; never raises for bad calls."""
    return execute_op(store, op_from_tool_call(name, arguments, scaffold), scaffold)


def _validation_message(name: str) -> Any:
    def render(exc: ValidationError) -> str:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        return f"PARSE ERROR: tool '{name}': {problems}"

    return render


def _make_tool(
    store_for: StoreFor,
    name: str,
    op_tool: str,
    description: str,
    args_model: type[BaseModel],
    scaffold: Scaffold | None,
    on_result: Callable[[OpResult], object] | None,
) -> StructuredTool:
    def run(config: RunnableConfig, **kwargs: Any) -> str:
        args = {k: v for k, v in kwargs.items() if v is not None}
        try:
            store = store_for(config_values(config))
        except AutomemError as exc:
            raise ToolException(f"ERROR ({op_tool.removeprefix('memory_')}): {exc}") from exc
        result = run_memory_tool(store, op_tool, args, scaffold)
        if on_result is not None:
            on_result(result)
        if not result.ok:
            raise ToolException(result.text)
        return result.text

    return StructuredTool.from_function(
        func=run,
        name=name,
        description=description,
        args_schema=args_model,
        infer_schema=False,
        handle_tool_error=True,
        handle_validation_error=_validation_message(name),
    )


def _store_for(
    store: MemoryStore | StoreScopes | MemoryScopes | str,
    namespace: str | None,
    storage_options: dict[str, Any] | None,
) -> StoreFor:
    from .langchain_wrapper import MemoryScopes

    if isinstance(store, MemoryScopes):
        return store.store
    if isinstance(store, str):
        scopes = StoreScopes(store, namespace, storage_options=storage_options)
        return scopes.get
    if isinstance(store, StoreScopes):
        return store.get
    if namespace:
        raise AutomemError(
            "namespace= needs the store's URL (and storage_options) or a StoreScopes"
        )
    fixed: MemoryStore = store
    return lambda _values: fixed


def memory_tools(
    store: MemoryStore | StoreScopes | MemoryScopes | str,
    scaffold: Scaffold | str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    namespace: str | None = None,
    prefix: str = "memory_",
    on_result: Callable[[OpResult], object] | None = None,
) -> list[BaseTool]:
    """One LangChain tool per enabled memory op, bound to ``store``.

    Args:
        store: the memory store, an fsspec URL, or a :class:`StoreScopes`.
        scaffold: enabled ops and custom ops (a Scaffold, a built-in name or a path);
            ``None`` enables every primitive op.
        storage_options: fsspec options when ``store`` is a URL.
        namespace: e.g. ``"users/{user_id}"``; each call uses the store of the
            namespace filled from its config or runtime context (needs a URL).
        prefix: the tools' name prefix (``memory_read``, ...); give each memory its own
            when an agent has several.
        on_result: called with every op result (e.g. to record them).

    Returns:
        ``StructuredTool`` objects named ``<prefix><op>``; pass them to
        ``model.bind_tools(...)``, ``create_agent(tools=...)`` or a ``ToolNode``.

    Raises:
        AutomemError: ``namespace`` with a store object.

    Example:
        >>> from automem_sdk import MemoryStore
        >>> tools = memory_tools(MemoryStore("memory://lc-doc"), "generic")
        >>> tools[0].name, tools[0].invoke({"path": "plan.md"})[:5]
        ('memory_read', 'ERROR')
    """
    store_for = _store_for(store, namespace, storage_options)
    sc = load_scaffold(scaffold) if isinstance(scaffold, str) else scaffold
    specs = {s["name"]: s for s in tool_specs(sc, include_action=False)}

    def named(op_tool: str) -> str:
        return prefix + op_tool.removeprefix("memory_")

    tools: list[BaseTool] = []
    for op in MEMORY_OP_NAMES:
        op_tool = tool_name(op)
        if op_tool in specs:
            desc = specs[op_tool]["description"]
            model = op_args_model(op)
            tools.append(_make_tool(store_for, named(op_tool), op_tool, desc, model, sc, on_result))
    for c in sc.custom_ops if sc is not None else []:
        op_tool = tool_name(c.name)
        model = _custom_args_model(c.name, list(c.params), c.description)
        desc = specs[op_tool]["description"]
        tools.append(_make_tool(store_for, named(op_tool), op_tool, desc, model, sc, on_result))
    return tools
